//! `nostrike serve`: a local web app over the registry, opened read-only.
//!
//! One HTTP server (`tiny_http`, blocking, no async runtime) with a fixed
//! pool of worker threads, each taking requests off the shared listener.
//! Every request works on one [`Loaded`] snapshot of the registry held in an
//! `Arc`: at each request the registry's current revision is read (one
//! small read-only query) and, when it moved, a new snapshot is opened and
//! swapped in, so an import made while serving shows at the next request
//! and no request ever sees two revisions. Checks go through
//! [`crate::check::check_into`], the command line's own path from areas to
//! report, so the API's report is the CLI's.
//!
//! Safe by default: loopback only unless `--allow-remote`, which then
//! needs a token; a Host header check against DNS rebinding; request size
//! limits; a Content-Security-Policy allowing this origin only; every text
//! from the data escaped by the page (it builds DOM text nodes, never HTML).

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use clap::Args;
use serde_json::{json, Value};
use tiny_http::{Header, Method, Request, Response, Server};

use nostrike_app::Snapshot;
use nostrike_store::Registry;

use crate::check::{CheckArgs, Prepared, ReportFormat, ReportStyle};
use crate::coord::{Coordinate, Distance};

/// Arguments of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on. Loopback only unless --allow-remote.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub bind: String,
    /// Allow a non-loopback --bind; then every request needs the token of --token-file.
    #[arg(long)]
    pub allow_remote: bool,
    /// A file holding the access token (at least 16 characters); required with --allow-remote.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Policy TOML file for the app's checks (default: the shipped example, illustrative only).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Worker threads taking requests (default: 2 per core, at least 4).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// A tile source for the map (`https://…/{z}/{x}/{y}.png`); none by default, and nothing is fetched without it.
    #[arg(long, value_name = "URL_TEMPLATE")]
    pub tiles: Option<String>,
    /// The largest request body accepted (MiB).
    #[arg(long, default_value_t = 8, value_name = "MIB")]
    pub max_body_mib: usize,
}

/// The most areas one API check may hold.
pub const MAX_AREAS_PER_REQUEST: usize = 10_000;
/// The longest request URL accepted (bytes).
pub const MAX_URL: usize = 64 * 1024;
/// Above this many sites in a view, `/api/sites` answers with clusters.
pub const MAX_SITES_PER_VIEW: usize = 1500;

/// One revision of the registry as the app serves it.
pub struct Loaded {
    /// The registry file it was read from (a shared registry's working copy moves).
    pub path: PathBuf,
    /// The snapshot checks run against.
    pub snapshot: Snapshot,
    /// Each site's representative point (lon, lat) for the overview, by site number.
    pub points: Vec<(f64, f64)>,
    /// Site counts by category.
    pub by_category: BTreeMap<&'static str, usize>,
    /// The groups of linked sites, built once per policy text (building
    /// them reads every site's label).
    groups: Mutex<BTreeMap<String, Arc<nostrike_app::groups::Groups>>>,
}

impl Loaded {
    fn open(path: &Path) -> anyhow::Result<Loaded> {
        let snapshot = Snapshot::open(path, None)?;
        let sites = snapshot.sites();
        let mut points = Vec::with_capacity(sites.len());
        let mut by_category = BTreeMap::new();
        for i in 0..sites.len() {
            let g = sites
                .geometry(i)
                .with_context(|| format!("{}: site {i}", path.display()))?;
            let p = match g {
                geo_types::Geometry::Point(p) => (p.x(), p.y()),
                _ => nostrike_app::map::centre_of(&g),
            };
            points.push(p);
            *by_category
                .entry(sites.params(i)?.category.as_str())
                .or_insert(0) += 1;
        }
        Ok(Loaded {
            path: path.to_path_buf(),
            snapshot,
            points,
            by_category,
            groups: Mutex::new(BTreeMap::new()),
        })
    }

    /// The groups under `policy`, built at its first use.
    fn groups(
        &self,
        policy: &nostrike_core::Policy,
    ) -> anyhow::Result<Arc<nostrike_app::groups::Groups>> {
        let key = policy.to_toml_string();
        let mut cache = self
            .groups
            .lock()
            .map_err(|_| anyhow::anyhow!("groups lock poisoned"))?;
        if let Some(g) = cache.get(&key) {
            return Ok(g.clone());
        }
        let g = Arc::new(nostrike_app::groups::Groups::build(
            self.snapshot.sites(),
            &self.snapshot.links,
            policy,
        )?);
        cache.insert(key, g.clone());
        Ok(g)
    }
}

/// Brings a shared registry's working copy up to date: its path now.
pub type Refresh = Box<dyn FnMut() -> anyhow::Result<PathBuf> + Send>;

/// How often a shared registry is asked for its state (at most).
const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// What every worker shares.
pub struct State {
    path: PathBuf,
    /// For a shared registry: when it was last brought up to date, and how.
    refresh: Option<Mutex<(std::time::Instant, PathBuf, Refresh)>>,
    args: ServeArgs,
    token: Option<String>,
    loaded: RwLock<Arc<Loaded>>,
    reloading: Mutex<()>,
    port: u16,
    /// The operator's tile source, if any (an MBTiles file is served at `/tiles/Z/X/Y`).
    tiles: Option<nostrike_app::tiles::TileSource>,
    /// The origin a tile URL template names (`None`: no tiles, or embedded ones).
    tile_origin: Option<String>,
    /// The page's Content-Security-Policy (this origin, and the tile origin if any).
    page_csp: String,
}

impl State {
    /// The snapshot of the registry's current revision (reopened when it moved).
    fn current(&self) -> anyhow::Result<Arc<Loaded>> {
        let path = match &self.refresh {
            None => self.path.clone(),
            Some(r) => {
                let mut r = r
                    .lock()
                    .map_err(|_| anyhow::anyhow!("refresh lock poisoned"))?;
                if r.0.elapsed() >= REFRESH_EVERY {
                    r.1 = (r.2)()?;
                    r.0 = std::time::Instant::now();
                }
                r.1.clone()
            }
        };
        let rev = Registry::open_read_only(&path)?.revision()?;
        let have = self
            .loaded
            .read()
            .map_err(|_| anyhow::anyhow!("snapshot lock poisoned"))?
            .clone();
        if have.snapshot.revision == rev {
            return Ok(have);
        }
        let _one = self
            .reloading
            .lock()
            .map_err(|_| anyhow::anyhow!("reload lock poisoned"))?;
        let have = self
            .loaded
            .read()
            .map_err(|_| anyhow::anyhow!("snapshot lock poisoned"))?
            .clone();
        if have.snapshot.revision >= rev {
            return Ok(have);
        }
        let fresh = Arc::new(Loaded::open(&path)?);
        *self
            .loaded
            .write()
            .map_err(|_| anyhow::anyhow!("snapshot lock poisoned"))? = fresh.clone();
        Ok(fresh)
    }
}

/// Run `serve` until killed.
pub fn run(path: &Path, args: &ServeArgs, refresh: Option<Refresh>) -> anyhow::Result<ExitCode> {
    let addr: SocketAddr = args.bind.parse().with_context(|| {
        format!(
            "--bind {:?}: give ADDRESS:PORT, such as 127.0.0.1:8080",
            args.bind
        )
    })?;
    if !addr.ip().is_loopback() && !args.allow_remote {
        anyhow::bail!(
            "--bind {addr}: not a loopback address; the app would be reachable from the network. Give --allow-remote with --token-file to mean it"
        );
    }
    let token = match (&args.token_file, args.allow_remote) {
        (Some(f), _) => {
            let t = std::fs::read_to_string(f)
                .with_context(|| format!("--token-file {}", f.display()))?
                .trim()
                .to_string();
            if t.chars().count() < 16 || t.chars().any(char::is_whitespace) {
                anyhow::bail!(
                    "--token-file {}: the token must be at least 16 characters with no spaces",
                    f.display()
                );
            }
            Some(t)
        }
        (None, true) => anyhow::bail!(
            "--allow-remote needs --token-file: a server on the network must not answer strangers"
        ),
        (None, false) => None,
    };
    // A bad policy file stops the server now, not at its first check.
    crate::check::load_policy(args.policy.as_deref())?;
    let tiles = match &args.tiles {
        Some(t) => Some(nostrike_app::tiles::TileSource::open(t)?),
        None => None,
    };
    let started = std::time::Instant::now();
    let loaded = Loaded::open(path)?;
    let server = Server::from_listener(listen(addr)?, None)
        .map_err(|e| anyhow::anyhow!("--bind {addr}: cannot listen: {e}"))?;
    let port = server
        .server_addr()
        .to_ip()
        .map(|a| a.port())
        .unwrap_or(addr.port());
    eprintln!(
        "nostrike serve: {} (revision {}, {} sites, read-only) loaded in {:.2} s; open http://{}:{port}/",
        crate::output::shown(path),
        loaded.snapshot.revision,
        loaded.points.len(),
        started.elapsed().as_secs_f64(),
        if addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { addr.ip().to_string() }
    );
    let state = Arc::new(State {
        path: path.to_path_buf(),
        refresh: refresh.map(|r| Mutex::new((std::time::Instant::now(), path.to_path_buf(), r))),
        args: args.clone(),
        token,
        loaded: RwLock::new(Arc::new(loaded)),
        reloading: Mutex::new(()),
        port,
        tile_origin: tiles.as_ref().and_then(|t| t.origin()),
        page_csp: format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:{}; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            tiles.as_ref().and_then(|t| t.origin()).map(|o| format!(" {o}")).unwrap_or_default()
        ),
        tiles,
    });
    let server = Arc::new(server);
    let n = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(4, |c| (2 * c.get()).max(4))
    });
    let workers: Vec<_> = (0..n.max(1))
        .map(|_| {
            let (server, state) = (server.clone(), state.clone());
            std::thread::spawn(move || {
                while let Ok(req) = server.recv() {
                    handle(&state, req);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    Ok(ExitCode::SUCCESS)
}

/// A listening socket with `TCP_NODELAY`, which the connections it accepts
/// inherit: the server writes a response's head and body in two writes,
/// and with Nagle's algorithm the body would wait for the client's delayed
/// acknowledgement of the head (40 ms on Linux) on every keep-alive request.
fn listen(addr: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let cannot = |e: std::io::Error| anyhow::anyhow!("--bind {addr}: cannot listen: {e}");
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(cannot)?;
    s.set_reuse_address(true).map_err(cannot)?;
    s.set_tcp_nodelay(true).map_err(cannot)?;
    s.bind(&addr.into()).map_err(cannot)?;
    s.listen(1024).map_err(cannot)?;
    Ok(s.into())
}

/// A response on its way out: status, content type, body, extra headers.
struct Reply {
    status: u16,
    ctype: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    csp: Option<String>,
}

impl Reply {
    fn new(status: u16, ctype: &'static str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            ctype,
            body: body.into(),
            headers: Vec::new(),
            csp: None,
        }
    }

    fn json(status: u16, v: &Value) -> Reply {
        let mut b = serde_json::to_vec(v).unwrap_or_default();
        b.push(b'\n');
        Reply::new(status, "application/json", b)
    }

    fn error(status: u16, message: impl std::fmt::Display) -> Reply {
        Reply::json(
            status,
            &json!({"error": message.to_string(), "status": status}),
        )
    }
}

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

/// Answer one request (never panics; every failure is an error reply).
fn handle(state: &State, mut req: Request) {
    let reply =
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| route(state, &mut req))) {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Reply::error(500, crate::error_message(&e)),
            Err(_) => Reply::error(500, "internal error"),
        };
    let mut resp = Response::from_data(reply.body).with_status_code(reply.status);
    let mut hs = vec![
        ("Content-Type", reply.ctype.to_string()),
        (
            "Content-Security-Policy",
            reply.csp.unwrap_or_else(|| state.page_csp.clone()),
        ),
        ("X-Content-Type-Options", "nosniff".to_string()),
        ("X-Frame-Options", "DENY".to_string()),
        ("Referrer-Policy", "no-referrer".to_string()),
        ("Cache-Control", "no-store".to_string()),
    ];
    // A reply's own header replaces the default of the same name.
    hs.retain(|(k, _)| !reply.headers.iter().any(|(r, _)| r.eq_ignore_ascii_case(k)));
    hs.extend(reply.headers);
    for (k, v) in hs {
        if let Some(h) = header(k, &v) {
            resp.add_header(h);
        }
    }
    let _ = req.respond(resp);
}

/// `%XX` and `+` decoded.
pub fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad percent escape at byte {i}"))?;
                out.push(hex);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 after decoding".to_string())
}

/// The query's parameters, in order.
fn query(url: &str) -> Result<Vec<(String, String)>, String> {
    let Some((_, q)) = url.split_once('?') else {
        return Ok(Vec::new());
    };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

fn has_token(state: &State, req: &Request, q: &[(String, String)]) -> bool {
    let Some(t) = &state.token else {
        return true;
    };
    let eq = |a: &str| {
        a.len() == t.len()
            && a.bytes()
                .zip(t.bytes())
                .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                == 0
    };
    for h in req.headers() {
        let v = h.value.as_str();
        if h.field.equiv("Authorization") && v.strip_prefix("Bearer ").is_some_and(eq) {
            return true;
        }
        if h.field.equiv("Cookie")
            && v.split(';')
                .any(|c| c.trim().strip_prefix("nostrike_token=").is_some_and(eq))
        {
            return true;
        }
    }
    q.iter().any(|(k, v)| k == "token" && eq(v))
}

/// Refuse a Host header naming another site (DNS rebinding) when serving loopback.
fn host_ok(state: &State, req: &Request) -> bool {
    if state.args.allow_remote {
        return true;
    }
    let Some(h) = req.headers().iter().find(|h| h.field.equiv("Host")) else {
        return true;
    };
    let host = h.value.as_str().to_ascii_lowercase();
    let name = host.rsplit_once(':').map_or(host.as_str(), |(n, p)| {
        if p.parse::<u16>().is_ok_and(|p| p == state.port) {
            n
        } else {
            "refused"
        }
    });
    matches!(name, "127.0.0.1" | "localhost" | "[::1]")
}

fn route(state: &State, req: &mut Request) -> anyhow::Result<Reply> {
    let url = req.url().to_string();
    if url.len() > MAX_URL {
        return Ok(Reply::error(
            414,
            format!("the request URL is longer than {MAX_URL} bytes"),
        ));
    }
    if !host_ok(state, req) {
        return Ok(Reply::error(
            421,
            "this server answers to its loopback address only",
        ));
    }
    let q = match query(&url) {
        Ok(q) => q,
        Err(e) => return Ok(Reply::error(400, format!("query: {e}"))),
    };
    if !has_token(state, req, &q) {
        return Ok(Reply::error(
            401,
            "a token is required (Authorization: Bearer TOKEN, or open /?token=TOKEN once)",
        ));
    }
    let path = url.split('?').next().unwrap_or("/").to_string();
    let method = req.method().clone();
    let mut reply = match (&method, path.as_str()) {
        (Method::Get, "/") => {
            let mut r = Reply::new(200, "text/html; charset=utf-8", INDEX_HTML);
            if let Some(t) = state
                .token
                .as_ref()
                .filter(|_| q.iter().any(|(k, _)| k == "token"))
            {
                r.headers.push((
                    "Set-Cookie",
                    format!("nostrike_token={t}; HttpOnly; SameSite=Strict; Path=/"),
                ));
            }
            r
        }
        (Method::Get, "/assets/leaflet.js") => Reply::new(200, "text/javascript", LEAFLET_JS),
        (Method::Get, "/assets/leaflet.css") => Reply::new(200, "text/css", LEAFLET_CSS),
        (Method::Get, "/assets/app.js") => Reply::new(200, "text/javascript", APP_JS),
        (Method::Get, "/assets/app.css") => Reply::new(200, "text/css", APP_CSS),
        (Method::Get, "/assets/countries.geojson") => Reply::new(
            200,
            "application/geo+json",
            nostrike_app::map::BASEMAP_GEOJSON,
        ),
        (Method::Get, "/api/config") => config(state)?,
        (Method::Get, p) if p.starts_with("/tiles/") => tile(state, p)?,
        (Method::Get, "/api/stats") => stats(state)?,
        (Method::Get, "/api/coverage") => {
            let l = state.current()?;
            let features: Vec<Value> = l
                .snapshot
                .coverage_shapes
                .iter()
                .map(|(source, g)| json!({"type": "Feature", "properties": {"source": source}, "geometry": nostrike_formats::geojson::geometry_to_value(g)}))
                .collect();
            Reply::json(
                200,
                &json!({"type": "FeatureCollection", "revision": l.snapshot.revision, "features": features}),
            )
        }
        (Method::Get, "/api/sites") => sites_in_view(state, &q)?,
        (Method::Get, "/api/search") => search(state, &q)?,
        (Method::Get, p) if p.starts_with("/api/sites/") => {
            match percent_decode(&p["/api/sites/".len()..]) {
                Ok(key) => site(state, &key)?,
                Err(e) => Reply::error(400, format!("site key: {e}")),
            }
        }
        (Method::Get, "/api/check") => check(state, &q, None)?,
        (Method::Post, "/api/check") => {
            let limit = state.args.max_body_mib.saturating_mul(1 << 20);
            if req.body_length().is_some_and(|n| n > limit) {
                return Ok(Reply::error(
                    413,
                    format!(
                        "the request body is larger than {} MiB",
                        state.args.max_body_mib
                    ),
                ));
            }
            let mut body = Vec::new();
            req.as_reader()
                .take(limit as u64 + 1)
                .read_to_end(&mut body)
                .context("reading the request body")?;
            if body.len() > limit {
                return Ok(Reply::error(
                    413,
                    format!(
                        "the request body is larger than {} MiB",
                        state.args.max_body_mib
                    ),
                ));
            }
            check(state, &q, Some(body))?
        }
        (_, p) if p.starts_with("/api/") || p == "/" || p.starts_with("/assets/") => {
            Reply::error(405, format!("{method} is not allowed on {p}"))
        }
        (_, p) => Reply::error(404, format!("nothing at {p}")),
    };
    if path.starts_with("/assets/") {
        reply
            .headers
            .push(("Cache-Control", "no-cache".to_string()));
    }
    Ok(reply)
}

const INDEX_HTML: &str = include_str!("../assets/app/index.html");
const APP_JS: &str = include_str!("../assets/app/app.js");
const APP_CSS: &str = include_str!("../assets/app/app.css");
const LEAFLET_JS: &str = include_str!("../assets/leaflet/leaflet.js");
const LEAFLET_CSS: &str = include_str!("../assets/leaflet/leaflet.css");

fn config(state: &State) -> anyhow::Result<Reply> {
    let (policy, policy_source) = crate::check::load_policy(state.args.policy.as_deref())?;
    Ok(Reply::json(
        200,
        &json!({
            "tiles": match &state.tiles {
                Some(nostrike_app::tiles::TileSource::Url(t)) => Some(t.clone()),
                Some(_) => Some("/tiles/{z}/{x}/{y}".to_string()),
                None => None,
            },
            "policy": {"name": policy.name, "source": policy_source},
            "profiles": policy.profiles.iter().map(|(k, v)| json!({"name": k, "radius_m": v.radius_m, "description": v.description})).collect::<Vec<_>>(),
            "formats": ["json", "geojson", "csv", "kml", "kmz", "svg", "html", "cot", "table"],
            "version": env!("CARGO_PKG_VERSION"),
        }),
    ))
}

/// `GET /tiles/Z/X/Y` (an optional extension on Y): one tile of the MBTiles file.
fn tile(state: &State, p: &str) -> anyhow::Result<Reply> {
    let Some(t) = &state.tiles else {
        return Ok(Reply::error(
            404,
            "this server has no local tiles (serve --tiles FILE.mbtiles)",
        ));
    };
    let parts: Vec<&str> = p["/tiles/".len()..].split('/').collect();
    let nums = match parts.as_slice() {
        [z, x, y] => (
            z.parse::<u8>(),
            x.parse::<u32>(),
            y.split('.').next().unwrap_or("").parse::<u32>(),
        ),
        _ => return Ok(Reply::error(400, format!("{p}: give /tiles/Z/X/Y"))),
    };
    let (Ok(z), Ok(x), Ok(y)) = nums else {
        return Ok(Reply::error(
            400,
            format!("{p}: give /tiles/Z/X/Y as whole numbers"),
        ));
    };
    Ok(match t.tile(z, x, y)? {
        Some((bytes, mime)) => {
            let mut r = Reply::new(200, mime, bytes);
            r.headers
                .push(("Cache-Control", "private, max-age=3600".to_string()));
            r
        }
        None => Reply::error(404, format!("no tile {z}/{x}/{y} in the tile file")),
    })
}

fn stats(state: &State) -> anyhow::Result<Reply> {
    let l = state.current()?;
    let s = &l.snapshot;
    Ok(Reply::json(
        200,
        &json!({
            "registry": {"path": crate::output::shown(&state.path), "revision": s.revision, "content_hash": s.content_hash.to_string()},
            "sites": l.points.len(),
            "by_category": l.by_category,
            "coverage": s.declared,
            "last_import": s.last_import.iter().map(|(k, v)| (k.clone(), nostrike_core::time::format_utc(*v))).collect::<BTreeMap<_, _>>(),
            "links": s.links.len(),
            "signature": nostrike_app::signing::best(&s.signatures, s.signed_state.as_ref(), &[]),
            "version": env!("CARGO_PKG_VERSION"),
        }),
    ))
}

fn param<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

/// Whether longitude `x` is within [w, e], which may cross the antimeridian (w > e).
fn lon_in(x: f64, w: f64, e: f64) -> bool {
    if e - w >= 360.0 {
        return true;
    }
    let w = nostrike_core::geodesy::wrap180(w);
    let e = nostrike_core::geodesy::wrap180(e);
    if w <= e {
        x >= w && x <= e
    } else {
        x >= w || x <= e
    }
}

/// `GET /api/sites?bbox=W,S,E,N`: the sites in view, or clusters when there are too many.
fn sites_in_view(state: &State, q: &[(String, String)]) -> anyhow::Result<Reply> {
    let Some(b) = param(q, "bbox") else {
        return Ok(Reply::error(
            400,
            "give bbox=WEST,SOUTH,EAST,NORTH (degrees)",
        ));
    };
    let v: Vec<f64> = match b
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<Vec<f64>, _>>()
    {
        Ok(v) if v.len() == 4 && v.iter().all(|x| x.is_finite()) && v[1] <= v[3] => v,
        _ => {
            return Ok(Reply::error(
                400,
                format!(
                    "bbox {b:?}: give WEST,SOUTH,EAST,NORTH as four finite numbers, SOUTH ≤ NORTH"
                ),
            ))
        }
    };
    let (w, s, e, n) = (v[0], v[1].max(-90.0), v[2], v[3].min(90.0));
    let dim = |k: &str, d: usize| -> Result<usize, String> {
        match param(q, k) {
            None => Ok(d),
            Some(x) => x
                .parse::<usize>()
                .ok()
                .filter(|c| (1..=200).contains(c))
                .ok_or_else(|| format!("{k} {x:?}: give a whole number from 1 to 200")),
        }
    };
    let (cols, rows) = match (dim("cols", 24), dim("rows", 16)) {
        (Ok(c), Ok(r)) => (c, r),
        (Err(m), _) | (_, Err(m)) => return Ok(Reply::error(400, m)),
    };
    let l = state.current()?;
    let sites = l.snapshot.sites();
    let inside = |&(x, y): &(f64, f64)| y >= s && y <= n && lon_in(x, w, e);
    let in_view = l.points.iter().filter(|p| inside(p)).count();
    let mut r = json!({"revision": l.snapshot.revision, "content_hash": l.snapshot.content_hash.to_string(), "in_view": in_view});
    if in_view <= MAX_SITES_PER_VIEW {
        let mut out = Vec::with_capacity(in_view);
        for (i, &(x, y)) in l.points.iter().enumerate().filter(|(_, p)| inside(p)) {
            let lab = sites.label(i)?;
            let g = sites.geometry(i)?;
            out.push(json!({
                "key": lab.key(), "name": lab.name, "category": lab.category.as_str(),
                "class": if lab.category.class() == nostrike_core::Class::Cultural { "cultural" } else { "civilian" },
                "protection": lab.protection.as_str(), "lon": x, "lat": y,
                "geometry": (!matches!(g, geo_types::Geometry::Point(_))).then(|| nostrike_formats::geojson::geometry_to_value(&g)),
            }));
        }
        r["kind"] = "sites".into();
        r["sites"] = Value::Array(out);
        return Ok(Reply::json(200, &r));
    }
    // A grid of cols × rows cells over the view; each cell's count and mean position.
    let span = if e - w >= 360.0 {
        360.0
    } else {
        (e - w).rem_euclid(360.0).max(1e-9)
    };
    let mut cells = vec![(0usize, 0.0f64, 0.0f64); cols * rows];
    for &(x, y) in l.points.iter().filter(|p| inside(p)) {
        let dx = (x - w).rem_euclid(360.0).min(span);
        let c = ((dx / span * cols as f64) as usize).min(cols - 1);
        let r = (((y - s) / (n - s).max(1e-9) * rows as f64) as usize).min(rows - 1);
        let cell = &mut cells[r * cols + c];
        cell.0 += 1;
        cell.1 += dx;
        cell.2 += y;
    }
    let clusters: Vec<Value> = cells
        .iter()
        .filter(|c| c.0 > 0)
        .map(|&(k, sx, sy)| {
            let lon = nostrike_core::geodesy::wrap180(w + sx / k as f64);
            json!({"count": k, "lon": lon, "lat": sy / k as f64})
        })
        .collect();
    r["kind"] = "clusters".into();
    r["clusters"] = Value::Array(clusters);
    Ok(Reply::json(200, &r))
}

/// `GET /api/search?q=TEXT`: sites by name, key or external id (at most 50).
fn search(state: &State, q: &[(String, String)]) -> anyhow::Result<Reply> {
    let text = param(q, "q").unwrap_or("").trim().to_lowercase();
    if text.chars().count() < 2 {
        return Ok(Reply::error(400, "give q= with at least two characters"));
    }
    let l = state.current()?;
    let sites = l.snapshot.sites();
    let mut found = Vec::new();
    for i in 0..sites.len() {
        let lab = sites.label(i)?;
        if lab.name.to_lowercase().contains(&text) || lab.key().to_lowercase().contains(&text) {
            let (x, y) = l.points[i];
            found.push(json!({"key": lab.key(), "name": lab.name, "category": lab.category.as_str(), "lon": x, "lat": y}));
            if found.len() == 50 {
                break;
            }
        }
    }
    // External ids are not in the packed labels: look them up in the registry.
    if found.len() < 50 {
        if let Some((k, v)) = text.split_once('=') {
            let reg = Registry::open_read_only(&l.path)?;
            let (all, _, _) = reg.live_sites()?;
            for s in all.iter().filter(|s| {
                s.external_ids
                    .iter()
                    .any(|(a, b)| a.to_lowercase() == k && b.to_lowercase() == v)
            }) {
                found.push(json!({"key": format!("{}/{}", s.source, s.id), "name": s.name, "category": s.category.as_str()}));
            }
        }
    }
    Ok(Reply::json(
        200,
        &json!({"query": text, "revision": l.snapshot.revision, "sites": found}),
    ))
}

/// `GET /api/sites/{SOURCE/ID}`: the record, its source, history and links.
fn site(state: &State, key: &str) -> anyhow::Result<Reply> {
    let l = state.current()?;
    let reg = Registry::open_read_only(&l.path)?;
    // SOURCE/ID, or an ID unique across sources (ids may hold '/' themselves).
    let mut hist = match key.split_once('/') {
        Some((source, id)) => reg.history(Some(source), id)?,
        None => Vec::new(),
    };
    if hist.is_empty() {
        hist = reg.history(None, key)?;
        let sources: std::collections::BTreeSet<&String> = hist.iter().map(|(s, _)| s).collect();
        if sources.len() > 1 {
            return Ok(Reply::error(
                400,
                format!(
                    "site id {key:?} exists in several sources ({}); give SOURCE/ID",
                    sources.into_iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    if hist.is_empty() {
        return Ok(Reply::error(
            404,
            format!("no site {key:?} in this registry"),
        ));
    }
    let (source, _) = &hist[0];
    let source = source.clone();
    let key = match hist.iter().rev().find_map(|(_, e)| e.site.as_ref()) {
        Some(s) => format!("{}/{}", s.source, s.id),
        None => key.to_string(),
    };
    let key = key.as_str();
    let current = hist.iter().rev().find_map(|(_, e)| e.site.as_ref());
    let record = current.map(|s| {
        json!({
            "key": key, "source": s.source, "id": s.id, "name": s.name,
            "category": s.category.as_str(), "protection": s.protection.as_str(),
            "properties": crate::registry_cmds::export_properties(s),
            "geometry": nostrike_formats::geojson::geometry_to_value(&s.geometry),
        })
    });
    let live = hist.last().is_some_and(|(_, e)| e.site.is_some());
    let history: Vec<Value> = hist
        .iter()
        .map(|(_, e)| json!({"revision": e.revision, "batch": e.batch, "change": format!("{:?}", e.kind).to_lowercase(), "at": nostrike_core::time::format_utc(e.imported_at), "operator": e.operator, "file": e.file_name, "hash_after": e.hash_after}))
        .collect();
    let source_meta = reg.sources()?.into_iter().find(|m| m.name == source);
    let links: Vec<&String> = l
        .snapshot
        .links
        .iter()
        .filter_map(|(a, b)| {
            if a == key {
                Some(b)
            } else if b == key {
                Some(a)
            } else {
                None
            }
        })
        .collect();
    Ok(Reply::json(
        200,
        &json!({
            "revision": l.snapshot.revision,
            "live": live,
            "site": record,
            "source": source_meta.map(|m| json!({"name": m.name, "licence": m.licence, "attribution": m.attribution})),
            "history": history,
            "links": links,
        }),
    ))
}

fn format_of(s: &str) -> Option<(ReportFormat, &'static str, &'static str)> {
    Some(match s {
        "json" => (ReportFormat::Json, "application/json", "json"),
        "geojson" => (ReportFormat::Geojson, "application/geo+json", "geojson"),
        "csv" => (ReportFormat::Csv, "text/csv; charset=utf-8", "csv"),
        "kml" => (
            ReportFormat::Kml,
            "application/vnd.google-earth.kml+xml",
            "kml",
        ),
        "svg" => (ReportFormat::Svg, "image/svg+xml", "svg"),
        "html" => (ReportFormat::Html, "text/html; charset=utf-8", "html"),
        "table" => (ReportFormat::Table, "text/plain; charset=utf-8", "txt"),
        "cot" => (ReportFormat::Cot, "application/xml", "cot"),
        "kmz" => (ReportFormat::Kmz, "application/vnd.google-earth.kmz", "kmz"),
        _ => return None,
    })
}

/// `GET /api/check?point=…&buffer=…` and `POST /api/check` with GeoJSON
/// areas: the command line's report for the same input.
fn check(state: &State, q: &[(String, String)], body: Option<Vec<u8>>) -> anyhow::Result<Reply> {
    let bad = |m: String| Ok(Reply::error(400, m));
    let mut args = CheckArgs {
        policy: state.args.policy.clone(),
        ..CheckArgs::default()
    };
    let mut format = (ReportFormat::Json, "application/json", "json");
    let mut download = false;
    for (k, v) in q {
        let r: Result<(), String> = (|| {
            match k.as_str() {
                "point" => args
                    .points
                    .push(Coordinate::from_str(v).map_err(|e| format!("point {v:?}: {e}"))?),
                "route" => args.routes.push(v.clone()),
                "wkt" => args.wkts.push(v.clone()),
                "id" => args.ids.push(v.clone()),
                "buffer" => {
                    args.buffer = Distance::from_str(v).map_err(|e| format!("buffer {v:?}: {e}"))?
                }
                "corridor" => {
                    args.corridor =
                        Some(Distance::from_str(v).map_err(|e| format!("corridor {v:?}: {e}"))?)
                }
                "location_error" => {
                    args.location_error =
                        Distance::from_str(v).map_err(|e| format!("location_error {v:?}: {e}"))?
                }
                "profile" => args.profiles.push(v.clone()),
                "releasable_to" => args.releasable_to = Some(v.clone()),
                "format" => {
                    let (f, ct, ext) = format_of(v).ok_or_else(|| {
                        format!("format {v:?}: give json, geojson, csv, kml, svg, html or table")
                    })?;
                    format = (f, ct, ext);
                }
                "download" => download = v == "1" || v == "true",
                "token" => {}
                other => return Err(format!("unknown parameter {other:?}; see docs/API.md")),
            }
            Ok(())
        })();
        if let Err(e) = r {
            return bad(e);
        }
    }
    if args.profiles.iter().any(|_| true) && q.iter().any(|(k, _)| k == "buffer") {
        return bad("give buffer or profile, not both".into());
    }
    if args.corridor.is_some() && args.routes.is_empty() {
        return bad("corridor needs a route".into());
    }
    let dir;
    if let Some(b) = body {
        dir = tempfile::tempdir().context("a temporary folder for the posted areas")?;
        let f = dir.path().join("posted-areas.geojson");
        // A bare geometry or a single feature becomes a collection of one.
        let v: Value = match serde_json::from_slice(&b) {
            Ok(v) => v,
            Err(e) => return bad(format!("request body: not JSON: {e}")),
        };
        let fc = match v["type"].as_str() {
            Some("FeatureCollection") => v,
            Some("Feature") => json!({"type": "FeatureCollection", "features": [v]}),
            Some(_) => {
                json!({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": v}]})
            }
            None => {
                return bad("request body: a GeoJSON FeatureCollection, Feature or geometry".into())
            }
        };
        std::fs::write(&f, serde_json::to_vec(&fc)?).context("writing the posted areas")?;
        args.areas = Some(f);
    }
    if args.points.is_empty()
        && args.routes.is_empty()
        && args.wkts.is_empty()
        && args.areas.is_none()
    {
        return bad("nothing to check: give point=, route= or wkt= (or POST GeoJSON areas)".into());
    }
    args.format = format.0;
    if matches!(format.0, ReportFormat::Svg | ReportFormat::Html) {
        args.tiles = state.args.tiles.clone();
    }
    let mut prepared = match Prepared::of(&args) {
        Ok(p) => p,
        Err(e) => return bad(crate::error_message(&e)),
    };
    if prepared.areas.len() > MAX_AREAS_PER_REQUEST {
        return bad(format!(
            "{} areas: one request checks at most {MAX_AREAS_PER_REQUEST}",
            prepared.areas.len()
        ));
    }
    let l = state.current()?;
    prepared.groups = Some(l.groups(&prepared.policy)?);
    let mut out = Vec::new();
    let verdict = match crate::check::check_into(
        &l.snapshot,
        &l.path,
        &args,
        &prepared,
        &mut out,
        ReportStyle::default(),
        &|_| {},
    ) {
        Ok(v) => v,
        Err(e) => return bad(crate::error_message(&e)),
    };
    let mut r = Reply::new(200, format.1, out);
    r.headers
        .push(("X-Nostrike-Verdict", verdict.as_str().to_string()));
    r.headers.push((
        "X-Nostrike-Exit-Code",
        nostrike_app::report::exit_code(verdict).to_string(),
    ));
    r.headers
        .push(("X-Nostrike-Revision", l.snapshot.revision.to_string()));
    if download {
        r.headers.push((
            "Content-Disposition",
            format!(
                "attachment; filename=\"nostrike-check-r{}.{}\"",
                l.snapshot.revision, format.2
            ),
        ));
    }
    match format.0 {
        ReportFormat::Html => {
            r.csp = Some(nostrike_app::html::csp(
                nostrike_app::html::SCRIPT,
                nostrike_app::html::STYLE,
                state.tile_origin.as_deref(),
            ));
        }
        ReportFormat::Svg => {
            r.csp = Some(format!(
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:{}",
                state
                    .tile_origin
                    .as_deref()
                    .map(|o| format!(" {o}"))
                    .unwrap_or_default()
            ))
        }
        _ => {}
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_reads_what_browsers_send() {
        assert_eq!(percent_decode("42.5%2C1.53+x").unwrap(), "42.5,1.53 x");
        assert_eq!(percent_decode("%C3%A9").unwrap(), "é");
        assert!(percent_decode("%zz").is_err());
        assert!(percent_decode("%4").is_err());
        assert!(percent_decode("%ff").is_err());
    }

    #[test]
    fn longitude_ranges_cross_the_antimeridian() {
        assert!(lon_in(179.5, 170.0, -170.0));
        assert!(lon_in(-179.5, 170.0, -170.0));
        assert!(!lon_in(0.0, 170.0, -170.0));
        assert!(lon_in(0.0, -500.0, 500.0));
        assert!(lon_in(-179.0, 181.0, 185.0));
    }
}
