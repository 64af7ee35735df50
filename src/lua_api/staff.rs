//! Bindings of docs/lua-api.md "Staff codes": `staff_store`, `staff_sync`, `staff_record`; the
//! rules and the calls are in `crate::ops::staff`. Also the store the purge reads to keep the
//! staff codes (`with_staff_store`).
use std::collections::BTreeMap;

use mlua::prelude::*;
use mlua::{Function, MultiValue, Table, Value};

use super::args::{as_f64, num_out, type_name, Opts, MAX_EXACT};
use super::export::{lua_error_text, misuse, Exporter};
use super::host::with_stays;
use super::values::{error_table, fail, json_to_lua, lua_to_json, one};
use crate::api::Validity;
use crate::client::Client;
use crate::error::{Code, Error};
use crate::ops::staff::{
    self, unreadable, Doors, FileStaffStore, StaffRecord, StaffReport, StaffRequest, StaffSpec,
    StaffStore,
};

pub(super) fn register(ex: &Exporter) -> LuaResult<()> {
    ex.add("staff_store", staff_store)?;
    ex.add("staff_sync", staff_sync)?;
    ex.add("staff_record", staff_record)
}

/// The Lua functions of `staff_store{ load, save }`, kept in the Lua state.
#[derive(Clone)]
struct StaffCallbacks {
    load: Function,
    save: Function,
}

/// The staff record in the host's store (LM storage), called on the Lua thread only.
struct LuaStaffStore {
    lua: Lua,
    f: StaffCallbacks,
}

fn callback_failed(what: &str, e: &LuaError) -> Error {
    let text = lua_error_text(e);
    let text = text.strip_prefix("ttlock: ").unwrap_or(&text);
    Error::misuse(Code::InvalidArgument, format!("{what} failed: {text}"))
}

impl StaffStore for LuaStaffStore {
    fn load(&self) -> crate::error::Result<Option<StaffRecord>> {
        let v: Value = self
            .f
            .load
            .call(())
            .map_err(|e| callback_failed("staff_store.load", &e))?;
        if v.is_nil() {
            return Ok(None);
        }
        let json = lua_to_json(&v, 0).map_err(|_| unreadable("not a plain table"))?;
        serde_json::from_value(json)
            .map(Some)
            .map_err(|_| unreadable("not a staff record"))
    }

    fn save(&self, record: &StaffRecord) -> crate::error::Result<()> {
        let json = serde_json::to_value(record)
            .map_err(|e| Error::new(Code::BadResponse, format!("staff record: {e}")))?;
        let v =
            json_to_lua(&self.lua, &json).map_err(|e| callback_failed("staff_store.save", &e))?;
        self.f
            .save
            .call::<()>(v)
            .map_err(|e| callback_failed("staff_store.save", &e))
    }
}

/// Run `f` with the staff store: the one `staff_store` registered in this Lua state, else
/// `state_dir/staff.json`. The purge uses it to keep the staff codes.
pub(crate) fn with_staff_store<R>(
    lua: &Lua,
    c: &Client,
    f: impl FnOnce(&dyn StaffStore) -> R,
) -> R {
    let cb = lua.app_data_ref::<StaffCallbacks>().map(|cb| cb.clone());
    match cb {
        Some(f_cb) => f(&LuaStaffStore {
            lua: lua.clone(),
            f: f_cb,
        }),
        None => f(&FileStaffStore::new(&c.config().state_dir)),
    }
}

/// `ttlock.staff_store{ load = fn, save = fn }`: where the staff record lives (LM storage);
/// `ttlock.staff_store()` goes back to `state_dir/staff.json`.
fn staff_store(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let o = Opts::parse("staff_store", args, &["load", "save"], true)?;
    match (o.function("load")?, o.function("save")?) {
        (Some(load), Some(save)) => {
            lua.set_app_data(StaffCallbacks { load, save });
        }
        (None, None) => {
            lua.remove_app_data::<StaffCallbacks>();
        }
        _ => {
            return Err(misuse(
                "staff_store: give load and save (both functions), or neither",
            ))
        }
    }
    one(Value::Boolean(true))
}

const SYNC_KEYS: &[&str] = &["codes", "rooms", "common", "dry_run"];
const CODE_KEYS: &[&str] = &["name", "code", "doors", "valid_from_ms", "valid_to_ms"];

fn whole_id(v: &Value) -> Option<i64> {
    match as_f64(v) {
        Some(x) if x.fract() == 0.0 && (1.0..=MAX_EXACT).contains(&x) => Some(x as i64),
        _ => None,
    }
}

/// `rooms` / `common`: lock ids, or `{ lock_id = n, name = 'Room 101' }` tables.
fn door_list(
    t: Option<Table>,
    key: &str,
    names: &mut BTreeMap<i64, String>,
) -> LuaResult<Vec<i64>> {
    let Some(t) = t else {
        return Ok(Vec::new());
    };
    let bad = || {
        misuse(format!("staff_sync: {key} must be a list of lock ids or {{ lock_id = n, name = 'text' }} tables"))
    };
    let n = t.raw_len();
    if t.pairs::<Value, Value>().count() != n {
        return Err(bad());
    }
    let mut ids = Vec::with_capacity(n);
    for i in 1..=n {
        let v: Value = t.raw_get(i)?;
        match &v {
            Value::Table(d) => {
                let id = whole_id(&d.raw_get::<Value>("lock_id")?).ok_or_else(bad)?;
                match d.raw_get::<Value>("name")? {
                    Value::String(s) => {
                        names.insert(id, s.to_string_lossy());
                    }
                    Value::Nil => {}
                    _ => return Err(bad()),
                }
                ids.push(id);
            }
            other => ids.push(whole_id(other).ok_or_else(bad)?),
        }
    }
    Ok(ids)
}

fn spec_of(i: usize, v: Value) -> LuaResult<StaffSpec> {
    let at = format!("staff_sync: codes[{i}]");
    let Value::Table(t) = v else {
        return Err(misuse(format!(
            "{at} must be a table, got {}",
            type_name(&v)
        )));
    };
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let ok =
            matches!(&k, Value::String(s) if CODE_KEYS.contains(&s.to_string_lossy().as_str()));
        if !ok {
            let shown = match &k {
                Value::String(s) => format!("'{}'", s.to_string_lossy()),
                other => format!("of type {}", type_name(other)),
            };
            return Err(misuse(format!(
                "{at}: unknown key {shown} (known: {})",
                CODE_KEYS.join(", ")
            )));
        }
    }
    let text = |k: &str| -> LuaResult<Option<String>> {
        match t.raw_get::<Value>(k)? {
            Value::Nil => Ok(None),
            Value::String(s) => Ok(Some(s.to_string_lossy())),
            other => Err(misuse(format!(
                "{at}: {k} must be a string, got {}",
                type_name(&other)
            ))),
        }
    };
    let time = |k: &str| -> LuaResult<Option<i64>> {
        let v: Value = t.raw_get(k)?;
        if v.is_nil() {
            return Ok(None);
        }
        match as_f64(&v) {
            Some(x) if x.fract() == 0.0 && (0.0..=MAX_EXACT).contains(&x) => Ok(Some(x as i64)),
            _ => Err(misuse(format!(
                "{at}: {k} must be a whole number of ms since 1970"
            ))),
        }
    };
    let name = text("name")?.unwrap_or_default();
    let passcode = match t.raw_get::<Value>("code")? {
        Value::String(s) => s.to_string_lossy().trim().to_owned(),
        Value::Nil => return Err(misuse(format!("{at}: code is required"))),
        _ => {
            return Err(misuse(format!(
                "{at}: code must be a string of 4 to 9 digits (in quotes: leading zeros are kept)"
            )))
        }
    };
    let doors = match t.raw_get::<Value>("doors")? {
        Value::String(s) => {
            let w = s.to_string_lossy();
            Doors::parse(&w).ok_or_else(|| {
                misuse(format!(
                    "{at}: doors must be 'rooms', 'common', 'all' or a list of lock ids, got '{w}'"
                ))
            })?
        }
        Value::Table(list) => {
            let mut ignored = BTreeMap::new();
            Doors::List(door_list(
                Some(list),
                &format!("codes[{i}].doors"),
                &mut ignored,
            )?)
        }
        Value::Nil => {
            return Err(misuse(format!(
                "{at}: doors is required ('rooms', 'common', 'all' or a list of lock ids)"
            )))
        }
        other => {
            return Err(misuse(format!(
                "{at}: doors must be 'rooms', 'common', 'all' or a list of lock ids, got {}",
                type_name(&other)
            )))
        }
    };
    Ok(StaffSpec {
        name,
        passcode,
        doors,
        valid_from_ms: time("valid_from_ms")?,
        valid_to_ms: time("valid_to_ms")?,
    })
}

/// `ttlock.staff_sync{ codes, rooms, common, dry_run }` → report | nil, err. Bad settings raise
/// and send nothing.
fn staff_sync(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let o = Opts::parse("staff_sync", args, SYNC_KEYS, false)?;
    let list = o.table("codes")?.ok_or_else(|| {
        misuse(
            "staff_sync: codes is required (an empty list removes every staff code the sync made)",
        )
    })?;
    let n = list.raw_len();
    if list.pairs::<Value, Value>().count() != n {
        return Err(misuse("staff_sync: codes must be a list of tables"));
    }
    let mut specs = Vec::with_capacity(n);
    for i in 1..=n {
        specs.push(spec_of(i, list.raw_get(i)?)?);
    }
    let mut names = BTreeMap::new();
    let rooms = door_list(o.table("rooms")?, "rooms", &mut names)?;
    let common = door_list(o.table("common")?, "common", &mut names)?;
    let codes = staff::check_specs(&specs, &rooms, &common)
        .map_err(|e| misuse(format!("staff_sync: {}", e.message())))?;
    let req = StaffRequest {
        codes,
        door_names: names,
        dry_run: o.boolean("dry_run")?.unwrap_or(false),
    };
    let run = with_stays(lua, |c, stays| {
        with_staff_store(lua, c, |store| staff::staff_sync(c, stays, store, &req))
    })?;
    match run {
        Ok(r) => one(Value::Table(report_table(lua, &r)?)),
        Err(e) => fail(lua, e),
    }
}

fn report_table(lua: &Lua, r: &StaffReport) -> LuaResult<Table> {
    use crate::ops::staff::Status;
    let t = lua.create_table()?;
    t.set("ok", true)?;
    t.set("dry_run", r.dry_run)?;
    t.set("summary", r.summary())?;
    let counts = lua.create_table()?;
    for s in [
        Status::Added,
        Status::Changed,
        Status::Unchanged,
        Status::Removed,
        Status::Collision,
        Status::Failed,
        Status::Ended,
    ] {
        counts.set(s.as_str(), num_out(r.count(s) as i64))?;
    }
    t.set("counts", counts)?;
    t.set("alerts", lua.create_sequence_from(r.alerts())?)?;
    let doors = lua.create_table()?;
    for (i, d) in r.doors.iter().enumerate() {
        let e = lua.create_table()?;
        e.set("name", d.name.as_str())?;
        e.set("lock_id", num_out(d.lock_id))?;
        e.set("door", d.door.as_str())?;
        e.set("status", d.status.as_str())?;
        if let Some(reason) = d.reason {
            e.set("reason", reason.as_str())?;
        }
        if let Some(id) = d.passcode_id {
            e.set("passcode_id", num_out(id))?;
        }
        match d.validity {
            Some(Validity::Permanent) => e.set("permanent", true)?,
            Some(Validity::Period { start_ms, end_ms }) => {
                e.set("valid_from_ms", num_out(start_ms))?;
                e.set("valid_to_ms", num_out(end_ms))?;
            }
            None => {}
        }
        e.set("text", d.text.as_str())?;
        if let Some(err) = &d.error {
            e.set("error", error_table(lua, err)?)?;
        }
        doors.raw_set(i + 1, e)?;
    }
    t.set("doors", doors)?;
    Ok(t)
}

/// `ttlock.staff_record()` → `{ { name, lock_id, passcode_id, permanent | valid_from_ms,
/// valid_to_ms }, ... }` | nil, err: what the sync created (never the digits).
fn staff_record(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    Opts::parse("staff_record", args, &[], true)?;
    let r = super::with_client(lua, |c| with_staff_store(lua, c, |s| s.load()))?;
    match r {
        Ok(rec) => {
            let list = lua.create_table()?;
            for (i, e) in rec.unwrap_or_default().codes.iter().enumerate() {
                let t = lua.create_table()?;
                t.set("name", e.name.as_str())?;
                t.set("lock_id", num_out(e.lock_id))?;
                if let Some(id) = e.passcode_id {
                    t.set("passcode_id", num_out(id))?;
                }
                match e.validity() {
                    Validity::Permanent => t.set("permanent", true)?,
                    Validity::Period { start_ms, end_ms } => {
                        t.set("valid_from_ms", num_out(start_ms))?;
                        t.set("valid_to_ms", num_out(end_ms))?;
                    }
                }
                list.raw_set(i + 1, t)?;
            }
            one(Value::Table(list))
        }
        Err(e) => fail(lua, e),
    }
}
