//! Faults, gateways under concurrency, latency, counters and connection handling.

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::*;
use ttlock_sim::*;

const ADD: &str = "/v3/keyboardPwd/add";
const UNLOCK: &str = "/v3/lock/unlock";

fn add_params(code: &str) -> Vec<(String, String)> {
    with_auth(&[
        ("lockId", "1001"),
        ("keyboardPwd", code),
        ("keyboardPwdType", "2"),
        ("addType", "2"),
    ])
}

fn post_raw(c: &mut Client, path: &str, params: &[(String, String)]) -> std::io::Result<Resp> {
    let refs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    c.post(path, &refs)
}

fn codes(sim: &Sim, lock: i64) -> Vec<String> {
    sim.state()
        .passcodes(lock)
        .iter()
        .map(|p| p.keyboard_pwd.clone())
        .collect()
}

#[test]
fn drop_before_and_lose_answer() {
    let sim = start(quick_fixture());
    let mut c = Client::https(&sim);
    sim.inject(Fault::new(ADD, FaultKind::DropBefore, 1));
    let e = post_raw(&mut c, ADD, &add_params("1111")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "{e}");
    assert!(codes(&sim, 1001).is_empty(), "drop_before does nothing");

    sim.inject(Fault::new(ADD, FaultKind::LoseAnswer, 1));
    assert!(post_raw(&mut c, ADD, &add_params("2222")).is_err());
    assert_eq!(
        codes(&sim, 1001),
        vec!["2222"],
        "lose_answer carried it out"
    );
    // A retry now meets the code: -3007.
    let r = post_raw(&mut c, ADD, &add_params("2222")).unwrap();
    assert_eq!(errcode(&r.json()), -3007);
    let n = sim.counters();
    assert_eq!(n.requests_to(ADD), 3);
    assert_eq!(
        n.tcp_connections, 3,
        "each dropped connection forced a new one"
    );
    assert_eq!(n.tls_handshakes, 3);
    assert!(sim.pending_faults().is_empty());
}

#[test]
fn http_status_invalid_json_errcode_and_fake_success() {
    let sim = start(quick_fixture());
    let mut c = Client::https(&sim);

    sim.inject(Fault::http_status(ADD, 502, 1));
    let r = post_raw(&mut c, ADD, &add_params("1111")).unwrap();
    assert_eq!(r.status, 502);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text().contains("502 Bad Gateway"));
    sim.inject(Fault::new(ADD, FaultKind::HttpStatus, 1));
    assert_eq!(
        post_raw(&mut c, ADD, &add_params("1111")).unwrap().status,
        503,
        "default 503"
    );
    assert!(codes(&sim, 1001).is_empty());
    sim.inject(Fault::http_status(ADD, 500, 1).performed());
    assert_eq!(
        post_raw(&mut c, ADD, &add_params("1111")).unwrap().status,
        500
    );
    assert_eq!(codes(&sim, 1001), vec!["1111"], "performed before the 500");

    sim.inject(Fault::new(ADD, FaultKind::InvalidJson, 1));
    let r = post_raw(&mut c, ADD, &add_params("3333")).unwrap();
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    assert_eq!(codes(&sim, 1001).len(), 1);
    sim.inject(Fault::new(ADD, FaultKind::InvalidJson, 1).performed());
    let r = post_raw(&mut c, ADD, &add_params("3333")).unwrap();
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    assert_eq!(codes(&sim, 1001).len(), 2);

    sim.inject(Fault::errcode(ADD, -3003, 1));
    let r = post_raw(&mut c, ADD, &add_params("4444")).unwrap();
    assert_eq!(
        r.json(),
        serde_json::from_str::<serde_json::Value>(&errcode_body(-3003)).unwrap()
    );
    assert_eq!(
        codes(&sim, 1001).len(),
        2,
        "answered without doing anything"
    );
    assert_eq!(
        sim.counters().gateway_busy_sent,
        0,
        "injected -3003 is not a busy gateway"
    );
    sim.inject(Fault::new(ADD, FaultKind::Errcode, 1));
    assert_eq!(
        errcode(&post_raw(&mut c, ADD, &add_params("4444")).unwrap().json()),
        -3003,
        "default -3003"
    );

    let id = sim.state().passcodes(1001)[0].keyboard_pwd_id.to_string();
    sim.inject(Fault::new(
        "/v3/keyboardPwd/delete",
        FaultKind::FakeSuccess,
        1,
    ));
    let del = with_auth(&[
        ("lockId", "1001"),
        ("keyboardPwdId", &id),
        ("deleteType", "2"),
    ]);
    let r = post_raw(&mut c, "/v3/keyboardPwd/delete", &del).unwrap();
    assert_eq!(errcode(&r.json()), 0);
    assert_eq!(codes(&sim, 1001).len(), 2, "fake success deleted nothing");
    assert_eq!(
        errcode(
            &post_raw(&mut c, "/v3/keyboardPwd/delete", &del)
                .unwrap()
                .json()
        ),
        0
    );
    assert_eq!(codes(&sim, 1001).len(), 1);
    // Kept alive through all the answered faults: one connection.
    assert_eq!(sim.counters().tcp_connections, 1);
}

#[test]
fn drop_connect_closes_before_tls() {
    let sim = start(quick_fixture());
    sim.inject(Fault::new("*", FaultKind::DropConnect, 2));
    let mut c = Client::https(&sim);
    let params = with_auth(&[("lockId", "1001")]);
    for _ in 0..2 {
        let e = post_raw(&mut c, UNLOCK, &params).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::UnexpectedEof
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
            ),
            "{e:?}"
        );
    }
    let n = sim.counters();
    assert_eq!(
        (n.tcp_connections, n.tls_handshakes, n.total_requests()),
        (2, 0, 0)
    );
    assert_eq!(
        errcode(&post_raw(&mut c, UNLOCK, &params).unwrap().json()),
        0
    );
    let n = sim.counters();
    assert_eq!(
        (n.tcp_connections, n.tls_handshakes, n.requests_to(UNLOCK)),
        (3, 1, 1)
    );
}

#[test]
fn counts_wildcards_and_persistent_faults() {
    let sim = start(quick_fixture());
    let mut c = Client::https(&sim);
    let q = with_auth(&[("lockId", "1001")]);
    let get = |c: &mut Client, path: &str| {
        let refs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        c.get(path, &refs).unwrap()
    };
    sim.inject(Fault::http_status("*", 503, 2));
    assert_eq!(get(&mut c, "/v3/lock/detail").status, 503);
    assert_eq!(get(&mut c, "/v3/gateway/listByLock").status, 503);
    assert_eq!(get(&mut c, "/v3/lock/detail").status, 200, "count ran out");
    // Only the named path is caught.
    sim.inject(Fault::errcode("/v3/lock/queryOpenState", -3003, -1));
    for _ in 0..5 {
        assert_eq!(
            errcode(&get(&mut c, "/v3/lock/queryOpenState").json()),
            -3003
        );
        assert_eq!(get(&mut c, "/v3/lock/detail").json()["lockId"], 1001);
    }
    assert_eq!(
        sim.pending_faults().len(),
        1,
        "a negative count never runs out"
    );
    sim.clear_faults();
    assert_eq!(get(&mut c, "/v3/lock/queryOpenState").json()["state"], 0);
    // Faults apply to the token endpoint too, before the client check.
    sim.inject(Fault::new("/oauth2/token", FaultKind::DropBefore, 1));
    assert!(c.post("/oauth2/token", &[("clientId", "x")]).is_err());
    assert_eq!(sim.counters().token_grants, 0, "dropped before the handler");
}

#[test]
fn a_lock_id_fault_catches_only_its_lock() {
    let sim = start(quick_fixture());
    let mut c = Client::https(&sim);
    let add_on = |lock: &str, code: &str| {
        with_auth(&[
            ("lockId", lock),
            ("keyboardPwd", code),
            ("keyboardPwdType", "2"),
            ("addType", "2"),
        ])
    };
    sim.inject(Fault::errcode(ADD, -3003, 1).with_lock_id(1001));
    // Another lock passes untouched and leaves the count alone.
    let r = post_raw(&mut c, ADD, &add_on("2001", "5555")).unwrap();
    assert!(r.json()["keyboardPwdId"].as_i64().is_some(), "{}", r.text());
    assert_eq!(codes(&sim, 2001), vec!["5555"]);
    assert_eq!(sim.pending_faults().len(), 1);
    assert_eq!(
        sim.pending_faults()[0].count,
        1,
        "count not used by lock 2001"
    );
    // Its own lock is caught, which uses the count up.
    let r = post_raw(&mut c, ADD, &add_on("1001", "5555")).unwrap();
    assert_eq!(errcode(&r.json()), -3003);
    assert!(
        codes(&sim, 1001).is_empty(),
        "answered without doing anything"
    );
    assert!(sim.pending_faults().is_empty());
    let r = post_raw(&mut c, ADD, &add_on("1001", "5555")).unwrap();
    assert!(r.json()["keyboardPwdId"].as_i64().is_some(), "{}", r.text());
    assert_eq!(codes(&sim, 1001), vec!["5555"]);
    assert_eq!(sim.counters().requests_to(ADD), 3);

    // lockId in the query string counts too; a request without lockId is not caught.
    sim.inject(Fault::http_status("*", 502, 1).with_lock_id(2001));
    let get = |c: &mut Client, path: &str, params: &[(&str, &str)]| {
        let p = with_auth(params);
        let refs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        c.get(path, &refs).unwrap().status
    };
    let page = [("pageNo", "1"), ("pageSize", "20")];
    assert_eq!(get(&mut c, "/v3/lock/list", &page), 200);
    assert_eq!(get(&mut c, "/v3/lock/detail", &[("lockId", "1001")]), 200);
    assert_eq!(get(&mut c, "/v3/lock/detail", &[("lockId", "2001")]), 502);
    assert!(sim.pending_faults().is_empty());

    // The admin endpoint takes and shows it as "lock_id".
    let mut a = Client::admin(&sim);
    let f = serde_json::json!({"path": ADD, "kind": "drop_before", "lock_id": 1001});
    assert_eq!(a.admin_json("POST", "/fault", Some(&f)).0, 200);
    let (_, v) = a.admin_json("GET", "/faults", None);
    assert_eq!(v[0]["lock_id"], 1001);
    assert_eq!(
        sim.pending_faults(),
        vec![Fault::new(ADD, FaultKind::DropBefore, 1).with_lock_id(1001)]
    );
}

#[test]
fn delay_and_latency_add_time() {
    let sim = start(quick_fixture());
    let mut c = Client::https(&sim);
    let q = with_auth(&[("lockId", "1001")]);
    let refs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    c.get("/v3/lock/detail", &refs).unwrap(); // warm: TLS handshake done
    sim.inject(Fault::delay("/v3/lock/detail", 300, 1));
    let t = Instant::now();
    let r = c.get("/v3/lock/detail", &refs).unwrap();
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.json()["lockId"], 1001, "normal answer after the delay");
    sim.set_options(|o| o.latency_ms = 200);
    let t = Instant::now();
    c.get("/v3/lock/detail", &refs).unwrap();
    assert!(t.elapsed() >= Duration::from_millis(200));
}

#[test]
fn a_busy_gateway_answers_3003_at_once_and_others_are_free() {
    let mut s = State::fixture();
    s.options.gateway_hold_ms = 2000;
    let sim = start(s);
    std::thread::scope(|scope| {
        // Holds gateway 2 (lock 1002) for 2 s.
        let first = scope.spawn(|| {
            let mut c = Client::https(&sim);
            post_raw(&mut c, UNLOCK, &with_auth(&[("lockId", "1002")]))
                .unwrap()
                .json()
        });
        wait_for(&sim, "the first unlock at the gateway", |n| {
            n.max_in_flight_per_gateway.get(&2) == Some(&1)
        });
        let mut c = Client::https(&sim);
        // Same gateway (the main door is on gateway 2 too): busy.
        let busy = post_raw(&mut c, UNLOCK, &with_auth(&[("lockId", "2001")]))
            .unwrap()
            .json();
        assert_eq!(errcode(&busy), -3003);
        assert_eq!(
            busy["errmsg"],
            "The Gateway is busy. Please try again later."
        );
        // The state lock is free during the hold: a cloud query answers meanwhile.
        let l = c.v3_get(
            "/v3/lock/listKeyboardPwd",
            &[("lockId", "1002"), ("pageNo", "1"), ("pageSize", "1")],
        );
        assert_eq!(l["total"], 0);
        assert!(
            !first.is_finished(),
            "the hold was still on when the query answered"
        );
        assert_eq!(errcode(&first.join().unwrap()), 0);
    });
    let n = sim.counters();
    assert_eq!(n.gateway_busy_sent, 1);
    assert_eq!(
        n.max_in_flight_per_gateway.get(&2),
        Some(&2),
        "rejected requests count"
    );
    assert_eq!(sim.state().lock(1002).unwrap().open_state, 1);
    assert_eq!(sim.state().lock(2001).unwrap().open_state, 0);
}

#[test]
fn gateways_work_in_parallel_and_serial_clients_never_see_busy() {
    let mut s = State::fixture();
    s.options.gateway_hold_ms = 50;
    let sim = start(s);
    std::thread::scope(|scope| {
        for lock in ["1001", "1002"] {
            let sim = &sim;
            scope.spawn(move || {
                let mut c = Client::https(sim);
                for i in 0..4 {
                    let code = format!("{lock}{i}");
                    let p = with_auth(&[
                        ("lockId", lock),
                        ("keyboardPwd", &code),
                        ("keyboardPwdType", "2"),
                        ("addType", "2"),
                    ]);
                    let r = post_raw(&mut c, ADD, &p).unwrap().json();
                    assert!(r["keyboardPwdId"].is_i64(), "{r}");
                }
            });
        }
    });
    let n = sim.counters();
    assert_eq!(n.gateway_busy_sent, 0);
    assert_eq!(n.max_in_flight(), 1);
    assert_eq!(n.max_in_flight_per_gateway.len(), 2);
    assert_eq!((codes(&sim, 1001).len(), codes(&sim, 1002).len()), (4, 4));
}

#[test]
fn keep_alive_and_connection_close() {
    let sim = start(quick_fixture());
    let mut c = Client::https(&sim);
    let q = with_auth(&[("lockId", "1001"), ("pageNo", "1"), ("pageSize", "1")]);
    let refs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for _ in 0..3 {
        assert_eq!(
            c.get("/v3/lock/listKeyboardPwd", &refs).unwrap().status,
            200
        );
    }
    assert_eq!(
        (
            sim.counters().tcp_connections,
            sim.counters().tls_handshakes
        ),
        (1, 1)
    );
    let target = format!("/v3/lock/listKeyboardPwd?{}", form(&refs));
    let r = c
        .request("GET", &target, None, &[("Connection", "close")])
        .unwrap();
    assert_eq!(r.header("connection"), Some("close"));
    c.get("/v3/lock/listKeyboardPwd", &refs).unwrap();
    let n = sim.counters();
    assert_eq!(
        (
            n.tcp_connections,
            n.tls_handshakes,
            n.requests_to("/v3/lock/listKeyboardPwd")
        ),
        (2, 2, 5)
    );
    sim.reset_counters();
    assert_eq!(sim.counters(), Counters::default());
}

#[test]
fn a_client_without_the_ca_is_refused() {
    let sim = start(quick_fixture());
    // An unrelated CA: the handshake must fail, so the module can trust only ca_file.
    let other = start(quick_fixture());
    let cfg = tls_config(other.ca_file());
    let tcp = std::net::TcpStream::connect(sim.addr()).unwrap();
    let conn = rustls::ClientConnection::new(cfg, "127.0.0.1".try_into().unwrap()).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    use std::io::Write;
    let e = s
        .write_all(b"GET / HTTP/1.1\r\n\r\n")
        .and_then(|_| s.flush())
        .unwrap_err();
    assert!(
        e.to_string().contains("UnknownIssuer") || e.to_string().contains("certificate"),
        "{e}"
    );
    // The name check: localhost is in the certificate, another name is not.
    for (name, ok) in [("localhost", true), ("example.com", false)] {
        let tcp = std::net::TcpStream::connect(sim.addr()).unwrap();
        let conn = rustls::ClientConnection::new(
            tls_config(sim.ca_file()),
            name.to_string().try_into().unwrap(),
        )
        .unwrap();
        let mut s = rustls::StreamOwned::new(conn, tcp);
        let r = s
            .write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .and_then(|_| s.flush());
        assert_eq!(r.is_ok(), ok, "{name}: {r:?}");
    }
    // The server counts a handshake when its side completes, which may be after the client's
    // write returned: wait for it (bounded) instead of racing it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while sim.counters().tls_handshakes < 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(sim.counters().tls_handshakes, 1);
}

#[test]
fn stopping_ends_a_long_stall_and_removes_the_ca() {
    let sim = start(quick_fixture());
    let ca = sim.ca_path().to_path_buf();
    assert!(std::fs::read_to_string(&ca)
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    sim.inject(Fault::delay("*", 60_000, 1));
    let mut c = Client::https(&sim);
    let p = with_auth(&[("lockId", "1001")]);
    let t = Instant::now();
    std::thread::scope(|scope| {
        let h = scope.spawn(move || post_raw(&mut c, UNLOCK, &p));
        wait_for(&sim, "the stalled request", |n| n.requests_to(UNLOCK) == 1);
        drop(sim);
        assert!(
            h.join().unwrap().is_err(),
            "no answer from a stopped simulator"
        );
    });
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "stop interrupts the 60 s stall"
    );
    assert!(!ca.exists());
}

#[test]
fn stopping_during_a_gateway_hold_answers_nothing() {
    let mut s = State::fixture();
    s.options.gateway_hold_ms = 60_000;
    let sim = start(s);
    let mut c = Client::https(&sim);
    let p = with_auth(&[("lockId", "1001")]);
    let t = Instant::now();
    std::thread::scope(|scope| {
        let h = scope.spawn(move || post_raw(&mut c, UNLOCK, &p));
        wait_for(&sim, "the unlock at the gateway", |n| {
            n.max_in_flight_per_gateway.get(&1) == Some(&1)
        });
        drop(sim);
        let r = h.join().unwrap();
        assert!(r.is_err(), "no answer, not even an error body: {r:?}");
    });
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "stop interrupts the hold"
    );
}

#[test]
fn a_lost_refresh_answer_still_rotates_the_token() {
    let sim = start(quick_fixture());
    let mut c = Client::https(&sim);
    let refresh = [
        ("clientId", FIXTURE_CLIENT_ID),
        ("clientSecret", FIXTURE_CLIENT_SECRET),
        ("grant_type", "refresh_token"),
        ("refresh_token", FIXTURE_REFRESH_TOKEN),
    ];
    sim.inject(Fault::new("/oauth2/token", FaultKind::LoseAnswer, 1));
    assert!(c.post("/oauth2/token", &refresh).is_err());
    // The client never saw the new pair, and its old refresh token is gone: 10011.
    let r = c.post("/oauth2/token", &refresh).unwrap().json();
    assert_eq!(errcode(&r), 10011);
    let n = sim.counters();
    assert_eq!((n.token_refreshes, n.requests_to("/oauth2/token")), (2, 2));
    assert_eq!(sim.state().tokens.len(), 2, "the lost answer's pair exists");
}
