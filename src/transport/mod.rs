//! The transport to the TTLock cloud: endpoints, the form encoding, TLS and the connection
//! pool, the errcode envelope, the retry policy and the clock. [`execute`] sends one request
//! with that policy; it knows nothing of tokens (the client layer adds them) and logs through
//! the host facility.
//!
//! A request that may have reached TTLock is never repeated on a non-idempotent endpoint: the
//! error says `maybe_done()` and the operation decides (add_passcode looks the code up).
use std::time::Instant;

use serde_json::Value;

use crate::config::Config;
use crate::error::{Code, Error, Result};
use crate::secret::Secret;

pub mod clock;
mod connection;
pub mod endpoint;
pub mod envelope;
pub mod form;
pub mod retry;
mod tls;

pub use clock::{check_clock, now_ms};
pub use endpoint::{Endpoint, Method};
pub use envelope::parse_envelope;
pub use form::encode_form;
pub use retry::backoff;

use connection::Sent;

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
        let (err, sent) = connection::transport_error(e, cfg, host);
        (err, sent, None)
    })?;
    let status = resp.status().as_u16();
    let body = resp.bytes().map_err(|e| {
        let (err, _) = connection::transport_error(e, cfg, host);
        // The server answered: whatever it did is done.
        (err.with_maybe_done(true), Sent::Maybe, Some(status))
    })?;
    match parse_envelope(status, &body, ep) {
        Ok(v) => Ok((status, v)),
        Err(e) => {
            let done = e.code() == Code::BadResponse || status >= 500 || e.rules().outcome_unknown;
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
    let client = connection::client(cfg)?;
    let attempts = cfg.retries + 1;
    let mut n = 0;
    loop {
        n += 1;
        // Counted before sending, so a crash or timeout cannot hide a call. Only `/v3` calls:
        // those are what TTLock's monthly quota counts.
        if ep.is_v3() {
            if let Err(e) = crate::state::count_call(&cfg.state_dir, now_ms()) {
                crate::host::log(format!("ttlock: API call not counted: {e}"));
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
                crate::host::debug(format!("{head} http={status} errcode=0 ms={ms}"));
                return Ok(v);
            }
            Err((err, sent, status)) => {
                let retry = retry::should_retry(ep, &err, sent) && n < attempts;
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
                    crate::host::log(line);
                    std::thread::sleep(wait);
                    continue;
                }
                crate::host::log(line);
                return Err(err);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_api_base() {
        assert_eq!(host_of("https://127.0.0.1:8443"), "127.0.0.1:8443");
        assert_eq!(host_of("https://euapi.ttlock.com/x"), "euapi.ttlock.com");
    }
}
