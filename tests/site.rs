//! The site against the simulator (lua-api.md "Site"): every page of the account's locks and
//! gateways, a lock without a gateway, a lock's records oldest first across pages (openings
//! on the keypad, records a lock without gateway uploads late, records without `recordId`),
//! the page guard, bad spans refused before anything is sent, and never a guest's digits in a
//! result or a log line.
mod common;

use std::rc::Rc;

use common::{
    fixture_client, lua_for, lua_lines, start_sim, strings_of, Lines, Sim, State, TempDir,
};
use mlua::{Table, Value};
use ttlock::host;
use ttlock::ops::site::{self, Record, RecordSpan};
use ttlock::transport::now_ms;
use ttlock::{Client, Code};
use ttlock_sim::{Lock, Passcode, Record as SimRecord, HOUR_MS};

const LOCK_LIST: &str = "/v3/lock/list";
const GATEWAY_LIST: &str = "/v3/gateway/list";
const RECORDS: &str = "/v3/lockRecord/list";

/// The guest's code on room 101, a staff code, a card number and the garage guest's code:
/// none of them may appear in a result or a log line.
const GUEST: &str = "4829173";
const STAFF: &str = "6041852";
const CARD: &str = "0012345678";
const GARAGE: &str = "5831274";
const DIGITS: &[&str] = &[GUEST, STAFF, CARD, GARAGE];

fn setup(label: &str) -> (Sim, TempDir, Client) {
    let sim = start_sim(State::fixture());
    sim.set_options(|o| o.gateway_hold_ms = 0);
    let dir = TempDir::new(label);
    let c = fixture_client(&sim, dir.path());
    (sim, dir, c)
}

fn no_digits(what: &str, texts: &[String]) {
    for t in texts {
        for d in DIGITS {
            assert!(!t.contains(d), "{what}: {d} in {t:?}");
        }
    }
}

#[test]
fn every_page_of_locks_and_gateways() {
    let (sim, _dir, c) = setup("site-listings");
    sim.with_state(|s| {
        s.locks.push(Lock {
            battery: 12,
            ..Lock::new(3001, "Garage", &[])
        });
        for i in 0..2100 {
            s.locks
                .push(Lock::new(100_000 + i, &format!("Flat {i}"), &[2]));
        }
        for g in 3..=450 {
            s.add_gateway(g, &format!("GW {g}"));
        }
        s.gateway_mut(2).unwrap().online = false;
    });
    sim.reset_counters();
    let lines = Rc::new(Lines::default());
    let (locks, gateways) = host::with_host(lines.clone(), || {
        (
            site::list_locks(&c).unwrap(),
            site::list_gateways(&c).unwrap(),
        )
    });
    let n = sim.counters();
    assert_eq!(n.requests_to(LOCK_LIST), 3, "2104 locks: 3 pages of 1000");
    assert_eq!(
        n.requests_to(GATEWAY_LIST),
        3,
        "450 gateways: 3 pages of 200"
    );
    // One debug line per request, nothing else (no listing was cut short).
    let lines = lines.0.borrow();
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert!(lines.iter().all(|l| l.contains("http=200")), "{lines:?}");

    assert_eq!(locks.len(), 2104);
    let mut ids: Vec<i64> = locks.iter().map(|l| l.lock_id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2104, "no lock twice");
    let room = locks.iter().find(|l| l.lock_id == 1001).unwrap();
    assert_eq!(
        (room.alias.as_deref(), room.battery, room.has_gateway),
        (Some("Room 101"), Some(87), Some(true))
    );
    assert!(room.name.as_deref().is_some_and(|n| n.starts_with("S31_")));
    let garage = locks.iter().find(|l| l.lock_id == 3001).unwrap();
    assert_eq!(
        (garage.battery, garage.has_gateway),
        (Some(12), Some(false))
    );

    assert_eq!(gateways.len(), 450);
    let g1 = gateways.iter().find(|g| g.gateway_id == 1).unwrap();
    let g2 = gateways.iter().find(|g| g.gateway_id == 2).unwrap();
    assert_eq!(
        (g1.name.as_deref(), g1.is_online, g1.lock_num),
        (Some("GW floor 1"), Some(true), Some(1))
    );
    assert_eq!((g2.is_online, g2.lock_num), (Some(false), Some(2102)));
}

/// Room 101 (lock 1001) with a guest's code, a staff code, openings by keypad, card and app,
/// and 400 more records at shuffled times; the garage (3001) without a gateway, whose opening
/// reaches the cloud late. Returns the first record's time.
fn history(sim: &Sim) -> i64 {
    let t0 = now_ms() - 10 * 24 * HOUR_MS;
    sim.with_state(|s| {
        s.locks.push(Lock::new(3001, "Garage", &[]));
        s.add_passcode(
            1001,
            Passcode::period(GUEST, "101_stay", t0, now_ms() + 24 * HOUR_MS),
        );
        s.add_passcode(1001, Passcode::permanent(STAFF, "Staff"));
        s.add_passcode(
            3001,
            Passcode::period(GARAGE, "G_guest", t0, now_ms() + 24 * HOUR_MS),
        );
        let l = s.lock_mut(1001).unwrap();
        for i in 0..400i64 {
            // Times out of order: 0, 7, 14, ... modulo 400 minutes.
            let at = t0 + ((i * 7) % 400) * 60_000;
            let (ty, who, digits) = match i % 4 {
                0 => (4, "101_stay", GUEST),
                1 => (7, "Card 12", CARD),
                2 => (1, "hotel@example.com", ""),
                // A code without a name: TTLock could show its digits as the name.
                _ => (4, STAFF, STAFF),
            };
            l.records.push(SimRecord {
                record_id: 500_000 + i,
                record_type: ty,
                record_type_from_lock: ty,
                success: 1,
                username: who.into(),
                keyboard_pwd: digits.into(),
                lock_date_ms: at,
                server_date_ms: at + 1000,
            });
        }
    });
    // Openings on the keypads: the room's is in the cloud at once, the garage's waits.
    for (lock, code, at) in [
        (1001, GUEST, now_ms() - 2 * HOUR_MS),
        (1001, STAFF, now_ms() - 3 * HOUR_MS),
        (3001, GARAGE, now_ms() - 5 * HOUR_MS),
        (1001, "0000000", now_ms() - HOUR_MS),
    ] {
        let a = sim.keypad(lock, code, Some(at));
        assert_eq!(a.opens, code != "0000000", "{lock} {code}: {a:?}");
    }
    t0
}

fn times(rs: &[Record]) -> Vec<i64> {
    rs.iter().map(|r| r.time_ms.unwrap()).collect()
}

fn assert_oldest_first(rs: &[Record]) {
    let t = times(rs);
    assert!(t.windows(2).all(|w| w[0] <= w[1]), "not oldest first");
}

#[test]
fn records_every_page_oldest_first_without_digits() {
    let (sim, _dir, c) = setup("site-records");
    let t0 = history(&sim);
    sim.reset_counters();
    let lines = Rc::new(Lines::default());
    let span = RecordSpan {
        lock_id: 1001,
        since_ms: t0,
        until_ms: None,
    };
    let rs = host::with_host(lines.clone(), || site::records(&c, &span).unwrap());
    assert_eq!(
        sim.counters().requests_to(RECORDS),
        3,
        "402 records: 3 pages"
    );
    assert_eq!(rs.len(), 402);
    assert_oldest_first(&rs);
    let mut ids: Vec<i64> = rs.iter().map(|r| r.record_id.unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 402, "every record once");

    let last = &rs[rs.len() - 1];
    assert_eq!(
        (
            last.lock_id,
            last.record_type,
            last.type_name,
            last.success,
            last.who.as_deref()
        ),
        (1001, Some(4), Some("keypad"), Some(true), Some("101_stay")),
        "the guest's opening 2 hours ago is the newest"
    );
    assert!(last.server_time_ms.unwrap() >= last.time_ms.unwrap());
    let kinds = |name: &str| rs.iter().filter(|r| r.type_name == Some(name)).count();
    assert_eq!(
        (kinds("keypad"), kinds("card"), kinds("app")),
        (202, 100, 100)
    );
    let card = rs.iter().find(|r| r.type_name == Some("card")).unwrap();
    assert_eq!(card.who.as_deref(), Some("Card 12"));
    let app = rs.iter().find(|r| r.type_name == Some("app")).unwrap();
    assert_eq!(app.who.as_deref(), Some("hotel@example.com"));
    // The staff code has a name in the cloud's list now, but 100 older records show its digits
    // as the name: those have no `who`.
    assert_eq!(rs[rs.len() - 2].who.as_deref(), Some("Staff"));
    assert_eq!(rs.iter().filter(|r| r.who.is_none()).count(), 100);

    let mut texts: Vec<String> = rs.iter().map(|r| format!("{r:?}")).collect();
    texts.extend(lines.0.borrow().iter().cloned());
    no_digits("records", &texts);

    // A span: both ends inclusive, by the lock's time.
    let span = RecordSpan {
        lock_id: 1001,
        since_ms: t0 + 10 * 60_000,
        until_ms: Some(t0 + 19 * 60_000),
    };
    let rs = site::records(&c, &span).unwrap();
    assert_eq!(
        times(&rs),
        (10..=19).map(|m| t0 + m * 60_000).collect::<Vec<_>>()
    );

    // The garage's opening is not in the cloud until the lock's records are uploaded (the
    // TTLock app next to it); then it is there, with its lock time five hours back.
    let garage = RecordSpan {
        lock_id: 3001,
        since_ms: t0,
        until_ms: None,
    };
    assert!(site::records(&c, &garage).unwrap().is_empty());
    assert_eq!(sim.upload_records(3001), 1);
    let rs = site::records(&c, &garage).unwrap();
    assert_eq!(rs.len(), 1);
    assert_eq!(
        (rs[0].type_name, rs[0].who.as_deref(), rs[0].lock_id),
        (Some("keypad"), Some("G_guest"), 3001)
    );
    assert!(rs[0].server_time_ms.unwrap() - rs[0].time_ms.unwrap() >= 5 * HOUR_MS - 60_000);
}

#[test]
fn records_without_record_id_as_real_answers_come() {
    let (sim, _dir, c) = setup("site-real-records");
    let t0 = history(&sim);
    sim.set_options(|o| o.real_shapes = true);
    sim.reset_counters();
    let span = RecordSpan {
        lock_id: 1001,
        since_ms: t0,
        until_ms: None,
    };
    let rs = site::records(&c, &span).unwrap();
    assert_eq!(sim.counters().requests_to(RECORDS), 3);
    assert_eq!(
        rs.len(),
        402,
        "records without recordId are all there, once"
    );
    assert!(rs.iter().all(|r| r.record_id.is_none()));
    assert_oldest_first(&rs);
    let mut t = times(&rs);
    t.dedup();
    assert_eq!(t.len(), 402);
    no_digits(
        "real records",
        &rs.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>(),
    );
}

#[test]
fn too_many_records_and_backward_spans_are_refused() {
    let (sim, _dir, c) = setup("site-limits");
    let t0 = now_ms() - 24 * HOUR_MS;
    sim.with_state(|s| {
        let l = s.lock_mut(1002).unwrap();
        for i in 0..10_001 {
            l.records.push(SimRecord {
                record_id: 700_000 + i,
                record_type: 7,
                record_type_from_lock: 7,
                success: 1,
                username: "Card 3".into(),
                keyboard_pwd: CARD.into(),
                lock_date_ms: t0 + i,
                server_date_ms: t0 + i,
            });
        }
    });
    sim.reset_counters();
    let span = |since_ms, until_ms| RecordSpan {
        lock_id: 1002,
        since_ms,
        until_ms,
    };
    let e = site::records(&c, &span(t0, None)).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        !e.is_misuse(),
        "the world's content, not the script's mistake"
    );
    assert!(e.message().contains("more than 10000 records"), "{e}");
    assert_eq!(
        e.advice(),
        "more than 10000 records in one call: ask for a shorter span"
    );
    assert_eq!(
        sim.counters().requests_to(RECORDS),
        1,
        "refused after one page"
    );

    sim.reset_counters();
    let rs = site::records(&c, &span(t0 + 10_000, Some(t0 + 10_000))).unwrap();
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].who.as_deref(), Some("Card 3"));

    sim.reset_counters();
    let e = site::records(&c, &span(t0 + 1, Some(t0))).unwrap_err();
    assert!(e.is_misuse() && e.code() == Code::InvalidArgument, "{e:?}");
    let e = site::records(&c, &span(-1, None)).unwrap_err();
    assert!(e.is_misuse(), "{e:?}");
    assert_eq!(sim.counters().total_requests(), 0, "nothing sent");
}

/// The Lua functions in an embedded Lua: result shapes, numbers as Lua numbers, misuse raised
/// with nothing sent, and no digits in any string of a result or in a debug log line.
#[test]
fn through_lua_with_debug_log() {
    let (sim, dir, _c) = setup("site-lua");
    let t0 = history(&sim);
    sim.with_state(|s| s.locks.push(Lock::new(3_000_000_001, "Annex", &[1])));
    sim.reset_counters();
    let lua = lua_for(&sim, dir.path(), "OPTS.log_level = 'debug'");
    lua.globals().set("T0", t0 as f64).unwrap();
    let res: Table = lua
        .load(
            r#"
            local locks = assert(ttlock.list_locks())
            local gateways = assert(ttlock.list_gateways{})
            local records = assert(ttlock.records{ lock_id = 1001, since_ms = T0 })
            return { locks = locks, gateways = gateways, records = records }
            "#,
        )
        .eval()
        .unwrap();
    let n = sim.counters();
    assert_eq!(
        (
            n.requests_to(LOCK_LIST),
            n.requests_to(GATEWAY_LIST),
            n.requests_to(RECORDS)
        ),
        (1, 1, 3)
    );
    let lua_types: bool = lua
        .load(
            r#"
            local function numbers(t, keys)
              for _, k in ipairs(keys) do
                if t[k] ~= nil and type(t[k]) ~= 'number' then return false end
              end
              return true
            end
            for _, l in ipairs(ttlock.list_locks()) do
              if not numbers(l, { 'lock_id', 'battery' }) or type(l.has_gateway) ~= 'boolean' then return false end
            end
            for _, g in ipairs(ttlock.list_gateways()) do
              if not numbers(g, { 'gateway_id', 'lock_count' }) or type(g.online) ~= 'boolean' then return false end
            end
            for _, r in ipairs(ttlock.records{ lock_id = 1001, since_ms = T0, until_ms = T0 + 3600000 }) do
              if not numbers(r, { 'record_id', 'lock_id', 'time_ms', 'server_time_ms', 'type', 'type_from_lock' })
                or type(r.success) ~= 'boolean' then return false end
            end
            return true
            "#,
        )
        .eval()
        .unwrap();
    assert!(lua_types);

    let locks: Table = res.get("locks").unwrap();
    assert_eq!(locks.raw_len(), 5);
    let garage: Table = locks
        .sequence_values::<Table>()
        .map(Result::unwrap)
        .find(|t| t.get::<f64>("lock_id").unwrap() == 3001.0)
        .unwrap();
    assert!(!garage.get::<bool>("has_gateway").unwrap());
    assert_eq!(garage.get::<String>("alias").unwrap(), "Garage");
    // Ids beyond 2^31 come out whole (numbers, never 32-bit integers).
    let big: f64 = lua
        .load("for _, l in ipairs(ttlock.list_locks()) do if l.lock_id > 2^31 then return l.lock_id end end")
        .eval()
        .unwrap();
    assert_eq!(big, 3_000_000_001.0);

    let gateways: Table = res.get("gateways").unwrap();
    assert_eq!(gateways.raw_len(), 2);
    let g: Table = gateways.get(1).unwrap();
    assert!(g.get::<bool>("online").unwrap());
    assert_eq!(
        g.get::<f64>("lock_count").unwrap(),
        2.0,
        "room 101 and the annex"
    );

    let records: Table = res.get("records").unwrap();
    assert_eq!(records.raw_len(), 402);
    let mut last = f64::MIN;
    for r in records.sequence_values::<Table>() {
        let r = r.unwrap();
        let t: f64 = r.get("time_ms").unwrap();
        assert!(t >= last);
        last = t;
        assert!(r.get::<f64>("record_id").unwrap() >= 1.0);
        assert!(r.get::<Value>("keyboard_pwd").unwrap().is_nil());
    }
    let newest: Table = records.get(402).unwrap();
    assert_eq!(newest.get::<String>("who").unwrap(), "101_stay");
    assert_eq!(newest.get::<String>("type_name").unwrap(), "keypad");
    assert_eq!(newest.get::<f64>("type").unwrap(), 4.0);
    assert!(newest.get::<bool>("success").unwrap());

    let mut texts = Vec::new();
    strings_of(&Value::Table(res), &mut texts, 0);
    let lines = lua_lines(&lua);
    assert!(
        lines.iter().filter(|l| l.contains(RECORDS)).count() == 4,
        "{lines:?}"
    );
    texts.extend(lines);
    no_digits("lua", &texts);

    // Misuse raises `ttlock: ...`, and nothing is sent.
    sim.reset_counters();
    for (call, want) in [
        (
            "ttlock.records{ lock_id = 1001, since_ms = T0 + 1, until_ms = T0 }",
            "ttlock: records: since_ms (",
        ),
        (
            "ttlock.records{ lock_id = 1001 }",
            "ttlock: records: since_ms is required",
        ),
        (
            "ttlock.records{ since_ms = T0 }",
            "ttlock: records: lock_id is required",
        ),
        (
            "ttlock.records{ lock_id = 1001, since_ms = -5 }",
            "ttlock: records: since_ms must be a whole number",
        ),
        (
            "ttlock.records{ lock_id = 1001, since_ms = T0, pages = 2 }",
            "ttlock: records: unknown option 'pages'",
        ),
        (
            "ttlock.list_locks{ all = true }",
            "ttlock: list_locks: unknown option 'all'",
        ),
        (
            "ttlock.list_gateways(5)",
            "ttlock: list_gateways expects a table",
        ),
    ] {
        let msg: String = lua
            .load(format!(
                "local ok, e = pcall(function() return {call} end); assert(not ok); return e"
            ))
            .eval()
            .unwrap();
        assert!(msg.starts_with(want), "{call}: {msg}");
    }
    assert_eq!(sim.counters().total_requests(), 0, "nothing sent");
}
