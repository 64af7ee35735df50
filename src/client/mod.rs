//! The authenticated client: configuration + token store, `Sync`, so the operations can use one
//! `&Client` from several worker threads (see `host` for how those reach the Lua host). The
//! token lifecycle is its own part, in [`token`].
use std::sync::Arc;

use serde_json::Value;

use crate::config::Config;
use crate::error::Result;
use crate::transport::{self, Endpoint};

pub mod token;

pub use token::{md5_hex, TokenInfo};

/// Where the token record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStore {
    /// `state_dir/tokens.json`, written atomically with mode 0600.
    File,
    /// The host's `load` / `save` callbacks (the Lua `token_store`), reached through `host`.
    Host,
}

/// Calls per month as counted in `state_dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// `YYYY-MM`, Beijing time (TTLock's month).
    pub month: String,
    /// `/v3` requests sent this month, retries included.
    pub api_calls: u64,
}

/// A configured, authenticated client.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) cfg: Arc<Config>,
    pub(crate) store: TokenStore,
}

impl Client {
    /// Validates `cfg` (misuse errors) and does nothing else: no file or network access.
    pub fn new(cfg: Config, store: TokenStore) -> Result<Client> {
        Ok(Client {
            cfg: Arc::new(cfg.validate()?),
            store,
        })
    }

    /// The validated settings.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Where the token record lives.
    pub fn token_store(&self) -> TokenStore {
        self.store
    }

    /// An authenticated `/v3` call: reads the token through the store (refreshing first when
    /// it is missing or expired), sends with the retry policy, and when the errcode table says
    /// the access token was rejected, renews once (single-flight across processes) and repeats
    /// the call once. Such an errcode means TTLock did nothing, so the repeat is safe for every
    /// endpoint.
    pub fn call(&self, ep: &Endpoint, params: &[(&str, String)]) -> Result<Value> {
        transport::check_clock(transport::now_ms())?;
        let token = self.access_token_for_call()?;
        match transport::execute(&self.cfg, ep, params, Some(&token)) {
            Err(e) if e.rules().access_token_rejected => {
                let rec = self.renew(token::Renew::Rejected(Some(token)))?;
                let token = rec
                    .access_token
                    .ok_or_else(|| token::no_token_error(&self.cfg))?;
                transport::execute(&self.cfg, ep, params, Some(&token))
            }
            r => r,
        }
    }

    /// A call as the app, not as the user: `clientId` and `clientSecret` go in the form body
    /// (`ep` should be a POST, so the secret is never in a URL), no access token, no `date`, no
    /// token read or renewed, nothing counted in `state_dir` (only `/v3` calls are). Errcodes
    /// 10000/10001 mean the client id or secret is wrong.
    pub fn call_as_app(&self, ep: &Endpoint, params: &[(&str, String)]) -> Result<Value> {
        let mut all: Vec<(&str, String)> = Vec::with_capacity(params.len() + 2);
        all.push(("clientId", self.cfg.client_id.clone()));
        all.push(("clientSecret", self.cfg.client_secret.expose().to_owned()));
        all.extend(params.iter().map(|(k, v)| (*k, v.clone())));
        transport::execute(&self.cfg, ep, &all, None)
    }

    /// A diagnostics line to the host's `log` (dropped when there is none).
    pub fn log(&self, line: impl Into<String>) {
        crate::host::log(line);
    }

    /// This month's API calls, counted across processes in `state_dir`.
    pub fn stats(&self) -> Result<Stats> {
        let (month, api_calls) =
            crate::state::month_calls(&self.cfg.state_dir, transport::now_ms())?;
        Ok(Stats { month, api_calls })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_sync_and_send() {
        fn check<T: Send + Sync>() {}
        check::<Client>();
    }

    #[test]
    fn new_validates_without_touching_files() {
        let mut cfg = Config::new("cid", "secret");
        cfg.state_dir = "/nonexistent/never/created".into();
        let c = Client::new(cfg, TokenStore::File).unwrap();
        assert!(!c.config().state_dir.exists());
        assert!(Client::new(Config::new("", "x"), TokenStore::File).is_err());
    }
}
