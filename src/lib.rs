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

#[cfg(feature = "module")]
#[mlua::lua_module]
fn ttlock(lua: &mlua::Lua) -> mlua::Result<mlua::Table> {
    lua_api::module(lua)
}
