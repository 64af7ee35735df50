//! What the two stay fault matrices (tests/stay_faults.rs, tests/queue_faults.rs) share: the
//! client's timings and the faults' sizes, the codes and locks, the cell's simulator and client,
//! the stay operations, the simulator's view of a lock's codes and the cell runner (cells on
//! worker threads, a line per cell, the summary, the `KNOWN_BUGS` of each matrix, the assertion).
//!
//! Used with `mod stay_matrix;` next to `mod common;`.

// Each matrix uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::common::{fixture_client_with, start_sim, Sim, State, TempDir};
use ttlock::ops::stay::{
    self, CheckIn, CheckOut, Door, FileStayStore, Hold, Outcome, Remembered, Stay, StayReport,
};
use ttlock::Client;
use ttlock_sim::{Fault, FaultKind, HOUR_MS};

pub const TIMEOUT: Duration = Duration::from_secs(1);
pub const RETRIES: u32 = 2;
pub const BACKOFF: Duration = Duration::from_millis(10);
/// Longer than [`TIMEOUT`]: the request lands this long after it arrived.
pub const DELAY_MS: u64 = 2_000;
/// Requests one step sends while the gateway stays busy: the transport's attempts
/// (`RETRIES + 1`) in each of the 1 + 3 busy rounds of `ops::schedule::busy_retry`.
pub const BUSY_COUNT: i64 = (RETRIES as i64 + 1) * 4;
/// Cells at a time: most of a cell's time is spent waiting on a timeout or a delay.
pub const WORKERS: usize = 4;

pub const ADD: &str = "/v3/keyboardPwd/add";
pub const CHANGE: &str = "/v3/keyboardPwd/change";
pub const DELETE: &str = "/v3/keyboardPwd/delete";

/// Room 101's code, and the new code of the `new_code` row.
pub const CODE: &str = "48213";
pub const CODE2: &str = "59371";
pub const CODES: [&str; 2] = [CODE, CODE2];

/// A lock of the site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lk {
    pub id: i64,
    pub name: &'static str,
    pub gateway: i64,
}

pub const ROOM_101: Lk = Lk {
    id: 1001,
    name: "Room 101",
    gateway: 1,
};
pub const MAIN: Lk = Lk {
    id: 2001,
    name: "Main door",
    gateway: 2,
};

pub type Win = (i64, i64);

/// A fault of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Col {
    Offline,
    Busy,
    Lost,
    Timeout,
    Err1,
    Err1Done,
}

impl Col {
    pub fn name(self) -> &'static str {
        match self {
            Col::Offline => "offline",
            Col::Busy => "busy",
            Col::Lost => "lost",
            Col::Timeout => "timeout",
            Col::Err1 => "err1",
            Col::Err1Done => "err1+",
        }
    }

    /// A fault that lasts until it is cleared (a retry meets it again).
    pub fn lasting(self) -> bool {
        matches!(self, Col::Offline | Col::Busy)
    }

    /// The fault on `path` for `count` requests (`None`: the gateway goes offline instead).
    pub fn fault(self, path: &str, count: i64) -> Option<Fault> {
        Some(match self {
            Col::Offline => return None,
            Col::Busy => Fault::errcode(path, -3003, count),
            Col::Timeout => Fault::delay(path, DELAY_MS, count),
            Col::Err1 => Fault::new(path, FaultKind::FailedOrNo, count),
            Col::Err1Done => Fault::new(path, FaultKind::FailedOrNo, count).performed(),
            Col::Lost => Fault::new(path, FaultKind::LoseAnswer, count),
        })
    }
}

/// `@<last part of the endpoint>`, or nothing (the gateway is offline).
pub fn endpoint(path: Option<&str>) -> String {
    path.map(|p| format!("@{}", p.rsplit('/').next().unwrap_or(p)))
        .unwrap_or_default()
}

/// A cell's simulator (`state`, gateways answering at once), temporary directory, client (the
/// matrix's timings) and stay memory.
pub fn cell_site(state: State, tmp: &str) -> (Sim, TempDir, Client, FileStayStore) {
    let sim = start_sim(state);
    sim.set_options(|o| o.gateway_hold_ms = 0);
    let dir = TempDir::new(tmp);
    let c = fixture_client_with(&sim, dir.path(), |cfg| {
        cfg.timeout = TIMEOUT;
        cfg.connect_timeout = TIMEOUT;
        cfg.retries = RETRIES;
        cfg.retry_backoff = BACKOFF;
    });
    let store = FileStayStore::new(dir.path());
    (sim, dir, c, store)
}

pub fn now_ms() -> i64 {
    ttlock::transport::now_ms()
}

/// The next full hour: the base of a cell's windows.
pub fn next_hour() -> i64 {
    let now = now_ms();
    now - now % HOUR_MS + HOUR_MS
}

/// Times as the stay operations show them: minutes from the base hour, never five digits, so
/// never one of the codes.
pub fn shown(base: i64) -> impl Fn(i64) -> String {
    move |ms| format!("h{:+}m", (ms - base) / 60_000)
}

pub fn door(l: Lk) -> Door {
    Door::new(l.id, l.name)
}

pub fn stay_of(room: &str, code: &str, w: Win) -> Stay {
    Stay {
        passcode: code.into(),
        name: format!("{room}_guest"),
        valid_from_ms: w.0,
        valid_to_ms: w.1,
        asked: None,
        arrived_ms: None,
    }
}

/// Checks `stay` in for `room` on `doors`.
pub fn check_in(
    c: &Client,
    store: &FileStayStore,
    base: i64,
    room: &str,
    doors: [Lk; 2],
    stay: Stay,
    best_effort: bool,
) -> StayReport {
    let req = CheckIn {
        room: room.into(),
        doors: doors.map(door).to_vec(),
        stay,
        best_effort,
    };
    stay::check_in(c, store, &req, &shown(base))
}

/// Checks room `room` out of room 101's lock and the main door.
pub fn check_out(c: &Client, store: &FileStayStore, base: i64, room: &str) -> StayReport {
    let req = CheckOut {
        room: room.into(),
        doors: vec![door(ROOM_101), door(MAIN)],
        remembered: Remembered::default(),
    };
    stay::check_out(c, store, &req, &shown(base))
}

/// A door's gateway goes offline or comes back.
pub fn set_online(sim: &Sim, l: Lk, online: bool) {
    sim.with_state(|s| s.gateway_mut(l.gateway).expect("the door's gateway").online = online);
}

/// The fault is gone: no injected fault left, every gateway online.
pub fn heal(sim: &Sim) {
    sim.clear_faults();
    sim.with_state(|s| {
        for g in &mut s.gateways {
            g.online = true;
        }
    });
}

/// The problem when an injected fault was not used up.
pub fn fault_left(sim: &Sim) -> Option<String> {
    let pending = sim.pending_faults();
    (!pending.is_empty()).then(|| format!("the fault never hit in full: {pending:?}"))
}

/// A delayed request arrived before the operation ended: let it land.
pub fn let_delayed_land() {
    std::thread::sleep(Duration::from_millis(DELAY_MS + 300));
}

/// What a lock holds of [`CODES`]: code → [(start, end, id)].
pub fn view(st: &State, lock: Lk) -> BTreeMap<String, Vec<(i64, i64, i64)>> {
    let mut out: BTreeMap<String, Vec<(i64, i64, i64)>> = BTreeMap::new();
    for p in st.passcodes(lock.id) {
        if CODES.contains(&p.keyboard_pwd.as_str()) {
            out.entry(p.keyboard_pwd.clone()).or_default().push((
                p.start_ms,
                p.end_ms,
                p.keyboard_pwd_id,
            ));
        }
    }
    out
}

/// A window in hours from the base hour: `+1h..+72h`.
pub fn hours(base: i64, w: Win) -> String {
    format!(
        "{:+}h..{:+}h",
        (w.0 - base) / HOUR_MS,
        (w.1 - base) / HOUR_MS
    )
}

/// A sure hold of the stay memory that is not on its lock with its code and window: `lock … id
/// … <window>, the lock has …`.
pub fn hold_not_on_lock(st: &State, h: &Hold, base: i64) -> Option<String> {
    let on_lock = h
        .passcode_id
        .and_then(|id| st.lock(h.lock_id).and_then(|l| l.passcode(id)));
    let ok = on_lock.is_some_and(|p| {
        p.keyboard_pwd == h.passcode && (p.start_ms, p.end_ms) == (h.valid_from_ms, h.valid_to_ms)
    });
    (!ok).then(|| {
        format!(
            "lock {} id {:?} {}, the lock has {:?}",
            h.lock_id,
            h.passcode_id,
            hours(base, (h.valid_from_ms, h.valid_to_ms)),
            on_lock.map(|p| format!(
                "id {} {}",
                p.keyboard_pwd_id,
                hours(base, (p.start_ms, p.end_ms))
            ))
        )
    })
}

/// The report is not done and its status does not name `l` (a door with a fault).
pub fn status_misses(r: &StayReport, l: Lk) -> Option<String> {
    (r.outcome != Outcome::Done && !r.status.contains(l.name))
        .then(|| format!("the status does not name {}: {}", l.name, r.status))
}

/// `code` in the report's log line or alert.
pub fn code_in_texts(r: &StayReport, code: &str) -> Vec<String> {
    let mut out = Vec::new();
    if r.log_line.contains(code) {
        out.push(format!("a code in the log line: {}", r.log_line));
    }
    if r.alert.as_ref().is_some_and(|a| a.contains(code)) {
        out.push(format!("a code in the alert: {:?}", r.alert));
    }
    out
}

/// No lock holds a code twice.
pub fn no_code_twice(st: &State, what: &str, problems: &mut Vec<String>) {
    for l in &st.locks {
        let mut seen = BTreeSet::new();
        for p in &l.passcodes {
            if !seen.insert(p.keyboard_pwd.as_str()) {
                problems.push(format!(
                    "{what}: lock {} holds code {} twice",
                    l.lock_id, p.keyboard_pwd
                ));
            }
        }
    }
}

/// `TTLOCK_…_VERBOSE` is set (and not empty).
pub fn verbose(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| !v.is_empty())
}

pub struct CellResult {
    pub name: String,
    pub line: String,
    pub problems: Vec<String>,
    pub took: Duration,
}

/// The cell names are unique and `known_bugs` names only cells.
pub fn check_names<S>(specs: &[S], name: impl Fn(&S) -> String, known_bugs: &[&str]) {
    let names: BTreeSet<String> = specs.iter().map(name).collect();
    assert_eq!(names.len(), specs.len(), "cell names are unique");
    for k in known_bugs {
        assert!(names.contains(*k), "KNOWN_BUGS lists an unknown cell {k}");
    }
}

/// Runs the cells of the `what` matrix (`stay fault`, `queue fault`) on [`WORKERS`] threads,
/// printing each cell's line, then fails with the problems of every cell not in `known_bugs`
/// (whose problems are printed).
pub fn run_matrix<S: Send>(
    what: &str,
    specs: Vec<S>,
    known_bugs: &[&str],
    run_cell: fn(S) -> CellResult,
) {
    println!(
        "{what} matrix: {} cells, timeout {} ms, retries {RETRIES}, back-off {} ms, delay {DELAY_MS} ms, busy count {BUSY_COUNT}",
        specs.len(),
        TIMEOUT.as_millis(),
        BACKOFF.as_millis()
    );
    let started = Instant::now();
    let queue = Mutex::new(specs.into_iter());
    let done: Mutex<Vec<CellResult>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| loop {
                let next = queue.lock().unwrap().next();
                let Some(spec) = next else { break };
                let cell = run_cell(spec);
                println!("{}", cell.line);
                done.lock().unwrap().push(cell);
            });
        }
    });
    let mut cells = done.into_inner().unwrap();
    cells.sort_by(|a, b| a.name.cmp(&b.name));
    let slowest = cells.iter().map(|c| c.took).max().unwrap_or_default();
    println!(
        "{what} matrix: {} cells in {:.1} s, slowest cell {:.2} s",
        cells.len(),
        started.elapsed().as_secs_f64(),
        slowest.as_secs_f64()
    );
    let mut failures = Vec::new();
    for c in &cells {
        if known_bugs.contains(&c.name.as_str()) {
            println!("{what} cell {}: known bug, see report", c.name);
            if c.problems.is_empty() {
                // A late landing that happened to come first passes: the race is still there.
                println!("    (passed this time)");
            }
            for p in &c.problems {
                println!("    {p}");
            }
        } else if !c.problems.is_empty() {
            failures.push(format!("{}:\n    {}", c.name, c.problems.join("\n    ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cell(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
