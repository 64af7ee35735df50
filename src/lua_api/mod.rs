//! The Lua boundary: argument parsing, the `nil, err` convention, raising `ttlock:` errors, the
//! Lua token store and `log` callbacks. Business logic stays in the core modules.
//!
//! - Misuse (wrong Lua type, unknown option, not configured) raises a Lua *string* error that
//!   starts with `ttlock:`. mlua would raise a userdata whose text starts "runtime error:", so
//!   each exported function is wrapped by a tiny Lua closure: the Rust body returns a private
//!   sentinel plus the message, and the closure calls `error(message, 0)`.
//! - A Rust panic is caught and raised the same way: it never aborts the host process.
//! - World-caused failures return `nil, err`, `err = {code, message, errcode, http_status}`
//!   with a shared metatable whose `__tostring` gives the message.
//! - Numbers cross as Lua numbers (f64): on 32-bit ARM `lua_Integer` is 32 bits, so ids and
//!   millisecond times are never read or written as Lua integers; they are checked to be whole
//!   and in range.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;

use mlua::prelude::*;
use mlua::{Function, MultiValue, Table, Value};

use crate::client::Client;
use crate::error::Error;
use crate::exec::Host;
use crate::secret::Secret;
use crate::token::TokenRecord;

mod core;
mod ops;

const RAISE_KEY: &str = "ttlock.raise";
const ERROR_MT_KEY: &str = "ttlock.error_mt";

/// Largest integer a Lua number (f64) holds exactly.
pub(crate) const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

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

/// Build the module table (the body of `luaopen_ttlock`). Cheap: no file, network, thread or
/// TLS work happens here.
pub fn module(lua: &Lua) -> LuaResult<Table> {
    let exports = lua.create_table()?;
    exports.set("_NAME", "ttlock")?;
    exports.set("_VERSION", env!("CARGO_PKG_VERSION"))?;
    let ex = Exporter::new(lua, &exports)?;
    core::register(&ex)?;
    ops::register(&ex)?;
    Ok(exports)
}

/// Adds wrapped functions to the module table.
pub(crate) struct Exporter<'a> {
    lua: &'a Lua,
    table: &'a Table,
    wrap: Function,
}

impl<'a> Exporter<'a> {
    fn new(lua: &'a Lua, table: &'a Table) -> LuaResult<Exporter<'a>> {
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
fn lua_error_text(e: &LuaError) -> String {
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

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) | Value::Number(_) => "number",
        other => other.type_name(),
    }
}

/// A Lua number as f64 (`None` for other types).
pub(crate) fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// A Lua number holding an i64 exactly (ids, millisecond times).
pub(crate) fn num_out(n: i64) -> Value {
    Value::Number(n as f64)
}

/// Named options of a function that takes one table argument.
pub(crate) struct Opts {
    fname: &'static str,
    table: Option<Table>,
}

impl Opts {
    /// The first argument must be a table with only `allowed` keys (`optional`: it may be
    /// absent or nil). A second argument is refused, to catch `ttlock.f(a, b)` confusion.
    pub(crate) fn parse(
        fname: &'static str,
        args: MultiValue,
        allowed: &[&str],
        optional: bool,
    ) -> LuaResult<Opts> {
        let mut it = args.into_iter();
        let first = it.next().unwrap_or(Value::Nil);
        if it.any(|v| !v.is_nil()) {
            return Err(misuse(format!("{fname} takes one table argument")));
        }
        let table = match first {
            Value::Table(t) => Some(t),
            Value::Nil if optional => None,
            other => {
                return Err(misuse(format!(
                    "{fname} expects a table argument, got {}",
                    type_name(&other)
                )))
            }
        };
        if let Some(t) = &table {
            for pair in t.pairs::<Value, Value>() {
                let (k, _) = pair?;
                let known = match &k {
                    Value::String(s) => {
                        let s = s.to_string_lossy();
                        allowed.contains(&s.as_str())
                    }
                    _ => false,
                };
                if !known {
                    let shown = match &k {
                        Value::String(s) => format!("'{}'", s.to_string_lossy()),
                        other => format!("of type {}", type_name(other)),
                    };
                    return Err(misuse(format!(
                        "{fname}: unknown option {shown} (known: {})",
                        allowed.join(", ")
                    )));
                }
            }
        }
        Ok(Opts { fname, table })
    }

    fn raw(&self, key: &str) -> LuaResult<Value> {
        match &self.table {
            Some(t) => t.raw_get(key),
            None => Ok(Value::Nil),
        }
    }

    fn wrong(&self, key: &str, want: &str, got: &Value) -> LuaError {
        misuse(format!(
            "{}: {key} must be {want}, got {}",
            self.fname,
            type_name(got)
        ))
    }

    pub(crate) fn string(&self, key: &str) -> LuaResult<Option<String>> {
        match self.raw(key)? {
            Value::Nil => Ok(None),
            Value::String(s) => match s.to_str() {
                Ok(s) => Ok(Some(s.to_string())),
                Err(_) => Err(misuse(format!("{}: {key} must be UTF-8 text", self.fname))),
            },
            other => Err(self.wrong(key, "a string", &other)),
        }
    }

    pub(crate) fn required_string(&self, key: &str) -> LuaResult<String> {
        self.string(key)?
            .ok_or_else(|| misuse(format!("{}: {key} is required", self.fname)))
    }

    pub(crate) fn number(&self, key: &str) -> LuaResult<Option<f64>> {
        let v = self.raw(key)?;
        match as_f64(&v) {
            Some(n) if n.is_finite() => Ok(Some(n)),
            Some(_) => Err(misuse(format!(
                "{}: {key} must be a finite number",
                self.fname
            ))),
            None if v.is_nil() => Ok(None),
            None => Err(self.wrong(key, "a number", &v)),
        }
    }

    /// A whole number in `min..=max`.
    pub(crate) fn whole(&self, key: &str, min: f64, max: f64) -> LuaResult<Option<i64>> {
        match self.number(key)? {
            None => Ok(None),
            Some(n) if n.fract() == 0.0 && n >= min && n <= max => Ok(Some(n as i64)),
            Some(_) => Err(misuse(format!(
                "{}: {key} must be a whole number from {min} to {max}",
                self.fname
            ))),
        }
    }

    /// A positive id (lock, passcode, gateway): whole, 1 ..= 2^53.
    pub(crate) fn id(&self, key: &str) -> LuaResult<Option<i64>> {
        self.whole(key, 1.0, MAX_EXACT)
    }

    /// Milliseconds since the epoch: whole, 0 ..= 2^53.
    pub(crate) fn time_ms(&self, key: &str) -> LuaResult<Option<i64>> {
        self.whole(key, 0.0, MAX_EXACT)
    }

    pub(crate) fn boolean(&self, key: &str) -> LuaResult<Option<bool>> {
        match self.raw(key)? {
            Value::Nil => Ok(None),
            Value::Boolean(b) => Ok(Some(b)),
            other => Err(self.wrong(key, "a boolean", &other)),
        }
    }

    pub(crate) fn function(&self, key: &str) -> LuaResult<Option<Function>> {
        match self.raw(key)? {
            Value::Nil => Ok(None),
            Value::Function(f) => Ok(Some(f)),
            other => Err(self.wrong(key, "a function", &other)),
        }
    }

    pub(crate) fn table(&self, key: &str) -> LuaResult<Option<Table>> {
        match self.raw(key)? {
            Value::Nil => Ok(None),
            Value::Table(t) => Ok(Some(t)),
            other => Err(self.wrong(key, "a table", &other)),
        }
    }
}

/// The error table for `nil, err`.
pub(crate) fn error_table(lua: &Lua, e: &Error) -> LuaResult<Table> {
    let t = lua.create_table()?;
    t.set("code", e.code().as_str())?;
    t.set("message", e.message())?;
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

/// What `configure` stored in the Lua state.
pub(crate) struct Configured {
    pub(crate) client: Arc<Client>,
    pub(crate) load: Option<Function>,
    pub(crate) save: Option<Function>,
    pub(crate) log: Option<Function>,
}

/// The Lua state's callbacks as the core's `Host` (on the Lua thread only).
struct LuaHost {
    lua: Lua,
    load: Option<Function>,
    save: Option<Function>,
    log: Option<Function>,
}

fn callback_failed(what: &str, e: &LuaError) -> Error {
    let text = lua_error_text(e);
    let text = text.strip_prefix("ttlock: ").unwrap_or(&text);
    Error::misuse(
        crate::error::Code::InvalidArgument,
        format!("{what} failed: {text}"),
    )
}

impl Host for LuaHost {
    fn load_tokens(&self) -> crate::error::Result<Option<TokenRecord>> {
        let Some(load) = &self.load else {
            return Ok(None);
        };
        let v: Value = load
            .call(())
            .map_err(|e| callback_failed("token_store.load", &e))?;
        let t = match v {
            Value::Nil => return Ok(None),
            Value::Table(t) => t,
            other => {
                return Err(Error::misuse(
                    crate::error::Code::InvalidArgument,
                    format!(
                        "token_store.load must return a table or nil, got {}",
                        type_name(&other)
                    ),
                ))
            }
        };
        let bad = |k: &str, want: &str| {
            Error::misuse(
                crate::error::Code::InvalidArgument,
                format!("token_store.load: {k} must be {want}"),
            )
        };
        let secret = |k: &str| -> crate::error::Result<Option<Secret>> {
            match t
                .raw_get::<Value>(k)
                .map_err(|e| callback_failed("token_store.load", &e))?
            {
                Value::Nil => Ok(None),
                Value::String(s) => {
                    let s = s.to_str().map_err(|_| bad(k, "text"))?.to_string();
                    Ok((!s.is_empty()).then(|| Secret::new(s)))
                }
                _ => Err(bad(k, "a string or nil")),
            }
        };
        let expires = match t
            .raw_get::<Value>("expires_at_ms")
            .map_err(|e| callback_failed("token_store.load", &e))?
        {
            Value::Nil => None,
            v => match as_f64(&v) {
                Some(n) if n.is_finite() && n.fract() == 0.0 && n.abs() <= MAX_EXACT => {
                    Some(n as i64)
                }
                _ => return Err(bad("expires_at_ms", "a whole number or nil")),
            },
        };
        Ok(Some(TokenRecord {
            access_token: secret("access_token")?,
            refresh_token: secret("refresh_token")?,
            expires_at_ms: expires,
        }))
    }

    fn save_tokens(&self, rec: &TokenRecord) -> crate::error::Result<()> {
        let Some(save) = &self.save else {
            return Ok(());
        };
        let build = || -> LuaResult<Table> {
            let t = self.lua.create_table()?;
            if let Some(a) = &rec.access_token {
                t.set("access_token", a.expose())?;
            }
            if let Some(r) = &rec.refresh_token {
                t.set("refresh_token", r.expose())?;
            }
            if let Some(e) = rec.expires_at_ms {
                t.set("expires_at_ms", num_out(e))?;
            }
            Ok(t)
        };
        let t = build().map_err(|e| callback_failed("token_store.save", &e))?;
        save.call::<()>(t)
            .map_err(|e| callback_failed("token_store.save", &e))
    }

    fn log(&self, line: &str) {
        if let Some(log) = &self.log {
            // A failing log callback must not fail the operation.
            let _ = log.call::<()>(line);
        }
    }
}

/// Run `f` with the configured client and this Lua state's callbacks installed as the host.
/// Not configured: raises.
pub(crate) fn with_client<R>(lua: &Lua, f: impl FnOnce(&Client) -> R) -> LuaResult<R> {
    let (client, host) = {
        let cfg = lua.app_data_ref::<Configured>().ok_or_else(|| {
            misuse("not configured: call ttlock.configure{client_id=..., client_secret=...} first")
        })?;
        let host = LuaHost {
            lua: lua.clone(),
            load: cfg.load.clone(),
            save: cfg.save.clone(),
            log: cfg.log.clone(),
        };
        (cfg.client.clone(), host)
    };
    Ok(crate::exec::with_host(Rc::new(host), || f(&client)))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn error_tables_share_a_metatable_with_tostring() {
        let lua = Lua::new();
        let a = error_table(&lua, &Error::from_errcode(-3003, None)).unwrap();
        let b = error_table(&lua, &Error::http_status(503, "/x")).unwrap();
        assert_eq!(a.metatable(), b.metatable());
        lua.globals().set("a", a).unwrap();
        lua.globals().set("b", b).unwrap();
        let (s, code, errcode, status): (String, String, f64, f64) = lua
            .load("return tostring(a), a.code, a.errcode, b.http_status")
            .eval()
            .unwrap();
        assert!(s.starts_with("the gateway is busy"));
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
