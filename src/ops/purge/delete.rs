//! Phases 2 and 3 of the purge on one lock: delete the listed candidates through the gateway,
//! then check only where an outcome is unsure.
use super::select::{listing_of, Listing};
use super::{Plan, PurgeCode, PurgeFailure};
use crate::api::{self, Via};
use crate::client::Client;
use crate::error::{Code, Error};
use crate::ops::gateways::GatewayMap;
use crate::ops::listing::list_all;
use crate::ops::schedule::{delete_via_gateway, Deleted};
use crate::state;
use crate::transport::now_ms;

/// Says once per lock (a flag in `state_dir`) that its expired codes leave TTLock's list only,
/// so a site with gateway-less doors is not told the same every day.
fn note_no_gateway(c: &Client, lock_id: i64) {
    let flag = format!("no-gateway-{lock_id}");
    let dir = &c.config().state_dir;
    if state::flag(dir, &flag) {
        return;
    }
    c.log(format!(
        "ttlock: purge lock {lock_id}: no gateway reaches this lock, so its expired codes are removed from TTLock's list only; they no longer open it anyway (said once per lock)"
    ));
    if let Err(e) = state::set_flag(dir, &flag, true) {
        c.log(format!(
            "ttlock: could not note lock {lock_id} as gateway-less: {e}"
        ));
    }
}

/// Phase 2 and 3 on one lock.
pub(super) struct Done {
    pub(super) deleted: Vec<PurgeCode>,
    pub(super) failed: Vec<PurgeFailure>,
    pub(super) error: Option<Error>,
    /// The listing made after the deletes, when one was made.
    pub(super) sync: Option<Listing>,
    /// No gateway reaches the lock: its codes were removed from TTLock's list only.
    pub(super) cloud_only: bool,
}

/// Delete a lock's candidates, then list it again only if some outcome is unsure.
///
/// TTLock may answer success for an unknown id, so a success alone does not prove a
/// code is gone. But every candidate's id was listed by TTLock moments ago in this run, so it
/// is not unknown, and errcode 0 to the first request is trusted: no listing after deleting
/// (that listing cost one call per lock per day, API budget). Only when some deletion on the
/// lock was unsure (lost answer, repeat, -2009) is the lock listed once more, and what is still
/// there is reported as failed. Whatever survives anyway is listed again by the next run that
/// lists the lock (at the latest the weekly sweep).
pub(super) fn delete_lock(c: &Client, map: &GatewayMap, lock_id: i64, plan: &Plan) -> Done {
    let mut done = Done {
        deleted: Vec::new(),
        failed: Vec::new(),
        error: None,
        sync: None,
        cloud_only: false,
    };
    let mut unsure = false;
    let mut todo = plan.candidates.iter();
    for code in todo.by_ref() {
        // Every candidate was listed moments ago, so "item gone" means another hand removed
        // it: gone all the same, but only a listing can tell.
        let deleted = if done.cloud_only {
            api::keyboard_pwd_delete(c, lock_id, code.passcode_id, Via::CloudOnly)
                .map(|_| Deleted::Confirmed)
        } else {
            delete_via_gateway(c, map, lock_id, code.passcode_id)
        };
        let deleted = match deleted {
            Err(e) if e.rules().item_gone => Ok(Deleted::Unsure),
            // No gateway reaches the lock: an expired code no longer opens it, so taking it off
            // TTLock's list is all there is to do (offline codes live in no lock memory).
            Err(e) if e.errcode() == Some(-2012) && !done.cloud_only => {
                done.cloud_only = true;
                note_no_gateway(c, lock_id);
                api::keyboard_pwd_delete(c, lock_id, code.passcode_id, Via::CloudOnly)
                    .map(|_| Deleted::Confirmed)
            }
            r => r,
        };
        match deleted {
            Ok(outcome) => {
                unsure |= outcome == Deleted::Unsure;
                done.deleted.push(code.clone());
            }
            Err(e) => {
                let e = e.context(format!("lock {lock_id}: deleting id {}", code.passcode_id));
                let stop = e.stops_lock();
                done.failed.push(PurgeFailure {
                    code: code.clone(),
                    error: e.clone(),
                });
                if stop {
                    done.error = Some(e);
                    break;
                }
            }
        }
    }
    if let Some(e) = &done.error {
        for code in todo {
            done.failed.push(PurgeFailure {
                code: code.clone(),
                error: e.clone().with_message(format!(
                    "not tried: the lock failed before ({})",
                    e.message()
                )),
            });
        }
    }
    if !unsure {
        return done;
    }
    let t1 = now_ms();
    match list_all(c, lock_id, None) {
        Ok(items) => {
            done.sync = Some(listing_of(&items, lock_id, t1));
            let present: std::collections::HashSet<i64> =
                items.iter().map(|it| it.passcode_id).collect();
            let (gone, left): (Vec<_>, Vec<_>) = std::mem::take(&mut done.deleted)
                .into_iter()
                .partition(|code| !present.contains(&code.passcode_id));
            done.deleted = gone;
            for code in left {
                c.log(format!(
                    "ttlock: purge lock {lock_id}: id {} is still listed after TTLock confirmed its deletion",
                    code.passcode_id
                ));
                done.failed.push(PurgeFailure {
                    error: Error::new(
                        Code::ApiError,
                        format!(
                            "lock {lock_id}: TTLock confirmed deleting id {}, but the code is still listed",
                            code.passcode_id
                        ),
                    ),
                    code,
                });
            }
        }
        Err(e) => {
            // The deletes were answered as done; only their check failed.
            c.log(format!(
                "ttlock: purge lock {lock_id}: could not check the deletions: {e}"
            ));
            done.error
                .get_or_insert(e.context("checking the deletions"));
        }
    }
    done
}
