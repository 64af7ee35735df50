//! Bindings of docs/lua-api.md "Stays": LM dates and times into milliseconds, and the check-in
//! rules of the LM scripts (`check_in_plan`); the rules are in `crate::ops::stay`.
//!
//! Times go through this state's own `os.time` / `os.date`, so the controller's time zone (LM:
//! a POSIX rule in /etc/TZ, read by its libc) applies exactly as in Lua.
use mlua::prelude::*;
use mlua::{Function, MultiValue, Table, Value};

use super::args::{as_f64, num_out, Opts, MAX_EXACT};
use super::export::{misuse, Exporter};
use super::host::with_stays;
use super::values::{error_table, fail, one, set_opt_num, set_opt_str};
use crate::error::{Error, Result};
use crate::ops::stay as ops_stay;
use crate::ops::stay::{self, CodeMode, CodeValue, Day, Door, Held, LmDateTime, Stay, StayReport};
use crate::transport::now_ms;

pub(super) fn register(ex: &Exporter) -> LuaResult<()> {
    ex.add("local_time_ms", local_time_ms)?;
    ex.add("check_in_plan", check_in_plan)?;
    ex.add("stay_check_in", stay_check_in)?;
    ex.add("stay_check_out", stay_check_out)?;
    ex.add("stays_retry", stays_retry)
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

/// A time as the controller shows it, through this state's `os.date` ("05.12 11:00").
fn shown_fn(lua: &Lua) -> LuaResult<impl Fn(i64) -> String> {
    let os_date: Function = match lua.globals().raw_get::<Value>("os")? {
        Value::Table(os) => os.raw_get("date")?,
        _ => return Err(misuse("stays need the Lua os library (os.date)")),
    };
    Ok(move |ms: i64| -> String {
        os_date
            .call::<String>(("%d.%m %H:%M", (ms / 1000) as f64))
            .unwrap_or_else(|_| format!("{ms} ms"))
    })
}

/// The stay the LM objects ask for: the passcode from the object value, the checked dates,
/// the name. `Err`: what the status says.
fn stay_from_objects(lua: &Lua, o: &Opts) -> LuaResult<Result<Stay>> {
    let room = o.required_string("room")?;
    let code = match o.raw_value("passcode")? {
        Value::String(s) => CodeValue::Text(s.to_string_lossy()),
        v => match as_f64(&v) {
            Some(n) => CodeValue::Number(n),
            None => CodeValue::Missing,
        },
    };
    let arg = |k: &str| -> LuaResult<Option<Table>> { table_arg(o.fname, o.raw_value(k)?, k) };
    let arrival = lm_fields(arg("arrival_date")?.as_ref(), arg("arrival_time")?.as_ref())?;
    let departure = lm_fields(
        arg("departure_date")?.as_ref(),
        arg("departure_time")?.as_ref(),
    )?;
    let passcode = match stay::passcode_of(&code) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let from = match lm_time_ms(lua, Some("arrival"), &arrival)? {
        Ok(ms) => ms,
        Err(e) => return Ok(Err(e)),
    };
    let to = match lm_time_ms(lua, Some("departure"), &departure)? {
        Ok(ms) => ms,
        Err(e) => return Ok(Err(e)),
    };
    let day = |v: &LmDateTime| Day {
        day: v.day.unwrap_or(0),
        month: v.month.unwrap_or(0),
    };
    Ok(Ok(Stay {
        passcode,
        name: stay::passcode_name(&room, day(&arrival), day(&departure)),
        valid_from_ms: from,
        valid_to_ms: to,
        asked: None,
        arrived_ms: None,
    }))
}

/// `ttlock.check_in_plan{room, passcode, arrival_date, arrival_time, departure_date,
/// departure_time}` → `{passcode, name, valid_from_ms, valid_to_ms}` | nil, err: every rule of
/// a check-in from LM objects, before anything is sent.
fn check_in_plan(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let o = Opts::parse("check_in_plan", args, PLAN_KEYS, false)?;
    let plan = match stay_from_objects(lua, &o)? {
        Ok(p) => p,
        Err(e) => return fail(lua, e),
    };
    if let Err(e) = stay::check_stay(
        plan.valid_from_ms,
        plan.valid_to_ms,
        now_ms(),
        shown_fn(lua)?,
    ) {
        return fail(lua, e);
    }
    let t = lua.create_table()?;
    t.set("passcode", plan.passcode)?;
    t.set("name", plan.name)?;
    t.set("valid_from_ms", num_out(plan.valid_from_ms))?;
    t.set("valid_to_ms", num_out(plan.valid_to_ms))?;
    one(Value::Table(t))
}

/// `doors = { {lock_id = n, name = s}, ... }`: the room lock first.
fn doors_arg(o: &Opts) -> LuaResult<Vec<Door>> {
    let t = o
        .table("doors")?
        .ok_or_else(|| misuse(format!("{}: doors is required", o.fname)))?;
    let mut doors: Vec<Door> = Vec::new();
    for (i, v) in t.sequence_values::<Value>().enumerate() {
        let Value::Table(d) = v? else {
            return Err(misuse(format!(
                "{}: doors[{}] must be a table {{lock_id=, name=}}",
                o.fname,
                i + 1
            )));
        };
        let id = match as_f64(&d.raw_get::<Value>("lock_id")?) {
            Some(n) if n.fract() == 0.0 && n > 0.0 && n <= MAX_EXACT => n as i64,
            _ => {
                return Err(misuse(format!(
                    "{}: doors[{}].lock_id must be a positive whole number",
                    o.fname,
                    i + 1
                )))
            }
        };
        let name = match d.raw_get::<Value>("name")? {
            Value::String(s) => s.to_string_lossy(),
            Value::Nil => format!("lock {id}"),
            _ => {
                return Err(misuse(format!(
                    "{}: doors[{}].name must be a string",
                    o.fname,
                    i + 1
                )))
            }
        };
        let mode = match d.raw_get::<Value>("codes")? {
            Value::Nil => CodeMode::Gateway,
            Value::String(m) => CodeMode::parse(&m.to_string_lossy()).ok_or_else(|| {
                misuse(format!(
                    "{}: doors[{}].codes must be 'gateway', 'offline' or 'auto'",
                    o.fname,
                    i + 1
                ))
            })?,
            _ => {
                return Err(misuse(format!(
                    "{}: doors[{}].codes must be a string",
                    o.fname,
                    i + 1
                )))
            }
        };
        if !doors.iter().any(|x| x.lock_id == id) {
            doors.push(Door {
                mode,
                ..Door::new(id, name)
            });
        }
    }
    if doors.is_empty() {
        return Err(misuse(format!(
            "{}: doors must list the room lock first",
            o.fname
        )));
    }
    Ok(doors)
}

fn held_fields(t: &Table, h: &Held) -> LuaResult<()> {
    set_opt_num(t, "passcode_id", h.passcode_id)?;
    t.set("valid_from_ms", num_out(h.window.from_ms))?;
    t.set("valid_to_ms", num_out(h.window.to_ms))?;
    Ok(())
}

/// The fields of a stay report, on `t` (a result table or an error table).
fn report_fields(lua: &Lua, t: &Table, r: &StayReport) -> LuaResult<()> {
    t.set("room", r.room.as_str())?;
    t.set("action", r.action.as_str())?;
    t.set("outcome", r.outcome.as_str())?;
    if let Some(s) = &r.stay {
        t.set("passcode", s.passcode.as_str())?;
        t.set("name", s.name.as_str())?;
        t.set("valid_from_ms", num_out(s.valid_from_ms))?;
        t.set("valid_to_ms", num_out(s.valid_to_ms))?;
    }
    set_opt_num(t, "room_passcode_id", r.room_passcode_id())?;
    let doors = lua.create_table()?;
    for (i, d) in r.doors.iter().enumerate() {
        let dt = match &d.error {
            Some(e) => error_table(lua, e)?,
            None => lua.create_table()?,
        };
        dt.set("lock_id", num_out(d.lock_id))?;
        dt.set("name", d.name.as_str())?;
        dt.set("state", d.now.as_str())?;
        dt.set("ok", d.error.is_none())?;
        if let Some(h) = &d.held {
            held_fields(&dt, h)?;
        }
        if !d.shared_with.is_empty() {
            dt.set("shared_with", d.shared_with.clone())?;
        }
        if d.undone {
            dt.set("undone", true)?;
        }
        dt.set("text", d.text.as_str())?;
        doors.raw_set(i + 1, dt)?;
    }
    t.set("doors", doors)?;
    t.set("status", r.status.as_str())?;
    t.set("log_line", r.log_line.as_str())?;
    set_opt_str(t, "alert", &r.alert)?;
    Ok(())
}

/// A report as `res` or `nil, err`.
fn report_result(lua: &Lua, r: StayReport) -> LuaResult<MultiValue> {
    match &r.error {
        None => {
            let t = lua.create_table()?;
            t.set("ok", true)?;
            report_fields(lua, &t, &r)?;
            one(Value::Table(t))
        }
        Some(e) if e.is_misuse() => Err(misuse(e.message())),
        Some(e) => {
            let t = error_table(lua, e)?;
            report_fields(lua, &t, &r)?;
            Ok(MultiValue::from_vec(vec![Value::Nil, Value::Table(t)]))
        }
    }
}

const STAY_KEYS: &[&str] = &[
    "room",
    "doors",
    "passcode",
    "arrival_date",
    "arrival_time",
    "departure_date",
    "departure_time",
    "best_effort",
];

/// `ttlock.stay_check_in{room, doors, passcode, arrival_date, ...}`: a new stay, or a change of
/// the room's live stay (docs/lua-api.md "Stays").
fn stay_check_in(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let o = Opts::parse("stay_check_in", args, STAY_KEYS, false)?;
    let room = o.required_string("room")?;
    let doors = doors_arg(&o)?;
    let best_effort = o.boolean("best_effort")?.unwrap_or(false);
    let want = stay_from_objects(lua, &o)?;
    let shown = shown_fn(lua)?;
    let report = match want {
        // Refused before the memory is read: the same words as any refusal.
        Err(e) => ops_stay::check_in_refused(&room, e),
        Ok(stay) => {
            let req = ops_stay::CheckIn {
                room,
                doors,
                stay,
                best_effort,
            };
            with_stays(lua, |c, store| ops_stay::check_in(c, store, &req, &shown))?
        }
    };
    report_result(lua, report)
}

const CHECK_OUT_KEYS: &[&str] = &["room", "doors", "passcode", "name", "passcode_id"];

/// `ttlock.stay_check_out{room, doors, passcode = +1, name = +2, passcode_id = +8}`: remove
/// the stay's code from every door now (the three object values are used only when the room's
/// memory is lost).
fn stay_check_out(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let o = Opts::parse("stay_check_out", args, CHECK_OUT_KEYS, false)?;
    let room = o.required_string("room")?;
    let doors = doors_arg(&o)?;
    let passcode = match o.raw_value("passcode")? {
        Value::String(s) => stay::passcode_of(&CodeValue::Text(s.to_string_lossy())).ok(),
        v => as_f64(&v).and_then(|n| stay::passcode_of(&CodeValue::Number(n)).ok()),
    };
    let name = o.string("name")?.filter(|n| !n.trim().is_empty());
    let passcode_id = match as_f64(&o.raw_value("passcode_id")?) {
        Some(n) if n.fract() == 0.0 && n > 0.0 && n <= MAX_EXACT => Some(n as i64),
        _ => None,
    };
    let req = ops_stay::CheckOut {
        room,
        doors,
        remembered: ops_stay::Remembered {
            passcode,
            name,
            room_passcode_id: passcode_id,
        },
    };
    let shown = shown_fn(lua)?;
    let report = with_stays(lua, |c, store| ops_stay::check_out(c, store, &req, &shown))?;
    report_result(lua, report)
}

/// `ttlock.stays_retry{all = false}` → `{ report, ... }`: the doors waiting in the queue whose time has
/// come, one report per room tried (each as a `stay_check_in` result or error table, with
/// `ok`); `nil, err` when the memory cannot be read.
fn stays_retry(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let o = Opts::parse("stays_retry", args, &["all"], true)?;
    let all = o.boolean("all")?.unwrap_or(false);
    let shown = shown_fn(lua)?;
    let reports = match with_stays(lua, |c, store| {
        ops_stay::retry_pending(c, store, all, &shown)
    })? {
        Ok(r) => r,
        Err(e) => return fail(lua, e),
    };
    let list = lua.create_table()?;
    for (i, r) in reports.iter().enumerate() {
        let t = match &r.error {
            Some(e) => error_table(lua, e)?,
            None => lua.create_table()?,
        };
        t.set("ok", r.error.is_none())?;
        report_fields(lua, &t, r)?;
        list.raw_set(i + 1, t)?;
    }
    one(Value::Table(list))
}
