//! The stay fault matrix: every stay operation × one fault on one door, read against the
//! simulator's truth afterwards.
//!
//! Rooms: 101 (lock 1001, gateway 1) and 102 (lock 1002, moved to gateway 3 here), both with the
//! main door (lock 2001, gateway 2), so every door of a room has a gateway of its own and the
//! doors run in parallel. Operations, each from a state seeded with the operations themselves
//! (no fault): a new check-in, extend, shorten, a new code, check-out, a room move (room 102
//! checks in with the code room 101 holds: the main door is shared and gets the hull of both
//! stays) and the check-out of room 101 while room 102 shares its code (the main door shrinks to
//! room 102's stay).
//!
//! Faults, each on ONE door (`with_lock_id`), once on the room lock and once on the main door:
//! `offline` (the door's gateway is offline for the operation), and on each write endpoint the
//! operation uses on that door: `busy` (-3003 for as many requests as the client's busy retries
//! send for one step), `lost` (the answer is lost after the request was carried out), `timeout`
//! (the request waits longer than the client's timeout, then is carried out), `err1` / `err1+`
//! (errcode 1, "failed", without / after carrying the request out).
//!
//! Per cell, from the simulator's state after the operation (a timed-out request is given time
//! to land first):
//! 1. each door holds exactly its old or exactly its new codes (code, window, present or not),
//!    unless the report marks it `unknown`; doors of other rooms are untouched;
//! 2. the report's `now` of each door is what the simulator shows, its `held` is the lock's id
//!    and window, and `alert` is set exactly when a door is `unknown`;
//! 3. all-or-nothing operations leave every door new (done) or every door old (rolled back),
//!    else a door is unknown (incomplete); a check-out is done only with every door new;
//! 4. a failure names the faulted door in the status, only that door has an error, and no code
//!    is in the log line, the alert or the module's log;
//! 5. the stay memory matches the locks: each sure hold is on its lock with that id, code and
//!    window, every copy of the codes on a lock is remembered by some room, and the room's
//!    remembered stay is the report's;
//! 6. the same operation again without the fault converges: outcome done, every door new in the
//!    report and on the lock, no code twice on any lock, the memory still matching.
//!
//! `TTLOCK_STAY_FAULTS_VERBOSE=1` also prints each cell's status, log line and alert.
//!
//! Cells listed in [`KNOWN_BUGS`] run and are checked, but their problems are printed instead of
//! failing the test (see the comment at each entry).
mod common;
mod stay_matrix;

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

use common::{Lines, State};
use stay_matrix::{
    cell_site, check_names, code_in_texts, endpoint, fault_left, heal, hold_not_on_lock, hours,
    let_delayed_land, next_hour, no_code_twice, run_matrix, set_online, status_misses, stay_of,
    verbose, view, CellResult, Col, Lk, Win, ADD, BUSY_COUNT, CHANGE, CODE, CODE2, CODES, DELETE,
    MAIN, ROOM_101,
};
use ttlock::host;
use ttlock::ops::stay::{Action, DoorNow, FileStayStore, Outcome, StayReport, StayStore};
use ttlock::Client;
use ttlock_sim::{Fault, DAY_MS, HOUR_MS};

/// Cells that show a bug of src/ops/stay: they run and are checked like every cell, but their
/// problems are printed instead of failing the test.
const KNOWN_BUGS: &[&str] = &[];

/// Room 102's lock, on a gateway of its own here (see [`hotel`]).
const ROOM_102: Lk = Lk {
    id: 1002,
    name: "Room 102",
    gateway: 3,
};
const ALL_LOCKS: [Lk; 3] = [ROOM_101, ROOM_102, MAIN];

/// The fixture with lock 1002 on a third gateway: each room lock and the main door on a
/// gateway of its own.
fn hotel() -> State {
    let mut s = State::fixture();
    s.add_gateway(3, "GW floor 3");
    s.lock_mut(ROOM_102.id)
        .expect("fixture lock 1002")
        .gateway_ids = vec![3];
    s
}

/// The windows of a cell, from the next full hour.
#[derive(Clone, Copy, Debug)]
struct Times {
    base: i64,
    /// Room 101's stay.
    w1: Win,
    /// Extended, shortened.
    ext: Win,
    short: Win,
    /// Room 102's stay (the room move), and the main door's hull of both.
    wb: Win,
    hull: Win,
}

fn times() -> Times {
    let h = next_hour();
    Times {
        base: h,
        w1: (h + HOUR_MS, h + 3 * DAY_MS),
        ext: (h + HOUR_MS, h + 5 * DAY_MS),
        short: (h + HOUR_MS, h + 2 * DAY_MS),
        wb: (h + 2 * HOUR_MS, h + 6 * DAY_MS),
        hull: (h + HOUR_MS, h + 6 * DAY_MS),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    CheckIn,
    Extend,
    Shorten,
    NewCode,
    CheckOut,
    RoomMove,
    SharedCheckOut,
}

const OPS: [Op; 7] = [
    Op::CheckIn,
    Op::Extend,
    Op::Shorten,
    Op::NewCode,
    Op::CheckOut,
    Op::RoomMove,
    Op::SharedCheckOut,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Room,
    Main,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::CheckIn => "check_in",
            Op::Extend => "extend",
            Op::Shorten => "shorten",
            Op::NewCode => "new_code",
            Op::CheckOut => "check_out",
            Op::RoomMove => "room_move",
            Op::SharedCheckOut => "shared_check_out",
        }
    }

    /// The room the operation is for.
    fn room(self) -> &'static str {
        match self {
            Op::RoomMove => "102",
            _ => "101",
        }
    }

    fn lock(self, which: Which) -> Lk {
        match (which, self) {
            (Which::Main, _) => MAIN,
            (Which::Room, Op::RoomMove) => ROOM_102,
            (Which::Room, _) => ROOM_101,
        }
    }

    /// The write endpoints the operation uses on a door.
    fn paths(self, which: Which) -> &'static [&'static str] {
        match (self, which) {
            (Op::CheckIn, _) => &[ADD],
            (Op::Extend | Op::Shorten, _) => &[CHANGE],
            (Op::NewCode, _) => &[ADD, DELETE],
            (Op::CheckOut, _) => &[DELETE],
            (Op::RoomMove, Which::Room) => &[ADD],
            (Op::RoomMove, Which::Main) => &[CHANGE],
            (Op::SharedCheckOut, Which::Room) => &[DELETE],
            (Op::SharedCheckOut, Which::Main) => &[CHANGE],
        }
    }

    /// Check-in and changes are all-or-nothing; check-outs remove what they can.
    fn atomic(self) -> bool {
        !matches!(self, Op::CheckOut | Op::SharedCheckOut)
    }

    fn action(self) -> Action {
        match self {
            Op::CheckIn | Op::RoomMove => Action::CheckIn,
            Op::Extend => Action::Extend,
            Op::Shorten => Action::Shorten,
            Op::NewCode => Action::NewCode,
            Op::CheckOut | Op::SharedCheckOut => Action::CheckOut,
        }
    }
}

/// What a door holds of [`CODES`]: code → window (a code not listed is absent).
type Codes = BTreeMap<&'static str, Win>;

fn codes(list: &[(&'static str, Win)]) -> Codes {
    list.iter().copied().collect()
}

/// A door of the operation: what it holds before and what it should hold after.
#[derive(Clone, Debug)]
struct Exp {
    lock: Lk,
    old: Codes,
    new: Codes,
}

/// The doors of the operation (room lock first) and the other rooms' locks, which keep what
/// they hold.
fn expectations(op: Op, t: &Times) -> (Vec<Exp>, Vec<(Lk, Codes)>) {
    let both = |old: Codes, new: Codes| {
        vec![
            Exp {
                lock: ROOM_101,
                old: old.clone(),
                new: new.clone(),
            },
            Exp {
                lock: MAIN,
                old,
                new,
            },
        ]
    };
    let a = codes(&[(CODE, t.w1)]);
    match op {
        Op::CheckIn => (both(codes(&[]), a), vec![(ROOM_102, codes(&[]))]),
        Op::Extend => (
            both(a, codes(&[(CODE, t.ext)])),
            vec![(ROOM_102, codes(&[]))],
        ),
        Op::Shorten => (
            both(a, codes(&[(CODE, t.short)])),
            vec![(ROOM_102, codes(&[]))],
        ),
        Op::NewCode => (
            both(a, codes(&[(CODE2, t.w1)])),
            vec![(ROOM_102, codes(&[]))],
        ),
        Op::CheckOut => (both(a, codes(&[])), vec![(ROOM_102, codes(&[]))]),
        Op::RoomMove => (
            vec![
                Exp {
                    lock: ROOM_102,
                    old: codes(&[]),
                    new: codes(&[(CODE, t.wb)]),
                },
                Exp {
                    lock: MAIN,
                    old: a.clone(),
                    new: codes(&[(CODE, t.hull)]),
                },
            ],
            vec![(ROOM_101, a)],
        ),
        Op::SharedCheckOut => (
            vec![
                Exp {
                    lock: ROOM_101,
                    old: a,
                    new: codes(&[]),
                },
                Exp {
                    lock: MAIN,
                    old: codes(&[(CODE, t.hull)]),
                    new: codes(&[(CODE, t.wb)]),
                },
            ],
            vec![(ROOM_102, codes(&[(CODE, t.wb)]))],
        ),
    }
}

const ENDPOINT_COLS: [Col; 5] = [Col::Busy, Col::Lost, Col::Timeout, Col::Err1, Col::Err1Done];

/// The fault of a column on `lock` (`None`: the gateway goes offline instead): a busy gateway
/// for as many requests as one step sends, the others once.
fn fault_of(col: Col, path: &str, lock: Lk) -> Option<Fault> {
    let count = if col == Col::Busy { BUSY_COUNT } else { 1 };
    col.fault(path, count).map(|f| f.with_lock_id(lock.id))
}

#[derive(Clone, Copy, Debug)]
struct CellSpec {
    op: Op,
    which: Which,
    col: Col,
    /// The endpoint the fault is on (`None`: the gateway is offline).
    path: Option<&'static str>,
}

impl CellSpec {
    fn name(&self) -> String {
        let door = match self.which {
            Which::Room => "room",
            Which::Main => "main",
        };
        let at = endpoint(self.path);
        format!("{}/{door}/{}{at}", self.op.name(), self.col.name())
    }
}

fn cells() -> Vec<CellSpec> {
    let mut out = Vec::new();
    for op in OPS {
        for which in [Which::Room, Which::Main] {
            out.push(CellSpec {
                op,
                which,
                col: Col::Offline,
                path: None,
            });
            for path in op.paths(which) {
                for col in ENDPOINT_COLS {
                    out.push(CellSpec {
                        op,
                        which,
                        col,
                        path: Some(path),
                    });
                }
            }
        }
    }
    out
}

/// The stay operations with the cell's fixed doors and windows.
struct Site<'a> {
    c: &'a Client,
    store: &'a FileStayStore,
    t: Times,
}

impl Site<'_> {
    fn check_in(&self, room: &str, code: &str, w: Win) -> StayReport {
        let doors = match room {
            "102" => [ROOM_102, MAIN],
            _ => [ROOM_101, MAIN],
        };
        let stay = stay_of(room, code, w);
        stay_matrix::check_in(self.c, self.store, self.t.base, room, doors, stay, false)
    }

    fn check_out(&self, room: &str) -> StayReport {
        stay_matrix::check_out(self.c, self.store, self.t.base, room)
    }

    fn seed(&self, op: Op) {
        let mut steps = Vec::new();
        if op != Op::CheckIn {
            steps.push(self.check_in("101", CODE, self.t.w1));
        }
        if op == Op::SharedCheckOut {
            steps.push(self.check_in("102", CODE, self.t.wb));
        }
        for r in steps {
            assert!(
                r.outcome == Outcome::Done,
                "seeding {}: {:?}: {}",
                op.name(),
                r.outcome,
                r.status
            );
        }
    }

    fn run(&self, op: Op) -> StayReport {
        let t = self.t;
        match op {
            Op::CheckIn => self.check_in("101", CODE, t.w1),
            Op::Extend => self.check_in("101", CODE, t.ext),
            Op::Shorten => self.check_in("101", CODE, t.short),
            Op::NewCode => self.check_in("101", CODE2, t.w1),
            Op::CheckOut | Op::SharedCheckOut => self.check_out("101"),
            Op::RoomMove => self.check_in("102", CODE, t.wb),
        }
    }
}

/// The lock holds exactly `exp` of [`CODES`] (one copy each, with that window).
fn holds_exactly(st: &State, lock: Lk, exp: &Codes) -> bool {
    let v = view(st, lock);
    CODES.iter().all(|c| {
        let got = v.get(*c).map(Vec::as_slice).unwrap_or(&[]);
        match exp.get(c) {
            Some(w) => got.len() == 1 && (got[0].0, got[0].1) == *w,
            None => got.is_empty(),
        }
    })
}

/// What the simulator shows a door to be, relative to the cell's old and new state.
fn sim_now(st: &State, e: &Exp) -> Option<DoorNow> {
    if holds_exactly(st, e.lock, &e.new) {
        Some(DoorNow::New)
    } else if holds_exactly(st, e.lock, &e.old) {
        Some(DoorNow::Old)
    } else {
        None
    }
}

fn show_view(st: &State, lock: Lk, t: &Times) -> String {
    let v = view(st, lock);
    if v.is_empty() {
        return "nothing".into();
    }
    v.iter()
        .flat_map(|(c, list)| {
            list.iter()
                .map(move |(s, e, id)| format!("{c} id {id} {}", hours(t.base, (*s, *e))))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Check 5: the stay memory against the locks.
fn check_memory(
    st: &State,
    store: &FileStayStore,
    t: &Times,
    op: Op,
    report: &StayReport,
    what: &str,
    problems: &mut Vec<String>,
) {
    let rooms = match store.rooms() {
        Ok(r) => r,
        Err(e) => {
            problems.push(format!("{what}: the stay memory cannot be read: {e}"));
            return;
        }
    };
    // (lock, code, id when sure)
    let mut remembered: Vec<(i64, String, Option<i64>)> = Vec::new();
    let mut own_stay = None;
    for room in rooms {
        let Ok(Some(rec)) = store.load(&room) else {
            problems.push(format!("{what}: room {room}'s memory cannot be read"));
            continue;
        };
        if room == op.room() {
            own_stay = rec.stay.clone();
        }
        for h in &rec.holds {
            remembered.push((
                h.lock_id,
                h.passcode.clone(),
                h.passcode_id.filter(|_| h.sure),
            ));
            if !h.sure {
                continue;
            }
            if let Some(p) = hold_not_on_lock(st, h, t.base) {
                problems.push(format!("{what}: room {room} remembers {p}"));
            }
        }
    }
    for l in ALL_LOCKS {
        for p in st.passcodes(l.id) {
            if !CODES.contains(&p.keyboard_pwd.as_str()) {
                continue;
            }
            let known = remembered.iter().any(|(lock, code, id)| {
                *lock == l.id
                    && *code == p.keyboard_pwd
                    && id.is_none_or(|id| id == p.keyboard_pwd_id)
            });
            if !known {
                problems.push(format!(
                    "{what}: {} holds a code of the rooms (id {}) that no room's memory has",
                    l.name, p.keyboard_pwd_id
                ));
            }
        }
    }
    if own_stay != report.stay {
        problems.push(format!(
            "{what}: room {} remembers the stay {:?}, the report says {:?}",
            op.room(),
            own_stay.map(|s| hours(t.base, (s.valid_from_ms, s.valid_to_ms))),
            report
                .stay
                .as_ref()
                .map(|s| hours(t.base, (s.valid_from_ms, s.valid_to_ms)))
        ));
    }
}

/// Checks 1 to 4 of a faulted run (`faulted`: the door with the fault).
fn check_report(
    spec: &CellSpec,
    st: &State,
    report: &StayReport,
    t: &Times,
    lines: &[String],
    problems: &mut Vec<String>,
) {
    let op = spec.op;
    let (exps, bystanders) = expectations(op, t);
    let faulted = op.lock(spec.which);
    if report.action != op.action() {
        problems.push(format!(
            "action {:?}, expected {:?}",
            report.action,
            op.action()
        ));
    }
    let mut nows = Vec::new();
    for e in &exps {
        let Some(rep) = report.doors.iter().find(|d| d.lock_id == e.lock.id) else {
            problems.push(format!("{} is not in the report", e.lock.name));
            continue;
        };
        let is = sim_now(st, e);
        nows.push(rep.now);
        // 1 and 2: the lock holds old or new, and the report says which.
        match (rep.now, is) {
            (DoorNow::Unknown, _) => {}
            // A check-out's door waiting for its removal holds the old state, or the new one
            // when the failed answer hid a done request (the retry looks it up first).
            (DoorNow::Pending, Some(DoorNow::Old | DoorNow::New)) if !op.atomic() => {}
            (said, Some(is)) if said == is => {}
            (said, is) => problems.push(format!(
                "{}: the report says {}, the lock is {} ({})",
                e.lock.name,
                said.as_str(),
                is.map_or("neither old nor new", DoorNow::as_str),
                show_view(st, e.lock, t)
            )),
        }
        // The held id and window of the stay's code are the lock's.
        if let (DoorNow::New, Some(s)) = (rep.now, &report.stay) {
            let on_lock = view(st, e.lock)
                .get(&s.passcode)
                .and_then(|v| v.first().copied());
            let held = rep
                .held
                .as_ref()
                .map(|h| (h.window.from_ms, h.window.to_ms, h.passcode_id));
            let want = on_lock.map(|(s, e, id)| (s, e, Some(id)));
            if held != want {
                problems.push(format!(
                    "{}: the report holds {held:?}, the lock {want:?}",
                    e.lock.name
                ));
            }
        }
        if rep.error.is_some() && e.lock != faulted {
            problems.push(format!(
                "{} has an error without a fault: {:?}",
                e.lock.name, rep.error
            ));
        }
    }
    for (l, c) in &bystanders {
        if !holds_exactly(st, *l, c) {
            problems.push(format!(
                "{} (another room) changed: {}",
                l.name,
                show_view(st, *l, t)
            ));
        }
    }
    let unknown = nows.contains(&DoorNow::Unknown);
    if report.alert.is_some() != unknown {
        problems.push(format!(
            "alert {:?} while the doors are {nows:?}",
            report.alert
        ));
    }
    // 3: the outcome.
    let all = |n: DoorNow| nows.iter().all(|x| *x == n);
    let outcome_ok = match (unknown, report.outcome) {
        (true, o) => o == Outcome::Incomplete,
        (false, Outcome::Done) => all(DoorNow::New),
        (false, Outcome::RolledBack) => all(DoorNow::Old),
        (false, Outcome::Incomplete) => !op.atomic(),
        (false, Outcome::Unchanged) => false,
        // Check-outs queue the removals that failed for a passing reason; the others here are
        // all-or-nothing.
        (false, Outcome::Pending) => !op.atomic() && nows.contains(&DoorNow::Pending),
    };
    if !outcome_ok {
        problems.push(format!(
            "outcome {} with doors {nows:?}",
            report.outcome.as_str()
        ));
    }
    let finished = matches!(report.outcome, Outcome::Done | Outcome::Pending);
    if finished != report.error.is_none() {
        problems.push(format!(
            "outcome {} with error {:?}",
            report.outcome.as_str(),
            report.error
        ));
    }
    if spec.col == Col::Offline && report.outcome == Outcome::Done {
        problems.push("done although a door's gateway was offline".into());
    }
    // 4: the texts.
    problems.extend(status_misses(report, faulted));
    for code in CODES {
        problems.extend(code_in_texts(report, code));
        if let Some(l) = lines.iter().find(|l| l.contains(code)) {
            problems.push(format!("a code in the module's log: {l}"));
        }
    }
}

/// Check 6: the follow-up without a fault.
fn check_follow_up(op: Op, st: &State, report: &StayReport, t: &Times, problems: &mut Vec<String>) {
    let (exps, bystanders) = expectations(op, t);
    let action_ok = report.action == op.action()
        || matches!(report.action, Action::Unchanged | Action::NothingToCheckOut);
    if report.outcome != Outcome::Done || !action_ok || report.alert.is_some() {
        problems.push(format!(
            "follow-up: {} {} (alert {:?}): {}",
            report.action.as_str(),
            report.outcome.as_str(),
            report.alert,
            report.status
        ));
    }
    for e in &exps {
        let said = report
            .doors
            .iter()
            .find(|d| d.lock_id == e.lock.id)
            .map(|d| d.now);
        if said != Some(DoorNow::New) || !holds_exactly(st, e.lock, &e.new) {
            problems.push(format!(
                "follow-up: {} reported {:?}, the lock has {}",
                e.lock.name,
                said.map(DoorNow::as_str),
                show_view(st, e.lock, t)
            ));
        }
    }
    for (l, c) in &bystanders {
        if !holds_exactly(st, *l, c) {
            problems.push(format!(
                "follow-up: {} (another room) changed: {}",
                l.name,
                show_view(st, *l, t)
            ));
        }
    }
    no_code_twice(st, "follow-up", problems);
}

fn run_cell(spec: CellSpec) -> CellResult {
    let name = spec.name();
    let op = spec.op;
    let lock = op.lock(spec.which);
    let (sim, _dir, c, store) = cell_site(hotel(), "stay-fault");
    let t = times();
    let site = Site {
        c: &c,
        store: &store,
        t,
    };
    let lines = Rc::new(Lines::default());
    let mut problems = Vec::new();
    let started = Instant::now();
    let (report, took, follow, follow_took) = host::with_host(lines.clone(), || {
        site.seed(op);
        let (exps, _) = expectations(op, &t);
        let seeded = sim.state();
        for e in &exps {
            assert!(
                holds_exactly(&seeded, e.lock, &e.old),
                "{name}: seeding left {} with {}",
                e.lock.name,
                show_view(&seeded, e.lock, &t)
            );
        }
        match fault_of(spec.col, spec.path.unwrap_or(""), lock) {
            Some(f) => sim.inject(f),
            None => set_online(&sim, lock, false),
        }
        let t0 = Instant::now();
        let report = site.run(op);
        let took = t0.elapsed();
        if spec.col == Col::Timeout {
            let_delayed_land();
        }
        problems.extend(fault_left(&sim));
        heal(&sim);
        let after = sim.state();
        check_report(&spec, &after, &report, &t, &lines.0.borrow(), &mut problems);
        no_code_twice(&after, "after the fault", &mut problems);
        check_memory(
            &after,
            &store,
            &t,
            op,
            &report,
            "after the fault",
            &mut problems,
        );

        let t1 = Instant::now();
        let follow = site.run(op);
        let follow_took = t1.elapsed();
        let end = sim.state();
        check_follow_up(op, &end, &follow, &t, &mut problems);
        check_memory(&end, &store, &t, op, &follow, "follow-up", &mut problems);
        for code in CODES {
            if follow.log_line.contains(code) {
                problems.push(format!(
                    "follow-up: a code in the log line: {}",
                    follow.log_line
                ));
            }
        }
        (report, took, follow, follow_took)
    });
    let doors: Vec<String> = report
        .doors
        .iter()
        .map(|d| format!("{} {}", d.name, d.now.as_str()))
        .collect();
    let line = format!(
        "stay fault cell {name}: {} [{}]{} in {:.2}s; follow-up {} {} in {:.2}s",
        report.outcome.as_str(),
        doors.join(", "),
        if report.alert.is_some() { " alert" } else { "" },
        took.as_secs_f64(),
        follow.action.as_str(),
        follow.outcome.as_str(),
        follow_took.as_secs_f64()
    );
    let mut line = line;
    if verbose("TTLOCK_STAY_FAULTS_VERBOSE") {
        line.push_str(&format!(
            "\n    status: {}\n    log: {}\n    alert: {:?}\n    follow-up: {}",
            report.status, report.log_line, report.alert, follow.status
        ));
    }
    if !problems.is_empty() {
        problems.push(format!("status: {}", report.status));
    }
    drop(sim);
    CellResult {
        name,
        line,
        problems,
        took: started.elapsed(),
    }
}

#[test]
fn stay_fault_matrix() {
    let specs = cells();
    check_names(&specs, CellSpec::name, KNOWN_BUGS);
    run_matrix("stay fault", specs, KNOWN_BUGS, run_cell);
}
