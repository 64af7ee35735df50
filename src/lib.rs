//! `ttlock`: TTLock Cloud API v3 for LogicMachine Lua (Lua 5.1 ABI).
//!
//! Layers: `lua_api` (the Lua boundary only) over the core: `client` + `token` (authenticated,
//! `Sync` client and token lifecycle), `api` (typed endpoints), `http` (transport, envelope,
//! retries), `exec` (Lua host access and worker threads), `state` (files in `state_dir`),
//! `config`, `error`, `secret`; `ops` (passcodes, purge, lock control) over `api`.
pub mod api;
pub mod client;
pub mod config;
pub mod error;
pub mod exec;
pub mod http;
mod lua_api;
pub mod ops;
pub mod secret;
pub mod state;
pub mod token;

pub use client::{Client, Stats, TokenStore};
pub use config::Config;
pub use error::{Code, Error, Result};
pub use secret::Secret;
pub use token::{TokenInfo, TokenRecord};

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
    use crate::{api, http, token};

    /// The paths [`decode`] knows.
    pub const PATHS: &[&str] = &[
        "/v3/keyboardPwd/add",
        "/v3/keyboardPwd/get",
        "/v3/keyboardPwd/change",
        "/v3/lock/listKeyboardPwd",
        "/v3/lock/queryOpenState",
        "/v3/lock/queryElectricQuantity",
        "/v3/lock/detail",
        "/v3/lock/list",
        "/v3/gateway/listByLock",
        "/v3/lockRecord/list",
        "/oauth2/token",
        "/v3/gateway/list",
        "/v3/gateway/listLock",
    ];

    /// An HTTP answer decoded as the module decodes it for `path`: the envelope rule, then the
    /// endpoint's decoder. The result as Debug text (errors included).
    pub fn decode(path: &str, status: u16, body: &[u8]) -> String {
        let v = match http::parse_envelope(status, body, path) {
            Ok(v) => v,
            Err(e) => return format!("{e:?}"),
        };
        match path {
            "/v3/keyboardPwd/add" => format!("{:?}", api::decode_add(&v)),
            "/v3/keyboardPwd/get" => format!("{:?}", api::decode_get(&v)),
            "/v3/lock/listKeyboardPwd" => format!("{:?}", api::decode_passcode_page(&v)),
            "/v3/lock/queryOpenState" => format!("{:?}", api::decode_open_state(&v)),
            "/v3/lock/queryElectricQuantity" => format!("{:?}", api::decode_battery(&v)),
            "/v3/lock/detail" => format!("{:?}", api::decode_lock_detail(&v, 1)),
            "/v3/lock/list" => format!("{:?}", api::decode_lock_page(&v)),
            "/v3/gateway/listByLock" => format!("{:?}", api::decode_gateways(&v)),
            "/v3/lockRecord/list" => format!("{:?}", api::decode_record_page(&v)),
            "/v3/gateway/list" => format!("{:?}", api::decode_gateway_page(&v)),
            "/v3/gateway/listLock" => format!("{:?}", api::decode_gateway_locks(&v)),
            "/oauth2/token" => format!(
                "{:?} {:?}",
                token::record_from_grant(&v, Some("old".into()), http::now_ms()),
                token::TokenRecord::from_json(&v)
            ),
            _ => format!("{v:?}"),
        }
    }
}

#[cfg(feature = "module")]
#[mlua::lua_module]
fn ttlock(lua: &mlua::Lua) -> mlua::Result<mlua::Table> {
    lua_api::module(lua)
}
