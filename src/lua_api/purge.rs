//! Bindings of docs/lua-api.md "Purge"; the work is in `crate::ops::purge`.
use mlua::prelude::*;
use mlua::{MultiValue, Table, Value};

use super::args::{num_out, Opts};
use super::export::{misuse, Exporter};
use super::host::with_stays;
use super::values::{error_table, fail, one, set_opt_str};
use crate::ops::purge::{self, PurgeCode, PurgeFailure, PurgeReport, PurgeRequest};

pub(super) fn register(ex: &Exporter) -> LuaResult<()> {
    ex.add("purge_expired", purge_expired)
}

const PURGE_KEYS: &[&str] = &[
    "lock_ids",
    "grace_s",
    "dry_run",
    "name_prefix",
    "full_sweep_days",
    "every_days",
    "capacity_margin",
];

fn purge_expired(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let o = Opts::parse("purge_expired", args, PURGE_KEYS, false)?;
    let lock_ids = o
        .id_list("lock_ids")?
        .ok_or_else(|| misuse("purge_expired: lock_ids is required"))?;
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
    if let Some(d) = o.number("every_days")? {
        if !(0.0..=3650.0).contains(&d) {
            return Err(misuse("purge_expired: every_days must be 0 to 3650"));
        }
        req.every_ms = (d * 86_400_000.0) as i64;
    }
    if let Some(m) = o.whole("capacity_margin", 0.0, 250.0)? {
        req.capacity_margin = m as usize;
    }
    req.dry_run = o.boolean("dry_run")?.unwrap_or(false);
    req.name_prefix = o.string("name_prefix")?.filter(|p| !p.is_empty());
    // Live stays' codes are never deleted, whatever window a lock shows for them.
    let run = with_stays(lua, |c, store| {
        req.keep = crate::ops::stay::live_codes(c, store).map_err(|e| {
            let text = format!(
                "the stay memory cannot be read, so nothing was purged: {}",
                e.message()
            );
            e.with_message(text)
        })?;
        // Nor the codes the staff sync made (docs/lua-api.md "Staff codes").
        let staff =
            super::staff::with_staff_store(lua, c, crate::ops::staff::kept_codes).map_err(|e| {
                let text = format!(
                    "the staff record cannot be read, so nothing was purged: {}",
                    e.message()
                );
                e.with_message(text)
            })?;
        req.keep.extend(staff);
        purge::purge_expired(c, &req)
    })?;
    match run {
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

/// `{ { lock_id, passcode_id, name, valid_to_ms }, ... }`.
fn code_list(lua: &Lua, codes: &[PurgeCode]) -> LuaResult<Table> {
    let t = lua.create_table()?;
    for (i, c) in codes.iter().enumerate() {
        t.raw_set(i + 1, code_table(lua, c, None)?)?;
    }
    Ok(t)
}

/// The failed codes, each an error table with the code's fields.
fn failure_list(lua: &Lua, failed: &[PurgeFailure]) -> LuaResult<Table> {
    let t = lua.create_table()?;
    for (i, f) in failed.iter().enumerate() {
        let base = error_table(lua, &f.error)?;
        t.raw_set(i + 1, code_table(lua, &f.code, Some(base))?)?;
    }
    Ok(t)
}

fn report_table(lua: &Lua, r: &PurgeReport) -> LuaResult<Table> {
    let t = lua.create_table()?;
    t.set("dry_run", r.dry_run)?;
    t.set("deleted", code_list(lua, &r.deleted)?)?;
    t.set("would_delete", code_list(lua, &r.would_delete)?)?;
    t.set("failed", failure_list(lua, &r.failed)?)?;
    let locks = lua.create_table()?;
    for (i, l) in r.locks.iter().enumerate() {
        let lt = lua.create_table()?;
        lt.set("lock_id", num_out(l.lock_id))?;
        lt.set("listed", num_out(l.listed as i64))?;
        lt.set("expired", num_out(l.expired as i64))?;
        lt.set("deleted", num_out(l.deleted as i64))?;
        lt.set("kept", num_out(l.kept as i64))?;
        if l.cloud_only {
            lt.set("cloud_only", true)?;
        }
        lt.set("source", l.source.as_str())?;
        lt.set("reason", l.reason.as_str())?;
        lt.set("waiting", num_out(l.waiting as i64))?;
        lt.set("known", num_out(l.known as i64))?;
        if let Some(e) = &l.error {
            lt.set("error", error_table(lua, e)?)?;
        }
        let codes = lua.create_table()?;
        codes.set("deleted", code_list(lua, &l.codes.deleted)?)?;
        codes.set("would_delete", code_list(lua, &l.codes.would_delete)?)?;
        codes.set("failed", failure_list(lua, &l.codes.failed)?)?;
        lt.set("codes", codes)?;
        locks.raw_set(i + 1, lt)?;
    }
    t.set("locks", locks)?;
    Ok(t)
}
