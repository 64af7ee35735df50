//! Bindings of docs/lua-api.md "Door events": `door_events`, `site_health`, `poll_plan`; the
//! work is in `crate::ops::events`. Argument parsing and result tables only.
use mlua::prelude::*;
use mlua::{MultiValue, Table, Value};

use super::args::{num_out, Opts};
use super::export::{misuse, Exporter};
use super::host::with_stays;
use super::values::{error_table, fail, one, set_opt_num, set_opt_str};
use super::{site, with_client};
use crate::ops::events::budget::{BudgetPlan, Tier};
use crate::ops::events::health::{
    self, HealthRequest, DEFAULT_BATTERY_LOW, DEFAULT_TOKEN_WARN_DAYS,
};
use crate::ops::events::{self, DoorEvent, EventsRequest, PlanDoor, PlanRequest};
use crate::transport::now_ms;

pub(super) fn register(ex: &Exporter) -> LuaResult<()> {
    ex.add("door_events", door_events)?;
    ex.add("site_health", site_health)?;
    ex.add("poll_plan", poll_plan)?;
    Ok(())
}

/// `ttlock.door_events{ lock_id, cursor, lookback_s }`.
fn door_events(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let o = Opts::parse(
        "door_events",
        args,
        &["lock_id", "cursor", "lookback_s"],
        false,
    )?;
    let req = EventsRequest {
        lock_id: o.required_id("lock_id")?,
        cursor: o.string("cursor")?,
        lookback_ms: o
            .whole("lookback_s", 60.0, (events::MAX_LOOKBACK_MS / 1000) as f64)?
            .map_or(events::DEFAULT_LOOKBACK_MS, |s| s * 1000),
    };
    if let Err(e) = req.check() {
        return Err(misuse(e.message()));
    }
    match with_stays(lua, |c, store| events::door_events(c, store, &req))? {
        Ok(found) => {
            let t = lua.create_table()?;
            t.set("cursor", found.cursor.as_str())?;
            t.set("first", found.first)?;
            let list = lua.create_table()?;
            for (i, e) in found.events.iter().enumerate() {
                list.raw_set(i + 1, event_table(lua, e)?)?;
            }
            t.set("events", list)?;
            let arrivals = lua.create_table()?;
            for (i, a) in found.arrivals.iter().enumerate() {
                let at = lua.create_table()?;
                at.set("room", a.room.as_str())?;
                at.set("stay", a.stay.as_str())?;
                at.set("time_ms", num_out(a.time_ms))?;
                at.set("lock_id", num_out(a.lock_id))?;
                arrivals.raw_set(i + 1, at)?;
            }
            t.set("arrivals", arrivals)?;
            if let Some(e) = found.last_opening() {
                t.set("opened", event_table(lua, e)?)?;
            }
            one(Value::Table(t))
        }
        Err(e) => fail(lua, e),
    }
}

/// A record's fields (as `records` gives them), with `room` and `stay` when a live stay's code
/// made it.
fn event_table(lua: &Lua, e: &DoorEvent) -> LuaResult<Table> {
    let t = lua.create_table()?;
    site::record_fields(&t, &e.record)?;
    set_opt_str(&t, "room", &e.room)?;
    set_opt_str(&t, "stay", &e.stay)?;
    Ok(t)
}

/// `ttlock.site_health{ state, battery_low, token_warn_days }`.
fn site_health(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let o = Opts::parse(
        "site_health",
        args,
        &["state", "battery_low", "token_warn_days"],
        true,
    )?;
    let req = HealthRequest {
        previous: o.string("state")?,
        battery_low: o
            .whole("battery_low", 0.0, 100.0)?
            .unwrap_or(DEFAULT_BATTERY_LOW),
        token_warn_days: o
            .whole("token_warn_days", 0.0, 90.0)?
            .unwrap_or(DEFAULT_TOKEN_WARN_DAYS),
    };
    if let Err(e) = req.check() {
        return Err(misuse(e.message()));
    }
    let h = with_client(lua, |c| health::site_health(c, &req))?;
    let t = lua.create_table()?;
    t.set("ok", h.ok)?;
    if let Some(e) = &h.error {
        t.set("error", error_table(lua, e)?)?;
    }
    let locks = lua.create_table()?;
    for (i, l) in h.locks.iter().enumerate() {
        let lt = lua.create_table()?;
        lt.set("lock_id", num_out(l.lock_id))?;
        lt.set("name", l.name.as_str())?;
        set_opt_num(&lt, "battery", l.battery)?;
        lt.set("low", l.low)?;
        if let Some(g) = l.has_gateway {
            lt.set("has_gateway", g)?;
        }
        locks.raw_set(i + 1, lt)?;
    }
    t.set("locks", locks)?;
    let gateways = lua.create_table()?;
    for (i, g) in h.gateways.iter().enumerate() {
        let gt = lua.create_table()?;
        gt.set("gateway_id", num_out(g.gateway_id))?;
        gt.set("name", g.name.as_str())?;
        gt.set("online", g.online)?;
        gateways.raw_set(i + 1, gt)?;
    }
    t.set("gateways", gateways)?;
    if let Some(d) = h.token_days {
        t.set("token_days", (d * 10.0).floor() / 10.0)?;
    }
    t.set("has_credentials", h.has_credentials)?;
    t.set("calls", h.calls as f64)?;
    t.set("month", h.state.month.as_str())?;
    t.set("calls_source", h.calls_source)?;
    t.set(
        "alerts",
        lua.create_sequence_from(h.alerts.iter().map(String::as_str))?,
    )?;
    t.set(
        "logs",
        lua.create_sequence_from(h.logs.iter().map(String::as_str))?,
    )?;
    t.set(
        "state",
        serde_json::to_string(&h.state).unwrap_or_default().as_str(),
    )?;
    one(Value::Table(t))
}

/// `ttlock.poll_plan{ budget, used, now_ms, doors = {{lock_id, common, last_poll_ms}},
/// last_health_ms }`.
fn poll_plan(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let o = Opts::parse(
        "poll_plan",
        args,
        &["budget", "used", "now_ms", "doors", "last_health_ms"],
        false,
    )?;
    let month_budget = o.whole("budget", 1.0, 1e9)?.ok_or_else(|| {
        misuse("poll_plan: budget is required (the calls a month the TTLock account allows)")
    })?;
    let doors_t = o.table("doors")?.ok_or_else(|| {
        misuse("poll_plan: doors is required (a list of { lock_id, common, last_poll_ms })")
    })?;
    let mut doors = Vec::new();
    for i in 1..=doors_t.raw_len() {
        let v: Value = doors_t.raw_get(i)?;
        let Value::Table(d) = v else {
            return Err(misuse(format!(
                "poll_plan: doors[{i}] must be a table {{ lock_id, common, last_poll_ms }}"
            )));
        };
        let door = Opts::parse(
            "poll_plan (a door)",
            MultiValue::from_vec(vec![Value::Table(d)]),
            &["lock_id", "common", "last_poll_ms"],
            false,
        )?;
        let lock_id = door.required_id("lock_id")?;
        if doors.iter().any(|x: &PlanDoor| x.lock_id == lock_id) {
            return Err(misuse(format!(
                "poll_plan: lock {lock_id} is in doors twice"
            )));
        }
        doors.push(PlanDoor {
            lock_id,
            common: door.boolean("common")?.unwrap_or(false),
            last_poll_ms: door.time_ms("last_poll_ms")?,
        });
    }
    let req = PlanRequest {
        month_budget: month_budget as u64,
        used: o.whole("used", 0.0, 1e12)?.unwrap_or(0) as u64,
        now_ms: o.time_ms("now_ms")?.unwrap_or_else(now_ms),
        doors,
        last_health_ms: o.time_ms("last_health_ms")?,
    };
    match with_stays(lua, |c, store| events::poll_plan(c, store, &req))? {
        Ok(p) => {
            let t = plan_table(lua, &p.plan)?;
            let rooms = lua.create_table()?;
            for (i, r) in p.rooms.iter().enumerate() {
                let rt = lua.create_table()?;
                rt.set("room", r.room.as_str())?;
                rt.set("lock_id", num_out(r.lock_id))?;
                rt.set("stay", r.stay.as_str())?;
                set_opt_num(&rt, "arrived_ms", r.arrived_ms)?;
                rt.set("valid_from_ms", num_out(r.valid_from_ms))?;
                rt.set("valid_to_ms", num_out(r.valid_to_ms))?;
                rooms.raw_set(i + 1, rt)?;
            }
            t.set("rooms", rooms)?;
            one(Value::Table(t))
        }
        Err(e) => fail(lua, e),
    }
}

fn plan_table(lua: &Lua, p: &BudgetPlan) -> LuaResult<Table> {
    let t = lua.create_table()?;
    t.set(
        "due",
        lua.create_sequence_from(p.due.iter().map(|id| *id as f64))?,
    )?;
    t.set("health_due", p.health_due)?;
    let every = lua.create_table()?;
    for tier in Tier::ALL {
        if let Some(ms) = p.every(tier) {
            every.set(tier.as_str(), (ms / 1000) as f64)?;
        }
    }
    t.set("every_s", every)?;
    t.set("health_every_s", (p.health_every_ms / 1000) as f64)?;
    t.set("purge_every_days", p.purge_every_days)?;
    t.set("left", p.left as f64)?;
    t.set("days_left", (p.days_left * 10.0).floor() / 10.0)?;
    t.set("per_day", p.per_day.floor())?;
    let share = lua.create_table()?;
    share.set("stays", p.stays_per_day.ceil())?;
    share.set("purge", p.purge_per_day.ceil())?;
    share.set("health", p.health_per_day.ceil())?;
    share.set("polls", p.polls_per_day.ceil())?;
    t.set("per_day_share", share)?;
    t.set("starved", p.starved)?;
    t.set("text", p.intervals_text())?;
    t.set("budget_text", p.budget_text())?;
    Ok(t)
}
