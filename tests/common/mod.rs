//! Helpers shared by the Rust integration tests: the repository, the Lua hosts, the built module,
//! the simulator, fixture clients, the module in an embedded Lua state, child Lua processes and
//! temporary directories.
//!
//! Environment:
//! - `TTLOCK_LUA_HOSTS`: `;`-separated interpreter command lines (default `lua5.1;luajit`), e.g.
//!   `qemu-arm-static -L /opt/root /opt/root/usr/bin/lua5.1`. Words are split on whitespace (no
//!   quoting). A host that cannot run is a failure, never a skip.
//! - `TTLOCK_CPATH`: `package.cpath` template(s) of the module (default
//!   `<target dir>/release/lib?.so`, the target dir being `CARGO_TARGET_DIR` or `<repo>/target`).
//! - `TTLOCK_LUA_TIMEOUT_S`: a Lua child process is killed after this long (default 900), so a
//!   hung script fails instead of hanging the run.
//! - `TTLOCK_CAPTURE_DIR`: when set, what tests saw of the module (child output, log lines, error
//!   messages, return values) is dropped there with the secrets that must not appear in it, for
//!   the secret scan of tests/secrets.rs (see [`capture`]).

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mlua::{Lua, Table, Value};
use ttlock::{Client, Config, TokenRecord, TokenStore};
pub use ttlock_sim::{Sim, State};
use ttlock_sim::{
    DAY_MS, FIXTURE_ACCESS_TOKEN, FIXTURE_CLIENT_ID, FIXTURE_CLIENT_SECRET, FIXTURE_PASSWORD_MD5,
    FIXTURE_REFRESH_TOKEN,
};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Lua interpreter command lines to test with; each one is checked to start and to be a Lua
/// 5.1 (LuaJIT reports 5.1 too). Panics with a clear message otherwise.
pub fn lua_hosts() -> Vec<String> {
    let hosts = lua_host_specs();
    for host in &hosts {
        check_host(host);
    }
    hosts
}

/// The interpreter command lines from `TTLOCK_LUA_HOSTS`, without starting them.
pub fn lua_host_specs() -> Vec<String> {
    let spec = std::env::var("TTLOCK_LUA_HOSTS").unwrap_or_else(|_| "lua5.1;luajit".to_string());
    let hosts: Vec<String> = spec
        .split(';')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect();
    assert!(
        !hosts.is_empty(),
        "TTLOCK_LUA_HOSTS={spec:?} lists no interpreter"
    );
    hosts
}

fn check_host(host: &str) {
    let out = host_command(host)
        .args(["-e", "io.write(_VERSION)"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "Lua host `{host}` cannot be started: {e}. Install it (Debian: apt-get install \
                 lua5.1 luajit lua-socket lua-sec lua-cjson curl) or set TTLOCK_LUA_HOSTS."
            )
        });
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && version.trim() == "Lua 5.1",
        "Lua host `{host}` does not run as a Lua 5.1 interpreter (exit {:?}, printed {version:?}, \
         stderr {:?})",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A `Command` for an interpreter command line (split on whitespace).
pub fn host_command(host: &str) -> Command {
    let mut words = host.split_whitespace();
    let program = words
        .next()
        .unwrap_or_else(|| panic!("empty Lua host command line"));
    let mut cmd = Command::new(program);
    cmd.args(words);
    cmd
}

/// A short label for a host: the program name, or `first+last` for a wrapper such as qemu.
pub fn host_label(host: &str) -> String {
    let words: Vec<&str> = host.split_whitespace().collect();
    let base = |w: &str| w.rsplit('/').next().unwrap_or(w).to_string();
    match words.as_slice() {
        [] => String::new(),
        [one] => base(one),
        [first, .., last] => format!("{}+{}", base(first), base(last)),
    }
}

/// The `package.cpath` template(s) of the built module. Panics when no template resolves to an
/// existing file.
pub fn module_cpath() -> String {
    let cpath = std::env::var("TTLOCK_CPATH").unwrap_or_else(|_| {
        // Where tests/run.sh's `cargo build --release` put it (a relative dir is from the repo).
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(|d| repo_root().join(d))
            .unwrap_or_else(|| repo_root().join("target"));
        target
            .join("release/lib?.so")
            .to_string_lossy()
            .into_owned()
    });
    let candidates: Vec<String> = cpath
        .split(';')
        .filter(|t| !t.is_empty())
        .map(|t| t.replace('?', "ttlock"))
        .collect();
    assert!(
        candidates.iter().any(|c| Path::new(c).is_file()),
        "the ttlock module is not built ({} does not exist): run `cargo build --release` first \
         (or point TTLOCK_CPATH at a build)",
        candidates.join(", ")
    );
    cpath
}

/// Starts a simulator on 127.0.0.1 with `state`; it stops when dropped.
pub fn start_sim(state: State) -> Sim {
    Sim::start(state).unwrap_or_else(|e| panic!("the simulator does not start: {e}"))
}

/// A config for the fixture app against `sim`, state in `dir`: 10 s timeout and a 10 ms retry
/// back-off (so retried faults do not slow the tests down).
pub fn fixture_config(sim: &Sim, dir: &Path) -> Config {
    fixture_config_at(sim.base_url(), sim.ca_file(), dir)
}

/// [`fixture_config`] for a simulator known only by its base URL and CA file (e.g. in a child
/// process).
pub fn fixture_config_at(base_url: &str, ca_file: &str, dir: &Path) -> Config {
    let mut cfg = Config::new(FIXTURE_CLIENT_ID, FIXTURE_CLIENT_SECRET);
    cfg.api_base = base_url.to_owned();
    cfg.ca_file = Some(ca_file.into());
    cfg.state_dir = dir.to_owned();
    cfg.timeout = Duration::from_secs(10);
    cfg.retry_backoff = Duration::from_millis(10);
    cfg
}

/// A file-store client for `cfg` holding the fixture tokens, valid for 80 more days (so no test
/// refreshes unless it asks to).
pub fn seeded_client(cfg: Config) -> Client {
    let c = Client::new(cfg, TokenStore::File).unwrap();
    c.save_tokens(&TokenRecord {
        access_token: Some(FIXTURE_ACCESS_TOKEN.into()),
        refresh_token: Some(FIXTURE_REFRESH_TOKEN.into()),
        expires_at_ms: Some(ttlock::transport::now_ms() + 80 * DAY_MS),
    })
    .unwrap();
    c
}

/// [`seeded_client`] of [`fixture_config`].
pub fn fixture_client(sim: &Sim, dir: &Path) -> Client {
    seeded_client(fixture_config(sim, dir))
}

/// The fixture simulator with gateways that answer at once, a fresh `state_dir` named after
/// `label`, and a [`fixture_client`] on it: what most integration tests start from.
pub fn fixture_site(label: &str) -> (Sim, TempDir, Client) {
    let sim = start_sim(State::fixture());
    sim.set_options(|o| o.gateway_hold_ms = 0);
    let dir = TempDir::new(label);
    let c = fixture_client(&sim, dir.path());
    (sim, dir, c)
}

/// [`fixture_client`] with `adjust` applied to the config first.
pub fn fixture_client_with(sim: &Sim, dir: &Path, adjust: impl FnOnce(&mut Config)) -> Client {
    let mut cfg = fixture_config(sim, dir);
    adjust(&mut cfg);
    seeded_client(cfg)
}

/// An embedded Lua state (mlua, vendored Lua 5.1) with `ttlock` loaded and configured against
/// `sim`, state in `dir`: the fixture tokens in a Lua table `STORE` (saves counted in `SAVES`),
/// log lines in `LINES`, the configure options in `OPTS`. Globals for the fixture: `BASE`, `CA`,
/// `DIR`, `CID`, `CSECRET`, `AT`, `RT`, `MD5`. `extra` is Lua code run just before
/// `ttlock.configure(OPTS)`: more options, or globals the test wants.
pub fn lua_for(sim: &Sim, dir: &Path, extra: &str) -> Lua {
    let lua = Lua::new();
    let g = lua.globals();
    g.set("ttlock", ttlock::lua_module(&lua).unwrap()).unwrap();
    g.set("BASE", sim.base_url()).unwrap();
    g.set("CA", sim.ca_file()).unwrap();
    g.set("DIR", dir.to_str().unwrap()).unwrap();
    g.set("CID", FIXTURE_CLIENT_ID).unwrap();
    g.set("CSECRET", FIXTURE_CLIENT_SECRET).unwrap();
    g.set("AT", FIXTURE_ACCESS_TOKEN).unwrap();
    g.set("RT", FIXTURE_REFRESH_TOKEN).unwrap();
    g.set("MD5", FIXTURE_PASSWORD_MD5).unwrap();
    lua.load(format!(
        r#"
        STORE = {{ access_token = AT, refresh_token = RT, expires_at_ms = os.time() * 1000 + 80 * 86400000 }}
        SAVES, LINES = 0, {{}}
        OPTS = {{
          client_id = CID, client_secret = CSECRET, api_base = BASE, ca_file = CA, state_dir = DIR,
          retry_backoff_ms = 10, timeout_s = 10,
          token_store = {{ load = function() return STORE end,
                          save = function(t) STORE = t; SAVES = SAVES + 1 end }},
          log = function(line) LINES[#LINES + 1] = line end,
        }}
        {extra}
        assert(ttlock.configure(OPTS) == true)
        "#
    ))
    .exec()
    .unwrap();
    lua
}

/// The log lines a [`lua_for`] state collected in `LINES`.
pub fn lua_lines(lua: &Lua) -> Vec<String> {
    let t: Table = lua.globals().get("LINES").unwrap();
    t.sequence_values::<String>().map(Result::unwrap).collect()
}

/// Every string a Lua value holds, deeply (keys too, and what a table's `__tostring` gives), and
/// the message of an error value, for the secret scans. Numbers, booleans, nil and functions hold
/// no text and are passed over.
pub fn strings_of(v: &Value, out: &mut Vec<String>, depth: usize) {
    match v {
        Value::String(s) => out.push(s.to_string_lossy()),
        Value::Table(t) if depth < 10 => {
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair.unwrap();
                strings_of(&k, out, depth + 1);
                strings_of(&v, out, depth + 1);
            }
            if let Some(mt) = t.metatable() {
                if let Ok(Value::Function(f)) = mt.raw_get::<Value>("__tostring") {
                    if let Ok(s) = f.call::<String>(t.clone()) {
                        out.push(s);
                    }
                }
            }
        }
        Value::Error(e) => out.push(e.to_string()),
        _ => {}
    }
}

/// The environment of a Lua test file run against `sim` (see tests/lua/testlib.lua).
pub fn lua_env(sim: &Sim, host: &str, cpath: &str) -> Vec<(String, String)> {
    let repo = repo_root();
    let repo_s = repo.to_string_lossy().into_owned();
    vec![
        ("TTLOCK_SIM_BASE_URL".into(), sim.base_url().to_string()),
        ("TTLOCK_SIM_CA_FILE".into(), sim.ca_file().to_string()),
        ("TTLOCK_SIM_ADMIN_URL".into(), sim.admin_url().to_string()),
        ("TTLOCK_CPATH".into(), cpath.to_string()),
        ("TTLOCK_REPO".into(), repo_s.clone()),
        ("TTLOCK_LUA_HOST".into(), host.to_string()),
        (
            "LUA_PATH".into(),
            format!("{repo_s}/tests/lua/?.lua;{repo_s}/tests/lm/?.lua;;"),
        ),
    ]
}

/// The Lua test files: tests/lua/test_*.lua and tests/lua/<dir>/test_*.lua, sorted.
pub fn lua_test_files() -> Vec<PathBuf> {
    let dir = repo_root().join("tests/lua");
    let mut files = Vec::new();
    let is_test = |p: &Path| {
        p.is_file()
            && p.extension().is_some_and(|e| e == "lua")
            && p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("test_"))
    };
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            for sub in fs::read_dir(&path).into_iter().flatten().flatten() {
                if is_test(&sub.path()) {
                    files.push(sub.path());
                }
            }
        } else if is_test(&path) {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The outcome of one Lua child process.
#[derive(Debug)]
pub struct LuaRun {
    /// `None` when it was killed by a signal or by the timeout.
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    /// stdout and stderr, interleaved as written.
    pub output: String,
}

impl LuaRun {
    pub fn success(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|s| s.success())
    }

    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }
}

fn lua_timeout() -> Duration {
    let secs = std::env::var("TTLOCK_LUA_TIMEOUT_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(900);
    Duration::from_secs(secs)
}

/// Runs `host file` in the repository root with `env` added to the environment.
pub fn run_lua(host: &str, file: &Path, env: &[(String, String)]) -> LuaRun {
    run_lua_with_args(host, file, &[] as &[&str], env)
}

/// Runs `host file args...` in the repository root with `env` added to the environment.
pub fn run_lua_with_args<S: AsRef<str>>(
    host: &str,
    file: &Path,
    args: &[S],
    env: &[(String, String)],
) -> LuaRun {
    let mut cmd = host_command(host);
    cmd.arg(file);
    cmd.args(args.iter().map(|a| a.as_ref()));
    cmd.current_dir(repo_root());
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_captured(cmd, &format!("{host} {}", file.display()))
}

/// Runs a command with stdout and stderr going to one file (so a chatty child cannot block on a
/// full pipe), killing it after the Lua timeout.
pub fn run_captured(mut cmd: Command, what: &str) -> LuaRun {
    let tmp = TempDir::new("run");
    let out_path = tmp.path().join("output.txt");
    let out = File::create(&out_path).expect("create output file");
    let err = out.try_clone().expect("clone output file");
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
    let deadline = Instant::now() + lua_timeout();
    let mut timed_out = false;
    let status = loop {
        match child.try_wait().expect("wait for the child") {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let mut output = String::from_utf8_lossy(&fs::read(&out_path).unwrap_or_default()).into_owned();
    capture("child", &format!("$ {what}\n{output}"));
    if timed_out {
        output.push_str(&format!(
            "\n[killed after {} s: TTLOCK_LUA_TIMEOUT_S]\n",
            lua_timeout().as_secs()
        ));
    }
    LuaRun {
        status,
        timed_out,
        output,
    }
}

/// Parses the `N passed, N failed` summary line that `T.done()` prints last.
pub fn parse_summary(output: &str) -> Option<(u32, u32)> {
    output.lines().rev().find_map(|line| {
        let rest = line.trim();
        let (p, rest) = rest.split_once(" passed, ")?;
        let f = rest.strip_suffix(" failed")?;
        Some((p.parse().ok()?, f.parse().ok()?))
    })
}

/// A directory under the system temp dir, removed on drop unless the test is failing (kept for
/// a post-mortem then).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "ttlock-test-{label}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// `TTLOCK_CAPTURE_DIR` when set (and not empty).
pub fn capture_dir() -> Option<PathBuf> {
    std::env::var_os("TTLOCK_CAPTURE_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

fn capture_file(label: &str, ext: &str) -> Option<PathBuf> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = capture_dir()?;
    fs::create_dir_all(&dir).expect("create TTLOCK_CAPTURE_DIR");
    let label: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Some(dir.join(format!(
        "rs-{label}-{}-{}.{ext}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )))
}

/// Drops `text` (what a test saw of the module) into `TTLOCK_CAPTURE_DIR`; no-op when unset.
pub fn capture(label: &str, text: &str) {
    if let Some(path) = capture_file(label, "txt") {
        fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// Drops the secrets of `sim` (its app secret, user md5s and every token it issued) into
/// `TTLOCK_CAPTURE_DIR`, one per line; no-op when unset. Call it before the simulator stops.
pub fn capture_secrets(sim: &Sim) {
    let Some(path) = capture_file("secrets", "secrets") else {
        return;
    };
    let st = sim.state();
    let mut lines = vec![st.app.client_secret.clone()];
    lines.extend(st.users.iter().map(|u| u.password_md5.clone()));
    for t in &st.tokens {
        lines.push(t.access_token.clone());
        lines.push(t.refresh_token.clone());
    }
    lines.retain(|l| !l.is_empty());
    fs::write(&path, lines.join("\n") + "\n").unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A host that keeps the module's log lines (the Lua `log` callback's stand-in); tokens live
/// in state_dir.
#[derive(Default)]
pub struct Lines(pub std::cell::RefCell<Vec<String>>);

impl ttlock::host::Host for Lines {
    fn load_tokens(&self) -> ttlock::Result<Option<TokenRecord>> {
        Ok(None)
    }
    fn save_tokens(&self, _: &TokenRecord) -> ttlock::Result<()> {
        Ok(())
    }
    fn log(&self, _level: ttlock::host::Level, line: &str) {
        self.0.borrow_mut().push(line.to_owned());
    }
}
