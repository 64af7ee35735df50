//! The token record the host stores: what `token_store.load` returns and `save` receives, and
//! what `state_dir/tokens.json` holds.
use serde_json::{json, Value};

use crate::lenient::num_i64;
use crate::secret::Secret;

/// A token is treated as expired this long before its recorded expiry.
pub(crate) const EXPIRY_MARGIN_MS: i64 = 60_000;

/// `{access_token, refresh_token, expires_at_ms}`; any field may be missing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenRecord {
    /// The bearer of `/v3` calls.
    pub access_token: Option<Secret>,
    /// Renews the access token.
    pub refresh_token: Option<Secret>,
    /// When the access token expires, ms since the epoch (unknown: treated as valid).
    pub expires_at_ms: Option<i64>,
}

impl TokenRecord {
    /// Neither token.
    pub fn is_empty(&self) -> bool {
        self.access_token.is_none() && self.refresh_token.is_none()
    }

    /// Expired (or about to) by the recorded expiry; unknown expiry counts as valid.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at_ms
            .is_some_and(|e| e <= now_ms + EXPIRY_MARGIN_MS)
    }

    /// Remaining validity; `None` when the expiry is unknown.
    pub fn valid_for_ms(&self, now_ms: i64) -> Option<i64> {
        self.expires_at_ms.map(|e| e - now_ms)
    }

    /// The JSON of the token file.
    pub fn to_json(&self) -> Value {
        json!({
            "access_token": self.access_token.as_ref().map(Secret::expose),
            "refresh_token": self.refresh_token.as_ref().map(Secret::expose),
            "expires_at_ms": self.expires_at_ms,
        })
    }

    /// A record from the token file's JSON (lenient: empty strings are missing tokens).
    pub fn from_json(v: &Value) -> TokenRecord {
        let secret = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(Secret::new)
        };
        TokenRecord {
            access_token: secret("access_token"),
            refresh_token: secret("refresh_token"),
            expires_at_ms: v.get("expires_at_ms").and_then(num_i64),
        }
    }
}
