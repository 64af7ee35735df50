//! A guest's stay: the check-in rules of the LM scripts (`rules`), the stay memory per room
//! (`record`), and the operations that keep every door in line with it: check-in, extend,
//! shorten, a new code, check-out and a room move (`plan` computes the steps, `apply` carries
//! them out, `text` says what holds now, door by door).
//!
//! Every operation runs under one lock for the site's stays (`state_dir/stays.lock`), so a
//! double trigger waits for the first one and two rooms sharing a code never race on a common
//! door. Check-in and changes are all-or-nothing: a failing door sends the doors already changed
//! back. A check-out removes what it can and keeps what it could not remove in the memory, so
//! the next operation of the room tries again.
use crate::client::Client;
use crate::error::{Code, Error, Result};
use crate::ops::gateways::GatewayMap;
use crate::ops::listing::find_code;
use crate::transport::now_ms;

mod apply;
mod offline;
mod plan;
mod record;
mod rules;
mod text;

pub use offline::{whole_hours, CodeMode, FIRST_USE_MS};
pub use plan::{Door, Held, Key, Phase, Plan, Step, Truth};
pub use record::{
    lock_stays, DoorInfo, FileStayStore, Hold, Pending, RoomRecord, Stay, StayStore, Window,
    RECORD_VERSION, STAYS_FILE, STAYS_LOCK_FILE, STAYS_LOCK_WAIT,
};
pub use rules::*;

/// What an operation did to the stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A new stay.
    CheckIn,
    /// The same code, a later departure.
    Extend,
    /// The same code, an earlier departure.
    Shorten,
    /// The same code, another arrival.
    ChangeDates,
    /// Another code for the live stay (lost code, re-issue).
    NewCode,
    /// The stay asked for is the one the doors hold.
    Unchanged,
    /// The stay ends now.
    CheckOut,
    /// Check-out of a room without a stay or code.
    NothingToCheckOut,
}

impl Action {
    /// The Lua `action`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::CheckIn => "check_in",
            Action::Extend => "extend",
            Action::Shorten => "shorten",
            Action::ChangeDates => "change_dates",
            Action::NewCode => "new_code",
            Action::Unchanged => "unchanged",
            Action::CheckOut => "check_out",
            Action::NothingToCheckOut => "nothing",
        }
    }

    fn of(old: Option<&Stay>, new: &Stay) -> Action {
        match old {
            None => Action::CheckIn,
            Some(o) if o.passcode != new.passcode => Action::NewCode,
            Some(o) if o.valid_from_ms != new.valid_from_ms => Action::ChangeDates,
            Some(o) if new.valid_to_ms > o.valid_to_ms => Action::Extend,
            Some(o) if new.valid_to_ms < o.valid_to_ms => Action::Shorten,
            Some(_) => Action::Unchanged,
        }
    }
}

/// How the doors were left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every door holds what was asked for.
    Done,
    /// Nothing was sent to any lock (refused input, a look-up or the memory failed).
    Unchanged,
    /// A door failed and every door is back where it was.
    RolledBack,
    /// Some doors hold the new state and some the old one, or a door's state is unknown.
    Incomplete,
    /// Done, except doors waiting in the queue (best effort).
    Pending,
}

impl Outcome {
    /// The Lua `outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Unchanged => "unchanged",
            Outcome::RolledBack => "rolled_back",
            Outcome::Incomplete => "incomplete",
            Outcome::Pending => "pending",
        }
    }
}

/// Where a door stands after the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoorNow {
    /// It holds what was asked for (for a check-out: the code is gone).
    New,
    /// It holds what it held before.
    Old,
    /// Neither, or not known: a person should look.
    Unknown,
    /// Waiting in the queue for a retry (best effort): it holds what it held.
    Pending,
}

impl DoorNow {
    /// The Lua `state`.
    pub fn as_str(self) -> &'static str {
        match self {
            DoorNow::New => "new",
            DoorNow::Old => "old",
            DoorNow::Unknown => "unknown",
            DoorNow::Pending => "pending",
        }
    }
}

/// One door in a report.
#[derive(Debug, Clone)]
pub struct DoorReport {
    /// The lock.
    pub lock_id: i64,
    /// Its name in the status.
    pub name: String,
    /// Where it stands.
    pub now: DoorNow,
    /// The id and window of the stay's code on it afterwards, when it has it.
    pub held: Option<Held>,
    /// Other rooms whose live stay shares the code on this door.
    pub shared_with: Vec<String>,
    /// The first failure on this door.
    pub error: Option<Error>,
    /// A step on this door was carried out and then undone.
    pub undone: bool,
    /// What the status says for the door.
    pub text: String,
}

/// What a stay operation did.
#[derive(Debug, Clone)]
pub struct StayReport {
    /// The room.
    pub room: String,
    /// What was done.
    pub action: Action,
    /// How the doors were left.
    pub outcome: Outcome,
    /// The room's live stay afterwards.
    pub stay: Option<Stay>,
    /// The room's doors (and any other lock the room had a code on).
    pub doors: Vec<DoorReport>,
    /// The first failure.
    pub error: Option<Error>,
    /// For the +9 object: what happened, door by door (may contain the guest's code).
    pub status: String,
    /// For the log (never the code).
    pub log_line: String,
    /// Set when a door may be in a state nobody asked for.
    pub alert: Option<String>,
}

impl StayReport {
    /// The id of the stay's code on the room lock (the +8 object).
    pub fn room_passcode_id(&self) -> Option<i64> {
        self.doors
            .first()
            .and_then(|d| d.held.as_ref())
            .and_then(|h| h.passcode_id)
    }

    fn refused(room: &str, action: Action, e: Error) -> StayReport {
        let status = format!("Error: {}", e.advice());
        StayReport {
            room: room.to_owned(),
            action,
            outcome: Outcome::Unchanged,
            stay: None,
            doors: Vec::new(),
            log_line: format!("{} refused: {}", action.as_str(), e.message()),
            error: Some(e),
            status,
            alert: None,
        }
    }
}

/// A check-in or a change of the room's live stay.
#[derive(Debug, Clone)]
pub struct CheckIn {
    /// The room's name.
    pub room: String,
    /// The room lock first, then the common doors.
    pub doors: Vec<Door>,
    /// The stay asked for (code checked, window from LM's objects).
    pub stay: Stay,
    /// Common doors that fail for a reason that can pass (gateway offline or busy, no answer)
    /// wait in the queue instead of undoing the others; the room door is always required.
    pub best_effort: bool,
}

/// What the LM objects still say about the room's code when its memory is lost.
#[derive(Debug, Clone, Default)]
pub struct Remembered {
    /// The code (+1).
    pub passcode: Option<String>,
    /// The passcode's name (+2).
    pub name: Option<String>,
    /// Its id on the room lock (+8).
    pub room_passcode_id: Option<i64>,
}

/// A check-out (or cancellation) of the room's stay.
#[derive(Debug, Clone)]
pub struct CheckOut {
    /// The room's name.
    pub room: String,
    /// The room lock first, then the common doors.
    pub doors: Vec<Door>,
    /// Used only when the room has no memory.
    pub remembered: Remembered,
}

/// `shown(ms)`: a time as the controller shows it ("05.12 11:00").
pub type Shown<'a> = &'a dyn Fn(i64) -> String;

/// The report of a check-in refused before anything was read or sent (bad objects).
pub fn check_in_refused(room: &str, e: Error) -> StayReport {
    StayReport::refused(room, Action::CheckIn, e)
}

/// Check in, or change the live stay (see the module comment).
pub fn check_in(c: &Client, store: &dyn StayStore, req: &CheckIn, shown: Shown) -> StayReport {
    let how = How {
        best_effort: req.best_effort,
        retry: false,
    };
    run(
        c,
        store,
        &req.room,
        &req.doors,
        Some(&req.stay),
        None,
        how,
        shown,
    )
}

/// Check out: remove the stay's code from every door now.
pub fn check_out(c: &Client, store: &dyn StayStore, req: &CheckOut, shown: Shown) -> StayReport {
    let how = How {
        best_effort: false,
        retry: false,
    };
    run(
        c,
        store,
        &req.room,
        &req.doors,
        None,
        Some(&req.remembered),
        how,
        shown,
    )
}

/// The memory of every room (records that cannot be read are logged and left out).
fn load_all(
    c: &Client,
    store: &dyn StayStore,
    room: &str,
) -> Result<(RoomRecord, Vec<RoomRecord>)> {
    let own = store
        .load(room)
        .map_err(|e| e.context(format!("reading the stay memory of room {room}")))?
        .unwrap_or_else(|| RoomRecord::new(room));
    let mut others = Vec::new();
    for r in store.rooms()? {
        if r == room {
            continue;
        }
        match store.load(&r) {
            Ok(Some(rec)) => others.push(rec),
            Ok(None) => {}
            Err(e) => c.log(format!(
                "ttlock: the stay memory of room {r} cannot be read, ignored: {}",
                e.message()
            )),
        }
    }
    Ok((own, others))
}

/// Unsure holds (a lost answer, or holds rebuilt from the LM objects) looked up on the lock.
fn resolve(c: &Client, rec: &mut RoomRecord, doors: &[Door]) -> Result<()> {
    let mut out = Vec::new();
    for h in std::mem::take(&mut rec.holds) {
        if h.sure {
            out.push(h);
            continue;
        }
        let found = find_code(c, h.lock_id, &h.passcode).map_err(|e| {
            let door = door_name(doors, h.lock_id);
            let advice = format!("could not check {door}: {}", e.advice());
            e.with_advice(advice)
        })?;
        let hit = found
            .iter()
            .find(|it| Some(it.passcode_id) == h.passcode_id)
            .or_else(|| {
                h.name
                    .as_ref()
                    .and_then(|n| found.iter().find(|it| it.name.as_ref() == Some(n)))
            });
        if let Some(it) = hit {
            out.push(Hold {
                passcode_id: Some(it.passcode_id),
                name: it.name.clone().or(h.name.clone()),
                valid_from_ms: it.start_ms.unwrap_or(h.valid_from_ms),
                valid_to_ms: it.end_ms.unwrap_or(h.valid_to_ms),
                sure: true,
                ..h
            });
        }
    }
    rec.holds = out;
    Ok(())
}

/// Holds rebuilt from the LM objects of a room whose memory is lost: the room lock by its id,
/// the common doors by the code and the passcode's name.
fn rebuilt_holds(doors: &[Door], m: &Remembered) -> Vec<Hold> {
    let Some(code) = &m.passcode else {
        return Vec::new();
    };
    doors
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let id = if i == 0 { m.room_passcode_id } else { None };
            (id.is_some() || m.name.is_some()).then(|| Hold {
                lock_id: d.lock_id,
                passcode: code.clone(),
                passcode_id: id,
                name: m.name.clone(),
                valid_from_ms: 0,
                valid_to_ms: i64::MAX,
                sure: false,
                offline: false,
            })
        })
        .collect()
}

pub(crate) fn door_name(doors: &[Door], lock_id: i64) -> String {
    doors
        .iter()
        .find(|d| d.lock_id == lock_id)
        .map(|d| d.name.clone())
        .unwrap_or_else(|| format!("lock {lock_id}"))
}

fn check_request(req: &Stay, live: Option<&Stay>, now: i64, shown: Shown) -> Result<()> {
    crate::ops::passcodes::check_code(&req.passcode)?;
    if live.is_none() {
        return check_stay(req.valid_from_ms, req.valid_to_ms, now, shown);
    }
    // A live stay may be changed after its arrival; its end must still lie ahead.
    if req.valid_to_ms <= now {
        return Err(Error::invalid_argument(format!(
            "departure {} is in the past: to end the stay now, use check-out",
            shown(req.valid_to_ms)
        )));
    }
    if req.valid_to_ms <= req.valid_from_ms {
        return Err(Error::invalid_argument(format!(
            "departure {} is not after arrival {}",
            shown(req.valid_to_ms),
            shown(req.valid_from_ms)
        )));
    }
    Ok(())
}

/// How an operation runs.
#[derive(Debug, Clone, Copy)]
struct How {
    /// Common doors that fail for a passing reason wait in the queue.
    best_effort: bool,
    /// A retry of waiting doors (the status says so).
    retry: bool,
}

#[allow(clippy::too_many_arguments)]
fn run(
    c: &Client,
    store: &dyn StayStore,
    room: &str,
    doors: &[Door],
    want: Option<&Stay>,
    remembered: Option<&Remembered>,
    how: How,
    shown: Shown,
) -> StayReport {
    let How { best_effort, retry } = how;
    let first_action = if want.is_some() || retry {
        Action::CheckIn
    } else {
        Action::CheckOut
    };
    if doors.is_empty() {
        let e = Error::misuse(Code::InvalidArgument, "a stay needs at least the room lock");
        return StayReport::refused(room, first_action, e);
    }
    let state_dir = c.config().state_dir.clone();
    let _lock = match lock_stays(&state_dir) {
        Ok(l) => l,
        Err(e) => return StayReport::refused(room, first_action, e),
    };
    let now = now_ms();
    let (mut own, mut others) = match load_all(c, store, room) {
        Ok(x) => x,
        Err(e) => return StayReport::refused(room, first_action, e),
    };
    own.drop_ended(now);
    for o in &mut others {
        o.drop_ended(now);
    }
    let old_stay = own.live_stay(now).cloned();
    // A retry applies the stay as the memory has it now (read under the lock), never a copy
    // taken before: the stay may have changed or ended since.
    let want = if retry { old_stay.as_ref() } else { want };
    if let Some(s) = want {
        if let Err(e) = check_request(s, old_stay.as_ref(), now, shown) {
            return StayReport::refused(room, first_action, e);
        }
    }
    if want.is_none() && own.is_empty() {
        if let Some(m) = remembered {
            own.holds = rebuilt_holds(doors, m);
            if !own.holds.is_empty() {
                c.log(format!(
                    "ttlock: room {room} has no stay memory: looking its code up by the passcode id and name of its objects"
                ));
            }
        }
    }
    if let Err(e) = resolve(c, &mut own, doors) {
        return StayReport::refused(room, first_action, e);
    }
    let map = GatewayMap::new(&state_dir);
    // Doors on TTLock's random codes are not planned: nothing reaches them after the code.
    let mut offline_locks = Vec::new();
    for d in doors {
        match offline::is_offline(c, &map, d.lock_id, d.mode) {
            Ok(true) => offline_locks.push(d.lock_id),
            Ok(false) => {}
            Err(e) => {
                let advice = format!(
                    "could not tell whether a gateway reaches {}: {}",
                    d.name,
                    e.advice()
                );
                return StayReport::refused(room, first_action, e.with_advice(advice));
            }
        }
    }
    let old_offline: Vec<Hold> = own.holds.iter().filter(|h| h.offline).cloned().collect();
    own.holds.retain(|h| !h.offline);
    let mut want_eff = want.cloned();
    let (kept_offline, notes) = match want_eff.as_mut() {
        Some(w) => {
            let asked = w.passcode.clone();
            let issued = offline::codes_for(
                c,
                doors,
                &offline_locks,
                &old_offline,
                old_stay.as_ref(),
                w,
                now,
            );
            if w.passcode != asked {
                w.asked = Some(asked);
            }
            match issued {
                Ok(x) => x,
                Err((holds, e)) => {
                    // Codes issued before the failure open their doors: remember them.
                    own.holds.extend(holds);
                    own.holds.extend(old_offline.iter().cloned());
                    if let Err(se) = store.save(room, Some(&own)) {
                        c.log(format!(
                            "ttlock: could not save the stay memory of room {room}: {}",
                            se.message()
                        ));
                    }
                    return StayReport::refused(room, first_action, e);
                }
            }
        }
        None => (Vec::new(), offline::left_open(&old_offline, now)),
    };
    let want = want_eff.as_ref();
    let gateway_doors: Vec<Door> = doors
        .iter()
        .filter(|d| !offline_locks.contains(&d.lock_id))
        .cloned()
        .collect();
    let action = match want {
        Some(s) => Action::of(old_stay.as_ref(), s),
        None if own.holds.is_empty() && old_offline.is_empty() && old_stay.is_none() => {
            Action::NothingToCheckOut
        }
        None => Action::CheckOut,
    };
    let plan = plan::plan(&own, &others, &gateway_doors, want, now);
    let atomic = want.is_some();
    let mut truth = plan.before.clone();
    let mut errors: Vec<(Key, Error)> = Vec::new();
    let mut undone: std::collections::BTreeSet<i64> = Default::default();
    let mut failed = false;
    let mut unanswered: std::collections::BTreeSet<Key> = Default::default();
    // Best effort: common doors that failed for a reason that can pass wait in the queue.
    let mut waiting: Vec<(Key, Error)> = Vec::new();
    for phase in [Phase::Grow, Phase::Shrink] {
        let steps: Vec<Step> = plan
            .steps
            .iter()
            .filter(|s| s.phase == phase)
            // A waiting door keeps what it has: no old code leaves before the new one came.
            .filter(|s| !waiting.iter().any(|(k, _)| k.0 == s.key.0))
            .cloned()
            .collect();
        if steps.is_empty() {
            continue;
        }
        for r in apply::run(c, &map, &steps) {
            if r.after.as_ref().is_some_and(|h| !h.sure) {
                unanswered.insert(r.key.clone());
            }
            truth.insert(r.key.clone(), r.after);
            if let Some(e) = r.error {
                failed = true;
                let e = code_taken(e, &door_name(doors, r.key.0));
                errors.push((r.key, e));
            }
        }
        // A door may wait in the queue when its failure can pass and it is: a common door of a
        // best-effort stay, any door of a check-out, or the removal of a code no stay uses any
        // more (an old code left over must not stop a new guest's check-in).
        let room_lock = doors[0].lock_id;
        let leftover = |k: &Key| {
            want.is_none_or(|w| w.passcode != k.1)
                && old_stay.as_ref().is_none_or(|o| o.passcode != k.1)
        };
        let may_wait = |k: &Key, e: &Error| {
            // A retry of a waiting door keeps it waiting whatever went wrong: the room door
            // holds the stay already, and the arrival alert tells a person in time.
            (retry && k.0 != room_lock)
                || (can_wait(e) && (!atomic || leftover(k) || (best_effort && k.0 != room_lock)))
        };
        if failed && errors.iter().all(|(k, e)| may_wait(k, e)) {
            waiting.append(&mut errors);
            failed = false;
            continue;
        }
        if failed && atomic {
            // Undone doors include waiting ones: all-or-nothing after all.
            errors.append(&mut waiting);
            let back = plan::back_to(&plan.before, &truth);
            undone.extend(back.iter().map(|s| s.key.0));
            for r in apply::run(c, &map, &back) {
                truth.insert(r.key.clone(), r.after);
                if let Some(e) = r.error {
                    errors.push((r.key, e.context("undoing")));
                }
            }
            // A write whose answer never came may still land after the undo: such a door is
            // not known to be back, so it stays unsure (the next operation looks it up).
            for key in &unanswered {
                if let Some(Some(h)) = truth.get_mut(key) {
                    h.sure = false;
                }
            }
            break;
        }
    }
    let finished = !failed;
    let stay_after = match (want, finished) {
        (Some(s), true) => Some(Stay {
            // A change of the live stay (extend, new code...) is the same stay: the guest who
            // arrived has arrived; the memory may know it even when the request does not.
            arrived_ms: s
                .arrived_ms
                .or(old_stay.as_ref().and_then(|o| o.arrived_ms)),
            ..s.clone()
        }),
        (Some(_), false) => old_stay.clone(),
        (None, _) => None,
    };
    let failed_keys: std::collections::BTreeSet<Key> = errors
        .iter()
        .chain(waiting.iter())
        .map(|(k, _)| k.clone())
        .collect();
    own.doors = doors
        .iter()
        .map(|d| DoorInfo {
            lock_id: d.lock_id,
            name: d.name.clone(),
            codes: Some(d.mode.as_str().to_owned()),
        })
        .collect();
    // An undone operation leaves the doors, and so the queue, as they were.
    let arrival_alert = if failed {
        None
    } else {
        queue(&mut own, &waiting, stay_after.as_ref(), now)
    };
    write_back(
        c,
        store,
        &mut own,
        &mut others,
        &plan,
        &truth,
        &failed_keys,
        if failed {
            // Undone: the offline codes the stay had still hold, next to any issued now.
            let mut all = kept_offline;
            for h in old_offline {
                if !all
                    .iter()
                    .any(|k| k.lock_id == h.lock_id && k.passcode == h.passcode)
                {
                    all.push(h);
                }
            }
            all
        } else {
            kept_offline
        },
        stay_after.clone(),
        now,
    );
    let ctx = text::Context {
        room,
        doors,
        action,
        old: old_stay.as_ref(),
        new: want,
        plan: &plan,
        truth: &truth,
        errors: &errors,
        undone: &undone,
        offline: &notes,
        waiting: &waiting,
        retry,
        shown,
    };
    let mut report = text::report(&ctx, stay_after);
    if let Some(a) = arrival_alert {
        report.alert = Some(match report.alert.take() {
            Some(other) => format!("{other}; {a}"),
            None => a,
        });
    }
    report
}

/// The advice for a code the door refused because it already has it (-3007): a code made by
/// other hands (the TTLock app, staff), which the stay memory did not know when the code was
/// drawn. Reception draws another one. Never the digits (the advice goes to logs and alerts).
fn code_taken(e: Error, door: &str) -> Error {
    if e.code() != Code::PasscodeExists {
        return e;
    }
    let advice = format!(
        "the code is already used on {door} by another code: switch the trigger off for a new code, then on again"
    );
    e.with_advice(advice)
}

/// Failures that can pass by themselves: a best-effort stay puts such a door in the queue.
fn can_wait(e: &Error) -> bool {
    // An answer that says nothing (errcode 1, a lost answer) waits too: the retry looks first.
    e.maybe_done()
        || matches!(
            e.code(),
            Code::GatewayOffline | Code::GatewayBusy | Code::Timeout | Code::Network
        )
}

/// First retry of a waiting door, then doubling, at most [`MAX_RETRY_GAP_MS`] apart.
const FIRST_RETRY_MS: i64 = 5 * 60_000;
/// The longest gap between two retries of a waiting door.
pub const MAX_RETRY_GAP_MS: i64 = 4 * 3_600_000;

/// The room's queue after an operation: `waiting` doors (counting earlier tries), none else.
/// Returns the alert when a door is still waiting at the guest's arrival (once per door).
fn queue(
    own: &mut RoomRecord,
    waiting: &[(Key, Error)],
    stay: Option<&Stay>,
    now: i64,
) -> Option<String> {
    let before = std::mem::take(&mut own.pending);
    let arrived = stay.is_some_and(|s| s.valid_from_ms <= now);
    let mut late = Vec::new();
    for (key, e) in waiting {
        if own.pending.iter().any(|p| p.lock_id == key.0) {
            continue;
        }
        let prev = before.iter().find(|p| p.lock_id == key.0);
        let attempts = prev.map_or(1, |p| p.attempts + 1);
        let gap = (FIRST_RETRY_MS << (attempts - 1).min(10)).min(MAX_RETRY_GAP_MS);
        let alerted = prev.is_some_and(|p| p.alerted);
        let name = own
            .doors
            .iter()
            .find(|d| d.lock_id == key.0)
            .map_or_else(|| format!("lock {}", key.0), |d| d.name.clone());
        if arrived && !alerted {
            late.push(format!("{name} ({})", e.advice()));
        }
        own.pending.push(Pending {
            lock_id: key.0,
            since_ms: prev.map_or(now, |p| p.since_ms),
            attempts,
            next_ms: now + gap,
            reason: e.advice().to_owned(),
            alerted: alerted || arrived,
            remove: stay.is_none(),
        });
    }
    (!late.is_empty()).then(|| {
        format!(
            "Room {}: the guest's arrival time has come and {} does not have the stay's code and dates yet: it is retried",
            own.room,
            late.join(", ")
        )
    })
}

/// Store what the locks hold now: the room's record (its live stay and every code it still
/// has to answer for) and the other rooms' holds on keys this operation touched.
#[allow(clippy::too_many_arguments)]
fn write_back(
    c: &Client,
    store: &dyn StayStore,
    own: &mut RoomRecord,
    others: &mut [RoomRecord],
    plan: &Plan,
    truth: &Truth,
    failed: &std::collections::BTreeSet<Key>,
    offline_holds: Vec<Hold>,
    stay_after: Option<Stay>,
    now: i64,
) {
    let code_after = stay_after.as_ref().map(|s| s.passcode.clone());
    let mut holds = Vec::new();
    for (key, held) in truth {
        let Some(h) = held else { continue };
        let shared = plan.shared_with.get(key).is_some_and(|v| !v.is_empty());
        // A code only other stays use is theirs to keep, unless this room's step on it failed
        // (a shared door not yet narrowed): the room answers for that until it is done.
        if shared && code_after.as_deref() != Some(key.1.as_str()) && !failed.contains(key) {
            continue;
        }
        holds.push(h.hold(key));
    }
    own.holds = holds;
    own.holds.extend(offline_holds);
    own.stay = stay_after;
    own.version = RECORD_VERSION;
    own.updated_ms = now;
    own.drop_ended(now);
    save_record(c, store, own);
    for o in others.iter_mut() {
        let mut changed = false;
        let mut kept = Vec::new();
        for h in std::mem::take(&mut o.holds) {
            let key = (h.lock_id, h.passcode.clone());
            match truth.get(&key) {
                Some(Some(t)) => {
                    let new = t.hold(&key);
                    changed |= new != h;
                    kept.push(new);
                }
                Some(None) => changed = true,
                None => kept.push(h),
            }
        }
        o.holds = kept;
        if changed {
            o.updated_ms = now;
            if let Err(e) = store.save(&o.room, Some(o)) {
                c.log(format!(
                    "ttlock: could not save the stay memory of room {}: {}",
                    o.room,
                    e.message()
                ));
            }
        }
    }
}

/// Retry the doors waiting in the queue (best-effort stays) whose time has come, and those
/// still waiting when the guest's arrival has come (the report carries the alert, once). Each
/// retry takes the stay as the memory has it now, so a stay changed or ended meanwhile gets its
/// current state, never the old one. Returns one report per room tried.
/// `all`: every waiting door now, whatever its schedule (a person asked for it).
pub fn retry_pending(
    c: &Client,
    store: &dyn StayStore,
    all: bool,
    shown: Shown,
) -> Result<Vec<StayReport>> {
    let now = now_ms();
    let due: Vec<RoomRecord> = {
        let _lock = lock_stays(&c.config().state_dir)?;
        let mut due = Vec::new();
        for room in store.rooms()? {
            let Some(mut rec) = store.load(&room)? else {
                continue;
            };
            if rec.drop_ended(now) {
                save_record(c, store, &rec);
            }
            if !rec.pending.is_empty() && (all || rec.retry_due(now)) {
                due.push(rec);
            }
        }
        due
    };
    let mut reports = Vec::new();
    for rec in due {
        let doors: Vec<Door> = rec
            .doors
            .iter()
            .map(|d| Door {
                mode: d
                    .codes
                    .as_deref()
                    .and_then(CodeMode::parse)
                    .unwrap_or_default(),
                ..Door::new(d.lock_id, d.name.clone())
            })
            .collect();
        if doors.is_empty() {
            continue;
        }
        let how = How {
            best_effort: true,
            retry: true,
        };
        reports.push(run(
            c, store, &rec.room, &doors,
            // `run` takes the stay from the memory it reads under the lock (none: what waits
            // is the removal of a checked-out stay's code).
            None, None, how, shown,
        ));
    }
    Ok(reports)
}

/// Save a room's record (an empty one is forgotten); a failure is logged. True when saved.
fn save_record(c: &Client, store: &dyn StayStore, rec: &RoomRecord) -> bool {
    let saved = if rec.is_empty() {
        store.save(&rec.room, None)
    } else {
        store.save(&rec.room, Some(rec))
    };
    if let Err(e) = &saved {
        c.log(format!(
            "ttlock: could not save the stay memory of room {}: {}",
            rec.room,
            e.message()
        ));
    }
    saved.is_ok()
}

/// The codes of live stays, as (lock, id): the purge never deletes them, whatever window the
/// lock shows. Also drops ended records from the store (nothing keeps an ended stay's code).
pub fn live_codes(c: &Client, store: &dyn StayStore) -> Result<Vec<(i64, i64)>> {
    let _lock = lock_stays(&c.config().state_dir)?;
    let now = now_ms();
    let mut keep = Vec::new();
    for room in store.rooms()? {
        let Some(mut rec) = store.load(&room)? else {
            continue;
        };
        if rec.drop_ended(now) && save_record(c, store, &rec) && rec.is_empty() {
            c.log(format!(
                "ttlock: the stay of room {room} has ended: its memory is dropped"
            ));
        }
        if let Some(s) = rec.live_stay(now) {
            for h in rec.holds.iter().filter(|h| h.passcode == s.passcode) {
                if let Some(id) = h.passcode_id {
                    keep.push((h.lock_id, id));
                }
            }
        }
    }
    Ok(keep)
}

/// A live stay as the door events poller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveStay {
    /// The room.
    pub room: String,
    /// The stay (its code included: never shown).
    pub stay: Stay,
    /// The room's doors, room lock first.
    pub lock_ids: Vec<i64>,
}

/// Every room's live stay, read without the stays' lock (a snapshot; nothing is written). A
/// room whose record cannot be read is left out and logged (once per process), so one broken
/// record does not stop the door events of the others.
pub fn live_stays(c: &Client, store: &dyn StayStore, now: i64) -> Result<Vec<LiveStay>> {
    static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut out = Vec::new();
    for room in store.rooms()? {
        let rec = match store.load(&room) {
            Ok(Some(rec)) => rec,
            Ok(None) => continue,
            Err(e) => {
                let mut said = SAID.lock().unwrap_or_else(|p| p.into_inner());
                if !said.contains(&room) {
                    said.push(room.clone());
                    c.log(format!(
                        "ttlock: the stay memory of room {room} cannot be read, so its guest's arrival is not looked for: {}",
                        e.message()
                    ));
                }
                continue;
            }
        };
        if let Some(s) = rec.live_stay(now) {
            let mut lock_ids: Vec<i64> = rec.doors.iter().map(|d| d.lock_id).collect();
            for h in rec.holds.iter().filter(|h| h.passcode == s.passcode) {
                if !lock_ids.contains(&h.lock_id) {
                    lock_ids.push(h.lock_id);
                }
            }
            out.push(LiveStay {
                room: room.clone(),
                stay: s.clone(),
                lock_ids,
            });
        }
    }
    Ok(out)
}

/// Remembers that the guest of `room` arrived at `at_ms`, if the room's live stay is still the
/// one whose code `passcode` is and has not arrived yet. True when this call marked it (under
/// the stays' lock, so a check-in changing the stay at the same time is not lost).
pub fn mark_arrived(
    c: &Client,
    store: &dyn StayStore,
    room: &str,
    passcode: &str,
    at_ms: i64,
) -> Result<bool> {
    let _lock = lock_stays(&c.config().state_dir)?;
    let now = now_ms();
    let Some(mut rec) = store.load(room)? else {
        return Ok(false);
    };
    let Some(stay) = rec.stay.as_mut().filter(|s| s.is_live(now)) else {
        return Ok(false);
    };
    if stay.passcode != passcode {
        return Ok(false);
    }
    match stay.arrived_ms {
        // An earlier opening found later (another door polled after): the arrival's time is
        // the first opening's, and it is still one arrival.
        Some(t) if at_ms < t => {
            stay.arrived_ms = Some(at_ms);
            store.save(room, Some(&rec))?;
            Ok(false)
        }
        Some(_) => Ok(false),
        None => {
            stay.arrived_ms = Some(at_ms);
            store.save(room, Some(&rec))?;
            Ok(true)
        }
    }
}

/// Every code the stay memory knows, whatever the room or lock: the live stays' codes and every
/// code a room holds on a door (an old code whose removal failed, an offline door's code). A
/// room whose record cannot be read is logged and left out (a code of its is then met by the
/// add: -3007). Reads only; no API call, no lock (a fresh code is a draw, not a change).
pub fn codes_in_memory(
    c: &Client,
    store: &dyn StayStore,
) -> Result<std::collections::BTreeSet<String>> {
    let mut codes = std::collections::BTreeSet::new();
    let rooms = store
        .rooms()
        .map_err(|e| e.context("reading the rooms of the stay memory"))?;
    for room in rooms {
        match store.load(&room) {
            Ok(Some(rec)) => {
                codes.extend(rec.stay.map(|s| s.passcode));
                codes.extend(rec.holds.into_iter().map(|h| h.passcode));
            }
            Ok(None) => {}
            Err(e) => c.log(format!(
                "ttlock: the stay memory of room {room} cannot be read, its codes are not avoided: {}",
                e.message()
            )),
        }
    }
    Ok(codes)
}

/// A fresh random code for a room (LM: trigger false, and after a check-out) that no door of
/// the site holds as far as the stay memory knows: no API call. The add that uses it later
/// meets a code made by other hands (TTLock app, staff) on a door: -3007, and the check-in is
/// undone with advice to draw another code.
pub fn fresh_code(
    c: &Client,
    store: &dyn StayStore,
    digits: usize,
    avoid: &[String],
) -> Result<String> {
    let mut known = codes_in_memory(c, store)?;
    known.extend(avoid.iter().cloned());
    crate::ops::passcodes::generate_avoiding(digits, &known)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::TokenStore;
    use crate::config::Config;
    use std::collections::BTreeMap;

    /// Rooms in memory; a room mapped to `None` cannot be read.
    struct Mem(BTreeMap<String, Option<RoomRecord>>);

    impl StayStore for Mem {
        fn rooms(&self) -> Result<Vec<String>> {
            Ok(self.0.keys().cloned().collect())
        }
        fn load(&self, room: &str) -> Result<Option<RoomRecord>> {
            match self.0.get(room) {
                Some(Some(r)) => Ok(Some(r.clone())),
                Some(None) => Err(Error::new(Code::BadResponse, "unreadable")),
                None => Ok(None),
            }
        }
        fn save(&self, _: &str, _: Option<&RoomRecord>) -> Result<()> {
            unreachable!("fresh codes never write the memory")
        }
    }

    fn hold(lock_id: i64, code: &str) -> Hold {
        Hold {
            lock_id,
            passcode: code.into(),
            passcode_id: Some(1),
            valid_from_ms: 0,
            valid_to_ms: 1,
            name: None,
            sure: true,
            offline: false,
        }
    }

    #[test]
    fn memory_codes_are_every_rooms_stay_and_holds() {
        let mut r101 = RoomRecord::new("101");
        r101.stay = Some(Stay {
            passcode: "48213".into(),
            name: "101_01120512".into(),
            valid_from_ms: 0,
            valid_to_ms: 1,
            asked: None,
            arrived_ms: None,
        });
        r101.holds = vec![
            hold(1001, "48213"),
            hold(2001, "48213"),
            hold(2001, "11223"),
        ];
        let mut r102 = RoomRecord::new("102");
        r102.holds = vec![hold(1002, "59371")];
        let mem = Mem(BTreeMap::from([
            ("101".to_owned(), Some(r101)),
            ("102".to_owned(), Some(r102)),
            ("103".to_owned(), None),
        ]));
        #[derive(Default)]
        struct Lines(std::cell::RefCell<Vec<String>>);
        impl crate::host::Host for Lines {
            fn load_tokens(&self) -> Result<Option<crate::host::TokenRecord>> {
                Ok(None)
            }
            fn save_tokens(&self, _: &crate::host::TokenRecord) -> Result<()> {
                Ok(())
            }
            fn log(&self, _: crate::host::Level, line: &str) {
                self.0.borrow_mut().push(line.to_owned());
            }
        }
        let mut cfg = Config::new("cid", "secret");
        cfg.state_dir = "/nonexistent/never/created".into();
        let c = Client::new(cfg, TokenStore::File).unwrap();
        let host = std::rc::Rc::new(Lines::default());
        let codes = crate::host::with_host(host.clone(), || codes_in_memory(&c, &mem)).unwrap();
        let want: Vec<&str> = vec!["11223", "48213", "59371"];
        assert_eq!(codes.iter().map(String::as_str).collect::<Vec<_>>(), want);
        {
            let lines = host.0.borrow();
            assert_eq!(lines.len(), 1, "{lines:?}");
            assert!(lines[0].contains("room 103") && !lines[0].contains("4821"));
        }
        // A fresh code is none of them (and no store write: `save` panics).
        for _ in 0..200 {
            let code =
                crate::host::with_host(host.clone(), || fresh_code(&c, &mem, 5, &[])).unwrap();
            assert!(!codes.contains(&code));
        }
        // Codes to avoid besides the memory (staff codes from the settings) are avoided too.
        let staff: Vec<String> = (0..10_000).map(|n| format!("{:05}", n * 10)).collect();
        for _ in 0..50 {
            let code =
                crate::host::with_host(host.clone(), || fresh_code(&c, &mem, 5, &staff)).unwrap();
            assert!(!staff.contains(&code) && !codes.contains(&code));
        }
    }
}
