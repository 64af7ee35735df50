//! The gateway map against the simulator, counted from its counters: a site's first purge learns
//! the whole account per gateway (`gateway/list` + one `gateway/listLock` per gateway, not one
//! `gateway/listByLock` per lock), a lock seen by two gateways is filed under the best-signal one,
//! locks no gateway lists fall back to `listByLock` (no gateway: -2012, reported), a check-in of
//! two locks stays per lock, a few locks on a site with many gateways stay per lock, a failed
//! `listLock` falls back per lock, and the learned map is reused (0 learning calls) until it is
//! 30 days old.
mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{fixture_client, start_sim, Sim, State, TempDir};
use ttlock::ops::gateways::{GatewayMap, Slot, GATEWAYS_FILE, MAX_AGE_MS};
use ttlock::ops::purge::{self, PurgeRequest};
use ttlock::Client;
use ttlock_sim::{Fault, FaultKind, Lock, Passcode, DAY_MS};

const GW_LIST: &str = "/v3/gateway/list";
const GW_LIST_LOCK: &str = "/v3/gateway/listLock";
const BY_LOCK: &str = "/v3/gateway/listByLock";
const DELETE: &str = "/v3/keyboardPwd/delete";
const LIST: &str = "/v3/lock/listKeyboardPwd";

/// A site of `gateways` gateways (ids 1..) and `locks` locks (ids 5001..), lock i on gateway
/// `i % gateways + 1`, each holding one code that expired three days ago; no gateway hold.
fn site(gateways: i64, locks: i64) -> (State, Vec<i64>) {
    let mut s = State::fixture();
    s.options.gateway_hold_ms = 0;
    s.gateways.clear();
    s.locks.clear();
    for g in 1..=gateways {
        s.add_gateway(g, &format!("GW {g}"));
    }
    let now = ttlock::transport::now_ms();
    let ids: Vec<i64> = (0..locks).map(|i| 5001 + i).collect();
    for (i, &id) in ids.iter().enumerate() {
        s.locks.push(Lock::new(
            id,
            &format!("Room {id}"),
            &[i as i64 % gateways + 1],
        ));
        s.add_passcode(
            id,
            Passcode::period("31415", "old", now - 6 * DAY_MS, now - 3 * DAY_MS),
        );
    }
    (s, ids)
}

/// (gateway/list, gateway/listLock, gateway/listByLock) calls so far.
fn learning(sim: &Sim) -> (u64, u64, u64) {
    let n = sim.counters();
    (
        n.requests_to(GW_LIST),
        n.requests_to(GW_LIST_LOCK),
        n.requests_to(BY_LOCK),
    )
}

fn slots(c: &Client, dir: &Path, ids: &[i64]) -> HashMap<i64, Slot> {
    GatewayMap::new(dir).slots(c, ids)
}

#[test]
fn a_first_purge_of_12_locks_on_3_gateways_learns_per_gateway_and_the_next_reuses_it() {
    let (s, ids) = site(3, 12);
    let sim = start_sim(s);
    let dir = TempDir::new("gw-first-purge");
    let c = fixture_client(&sim, dir.path());
    let r = purge::purge_expired(&c, &PurgeRequest::new(ids.clone())).unwrap();
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    assert_eq!(r.deleted.len(), 12);
    // 1 + G learning calls, not one per lock.
    assert_eq!(learning(&sim), (1, 3, 0), "{:?}", sim.counters());
    let n = sim.counters();
    assert_eq!(
        (n.requests_to(LIST), n.requests_to(DELETE), n.api_calls()),
        (12, 12, 12 + 12 + 4),
        "{n:?}"
    );
    // Each gateway got its own locks' deletions one at a time.
    assert_eq!(n.max_in_flight(), 1, "{n:?}");
    assert_eq!(
        n.max_in_flight_per_gateway
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );

    // Every lock is filed under its gateway; asking again costs nothing.
    sim.reset_counters();
    let got = slots(&c, dir.path(), &ids);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(got[id], Slot::Gateway(i as i64 % 3 + 1), "lock {id}");
    }
    assert_eq!(sim.counters().api_calls(), 0);

    // The next purge (a new expired code on every lock) makes no learning call.
    let now = ttlock::transport::now_ms();
    sim.with_state(|s| {
        for &id in &ids {
            s.add_passcode(
                id,
                Passcode::period("27182", "old2", now - 5 * DAY_MS, now - 2 * DAY_MS),
            );
        }
    });
    let mut req = PurgeRequest::new(ids.clone());
    req.full_sweep_ms = 0;
    let r = purge::purge_expired(&c, &req).unwrap();
    assert_eq!(r.deleted.len(), 12, "{:?}", r.failed);
    assert_eq!(learning(&sim), (0, 0, 0), "{:?}", sim.counters());
}

#[test]
fn a_lock_seen_by_two_gateways_goes_to_the_best_signal_and_other_locks_are_filed_too() {
    let (mut s, ids) = site(2, 4);
    // 5001 is on gateway 2 as well, heard better there; TTLock sends through gateway 2.
    let l = s.lock_mut(5001).unwrap();
    l.gateway_ids = vec![1, 2];
    l.rssi = [(1, -85), (2, -58)].into_iter().collect();
    // A lock the purge is not asked about is learned along the way.
    s.locks.push(Lock::new(6000, "Spa", &[1]));
    let sim = start_sim(s);
    let dir = TempDir::new("gw-best-rssi");
    let c = fixture_client(&sim, dir.path());
    let got = slots(&c, dir.path(), &ids);
    assert_eq!(learning(&sim), (1, 2, 0));
    assert_eq!(got[&5001], Slot::Gateway(2));
    assert_eq!(got[&5002], Slot::Gateway(2));
    assert_eq!(got[&5003], Slot::Gateway(1));
    assert_eq!(got.len(), 4);
    sim.reset_counters();
    assert_eq!(slots(&c, dir.path(), &[6000])[&6000], Slot::Gateway(1));
    assert_eq!(learning(&sim), (0, 0, 0));

    // The purge's deletion on 5001 went through gateway 2 only, as filed.
    sim.reset_counters();
    let r = purge::purge_expired(&c, &PurgeRequest::new(vec![5001])).unwrap();
    assert_eq!(r.deleted.len(), 1, "{:?}", r.failed);
    assert_eq!(
        sim.counters()
            .max_in_flight_per_gateway
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        vec![2]
    );
}

#[test]
fn a_lock_no_gateway_lists_falls_back_to_list_by_lock_and_loses_expired_codes_from_the_list_only() {
    let (mut s, mut ids) = site(2, 4);
    s.locks.push(Lock::new(7000, "Shed", &[]));
    let now = ttlock::transport::now_ms();
    s.add_passcode(
        7000,
        Passcode::period("31415", "old", now - 6 * DAY_MS, now - 3 * DAY_MS),
    );
    ids.push(7000);
    let sim = start_sim(s);
    let dir = TempDir::new("gw-no-gateway");
    let c = fixture_client(&sim, dir.path());
    let r = purge::purge_expired(&c, &PurgeRequest::new(ids.clone())).unwrap();
    assert_eq!(learning(&sim), (1, 2, 1), "{:?}", sim.counters());
    // The gateway-less lock's expired code leaves TTLock's list only (it opens nothing any
    // more): not a failure.
    assert_eq!(r.deleted.len(), 5, "{:?}", r.failed);
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    let shed = r.locks.iter().find(|l| l.lock_id == 7000).unwrap();
    assert!(shed.cloud_only && shed.error.is_none(), "{shed:?}");
    // -2012 makes it learned again next time, alone: per lock.
    sim.reset_counters();
    assert_eq!(slots(&c, dir.path(), &ids)[&7000], Slot::Unknown);
    assert_eq!(learning(&sim), (0, 0, 1));
}

#[test]
fn a_check_in_of_two_locks_stays_per_lock() {
    let (s, _) = site(3, 12);
    let sim = start_sim(s);
    let dir = TempDir::new("gw-check-in");
    let c = fixture_client(&sim, dir.path());
    let got = slots(&c, dir.path(), &[5002, 5003]);
    assert_eq!(
        (got[&5002], got[&5003]),
        (Slot::Gateway(2), Slot::Gateway(3))
    );
    assert_eq!(learning(&sim), (0, 0, 2));
}

#[test]
fn a_few_locks_on_a_site_with_more_gateways_stay_per_lock_after_one_page() {
    // 3 unknown locks, 5 gateways: 5 listLock calls would cost more than 3 listByLock.
    let (s, ids) = site(5, 3);
    let sim = start_sim(s);
    let dir = TempDir::new("gw-few-locks");
    let c = fixture_client(&sim, dir.path());
    let got = slots(&c, dir.path(), &ids);
    assert_eq!(got[&5003], Slot::Gateway(3));
    assert_eq!(learning(&sim), (1, 0, 3));
}

#[test]
fn a_failed_list_lock_falls_back_per_lock() {
    let (s, ids) = site(2, 6);
    let sim = start_sim(s);
    sim.inject(Fault::errcode(GW_LIST_LOCK, -4037, 1));
    let dir = TempDir::new("gw-list-lock-fails");
    let c = fixture_client(&sim, dir.path());
    let got = slots(&c, dir.path(), &ids);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(got[id], Slot::Gateway(i as i64 % 2 + 1), "lock {id}");
    }
    assert_eq!(learning(&sim), (1, 2, 6));
}

#[test]
fn a_failed_gateway_list_falls_back_per_lock() {
    let (s, ids) = site(2, 4);
    let sim = start_sim(s);
    sim.inject(Fault::new(GW_LIST, FaultKind::HttpStatus, -1));
    let dir = TempDir::new("gw-list-fails");
    let c = fixture_client(&sim, dir.path());
    let got = slots(&c, dir.path(), &ids);
    assert_eq!(got[&5004], Slot::Gateway(2));
    let (list, list_lock, by_lock) = learning(&sim);
    assert!(list >= 1, "gateway/list was tried");
    assert_eq!((list_lock, by_lock), (0, 4));
}

#[test]
fn entries_older_than_30_days_are_learned_again() {
    let (s, ids) = site(2, 4);
    let sim = start_sim(s);
    let dir = TempDir::new("gw-expiry");
    let c = fixture_client(&sim, dir.path());
    slots(&c, dir.path(), &ids);
    assert_eq!(learning(&sim), (1, 2, 0));
    // Age every entry past the limit.
    let path = dir.path().join(GATEWAYS_FILE);
    let old = ttlock::transport::now_ms() - MAX_AGE_MS - 1;
    let text = std::fs::read_to_string(&path).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for (_, k) in v["locks"].as_object_mut().unwrap() {
        k["learned_ms"] = old.into();
    }
    std::fs::write(&path, v.to_string()).unwrap();
    sim.reset_counters();
    slots(&c, dir.path(), &ids);
    assert_eq!(learning(&sim), (1, 2, 0));
}
