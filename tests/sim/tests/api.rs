//! The TTLock endpoints over real HTTPS: tokens, the /v3 envelope, passcodes, locks.

mod common;

use common::*;
use serde_json::Value;
use ttlock_sim::*;

const TOKEN: &str = "/oauth2/token";
const ADD: &str = "/v3/keyboardPwd/add";
const LIST: &str = "/v3/lock/listKeyboardPwd";

fn password_grant(c: &mut Client, fields: &[(&str, &str)]) -> Value {
    let r = c.post(TOKEN, fields).unwrap();
    assert_eq!(r.status, 200);
    r.json()
}

const CAMEL: [(&str, &str); 4] = [
    ("clientId", FIXTURE_CLIENT_ID),
    ("clientSecret", FIXTURE_CLIENT_SECRET),
    ("username", FIXTURE_USERNAME),
    ("password", FIXTURE_PASSWORD_MD5),
];

#[test]
fn password_grant_both_spellings_and_errors() {
    let sim = start(quick_fixture());
    let mut c = Client::https(&sim);

    let v = password_grant(&mut c, &CAMEL);
    assert_eq!(v["uid"], FIXTURE_UID);
    assert_eq!(v["expires_in"], 7_776_000);
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["openid"].is_i64() && v["scope"].is_string());
    let at = v["access_token"].as_str().unwrap().to_string();
    assert_eq!(at.len(), 32);
    assert!(v.get("errcode").is_none());
    // The new token works on /v3.
    let l = c.v3_get(
        LIST,
        &[
            ("lockId", "1001"),
            ("pageNo", "1"),
            ("pageSize", "20"),
            ("accessToken", &at),
        ],
    );
    assert_eq!(l["total"], 0);

    let snake = password_grant(
        &mut c,
        &[
            ("client_id", FIXTURE_CLIENT_ID),
            ("client_secret", FIXTURE_CLIENT_SECRET),
            ("grant_type", "password"),
            ("username", FIXTURE_USERNAME),
            ("password", &FIXTURE_PASSWORD_MD5.to_uppercase()),
        ],
    );
    assert!(snake["access_token"].is_string());
    assert_ne!(snake["access_token"], v["access_token"]);

    let cases: [(&[(&str, &str)], i64); 7] = [
        (
            &[
                ("clientId", "nope"),
                ("clientSecret", FIXTURE_CLIENT_SECRET),
                ("username", FIXTURE_USERNAME),
                ("password", FIXTURE_PASSWORD_MD5),
            ],
            10000,
        ),
        (
            &[
                ("clientSecret", FIXTURE_CLIENT_SECRET),
                ("username", FIXTURE_USERNAME),
                ("password", FIXTURE_PASSWORD_MD5),
            ],
            10000,
        ),
        (
            &[
                ("clientId", FIXTURE_CLIENT_ID),
                ("clientSecret", "wrong"),
                ("username", FIXTURE_USERNAME),
                ("password", FIXTURE_PASSWORD_MD5),
            ],
            10001,
        ),
        (
            &[
                ("clientId", FIXTURE_CLIENT_ID),
                ("clientSecret", FIXTURE_CLIENT_SECRET),
                ("username", FIXTURE_USERNAME),
                ("password", "e10adc3949ba59abbe56e057f20f883e"),
            ],
            10007,
        ),
        (
            &[
                ("clientId", FIXTURE_CLIENT_ID),
                ("clientSecret", FIXTURE_CLIENT_SECRET),
                ("username", "who@example.com"),
                ("password", FIXTURE_PASSWORD_MD5),
            ],
            10007,
        ),
        (
            &[
                ("clientId", FIXTURE_CLIENT_ID),
                ("clientSecret", FIXTURE_CLIENT_SECRET),
                ("username", FIXTURE_USERNAME),
                ("password", FIXTURE_PASSWORD),
            ],
            30005,
        ),
        (
            &[
                ("clientId", FIXTURE_CLIENT_ID),
                ("clientSecret", FIXTURE_CLIENT_SECRET),
                ("grant_type", "client_credentials"),
            ],
            10010,
        ),
    ];
    for (fields, code) in cases {
        let v = password_grant(&mut c, fields);
        assert_eq!(errcode(&v), code, "{fields:?}: {v}");
        assert!(v["errmsg"].is_string() && v["description"].is_string());
    }
    let v = password_grant(&mut c, cases[2].0);
    assert_eq!(v["errmsg"], "invalid client");
    let c2 = sim.counters();
    assert_eq!(
        c2.token_grants,
        2 + 6 + 1,
        "password-grant requests, accepted or not"
    );
    assert_eq!(c2.token_refreshes, 0);
    assert_eq!(c2.requests_to(TOKEN), 2 + 7 + 1);
}

fn refresh(c: &mut Client, rt: &str) -> Value {
    password_grant(
        c,
        &[
            ("clientId", FIXTURE_CLIENT_ID),
            ("clientSecret", FIXTURE_CLIENT_SECRET),
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
        ],
    )
}

#[test]
fn refresh_rotates_and_invalidates_the_old_token() {
    let sim = start(quick_fixture());
    let mut c = Client::https(&sim);
    let v = refresh(&mut c, FIXTURE_REFRESH_TOKEN);
    let (at, rt) = (
        v["access_token"].as_str().unwrap(),
        v["refresh_token"].as_str().unwrap(),
    );
    assert_ne!(rt, FIXTURE_REFRESH_TOKEN);
    assert_eq!(v["expires_in"], 7_776_000);
    assert!(v.get("uid").is_none(), "the refresh answer has no uid");
    assert_eq!(
        errcode(&refresh(&mut c, FIXTURE_REFRESH_TOKEN)),
        10011,
        "old refresh token invalidated"
    );
    assert_eq!(errcode(&refresh(&mut c, "not-a-token")), 10011);
    // The old access token stays valid (no refresh_revokes_access), the new one too.
    let l = c.v3_get(
        LIST,
        &[("lockId", "1001"), ("pageNo", "1"), ("pageSize", "1")],
    );
    assert!(l.get("errcode").is_none());
    let l = c.v3_get(
        LIST,
        &[
            ("lockId", "1001"),
            ("pageNo", "1"),
            ("pageSize", "1"),
            ("accessToken", at),
        ],
    );
    assert!(l.get("errcode").is_none());
    let again = refresh(&mut c, rt);
    assert!(again["access_token"].is_string());
    // Client errors come before the refresh token check.
    let v = password_grant(
        &mut c,
        &[
            ("clientId", FIXTURE_CLIENT_ID),
            ("clientSecret", "x"),
            ("grant_type", "refresh_token"),
            ("refresh_token", again["refresh_token"].as_str().unwrap()),
        ],
    );
    assert_eq!(errcode(&v), 10001);
    assert_eq!(sim.counters().token_refreshes, 5);
    let st = sim.state();
    assert_eq!(st.tokens.iter().filter(|t| t.refresh_valid).count(), 1);
}

#[test]
fn refresh_without_rotation_and_with_revocation() {
    let mut s = quick_fixture();
    s.options.rotate_refresh_tokens = false;
    s.options.refresh_revokes_access = true;
    s.options.token_ttl_s = 60;
    let sim = start(s);
    let mut c = Client::https(&sim);
    let v = refresh(&mut c, FIXTURE_REFRESH_TOKEN);
    assert_eq!(v["refresh_token"], FIXTURE_REFRESH_TOKEN);
    assert_eq!(v["expires_in"], 60);
    let v2 = refresh(&mut c, FIXTURE_REFRESH_TOKEN);
    assert_eq!(v2["refresh_token"], FIXTURE_REFRESH_TOKEN, "reusable");
    // The fixture's access token was revoked by the first refresh: 10004.
    let l = c.v3_get(
        LIST,
        &[("lockId", "1001"), ("pageNo", "1"), ("pageSize", "1")],
    );
    assert_eq!(errcode(&l), 10004);
    let at = v2["access_token"].as_str().unwrap();
    let l = c.v3_get(
        LIST,
        &[
            ("lockId", "1001"),
            ("pageNo", "1"),
            ("pageSize", "1"),
            ("accessToken", at),
        ],
    );
    assert_eq!(l["total"], 0);
}

#[test]
fn v3_envelope_auth_date_and_params() {
    let sim = start(quick_fixture());
    let mut c = Client::https(&sim);
    let q = |extra: &[(&'static str, &'static str)]| {
        let mut p = vec![("lockId", "1001"), ("pageNo", "1"), ("pageSize", "20")];
        p.extend_from_slice(extra);
        p
    };
    assert_eq!(
        errcode(&c.v3_get(LIST, &q(&[("clientId", "other")]))),
        10000
    );
    assert_eq!(
        errcode(&c.v3_get(
            LIST,
            &q(&[("accessToken", "0123456789abcdef0123456789abcdef")])
        )),
        10003
    );
    assert_eq!(errcode(&c.v3_get(LIST, &q(&[("date", "soon")]))), -3);
    let skew = (now_ms() - 6 * 60 * 1000).to_string();
    let v = c.v3_get(
        LIST,
        &[
            ("lockId", "1001"),
            ("pageNo", "1"),
            ("pageSize", "20"),
            ("date", &skew),
        ],
    );
    assert_eq!(errcode(&v), 80000);
    assert_eq!(v["errmsg"], "date must be current time, in 5 minutes");
    let near = (now_ms() + 4 * 60 * 1000).to_string();
    let v = c.v3_get(
        LIST,
        &[
            ("lockId", "1001"),
            ("pageNo", "1"),
            ("pageSize", "20"),
            ("date", &near),
        ],
    );
    assert!(v.get("errcode").is_none(), "{v}");
    // Missing date: -3 (built by hand: with_auth would add one).
    let r = c
        .get(
            LIST,
            &[
                ("clientId", FIXTURE_CLIENT_ID),
                ("accessToken", FIXTURE_ACCESS_TOKEN),
                ("lockId", "1001"),
                ("pageNo", "1"),
                ("pageSize", "2"),
            ],
        )
        .unwrap();
    assert_eq!(errcode(&r.json()), -3);
    assert_eq!(r.json()["errmsg"], "Invalid Parameter.");

    // The clock offset moves what "now" is.
    sim.set_options(|o| o.clock_offset_ms = 10 * 60 * 1000);
    assert_eq!(errcode(&c.v3_get(LIST, &q(&[]))), 80000);
    let later = (now_ms() + 10 * 60 * 1000).to_string();
    let v = c.v3_get(
        LIST,
        &[
            ("lockId", "1001"),
            ("pageNo", "1"),
            ("pageSize", "20"),
            ("date", &later),
        ],
    );
    assert_eq!(v["total"], 0);
    sim.set_options(|o| o.clock_offset_ms = 0);

    // Expired access token: 10004, spelled as TTLock spells it.
    sim.expire_access_tokens();
    let v = c.v3_get(LIST, &q(&[]));
    assert_eq!(
        v,
        serde_json::from_str::<Value>(&errcode_body(10004)).unwrap()
    );
    assert_eq!(v["errmsg"], "invalid grant");

    // Unknown paths are a 404 page, not JSON.
    let r = c.get("/v3/lock/nothing", &[]).unwrap();
    assert_eq!(r.status, 404);
    assert!(r.text().contains("404"));
}

#[test]
fn add_list_change_delete_passcodes() {
    let sim = start(quick_fixture());
    let mut c = Client::https(&sim);
    let start_ms = now_ms() + DAY_MS;
    let (s, e) = (start_ms.to_string(), (start_ms + 2 * DAY_MS).to_string());
    let v = c.v3_post(
        ADD,
        &[
            ("lockId", "1001"),
            ("keyboardPwd", "048213"),
            ("keyboardPwdName", "101 guest+é&"),
            ("keyboardPwdType", "3"),
            ("startDate", &s),
            ("endDate", &e),
            ("addType", "2"),
        ],
    );
    assert!(v.get("errcode").is_none(), "{v}");
    let id = v["keyboardPwdId"].as_i64().unwrap();
    let perm = c.v3_post(
        ADD,
        &[
            ("lockId", "1001"),
            ("keyboardPwd", "4444"),
            ("keyboardPwdType", "2"),
            ("startDate", &s),
        ],
    );
    let perm_id = perm["keyboardPwdId"].as_i64().unwrap();
    assert_ne!(perm_id, id);
    // addType 2 went through gateway 1; addType 1 (default) did not.
    assert_eq!(sim.counters().max_in_flight_per_gateway.get(&1), Some(&1));

    let l = c.v3_get(
        LIST,
        &[
            ("lockId", "1001"),
            ("pageNo", "1"),
            ("pageSize", "20"),
            ("orderBy", "1"),
        ],
    );
    assert_eq!(
        (l["total"].as_i64(), l["pages"].as_i64()),
        (Some(2), Some(1))
    );
    let item = l["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["keyboardPwdId"] == id)
        .unwrap()
        .clone();
    for k in [
        "keyboardPwdId",
        "lockId",
        "keyboardPwd",
        "keyboardPwdName",
        "keyboardPwdType",
        "startDate",
        "endDate",
        "sendDate",
        "isCustom",
        "status",
        "senderUsername",
    ] {
        assert!(item.get(k).is_some(), "list item lacks {k}: {item}");
    }
    assert_eq!(item["keyboardPwd"], "048213", "leading zero kept");
    assert_eq!(item["keyboardPwdName"], "101 guest+é&", "form decoding");
    assert_eq!(
        (item["startDate"].as_i64(), item["endDate"].as_i64()),
        (Some(start_ms), Some(start_ms + 2 * DAY_MS))
    );
    assert_eq!(
        (
            item["keyboardPwdType"].as_i64(),
            item["isCustom"].as_i64(),
            item["lockId"].as_i64()
        ),
        (Some(3), Some(1), Some(1001))
    );
    assert_eq!(item["senderUsername"], FIXTURE_USERNAME);
    let p = l["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["keyboardPwdId"] == perm_id)
        .unwrap();
    assert_eq!(
        (
            p["keyboardPwdType"].as_i64(),
            p["startDate"].as_i64(),
            p["endDate"].as_i64()
        ),
        (Some(2), Some(0), Some(0))
    );

    // Errors of add.
    let add = |c: &mut Client, code: &str, extra: &[(&str, &str)]| {
        // Extras first: the first of two same-named parameters wins.
        let mut p = extra.to_vec();
        p.extend_from_slice(&[
            ("lockId", "1001"),
            ("keyboardPwd", code),
            ("startDate", s.as_str()),
            ("endDate", e.as_str()),
        ]);
        errcode(&c.v3_post(ADD, &p))
    };
    assert_eq!(add(&mut c, "048213", &[]), -3007);
    assert_eq!(add(&mut c, "123", &[]), -3006);
    assert_eq!(add(&mut c, "1234567890", &[]), -3006);
    assert_eq!(add(&mut c, "12a45", &[]), -3006);
    assert_eq!(add(&mut c, "55555", &[("keyboardPwdType", "5")]), -3);
    assert_eq!(add(&mut c, "55555", &[("addType", "3")]), -3);
    assert_eq!(
        add(&mut c, "55555", &[("endDate", s.as_str())]),
        -3,
        "end not after start"
    );
    assert_eq!(add(&mut c, "55555", &[("lockId", "x")]), -3);
    assert_eq!(
        errcode(&c.v3_post(ADD, &[("lockId", "1001"), ("keyboardPwd", "55555")])),
        -3,
        "type 3 needs dates"
    );
    assert_eq!(
        errcode(&c.v3_post(
            ADD,
            &[
                ("lockId", "999"),
                ("keyboardPwd", "55555"),
                ("keyboardPwdType", "2")
            ]
        )),
        -1003
    );

    // Change: rename stays in the cloud even with changeType 2.
    sim.reset_counters();
    let id_s = id.to_string();
    let v = c.v3_post(
        "/v3/keyboardPwd/change",
        &[
            ("lockId", "1001"),
            ("keyboardPwdId", &id_s),
            ("keyboardPwdName", "renamed"),
            ("changeType", "2"),
        ],
    );
    assert_eq!(v, serde_json::from_str::<Value>(OK_BODY).unwrap());
    assert!(sim.counters().max_in_flight_per_gateway.is_empty());
    let (s2, e2) = (
        (start_ms + HOUR_MS).to_string(),
        (start_ms + 3 * DAY_MS).to_string(),
    );
    let v = c.v3_post(
        "/v3/keyboardPwd/change",
        &[
            ("lockId", "1001"),
            ("keyboardPwdId", &id_s),
            ("newKeyboardPwd", "7777"),
            ("startDate", &s2),
            ("endDate", &e2),
            ("changeType", "2"),
        ],
    );
    assert_eq!(errcode(&v), 0);
    assert_eq!(sim.counters().max_in_flight_per_gateway.get(&1), Some(&1));
    let stored = sim
        .state()
        .lock(1001)
        .unwrap()
        .passcode(id)
        .unwrap()
        .clone();
    assert_eq!(
        (stored.name.as_str(), stored.keyboard_pwd.as_str()),
        ("renamed", "7777")
    );
    assert_eq!(
        (stored.start_ms, stored.end_ms),
        (start_ms + HOUR_MS, start_ms + 3 * DAY_MS)
    );
    let perm_s = perm_id.to_string();
    let chg = |c: &mut Client, p: &[(&str, &str)]| errcode(&c.v3_post("/v3/keyboardPwd/change", p));
    assert_eq!(
        chg(
            &mut c,
            &[
                ("lockId", "1001"),
                ("keyboardPwdId", &perm_s),
                ("newKeyboardPwd", "7777")
            ]
        ),
        -3007
    );
    assert_eq!(
        chg(
            &mut c,
            &[
                ("lockId", "1001"),
                ("keyboardPwdId", &perm_s),
                ("newKeyboardPwd", "77")
            ]
        ),
        -3006
    );
    assert_eq!(
        chg(
            &mut c,
            &[
                ("lockId", "1001"),
                ("keyboardPwdId", "1"),
                ("keyboardPwdName", "x")
            ]
        ),
        -2009
    );
    assert_eq!(
        chg(
            &mut c,
            &[
                ("lockId", "1001"),
                ("keyboardPwdId", &perm_s),
                ("startDate", &s2)
            ]
        ),
        -3,
        "both dates or none"
    );

    // Delete.
    let del = |c: &mut Client, id: &str, t: &str| {
        errcode(&c.v3_post(
            "/v3/keyboardPwd/delete",
            &[("lockId", "1001"), ("keyboardPwdId", id), ("deleteType", t)],
        ))
    };
    assert_eq!(del(&mut c, &id_s, "2"), 0);
    assert_eq!(del(&mut c, &id_s, "2"), -2009);
    assert_eq!(del(&mut c, &perm_s, "1"), 0);
    assert!(sim.state().passcodes(1001).is_empty());
}

#[test]
fn pagination_of_450_codes_and_search() {
    let mut s = quick_fixture();
    let now = now_ms();
    let ids = s.add_passcodes(2001, 450, |i| match i % 3 {
        0 => (TYPE_PERMANENT, 0, 0),
        _ => (TYPE_PERIOD, now - DAY_MS, now + i as i64),
    });
    let sim = start(s);
    let mut c = Client::https(&sim);
    let mut seen = Vec::new();
    for (page_no, n) in [(1, 200), (2, 200), (3, 50), (4, 0)] {
        let pn = page_no.to_string();
        let v = c.v3_get(
            LIST,
            &[
                ("lockId", "2001"),
                ("pageNo", &pn),
                ("pageSize", "200"),
                ("orderBy", "1"),
            ],
        );
        assert_eq!(v["list"].as_array().unwrap().len(), n, "page {page_no}");
        assert_eq!(
            (
                v["pages"].as_i64(),
                v["total"].as_i64(),
                v["pageNo"].as_i64(),
                v["pageSize"].as_i64()
            ),
            (Some(3), Some(450), Some(page_no), Some(200))
        );
        seen.extend(
            v["list"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["keyboardPwdId"].as_i64().unwrap()),
        );
    }
    // orderBy 1: creation time descending, so the last added comes first; every code once.
    assert_eq!(seen.first(), ids.last());
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 450);

    let bad = |c: &mut Client, size: &str, no: &str| {
        errcode(&c.v3_get(
            LIST,
            &[("lockId", "2001"), ("pageNo", no), ("pageSize", size)],
        ))
    };
    assert_eq!(bad(&mut c, "201", "1"), -3);
    assert_eq!(bad(&mut c, "0", "1"), -3);
    assert_eq!(bad(&mut c, "20", "0"), -3);
    assert_eq!(
        errcode(&c.v3_get(LIST, &[("lockId", "2001"), ("pageNo", "1")])),
        -3,
        "pageSize required"
    );
    assert_eq!(
        errcode(&c.v3_get(LIST, &[("lockId", "9"), ("pageNo", "1"), ("pageSize", "1")])),
        -1003
    );

    // orderBy 0 / 2: by name.
    let v = c.v3_get(
        LIST,
        &[
            ("lockId", "2001"),
            ("pageNo", "1"),
            ("pageSize", "3"),
            ("orderBy", "0"),
        ],
    );
    assert_eq!(v["list"][0]["keyboardPwdName"], "bulk_0000");
    let v = c.v3_get(
        LIST,
        &[
            ("lockId", "2001"),
            ("pageNo", "1"),
            ("pageSize", "3"),
            ("orderBy", "2"),
        ],
    );
    assert_eq!(v["list"][0]["keyboardPwdName"], "bulk_0449");
    // No orderBy works (hass-ttlock omits it).
    let v = c.v3_get(
        LIST,
        &[("lockId", "2001"), ("pageNo", "1"), ("pageSize", "1")],
    );
    assert_eq!(v["total"], 450);

    // searchStr: fuzzy on the name, exact on the code.
    let v = c.v3_get(
        LIST,
        &[
            ("lockId", "2001"),
            ("pageNo", "1"),
            ("pageSize", "200"),
            ("searchStr", "BULK_001"),
        ],
    );
    assert_eq!(v["total"], 10, "bulk_0010..bulk_0019");
    let code = sim.state().lock(2001).unwrap().passcodes[7]
        .keyboard_pwd
        .clone();
    let v = c.v3_get(
        LIST,
        &[
            ("lockId", "2001"),
            ("pageNo", "1"),
            ("pageSize", "200"),
            ("searchStr", &code),
        ],
    );
    assert_eq!(v["total"], 1);
    assert_eq!(v["list"][0]["keyboardPwd"], code.as_str());
    let v = c.v3_get(
        LIST,
        &[
            ("lockId", "2001"),
            ("pageNo", "1"),
            ("pageSize", "200"),
            ("searchStr", &code[..4]),
        ],
    );
    assert_eq!(v["total"], 0, "codes match exactly, not by part");

    // numbers_as_strings: list items' numbers become strings, page fields stay numbers.
    sim.set_options(|o| o.numbers_as_strings = true);
    let v = c.v3_get(
        LIST,
        &[("lockId", "2001"), ("pageNo", "1"), ("pageSize", "1")],
    );
    assert_eq!(v["list"][0]["keyboardPwdType"], "3");
    assert!(v["list"][0]["keyboardPwdId"].is_string() && v["list"][0]["endDate"].is_string());
    assert_eq!(v["total"], 450);
}

#[test]
fn custom_passcode_storage_is_full_at_250() {
    let mut s = quick_fixture();
    s.add_passcodes(1002, 249, |_| (TYPE_PERMANENT, 0, 0));
    let sim = start(s);
    let mut c = Client::https(&sim);
    // A random (offline) code does not use custom storage.
    let start_s = now_ms().to_string();
    let r = c.v3_post(
        "/v3/keyboardPwd/get",
        &[
            ("lockId", "1002"),
            ("keyboardPwdType", "2"),
            ("startDate", &start_s),
        ],
    );
    assert_eq!(r["keyboardPwd"].as_str().unwrap().len(), 7);
    let add = |c: &mut Client, code: &str| {
        errcode(&c.v3_post(
            ADD,
            &[
                ("lockId", "1002"),
                ("keyboardPwd", code),
                ("keyboardPwdType", "2"),
                ("addType", "2"),
            ],
        ))
    };
    assert_eq!(add(&mut c, "13579"), 0, "the 250th");
    assert_eq!(add(&mut c, "24680"), -3009);
    let l = sim.state();
    let lock = l.lock(1002).unwrap();
    assert_eq!((lock.custom_count(), lock.passcodes.len()), (250, 251));
    // The limit is an option.
    sim.set_options(|o| o.custom_passcode_limit = 251);
    assert_eq!(add(&mut c, "24680"), 0);
}

#[test]
fn random_passcodes_from_get() {
    let sim = start(quick_fixture());
    let mut c = Client::https(&sim);
    let start = now_ms() + 90 * 60 * 1000 + 1234;
    let (s, e) = (start.to_string(), (start + DAY_MS).to_string());
    let v = c.v3_post(
        "/v3/keyboardPwd/get",
        &[
            ("lockId", "1001"),
            ("keyboardPwdType", "3"),
            ("startDate", &s),
            ("endDate", &e),
            ("keyboardPwdName", "rnd"),
        ],
    );
    let code = v["keyboardPwd"].as_str().unwrap();
    assert!(code.bytes().all(|b| b.is_ascii_digit()) && code.len() == 7);
    let id = v["keyboardPwdId"].as_i64().unwrap();
    let st = sim.state();
    let p = st.lock(1001).unwrap().passcode(id).unwrap();
    assert!(!p.is_custom);
    assert_eq!(p.start_ms % HOUR_MS, 0, "whole hours");
    assert_eq!(p.start_ms, start - start % HOUR_MS);
    assert_eq!(
        errcode(&c.v3_post(
            "/v3/keyboardPwd/get",
            &[
                ("lockId", "1001"),
                ("keyboardPwdType", "3"),
                ("startDate", &s)
            ]
        )),
        -3
    );
    assert_eq!(
        errcode(&c.v3_post(
            "/v3/keyboardPwd/get",
            &[
                ("lockId", "1001"),
                ("keyboardPwdType", "15"),
                ("startDate", &s)
            ]
        )),
        -3
    );
    let l = c.v3_get(
        LIST,
        &[("lockId", "1001"), ("pageNo", "1"), ("pageSize", "5")],
    );
    assert_eq!(l["list"][0]["isCustom"], 0);
}

#[test]
fn locks_records_and_gateways() {
    let sim = start(quick_fixture());
    let mut c = Client::https(&sim);
    let q = |c: &mut Client, path: &str, lock: &str| c.v3_get(path, &[("lockId", lock)]);
    assert_eq!(
        q(&mut c, "/v3/lock/queryOpenState", "1001"),
        serde_json::json!({"state": 0})
    );
    assert_eq!(
        c.v3_post("/v3/lock/unlock", &[("lockId", "1001")]),
        serde_json::from_str::<Value>(OK_BODY).unwrap()
    );
    assert_eq!(q(&mut c, "/v3/lock/queryOpenState", "1001")["state"], 1);
    assert_eq!(
        q(&mut c, "/v3/lock/queryElectricQuantity", "1001"),
        serde_json::json!({"electricQuantity": 87})
    );
    // hass-ttlock sends lock/lock as GET: accepted.
    assert_eq!(
        errcode(&c.v3_get("/v3/lock/lock", &[("lockId", "1001")])),
        0
    );
    assert_eq!(sim.state().lock(1001).unwrap().open_state, 0);

    let recs = c.v3_get(
        "/v3/lockRecord/list",
        &[("lockId", "1001"), ("pageNo", "1"), ("pageSize", "20")],
    );
    assert_eq!(recs["total"], 1);
    let r = &recs["list"][0];
    assert_eq!(
        (
            r["recordType"].as_i64(),
            r["success"].as_i64(),
            r["lockId"].as_i64()
        ),
        (Some(12), Some(1), Some(1001))
    );
    assert_eq!(r["username"], FIXTURE_USERNAME);
    let none = c.v3_get(
        "/v3/lockRecord/list",
        &[
            ("lockId", "1001"),
            ("pageNo", "1"),
            ("pageSize", "20"),
            ("recordType", "4"),
        ],
    );
    assert_eq!(none["total"], 0);

    let d = q(&mut c, "/v3/lock/detail", "2001");
    assert_eq!(
        (
            d["lockId"].as_i64(),
            d["lockAlias"].as_str(),
            d["hasGateway"].as_i64()
        ),
        (Some(2001), Some("Main door"), Some(1))
    );
    assert!(d["featureValue"].is_string() && d.get("errcode").is_none());
    assert_eq!(errcode(&q(&mut c, "/v3/lock/detail", "5")), -1003);
    let l = c.v3_get("/v3/lock/list", &[("pageNo", "1"), ("pageSize", "100")]);
    assert_eq!(l["total"], 3);
    let l = c.v3_get(
        "/v3/lock/list",
        &[("pageNo", "1"), ("pageSize", "100"), ("lockAlias", "room")],
    );
    assert_eq!(l["total"], 2);
    assert_eq!(
        errcode(&c.v3_get("/v3/lock/list", &[("pageNo", "1"), ("pageSize", "1001")])),
        -3
    );
    let g = q(&mut c, "/v3/gateway/listByLock", "1002");
    assert_eq!(g["list"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            g["list"][0]["gatewayId"].as_i64(),
            g["list"][0]["gatewayName"].as_str()
        ),
        (Some(2), Some("GW floor 2"))
    );
    assert!(g["list"][0]["rssi"].is_i64());
    let gl = c.v3_get("/v3/gateway/list", &[("pageNo", "1"), ("pageSize", "20")]);
    assert_eq!(gl["total"], 2);
    assert_eq!(gl["list"][1]["lockNum"], 2);
    assert_eq!(gl["list"][0]["isOnline"], 1);
}

#[test]
fn remote_unlock_off_no_gateway_and_offline_gateways() {
    let mut s = quick_fixture();
    s.lock_mut(1001).unwrap().remote_unlock = false;
    s.lock_mut(1002).unwrap().gateway_ids.clear();
    s.add_gateway(3, "GW spare");
    s.lock_mut(2001).unwrap().gateway_ids = vec![2, 3];
    s.gateway_mut(2).unwrap().online = false;
    let sim = start(s);
    let mut c = Client::https(&sim);
    let op =
        |c: &mut Client, path: &str, lock: &str| errcode(&c.v3_post(path, &[("lockId", lock)]));
    assert_eq!(op(&mut c, "/v3/lock/unlock", "1001"), -4043);
    assert_eq!(op(&mut c, "/v3/lock/lock", "1001"), -4043);
    assert_eq!(op(&mut c, "/v3/lock/unlock", "1002"), -2012);
    assert_eq!(
        errcode(&c.v3_get("/v3/lock/queryOpenState", &[("lockId", "1002")])),
        -2012
    );
    assert_eq!(op(&mut c, "/v3/lock/unlock", "999"), -1003);
    // 2001: gateway 2 offline, gateway 3 takes over.
    assert_eq!(op(&mut c, "/v3/lock/unlock", "2001"), 0);
    assert_eq!(
        sim.counters()
            .max_in_flight_per_gateway
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        vec![3]
    );
    sim.with_state(|s| s.gateway_mut(3).unwrap().online = false);
    assert_eq!(op(&mut c, "/v3/lock/unlock", "2001"), -3002);
    let e = c.v3_post(
        ADD,
        &[
            ("lockId", "2001"),
            ("keyboardPwd", "12345"),
            ("keyboardPwdType", "2"),
            ("addType", "2"),
        ],
    );
    assert_eq!(errcode(&e), -3002);
    // Cloud-only add needs no gateway.
    let ok = c.v3_post(
        ADD,
        &[
            ("lockId", "2001"),
            ("keyboardPwd", "12345"),
            ("keyboardPwdType", "2"),
            ("addType", "1"),
        ],
    );
    assert!(ok["keyboardPwdId"].is_i64());
    assert_eq!(sim.state().lock(1001).unwrap().open_state, 0);
}

#[test]
fn gateway_list_paged_and_list_lock_with_signals() {
    let mut s = quick_fixture();
    s.add_gateway(3, "GW spare");
    // 2001 is seen by gateways 2 and 3, better by 3; 1001 by gateway 1 at the default -60.
    s.lock_mut(2001).unwrap().gateway_ids = vec![2, 3];
    s.lock_mut(2001).unwrap().rssi = [(2, -80), (3, -55)].into_iter().collect();
    let sim = start(s);
    let mut c = Client::https(&sim);

    let p1 = c.v3_get("/v3/gateway/list", &[("pageNo", "1"), ("pageSize", "2")]);
    assert_eq!(
        (p1["total"].as_i64(), p1["pages"].as_i64()),
        (Some(3), Some(2))
    );
    let g = &p1["list"][0];
    for f in ["gatewayId", "gatewayVersion", "lockNum", "isOnline"] {
        assert!(g[f].is_i64(), "{f}: {g}");
    }
    for f in ["gatewayMac", "gatewayName", "networkName"] {
        assert!(g[f].is_string(), "{f}: {g}");
    }
    let p2 = c.v3_get("/v3/gateway/list", &[("pageNo", "2"), ("pageSize", "2")]);
    assert_eq!(p2["list"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            p2["list"][0]["gatewayId"].as_i64(),
            p2["list"][0]["lockNum"].as_i64()
        ),
        (Some(3), Some(1))
    );
    assert_eq!(
        errcode(&c.v3_get("/v3/gateway/list", &[("pageNo", "1"), ("pageSize", "201")])),
        -3
    );

    let ll = |c: &mut Client, gw: &str| c.v3_get("/v3/gateway/listLock", &[("gatewayId", gw)]);
    let l1 = ll(&mut c, "1");
    assert_eq!(l1["list"].as_array().unwrap().len(), 1);
    let item = &l1["list"][0];
    assert_eq!(
        (
            item["lockId"].as_i64(),
            item["lockAlias"].as_str(),
            item["rssi"].as_i64()
        ),
        (Some(1001), Some("Room 101"), Some(-60))
    );
    assert!(
        item["lockMac"].is_string() && item["lockName"].is_string() && item["updateDate"].is_i64()
    );
    let ids = |v: &Value| -> Vec<(i64, i64)> {
        v["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["lockId"].as_i64().unwrap(), i["rssi"].as_i64().unwrap()))
            .collect()
    };
    assert_eq!(ids(&ll(&mut c, "2")), vec![(1002, -60), (2001, -80)]);
    assert_eq!(ids(&ll(&mut c, "3")), vec![(2001, -55)]);
    assert_eq!(errcode(&ll(&mut c, "99")), -4037);
    assert_eq!(errcode(&c.v3_get("/v3/gateway/listLock", &[])), -3);
    // listByLock reports the same signals.
    let b = c.v3_get("/v3/gateway/listByLock", &[("lockId", "2001")]);
    assert_eq!(
        (b["list"][0]["rssi"].as_i64(), b["list"][1]["rssi"].as_i64()),
        (Some(-80), Some(-55))
    );
    // An operation goes through the best-signal gateway (3), not the first listed.
    assert_eq!(
        errcode(&c.v3_post("/v3/lock/unlock", &[("lockId", "2001")])),
        0
    );
    assert_eq!(
        sim.counters()
            .max_in_flight_per_gateway
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        vec![3]
    );
    sim.set_options(|o| o.numbers_as_strings = true);
    assert_eq!(ll(&mut c, "3")["list"][0]["lockId"], "2001");
}

#[test]
fn month_request_count_checks_the_client_and_counts_v3_calls() {
    const MONTH: &str = "/app/getMonthRequestCount";
    let sim = start(quick_fixture());
    let mut c = Client::https(&sim);
    let count = |c: &mut Client, id: &str, secret: &str| -> Value {
        let r = c
            .post(MONTH, &[("clientId", id), ("clientSecret", secret)])
            .unwrap();
        assert_eq!(r.status, 200);
        r.json()
    };
    let v = count(&mut c, FIXTURE_CLIENT_ID, FIXTURE_CLIENT_SECRET);
    assert_eq!(v["monthRequestCount"], 0, "{v}");
    assert!(v.get("errcode").is_none());

    // Three /v3 calls (one of them rejected) count; the token endpoint and this one do not.
    let lp = [("lockId", "1001"), ("pageNo", "1"), ("pageSize", "20")];
    c.v3_get(LIST, &lp);
    c.v3_get(LIST, &lp);
    let mut bad = lp.to_vec();
    bad.push(("clientId", "other"));
    assert_eq!(errcode(&c.v3_get(LIST, &bad)), 10000);
    password_grant(&mut c, &CAMEL);
    let v = count(&mut c, FIXTURE_CLIENT_ID, FIXTURE_CLIENT_SECRET);
    assert_eq!(v["monthRequestCount"], 3, "{v}");
    assert_eq!(sim.counters().requests_to(MONTH), 2);

    // The client is checked as the token endpoint checks it; no access token needed.
    assert_eq!(
        errcode(&count(&mut c, "other", FIXTURE_CLIENT_SECRET)),
        10000
    );
    assert_eq!(errcode(&count(&mut c, FIXTURE_CLIENT_ID, "wrong")), 10001);
    let r = c.post(MONTH, &[("clientId", FIXTURE_CLIENT_ID)]).unwrap();
    assert_eq!(errcode(&r.json()), 10001);
    // snake_case spelling, as the token endpoint takes it.
    let r = c
        .post(
            MONTH,
            &[
                ("client_id", FIXTURE_CLIENT_ID),
                ("client_secret", FIXTURE_CLIENT_SECRET),
            ],
        )
        .unwrap();
    assert_eq!(r.json()["monthRequestCount"], 3);

    sim.reset_counters();
    let v = count(&mut c, FIXTURE_CLIENT_ID, FIXTURE_CLIENT_SECRET);
    assert_eq!(v["monthRequestCount"], 0, "{v}");
}
