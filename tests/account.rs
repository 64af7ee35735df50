//! The account's monthly call counter (`/app/getMonthRequestCount`) against the simulator,
//! through the Rust API and the Lua boundary: the right count after some calls, the client
//! checked without touching the tokens, and a wrong secret giving errcode 10001 with the table's
//! advice, the secret never in a message, advice, Debug text or log line.
mod common;

use common::{fixture_client, fixture_client_with, lua_for, lua_lines, start_sim, State, TempDir};
use mlua::Value;
use ttlock::{api, Code};
use ttlock_sim::FIXTURE_CLIENT_SECRET;

const MONTH: &str = "/app/getMonthRequestCount";
const TOKEN: &str = "/oauth2/token";
const WRONG_SECRET: &str = "wrong-secret-5f3a9c";

#[test]
fn counts_the_v3_calls_of_the_month() {
    let sim = start_sim(State::fixture());
    let dir = TempDir::new("account-count");
    let c = fixture_client(&sim, dir.path());
    assert_eq!(api::month_request_count(&c).unwrap(), 0);
    for _ in 0..3 {
        api::query_electric_quantity(&c, 1001).unwrap();
    }
    api::lock_list(&c, 1, 20).unwrap();
    assert_eq!(api::month_request_count(&c).unwrap(), 4);
    // The module's own counter agrees: it counts the same /v3 requests, not this endpoint.
    assert_eq!(c.stats().unwrap().api_calls, 4);
    let n = sim.counters();
    assert_eq!(n.requests_to(MONTH), 2);
    assert_eq!(n.requests_to(TOKEN), 0);
}

#[test]
fn wrong_client_is_found_without_touching_the_tokens() {
    let sim = start_sim(State::fixture());
    let dir = TempDir::new("account-wrong");
    let c = fixture_client_with(&sim, dir.path(), |cfg| {
        cfg.client_secret = WRONG_SECRET.into();
    });
    let before = c.load_tokens().unwrap();
    let e = api::month_request_count(&c).unwrap_err();
    assert_eq!(
        (e.code(), e.errcode()),
        (Code::AuthFailed, Some(10001)),
        "{e}"
    );
    assert!(e.advice().contains("client_secret"), "{}", e.advice());
    assert!(e.advice().contains("developer portal"), "{}", e.advice());
    assert!(!e.maybe_done());
    for text in [
        e.message().to_owned(),
        e.advice().to_owned(),
        format!("{e}"),
        format!("{e:?}"),
        format!("{c:?}"),
    ] {
        assert!(!text.contains(WRONG_SECRET), "secret in {text}");
        assert!(!text.contains(FIXTURE_CLIENT_SECRET), "secret in {text}");
    }
    // One request, not retried, no token request, the token record as it was.
    let n = sim.counters();
    assert_eq!((n.requests_to(MONTH), n.requests_to(TOKEN)), (1, 0));
    assert_eq!(c.load_tokens().unwrap(), before);

    let c = fixture_client_with(&sim, dir.path(), |cfg| cfg.client_id = "other-app".into());
    let e = api::month_request_count(&c).unwrap_err();
    assert_eq!(
        (e.code(), e.errcode()),
        (Code::AuthFailed, Some(10000)),
        "{e}"
    );
    assert!(e.advice().contains("client_id"), "{}", e.advice());
}

#[test]
fn lua_month_request_count() {
    let sim = start_sim(State::fixture());
    let dir = TempDir::new("account-lua");
    let lua = lua_for(&sim, dir.path(), "OPTS.log_level = 'debug'");
    lua.globals().set("WRONG", WRONG_SECRET).unwrap();
    lua.load(
        r#"
        assert(ttlock.month_request_count() == 0)
        assert(ttlock.battery{ lock_id = 1001 })
        assert(ttlock.battery{ lock_id = 1001 })
        local n, err = ttlock.month_request_count()
        assert(n == 2 and err == nil, tostring(err))
        assert(ttlock.stats().api_calls == 2)
        local ok, e = pcall(ttlock.month_request_count, { x = 1 })
        assert(not ok and e:sub(1, 7) == 'ttlock:', tostring(e))
        ok, e = pcall(ttlock.month_request_count, {}, 2)
        assert(not ok and e:sub(1, 7) == 'ttlock:', tostring(e))
        OPTS.client_secret = WRONG
        assert(ttlock.configure(OPTS) == true)
        SAVES = 0
        N, ERR = ttlock.month_request_count()
        assert(N == nil and ERR.code == 'auth_failed' and ERR.errcode == 10001, tostring(ERR))
        assert(SAVES == 0)
        "#,
    )
    .set_name("month")
    .exec()
    .unwrap_or_else(|e| panic!("{e}"));
    let err: Value = lua.globals().get("ERR").unwrap();
    let mut texts = Vec::new();
    common::strings_of(&err, &mut texts, 0);
    texts.extend(lua_lines(&lua));
    assert!(
        texts.iter().any(|t| t.contains("client_secret")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|l| l.contains(MONTH)),
        "a debug line per request: {texts:?}"
    );
    for t in &texts {
        assert!(
            !t.contains(WRONG_SECRET) && !t.contains(FIXTURE_CLIENT_SECRET),
            "{t}"
        );
    }
    assert_eq!(sim.counters().requests_to(TOKEN), 0);
}
