//! Which gateway reaches each lock, `state_dir/gateways.json`, learned once per lock with
//! `gateway/listByLock` and used only for scheduling: operations on locks that share a gateway
//! run one after another (a second one would get -3003), others at the same time.
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
use crate::http::now_ms;
use crate::state;

pub const GATEWAYS_FILE: &str = "gateways.json";
const GATEWAYS_LOCK_FILE: &str = "gateways.lock";

/// Re-learn a lock's gateways after a month even without a sign of change.
pub const MAX_AGE_MS: i64 = 30 * 86_400_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Known {
    /// Gateway ids, best signal first (empty: no gateway reaches the lock).
    pub gateways: Vec<i64>,
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
    Gateway(i64),
    /// Gateway not known (no gateway, or learning failed): such locks share one sequential slot.
    Unknown,
}

/// Whether an error says the stored gateway of a lock may be wrong.
pub fn is_stale_sign(e: &Error) -> bool {
    matches!(e.errcode(), Some(-2012 | -3002))
}

impl GatewayMap {
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

    /// `forget` when `e` shows the lock's entry may be stale.
    pub fn note_error(&self, c: &Client, lock_id: i64, e: &Error) {
        if is_stale_sign(e) {
            self.forget(c, lock_id);
        }
    }

    /// The slot of every lock, learning (in parallel, bounded) those not stored. A lock whose
    /// gateways cannot be learned now goes to `Slot::Unknown`.
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
        let learned = super::bounded(missing.clone(), super::MAX_WORKERS, |id| {
            api::gateway_list_by_lock(c, id).map(|list| {
                let mut list = list;
                // Best signal first; equal or unknown signals keep TTLock's order.
                list.sort_by_key(|g| std::cmp::Reverse(g.rssi.unwrap_or(i64::MIN)));
                Known {
                    gateways: list.into_iter().map(|g| g.gateway_id).collect(),
                    learned_ms: now_ms(),
                }
            })
        });
        let mut fresh = Vec::new();
        for (id, r) in missing.into_iter().zip(learned) {
            match r {
                Ok(k) => {
                    out.insert(id, slot_of(&k));
                    fresh.push((id, k));
                }
                Err(e) => {
                    c.log(format!(
                        "ttlock: lock {id}: gateways not learned ({}): scheduled on their own",
                        e.code()
                    ));
                    out.insert(id, Slot::Unknown);
                }
            }
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
}
