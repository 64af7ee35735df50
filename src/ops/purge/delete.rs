//! Phases 2 and 3 of the purge on one lock: delete the listed candidates through the gateway,
//! then check only where an outcome is unsure.
use super::select::entries_of_listing;
use super::{Plan, PurgeCode, PurgeFailure};
use crate::client::Client;
use crate::error::{Code, Error};
use crate::ops::gateways::GatewayMap;
use crate::ops::ledger::Entry;
use crate::ops::listing::list_all;
use crate::ops::schedule::{delete_via_gateway, Deleted};
use crate::transport::now_ms;

/// Phase 2 and 3 on one lock.
pub(super) struct Done {
    pub(super) deleted: Vec<PurgeCode>,
    pub(super) failed: Vec<PurgeFailure>,
    pub(super) error: Option<Error>,
    /// The listing made after the deletes, when one was made.
    pub(super) sync: Option<(i64, Vec<Entry>)>,
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
    };
    let mut unsure = false;
    let mut todo = plan.candidates.iter();
    for code in todo.by_ref() {
        // Every candidate was listed moments ago, so "item gone" means another hand removed
        // it: gone all the same, but only a listing can tell.
        let deleted = match delete_via_gateway(c, map, lock_id, code.passcode_id) {
            Err(e) if e.rules().item_gone => Ok(Deleted::Unsure),
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
            done.sync = Some((t1, entries_of_listing(&items, lock_id, t1)));
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
