//! TTLock's answers as they really come (the simulator's `real_shapes`, and the errcodes field
//! reports show): errcode 1 ("failed or means no") on add and unlock, a refresh grant rejected
//! with another errcode than 10011, 90000 on calls that are not idempotent, and answers without
//! their optional fields or with numbers as strings.
mod common;

use common::{fixture_client, fixture_config, start_sim, Sim, State, TempDir};
use ttlock::api::{self, RecordQuery, Validity};
use ttlock::ops::locks::{self, LockState};
use ttlock::ops::passcodes::{self, AddRequest};
use ttlock::ops::purge::{self, PurgeRequest};
use ttlock::transport::now_ms;
use ttlock::{Client, Code, TokenRecord, TokenStore};
use ttlock_sim::{
    Fault, FaultKind, Passcode, Record, DAY_MS, FIXTURE_ACCESS_TOKEN, FIXTURE_PASSWORD_MD5,
    FIXTURE_REFRESH_TOKEN, FIXTURE_USERNAME,
};

const ADD: &str = "/v3/keyboardPwd/add";
const UNLOCK: &str = "/v3/lock/unlock";
const LIST: &str = "/v3/lock/listKeyboardPwd";
const TOKEN: &str = "/oauth2/token";

/// The fixture with real-shaped answers and no gateway hold.
fn setup(label: &str) -> (Sim, TempDir, Client) {
    let sim = start_sim(State::fixture());
    sim.set_options(|o| {
        o.gateway_hold_ms = 0;
        o.real_shapes = true;
    });
    let dir = TempDir::new(label);
    let c = fixture_client(&sim, dir.path());
    (sim, dir, c)
}

fn guest(code: &str) -> AddRequest {
    AddRequest {
        lock_id: 1001,
        also_lock_ids: vec![],
        passcode: code.into(),
        name: Some("101_real".into()),
        validity: Validity::Period {
            start_ms: now_ms() + DAY_MS,
            end_ms: now_ms() + 3 * DAY_MS,
        },
        atomic: true,
    }
}

fn copies(sim: &Sim, code: &str) -> usize {
    sim.state()
        .lock(1001)
        .unwrap()
        .passcodes
        .iter()
        .filter(|p| p.keyboard_pwd == code)
        .count()
}

#[test]
fn errcode_1_on_add_is_looked_up_and_the_code_that_arrived_is_success() {
    let (sim, _dir, c) = setup("real-add-1");
    // The add reached the lock, but TTLock answered "failed or means no".
    sim.inject(Fault::new(ADD, FaultKind::FailedOrNo, 1).performed());
    let out = passcodes::add_passcode(&c, &guest("58213")).expect("the code is on the lock");
    assert!(out.locks[0].existing, "{out:?}");
    assert_eq!(copies(&sim, "58213"), 1);
    let n = sim.counters();
    assert_eq!(n.requests_to(ADD), 1, "never repeated blind");
    assert!(n.requests_to(LIST) >= 1, "looked up");

    // It did not reach the lock: the look-up finds nothing, and one more add puts it there.
    sim.inject(Fault::new(ADD, FaultKind::FailedOrNo, 1));
    let out = passcodes::add_passcode(&c, &guest("69314")).expect("added on the second try");
    assert!(!out.locks[0].existing);
    assert_eq!(copies(&sim, "69314"), 1);
}

#[test]
fn errcode_1_on_unlock_says_what_to_do_and_is_never_repeated() {
    let (sim, _dir, c) = setup("real-unlock-1");
    sim.inject(Fault::new(UNLOCK, FaultKind::FailedOrNo, 1).performed());
    let e = locks::unlock(&c, 2001).unwrap_err();
    assert_eq!(e.errcode(), Some(1));
    assert!(e.maybe_done(), "the door may have opened");
    assert!(
        e.advice().contains("may or may not have") && e.advice().contains("check"),
        "{}",
        e.advice()
    );
    assert!(e.message().contains("not repeated"), "{e}");
    assert_eq!(sim.counters().requests_to(UNLOCK), 1);
}

fn expired_client(sim: &Sim, dir: &std::path::Path, credentials: bool) -> Client {
    let mut cfg = fixture_config(sim, dir);
    if credentials {
        cfg.username = Some(FIXTURE_USERNAME.into());
        cfg.password_md5 = Some(FIXTURE_PASSWORD_MD5.into());
    }
    let c = Client::new(cfg, TokenStore::File).unwrap();
    c.save_tokens(&TokenRecord {
        access_token: Some(FIXTURE_ACCESS_TOKEN.into()),
        refresh_token: Some(FIXTURE_REFRESH_TOKEN.into()),
        expires_at_ms: Some(now_ms() - 1000),
    })
    .unwrap();
    c
}

#[test]
fn any_rejection_of_the_refresh_token_falls_back_to_one_login() {
    for errcode in [10004, 10003, 10007, 10011] {
        let sim = start_sim(State::fixture());
        let dir = TempDir::new(&format!("real-refresh-{errcode}"));
        let c = expired_client(&sim, dir.path(), true);
        // The refresh grant is refused; the password grant after it goes through.
        sim.inject(Fault::errcode(TOKEN, errcode, 1));
        let battery = api::query_electric_quantity(&c, 1001)
            .unwrap_or_else(|e| panic!("{errcode}: not recovered: {e}"));
        assert_eq!(battery, 87);
        let n = sim.counters();
        assert_eq!(
            (n.token_grants, n.requests_to(TOKEN)),
            (1, 2),
            "{errcode}: one refresh, then one login"
        );
        assert!(!c.token_info().unwrap().needs_login);
    }
}

#[test]
fn without_credentials_a_rejected_refresh_token_needs_a_person() {
    for errcode in [10004, 10011] {
        let sim = start_sim(State::fixture());
        let dir = TempDir::new(&format!("real-refresh-nocred-{errcode}"));
        let c = expired_client(&sim, dir.path(), false);
        sim.inject(Fault::errcode(TOKEN, errcode, 1));
        let e = api::query_electric_quantity(&c, 1001).unwrap_err();
        assert_eq!(e.code(), Code::AuthFailed, "{errcode}");
        assert!(c.token_info().unwrap().needs_login, "{errcode}");
        assert!(
            e.advice().contains("username and password_md5")
                && e.advice().contains("paste fresh tokens"),
            "{errcode}: {}",
            e.advice()
        );
        assert_eq!(sim.counters().requests_to(TOKEN), 1, "no login attempted");
    }
}

#[test]
fn errcode_90000_is_not_retried_blind_where_repeating_could_do_harm() {
    let (sim, _dir, c) = setup("real-90000");
    // An add whose answer is 90000 although it was done: looked up, not sent again.
    sim.inject(Fault::errcode(ADD, 90000, 1).performed());
    let out = passcodes::add_passcode(&c, &guest("47120")).expect("found by the look-up");
    assert!(out.locks[0].existing);
    assert_eq!(copies(&sim, "47120"), 1);
    assert_eq!(
        sim.counters().requests_to(ADD),
        1,
        "no blind repeat of an add"
    );

    // An unlock answered 90000: not repeated, the outcome is reported as unknown.
    let e = locks::unlock(&c, 2001).map(|_| ()).and_then(|_| {
        sim.inject(Fault::errcode(UNLOCK, 90000, 1).performed());
        locks::unlock(&c, 2001)
    });
    let e = e.unwrap_err();
    assert_eq!(e.errcode(), Some(90000));
    assert!(e.maybe_done());
    assert!(e.message().contains("not repeated"), "{e}");
    assert_eq!(
        sim.counters().requests_to(UNLOCK),
        2,
        "one plain unlock, one answered 90000"
    );

    // A query is safe to repeat: retried, and it succeeds.
    sim.inject(Fault::errcode(LIST, 90000, 1));
    assert!(passcodes::list_passcodes(&c, 1001).is_ok());
}

#[test]
fn open_state_without_state_is_unknown() {
    let (sim, _dir, c) = setup("real-open-state");
    sim.with_state(|s| s.lock_mut(1002).unwrap().open_state = 2);
    assert_eq!(locks::lock_state(&c, 1002).unwrap(), LockState::Unknown);
    assert_eq!(locks::lock_state(&c, 2001).unwrap(), LockState::Locked);
}

#[test]
fn listed_codes_without_is_custom_and_with_string_types_decode() {
    let (_sim, _dir, c) = setup("real-list");
    // Listed codes without isCustom, keyboardPwdType as a string, every other item all strings.
    passcodes::add_passcode(&c, &guest("80461")).unwrap();
    passcodes::add_passcode(&c, &guest("91572")).unwrap();
    let items = passcodes::list_passcodes(&c, 1001).unwrap();
    assert!(items.len() >= 2);
    for it in &items {
        assert_eq!(it.is_custom, None, "unknown, not false: {it:?}");
        assert!(it.pwd_type > 0, "{it:?}");
    }
}

#[test]
fn gateways_without_a_name_decode() {
    let (_sim, _dir, c) = setup("real-gateways");
    let gws = api::gateway_list(&c, 1, 200).unwrap();
    assert!(!gws.list.is_empty());
    assert!(gws
        .list
        .iter()
        .all(|g| g.name.is_none() && g.gateway_id > 0));
}

#[test]
fn records_without_record_id_decode() {
    // As in peers' 2020 fixtures.
    let (sim, _dir, c) = setup("real-records");
    sim.with_state(|s| {
        let l = s.lock_mut(1001).unwrap();
        for i in 0..3 {
            l.records.push(Record {
                record_id: 900 + i,
                record_type: 4,
                record_type_from_lock: 4,
                success: 1,
                username: "101_real".into(),
                keyboard_pwd: "80461".into(),
                lock_date_ms: now_ms() - i * 60_000,
                server_date_ms: now_ms(),
            });
        }
    });
    let q = RecordQuery {
        lock_id: 1001,
        page_no: 1,
        page_size: 20,
        ..RecordQuery::default()
    };
    let page = api::lock_record_list(&c, &q).expect("a page without recordId decodes");
    assert_eq!(page.list.len(), 3);
    assert!(page.list.iter().all(|r| r.record_id.is_none()));
    assert!(page.list.iter().all(|r| r.lock_date_ms.is_some()));
}

#[test]
fn a_permanent_code_whose_start_equals_its_past_end_is_never_purged() {
    let (sim, _dir, c) = setup("real-permanent");
    let past = now_ms() - 30 * DAY_MS;
    sim.with_state(|s| {
        let l = s.lock_mut(1001).unwrap();
        for (id, t) in [(7001, 2), (7002, 3)] {
            l.passcodes.push(Passcode {
                keyboard_pwd_id: id,
                keyboard_pwd: format!("7{id}"),
                name: format!("Staff {id}"),
                r#type: t,
                start_ms: past,
                end_ms: past,
                is_custom: true,
                create_ms: past,
                status: 1,
                sender_username: FIXTURE_USERNAME.into(),
            });
        }
    });
    let mut req = PurgeRequest::new(vec![1001]);
    req.full_sweep_ms = 0;
    let report = purge::purge_expired(&c, &req).unwrap();
    let left: Vec<i64> = sim
        .state()
        .lock(1001)
        .unwrap()
        .passcodes
        .iter()
        .map(|p| p.keyboard_pwd_id)
        .collect();
    assert!(left.contains(&7001) && left.contains(&7002), "{report:?}");
    assert!(report.deleted.iter().all(|d| d.passcode_id < 7000));
}
