//! The admin API (plain HTTP, JSON, as the Lua tests drive it with curl) and the binary.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::*;
use serde_json::{json, Value};
use ttlock_sim::*;

fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl is installed (the Lua tier needs it too)");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_string())
}

#[test]
fn admin_api_with_curl() {
    let sim = start(quick_fixture());
    let a = sim.admin_url().to_string();
    let (code, body) = curl(&[&format!("{a}/state")]);
    assert_eq!(code, 200);
    let st = State::from_json(&body).unwrap();
    assert_eq!(st, sim.state());

    // A big PUT (curl sends Expect: 100-continue above 1 KiB).
    let mut big = State::fixture();
    big.options.gateway_hold_ms = 0;
    big.add_passcodes(2001, 300, |i| (TYPE_PERIOD, 1, 2 + i as i64));
    let (code, body) = curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &big.to_json(),
        &format!("{a}/state"),
    ]);
    assert_eq!((code, body.as_str()), (200, r#"{"ok":true}"#));
    assert_eq!(sim.state().passcodes(2001).len(), 300);

    let (code, body) = curl(&[
        "-X",
        "POST",
        "-d",
        r#"{"gateway_hold_ms":7,"numbers_as_strings":true}"#,
        &format!("{a}/options"),
    ]);
    assert_eq!(code, 200);
    let o: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            o["gateway_hold_ms"].as_u64(),
            o["numbers_as_strings"].as_bool()
        ),
        (Some(7), Some(true))
    );
    assert_eq!(sim.state().options.gateway_hold_ms, 7);
    let (code, body) = curl(&[
        "-X",
        "POST",
        "-d",
        r#"{"gateway_hold":7}"#,
        &format!("{a}/options"),
    ]);
    assert_eq!(code, 400);
    assert!(body.contains("gateway_hold"), "{body}");

    let (code, _) = curl(&[
        "-X",
        "POST",
        "-d",
        r#"{"path":"/v3/lock/unlock","kind":"errcode","errcode":-3002,"count":2}"#,
        &format!("{a}/fault"),
    ]);
    assert_eq!(code, 200);
    assert_eq!(
        sim.pending_faults(),
        vec![Fault::errcode("/v3/lock/unlock", -3002, 2)]
    );
    let (code, body) = curl(&[
        "-X",
        "POST",
        "-d",
        r#"{"path":"*","kind":"melt"}"#,
        &format!("{a}/fault"),
    ]);
    assert_eq!(code, 400, "{body}");
    let (code, _) = curl(&["-X", "DELETE", &format!("{a}/faults")]);
    assert_eq!(code, 200);
    assert!(sim.pending_faults().is_empty());

    let mut c = Client::https(&sim);
    c.v3_post("/v3/lock/unlock", &[("lockId", "1001")]);
    let (_, body) = curl(&[&format!("{a}/counters")]);
    let n: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(n["requests"]["/v3/lock/unlock"], 1);
    assert_eq!(n["max_in_flight_per_gateway"]["1"], 1);
    assert_eq!(n["tcp_connections"], 1);
    assert_eq!(
        serde_json::from_value::<Counters>(n).unwrap(),
        sim.counters()
    );
    curl(&["-X", "POST", &format!("{a}/counters/reset")]);
    assert_eq!(sim.counters(), Counters::default());

    let (_, body) = curl(&["-X", "POST", &format!("{a}/tokens/expire")]);
    assert_eq!(body, r#"{"ok":true}"#);
    assert_eq!(
        errcode(&c.v3_post("/v3/lock/unlock", &[("lockId", "1001")])),
        10004
    );
    let (_, body) = curl(&[&format!("{a}/now")]);
    let now: Value = serde_json::from_str(&body).unwrap();
    assert!((now["now_ms"].as_i64().unwrap() - now_ms()).abs() < 60_000);
    assert_eq!(
        sim.counters().total_requests(),
        1,
        "admin requests are not counted"
    );
}

#[test]
fn admin_api_lock_gateway_and_passcode_edits() {
    let sim = start(quick_fixture());
    let mut a = Client::admin(&sim);
    let mut c = Client::https(&sim);

    let (st, v) = a.admin_json(
        "POST",
        "/locks/1001",
        Some(&json!({"remote_unlock": false, "battery": 12})),
    );
    assert_eq!(st, 200);
    assert_eq!(
        (v["remote_unlock"].as_bool(), v["battery"].as_i64()),
        (Some(false), Some(12))
    );
    assert_eq!(
        errcode(&c.v3_post("/v3/lock/unlock", &[("lockId", "1001")])),
        -4043
    );
    assert_eq!(
        a.admin_json("POST", "/locks/1001", Some(&json!({"lock_id": 5})))
            .0,
        400
    );
    assert_eq!(a.admin_json("POST", "/locks/77", Some(&json!({}))).0, 404);
    assert_eq!(a.admin_json("GET", "/locks/1001", None).1["battery"], 12);

    let (st, v) = a.admin_json("POST", "/gateways/2", Some(&json!({"online": false})));
    assert_eq!((st, v["online"].as_bool()), (200, Some(false)));
    assert_eq!(
        errcode(&c.v3_post("/v3/lock/unlock", &[("lockId", "2001")])),
        -3002
    );

    let now = now_ms();
    let list = json!([
        {"keyboard_pwd": "90210", "name": "101_old", "type": 3, "start_ms": now - 5 * DAY_MS, "end_ms": now - 3 * DAY_MS},
        {"keyboard_pwd": "4321", "name": "staff", "type": 2}
    ]);
    let (st, v) = a.admin_json("POST", "/locks/1001/passcodes", Some(&list));
    assert_eq!(st, 200, "{v}");
    let ids: Vec<i64> = v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    let l = c.v3_get(
        "/v3/lock/listKeyboardPwd",
        &[
            ("lockId", "1001"),
            ("pageNo", "1"),
            ("pageSize", "10"),
            ("orderBy", "0"),
        ],
    );
    assert_eq!(l["list"][0]["keyboardPwdName"], "101_old");
    assert_eq!(l["list"][0]["keyboardPwdId"], ids[0]);
    assert_eq!(l["list"][1]["keyboardPwdType"], 2);
    let (st, _) = a.admin_json(
        "POST",
        "/locks/1001/passcodes",
        Some(&json!({"keyboard_pwd": "5555", "name": "one"})),
    );
    assert_eq!(st, 200);
    assert_eq!(sim.state().passcodes(1001).len(), 3);

    // Bad bodies and unknown requests.
    let r = a.request("PUT", "/state", Some("{not json"), &[]).unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        a.admin_json("PUT", "/state", Some(&json!({"users": []}))).0,
        400,
        "app is required"
    );
    assert_eq!(a.admin_json("GET", "/nothing", None).0, 404);
    let r = a.request("GET", "/", None, &[]).unwrap();
    assert!(r.text().contains("POST   /fault"));
    // The admin connection was kept alive through all of that.
    assert_eq!(a.connects, 1);
}

#[test]
fn faults_via_admin_reach_the_api() {
    let sim = start(quick_fixture());
    let mut a = Client::admin(&sim);
    let faults = json!([
        {"path": "/v3/lock/unlock", "kind": "lose_answer"},
        {"path": "/v3/lock/unlock", "kind": "http_status", "status": 504, "perform": true}
    ]);
    let (st, v) = a.admin_json("POST", "/fault", Some(&faults));
    assert_eq!((st, v["pending"].as_i64()), (200, Some(2)));
    assert_eq!(
        a.admin_json("GET", "/faults", None)
            .1
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let mut c = Client::https(&sim);
    let p = with_auth(&[("lockId", "1001")]);
    let refs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert!(c.post("/v3/lock/unlock", &refs).is_err());
    assert_eq!(sim.state().lock(1001).unwrap().open_state, 1, "carried out");
    assert_eq!(c.post("/v3/lock/unlock", &refs).unwrap().status, 504);
    assert_eq!(sim.state().lock(1001).unwrap().records.len(), 2);
    assert_eq!(sim.counters().requests_to("/v3/lock/unlock"), 2);
}

/// Starts the binary; returns the child and its four lines as key/value pairs.
fn spawn_bin(
    args: &[&str],
) -> (
    std::process::Child,
    std::collections::HashMap<String, String>,
) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ttlock-sim"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut vals = std::collections::HashMap::new();
    let mut order = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "binary ended before `ready`"
        );
        let line = line.trim_end().to_string();
        if line == "ready" {
            break;
        }
        let (k, v) = line.split_once('=').unwrap();
        order.push(k.to_string());
        vals.insert(k.to_string(), v.to_string());
    }
    assert_eq!(order, ["base_url", "ca_file", "admin_url"]);
    (child, vals)
}

fn https_get(base: &str, ca: &str, target: &str) -> Value {
    let cfg = tls_config(ca);
    let addr = base.trim_start_matches("https://");
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    let conn = rustls::ClientConnection::new(cfg, "127.0.0.1".try_into().unwrap()).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(&mut s, &mut text);
    let body = text.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap()
}

#[test]
fn binary_prints_its_lines_and_exits_on_eof() {
    let (mut child, v) = spawn_bin(&[
        "--fixture",
        "demo-hotel",
        "--gateway-hold-ms",
        "0",
        "--latency-ms",
        "1",
        "--exit-on-eof",
    ]);
    assert!(v["base_url"].starts_with("https://127.0.0.1:"));
    assert!(v["admin_url"].starts_with("http://127.0.0.1:"));
    let ca = v["ca_file"].clone();
    let q = form(
        &with_auth(&[("lockId", "1000"), ("pageNo", "1"), ("pageSize", "20")])
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
    );
    let l = https_get(
        &v["base_url"],
        &ca,
        &format!("/v3/lock/listKeyboardPwd?{q}"),
    );
    assert_eq!(l["total"], 5, "demo hotel main door");
    let st = https_get_admin(&v["admin_url"], "/options");
    assert_eq!(
        (st["gateway_hold_ms"].as_u64(), st["latency_ms"].as_u64()),
        (Some(0), Some(1))
    );
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(!std::path::Path::new(&ca).exists(), "CA directory removed");
}

fn https_get_admin(admin: &str, path: &str) -> Value {
    let (code, body) = curl(&[&format!("{admin}{path}")]);
    assert_eq!(code, 200);
    serde_json::from_str(&body).unwrap()
}

#[test]
fn binary_loads_a_state_file_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("sim-state-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("state.json");
    let mut s = State::new("cid-file", "sec-file");
    s.add_gateway(9, "G9");
    s.locks.push(Lock::new(4242, "Lobby", &[9]));
    std::fs::write(&file, s.to_json()).unwrap();
    let (mut child, v) = spawn_bin(&["--state", file.to_str().unwrap()]);
    let st = https_get_admin(&v["admin_url"], "/state");
    assert_eq!(st["app"]["client_id"], "cid-file");
    assert_eq!(st["locks"][0]["lock_id"], 4242);
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    assert!(child.wait().unwrap().success());
    assert!(!std::path::Path::new(&v["ca_file"]).exists());
    std::fs::remove_dir_all(&dir).unwrap();

    let bad = Command::new(env!("CARGO_BIN_EXE_ttlock-sim"))
        .args(["--fixture", "castle"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown fixture"));
}
