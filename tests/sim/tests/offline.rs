//! Doors without a working gateway, random ("offline") codes and the lock's own truth: what the
//! keypad accepts, apart from what the cloud lists (ttlock-api.md §3, §3.2).

mod common;

use common::*;
use serde_json::{json, Value};
use ttlock_sim::*;

const ADD: &str = "/v3/keyboardPwd/add";
const GET: &str = "/v3/keyboardPwd/get";
const CHANGE: &str = "/v3/keyboardPwd/change";
const DELETE: &str = "/v3/keyboardPwd/delete";
const LIST: &str = "/v3/lock/listKeyboardPwd";

/// Lock 3001 "Garden gate" has no gateway; the fixture's locks keep theirs.
const GATE: i64 = 3001;

fn offline_fixture() -> State {
    let mut s = quick_fixture();
    s.locks.push(Lock::new(GATE, "Garden gate", &[]));
    s
}

/// A whole hour a little ahead of now (so the start is not rounded away from "now").
fn next_hour() -> i64 {
    let now = now_ms();
    now - now.rem_euclid(HOUR_MS) + HOUR_MS
}

fn get(c: &mut Client, lock: i64, t: i64, start: i64, end: Option<i64>) -> Value {
    let (lock, t, start) = (lock.to_string(), t.to_string(), start.to_string());
    let end = end.map(|e| e.to_string());
    let mut p = vec![
        ("lockId", lock.as_str()),
        ("keyboardPwdType", t.as_str()),
        ("startDate", start.as_str()),
        ("keyboardPwdName", "guest"),
    ];
    if let Some(e) = &end {
        p.push(("endDate", e.as_str()));
    }
    c.v3_post(GET, &p)
}

fn add(c: &mut Client, lock: i64, code: &str, window: (i64, i64), add_type: i64) -> Value {
    let (lock, s, e, t) = (
        lock.to_string(),
        window.0.to_string(),
        window.1.to_string(),
        add_type.to_string(),
    );
    c.v3_post(
        ADD,
        &[
            ("lockId", &lock),
            ("keyboardPwd", code),
            ("keyboardPwdType", "3"),
            ("startDate", &s),
            ("endDate", &e),
            ("addType", &t),
            ("keyboardPwdName", "custom"),
        ],
    )
}

fn delete(c: &mut Client, lock: i64, id: i64, delete_type: i64) -> i64 {
    errcode(&c.v3_post(
        DELETE,
        &[
            ("lockId", &lock.to_string()),
            ("keyboardPwdId", &id.to_string()),
            ("deleteType", &delete_type.to_string()),
        ],
    ))
}

fn listed(c: &mut Client, lock: i64) -> Vec<i64> {
    let v = c.v3_get(
        LIST,
        &[
            ("lockId", &lock.to_string()),
            ("pageNo", "1"),
            ("pageSize", "200"),
        ],
    );
    v["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|it| it["keyboardPwdId"].as_i64().unwrap())
        .collect()
}

fn reason(a: &KeypadAnswer) -> &'static str {
    a.reason.as_str()
}

#[test]
fn a_door_without_gateway_refuses_what_must_reach_the_lock() {
    let mut s = offline_fixture();
    let now = s.now_ms();
    // A code that reached the lock earlier (by Bluetooth, say).
    let id = s.add_passcode(
        GATE,
        Passcode::period("482193", "old", now - DAY_MS, now + DAY_MS),
    );
    let sim = start(s);
    let mut c = Client::https(&sim);
    let lock = GATE.to_string();
    let window = (now, now + DAY_MS);
    assert_eq!(errcode(&add(&mut c, GATE, "271828", window, 2)), -2012);
    let id_s = id.to_string();
    let change = |c: &mut Client, extra: &[(&str, &str)]| {
        let mut p = vec![
            ("lockId", lock.as_str()),
            ("keyboardPwdId", id_s.as_str()),
            ("changeType", "2"),
        ];
        p.extend_from_slice(extra);
        errcode(&c.v3_post(CHANGE, &p))
    };
    assert_eq!(change(&mut c, &[("newKeyboardPwd", "314159")]), -2012);
    let (s2, e2) = ((now + HOUR_MS).to_string(), (now + 2 * DAY_MS).to_string());
    assert_eq!(
        change(&mut c, &[("startDate", &s2), ("endDate", &e2)]),
        -2012
    );
    // A rename is cloud data: no gateway needed.
    assert_eq!(change(&mut c, &[("keyboardPwdName", "renamed")]), 0);
    assert_eq!(delete(&mut c, GATE, id, 2), -2012);
    for path in ["/v3/lock/unlock", "/v3/lock/lock"] {
        assert_eq!(errcode(&c.v3_post(path, &[("lockId", &lock)])), -2012);
    }
    for path in [
        "/v3/lock/queryOpenState",
        "/v3/lock/queryElectricQuantity",
        "/v3/lock/queryDate",
    ] {
        assert_eq!(errcode(&c.v3_get(path, &[("lockId", &lock)])), -2012);
    }
    assert_eq!(
        c.v3_get("/v3/gateway/listByLock", &[("lockId", &lock)]),
        json!({"list": []})
    );
    assert_eq!(
        c.v3_get("/v3/lock/detail", &[("lockId", &lock)])["hasGateway"],
        0
    );
    assert_eq!(
        c.v3_get("/v3/lock/detail", &[("lockId", "1001")])["hasGateway"],
        1
    );
    let locks = c.v3_get("/v3/lock/list", &[("pageNo", "1"), ("pageSize", "100")]);
    let gate = locks["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lockId"] == GATE)
        .unwrap();
    assert_eq!(gate["hasGateway"], 0);
    // Nothing reached the lock; the rename did reach the cloud; the old code still opens.
    let st = sim.state();
    let l = st.lock(GATE).unwrap();
    assert_eq!(l.passcodes.len(), 1);
    assert_eq!(l.passcodes[0].name, "renamed");
    assert_eq!(l.passcodes[0].keyboard_pwd, "482193");
    assert!(l.keypad.is_empty(), "no divergence: {:?}", l.keypad);
    assert!(sim.keypad(GATE, "482193", None).opens);
    assert_eq!(reason(&sim.keypad(GATE, "314159", None)), "unknown");
    // Cloud-only operations work without a gateway.
    assert_eq!(delete(&mut c, GATE, id, 1), 0);
    assert!(listed(&mut c, GATE).is_empty());
    assert!(
        sim.keypad(GATE, "482193", None).opens,
        "deleted in the cloud only: still on the lock"
    );
}

#[test]
fn a_random_period_code_on_a_door_without_gateway() {
    let sim = start(offline_fixture());
    let mut c = Client::https(&sim);
    let start_ms = next_hour();
    let end_ms = start_ms + 3 * DAY_MS;
    // Minutes past the hour are rounded down; the answer is the code and its id.
    let v = get(
        &mut c,
        GATE,
        3,
        start_ms + 17 * 60_000,
        Some(end_ms + 59_000),
    );
    let code = v["keyboardPwd"].as_str().unwrap().to_string();
    let id = v["keyboardPwdId"].as_i64().unwrap();
    assert!((6..=9).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(listed(&mut c, GATE), vec![id]);
    let st = sim.state();
    let p = st.lock(GATE).unwrap().passcode(id).unwrap();
    assert_eq!((p.start_ms, p.end_ms, p.r#type), (start_ms, end_ms, 3));
    assert!(!p.is_custom);
    // The lock knows it at once, no gateway needed.
    let k = st.lock(GATE).unwrap().keypad_entry(id).unwrap();
    assert!(k.on_lock && k.first_use_ms == 0 && !k.suspended);

    // The same validity again (rounded: other minutes of the same hours) is -1026.
    assert_eq!(
        errcode(&get(&mut c, GATE, 3, start_ms + 59 * 60_000, Some(end_ms))),
        -1026
    );
    // Another whole hour is fine, as is the same validity on another lock or of another type.
    assert!(get(&mut c, GATE, 3, start_ms + HOUR_MS, Some(end_ms))["keyboardPwd"].is_string());
    assert!(get(&mut c, GATE, 3, start_ms, Some(end_ms + HOUR_MS))["keyboardPwd"].is_string());
    assert!(get(&mut c, 1001, 3, start_ms, Some(end_ms))["keyboardPwd"].is_string());
    assert!(get(&mut c, GATE, 2, start_ms, None)["keyboardPwd"].is_string());

    // The keypad, by the lock's clock.
    let at = |h: i64| Some(start_ms + h * HOUR_MS);
    assert_eq!(
        reason(&sim.keypad(GATE, &code, Some(start_ms - 1))),
        "not_yet_valid"
    );
    let first = sim.keypad(GATE, &code, at(2));
    assert_eq!(
        first,
        KeypadAnswer {
            opens: true,
            reason: KeypadReason::Ok,
            keyboard_pwd_id: Some(id)
        }
    );
    // Used within 24 h of its start: it keeps opening until its end.
    assert!(sim.keypad(GATE, &code, at(50)).opens);
    assert_eq!(reason(&sim.keypad(GATE, &code, at(72))), "expired");
    assert_eq!(reason(&sim.keypad(GATE, "0000000", at(2))), "unknown");

    // The opening is a passcode record; the door has no gateway, so it waits on the lock.
    let st = sim.state();
    let l = st.lock(GATE).unwrap();
    assert!(l.records.is_empty());
    assert_eq!(l.unsent_records.len(), 2);
    let r = &l.unsent_records[0];
    assert_eq!(
        (r.record_type, r.record_type_from_lock, r.success),
        (4, 4, 1)
    );
    assert_eq!(
        (r.keyboard_pwd.as_str(), r.username.as_str()),
        (code.as_str(), "guest")
    );
    assert_eq!(r.lock_date_ms, start_ms + 2 * HOUR_MS);
    let recs = |c: &mut Client| {
        c.v3_get(
            "/v3/lockRecord/list",
            &[
                ("lockId", &GATE.to_string()),
                ("pageNo", "1"),
                ("pageSize", "20"),
            ],
        )["total"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(recs(&mut c), 0);
    assert_eq!(sim.upload_records(GATE), 2);
    assert_eq!(recs(&mut c), 2);
}

#[test]
fn a_random_code_first_entered_after_24_hours_is_suspended_for_good() {
    let sim = start(offline_fixture());
    let mut c = Client::https(&sim);
    let start_ms = next_hour();
    let v = get(&mut c, GATE, 3, start_ms, Some(start_ms + 5 * DAY_MS));
    let code = v["keyboardPwd"].as_str().unwrap().to_string();
    let id = v["keyboardPwdId"].as_i64().unwrap();
    let a = sim.keypad(GATE, &code, Some(start_ms + 25 * HOUR_MS));
    assert_eq!(
        (a.opens, reason(&a), a.keyboard_pwd_id),
        (false, "suspended", Some(id))
    );
    assert_eq!(
        reason(&sim.keypad(GATE, &code, Some(start_ms + 26 * HOUR_MS))),
        "suspended",
        "stays suspended"
    );
    assert!(
        sim.state()
            .lock(GATE)
            .unwrap()
            .keypad_entry(id)
            .unwrap()
            .suspended
    );
    assert!(sim.state().lock(GATE).unwrap().unsent_records.is_empty());
    // The cloud still lists it as before: only the lock knows.
    assert_eq!(listed(&mut c, GATE), vec![id]);

    // A permanent random code has the same 24-hour rule; a one-time code opens once in 6 h.
    let perm = get(&mut c, GATE, 2, start_ms, None)["keyboardPwd"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        reason(&sim.keypad(GATE, &perm, Some(start_ms + 24 * HOUR_MS))),
        "suspended"
    );
    let once = get(&mut c, GATE, 1, start_ms, None)["keyboardPwd"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        reason(&sim.keypad(GATE, &once, Some(start_ms + 6 * HOUR_MS))),
        "expired"
    );
    assert!(sim.keypad(GATE, &once, Some(start_ms + 5 * HOUR_MS)).opens);
    assert_eq!(
        reason(&sim.keypad(GATE, &once, Some(start_ms + 5 * HOUR_MS + 1))),
        "used"
    );
    // Several one-time codes per start time are possible (200 by the docs).
    assert!(get(&mut c, GATE, 1, start_ms, None)["keyboardPwd"].is_string());
}

#[test]
fn a_random_code_deleted_in_the_cloud_only_still_opens_and_its_validity_stays_taken() {
    let sim = start(offline_fixture());
    let mut c = Client::https(&sim);
    let start_ms = next_hour();
    let end_ms = start_ms + 2 * DAY_MS;
    let v = get(&mut c, GATE, 3, start_ms, Some(end_ms));
    let code = v["keyboardPwd"].as_str().unwrap().to_string();
    let id = v["keyboardPwdId"].as_i64().unwrap();
    assert_eq!(delete(&mut c, GATE, id, 1), 0);
    assert!(listed(&mut c, GATE).is_empty());
    assert_eq!(delete(&mut c, GATE, id, 1), -2009);
    // The lock computes it from the algorithm: it opens until its end whatever the cloud says.
    let a = sim.keypad(GATE, &code, Some(start_ms + HOUR_MS));
    assert_eq!((a.opens, a.keyboard_pwd_id), (true, Some(id)));
    assert!(sim.keypad(GATE, &code, Some(end_ms - 1)).opens);
    assert_eq!(reason(&sim.keypad(GATE, &code, Some(end_ms))), "expired");
    // Its record has no name: the cloud no longer lists the code.
    assert_eq!(
        sim.state().lock(GATE).unwrap().unsent_records[0].username,
        ""
    );
    // Asking for the same validity again: -1026, listed or deleted.
    assert_eq!(
        errcode(&get(&mut c, GATE, 3, start_ms, Some(end_ms))),
        -1026
    );
}

#[test]
fn random_codes_deleted_and_changed_through_a_gateway() {
    let sim = start(quick_fixture());
    let mut c = Client::https(&sim);
    let start_ms = next_hour();
    let end_ms = start_ms + 2 * DAY_MS;
    let v = get(&mut c, 1001, 3, start_ms, Some(end_ms));
    let code = v["keyboardPwd"].as_str().unwrap().to_string();
    let id = v["keyboardPwdId"].as_i64().unwrap();
    let change_window = |c: &mut Client, change_type: &str| {
        errcode(&c.v3_post(
            CHANGE,
            &[
                ("lockId", "1001"),
                ("keyboardPwdId", &id.to_string()),
                ("startDate", &start_ms.to_string()),
                ("endDate", &(end_ms + DAY_MS).to_string()),
                ("changeType", change_type),
            ],
        ))
    };
    // Never used on the lock: cannot be changed.
    assert_eq!(change_window(&mut c, "2"), -3008);
    assert!(sim.keypad(1001, &code, Some(start_ms)).opens);
    assert_eq!(change_window(&mut c, "2"), 0);
    assert!(sim.keypad(1001, &code, Some(end_ms + HOUR_MS)).opens);
    // On the gateway lock the opening is in the cloud at once.
    assert_eq!(sim.state().lock(1001).unwrap().records.len(), 2);
    // Deleted through the gateway: the lock forgets it; the validity stays taken.
    assert_eq!(delete(&mut c, 1001, id, 2), 0);
    assert_eq!(reason(&sim.keypad(1001, &code, Some(start_ms))), "unknown");
    assert_eq!(
        errcode(&get(&mut c, 1001, 3, start_ms, Some(end_ms))),
        -1026
    );
}

#[test]
fn custom_codes_follow_what_reached_the_lock() {
    let sim = start(quick_fixture());
    let mut c = Client::https(&sim);
    let now = now_ms();
    let window = (now - HOUR_MS, now + DAY_MS);

    // Added through the gateway, deleted in the cloud only: the lock still opens.
    let kept = add(&mut c, 1001, "480213", window, 2)["keyboardPwdId"]
        .as_i64()
        .unwrap();
    assert_eq!(delete(&mut c, 1001, kept, 1), 0);
    assert!(!listed(&mut c, 1001).contains(&kept));
    let a = sim.keypad(1001, "480213", None);
    assert_eq!((a.opens, a.keyboard_pwd_id), (true, Some(kept)));
    assert_eq!(
        sim.state()
            .lock(1001)
            .unwrap()
            .keypad_entry(kept)
            .unwrap()
            .keyboard_pwd,
        "480213"
    );

    // Added and deleted through the gateway: gone from both.
    let gone = add(&mut c, 1001, "591324", window, 2)["keyboardPwdId"]
        .as_i64()
        .unwrap();
    assert!(sim.keypad(1001, "591324", None).opens);
    assert_eq!(delete(&mut c, 1001, gone, 2), 0);
    assert_eq!(reason(&sim.keypad(1001, "591324", None)), "unknown");

    // Added in the cloud only (addType 1): listed, but the lock never got it.
    let cloud = add(&mut c, 1001, "602435", window, 1)["keyboardPwdId"]
        .as_i64()
        .unwrap();
    assert!(listed(&mut c, 1001).contains(&cloud));
    assert_eq!(reason(&sim.keypad(1001, "602435", None)), "unknown");

    // A window changed through the gateway is what the keypad follows; one changed in the
    // cloud only is not.
    let moved = add(&mut c, 1001, "713546", window, 2)["keyboardPwdId"]
        .as_i64()
        .unwrap();
    let change = |c: &mut Client, start: i64, end: i64, change_type: &str| {
        errcode(&c.v3_post(
            CHANGE,
            &[
                ("lockId", "1001"),
                ("keyboardPwdId", &moved.to_string()),
                ("startDate", &start.to_string()),
                ("endDate", &end.to_string()),
                ("changeType", change_type),
            ],
        ))
    };
    let later = (now + 2 * DAY_MS, now + 4 * DAY_MS);
    assert_eq!(change(&mut c, later.0, later.1, "2"), 0);
    assert_eq!(reason(&sim.keypad(1001, "713546", None)), "not_yet_valid");
    assert!(sim.keypad(1001, "713546", Some(later.0)).opens);
    assert_eq!(
        reason(&sim.keypad(1001, "713546", Some(later.1))),
        "expired"
    );
    assert!(sim
        .state()
        .lock(1001)
        .unwrap()
        .keypad_entry(moved)
        .is_none());
    // Cloud only: the list shows the new window, the lock keeps the gateway one.
    assert_eq!(change(&mut c, now - DAY_MS, now + 9 * DAY_MS, "1"), 0);
    let st = sim.state();
    let listed_code = st.lock(1001).unwrap().passcode(moved).unwrap();
    assert_eq!(listed_code.end_ms, now + 9 * DAY_MS);
    assert_eq!(reason(&sim.keypad(1001, "713546", None)), "not_yet_valid");
    // A new code through the gateway reaches the lock: the old digits no longer open.
    let code_change = c.v3_post(
        CHANGE,
        &[
            ("lockId", "1001"),
            ("keyboardPwdId", &moved.to_string()),
            ("newKeyboardPwd", "824657"),
            ("changeType", "2"),
        ],
    );
    assert_eq!(errcode(&code_change), 0);
    assert_eq!(
        reason(&sim.keypad(1001, "713546", Some(later.0))),
        "unknown"
    );
    // ...and the lock now holds the cloud's version (window included).
    assert!(sim.keypad(1001, "824657", None).opens);

    // The lock's own list, through the admin API too.
    let mut admin = Client::admin(&sim);
    let (status, held) = admin.admin_json("GET", "/locks/1001/keypad", None);
    assert_eq!(status, 200);
    let ids: Vec<i64> = held
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["keyboard_pwd_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![kept, moved]);
}

#[test]
fn keypad_through_the_admin_api() {
    let sim = start(offline_fixture());
    let mut c = Client::https(&sim);
    let mut admin = Client::admin(&sim);
    let start_ms = next_hour();
    let v = get(&mut c, GATE, 3, start_ms, Some(start_ms + 2 * DAY_MS));
    let code = v["keyboardPwd"].as_str().unwrap().to_string();
    let id = v["keyboardPwdId"].as_i64().unwrap();
    let body = json!({"lock_id": GATE, "code": code, "at_ms": start_ms + 30 * HOUR_MS});
    assert_eq!(
        admin.admin_json("POST", "/keypad", Some(&body)),
        (
            200,
            json!({"opens": false, "reason": "suspended", "keyboard_pwd_id": id})
        )
    );
    // Default time: now, before the start.
    let (status, a) = admin.admin_json(
        "POST",
        "/keypad",
        Some(&json!({"lock_id": GATE, "code": code})),
    );
    assert_eq!((status, a["reason"].as_str()), (200, Some("not_yet_valid")));
    assert_eq!(
        admin.admin_json(
            "POST",
            "/keypad",
            Some(&json!({"lock_id": GATE, "code": "999"}))
        ),
        (200, json!({"opens": false, "reason": "unknown"}))
    );
    assert_eq!(
        admin
            .admin_json("POST", "/keypad", Some(&json!({"lock_id": 9, "code": "1"})))
            .0,
        404
    );
    assert_eq!(
        admin
            .admin_json(
                "POST",
                "/keypad",
                Some(&json!({"lock_id": GATE, "pin": "1"}))
            )
            .0,
        400
    );
    // An opening waits on the gateway-less lock until uploaded.
    let other = get(&mut c, GATE, 3, start_ms + HOUR_MS, Some(start_ms + DAY_MS))["keyboardPwd"]
        .as_str()
        .unwrap()
        .to_string();
    let body = json!({"lock_id": GATE, "code": other, "at_ms": start_ms + 2 * HOUR_MS});
    assert_eq!(
        admin.admin_json("POST", "/keypad", Some(&body)).1["opens"],
        true
    );
    assert_eq!(
        admin.admin_json("POST", "/locks/3001/records/upload", None),
        (200, json!({"ok": true, "uploaded": 1}))
    );
    assert_eq!(sim.state().lock(GATE).unwrap().records.len(), 1);
}

#[test]
fn unsent_records_go_up_with_the_next_gateway_operation() {
    let mut s = quick_fixture();
    s.add_passcode(1001, Passcode::permanent("135790", "Staff"));
    let sim = start(s);
    let mut c = Client::https(&sim);
    sim.with_state(|s| s.gateway_mut(1).unwrap().online = false);
    assert!(sim.keypad(1001, "135790", None).opens);
    let st = sim.state();
    assert_eq!(st.lock(1001).unwrap().unsent_records.len(), 1);
    assert_eq!(st.lock(1001).unwrap().unsent_records[0].username, "Staff");
    sim.with_state(|s| s.gateway_mut(1).unwrap().online = true);
    assert_eq!(
        errcode(&c.v3_get("/v3/lock/queryOpenState", &[("lockId", "1001")])),
        0
    );
    let st = sim.state();
    let l = st.lock(1001).unwrap();
    assert!(l.unsent_records.is_empty());
    assert_eq!(l.records.len(), 1);
    assert_eq!(l.open_state, 1, "the keypad opened it");
}

#[test]
fn lock_side_state_round_trips_through_json() {
    let sim = start(offline_fixture());
    let mut c = Client::https(&sim);
    let start_ms = next_hour();
    let v = get(&mut c, GATE, 3, start_ms, Some(start_ms + DAY_MS));
    let id = v["keyboardPwdId"].as_i64().unwrap();
    assert_eq!(delete(&mut c, GATE, id, 1), 0);
    let json = sim.state().to_json();
    let back = State::from_json(&json).unwrap();
    assert_eq!(back, sim.state());
    let v: Value = serde_json::from_str(&json).unwrap();
    let gate = v["locks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lock_id"] == GATE)
        .unwrap();
    assert_eq!(gate["keypad"][0]["keyboard_pwd_id"], id);
    assert_eq!(gate["keypad"][0]["is_custom"], false);
    assert_eq!(gate["passcodes"], json!([]));
    // A new simulator from that state still refuses the validity.
    let sim2 = start(back);
    let mut c2 = Client::https(&sim2);
    assert_eq!(
        errcode(&get(&mut c2, GATE, 3, start_ms, Some(start_ms + DAY_MS))),
        -1026
    );
}
