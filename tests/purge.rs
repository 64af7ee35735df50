//! purge_expired against the simulator: dry run, what survives (permanent, in grace, valid,
//! other names), every page of 450 codes, -3003 retried, a failing lock reported while the
//! others go on, the API budget counted from the simulator's counters (a listed id's success
//! trusted without a second listing; a lost answer or a success that did nothing after one
//! re-lists the lock; no call for a lock with nothing expired on the ledger path; one listing
//! plus the deletions for a lock where the ledger shows expired codes), the weekly full sweep,
//! and never deleting a code that was extended behind the ledger's back.
mod common;

use std::time::Duration;

use common::{fixture_client, start_sim, Sim, State, TempDir};
use ttlock::ops::ledger::{Entry, Ledger, Origin};
use ttlock::ops::purge::{self, PurgeReport, PurgeRequest, Reason, Source};
use ttlock::{Client, Code};
use ttlock_sim::{Fault, FaultKind, Passcode, DAY_MS, HOUR_MS};

const DELETE: &str = "/v3/keyboardPwd/delete";
const LIST: &str = "/v3/lock/listKeyboardPwd";
const BY_LOCK: &str = "/v3/gateway/listByLock";

/// The ids seeded by `seed`, by role.
struct Seeded {
    expired_101: i64,
    grace_101: i64,
    valid_101: i64,
    staff_101: i64,
    other_name_101: i64,
    expired_102: i64,
    expired_main: i64,
    staff_main: i64,
}

fn seed(sim: &Sim) -> Seeded {
    let now = ttlock::transport::now_ms();
    sim.with_state(|s| {
        let p = Passcode::period;
        Seeded {
            expired_101: s.add_passcode(
                1001,
                p("31415", "101_old", now - 6 * DAY_MS, now - 3 * DAY_MS),
            ),
            grace_101: s.add_passcode(
                1001,
                p("27182", "101_grace", now - 2 * DAY_MS, now - 6 * HOUR_MS),
            ),
            valid_101: s.add_passcode(1001, p("16180", "101_now", now - DAY_MS, now + 2 * DAY_MS)),
            staff_101: s.add_passcode(1001, Passcode::permanent("90909", "Staff 101")),
            other_name_101: s.add_passcode(
                1001,
                p("44444", "cleaner", now - 9 * DAY_MS, now - 8 * DAY_MS),
            ),
            expired_102: s.add_passcode(
                1002,
                p("14142", "102_old", now - 4 * DAY_MS, now - 2 * DAY_MS),
            ),
            expired_main: s.add_passcode(
                2001,
                p("31415", "101_old", now - 6 * DAY_MS, now - 3 * DAY_MS),
            ),
            staff_main: s.add_passcode(2001, Passcode::permanent("90910", "Staff")),
        }
    })
}

fn ids(sim: &Sim, lock: i64) -> Vec<i64> {
    let mut v: Vec<i64> = sim
        .state()
        .passcodes(lock)
        .iter()
        .map(|p| p.keyboard_pwd_id)
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<i64>) -> Vec<i64> {
    v.sort();
    v
}

fn deleted_ids(r: &PurgeReport) -> Vec<i64> {
    sorted(r.deleted.iter().map(|d| d.passcode_id).collect())
}

fn setup(label: &str) -> (Sim, TempDir, Client, Seeded) {
    let sim = start_sim(State::fixture());
    sim.set_options(|o| o.gateway_hold_ms = 0);
    let dir = TempDir::new(label);
    let c = fixture_client(&sim, dir.path());
    let s = seed(&sim);
    (sim, dir, c, s)
}

#[test]
fn dry_run_deletes_nothing_and_lists_what_it_would_delete() {
    let (sim, _dir, c, s) = setup("purge-dry");
    let before = sim.state().to_json();
    let mut req = PurgeRequest::new(vec![1001, 1002, 2001]);
    req.dry_run = true;
    let r = purge::purge_expired(&c, &req).unwrap();
    assert!(r.dry_run && r.deleted.is_empty() && r.failed.is_empty());
    let mut would: Vec<i64> = r.would_delete.iter().map(|w| w.passcode_id).collect();
    would.sort();
    assert_eq!(
        would,
        sorted(vec![
            s.expired_101,
            s.other_name_101,
            s.expired_102,
            s.expired_main
        ])
    );
    assert_eq!(sim.counters().requests_to(DELETE), 0);
    assert_eq!(sim.state().to_json(), before);
    let l = &r.locks[0];
    assert_eq!((l.lock_id, l.listed, l.expired, l.deleted), (1001, 5, 2, 0));
    assert!(l.error.is_none());
    let w = r
        .would_delete
        .iter()
        .find(|w| w.passcode_id == s.expired_102)
        .unwrap();
    assert_eq!((w.lock_id, w.name.as_deref()), (1002, Some("102_old")));
}

#[test]
fn permanent_in_grace_and_valid_codes_survive() {
    let (sim, dir, c, s) = setup("purge-real");
    let r = purge::purge_expired(&c, &PurgeRequest::new(vec![1001, 1002, 2001])).unwrap();
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    assert_eq!(
        deleted_ids(&r),
        sorted(vec![
            s.expired_101,
            s.other_name_101,
            s.expired_102,
            s.expired_main
        ])
    );
    assert_eq!(
        ids(&sim, 1001),
        sorted(vec![s.grace_101, s.valid_101, s.staff_101])
    );
    assert_eq!(ids(&sim, 1002), Vec::<i64>::new());
    assert_eq!(ids(&sim, 2001), vec![s.staff_main]);
    let n = sim.counters();
    assert!(
        n.max_in_flight_per_gateway.values().all(|&m| m == 1),
        "deleted through the gateways, one at a time: {n:?}"
    );
    assert_eq!(n.gateway_busy_sent, 0);
    // The ledger holds what can still expire, and when each lock was swept.
    let l = Ledger::new(dir.path()).load();
    let mut known: Vec<i64> = l.codes.iter().map(|e| e.passcode_id).collect();
    known.sort();
    assert_eq!(known, sorted(vec![s.grace_101, s.valid_101]));
    for id in [1001, 1002, 2001] {
        assert!(l.last_sweep(id).is_some());
    }
}

#[test]
fn name_prefix_and_grace() {
    let (sim, _dir, c, s) = setup("purge-prefix");
    let mut req = PurgeRequest::new(vec![1001]);
    req.name_prefix = Some("101_".into());
    req.grace_ms = 0;
    let r = purge::purge_expired(&c, &req).unwrap();
    assert_eq!(deleted_ids(&r), sorted(vec![s.expired_101, s.grace_101]));
    assert_eq!(
        ids(&sim, 1001),
        sorted(vec![s.valid_101, s.staff_101, s.other_name_101])
    );
}

#[test]
fn every_page_of_450_codes_is_read() {
    let sim = start_sim(State::fixture());
    sim.set_options(|o| o.gateway_hold_ms = 0);
    let dir = TempDir::new("purge-450");
    let c = fixture_client(&sim, dir.path());
    let now = ttlock::transport::now_ms();
    // Creation order puts the expired ones on every page (newest first: 449..0).
    let all = sim.with_state(|s| {
        s.add_passcodes(1001, 450, |i| match i % 45 {
            0 => (3, now - 9 * DAY_MS, now - 5 * DAY_MS),
            1 => (2, 0, 0),
            _ => (3, now - DAY_MS, now + DAY_MS),
        })
    });
    let expired: Vec<i64> = all.iter().step_by(45).copied().collect();
    let r = purge::purge_expired(&c, &PurgeRequest::new(vec![1001])).unwrap();
    assert_eq!(r.locks[0].listed, 450);
    assert_eq!(r.locks[0].expired, 10);
    assert_eq!(deleted_ids(&r), sorted(expired.clone()));
    assert_eq!(sim.state().passcodes(1001).len(), 440);
    // 3 pages to find them; TTLock's success for an id it has just listed is trusted.
    assert_eq!(sim.counters().requests_to(LIST), 3);
}

#[test]
fn gateway_busy_is_retried() {
    let (sim, _dir, c, s) = setup("purge-busy");
    // More busy answers than the transport retries: the purge keeps trying.
    sim.inject(Fault::errcode(DELETE, -3003, 4));
    let r = purge::purge_expired(&c, &PurgeRequest::new(vec![1002])).unwrap();
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    assert_eq!(deleted_ids(&r), vec![s.expired_102]);
    assert_eq!(sim.counters().requests_to(DELETE), 5);
}

#[test]
fn a_failing_lock_is_reported_and_the_others_go_on() {
    let (sim, _dir, c, s) = setup("purge-fail");
    sim.with_state(|st| {
        st.gateway_mut(2).unwrap().online = false;
        // A second expired code on 1002: not tried once the gateway is known to be offline.
        st.add_passcode(
            1002,
            Passcode::period(
                "52525",
                "102_older",
                1,
                ttlock::transport::now_ms() - 5 * DAY_MS,
            ),
        );
    });
    let r = purge::purge_expired(&c, &PurgeRequest::new(vec![1002, 9999, 1001])).unwrap();
    let by = |id| r.locks.iter().find(|l| l.lock_id == id).unwrap();
    assert_eq!(
        by(1002).error.as_ref().unwrap().code(),
        Code::GatewayOffline
    );
    assert_eq!(by(9999).error.as_ref().unwrap().code(), Code::NotFound);
    assert!(by(1001).error.is_none());
    assert_eq!(
        deleted_ids(&r),
        sorted(vec![s.expired_101, s.other_name_101])
    );
    let failed: Vec<i64> = r.failed.iter().map(|f| f.code.lock_id).collect();
    assert_eq!(failed, vec![1002, 1002]);
    assert!(r.failed[1].error.message().starts_with("not tried"));
    assert_eq!(sim.counters().requests_to(DELETE), 3, "one try on 1002");
    assert_eq!(ids(&sim, 1002).len(), 2);
}

/// A room-style lock: 3 codes expired more than a day ago, 1 inside the grace day, 1 valid.
fn seed_room(sim: &Sim, lock: i64) -> (Vec<i64>, i64, i64) {
    let now = ttlock::transport::now_ms();
    sim.with_state(|s| {
        let p = Passcode::period;
        let old: Vec<i64> = (0..3)
            .map(|i| {
                s.add_passcode(
                    lock,
                    p(
                        &format!("5150{i}"),
                        &format!("R{i}"),
                        now - (5 + i) * DAY_MS,
                        now - (2 + i) * DAY_MS,
                    ),
                )
            })
            .collect();
        let grace = s.add_passcode(lock, p("61616", "R_grace", now - DAY_MS, now - 6 * HOUR_MS));
        let valid = s.add_passcode(lock, p("71717", "R_now", now - DAY_MS, now + DAY_MS));
        (old, grace, valid)
    })
}

#[test]
fn a_room_with_3_expired_of_5_costs_one_listing_and_3_deletes() {
    let sim = start_sim(State::fixture());
    sim.set_options(|o| o.gateway_hold_ms = 0);
    let dir = TempDir::new("purge-room");
    let c = fixture_client(&sim, dir.path());
    let (old, grace, valid) = seed_room(&sim, 1001);
    let r = purge::purge_expired(&c, &PurgeRequest::new(vec![1001])).unwrap();
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    assert_eq!(deleted_ids(&r), sorted(old));
    assert_eq!(ids(&sim, 1001), sorted(vec![grace, valid]));
    let n = sim.counters();
    assert_eq!(n.requests_to(LIST), 1, "{n:?}");
    assert_eq!(n.requests_to(DELETE), 3, "{n:?}");
    // The first purge on a site learns the lock's gateway; nothing else is called.
    assert_eq!(n.requests_to(BY_LOCK), 1, "{n:?}");
    assert_eq!(n.api_calls(), 5, "{n:?}");
    // The ledger took the listing, minus what was deleted since.
    let mut known: Vec<i64> = Ledger::new(dir.path())
        .load()
        .codes
        .iter()
        .map(|e| e.passcode_id)
        .collect();
    known.sort();
    assert_eq!(known, sorted(vec![grace, valid]));

    // Next day: the grace code is past (zero grace); the ledger path lists the lock once and
    // deletes from that listing: 2 calls in all (the gateway map is kept).
    age_listings(&dir, 1.0);
    sim.reset_counters();
    let mut req = PurgeRequest::new(vec![1001]);
    req.grace_ms = 0;
    let r = purge::purge_expired(&c, &req).unwrap();
    assert_eq!(deleted_ids(&r), vec![grace]);
    assert_eq!(r.locks[0].source, Source::Listed);
    let n = sim.counters();
    assert_eq!(
        (n.requests_to(LIST), n.requests_to(DELETE), n.api_calls()),
        (1, 1, 2),
        "{n:?}"
    );
    assert_eq!(ids(&sim, 1001), vec![valid]);
}

#[test]
fn a_first_purge_of_6_rooms_on_2_gateways_learns_them_in_3_calls_not_6() {
    let mut s = State::fixture();
    s.options.gateway_hold_ms = 0;
    for (id, gw) in [(1003, 1), (1004, 2), (1005, 1)] {
        s.locks
            .push(ttlock_sim::Lock::new(id, &format!("Room {id}"), &[gw]));
    }
    let sim = start_sim(s);
    let dir = TempDir::new("purge-first-site");
    let c = fixture_client(&sim, dir.path());
    let rooms = [1001, 1002, 2001, 1003, 1004, 1005];
    for id in rooms {
        seed_room(&sim, id);
    }
    let r = purge::purge_expired(&c, &PurgeRequest::new(rooms.to_vec())).unwrap();
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    assert_eq!(r.deleted.len(), 18);
    let n = sim.counters();
    // gateway/list + one gateway/listLock per gateway, no listByLock.
    assert_eq!(
        (
            n.requests_to("/v3/gateway/list"),
            n.requests_to("/v3/gateway/listLock"),
            n.requests_to(BY_LOCK)
        ),
        (1, 2, 0),
        "{n:?}"
    );
    assert_eq!(
        (n.requests_to(LIST), n.requests_to(DELETE), n.api_calls()),
        (6, 18, 6 + 18 + 3),
        "{n:?}"
    );
}

#[test]
fn a_success_for_a_listed_id_is_trusted_and_the_next_listing_finds_a_survivor() {
    let (sim, _dir, c, s) = setup("purge-fake");
    // TTLock answers success without deleting: the id was listed a moment ago, so the answer
    // is taken as it is (no second listing).
    sim.inject(Fault::new(DELETE, FaultKind::FakeSuccess, 1));
    let r = purge::purge_expired(&c, &PurgeRequest::new(vec![1002])).unwrap();
    assert_eq!(deleted_ids(&r), vec![s.expired_102]);
    assert!(r.failed.is_empty());
    let n = sim.counters();
    assert_eq!(
        (n.requests_to(LIST), n.requests_to(DELETE)),
        (1, 1),
        "{n:?}"
    );
    assert_eq!(ids(&sim, 1002), vec![s.expired_102]);
    // The next run that lists the lock (here a full sweep every time) finds and deletes it.
    let mut req = PurgeRequest::new(vec![1002]);
    req.full_sweep_ms = 0;
    let r = purge::purge_expired(&c, &req).unwrap();
    assert_eq!(deleted_ids(&r), vec![s.expired_102]);
    assert_eq!(ids(&sim, 1002), Vec::<i64>::new());
}

#[test]
fn a_lost_answer_re_lists_the_lock() {
    let (sim, _dir, c, s) = setup("purge-lost");
    // The first delete is carried out but its answer lost; the repeat hears -2009.
    sim.inject(Fault::new(DELETE, FaultKind::LoseAnswer, 1));
    let r = purge::purge_expired(&c, &PurgeRequest::new(vec![1001])).unwrap();
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    assert_eq!(
        deleted_ids(&r),
        sorted(vec![s.expired_101, s.other_name_101])
    );
    let n = sim.counters();
    // 1 listing to plan, 2 + 1 deletes, 1 listing to check.
    assert_eq!(
        (n.requests_to(LIST), n.requests_to(DELETE)),
        (2, 3),
        "{n:?}"
    );
    assert_eq!(
        ids(&sim, 1001),
        sorted(vec![s.grace_101, s.valid_101, s.staff_101])
    );
}

#[test]
fn a_success_that_stays_after_a_lost_answer_is_a_failure() {
    let (sim, _dir, c, s) = setup("purge-unsure");
    // The first request is dropped before anything is done, the repeat answered success
    // without doing it: unsure, so the lock is listed again and the code found still there.
    sim.inject(Fault::new(DELETE, FaultKind::DropBefore, 1));
    sim.inject(Fault::new(DELETE, FaultKind::FakeSuccess, 1));
    let r = purge::purge_expired(&c, &PurgeRequest::new(vec![1002])).unwrap();
    assert!(r.deleted.is_empty());
    assert_eq!(r.failed.len(), 1);
    assert_eq!(r.failed[0].code.passcode_id, s.expired_102);
    assert_eq!(r.failed[0].error.code(), Code::ApiError);
    assert!(r.failed[0].error.message().contains("still listed"));
    assert_eq!(r.locks[0].deleted, 0);
    let n = sim.counters();
    assert_eq!(
        (n.requests_to(LIST), n.requests_to(DELETE)),
        (2, 2),
        "{n:?}"
    );
    assert_eq!(ids(&sim, 1002), vec![s.expired_102]);
}

#[test]
fn the_ledger_saves_calls_and_the_weekly_sweep_catches_app_codes() {
    let (sim, dir, c, s) = setup("purge-ledger");
    let locks = vec![1001, 1002, 2001];
    let first = purge::purge_expired(&c, &PurgeRequest::new(locks.clone())).unwrap();
    assert!(first.locks.iter().all(|l| l.source == Source::Listed));

    // A quiet day: nothing in the ledger has expired, no call at all.
    sim.reset_counters();
    let quiet = purge::purge_expired(&c, &PurgeRequest::new(locks.clone())).unwrap();
    assert_eq!(sim.counters().api_calls(), 0, "{:?}", sim.counters());
    assert!(quiet.locks.iter().all(|l| l.source == Source::Ledger));
    assert_eq!(
        quiet.locks[0].listed, 2,
        "the ledger knows two codes on 1001"
    );

    // The next day, the in-grace code of 1001 is past a zero grace: 1001 is listed once and
    // the code deleted from that listing; the other locks, with nothing expired, cost nothing.
    age_listings(&dir, 1.0);
    let mut req = PurgeRequest::new(locks.clone());
    req.grace_ms = 0;
    let now = ttlock::transport::now_ms();
    // A code made in the TTLock app after the sweep, already expired.
    let app_code = sim.with_state(|st| {
        st.add_passcode(
            1002,
            Passcode::period("80808", "app", now - 3 * DAY_MS, now - 2 * DAY_MS),
        )
    });
    sim.reset_counters();
    let r = purge::purge_expired(&c, &req).unwrap();
    assert_eq!(deleted_ids(&r), vec![s.grace_101]);
    let n = sim.counters();
    assert_eq!(n.requests_to(LIST), 1, "one listing of 1001: {n:?}");
    assert_eq!(n.requests_to(DELETE), 1);
    assert_eq!(n.api_calls(), 2, "{n:?}");
    let sources: Vec<Source> = r.locks.iter().map(|l| l.source).collect();
    assert_eq!(
        sources,
        vec![Source::Listed, Source::Ledger, Source::Ledger]
    );
    assert!(
        sim.state().lock(1002).unwrap().passcode(app_code).is_some(),
        "not seen without a sweep"
    );

    // The weekly sweep (here: a sweep older than 50 ms counts as old) finds the app's code.
    std::thread::sleep(Duration::from_millis(60));
    let mut req = PurgeRequest::new(locks);
    req.full_sweep_ms = 50;
    let r = purge::purge_expired(&c, &req).unwrap();
    assert_eq!(deleted_ids(&r), vec![app_code]);
    assert!(r.locks.iter().all(|l| l.source == Source::Listed));
    assert!(Ledger::new(dir.path())
        .load()
        .codes
        .iter()
        .all(|e| e.passcode_id != app_code));
}

#[test]
fn a_code_extended_behind_the_ledger_is_not_deleted() {
    let sim = start_sim(State::fixture());
    sim.set_options(|o| o.gateway_hold_ms = 0);
    let dir = TempDir::new("purge-extended");
    let c = fixture_client(&sim, dir.path());
    let now = ttlock::transport::now_ms();
    // TTLock has the code valid for two more days; the ledger still thinks it ended yesterday.
    let id = sim.with_state(|s| {
        s.add_passcode(
            1001,
            Passcode::period("48213", "101_stay", now - 3 * DAY_MS, now + 2 * DAY_MS),
        )
    });
    Ledger::new(dir.path())
        .update(|d| {
            d.put(Entry {
                lock_id: 1001,
                passcode_id: id,
                end_ms: now - 2 * DAY_MS,
                name: Some("101_stay".into()),
                added_ms: now - 3 * DAY_MS,
                origin: Origin::Module,
            });
            d.sweeps.insert("1001".into(), now - HOUR_MS);
        })
        .unwrap();
    let r = purge::purge_expired(&c, &PurgeRequest::new(vec![1001])).unwrap();
    assert!(r.deleted.is_empty() && r.failed.is_empty());
    assert_eq!(r.locks[0].expired, 0);
    assert_eq!(r.locks[0].source, Source::Listed);
    assert!(sim.state().lock(1001).unwrap().passcode(id).is_some());
    let n = sim.counters();
    assert_eq!(
        (n.requests_to(LIST), n.requests_to(DELETE)),
        (1, 0),
        "{n:?}"
    );
    // The ledger learnt the real end from the listing, and the lock's sweep time.
    let l = Ledger::new(dir.path()).load();
    assert_eq!(l.codes.len(), 1);
    assert_eq!(l.codes[0].end_ms, now + 2 * DAY_MS);
    assert!(l.last_sweep(1001).unwrap() > now - HOUR_MS);
}

/// Moves every listing time of the ledger `days` back (the run's "last listing" ages).
fn age_listings(dir: &TempDir, days: f64) {
    Ledger::new(dir.path())
        .update(|d| {
            for t in d.sweeps.values_mut().chain(d.purges.values_mut()) {
                *t -= (days * DAY_MS as f64) as i64;
            }
        })
        .unwrap();
}

#[test]
fn every_days_lets_expired_codes_wait_until_the_last_listing_is_old_enough() {
    let (sim, dir, c, s) = setup("purge-every");
    let locks = vec![1001, 1002, 2001];
    let first = purge::purge_expired(&c, &PurgeRequest::new(locks.clone())).unwrap();
    assert!(first
        .locks
        .iter()
        .all(|l| l.source == Source::Listed && l.reason == Reason::NeverListed));
    // A day later (zero grace: the in-grace code of 1001 has expired).
    age_listings(&dir, 1.0);
    let mut req = PurgeRequest::new(locks.clone());
    req.grace_ms = 0;
    req.every_ms = 3 * DAY_MS;
    sim.reset_counters();
    let r = purge::purge_expired(&c, &req).unwrap();
    assert_eq!(sim.counters().api_calls(), 0, "{:?}", sim.counters());
    let by = |r: &PurgeReport, id| r.locks.iter().find(|l| l.lock_id == id).unwrap().clone();
    let l = by(&r, 1001);
    assert_eq!(
        (l.source, l.reason, l.waiting, l.known, l.expired, l.deleted),
        (Source::Ledger, Reason::ListedRecently, 1, 3, 0, 0),
        "two codes in the ledger and the permanent one of the listing"
    );
    assert_eq!(by(&r, 1002).reason, Reason::NothingExpired);
    assert_eq!(by(&r, 2001).reason, Reason::NothingExpired);
    assert!(sim
        .state()
        .lock(1001)
        .unwrap()
        .passcode(s.grace_101)
        .is_some());

    // Three days after the listing: listed and purged, as daily before.
    age_listings(&dir, 2.0);
    sim.reset_counters();
    let r = purge::purge_expired(&c, &req).unwrap();
    let l = by(&r, 1001);
    assert_eq!(
        (l.source, l.reason, l.waiting, l.deleted),
        (Source::Listed, Reason::Expired, 0, 1)
    );
    assert_eq!(deleted_ids(&r), vec![s.grace_101]);
    let n = sim.counters();
    assert_eq!(
        (n.requests_to(LIST), n.requests_to(DELETE), n.api_calls()),
        (1, 1, 2),
        "{n:?}"
    );
    // The listing is fresh again: nothing due on the next run.
    sim.reset_counters();
    let r = purge::purge_expired(&c, &req).unwrap();
    assert!(r.locks.iter().all(|l| l.source == Source::Ledger));
    assert_eq!(sim.counters().api_calls(), 0);

    // The weekly sweep lists every lock, whatever every_days says.
    age_listings(&dir, 7.0);
    req.every_ms = 30 * DAY_MS;
    let r = purge::purge_expired(&c, &req).unwrap();
    assert!(r
        .locks
        .iter()
        .all(|l| l.source == Source::Listed && l.reason == Reason::FullSweep));
}

#[test]
fn every_days_one_is_todays_daily_listing_of_a_lock_with_expired_codes() {
    let (sim, dir, c, s) = setup("purge-every-1");
    purge::purge_expired(&c, &PurgeRequest::new(vec![1001])).unwrap();
    // The next day's run starts a few minutes earlier than the first one listed the lock.
    age_listings(&dir, 1.0 - 5.0 / 1440.0);
    let mut req = PurgeRequest::new(vec![1001]);
    req.grace_ms = 0;
    sim.reset_counters();
    let r = purge::purge_expired(&c, &req).unwrap();
    assert_eq!(
        (r.locks[0].source, r.locks[0].reason),
        (Source::Listed, Reason::Expired)
    );
    assert_eq!(deleted_ids(&r), vec![s.grace_101]);
    assert_eq!(sim.counters().api_calls(), 2);
}

#[test]
fn a_lock_near_capacity_is_listed_at_once() {
    let sim = start_sim(State::fixture());
    sim.set_options(|o| o.gateway_hold_ms = 0);
    let dir = TempDir::new("purge-capacity");
    let c = fixture_client(&sim, dir.path());
    let now = ttlock::transport::now_ms();
    // A main door: 12 staff codes, 20 guests in the house, 8 gone since the listing.
    let gone = sim.with_state(|s| {
        s.add_passcodes(2001, 12, |_| (2, 0, 0));
        s.add_passcodes(2001, 20, |_| (3, now - DAY_MS, now + 2 * DAY_MS));
        s.add_passcodes(2001, 8, |_| (3, now - 3 * DAY_MS, now + HOUR_MS))
    });
    let first = purge::purge_expired(&c, &PurgeRequest::new(vec![2001])).unwrap();
    assert_eq!((first.locks[0].listed, first.deleted.len()), (40, 0));
    // The 8 guests left: the ledger learns it (as check-outs' and the stays' ends would show).
    Ledger::new(dir.path())
        .update(|d| {
            for e in d.codes.iter_mut().filter(|e| gone.contains(&e.passcode_id)) {
                e.end_ms = now - 2 * DAY_MS;
            }
        })
        .unwrap();
    sim.with_state(|s| {
        let l = s.lock_mut(2001).unwrap();
        for p in l
            .passcodes
            .iter_mut()
            .filter(|p| gone.contains(&p.keyboard_pwd_id))
        {
            p.end_ms = now - 2 * DAY_MS;
        }
    });
    let mut req = PurgeRequest::new(vec![2001]);
    req.every_ms = 7 * DAY_MS;
    // 40 codes known (12 of them permanent): under a margin of 41 they wait...
    req.capacity_margin = 41;
    sim.reset_counters();
    let r = purge::purge_expired(&c, &req).unwrap();
    let l = &r.locks[0];
    assert_eq!(
        (l.source, l.reason, l.waiting, l.known),
        (Source::Ledger, Reason::ListedRecently, 8, 40)
    );
    assert_eq!(sim.counters().api_calls(), 0);
    // ... at 40 the lock is listed and purged at once, though listed a moment ago.
    req.capacity_margin = 40;
    let r = purge::purge_expired(&c, &req).unwrap();
    let l = &r.locks[0];
    assert_eq!(
        (l.source, l.reason, l.deleted),
        (Source::Listed, Reason::Capacity, 8)
    );
    assert_eq!(sorted(deleted_ids(&r)), sorted(gone));
    assert_eq!(sim.state().passcodes(2001).len(), 32);
    assert_eq!(Ledger::new(dir.path()).load().known_count(2001), 32);
}

#[test]
fn bad_every_days_changes_nothing() {
    let (sim, _dir, c, _s) = setup("purge-every-bad");
    let mut req = PurgeRequest::new(vec![1001]);
    req.every_ms = -1;
    let e = purge::purge_expired(&c, &req).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("every_days"), "{}", e.message());
    assert_eq!(sim.counters().api_calls(), 0);
}

#[test]
fn a_dry_run_or_a_failed_lock_never_postpones_the_deletions() {
    let (sim, _dir, c, s) = setup("purge-every-dry");
    let mut req = PurgeRequest::new(vec![1001, 1002]);
    req.every_ms = 7 * DAY_MS;
    // The first run on a site, as the install says: a dry run...
    req.dry_run = true;
    let r = purge::purge_expired(&c, &req).unwrap();
    assert_eq!(r.would_delete.len(), 3);
    // ... then the real one minutes later deletes what it showed.
    req.dry_run = false;
    sim.with_state(|st| st.gateway_mut(2).unwrap().online = false);
    let r = purge::purge_expired(&c, &req).unwrap();
    let by = |r: &PurgeReport, id| r.locks.iter().find(|l| l.lock_id == id).unwrap().clone();
    assert_eq!(by(&r, 1001).reason, Reason::Expired);
    assert_eq!(
        deleted_ids(&r),
        sorted(vec![s.expired_101, s.other_name_101])
    );
    // 1002's gateway was offline: its code waits for the next run, not for every_days.
    assert_eq!(
        by(&r, 1002).error.as_ref().unwrap().code(),
        Code::GatewayOffline
    );
    sim.with_state(|st| st.gateway_mut(2).unwrap().online = true);
    let r = purge::purge_expired(&c, &req).unwrap();
    assert_eq!(
        (by(&r, 1001).reason, by(&r, 1002).reason),
        (Reason::NothingExpired, Reason::Expired)
    );
    assert_eq!(deleted_ids(&r), vec![s.expired_102]);
}
