//! HTTP transport to the TTLock cloud: one client per process, the request encodings, the
//! errcode envelope, retries and the call counter.
//!
//! - The reqwest client is built on first use (never at `require` time: no TLS setup, thread or
//!   file access there) and kept in a process-wide slot; it is rebuilt only when the transport
//!   settings (`connect_timeout_s`, `ca_file`) change. Its connection pool gives keep-alive, so
//!   consecutive calls share one TCP connection and one TLS handshake.
//! - TLS: rustls on the `ring` provider with our own `ClientConfig` whose roots are the bundled
//!   Mozilla roots (webpki-roots) plus `ca_file`: the controller's CA store never matters.
//! - Retries (at most `retries`, jittered exponential back-off) only for what can succeed later
//!   and cannot do harm twice: a connection that failed before the request was sent, errcodes
//!   -3003/-3037/90000 (nothing was done), and on idempotent endpoints also 5xx and connections
//!   lost after sending. A timeout is never retried (the caller asked for a bound), and a request
//!   that may have reached TTLock is never repeated on a non-idempotent endpoint: the error says
//!   `maybe_done()` and the operation decides (add_passcode looks the code up).
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::Config;
use crate::error::{Code, Error, Result};
use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One TTLock endpoint: how it is called and whether repeating it is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    /// Repeating a request that may already have been carried out does no harm.
    pub idempotent: bool,
}

impl Endpoint {
    /// A query: GET, idempotent.
    pub const fn query(path: &'static str) -> Endpoint {
        Endpoint {
            method: Method::Get,
            path,
            idempotent: true,
        }
    }
    /// An operation: form POST.
    pub const fn operation(path: &'static str, idempotent: bool) -> Endpoint {
        Endpoint {
            method: Method::Post,
            path,
            idempotent,
        }
    }
    /// `/v3` calls carry `clientId`, `accessToken` and `date`.
    pub fn is_v3(&self) -> bool {
        self.path.starts_with("/v3/")
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// 2024-01-01T00:00:00Z: a controller clock before this has not been set (cold boot, no NTP).
const SANE_CLOCK_MS: i64 = 1_704_067_200_000;

pub fn check_clock(now_ms: i64) -> Result<()> {
    if now_ms < SANE_CLOCK_MS {
        let shown = chrono::DateTime::from_timestamp_millis(now_ms)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "an invalid time".into());
        return Err(Error::new(
            Code::ClockSkew,
            format!("the controller's clock says {shown}, which cannot be right; check NTP (nothing was sent)"),
        ));
    }
    Ok(())
}

/// A number that TTLock may send as a JSON number or as a numeric string.
pub fn num_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
        }
        _ => None,
    }
}

/// application/x-www-form-urlencoded (also used for query strings): unreserved bytes as they
/// are, everything else %XX, so names with spaces or non-ASCII text arrive intact.
pub fn encode_form(params: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        pct(k, &mut out);
        out.push('=');
        pct(v, &mut out);
    }
    out
}

fn pct(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// The certificates in a PEM file (for `ca_file`).
pub fn read_ca_file(path: &Path) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let bad = |why: String| Error::new(Code::Tls, format!("ca_file {}: {why}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(format!("cannot read it ({e})")))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not a PEM certificate file ({e})")))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certs)
}

fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        for cert in read_ca_file(path)? {
            roots.add(cert).map_err(|e| {
                Error::new(
                    Code::Tls,
                    format!("ca_file {}: unusable certificate ({e})", path.display()),
                )
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(Code::Tls, format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// The settings a built client depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TransportKey {
    connect_timeout: Duration,
    ca_file: Option<PathBuf>,
}

/// Clients by transport settings, most recent first. A controller has one configuration, so
/// one entry; a few are kept so that alternating configurations (tests against several
/// simulators in one process) do not rebuild and lose their pooled connections.
static CLIENTS: Mutex<Vec<(TransportKey, reqwest::blocking::Client)>> = Mutex::new(Vec::new());
const MAX_CLIENTS: usize = 8;

/// The process's client for these settings, built on first use.
fn client(cfg: &Config) -> Result<reqwest::blocking::Client> {
    let key = TransportKey {
        connect_timeout: cfg.connect_timeout,
        ca_file: cfg.ca_file.clone(),
    };
    let mut clients = CLIENTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(i) = clients.iter().position(|(k, _)| *k == key) {
        let entry = clients.remove(i);
        let c = entry.1.clone();
        clients.insert(0, entry);
        return Ok(c);
    }
    let tls = tls_config(key.ca_file.as_deref())?;
    let client = reqwest::blocking::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(key.connect_timeout)
        .pool_idle_timeout(Duration::from_secs(50))
        .pool_max_idle_per_host(8)
        .user_agent(concat!("ttlock-lm/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::new(Code::Tls, format!("cannot set up HTTPS: {}", chain(&e))))?;
    clients.insert(0, (key, client.clone()));
    clients.truncate(MAX_CLIENTS);
    Ok(client)
}

/// The messages of an error and its sources, without repeats. reqwest's own message carries
/// the URL (with the access token of GET query strings), so callers strip it first.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !s.is_empty() && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// A rustls error anywhere in the chain. io::Error hides its inner error from `source()`, and
/// hyper wraps rustls's io::Error in another one, so io::Errors are unwrapped as well.
fn find_tls_error(e: &(dyn std::error::Error + 'static)) -> Option<rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t.clone());
        }
        cur = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

/// What a transport failure means for a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// Failed before the request left: always safe to repeat.
    No,
    /// May have reached TTLock.
    Maybe,
}

fn transport_error(e: reqwest::Error, cfg: &Config, host: &str) -> (Error, Sent) {
    let e = e.without_url();
    let detail = chain(&e);
    if e.is_timeout() {
        let (what, secs, sent) = if e.is_connect() {
            ("could not connect to", cfg.connect_timeout, Sent::No)
        } else {
            ("no answer from", cfg.timeout, Sent::Maybe)
        };
        let err = Error::new(
            Code::Timeout,
            format!("{what} {host} within {} s", secs.as_secs_f64()),
        );
        return (err.with_maybe_done(sent == Sent::Maybe), sent);
    }
    if let Some(t) = find_tls_error(&e) {
        let hint = match t {
            rustls::Error::InvalidCertificate(_) => {
                "; the server certificate is not trusted: give ca_file for a private CA or proxy, or check the controller's clock"
            }
            _ => "",
        };
        return (
            Error::new(Code::Tls, format!("TLS with {host} failed: {t}{hint}")),
            Sent::No,
        );
    }
    if e.is_connect() {
        return (
            Error::new(Code::Network, format!("cannot connect to {host}: {detail}")),
            Sent::No,
        );
    }
    (
        Error::new(
            Code::Network,
            format!("connection to {host} failed during the request: {detail}"),
        )
        .with_maybe_done(true),
        Sent::Maybe,
    )
}

/// Apply the envelope rule to an HTTP answer.
pub fn parse_envelope(status: u16, body: &[u8], path: &str) -> Result<Value> {
    if status != 200 {
        return Err(Error::http_status(status, path));
    }
    let bad = |why: &str| {
        Error::new(
            Code::BadResponse,
            format!("unreadable answer from {path}: {why}"),
        )
        .with_http_status(status)
    };
    let v: Value = serde_json::from_slice(body).map_err(|_| bad("not JSON"))?;
    let obj = v.as_object().ok_or_else(|| bad("not a JSON object"))?;
    match obj.get("errcode") {
        None | Some(Value::Null) => Ok(v),
        Some(code) => match num_i64(code) {
            Some(0) => Ok(v),
            Some(n) => {
                let msg = obj
                    .get("errmsg")
                    .and_then(Value::as_str)
                    .or_else(|| obj.get("description").and_then(Value::as_str));
                Err(Error::from_errcode(n, msg))
            }
            None => Err(bad("errcode is not a number")),
        },
    }
}

/// Errcodes that mean "nothing was done, try again later".
fn retryable_errcode(errcode: i64) -> bool {
    matches!(errcode, -3003 | -3037 | 90000)
}

/// The delay before retry `n` (1-based): base·2^(n-1), times a random factor in [0.5, 1.5).
pub fn backoff(base: Duration, n: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << n.saturating_sub(1).min(10));
    let jitter = 0.5 + (crate::state::unique() % 1000) as f64 / 1000.0;
    exp.mul_f64(jitter).min(Duration::from_secs(30))
}

fn host_of(api_base: &str) -> &str {
    let rest = api_base.split("://").nth(1).unwrap_or(api_base);
    rest.split('/').next().unwrap_or(rest)
}

/// One attempt: send, read, apply the envelope.
fn attempt(
    client: &reqwest::blocking::Client,
    cfg: &Config,
    ep: &Endpoint,
    params: &[(&str, String)],
    access_token: Option<&Secret>,
) -> std::result::Result<(u16, Value), (Error, Sent, Option<u16>)> {
    let host = host_of(&cfg.api_base);
    let date = now_ms().to_string();
    let mut all: Vec<(&str, &str)> = Vec::with_capacity(params.len() + 3);
    if ep.is_v3() {
        all.push(("clientId", &cfg.client_id));
        if let Some(t) = access_token {
            all.push(("accessToken", t.expose()));
        }
        all.push(("date", &date));
    }
    all.extend(params.iter().map(|(k, v)| (*k, v.as_str())));
    let encoded = encode_form(&all);
    let url = format!("{}{}", cfg.api_base, ep.path);
    let req = match ep.method {
        Method::Get => client.get(format!("{url}?{encoded}")),
        Method::Post => client
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(encoded),
    };
    let resp = req.timeout(cfg.timeout).send().map_err(|e| {
        let (err, sent) = transport_error(e, cfg, host);
        (err, sent, None)
    })?;
    let status = resp.status().as_u16();
    let body = resp.bytes().map_err(|e| {
        let (err, _) = transport_error(e, cfg, host);
        // The server answered: whatever it did is done.
        (err.with_maybe_done(true), Sent::Maybe, Some(status))
    })?;
    match parse_envelope(status, &body, ep.path) {
        Ok(v) => Ok((status, v)),
        Err(e) => {
            let done = e.code() == Code::BadResponse || (status >= 500);
            Err((e.with_maybe_done(done), Sent::Maybe, Some(status)))
        }
    }
}

/// Send a request with the retry policy of the module comment. `access_token` is added with
/// `clientId` and a fresh `date` to every `/v3` attempt. Every attempt is counted in
/// `state_dir` and logged (method, path, attempt, errcode or error code, elapsed ms).
pub fn execute(
    cfg: &Config,
    ep: &Endpoint,
    params: &[(&str, String)],
    access_token: Option<&Secret>,
) -> Result<Value> {
    check_clock(now_ms())?;
    let client = client(cfg)?;
    let attempts = cfg.retries + 1;
    let mut n = 0;
    loop {
        n += 1;
        // Counted before sending, so a crash or timeout cannot hide a call. Only `/v3` calls:
        // those are what TTLock's monthly quota counts.
        if ep.is_v3() {
            if let Err(e) = crate::state::count_call(&cfg.state_dir, now_ms()) {
                crate::exec::log(format!("ttlock: API call not counted: {e}"));
            }
        }
        let started = Instant::now();
        let result = attempt(&client, cfg, ep, params, access_token);
        let ms = started.elapsed().as_millis();
        let head = format!(
            "ttlock: {} {} attempt={n}/{attempts}",
            ep.method.as_str(),
            ep.path
        );
        match result {
            Ok((status, v)) => {
                crate::exec::log(format!("{head} http={status} errcode=0 ms={ms}"));
                return Ok(v);
            }
            Err((err, sent, status)) => {
                let retry = match (err.errcode(), err.http_status_code()) {
                    (Some(code), _) => retryable_errcode(code),
                    (None, Some(s)) if s >= 500 => ep.idempotent,
                    (None, Some(_)) => false,
                    (None, None) => match err.code() {
                        Code::Timeout | Code::Tls | Code::BadResponse => false,
                        _ => sent == Sent::No || ep.idempotent,
                    },
                } && n < attempts;
                let mut line = head;
                if let Some(s) = status {
                    line.push_str(&format!(" http={s}"));
                }
                if let Some(c) = err.errcode() {
                    line.push_str(&format!(" errcode={c}"));
                }
                line.push_str(&format!(" error={} ms={ms}", err.code()));
                if retry {
                    let wait = backoff(cfg.retry_backoff, n);
                    line.push_str(&format!(" retry_in_ms={}", wait.as_millis()));
                    crate::exec::log(line);
                    std::thread::sleep(wait);
                    continue;
                }
                crate::exec::log(line);
                return Err(err);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_rule() {
        // No errcode: a query's payload.
        assert_eq!(
            parse_envelope(200, br#"{"state":1}"#, "/p").unwrap(),
            json!({"state": 1})
        );
        // errcode 0, also as a string.
        assert!(parse_envelope(200, br#"{"errcode":0,"errmsg":"none"}"#, "/p").is_ok());
        assert!(parse_envelope(200, br#"{"errcode":"0"}"#, "/p").is_ok());
        let e = parse_envelope(200, br#"{"errcode":-3003,"errmsg":"busy"}"#, "/p").unwrap_err();
        assert_eq!(e.code(), Code::GatewayBusy);
        assert_eq!(e.errcode(), Some(-3003));
        let e = parse_envelope(
            200,
            br#"{"errcode":"10004","errmsg":"invalid grant"}"#,
            "/p",
        )
        .unwrap_err();
        assert_eq!(e.errcode(), Some(10004));
        let e = parse_envelope(503, b"<html>down</html>", "/p").unwrap_err();
        assert_eq!(
            (e.code(), e.http_status_code()),
            (Code::HttpStatus, Some(503))
        );
        for body in [&b"<html>"[..], b"[1,2]", b"", br#"{"errcode":"x"}"#] {
            let e = parse_envelope(200, body, "/p").unwrap_err();
            assert_eq!(e.code(), Code::BadResponse, "{body:?}");
        }
    }

    #[test]
    fn lenient_numbers() {
        assert_eq!(num_i64(&json!(5)), Some(5));
        assert_eq!(num_i64(&json!("42")), Some(42));
        assert_eq!(num_i64(&json!(" -3003 ")), Some(-3003));
        assert_eq!(num_i64(&json!(1790000000000.0)), Some(1_790_000_000_000));
        assert_eq!(num_i64(&json!("1.5")), None);
        assert_eq!(num_i64(&json!(null)), None);
        assert_eq!(num_i64(&json!(true)), None);
    }

    #[test]
    fn form_encoding() {
        assert_eq!(
            encode_form(&[("a", "1"), ("name", "Room 101/ä&x=y")]),
            "a=1&name=Room%20101%2F%C3%A4%26x%3Dy"
        );
        assert_eq!(encode_form(&[]), "");
        assert_eq!(encode_form(&[("k", "A-z_0.9~")]), "k=A-z_0.9~");
    }

    #[test]
    fn clock_sanity() {
        assert_eq!(check_clock(0).unwrap_err().code(), Code::ClockSkew);
        assert!(check_clock(SANE_CLOCK_MS - 1).is_err());
        assert!(check_clock(SANE_CLOCK_MS).is_ok());
        assert!(check_clock(now_ms()).is_ok());
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        for n in 1..5u32 {
            let nominal = 100.0 * f64::from(1u32 << (n - 1));
            for _ in 0..20 {
                let d = backoff(base, n).as_secs_f64() * 1000.0;
                assert!(d >= nominal * 0.5 - 1e-6 && d < nominal * 1.5, "{n}: {d}");
            }
        }
        assert!(backoff(Duration::from_secs(20), 9) <= Duration::from_secs(30));
        assert_eq!(backoff(Duration::ZERO, 3), Duration::ZERO);
    }

    #[test]
    fn endpoint_kinds() {
        let q = Endpoint::query("/v3/lock/list");
        assert!(q.idempotent && q.is_v3() && q.method == Method::Get);
        let o = Endpoint::operation("/oauth2/token", false);
        assert!(!o.idempotent && !o.is_v3() && o.method == Method::Post);
        assert_eq!(host_of("https://127.0.0.1:8443"), "127.0.0.1:8443");
        assert_eq!(host_of("https://euapi.ttlock.com/x"), "euapi.ttlock.com");
    }

    #[test]
    fn tls_errors_are_found_inside_nested_io_errors() {
        use std::io;
        let inner = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let nested = io::Error::other(io::Error::new(io::ErrorKind::InvalidData, inner.clone()));
        assert_eq!(find_tls_error(&nested), Some(inner));
        let plain = io::Error::new(io::ErrorKind::UnexpectedEof, "tls handshake eof");
        assert_eq!(find_tls_error(&plain), None);
    }

    #[test]
    fn bad_ca_file_is_reported() {
        let dir = crate::state::temp_dir("ca");
        let p = dir.join("ca.pem");
        std::fs::write(&p, "not a pem").unwrap();
        assert_eq!(read_ca_file(&p).unwrap_err().code(), Code::Tls);
        assert!(read_ca_file(&dir.join("missing.pem")).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
