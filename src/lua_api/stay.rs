//! Bindings of docs/lua-api.md "Stays": LM dates and times into milliseconds, and the check-in
//! rules of the LM scripts (`check_in_plan`); the rules are in `crate::ops::stay`.
//!
//! Times go through this state's own `os.time` / `os.date`, so the controller's time zone (LM:
//! a POSIX rule in /etc/TZ, read by its libc) applies exactly as in Lua.
use mlua::prelude::*;
use mlua::{Function, MultiValue, Table, Value};

use super::args::{as_f64, num_out, Opts};
use super::export::{misuse, Exporter};
use super::values::{fail, one};
use crate::error::{Error, Result};
use crate::ops::stay::{self, CodeValue, Day, LmDateTime};
use crate::transport::now_ms;

pub(super) fn register(ex: &Exporter) -> LuaResult<()> {
    ex.add("local_time_ms", local_time_ms)?;
    ex.add("check_in_plan", check_in_plan)
}

/// An LM date or time argument: a table, or nil (not set).
fn table_arg(fname: &str, v: Value, what: &str) -> LuaResult<Option<Table>> {
    match v {
        Value::Table(t) => Ok(Some(t)),
        Value::Nil => Ok(None),
        other => Err(misuse(format!(
            "{fname}: {what} must be a table, got {}",
            other.type_name()
        ))),
    }
}

/// The fields of an LM date and time value (missing or not whole: `None`).
fn lm_fields(date: Option<&Table>, time: Option<&Table>) -> LuaResult<LmDateTime> {
    let field = |t: Option<&Table>, k: &str| -> LuaResult<Option<i64>> {
        let Some(t) = t else { return Ok(None) };
        let v: Value = t.raw_get(k)?;
        Ok(as_f64(&v)
            .filter(|x| x.fract() == 0.0 && x.abs() < 1e9)
            .map(|x| x as i64))
    };
    Ok(LmDateTime {
        year: field(date, "year")?,
        month: field(date, "month")?,
        day: field(date, "day")?,
        hour: field(time, "hour")?,
        minute: field(time, "minute")?,
        second: field(time, "second")?,
    })
}

/// Checked LM date and time to ms through `os.time`.
fn lm_time_ms(lua: &Lua, what: Option<&str>, v: &LmDateTime) -> LuaResult<Result<i64>> {
    let (year, month, day, hour, minute, second) = match stay::check_lm_date_time(what, v) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let os_time: Function = match lua.globals().raw_get::<Value>("os")? {
        Value::Table(os) => os.raw_get("time")?,
        _ => return Err(misuse("local_time_ms needs the Lua os library (os.time)")),
    };
    let arg = lua.create_table()?;
    for (k, v) in [
        ("year", year),
        ("month", month),
        ("day", day),
        ("hour", hour),
        ("min", minute),
        ("sec", second),
    ] {
        arg.raw_set(k, Value::Number(v as f64))?;
    }
    Ok(match as_f64(&os_time.call::<Value>(arg)?) {
        Some(s) if s.is_finite() => Ok((s * 1000.0) as i64),
        _ => Err(Error::invalid_argument(
            "os.time cannot represent this date on this controller",
        )),
    })
}

/// `ttlock.local_time_ms(date, time)` → ms | nil, err.
fn local_time_ms(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let mut it = args.into_iter();
    let date = it.next().unwrap_or(Value::Nil);
    let time = it.next().unwrap_or(Value::Nil);
    if it.any(|v| !v.is_nil()) {
        return Err(misuse("local_time_ms takes two arguments: date, time"));
    }
    let d = table_arg("local_time_ms", date, "date")?;
    let t = table_arg("local_time_ms", time, "time")?;
    match lm_time_ms(lua, None, &lm_fields(d.as_ref(), t.as_ref())?)? {
        Ok(ms) => one(num_out(ms)),
        Err(e) => fail(lua, e),
    }
}

const PLAN_KEYS: &[&str] = &[
    "room",
    "passcode",
    "arrival_date",
    "arrival_time",
    "departure_date",
    "departure_time",
];

/// `ttlock.check_in_plan{room, passcode, arrival_date, arrival_time, departure_date,
/// departure_time}` → `{passcode, name, valid_from_ms, valid_to_ms}` | nil, err: every rule of
/// a check-in from LM objects, before anything is sent.
fn check_in_plan(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let o = Opts::parse("check_in_plan", args, PLAN_KEYS, false)?;
    let room = o.required_string("room")?;
    let code = match o.raw_value("passcode")? {
        Value::String(s) => CodeValue::Text(s.to_string_lossy()),
        v => match as_f64(&v) {
            Some(n) => CodeValue::Number(n),
            None => CodeValue::Missing,
        },
    };
    let arg =
        |k: &str| -> LuaResult<Option<Table>> { table_arg("check_in_plan", o.raw_value(k)?, k) };
    let arrival = lm_fields(arg("arrival_date")?.as_ref(), arg("arrival_time")?.as_ref())?;
    let departure = lm_fields(
        arg("departure_date")?.as_ref(),
        arg("departure_time")?.as_ref(),
    )?;
    let passcode = match stay::passcode_of(&code) {
        Ok(p) => p,
        Err(e) => return fail(lua, e),
    };
    let from = match lm_time_ms(lua, Some("arrival"), &arrival)? {
        Ok(ms) => ms,
        Err(e) => return fail(lua, e),
    };
    let to = match lm_time_ms(lua, Some("departure"), &departure)? {
        Ok(ms) => ms,
        Err(e) => return fail(lua, e),
    };
    let os_date: Function = match lua.globals().raw_get::<Value>("os")? {
        Value::Table(os) => os.raw_get("date")?,
        _ => return Err(misuse("check_in_plan needs the Lua os library (os.date)")),
    };
    let shown = |ms: i64| -> String {
        os_date
            .call::<String>(("%d.%m %H:%M", (ms / 1000) as f64))
            .unwrap_or_else(|_| format!("{} ms", ms))
    };
    if let Err(e) = stay::check_stay(from, to, now_ms(), shown) {
        return fail(lua, e);
    }
    let day = |v: &LmDateTime| Day {
        day: v.day.unwrap_or(0),
        month: v.month.unwrap_or(0),
    };
    let t = lua.create_table()?;
    t.set("passcode", passcode)?;
    t.set(
        "name",
        stay::passcode_name(&room, day(&arrival), day(&departure)),
    )?;
    t.set("valid_from_ms", num_out(from))?;
    t.set("valid_to_ms", num_out(to))?;
    one(Value::Table(t))
}
