//! The connection pool and what a failed connection means.
//!
//! The reqwest client is built on first use (never at `require` time: no TLS setup, thread or
//! file access there) and kept in a process-wide slot; it is rebuilt only when the transport
//! settings (`connect_timeout_s`, `ca_file`) change. Its connection pool gives keep-alive, so
//! consecutive calls share one TCP connection and one TLS handshake.
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use crate::config::Config;
use crate::error::{Code, Error, Result};

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
pub(super) fn client(cfg: &Config) -> Result<reqwest::blocking::Client> {
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
    let tls = super::tls::tls_config(key.ca_file.as_deref())?;
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
pub(super) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
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
pub(super) enum Sent {
    /// Failed before the request left: always safe to repeat.
    No,
    /// May have reached TTLock.
    Maybe,
}

/// A reqwest failure as our error, and whether the request may have left.
pub(super) fn transport_error(e: reqwest::Error, cfg: &Config, host: &str) -> (Error, Sent) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_errors_are_found_inside_nested_io_errors() {
        use std::io;
        let inner = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let nested = io::Error::other(io::Error::new(io::ErrorKind::InvalidData, inner.clone()));
        assert_eq!(find_tls_error(&nested), Some(inner));
        let plain = io::Error::new(io::ErrorKind::UnexpectedEof, "tls handshake eof");
        assert_eq!(find_tls_error(&plain), None);
    }
}
