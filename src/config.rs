//! Validated settings of one `configure` call, with the contract's defaults.
//!
//! `Config::validate` is run before a configuration replaces the previous one, so a bad setting
//! leaves the old configuration in place.
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Code, Error, Result};
use crate::host::Level;
use crate::secret::Secret;
use crate::state::persist;

/// The EU TTLock server; other regions give their own in `api_base`.
pub const DEFAULT_API_BASE: &str = "https://euapi.ttlock.com";
/// Where tokens, flags and counters live unless `state_dir` says otherwise. On LM `/tmp` is RAM:
/// the files that change with every call wear no flash there, and what must outlive a reboot
/// goes to the host's `persist` store (`state::persist`).
pub const DEFAULT_STATE_DIR: &str = "/tmp/ttlock";
/// `timeout_s`: the whole of one HTTP request, in seconds.
pub const DEFAULT_TIMEOUT_S: f64 = 30.0;
/// `connect_timeout_s`: establishing the connection, in seconds.
pub const DEFAULT_CONNECT_TIMEOUT_S: f64 = 10.0;
/// `retries`: extra attempts after a failure that is safe to repeat.
pub const DEFAULT_RETRIES: u32 = 2;
/// `retry_backoff_ms`: the base of the back-off between retries.
pub const DEFAULT_RETRY_BACKOFF_MS: u64 = 500;
/// The most `retries` accepted.
pub const MAX_RETRIES: u32 = 10;

/// The settings of one `configure` call, checked by `Config::validate`.
#[derive(Clone, Debug)]
pub struct Config {
    /// The TTLock open-platform app's client_id.
    pub client_id: String,
    /// The app's client_secret.
    pub client_secret: Secret,
    /// Without a trailing slash.
    pub api_base: String,
    /// The TTLock app account for the password grant (given together with `password_md5`).
    pub username: Option<String>,
    /// md5 of the TTLock app password, lowercase hex.
    pub password_md5: Option<Secret>,
    /// Directory of the files every process of the controller shares (tokens, flags, counters).
    pub state_dir: PathBuf,
    /// Limit for the whole of one HTTP request.
    pub timeout: Duration,
    /// Limit for establishing the connection.
    pub connect_timeout: Duration,
    /// Extra attempts after a failure that is safe to repeat (at most `MAX_RETRIES`).
    pub retries: u32,
    /// Base of the jittered exponential back-off between retries.
    pub retry_backoff: Duration,
    /// An extra CA to trust (PEM), besides the bundled roots.
    pub ca_file: Option<PathBuf>,
    /// The least important line that reaches the host's log.
    pub log_level: Level,
    /// `persist_every_s`: the least time between two periodic saves to the host's `persist`
    /// store (see `state::persist`).
    pub persist_every: Duration,
}

impl Config {
    /// A configuration with these credentials and every other setting at its default.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<Secret>) -> Config {
        Config {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            api_base: DEFAULT_API_BASE.to_owned(),
            username: None,
            password_md5: None,
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            timeout: Duration::from_secs_f64(DEFAULT_TIMEOUT_S),
            connect_timeout: Duration::from_secs_f64(DEFAULT_CONNECT_TIMEOUT_S),
            retries: DEFAULT_RETRIES,
            retry_backoff: Duration::from_millis(DEFAULT_RETRY_BACKOFF_MS),
            ca_file: None,
            log_level: Level::Info,
            persist_every: Duration::from_secs(persist::DEFAULT_EVERY_S),
        }
    }

    /// Check every setting; normalises `api_base` (no trailing slash) and `password_md5`
    /// (lowercase). Errors are misuse: the Lua layer raises them.
    pub fn validate(mut self) -> Result<Config> {
        let bad = |m: String| Error::misuse(Code::InvalidArgument, m);
        if self.client_id.trim().is_empty() || has_control(&self.client_id) {
            return Err(bad("client_id must be a non-empty string".into()));
        }
        if self.client_secret.expose().trim().is_empty() || has_control(self.client_secret.expose())
        {
            return Err(bad("client_secret must be a non-empty string".into()));
        }
        self.api_base = validate_api_base(&self.api_base).map_err(bad)?;
        if let Some(u) = &self.username {
            if u.trim().is_empty() || has_control(u) {
                return Err(bad("username must be a non-empty string".into()));
            }
        }
        if let Some(p) = &self.password_md5 {
            self.password_md5 = Some(Secret::new(normalise_md5(p.expose()).ok_or_else(|| {
                bad("password_md5 must be 32 hex digits (md5 of the TTLock app password)".into())
            })?));
        }
        if self.username.is_some() != self.password_md5.is_some() {
            return Err(bad(
                "username and password_md5 go together: give both or neither".into(),
            ));
        }
        if self.state_dir.as_os_str().is_empty() {
            return Err(bad("state_dir must be a non-empty path".into()));
        }
        check_duration("timeout_s", self.timeout).map_err(bad)?;
        check_duration("connect_timeout_s", self.connect_timeout).map_err(bad)?;
        if self.retries > MAX_RETRIES {
            return Err(bad(format!("retries must be 0 to {MAX_RETRIES}")));
        }
        if self.retry_backoff > Duration::from_secs(60) {
            return Err(bad("retry_backoff_ms must be 0 to 60000".into()));
        }
        let every = self.persist_every.as_secs();
        if self.persist_every.subsec_nanos() != 0
            || !(persist::MIN_EVERY_S..=persist::MAX_EVERY_S).contains(&every)
        {
            return Err(bad(format!(
                "persist_every_s must be a whole number {} to {}",
                persist::MIN_EVERY_S,
                persist::MAX_EVERY_S
            )));
        }
        if let Some(ca) = &self.ca_file {
            read_ca_file(ca).map_err(|e| bad(e.message().to_owned()))?;
        }
        Ok(self)
    }

    /// Whether a password grant is possible without the user.
    pub fn has_credentials(&self) -> bool {
        self.username.is_some() && self.password_md5.is_some()
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

fn check_duration(name: &str, d: Duration) -> std::result::Result<(), String> {
    if d.is_zero() || d > Duration::from_secs(3600) {
        return Err(format!("{name} must be more than 0 and at most 3600"));
    }
    Ok(())
}

fn validate_api_base(s: &str) -> std::result::Result<String, String> {
    let msg = || format!("api_base must be an http(s) URL like {DEFAULT_API_BASE}");
    let trimmed = s.trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed).map_err(|_| msg())?;
    if !matches!(url.scheme(), "https" | "http")
        || url.host_str().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
        || s.chars().any(|c| c.is_whitespace())
    {
        return Err(msg());
    }
    Ok(trimmed.to_owned())
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

/// md5 hex, lowercased; `None` unless it is exactly 32 hex digits.
pub fn normalise_md5(s: &str) -> Option<String> {
    (s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

/// Seconds given as a Lua number to a `Duration`; rejects NaN, infinities and negatives.
pub fn seconds(name: &str, s: f64) -> Result<Duration> {
    if !s.is_finite() || s <= 0.0 || s > 3600.0 {
        return Err(Error::misuse(
            Code::InvalidArgument,
            format!("{name} must be more than 0 and at most 3600"),
        ));
    }
    Ok(Duration::from_secs_f64(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Config {
        Config::new("cid", "csecret")
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = base().validate().unwrap();
        assert_eq!(c.api_base, "https://euapi.ttlock.com");
        assert_eq!(c.state_dir, PathBuf::from("/tmp/ttlock"));
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert_eq!(c.connect_timeout, Duration::from_secs(10));
        assert_eq!(c.retries, 2);
        assert_eq!(c.persist_every, Duration::from_secs(1800));
        assert!(c.ca_file.is_none());
        assert!(!c.has_credentials());
    }

    #[test]
    fn api_base_is_normalised_and_checked() {
        let mut c = base();
        c.api_base = "https://127.0.0.1:8443/".into();
        assert_eq!(c.validate().unwrap().api_base, "https://127.0.0.1:8443");
        for bad in [
            "",
            "euapi.ttlock.com",
            "ftp://x",
            "https://",
            "https://a b",
            "https://x?y=1",
        ] {
            let mut c = base();
            c.api_base = bad.into();
            let e = c.validate().unwrap_err();
            assert!(e.is_misuse(), "{bad}");
            assert!(e.message().contains("api_base"), "{bad}");
        }
    }

    #[test]
    fn credentials_go_together_and_md5_is_checked() {
        let mut c = base();
        c.username = Some("u@example.com".into());
        assert!(c.clone().validate().is_err());
        c.password_md5 = Some("E10ADC3949BA59ABBE56E057F20F883E".into());
        let v = c.clone().validate().unwrap();
        assert_eq!(
            v.password_md5.unwrap().expose(),
            "e10adc3949ba59abbe56e057f20f883e"
        );
        c.password_md5 = Some("123456".into());
        let e = c.validate().unwrap_err();
        // The message must not echo the rejected value.
        assert!(!e.message().contains("123456"));
    }

    #[test]
    fn empty_and_out_of_range_values_are_refused() {
        let mut c = base();
        c.client_id = " ".into();
        assert!(c.validate().is_err());
        let mut c = base();
        c.client_secret = "".into();
        assert!(c.validate().is_err());
        let mut c = base();
        c.retries = 11;
        assert!(c.validate().is_err());
        let mut c = base();
        c.timeout = Duration::ZERO;
        assert!(c.validate().is_err());
        for s in [0, 299, 86_401] {
            let mut c = base();
            c.persist_every = Duration::from_secs(s);
            assert!(c
                .validate()
                .unwrap_err()
                .message()
                .contains("persist_every_s"));
        }
        let mut c = base();
        c.persist_every = Duration::from_secs(300);
        assert!(c.validate().is_ok());
        let mut c = base();
        c.ca_file = Some("/nonexistent/ca.pem".into());
        assert!(c.validate().is_err());
        assert!(seconds("timeout_s", f64::NAN).is_err());
        assert!(seconds("timeout_s", -1.0).is_err());
        assert!(seconds("timeout_s", f64::INFINITY).is_err());
        assert_eq!(seconds("t", 2.5).unwrap(), Duration::from_millis(2500));
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

    #[test]
    fn debug_print_hides_secrets() {
        let mut c = base();
        c.client_secret = "csecret-very-private".into();
        c.username = Some("u".into());
        c.password_md5 = Some("e10adc3949ba59abbe56e057f20f883e".into());
        let d = format!("{c:?}");
        assert!(!d.contains("csecret-very-private"));
        assert!(!d.contains("e10adc3949ba59abbe56e057f20f883e"));
    }
}
