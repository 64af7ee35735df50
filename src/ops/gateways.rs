//! Which gateway reaches each lock, `state_dir/gateways.json`, used only for scheduling:
//! operations on locks that share a gateway run one after another (a second one would get
//! -3003), others at the same time.
//!
//! A few unknown locks (a check-in) are learned with one `gateway/listByLock` each; many (a
//! site's first purge) per gateway instead, with `gateway/list` and one `gateway/listLock` per
//! gateway, which also files every other lock of the account.
//!
//! TTLock sends a remote command through the best-RSSI gateway that saw the lock recently
//! (ttlock-api.md §6.2), so a lock is filed under that one. An entry is learned again when an
//! answer shows it is stale (-2012 no gateway, -3002 gateway offline: the lock may have moved to
//! another gateway) and after [`MAX_AGE_MS`].
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::host::{bounded, MAX_WORKERS};
use crate::ops::listing::dedup;
use crate::state;
use crate::transport::now_ms;

/// The gateway map's file in `state_dir`.
pub const GATEWAYS_FILE: &str = "gateways.json";
const GATEWAYS_LOCK_FILE: &str = "gateways.lock";

/// Re-learn a lock's gateways after a month even without a sign of change.
pub const MAX_AGE_MS: i64 = 30 * 86_400_000;

/// What the map knows of one lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Known {
    /// Gateway ids, best signal first (empty: no gateway reaches the lock).
    pub gateways: Vec<i64>,
    /// When the entry was learned, ms since the epoch (it is learned again after [`MAX_AGE_MS`]).
    pub learned_ms: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct MapFile {
    #[serde(default)]
    locks: BTreeMap<String, Known>,
}

/// The gateway map of one `state_dir`.
#[derive(Debug, Clone)]
pub struct GatewayMap {
    path: PathBuf,
    lock_path: PathBuf,
}

/// Where a lock's gateway operations are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// Operations on locks of this gateway run one after another.
    Gateway(i64),
    /// Gateway not known (no gateway, or learning failed): such locks share one sequential slot.
    Unknown,
}

/// Whether an error says the stored gateway of a lock may be wrong.
pub fn is_stale_sign(e: &Error) -> bool {
    e.rules().gateway_stale
}

impl GatewayMap {
    /// The map kept in `state_dir` (nothing is read until it is used).
    pub fn new(state_dir: &Path) -> GatewayMap {
        GatewayMap {
            path: state_dir.join(GATEWAYS_FILE),
            lock_path: state_dir.join(GATEWAYS_LOCK_FILE),
        }
    }

    fn load(&self) -> MapFile {
        match state::read_optional(&self.path) {
            Ok(Some(b)) => serde_json::from_slice(&b).unwrap_or_default(),
            _ => MapFile::default(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut MapFile)) -> Result<()> {
        let _guard = state::lock_exclusive(&self.lock_path, Duration::from_secs(10))?;
        let mut m = self.load();
        f(&mut m);
        let bytes = serde_json::to_vec(&m).expect("gateway map serialises");
        state::atomic_write(&self.path, &bytes)
    }

    /// Forget a lock's entry (learned again on next use).
    pub fn forget(&self, c: &Client, lock_id: i64) {
        if let Err(e) = self.update(|m| {
            m.locks.remove(&lock_id.to_string());
        }) {
            c.log(format!("ttlock: gateway map not updated: {e}"));
        }
    }

    /// The stored first gateway of a lock, without learning it (no API call).
    pub fn stored_gateway(&self, lock_id: i64) -> Option<i64> {
        self.load()
            .locks
            .get(&lock_id.to_string())
            .and_then(|k| k.gateways.first().copied())
    }

    /// Whether any gateway reaches the lock (learned with one `gateway/listByLock` when not
    /// stored, and stored).
    pub fn has_gateway(&self, c: &Client, lock_id: i64) -> Result<bool> {
        if let Some(k) = self.load().locks.get(&lock_id.to_string()) {
            if now_ms() - k.learned_ms < MAX_AGE_MS {
                return Ok(!k.gateways.is_empty());
            }
        }
        let list = api::gateway_list_by_lock(c, lock_id)?;
        let k = known_from(
            list.into_iter().map(|g| (g.gateway_id, g.rssi)).collect(),
            now_ms(),
        );
        let has = !k.gateways.is_empty();
        if let Err(e) = self.update(|m| {
            m.locks.insert(lock_id.to_string(), k);
        }) {
            c.log(format!("ttlock: gateway map not updated: {e}"));
        }
        Ok(has)
    }

    /// This lock's turn at its gateway: an exclusive lock on `state_dir/gateway-<id>.lock`, held
    /// for one gateway operation (with its retries). LM runs every event script in a process of
    /// its own, so without it check-ins that share a gateway (the main door) reach it at the
    /// same time and all but one get -3003; with gateways that take seconds, their busy rounds
    /// run out. A lock whose gateway is not stored goes without; so does one that waited longer
    /// than [`turn_wait`] (the -3003 handling still applies).
    pub fn turn(&self, c: &Client, lock_id: i64) -> Option<state::FileLock> {
        let gateway = self.stored_gateway(lock_id)?;
        let dir = self.path.parent()?;
        let wait = turn_wait(c);
        match state::lock_exclusive(&dir.join(format!("gateway-{gateway}.lock")), wait) {
            Ok(l) => Some(l),
            Err(e) => {
                c.log(format!(
                    "ttlock: lock {lock_id}: no turn at gateway {gateway} ({e}): going ahead"
                ));
                None
            }
        }
    }

    /// `forget` when `e` shows the lock's entry may be stale.
    pub fn note_error(&self, c: &Client, lock_id: i64, e: &Error) {
        if is_stale_sign(e) {
            self.forget(c, lock_id);
        }
    }

    /// The slot of every lock, learning those not stored: more than [`PER_LOCK_MAX`] of them
    /// from the whole account (see [`learn_account`]), which also stores every other lock found,
    /// else (and for locks the account's gateways do not list) one `gateway/listByLock` each, in
    /// parallel, bounded. A lock whose gateways cannot be learned now goes to `Slot::Unknown`.
    pub fn slots(&self, c: &Client, lock_ids: &[i64]) -> HashMap<i64, Slot> {
        let stored = self.load();
        let now = now_ms();
        let mut out = HashMap::new();
        let mut missing = Vec::new();
        for &id in lock_ids {
            match stored.locks.get(&id.to_string()) {
                Some(k) if now - k.learned_ms < MAX_AGE_MS => {
                    out.insert(id, slot_of(k));
                }
                _ => missing.push(id),
            }
        }
        if missing.is_empty() {
            return out;
        }
        let mut fresh: Vec<(i64, Known)> = Vec::new();
        let mut per_lock = missing.clone();
        if missing.len() > PER_LOCK_MAX {
            match learn_account(c, missing.len()) {
                Ok(Some(all)) => {
                    per_lock.retain(|id| !all.contains_key(id));
                    fresh.extend(all);
                }
                Ok(None) => {}
                Err(e) => c.log(format!(
                    "ttlock: gateways of the account not learned ({}): learning them per lock",
                    e.code()
                )),
            }
        }
        let learned = bounded(per_lock.clone(), MAX_WORKERS, |id| {
            api::gateway_list_by_lock(c, id).map(|list| {
                known_from(
                    list.into_iter().map(|g| (g.gateway_id, g.rssi)).collect(),
                    now_ms(),
                )
            })
        });
        for (id, r) in per_lock.into_iter().zip(learned) {
            match r {
                Ok(k) => fresh.push((id, k)),
                Err(e) => c.log(format!(
                    "ttlock: lock {id}: gateways not learned ({}): scheduled on their own",
                    e.code()
                )),
            }
        }
        for (id, k) in &fresh {
            if missing.contains(id) {
                out.insert(*id, slot_of(k));
            }
        }
        for id in missing {
            out.entry(id).or_insert(Slot::Unknown);
        }
        if !fresh.is_empty() {
            if let Err(e) = self.update(|m| {
                for (id, k) in fresh {
                    m.locks.insert(id.to_string(), k);
                }
            }) {
                c.log(format!("ttlock: gateway map not updated: {e}"));
            }
        }
        out
    }
}

/// Up to this many unknown locks (a check-in) are learned one `gateway/listByLock` each; more
/// may be cheaper to learn per gateway.
pub const PER_LOCK_MAX: usize = 2;

/// `gateway/list`'s documented maximum page size.
const GATEWAY_PAGE_SIZE: i64 = 200;

/// A guard against an answer whose `pages` never ends (10,000 gateways).
const MAX_GATEWAY_PAGES: i64 = 50;

/// Every lock the account's gateways list, from `gateway/list` (paged) and one
/// `gateway/listLock` per gateway; `None` when, after the first page, that would take at least
/// as many calls as `unknown` `gateway/listByLock` calls. A failed `listLock` fails the whole:
/// a lock it would have listed might otherwise be filed under a worse gateway.
fn learn_account(c: &Client, unknown: usize) -> Result<Option<HashMap<i64, Known>>> {
    let first = api::gateway_list(c, 1, GATEWAY_PAGE_SIZE)?;
    let pages = first.pages.clamp(1, MAX_GATEWAY_PAGES);
    let count = first.total.max(first.list.len() as i64);
    if unknown as i64 <= pages - 1 + count {
        return Ok(None);
    }
    let mut gateway_ids: Vec<i64> = first.list.iter().map(|g| g.gateway_id).collect();
    for page_no in 2..=pages {
        let pg = api::gateway_list(c, page_no, GATEWAY_PAGE_SIZE)?;
        if pg.list.is_empty() {
            break;
        }
        gateway_ids.extend(pg.list.iter().map(|g| g.gateway_id));
    }
    let gateway_ids = dedup(gateway_ids);
    let lists = bounded(gateway_ids.clone(), MAX_WORKERS, |g| {
        api::gateway_list_lock(c, g)
    });
    let mut seen: HashMap<i64, Vec<(i64, Option<i64>)>> = HashMap::new();
    for (g, r) in gateway_ids.into_iter().zip(lists) {
        for l in r? {
            seen.entry(l.lock_id).or_default().push((g, l.rssi));
        }
    }
    let now = now_ms();
    Ok(Some(
        seen.into_iter()
            .map(|(id, gs)| (id, known_from(gs, now)))
            .collect(),
    ))
}

/// A lock's entry from its gateways and their signals: best signal first (TTLock sends through
/// that one); equal or unknown signals keep the order given.
fn known_from(mut gateways: Vec<(i64, Option<i64>)>, learned_ms: i64) -> Known {
    gateways.sort_by_key(|&(_, rssi)| std::cmp::Reverse(rssi.unwrap_or(i64::MIN)));
    let mut ids: Vec<i64> = Vec::with_capacity(gateways.len());
    for (g, _) in gateways {
        if !ids.contains(&g) {
            ids.push(g);
        }
    }
    Known {
        gateways: ids,
        learned_ms,
    }
}

/// How long a turn at a gateway is waited for: the other processes' operations are bounded by
/// their timeouts and retries; a minute at least, so that 8 check-ins on one gateway (16
/// operations of a few seconds) get through.
pub fn turn_wait(c: &Client) -> Duration {
    let cfg = c.config();
    ((cfg.timeout + cfg.connect_timeout) * (2 * (cfg.retries + 1))).max(Duration::from_secs(60))
}

fn slot_of(k: &Known) -> Slot {
    k.gateways
        .first()
        .map_or(Slot::Unknown, |g| Slot::Gateway(*g))
}

/// Group `lock_ids` (order kept within a group) by slot; groups in order of first appearance.
pub fn group(lock_ids: &[i64], slots: &HashMap<i64, Slot>) -> Vec<(Slot, Vec<i64>)> {
    let mut groups: Vec<(Slot, Vec<i64>)> = Vec::new();
    for &id in lock_ids {
        let s = slots.get(&id).copied().unwrap_or(Slot::Unknown);
        match groups.iter_mut().find(|(g, _)| *g == s) {
            Some((_, v)) => v.push(id),
            None => groups.push((s, vec![id])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_by_slot_keeps_order() {
        let slots: HashMap<i64, Slot> = [
            (1, Slot::Gateway(10)),
            (2, Slot::Gateway(20)),
            (3, Slot::Gateway(10)),
            (4, Slot::Unknown),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            group(&[1, 2, 3, 4, 5], &slots),
            vec![
                (Slot::Gateway(10), vec![1, 3]),
                (Slot::Gateway(20), vec![2]),
                (Slot::Unknown, vec![4, 5]),
            ]
        );
    }

    #[test]
    fn stale_signs_and_slots() {
        assert!(is_stale_sign(&Error::from_errcode(-2012, None)));
        assert!(is_stale_sign(&Error::from_errcode(-3002, None)));
        assert!(!is_stale_sign(&Error::from_errcode(-3003, None)));
        let k = Known {
            gateways: vec![],
            learned_ms: 0,
        };
        assert_eq!(slot_of(&k), Slot::Unknown);
        let k = Known {
            gateways: vec![7, 8],
            learned_ms: 0,
        };
        assert_eq!(slot_of(&k), Slot::Gateway(7));
    }

    #[test]
    fn best_signal_first_unknown_last_ties_in_order() {
        let k = known_from(
            vec![
                (1, Some(-80)),
                (2, None),
                (3, Some(-55)),
                (4, Some(-80)),
                (3, Some(-90)),
            ],
            5,
        );
        assert_eq!(k.gateways, vec![3, 1, 4, 2]);
        assert_eq!(k.learned_ms, 5);
        assert_eq!(slot_of(&known_from(vec![], 0)), Slot::Unknown);
    }
}
