//! Bindings of docs/lua-api.md "Site": `list_locks`, `list_gateways`, `records`; the paging
//! and decoding are in `crate::ops::site`. Argument parsing and result tables only.
use mlua::prelude::*;
use mlua::{MultiValue, Table, Value};

use super::args::{num_out, Opts};
use super::export::{misuse, Exporter};
use super::values::{fail, one, set_opt_num, set_opt_str};
use super::with_client;
use crate::ops::site::{self, Record, RecordSpan};

pub(super) fn register(ex: &Exporter) -> LuaResult<()> {
    ex.add("list_locks", |lua, args| {
        Opts::parse("list_locks", args, &[], true)?;
        match with_client(lua, site::list_locks)? {
            Ok(locks) => list(lua, &locks, |t, l| {
                t.set("lock_id", num_out(l.lock_id))?;
                set_opt_str(t, "name", &l.name)?;
                set_opt_str(t, "alias", &l.alias)?;
                set_opt_num(t, "battery", l.battery)?;
                set_opt_bool(t, "has_gateway", l.has_gateway)
            }),
            Err(e) => fail(lua, e),
        }
    })?;
    ex.add("list_gateways", |lua, args| {
        Opts::parse("list_gateways", args, &[], true)?;
        match with_client(lua, site::list_gateways)? {
            Ok(gateways) => list(lua, &gateways, |t, g| {
                t.set("gateway_id", num_out(g.gateway_id))?;
                set_opt_str(t, "name", &g.name)?;
                set_opt_bool(t, "online", g.is_online)?;
                set_opt_num(t, "lock_count", g.lock_num)
            }),
            Err(e) => fail(lua, e),
        }
    })?;
    ex.add("records", |lua, args| {
        let o = Opts::parse("records", args, &["lock_id", "since_ms", "until_ms"], false)?;
        let span = RecordSpan {
            lock_id: o.required_id("lock_id")?,
            since_ms: o
                .time_ms("since_ms")?
                .ok_or_else(|| misuse("records: since_ms is required"))?,
            until_ms: o.time_ms("until_ms")?,
        };
        // Before any client work: a span that runs backwards raises, and nothing is sent.
        if let Err(e) = span.check() {
            return Err(misuse(e.message()));
        }
        match with_client(lua, |c| site::records(c, &span))? {
            Ok(records) => list(lua, &records, record_fields),
            Err(e) => fail(lua, e),
        }
    })?;
    Ok(())
}

/// A Lua sequence of one table per item.
fn list<T>(
    lua: &Lua,
    items: &[T],
    fields: impl Fn(&Table, &T) -> LuaResult<()>,
) -> LuaResult<MultiValue> {
    let out = lua.create_table()?;
    for (i, it) in items.iter().enumerate() {
        let t = lua.create_table()?;
        fields(&t, it)?;
        out.raw_set(i + 1, t)?;
    }
    one(Value::Table(out))
}

/// `{ record_id, lock_id, time_ms, server_time_ms, type, type_from_lock, type_name, success,
/// who }`, each absent when TTLock did not say.
pub(super) fn record_fields(t: &Table, r: &Record) -> LuaResult<()> {
    set_opt_num(t, "record_id", r.record_id)?;
    t.set("lock_id", num_out(r.lock_id))?;
    set_opt_num(t, "time_ms", r.time_ms)?;
    set_opt_num(t, "server_time_ms", r.server_time_ms)?;
    set_opt_num(t, "type", r.record_type)?;
    set_opt_num(t, "type_from_lock", r.type_from_lock)?;
    if let Some(n) = r.type_name {
        t.set("type_name", n)?;
    }
    set_opt_bool(t, "success", r.success)?;
    set_opt_str(t, "who", &r.who)
}

fn set_opt_bool(t: &Table, key: &str, v: Option<bool>) -> LuaResult<()> {
    if let Some(b) = v {
        t.set(key, b)?;
    }
    Ok(())
}
