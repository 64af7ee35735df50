//! The fault matrix, one table: every operation × every fault the simulator injects.
//! A cell expects the contract's outcome (`ok` where the design recovers, else `err.code`) within
//! a bound that follows from the configuration, and checks the operator's invariants in the
//! simulator's state afterwards:
//!
//! - no code is created twice: no lock holds a code twice, only `add` creates, one per door;
//! - no valid, permanent or in-grace code is deleted (only the purge's expired codes and the
//!   delete's own target may go);
//! - a multi-door add that failed leaves exactly the doors its per-lock results say;
//! - an unlock is never sent twice (unless TTLock said "busy", i.e. nothing was done);
//! - an expired token costs one refresh, other faults none;
//! - no secret in an error message or a log line;
//! - once the fault clears the next call works (the process and its state_dir are fine).
//!
//! Every cell runs on a fresh simulator (a stalled request must not land in the next cell) with
//! timeout_s = 2, retries = 2 and a 10 ms back-off. A fault catches one request (count 1) unless
//! its column is marked `*`: `busy*` and the errcode columns are persistent (the gateway, lock or
//! account is in that state). `502+` is carried out before the 502 (a proxy lost the answer);
//! `stall` holds the request for a minute. The `add` row writes the room (1002) and the main door
//! (2001), both behind gateway 2 so they go in turn, and the fault hits the main door after the
//! room got the code; `purge` faults its deletes, `purge/list` its listings.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{fixture_client_with, start_sim, Lines, Sim, State, TempDir};
use ttlock::api::Validity;
use ttlock::host;
use ttlock::md5_hex;
use ttlock::ops::locks::{self, LockState};
use ttlock::ops::passcodes::{self, AddError, AddOutcome, AddRequest, ChangeRequest};
use ttlock::ops::purge::{self, PurgeReport, PurgeRequest};
use ttlock::{Client, Error, Secret};
use ttlock_sim::{
    Fault, FaultKind, Passcode, DAY_MS, FIXTURE_CLIENT_SECRET, FIXTURE_PASSWORD,
    FIXTURE_PASSWORD_MD5, FIXTURE_USERNAME, HOUR_MS,
};

const TIMEOUT: Duration = Duration::from_secs(2);
const RETRIES: u32 = 2;
const BACKOFF: Duration = Duration::from_millis(10);
const STALL_MS: u64 = 60_000;

/// The longest a cell may take: at most one request stalls (count 1) and costs the timeout,
/// the transport's retries and the busy rounds wait at most 12 back-offs of ≤ 16 × 10 ms × 1.5,
/// and the other requests are local and quick. Doubled timeout plus 4 s of slack for a loaded
/// machine.
const BOUND: Duration = Duration::from_secs(2 * 2 + 4);

const ADD: &str = "/v3/keyboardPwd/add";
const CHANGE: &str = "/v3/keyboardPwd/change";
const DELETE: &str = "/v3/keyboardPwd/delete";
const LIST: &str = "/v3/lock/listKeyboardPwd";
const UNLOCK: &str = "/v3/lock/unlock";
const LOCK: &str = "/v3/lock/lock";
const STATE: &str = "/v3/lock/queryOpenState";
const BATTERY: &str = "/v3/lock/queryElectricQuantity";
const TOKEN: &str = "/oauth2/token";

const NEW_CODE: &str = "52947";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Add,
    Change,
    Delete,
    List,
    Purge,
    PurgeList,
    Unlock,
    Lock,
    State,
    Battery,
    Login,
    Refresh,
}

impl Op {
    fn parse(name: &str) -> Op {
        match name {
            "add" => Op::Add,
            "change" => Op::Change,
            "delete" => Op::Delete,
            "list" => Op::List,
            "purge" => Op::Purge,
            "purge/list" => Op::PurgeList,
            "unlock" => Op::Unlock,
            "lock" => Op::Lock,
            "state" => Op::State,
            "battery" => Op::Battery,
            "login" => Op::Login,
            "refresh" => Op::Refresh,
            other => panic!("unknown operation {other} in the table"),
        }
    }

    /// The path the fault is put on, and how many requests there pass before it.
    fn fault_target(self) -> (&'static str, i64) {
        match self {
            Op::Add => (ADD, 1),
            Op::Change => (CHANGE, 0),
            Op::Delete | Op::Purge => (DELETE, 0),
            Op::List | Op::PurgeList => (LIST, 0),
            Op::Unlock => (UNLOCK, 0),
            Op::Lock => (LOCK, 0),
            Op::State => (STATE, 0),
            Op::Battery => (BATTERY, 0),
            Op::Login | Op::Refresh => (TOKEN, 0),
        }
    }

    fn is_v3(self) -> bool {
        !matches!(self, Op::Login | Op::Refresh)
    }

    fn is_purge(self) -> bool {
        matches!(self, Op::Purge | Op::PurgeList)
    }
}

/// The fault of a column on a row's path (a negative count never runs out).
fn fault_of(column: &str, path: &str) -> Fault {
    let once = 1;
    let always = -1;
    match column {
        "stall" => Fault::delay(path, STALL_MS, once),
        "drop" => Fault::new(path, FaultKind::DropBefore, once),
        "lost" => Fault::new(path, FaultKind::LoseAnswer, once),
        "500" => Fault::http_status(path, 500, once),
        "502+" => Fault::http_status(path, 502, once).performed(),
        "503" => Fault::http_status(path, 503, once),
        "json" => Fault::new(path, FaultKind::InvalidJson, once),
        "busy*" => Fault::errcode(path, -3003, always),
        errcode => Fault::errcode(
            path,
            errcode
                .parse()
                .unwrap_or_else(|_| panic!("unknown column {errcode}")),
            always,
        ),
    }
}

const COLUMNS: [&str; 14] = [
    "stall", "drop", "lost", "500", "502+", "503", "json", "busy*", "-2012", "-3002", "-3009",
    "10004", "10011", "80000",
];

// The contract's outcome per operation and fault: `ok` (the design recovers) or `err.code`
// (for the purges: the code in the lock reports, which are otherwise complete).
#[rustfmt::skip]
const TABLE: &[(&str, [&str; 14])] = &[
//  operation      stall      drop       lost       500            502+           503            json            busy*           -2012           -3002              -3009           10004          10011          80000
    ("add",        ["ok",      "ok",      "ok",      "ok",          "ok",          "ok",          "ok",           "gateway_busy", "lock_offline", "gateway_offline", "storage_full", "auth_failed", "auth_failed", "clock_skew"]),
    ("change",     ["timeout", "ok",      "ok",      "ok",          "ok",          "ok",          "bad_response", "gateway_busy", "lock_offline", "gateway_offline", "storage_full", "auth_failed", "auth_failed", "clock_skew"]),
    ("delete",     ["ok",      "ok",      "ok",      "ok",          "ok",          "ok",          "ok",           "gateway_busy", "lock_offline", "gateway_offline", "storage_full", "auth_failed", "auth_failed", "clock_skew"]),
    ("list",       ["timeout", "ok",      "ok",      "ok",          "ok",          "ok",          "bad_response", "gateway_busy", "lock_offline", "gateway_offline", "storage_full", "auth_failed", "auth_failed", "clock_skew"]),
    ("purge",      ["ok",      "ok",      "ok",      "ok",          "ok",          "ok",          "ok",           "gateway_busy", "lock_offline", "gateway_offline", "storage_full", "auth_failed", "auth_failed", "clock_skew"]),
    ("purge/list", ["timeout", "ok",      "ok",      "ok",          "ok",          "ok",          "bad_response", "gateway_busy", "lock_offline", "gateway_offline", "storage_full", "auth_failed", "auth_failed", "clock_skew"]),
    ("unlock",     ["timeout", "network", "network", "http_status", "http_status", "http_status", "bad_response", "gateway_busy", "lock_offline", "gateway_offline", "storage_full", "auth_failed", "auth_failed", "clock_skew"]),
    ("lock",       ["timeout", "ok",      "ok",      "ok",          "ok",          "ok",          "bad_response", "gateway_busy", "lock_offline", "gateway_offline", "storage_full", "auth_failed", "auth_failed", "clock_skew"]),
    ("state",      ["timeout", "ok",      "ok",      "ok",          "ok",          "ok",          "bad_response", "gateway_busy", "lock_offline", "gateway_offline", "storage_full", "auth_failed", "auth_failed", "clock_skew"]),
    ("battery",    ["timeout", "ok",      "ok",      "ok",          "ok",          "ok",          "bad_response", "gateway_busy", "lock_offline", "gateway_offline", "storage_full", "auth_failed", "auth_failed", "clock_skew"]),
    ("login",      ["timeout", "ok",      "ok",      "ok",          "ok",          "ok",          "bad_response", "gateway_busy", "lock_offline", "gateway_offline", "storage_full", "auth_failed", "auth_failed", "clock_skew"]),
    ("refresh",    ["timeout", "network", "network", "http_status", "http_status", "http_status", "bad_response", "gateway_busy", "lock_offline", "gateway_offline", "storage_full", "auth_failed", "auth_failed", "clock_skew"]),
];

/// The codes every cell starts with, by role.
#[derive(Clone, Debug)]
struct Seeded {
    /// lock 1001: a current guest, one inside the grace day, staff (permanent), two expired,
    /// the change target and the delete target (both current).
    valid: i64,
    grace: i64,
    staff: i64,
    expired: [i64; 2],
    change: i64,
    delete: i64,
    /// lock 2001: the current guest, staff, one expired.
    main_valid: i64,
    main_staff: i64,
    main_expired: i64,
}

impl Seeded {
    fn expired_ids(&self) -> BTreeSet<i64> {
        [self.expired[0], self.expired[1], self.main_expired].into()
    }
}

fn seed(sim: &Sim) -> Seeded {
    let now = ttlock::transport::now_ms();
    let p = Passcode::period;
    sim.with_state(|s| Seeded {
        valid: s.add_passcode(1001, p("31415", "101_v", now - DAY_MS, now + 2 * DAY_MS)),
        grace: s.add_passcode(
            1001,
            p("27182", "101_g", now - 3 * DAY_MS, now - 6 * HOUR_MS),
        ),
        staff: s.add_passcode(1001, Passcode::permanent("16180", "Staff")),
        expired: [
            s.add_passcode(
                1001,
                p("14142", "101_x1", now - 6 * DAY_MS, now - 3 * DAY_MS),
            ),
            s.add_passcode(
                1001,
                p("17320", "101_x2", now - 9 * DAY_MS, now - 5 * DAY_MS),
            ),
        ],
        change: s.add_passcode(1001, p("44651", "101_c", now - HOUR_MS, now + DAY_MS)),
        delete: s.add_passcode(1001, p("58213", "101_d", now - HOUR_MS, now + DAY_MS)),
        main_valid: s.add_passcode(2001, p("31415", "101_v", now - DAY_MS, now + 2 * DAY_MS)),
        main_staff: s.add_passcode(2001, Passcode::permanent("16180", "Staff")),
        main_expired: s.add_passcode(
            2001,
            p("14142", "101_x1", now - 6 * DAY_MS, now - 3 * DAY_MS),
        ),
    })
}

fn client(sim: &Sim, dir: &Path) -> Client {
    fixture_client_with(sim, dir, |cfg| {
        cfg.timeout = TIMEOUT;
        cfg.connect_timeout = TIMEOUT;
        cfg.retries = RETRIES;
        cfg.retry_backoff = BACKOFF;
        // A site with credentials: a rejected refresh token falls back to a password grant.
        cfg.username = Some(FIXTURE_USERNAME.into());
        cfg.password_md5 = Some(FIXTURE_PASSWORD_MD5.into());
    })
}

/// What an operation returned.
enum Res {
    Add(Result<AddOutcome, AddError>),
    Purge(ttlock::Result<PurgeReport>),
    /// Anything else: a summary of the value, or the error.
    Plain(ttlock::Result<String>),
}

impl Res {
    /// `ok` or the contract code (purges: the codes in the lock reports and failures).
    fn got(&self) -> String {
        match self {
            Res::Add(Ok(_)) | Res::Plain(Ok(_)) => "ok".into(),
            Res::Add(Err(e)) => e.error.code().as_str().into(),
            Res::Plain(Err(e)) | Res::Purge(Err(e)) => e.code().as_str().into(),
            Res::Purge(Ok(r)) => {
                let codes: BTreeSet<&str> = r
                    .locks
                    .iter()
                    .filter_map(|l| l.error.as_ref())
                    .chain(r.failed.iter().map(|f| &f.error))
                    .map(|e| e.code().as_str())
                    .collect();
                if codes.is_empty() {
                    "ok".into()
                } else {
                    codes.into_iter().collect::<Vec<_>>().join("+")
                }
            }
        }
    }

    /// Every error of the result (for messages and the secret check).
    fn errors(&self) -> Vec<&Error> {
        match self {
            Res::Add(Err(e)) => {
                let mut v = vec![&e.error];
                for l in &e.locks {
                    v.extend(l.error.iter());
                    v.extend(l.rollback_error.iter());
                }
                v
            }
            Res::Plain(Err(e)) | Res::Purge(Err(e)) => vec![e],
            Res::Purge(Ok(r)) => r
                .locks
                .iter()
                .filter_map(|l| l.error.as_ref())
                .chain(r.failed.iter().map(|f| &f.error))
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn period(start_ms: i64, end_ms: i64) -> Validity {
    Validity::Period { start_ms, end_ms }
}

/// The window the change row sets.
fn changed_window() -> (i64, i64) {
    let now = ttlock::transport::now_ms();
    let hour = now - now % HOUR_MS;
    (hour + HOUR_MS, hour + 5 * DAY_MS)
}

fn run_op(op: Op, c: &Client, seeded: &Seeded) -> Res {
    let plain = |r: ttlock::Result<String>| Res::Plain(r);
    match op {
        Op::Add => {
            let now = ttlock::transport::now_ms();
            Res::Add(passcodes::add_passcode(
                c,
                &AddRequest {
                    lock_id: 1002,
                    also_lock_ids: vec![2001],
                    passcode: NEW_CODE.into(),
                    name: Some("102_guest".into()),
                    validity: period(now + HOUR_MS, now + 3 * DAY_MS),
                    atomic: true,
                },
            ))
        }
        Op::Change => {
            let req = ChangeRequest {
                lock_id: 1001,
                passcode_id: seeded.change,
                window: Some(changed_window()),
                ..ChangeRequest::default()
            };
            plain(passcodes::change_passcode(c, &req).map(|()| "changed".into()))
        }
        Op::Delete => {
            plain(passcodes::delete_passcode(c, 1001, seeded.delete).map(|()| "deleted".into()))
        }
        Op::List => plain(passcodes::list_passcodes(c, 1001).map(|items| {
            let ids: BTreeSet<i64> = items.iter().map(|i| i.passcode_id).collect();
            format!("{ids:?}")
        })),
        Op::Purge | Op::PurgeList => Res::Purge(purge::purge_expired(
            c,
            &PurgeRequest::new(vec![1001, 2001]),
        )),
        Op::Unlock => plain(locks::unlock(c, 1001).map(|()| "unlocked".into())),
        Op::Lock => plain(locks::lock(c, 1001).map(|()| "locked".into())),
        Op::State => plain(locks::lock_state(c, 1001).map(|s| s.as_str().into())),
        Op::Battery => plain(locks::battery(c, 1001).map(|b| b.to_string())),
        Op::Login => plain(
            c.login(FIXTURE_USERNAME, &Secret::new(FIXTURE_PASSWORD_MD5))
                .map(|()| "logged in".into()),
        ),
        Op::Refresh => plain(c.refresh_token().map(|()| "refreshed".into())),
    }
}

struct Cell {
    op: &'static str,
    column: &'static str,
    expected: &'static str,
    got: String,
    took: Duration,
    /// Invariant violations and a wrong outcome, in words.
    problems: Vec<String>,
}

fn codes_of(st: &State) -> BTreeMap<(i64, i64), Passcode> {
    st.locks
        .iter()
        .flat_map(|l| {
            l.passcodes
                .iter()
                .map(move |p| ((l.lock_id, p.keyboard_pwd_id), p.clone()))
        })
        .collect()
}

fn has_code(st: &State, lock_id: i64, code: &str) -> usize {
    st.passcodes(lock_id)
        .iter()
        .filter(|p| p.keyboard_pwd == code)
        .count()
}

fn run_cell(op_name: &'static str, column: &'static str, expected: &'static str) -> Cell {
    let op = Op::parse(op_name);
    let sim = start_sim(State::fixture());
    sim.set_options(|o| o.gateway_hold_ms = 0);
    let seeded = seed(&sim);
    let dir = TempDir::new("fault-cell");
    let c = client(&sim, dir.path());
    let before = sim.state();

    let (path, skip) = op.fault_target();
    if skip > 0 {
        // A pass-through fault: the first `skip` requests go through unharmed.
        sim.inject(Fault::delay(path, 0, skip));
    }
    sim.inject(fault_of(column, path));
    sim.reset_counters();

    let lines = Rc::new(Lines::default());
    let started = Instant::now();
    let res = host::with_host(lines.clone(), || run_op(op, &c, &seeded));
    let took = started.elapsed();
    let counters = sim.counters();
    let after = sim.state();
    let pending = sim.pending_faults();

    let got = res.got();
    let mut problems = Vec::new();
    if got != expected {
        let why: Vec<String> = res.errors().iter().map(|e| format!("{e:?}")).collect();
        problems.push(format!("outcome {got} ({})", why.join("; ")));
    }
    if took >= BOUND {
        problems.push(format!(
            "took {:.1} s, bound {} s",
            took.as_secs_f64(),
            BOUND.as_secs()
        ));
    }
    // The cell tests what it says: a one-off fault was used, a persistent one was met.
    let met = if fault_of(column, path).count < 0 {
        counters.requests_to(path) > skip as u64
    } else {
        pending.is_empty()
    };
    if !met {
        problems.push(format!(
            "the fault never hit: {} requests to {path}, pending {pending:?}",
            counters.requests_to(path)
        ));
    }
    check_codes(op, &res, &seeded, &before, &after, &mut problems);
    check_counters(op, column, &res, &counters, &after, &mut problems);

    // Secrets: none in an error or a log line.
    let mut secrets: Vec<String> = vec![
        FIXTURE_CLIENT_SECRET.into(),
        FIXTURE_PASSWORD.into(),
        FIXTURE_PASSWORD_MD5.into(),
        md5_hex(FIXTURE_PASSWORD),
    ];
    for t in &after.tokens {
        secrets.push(t.access_token.clone());
        secrets.push(t.refresh_token.clone());
    }
    let mut shown: Vec<String> = res.errors().iter().map(|e| format!("{e} {e:?}")).collect();
    shown.extend(lines.0.borrow().iter().cloned());
    for s in &shown {
        for secret in &secrets {
            if s.contains(secret.as_str()) {
                problems.push(format!("a secret in {s:?}"));
            }
        }
    }
    common::capture(
        &format!("faults-{op_name}-{column}"),
        &format!("{got}\n{}\n", shown.join("\n")),
    );

    // Recovery: with the fault gone the next calls work.
    sim.clear_faults();
    let recovered = host::with_host(lines.clone(), || {
        let battery = locks::battery(&c, 1001);
        let refresh = if op == Op::Refresh {
            c.refresh_token()
        } else {
            Ok(())
        };
        (battery, refresh)
    });
    match recovered {
        (Ok(87), Ok(())) => {}
        (b, r) => problems.push(format!(
            "no recovery after the fault cleared: battery {b:?}, refresh {r:?}"
        )),
    }
    common::capture_secrets(&sim);
    drop(sim);
    Cell {
        op: op_name,
        column,
        expected,
        got,
        took,
        problems,
    }
}

/// The passcode invariants.
fn check_codes(
    op: Op,
    res: &Res,
    seeded: &Seeded,
    before: &State,
    after: &State,
    problems: &mut Vec<String>,
) {
    // No lock holds a code twice.
    for l in &after.locks {
        let mut seen = BTreeSet::new();
        for p in &l.passcodes {
            if !seen.insert(p.keyboard_pwd.as_str()) {
                problems.push(format!(
                    "lock {} holds code {} twice",
                    l.lock_id, p.keyboard_pwd
                ));
            }
        }
    }
    let (old, new) = (codes_of(before), codes_of(after));
    // Only add creates, and only its code on its doors.
    for ((lock, id), p) in &new {
        let added_by_us =
            op == Op::Add && p.keyboard_pwd == NEW_CODE && [1002, 2001].contains(lock);
        if !old.contains_key(&(*lock, *id)) && !added_by_us {
            problems.push(format!("lock {lock}: code id {id} created by {op:?}"));
        }
    }
    // Only the purge's expired codes and the delete's target may go.
    let may_go: BTreeSet<i64> = match op {
        _ if op.is_purge() => seeded.expired_ids(),
        Op::Delete => [seeded.delete].into(),
        _ => BTreeSet::new(),
    };
    for ((lock, id), p) in &old {
        if !new.contains_key(&(*lock, *id)) && !may_go.contains(id) {
            problems.push(format!(
                "lock {lock}: code id {id} ({}) was deleted",
                p.name
            ));
        }
    }
    let kept = |lock: i64, id: i64| new.contains_key(&(lock, id));
    for (lock, id) in [
        (1001, seeded.valid),
        (1001, seeded.grace),
        (1001, seeded.staff),
        (2001, seeded.main_valid),
        (2001, seeded.main_staff),
    ] {
        if !kept(lock, id) {
            problems.push(format!("lock {lock}: protected code id {id} is gone"));
        }
    }
    match res {
        Res::Add(Ok(out)) => {
            for door in [1002, 2001] {
                let l = out.locks.iter().find(|l| l.lock_id == door);
                let on_lock = after.lock(door).and_then(|l| l.passcode_by_code(NEW_CODE));
                match (l.and_then(|l| l.passcode_id), on_lock) {
                    (Some(id), Some(p)) if p.keyboard_pwd_id == id => {}
                    (said, is) => problems.push(format!(
                        "add ok, door {door}: result id {said:?}, lock has {:?}",
                        is.map(|p| p.keyboard_pwd_id)
                    )),
                }
            }
        }
        Res::Add(Err(e)) => {
            let doors: BTreeSet<i64> = e.locks.iter().map(|l| l.lock_id).collect();
            if doors != BTreeSet::from([1002, 2001]) {
                problems.push(format!("failed add lists doors {doors:?}"));
            }
            for l in &e.locks {
                let has = has_code(after, l.lock_id, NEW_CODE) > 0;
                let says = (l.ok() && l.rolled_back != Some(true)) || l.rolled_back == Some(false);
                let unsure = l.maybe_added && l.rolled_back.is_none();
                if has != says && !unsure {
                    problems.push(format!(
                        "failed add: door {} has the code: {has}, its result says {says} ({l:?})",
                        l.lock_id
                    ));
                }
            }
        }
        Res::Purge(Ok(r)) if res.got() == "ok" => {
            let left: Vec<i64> = seeded
                .expired_ids()
                .into_iter()
                .filter(|id| kept(1001, *id) || kept(2001, *id))
                .collect();
            if !left.is_empty() || r.deleted.len() != 3 {
                problems.push(format!(
                    "purge ok but expired ids {left:?} left, {} reported deleted",
                    r.deleted.len()
                ));
            }
        }
        Res::Plain(Ok(v)) => match op {
            Op::Delete if kept(1001, seeded.delete) => {
                problems.push("delete ok but the code is still there".into())
            }
            Op::Change => {
                let p = after.lock(1001).and_then(|l| l.passcode(seeded.change));
                let (s, e) = changed_window();
                if p.map(|p| (p.start_ms, p.end_ms)) != Some((s, e)) {
                    problems.push(format!("change ok but the code is {p:?}"));
                }
            }
            Op::List => {
                let ids: BTreeSet<i64> = after
                    .passcodes(1001)
                    .iter()
                    .map(|p| p.keyboard_pwd_id)
                    .collect();
                if *v != format!("{ids:?}") {
                    problems.push(format!("list gave {v}, the lock has {ids:?}"));
                }
            }
            Op::State if v != LockState::Locked.as_str() => problems.push(format!("state {v}")),
            Op::Battery if v != "87" => problems.push(format!("battery {v}")),
            _ => {}
        },
        _ => {}
    }
}

/// Unlock never repeated and honest about a door that may have opened; one refresh for an expired token, none otherwise.
fn check_counters(
    op: Op,
    column: &str,
    res: &Res,
    n: &ttlock_sim::Counters,
    after: &State,
    problems: &mut Vec<String>,
) {
    // Repeated only where TTLock said nothing was done: busy, or the token (refresh, then once
    // more).
    if op == Op::Unlock && !matches!(column, "busy*" | "10004") && n.requests_to(UNLOCK) > 1 {
        problems.push(format!("unlock sent {} times", n.requests_to(UNLOCK)));
    }
    if op == Op::Unlock {
        // Carried out only where the fault lets the request through (a stalled one is still
        // held in the simulator); never a second time.
        let open = after.lock(1001).map(|l| l.open_state);
        let want = if matches!(column, "lost" | "502+") {
            1
        } else {
            0
        };
        if open != Some(want) {
            problems.push(format!("unlock: open_state {open:?}, expected {want}"));
        }
        // An answer that may hide an opened door says so.
        if let Res::Plain(Err(e)) = res {
            if e.maybe_done() && !e.message().contains("the door may have opened") {
                problems.push(format!("ambiguous unlock error does not say so: {e}"));
            }
        }
    }
    if op.is_v3() {
        let refreshes = n.token_refreshes;
        let allowed = match column {
            "10004" if op.is_purge() => 1..=2,
            "10004" => 1..=1,
            _ => 0..=0,
        };
        if !allowed.contains(&refreshes) || n.token_grants != 0 {
            problems.push(format!(
                "{refreshes} refreshes and {} password grants (allowed refreshes {allowed:?})",
                n.token_grants
            ));
        }
    } else if op == Op::Refresh {
        let sent = n.requests_to(TOKEN);
        // Any rejection of the refresh token (10011, 10004, ...) falls back to one login.
        let allowed = match column {
            "busy*" => 3,
            "10011" | "10004" => 2,
            _ => 1,
        };
        if sent > allowed {
            problems.push(format!("{sent} token requests, at most {allowed}"));
        }
    }
}

#[test]
fn fault_matrix() {
    let cells: Vec<(&'static str, &'static str, &'static str)> = TABLE
        .iter()
        .flat_map(|(op, row)| {
            COLUMNS
                .iter()
                .zip(row.iter())
                .map(move |(col, exp)| (*op, *col, *exp))
        })
        .collect();
    println!(
        "fault matrix: {} cells, timeout_s {}, retries {RETRIES}, back-off {} ms, bound {} s per cell",
        cells.len(),
        TIMEOUT.as_secs(),
        BACKOFF.as_millis(),
        BOUND.as_secs()
    );
    let queue = Mutex::new(cells.into_iter());
    let done: Mutex<Vec<Cell>> = Mutex::new(Vec::new());
    // Stalls dominate: a few cells at a time keep the run short on two cores.
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let next = queue.lock().unwrap().next();
                let Some((op, col, exp)) = next else { break };
                let cell = run_cell(op, col, exp);
                done.lock().unwrap().push(cell);
            });
        }
    });
    let cells = done.into_inner().unwrap();

    // The table as it came out: outcome and seconds; `!` marks a cell with a problem.
    let mut out = String::new();
    let _ = write!(out, "{:<11}", "");
    for col in COLUMNS {
        let _ = write!(out, " {col:<20}");
    }
    out.push('\n');
    let mut slowest = Duration::ZERO;
    for (op, _) in TABLE {
        let _ = write!(out, "{op:<11}");
        for col in COLUMNS {
            let cell = cells
                .iter()
                .find(|c| c.op == *op && c.column == col)
                .expect("every cell ran");
            slowest = slowest.max(cell.took);
            let mark = if cell.problems.is_empty() { "" } else { "!" };
            let text = format!("{mark}{} {:.1}s", cell.got, cell.took.as_secs_f64());
            let _ = write!(out, " {text:<20}");
        }
        out.push('\n');
    }
    println!("{out}");
    println!(
        "slowest cell {:.2} s (bound {} s)",
        slowest.as_secs_f64(),
        BOUND.as_secs()
    );
    let failures: Vec<String> = cells
        .iter()
        .filter(|c| !c.problems.is_empty())
        .map(|c| {
            format!(
                "{} × {}: expected {}, got {} in {:.1} s: {}",
                c.op,
                c.column,
                c.expected,
                c.got,
                c.took.as_secs_f64(),
                c.problems.join("; ")
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} cell(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
