//! Door events over real HTTPS and the admin API: openings by card, app and the rest, records
//! that a gateway brings late or keeps while offline, records without `recordId`, batteries.

mod common;

use common::*;
use serde_json::{json, Value};
use ttlock_sim::*;

const RECORDS: &str = "/v3/lockRecord/list";

/// Every record `lockRecord/list` lists for the lock now (one page of 200).
fn records(c: &mut Client, lock: i64) -> Vec<Value> {
    let v = c.v3_get(
        RECORDS,
        &[
            ("lockId", &lock.to_string()),
            ("pageNo", "1"),
            ("pageSize", "200"),
        ],
    );
    v["list"].as_array().expect("a list").clone()
}

fn lock_dates(list: &[Value]) -> Vec<i64> {
    list.iter()
        .map(|r| r["lockDate"].as_i64().unwrap())
        .collect()
}

#[test]
fn openings_through_the_admin_api() {
    let sim = start(quick_fixture());
    let mut a = Client::admin(&sim);
    let mut c = Client::https(&sim);
    let at = sim.now_ms() - 60_000;
    let (st, v) = a.admin_json(
        "POST",
        "/open",
        Some(
            &json!({"lock_id": 1001, "by": "card", "who": "Cleaning card 3",
                     "number": "3543255893", "at_ms": at}),
        ),
    );
    assert_eq!(st, 200, "{v}");
    let card_id = v["record_id"].as_i64().unwrap();
    assert_eq!(v, json!({"ok": true, "record_id": card_id}));
    assert_eq!(sim.state().lock(1001).unwrap().open_state, 1);
    let (st, v) = a.admin_json(
        "POST",
        "/open",
        Some(&json!({"lock_id": 1001, "by": "app", "who": FIXTURE_USERNAME})),
    );
    assert_eq!(st, 200, "{v}");
    let app_id = v["record_id"].as_i64().unwrap();

    let list = records(&mut c, 1001);
    assert_eq!(list.len(), 2);
    let (app, card) = (&list[0], &list[1]);
    assert_eq!(
        (
            app["recordId"].as_i64(),
            app["recordType"].as_i64(),
            app["recordTypeFromLock"].as_i64(),
            app["username"].as_str(),
            app["success"].as_i64(),
        ),
        (
            Some(app_id),
            Some(1),
            Some(1),
            Some(FIXTURE_USERNAME),
            Some(1)
        )
    );
    assert_eq!(
        (
            card["recordId"].as_i64(),
            card["recordType"].as_i64(),
            card["recordTypeFromLock"].as_i64(),
            card["username"].as_str(),
            card["keyboardPwd"].as_str(),
            card["lockDate"].as_i64(),
            card["serverDate"].as_i64(),
        ),
        (
            Some(card_id),
            Some(7),
            Some(17),
            Some("Cleaning card 3"),
            Some("3543255893"),
            Some(at),
            Some(at)
        )
    );
    // recordType filters as for every record.
    let only_cards = c.v3_get(
        RECORDS,
        &[
            ("lockId", "1001"),
            ("pageNo", "1"),
            ("pageSize", "20"),
            ("recordType", "7"),
        ],
    );
    assert_eq!(only_cards["total"], 1);

    // A refused fingerprint: recorded, success 0; the other kinds' types.
    sim.with_state(|s| s.lock_mut(1002).unwrap().open_state = 0);
    let (st, _) = a.admin_json(
        "POST",
        "/open",
        Some(&json!({"lock_id": 1002, "by": "fingerprint", "who": "Thumb", "success": false})),
    );
    assert_eq!(st, 200);
    assert_eq!(sim.state().lock(1002).unwrap().open_state, 0, "stays shut");
    for by in ["remote", "key", "button"] {
        let (st, v) = a.admin_json("POST", "/open", Some(&json!({"lock_id": 1002, "by": by})));
        assert_eq!(st, 200, "{by}: {v}");
    }
    let list = records(&mut c, 1002);
    let kinds: Vec<(i64, i64, i64)> = list
        .iter()
        .rev()
        .map(|r| {
            (
                r["recordType"].as_i64().unwrap(),
                r["recordTypeFromLock"].as_i64().unwrap(),
                r["success"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![(8, 22, 0), (12, 28, 1), (10, 27, 1), (46, 32, 1)]
    );

    // Errors: unknown lock 404; bad or unknown fields 400, nothing recorded.
    let n = sim.state().lock(1001).unwrap().records.len();
    assert_eq!(
        a.admin_json("POST", "/open", Some(&json!({"lock_id": 9, "by": "app"})))
            .0,
        404
    );
    for bad in [
        json!({"lock_id": 1001, "by": "keypad"}),
        json!({"lock_id": 1001, "by": "card", "whom": "x"}),
        json!({"lock_id": 1001, "by": "card", "number": [1]}),
        json!({"lock_id": 1001, "by": "card", "success": "yes"}),
        json!({"lock_id": 1001, "by": "card", "at_ms": "now"}),
        json!({"lock_id": 1001, "by": "card", "upload_delay_ms": -5}),
        json!({"lock_id": 1001}),
        json!([1]),
    ] {
        let (st, v) = a.admin_json("POST", "/open", Some(&bad));
        assert_eq!(st, 400, "{bad}: {v}");
        assert!(v["error"].is_string());
    }
    assert_eq!(sim.state().lock(1001).unwrap().records.len(), n);
}

#[test]
fn records_without_record_id_are_listed_apart() {
    let sim = start(quick_fixture());
    let mut a = Client::admin(&sim);
    let mut c = Client::https(&sim);
    sim.with_state(|s| s.add_passcode(1001, Passcode::permanent("135790", "Staff")));
    let at = sim.now_ms() - 60_000;
    let same = json!({"lock_id": 1001, "by": "card", "who": "Card 3", "number": "42",
                      "at_ms": at, "no_record_id": true});
    for _ in 0..2 {
        assert_eq!(
            a.admin_json("POST", "/open", Some(&same)),
            (200, json!({"ok": true}))
        );
    }
    let (st, v) = a.admin_json(
        "POST",
        "/keypad",
        Some(&json!({"lock_id": 1001, "code": "135790", "at_ms": at, "no_record_id": true})),
    );
    assert_eq!((st, v["opens"].as_bool()), (200, Some(true)));
    let with_id = sim.open(Opening::new(1001, OpenedBy::Card, "Card 3").with_at_ms(at));

    let list = records(&mut c, 1001);
    assert_eq!(list.len(), 4, "four openings at one time, four items");
    assert_eq!(list[0]["recordId"].as_i64(), Some(with_id));
    for r in &list[1..] {
        assert!(r.get("recordId").is_none(), "{r}");
        assert_eq!(r["lockDate"].as_i64(), Some(at));
    }
    assert_eq!(list[1]["username"], "Staff");
    assert_eq!(list[1]["keyboardPwd"], "135790");
    assert_eq!(list[2], list[3], "alike but two items");
    // In the simulator they keep distinct ids.
    let st = sim.state();
    let l = st.lock(1001).unwrap();
    let mut ids: Vec<i64> = l.records.iter().map(|r| r.record_id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    assert_eq!(l.records_without_id.len(), 3);
}

#[test]
fn the_upload_delay_hides_records_until_their_server_date() {
    let sim = start(quick_fixture());
    let mut a = Client::admin(&sim);
    let mut c = Client::https(&sim);
    let (st, v) = a.admin_json(
        "POST",
        "/options",
        Some(&json!({"record_upload_delay_ms": 30_000})),
    );
    assert_eq!(
        (st, v["record_upload_delay_ms"].as_i64()),
        (200, Some(30_000))
    );
    sim.with_state(|s| s.add_passcode(1001, Passcode::permanent("135790", "Staff")));

    // Ten seconds ago, so that the one sent without delay is surely in.
    let t = sim.now_ms() - 10_000;
    assert!(sim.keypad(1001, "135790", Some(t)).opens);
    sim.open(Opening::new(1001, OpenedBy::Card, "Card 1").with_at_ms(t + 1));
    // Per event: a shorter delay through the admin API, a longer one in Rust.
    let (st, _) = a.admin_json(
        "POST",
        "/keypad",
        Some(&json!({"lock_id": 1001, "code": "135790", "at_ms": t + 2, "upload_delay_ms": 0})),
    );
    assert_eq!(st, 200);
    let (st, _) = a.admin_json(
        "POST",
        "/open",
        Some(
            &json!({"lock_id": 1001, "by": "app", "who": "u", "at_ms": t + 3,
                     "upload_delay_ms": 120_000}),
        ),
    );
    assert_eq!(st, 200);
    // Through the cloud's unlock too.
    assert_eq!(
        errcode(&c.v3_post("/v3/lock/unlock", &[("lockId", "1001")])),
        0
    );

    let list = records(&mut c, 1001);
    assert_eq!(lock_dates(&list), vec![t + 2], "only the one without delay");
    assert_eq!(list[0]["serverDate"].as_i64(), Some(t + 2));
    // An old event has long arrived, whatever the delay.
    sim.open(Opening::new(1001, OpenedBy::Key, "k").with_at_ms(t - 60_000));
    assert_eq!(records(&mut c, 1001).len(), 2);

    // 31 s later (the clock moved; `date` stays within 5 minutes): the 30 s ones are in.
    sim.set_options(|o| o.clock_offset_ms = 31_000);
    let list = records(&mut c, 1001);
    assert_eq!(list.len(), 5, "{list:?}");
    assert_eq!(list[0]["recordType"], 12, "the unlock, newest");
    assert_eq!(lock_dates(&list[1..]), vec![t + 2, t + 1, t, t - 60_000]);
    let delays: Vec<i64> = list
        .iter()
        .map(|r| r["serverDate"].as_i64().unwrap() - r["lockDate"].as_i64().unwrap())
        .collect();
    assert_eq!(delays, vec![30_000, 0, 30_000, 30_000, 30_000]);
    // The lockDate window does not see records still on their way.
    let window = c.v3_get(
        RECORDS,
        &[
            ("lockId", "1001"),
            ("pageNo", "1"),
            ("pageSize", "20"),
            ("startDate", &(t + 3).to_string()),
            ("endDate", &(t + 3).to_string()),
        ],
    );
    assert_eq!(window["total"], 0);
    sim.set_options(|o| o.clock_offset_ms = 121_000);
    assert_eq!(records(&mut c, 1001).len(), 6);
}

#[test]
fn an_offline_gateway_keeps_records_until_it_is_back() {
    let sim = start(quick_fixture());
    let mut a = Client::admin(&sim);
    let mut c = Client::https(&sim);
    sim.set_options(|o| o.record_upload_delay_ms = 30_000);
    // Lock 1002 and 2001 are on gateway 2.
    let (st, v) = a.admin_json("POST", "/gateways/2", Some(&json!({"online": false})));
    assert_eq!((st, v["online"].as_bool()), (200, Some(false)));
    let at = sim.now_ms() - 10 * 60_000;
    sim.open(Opening::new(1002, OpenedBy::Card, "Card 7").with_at_ms(at));
    let (st, _) = a.admin_json(
        "POST",
        "/open",
        Some(&json!({"lock_id": 2001, "by": "fingerprint", "who": "Thumb"})),
    );
    assert_eq!(st, 200);
    // The door opened; the cloud knows nothing; operations through the gateway fail as before.
    assert_eq!(sim.state().lock(1002).unwrap().open_state, 1);
    assert!(records(&mut c, 1002).is_empty());
    assert_eq!(sim.state().lock(1002).unwrap().unsent_records.len(), 1);
    assert_eq!(
        errcode(&c.v3_get("/v3/lock/queryOpenState", &[("lockId", "1002")])),
        -3002
    );
    assert_eq!(
        errcode(&c.v3_post("/v3/lock/unlock", &[("lockId", "2001")])),
        -3002
    );
    // Another gateway coming back does not reach them.
    sim.set_gateway_online(1, false);
    assert_eq!(sim.set_gateway_online(1, true), 0);
    assert!(records(&mut c, 1002).is_empty());

    // Gateway 2 back (admin): both locks send theirs up now, serverDate = that moment.
    let before = sim.now_ms();
    let (st, v) = a.admin_json("POST", "/gateways/2", Some(&json!({"online": true})));
    assert_eq!((st, v["online"].as_bool()), (200, Some(true)));
    let after = sim.now_ms();
    for lock in [1002, 2001] {
        let list = records(&mut c, lock);
        assert_eq!(list.len(), 1, "{lock}");
        let server = list[0]["serverDate"].as_i64().unwrap();
        assert!((before..=after).contains(&server), "{lock}: {server}");
        assert!(sim.state().lock(lock).unwrap().unsent_records.is_empty());
    }
    assert_eq!(records(&mut c, 1002)[0]["lockDate"].as_i64(), Some(at));
    assert_eq!(records(&mut c, 2001)[0]["recordType"], 8);

    // The Rust helper does the same; a gateway already online uploads nothing.
    assert_eq!(sim.set_gateway_online(2, false), 0);
    sim.open(Opening::new(1002, OpenedBy::App, "u"));
    assert_eq!(sim.set_gateway_online(2, true), 1);
    assert_eq!(sim.set_gateway_online(2, true), 0);
    assert_eq!(records(&mut c, 1002).len(), 2);
    // Merging other fields into an online gateway uploads nothing either.
    assert_eq!(
        a.admin_json("POST", "/gateways/2", Some(&json!({"name": "GW 2"})))
            .0,
        200
    );
}

#[test]
fn a_lock_without_gateway_keeps_its_records_until_synced() {
    let mut s = quick_fixture();
    s.locks.push(Lock::new(3001, "Garage", &[]));
    let sim = start(s);
    let mut c = Client::https(&sim);
    sim.open(Opening::new(3001, OpenedBy::Key, "Spare key"));
    assert_eq!(sim.set_gateway_online(1, false), 0);
    assert_eq!(sim.set_gateway_online(1, true), 0, "not its gateway");
    assert!(records(&mut c, 3001).is_empty());
    assert_eq!(sim.upload_records(3001), 1);
    assert_eq!(records(&mut c, 3001)[0]["username"], "Spare key");
}

#[test]
fn a_dropping_battery_shows_everywhere() {
    let sim = start(quick_fixture());
    let mut a = Client::admin(&sim);
    let mut c = Client::https(&sim);
    let battery = |c: &mut Client| {
        let list = c.v3_get("/v3/lock/list", &[("pageNo", "1"), ("pageSize", "20")]);
        let from_list = list["list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["lockId"] == 1001)
            .unwrap()["electricQuantity"]
            .as_i64();
        let detail =
            c.v3_get("/v3/lock/detail", &[("lockId", "1001")])["electricQuantity"].as_i64();
        let queried = c.v3_get("/v3/lock/queryElectricQuantity", &[("lockId", "1001")])
            ["electricQuantity"]
            .as_i64();
        (from_list, detail, queried)
    };
    assert_eq!(battery(&mut c), (Some(87), Some(87), Some(87)));
    let (st, v) = a.admin_json("POST", "/locks/1001", Some(&json!({"battery": 15})));
    assert_eq!((st, v["battery"].as_i64()), (200, Some(15)));
    assert_eq!(battery(&mut c), (Some(15), Some(15), Some(15)));
    sim.set_battery(1001, 4);
    assert_eq!(battery(&mut c), (Some(4), Some(4), Some(4)));
    assert_eq!(
        a.admin_json("POST", "/locks/1001", Some(&json!({"battery": "low"})))
            .0,
        400
    );
}
