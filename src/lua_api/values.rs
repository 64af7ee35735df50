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

/// A JSON value as a Lua value (numbers as Lua numbers, arrays as sequences).
pub(crate) fn json_to_lua(lua: &Lua, v: &serde_json::Value) -> LuaResult<Value> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        J::String(s) => Value::String(lua.create_string(s)?),
        J::Array(a) => {
            let t = lua.create_table()?;
            for (i, x) in a.iter().enumerate() {
                t.raw_set(i + 1, json_to_lua(lua, x)?)?;
            }
            Value::Table(t)
        }
        J::Object(o) => {
            let t = lua.create_table()?;
            for (k, x) in o {
                t.raw_set(k.as_str(), json_to_lua(lua, x)?)?;
            }
            Value::Table(t)
        }
    })
}

/// A Lua value as JSON: a table with keys 1..n is an array, other tables are objects with
/// string keys; an empty table is left out of its parent (so `#[serde(default)]` fields read
/// it as empty). Whole numbers become integers (ids and ms times).
pub(crate) fn lua_to_json(v: &Value, depth: usize) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    if depth > 16 {
        return Err("nested too deeply".into());
    }
    Ok(match v {
        Value::Nil => J::Null,
        Value::Boolean(b) => J::Bool(*b),
        Value::Integer(i) => J::from(*i),
        Value::Number(n) if n.fract() == 0.0 && n.abs() <= super::args::MAX_EXACT => {
            J::from(*n as i64)
        }
        Value::Number(n) => serde_json::Number::from_f64(*n)
            .map(J::Number)
            .ok_or("not a finite number")?,
        Value::String(s) => J::String(s.to_str().map_err(|_| "text is not UTF-8")?.to_string()),
        Value::Table(t) => {
            let n = t.raw_len();
            let mut pairs = 0;
            let mut obj = serde_json::Map::new();
            for pair in t.clone().pairs::<Value, Value>() {
                let (k, x) = pair.map_err(|e| e.to_string())?;
                pairs += 1;
                let key = match &k {
                    Value::String(s) => s.to_str().map_err(|_| "key is not UTF-8")?.to_string(),
                    Value::Integer(i) => i.to_string(),
                    Value::Number(f) => format!("{f}"),
                    other => return Err(format!("a {} key", other.type_name())),
                };
                let x = lua_to_json(&x, depth + 1)?;
                if !matches!(&x, J::Object(m) if m.is_empty()) {
                    obj.insert(key, x);
                }
            }
            if n > 0 && pairs == n {
                let mut arr = Vec::with_capacity(n);
                for i in 1..=n {
                    let x: Value = t.raw_get(i).map_err(|e| e.to_string())?;
                    arr.push(lua_to_json(&x, depth + 1)?);
                }
                J::Array(arr)
            } else {
                J::Object(obj)
            }
        }
        other => return Err(format!("a {} value", other.type_name())),
    })
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

    #[test]
    fn json_round_trips_through_lua_tables() {
        let lua = Lua::new();
        let j = serde_json::json!({
            "room": "101", "holds": [{"lock_id": 1001, "passcode": "04821", "valid_to_ms": 1_790_000_000_000_i64}],
            "sure": false, "empty": {}
        });
        let v = json_to_lua(&lua, &j).unwrap();
        let back = lua_to_json(&v, 0).unwrap();
        assert_eq!(back["holds"][0]["valid_to_ms"], 1_790_000_000_000_i64);
        assert_eq!(back["holds"][0]["passcode"], "04821");
        assert_eq!(back["sure"], false);
        assert!(back.get("empty").is_none(), "{back}");
        let f = lua.create_function(|_, ()| Ok(())).unwrap();
        assert!(lua_to_json(&Value::Function(f), 0).is_err());
    }
}
