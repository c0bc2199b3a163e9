//! A throw-away PostgreSQL cluster for the shared registry's tests:
//! `initdb` and `pg_ctl` on a Unix socket in a temporary folder (run as the
//! `postgres` user when the tests run as root), stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running cluster.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
}

/// The folder holding PostgreSQL's server programs: `NOSTRIKE_PG_BIN`, else
/// Debian's `/usr/lib/postgresql/N/bin` (the newest), else a panic that says
/// how to get them (`.ci/run` installs them).
fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("NOSTRIKE_PG_BIN") {
        return PathBuf::from(d);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "these tests run a real PostgreSQL with PostGIS, which is not installed: `apt-get install postgresql-15-postgis-3` (.ci/run does), or set NOSTRIKE_PG_BIN"
        ),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cluster {
    fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        let exe = self.bin.join(program);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        c.args(args).output().expect("run a PostgreSQL program")
    }

    /// Start a new cluster.
    pub fn start() -> Cluster {
        use std::os::unix::fs::PermissionsExt;
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("nspg")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let c = Cluster {
            dir,
            bin,
            as_postgres: is_root(),
        };
        let data = c.data();
        let o = c.run(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        assert!(
            o.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let opts = format!(
            "-k {} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=40",
            c.dir.path().display()
        );
        let log = c.dir.path().join("log").display().to_string();
        let o = c.run(
            "pg_ctl",
            &["-D", &data, "-o", &opts, "-l", &log, "-w", "start"],
        );
        assert!(
            o.status.success(),
            "pg_ctl start: {} {}",
            String::from_utf8_lossy(&o.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        c
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// The socket folder.
    pub fn socket(&self) -> &Path {
        self.dir.path()
    }

    /// The URL of database `db` as role `user`.
    pub fn url(&self, user: &str, db: &str) -> String {
        let host = self.socket().display().to_string().replace('/', "%2F");
        format!("postgresql://{user}@{host}/{db}")
    }

    /// A client connected as `user` to `db`.
    pub fn client(&self, user: &str, db: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(user, db), postgres::NoTls).unwrap()
    }

    /// Run SQL as the superuser on `db`.
    pub fn sql(&self, db: &str, sql: &str) {
        self.client("postgres", db).batch_execute(sql).unwrap();
    }

    /// A new database; its URL as the superuser.
    pub fn database(&self, name: &str) -> String {
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        self.url("postgres", name)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "stop"]);
    }
}
