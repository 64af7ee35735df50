//! Exporting Rust functions to Lua: each body's `Err` and panic is raised as a Lua *string*
//! error starting with `ttlock:` (mlua would raise a userdata whose text starts "runtime
//! error:"), so each exported function is wrapped by a tiny Lua closure: the Rust body returns a
//! private sentinel plus the message, and the closure calls `error(message, 0)`. A Rust panic is
//! caught the same way: it never aborts the host process.
use std::panic::{catch_unwind, AssertUnwindSafe};

use mlua::prelude::*;
use mlua::{Function, MultiValue, Table, Value};

const RAISE_KEY: &str = "ttlock.raise";

const WRAPPER: &str = r#"
local RAISE, error = ..., error
local function out(a, ...)
  if a == RAISE then error((...), 0) end
  return a, ...
end
return function(f)
  return function(...) return out(f(...)) end
end
"#;

/// Adds wrapped functions to the module table.
pub(crate) struct Exporter<'a> {
    lua: &'a Lua,
    table: &'a Table,
    wrap: Function,
}

impl<'a> Exporter<'a> {
    pub(crate) fn new(lua: &'a Lua, table: &'a Table) -> LuaResult<Exporter<'a>> {
        // One sentinel per Lua state, also when the module is loaded twice: the wrappers of
        // an earlier load compare against it.
        let raise = match lua.named_registry_value::<Value>(RAISE_KEY)? {
            Value::Table(t) => t,
            _ => {
                let t = lua.create_table()?;
                lua.set_named_registry_value(RAISE_KEY, &t)?;
                t
            }
        };
        let wrap: Function = lua.load(WRAPPER).set_name("=ttlock").call(raise)?;
        Ok(Exporter { lua, table, wrap })
    }

    /// Export `f` as `ttlock.<name>`. `f` returns the Lua results; an `Err` (and a panic) is
    /// raised as a Lua string error starting with `ttlock:`.
    pub(crate) fn add<F>(&self, name: &'static str, f: F) -> LuaResult<()>
    where
        F: Fn(&Lua, MultiValue) -> LuaResult<MultiValue> + 'static,
    {
        let raw = self.lua.create_function(move |lua, args: MultiValue| {
            let message = match catch_unwind(AssertUnwindSafe(|| f(lua, args))) {
                Ok(Ok(values)) => return Ok(values),
                Ok(Err(e)) => lua_error_text(&e),
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "panic".into());
                    format!("ttlock: {name}: internal error: {what}")
                }
            };
            let raise: Value = lua.named_registry_value(RAISE_KEY)?;
            Ok(MultiValue::from_vec(vec![
                raise,
                Value::String(lua.create_string(&message)?),
            ]))
        })?;
        let wrapped: Function = self.wrap.call(raw)?;
        self.table.set(name, wrapped)
    }
}

/// The text of an error raised from a body: our own `ttlock:` messages as they are,
/// anything else (an mlua or callback error) prefixed.
pub(crate) fn lua_error_text(e: &LuaError) -> String {
    let text = match e {
        LuaError::RuntimeError(m) if m.starts_with("ttlock:") => m.clone(),
        LuaError::RuntimeError(m) => format!("ttlock: {m}"),
        LuaError::CallbackError { cause, .. } => return lua_error_text(cause),
        LuaError::WithContext { cause, .. } => return lua_error_text(cause),
        other => format!("ttlock: {other}"),
    };
    // Lua errors from callbacks carry a traceback; one line reads better in a log.
    match text.find("\nstack traceback:") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// A misuse error: raised as `ttlock: <msg>`.
pub(crate) fn misuse(msg: impl std::fmt::Display) -> LuaError {
    LuaError::RuntimeError(format!("ttlock: {msg}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lua_api::args::{num_out, Opts};
    use crate::lua_api::module;

    fn lua_with(f: impl Fn(&Lua, MultiValue) -> LuaResult<MultiValue> + 'static) -> Lua {
        let lua = Lua::new();
        let t = module(&lua).unwrap();
        Exporter::new(&lua, &t).unwrap().add("probe", f).unwrap();
        lua.globals().set("ttlock", t).unwrap();
        lua
    }

    #[test]
    fn a_second_load_keeps_both_tables_working() {
        let lua = Lua::new();
        lua.globals().set("m1", module(&lua).unwrap()).unwrap();
        lua.globals().set("m2", module(&lua).unwrap()).unwrap();
        let (a, b): (String, String) = lua
            .load("return select(2, pcall(m1.stats)), select(2, pcall(m2.stats))")
            .eval()
            .unwrap();
        assert!(a.starts_with("ttlock: not configured"), "{a}");
        assert!(b.starts_with("ttlock: not configured"), "{b}");
    }

    #[test]
    fn a_panic_becomes_a_ttlock_error_and_the_state_survives() {
        let lua = lua_with(|_, _| panic!("deliberate"));
        let (ok, msg): (bool, String) = lua.load("return pcall(ttlock.probe)").eval().unwrap();
        assert!(!ok);
        assert_eq!(msg, "ttlock: probe: internal error: deliberate");
        let again: (bool, String) = lua.load("return pcall(ttlock.probe)").eval().unwrap();
        assert!(!again.0);
        let n: i64 = lua.load("return 1 + 1").eval().unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn errors_are_raised_as_plain_strings_and_values_pass_through() {
        let lua = lua_with(|lua, args| {
            let o = Opts::parse("probe", args, &["n", "id", "t", "b"], false)?;
            let n = o.number("n")?;
            let id = o.id("id")?;
            let t = o.time_ms("t")?;
            let b = o.boolean("b")?;
            Ok(MultiValue::from_vec(vec![
                n.map_or(Value::Nil, Value::Number),
                id.map_or(Value::Nil, num_out),
                t.map_or(Value::Nil, num_out),
                b.map_or(Value::Nil, Value::Boolean),
                Value::Nil,
                Value::String(lua.create_string("last")?),
            ]))
        });
        let r: (f64, f64, f64, bool, Value, String) = lua
            .load("return ttlock.probe{ n = 1.5, id = 9007199254740992, t = 1790000000000, b = true }")
            .eval()
            .unwrap();
        assert_eq!(
            (r.0, r.1, r.2, r.3, r.5.as_str()),
            (1.5, 9.007199254740992e15, 1.79e12, true, "last")
        );
        assert!(r.4.is_nil());
        let count: i64 = lua
            .load("return select('#', ttlock.probe{})")
            .eval()
            .unwrap();
        assert_eq!(count, 6);
        for (code, want) in [
            (
                "ttlock.probe{ id = 0 }",
                "ttlock: probe: id must be a whole number from 1",
            ),
            (
                "ttlock.probe{ id = 1.5 }",
                "ttlock: probe: id must be a whole number",
            ),
            (
                "ttlock.probe{ id = 2^53 + 2 }",
                "ttlock: probe: id must be a whole number",
            ),
            (
                "ttlock.probe{ t = -1 }",
                "ttlock: probe: t must be a whole number from 0",
            ),
            (
                "ttlock.probe{ n = 0/0 }",
                "ttlock: probe: n must be a finite number",
            ),
            (
                "ttlock.probe{ b = 1 }",
                "ttlock: probe: b must be a boolean, got number",
            ),
            ("ttlock.probe{ x = 1 }", "ttlock: probe: unknown option 'x'"),
            (
                "ttlock.probe({}, 2)",
                "ttlock: probe takes one table argument",
            ),
            (
                "ttlock.probe()",
                "ttlock: probe expects a table argument, got nil",
            ),
        ] {
            let (ok, msg): (bool, Value) = lua
                .load(format!("return pcall(function() return {code} end)"))
                .eval()
                .unwrap();
            assert!(!ok, "{code}");
            let Value::String(msg) = msg else {
                panic!("{code}: not a string error: {msg:?}")
            };
            let msg = msg.to_string_lossy();
            assert!(msg.starts_with(want), "{code}: {msg}");
        }
    }
}
