//! The HTTP transport against the simulator: every fault kind gives its contract code with the
//! retry policy (retry what cannot have been done, never repeat a non-idempotent request that may
//! have reached TTLock, never retry a timeout), keep-alive, TLS trust, the call counter, and
//! errcodes mapped end to end.
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{fixture_config, seeded_client, start_sim, Sim, State, TempDir};
use ttlock::{api, Client, Code, Config, Error};
use ttlock_sim::{Fault, FaultKind};

const BATTERY: &str = "/v3/lock/queryElectricQuantity";
const UNLOCK: &str = "/v3/lock/unlock";

fn config(sim: &Sim, dir: &Path) -> Config {
    let mut cfg = fixture_config(sim, dir);
    cfg.retries = 2;
    cfg
}

/// A simulator without gateway hold time (sequential tests need no busy gateways) and a client
/// with tokens.
fn setup(label: &str) -> (Sim, TempDir, Client) {
    let sim = start_sim(State::fixture());
    sim.set_options(|o| o.gateway_hold_ms = 0);
    let dir = TempDir::new(label);
    let c = seeded_client(config(&sim, dir.path()));
    (sim, dir, c)
}

fn open_state(sim: &Sim, lock_id: i64) -> i64 {
    sim.state().lock(lock_id).unwrap().open_state
}

#[test]
fn a_stall_with_timeout_2s_returns_timeout_within_5s() {
    let sim = start_sim(State::fixture());
    let dir = TempDir::new("transport-stall");
    let mut cfg = config(&sim, dir.path());
    cfg.timeout = Duration::from_secs(2);
    let c = seeded_client(cfg);
    sim.inject(Fault::delay(BATTERY, 60_000, 1));
    let started = Instant::now();
    let e = api::query_electric_quantity(&c, 1001).unwrap_err();
    let took = started.elapsed();
    assert_eq!(e.code(), Code::Timeout, "{e}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(e.message().contains("2 s"), "{e}");
    // Never retried.
    assert_eq!(sim.counters().requests_to(BATTERY), 1);
}

#[test]
fn delay_is_only_slower() {
    let (sim, _dir, c) = setup("transport-delay");
    sim.inject(Fault::delay(BATTERY, 300, 1));
    assert_eq!(api::query_electric_quantity(&c, 1001).unwrap(), 87);
    assert_eq!(sim.counters().requests_to(BATTERY), 1);
}

#[test]
fn drop_before_retries_queries_but_not_unlock() {
    let (sim, _dir, c) = setup("transport-drop-before");
    sim.inject(Fault::new(BATTERY, FaultKind::DropBefore, 1));
    assert_eq!(api::query_electric_quantity(&c, 1001).unwrap(), 87);
    assert_eq!(sim.counters().requests_to(BATTERY), 2);

    sim.inject(Fault::new(UNLOCK, FaultKind::DropBefore, 1));
    let e = api::unlock(&c, 1001).unwrap_err();
    assert_eq!(e.code(), Code::Network, "{e}");
    assert!(e.maybe_done());
    assert_eq!(sim.counters().requests_to(UNLOCK), 1);
    assert_eq!(open_state(&sim, 1001), 0);
}

#[test]
fn lose_answer_is_not_repeated_on_unlock() {
    let (sim, _dir, c) = setup("transport-lose");
    sim.inject(Fault::new(UNLOCK, FaultKind::LoseAnswer, 1));
    let e = api::unlock(&c, 1001).unwrap_err();
    assert_eq!(e.code(), Code::Network, "{e}");
    assert!(e.maybe_done());
    assert_eq!(sim.counters().requests_to(UNLOCK), 1);
    // It was carried out: the caller must look, not repeat.
    assert_eq!(open_state(&sim, 1001), 1);

    sim.inject(Fault::new(BATTERY, FaultKind::LoseAnswer, 1));
    assert_eq!(api::query_electric_quantity(&c, 1001).unwrap(), 87);
    assert_eq!(sim.counters().requests_to(BATTERY), 2);
}

#[test]
fn http_5xx_is_retried_on_queries_only() {
    let (sim, _dir, c) = setup("transport-5xx");
    for status in [500u16, 502, 503] {
        sim.reset_counters();
        sim.inject(Fault::http_status(BATTERY, status, 1));
        assert_eq!(api::query_electric_quantity(&c, 1001).unwrap(), 87);
        assert_eq!(sim.counters().requests_to(BATTERY), 2, "{status}");

        sim.reset_counters();
        sim.inject(Fault::http_status(BATTERY, status, -1));
        let e = api::query_electric_quantity(&c, 1001).unwrap_err();
        sim.clear_faults();
        assert_eq!(
            (e.code(), e.http_status_code()),
            (Code::HttpStatus, Some(status))
        );
        assert_eq!(sim.counters().requests_to(BATTERY), 3, "retries = 2");

        sim.reset_counters();
        sim.inject(Fault::http_status(UNLOCK, status, 1));
        let e = api::unlock(&c, 1001).unwrap_err();
        assert_eq!(
            (e.code(), e.http_status_code()),
            (Code::HttpStatus, Some(status))
        );
        assert!(e.maybe_done());
        assert_eq!(sim.counters().requests_to(UNLOCK), 1);
    }
}

#[test]
fn retries_zero_means_one_attempt() {
    let sim = start_sim(State::fixture());
    let dir = TempDir::new("transport-retries0");
    let mut cfg = config(&sim, dir.path());
    cfg.retries = 0;
    let c = seeded_client(cfg);
    sim.inject(Fault::http_status(BATTERY, 503, 1));
    let e = api::query_electric_quantity(&c, 1001).unwrap_err();
    assert_eq!(e.code(), Code::HttpStatus);
    assert_eq!(sim.counters().requests_to(BATTERY), 1);
}

#[test]
fn invalid_json_is_bad_response_and_not_retried() {
    let (sim, _dir, c) = setup("transport-json");
    sim.inject(Fault::new(BATTERY, FaultKind::InvalidJson, 1));
    let e = api::query_electric_quantity(&c, 1001).unwrap_err();
    assert_eq!(e.code(), Code::BadResponse, "{e}");
    assert_eq!(e.http_status_code(), Some(200));
    assert_eq!(sim.counters().requests_to(BATTERY), 1);
}

#[test]
fn gateway_busy_is_retried_then_reported() {
    let (sim, _dir, c) = setup("transport-busy");
    sim.inject(Fault::errcode(UNLOCK, -3003, 1));
    api::unlock(&c, 1001).unwrap();
    assert_eq!(sim.counters().requests_to(UNLOCK), 2);
    assert_eq!(open_state(&sim, 1001), 1);

    sim.reset_counters();
    sim.inject(Fault::errcode(UNLOCK, -3003, -1));
    let e = api::unlock(&c, 1001).unwrap_err();
    sim.clear_faults();
    assert_eq!((e.code(), e.errcode()), (Code::GatewayBusy, Some(-3003)));
    assert!(!e.maybe_done());
    assert_eq!(sim.counters().requests_to(UNLOCK), 3);

    // Lock busy (-3037) is retried too; other errcodes are not.
    sim.reset_counters();
    sim.inject(Fault::errcode(UNLOCK, -3037, 1));
    api::unlock(&c, 1001).unwrap();
    assert_eq!(sim.counters().requests_to(UNLOCK), 2);
    sim.reset_counters();
    sim.inject(Fault::errcode(UNLOCK, -3002, 1));
    let e = api::unlock(&c, 1001).unwrap_err();
    assert_eq!(e.code(), Code::GatewayOffline);
    assert_eq!(sim.counters().requests_to(UNLOCK), 1);
}

#[test]
fn drop_connect_is_retried_even_for_unlock() {
    // A fresh simulator: the first request needs a new connection, which the fault catches.
    let (sim, _dir, c) = setup("transport-drop-connect");
    sim.inject(Fault::new("*", FaultKind::DropConnect, 1));
    api::unlock(&c, 1001).unwrap();
    let n = sim.counters();
    assert_eq!(n.tcp_connections, 2);
    assert_eq!(n.requests_to(UNLOCK), 1);

    // Every connection dropped: network, known not sent.
    let (sim, _dir, c) = setup("transport-drop-connect-all");
    sim.inject(Fault::new("*", FaultKind::DropConnect, -1));
    let e = api::unlock(&c, 1001).unwrap_err();
    assert_eq!(e.code(), Code::Network, "{e}");
    assert!(!e.maybe_done());
    let n = sim.counters();
    assert_eq!((n.tcp_connections, n.requests_to(UNLOCK)), (3, 0));
}

#[test]
fn keep_alive_one_connection_one_handshake() {
    let (sim, _dir, c) = setup("transport-keepalive");
    for _ in 0..5 {
        assert_eq!(api::query_electric_quantity(&c, 1001).unwrap(), 87);
    }
    api::unlock(&c, 1001).unwrap();
    assert_eq!(
        api::lock_detail(&c, 1002).unwrap().lock.alias.as_deref(),
        Some("Room 102")
    );
    let n = sim.counters();
    assert_eq!(n.total_requests(), 7);
    assert_eq!((n.tcp_connections, n.tls_handshakes), (1, 1), "{n:?}");
}

#[test]
fn tls_without_ca_file_fails_with_tls() {
    let sim = start_sim(State::fixture());
    let dir = TempDir::new("transport-tls");
    let mut cfg = config(&sim, dir.path());
    cfg.ca_file = None;
    let c = seeded_client(cfg);
    let e = api::query_electric_quantity(&c, 1001).unwrap_err();
    assert_eq!(e.code(), Code::Tls, "{e}");
    assert!(e.message().contains("ca_file"), "{e}");
    let n = sim.counters();
    // Not retried, nothing sent.
    assert_eq!(
        (n.tcp_connections, n.tls_handshakes, n.total_requests()),
        (1, 0, 0)
    );
}

#[test]
fn call_counter_counts_across_clients() {
    let (sim, dir, c) = setup("transport-counter");
    for id in [1001, 1002, 2001] {
        api::query_electric_quantity(&c, id).unwrap();
    }
    let s = c.stats().unwrap();
    assert_eq!(s.api_calls, 3);
    assert_eq!(s.api_calls, sim.counters().api_calls());
    assert_eq!(
        s.month,
        ttlock::state::beijing_month(ttlock::transport::now_ms())
    );
    // Another process on the same state_dir adds to the same count.
    let other = seeded_client(config(&sim, dir.path()));
    api::lock_detail(&other, 1001).unwrap();
    assert_eq!(c.stats().unwrap().api_calls, 4);
    // Failed attempts count too (they may have been billed).
    sim.inject(Fault::errcode(BATTERY, -3003, -1));
    let _ = api::query_electric_quantity(&c, 1001);
    sim.clear_faults();
    assert_eq!(c.stats().unwrap().api_calls, 7);
    assert_eq!(sim.counters().api_calls(), 7);
}

#[test]
fn errcodes_map_end_to_end() {
    let sim = start_sim(State::fixture());
    sim.set_options(|o| o.gateway_hold_ms = 0);
    sim.with_state(|s| {
        s.lock_mut(1002).unwrap().remote_unlock = false;
        s.lock_mut(2001).unwrap().gateway_ids.clear();
    });
    let dir = TempDir::new("transport-errcodes");
    let c = seeded_client(config(&sim, dir.path()));
    let check = |e: Error, code: Code, errcode: i64| {
        assert_eq!((e.code(), e.errcode()), (code, Some(errcode)), "{e}");
        assert!(e.message().contains(&errcode.to_string()), "{e}");
    };
    check(
        api::unlock(&c, 1002).unwrap_err(),
        Code::NotSupported,
        -4043,
    );
    check(api::unlock(&c, 2001).unwrap_err(), Code::LockOffline, -2012);
    check(api::unlock(&c, 424242).unwrap_err(), Code::NotFound, -1003);
    sim.with_state(|s| s.gateway_mut(1).unwrap().online = false);
    check(
        api::unlock(&c, 1001).unwrap_err(),
        Code::GatewayOffline,
        -3002,
    );
    // Not retried: none of these can succeed by waiting a few hundred ms.
    assert_eq!(sim.counters().requests_to(UNLOCK), 4);
}

#[test]
fn server_clock_skew_is_clock_skew() {
    let (sim, _dir, c) = setup("transport-skew");
    sim.set_options(|o| o.clock_offset_ms = 10 * 60_000);
    let e = api::query_electric_quantity(&c, 1001).unwrap_err();
    assert_eq!((e.code(), e.errcode()), (Code::ClockSkew, Some(80000)));
    assert!(e.message().contains("check its NTP settings"), "{e}");
}

#[test]
fn numbers_as_strings_are_read() {
    let (sim, _dir, c) = setup("transport-strings");
    sim.set_options(|o| o.numbers_as_strings = true);
    assert_eq!(api::query_electric_quantity(&c, 1001).unwrap(), 87);
    let page = api::lock_list(&c, 1, 100).unwrap();
    let mut ids: Vec<i64> = page.list.iter().map(|l| l.lock_id).collect();
    ids.sort();
    assert_eq!(ids, vec![1001, 1002, 2001]);
    assert_eq!(api::query_open_state(&c, 1001).unwrap().state, 0);
}
