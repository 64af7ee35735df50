//! `add_passcode`: the code on the room lock and every common door, gateways in parallel, with
//! the rollback when a door fails.
//!
//! A lost answer: `keyboardPwd/add` is not idempotent, so an answer that may hide a done add
//! (lost connection, 5xx, timeout, unreadable answer) or a -3007 ("same passcode exists") is
//! never answered by a blind repeat. The code is looked up (listKeyboardPwd with searchStr = the
//! code): present with our window → success (`existing`); present with another window →
//! `passcode_exists`; absent → add again, at most [`MAX_ADD_ATTEMPTS`] adds per lock.
use super::checks::{validate_add, window_matches};
use super::{AddError, AddOutcome, AddRequest, LockResult};
use crate::api::{self, AddPasscode, Validity, Via};
use crate::client::Client;
use crate::error::{Code, Error};
use crate::ops::gateways::GatewayMap;
use crate::ops::ledger::{Entry, Ledger, Origin};
use crate::ops::listing::{dedup, find_code};
use crate::ops::schedule::{busy_retry, delete_via_gateway, per_gateway};
use crate::transport::now_ms;

/// Adds per lock, the first included, when answers stay ambiguous.
pub const MAX_ADD_ATTEMPTS: u32 = 3;

fn end_of(v: &Validity) -> i64 {
    match *v {
        Validity::Permanent => 0,
        Validity::Period { end_ms, .. } => end_ms,
    }
}

/// Add the code on one lock, resolving ambiguous answers by looking the code up (`req.lock_id`
/// and `also_lock_ids` are not used: `lock_id` says where).
pub(crate) fn add_one(c: &Client, map: &GatewayMap, req: &AddRequest, lock_id: i64) -> LockResult {
    let add = AddPasscode {
        lock_id,
        passcode: req.passcode.clone(),
        name: req.name.clone(),
        validity: req.validity,
        via: Via::Gateway,
    };
    let mut maybe_ours = false;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let added = {
            let _turn = map.turn(c, lock_id);
            busy_retry(c, "add_passcode", || api::keyboard_pwd_add(c, &add))
        };
        let e = match added {
            Ok(id) => return LockResult::added(lock_id, id, false),
            Err(e) => e,
        };
        map.note_error(c, lock_id, &e);
        let exists = e.code() == Code::PasscodeExists;
        if !(exists || e.maybe_done()) {
            return LockResult::failed(lock_id, e.context(format!("lock {lock_id}")), false);
        }
        maybe_ours |= e.maybe_done();
        c.log(format!(
            "ttlock: lock {lock_id}: add_passcode answer was {} ({}): looking the code up",
            if exists {
                "'exists'"
            } else {
                "lost or unclear"
            },
            e.code()
        ));
        let found = match find_code(c, lock_id, &req.passcode) {
            Ok(found) => found,
            Err(le) => {
                let msg = format!(
                    "lock {lock_id}: {}; looking the code up failed too ({}), so the lock may or may not have it",
                    e.message(),
                    le.message()
                );
                return LockResult::failed(lock_id, e.with_message(msg), maybe_ours);
            }
        };
        if let Some(it) = found.iter().find(|it| window_matches(it, &req.validity)) {
            c.log(format!(
                "ttlock: lock {lock_id}: the code is on the lock with this validity (id {}): done",
                it.passcode_id
            ));
            return LockResult::added(lock_id, it.passcode_id, true);
        }
        if let Some(other) = found.first() {
            let msg = format!(
                "lock {lock_id}: this passcode is already on the lock with another validity (id {}): choose another code",
                other.passcode_id
            );
            let e = Error::from_errcode(-3007, None)
                .with_message(msg)
                .with_advice(
                    "this code is already on the lock with other dates: choose another code",
                );
            return LockResult::failed(lock_id, e, false);
        }
        if attempt >= MAX_ADD_ATTEMPTS {
            return LockResult::failed(
                lock_id,
                e.context(format!(
                    "lock {lock_id}: not added after {attempt} attempts (the look-up finds no copy)"
                )),
                false,
            );
        }
    }
}

/// Remove the code from a lock during a rollback.
fn roll_back_one(c: &Client, map: &GatewayMap, req: &AddRequest, r: &mut LockResult) {
    let id = match (r.ok(), r.passcode_id) {
        (true, Some(id)) => Some(id),
        _ if r.maybe_added => {
            // Unknown whether the add landed: look again.
            match find_code(c, r.lock_id, &req.passcode) {
                Ok(found) => found
                    .iter()
                    .find(|it| window_matches(it, &req.validity))
                    .map(|it| it.passcode_id),
                Err(e) => {
                    r.rolled_back = Some(false);
                    r.rollback_error = Some(e);
                    return;
                }
            }
        }
        _ => None,
    };
    let Some(id) = id else { return };
    r.passcode_id = Some(id);
    match delete_via_gateway(c, map, r.lock_id, id) {
        Ok(_) => r.rolled_back = Some(true),
        Err(e) if e.rules().item_gone => r.rolled_back = Some(true),
        Err(e) => {
            r.rolled_back = Some(false);
            r.rollback_error = Some(e.context(format!("lock {}: removing the code", r.lock_id)));
        }
    }
}

/// `add_passcode` (see the module comment and lua-api.md).
pub fn add_passcode(c: &Client, req: &AddRequest) -> std::result::Result<AddOutcome, AddError> {
    validate_add(req, now_ms())?;
    let lock_ids = dedup(std::iter::once(req.lock_id).chain(req.also_lock_ids.iter().copied()));
    let map = GatewayMap::new(&c.config().state_dir);
    let mut done = per_gateway(c, &map, &lock_ids, |_| 0, |id| add_one(c, &map, req, id));
    // Back to the caller's order.
    done.sort_by_key(|(id, _)| lock_ids.iter().position(|x| x == id));
    let mut results: Vec<LockResult> = done.into_iter().map(|(_, r)| r).collect();

    let failed_first = results.iter().position(|r| !r.ok());
    let mut rolled_back = false;
    if let Some(first) = failed_first {
        if req.atomic {
            let to_undo: Vec<i64> = results
                .iter()
                .filter(|r| r.ok() || r.maybe_added)
                .map(|r| r.lock_id)
                .collect();
            if !to_undo.is_empty() {
                let undone = per_gateway(
                    c,
                    &map,
                    &to_undo,
                    |_| 0,
                    |id| {
                        let mut r = results
                            .iter()
                            .find(|r| r.lock_id == id)
                            .expect("undo only known locks")
                            .clone();
                        roll_back_one(c, &map, req, &mut r);
                        r
                    },
                );
                for (id, r) in undone {
                    if let Some(slot) = results.iter_mut().find(|x| x.lock_id == id) {
                        *slot = r;
                    }
                }
                rolled_back = results.iter().all(|r| r.rolled_back != Some(false))
                    && results.iter().any(|r| r.rolled_back == Some(true));
            }
        }
        record_added(c, req, &results);
        let error = summary_error(&results[first], &results, req.atomic);
        return Err(AddError {
            error,
            locks: results,
            rolled_back,
        });
    }
    record_added(c, req, &results);
    Ok(AddOutcome {
        passcode: req.passcode.clone(),
        name: req.name.clone(),
        locks: results,
    })
}

/// Ledger entries for every lock that has the code now.
pub(crate) fn record_added(c: &Client, req: &AddRequest, results: &[LockResult]) {
    let now = now_ms();
    let keep: Vec<(i64, i64)> = results
        .iter()
        .filter(|r| r.rolled_back != Some(true))
        .filter_map(|r| match (r.ok(), r.passcode_id) {
            (true, Some(id)) => Some((r.lock_id, id)),
            // A failed rollback knows the id of the copy it left.
            (false, Some(id)) if r.rolled_back == Some(false) => Some((r.lock_id, id)),
            _ => None,
        })
        .collect();
    if keep.is_empty() {
        return;
    }
    Ledger::new(&c.config().state_dir).update_logged(c, |d| {
        for (lock_id, passcode_id) in keep {
            d.put(Entry {
                lock_id,
                passcode_id,
                end_ms: end_of(&req.validity),
                name: req.name.clone(),
                added_ms: now,
                origin: Origin::Module,
            });
        }
    });
}

/// The error of a failed add: the first failing lock's, with what happened on the others.
fn summary_error(first: &LockResult, all: &[LockResult], atomic: bool) -> Error {
    let base = first.error.clone().expect("a failing lock has an error");
    let mut notes = Vec::new();
    let others_failed = all.iter().filter(|r| !r.ok()).count() - 1;
    if others_failed > 0 {
        notes.push(format!("{others_failed} more lock(s) failed"));
    }
    let removed: Vec<String> = all
        .iter()
        .filter(|r| r.rolled_back == Some(true))
        .map(|r| r.lock_id.to_string())
        .collect();
    if !removed.is_empty() {
        notes.push(format!("removed again from lock {}", removed.join(", ")));
    }
    let left: Vec<String> = all
        .iter()
        .filter(|r| r.rolled_back == Some(false))
        .map(|r| r.lock_id.to_string())
        .collect();
    if !left.is_empty() {
        notes.push(format!(
            "removing it failed on lock {}: it may still open that door",
            left.join(", ")
        ));
    }
    if !atomic {
        let kept: Vec<String> = all
            .iter()
            .filter(|r| r.ok())
            .map(|r| r.lock_id.to_string())
            .collect();
        if !kept.is_empty() {
            notes.push(format!(
                "lock {} has the code (atomic = false)",
                kept.join(", ")
            ));
        }
    }
    if notes.is_empty() {
        return base;
    }
    let msg = format!("{}; {}", base.message(), notes.join("; "));
    base.with_message(msg)
}
