//! Staff codes against the simulator (lua-api.md "Staff codes (added here)"): the sync adds,
//! changes (code, period, permanent ↔ period, doors) and revokes what it made, with exact API
//! calls and none when the settings did not change; a code made elsewhere (same name, or the
//! same digits) is never touched; a collision with a live guest's code is reported, not forced;
//! an ended period is removed by the sync; the purge keeps the staff codes; a staff code's
//! opening is never a guest's arrival; bad settings raise and send nothing; no digits in any
//! text, log line or record.
//!
//! Site: the simulator's fixture (locks 1001 "Room 101" on gateway 1, 1002 "Room 102" and 2001
//! "Main door" on gateway 2).
mod common;

use std::collections::BTreeMap;
use std::rc::Rc;

use common::{fixture_site, lua_for, lua_lines, start_sim, Lines, Sim, State, TempDir};
use mlua::{Table, Value};
use ttlock::host;
use ttlock::ops::events::{door_events, EventsRequest, DEFAULT_LOOKBACK_MS};
use ttlock::ops::staff::{
    self, check_specs, Doors, FileStaffStore, Reason, StaffReport, StaffRequest, StaffSpec,
    StaffStore, Status,
};
use ttlock::ops::stay::{self, CheckIn, Door, FileStayStore, Outcome, Stay, StayStore};
use ttlock::transport::now_ms;
use ttlock::Client;
use ttlock_sim::{EventOptions, Passcode, DAY_MS};

const ADD: &str = "/v3/keyboardPwd/add";
const CHANGE: &str = "/v3/keyboardPwd/change";
const DELETE: &str = "/v3/keyboardPwd/delete";
const LIST: &str = "/v3/lock/listKeyboardPwd";

const ROOM_101: i64 = 1001;
const ROOM_102: i64 = 1002;
const MAIN: i64 = 2001;
const ROOMS: &[i64] = &[ROOM_101, ROOM_102];
const COMMON: &[i64] = &[MAIN];

/// Eight digits, so that none turns up by chance inside an id or a time.
const CLEANING: &str = "24681357";
const CLEANING_NEW: &str = "86420975";
const MANAGER: &str = "13579246";
const GUEST: &str = "73920518";

struct Ctx {
    sim: Sim,
    dir: TempDir,
    c: Client,
    stays: FileStayStore,
    store: FileStaffStore,
    lines: Rc<Lines>,
}

fn setup(label: &str) -> Ctx {
    let (sim, dir, c) = fixture_site(label);
    Ctx {
        stays: FileStayStore::new(dir.path()),
        store: FileStaffStore::new(dir.path()),
        sim,
        dir,
        c,
        lines: Rc::new(Lines::default()),
    }
}

fn spec(name: &str, code: &str, doors: Doors, window: Option<(i64, i64)>) -> StaffSpec {
    StaffSpec {
        name: name.into(),
        passcode: code.into(),
        doors,
        valid_from_ms: window.map(|w| w.0),
        valid_to_ms: window.map(|w| w.1),
    }
}

fn names() -> BTreeMap<i64, String> {
    [
        (ROOM_101, "Room 101".to_string()),
        (ROOM_102, "Room 102".to_string()),
        (MAIN, "Main door".to_string()),
    ]
    .into()
}

impl Ctx {
    /// A sync that must work, with the simulator's counters reset before it.
    fn sync(&self, specs: &[StaffSpec]) -> StaffReport {
        self.sim.reset_counters();
        let req = StaffRequest {
            codes: check_specs(specs, ROOMS, COMMON).unwrap(),
            door_names: names(),
            dry_run: false,
        };
        let r = host::with_host(self.lines.clone(), || {
            staff::staff_sync(&self.c, &self.stays, &self.store, &req)
        })
        .unwrap_or_else(|e| panic!("staff sync: {e:?}"));
        for d in &r.doors {
            for secret in [CLEANING, CLEANING_NEW, MANAGER, GUEST] {
                assert!(!d.text.contains(secret), "digits in {:?}", d.text);
                if let Some(e) = &d.error {
                    assert!(!e.message().contains(secret) && !e.advice().contains(secret));
                }
            }
        }
        r
    }

    fn calls(&self, path: &str) -> u64 {
        self.sim.counters().requests_to(path)
    }

    fn codes(&self, lock: i64) -> Vec<Passcode> {
        self.sim.state().passcodes(lock).to_vec()
    }

    fn find(&self, lock: i64, code: &str) -> Option<Passcode> {
        self.codes(lock)
            .into_iter()
            .find(|p| p.keyboard_pwd == code)
    }
}

fn statuses(r: &StaffReport) -> Vec<(String, i64, Status)> {
    r.doors
        .iter()
        .map(|d| (d.name.clone(), d.lock_id, d.status))
        .collect()
}

fn st(name: &str, lock: i64, s: Status) -> (String, i64, Status) {
    (name.into(), lock, s)
}

/// Add, nothing again, a new code, a new period, permanent → period, fewer doors, revoked: each
/// with the calls it needs and nothing else; a second run of the same settings makes no call.
#[test]
fn sync_adds_changes_and_revokes_what_it_made_with_exact_calls() {
    let x = setup("staff-cycle");
    let now = now_ms();
    let week = (now - DAY_MS, now + 7 * DAY_MS);
    let mut specs = vec![
        spec("Cleaning", CLEANING, Doors::Rooms, None),
        spec("Manager", MANAGER, Doors::All, Some(week)),
    ];
    let r = x.sync(&specs);
    assert_eq!(
        statuses(&r),
        vec![
            st("Cleaning", ROOM_101, Status::Added),
            st("Cleaning", ROOM_102, Status::Added),
            st("Manager", ROOM_101, Status::Added),
            st("Manager", ROOM_102, Status::Added),
            st("Manager", MAIN, Status::Added),
        ]
    );
    assert_eq!(x.calls(ADD), 5);
    let c101 = x.find(ROOM_101, CLEANING).expect("cleaning on 101");
    assert_eq!((c101.r#type, c101.name.as_str()), (2, "Cleaning"));
    let m_main = x.find(MAIN, MANAGER).expect("manager on the main door");
    assert_eq!(
        (m_main.r#type, m_main.start_ms, m_main.end_ms),
        (3, week.0, week.1)
    );
    assert_eq!(r.doors[0].text, "Cleaning on Room 101: added (permanent)");
    assert_eq!(
        r.doors[4].text,
        "Manager on Main door: added (for its period)"
    );
    let rec = x.store.load().unwrap().unwrap();
    assert_eq!(rec.codes.len(), 5);
    let on_disk = std::fs::read_to_string(x.dir.path().join(staff::STAFF_FILE)).unwrap();
    assert!(
        !on_disk.contains(CLEANING) && !on_disk.contains(MANAGER),
        "{on_disk}"
    );

    // The same settings: no call at all.
    let r = x.sync(&specs);
    assert!(
        r.doors.iter().all(|d| d.status == Status::Unchanged),
        "{r:?}"
    );
    assert_eq!(
        x.sim.counters().total_requests(),
        0,
        "unchanged settings cost nothing"
    );
    assert_eq!(r.summary(), "staff codes: 5 unchanged");

    // A new code: one change per door, same ids.
    specs[0].passcode = CLEANING_NEW.into();
    let r = x.sync(&specs);
    assert_eq!(r.count(Status::Changed), 2);
    assert_eq!(r.doors[0].text, "Cleaning on Room 101: changed (new code)");
    assert_eq!((x.calls(CHANGE), x.sim.counters().api_calls()), (2, 2));
    let now101 = x.find(ROOM_101, CLEANING_NEW).expect("new digits on 101");
    assert_eq!(now101.keyboard_pwd_id, c101.keyboard_pwd_id);
    assert!(x.find(ROOM_101, CLEANING).is_none());

    // A new period: one change per door.
    let longer = (week.0, week.1 + 7 * DAY_MS);
    specs[1] = spec("Manager", MANAGER, Doors::All, Some(longer));
    let r = x.sync(&specs);
    assert_eq!(r.count(Status::Changed), 3);
    assert_eq!((x.calls(CHANGE), x.sim.counters().api_calls()), (3, 3));
    assert_eq!(x.find(MAIN, MANAGER).unwrap().end_ms, longer.1);

    // Period → permanent: TTLock's change cannot switch the type: delete and add per door.
    specs[1] = spec("Manager", MANAGER, Doors::All, None);
    let r = x.sync(&specs);
    assert_eq!(r.count(Status::Changed), 3, "{r:?}");
    assert_eq!((x.calls(DELETE), x.calls(ADD)), (3, 3));
    assert_eq!(x.find(MAIN, MANAGER).unwrap().r#type, 2);

    // Fewer doors: the code leaves the dropped door only.
    specs[0].doors = Doors::List(vec![ROOM_101]);
    let r = x.sync(&specs);
    assert_eq!(
        r.doors
            .iter()
            .find(|d| d.status == Status::Removed)
            .map(|d| (d.lock_id, d.reason, d.text.as_str())),
        Some((
            ROOM_102,
            Some(Reason::DoorDropped),
            "Cleaning on Room 102: removed (the settings no longer send it to this door)"
        ))
    );
    assert_eq!((x.calls(DELETE), x.sim.counters().api_calls()), (1, 1));
    assert!(x.find(ROOM_102, CLEANING_NEW).is_none());

    // Revoked: every door of the code.
    specs.remove(1);
    let r = x.sync(&specs);
    assert_eq!(r.count(Status::Removed), 3);
    assert!(r
        .doors
        .iter()
        .filter(|d| d.status == Status::Removed)
        .all(|d| d.reason == Some(Reason::Revoked)));
    assert_eq!(x.calls(DELETE), 3);
    for lock in [ROOM_101, ROOM_102, MAIN] {
        assert!(x.find(lock, MANAGER).is_none());
    }
    assert_eq!(x.store.load().unwrap().unwrap().codes.len(), 1);
}

/// A code named like a staff code but made in the TTLock app, and a code with the staff code's
/// digits made elsewhere: the sync adds its own next to the first (TTLock allows two names),
/// reports the second as a collision (-3007, looked up, never taken over), and a revocation
/// deletes only what the sync made.
#[test]
fn codes_it_did_not_create_are_never_touched() {
    let x = setup("staff-foreign");
    let app_same_name = x
        .sim
        .with_state(|s| s.add_passcode(ROOM_101, Passcode::permanent("55501234", "Cleaning")));
    let app_same_digits = x
        .sim
        .with_state(|s| s.add_passcode(ROOM_102, Passcode::permanent(CLEANING, "Cleaning")));
    let specs = vec![spec("Cleaning", CLEANING, Doors::Rooms, None)];
    let r = x.sync(&specs);
    assert_eq!(
        statuses(&r),
        vec![
            st("Cleaning", ROOM_101, Status::Added),
            st("Cleaning", ROOM_102, Status::Collision),
        ]
    );
    assert_eq!(
        r.doors[1].text,
        "Cleaning on Room 102: the code is already on this door and the staff sync did not make it (the TTLock app, or a guest's code): choose another staff code"
    );
    assert_eq!(r.alerts(), vec![r.doors[1].text.clone()]);
    // One add per door, one look-up after the -3007, nothing else (no delete, no change).
    assert_eq!((x.calls(ADD), x.calls(LIST), x.calls(DELETE)), (2, 1, 0));
    assert_eq!(x.store.load().unwrap().unwrap().codes.len(), 1);

    // Again: the collision is reported again, still not forced; room 101 costs nothing.
    let r = x.sync(&specs);
    assert_eq!(r.doors[1].status, Status::Collision);
    assert_eq!((x.calls(ADD), x.calls(DELETE)), (1, 0));

    // Revoked: only the sync's own code goes.
    x.sync(&[]);
    assert_eq!(x.calls(DELETE), 1);
    let ids = |lock| -> Vec<i64> { x.codes(lock).iter().map(|p| p.keyboard_pwd_id).collect() };
    assert_eq!(ids(ROOM_101), vec![app_same_name]);
    assert_eq!(ids(ROOM_102), vec![app_same_digits]);
    assert!(x.store.load().unwrap().unwrap().codes.is_empty());
}

fn check_in_guest(x: &Ctx) {
    let req = CheckIn {
        room: "101".into(),
        doors: vec![
            Door::new(ROOM_101, "Room 101"),
            Door::new(MAIN, "Main door"),
        ],
        stay: Stay {
            passcode: GUEST.into(),
            name: "101_guest".into(),
            valid_from_ms: now_ms(),
            valid_to_ms: now_ms() + 2 * DAY_MS,
            asked: None,
            arrived_ms: None,
        },
        best_effort: false,
    };
    let shown = |ms: i64| format!("t{ms}");
    let r = host::with_host(x.lines.clone(), || {
        stay::check_in(&x.c, &x.stays, &req, &shown)
    });
    assert_eq!(r.outcome, Outcome::Done, "{}", r.status);
}

/// A staff code with a live guest's digits: reported on the guest's doors ("choose another
/// staff code"), not sent there (no add, so no -3007 and no undo), added where no guest has it;
/// a change of a staff code to a guest's digits keeps the old staff code.
#[test]
fn a_collision_with_a_live_guest_code_is_reported_not_forced() {
    let x = setup("staff-guest");
    check_in_guest(&x);
    let r = x.sync(&[spec("Night porter", GUEST, Doors::All, None)]);
    assert_eq!(
        statuses(&r),
        vec![
            st("Night porter", ROOM_101, Status::Collision),
            st("Night porter", ROOM_102, Status::Added),
            st("Night porter", MAIN, Status::Collision),
        ]
    );
    assert_eq!(
        r.doors[0].text,
        "Night porter on Room 101: collides with a guest's code on Room 101: choose another staff code"
    );
    assert_eq!(r.alerts().len(), 2);
    assert_eq!(x.calls(ADD), 1, "only room 102 is asked");
    // The guest's codes are as they were.
    assert_eq!(x.find(ROOM_101, GUEST).unwrap().name, "101_guest");
    assert_eq!(x.find(MAIN, GUEST).unwrap().name, "101_guest");

    // A staff code on the main door changed to the guest's digits: refused, the old one stays.
    let r = x.sync(&[spec("Manager", MANAGER, Doors::Common, None)]);
    assert_eq!(r.doors[0].status, Status::Added);
    let r = x.sync(&[spec("Manager", GUEST, Doors::Common, None)]);
    assert_eq!(r.doors[0].status, Status::Collision);
    assert_eq!(
        r.doors[0].text,
        "Manager on Main door: the new code collides with a guest's code on Main door: choose another staff code; the old staff code stays"
    );
    assert_eq!(x.sim.counters().api_calls(), 0);
    assert_eq!(x.find(MAIN, MANAGER).unwrap().name, "Manager");
}

/// A period staff code whose end has come is removed by the sync (revoked by time); one that
/// ended before it was ever added costs nothing and says so.
#[test]
fn an_ended_period_is_removed_by_the_sync() {
    let x = setup("staff-ended");
    let now = now_ms();
    let r = x.sync(&[spec(
        "Summer",
        MANAGER,
        Doors::Common,
        Some((now - DAY_MS, now + DAY_MS)),
    )]);
    assert_eq!(r.doors[0].status, Status::Added);
    let ended = Some((now - 3 * DAY_MS, now - DAY_MS));
    let r = x.sync(&[
        spec("Summer", MANAGER, Doors::Common, ended),
        spec("Spring", CLEANING, Doors::Common, ended),
    ]);
    assert_eq!(
        r.doors
            .iter()
            .map(|d| (d.status, d.reason))
            .collect::<Vec<_>>(),
        vec![
            (Status::Removed, Some(Reason::Ended)),
            (Status::Ended, Some(Reason::Ended))
        ]
    );
    assert_eq!(
        r.doors[0].text,
        "Summer on Main door: removed (its period has ended)"
    );
    assert_eq!((x.calls(DELETE), x.sim.counters().api_calls()), (1, 1));
    assert!(x.codes(MAIN).is_empty());
}

/// The daily purge never deletes a code the sync made, even one whose window on the lock looks
/// long over (the settings were extended and the lock shows the old end), through the Lua API
/// with the staff record in a Lua store (`staff_store`), as on LM.
#[test]
fn the_purge_keeps_the_staff_codes_and_the_lua_store_holds_no_digits() {
    let sim = start_sim(State::fixture());
    sim.set_options(|o| o.gateway_hold_ms = 0);
    let dir = TempDir::new("staff-purge");
    let lua = lua_for(&sim, dir.path(), "");
    let now = now_ms();
    lua.globals().set("NOW", now as f64).unwrap();
    lua.globals().set("DAY", DAY_MS as f64).unwrap();
    let other = sim.with_state(|s| {
        s.add_passcode(
            MAIN,
            Passcode::period("55501234", "101_old", now - 9 * DAY_MS, now - 3 * DAY_MS),
        )
    });
    lua.load(format!(
        r#"
        SAVED = nil
        assert(ttlock.staff_store{{ load = function() return SAVED end, save = function(r) SAVED = r end }})
        local r = assert(ttlock.staff_sync{{ rooms = {{ 1001 }}, common = {{ {{ lock_id = 2001, name = 'Main door' }} }},
          codes = {{ {{ name = 'Cleaning', code = '{CLEANING}', doors = 'all', valid_from_ms = NOW - DAY, valid_to_ms = NOW + 30 * DAY }} }} }})
        assert(r.ok and r.counts.added == 2, r.summary)
        assert(r.doors[2].door == 'Main door' and r.doors[2].status == 'added' and r.doors[2].passcode_id, r.doors[2].text)
        assert(r.summary == 'staff codes: 2 added', r.summary)
        REPORT = r
        "#
    ))
    .exec()
    .unwrap();
    // The lock shows an end long past (as after a lost change): the purge would take it.
    sim.with_state(|s| {
        for lock in [ROOM_101, MAIN] {
            let l = s.lock_mut(lock).unwrap();
            for p in l.passcodes.iter_mut().filter(|p| p.name == "Cleaning") {
                p.start_ms = now - 9 * DAY_MS;
                p.end_ms = now - 3 * DAY_MS;
            }
        }
    });
    lua.load(
        r#"
        local rep = assert(ttlock.purge_expired{ lock_ids = { 1001, 2001 }, grace_s = 86400, full_sweep_days = 0 })
        assert(#rep.deleted == 1, #rep.deleted)
        for _, l in ipairs(rep.locks) do assert(l.kept == 1, l.lock_id .. ' kept ' .. l.kept) end
        RECORD = ttlock.staff_record()
        assert(#RECORD == 2 and RECORD[1].name == 'Cleaning' and RECORD[1].valid_to_ms)
        "#,
    )
    .exec()
    .unwrap();
    assert!(sim
        .state()
        .passcodes(MAIN)
        .iter()
        .any(|p| p.name == "Cleaning"));
    assert!(sim
        .state()
        .passcodes(ROOM_101)
        .iter()
        .any(|p| p.name == "Cleaning"));
    assert!(sim
        .state()
        .passcodes(MAIN)
        .iter()
        .all(|p| p.keyboard_pwd_id != other));
    // Nothing the Lua side holds or saw has the digits: the store, the report, the log.
    let g = lua.globals();
    let mut seen = Vec::new();
    for k in ["SAVED", "REPORT", "RECORD"] {
        common::strings_of(&g.get::<Value>(k).unwrap(), &mut seen, 0);
    }
    seen.extend(lua_lines(&lua));
    for s in &seen {
        common::capture("staff purge", s);
    }
    assert!(!seen.is_empty());
    for s in &seen {
        assert!(!s.contains(CLEANING), "digits in {s:?}");
    }
    // No file in state_dir: the record lives in the Lua store.
    assert!(!dir.path().join(staff::STAFF_FILE).exists());
}

/// Bad settings raise (`ttlock: staff_sync: ...`), never echo the digits, and send nothing.
#[test]
fn bad_settings_raise_and_send_nothing() {
    let sim = start_sim(State::fixture());
    let dir = TempDir::new("staff-bad");
    let lua = lua_for(&sim, dir.path(), "");
    sim.reset_counters();
    let cases = [
        ("codes = { { name = 'A', code = '24681357', doors = 'rooms' }, { name = 'a', code = '13579246', doors = 'rooms' } }", "names must be unique"),
        ("codes = { { name = 'A', code = '2468x357', doors = 'rooms' } }", "staff code 'A': the code must be 4 to 9 digits"),
        ("codes = { { name = 'A', code = 24681357, doors = 'rooms' } }", "code must be a string"),
        ("codes = { { name = 'A', code = '24681357', doors = 'rooms', valid_from_ms = 5000, valid_to_ms = 4000 } }", "valid_to_ms must be after valid_from_ms"),
        ("codes = { { name = 'A', code = '24681357', doors = 'rooms', valid_from_ms = 5000 } }", "together"),
        ("codes = { { name = 'A', code = '24681357', doors = 'everywhere' } }", "doors must be 'rooms', 'common', 'all' or a list of lock ids"),
        ("codes = { { name = 'A', code = '24681357', doors = 'common' } }", "no common doors were given"),
        ("codes = { { name = 'A', code = '24681357', doors = 'rooms', color = 'red' } }", "unknown key 'color'"),
        ("codes = { { name = 'A', code = '24681357', doors = 'rooms' }, { name = 'B', code = '24681357', doors = { 1001 } } }", "same digits as staff code 'A'"),
        ("rooms = { 1001 }", "codes is required"),
    ];
    for (args, want) in cases {
        let src = format!(
            "local ok, e = pcall(ttlock.staff_sync, {{ rooms = {{ 1001 }}, {args} }}) assert(not ok) return e"
        );
        let src = src.replace("rooms = { 1001 }, rooms = { 1001 }", "rooms = { 1001 }");
        let msg: String = lua
            .load(&src)
            .eval()
            .unwrap_or_else(|e| panic!("{args}: {e}"));
        assert!(msg.starts_with("ttlock: staff_sync"), "{msg}");
        assert!(msg.contains(want), "{args}: {msg}");
        assert!(
            !msg.contains("24681357") && !msg.contains("2468x357"),
            "{msg}"
        );
    }
    assert_eq!(sim.counters().total_requests(), 0);
    assert!(!dir.path().join(staff::STAFF_FILE).exists());
    let t: Table = lua
        .load("return ttlock.staff_sync{ codes = {}, dry_run = true }")
        .eval()
        .unwrap();
    assert_eq!(
        t.get::<String>("summary").unwrap(),
        "staff codes (dry run, nothing sent): none configured"
    );
}

/// A dry run says what would happen and sends nothing.
#[test]
fn a_dry_run_sends_nothing() {
    let x = setup("staff-dry");
    let req = StaffRequest {
        codes: check_specs(
            &[spec("Cleaning", CLEANING, Doors::Rooms, None)],
            ROOMS,
            COMMON,
        )
        .unwrap(),
        door_names: names(),
        dry_run: true,
    };
    x.sim.reset_counters();
    let r = staff::staff_sync(&x.c, &x.stays, &x.store, &req).unwrap();
    assert_eq!(
        r.doors[0].text,
        "Cleaning on Room 101: would be added (permanent)"
    );
    assert_eq!(x.sim.counters().total_requests(), 0);
    assert!(x.store.load().unwrap().is_none());
}

/// A staff code opening a door where a guest's stay is live is an event, never the guest's
/// arrival (arrivals match only the live stay's digits, which no staff code can have: a
/// collision is refused).
#[test]
fn a_staff_code_opening_is_never_an_arrival() {
    let x = setup("staff-arrival");
    check_in_guest(&x);
    let r = x.sync(&[spec("Cleaning", CLEANING, Doors::All, None)]);
    assert_eq!(r.count(Status::Added), 3);
    let poll = |cursor: Option<String>| {
        let req = EventsRequest {
            lock_id: ROOM_101,
            cursor,
            lookback_ms: DEFAULT_LOOKBACK_MS,
        };
        host::with_host(x.lines.clone(), || door_events(&x.c, &x.stays, &req)).unwrap()
    };
    let first = poll(None);
    assert!(
        x.sim
            .keypad_with(ROOM_101, CLEANING, EventOptions::at(Some(now_ms() + 1_000)))
            .opens
    );
    let found = poll(Some(first.cursor));
    assert_eq!(found.events.len(), 1, "{:?}", found.events);
    assert_eq!(found.events[0].record.who.as_deref(), Some("Cleaning"));
    assert_eq!(
        (
            found.events[0].room.as_deref(),
            found.events[0].stay.as_deref()
        ),
        (None, None)
    );
    assert!(found.arrivals.is_empty(), "{:?}", found.arrivals);
    let rec = x.stays.load("101").unwrap().unwrap();
    assert_eq!(rec.stay.unwrap().arrived_ms, None);
}
