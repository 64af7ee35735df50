//! `ttlock`: TTLock Cloud API v3 for LogicMachine Lua (Lua 5.1 ABI).
//!
//! Layers, each importing only the ones below it (tests/architecture.rs checks this):
//!
//! 1. `lua_api`: the Lua boundary (argument parsing, `nil, err`, the Lua host).
//! 2. `ops`: the operations (passcodes, stays, purge, locks) and their scheduling.
//! 3. `api`: typed TTLock endpoints, one file per subject.
//! 4. `client`: the authenticated client and its token lifecycle.
//! 5. `transport`: endpoints, form encoding, TLS, the errcode envelope, retries, the clock.
//! 6. `config`, `host`, `state`: validated settings; the host facility (token store, log,
//!    worker threads); files in `state_dir`.
//! 7. `error` (with the errcode table), `secret`, `lenient`.
//!
//! This file only declares the modules and registers the Lua module.
#![deny(missing_docs)]

pub mod api;
pub mod client;
pub mod config;
pub mod error;
pub mod host;
pub mod lenient;
mod lua_api;
pub mod ops;
pub mod secret;
pub mod state;
pub mod transport;

pub use client::{md5_hex, Client, Stats, TokenInfo, TokenStore};
pub use config::Config;
pub use error::{Code, Error, Result};
pub use host::TokenRecord;
pub use secret::Secret;

/// The module table, as `require('ttlock')` returns it (also for embedding in tests).
pub fn lua_module(lua: &mlua::Lua) -> mlua::Result<mlua::Table> {
    lua_api::module(lua)
}

/// Run `f` with the client that `ttlock.configure` set up in this Lua state, with the state's
/// callbacks (`token_store`, `log`) installed as the host, as every Lua function does. For
/// embedding and tests; fails when the state is not configured.
pub fn with_lua_client<R>(lua: &mlua::Lua, f: impl FnOnce(&Client) -> R) -> mlua::Result<R> {
    lua_api::with_client(lua, f)
}

/// Entry points for the cargo-fuzz targets in tests/fuzz (feature `fuzzing`); not an API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz_api {
    use crate::{api, client, transport};

    /// The token endpoint's path (its answers are decoded by the token lifecycle).
    const OAUTH_PATH: &str = client::token::OAUTH_REFRESH.path;

    /// The paths [`decode`] knows: every decoded endpoint, and the token endpoint.
    pub fn paths() -> Vec<&'static str> {
        let mut p: Vec<&str> = api::DECODERS.iter().map(|(e, _)| e.path).collect();
        p.push(OAUTH_PATH);
        p
    }

    /// An HTTP answer decoded as the module decodes it for `path`: the envelope rule, then the
    /// endpoint's decoder. The result as Debug text (errors included).
    pub fn decode(path: &str, status: u16, body: &[u8]) -> String {
        let ep = api::DECODERS
            .iter()
            .find(|(e, _)| e.path == path)
            .map(|(e, _)| *e)
            .unwrap_or(transport::Endpoint::query("/v3/unknown"));
        let v = match transport::parse_envelope(status, body, &ep) {
            Ok(v) => v,
            Err(e) => return format!("{e:?}"),
        };
        if path == OAUTH_PATH {
            return format!(
                "{:?} {:?}",
                client::token::record_from_grant(&v, Some("old".into()), transport::now_ms()),
                crate::host::TokenRecord::from_json(&v)
            );
        }
        match api::DECODERS.iter().find(|(e, _)| e.path == path) {
            Some((_, decode)) => decode(&v),
            None => format!("{v:?}"),
        }
    }
}

#[cfg(feature = "module")]
#[mlua::lua_module]
fn ttlock(lua: &mlua::Lua) -> mlua::Result<mlua::Table> {
    lua_api::module(lua)
}
