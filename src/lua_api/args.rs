//! Reading Lua arguments: named options, numbers as f64 (on 32-bit ARM `lua_Integer` is 32
//! bits, so ids and millisecond times are never read or written as Lua integers; they are
//! checked to be whole and in range), id lists.
use mlua::prelude::*;
use mlua::{Function, MultiValue, Table, Value};

use super::export::misuse;

/// Largest integer a Lua number (f64) holds exactly.
pub(crate) const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

pub(crate) fn type_name(v: &Value) -> &'static str {
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
    pub(crate) fname: &'static str,
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

    /// The option's value as it is (nil when absent).
    pub(crate) fn raw_value(&self, key: &str) -> LuaResult<Value> {
        self.raw(key)
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

impl Opts {
    /// A list of ids `{ 1001, 2001 }` (numbers, whole, 1 ..= 2^53; no other keys).
    pub(crate) fn id_list(&self, key: &str) -> LuaResult<Option<Vec<i64>>> {
        let Some(t) = self.table(key)? else {
            return Ok(None);
        };
        let bad = || {
            misuse(format!(
                "{}: {key} must be a list of lock ids (whole numbers from 1 to 2^53)",
                self.fname
            ))
        };
        let n = t.raw_len();
        let mut ids = Vec::with_capacity(n);
        for i in 1..=n {
            let v: Value = t.raw_get(i)?;
            match as_f64(&v) {
                Some(x) if x.fract() == 0.0 && (1.0..=MAX_EXACT).contains(&x) => ids.push(x as i64),
                _ => return Err(bad()),
            }
        }
        if t.pairs::<Value, Value>().count() != n {
            return Err(bad());
        }
        Ok(Some(ids))
    }

    /// A required positive id.
    pub(crate) fn required_id(&self, key: &str) -> LuaResult<i64> {
        self.id(key)?
            .ok_or_else(|| misuse(format!("{}: {key} is required", self.fname)))
    }
}
