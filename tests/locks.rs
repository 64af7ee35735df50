//! Lock control against the simulator: unlock, lock, state, battery; -4043, -2012 and -3002
//! with their contract codes and advice; an ambiguous unlock is reported, never repeated.
mod common;

use common::{fixture_client, start_sim, Sim, State, TempDir};
use ttlock::ops::locks::{self, LockState};
use ttlock::{Client, Code};
use ttlock_sim::{Fault, FaultKind, Lock};

const UNLOCK: &str = "/v3/lock/unlock";

fn setup(label: &str) -> (Sim, TempDir, Client) {
    let sim = start_sim(State::fixture());
    sim.set_options(|o| o.gateway_hold_ms = 0);
    let dir = TempDir::new(label);
    let c = fixture_client(&sim, dir.path());
    (sim, dir, c)
}

fn open_state(sim: &Sim, id: i64) -> i64 {
    sim.state().lock(id).unwrap().open_state
}

#[test]
fn unlock_lock_state_and_battery() {
    let (sim, _dir, c) = setup("locks-ok");
    assert_eq!(locks::lock_state(&c, 2001).unwrap(), LockState::Locked);
    locks::unlock(&c, 2001).unwrap();
    assert_eq!(open_state(&sim, 2001), 1);
    assert_eq!(locks::lock_state(&c, 2001).unwrap(), LockState::Unlocked);
    locks::lock(&c, 2001).unwrap();
    assert_eq!(open_state(&sim, 2001), 0);
    assert_eq!(locks::battery(&c, 1001).unwrap(), 87);
    assert_eq!(locks::battery(&c, 1002).unwrap(), 64);
    sim.with_state(|s| s.lock_mut(1002).unwrap().open_state = 2);
    assert_eq!(locks::lock_state(&c, 1002).unwrap().as_str(), "unknown");
    let n = sim.counters();
    assert_eq!(n.requests_to(UNLOCK), 1);
    assert!(n.max_in_flight_per_gateway.values().all(|&m| m == 1));
}

#[test]
fn remote_unlock_off_is_not_supported_with_advice() {
    let (sim, _dir, c) = setup("locks-4043");
    sim.with_state(|s| s.lock_mut(1002).unwrap().remote_unlock = false);
    let e = locks::unlock(&c, 1002).unwrap_err();
    assert_eq!((e.code(), e.errcode()), (Code::NotSupported, Some(-4043)));
    // On an unlock, -4043 means the switch in the TTLock app, and the advice says which.
    assert_eq!(
        e.advice(),
        "Remote unlock is off for this lock: turn it on in the TTLock app (lock settings, Remote unlock)"
    );
    assert!(e.message().contains(e.advice()), "{e}");
    assert!(e.message().starts_with("lock 1002: "), "{e}");
    assert_eq!(open_state(&sim, 1002), 0);
    assert_eq!(
        locks::lock(&c, 1002).unwrap_err().code(),
        Code::NotSupported
    );
}

#[test]
fn no_gateway_and_gateway_offline() {
    let (sim, _dir, c) = setup("locks-offline");
    sim.with_state(|s| {
        s.locks.push(Lock::new(3001, "Garage", &[]));
        s.gateway_mut(1).unwrap().online = false;
    });
    let e = locks::unlock(&c, 3001).unwrap_err();
    assert_eq!((e.code(), e.errcode()), (Code::LockOffline, Some(-2012)));
    assert!(e.message().contains("no gateway reaches this lock"), "{e}");
    let e = locks::unlock(&c, 1001).unwrap_err();
    assert_eq!((e.code(), e.errcode()), (Code::GatewayOffline, Some(-3002)));
    assert_eq!(
        locks::battery(&c, 1001).unwrap_err().code(),
        Code::GatewayOffline
    );
    assert_eq!(
        locks::lock_state(&c, 3001).unwrap_err().code(),
        Code::LockOffline
    );
    // Offline is not retried.
    assert_eq!(sim.counters().requests_to(UNLOCK), 2);
}

#[test]
fn an_ambiguous_unlock_is_reported_not_repeated() {
    let (sim, _dir, c) = setup("locks-ambiguous");
    sim.inject(Fault::new(UNLOCK, FaultKind::LoseAnswer, 1));
    let e = locks::unlock(&c, 2001).unwrap_err();
    assert_eq!(e.code(), Code::Network);
    assert!(e.maybe_done());
    assert!(
        e.message()
            .contains("unlock was not repeated: the door may have opened"),
        "{e}"
    );
    assert_eq!(sim.counters().requests_to(UNLOCK), 1);
    assert_eq!(open_state(&sim, 2001), 1, "it did open");

    sim.reset_counters();
    sim.inject(Fault::http_status(UNLOCK, 503, 1));
    let e = locks::unlock(&c, 1001).unwrap_err();
    assert_eq!(
        (e.code(), e.http_status_code()),
        (Code::HttpStatus, Some(503))
    );
    assert!(e.message().contains("may have opened"), "{e}");
    assert_eq!(sim.counters().requests_to(UNLOCK), 1);

    // Busy means nothing was done: retried.
    sim.reset_counters();
    sim.inject(Fault::errcode(UNLOCK, -3003, 1));
    locks::unlock(&c, 1001).unwrap();
    assert_eq!(sim.counters().requests_to(UNLOCK), 2);
}
