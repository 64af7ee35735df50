//! The passcode ledger, `state_dir/ledger.json`: the codes this module knows of on each lock
//! (lock, id, end ms, name) and when each lock was last listed in full.
//!
//! `add_passcode` records what it created, `delete_passcode` and `purge_expired` remove what
//! they deleted, and a full listing (the purge's sweep) replaces a lock's entries with what
//! TTLock listed (codes created in the TTLock app are adopted then). While a lock's last full
//! sweep is recent, the ledger knows every code on it that can expire, so the daily purge skips
//! a lock none of whose codes has expired without a call (API budget), and lists only the locks
//! where the ledger shows expired codes; the weekly sweep catches codes made elsewhere.
//!
//! Passcode values are never stored. The file is a cache: unreadable means empty (the next
//! purge sweeps every lock), and a failed write is logged, never fails an operation.
//! Read-modify-write is serialised across processes by `ledger.lock`.
//!
//! With a host `persist` store the file outlives a reboot of a controller whose `state_dir` is
//! in RAM (`state::persist`): an update that records a full listing (a purge) sets the
//! `persist.due` flag, so the snapshot is saved at the end of that call, not only at the next
//! interval.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::state;

/// The ledger's file in `state_dir`.
pub const LEDGER_FILE: &str = "ledger.json";
/// Lock file that serialises the ledger's read-modify-write across processes.
pub const LEDGER_LOCK_FILE: &str = "ledger.lock";
const VERSION: u32 = 1;

/// Who put a code on the lock, as far as the module knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Created by `add_passcode`.
    Module,
    /// Seen in a full listing (another program or the TTLock app created it).
    Sweep,
}

/// A code the ledger knows of (never its digits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// lockId of the lock that has the code.
    pub lock_id: i64,
    /// keyboardPwdId.
    pub passcode_id: i64,
    /// 0: permanent (never purged).
    pub end_ms: i64,
    /// keyboardPwdName, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When the entry was written (a sweep only drops entries older than its listing).
    pub added_ms: i64,
    /// Whether the module created the code or a listing found it.
    pub origin: Origin,
}

/// The content of `ledger.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerData {
    /// Format version of the file.
    #[serde(default)]
    pub version: u32,
    /// Every code known, on every lock.
    #[serde(default)]
    pub codes: Vec<Entry>,
    /// lock id (as text: JSON keys) → start of its last full listing, ms.
    #[serde(default)]
    pub sweeps: BTreeMap<String, i64>,
    /// lock id (as text) → start of its last full listing in a run that deleted what it found
    /// expired (not a dry run, no failure): `every_days` counts from it, so a dry run never
    /// postpones the deletions of the real run after it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub purges: BTreeMap<String, i64>,
    /// lock id (as text) → the permanent codes its last full listing showed. They are not kept
    /// as entries (they never expire) but fill the lock's memory all the same.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub permanent: BTreeMap<String, usize>,
}

impl LedgerData {
    /// The entries of one lock.
    pub fn entries_of(&self, lock_id: i64) -> impl Iterator<Item = &Entry> {
        self.codes.iter().filter(move |e| e.lock_id == lock_id)
    }

    /// When `lock_id` was last listed in full (ms since the epoch), if ever.
    pub fn last_sweep(&self, lock_id: i64) -> Option<i64> {
        self.sweeps.get(&lock_id.to_string()).copied()
    }

    /// Record a code (replacing an entry with the same lock and id).
    pub fn put(&mut self, e: Entry) {
        self.remove(e.lock_id, e.passcode_id);
        self.codes.push(e);
    }

    /// Drop the entry of this lock and keyboardPwdId, if any.
    pub fn remove(&mut self, lock_id: i64, passcode_id: i64) {
        self.codes
            .retain(|e| !(e.lock_id == lock_id && e.passcode_id == passcode_id));
    }

    /// When `lock_id` was last listed in full by a run that purged it (ms), if ever.
    pub fn last_purge(&self, lock_id: i64) -> Option<i64> {
        self.purges.get(&lock_id.to_string()).copied()
    }

    /// `lock_id` was listed in full at `listed_at_ms` and everything found expired deleted.
    pub fn note_purge(&mut self, lock_id: i64, listed_at_ms: i64) {
        self.purges.insert(lock_id.to_string(), listed_at_ms);
    }

    /// The codes the ledger counts on a lock's memory: its entries and the permanent codes of
    /// its last full listing.
    pub fn known_count(&self, lock_id: i64) -> usize {
        self.entries_of(lock_id).count()
            + self
                .permanent
                .get(&lock_id.to_string())
                .copied()
                .unwrap_or(0)
    }

    /// A full listing of `lock_id` that started at `listed_at_ms`: entries of the lock written
    /// before it are replaced by `listed` (entries written since, by a concurrent add, stay),
    /// and `permanent` is how many permanent codes it showed.
    pub fn sync_lock(
        &mut self,
        lock_id: i64,
        listed_at_ms: i64,
        listed: Vec<Entry>,
        permanent: usize,
    ) {
        let listed_ids: std::collections::HashSet<i64> =
            listed.iter().map(|e| e.passcode_id).collect();
        let mut kept_origin = BTreeMap::new();
        self.codes.retain(|e| {
            if e.lock_id != lock_id {
                return true;
            }
            if listed_ids.contains(&e.passcode_id) {
                kept_origin.insert(e.passcode_id, e.origin);
                return false;
            }
            e.added_ms >= listed_at_ms
        });
        for mut e in listed {
            // A code the module created stays marked as such.
            if let Some(o) = kept_origin.get(&e.passcode_id) {
                e.origin = *o;
            }
            self.codes.push(e);
        }
        self.sweeps.insert(lock_id.to_string(), listed_at_ms);
        if permanent > 0 {
            self.permanent.insert(lock_id.to_string(), permanent);
        } else {
            self.permanent.remove(&lock_id.to_string());
        }
    }
}

/// The ledger of one `state_dir`.
#[derive(Debug, Clone)]
pub struct Ledger {
    path: PathBuf,
    lock_path: PathBuf,
}

/// How long to wait for another process's read-modify-write.
const LOCK_WAIT: Duration = Duration::from_secs(10);

impl Ledger {
    /// The ledger kept in `state_dir` (nothing is read until it is used).
    pub fn new(state_dir: &Path) -> Ledger {
        Ledger {
            path: state_dir.join(LEDGER_FILE),
            lock_path: state_dir.join(LEDGER_LOCK_FILE),
        }
    }

    /// The path of `ledger.json`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current content (empty when missing or unreadable).
    pub fn load(&self) -> LedgerData {
        match state::read_optional(&self.path) {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_default(),
            _ => LedgerData::default(),
        }
    }

    /// Read, change and write back under the lock file.
    pub fn update(&self, f: impl FnOnce(&mut LedgerData)) -> Result<()> {
        let _guard = state::lock_exclusive(&self.lock_path, LOCK_WAIT)?;
        let mut data = self.load();
        let sweeps = data.sweeps.clone();
        f(&mut data);
        data.version = VERSION;
        let bytes = serde_json::to_vec(&data).expect("ledger data serialises");
        state::atomic_write(&self.path, &bytes)?;
        if data.sweeps != sweeps {
            if let Some(dir) = self.path.parent() {
                state::set_flag(dir, state::persist::DUE_FLAG, true)?;
            }
        }
        Ok(())
    }

    /// `update`, with a failure logged instead of returned (the ledger is a cache).
    pub fn update_logged(&self, c: &crate::client::Client, f: impl FnOnce(&mut LedgerData)) {
        if let Err(e) = self.update(f) {
            c.log(format!("ttlock: passcode ledger not updated: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(lock: i64, id: i64, end: i64, added: i64, origin: Origin) -> Entry {
        Entry {
            lock_id: lock,
            passcode_id: id,
            end_ms: end,
            name: Some(format!("n{id}")),
            added_ms: added,
            origin,
        }
    }

    #[test]
    fn put_remove_and_file_round_trip() {
        let dir = state::temp_dir("ledger");
        let l = Ledger::new(&dir);
        assert_eq!(l.load(), LedgerData::default());
        l.update(|d| {
            d.put(e(1, 11, 500, 1, Origin::Module));
            d.put(e(1, 12, 600, 1, Origin::Module));
            d.put(e(2, 11, 0, 1, Origin::Module));
            // Same lock and id again: replaced, not doubled.
            d.put(e(1, 11, 700, 2, Origin::Module));
        })
        .unwrap();
        let d = l.load();
        assert_eq!(d.version, VERSION);
        assert_eq!(d.entries_of(1).count(), 2);
        assert_eq!(
            d.entries_of(1)
                .find(|x| x.passcode_id == 11)
                .unwrap()
                .end_ms,
            700
        );
        l.update(|d| d.remove(1, 12)).unwrap();
        assert_eq!(l.load().entries_of(1).count(), 1);
        assert!(
            !state::flag(&dir, state::persist::DUE_FLAG),
            "adds and deletes wait for the interval"
        );
        l.update(|d| d.sync_lock(1, 9, vec![], 0)).unwrap();
        assert!(
            state::flag(&dir, state::persist::DUE_FLAG),
            "a full listing asks for a save"
        );
        assert_eq!(l.load().entries_of(2).count(), 1);
        // No passcode value is ever written.
        let text = std::fs::read_to_string(l.path()).unwrap();
        assert!(!text.contains("keyboard"), "{text}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn corrupt_file_reads_as_empty_and_is_rewritten() {
        let dir = state::temp_dir("ledger-bad");
        let l = Ledger::new(&dir);
        std::fs::write(l.path(), b"{not json").unwrap();
        assert_eq!(l.load(), LedgerData::default());
        l.update(|d| d.put(e(5, 1, 9, 1, Origin::Module))).unwrap();
        assert_eq!(l.load().codes.len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn sync_replaces_a_lock_but_keeps_newer_entries_and_module_origin() {
        let mut d = LedgerData::default();
        d.put(e(1, 11, 100, 10, Origin::Module)); // still listed
        d.put(e(1, 12, 100, 10, Origin::Module)); // gone from the lock
        d.put(e(1, 13, 100, 50, Origin::Module)); // added after the listing began
        d.put(e(2, 11, 100, 10, Origin::Module)); // another lock
        d.sync_lock(
            1,
            40,
            vec![
                e(1, 11, 100, 40, Origin::Sweep),
                e(1, 14, 200, 40, Origin::Sweep),
            ],
            3,
        );
        let mut ids: Vec<_> = d.entries_of(1).map(|x| (x.passcode_id, x.origin)).collect();
        ids.sort_by_key(|x| x.0);
        assert_eq!(
            ids,
            vec![
                (11, Origin::Module),
                (13, Origin::Module),
                (14, Origin::Sweep)
            ]
        );
        assert_eq!(d.entries_of(2).count(), 1);
        assert_eq!(d.last_sweep(1), Some(40));
        assert_eq!(d.last_sweep(2), None);
        assert_eq!(d.last_purge(1), None, "a listing alone is no purge");
        d.note_purge(1, 40);
        assert_eq!(d.last_purge(1), Some(40));
        // Three entries and the three permanent codes of the listing fill the lock's memory.
        assert_eq!((d.known_count(1), d.known_count(2)), (6, 1));
        // A listing without permanent codes forgets the count.
        d.sync_lock(1, 60, vec![], 0);
        assert_eq!(d.known_count(1), 0);
        assert!(d.permanent.is_empty());
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        let dir = state::temp_dir("ledger-conc");
        let l = Ledger::new(&dir);
        std::thread::scope(|s| {
            for t in 0..4 {
                let l = l.clone();
                s.spawn(move || {
                    for i in 0..10 {
                        l.update(|d| d.put(e(t, i, 1, 1, Origin::Module))).unwrap();
                    }
                });
            }
        });
        assert_eq!(l.load().codes.len(), 40);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
