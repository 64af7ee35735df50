//! The stay memory: per room, the live stay (code, name, window) and the codes the room has on
//! each door (`holds`). Kept by the host (LM storage, one key per room) through [`StayStore`];
//! every event is a fresh process, so it is read at the start of each stay operation and written
//! after every change.
//!
//! A hold is what the module believes a lock holds for the room: the code, its id and the
//! window on the lock (on a common door shared by several stays, the hull of their windows).
//! A hold that does not belong to the live stay (an old code whose removal failed) stays in the
//! record until a later operation removes it or its window ends.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Code, Error, Result};
use crate::state;

/// Format version of a record.
pub const RECORD_VERSION: u32 = 1;
/// The default store's file in `state_dir` (hosts without a store of their own).
pub const STAYS_FILE: &str = "stays.json";
/// Serialises stay operations across processes (a double trigger waits for the first).
pub const STAYS_LOCK_FILE: &str = "stays.lock";
/// How long a stay operation waits for a running one: longer than any bounded operation.
pub const STAYS_LOCK_WAIT: Duration = Duration::from_secs(600);

/// A window on a lock, ms since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Window {
    /// Start, ms.
    pub from_ms: i64,
    /// End, ms.
    pub to_ms: i64,
}

impl Window {
    /// The earliest start to the latest end of both.
    pub fn hull(self, other: Window) -> Window {
        Window {
            from_ms: self.from_ms.min(other.from_ms),
            to_ms: self.to_ms.max(other.to_ms),
        }
    }
}

/// What reception asked for: the live stay of a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stay {
    /// 4 to 9 digits.
    pub passcode: String,
    /// The passcode's name in TTLock (`<room>_<DDMM><DDMM>`).
    pub name: String,
    /// Arrival, ms.
    pub valid_from_ms: i64,
    /// Departure, ms.
    pub valid_to_ms: i64,
    /// The code +1 held when this stay was asked for, when TTLock chose another one (an offline
    /// room door): asking with it again is the same request, not a new code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked: Option<String>,
    /// When the guest first opened a door with the stay's code (lock time, ms), as the door
    /// events poller found it: once per stay, kept through extends and new codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrived_ms: Option<i64>,
}

impl Stay {
    /// The stay's window.
    pub fn window(&self) -> Window {
        Window {
            from_ms: self.valid_from_ms,
            to_ms: self.valid_to_ms,
        }
    }

    /// Live until its end has passed.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.valid_to_ms > now_ms
    }
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A code the room has (or may have) on one lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The lock.
    pub lock_id: i64,
    /// The code's digits (to look it up when the id is unknown).
    pub passcode: String,
    /// keyboardPwdId, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passcode_id: Option<i64>,
    /// Start on the lock, ms.
    pub valid_from_ms: i64,
    /// End on the lock, ms.
    pub valid_to_ms: i64,
    /// The passcode's name on the lock, when known (a re-add after a failed step uses it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// False: an answer was lost, so the lock may or may not have it with this window (the next
    /// operation looks it up first).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub sure: bool,
    /// TTLock's random code (no gateway): it opens the door until its end, whatever the cloud
    /// is told, so no operation changes or deletes it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub offline: bool,
}

impl Hold {
    /// The window on the lock.
    pub fn window(&self) -> Window {
        Window {
            from_ms: self.valid_from_ms,
            to_ms: self.valid_to_ms,
        }
    }
}

/// A door of the stay as the memory keeps it (the retry of pending doors needs the doors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoorInfo {
    /// The lock.
    pub lock_id: i64,
    /// Its name in the status.
    pub name: String,
    /// 'gateway', 'offline' or 'auto'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codes: Option<String>,
}

/// A door that did not get the stay's state yet (best effort): retried with a growing interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The lock.
    pub lock_id: i64,
    /// Pending since, ms.
    pub since_ms: i64,
    /// Failed tries so far.
    pub attempts: u32,
    /// Not retried before, ms.
    pub next_ms: i64,
    /// Why it failed last (the advice).
    pub reason: String,
    /// The alert "still pending at arrival" was raised.
    #[serde(default, skip_serializing_if = "is_false")]
    pub alerted: bool,
    /// What waits is the removal of a checked-out stay's code.
    #[serde(default, skip_serializing_if = "is_false")]
    pub remove: bool,
}

/// One room's memory (one key of the store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRecord {
    /// [`RECORD_VERSION`].
    #[serde(default)]
    pub version: u32,
    /// The room's name (`Room_<name>` tag text).
    pub room: String,
    /// The live stay, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stay: Option<Stay>,
    /// The codes the room has on locks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<Hold>,
    /// The stay's doors (room lock first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub doors: Vec<DoorInfo>,
    /// Doors waiting for a retry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<Pending>,
    /// When it was last written, ms.
    #[serde(default)]
    pub updated_ms: i64,
}

impl RoomRecord {
    /// An empty record for `room`.
    pub fn new(room: &str) -> RoomRecord {
        RoomRecord {
            version: RECORD_VERSION,
            room: room.to_owned(),
            stay: None,
            holds: Vec::new(),
            doors: Vec::new(),
            pending: Vec::new(),
            updated_ms: 0,
        }
    }

    /// The stay, when it is live.
    pub fn live_stay(&self, now_ms: i64) -> Option<&Stay> {
        self.stay.as_ref().filter(|s| s.is_live(now_ms))
    }

    /// Drop an ended stay and holds whose window has ended (a lock refuses such a code; the
    /// purge deletes it). True when something was dropped.
    pub fn drop_ended(&mut self, now_ms: i64) -> bool {
        let before = (self.stay.is_some(), self.holds.len());
        if self.stay.as_ref().is_some_and(|s| !s.is_live(now_ms)) {
            self.stay = None;
        }
        if self.stay.is_none() {
            // Nothing is added for a stay that is over; removals wait while their code is valid.
            let holds = &self.holds;
            self.pending
                .retain(|p| p.remove && holds.iter().any(|h| h.lock_id == p.lock_id));
        }
        self.holds.retain(|h| h.valid_to_ms > now_ms);
        before != (self.stay.is_some(), self.holds.len())
    }

    /// Nothing left to remember.
    pub fn is_empty(&self) -> bool {
        self.stay.is_none() && self.holds.is_empty()
    }

    /// Whether a retry is due: a pending door's time has come, or the guest has arrived and the
    /// alert for a door still pending was not raised yet.
    pub fn retry_due(&self, now_ms: i64) -> bool {
        let arrived = self
            .stay
            .as_ref()
            .is_some_and(|s| s.valid_from_ms <= now_ms);
        self.pending
            .iter()
            .any(|p| p.next_ms <= now_ms || (arrived && !p.alerted))
    }
}

/// Where the stay memory lives: LM storage through the Lua `stay_store`, or a file.
/// Called only from the thread of the operation (never from gateway workers).
pub trait StayStore {
    /// Every room that may have a record (LM: the rooms of the `PassCode` objects).
    fn rooms(&self) -> Result<Vec<String>>;
    /// The record of a room, `None` when there is none.
    fn load(&self, room: &str) -> Result<Option<RoomRecord>>;
    /// Keep a record; `None` forgets the room's record.
    fn save(&self, room: &str, record: Option<&RoomRecord>) -> Result<()>;
}

/// The default store: one JSON file in `state_dir` (hosts that do not give `stay_store`).
pub struct FileStayStore {
    path: PathBuf,
}

impl FileStayStore {
    /// The store in `state_dir`.
    pub fn new(state_dir: &Path) -> FileStayStore {
        FileStayStore {
            path: state_dir.join(STAYS_FILE),
        }
    }

    fn read(&self) -> Result<BTreeMap<String, RoomRecord>> {
        match state::read_optional(&self.path)? {
            None => Ok(BTreeMap::new()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::new(
                    Code::BadResponse,
                    format!("{} is unreadable: {e}", self.path.display()),
                )
            }),
        }
    }
}

impl StayStore for FileStayStore {
    fn rooms(&self) -> Result<Vec<String>> {
        Ok(self.read()?.into_keys().collect())
    }

    fn load(&self, room: &str) -> Result<Option<RoomRecord>> {
        Ok(self.read()?.remove(room))
    }

    fn save(&self, room: &str, record: Option<&RoomRecord>) -> Result<()> {
        // The caller holds the stays lock, so read-modify-write is safe; an unreadable file is
        // not overwritten with one room.
        let mut all = self.read()?;
        match record {
            Some(r) => all.insert(room.to_owned(), r.clone()),
            None => all.remove(room),
        };
        let bytes = serde_json::to_vec_pretty(&all)
            .map_err(|e| Error::new(Code::BadResponse, format!("stays: {e}")))?;
        state::atomic_write(&self.path, &bytes)
    }
}

/// Take the lock that serialises stay operations across processes.
pub fn lock_stays(state_dir: &Path) -> Result<state::FileLock> {
    state::lock_exclusive(&state_dir.join(STAYS_LOCK_FILE), STAYS_LOCK_WAIT).map_err(|e| {
        let advice = "another stay change is still running for too long: try again in a minute";
        e.with_advice(advice)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(lock_id: i64, to_ms: i64) -> Hold {
        Hold {
            lock_id,
            passcode: "48213".into(),
            passcode_id: Some(7),
            name: None,
            valid_from_ms: 0,
            valid_to_ms: to_ms,
            sure: true,
            offline: false,
        }
    }

    #[test]
    fn ended_stays_and_holds_are_dropped() {
        let mut r = RoomRecord::new("101");
        r.stay = Some(Stay {
            passcode: "48213".into(),
            name: "101_01010201".into(),
            valid_from_ms: 0,
            valid_to_ms: 100,
            asked: None,
            arrived_ms: None,
        });
        r.holds = vec![hold(1, 100), hold(2, 200)];
        assert!(r.live_stay(99).is_some());
        assert!(!r.drop_ended(99));
        assert!(r.drop_ended(100));
        assert!(r.stay.is_none());
        assert_eq!(r.holds, vec![hold(2, 200)]);
        assert!(r.drop_ended(200));
        assert!(r.is_empty());
    }

    #[test]
    fn file_store_round_trip_and_sure_default() {
        let dir = std::env::temp_dir().join(format!("ttlock-stays-{}", state::unique()));
        let store = FileStayStore::new(&dir);
        assert_eq!(store.load("101").unwrap(), None);
        let mut r = RoomRecord::new("101");
        r.holds.push(hold(1, 5));
        store.save("101", Some(&r)).unwrap();
        assert_eq!(store.rooms().unwrap(), vec!["101".to_string()]);
        assert_eq!(store.load("101").unwrap(), Some(r));
        store.save("101", None).unwrap();
        assert!(store.rooms().unwrap().is_empty());
        // `sure` is written only when false.
        let text = serde_json::to_string(&hold(1, 5)).unwrap();
        assert!(!text.contains("sure"), "{text}");
        let back: Hold = serde_json::from_str(&text).unwrap();
        assert!(back.sure);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn hull_spans_both() {
        let a = Window {
            from_ms: 10,
            to_ms: 20,
        };
        let b = Window {
            from_ms: 30,
            to_ms: 40,
        };
        assert_eq!(
            a.hull(b),
            Window {
                from_ms: 10,
                to_ms: 40
            }
        );
    }
}
