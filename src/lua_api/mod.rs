//! The Lua boundary: argument parsing, the `nil, err` convention, raising `ttlock:` errors, the
//! Lua token store and `log` callbacks. Business logic stays in the core modules.
//!
//! - `export`: wrapping Rust bodies; misuse and panics become `ttlock:` string errors.
//! - `args`, `values`: Lua values in and out.
//! - `host`: the Lua callbacks as the core's host.
//! - One file per subject of docs/lua-api.md with its functions: `configure` (module and
//!   tokens), `passcodes`, `stay`, `purge`, `locks`, `site`.
//!
//! - Misuse (wrong Lua type, unknown option, not configured) raises a Lua *string* error that
//!   starts with `ttlock:`.
//! - World-caused failures return `nil, err`, `err = {code, message, advice, errcode, http_status}`
//!   with a shared metatable whose `__tostring` gives the message.
//! - Numbers cross as Lua numbers (f64): on 32-bit ARM `lua_Integer` is 32 bits, so ids and
//!   millisecond times are never read or written as Lua integers; they are checked to be whole
//!   and in range.
use mlua::prelude::*;
use mlua::Table;

mod args;
mod commission;
mod configure;
mod events;
mod export;
mod host;
mod locks;
mod passcodes;
mod purge;
mod site;
mod staff;
mod stay;
mod values;

pub(crate) use host::with_client;

/// Build the module table (the body of `luaopen_ttlock`). Cheap: no file, network, thread or
/// TLS work happens here.
pub fn module(lua: &Lua) -> LuaResult<Table> {
    let exports = lua.create_table()?;
    exports.set("_NAME", "ttlock")?;
    exports.set("_VERSION", env!("CARGO_PKG_VERSION"))?;
    let ex = export::Exporter::new(lua, &exports)?;
    configure::register(&ex)?;
    passcodes::register(&ex)?;
    stay::register(&ex)?;
    purge::register(&ex)?;
    locks::register(&ex)?;
    site::register(&ex)?;
    events::register(&ex)?;
    staff::register(&ex)?;
    commission::register(&ex)?;
    Ok(exports)
}
