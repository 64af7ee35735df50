//! `purge_expired` (lua-api.md "Purge"): delete the codes whose end passed more than `grace`
//! ago, never a permanent one, on many locks.
//!
//! 1. Plan (cloud reads, locks in parallel). A lock whose last full listing is recent (within
//!    `full_sweep`) and none of whose ledger codes has expired is skipped without a call (source
//!    `ledger`): the ledger knows every code on it that can expire. Any other lock is listed in
//!    full, every page, and the ledger takes over what it lists: a lock that is unknown or due
//!    for its weekly sweep, and a lock whose ledger shows expired codes. Those are deleted from
//!    the fresh listing, never on the ledger's word, so a code extended in the TTLock app since
//!    is kept. A lock with nothing to delete costs nothing; one with something to delete costs
//!    its pages and its deletions.
//! 2. Delete (unless `dry_run`) through the gateway (deleteType 2): one at a time per gateway,
//!    gateways in parallel (bounded), the gateway with the most deletions first (its serial
//!    chain is the run's critical path). -3003 is retried. An error that concerns the whole lock
//!    (gateway offline, no gateway, auth, quota…) stops that lock; the others go on.
//! 3. Check, only where needed: see [`delete_lock`].
use std::collections::HashMap;

use crate::api::{self, PasscodeItem, Via};
use crate::client::Client;
use crate::error::{Code, Error, Result};
use crate::http::now_ms;

use super::gateways::{self, GatewayMap};
use super::ledger::{Entry, Ledger, LedgerData, Origin};
use super::{bounded, busy_retry, dedup, list_all, MAX_WORKERS};

pub const DEFAULT_GRACE_MS: i64 = 86_400_000;
pub const DEFAULT_FULL_SWEEP_DAYS: f64 = 7.0;

#[derive(Debug, Clone, PartialEq)]
pub struct PurgeRequest {
    pub lock_ids: Vec<i64>,
    /// Delete codes whose end passed more than this long ago.
    pub grace_ms: i64,
    pub dry_run: bool,
    /// Only codes whose name starts with it.
    pub name_prefix: Option<String>,
    /// List a lock in full when its last full listing is older than this (0: always).
    pub full_sweep_ms: i64,
}

impl PurgeRequest {
    pub fn new(lock_ids: Vec<i64>) -> PurgeRequest {
        PurgeRequest {
            lock_ids,
            grace_ms: DEFAULT_GRACE_MS,
            dry_run: false,
            name_prefix: None,
            full_sweep_ms: (DEFAULT_FULL_SWEEP_DAYS * 86_400_000.0) as i64,
        }
    }
}

/// A code the purge deleted, would delete, or failed to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeCode {
    pub lock_id: i64,
    pub passcode_id: i64,
    pub name: Option<String>,
    pub valid_to_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeFailure {
    pub code: PurgeCode,
    pub error: Error,
}

/// Where a lock's expired codes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A full listing (every page) made in this run.
    Listed,
    /// The ledger alone: recently swept, nothing on it expired; no call made.
    Ledger,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Listed => "list",
            Source::Ledger => "ledger",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockReport {
    pub lock_id: i64,
    /// Codes known on the lock: listed by TTLock, or (source `Ledger`) known to the ledger.
    pub listed: usize,
    pub expired: usize,
    pub deleted: usize,
    pub source: Source,
    /// The lock could not be listed, or deleting stopped on it.
    pub error: Option<Error>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeReport {
    pub dry_run: bool,
    pub deleted: Vec<PurgeCode>,
    pub would_delete: Vec<PurgeCode>,
    pub failed: Vec<PurgeFailure>,
    pub locks: Vec<LockReport>,
}

// ---- selection (pure) ----------------------------------------------------------------------

/// Whether a code may be purged: not permanent (type 2, or no end), its end more than the grace
/// before now (`end < cutoff`), and its name starting with `prefix` when one is given.
pub fn is_purgeable(
    pwd_type: i64,
    end_ms: Option<i64>,
    name: Option<&str>,
    cutoff_ms: i64,
    prefix: Option<&str>,
) -> bool {
    if pwd_type == 2 {
        return false;
    }
    let Some(end) = end_ms.filter(|e| *e > 0) else {
        return false;
    };
    end < cutoff_ms && prefix.is_none_or(|p| name.is_some_and(|n| n.starts_with(p)))
}

pub fn code_of(item: &PasscodeItem, lock_id: i64) -> PurgeCode {
    PurgeCode {
        lock_id,
        passcode_id: item.passcode_id,
        name: item.name.clone(),
        valid_to_ms: item.end_ms.unwrap_or(0),
    }
}

/// The listed codes to purge.
pub fn select_expired(
    items: &[PasscodeItem],
    lock_id: i64,
    cutoff_ms: i64,
    prefix: Option<&str>,
) -> Vec<PurgeCode> {
    items
        .iter()
        .filter(|it| {
            is_purgeable(
                it.pwd_type,
                it.end_ms,
                it.name.as_deref(),
                cutoff_ms,
                prefix,
            )
        })
        .map(|it| code_of(it, lock_id))
        .collect()
}

/// Ledger entries for a full listing: every code that can ever expire (permanent ones cannot).
fn entries_of_listing(items: &[PasscodeItem], lock_id: i64, at_ms: i64) -> Vec<Entry> {
    items
        .iter()
        .filter(|it| it.pwd_type != 2 && it.end_ms.unwrap_or(0) > 0)
        .map(|it| Entry {
            lock_id,
            passcode_id: it.passcode_id,
            end_ms: it.end_ms.unwrap_or(0),
            name: it.name.clone(),
            added_ms: at_ms,
            origin: Origin::Sweep,
        })
        .collect()
}

/// Whether a delete error concerns the whole lock (the next code would fail the same way).
fn stops_lock(e: &Error) -> bool {
    !matches!(
        e.code(),
        Code::ApiError | Code::HttpStatus | Code::BadResponse | Code::NotFound
    ) || e.errcode() == Some(-1003)
}

// ---- the run -------------------------------------------------------------------------------

/// What phase 1 found on one lock.
#[derive(Debug, Default)]
struct Plan {
    listed: usize,
    /// Every candidate comes from a listing made in this run (never from the ledger alone).
    candidates: Vec<PurgeCode>,
    error: Option<Error>,
    /// A full listing: (its start, the lock's entries).
    sync: Option<(i64, Vec<Entry>)>,
}

fn plan_full(c: &Client, lock_id: i64, req: &PurgeRequest, cutoff: i64) -> Plan {
    let t0 = now_ms();
    match list_all(c, lock_id, None) {
        Ok(items) => Plan {
            listed: items.len(),
            candidates: select_expired(&items, lock_id, cutoff, req.name_prefix.as_deref()),
            sync: Some((t0, entries_of_listing(&items, lock_id, t0))),
            ..Plan::default()
        },
        Err(e) => Plan {
            error: Some(e),
            ..Plan::default()
        },
    }
}

/// Whether the ledger shows a code of the lock past the grace (and matching the prefix).
fn ledger_has_expired(known: &[Entry], req: &PurgeRequest, cutoff: i64) -> bool {
    known.iter().any(|e| {
        is_purgeable(
            3,
            Some(e.end_ms),
            e.name.as_deref(),
            cutoff,
            req.name_prefix.as_deref(),
        )
    })
}

/// How sure a deletion's success is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// TTLock answered errcode 0 to the first request.
    Confirmed,
    /// The first answer was lost (or timed out) and a repeat said success, or TTLock called the
    /// id unknown (-2009): the code is probably gone, but only a listing can tell.
    Unsure,
}

/// Delete one code this run has just listed, through the gateway.
///
/// Transport retries (`http::execute`) of a delete happen only when nothing was done (-3003,
/// -3037, a request never sent) or on 90000, after which either answer leaves a listed code
/// gone; so they do not make the outcome unsure. A lost answer does: the delete is asked again
/// and its answer (success, or -2009 for a code the first request removed) is `Unsure`.
fn delete_listed(c: &Client, map: &GatewayMap, lock_id: i64, passcode_id: i64) -> Result<Outcome> {
    let del = || {
        busy_retry(c, "delete", || {
            api::keyboard_pwd_delete(c, lock_id, passcode_id, Via::Gateway)
        })
    };
    let fail = |e: Error| {
        map.note_error(c, lock_id, &e);
        Err(e)
    };
    match del() {
        Ok(()) => Ok(Outcome::Confirmed),
        Err(e) if e.errcode() == Some(-2009) => Ok(Outcome::Unsure),
        Err(e) if e.maybe_done() => {
            c.log(format!(
                "ttlock: lock {lock_id}: delete of id {passcode_id} unanswered ({}): asking again",
                e.code()
            ));
            match del() {
                Ok(()) => Ok(Outcome::Unsure),
                Err(e2) if e2.errcode() == Some(-2009) => Ok(Outcome::Unsure),
                Err(e2) => fail(e2),
            }
        }
        Err(e) => fail(e),
    }
}

/// Phase 2 and 3 on one lock.
struct Done {
    deleted: Vec<PurgeCode>,
    failed: Vec<PurgeFailure>,
    error: Option<Error>,
    /// The listing made after the deletes, when one was made.
    sync: Option<(i64, Vec<Entry>)>,
}

/// Delete a lock's candidates, then list it again only if some outcome is unsure.
///
/// TTLock may answer success for an unknown id (issue 4), so a success alone does not prove a
/// code is gone. But every candidate's id was listed by TTLock moments ago in this run, so it
/// is not unknown, and errcode 0 to the first request is trusted: no listing after deleting
/// (that listing cost one call per lock per day, API budget). Only when some deletion on the
/// lock was unsure (lost answer, repeat, -2009) is the lock listed once more, and what is still
/// there is reported as failed. Whatever survives anyway is listed again by the next run that
/// lists the lock (at the latest the weekly sweep).
fn delete_lock(c: &Client, map: &GatewayMap, lock_id: i64, plan: &Plan) -> Done {
    let mut done = Done {
        deleted: Vec::new(),
        failed: Vec::new(),
        error: None,
        sync: None,
    };
    let mut unsure = false;
    let mut todo = plan.candidates.iter();
    for code in todo.by_ref() {
        match delete_listed(c, map, lock_id, code.passcode_id) {
            Ok(outcome) => {
                unsure |= outcome == Outcome::Unsure;
                done.deleted.push(code.clone());
            }
            Err(e) => {
                let e = e.context(format!("lock {lock_id}: deleting id {}", code.passcode_id));
                let stop = stops_lock(&e);
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

/// Gateway groups, the one with the most deletions first (longest job first): with bounded
/// workers, the busiest gateway's serial chain then starts at once instead of after other
/// groups. Ties keep the order of first appearance.
fn busiest_first(
    mut groups: Vec<(gateways::Slot, Vec<i64>)>,
    work: impl Fn(i64) -> usize,
) -> Vec<(gateways::Slot, Vec<i64>)> {
    groups.sort_by_key(|(_, ids)| std::cmp::Reverse(ids.iter().map(|id| work(*id)).sum::<usize>()));
    groups
}

/// `purge_expired`. Never fails as a whole: each lock's trouble is in its report entry.
pub fn purge_expired(c: &Client, req: &PurgeRequest) -> Result<PurgeReport> {
    if req.grace_ms < 0 || req.full_sweep_ms < 0 {
        return Err(Error::invalid_argument(
            "grace_s and full_sweep_days must not be negative",
        ));
    }
    let lock_ids = dedup(req.lock_ids.iter().copied());
    let now = now_ms();
    let cutoff = now - req.grace_ms;
    let ledger = Ledger::new(&c.config().state_dir);
    let data: LedgerData = ledger.load();
    let swept_recently = |id: i64| {
        req.full_sweep_ms > 0
            && data
                .last_sweep(id)
                .is_some_and(|t| t <= now && now - t < req.full_sweep_ms)
    };

    // 1. Plan, every lock at the same time (cloud reads only).
    let plans: Vec<(i64, Source, Plan)> = bounded(lock_ids.clone(), MAX_WORKERS, |id| {
        if swept_recently(id) {
            let known: Vec<Entry> = data.entries_of(id).cloned().collect();
            if !ledger_has_expired(&known, req, cutoff) {
                let plan = Plan {
                    listed: known.len(),
                    ..Plan::default()
                };
                return (id, Source::Ledger, plan);
            }
        }
        (id, Source::Listed, plan_full(c, id, req, cutoff))
    });

    // 2 + 3. Delete (and check where unsure), per gateway.
    let mut results: HashMap<i64, Done> = HashMap::new();
    if !req.dry_run {
        let work = |id: i64| {
            plans
                .iter()
                .find(|(i, _, _)| *i == id)
                .map_or(0, |(_, _, p)| p.candidates.len())
        };
        let with_work: Vec<i64> = plans
            .iter()
            .filter(|(_, _, p)| p.error.is_none() && !p.candidates.is_empty())
            .map(|(id, _, _)| *id)
            .collect();
        if !with_work.is_empty() {
            let map = GatewayMap::new(&c.config().state_dir);
            let slots = map.slots(c, &with_work);
            let groups = busiest_first(gateways::group(&with_work, &slots), work);
            let plan_of = |id: i64| &plans.iter().find(|(i, _, _)| *i == id).expect("planned").2;
            let done = bounded(groups, MAX_WORKERS, |(_, ids)| {
                ids.into_iter()
                    .map(|id| (id, delete_lock(c, &map, id, plan_of(id))))
                    .collect::<Vec<_>>()
            });
            results.extend(done.into_iter().flatten());
        }
    }

    // Report and ledger.
    let mut report = PurgeReport {
        dry_run: req.dry_run,
        deleted: Vec::new(),
        would_delete: Vec::new(),
        failed: Vec::new(),
        locks: Vec::new(),
    };
    let mut syncs: Vec<(i64, i64, Vec<Entry>)> = Vec::new();
    let mut removed: Vec<(i64, i64)> = Vec::new();
    for (id, source, plan) in plans {
        let mut lr = LockReport {
            lock_id: id,
            listed: plan.listed,
            expired: plan.candidates.len(),
            deleted: 0,
            source,
            error: plan.error.clone(),
        };
        if req.dry_run {
            report.would_delete.extend(plan.candidates.iter().cloned());
        }
        let mut sync = plan.sync;
        if let Some(done) = results.remove(&id) {
            lr.deleted = done.deleted.len();
            if lr.error.is_none() {
                lr.error = done.error;
            }
            removed.extend(done.deleted.iter().map(|d| (id, d.passcode_id)));
            report.deleted.extend(done.deleted);
            report.failed.extend(done.failed);
            if done.sync.is_some() {
                sync = done.sync;
            }
        }
        if let Some((t, entries)) = sync {
            syncs.push((id, t, entries));
        }
        report.locks.push(lr);
    }
    if !(syncs.is_empty() && removed.is_empty()) {
        ledger.update_logged(c, |d| {
            // The listing first, then what was deleted since it was made.
            for (lock_id, t, entries) in syncs {
                d.sync_lock(lock_id, t, entries);
            }
            for (lock_id, p) in removed {
                d.remove(lock_id, p);
            }
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000_000;
    const DAY: i64 = 86_400_000;

    fn item(id: i64, t: i64, end: Option<i64>, name: &str) -> PasscodeItem {
        PasscodeItem {
            passcode_id: id,
            lock_id: Some(1),
            passcode: format!("{:05}", id),
            name: Some(name.into()),
            pwd_type: t,
            start_ms: end.map(|e| e - DAY),
            end_ms: end,
            is_custom: true,
            status: None,
            send_ms: None,
        }
    }

    #[test]
    fn selection_never_takes_permanent_valid_or_in_grace_codes() {
        let cutoff = NOW - DAY;
        let items = vec![
            item(1, 3, Some(NOW - 3 * DAY), "101_old"),     // expired
            item(2, 3, Some(NOW - 6 * 3_600_000), "101_g"), // inside the grace day
            item(3, 3, Some(NOW + 2 * DAY), "101_now"),     // valid
            item(4, 2, Some(0), "Staff"),                   // permanent
            item(5, 2, Some(NOW - 3 * DAY), "odd"),         // type 2 with an end: still permanent
            item(6, 3, None, "noend"),                      // no end: treated as permanent
            item(7, 3, Some(0), "zero"),                    // end 0: permanent
            item(8, 1, Some(NOW - 2 * DAY), "random"),      // a random one-time code, ended
            item(9, 3, Some(cutoff), "edge"),               // exactly at the cutoff: kept
            item(10, 3, Some(cutoff - 1), "edge2"),         // just past it
        ];
        let ids: Vec<i64> = select_expired(&items, 1, cutoff, None)
            .iter()
            .map(|c| c.passcode_id)
            .collect();
        assert_eq!(ids, vec![1, 8, 10]);
        let ids: Vec<i64> = select_expired(&items, 1, cutoff, Some("101_"))
            .iter()
            .map(|c| c.passcode_id)
            .collect();
        assert_eq!(ids, vec![1]);
        // A zero grace takes the in-grace code too, never the valid one.
        let ids: Vec<i64> = select_expired(&items, 1, NOW, None)
            .iter()
            .map(|c| c.passcode_id)
            .collect();
        assert_eq!(ids, vec![1, 2, 8, 9, 10]);
        let c = &select_expired(&items, 7, cutoff, None)[0];
        assert_eq!(
            (c.lock_id, c.name.as_deref(), c.valid_to_ms),
            (7, Some("101_old"), NOW - 3 * DAY)
        );
    }

    #[test]
    fn listing_entries_skip_permanent_codes() {
        let items = vec![
            item(1, 3, Some(NOW), "a"),
            item(2, 2, Some(0), "b"),
            item(3, 3, None, "c"),
        ];
        let e = entries_of_listing(&items, 9, 5);
        assert_eq!(e.len(), 1);
        assert_eq!(
            (e[0].lock_id, e[0].passcode_id, e[0].end_ms, e[0].added_ms),
            (9, 1, NOW, 5)
        );
        assert_eq!(e[0].origin, Origin::Sweep);
    }

    #[test]
    fn the_gateway_with_most_deletions_goes_first() {
        use gateways::Slot;
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
        let order: Vec<Slot> = busiest_first(groups, work)
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
    }

    #[test]
    fn ledger_expiry_check_follows_grace_and_prefix() {
        let e = |end: i64, name: &str| Entry {
            lock_id: 1,
            passcode_id: 1,
            end_ms: end,
            name: Some(name.into()),
            added_ms: 0,
            origin: Origin::Module,
        };
        let mut req = PurgeRequest::new(vec![1]);
        let cutoff = NOW - DAY;
        assert!(!ledger_has_expired(&[], &req, cutoff));
        assert!(!ledger_has_expired(
            &[e(0, "staff"), e(NOW, "a")],
            &req,
            cutoff
        ));
        assert!(!ledger_has_expired(&[e(cutoff, "a")], &req, cutoff));
        assert!(ledger_has_expired(
            &[e(NOW, "a"), e(cutoff - 1, "b")],
            &req,
            cutoff
        ));
        req.name_prefix = Some("101_".into());
        assert!(!ledger_has_expired(&[e(cutoff - 1, "b")], &req, cutoff));
        assert!(ledger_has_expired(&[e(cutoff - 1, "101_b")], &req, cutoff));
    }

    #[test]
    fn which_errors_stop_a_lock() {
        for stop in [-3002, -2012, -3003, 10004, 30007, -1003, -4043, 80000] {
            assert!(stops_lock(&Error::from_errcode(stop, None)), "{stop}");
        }
        for go_on in [-2009, 1, -3] {
            assert!(!stops_lock(&Error::from_errcode(go_on, None)), "{go_on}");
        }
        assert!(!stops_lock(&Error::http_status(503, "/x")));
        assert!(stops_lock(&Error::new(Code::Timeout, "t")));
        assert!(stops_lock(&Error::new(Code::Network, "n")));
    }
}
