//! The operations at the Lua boundary: their real Lua functions (mlua, vendored Lua 5.1) against the
//! simulator: result and error shapes of lua-api.md, misuse raising versus bad values
//! returning `nil, err` (both sending nothing), ids and millisecond times above 2^31 exactly,
//! `local_time_ms` equal to `os.time`, and no secret (nor a passcode the caller did not pass
//! in) in any log line, error or return value.
mod common;

use common::{lua_for, lua_lines, start_sim, strings_of, Sim, State, TempDir};
use mlua::{Lua, Table, Value};
use ttlock_sim::{
    Lock, Passcode, FIXTURE_ACCESS_TOKEN, FIXTURE_CLIENT_SECRET, FIXTURE_REFRESH_TOKEN,
};

/// Globals the operation tests share, set before `configure`: `NOW`, `DAY` and `raises`.
const PRELUDE: &str = r#"
        NOW = os.time() * 1000
        DAY = 86400000
        function raises(f, ...)
          local ok, e = pcall(f, ...)
          assert(not ok, 'expected an error')
          assert(type(e) == 'string' and e:sub(1, 7) == 'ttlock:', tostring(e))
          return e
        end
"#;

fn run(lua: &Lua, name: &str, code: &str) {
    lua.load(code)
        .set_name(name)
        .exec()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
}

fn setup(label: &str) -> (Sim, TempDir, Lua) {
    let sim = start_sim(State::fixture());
    sim.set_options(|o| o.gateway_hold_ms = 0);
    let dir = TempDir::new(label);
    let lua = lua_for(&sim, dir.path(), PRELUDE);
    (sim, dir, lua)
}

#[test]
fn add_list_change_delete_shapes() {
    let (sim, _dir, lua) = setup("lua-ops-shapes");
    run(
        &lua,
        "shapes",
        r#"
        local from, to = NOW + 3600000, NOW + 3 * DAY
        local res, err = ttlock.add_passcode{ lock_id = 1001, also_lock_ids = { 2001 }, passcode = '04821',
          name = '101_01120512', valid_from_ms = from, valid_to_ms = to }
        assert(res, tostring(err))
        assert(res.ok == true and res.passcode == '04821' and res.name == '101_01120512')
        assert(#res.locks == 2 and res.locks[1].lock_id == 1001 and res.locks[2].lock_id == 2001)
        for _, l in ipairs(res.locks) do
          assert(l.ok == true and type(l.passcode_id) == 'number' and l.code == nil)
        end
        ID = res.locks[1].passcode_id

        local list = assert(ttlock.list_passcodes{ lock_id = 1001 })
        assert(#list == 1)
        local p = list[1]
        assert(p.passcode_id == ID and p.passcode == '04821' and p.name == '101_01120512')
        assert(p.type == 3 and p.valid_from_ms == from and p.valid_to_ms == to and p.is_custom == true)

        assert(ttlock.change_passcode{ lock_id = 1001, passcode_id = ID, valid_from_ms = from, valid_to_ms = to + DAY } == true)
        assert(ttlock.list_passcodes{ lock_id = 1001 }[1].valid_to_ms == to + DAY)
        assert(ttlock.delete_passcode{ lock_id = 1001, passcode_id = ID } == true)
        local ok, e = ttlock.delete_passcode{ lock_id = 1001, passcode_id = ID }
        assert(ok == nil and e.code == 'not_found' and e.errcode == -2009, tostring(e))
        assert(#ttlock.list_passcodes{ lock_id = 1001 } == 0)

        local code = assert(ttlock.generate_passcode{ digits = 5, lock_ids = { 1001, 2001 } })
        assert(type(code) == 'string' and code:match('^%d%d%d%d%d$'), code)
        assert(#ttlock.generate_passcode() == 6, 'default 6 digits')

        -- A permanent staff code.
        local staff = assert(ttlock.add_passcode{ lock_id = 1002, passcode = '735911', permanent = true })
        assert(staff.locks[1].ok)
        "#,
    );
    let st = sim.state();
    assert_eq!(st.passcodes(2001).len(), 1);
    let staff = st.lock(1002).unwrap().passcode_by_code("735911").unwrap();
    assert_eq!((staff.r#type, staff.end_ms), (2, 0));
}

#[test]
fn rollback_error_shape() {
    let (sim, _dir, lua) = setup("lua-ops-rollback");
    sim.with_state(|s| s.gateway_mut(2).unwrap().online = false);
    run(
        &lua,
        "rollback",
        r#"
        local res, err = ttlock.add_passcode{ lock_id = 1001, also_lock_ids = { 2001 }, passcode = '48213',
          name = '101_x', valid_from_ms = NOW, valid_to_ms = NOW + DAY }
        assert(res == nil and type(err) == 'table')
        assert(err.code == 'gateway_offline' and err.errcode == -3002, tostring(err))
        assert(tostring(err) == err.message and err.message:find('removed again from lock 1001', 1, true), err.message)
        assert(err.rolled_back == true)
        assert(#err.locks == 2)
        local room, main = err.locks[1], err.locks[2]
        assert(room.lock_id == 1001 and room.ok == true and room.rolled_back == true and type(room.passcode_id) == 'number')
        assert(main.lock_id == 2001 and main.ok == false and main.code == 'gateway_offline' and main.errcode == -3002)
        assert(type(main.message) == 'string' and tostring(main) == main.message)
        "#,
    );
    assert!(sim.state().passcodes(1001).is_empty());
}

#[test]
fn bad_input_raises_or_returns_nil_err_and_sends_nothing() {
    let (sim, dir, lua) = setup("lua-ops-bad");
    let before = sim.state().to_json();
    run(
        &lua,
        "bad",
        r#"
        local function args(over)
          local t = { lock_id = 1001, passcode = '48213', valid_from_ms = NOW, valid_to_ms = NOW + DAY }
          for k, v in pairs(over) do t[k] = v end
          return t
        end
        -- Misuse raises.
        raises(ttlock.add_passcode)
        raises(ttlock.add_passcode, args{ passcode = 48213 })
        raises(ttlock.add_passcode, args{ lock_id = '1001' })
        raises(ttlock.add_passcode, args{ lock_id = 1001.5 })
        raises(ttlock.add_passcode, args{ lock_id = 0 })
        raises(ttlock.add_passcode, args{ also_lock_ids = 2001 })
        raises(ttlock.add_passcode, args{ also_lock_ids = { 'x' } })
        raises(ttlock.add_passcode, args{ also_lock_ids = { 2001, main = 1 } })
        raises(ttlock.add_passcode, args{ valid_to_ms = false })
        raises(ttlock.add_passcode, args{ valid_from_ms = 1.5 })
        raises(ttlock.add_passcode, args{ atomic = 'yes' })
        raises(ttlock.add_passcode, args{ permanent = true })
        local e = raises(ttlock.add_passcode, args{ colour = 'red' })
        assert(e:find("unknown option 'colour'", 1, true), e)
        local t = args{}; t.valid_to_ms = nil
        raises(ttlock.add_passcode, t)
        raises(ttlock.change_passcode, { lock_id = 1001, passcode_id = 5 })
        raises(ttlock.change_passcode, { lock_id = 1001, passcode_id = 5, valid_from_ms = NOW })
        raises(ttlock.delete_passcode, { lock_id = 1001 })
        raises(ttlock.list_passcodes, {})
        raises(ttlock.generate_passcode, { digits = 3 })
        raises(ttlock.generate_passcode, { digits = 10 })
        raises(ttlock.purge_expired, {})
        raises(ttlock.purge_expired, { lock_ids = { 1001 }, grace_s = -1 })
        raises(ttlock.purge_expired, { lock_ids = { 1001 }, dry_run = 'no' })
        raises(ttlock.unlock, {})
        raises(ttlock.unlock, { lock_id = '2001' })
        raises(ttlock.battery, 1001)
        raises(ttlock.local_time_ms, 'today', {})

        -- Bad values: nil, err (invalid_argument).
        local function refused(over, want)
          local res, err = ttlock.add_passcode(args(over))
          assert(res == nil and type(err) == 'table' and err.code == 'invalid_argument', tostring(err))
          assert(err.message:find(want, 1, true), err.message)
          assert(err.locks and #err.locks == 0 and err.rolled_back == false)
        end
        refused({ passcode = '123' }, '4 to 9 digits')
        refused({ passcode = '1234567890' }, '4 to 9 digits')
        refused({ passcode = '12a45' }, '4 to 9 digits')
        refused({ passcode = '' }, '4 to 9 digits')
        refused({ valid_to_ms = NOW }, 'end after it starts')
        refused({ valid_from_ms = NOW + DAY, valid_to_ms = NOW }, 'end after it starts')
        refused({ valid_from_ms = NOW - 2 * DAY, valid_to_ms = NOW - DAY }, 'already ended')
        refused({ valid_from_ms = os.time(), valid_to_ms = os.time() + 86400 }, 'milliseconds')
        local ok, err = ttlock.change_passcode{ lock_id = 1001, passcode_id = 5, passcode = '12' }
        assert(ok == nil and err.code == 'invalid_argument')
        local ok2, err2 = ttlock.change_passcode{ lock_id = 1001, passcode_id = 5, valid_from_ms = NOW, valid_to_ms = NOW }
        assert(ok2 == nil and err2.code == 'invalid_argument')
        "#,
    );
    assert_eq!(sim.counters().total_requests(), 0, "{:?}", sim.counters());
    assert_eq!(sim.state().to_json(), before);
    assert!(!dir.path().join("ledger.json").exists());
}

#[test]
fn ids_and_times_above_2_pow_31_round_trip_exactly() {
    let (sim, _dir, lua) = setup("lua-ops-big");
    let big_lock: i64 = 4_000_000_123;
    sim.with_state(|s| {
        s.locks.push(Lock::new(big_lock, "Annex", &[1]));
        // Later ids are allocated after this one.
        s.add_passcode(
            big_lock,
            Passcode {
                keyboard_pwd_id: 3_000_000_001,
                ..Passcode::permanent("13579", "seed")
            },
        );
    });
    lua.globals().set("BIG", big_lock as f64).unwrap();
    run(
        &lua,
        "big",
        r#"
        local from, to = 2000000000123, 2000086400456
        local res = assert(ttlock.add_passcode{ lock_id = BIG, passcode = '86420', valid_from_ms = from, valid_to_ms = to })
        assert(res.locks[1].lock_id == BIG)
        ID = res.locks[1].passcode_id
        assert(ID > 2^31, ID)
        local found
        for _, p in ipairs(assert(ttlock.list_passcodes{ lock_id = BIG })) do
          if p.passcode == '86420' then found = p end
        end
        assert(found.passcode_id == ID and found.valid_from_ms == from and found.valid_to_ms == to)
        assert(string.format('%.0f', found.valid_to_ms) == '2000086400456')
        assert(ttlock.battery{ lock_id = BIG } == 100)
        "#,
    );
    let id: f64 = lua.globals().get("ID").unwrap();
    let st = sim.state();
    let p = st
        .lock(big_lock)
        .unwrap()
        .passcode_by_code("86420")
        .unwrap();
    assert_eq!(p.keyboard_pwd_id as f64, id);
    assert_eq!(
        (p.start_ms, p.end_ms),
        (2_000_000_000_123, 2_000_086_400_456)
    );
}

#[test]
fn purge_and_lock_shapes() {
    let (sim, _dir, lua) = setup("lua-ops-purge");
    let now = ttlock::transport::now_ms();
    let day = 86_400_000;
    sim.with_state(|s| {
        s.add_passcode(
            1001,
            Passcode::period("31415", "101_old", now - 5 * day, now - 3 * day),
        );
        s.add_passcode(1001, Passcode::permanent("90909", "Staff"));
        s.lock_mut(1002).unwrap().remote_unlock = false;
    });
    run(
        &lua,
        "purge",
        r#"
        local r = assert(ttlock.purge_expired{ lock_ids = { 1001, 9999 }, dry_run = true })
        assert(r.dry_run == true and #r.deleted == 0 and #r.failed == 0 and #r.would_delete == 1)
        local w = r.would_delete[1]
        assert(w.lock_id == 1001 and w.name == '101_old' and type(w.passcode_id) == 'number')
        assert(w.valid_to_ms < NOW)
        assert(#r.locks == 2)
        assert(r.locks[1].lock_id == 1001 and r.locks[1].listed == 2 and r.locks[1].expired == 1
               and r.locks[1].deleted == 0 and r.locks[1].error == nil and r.locks[1].source == 'list')
        assert(r.locks[1].reason == 'never_listed' and r.locks[1].waiting == 0 and r.locks[1].known == 0)
        local bad = r.locks[2]
        assert(bad.lock_id == 9999 and bad.error.code == 'not_found' and tostring(bad.error):find('lock', 1, true))

        local r2 = assert(ttlock.purge_expired{ lock_ids = { 1001 }, grace_s = 86400, name_prefix = '101_' })
        assert(r2.dry_run == false and #r2.deleted == 1 and r2.deleted[1].name == '101_old')
        assert(r2.locks[1].deleted == 1 and #r2.would_delete == 0)
        -- Listed by a dry run only: the real run lists (reason 'expired') and purges.
        assert(r2.locks[1].reason == 'expired' and r2.locks[1].known == 2, r2.locks[1].reason)
        local r3 = assert(ttlock.purge_expired{ lock_ids = { 1001 }, every_days = 2.5, capacity_margin = 0 })
        assert(r3.locks[1].source == 'ledger' and r3.locks[1].reason == 'nothing_expired' and r3.locks[1].known == 1)
        raises(ttlock.purge_expired, { lock_ids = { 1001 }, every_days = -1 })
        raises(ttlock.purge_expired, { lock_ids = { 1001 }, every_days = 3651 })
        raises(ttlock.purge_expired, { lock_ids = { 1001 }, every_days = 'weekly' })
        raises(ttlock.purge_expired, { lock_ids = { 1001 }, capacity_margin = 251 })
        raises(ttlock.purge_expired, { lock_ids = { 1001 }, capacity_margin = 1.5 })

        assert(ttlock.lock_state{ lock_id = 2001 } == 'locked')
        assert(ttlock.unlock{ lock_id = 2001 } == true)
        assert(ttlock.lock_state{ lock_id = 2001 } == 'unlocked')
        assert(ttlock.lock{ lock_id = 2001 } == true)
        assert(ttlock.battery{ lock_id = 1002 } == 64)
        local ok, err = ttlock.unlock{ lock_id = 1002 }
        assert(ok == nil and err.code == 'not_supported' and err.errcode == -4043)
        assert(tostring(err):find('Remote unlock is off for this lock: turn it on in the TTLock app', 1, true), tostring(err))
        assert(err.advice:find('^Remote unlock is off'), err.advice)
        "#,
    );
    assert_eq!(sim.state().passcodes(1001).len(), 1);
}

#[test]
fn local_time_ms_is_os_time() {
    let (_sim, _dir, lua) = setup("lua-ops-time");
    run(
        &lua,
        "time",
        r#"
        local cases = {
          { { day = 1, month = 12, year = 2025 }, { hour = 14, minute = 0, second = 0 } },
          { { day = 29, month = 3, year = 2026 }, { hour = 3, minute = 30 } },
          { { day = 29, month = 2, year = 2028 }, { hour = 23, minute = 59, second = 59 } },
          { { day = 1, month = 1, year = 2040 }, { hour = 0, minute = 0, second = 0 } },
        }
        for i, c in ipairs(cases) do
          local d, t = c[1], c[2]
          local want = os.time{ year = d.year, month = d.month, day = d.day, hour = t.hour, min = t.minute,
                                sec = t.second or 0 } * 1000
          local got = ttlock.local_time_ms(d, t)
          assert(got == want, i .. ': ' .. tostring(got) .. ' ~= ' .. want)
        end
        -- Bad dates a visualisation may hold: nil, err.
        for _, c in ipairs{
          { { day = 31, month = 2, year = 2026 }, { hour = 1, minute = 0 } },
          { { day = 1, month = 13, year = 2026 }, { hour = 1, minute = 0 } },
          { { day = 1, month = 1, year = 2026 }, { hour = 24, minute = 0 } },
          { { day = 1, month = 1 }, { hour = 1, minute = 0 } },
          { { day = 1.5, month = 1, year = 2026 }, { hour = 1, minute = 0 } },
          { nil, { hour = 1, minute = 0 } },
        } do
          local v, e = ttlock.local_time_ms(c[1], c[2])
          assert(v == nil and e.code == 'invalid_argument', tostring(e))
        end
        raises(ttlock.local_time_ms, {}, {}, {})
        "#,
    );
}

#[test]
fn no_secret_and_no_foreign_passcode_anywhere() {
    let (sim, _dir, lua) = setup("lua-ops-secrets");
    let now = ttlock::transport::now_ms();
    sim.with_state(|s| {
        s.add_passcode(
            1002,
            Passcode::period(
                "27182",
                "102_old",
                now - 5 * 86_400_000,
                now - 3 * 86_400_000,
            ),
        );
    });
    sim.inject(ttlock_sim::Fault::new(
        "/v3/keyboardPwd/add",
        ttlock_sim::FaultKind::LoseAnswer,
        1,
    ));
    run(
        &lua,
        "everything",
        r#"
        OUT = {}
        local function keep(...) OUT[#OUT + 1] = { ... } end
        keep(ttlock.add_passcode{ lock_id = 1001, also_lock_ids = { 2001 }, passcode = '48213',
             valid_from_ms = NOW, valid_to_ms = NOW + DAY })
        keep(ttlock.add_passcode{ lock_id = 1001, passcode = '48213', valid_from_ms = NOW + DAY, valid_to_ms = NOW + 2 * DAY })
        keep(ttlock.purge_expired{ lock_ids = { 1001, 1002, 2001 }, dry_run = true })
        keep(ttlock.purge_expired{ lock_ids = { 1001, 1002, 2001 } })
        keep(ttlock.unlock{ lock_id = 2001 })
        keep(ttlock.lock_state{ lock_id = 2001 })
        keep(ttlock.generate_passcode{ lock_ids = { 1001 } })
        keep(ttlock.unlock{ lock_id = 4242 })
        "#,
    );
    let g = lua.globals();
    let mut all = Vec::new();
    strings_of(&Value::Table(g.get::<Table>("OUT").unwrap()), &mut all, 0);
    let lines = lua_lines(&lua);
    assert!(
        lines.iter().any(|l| l.contains("looking the code up")),
        "{lines:?}"
    );
    for secret in [
        FIXTURE_CLIENT_SECRET,
        FIXTURE_ACCESS_TOKEN,
        FIXTURE_REFRESH_TOKEN,
    ] {
        for s in all.iter().chain(&lines) {
            assert!(!s.contains(secret), "secret in {s:?}");
        }
    }
    // Log lines never carry a passcode; results only the one the caller passed in.
    for code in ["48213", "27182"] {
        for l in &lines {
            assert!(!l.contains(code), "passcode in log line {l:?}");
        }
    }
    for s in &all {
        assert!(
            !s.contains("27182"),
            "a code the caller never passed in: {s:?}"
        );
    }
}

#[test]
fn generate_passcode_from_the_stay_memory_sends_nothing() {
    let (sim, _dir, lua) = setup("lua-ops-fresh");
    run(
        &lua,
        "checkin",
        r#"
        local function lm(ms)
          local t = os.date('*t', math.floor(ms / 1000))
          return { day = t.day, month = t.month, year = t.year }, { hour = t.hour, minute = t.min }
        end
        local ad, at = lm(NOW + 3600000)
        local dd, dt = lm(NOW + 3 * DAY)
        local res, err = ttlock.stay_check_in{ room = '101',
          doors = { { lock_id = 1001, name = 'Room 101' }, { lock_id = 2001, name = 'Main door' } },
          passcode = '48213', arrival_date = ad, arrival_time = at, departure_date = dd, departure_time = dt }
        assert(res, tostring(err))
        "#,
    );
    sim.reset_counters();
    run(
        &lua,
        "memory",
        r#"
        for i = 1, 200 do
          local code = assert(ttlock.generate_passcode{ digits = 5, check = 'memory' })
          assert(type(code) == 'string' and code:match('^%d%d%d%d%d$') and code ~= '48213', code)
        end
        assert(#ttlock.generate_passcode{ check = 'memory' } == 6, 'default 6 digits')
        local e = raises(ttlock.generate_passcode, { check = 'memory', lock_ids = { 1001 } })
        assert(e:find("takes no lock_ids", 1, true), e)
        e = raises(ttlock.generate_passcode, { check = 'lock' })
        assert(e:find("check must be 'locks' or 'memory'", 1, true), e)
        raises(ttlock.generate_passcode, { check = true })
        raises(ttlock.generate_passcode, { check = 'memory', digits = 3 })
        -- avoid: every 4-digit code ending in an even digit is taken (staff codes, say).
        local avoid = {}
        for n = 0, 9998, 2 do avoid[#avoid + 1] = string.format('%04d', n) end
        for i = 1, 100 do
          local code = assert(ttlock.generate_passcode{ digits = 4, check = 'memory', avoid = avoid })
          assert(tonumber(code:sub(-1)) % 2 == 1, code)
        end
        e = raises(ttlock.generate_passcode, { check = 'memory', avoid = { '12a45' } })
        assert(e:find('avoid must be a list of codes', 1, true) and not e:find('12a45', 1, true), e)
        e = raises(ttlock.generate_passcode, { avoid = { '24681' } })
        assert(e:find("avoid goes with check = 'memory'", 1, true), e)
        "#,
    );
    assert_eq!(sim.counters().api_calls(), 0, "{:?}", sim.counters());
    // The locks' check is today's: one listing per lock and candidate.
    run(
        &lua,
        "locks",
        r#"
        assert(ttlock.generate_passcode{ digits = 5, lock_ids = { 1001, 2001 }, check = 'locks' })
        assert(ttlock.generate_passcode{ digits = 5, lock_ids = { 1001, 2001 } })
        "#,
    );
    assert_eq!(
        sim.counters().requests_to("/v3/lock/listKeyboardPwd"),
        4,
        "{:?}",
        sim.counters()
    );
}
