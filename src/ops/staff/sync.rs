//! `staff_sync`: the plan's calls, doors on different gateways at the same time and the steps
//! of one lock one after the other (removals first: they free room and digits), then the
//! record and the report.
use super::plan::{plan, Reason, Status, Step, StepKind};
use super::{
    digest, guest_codes, lock_staff, record_version, StaffCode, StaffEntry, StaffRequest,
    StaffStore,
};
use crate::api::{self, AddPasscode, Validity, Via};
use crate::client::Client;
use crate::error::{Code, Error, Result};
use crate::ops::gateways::GatewayMap;
use crate::ops::listing::find_code;
use crate::ops::passcodes::{
    change_passcode, delete_passcode, record_added, window_matches, AddRequest, ChangeRequest,
    LockResult,
};
use crate::ops::schedule::{busy_retry, per_gateway};
use crate::ops::stay::StayStore;
use crate::transport::now_ms;

/// One staff code on one door, as the sync left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoorResult {
    /// The staff code's name.
    pub name: String,
    /// The lock.
    pub lock_id: i64,
    /// The door's name (or "lock <id>").
    pub door: String,
    /// What happened (on a dry run: what would happen).
    pub status: Status,
    /// Why a code was removed (`Removed` only; `Ended` also for an ended period).
    pub reason: Option<Reason>,
    /// The code's id on the lock when the sync holds one there.
    pub passcode_id: Option<i64>,
    /// Why it failed (`Failed`, and `Collision` when TTLock said so).
    pub error: Option<Error>,
    /// One line for the log: the name and the door, never the digits.
    pub text: String,
    /// The validity the settings ask for (absent for a removed code).
    pub validity: Option<Validity>,
}

/// What `staff_sync` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffReport {
    /// Nothing was sent.
    pub dry_run: bool,
    /// One entry per staff code and door of the settings, then the removed ones.
    pub doors: Vec<DoorResult>,
}

impl StaffReport {
    /// How many entries have this status.
    pub fn count(&self, s: Status) -> usize {
        self.doors.iter().filter(|d| d.status == s).count()
    }

    /// The texts a person must act on: collisions and failures.
    pub fn alerts(&self) -> Vec<String> {
        self.doors
            .iter()
            .filter(|d| matches!(d.status, Status::Collision | Status::Failed))
            .map(|d| d.text.clone())
            .collect()
    }

    /// One line: the counts that are not zero.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = [
            Status::Added,
            Status::Changed,
            Status::Removed,
            Status::Unchanged,
            Status::Ended,
            Status::Collision,
            Status::Failed,
        ]
        .iter()
        .filter_map(|s| {
            let n = self.count(*s);
            (n > 0).then(|| format!("{n} {}", s.as_str()))
        })
        .collect();
        let head = if self.dry_run {
            "staff codes (dry run, nothing sent)"
        } else {
            "staff codes"
        };
        if parts.is_empty() {
            format!("{head}: none configured")
        } else {
            format!("{head}: {}", parts.join(", "))
        }
    }
}

/// How a step changes the record.
#[derive(Debug, Clone)]
enum Keep {
    Same,
    Put(StaffEntry),
    Remove,
}

/// A step's outcome.
#[derive(Debug, Clone)]
struct Done {
    status: Status,
    passcode_id: Option<i64>,
    error: Option<Error>,
    record: Keep,
    /// Said after the name and door instead of the status's usual words.
    note: Option<String>,
}

impl Done {
    fn ok(status: Status, id: Option<i64>, record: Keep) -> Done {
        Done {
            status,
            passcode_id: id,
            error: None,
            record,
            note: None,
        }
    }

    fn failed(e: Error, record: Keep, note: impl Into<String>) -> Done {
        Done {
            status: Status::Failed,
            passcode_id: None,
            error: Some(e),
            record,
            note: Some(note.into()),
        }
    }
}

fn entry_of(code: &StaffCode, lock_id: i64, id: Option<i64>) -> StaffEntry {
    let (valid_from_ms, valid_to_ms) = match code.validity {
        Validity::Permanent => (0, 0),
        Validity::Period { start_ms, end_ms } => (start_ms, end_ms),
    };
    StaffEntry {
        name: code.name.clone(),
        lock_id,
        passcode_id: id,
        digest: digest(lock_id, &code.passcode),
        valid_from_ms,
        valid_to_ms,
    }
}

/// The staff code's validity as TTLock's add takes it.
fn add_request(code: &StaffCode, lock_id: i64) -> AddRequest {
    AddRequest {
        lock_id,
        also_lock_ids: Vec::new(),
        passcode: code.passcode.clone(),
        name: Some(code.name.clone()),
        validity: code.validity,
        atomic: false,
    }
}

/// Add on one lock. A lost answer or "exists" is looked up: a copy with our name and validity
/// is ours only after a lost answer of ours (`adopt`); any other copy was made elsewhere and is
/// a collision, never touched.
fn add(c: &Client, map: &GatewayMap, code: &StaffCode, lock_id: i64, mut adopt: bool) -> Done {
    let req = AddPasscode {
        lock_id,
        passcode: code.passcode.clone(),
        name: Some(code.name.clone()),
        validity: code.validity,
        via: Via::Gateway,
    };
    let mut last: Option<Error> = None;
    for _ in 0..2 {
        let added = {
            let _turn = map.turn(c, lock_id);
            busy_retry(c, "staff code add", || api::keyboard_pwd_add(c, &req))
        };
        let e = match added {
            Ok(id) => {
                note_ledger(c, code, lock_id, id);
                return Done::ok(
                    Status::Added,
                    Some(id),
                    Keep::Put(entry_of(code, lock_id, Some(id))),
                );
            }
            Err(e) => e,
        };
        map.note_error(c, lock_id, &e);
        let exists = e.code() == Code::PasscodeExists;
        if !(exists || e.maybe_done()) {
            return Done::failed(e, Keep::Same, "not added");
        }
        adopt |= e.maybe_done();
        let found = match find_code(c, lock_id, &code.passcode) {
            Ok(found) => found,
            Err(le) => {
                // After a lost answer the lock may have it: remember that (no id).
                let keep = if adopt {
                    Keep::Put(entry_of(code, lock_id, None))
                } else {
                    Keep::Same
                };
                let e = e.with_message(format!(
                    "lock {lock_id}: staff code add unclear, and looking it up failed: {}",
                    le.message()
                ));
                return Done::failed(e, keep, "not added (or not known to be added)");
            }
        };
        let ours = found.iter().find(|it| {
            adopt
                && it.name.as_deref() == Some(code.name.as_str())
                && window_matches(it, &code.validity)
        });
        if let Some(it) = ours {
            note_ledger(c, code, lock_id, it.passcode_id);
            return Done::ok(
                Status::Added,
                Some(it.passcode_id),
                Keep::Put(entry_of(code, lock_id, Some(it.passcode_id))),
            );
        }
        if !found.is_empty() {
            let e = Error::from_errcode(-3007, None)
                .with_message(format!(
                    "lock {lock_id}: the staff code is already on the lock and the staff sync did not make it"
                ))
                .with_advice("choose another staff code");
            return Done {
                status: Status::Collision,
                passcode_id: None,
                error: Some(e),
                record: Keep::Remove,
                note: Some(
                    "the code is already on this door and the staff sync did not make it (the TTLock app, or a guest's code): choose another staff code".into(),
                ),
            };
        }
        last = Some(e);
    }
    let e = last.expect("a failed attempt").context(format!(
        "lock {lock_id}: staff code not added (the look-up finds no copy)"
    ));
    Done::failed(e, Keep::Same, "not added")
}

/// The ledger knows the staff code like every code the module made (the purge's count).
fn note_ledger(c: &Client, code: &StaffCode, lock_id: i64, id: i64) {
    let r = LockResult {
        lock_id,
        passcode_id: Some(id),
        error: None,
        existing: false,
        maybe_added: false,
        rolled_back: None,
        rollback_error: None,
    };
    record_added(c, &add_request(code, lock_id), &[r]);
}

/// One step that calls TTLock.
fn run(c: &Client, map: &GatewayMap, step: &Step) -> Done {
    let lock = step.lock_id;
    let id = step.entry.as_ref().and_then(|e| e.passcode_id);
    match (&step.kind, &step.code) {
        (StepKind::Add { adopt }, Some(code)) => add(c, map, code, lock, *adopt),
        (StepKind::Change { digits, window }, Some(code)) => {
            let Some(id) = id else {
                return add(c, map, code, lock, false);
            };
            let req = ChangeRequest {
                lock_id: lock,
                passcode_id: id,
                passcode: digits.then(|| code.passcode.clone()),
                name: None,
                window: match (window, code.validity) {
                    (true, Validity::Period { start_ms, end_ms }) => Some((start_ms, end_ms)),
                    _ => None,
                },
            };
            match change_passcode(c, &req) {
                Ok(()) => Done::ok(
                    Status::Changed,
                    Some(id),
                    Keep::Put(entry_of(code, lock, Some(id))),
                ),
                Err(e) if e.rules().item_gone => {
                    // Deleted elsewhere (the TTLock app): the settings still want it.
                    let mut d = add(c, map, code, lock, false);
                    if d.status == Status::Added {
                        d.note = Some("was gone from the door (deleted in the TTLock app?): added again".into());
                    }
                    d
                }
                Err(e) if e.code() == Code::PasscodeExists => Done {
                    status: Status::Collision,
                    passcode_id: Some(id),
                    error: Some(e),
                    record: Keep::Same,
                    note: Some("the new code is already on this door and the staff sync did not make it: choose another staff code; the old staff code stays".into()),
                },
                Err(e) => Done::failed(e, Keep::Same, "not changed, the door keeps the old staff code"),
            }
        }
        (StepKind::Replace, Some(code)) => {
            if let Some(id) = id {
                if let Err(e) = delete_passcode(c, lock, id) {
                    if !e.rules().item_gone {
                        return Done::failed(e, Keep::Same, "not changed, the door keeps the old staff code");
                    }
                }
            }
            let mut d = add(c, map, code, lock, false);
            match d.status {
                Status::Added => {
                    d.status = Status::Changed;
                    d.note = Some("changed (permanent and period: the old code deleted, the new one added)".into());
                }
                Status::Failed => {
                    d.record = Keep::Remove;
                    d.note = Some("the old staff code is deleted and the new one could not be added".into());
                }
                _ => {}
            }
            d
        }
        (StepKind::Delete(_), _) => match id {
            Some(id) => match delete_passcode(c, lock, id) {
                Ok(()) => Done::ok(Status::Removed, None, Keep::Remove),
                Err(e) if e.rules().item_gone => Done::ok(Status::Removed, None, Keep::Remove),
                Err(e) => Done::failed(e, Keep::Same, "not removed, it still opens the door"),
            },
            None => Done::failed(
                Error::new(
                    Code::ApiError,
                    format!("lock {lock}: an earlier add of this staff code was not answered"),
                )
                .with_advice("look for the staff code's name on this door in the TTLock app and delete it there"),
                Keep::Remove,
                "an earlier add was not answered, so the sync cannot delete it",
            ),
        },
        _ => Done::ok(step.kind.status(), id, Keep::Same),
    }
}

fn validity_words(v: Validity) -> &'static str {
    match v {
        Validity::Permanent => "permanent",
        Validity::Period { .. } => "for its period",
    }
}

/// The log line of a step (never the digits).
fn text(step: &Step, door: &str, d: &Done, dry: bool) -> String {
    let head = format!("{} on {door}", step.name);
    if let Some(n) = &d.note {
        let advice = d
            .error
            .as_ref()
            .filter(|_| d.status == Status::Failed)
            .map(|e| format!(": {}", e.advice()))
            .unwrap_or_default();
        return format!("{head}: {n}{advice}");
    }
    let would = if dry { "would be " } else { "" };
    let v = step.code.as_ref().map(|c| c.validity);
    let body = match (&step.kind, d.status) {
        (_, Status::Added) => format!(
            "{would}added ({})",
            v.map_or("", validity_words)
        ),
        (StepKind::Change { digits, window }, Status::Changed) => format!(
            "{would}changed ({})",
            match (digits, window) {
                (true, true) => "new code and period",
                (true, false) => "new code",
                _ => "new period",
            }
        ),
        (_, Status::Changed) => format!("{would}changed (permanent and period: deleted and added again)"),
        (StepKind::Delete(r), Status::Removed) => format!(
            "{would}removed ({})",
            match r {
                Reason::Revoked => "no longer in the settings",
                Reason::DoorDropped => "the settings no longer send it to this door",
                Reason::Ended => "its period has ended",
            }
        ),
        (_, Status::Unchanged) => "unchanged".into(),
        (_, Status::Ended) => {
            "its period has ended: nothing to add (remove it from the settings)".into()
        }
        (_, Status::Collision) if step.entry.as_ref().is_some_and(|e| e.passcode_id.is_some()) => format!(
            "the new code collides with a guest's code on {door}: choose another staff code; the old staff code stays"
        ),
        (_, Status::Collision) => format!(
            "collides with a guest's code on {door}: choose another staff code"
        ),
        (_, s) => s.as_str().into(),
    };
    format!("{head}: {body}")
}

/// `staff_sync` (docs/lua-api.md "Staff codes"). `Err` only when nothing could be planned or
/// the record could not be saved; every door's trouble is in its report entry.
pub fn staff_sync(
    c: &Client,
    stays: &dyn StayStore,
    store: &dyn StaffStore,
    req: &StaffRequest,
) -> Result<StaffReport> {
    let _lock = lock_staff(&c.config().state_dir)?;
    let now = now_ms();
    let mut record = store.load()?.unwrap_or_default();
    let guests = guest_codes(stays, now)
        .map_err(|e| e.context("the stay memory cannot be read, so no staff code was synced"))?;
    let mut steps = plan(&req.codes, &record, &guests, now);

    let mut done: Vec<Option<Done>> = vec![None; steps.len()];
    if !req.dry_run {
        let mut locks: Vec<i64> = Vec::new();
        for s in steps.iter().filter(|s| s.kind.calls()) {
            if !locks.contains(&s.lock_id) {
                locks.push(s.lock_id);
            }
        }
        if !locks.is_empty() {
            let map = GatewayMap::new(&c.config().state_dir);
            let order = |k: &StepKind| match k {
                StepKind::Delete(_) => 0,
                StepKind::Replace => 1,
                StepKind::Change { .. } => 2,
                _ => 3,
            };
            let steps_ref = &steps;
            let work = |lock: i64| {
                steps_ref
                    .iter()
                    .filter(|s| s.lock_id == lock && s.kind.calls())
                    .count()
            };
            let results = per_gateway(c, &map, &locks, work, |lock| {
                let mut mine: Vec<usize> = (0..steps_ref.len())
                    .filter(|i| steps_ref[*i].lock_id == lock && steps_ref[*i].kind.calls())
                    .collect();
                mine.sort_by_key(|i| order(&steps_ref[*i].kind));
                mine.into_iter()
                    .map(|i| (i, run(c, &map, &steps_ref[i])))
                    .collect::<Vec<_>>()
            });
            for (_, list) in results {
                for (i, d) in list {
                    done[i] = Some(d);
                }
            }
        }
    }

    let mut changed = false;
    let mut doors = Vec::with_capacity(steps.len());
    for (i, step) in steps.drain(..).enumerate() {
        let d = done[i].take().unwrap_or_else(|| {
            let id = step.entry.as_ref().and_then(|e| e.passcode_id);
            let status = step.kind.status();
            Done::ok(status, id.filter(|_| status != Status::Removed), Keep::Same)
        });
        match &d.record {
            Keep::Same => {}
            Keep::Put(e) => {
                record.put(e.clone());
                changed = true;
            }
            Keep::Remove => {
                if record.find(&step.name, step.lock_id).is_some() {
                    record.remove(&step.name, step.lock_id);
                    changed = true;
                }
            }
        }
        let door = req.door_name(step.lock_id);
        let reason = match (&step.kind, d.status) {
            (StepKind::Delete(r), Status::Removed) => Some(*r),
            (_, Status::Ended) => Some(Reason::Ended),
            _ => None,
        };
        let text = text(&step, &door, &d, req.dry_run);
        let passcode_id = match d.status {
            Status::Removed | Status::Ended => None,
            _ => d.passcode_id,
        };
        doors.push(DoorResult {
            name: step.name.clone(),
            lock_id: step.lock_id,
            door,
            status: d.status,
            reason,
            passcode_id,
            error: d.error,
            text,
            validity: step.code.as_ref().map(|c| c.validity),
        });
    }
    if changed {
        record.version = record_version();
        record.updated_ms = now_ms();
        store.save(&record).map_err(|e| {
            let msg = format!(
                "the staff codes were synced but the staff record could not be saved ({}): the next sync will report the new codes as made elsewhere",
                e.message()
            );
            e.with_message(msg)
                .with_advice("the staff record could not be saved: check LM storage, then look at the staff codes in the TTLock app")
        })?;
    }
    Ok(StaffReport {
        dry_run: req.dry_run,
        doors,
    })
}
