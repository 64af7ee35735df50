//! Passcode operations against the simulator, through the Rust API: add to a room lock and its
//! common doors (gateways in parallel, shared gateway in turn, gateway map kept), lost answers,
//! 5xx and -3007 never leaving a second copy, rollback (and a failed rollback), bad input that
//! sends nothing, change, delete, list (450 codes), generate, and the ledger.
mod common;

use std::time::Instant;

use common::{fixture_client, start_sim, Sim, State, TempDir};
use ttlock::api::Validity;
use ttlock::ops::ledger::{Ledger, Origin};
use ttlock::ops::passcodes::{self, AddRequest, ChangeRequest};
use ttlock::{Client, Code};
use ttlock_sim::{Fault, FaultKind, Passcode, DAY_MS, HOUR_MS};

const ADD: &str = "/v3/keyboardPwd/add";
const DELETE: &str = "/v3/keyboardPwd/delete";
const CHANGE: &str = "/v3/keyboardPwd/change";
const LIST: &str = "/v3/lock/listKeyboardPwd";
const BY_LOCK: &str = "/v3/gateway/listByLock";

/// Fixture simulator (1001 on gateway 1; 1002 and 2001 on gateway 2) with `hold_ms`.
fn setup(label: &str, hold_ms: u64) -> (Sim, TempDir, Client) {
    let sim = start_sim(State::fixture());
    sim.set_options(|o| o.gateway_hold_ms = hold_ms);
    let dir = TempDir::new(label);
    let c = fixture_client(&sim, dir.path());
    (sim, dir, c)
}

fn window() -> (i64, i64) {
    let now = ttlock::transport::now_ms();
    (now + HOUR_MS, now + 3 * DAY_MS)
}

fn add_req(lock_id: i64, also: &[i64], code: &str) -> AddRequest {
    let (s, e) = window();
    AddRequest {
        lock_id,
        also_lock_ids: also.to_vec(),
        passcode: code.into(),
        name: Some("101_01120512".into()),
        validity: Validity::Period {
            start_ms: s,
            end_ms: e,
        },
        atomic: true,
    }
}

fn copies(sim: &Sim, lock_id: i64, code: &str) -> usize {
    sim.state()
        .passcodes(lock_id)
        .iter()
        .filter(|p| p.keyboard_pwd == code)
        .count()
}

#[test]
fn add_to_room_and_main_door_through_the_gateway() {
    let (sim, dir, c) = setup("ops-add", 0);
    let req = add_req(1001, &[2001, 1001], "04821");
    let out = passcodes::add_passcode(&c, &req).unwrap();
    assert_eq!(out.passcode, "04821");
    let ids: Vec<i64> = out.locks.iter().map(|l| l.lock_id).collect();
    assert_eq!(ids, vec![1001, 2001], "room first, each lock once");
    let st = sim.state();
    for l in &out.locks {
        assert!(l.ok() && !l.existing);
        let p = st
            .lock(l.lock_id)
            .unwrap()
            .passcode_by_code("04821")
            .expect("leading zero kept");
        assert_eq!(Some(p.keyboard_pwd_id), l.passcode_id);
        assert_eq!(p.name, "101_01120512");
        assert_eq!((p.start_ms, p.end_ms, p.r#type), {
            let Validity::Period { start_ms, end_ms } = req.validity else {
                unreachable!()
            };
            (start_ms, end_ms, 3)
        });
    }
    // Written through the gateways: both were held once.
    let n = sim.counters();
    assert_eq!(n.max_in_flight_per_gateway.get(&1), Some(&1), "{n:?}");
    assert_eq!(n.max_in_flight_per_gateway.get(&2), Some(&1), "{n:?}");
    assert_eq!(n.requests_to(BY_LOCK), 2, "gateways learned once per lock");

    // The ledger knows both codes; the gateway map is kept: no listByLock the second time.
    let ledger = Ledger::new(dir.path()).load();
    assert_eq!(ledger.codes.len(), 2);
    assert!(ledger.codes.iter().all(|e| e.origin == Origin::Module));
    sim.reset_counters();
    passcodes::add_passcode(&c, &add_req(1001, &[2001], "59324")).unwrap();
    assert_eq!(sim.counters().requests_to(BY_LOCK), 0);
    assert_eq!(Ledger::new(dir.path()).load().codes.len(), 4);
}

#[test]
fn doors_on_two_gateways_are_written_at_the_same_time() {
    let hold = 600;
    let (sim, _dir, c) = setup("ops-parallel", hold);
    // Learn the gateways first so the timing below is only the adds.
    passcodes::add_passcode(&c, &add_req(1001, &[], "71358")).unwrap();
    passcodes::add_passcode(&c, &add_req(1002, &[], "71358")).unwrap();
    sim.reset_counters();

    let t = Instant::now();
    passcodes::add_passcode(&c, &add_req(1001, &[2001], "48213")).unwrap();
    let two_gateways = t.elapsed();
    let n = sim.counters();
    assert!(
        n.max_in_flight_per_gateway.values().all(|&m| m <= 1),
        "{n:?}"
    );
    assert_eq!(n.gateway_busy_sent, 0);

    // 1002 and 2001 share gateway 2: one after the other, never -3003.
    let t = Instant::now();
    passcodes::add_passcode(&c, &add_req(1002, &[2001], "59324")).unwrap();
    let one_gateway = t.elapsed();
    let n = sim.counters();
    assert!(
        n.max_in_flight_per_gateway.values().all(|&m| m <= 1),
        "{n:?}"
    );
    assert_eq!(n.gateway_busy_sent, 0, "{n:?}");
    println!(
        "gateway hold {hold} ms: two doors on two gateways {} ms, two doors on one gateway {} ms",
        two_gateways.as_millis(),
        one_gateway.as_millis()
    );
}

#[test]
fn a_lost_answer_leaves_one_copy() {
    let (sim, _dir, c) = setup("ops-lost", 0);
    sim.inject(Fault::new(ADD, FaultKind::LoseAnswer, 1));
    let out = passcodes::add_passcode(&c, &add_req(1001, &[], "48213")).unwrap();
    let l = &out.locks[0];
    assert!(l.ok() && l.existing, "{l:?}");
    assert_eq!(copies(&sim, 1001, "48213"), 1);
    assert_eq!(
        l.passcode_id,
        Some(
            sim.state()
                .lock(1001)
                .unwrap()
                .passcode_by_code("48213")
                .unwrap()
                .keyboard_pwd_id
        )
    );
    let n = sim.counters();
    assert_eq!(n.requests_to(ADD), 1, "not repeated blind");
    assert_eq!(n.requests_to(LIST), 1, "looked up once");
}

#[test]
fn a_5xx_after_the_add_or_before_it_leaves_one_copy() {
    let (sim, _dir, c) = setup("ops-5xx", 0);
    // Carried out, then 503: found by the look-up.
    sim.inject(Fault::http_status(ADD, 503, 1).performed());
    let out = passcodes::add_passcode(&c, &add_req(1001, &[], "48213")).unwrap();
    assert!(out.locks[0].existing);
    assert_eq!(copies(&sim, 1001, "48213"), 1);
    assert_eq!(sim.counters().requests_to(ADD), 1);
    // Not carried out: the look-up finds nothing, the add is sent again.
    sim.reset_counters();
    sim.inject(Fault::http_status(ADD, 502, 1));
    let out = passcodes::add_passcode(&c, &add_req(1001, &[], "59324")).unwrap();
    assert!(out.locks[0].ok() && !out.locks[0].existing);
    assert_eq!(copies(&sim, 1001, "59324"), 1);
    assert_eq!(sim.counters().requests_to(ADD), 2);
    // Never carried out: bounded.
    sim.reset_counters();
    sim.inject(Fault::http_status(ADD, 503, -1));
    let e = passcodes::add_passcode(&c, &add_req(1001, &[], "61728")).unwrap_err();
    assert_eq!(e.error.code(), Code::HttpStatus);
    assert_eq!(
        sim.counters().requests_to(ADD),
        u64::from(passcodes::MAX_ADD_ATTEMPTS)
    );
    assert_eq!(copies(&sim, 1001, "61728"), 0);
    assert!(e.error.message().contains("lock 1001"), "{}", e.error);
}

#[test]
fn exists_answers_are_resolved_by_looking_up() {
    let (sim, _dir, c) = setup("ops-3007", 0);
    // An injected -3007 (nothing there): looked up, absent, added.
    sim.inject(Fault::errcode(ADD, -3007, 1));
    let out = passcodes::add_passcode(&c, &add_req(1001, &[], "48213")).unwrap();
    assert!(out.locks[0].ok());
    assert_eq!(copies(&sim, 1001, "48213"), 1);

    // The same request again (a retry of a whole script run): success, the existing copy.
    let req = add_req(1001, &[], "48213");
    let again = passcodes::add_passcode(&c, &req).unwrap();
    assert!(again.locks[0].existing);
    assert_eq!(again.locks[0].passcode_id, out.locks[0].passcode_id);
    assert_eq!(copies(&sim, 1001, "48213"), 1);

    // The same code with another window: passcode_exists, no second copy, message names no code.
    let mut other = add_req(1001, &[], "48213");
    other.validity = Validity::Period {
        start_ms: ttlock::transport::now_ms() + 5 * DAY_MS,
        end_ms: ttlock::transport::now_ms() + 6 * DAY_MS,
    };
    let e = passcodes::add_passcode(&c, &other).unwrap_err();
    assert_eq!(e.error.code(), Code::PasscodeExists);
    assert_eq!(e.error.errcode(), Some(-3007));
    assert!(!e.error.message().contains("48213"), "{}", e.error);
    assert!(
        e.error.message().contains("another validity"),
        "{}",
        e.error
    );
    assert_eq!(copies(&sim, 1001, "48213"), 1);
}

#[test]
fn a_common_door_whose_gateway_is_offline_rolls_the_room_back() {
    let (sim, dir, c) = setup("ops-rollback", 0);
    sim.with_state(|s| s.gateway_mut(2).unwrap().online = false);
    let e = passcodes::add_passcode(&c, &add_req(1001, &[2001], "48213")).unwrap_err();
    assert_eq!(e.error.code(), Code::GatewayOffline);
    assert_eq!(e.error.errcode(), Some(-3002));
    assert!(e.rolled_back);
    assert_eq!(e.locks.len(), 2, "the status lists both locks");
    let (room, main) = (&e.locks[0], &e.locks[1]);
    assert_eq!((room.lock_id, main.lock_id), (1001, 2001));
    assert!(room.ok() && room.passcode_id.is_some() && room.rolled_back == Some(true));
    assert!(!main.ok());
    assert_eq!(
        main.error.as_ref().unwrap().code(),
        Code::GatewayOffline,
        "{main:?}"
    );
    assert!(
        e.error.message().contains("removed again from lock 1001"),
        "{}",
        e.error
    );
    assert_eq!(copies(&sim, 1001, "48213") + copies(&sim, 2001, "48213"), 0);
    assert_eq!(sim.counters().requests_to(DELETE), 1);
    // Nothing left in the ledger; the stale gateway entry of 2001 was dropped.
    assert!(Ledger::new(dir.path()).load().codes.is_empty());
    let map = std::fs::read_to_string(dir.path().join("gateways.json")).unwrap();
    assert!(
        map.contains("\"1001\"") && !map.contains("\"2001\""),
        "{map}"
    );
}

#[test]
fn a_failed_rollback_is_reported_lock_by_lock() {
    let (sim, dir, c) = setup("ops-rollback-fail", 0);
    sim.with_state(|s| s.gateway_mut(2).unwrap().online = false);
    sim.inject(Fault::errcode(DELETE, -3037, -1));
    let e = passcodes::add_passcode(&c, &add_req(1001, &[2001], "48213")).unwrap_err();
    assert!(!e.rolled_back);
    let room = &e.locks[0];
    assert!(room.ok() && room.rolled_back == Some(false));
    let rb = room.rollback_error.as_ref().expect("rollback error");
    assert_eq!(rb.code(), Code::GatewayBusy);
    assert!(rb.message().contains("lock 1001"), "{rb}");
    assert!(
        e.error
            .message()
            .contains("removing it failed on lock 1001"),
        "{}",
        e.error
    );
    assert_eq!(copies(&sim, 1001, "48213"), 1, "the copy is still there");
    // The ledger remembers the leftover copy, so a purge can remove it later.
    let l = Ledger::new(dir.path()).load();
    assert_eq!(l.codes.len(), 1);
    assert_eq!(l.codes[0].passcode_id, room.passcode_id.unwrap());
}

#[test]
fn non_atomic_keeps_the_doors_that_got_the_code() {
    let (sim, _dir, c) = setup("ops-nonatomic", 0);
    sim.with_state(|s| s.gateway_mut(2).unwrap().online = false);
    let mut req = add_req(1001, &[2001], "48213");
    req.atomic = false;
    let e = passcodes::add_passcode(&c, &req).unwrap_err();
    assert!(!e.rolled_back);
    assert!(e.locks[0].ok() && e.locks[0].rolled_back.is_none());
    assert_eq!(copies(&sim, 1001, "48213"), 1);
    assert_eq!(sim.counters().requests_to(DELETE), 0);
    assert!(e.error.message().contains("atomic = false"), "{}", e.error);
}

#[test]
fn bad_input_sends_nothing() {
    let (sim, dir, c) = setup("ops-bad", 0);
    let before = sim.state().to_json();
    let now = ttlock::transport::now_ms();
    let period = |s, e| Validity::Period {
        start_ms: s,
        end_ms: e,
    };
    let cases: Vec<(&str, Validity)> = vec![
        ("123", period(now, now + DAY_MS)),
        ("1234567890", period(now, now + DAY_MS)),
        ("12a45", period(now, now + DAY_MS)),
        ("48213", period(now + DAY_MS, now + DAY_MS)),
        ("48213", period(now + DAY_MS, now)),
        ("48213", period(now - 2 * DAY_MS, now - DAY_MS)),
    ];
    for (code, v) in cases {
        let mut r = add_req(1001, &[2001], code);
        r.validity = v;
        let e = passcodes::add_passcode(&c, &r).unwrap_err();
        assert_eq!(e.error.code(), Code::InvalidArgument, "{code} {v:?}");
        assert!(e.locks.is_empty());
    }
    let bad_change = ChangeRequest {
        lock_id: 1001,
        passcode_id: 1,
        passcode: Some("12".into()),
        ..Default::default()
    };
    assert_eq!(
        passcodes::change_passcode(&c, &bad_change)
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    assert_eq!(sim.counters().total_requests(), 0, "no request at all");
    assert_eq!(sim.state().to_json(), before, "simulator state unchanged");
    assert!(!dir.path().join("ledger.json").exists());
}

#[test]
fn change_and_delete() {
    let (sim, dir, c) = setup("ops-change", 0);
    let out = passcodes::add_passcode(&c, &add_req(1001, &[], "48213")).unwrap();
    let id = out.locks[0].passcode_id.unwrap();
    let (s, e) = (
        ttlock::transport::now_ms() + DAY_MS,
        ttlock::transport::now_ms() + 9 * DAY_MS,
    );
    sim.reset_counters();
    passcodes::change_passcode(
        &c,
        &ChangeRequest {
            lock_id: 1001,
            passcode_id: id,
            passcode: Some("59324".into()),
            window: Some((s, e)),
            ..Default::default()
        },
    )
    .unwrap();
    let p = sim
        .state()
        .lock(1001)
        .unwrap()
        .passcode(id)
        .unwrap()
        .clone();
    assert_eq!(
        (p.keyboard_pwd.as_str(), p.start_ms, p.end_ms),
        ("59324", s, e)
    );
    assert_eq!(
        sim.counters().max_in_flight_per_gateway.get(&1),
        Some(&1),
        "new code and window go through the gateway"
    );
    let l = Ledger::new(dir.path()).load();
    assert_eq!(l.codes[0].end_ms, e, "ledger follows the new end");

    // A rename stays in the cloud.
    sim.reset_counters();
    passcodes::change_passcode(
        &c,
        &ChangeRequest {
            lock_id: 1001,
            passcode_id: id,
            name: Some("101_renamed".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(sim.counters().max_in_flight_per_gateway.is_empty());
    assert_eq!(
        sim.state().lock(1001).unwrap().passcode(id).unwrap().name,
        "101_renamed"
    );

    // A lost answer on change: the transport repeats it (idempotent).
    sim.inject(Fault::new(CHANGE, FaultKind::LoseAnswer, 1));
    passcodes::change_passcode(
        &c,
        &ChangeRequest {
            lock_id: 1001,
            passcode_id: id,
            name: Some("101_again".into()),
            ..Default::default()
        },
    )
    .unwrap();

    // Delete with a lost answer: asked again, -2009 means done.
    sim.reset_counters();
    sim.inject(Fault::new(DELETE, FaultKind::LoseAnswer, 1));
    passcodes::delete_passcode(&c, 1001, id).unwrap();
    assert!(sim.state().lock(1001).unwrap().passcode(id).is_none());
    assert_eq!(sim.counters().requests_to(DELETE), 2);
    assert!(Ledger::new(dir.path()).load().codes.is_empty());
    // A plain unknown id is not_found.
    let e = passcodes::delete_passcode(&c, 1001, id).unwrap_err();
    assert_eq!((e.code(), e.errcode()), (Code::NotFound, Some(-2009)));
}

#[test]
fn list_reads_all_450_codes() {
    let (sim, _dir, c) = setup("ops-list", 0);
    let now = ttlock::transport::now_ms();
    let ids = sim.with_state(|s| {
        s.add_passcodes(1001, 450, |i| {
            if i % 10 == 0 {
                (2, 0, 0)
            } else {
                (3, now - DAY_MS, now + i as i64 * HOUR_MS)
            }
        })
    });
    let items = passcodes::list_passcodes(&c, 1001).unwrap();
    assert_eq!(items.len(), 450);
    let mut got: Vec<i64> = items.iter().map(|i| i.passcode_id).collect();
    got.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(sim.counters().requests_to(LIST), 3, "pages of 200");
    assert_eq!(items.iter().filter(|i| i.pwd_type == 2).count(), 45);
}

#[test]
fn generated_codes_are_free_on_every_lock() {
    let (sim, _dir, c) = setup("ops-generate", 0);
    // Lock 1001 holds every 4-digit code below 5000: a free code must be 5000 or above.
    sim.with_state(|s| {
        for n in 0..5000 {
            s.add_passcode(
                1001,
                Passcode::period(&format!("{n:04}"), &format!("x{n}"), 1, 2),
            );
        }
    });
    for _ in 0..10 {
        let code = passcodes::generate_passcode(&c, 4, &[1001, 2001]).unwrap();
        assert_eq!(code.len(), 4);
        assert!(code.as_str() >= "5000", "{code} is on lock 1001");
        assert!(!passcodes::is_trivial(&code));
    }
    // Without locks: no request.
    sim.reset_counters();
    let code = passcodes::generate_passcode(&c, 7, &[]).unwrap();
    assert_eq!(code.len(), 7);
    assert_eq!(sim.counters().total_requests(), 0);
    // Every code taken: gives up after MAX_CANDIDATES look-ups.
    sim.with_state(|s| {
        for n in 5000..10000 {
            s.add_passcode(1001, Passcode::period(&format!("{n:04}"), "y", 1, 2));
        }
    });
    let e = passcodes::generate_passcode(&c, 4, &[1001]).unwrap_err();
    assert_eq!(e.code(), Code::PasscodeExists);
    assert_eq!(
        sim.counters().requests_to(LIST),
        u64::from(passcodes::MAX_CANDIDATES)
    );
}
