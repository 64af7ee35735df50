//! Token lifecycle.
//!
//! - The record `{access_token, refresh_token, expires_at_ms}` is read through the store before
//!   every call (another process may have replaced it) and every new record is saved at once;
//!   a refresh answer without a refresh token keeps the old one, a rotated one replaces it.
//! - Renewals are single-flight across processes: the renewing code takes an exclusive lock on
//!   `state_dir/token.lock` (bounded wait), reads the store again and skips the request when
//!   another process has already replaced the token that failed (or the record already has the
//!   validity asked for). So N processes that find the token expired make one refresh request.
//! - A rejected refresh token (the errcode table's `refresh_rejected`) falls back to a password grant when `username` and
//!   `password_md5` are configured; otherwise the call fails with `auth_failed` and the
//!   `needs_login` flag is persisted in `state_dir` (so later processes report it too) until a
//!   grant or refresh succeeds.
use std::time::Duration;

use serde_json::Value;

use super::{Client, TokenStore};
use crate::config::Config;
use crate::error::{Code, Error, Result};
use crate::host::TokenRecord;
use crate::lenient::num_i64;
use crate::secret::Secret;
use crate::state::{self, NEEDS_LOGIN_FILE, TOKENS_FILE, TOKEN_LOCK_FILE};
use crate::transport::{self, Endpoint};

/// `/oauth2/token` for the password grant: repeating it only issues another token.
pub const OAUTH_PASSWORD: Endpoint = Endpoint::operation("/oauth2/token", true);
/// `/oauth2/token` for the refresh grant: not idempotent, because TTLock may rotate (and so
/// invalidate) the refresh token we sent; a lost answer must not be repeated blind.
pub const OAUTH_REFRESH: Endpoint = Endpoint::operation("/oauth2/token", false);

/// What `token_info()` shows: no secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The store holds an access token.
    pub has_access_token: bool,
    /// The store holds a refresh token.
    pub has_refresh_token: bool,
    /// When the access token expires (ms since the epoch), when known.
    pub expires_at_ms: Option<i64>,
    /// A person must log in (or paste tokens): no renewal can work without.
    pub needs_login: bool,
}

/// Why a renewal is wanted; decides when another process's work makes it unnecessary.
#[derive(Debug, Clone)]
pub(crate) enum Renew {
    /// This access token was rejected or expired (`None`: there was none).
    Rejected(Option<Secret>),
    /// The token must stay valid at least this long.
    MinValid(i64),
    /// Refresh regardless.
    Force,
}

/// md5 of a password, lowercase hex (TTLock's `password` parameter).
pub fn md5_hex(password: &str) -> String {
    use md5::{Digest, Md5};
    Md5::digest(password.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a person must do when no token can be had without them.
const NEEDS_LOGIN_ADVICE: &str = "TTLock refused the stored tokens: set username and password_md5 (the TTLock app account) in ttlock_config, or paste fresh tokens";

pub(crate) fn no_token_error(cfg: &Config) -> Error {
    let (how, advice) = if cfg.has_credentials() {
        (
            "the configured username/password_md5 did not give one",
            "TTLock gave no token for the configured username and password_md5: check both in ttlock_config",
        )
    } else {
        (
            "call ttlock.login{username=..., password=...} or configure username and password_md5",
            "no TTLock login yet: set username and password_md5 (the TTLock app account) in ttlock_config, or paste fresh tokens",
        )
    };
    Error::new(Code::AuthFailed, format!("no usable TTLock token: {how}")).with_advice(advice)
}

/// A grant answer turned into a record (keeping `old_refresh` when none is sent).
pub(crate) fn record_from_grant(
    v: &Value,
    old_refresh: Option<Secret>,
    now_ms: i64,
) -> Result<TokenRecord> {
    let access = v
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Error::new(
                Code::BadResponse,
                "TTLock's token answer has no access_token",
            )
            .with_maybe_done(true)
        })?;
    let refresh = v
        .get("refresh_token")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(Secret::new)
        .or(old_refresh);
    let expires_at_ms = v
        .get("expires_in")
        .and_then(num_i64)
        .filter(|s| *s > 0)
        .map(|s| now_ms + s * 1000);
    Ok(TokenRecord {
        access_token: Some(Secret::new(access)),
        refresh_token: refresh,
        expires_at_ms,
    })
}

impl Client {
    fn tokens_path(&self) -> std::path::PathBuf {
        self.cfg.state_dir.join(TOKENS_FILE)
    }

    /// The stored record (`None` when the store is empty).
    pub fn load_tokens(&self) -> Result<Option<TokenRecord>> {
        let rec = match self.store {
            TokenStore::Host => crate::host::load_tokens()?,
            TokenStore::File => match state::read_optional(&self.tokens_path())? {
                None => None,
                Some(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                    Ok(v) => Some(TokenRecord::from_json(&v)),
                    Err(_) => {
                        self.log(format!(
                            "ttlock: {} is unreadable; ignoring it",
                            self.tokens_path().display()
                        ));
                        None
                    }
                },
            },
        };
        Ok(rec.filter(|r| !r.is_empty()))
    }

    /// Hand a record to the store (at once, before it is used).
    pub fn save_tokens(&self, rec: &TokenRecord) -> Result<()> {
        match self.store {
            TokenStore::Host => crate::host::save_tokens(rec),
            TokenStore::File => {
                let body = serde_json::to_vec(&rec.to_json()).expect("json of strings");
                state::atomic_write(&self.tokens_path(), &body)
            }
        }
    }

    fn set_needs_login(&self, on: bool) {
        if let Err(e) = state::set_flag(&self.cfg.state_dir, NEEDS_LOGIN_FILE, on) {
            self.log(format!("ttlock: cannot record needs_login: {e}"));
        }
    }

    /// How long to wait for another process's renewal: its requests are bounded by the
    /// timeouts and retries (a refresh plus a password grant at most).
    fn lock_wait(&self) -> Duration {
        let per_call = self.cfg.timeout + self.cfg.connect_timeout;
        per_call * (2 * (self.cfg.retries + 1)) + Duration::from_secs(10)
    }

    /// The access token for a call, renewing first when there is none or it has expired.
    pub(crate) fn access_token_for_call(&self) -> Result<Secret> {
        let rec = self.load_tokens()?.unwrap_or_default();
        match &rec.access_token {
            Some(t) if !rec.is_expired(transport::now_ms()) => Ok(t.clone()),
            current => {
                let rec = self.renew(Renew::Rejected(current.clone()))?;
                rec.access_token.ok_or_else(|| no_token_error(&self.cfg))
            }
        }
    }

    /// Single-flight renewal (module comment). Returns the record to use.
    pub(crate) fn renew(&self, why: Renew) -> Result<TokenRecord> {
        let _lock =
            state::lock_exclusive(&self.cfg.state_dir.join(TOKEN_LOCK_FILE), self.lock_wait())?;
        let current = self.load_tokens()?.unwrap_or_default();
        let now = transport::now_ms();
        let enough = match &why {
            Renew::Rejected(failed) => {
                current.access_token.is_some()
                    && current.access_token != *failed
                    && !current.is_expired(now)
            }
            Renew::MinValid(ms) => {
                current.access_token.is_some()
                    && current.valid_for_ms(now).is_some_and(|v| v >= *ms)
            }
            Renew::Force => false,
        };
        if enough {
            self.log("ttlock: token already renewed by another process");
            return Ok(current);
        }
        if let Some(refresh) = current.refresh_token.clone() {
            let params = [
                ("clientId", self.cfg.client_id.clone()),
                ("clientSecret", self.cfg.client_secret.expose().to_owned()),
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", refresh.expose().to_owned()),
            ];
            match transport::execute(&self.cfg, &OAUTH_REFRESH, &params, None)
                .and_then(|v| record_from_grant(&v, Some(refresh), transport::now_ms()))
            {
                Ok(rec) => {
                    self.save_tokens(&rec)?;
                    self.set_needs_login(false);
                    self.log("ttlock: access token refreshed");
                    return Ok(rec);
                }
                Err(e) if e.rules().refresh_rejected => {
                    if !self.cfg.has_credentials() {
                        self.set_needs_login(true);
                        return Err(e.with_advice(NEEDS_LOGIN_ADVICE));
                    }
                    self.log(
                        "ttlock: refresh token rejected; logging in with the configured username",
                    );
                }
                Err(e) => return Err(e),
            }
        }
        match (&self.cfg.username, &self.cfg.password_md5) {
            (Some(u), Some(p)) => self.password_grant(u, p),
            _ => {
                self.set_needs_login(true);
                Err(no_token_error(&self.cfg))
            }
        }
    }

    /// Password grant and save; the caller holds the token lock.
    fn password_grant(&self, username: &str, password_md5: &Secret) -> Result<TokenRecord> {
        let params = [
            ("clientId", self.cfg.client_id.clone()),
            ("clientSecret", self.cfg.client_secret.expose().to_owned()),
            ("username", username.to_owned()),
            ("password", password_md5.expose().to_owned()),
        ];
        let result = transport::execute(&self.cfg, &OAUTH_PASSWORD, &params, None)
            .and_then(|v| record_from_grant(&v, None, transport::now_ms()));
        match result {
            Ok(rec) => {
                self.save_tokens(&rec)?;
                self.set_needs_login(false);
                self.log("ttlock: logged in (password grant)");
                Ok(rec)
            }
            Err(e) => {
                if e.code() == Code::AuthFailed {
                    self.set_needs_login(true);
                }
                Err(e)
            }
        }
    }

    /// `ttlock.login`: a password grant with these credentials; the record is saved.
    pub fn login(&self, username: &str, password_md5: &Secret) -> Result<()> {
        let md5 = crate::config::normalise_md5(password_md5.expose()).ok_or_else(|| {
            Error::misuse(
                Code::InvalidArgument,
                "password_md5 must be 32 hex digits (md5 of the TTLock app password)",
            )
        })?;
        let _lock =
            state::lock_exclusive(&self.cfg.state_dir.join(TOKEN_LOCK_FILE), self.lock_wait())?;
        self.password_grant(username, &Secret::new(md5)).map(|_| ())
    }

    /// `ttlock.refresh_token`: refresh now (password grant when the refresh token is rejected
    /// and credentials are configured).
    pub fn refresh_token(&self) -> Result<()> {
        transport::check_clock(transport::now_ms())?;
        self.renew(Renew::Force).map(|_| ())
    }

    /// `ttlock.ensure_token`: make sure the token stays valid at least `min_valid`; refreshes
    /// early, also when the expiry is unknown. No request when it already is.
    pub fn ensure_token(&self, min_valid: Duration) -> Result<()> {
        let min_ms = min_valid.as_millis() as i64;
        let rec = self.load_tokens()?.unwrap_or_default();
        let now = transport::now_ms();
        if rec.access_token.is_some() && rec.valid_for_ms(now).is_some_and(|v| v >= min_ms) {
            return Ok(());
        }
        transport::check_clock(now)?;
        self.renew(Renew::MinValid(min_ms)).map(|_| ())
    }

    /// `ttlock.token_info`: what the store holds, without secrets.
    pub fn token_info(&self) -> Result<TokenInfo> {
        let rec = self.load_tokens()?.unwrap_or_default();
        let flagged = state::flag(&self.cfg.state_dir, NEEDS_LOGIN_FILE);
        Ok(TokenInfo {
            has_access_token: rec.access_token.is_some(),
            has_refresh_token: rec.refresh_token.is_some(),
            expires_at_ms: rec.expires_at_ms,
            needs_login: flagged || (rec.is_empty() && !self.cfg.has_credentials()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_is_lowercase_hex() {
        assert_eq!(md5_hex("123456"), "e10adc3949ba59abbe56e057f20f883e");
        assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn record_json_round_trip_and_expiry() {
        use crate::host::EXPIRY_MARGIN_MS;
        use serde_json::json;
        let r = TokenRecord {
            access_token: Some("a".into()),
            refresh_token: None,
            expires_at_ms: Some(1_000_000),
        };
        assert_eq!(TokenRecord::from_json(&r.to_json()), r);
        assert!(r.is_expired(1_000_000));
        assert!(r.is_expired(1_000_000 - EXPIRY_MARGIN_MS));
        assert!(!r.is_expired(1_000_000 - EXPIRY_MARGIN_MS - 1));
        assert_eq!(r.valid_for_ms(400_000), Some(600_000));
        let unknown = TokenRecord {
            expires_at_ms: None,
            ..r.clone()
        };
        assert!(!unknown.is_expired(i64::MAX / 2));
        assert_eq!(unknown.valid_for_ms(0), None);
        // Lenient: numbers as strings, empty strings as absent.
        let v = json!({"access_token": "", "refresh_token": "r", "expires_at_ms": "42"});
        let p = TokenRecord::from_json(&v);
        assert_eq!(p.access_token, None);
        assert_eq!(p.expires_at_ms, Some(42));
        assert!(!p.is_empty());
        assert!(format!("{r:?}").contains("***"));
    }

    #[test]
    fn grant_answers() {
        use serde_json::json;
        let v =
            json!({"access_token": "new", "refresh_token": "r2", "expires_in": 7776000, "uid": 1});
        let r = record_from_grant(&v, Some("r1".into()), 1000).unwrap();
        assert_eq!(r.access_token.unwrap().expose(), "new");
        assert_eq!(r.refresh_token.unwrap().expose(), "r2");
        assert_eq!(r.expires_at_ms, Some(1000 + 7_776_000_000));
        // No refresh token in the answer: keep the one we had.
        let v = json!({"access_token": "new", "expires_in": "10"});
        let r = record_from_grant(&v, Some("r1".into()), 0).unwrap();
        assert_eq!(r.refresh_token.unwrap().expose(), "r1");
        assert_eq!(r.expires_at_ms, Some(10_000));
        let e = record_from_grant(&json!({"uid": 1}), None, 0).unwrap_err();
        assert_eq!(e.code(), Code::BadResponse);
    }

    fn file_client(tag: &str) -> Client {
        let mut cfg = Config::new("cid", "secret");
        cfg.state_dir = state::temp_dir(tag);
        Client::new(cfg, TokenStore::File).unwrap()
    }

    #[test]
    fn file_store_round_trip_and_token_info() {
        let c = file_client("store");
        assert_eq!(c.load_tokens().unwrap(), None);
        let info = c.token_info().unwrap();
        assert!(info.needs_login && !info.has_access_token);
        let r = TokenRecord {
            access_token: Some("acc".into()),
            refresh_token: Some("ref".into()),
            expires_at_ms: Some(5),
        };
        c.save_tokens(&r).unwrap();
        assert_eq!(c.load_tokens().unwrap(), Some(r));
        let info = c.token_info().unwrap();
        assert_eq!(
            info,
            TokenInfo {
                has_access_token: true,
                has_refresh_token: true,
                expires_at_ms: Some(5),
                needs_login: false
            }
        );
        // A corrupt file reads as empty rather than failing every call.
        std::fs::write(c.config().state_dir.join(TOKENS_FILE), "{oops").unwrap();
        assert_eq!(c.load_tokens().unwrap(), None);
        std::fs::remove_dir_all(&c.config().state_dir).unwrap();
    }

    #[test]
    fn no_token_and_no_credentials_needs_login_without_a_request() {
        // api_base points nowhere: the renewal must fail before any request.
        let mut cfg = Config::new("cid", "secret");
        cfg.state_dir = state::temp_dir("nologin");
        cfg.api_base = "https://127.0.0.1:9".into();
        let c = Client::new(cfg, TokenStore::File).unwrap();
        let e = c.call(&Endpoint::query("/v3/lock/list"), &[]).unwrap_err();
        assert_eq!(e.code(), Code::AuthFailed);
        assert!(e.message().contains("ttlock.login"));
        assert!(c.token_info().unwrap().needs_login);
        assert_eq!(c.stats().unwrap().api_calls, 0);
        std::fs::remove_dir_all(&c.config().state_dir).unwrap();
    }

    #[test]
    fn ensure_token_without_request_when_valid() {
        let c = file_client("ensure");
        let far = transport::now_ms() + 30 * 86_400_000;
        c.save_tokens(&TokenRecord {
            access_token: Some("a".into()),
            refresh_token: Some("r".into()),
            expires_at_ms: Some(far),
        })
        .unwrap();
        c.ensure_token(Duration::from_secs(7 * 86400)).unwrap();
        assert_eq!(c.stats().unwrap().api_calls, 0);
        std::fs::remove_dir_all(&c.config().state_dir).unwrap();
    }
}
