//! Where command output goes, and the guard that keeps it off the registry and the inputs.
//!
//! Every file nostrike writes goes to a temporary file in the destination's
//! folder and is renamed into place only when it is complete, so a failed or
//! interrupted export or report leaves the previous file as it was. Before
//! anything is written, the destination is compared with the registry (and
//! its `-wal`, `-shm` and `-journal` companions) and with every file being
//! read: by canonical path, and by device and inode where the file exists
//! (a hard link or another spelling of the same file). A match is refused.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Where a command's output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// Standard output (`-o -`, or no `-o` for a text format).
    Stdout,
    /// A file, written whole through a temporary file beside it.
    File(PathBuf),
}

impl Dest {
    /// The destination `-o` names: `-` or nothing is standard output.
    pub fn from_arg(output: Option<&Path>) -> Dest {
        match output {
            None => Dest::Stdout,
            Some(p) if p == Path::new("-") => Dest::Stdout,
            Some(p) => Dest::File(p.to_path_buf()),
        }
    }

    /// The file, if any.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Dest::Stdout => None,
            Dest::File(p) => Some(p),
        }
    }
}

/// The files an output must never replace: the registry with its companions, and the inputs.
#[derive(Debug, Default, Clone)]
pub struct Protected {
    files: Vec<(PathBuf, &'static str)>,
}

impl Protected {
    /// Protect the registry at `path` and its SQLite companion files.
    pub fn registry(mut self, path: &Path) -> Protected {
        self.files.push((path.to_path_buf(), "the registry"));
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            self.files
                .push((PathBuf::from(p), "the registry's SQLite companion file"));
        }
        self
    }

    /// Protect a file being read.
    pub fn input(mut self, path: &Path) -> Protected {
        if path != Path::new("-") {
            self.files.push((path.to_path_buf(), "an input file"));
        }
        self
    }

    /// Refuse `out` if it is, or would replace, one of the protected files.
    pub fn check(&self, flag: &str, out: &Path) -> anyhow::Result<()> {
        for (p, what) in &self.files {
            if same_file(out, p) {
                bail!(
                    "{flag} {}: that is {what} ({}); refusing to overwrite it — choose another output file",
                    out.display(),
                    p.display()
                );
            }
        }
        if out.is_dir() {
            bail!("{flag} {}: is a directory; give a file name", out.display());
        }
        Ok(())
    }
}

/// Whether two paths name the same file: the same device and inode when
/// both exist, else the same canonical folder and file name.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
    }
    match (canonical(a), canonical(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// A path made absolute through its (existing) folder, symbolic links resolved.
fn canonical(p: &Path) -> Option<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    let name = p.file_name()?;
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some(parent.canonicalize().ok()?.join(name))
}

/// Whether `p` exists and is neither a regular file nor a folder: a
/// character device, a pipe or a socket (symbolic links followed).
pub fn is_special(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// A file being written: a temporary file in the destination's folder,
/// renamed over the destination by [`AtomicFile::commit`]. Dropped without
/// a commit, the temporary file is removed and the destination is untouched.
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl AtomicFile {
    /// Start writing `dest`. A device or a pipe is refused: a whole file
    /// renamed over it would replace it.
    pub fn create(dest: &Path) -> anyhow::Result<AtomicFile> {
        if is_special(dest) {
            bail!(
                "{}: not a regular file (a device or a pipe); this output is written as a whole file — give a file name",
                dest.display()
            );
        }
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            bail!(
                "{}: the folder {} does not exist",
                dest.display(),
                dir.display()
            );
        }
        let mut builder = tempfile::Builder::new();
        builder.prefix(".nostrike-").suffix(".partial");
        // Readable by others, as a file written in place would be (a
        // temporary file is private by default); never executable.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o644));
        }
        let tmp = builder
            .tempfile_in(&dir)
            .with_context(|| format!("{}: cannot create a temporary file", dest.display()))?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// The temporary file's path (for writers that open a path themselves).
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut std::fs::File {
        self.tmp.as_file_mut()
    }

    /// A second handle on the temporary file, for a writer that outlives a borrow.
    pub fn handle(&self) -> anyhow::Result<std::fs::File> {
        self.tmp
            .as_file()
            .try_clone()
            .with_context(|| format!("writing {}", self.dest.display()))
    }

    /// Flush to disk and rename over the destination.
    pub fn commit(self) -> anyhow::Result<()> {
        self.tmp
            .as_file()
            .sync_all()
            .with_context(|| format!("writing {}", self.dest.display()))?;
        let dest = self.dest.clone();
        self.tmp
            .persist(&dest)
            .map_err(|e| e.error)
            .with_context(|| format!("writing {}", dest.display()))?;
        Ok(())
    }
}

/// Write a whole output to `dest` through `write`: to standard output, or to
/// a file that replaces the destination only once `write` has succeeded.
pub fn write_to(
    dest: &Dest,
    write: impl FnOnce(&mut (dyn Write + Send)) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match dest {
        Dest::Stdout => {
            let mut w = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
            write(&mut w)?;
            w.flush()?;
            Ok(())
        }
        // A device or a pipe (`-o /dev/null`, `-o /dev/stdout`, a FIFO) is
        // written in place: replacing it by a renamed file would destroy it.
        Dest::File(p) if is_special(p) => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(p)
                .with_context(|| format!("{}: cannot open for writing", p.display()))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 16, f);
            write(&mut w).with_context(|| format!("writing {}", p.display()))?;
            w.flush()
                .with_context(|| format!("writing {}", p.display()))?;
            Ok(())
        }
        Dest::File(p) => {
            let mut f = AtomicFile::create(p)?;
            {
                let mut w = std::io::BufWriter::with_capacity(1 << 20, f.file());
                write(&mut w).with_context(|| format!("writing {}", p.display()))?;
                w.flush()
                    .with_context(|| format!("writing {}", p.display()))?;
            }
            f.commit()
        }
    }
}

/// Whether an error is a write into a closed pipe (`nostrike sites | head -1`).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// What names the registry in messages and reports when it is not the
/// file the command reads (a shared registry's URL: the file is its
/// working copy). Set once, before any command runs.
static SHOWN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Name the registry `name` in every message and report from now on.
pub fn show_registry_as(name: String) {
    let _ = SHOWN.set(name);
}

/// How messages and reports name the registry read from `path`.
pub fn shown(path: &Path) -> String {
    SHOWN
        .get()
        .cloned()
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hard_links_and_other_spellings_are_the_same_file() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a.db");
        std::fs::write(&a, b"x").unwrap();
        let link = d.path().join("b.db");
        std::fs::hard_link(&a, &link).unwrap();
        assert!(same_file(&a, &link));
        let dotted = d.path().join(".").join("a.db");
        assert!(same_file(&a, &dotted));
        assert!(!same_file(&a, &d.path().join("c.db")));
        let p = Protected::default().registry(&a);
        assert!(p.check("-o", &link).is_err());
        let mut wal = a.as_os_str().to_owned();
        wal.push("-wal");
        assert!(p.check("-o", Path::new(&wal)).is_err());
        assert!(p.check("-o", &d.path().join("out.json")).is_ok());
    }

    #[test]
    fn a_failed_write_leaves_the_previous_file() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("report.json");
        std::fs::write(&f, b"previous").unwrap();
        let r = write_to(&Dest::File(f.clone()), |w: &mut (dyn Write + Send)| {
            w.write_all(b"half")?;
            anyhow::bail!("interrupted")
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&f).unwrap(), b"previous");
        let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
        write_to(&Dest::File(f.clone()), |w: &mut (dyn Write + Send)| {
            w.write_all(b"new")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            // What the umask lets a plain File::create (0o666) keep, without execute bits.
            let plain = d.path().join("plain");
            std::fs::write(&plain, b"").unwrap();
            assert_eq!(
                mode(&f),
                mode(&plain) & 0o644,
                "an output is as readable as a file written in place"
            );
        }
    }
}
