//! A small HTTPS/HTTP client for the simulator's tests: rustls trusting only the simulator's CA
//! file, keep-alive, and a clear error when the server closes without answering.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::Value;
use ttlock_sim::{Sim, State, FIXTURE_ACCESS_TOKEN, FIXTURE_CLIENT_ID};

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A keep-alive client for one server (HTTPS when built with a TLS config).
pub struct Client {
    addr: std::net::SocketAddr,
    tls: Option<Arc<ClientConfig>>,
    conn: Option<Box<dyn Stream>>,
    buf: Vec<u8>,
    /// Connections this client opened.
    pub connects: usize,
}

pub fn tls_config(ca_file: &str) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).expect("read CA file") {
        roots.add(cert.expect("PEM")).expect("add CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

impl Client {
    /// HTTPS to the simulator, trusting only its CA file.
    pub fn https(sim: &Sim) -> Client {
        Client {
            addr: sim.addr(),
            tls: Some(tls_config(sim.ca_file())),
            conn: None,
            buf: Vec::new(),
            connects: 0,
        }
    }

    /// Plain HTTP to the admin API.
    pub fn admin(sim: &Sim) -> Client {
        Client {
            addr: sim.admin_addr(),
            tls: None,
            conn: None,
            buf: Vec::new(),
            connects: 0,
        }
    }

    fn connect(&mut self) -> io::Result<()> {
        let tcp = TcpStream::connect(self.addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(120)))?;
        self.connects += 1;
        self.buf.clear();
        self.conn = Some(match &self.tls {
            None => Box::new(tcp),
            Some(cfg) => {
                let name = ServerName::try_from("127.0.0.1").unwrap();
                let conn = ClientConnection::new(cfg.clone(), name).map_err(io::Error::other)?;
                Box::new(StreamOwned::new(conn, tcp))
            }
        });
        Ok(())
    }

    /// Forgets the current connection (the next request opens a new one).
    pub fn disconnect(&mut self) {
        self.conn = None;
    }

    /// One request on the kept-alive connection (opened when needed). An error means the server
    /// closed or failed without a complete answer; the connection is then dropped.
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        body: Option<&str>,
        extra_headers: &[(&str, &str)],
    ) -> io::Result<Resp> {
        if self.conn.is_none() {
            self.connect()?;
        }
        let r = self.exchange(method, target, body, extra_headers);
        let close = match &r {
            Ok(resp) => resp
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close")),
            Err(_) => true,
        };
        if close {
            self.conn = None;
        }
        r
    }

    fn exchange(
        &mut self,
        method: &str,
        target: &str,
        body: Option<&str>,
        extra_headers: &[(&str, &str)],
    ) -> io::Result<Resp> {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        if let Some(b) = body {
            req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
            req.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
        for (k, v) in extra_headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        if let Some(b) = body {
            req.push_str(b);
        }
        let conn = self.conn.as_mut().expect("connected");
        conn.write_all(req.as_bytes())?;
        conn.flush()?;
        // Status line and headers.
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            self.fill()?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other("bad status line"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| io::Error::other("no content-length"))?;
        while self.buf.len() < len {
            self.fill()?;
        }
        let body = self.buf.drain(..len).collect();
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 8192];
        let n = match self.conn.as_mut().expect("connected").read(&mut chunk) {
            Ok(n) => n,
            Err(e) => {
                self.conn = None;
                return Err(e);
            }
        };
        if n == 0 {
            self.conn = None;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection without an answer",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// POST a form to `path`; the JSON answer.
    pub fn post(&mut self, path: &str, params: &[(&str, &str)]) -> io::Result<Resp> {
        self.request("POST", path, Some(&form(params)), &[])
    }

    /// GET `path` with `params` in the query string.
    pub fn get(&mut self, path: &str, params: &[(&str, &str)]) -> io::Result<Resp> {
        self.request("GET", &format!("{path}?{}", form(params)), None, &[])
    }

    /// POST a `/v3` form with clientId, the fixture's accessToken and `date` = now added.
    pub fn v3_post(&mut self, path: &str, params: &[(&str, &str)]) -> Value {
        let all = with_auth(params);
        let refs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = self.post(path, &refs).expect("answer");
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// GET a `/v3` query with clientId, the fixture's accessToken and `date` = now added.
    pub fn v3_get(&mut self, path: &str, params: &[(&str, &str)]) -> Value {
        let all = with_auth(params);
        let refs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = self.get(path, &refs).expect("answer");
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// Admin JSON request.
    pub fn admin_json(&mut self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let text = body.map(|b| b.to_string());
        let r = self
            .request(method, path, text.as_deref(), &[])
            .expect("admin answer");
        (r.status, r.json())
    }
}

/// clientId, accessToken (unless given) and date (unless given) added to `params`.
pub fn with_auth(params: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let has = |k: &str| params.iter().any(|(n, _)| *n == k);
    if !has("clientId") {
        v.push(("clientId".into(), FIXTURE_CLIENT_ID.into()));
    }
    if !has("accessToken") {
        v.push(("accessToken".into(), FIXTURE_ACCESS_TOKEN.into()));
    }
    if !has("date") {
        v.push(("date".into(), ttlock_sim::now_ms().to_string()));
    }
    v
}

/// Form-encodes pairs (space as `+`, everything but unreserved characters escaped).
pub fn form(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The fixture with no gateway hold, so tests that do not study gateways run fast.
pub fn quick_fixture() -> State {
    let mut s = State::fixture();
    s.options.gateway_hold_ms = 0;
    s
}

pub fn start(state: State) -> Sim {
    Sim::start(state).expect("simulator starts")
}

pub fn errcode(v: &Value) -> i64 {
    v["errcode"].as_i64().unwrap_or(0)
}

/// Waits (polling the counters) until `pred` holds; panics after 20 s.
pub fn wait_for(sim: &Sim, what: &str, pred: impl Fn(&ttlock_sim::Counters) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !pred(&sim.counters()) {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
