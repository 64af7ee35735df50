//! How gateway operations are scheduled: one after another per gateway (a second one would get
//! -3003), gateways at the same time, at most [`MAX_WORKERS`] at once, on `host::bounded`
//! workers (so token refreshes and log lines still reach the Lua host). Also the extra rounds
//! for a busy gateway and the one gateway-serialised delete that every operation uses.
use std::time::Duration;

use super::gateways::{self, GatewayMap, Slot};
use crate::api::{self, Via};
use crate::client::Client;
use crate::error::{Code, Result};
use crate::host::{bounded, MAX_WORKERS};

/// Extra rounds for a gateway that stays busy after the transport's own retries (-3003 means
/// nothing was done, so repeating is safe); waits 4, 8, 16 × `retry_backoff`.
const BUSY_ROUNDS: u32 = 3;

/// Run `f` on every lock: one after another per gateway, gateways at the same time (bounded),
/// the gateway with the most `work` first (its serial chain is the run's critical path; ties
/// keep the order of first appearance). Results come per lock, grouped by gateway.
pub fn per_gateway<T: Send>(
    c: &Client,
    map: &GatewayMap,
    lock_ids: &[i64],
    work: impl Fn(i64) -> usize,
    f: impl Fn(i64) -> T + Sync,
) -> Vec<(i64, T)> {
    let slots = map.slots(c, lock_ids);
    let groups = busiest_first(gateways::group(lock_ids, &slots), work);
    let done = bounded(groups, MAX_WORKERS, |(_, ids): (Slot, Vec<i64>)| {
        ids.into_iter().map(|id| (id, f(id))).collect::<Vec<_>>()
    });
    done.into_iter().flatten().collect()
}

/// Gateway groups, the one with the most work first (longest job first): with bounded workers,
/// the busiest gateway's serial chain then starts at once instead of after other groups.
fn busiest_first(
    mut groups: Vec<(Slot, Vec<i64>)>,
    work: impl Fn(i64) -> usize,
) -> Vec<(Slot, Vec<i64>)> {
    groups.sort_by_key(|(_, ids)| std::cmp::Reverse(ids.iter().map(|id| work(*id)).sum::<usize>()));
    groups
}

/// A gateway operation with extra rounds while the gateway stays busy.
pub(crate) fn busy_retry<T>(c: &Client, what: &str, mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let mut round = 0;
    loop {
        match f() {
            Err(e) if e.code() == Code::GatewayBusy && round < BUSY_ROUNDS => {
                round += 1;
                let wait = crate::transport::backoff(c.config().retry_backoff * 4, round);
                c.log(format!(
                    "ttlock: {what}: gateway still busy, trying again in {} ms ({round}/{BUSY_ROUNDS})",
                    wait.as_millis()
                ));
                std::thread::sleep(wait.min(Duration::from_secs(30)));
            }
            r => return r,
        }
    }
}

/// How sure a deletion's success is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// TTLock answered errcode 0 to the first request.
    Confirmed,
    /// The first answer was lost (or timed out) and a repeat said success, or said the id is
    /// gone: the code is probably gone, but only a listing can tell.
    Unsure,
}

/// Delete a passcode through the gateway (deleteType 2), in the lock's turn at its gateway.
///
/// Transport retries of a delete happen only when nothing was done (-3003, -3037, a request
/// never sent) or on errcodes after which either answer leaves the code gone; so they do not
/// make the outcome unsure. A lost answer does: the delete is asked again, and its success or
/// an "item gone" errcode (the first request removed it) is [`Deleted::Unsure`]. An "item
/// gone" answer to the first request is returned as the error: the caller decides.
pub fn delete_via_gateway(
    c: &Client,
    map: &GatewayMap,
    lock_id: i64,
    passcode_id: i64,
) -> Result<Deleted> {
    let _turn = map.turn(c, lock_id);
    let del = || {
        busy_retry(c, "delete", || {
            api::keyboard_pwd_delete(c, lock_id, passcode_id, Via::Gateway)
        })
    };
    let failed = |e: crate::error::Error| {
        map.note_error(c, lock_id, &e);
        Err(e)
    };
    match del() {
        Ok(()) => Ok(Deleted::Confirmed),
        Err(e) if e.maybe_done() => {
            c.log(format!(
                "ttlock: lock {lock_id}: delete of id {passcode_id} unanswered ({}): asking again",
                e.code()
            ));
            match del() {
                Ok(()) => Ok(Deleted::Unsure),
                Err(e2) if e2.rules().item_gone => Ok(Deleted::Unsure),
                Err(e2) => failed(e2),
            }
        }
        Err(e) => failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_with_most_work_goes_first() {
        let groups = vec![
            (Slot::Gateway(1), vec![11, 12]),
            (Slot::Gateway(2), vec![21]),
            (Slot::Unknown, vec![31]),
            (Slot::Gateway(3), vec![41, 42]),
        ];
        let work = |id: i64| match id {
            11 | 12 => 3,
            21 => 300,
            31 => 1,
            _ => 3,
        };
        let order: Vec<Slot> = busiest_first(groups.clone(), work)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        // 300, then the two groups of 6 in their first order, then 1.
        assert_eq!(
            order,
            vec![
                Slot::Gateway(2),
                Slot::Gateway(1),
                Slot::Gateway(3),
                Slot::Unknown
            ]
        );
        // Without weights the order is kept.
        let kept: Vec<Slot> = busiest_first(groups, |_| 0)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(
            kept,
            vec![
                Slot::Gateway(1),
                Slot::Gateway(2),
                Slot::Unknown,
                Slot::Gateway(3)
            ]
        );
    }
}
