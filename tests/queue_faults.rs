//! The queue fault matrix: best-effort stays whose common door fails, and the retry queue
//! (`stay::retry_pending`) while the fault lasts and after it is gone, each step read against
//! the simulator's truth.
//!
//! Room 101 (lock 1001, gateway 1) and the main door (lock 2001, gateway 2), best effort. Rows:
//! a check-in, an extend and a new code, each from a state seeded without a fault. Cells:
//! - `<row>/main/<fault>`: the main door fails during the operation: `offline` (its gateway),
//!   and on each write endpoint the row uses on the door `busy` (-3003 for as many requests as
//!   the busy rounds send), `timeout` (the request waits longer than the client's timeout, then
//!   is carried out), `err1` / `err1+` (errcode 1 without / after carrying it out), `lost` (the
//!   answer is lost after it was carried out). The first run: the room door holds the new state,
//!   the main door too or it waits, and no retry is due yet (`all = false`). When the door waits
//!   for a lasting fault (offline, busy): two retries (`all = true`) while it is still there
//!   (attempts +1, the gap doubling: 10, then 20 minutes; `offline` also a tenth try, whose gap
//!   is the 4-hour maximum), then one after it is gone (its time made due in the memory, so the
//!   scheduled retry, `all = false`, does it); after a passing one (a timeout) one retry
//!   (`all = true`).
//! - `<row>/main/<fault>/then-extend`, `/then-check_out`: the same, with the stay extended or
//!   checked out while the door waits (the fault still there); the retry after the fault must
//!   give the door the stay's current state, or add nothing after a check-out (a check-out
//!   again then removes what the unreachable door kept).
//! - `<row>/main/offline/then-extend-room_offline`, `/then-extend-all_or_nothing`: an extend
//!   while the door waits is undone (the room door fails too, or the extend is all-or-nothing):
//!   the door still lacks the live stay, so it must stay in the queue and get it after the fault.
//! - `<row>/room/<fault>`: the fault is on the room door: everything is undone as before.
//! - `<row>/main/err<errcode>@<endpoint>`: a failure that cannot pass (storage full, not
//!   supported, lock offline) on the main door: everything is undone, nothing waits.
//! - `<row>/retry/err-3009@<endpoint>`: the door waits (gateway offline), then the retry meets a
//!   failure that cannot pass.
//! - `<row>/arrival/now`, `/soon`: the guest's arrival is now (the first report carries the
//!   alert) or two and a half seconds ahead (the first retry after it does), main door offline:
//!   one alert naming the main door over all the retries.
//!
//! At every step:
//! 1. each door of the report is what the simulator shows: `new` holds exactly the stay's code
//!    and window, `old` exactly what it held before the step, `pending` (the main door only)
//!    what it held before or, when only an old code's removal waits, the stay's code at its
//!    window next to the old codes (never an old code removed before the new one is on);
//!    `unknown` only with an alert;
//! 2. the outcome fits the doors (`done`: all new, `pending`: some pending and none old or
//!    unknown, `rolled_back`: all old), the room's memory lists exactly the pending doors;
//! 3. the memory matches the locks (each sure hold is on its lock; every copy of the codes on a
//!    lock is remembered), no code is twice on a lock, room 102's lock is never touched;
//! 4. no alert unless a door is unknown or the arrival has come with a door still pending;
//!    never a code in the log line, the alert, a pending reason or the module's log.
//!
//! `TTLOCK_QUEUE_FAULTS_VERBOSE=1` also prints each step's status, log line and alert.
//!
//! Cells listed in [`KNOWN_BUGS`] run and are checked, but their problems are printed instead of
//! failing the test.
mod common;
mod stay_matrix;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{Lines, Sim, State};
use stay_matrix::{
    cell_site, check_names, code_in_texts, endpoint, fault_left, hold_not_on_lock, hours,
    let_delayed_land, next_hour, no_code_twice, now_ms, run_matrix, status_misses, stay_of,
    verbose, view, CellResult, Col, Lk, Win, ADD, BUSY_COUNT, CHANGE, CODE, CODE2, CODES, DELETE,
    MAIN, ROOM_101,
};
use ttlock::host;
use ttlock::ops::stay::{
    self, Action, DoorNow, DoorReport, FileStayStore, Outcome, Pending, RoomRecord, Stay,
    StayReport, StayStore, MAX_RETRY_GAP_MS,
};
use ttlock::{Client, Code};
use ttlock_sim::{Fault, DAY_MS, HOUR_MS};

/// The first retry of a waiting door, after its first failure (then doubling).
const FIRST_GAP_MS: i64 = 5 * 60_000;
/// How far ahead the arrival of the `arrival/soon` cells is.
const SOON_MS: i64 = 2_500;

const ROOM: &str = "101";

/// Cells that show a bug of src/ops/stay: they run and are checked like every cell, but their
/// problems are printed instead of failing the test.
const KNOWN_BUGS: &[&str] = &[];

/// Another room's lock: nothing of this matrix may reach it.
const ROOM_102: Lk = Lk {
    id: 1002,
    name: "Room 102",
    gateway: 2,
};
const ALL_LOCKS: [Lk; 3] = [ROOM_101, MAIN, ROOM_102];

/// A stay: the code and its window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sty {
    code: &'static str,
    win: Win,
}

/// The stays of a row: the seed (none for a check-in), the operation's, and the one the stay is
/// changed to while the door waits.
#[derive(Clone, Copy, Debug)]
struct Stays {
    seed: Option<Sty>,
    op: Sty,
    changed: Sty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Row {
    CheckIn,
    Extend,
    NewCode,
}

const ROWS: [Row; 3] = [Row::CheckIn, Row::Extend, Row::NewCode];

impl Row {
    fn name(self) -> &'static str {
        match self {
            Row::CheckIn => "check_in",
            Row::Extend => "extend",
            Row::NewCode => "new_code",
        }
    }

    fn action(self) -> Action {
        match self {
            Row::CheckIn => Action::CheckIn,
            Row::Extend => Action::Extend,
            Row::NewCode => Action::NewCode,
        }
    }

    /// The write endpoints the operation uses on a door.
    fn paths(self) -> &'static [&'static str] {
        match self {
            Row::CheckIn => &[ADD],
            Row::Extend => &[CHANGE],
            Row::NewCode => &[ADD, DELETE],
        }
    }

    /// The endpoint that brings the stay's state to a door.
    fn grow_path(self) -> &'static str {
        match self {
            Row::Extend => CHANGE,
            _ => ADD,
        }
    }

    /// Windows from `arrival`; departures from `base` (the next full hour).
    fn stays(self, arrival: i64, base: i64) -> Stays {
        let w1 = (arrival, base + 3 * DAY_MS);
        let ext = (arrival, base + 5 * DAY_MS);
        let ext2 = (arrival, base + 7 * DAY_MS);
        let s = |code, win| Sty { code, win };
        match self {
            Row::CheckIn => Stays {
                seed: None,
                op: s(CODE, w1),
                changed: s(CODE, ext),
            },
            Row::Extend => Stays {
                seed: Some(s(CODE, w1)),
                op: s(CODE, ext),
                changed: s(CODE, ext2),
            },
            Row::NewCode => Stays {
                seed: Some(s(CODE, w1)),
                op: s(CODE2, w1),
                changed: s(CODE2, ext),
            },
        }
    }
}

const ENDPOINT_COLS: [Col; 5] = [Col::Busy, Col::Timeout, Col::Err1, Col::Err1Done, Col::Lost];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    /// Only retries.
    Retry,
    /// The stay is extended while the door waits.
    Extend,
    /// The stay is checked out while the door waits.
    CheckOut,
    /// An extend while the door waits fails on the room door too (its gateway offline): undone.
    ExtendRoomFails,
    /// An all-or-nothing extend while the door waits: undone.
    ExtendAllOrNothing,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Main {
        col: Col,
        path: Option<&'static str>,
        then: Then,
    },
    Room {
        col: Col,
        path: Option<&'static str>,
    },
    Hard {
        errcode: i64,
        path: &'static str,
    },
    RetryHard {
        errcode: i64,
        path: &'static str,
    },
    Arrival {
        soon: bool,
    },
}

#[derive(Clone, Copy, Debug)]
struct CellSpec {
    row: Row,
    kind: Kind,
}

impl CellSpec {
    fn name(&self) -> String {
        let row = self.row.name();
        match self.kind {
            Kind::Main { col, path, then } => {
                let then = match then {
                    Then::Retry => "",
                    Then::Extend => "/then-extend",
                    Then::CheckOut => "/then-check_out",
                    Then::ExtendRoomFails => "/then-extend-room_offline",
                    Then::ExtendAllOrNothing => "/then-extend-all_or_nothing",
                };
                format!("{row}/main/{}{}{then}", col.name(), endpoint(path))
            }
            Kind::Room { col, path } => format!("{row}/room/{}{}", col.name(), endpoint(path)),
            Kind::Hard { errcode, path } => {
                format!("{row}/main/err{errcode}{}", endpoint(Some(path)))
            }
            Kind::RetryHard { errcode, path } => {
                format!("{row}/retry/err{errcode}{}", endpoint(Some(path)))
            }
            Kind::Arrival { soon } => {
                format!("{row}/arrival/{}", if soon { "soon" } else { "now" })
            }
        }
    }
}

/// Failures that cannot pass by themselves, on the main door: all-or-nothing.
const HARD: [(i64, Code); 3] = [
    (-3009, Code::StorageFull),
    (-4043, Code::NotSupported),
    (-3036, Code::LockOffline),
];

fn cells() -> Vec<CellSpec> {
    let mut out = Vec::new();
    for row in ROWS {
        let mut push = |kind| out.push(CellSpec { row, kind });
        // 1 to 3: the main door fails, retries while it lasts and after it is gone.
        push(Kind::Main {
            col: Col::Offline,
            path: None,
            then: Then::Retry,
        });
        for &path in row.paths() {
            for col in ENDPOINT_COLS {
                push(Kind::Main {
                    col,
                    path: Some(path),
                    then: Then::Retry,
                });
            }
        }
        // 3: the stay changes while the door waits.
        for then in [Then::Extend, Then::CheckOut] {
            push(Kind::Main {
                col: Col::Offline,
                path: None,
                then,
            });
            for &path in row.paths() {
                push(Kind::Main {
                    col: Col::Busy,
                    path: Some(path),
                    then,
                });
            }
        }
        // 3: a change while the door waits is undone: the door still waits for the stay.
        for then in [Then::ExtendRoomFails, Then::ExtendAllOrNothing] {
            push(Kind::Main {
                col: Col::Offline,
                path: None,
                then,
            });
        }
        // 4: the room door fails.
        push(Kind::Room {
            col: Col::Offline,
            path: None,
        });
        for &path in row.paths() {
            for col in ENDPOINT_COLS {
                push(Kind::Room {
                    col,
                    path: Some(path),
                });
            }
        }
        // 5: failures that cannot pass.
        for (errcode, _) in HARD {
            push(Kind::Hard {
                errcode,
                path: row.grow_path(),
            });
        }
        push(Kind::RetryHard {
            errcode: -3009,
            path: row.grow_path(),
        });
        // 6: the arrival alert.
        push(Kind::Arrival { soon: false });
        push(Kind::Arrival { soon: true });
    }
    out
}

fn stay_of_sty(s: Sty) -> Stay {
    stay_of(ROOM, s.code, s.win)
}

/// Failures a best-effort stay lets a common door wait for.
fn passing(code: Code) -> bool {
    matches!(
        code,
        Code::GatewayOffline | Code::GatewayBusy | Code::Timeout | Code::Network
    )
}

/// What a lock holds of [`CODES`]: code → window (every copy, so a copy too many shows).
type Codes = BTreeMap<String, Vec<Win>>;

fn codes_on(st: &State, lock: Lk) -> Codes {
    view(st, lock)
        .into_iter()
        .map(|(c, v)| (c, v.into_iter().map(|(s, e, _)| (s, e)).collect()))
        .collect()
}

fn codes_of(s: Option<Sty>) -> Codes {
    s.map(|s| (s.code.to_string(), vec![s.win]))
        .into_iter()
        .collect()
}

/// A pending door's lock: what it held before, or (only an old code's removal waits) the
/// stay's code at its window next to the old codes it held before. `strict`: only the first.
fn pending_ok(now: &Codes, before: &Codes, cur: Option<Sty>, strict: bool) -> bool {
    if now == before {
        return true;
    }
    let Some(s) = cur else { return false };
    !strict
        && now.get(s.code) == Some(&vec![s.win])
        && now
            .iter()
            .all(|(c, w)| c == s.code || before.get(c) == Some(w))
}

fn show_codes(base: i64, c: &Codes) -> String {
    if c.is_empty() {
        return "nothing".into();
    }
    c.iter()
        .flat_map(|(code, ws)| {
            ws.iter()
                .map(move |w| format!("{code} {}", hours(base, *w)))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn door_of(r: &StayReport, l: Lk) -> Option<&DoorReport> {
    r.doors.iter().find(|d| d.lock_id == l.id)
}

fn now_of(r: &StayReport, l: Lk) -> Option<DoorNow> {
    door_of(r, l).map(|d| d.now)
}

fn short(r: &StayReport) -> String {
    let doors: Vec<String> = r
        .doors
        .iter()
        .map(|d| format!("{} {}", d.name, d.now.as_str()))
        .collect();
    format!(
        "{} {} [{}]{}",
        r.action.as_str(),
        r.outcome.as_str(),
        doors.join(", "),
        if r.alert.is_some() { " alert" } else { "" }
    )
}

/// The gap before retry number `attempts + 1` of a waiting door.
fn gap(attempts: u32) -> i64 {
    (FIRST_GAP_MS << (attempts - 1).min(10)).min(MAX_RETRY_GAP_MS)
}

/// Per-step expectations of [`Ctx::check`].
#[derive(Clone, Copy)]
struct Exp {
    /// The stay the doors should reach (`None`: checked out).
    cur: Option<Sty>,
    /// The doors with a fault (the only ones with an error).
    faulted: &'static [Lk],
    /// An arrival alert is expected.
    arrival_alert: bool,
    /// A pending door holds exactly what it held before.
    strict: bool,
    /// The room's queue is exactly the doors the report calls pending (else the caller checks
    /// the queue).
    queue_is_pending: bool,
}

impl Exp {
    /// No arrival alert, pending doors hold exactly what they held, the queue is what the
    /// report calls pending.
    fn usual(cur: Option<Sty>, faulted: &'static [Lk]) -> Exp {
        Exp {
            cur,
            faulted,
            arrival_alert: false,
            strict: true,
            queue_is_pending: true,
        }
    }
}

const NONE: &[Lk] = &[];
const ON_MAIN: &[Lk] = &[MAIN];
const ON_ROOM: &[Lk] = &[ROOM_101];
const ON_BOTH: &[Lk] = &[ROOM_101, MAIN];

/// One cell's simulator, client and findings.
struct Ctx<'a> {
    sim: &'a Sim,
    c: &'a Client,
    store: &'a FileStayStore,
    base: i64,
    problems: RefCell<Vec<String>>,
    trail: RefCell<Vec<String>>,
    verbose: RefCell<Vec<String>>,
}

impl Ctx<'_> {
    fn problem(&self, p: String) {
        self.problems.borrow_mut().push(p);
    }

    fn step(&self, s: String) {
        self.trail.borrow_mut().push(s);
    }

    fn shown(&self) -> impl Fn(i64) -> String {
        stay_matrix::shown(self.base)
    }

    fn note(&self, what: &str, r: &StayReport) {
        self.verbose.borrow_mut().push(format!(
            "{what}: {}\n      status: {}\n      log: {}\n      alert: {:?}",
            short(r),
            r.status,
            r.log_line,
            r.alert
        ));
    }

    fn check_in(&self, s: Sty) -> StayReport {
        self.check_in_with(s, true)
    }

    fn check_in_with(&self, s: Sty, best_effort: bool) -> StayReport {
        let doors = [ROOM_101, MAIN];
        let stay = stay_of_sty(s);
        stay_matrix::check_in(
            self.c,
            self.store,
            self.base,
            ROOM,
            doors,
            stay,
            best_effort,
        )
    }

    fn check_out(&self) -> StayReport {
        stay_matrix::check_out(self.c, self.store, self.base, ROOM)
    }

    fn retry(&self, what: &str, all: bool) -> Vec<StayReport> {
        match stay::retry_pending(self.c, self.store, all, &self.shown()) {
            Ok(rs) => {
                for r in &rs {
                    self.note(what, r);
                    if r.room != ROOM {
                        self.problem(format!("{what}: a report for room {}", r.room));
                    }
                }
                rs
            }
            Err(e) => {
                self.problem(format!("{what}: retry_pending failed: {e}"));
                Vec::new()
            }
        }
    }

    /// The retry's report for the room, when there is exactly one.
    fn retry_one(&self, what: &str) -> Option<(StayReport, i64, i64)> {
        self.retry_one_with(what, true)
    }

    /// [`Ctx::retry_one`] with `all`.
    fn retry_one_with(&self, what: &str, all: bool) -> Option<(StayReport, i64, i64)> {
        let t0 = now_ms();
        let mut rs = self.retry(what, all);
        let t1 = now_ms();
        if rs.len() != 1 {
            self.problem(format!("{what}: {} reports, expected one", rs.len()));
            return None;
        }
        Some((rs.remove(0), t0, t1))
    }

    fn record(&self) -> Option<RoomRecord> {
        match self.store.load(ROOM) {
            Ok(r) => r,
            Err(e) => {
                self.problem(format!("the stay memory cannot be read: {e}"));
                None
            }
        }
    }

    /// Change the room's memory as time would (the schedule), outside any operation.
    fn edit_record(&self, f: impl FnOnce(&mut RoomRecord)) {
        let Some(mut r) = self.record() else {
            self.problem("the room has no memory to edit".into());
            return;
        };
        f(&mut r);
        if let Err(e) = self.store.save(ROOM, Some(&r)) {
            self.problem(format!("the stay memory cannot be written: {e}"));
        }
    }

    fn pending(&self) -> Vec<Pending> {
        self.record().map(|r| r.pending).unwrap_or_default()
    }

    fn pending_main(&self, what: &str) -> Option<Pending> {
        let p = self.pending().into_iter().find(|p| p.lock_id == MAIN.id);
        if p.is_none() {
            self.problem(format!("{what}: the main door is not in the queue"));
        }
        p
    }

    fn set_online(&self, l: Lk, online: bool) {
        stay_matrix::set_online(self.sim, l, online);
    }

    /// The fault of a cell on `lock`: the first time with its count, later (`again`) a busy
    /// gateway that stays busy.
    fn fault_on(&self, col: Col, path: Option<&str>, lock: Lk, again: bool) {
        let count = match (col, again) {
            (Col::Busy, false) => BUSY_COUNT,
            (Col::Busy, true) => -1,
            _ => 1,
        };
        match col.fault(path.unwrap_or(""), count) {
            Some(f) => self.sim.inject(f.with_lock_id(lock.id)),
            None => self.set_online(lock, false),
        }
    }

    /// The fault is gone.
    fn heal(&self) {
        stay_matrix::heal(self.sim);
    }

    /// Every injected fault was used up.
    fn all_hit(&self, what: &str) {
        if let Some(p) = fault_left(self.sim) {
            self.problem(format!("{what}: {p}"));
        }
    }

    fn seed(&self, s: &Stays) {
        if let Some(seed) = s.seed {
            let r = self.check_in(seed);
            self.note("seed", &r);
            assert!(
                r.outcome == Outcome::Done,
                "seeding: {}: {}",
                short(&r),
                r.status
            );
        }
    }

    /// Checks 1 to 4 of one step, against the simulator now and `pre` (before the step).
    /// Returns the simulator's state.
    fn check(&self, what: &str, r: &StayReport, pre: &State, e: Exp) -> State {
        let st = self.sim.state();
        let base = self.base;
        let ids: Vec<i64> = r.doors.iter().map(|d| d.lock_id).collect();
        if ids != [ROOM_101.id, MAIN.id] {
            self.problem(format!("{what}: the report's doors are {ids:?}"));
        }
        let target = codes_of(e.cur);
        let mut nows = Vec::new();
        for d in &r.doors {
            let Some(l) = ALL_LOCKS.iter().copied().find(|l| l.id == d.lock_id) else {
                continue;
            };
            nows.push(d.now);
            let before = codes_on(pre, l);
            let now = codes_on(&st, l);
            let ok = match d.now {
                DoorNow::New => now == target,
                DoorNow::Old => now == before,
                DoorNow::Pending => l == MAIN && pending_ok(&now, &before, e.cur, e.strict),
                DoorNow::Unknown => r.alert.is_some(),
            };
            if !ok {
                self.problem(format!(
                    "{what}: {} reported {}, the lock has {} (before: {})",
                    l.name,
                    d.now.as_str(),
                    show_codes(base, &now),
                    show_codes(base, &before)
                ));
            }
            // The held id and window of the stay's code are the lock's.
            if let (Some(s), Some(h)) = (e.cur, d.held.as_ref().filter(|h| h.sure)) {
                if matches!(d.now, DoorNow::New | DoorNow::Pending) {
                    let on = view(&st, l).get(s.code).and_then(|v| v.first().copied());
                    let held = (h.window.from_ms, h.window.to_ms, h.passcode_id);
                    if on.map(|(a, b, id)| (a, b, Some(id))) != Some(held) {
                        self.problem(format!(
                            "{what}: {} reported holding {held:?}, the lock {on:?}",
                            l.name
                        ));
                    }
                }
            }
            if d.error.is_some() && !e.faulted.contains(&l) {
                self.problem(format!(
                    "{what}: {} has an error without a fault: {:?}",
                    l.name, d.error
                ));
            }
            if d.now == DoorNow::Pending && d.error.is_none() {
                self.problem(format!("{what}: {} pending without a reason", l.name));
            }
        }
        let all = |n: DoorNow| nows.iter().all(|x| *x == n);
        let any = |n: DoorNow| nows.contains(&n);
        let outcome_ok = match r.outcome {
            Outcome::Done => all(DoorNow::New) && r.error.is_none(),
            Outcome::Pending => {
                any(DoorNow::Pending)
                    && !any(DoorNow::Old)
                    && !any(DoorNow::Unknown)
                    && r.error.is_none()
            }
            Outcome::RolledBack => all(DoorNow::Old) && r.error.is_some(),
            Outcome::Incomplete => {
                r.error.is_some() && !all(DoorNow::Old) && !any(DoorNow::Pending)
            }
            Outcome::Unchanged => false,
        };
        if !outcome_ok {
            self.problem(format!(
                "{what}: outcome {} with doors {nows:?}, error {:?}",
                r.outcome.as_str(),
                r.error.as_ref().map(|e| e.code())
            ));
        }
        // The queue is the pending doors.
        let rec = self.record();
        let queued: BTreeSet<i64> = rec
            .iter()
            .flat_map(|r| r.pending.iter().map(|p| p.lock_id))
            .collect();
        let reported: BTreeSet<i64> = r
            .doors
            .iter()
            .filter(|d| d.now == DoorNow::Pending)
            .map(|d| d.lock_id)
            .collect();
        if e.queue_is_pending && queued != reported {
            self.problem(format!(
                "{what}: the queue holds locks {queued:?}, the report has pending {reported:?}"
            ));
        }
        for p in rec.iter().flat_map(|r| r.pending.iter()) {
            if p.reason.is_empty() || CODES.iter().any(|c| p.reason.contains(c)) {
                self.problem(format!("{what}: pending reason {:?}", p.reason));
            }
        }
        // Alerts.
        match &r.alert {
            None if any(DoorNow::Unknown) || e.arrival_alert => self.problem(format!(
                "{what}: no alert (doors {nows:?}, arrival alert expected: {})",
                e.arrival_alert
            )),
            Some(a) if !any(DoorNow::Unknown) && !e.arrival_alert => {
                self.problem(format!("{what}: an alert nobody expected: {a}"))
            }
            Some(a) if e.arrival_alert && !a.contains(MAIN.name) => self.problem(format!(
                "{what}: the arrival alert does not name the main door: {a}"
            )),
            _ => {}
        }
        for f in e.faulted {
            if let Some(p) = status_misses(r, *f) {
                self.problem(format!("{what}: {p}"));
            }
        }
        for code in CODES {
            for p in code_in_texts(r, code) {
                self.problem(format!("{what}: {p}"));
            }
        }
        self.check_memory(what, &st, rec.as_ref(), r);
        let mut twice = Vec::new();
        no_code_twice(&st, what, &mut twice);
        twice.into_iter().for_each(|p| self.problem(p));
        if !codes_on(&st, ROOM_102).is_empty() {
            self.problem(format!("{what}: room 102's lock got a code"));
        }
        st
    }

    /// The stay memory against the locks.
    fn check_memory(&self, what: &str, st: &State, rec: Option<&RoomRecord>, r: &StayReport) {
        let holds = rec.map(|r| r.holds.as_slice()).unwrap_or(&[]);
        for h in holds.iter().filter(|h| h.sure) {
            if let Some(p) = hold_not_on_lock(st, h, self.base) {
                self.problem(format!("{what}: the memory has {p}"));
            }
        }
        for l in ALL_LOCKS {
            for p in st.passcodes(l.id) {
                if !CODES.contains(&p.keyboard_pwd.as_str()) {
                    continue;
                }
                let known = holds.iter().any(|h| {
                    h.lock_id == l.id
                        && h.passcode == p.keyboard_pwd
                        && (!h.sure || h.passcode_id == Some(p.keyboard_pwd_id))
                });
                if !known {
                    self.problem(format!(
                        "{what}: {} holds a code (id {}) the memory does not have",
                        l.name, p.keyboard_pwd_id
                    ));
                }
            }
        }
        let own = rec.and_then(|r| r.stay.clone());
        if own != r.stay {
            let w = |s: &Option<Stay>| {
                s.as_ref()
                    .map(|s| hours(self.base, (s.valid_from_ms, s.valid_to_ms)))
            };
            self.problem(format!(
                "{what}: the memory has the stay {:?}, the report {:?}",
                w(&own),
                w(&r.stay)
            ));
        }
    }

    /// A waiting main door's queue entry after attempt `attempts`, tried between `t0` and `t1`.
    fn check_entry(&self, what: &str, attempts: u32, since: Option<i64>, t0: i64, t1: i64) {
        let Some(p) = self.pending_main(what) else {
            return;
        };
        if p.attempts != attempts {
            self.problem(format!(
                "{what}: attempts {}, expected {attempts}",
                p.attempts
            ));
        }
        let g = gap(attempts);
        if p.next_ms < t0 + g || p.next_ms > t1 + g {
            self.problem(format!(
                "{what}: next try in {} s, expected {} s",
                (p.next_ms - t1) / 1000,
                g / 1000
            ));
        }
        let since_ok = match since {
            Some(s) => p.since_ms == s,
            None => p.since_ms >= t0 && p.since_ms <= t1,
        };
        if !since_ok {
            self.problem(format!("{what}: pending since {} changed", p.since_ms));
        }
    }

    /// The doors hold exactly `cur` (room and main door).
    fn both_hold(&self, what: &str, st: &State, cur: Option<Sty>) {
        let want = codes_of(cur);
        for l in [ROOM_101, MAIN] {
            let now = codes_on(st, l);
            if now != want {
                self.problem(format!(
                    "{what}: {} has {}, expected {}",
                    l.name,
                    show_codes(self.base, &now),
                    show_codes(self.base, &want)
                ));
            }
        }
    }

    /// No retry is due: nothing is reported and nothing changes.
    fn not_due(&self, what: &str) {
        let pre = self.sim.state();
        let rs = self.retry(what, false);
        if !rs.is_empty() {
            self.problem(format!(
                "{what}: {} report(s) although nothing is due: {}",
                rs.len(),
                short(&rs[0])
            ));
        }
        let st = self.sim.state();
        for l in ALL_LOCKS {
            if codes_on(&st, l) != codes_on(&pre, l) {
                self.problem(format!("{what}: {} changed", l.name));
            }
        }
    }

    /// The same operation again without a fault: done, both doors hold the stay.
    /// After an undone operation nothing waits: a retry has nothing to do; then the follow-up.
    fn nothing_waits_then_follow_up(&self, s: Sty) {
        let rs = self.retry("retry", true);
        if !rs.is_empty() {
            self.problem(format!("retry: {} report(s), nothing waits", rs.len()));
        }
        self.follow_up(s);
    }

    fn follow_up(&self, s: Sty) {
        let pre = self.sim.state();
        let r = self.check_in(s);
        self.note("follow-up", &r);
        let st = self.check("follow-up", &r, &pre, Exp::usual(Some(s), NONE));
        if r.outcome != Outcome::Done {
            self.problem(format!("follow-up: {}: {}", short(&r), r.status));
        }
        self.both_hold("follow-up", &st, Some(s));
        self.step(format!("follow-up {}", r.outcome.as_str()));
    }
}

/// 1 to 3: the main door fails (and the stay may change while it waits).
fn run_main(ctx: &Ctx, row: Row, col: Col, path: Option<&'static str>, then: Then) {
    let s = row.stays(ctx.base + HOUR_MS, ctx.base);
    ctx.seed(&s);
    let pre = ctx.sim.state();
    ctx.fault_on(col, path, MAIN, false);
    let t0 = now_ms();
    let r = ctx.check_in(s.op);
    let t1 = now_ms();
    ctx.note("first run", &r);
    if col == Col::Timeout {
        let_delayed_land();
    }
    ctx.all_hit("first run");
    ctx.sim.clear_faults();
    // A lasting fault on the endpoint that brings the stay (or the gateway): nothing changed.
    let strict = col.lasting() && path != Some(DELETE);
    let exp = Exp {
        cur: Some(s.op),
        faulted: ON_MAIN,
        arrival_alert: false,
        strict,
        queue_is_pending: true,
    };
    ctx.check("first run", &r, &pre, exp);
    ctx.step(short(&r));
    if r.action != row.action() {
        ctx.problem(format!(
            "first run: action {}, expected {}",
            r.action.as_str(),
            row.action().as_str()
        ));
    }
    // The room door holds the new state; the main door holds it too (the fault was resolved
    // by a look-up or a repeat) or waits.
    if now_of(&r, ROOM_101) != Some(DoorNow::New) {
        ctx.problem("first run: the room door does not hold the new state".into());
    }
    let main = now_of(&r, MAIN);
    if !matches!(r.outcome, Outcome::Done | Outcome::Pending) {
        let code = door_of(&r, MAIN)
            .and_then(|d| d.error.as_ref())
            .map(|e| e.code());
        ctx.problem(format!(
            "first run: {} (main door {}, error {code:?}, {}): a best-effort stay undone over a '{}' on the main door",
            r.outcome.as_str(),
            main.map_or("missing", DoorNow::as_str),
            if code.is_some_and(passing) {
                "a failure that can pass"
            } else {
                "not in the passing list"
            },
            col.name()
        ));
    }
    if col.lasting() && main != Some(DoorNow::Pending) {
        ctx.problem(format!(
            "first run: a main door failing with '{}' must wait, it is {main:?}",
            col.name()
        ));
    }
    if main == Some(DoorNow::Pending) {
        ctx.check_entry("first run", 1, None, t0, t1);
        if ctx.pending_main("first run").is_some_and(|p| p.alerted) {
            ctx.problem("first run: alerted before the arrival".into());
        }
    }
    ctx.not_due("retry before its time");
    let mut cur = Some(s.op);
    let since = ctx.pending_main_quiet().map(|p| p.since_ms);
    if main == Some(DoorNow::Pending) && col.lasting() {
        // 2: retries while the fault is still there.
        for k in 2..=3u32 {
            let what = format!("retry {k} during the fault");
            ctx.fault_on(col, path, MAIN, true);
            let pre = ctx.sim.state();
            let got = ctx.retry_one(&what);
            ctx.sim.clear_faults();
            let Some((r, t0, t1)) = got else { return };
            let exp = Exp {
                cur,
                faulted: ON_MAIN,
                arrival_alert: false,
                strict: true,
                queue_is_pending: true,
            };
            ctx.check(&what, &r, &pre, exp);
            if r.outcome != Outcome::Pending || now_of(&r, MAIN) != Some(DoorNow::Pending) {
                ctx.problem(format!("{what}: {}", short(&r)));
            }
            ctx.check_entry(&what, k, since, t0, t1);
            let next = ctx
                .pending_main_quiet()
                .map(|p| (p.next_ms - t1 + 30_000) / 60_000);
            ctx.step(format!(
                "retry {} (next in {} min)",
                r.outcome.as_str(),
                next.unwrap_or(-1)
            ));
        }
        match then {
            Then::Retry if col == Col::Offline => {
                // Many tries later the gap stops growing at its maximum.
                ctx.edit_record(|r| r.pending.iter_mut().for_each(|p| p.attempts = 9));
                let what = "retry 10 during the fault";
                let pre = ctx.sim.state();
                let Some((r, t0, t1)) = ctx.retry_one(what) else {
                    return;
                };
                let exp = Exp {
                    cur,
                    faulted: ON_MAIN,
                    arrival_alert: false,
                    strict: true,
                    queue_is_pending: true,
                };
                ctx.check(what, &r, &pre, exp);
                if r.outcome != Outcome::Pending {
                    ctx.problem(format!("{what}: {}", short(&r)));
                }
                ctx.check_entry(what, 10, since, t0, t1);
                let next = ctx
                    .pending_main_quiet()
                    .map(|p| (p.next_ms - t1 + 30_000) / 60_000);
                ctx.step(format!(
                    "retry 10 {} (next in {} min)",
                    r.outcome.as_str(),
                    next.unwrap_or(-1)
                ));
            }
            Then::Retry => {}
            Then::Extend => {
                let what = "extend while waiting";
                ctx.fault_on(col, path, MAIN, true);
                let pre = ctx.sim.state();
                let (t0, r, t1) = (now_ms(), ctx.check_in(s.changed), now_ms());
                ctx.sim.clear_faults();
                ctx.note(what, &r);
                cur = Some(s.changed);
                let exp = Exp {
                    cur,
                    faulted: ON_MAIN,
                    arrival_alert: false,
                    strict,
                    queue_is_pending: true,
                };
                ctx.check(what, &r, &pre, exp);
                if r.action != Action::Extend
                    || r.outcome != Outcome::Pending
                    || now_of(&r, ROOM_101) != Some(DoorNow::New)
                    || now_of(&r, MAIN) != Some(DoorNow::Pending)
                {
                    ctx.problem(format!("{what}: {}", short(&r)));
                }
                ctx.check_entry(what, 4, since, t0, t1);
                ctx.step(format!("then {}", short(&r)));
            }
            Then::CheckOut => {
                let what = "check-out while waiting";
                ctx.fault_on(col, path, MAIN, true);
                let pre = ctx.sim.state();
                let r = ctx.check_out();
                ctx.sim.clear_faults();
                ctx.note(what, &r);
                cur = None;
                let exp = Exp {
                    cur,
                    faulted: ON_MAIN,
                    arrival_alert: false,
                    strict: true,
                    queue_is_pending: true,
                };
                ctx.check(what, &r, &pre, exp);
                if r.action != Action::CheckOut || now_of(&r, ROOM_101) != Some(DoorNow::New) {
                    ctx.problem(format!("{what}: {}", short(&r)));
                }
                // What the unreachable door kept (if anything) waits for its removal.
                let q = ctx.pending();
                let kept = !codes_on(&ctx.sim.state(), MAIN).is_empty();
                let queued = q.len() == 1 && q[0].lock_id == MAIN.id && q[0].remove;
                if kept != queued || q.len() > 1 {
                    ctx.problem(format!(
                        "{what}: the main door kept a code: {kept}, the queue: {q:?}"
                    ));
                }
                ctx.step(format!("then {}", short(&r)));
            }
            Then::ExtendRoomFails | Then::ExtendAllOrNothing => {
                let room_fails = then == Then::ExtendRoomFails;
                let what = if room_fails {
                    "extend while waiting, the room door offline too"
                } else {
                    "all-or-nothing extend while waiting"
                };
                ctx.fault_on(col, path, MAIN, true);
                if room_fails {
                    ctx.set_online(ROOM_101, false);
                }
                let pre = ctx.sim.state();
                let r = ctx.check_in_with(s.changed, room_fails);
                ctx.note(what, &r);
                ctx.sim.clear_faults();
                ctx.set_online(ROOM_101, true);
                let exp = Exp {
                    cur: Some(s.changed),
                    faulted: if room_fails { ON_BOTH } else { ON_MAIN },
                    arrival_alert: false,
                    strict: true,
                    queue_is_pending: false,
                };
                ctx.check(what, &r, &pre, exp);
                if r.outcome != Outcome::RolledBack {
                    ctx.problem(format!("{what}: {}", short(&r)));
                }
                // Undone: the live stay is the one before, and the main door still lacks it.
                if ctx.pending_main_quiet().is_none() {
                    ctx.problem(format!(
                        "{what}: the main door left the queue although it still lacks the live stay ({})",
                        show_codes(ctx.base, &codes_on(&ctx.sim.state(), MAIN))
                    ));
                }
                ctx.step(format!(
                    "then {} (main door {})",
                    short(&r),
                    if ctx.pending_main_quiet().is_some() {
                        "still queued"
                    } else {
                        "out of the queue"
                    }
                ));
            }
        }
    }
    // 3: the fault is gone.
    ctx.heal();
    let waiting = !ctx.pending().is_empty();
    let pre = ctx.sim.state();
    if waiting {
        let what = "retry after the fault";
        // After a lasting fault the scheduled retry (its time has come) does it; else a
        // person's (`all`).
        let scheduled = then == Then::Retry && col.lasting();
        if scheduled {
            let due = now_ms() - 1;
            ctx.edit_record(|r| r.pending.iter_mut().for_each(|p| p.next_ms = due));
        }
        let Some((r, _, _)) = ctx.retry_one_with(what, !scheduled) else {
            return;
        };
        let exp = Exp {
            cur,
            faulted: NONE,
            arrival_alert: false,
            strict: true,
            queue_is_pending: true,
        };
        let st = ctx.check(what, &r, &pre, exp);
        if r.outcome != Outcome::Done {
            ctx.problem(format!("{what}: {}: {}", short(&r), r.status));
        }
        ctx.both_hold(what, &st, cur);
        ctx.step(format!(
            "{} retry {}",
            if scheduled { "scheduled" } else { "all" },
            r.outcome.as_str()
        ));
        ctx.not_due("a retry after done");
    } else {
        let rs = ctx.retry("retry, nothing waits", true);
        if !rs.is_empty() {
            ctx.problem(format!(
                "retry with nothing waiting: {} report(s): {}",
                rs.len(),
                short(&rs[0])
            ));
        }
        let st = ctx.sim.state();
        for l in ALL_LOCKS {
            let (now, before) = (codes_on(&st, l), codes_on(&pre, l));
            if now != before {
                ctx.problem(format!(
                    "retry with nothing waiting: {} has {}, it had {}",
                    l.name,
                    show_codes(ctx.base, &now),
                    show_codes(ctx.base, &before)
                ));
            }
        }
        match cur {
            None => {
                // Checked out: nothing may come back, and a check-out removes what is left.
                if !codes_on(&st, ROOM_101).is_empty() {
                    ctx.problem("after the check-out: the room door has a code".into());
                }
                let left = codes_on(&st, MAIN);
                let pre = ctx.sim.state();
                let r = ctx.check_out();
                ctx.note("check-out again", &r);
                let exp = Exp::usual(None, NONE);
                let st = ctx.check("check-out again", &r, &pre, exp);
                if r.outcome != Outcome::Done {
                    ctx.problem(format!("check-out again: {}", short(&r)));
                }
                ctx.both_hold("check-out again", &st, None);
                if ctx.record().is_some() {
                    ctx.problem("check-out again: the room's memory is still there".into());
                }
                ctx.step(format!(
                    "retry: nothing (main door left with {}); check-out again {}",
                    show_codes(ctx.base, &left),
                    r.outcome.as_str()
                ));
            }
            Some(s) => {
                ctx.step("retry: nothing".into());
                let live = ctx.record().and_then(|r| r.stay);
                if live.as_ref() == Some(&stay_of_sty(s)) {
                    // The stay is on: every door must hold it, since nothing retries any more.
                    ctx.both_hold("nothing waits", &st, Some(s));
                } else {
                    // Undone at the first run: reception runs it again.
                    ctx.follow_up(s);
                }
            }
        }
    }
}

impl Ctx<'_> {
    fn pending_main_quiet(&self) -> Option<Pending> {
        self.pending().into_iter().find(|p| p.lock_id == MAIN.id)
    }
}

/// 4: the room door fails: all-or-nothing, nothing waits.
fn run_room(ctx: &Ctx, row: Row, col: Col, path: Option<&'static str>) {
    let s = row.stays(ctx.base + HOUR_MS, ctx.base);
    ctx.seed(&s);
    let pre = ctx.sim.state();
    ctx.fault_on(col, path, ROOM_101, false);
    let r = ctx.check_in(s.op);
    ctx.note("first run", &r);
    if col == Col::Timeout {
        let_delayed_land();
    }
    ctx.all_hit("first run");
    ctx.heal();
    let exp = Exp::usual(Some(s.op), ON_ROOM);
    ctx.check("first run", &r, &pre, exp);
    ctx.step(short(&r));
    let unknown = r.doors.iter().any(|d| d.now == DoorNow::Unknown);
    let ok = match r.outcome {
        Outcome::Done => !col.lasting(),
        Outcome::RolledBack => true,
        Outcome::Incomplete => unknown,
        _ => false,
    };
    if !ok {
        ctx.problem(format!("first run: {} with a room-door fault", short(&r)));
    }
    ctx.nothing_waits_then_follow_up(s.op);
}

/// 5: a failure that cannot pass on the main door.
fn run_hard(ctx: &Ctx, row: Row, errcode: i64, path: &'static str) {
    let s = row.stays(ctx.base + HOUR_MS, ctx.base);
    ctx.seed(&s);
    let pre = ctx.sim.state();
    ctx.sim
        .inject(Fault::errcode(path, errcode, 1).with_lock_id(MAIN.id));
    let r = ctx.check_in(s.op);
    ctx.note("first run", &r);
    ctx.all_hit("first run");
    ctx.heal();
    let exp = Exp::usual(Some(s.op), ON_MAIN);
    ctx.check("first run", &r, &pre, exp);
    ctx.step(short(&r));
    let unknown = r.doors.iter().any(|d| d.now == DoorNow::Unknown);
    if !(r.outcome == Outcome::RolledBack || r.outcome == Outcome::Incomplete && unknown) {
        ctx.problem(format!("first run: {} after errcode {errcode}", short(&r)));
    }
    let want = HARD.iter().find(|(e, _)| *e == errcode).map(|(_, c)| *c);
    let got = door_of(&r, MAIN)
        .and_then(|d| d.error.as_ref())
        .map(|e| e.code());
    if got != want {
        ctx.problem(format!(
            "first run: the main door's error is {got:?}, expected {want:?}"
        ));
    }
    ctx.nothing_waits_then_follow_up(s.op);
}

/// The door waits, then its retry meets a failure that cannot pass.
fn run_retry_hard(ctx: &Ctx, row: Row, errcode: i64, path: &'static str) {
    let s = row.stays(ctx.base + HOUR_MS, ctx.base);
    ctx.seed(&s);
    let pre = ctx.sim.state();
    ctx.set_online(MAIN, false);
    let r = ctx.check_in(s.op);
    ctx.note("first run", &r);
    let exp = Exp::usual(Some(s.op), ON_MAIN);
    ctx.check("first run", &r, &pre, exp);
    ctx.step(short(&r));
    if r.outcome != Outcome::Pending {
        ctx.problem(format!("first run: {}", short(&r)));
        return;
    }
    ctx.heal();
    ctx.sim
        .inject(Fault::errcode(path, errcode, 1).with_lock_id(MAIN.id));
    let pre = ctx.sim.state();
    let what = "retry meets the failure";
    let got = ctx.retry_one(what);
    ctx.all_hit(what);
    ctx.heal();
    let Some((r, _, _)) = got else { return };
    let st = ctx.check(what, &r, &pre, exp);
    // A retry keeps a door waiting whatever went wrong (the arrival alert tells a person).
    if r.outcome != Outcome::Pending {
        ctx.problem(format!("{what}: {}", short(&r)));
    }
    // Nothing to undo on the room door: it keeps the live stay.
    let room = codes_on(&st, ROOM_101);
    if room != codes_of(Some(s.op)) {
        ctx.problem(format!(
            "{what}: the room door has {}",
            show_codes(ctx.base, &room)
        ));
    }
    let queued = !ctx.pending().is_empty();
    ctx.step(format!(
        "{} ({})",
        short(&r),
        if queued {
            "still queued"
        } else {
            "out of the queue"
        }
    ));
    let rs = ctx.retry("retry again", true);
    ctx.step(format!("retry again: {} report(s)", rs.len()));
    ctx.follow_up(s.op);
}

/// 6: the arrival has come (or comes) while the main door waits.
fn run_arrival(ctx: &Ctx, row: Row, soon: bool) {
    let arrival = if soon { now_ms() + SOON_MS } else { now_ms() };
    let s = row.stays(arrival, ctx.base);
    ctx.seed(&s);
    let pre = ctx.sim.state();
    ctx.set_online(MAIN, false);
    let r = ctx.check_in(s.op);
    ctx.note("first run", &r);
    let mut alerts = usize::from(r.alert.is_some());
    let exp = Exp {
        cur: Some(s.op),
        faulted: ON_MAIN,
        arrival_alert: !soon,
        strict: true,
        queue_is_pending: true,
    };
    ctx.check("first run", &r, &pre, exp);
    ctx.step(short(&r));
    if r.outcome != Outcome::Pending {
        ctx.problem(format!("first run: {}", short(&r)));
        return;
    }
    let alerted = ctx.pending_main_quiet().is_some_and(|p| p.alerted);
    if alerted == soon {
        ctx.problem(format!("first run: alerted {alerted}"));
    }
    let mut attempts = 1;
    if soon {
        ctx.not_due("retry before the arrival");
        let wait = arrival + 200 - now_ms();
        if wait > 0 {
            std::thread::sleep(Duration::from_millis(wait as u64));
        }
        // Due by the arrival alone (the next try is minutes away).
        let what = "scheduled retry at the arrival";
        let pre = ctx.sim.state();
        let rs = ctx.retry(what, false);
        attempts += 1;
        alerts += rs.iter().filter(|r| r.alert.is_some()).count();
        match rs.as_slice() {
            [r] => {
                ctx.check(
                    what,
                    r,
                    &pre,
                    Exp {
                        arrival_alert: true,
                        ..exp
                    },
                );
                if r.outcome != Outcome::Pending {
                    ctx.problem(format!("{what}: {}", short(r)));
                }
                ctx.step(format!("scheduled retry {}", short(r)));
            }
            _ => ctx.problem(format!("{what}: {} reports, expected one", rs.len())),
        }
        if !ctx.pending_main_quiet().is_some_and(|p| p.alerted) {
            ctx.problem(format!("{what}: not marked alerted"));
        }
    }
    ctx.not_due("scheduled retry after the alert");
    for k in 0..2 {
        let what = format!("retry {k} after the alert");
        let pre = ctx.sim.state();
        let Some((r, _, _)) = ctx.retry_one(&what) else {
            return;
        };
        attempts += 1;
        alerts += usize::from(r.alert.is_some());
        ctx.check(
            &what,
            &r,
            &pre,
            Exp {
                arrival_alert: false,
                ..exp
            },
        );
        if r.outcome != Outcome::Pending {
            ctx.problem(format!("{what}: {}", short(&r)));
        }
        match ctx.pending_main_quiet() {
            Some(p) if p.alerted && p.attempts == attempts => {}
            p => ctx.problem(format!("{what}: queue entry {p:?}")),
        }
    }
    ctx.heal();
    let what = "retry after the fault";
    let pre = ctx.sim.state();
    let Some((r, _, _)) = ctx.retry_one(what) else {
        return;
    };
    alerts += usize::from(r.alert.is_some());
    let st = ctx.check(
        what,
        &r,
        &pre,
        Exp {
            faulted: NONE,
            arrival_alert: false,
            ..exp
        },
    );
    if r.outcome != Outcome::Done {
        ctx.problem(format!("{what}: {}", short(&r)));
    }
    ctx.both_hold(what, &st, Some(s.op));
    if alerts != 1 {
        ctx.problem(format!("{alerts} arrival alerts, expected one"));
    }
    ctx.step(format!("retries, then {} ({alerts} alert)", short(&r)));
}

fn run_cell(spec: CellSpec) -> CellResult {
    let name = spec.name();
    let (sim, _dir, c, store) = cell_site(State::fixture(), "queue-fault");
    let ctx = Ctx {
        sim: &sim,
        c: &c,
        store: &store,
        base: next_hour(),
        problems: RefCell::default(),
        trail: RefCell::default(),
        verbose: RefCell::default(),
    };
    let lines = Rc::new(Lines::default());
    let started = Instant::now();
    host::with_host(lines.clone(), || match spec.kind {
        Kind::Main { col, path, then } => run_main(&ctx, spec.row, col, path, then),
        Kind::Room { col, path } => run_room(&ctx, spec.row, col, path),
        Kind::Hard { errcode, path } => run_hard(&ctx, spec.row, errcode, path),
        Kind::RetryHard { errcode, path } => run_retry_hard(&ctx, spec.row, errcode, path),
        Kind::Arrival { soon } => run_arrival(&ctx, spec.row, soon),
    });
    let took = started.elapsed();
    for code in CODES {
        if let Some(l) = lines.0.borrow().iter().find(|l| l.contains(code)) {
            ctx.problem(format!("a code in the module's log: {l}"));
        }
    }
    let mut line = format!(
        "queue fault cell {name}: {} in {:.2}s",
        ctx.trail.borrow().join(" -> "),
        took.as_secs_f64()
    );
    if verbose("TTLOCK_QUEUE_FAULTS_VERBOSE") {
        for v in ctx.verbose.borrow().iter() {
            line.push_str(&format!("\n    {v}"));
        }
    }
    let mut problems = ctx.problems.into_inner();
    if !problems.is_empty() {
        problems.extend(ctx.verbose.into_inner());
    }
    drop(sim);
    CellResult {
        name,
        line,
        problems,
        took,
    }
}

#[test]
fn queue_fault_matrix() {
    let mut specs = cells();
    check_names(&specs, CellSpec::name, KNOWN_BUGS);
    // `TTLOCK_QUEUE_FAULTS_CELLS=<part>`: only the cells whose name contains it.
    if let Ok(part) = std::env::var("TTLOCK_QUEUE_FAULTS_CELLS") {
        specs.retain(|s| s.name().contains(&part));
    }
    run_matrix("queue fault", specs, KNOWN_BUGS, run_cell);
}
