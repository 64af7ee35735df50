//! `ttlock`: TTLock Cloud API v3 for LogicMachine Lua.
use mlua::prelude::*;

#[mlua::lua_module]
fn ttlock(lua: &Lua) -> LuaResult<LuaTable> {
    let exports = lua.create_table()?;
    exports.set("_NAME", "ttlock")?;
    exports.set("_VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(exports)
}
