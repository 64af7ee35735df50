//! The Lua boundary of the module: its real Lua functions (mlua, vendored Lua 5.1) against the
//! simulator: a Lua `token_store` refreshed from worker threads (`host::parallel`), the return
//! conventions, and a scan of every log line, error, return value and Debug print for secrets.
mod common;

use common::{lua_for, lua_lines, start_sim, strings_of, State, TempDir};
use mlua::{Lua, Table, Value};
use ttlock::{api, host, Code};
use ttlock_sim::{
    Fault, FaultKind, FIXTURE_ACCESS_TOKEN, FIXTURE_CLIENT_SECRET, FIXTURE_PASSWORD,
    FIXTURE_PASSWORD_MD5, FIXTURE_REFRESH_TOKEN,
};

#[test]
fn lua_token_store_is_refreshed_from_worker_threads() {
    let sim = start_sim(State::fixture());
    let dir = TempDir::new("lua-workers");
    let lua = lua_for(&sim, dir.path(), "");
    sim.expire_access_tokens();

    // Three workers meet 10004 at about the same time; the refresh happens once, is saved
    // through the Lua store on this (the Lua) thread, and the others use its result.
    let results = ttlock::with_lua_client(&lua, |c| {
        host::bounded(vec![1001, 1002, 2001], 3, |id| api::lock_detail(c, id))
    })
    .unwrap();
    let aliases: Vec<_> = results
        .into_iter()
        .map(|r| r.unwrap().lock.alias.unwrap())
        .collect();
    assert_eq!(aliases, ["Room 101", "Room 102", "Main door"]);
    let n = sim.counters();
    assert_eq!(n.token_refreshes, 1, "{n:?}");
    let g = lua.globals();
    assert_eq!(g.get::<i64>("SAVES").unwrap(), 1);
    let store: Table = g.get("STORE").unwrap();
    let access: String = store.get("access_token").unwrap();
    assert_ne!(access, FIXTURE_ACCESS_TOKEN);
    let state = sim.state();
    assert!(state.tokens.iter().any(|t| t.access_token == access));
    // expires_at_ms came back as a number of milliseconds.
    let exp: f64 = store.get("expires_at_ms").unwrap();
    assert!(exp > 1.7e12 && exp.fract() == 0.0, "{exp}");
    // With a Lua store, nothing is written to state_dir/tokens.json.
    assert!(!dir.path().join("tokens.json").exists());
    // Worker log lines reached the Lua log callback.
    let l = lua_lines(&lua);
    assert!(
        l.iter()
            .filter(|s| s.contains("GET /v3/lock/detail"))
            .count()
            >= 3,
        "{l:?}"
    );
    assert!(
        l.iter().any(|s| s.contains("access token refreshed")),
        "{l:?}"
    );
}

#[test]
fn return_conventions_in_lua() {
    let sim = start_sim(State::fixture());
    let dir = TempDir::new("lua-conv");
    let lua = lua_for(&sim, dir.path(), "");
    lua.globals().set("PASSWORD", FIXTURE_PASSWORD).unwrap();
    sim.inject(Fault::new("/oauth2/token", FaultKind::InvalidJson, 1));
    lua.load(
        r#"
        assert(ttlock._NAME == 'ttlock' and type(ttlock._VERSION) == 'string')

        -- Misuse raises a string starting with "ttlock:".
        local function raises(f, ...)
          local ok, e = pcall(f, ...)
          assert(not ok, 'expected an error')
          assert(type(e) == 'string' and e:sub(1, 7) == 'ttlock:', tostring(e))
          return e
        end
        raises(ttlock.configure)
        raises(ttlock.configure, { client_id = 'x' })
        local e = raises(ttlock.configure, { client_id = 'x', client_secret = 'y', colour = 'red' })
        assert(e:find("unknown option 'colour'", 1, true), e)
        raises(ttlock.configure, { client_id = 'x', client_secret = 'y', retries = 1.5 })
        raises(ttlock.configure, { client_id = 'x', client_secret = 'y', retries = -1 })
        raises(ttlock.configure, { client_id = 'x', client_secret = 'y', timeout_s = '30' })
        raises(ttlock.configure, { client_id = 'x', client_secret = 'y', log = 'print' })
        raises(ttlock.configure, { client_id = 'x', client_secret = 'y', token_store = { load = print } })
        raises(ttlock.configure, { client_id = 'x', client_secret = 'y', username = 'u' })
        raises(ttlock.configure, { client_id = 'x', client_secret = 'y', [1] = 'positional' })
        raises(ttlock.login, { username = 'u' })
        raises(ttlock.login, { username = 'u', password = 'p', password_md5 = 'x' })
        raises(ttlock.ensure_token, { min_valid_s = 'week' })
        raises(ttlock.token_info, 'x')

        -- The bad configure calls above left the configuration in place.
        assert(ttlock.token_info().has_access_token == true)

        -- World-caused errors: nil, err with the shared metatable.
        local ok, err = ttlock.refresh_token()
        assert(ok == nil and type(err) == 'table', 'nil, err expected')
        assert(err.code == 'bad_response', err.code)
        assert(type(err.message) == 'string' and tostring(err) == err.message)
        assert(err.http_status == 200 and err.errcode == nil)
        local ok2, err2 = ttlock.login{ username = 'hotel@example.com', password = 'wrong' }
        assert(ok2 == nil and err2.code == 'auth_failed' and err2.errcode == 10007, tostring(err2))
        assert(type(err2.errcode) == 'number')
        assert(getmetatable(err) == getmetatable(err2))
        assert(tostring(err2):find('TTLock app', 1, true))
        assert(ttlock.token_info().needs_login == true)

        -- Good calls.
        assert(ttlock.login{ username = 'hotel@example.com', password = PASSWORD } == true)
        assert(ttlock.token_info().needs_login == false)
        assert(ttlock.refresh_token() == true)
        assert(ttlock.ensure_token() == true)
        assert(ttlock.ensure_token{ min_valid_s = 0 } == true)
        local info = ttlock.token_info()
        assert(info.has_access_token and info.has_refresh_token and type(info.expires_at_ms) == 'number')
        assert(info.expires_at_ms > os.time() * 1000 + 80 * 86400000)
        local s = ttlock.stats()
        assert(s.month:match('^%d%d%d%d%-%d%d$') and s.api_calls == 0, s.month)
        "#,
    )
    .set_name("conventions")
    .exec()
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.counters().token_grants, 2);
}

#[test]
fn not_configured_raises() {
    let lua = Lua::new();
    lua.globals()
        .set("ttlock", ttlock::lua_module(&lua).unwrap())
        .unwrap();
    lua.load(
        r#"
        for _, f in ipairs{ 'login', 'refresh_token', 'ensure_token', 'token_info', 'stats',
                        'month_request_count' } do
          local ok, e = pcall(ttlock[f], f == 'login' and { username = 'u', password = 'p' } or nil)
          assert(not ok and e:find('^ttlock: not configured'), f .. ': ' .. tostring(e))
        end
        "#,
    )
    .exec()
    .unwrap();
}

#[test]
fn no_secret_in_logs_errors_return_values_or_debug_prints() {
    let sim = start_sim(State::fixture());
    sim.set_options(|o| o.gateway_hold_ms = 0);
    let dir = TempDir::new("lua-secrets");
    let lua = lua_for(
        &sim,
        dir.path(),
        "OPTS.username = 'hotel@example.com'; OPTS.password_md5 = MD5",
    );
    let g = lua.globals();
    g.set("PASSWORD", FIXTURE_PASSWORD).unwrap();
    let mut seen: Vec<String> = Vec::new();

    // Lua calls, successful and failing; every return value is kept.
    let lua_calls = r#"
        local out = {}
        local function keep(...) out[#out + 1] = { ... } end
        keep(ttlock.login{ username = 'hotel@example.com', password = PASSWORD })
        keep(ttlock.login{ username = 'hotel@example.com', password_md5 = MD5 })
        keep(ttlock.login{ username = 'hotel@example.com', password = 'not-it' })
        keep(ttlock.refresh_token())
        keep(ttlock.ensure_token{ min_valid_s = 100 * 86400 })
        keep(ttlock.token_info())
        keep(ttlock.stats())
        for _, f in ipairs{ 'configure', 'login' } do
          keep(pcall(ttlock[f], { client_id = CID, client_secret = CSECRET, password = PASSWORD,
                                  password_md5 = MD5, bogus = AT }))
        end
        return out
    "#;
    let v: Value = lua.load(lua_calls).eval().unwrap();
    strings_of(&v, &mut seen, 0);

    // Rust API calls with faults, errors kept with their Debug prints.
    let mut errors = Vec::new();
    ttlock::with_lua_client(&lua, |c| {
        seen.push(format!("{c:?}"));
        seen.push(format!("{:?}", c.config()));
        seen.push(format!("{:?}", c.load_tokens()));
        seen.push(format!("{:?}", c.token_info()));
        for (path, kind) in [
            ("/v3/lock/queryElectricQuantity", FaultKind::DropBefore),
            ("/v3/lock/queryElectricQuantity", FaultKind::InvalidJson),
            ("/v3/lock/queryElectricQuantity", FaultKind::HttpStatus),
            ("/v3/lock/unlock", FaultKind::LoseAnswer),
            ("/v3/lock/unlock", FaultKind::Errcode),
            ("/oauth2/token", FaultKind::LoseAnswer),
        ] {
            sim.inject(Fault::new(path, kind, -1));
            errors.push(api::query_electric_quantity(c, 1001));
            errors.push(api::unlock(c, 1001).map(|_| 0));
            errors.push(c.refresh_token().map(|_| 0));
            sim.clear_faults();
        }
        // A GET that times out: its URL carries the access token in the query string.
        sim.inject(Fault::delay("/v3/lock/queryElectricQuantity", 3_000, 1));
        let mut cfg = c.config().clone();
        cfg.timeout = std::time::Duration::from_secs(1);
        let short = ttlock::Client::new(cfg, c.token_store()).unwrap();
        let e = api::query_electric_quantity(&short, 1001);
        assert_eq!(e.as_ref().unwrap_err().code(), Code::Timeout);
        errors.push(e);
        // TLS failure and an expired token whose refresh token is rejected.
        let mut cfg = c.config().clone();
        cfg.ca_file = None;
        let no_ca = ttlock::Client::new(cfg, c.token_store()).unwrap();
        errors.push(api::query_electric_quantity(&no_ca, 1001));
        errors.push(api::lock_detail(c, 1001).map(|d| d.lock.battery.unwrap_or(0)));
    })
    .unwrap();
    lua.load("STORE.refresh_token = 'ffffffffffffffffffffffffffffffff'")
        .exec()
        .unwrap();
    sim.expire_access_tokens();
    ttlock::with_lua_client(&lua, |c| {
        errors.push(api::query_electric_quantity(c, 1002));
    })
    .unwrap();
    let mut failures = 0;
    for r in &errors {
        seen.push(format!("{r:?}"));
        if let Err(e) = r {
            failures += 1;
            seen.push(e.to_string());
        }
    }
    assert!(
        failures >= 8,
        "the scenario must produce errors: {errors:?}"
    );
    seen.extend(lua_lines(&lua));
    assert!(lua_lines(&lua).len() > 20);

    // Every secret: app secret, password, its md5 and every token the simulator ever issued.
    let mut secrets = vec![
        FIXTURE_CLIENT_SECRET.to_string(),
        FIXTURE_PASSWORD.to_string(),
        FIXTURE_PASSWORD_MD5.to_string(),
        FIXTURE_ACCESS_TOKEN.to_string(),
        FIXTURE_REFRESH_TOKEN.to_string(),
    ];
    for t in sim.state().tokens {
        secrets.push(t.access_token);
        secrets.push(t.refresh_token);
    }
    assert!(secrets.len() > 8, "the scenario must rotate tokens");
    for text in &seen {
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "secret found in: {text}");
        }
    }
}
