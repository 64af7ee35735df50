//! Building Lua results: `nil, err` error tables (one shared metatable whose `__tostring` gives
//! the message), optional fields.
use mlua::prelude::*;
use mlua::{MultiValue, Table, Value};

use super::args::num_out;
use super::export::misuse;
use crate::error::Error;

const ERROR_MT_KEY: &str = "ttlock.error_mt";

/// The error table for `nil, err`.
pub(crate) fn error_table(lua: &Lua, e: &Error) -> LuaResult<Table> {
    let t = lua.create_table()?;
    t.set("code", e.code().as_str())?;
    t.set("message", e.message())?;
    t.set("advice", e.advice())?;
    if let Some(c) = e.errcode() {
        t.set("errcode", num_out(c))?;
    }
    if let Some(s) = e.http_status_code() {
        t.set("http_status", num_out(i64::from(s)))?;
    }
    t.set_metatable(Some(error_metatable(lua)?))?;
    Ok(t)
}

fn error_metatable(lua: &Lua) -> LuaResult<Table> {
    if let Value::Table(mt) = lua.named_registry_value::<Value>(ERROR_MT_KEY)? {
        return Ok(mt);
    }
    let mt = lua.create_table()?;
    mt.set(
        "__tostring",
        lua.create_function(|_, t: Table| {
            Ok(match t.raw_get::<Value>("message")? {
                Value::String(s) => s.to_string_lossy(),
                _ => "ttlock error".to_string(),
            })
        })?,
    )?;
    lua.set_named_registry_value(ERROR_MT_KEY, &mt)?;
    Ok(mt)
}

/// `nil, err` for world-caused errors; misuse errors are raised.
pub(crate) fn fail(lua: &Lua, e: Error) -> LuaResult<MultiValue> {
    if e.is_misuse() {
        return Err(misuse(e.message()));
    }
    Ok(MultiValue::from_vec(vec![
        Value::Nil,
        Value::Table(error_table(lua, &e)?),
    ]))
}

/// One value, or `nil, err`.
pub(crate) fn ret(lua: &Lua, r: crate::error::Result<Value>) -> LuaResult<MultiValue> {
    match r {
        Ok(v) => Ok(MultiValue::from_vec(vec![v])),
        Err(e) => fail(lua, e),
    }
}

/// One value.
pub(crate) fn one(v: Value) -> LuaResult<MultiValue> {
    Ok(MultiValue::from_vec(vec![v]))
}

/// `true`, or `nil, err`.
pub(crate) fn done(lua: &Lua, r: crate::error::Result<()>) -> LuaResult<MultiValue> {
    ret(lua, r.map(|_| Value::Boolean(true)))
}

/// Set `key` when there is a value.
pub(crate) fn set_opt_str(t: &Table, key: &str, v: &Option<String>) -> LuaResult<()> {
    if let Some(s) = v {
        t.set(key, s.as_str())?;
    }
    Ok(())
}

/// Set `key` when there is a value (as a Lua number).
pub(crate) fn set_opt_num(t: &Table, key: &str, v: Option<i64>) -> LuaResult<()> {
    if let Some(n) = v {
        t.set(key, num_out(n))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_tables_share_a_metatable_with_tostring() {
        let lua = Lua::new();
        let a = error_table(&lua, &Error::from_errcode(-3003, None)).unwrap();
        let b = error_table(&lua, &Error::http_status(503, "/x")).unwrap();
        assert_eq!(a.metatable(), b.metatable());
        lua.globals().set("a", a).unwrap();
        lua.globals().set("b", b).unwrap();
        let (s, code, errcode, status, advice): (String, String, f64, f64, String) = lua
            .load("return tostring(a), a.code, a.errcode, b.http_status, a.advice")
            .eval()
            .unwrap();
        assert!(s.starts_with("the gateway is busy"));
        assert_eq!(advice, "the gateway is busy: try again in a minute");
        assert_eq!(
            (code.as_str(), errcode, status),
            ("gateway_busy", -3003.0, 503.0)
        );
        let misuse = fail(
            &lua,
            Error::misuse(crate::error::Code::InvalidArgument, "bad"),
        );
        assert!(matches!(misuse, Err(LuaError::RuntimeError(m)) if m == "ttlock: bad"));
    }
}
