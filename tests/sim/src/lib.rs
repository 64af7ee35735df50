//! ttlock-sim: a TTLock Cloud API v3 simulator for tests (see README.md).
//!
//! An HTTPS server on 127.0.0.1 with a throwaway CA, gateways that take time, fault injection
//! and counters, plus a plain-HTTP admin API. Blocking, one thread per connection, so faults
//! (close before TLS, close after reading, close after doing the work) are exact.

mod admin;
mod api;
mod events;
mod fault;
mod http;
mod keypad;
mod state;
mod tls;
mod util;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection, StreamOwned};

pub use api::{errcode_body, errcode_text, OK_BODY};
pub use events::{EventOptions, OpenedBy, Opening};
pub use fault::{Counters, Fault, FaultKind};
pub use keypad::{
    random_codes_per_validity, KeypadAnswer, KeypadCode, KeypadReason, Validity,
    FIRST_USE_WITHIN_MS, ONE_TIME_WITHIN_MS, RECORD_TYPE_PASSCODE,
};
pub use state::*;
pub use util::{http_date, now_ms, percent_decode};

use api::Action;
use http::{write_response, Conn, ReadError, Response};

/// Everything mutable, behind one mutex (never held while sleeping).
pub(crate) struct World {
    pub state: State,
    pub faults: Vec<Fault>,
    pub counters: Counters,
    /// Requests currently at the gateway stage, per gateway.
    pub in_flight: HashMap<i64, u64>,
}

pub(crate) struct Inner {
    world: Mutex<World>,
    stopping: AtomicBool,
    stop_lock: Mutex<()>,
    stop_cv: Condvar,
    /// Open sockets, so that stopping can unblock their threads.
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking connection thread must not take the whole simulator down.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Sleeps `ms` unless the simulator stops first; true when the whole time passed.
    pub(crate) fn sleep_ms(&self, ms: u64) -> bool {
        if ms == 0 {
            return !self.stopping();
        }
        let deadline = Instant::now() + Duration::from_millis(ms);
        let mut g = lock(&self.stop_lock);
        loop {
            if self.stopping() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            g = self
                .stop_cv
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn register(&self, s: &TcpStream) -> Option<u64> {
        let clone = s.try_clone().ok()?;
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        lock(&self.conns).insert(id, clone);
        Some(id)
    }

    fn unregister(&self, id: Option<u64>) {
        if let Some(id) = id {
            lock(&self.conns).remove(&id);
        }
    }
}

/// Ports to listen on (0 = any free port).
#[derive(Clone, Copy, Debug, Default)]
pub struct SimConfig {
    pub port: u16,
    pub admin_port: u16,
}

/// A running simulator; stops (and removes its CA file) on drop.
pub struct Sim {
    inner: Arc<Inner>,
    addr: SocketAddr,
    admin_addr: SocketAddr,
    base_url: String,
    admin_url: String,
    dir: PathBuf,
    ca_file: PathBuf,
    ca_file_str: String,
    ca_pem: String,
    threads: Vec<JoinHandle<()>>,
}

impl Sim {
    /// Starts on free ports of 127.0.0.1.
    pub fn start(state: State) -> io::Result<Sim> {
        Sim::start_with(state, SimConfig::default())
    }

    pub fn start_with(mut state: State, config: SimConfig) -> io::Result<Sim> {
        state.normalize();
        let (tls, ca_pem) = tls::make()?;
        let api_listener = TcpListener::bind(("127.0.0.1", config.port))?;
        let admin_listener = TcpListener::bind(("127.0.0.1", config.admin_port))?;
        let addr = api_listener.local_addr()?;
        let admin_addr = admin_listener.local_addr()?;
        let dir = make_temp_dir()?;
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, &ca_pem)?;
        let inner = Arc::new(Inner {
            world: Mutex::new(World {
                state,
                faults: Vec::new(),
                counters: Counters::default(),
                in_flight: HashMap::new(),
            }),
            stopping: AtomicBool::new(false),
            stop_lock: Mutex::new(()),
            stop_cv: Condvar::new(),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
        });
        let mut threads = Vec::new();
        {
            let inner = inner.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("sim-accept".into())
                    .spawn(move || accept_api(inner, api_listener, tls))?,
            );
        }
        {
            let inner = inner.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("sim-admin".into())
                    .spawn(move || accept_admin(inner, admin_listener))?,
            );
        }
        Ok(Sim {
            inner,
            addr,
            admin_addr,
            base_url: format!("https://127.0.0.1:{}", addr.port()),
            admin_url: format!("http://127.0.0.1:{}", admin_addr.port()),
            ca_file_str: ca_file.to_string_lossy().into_owned(),
            ca_file,
            dir,
            ca_pem,
            threads,
        })
    }

    /// `https://127.0.0.1:PORT` (no trailing slash): the `api_base` for clients.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Path of the CA certificate (PEM) that signed the server certificate.
    pub fn ca_file(&self) -> &str {
        &self.ca_file_str
    }

    pub fn ca_path(&self) -> &Path {
        &self.ca_file
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// `http://127.0.0.1:PORT` of the admin API.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Adds a pending fault.
    pub fn inject(&self, fault: Fault) {
        self.inner.world().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.inner.world().faults.clear();
    }

    pub fn pending_faults(&self) -> Vec<Fault> {
        self.inner.world().faults.clone()
    }

    pub fn counters(&self) -> Counters {
        self.inner.world().counters.clone()
    }

    pub fn reset_counters(&self) {
        self.inner.world().counters = Counters::default();
    }

    /// A copy of the whole state.
    pub fn state(&self) -> State {
        self.inner.world().state.clone()
    }

    /// Reads or changes the state in place (under the lock: keep `f` short).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.inner.world().state)
    }

    pub fn set_state(&self, mut state: State) {
        state.normalize();
        self.inner.world().state = state;
    }

    pub fn set_options(&self, f: impl FnOnce(&mut Options)) {
        f(&mut self.inner.world().state.options);
    }

    /// Every access token expires now.
    pub fn expire_access_tokens(&self) {
        self.inner.world().state.expire_access_tokens();
    }

    /// The simulator's clock (real clock + `clock_offset_ms`).
    pub fn now_ms(&self) -> i64 {
        self.inner.world().state.now_ms()
    }

    /// A guest types `code` on lock `lock_id` at `at_ms` (None: now on the simulator's clock):
    /// the lock's verdict by its own truth (see [`State::keypad`]). Panics on an unknown lock
    /// (a test bug).
    pub fn keypad(&self, lock_id: i64, code: &str, at_ms: Option<i64>) -> KeypadAnswer {
        self.inner
            .world()
            .state
            .keypad(lock_id, code, at_ms)
            .unwrap_or_else(|| panic!("keypad: no lock {lock_id}"))
    }

    /// [`Sim::keypad`] with the event's time, upload delay and `recordId` choice (admin
    /// `POST /keypad` with `upload_delay_ms`, `no_record_id`). Panics on an unknown lock.
    pub fn keypad_with(&self, lock_id: i64, code: &str, ev: EventOptions) -> KeypadAnswer {
        self.inner
            .world()
            .state
            .keypad_with(lock_id, code, ev)
            .unwrap_or_else(|| panic!("keypad: no lock {lock_id}"))
    }

    /// An opening by card, app, fingerprint, remote, key or button (admin `POST /open`, see
    /// [`State::open`]); returns the record's id in the simulator (also when it is served
    /// without one). Panics on an unknown lock.
    pub fn open(&self, opening: Opening) -> i64 {
        self.inner
            .world()
            .state
            .open(&opening)
            .unwrap_or_else(|| panic!("open: no lock {}", opening.lock_id))
    }

    /// Sets a gateway on- or offline (admin `POST /gateways/ID {"online":…}`); back online, it
    /// uploads the unsent records of the locks it reaches (see [`State::set_gateway_online`]).
    /// Returns how many records went up. Panics on an unknown gateway.
    pub fn set_gateway_online(&self, gateway_id: i64, online: bool) -> usize {
        self.inner
            .world()
            .state
            .set_gateway_online(gateway_id, online)
            .unwrap_or_else(|| panic!("set_gateway_online: no gateway {gateway_id}"))
    }

    /// Sets a lock's battery level (`electricQuantity`; admin `POST /locks/ID
    /// {"battery":…}`). Panics on an unknown lock.
    pub fn set_battery(&self, lock_id: i64, battery: i64) {
        self.inner
            .world()
            .state
            .lock_mut(lock_id)
            .unwrap_or_else(|| panic!("set_battery: no lock {lock_id}"))
            .battery = battery;
    }

    /// The lock's records not yet in the cloud are uploaded now (see
    /// [`State::upload_records`]); returns how many.
    pub fn upload_records(&self, lock_id: i64) -> usize {
        self.inner.world().state.upload_records(lock_id)
    }

    /// Stops serving: listeners close, open connections are shut, sleeps (gateway holds,
    /// delays) end early.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.inner.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        {
            let _g = lock(&self.inner.stop_lock);
            self.inner.stop_cv.notify_all();
        }
        // Wake the accept loops.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let _ = TcpStream::connect_timeout(&self.admin_addr, Duration::from_secs(1));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        for (_, s) in lock(&self.inner.conns).drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("base_url", &self.base_url)
            .field("admin_url", &self.admin_url)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

fn make_temp_dir() -> io::Result<PathBuf> {
    let base = std::env::temp_dir();
    loop {
        let dir = base.join(format!("ttlock-sim-{}", util::random_hex(8)));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

fn spawn_conn(f: impl FnOnce() + Send + 'static) {
    // If a thread cannot be made the connection is dropped, as an overloaded server would.
    let _ = std::thread::Builder::new()
        .name("sim-conn".into())
        .stack_size(256 * 1024)
        .spawn(f);
}

fn accept_api(inner: Arc<Inner>, listener: TcpListener, tls: Arc<ServerConfig>) {
    for tcp in listener.incoming() {
        if inner.stopping() {
            break;
        }
        let Ok(tcp) = tcp else {
            // E.g. out of descriptors: back off instead of spinning.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let drop_now = {
            let mut w = inner.world();
            w.counters.tcp_connections += 1;
            fault::take_fault(&mut w.faults, |f| f.kind == FaultKind::DropConnect).is_some()
        };
        if drop_now {
            let _ = tcp.shutdown(Shutdown::Both);
            continue;
        }
        let id = inner.register(&tcp);
        let inner = inner.clone();
        let tls = tls.clone();
        spawn_conn(move || {
            serve_tls(&inner, tcp, tls);
            inner.unregister(id);
        });
    }
}

fn accept_admin(inner: Arc<Inner>, listener: TcpListener) {
    for tcp in listener.incoming() {
        if inner.stopping() {
            break;
        }
        let Ok(tcp) = tcp else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let id = inner.register(&tcp);
        let inner = inner.clone();
        spawn_conn(move || {
            let _ = tcp.set_nodelay(true);
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(60)));
            let end = serve(&inner, tcp.try_clone().ok(), tcp, false);
            finish(end);
            inner.unregister(id);
        });
    }
}

fn keep_alive(inner: &Inner) -> Duration {
    Duration::from_secs(inner.world().state.options.keep_alive_s.max(1))
}

fn serve_tls(inner: &Inner, mut tcp: TcpStream, tls: Arc<ServerConfig>) {
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut conn) = ServerConnection::new(tls) else {
        return;
    };
    while conn.is_handshaking() {
        match conn.complete_io(&mut tcp) {
            Ok((0, 0)) | Err(_) => {
                let _ = tcp.shutdown(Shutdown::Both);
                return;
            }
            Ok(_) => {}
        }
    }
    inner.world().counters.tls_handshakes += 1;
    let _ = tcp.set_read_timeout(Some(keep_alive(inner)));
    let raw = tcp.try_clone().ok();
    let end = serve(inner, raw, StreamOwned::new(conn, tcp), true);
    finish(end);
}

/// A byte stream the HTTP loop can end politely.
trait Transport: Read + Write {
    fn close_notify(&mut self) {}
}

impl Transport for TcpStream {}

impl Transport for StreamOwned<ServerConnection, TcpStream> {
    fn close_notify(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
    }
}

/// How a connection ended, for the final TCP shutdown.
enum End {
    /// Answer sent (or peer gone): half-close after a close_notify.
    Graceful(Option<TcpStream>),
    /// A fault: cut without a word.
    Abrupt(Option<TcpStream>),
}

fn finish(end: End) {
    match end {
        End::Graceful(Some(s)) => {
            let _ = s.shutdown(Shutdown::Write);
        }
        End::Abrupt(Some(s)) => {
            let _ = s.shutdown(Shutdown::Both);
        }
        _ => {}
    }
}

fn serve<S: Transport>(inner: &Inner, raw: Option<TcpStream>, stream: S, is_api: bool) -> End {
    let mut conn = Conn::new(stream);
    loop {
        let req = match conn.read_request() {
            Ok(r) => r,
            Err(ReadError::Closed) => return End::Graceful(raw),
            Err(ReadError::Bad(why)) => {
                let resp = Response {
                    status: 400,
                    content_type: http::TEXT,
                    body: format!("bad request: {why}\n").into_bytes(),
                };
                let _ = write_response(&mut conn.stream, &resp, true, &date(inner));
                conn.stream.close_notify();
                return End::Graceful(raw);
            }
        };
        let close = req.wants_close();
        let action = if is_api {
            api::handle(inner, &req)
        } else {
            Action::Respond(admin::handle(inner, &req))
        };
        match action {
            // A stopping simulator answers nothing, not even what a cut-short hold produced.
            Action::Close => return End::Abrupt(raw),
            Action::Respond(_) if inner.stopping() => return End::Abrupt(raw),
            Action::Respond(resp) => {
                if write_response(&mut conn.stream, &resp, close, &date(inner)).is_err() {
                    return End::Abrupt(raw);
                }
                if close {
                    conn.stream.close_notify();
                    return End::Graceful(raw);
                }
            }
        }
    }
}

fn date(inner: &Inner) -> String {
    http_date(inner.world().state.now_ms())
}
