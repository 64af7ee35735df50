//! Bindings of docs/lua-api.md "Passcodes": argument parsing and result tables only; the work
//! is in `crate::ops::passcodes`.
//!
//! Wrong Lua types, unknown options and missing required ids raise (`ttlock:` errors); values
//! the world can get wrong (a passcode typed in a visualisation, a window that already ended)
//! return `nil, err` with `invalid_argument`, and nothing is sent.
use mlua::prelude::*;
use mlua::{MultiValue, Table, Value};

use super::args::{num_out, Opts};
use super::export::{misuse, Exporter};
use super::host::with_stays;
use super::values::{done, error_table, fail, one, set_opt_num, set_opt_str};
use super::with_client;
use crate::api::{PasscodeItem, Validity};
use crate::ops::passcodes::{self, AddRequest, ChangeRequest, LockResult};

pub(super) fn register(ex: &Exporter) -> LuaResult<()> {
    ex.add("add_passcode", add_passcode)?;
    ex.add("change_passcode", change_passcode)?;
    ex.add("delete_passcode", |lua, args| {
        let o = Opts::parse("delete_passcode", args, &["lock_id", "passcode_id"], false)?;
        let (lock_id, id) = (o.required_id("lock_id")?, o.required_id("passcode_id")?);
        let r = with_client(lua, |c| passcodes::delete_passcode(c, lock_id, id))?;
        done(lua, r)
    })?;
    ex.add("list_passcodes", |lua, args| {
        let o = Opts::parse("list_passcodes", args, &["lock_id"], false)?;
        let lock_id = o.required_id("lock_id")?;
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
    ex.add("generate_passcode", generate_passcode)?;
    Ok(())
}

/// `generate_passcode{ digits, lock_ids }` lists each lock for the candidate (today's contract);
/// `generate_passcode{ digits, check = 'memory' }` draws a code the stay memory does not know,
/// without any call.
fn generate_passcode(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let o = Opts::parse(
        "generate_passcode",
        args,
        &["digits", "lock_ids", "check", "avoid"],
        true,
    )?;
    let avoid = code_list(&o, "avoid")?;
    let digits = o.whole("digits", 4.0, 9.0)?.unwrap_or(6) as usize;
    let lock_ids = o.id_list("lock_ids")?;
    let r = match o.string("check")?.as_deref() {
        None | Some("locks") => {
            if !avoid.is_empty() {
                return Err(misuse(
                    "generate_passcode: avoid goes with check = 'memory' (with 'locks' the locks are listed)",
                ));
            }
            let lock_ids = lock_ids.unwrap_or_default();
            with_client(lua, |c| passcodes::generate_passcode(c, digits, &lock_ids))?
        }
        Some("memory") => {
            if lock_ids.is_some() {
                return Err(misuse(
                    "generate_passcode: check = 'memory' takes no lock_ids (it avoids every code the stay memory knows, on every lock)",
                ));
            }
            with_stays(lua, |c, store| {
                crate::ops::stay::fresh_code(c, store, digits, &avoid)
            })?
        }
        Some(other) => {
            return Err(misuse(format!(
                "generate_passcode: check must be 'locks' or 'memory', got '{other}'"
            )))
        }
    };
    match r {
        Ok(code) => one(Value::String(lua.create_string(&code)?)),
        Err(e) => fail(lua, e),
    }
}

/// `avoid = { '246810', ... }`: codes a fresh code must not be (staff codes from the settings).
/// Never echoed in a message.
fn code_list(o: &Opts, key: &str) -> LuaResult<Vec<String>> {
    let Some(t) = o.table(key)? else {
        return Ok(Vec::new());
    };
    let bad = || {
        misuse(format!(
            "generate_passcode: {key} must be a list of codes (strings of 4 to 9 digits)"
        ))
    };
    let mut out = Vec::new();
    for i in 1..=t.raw_len() {
        match t.raw_get::<Value>(i)? {
            Value::String(s) => {
                let s = s.to_str().map_err(|_| bad())?.to_string();
                if !(4..=9).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                out.push(s);
            }
            _ => return Err(bad()),
        }
    }
    if t.pairs::<Value, Value>().count() != out.len() {
        return Err(bad());
    }
    Ok(out)
}

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
    let lock_id = o.required_id("lock_id")?;
    let also = o.id_list("also_lock_ids")?.unwrap_or_default();
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
            err.set("outcome", f.outcome().as_str())?;
            Ok(MultiValue::from_vec(vec![Value::Nil, Value::Table(err)]))
        }
    }
}

/// `{ lock_id, ok, state, passcode_id, code, message, advice, errcode, existing, maybe_added,
/// rolled_back, rollback_error }`.
fn lock_results(lua: &Lua, locks: &[LockResult]) -> LuaResult<Table> {
    let list = lua.create_table()?;
    for (i, r) in locks.iter().enumerate() {
        let t = match &r.error {
            Some(e) => error_table(lua, e)?,
            None => lua.create_table()?,
        };
        t.set("lock_id", num_out(r.lock_id))?;
        t.set("ok", r.ok())?;
        t.set("state", r.state().as_str())?;
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

const CHANGE_KEYS: &[&str] = &[
    "lock_id",
    "passcode_id",
    "passcode",
    "name",
    "valid_from_ms",
    "valid_to_ms",
];

fn change_passcode(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let o = Opts::parse("change_passcode", args, CHANGE_KEYS, false)?;
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
        lock_id: o.required_id("lock_id")?,
        passcode_id: o.required_id("passcode_id")?,
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
    if let Some(c) = it.is_custom {
        t.set("is_custom", c)?;
    }
    set_opt_num(&t, "status", it.status)?;
    set_opt_num(&t, "lock_id", it.lock_id)?;
    Ok(t)
}
