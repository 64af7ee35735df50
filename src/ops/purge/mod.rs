//! `purge_expired` (lua-api.md "Purge"): delete the codes whose end passed more than `grace`
//! ago, never a permanent one, on many locks.
//!
//! 1. Plan (cloud reads, locks in parallel). Each lock is listed in full, every page, or
//!    skipped without a call (source `ledger`), as [`select::decide`] says: listed when it is
//!    unknown or due for its weekly sweep (`full_sweep`), and when the ledger shows expired
//!    codes on it and its last full listing is older than `every` or the codes the ledger counts
//!    on it reached `capacity_margin`; skipped when nothing on it has expired, or when its
//!    expired codes can wait (listed recently, far from full: an expired code opens nothing,
//!    the purge only keeps the lock's 250-code memory from filling). The ledger takes over what
//!    a listing shows. Codes are deleted from the fresh listing, never on the ledger's word, so
//!    a code extended in the TTLock app since is kept. A lock with nothing to delete costs
//!    nothing; one with something to delete costs its pages and its deletions.
//! 2. Delete (unless `dry_run`) through the gateway (deleteType 2): one at a time per gateway,
//!    gateways in parallel (bounded), the gateway with the most deletions first (its serial
//!    chain is the run's critical path). -3003 is retried. An error that concerns the whole lock
//!    (gateway offline, no gateway, auth, quota…) stops that lock; the others go on.
//! 3. Check, only where needed: see [`delete_lock`].
use std::collections::HashMap;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::host::{bounded, MAX_WORKERS};
use crate::ops::gateways::GatewayMap;
use crate::ops::ledger::{Entry, Ledger, LedgerData};
use crate::ops::listing::{dedup, list_all};
use crate::ops::schedule::per_gateway;
use crate::transport::now_ms;
use select::{Known, Listing};

mod delete;
mod select;

pub use select::{code_of, is_purgeable, select_expired, Reason};

/// Default grace: a code is purged one day after its end.
pub const DEFAULT_GRACE_MS: i64 = 86_400_000;
/// Default `full_sweep_days`: a lock is listed in full at least once a week.
pub const DEFAULT_FULL_SWEEP_DAYS: f64 = 7.0;
/// Default `every_days`: a lock whose ledger shows expired codes is listed on every daily run.
pub const DEFAULT_EVERY_DAYS: f64 = 1.0;
/// Default `capacity_margin`: a lock with expired codes is listed at once when the ledger
/// counts this many codes on it (of the 250 a lock holds).
pub const DEFAULT_CAPACITY_MARGIN: usize = 200;

/// What `purge_expired` was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct PurgeRequest {
    /// The locks to purge (repeats are ignored).
    pub lock_ids: Vec<i64>,
    /// Delete codes whose end passed more than this long ago.
    pub grace_ms: i64,
    /// Report what would be deleted, delete nothing.
    pub dry_run: bool,
    /// Only codes whose name starts with it.
    pub name_prefix: Option<String>,
    /// List a lock in full when its last full listing is older than this (0: always).
    pub full_sweep_ms: i64,
    /// List a lock whose ledger shows expired codes when its last full listing is older than
    /// this (0: always).
    pub every_ms: i64,
    /// List a lock whose ledger shows expired codes, however recent its last listing, when the
    /// ledger counts this many codes on it.
    pub capacity_margin: usize,
    /// Codes never deleted, as (lock, id): those of live stays, whatever window the lock shows
    /// (a stay whose change failed may show an older end than the stay has).
    pub keep: Vec<(i64, i64)>,
}

impl PurgeRequest {
    /// A purge of these locks with every option at its default.
    pub fn new(lock_ids: Vec<i64>) -> PurgeRequest {
        PurgeRequest {
            lock_ids,
            grace_ms: DEFAULT_GRACE_MS,
            dry_run: false,
            name_prefix: None,
            full_sweep_ms: (DEFAULT_FULL_SWEEP_DAYS * 86_400_000.0) as i64,
            every_ms: (DEFAULT_EVERY_DAYS * 86_400_000.0) as i64,
            capacity_margin: DEFAULT_CAPACITY_MARGIN,
            keep: Vec::new(),
        }
    }
}

/// A code the purge deleted, would delete, or failed to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeCode {
    /// lockId.
    pub lock_id: i64,
    /// keyboardPwdId.
    pub passcode_id: i64,
    /// keyboardPwdName.
    pub name: Option<String>,
    /// endDate: when the code stopped being valid, ms since the epoch.
    pub valid_to_ms: i64,
}

/// A code the purge did not delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeFailure {
    /// The code.
    pub code: PurgeCode,
    /// Why it was not deleted.
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
    /// The name in the Lua report: 'list' or 'ledger'.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Listed => "list",
            Source::Ledger => "ledger",
        }
    }
}

/// What the purge did on one lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockReport {
    /// lockId.
    pub lock_id: i64,
    /// Codes known on the lock: listed by TTLock, or (source `Ledger`) known to the ledger.
    pub listed: usize,
    /// Codes found past their end and the grace (the codes to delete).
    pub expired: usize,
    /// Codes deleted in this run.
    pub deleted: usize,
    /// Expired codes kept because a live stay uses them (not counted in `expired`).
    pub kept: usize,
    /// No gateway reaches the lock: its expired codes were removed from TTLock's list only.
    pub cloud_only: bool,
    /// Where the lock's codes came from: a listing in this run or the ledger alone.
    pub source: Source,
    /// Why it was listed in full, or skipped.
    pub reason: Reason,
    /// Skipped with expired codes on the ledger (`ListedRecently`): how many wait for a later
    /// run.
    pub waiting: usize,
    /// The codes the ledger counted on the lock's memory before the run (permanent ones and
    /// live stays' included; 0 for a lock never listed).
    pub known: usize,
    /// The lock could not be listed, or deleting stopped on it.
    pub error: Option<Error>,
    /// This lock's codes, as in the report's own lists: what a per-lock log line prints.
    pub codes: LockCodes,
}

/// One lock's share of the report's lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockCodes {
    /// Deleted in this run.
    pub deleted: Vec<PurgeCode>,
    /// Would be deleted (dry run).
    pub would_delete: Vec<PurgeCode>,
    /// Not deleted, with why.
    pub failed: Vec<PurgeFailure>,
}

/// What `purge_expired` did on every lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeReport {
    /// The run deleted nothing, only reported.
    pub dry_run: bool,
    /// Codes deleted in this run, every lock.
    pub deleted: Vec<PurgeCode>,
    /// Codes that would be deleted (dry run), every lock.
    pub would_delete: Vec<PurgeCode>,
    /// Codes that could not be deleted, with why, every lock.
    pub failed: Vec<PurgeFailure>,
    /// One entry per lock asked for (a repeated id once).
    pub locks: Vec<LockReport>,
}

/// What phase 1 found on one lock.
#[derive(Debug, Default)]
struct Plan {
    listed: usize,
    /// Expired, but a live stay's: kept.
    kept: usize,
    /// Every candidate comes from a listing made in this run (never from the ledger alone).
    candidates: Vec<PurgeCode>,
    error: Option<Error>,
    /// A full listing made in this run.
    sync: Option<Listing>,
}

fn plan_full(c: &Client, lock_id: i64, req: &PurgeRequest, cutoff: i64) -> Plan {
    let t0 = now_ms();
    match list_all(c, lock_id, None) {
        Ok(items) => {
            let mut candidates =
                select_expired(&items, lock_id, cutoff, req.name_prefix.as_deref());
            let before = candidates.len();
            candidates.retain(|k| !req.keep.contains(&(lock_id, k.passcode_id)));
            Plan {
                listed: items.len(),
                kept: before - candidates.len(),
                candidates,
                sync: Some(select::listing_of(&items, lock_id, t0)),
                ..Plan::default()
            }
        }
        Err(e) => Plan {
            error: Some(e),
            ..Plan::default()
        },
    }
}

/// Phase 1's choice for one lock.
#[derive(Debug, Clone, Copy)]
struct Decision {
    reason: Reason,
    waiting: usize,
    known: usize,
}

/// `purge_expired`. Never fails as a whole: each lock's trouble is in its report entry.
pub fn purge_expired(c: &Client, req: &PurgeRequest) -> Result<PurgeReport> {
    if req.grace_ms < 0 || req.full_sweep_ms < 0 || req.every_ms < 0 {
        return Err(Error::invalid_argument(
            "grace_s, full_sweep_days and every_days must not be negative",
        ));
    }
    let lock_ids = dedup(req.lock_ids.iter().copied());
    let now = now_ms();
    let cutoff = now - req.grace_ms;
    let ledger = Ledger::new(&c.config().state_dir);
    let data: LedgerData = ledger.load();

    // 1. Plan, every lock at the same time (cloud reads only).
    let plans: Vec<(i64, Decision, Plan)> = bounded(lock_ids.clone(), MAX_WORKERS, |id| {
        let known: Vec<Entry> = data
            .entries_of(id)
            .filter(|e| !req.keep.contains(&(id, e.passcode_id)))
            .cloned()
            .collect();
        let k = Known {
            last_listing_ms: data.last_sweep(id),
            last_purge_ms: data.last_purge(id),
            expired: select::ledger_expired(&known, req, cutoff),
            count: data.known_count(id),
        };
        let reason = select::decide(k, req, now);
        let d = Decision {
            reason,
            waiting: if reason == Reason::ListedRecently {
                k.expired
            } else {
                0
            },
            known: k.count,
        };
        if reason.lists() {
            (id, d, plan_full(c, id, req, cutoff))
        } else {
            let plan = Plan {
                listed: known.len(),
                ..Plan::default()
            };
            (id, d, plan)
        }
    });

    // 2 + 3. Delete (and check where unsure), per gateway.
    let mut results: HashMap<i64, delete::Done> = HashMap::new();
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
            let plan_of = |id: i64| &plans.iter().find(|(i, _, _)| *i == id).expect("planned").2;
            results.extend(per_gateway(c, &map, &with_work, work, |id| {
                delete::delete_lock(c, &map, id, plan_of(id))
            }));
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
    let mut syncs: Vec<(i64, Listing)> = Vec::new();
    let mut removed: Vec<(i64, i64)> = Vec::new();
    let mut purged: Vec<(i64, i64)> = Vec::new();
    for (id, d, plan) in plans {
        let mut lr = LockReport {
            lock_id: id,
            listed: plan.listed,
            expired: plan.candidates.len(),
            deleted: 0,
            kept: plan.kept,
            cloud_only: false,
            source: if d.reason.lists() {
                Source::Listed
            } else {
                Source::Ledger
            },
            reason: d.reason,
            waiting: d.waiting,
            known: d.known,
            error: plan.error.clone(),
            codes: LockCodes::default(),
        };
        if req.dry_run {
            lr.codes.would_delete = plan.candidates.clone();
            report.would_delete.extend(plan.candidates.iter().cloned());
        }
        let listed_at = plan.sync.as_ref().map(|l| l.at_ms);
        let mut sync = plan.sync;
        if let Some(done) = results.remove(&id) {
            lr.deleted = done.deleted.len();
            lr.cloud_only = done.cloud_only;
            if lr.error.is_none() {
                lr.error = done.error;
            }
            removed.extend(done.deleted.iter().map(|d| (id, d.passcode_id)));
            lr.codes.deleted = done.deleted.clone();
            lr.codes.failed = done.failed.clone();
            report.deleted.extend(done.deleted);
            report.failed.extend(done.failed);
            if done.sync.is_some() {
                sync = done.sync;
            }
        }
        if let Some(listing) = sync {
            syncs.push((id, listing));
        }
        // Purged: listed, and everything found expired is gone (a dry run purges nothing).
        if let Some(t) =
            listed_at.filter(|_| !req.dry_run && lr.error.is_none() && lr.codes.failed.is_empty())
        {
            purged.push((id, t));
        }
        report.locks.push(lr);
    }
    if !(syncs.is_empty() && removed.is_empty()) {
        ledger.update_logged(c, |d| {
            // The listing first, then what was deleted since it was made.
            for (lock_id, l) in syncs {
                d.sync_lock(lock_id, l.at_ms, l.entries, l.permanent);
            }
            for (lock_id, t) in purged {
                d.note_purge(lock_id, t);
            }
            for (lock_id, p) in removed {
                d.remove(lock_id, p);
            }
        });
    }
    Ok(report)
}
