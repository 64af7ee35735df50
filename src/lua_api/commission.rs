//! Binding of docs/lua-api.md "Commissioning": `commission_check`; the work is in
//! `crate::ops::commission`. Argument parsing and result tables only.
use mlua::prelude::*;
use mlua::{MultiValue, Table, Value};

use super::args::{num_out, Opts};
use super::export::{misuse, Exporter};
use super::values::{error_table, fail, one, set_opt_num, set_opt_str};
use super::with_client;
use crate::ops::commission::{self, Door, Report, Request, Secret, Tokens};
use crate::ops::events::health::DEFAULT_BATTERY_LOW;

pub(super) fn register(ex: &Exporter) -> LuaResult<()> {
    ex.add("commission_check", commission_check)
}

/// `ttlock.commission_check{ doors = { { lock_id, name, gateway } }, battery_low = 20 }`.
fn commission_check(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let o = Opts::parse("commission_check", args, &["doors", "battery_low"], true)?;
    let mut doors: Vec<Door> = Vec::new();
    if let Some(t) = o.table("doors")? {
        for i in 1..=t.raw_len() {
            let Value::Table(d) = t.raw_get::<Value>(i)? else {
                return Err(misuse(format!(
                    "commission_check: doors[{i}] must be a table {{ lock_id, name, gateway }}"
                )));
            };
            let door = Opts::parse(
                "commission_check (a door)",
                MultiValue::from_vec(vec![Value::Table(d)]),
                &["lock_id", "name", "gateway"],
                false,
            )?;
            let lock_id = door.required_id("lock_id")?;
            if doors.iter().any(|x| x.lock_id == lock_id) {
                continue;
            }
            doors.push(Door {
                lock_id,
                name: door
                    .string("name")?
                    .unwrap_or_else(|| format!("lock {lock_id}")),
                needs_gateway: door.boolean("gateway")?.unwrap_or(true),
            });
        }
    }
    let req = Request {
        doors,
        battery_low: o
            .whole("battery_low", 0.0, 100.0)?
            .unwrap_or(DEFAULT_BATTERY_LOW),
    };
    match with_client(lua, |c| commission::check(c, &req))? {
        Ok(r) => one(Value::Table(report_table(lua, &r)?)),
        Err(e) => fail(lua, e),
    }
}

fn report_table(lua: &Lua, r: &Report) -> LuaResult<Table> {
    let t = lua.create_table()?;
    let (secret, err) = match &r.secret {
        Secret::Right(n) => {
            t.set("month_count", num_out(*n))?;
            ("right", None)
        }
        Secret::Wrong(e) => ("wrong", Some(e)),
        Secret::UnknownClient(e) => ("unknown_client", Some(e)),
        Secret::NotChecked(e) => ("not_checked", Some(e)),
    };
    t.set("secret", secret)?;
    if let Some(e) = err {
        t.set("secret_error", error_table(lua, e)?)?;
    }
    let tokens = match &r.tokens {
        Tokens::Working => "working",
        Tokens::Renewed => "renewed",
        Tokens::Skipped => "skipped",
        Tokens::Failed(e) => {
            t.set("token_error", error_table(lua, e)?)?;
            "failed"
        }
    };
    t.set("tokens", tokens)?;
    let info = lua.create_table()?;
    info.set("has_access_token", r.token_info.has_access_token)?;
    info.set("has_refresh_token", r.token_info.has_refresh_token)?;
    set_opt_num(&info, "expires_at_ms", r.token_info.expires_at_ms)?;
    info.set("needs_login", r.token_info.needs_login)?;
    t.set("token_info", info)?;
    t.set("has_credentials", r.has_credentials)?;
    if let Some(n) = r.module_calls {
        t.set("module_calls", num_out(n as i64))?;
    }
    if let Some(locks) = &r.locks {
        let list = lua.create_table()?;
        for (i, (l, gws)) in locks.iter().enumerate() {
            let lt = lua.create_table()?;
            lt.set("lock_id", num_out(l.lock_id))?;
            set_opt_str(&lt, "name", &l.name)?;
            set_opt_str(&lt, "alias", &l.alias)?;
            set_opt_num(&lt, "battery", l.battery)?;
            if let Some(b) = l.has_gateway {
                lt.set("has_gateway", b)?;
            }
            lt.set("gateway_ids", id_list(lua, gws.iter().copied())?)?;
            list.raw_set(i + 1, lt)?;
        }
        t.set("locks", list)?;
    }
    if let Some(gateways) = &r.gateways {
        let list = lua.create_table()?;
        for (i, g) in gateways.iter().enumerate() {
            let gt = lua.create_table()?;
            gt.set("gateway_id", num_out(g.gateway_id))?;
            set_opt_str(&gt, "name", &g.name)?;
            if let Some(b) = g.is_online {
                gt.set("online", b)?;
            }
            set_opt_num(&gt, "lock_count", g.lock_num)?;
            list.raw_set(i + 1, gt)?;
        }
        t.set("gateways", list)?;
    }
    if let Some(e) = &r.listing_error {
        t.set("listing_error", error_table(lua, e)?)?;
    }
    let doors = lua.create_table()?;
    for (i, d) in r.doors.iter().enumerate() {
        let dt = lua.create_table()?;
        dt.set("lock_id", num_out(d.door.lock_id))?;
        dt.set("name", d.door.name.as_str())?;
        if let Some(a) = d.administered {
            dt.set("administered", a)?;
        }
        let gws = lua.create_table()?;
        for (j, (id, name, online)) in d.gateways.iter().enumerate() {
            let gt = lua.create_table()?;
            gt.set("gateway_id", num_out(*id))?;
            set_opt_str(&gt, "name", name)?;
            if let Some(b) = online {
                gt.set("online", *b)?;
            }
            gws.raw_set(j + 1, gt)?;
        }
        dt.set("gateways", gws)?;
        doors.raw_set(i + 1, dt)?;
    }
    t.set("doors", doors)?;
    let problems = lua.create_table()?;
    for (i, p) in r.problems.iter().enumerate() {
        let pt = lua.create_table()?;
        pt.set("kind", p.kind)?;
        set_opt_num(&pt, "lock_id", p.lock_id)?;
        set_opt_num(&pt, "gateway_id", p.gateway_id)?;
        pt.set("text", p.text.as_str())?;
        problems.raw_set(i + 1, pt)?;
    }
    t.set("problems", problems)?;
    Ok(t)
}

fn id_list(lua: &Lua, ids: impl Iterator<Item = i64>) -> LuaResult<Table> {
    let t = lua.create_table()?;
    for (i, id) in ids.enumerate() {
        t.raw_set(i + 1, num_out(id))?;
    }
    Ok(t)
}
