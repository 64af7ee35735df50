//! What a guest's stay costs in TTLock API calls (the account's budget is about 5,000 a month),
//! counted exactly from the simulator's request counters, per operation of the LM scripts:
//! check-in on the room door and the main door, a fresh code (trigger `false`), extend, a new
//! code during the stay, check-out (+7, with the fresh code for the next guest), and the daily
//! purge over a simulated week of a 40-room hotel. Every figure is asserted, so a change that
//! adds a call fails here; the figures are printed for docs/lua-api.md ("What a stay costs"):
//!
//! ```sh
//! cargo test --no-default-features --features ttlock/vendored --test stay_cost \
//!     -- --nocapture --test-threads 1
//! ```
//!
//! "Before" is the behaviour this branch started from (59ca78f; the same figures came out of
//! this test run on that commit), still reachable through the defaults: `generate_passcode`
//! with `lock_ids` (a listing per door) and `purge_expired` with `every_days = 1`.
mod common;

use std::collections::BTreeMap;

use common::{fixture_client, start_sim, Sim, State, TempDir};
use ttlock::ops::passcodes;
use ttlock::ops::purge::{self, PurgeRequest};
use ttlock::ops::stay::{
    self, CheckIn, CheckOut, Door, FileStayStore, Outcome, Remembered, RoomRecord, Stay,
    StayReport, StayStore,
};
use ttlock::{Client, Code};
use ttlock_sim::{Passcode, DAY_MS, HOUR_MS};

const ADD: &str = "keyboardPwd/add";
const CHANGE: &str = "keyboardPwd/change";
const DELETE: &str = "keyboardPwd/delete";
const LIST: &str = "lock/listKeyboardPwd";
const BY_LOCK: &str = "gateway/listByLock";

/// The `/v3` calls since the last call (by endpoint, without `/v3/`), and the counters reset.
fn take(sim: &Sim) -> BTreeMap<String, u64> {
    let n = sim.counters();
    sim.reset_counters();
    n.requests
        .into_iter()
        .filter_map(|(p, n)| p.strip_prefix("/v3/").map(|p| (p.to_owned(), n)))
        .collect()
}

fn calls(list: &[(&str, u64)]) -> BTreeMap<String, u64> {
    list.iter()
        .filter(|(_, n)| *n > 0)
        .map(|(p, n)| ((*p).to_owned(), *n))
        .collect()
}

fn total(m: &BTreeMap<String, u64>) -> u64 {
    m.values().sum()
}

fn now_ms() -> i64 {
    ttlock::transport::now_ms()
}

/// Times as the stay operations show them: hours from now, never five digits.
fn shown(ms: i64) -> String {
    format!("h{:+}", (ms - now_ms()) / HOUR_MS)
}

fn doors() -> Vec<Door> {
    vec![Door::new(1001, "Room 101"), Door::new(2001, "Main door")]
}

fn stay_of(code: &str, from: i64, to: i64) -> Stay {
    Stay {
        passcode: code.into(),
        name: "101_stay".into(),
        valid_from_ms: from,
        valid_to_ms: to,
        asked: None,
        arrived_ms: None,
    }
}

fn check_in(c: &Client, store: &FileStayStore, s: Stay) -> StayReport {
    let req = CheckIn {
        room: "101".into(),
        doors: doors(),
        stay: s,
        best_effort: false,
    };
    stay::check_in(c, store, &req, &shown)
}

fn check_out(c: &Client, store: &FileStayStore) -> StayReport {
    let req = CheckOut {
        room: "101".into(),
        doors: doors(),
        remembered: Remembered::default(),
    };
    stay::check_out(c, store, &req, &shown)
}

fn setup(label: &str) -> (Sim, TempDir, Client, FileStayStore) {
    let sim = start_sim(State::fixture());
    sim.set_options(|o| o.gateway_hold_ms = 0);
    let dir = TempDir::new(label);
    let c = fixture_client(&sim, dir.path());
    let store = FileStayStore::new(dir.path());
    (sim, dir, c, store)
}

/// One row of the printed table.
struct Row {
    what: &'static str,
    before: BTreeMap<String, u64>,
    after: BTreeMap<String, u64>,
}

fn print_rows(title: &str, rows: &[Row]) {
    let fmt = |m: &BTreeMap<String, u64>| {
        let parts: Vec<String> = m
            .iter()
            .map(|(p, n)| format!("{n} {}", p.rsplit('/').next().unwrap_or(p)))
            .collect();
        format!(
            "{} ({})",
            total(m),
            if parts.is_empty() {
                "none".to_owned()
            } else {
                parts.join(" + ")
            }
        )
    };
    println!("\n{title}");
    for r in rows {
        println!("| {} | {} | {} |", r.what, fmt(&r.before), fmt(&r.after));
    }
}

#[test]
fn every_operation_of_a_stay_costs_what_it_must() {
    let (sim, _dir, c, store) = setup("cost-ops");
    let now = now_ms();
    let (from, to) = (now + HOUR_MS, now + 3 * DAY_MS);
    let mut rows = Vec::new();

    // A site's very first call on a door learns its gateway (kept in state_dir): once per lock.
    let r = check_in(&c, &store, stay_of("48213", from, to));
    assert_eq!(r.outcome, Outcome::Done, "{}", r.status);
    assert_eq!(take(&sim), calls(&[(ADD, 2), (BY_LOCK, 2)]));
    let r = check_out(&c, &store);
    assert_eq!(r.outcome, Outcome::Done, "{}", r.status);
    take(&sim);

    // Trigger false: a fresh code for the next guest.
    let before = {
        let code = passcodes::generate_passcode(&c, 5, &[1001, 2001]).unwrap();
        assert_eq!(code.len(), 5);
        take(&sim)
    };
    assert_eq!(before, calls(&[(LIST, 2)]), "a listing per door");
    let code = stay::fresh_code(&c, &store, 5, &[]).unwrap();
    let after = take(&sim);
    assert_eq!(after, calls(&[]), "the memory answers");
    rows.push(Row {
        what: "new code (trigger false)",
        before,
        after,
    });

    // Check-in: one add per door.
    let r = check_in(&c, &store, stay_of(&code, from, to));
    assert_eq!(r.outcome, Outcome::Done, "{}", r.status);
    let n = take(&sim);
    assert_eq!(n, calls(&[(ADD, 2)]));
    rows.push(Row {
        what: "check-in (room door + main door)",
        before: n.clone(),
        after: n,
    });

    // Extend: one change per door.
    let r = check_in(&c, &store, stay_of(&code, from, to + DAY_MS));
    assert_eq!(r.outcome, Outcome::Done, "{}", r.status);
    let n = take(&sim);
    assert_eq!(n, calls(&[(CHANGE, 2)]));
    rows.push(Row {
        what: "extend",
        before: n.clone(),
        after: n,
    });

    // A lost code during the stay: trigger false (a fresh code, none of the memory's), then on.
    let code2 = stay::fresh_code(&c, &store, 5, &[]).unwrap();
    assert_ne!(code2, code);
    assert_eq!(take(&sim), calls(&[]));
    let r = check_in(&c, &store, stay_of(&code2, from, to + DAY_MS));
    assert_eq!(r.outcome, Outcome::Done, "{}", r.status);
    let n = take(&sim);
    assert_eq!(n, calls(&[(ADD, 2), (DELETE, 2)]));
    rows.push(Row {
        what: "new code during the stay (trigger on again)",
        before: n.clone(),
        after: n,
    });

    // Check-out (+7): one delete per door, then the fresh code for the next guest.
    let r = check_out(&c, &store);
    assert_eq!(r.outcome, Outcome::Done, "{}", r.status);
    let removed = take(&sim);
    assert_eq!(removed, calls(&[(DELETE, 2)]));
    passcodes::generate_passcode(&c, 5, &[1001, 2001]).unwrap();
    let mut before = removed.clone();
    for (p, n) in take(&sim) {
        *before.entry(p).or_default() += n;
    }
    assert_eq!(before, calls(&[(DELETE, 2), (LIST, 2)]));
    stay::fresh_code(&c, &store, 5, &[]).unwrap();
    assert_eq!(take(&sim), calls(&[]));
    rows.push(Row {
        what: "check-out (+7) with the next guest's code",
        before,
        after: removed,
    });
    assert!(sim.state().passcodes(1001).is_empty() && sim.state().passcodes(2001).is_empty());

    print_rows(
        "| operation | calls before | calls after |\n| --- | --- | --- |",
        &rows,
    );
}

#[test]
fn a_code_made_elsewhere_is_met_by_the_add_and_every_door_stays_as_it_was() {
    let (sim, dir, c, store) = setup("cost-taken");
    let now = now_ms();
    // Staff put 48213 on the main door with the TTLock app: the stay memory does not know it.
    let staff = sim.with_state(|s| {
        s.add_passcode(
            2001,
            Passcode::period("48213", "Cleaner", now - DAY_MS, now + 30 * DAY_MS),
        )
    });
    // Learn the gateways first, so the figures below are the collision's own.
    let r = check_in(
        &c,
        &store,
        stay_of("59371", now + HOUR_MS, now + 2 * DAY_MS),
    );
    assert_eq!(r.outcome, Outcome::Done, "{}", r.status);
    check_out(&c, &store);
    take(&sim);
    let before = sim.state().to_json();

    let r = check_in(
        &c,
        &store,
        stay_of("48213", now + HOUR_MS, now + 3 * DAY_MS),
    );
    assert_eq!(r.outcome, Outcome::RolledBack, "{}", r.status);
    // Every door as it was: the room door's copy removed again, the staff code untouched.
    assert_eq!(sim.state().to_json(), before);
    assert!(sim
        .state()
        .lock(2001)
        .unwrap()
        .passcode(staff)
        .is_some_and(|p| p.keyboard_pwd == "48213"));
    // Two adds (one refused), the look-up of the refused code on the main door, the undo.
    assert_eq!(take(&sim), calls(&[(ADD, 2), (LIST, 1), (DELETE, 1)]));
    let e = r.error.as_ref().unwrap();
    assert_eq!(e.code(), Code::PasscodeExists);
    assert_eq!(
        e.advice(),
        "the code is already used on Main door by another code: switch the trigger off for a new code, then on again"
    );
    assert_eq!(
        r.status,
        "Check-in failed, no door has the code: Room 101: code removed again (rolled back); \
         Main door: the code is already used on this door by another code: switch the trigger \
         off for a new code, then on again"
    );
    assert!(r.status.len() <= 250, "fits the +9 object");
    assert!(r.alert.is_none(), "every door is as it was: no alert");
    for text in [&r.log_line, &e.message().to_owned(), &e.advice().to_owned()] {
        assert!(!text.contains("48213"), "digits in {text:?}");
    }
    // The room keeps no stay and no code; the memory's next fresh code avoids nothing it lacks.
    assert!(stay::codes_in_memory(&c, &store).unwrap().is_empty());
    assert!(store.load("101").unwrap().is_none());
    drop(dir);
}

// ------------------------------------------------------------------------------------------------
// A 40-room hotel at 80 % occupancy with 3-night stays (320 stays a month), day by day: the
// daily purge at 03:00, the day's check-ins at 13:00 (guests arrive at 14:00 and leave at 11:00
// three days later; no early check-out). Each room repeats 15 days: four stays back to back,
// then three empty nights, the rooms spread over the cycle. The clock cannot move, so a day
// passes by moving every time the site holds (the simulator's codes, the ledger, the stay
// memory) a day back. The gateway map, learned on the first day, is not moved (TTLock's
// 30-day renewal of it, about a dozen calls a month for this site, is left out).

const ROOMS: i64 = 40;
const CYCLE: i64 = 15;
const STARTS: [i64; 4] = [0, 3, 6, 9];
const WARM_UP_DAYS: i64 = 21;
const MEASURED_DAYS: i64 = 7;
const MAIN: i64 = 2001;

fn hotel() -> State {
    let mut s = State::fixture();
    s.locks.clear();
    s.gateways.clear();
    s.options.gateway_hold_ms = 0;
    for g in 1..=11 {
        s.add_gateway(g, &format!("GW {g}"));
    }
    for r in 0..ROOMS {
        s.locks.push(ttlock_sim::Lock::new(
            1001 + r,
            &format!("Room {}", 101 + r),
            &[1 + r / 4],
        ));
    }
    s.locks
        .push(ttlock_sim::Lock::new(MAIN, "Main door", &[11]));
    // Staff codes: permanent, never purged, but in the main door's memory.
    s.add_passcodes(MAIN, 10, |_| (2, 0, 0));
    s
}

/// Every time the site holds, `ms` back: as if `ms` passed.
fn advance(sim: &Sim, dir: &TempDir, ms: i64) {
    sim.with_state(|s| {
        for l in &mut s.locks {
            for p in &mut l.passcodes {
                if p.start_ms != 0 || p.end_ms != 0 {
                    p.start_ms -= ms;
                    p.end_ms -= ms;
                }
                p.create_ms -= ms;
            }
        }
    });
    ttlock::ops::ledger::Ledger::new(dir.path())
        .update(|d| {
            for e in &mut d.codes {
                if e.end_ms != 0 {
                    e.end_ms -= ms;
                }
                e.added_ms -= ms;
            }
            for t in d.sweeps.values_mut().chain(d.purges.values_mut()) {
                *t -= ms;
            }
        })
        .unwrap();
    // The stay memory in one read and one write (the store writes the file once per room).
    let path = dir.path().join(stay::STAYS_FILE);
    let Ok(bytes) = std::fs::read(&path) else {
        return;
    };
    let mut all: BTreeMap<String, RoomRecord> = serde_json::from_slice(&bytes).unwrap();
    for r in all.values_mut() {
        if let Some(s) = &mut r.stay {
            s.valid_from_ms -= ms;
            s.valid_to_ms -= ms;
        }
        for h in &mut r.holds {
            h.valid_from_ms -= ms;
            h.valid_to_ms -= ms;
        }
        for p in &mut r.pending {
            p.since_ms -= ms;
            p.next_ms -= ms;
        }
        r.updated_ms -= ms;
    }
    std::fs::write(&path, serde_json::to_vec(&all).unwrap()).unwrap();
}

/// What the measured days cost.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Week {
    stays: u64,
    check_in_calls: u64,
    listings: u64,
    deletes: u64,
    other_purge_calls: u64,
    /// Per measured day: the purge's calls.
    purge_per_day: Vec<u64>,
    /// The most codes the main door held at a purge.
    main_door_peak: usize,
    /// Expired codes left on the locks at the end.
    expired_left: usize,
}

impl Week {
    fn purge_calls(&self) -> u64 {
        self.listings + self.deletes + self.other_purge_calls
    }
}

fn simulate(every_days: f64) -> Week {
    let sim = start_sim(hotel());
    let dir = TempDir::new("cost-week");
    let c = fixture_client(&sim, dir.path());
    let store = FileStayStore::new(dir.path());
    let locks: Vec<i64> = (0..ROOMS).map(|r| 1001 + r).chain([MAIN]).collect();
    let mut week = Week::default();
    let mut n = 0u32;
    for day in 0..WARM_UP_DAYS + MEASURED_DAYS {
        let measured = day >= WARM_UP_DAYS;
        // 03:00: the daily purge (purge_daily: the live stays' codes are kept).
        sim.reset_counters();
        week.main_door_peak = week.main_door_peak.max(sim.state().passcodes(MAIN).len());
        let mut req = PurgeRequest::new(locks.clone());
        req.keep = stay::live_codes(&c, &store).unwrap();
        req.every_ms = (every_days * DAY_MS as f64) as i64;
        let r = purge::purge_expired(&c, &req).unwrap();
        assert!(r.failed.is_empty(), "{:?}", r.failed);
        let calls = take(&sim);
        if measured {
            week.listings += calls.get(LIST).copied().unwrap_or(0);
            week.deletes += calls.get(DELETE).copied().unwrap_or(0);
            week.other_purge_calls += total(&calls)
                - calls.get(LIST).copied().unwrap_or(0)
                - calls.get(DELETE).copied().unwrap_or(0);
            week.purge_per_day.push(total(&calls));
        }
        // 13:00: the day's arrivals check in (14:00 to 11:00 three days later).
        advance(&sim, &dir, 10 * HOUR_MS);
        let now = now_ms();
        for r in 0..ROOMS {
            let offset = r * CYCLE / ROOMS;
            if !STARTS.contains(&((day + offset) % CYCLE)) {
                continue;
            }
            n += 1;
            // Distinct codes: a deterministic run (a random code could meet an expired one).
            let code = format!("{}", 20_000 + n * 37);
            let req = CheckIn {
                room: format!("{}", 101 + r),
                doors: vec![
                    Door::new(1001 + r, format!("Room {}", 101 + r)),
                    Door::new(MAIN, "Main door"),
                ],
                stay: Stay {
                    passcode: code,
                    name: format!("{}_stay{n}", 101 + r),
                    valid_from_ms: now + HOUR_MS,
                    valid_to_ms: now + 3 * DAY_MS - 2 * HOUR_MS,
                    asked: None,
                    arrived_ms: None,
                },
                best_effort: false,
            };
            let rep = stay::check_in(&c, &store, &req, &shown);
            assert_eq!(rep.outcome, Outcome::Done, "{}", rep.status);
            if measured {
                week.stays += 1;
            }
        }
        let calls = take(&sim);
        if measured {
            week.check_in_calls += total(&calls);
        }
        advance(&sim, &dir, 14 * HOUR_MS);
    }
    let now = now_ms();
    week.expired_left = sim
        .state()
        .locks
        .iter()
        .flat_map(|l| l.passcodes.iter())
        .filter(|p| p.end_ms != 0 && p.end_ms < now)
        .count();
    week
}

#[test]
fn a_week_of_a_40_room_hotel_costs_what_it_must() {
    let week = |listings, deletes, purge_per_day: [u64; 7], main_door_peak, expired_left| Week {
        stays: 76,
        check_in_calls: 152,
        listings,
        deletes,
        other_purge_calls: 0,
        purge_per_day: purge_per_day.to_vec(),
        main_door_peak,
        expired_left,
    };
    let want = [
        // Before: every lock with an expired code is listed every day.
        (1.0, week(79, 144, [25, 37, 37, 25, 37, 37, 25], 66, 48)),
        (3.0, week(74, 136, [16, 24, 57, 16, 24, 57, 16], 82, 56)),
        // Once a week, with the weekly sweep: every lock listed once, the same deletions.
        (7.0, week(41, 144, [185, 0, 0, 0, 0, 0, 0], 126, 176)),
    ];
    let mut rows = Vec::new();
    for (every_days, want) in want {
        let w = simulate(every_days);
        println!("every_days = {every_days}: {w:?}");
        assert_eq!(w, want, "every_days = {every_days}");
        rows.push((every_days, w));
    }
    println!(
        "\n| purge `every_days` | stays | check-in calls | purge listings | purge deletes | purge calls | per removed code | per stay (check-in + purge) | main door peak | a month (320 stays) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (d, w) in &rows {
        let per_stay = (w.check_in_calls + w.purge_calls()) as f64 / w.stays as f64;
        println!(
            "| {d} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {} | {:.0} |",
            w.stays,
            w.check_in_calls,
            w.listings,
            w.deletes,
            w.purge_calls(),
            w.purge_calls() as f64 / w.deletes as f64,
            per_stay,
            w.main_door_peak,
            per_stay * 320.0
        );
    }
    // The LM flow per stay: a fresh code (trigger false or the +7 before), the check-in, the
    // purge's share. Before: the fresh code lists both doors, the purge lists daily.
    let share = |w: &Week| (w.check_in_calls + w.purge_calls()) as f64 / w.stays as f64;
    let before = 2.0 + share(&rows[0].1);
    let after = share(&rows[2].1);
    println!(
        "\nper stay with a fresh code: before {before:.2} calls ({:.0} a month), after (every_days = 7) {after:.2} ({:.0} a month)",
        before * 320.0,
        after * 320.0
    );
}
