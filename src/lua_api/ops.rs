//! Lua bindings of lua-api.md "Passcodes", "Purge" and "Locks": argument parsing and result
//! tables only; the work is in `crate::ops`.
//!
//! Wrong Lua types, unknown options and missing required ids raise (`ttlock:` errors); values
//! the world can get wrong (a passcode typed in a visualisation, a window that already ended,
//! a date that does not exist) return `nil, err` with `invalid_argument`, and nothing is sent.
use mlua::prelude::*;
use mlua::{Function, MultiValue, Table, Value};

use super::{as_f64, error_table, fail, misuse, num_out, with_client, Exporter, Opts, MAX_EXACT};
use crate::api::{PasscodeItem, Validity};
use crate::error::Error;
use crate::ops::passcodes::{self, AddRequest, ChangeRequest, LockResult};
use crate::ops::purge::{self, PurgeCode, PurgeRequest};
use crate::ops::{locks, purge::PurgeReport};

pub(super) fn register(ex: &Exporter) -> LuaResult<()> {
    ex.add("add_passcode", add_passcode)?;
    ex.add("change_passcode", change_passcode)?;
    ex.add("delete_passcode", |lua, args| {
        let o = Opts::parse("delete_passcode", args, &["lock_id", "passcode_id"], false)?;
        let (lock_id, id) = (req_id(&o, "lock_id")?, req_id(&o, "passcode_id")?);
        let r = with_client(lua, |c| passcodes::delete_passcode(c, lock_id, id))?;
        done(lua, r)
    })?;
    ex.add("list_passcodes", |lua, args| {
        let o = Opts::parse("list_passcodes", args, &["lock_id"], false)?;
        let lock_id = req_id(&o, "lock_id")?;
        match with_client(lua, |c| passcodes::list_passcodes(c, lock_id))? {
            Ok(items) => {
                let t = lua.create_table()?;
                for (i, it) in items.iter().enumerate() {
                    t.raw_set(i + 1, passcode_table(lua, it)?)?;
                }
                one(Value::Table(t))
            }
            Err(e) => fail(lua, e),
        }
    })?;
    ex.add("generate_passcode", |lua, args| {
        let o = Opts::parse("generate_passcode", args, &["digits", "lock_ids"], true)?;
        let digits = o.whole("digits", 4.0, 9.0)?.unwrap_or(6) as usize;
        let lock_ids = id_list(&o, "lock_ids")?.unwrap_or_default();
        match with_client(lua, |c| passcodes::generate_passcode(c, digits, &lock_ids))? {
            Ok(code) => one(Value::String(lua.create_string(&code)?)),
            Err(e) => fail(lua, e),
        }
    })?;
    ex.add("local_time_ms", local_time_ms)?;
    ex.add("purge_expired", purge_expired)?;
    ex.add("unlock", |lua, args| {
        let id = lock_arg("unlock", args)?;
        done(lua, with_client(lua, |c| locks::unlock(c, id))?)
    })?;
    ex.add("lock", |lua, args| {
        let id = lock_arg("lock", args)?;
        done(lua, with_client(lua, |c| locks::lock(c, id))?)
    })?;
    ex.add("lock_state", |lua, args| {
        let id = lock_arg("lock_state", args)?;
        match with_client(lua, |c| locks::lock_state(c, id))? {
            Ok(s) => one(Value::String(lua.create_string(s.as_str())?)),
            Err(e) => fail(lua, e),
        }
    })?;
    ex.add("battery", |lua, args| {
        let id = lock_arg("battery", args)?;
        match with_client(lua, |c| locks::battery(c, id))? {
            Ok(p) => one(num_out(p)),
            Err(e) => fail(lua, e),
        }
    })?;
    Ok(())
}

fn one(v: Value) -> LuaResult<MultiValue> {
    Ok(MultiValue::from_vec(vec![v]))
}

/// `true`, or `nil, err`.
fn done(lua: &Lua, r: crate::error::Result<()>) -> LuaResult<MultiValue> {
    match r {
        Ok(()) => one(Value::Boolean(true)),
        Err(e) => fail(lua, e),
    }
}

fn req_id(o: &Opts, key: &str) -> LuaResult<i64> {
    o.id(key)?
        .ok_or_else(|| misuse(format!("{}: {key} is required", o.fname)))
}

fn lock_arg(fname: &'static str, args: MultiValue) -> LuaResult<i64> {
    let o = Opts::parse(fname, args, &["lock_id"], false)?;
    req_id(&o, "lock_id")
}

/// A list of ids `{ 1001, 2001 }` (numbers, whole, 1 ..= 2^53; no other keys).
fn id_list(o: &Opts, key: &str) -> LuaResult<Option<Vec<i64>>> {
    let Some(t) = o.table(key)? else {
        return Ok(None);
    };
    let bad = || {
        misuse(format!(
            "{}: {key} must be a list of lock ids (whole numbers from 1 to 2^53)",
            o.fname
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

fn set_opt_str(t: &Table, key: &str, v: &Option<String>) -> LuaResult<()> {
    if let Some(s) = v {
        t.set(key, s.as_str())?;
    }
    Ok(())
}

fn set_opt_num(t: &Table, key: &str, v: Option<i64>) -> LuaResult<()> {
    if let Some(n) = v {
        t.set(key, num_out(n))?;
    }
    Ok(())
}

/// An error table with more fields (`__tostring` kept).
fn error_entry(lua: &Lua, e: &Error) -> LuaResult<Table> {
    error_table(lua, e)
}

// ---- passcodes ------------------------------------------------------------------------------

const ADD_KEYS: &[&str] = &[
    "lock_id",
    "also_lock_ids",
    "passcode",
    "name",
    "valid_from_ms",
    "valid_to_ms",
    "atomic",
    "permanent",
];

fn add_passcode(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let o = Opts::parse("add_passcode", args, ADD_KEYS, false)?;
    let lock_id = req_id(&o, "lock_id")?;
    let also = id_list(&o, "also_lock_ids")?.unwrap_or_default();
    let passcode = o.required_string("passcode")?;
    let name = o.string("name")?;
    let atomic = o.boolean("atomic")?.unwrap_or(true);
    let permanent = o.boolean("permanent")?.unwrap_or(false);
    let (from, to) = (o.time_ms("valid_from_ms")?, o.time_ms("valid_to_ms")?);
    let validity =
        match (permanent, from, to) {
            (true, None, None) => Validity::Permanent,
            (true, _, _) => {
                return Err(misuse(
                    "add_passcode: permanent = true takes no valid_from_ms / valid_to_ms",
                ))
            }
            (false, Some(start_ms), Some(end_ms)) => Validity::Period { start_ms, end_ms },
            (false, _, _) => return Err(misuse(
                "add_passcode: valid_from_ms and valid_to_ms are required (or permanent = true)",
            )),
        };
    let req = AddRequest {
        lock_id,
        also_lock_ids: also,
        passcode,
        name,
        validity,
        atomic,
    };
    match with_client(lua, |c| passcodes::add_passcode(c, &req))? {
        Ok(out) => {
            let t = lua.create_table()?;
            t.set("ok", true)?;
            t.set("passcode", out.passcode.as_str())?;
            set_opt_str(&t, "name", &out.name)?;
            t.set("locks", lock_results(lua, &out.locks)?)?;
            one(Value::Table(t))
        }
        Err(f) => {
            if f.error.is_misuse() {
                return Err(misuse(f.error.message()));
            }
            let err = error_table(lua, &f.error)?;
            err.set("locks", lock_results(lua, &f.locks)?)?;
            err.set("rolled_back", f.rolled_back)?;
            Ok(MultiValue::from_vec(vec![Value::Nil, Value::Table(err)]))
        }
    }
}

/// `{ lock_id, ok, passcode_id, code, message, errcode, existing, rolled_back, rollback_error }`.
fn lock_results(lua: &Lua, locks: &[LockResult]) -> LuaResult<Table> {
    let list = lua.create_table()?;
    for (i, r) in locks.iter().enumerate() {
        let t = match &r.error {
            Some(e) => error_entry(lua, e)?,
            None => lua.create_table()?,
        };
        t.set("lock_id", num_out(r.lock_id))?;
        t.set("ok", r.ok())?;
        set_opt_num(&t, "passcode_id", r.passcode_id)?;
        if r.existing {
            t.set("existing", true)?;
        }
        if r.maybe_added {
            t.set("maybe_added", true)?;
        }
        if let Some(rb) = r.rolled_back {
            t.set("rolled_back", rb)?;
        }
        if let Some(e) = &r.rollback_error {
            t.set("rollback_error", error_table(lua, e)?)?;
        }
        list.raw_set(i + 1, t)?;
    }
    Ok(list)
}

fn change_passcode(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let o = Opts::parse(
        "change_passcode",
        args,
        &[
            "lock_id",
            "passcode_id",
            "passcode",
            "name",
            "valid_from_ms",
            "valid_to_ms",
        ],
        false,
    )?;
    let window = match (o.time_ms("valid_from_ms")?, o.time_ms("valid_to_ms")?) {
        (Some(s), Some(e)) => Some((s, e)),
        (None, None) => None,
        _ => {
            return Err(misuse(
                "change_passcode: valid_from_ms and valid_to_ms go together",
            ))
        }
    };
    let req = ChangeRequest {
        lock_id: req_id(&o, "lock_id")?,
        passcode_id: req_id(&o, "passcode_id")?,
        passcode: o.string("passcode")?,
        name: o.string("name")?,
        window,
    };
    done(
        lua,
        with_client(lua, |c| passcodes::change_passcode(c, &req))?,
    )
}

fn passcode_table(lua: &Lua, it: &PasscodeItem) -> LuaResult<Table> {
    let t = lua.create_table()?;
    t.set("passcode_id", num_out(it.passcode_id))?;
    t.set("passcode", it.passcode.as_str())?;
    set_opt_str(&t, "name", &it.name)?;
    t.set("type", num_out(it.pwd_type))?;
    set_opt_num(&t, "valid_from_ms", it.start_ms)?;
    set_opt_num(&t, "valid_to_ms", it.end_ms)?;
    t.set("is_custom", it.is_custom)?;
    set_opt_num(&t, "status", it.status)?;
    set_opt_num(&t, "lock_id", it.lock_id)?;
    Ok(t)
}

/// `ttlock.local_time_ms(date, time)`: through this state's own `os.time`, so the controller's
/// time zone (LM: a POSIX rule in /etc/TZ, read by its libc) applies exactly as in Lua.
fn local_time_ms(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let mut it = args.into_iter();
    let date = it.next().unwrap_or(Value::Nil);
    let time = it.next().unwrap_or(Value::Nil);
    if it.any(|v| !v.is_nil()) {
        return Err(misuse("local_time_ms takes two arguments: date, time"));
    }
    let table = |v: Value, what: &str| -> LuaResult<Option<Table>> {
        match v {
            Value::Table(t) => Ok(Some(t)),
            Value::Nil => Ok(None),
            other => Err(misuse(format!(
                "local_time_ms: {what} must be a table, got {}",
                other.type_name()
            ))),
        }
    };
    let (Some(d), Some(t)) = (table(date, "date")?, table(time, "time")?) else {
        return fail(
            lua,
            Error::invalid_argument("the date or the time is not set"),
        );
    };
    // Whole numbers; `None` when missing or not one.
    let field = |t: &Table, k: &str| -> LuaResult<Option<i64>> {
        let v: Value = t.raw_get(k)?;
        Ok(as_f64(&v)
            .filter(|x| x.fract() == 0.0 && x.abs() < 1e9)
            .map(|x| x as i64))
    };
    let parts = (
        field(&d, "year")?,
        field(&d, "month")?,
        field(&d, "day")?,
        field(&t, "hour")?,
        field(&t, "minute")?,
    );
    let second = match t.raw_get::<Value>("second")? {
        Value::Nil => Some(0),
        _ => field(&t, "second")?,
    };
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) =
        (parts.0, parts.1, parts.2, parts.3, parts.4, second)
    else {
        return fail(
            lua,
            Error::invalid_argument(
                "the date needs whole numbers day, month, year and the time hour, minute (second optional)",
            ),
        );
    };
    if let Err(e) = passcodes::check_date_time(year, month, day, hour, minute, second) {
        return fail(lua, e);
    }
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
    match as_f64(&os_time.call::<Value>(arg)?) {
        Some(s) if s.is_finite() => one(Value::Number(s * 1000.0)),
        _ => fail(
            lua,
            Error::invalid_argument("os.time cannot represent this date on this controller"),
        ),
    }
}

// ---- purge ----------------------------------------------------------------------------------

fn purge_expired(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let o = Opts::parse(
        "purge_expired",
        args,
        &[
            "lock_ids",
            "grace_s",
            "dry_run",
            "name_prefix",
            "full_sweep_days",
        ],
        false,
    )?;
    let lock_ids =
        id_list(&o, "lock_ids")?.ok_or_else(|| misuse("purge_expired: lock_ids is required"))?;
    let mut req = PurgeRequest::new(lock_ids);
    if let Some(g) = o.number("grace_s")? {
        if !(0.0..=3650.0 * 86400.0).contains(&g) {
            return Err(misuse("purge_expired: grace_s must be 0 to 3650 days"));
        }
        req.grace_ms = (g * 1000.0) as i64;
    }
    if let Some(d) = o.number("full_sweep_days")? {
        if !(0.0..=3650.0).contains(&d) {
            return Err(misuse("purge_expired: full_sweep_days must be 0 to 3650"));
        }
        req.full_sweep_ms = (d * 86_400_000.0) as i64;
    }
    req.dry_run = o.boolean("dry_run")?.unwrap_or(false);
    req.name_prefix = o.string("name_prefix")?.filter(|p| !p.is_empty());
    match with_client(lua, |c| purge::purge_expired(c, &req))? {
        Ok(report) => one(Value::Table(report_table(lua, &report)?)),
        Err(e) => fail(lua, e),
    }
}

fn code_table(lua: &Lua, code: &PurgeCode, base: Option<Table>) -> LuaResult<Table> {
    let t = match base {
        Some(t) => t,
        None => lua.create_table()?,
    };
    t.set("lock_id", num_out(code.lock_id))?;
    t.set("passcode_id", num_out(code.passcode_id))?;
    set_opt_str(&t, "name", &code.name)?;
    t.set("valid_to_ms", num_out(code.valid_to_ms))?;
    Ok(t)
}

fn report_table(lua: &Lua, r: &PurgeReport) -> LuaResult<Table> {
    let list = |codes: &[PurgeCode]| -> LuaResult<Table> {
        let t = lua.create_table()?;
        for (i, c) in codes.iter().enumerate() {
            t.raw_set(i + 1, code_table(lua, c, None)?)?;
        }
        Ok(t)
    };
    let t = lua.create_table()?;
    t.set("dry_run", r.dry_run)?;
    t.set("deleted", list(&r.deleted)?)?;
    t.set("would_delete", list(&r.would_delete)?)?;
    let failed = lua.create_table()?;
    for (i, f) in r.failed.iter().enumerate() {
        let base = error_entry(lua, &f.error)?;
        failed.raw_set(i + 1, code_table(lua, &f.code, Some(base))?)?;
    }
    t.set("failed", failed)?;
    let locks = lua.create_table()?;
    for (i, l) in r.locks.iter().enumerate() {
        let lt = lua.create_table()?;
        lt.set("lock_id", num_out(l.lock_id))?;
        lt.set("listed", num_out(l.listed as i64))?;
        lt.set("expired", num_out(l.expired as i64))?;
        lt.set("deleted", num_out(l.deleted as i64))?;
        lt.set("source", l.source.as_str())?;
        if let Some(e) = &l.error {
            lt.set("error", error_table(lua, e)?)?;
        }
        locks.raw_set(i + 1, lt)?;
    }
    t.set("locks", locks)?;
    Ok(t)
}
