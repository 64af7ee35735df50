//! Staff codes (docs/lua-api.md "Staff codes"): a settings list of permanent or period codes
//! (cleaning, maintenance, manager) kept on the doors by a sync that adds what is missing,
//! changes what changed and removes what it created and the settings no longer hold.
//!
//! - this file: the settings (checked before anything is sent), the staff record (what the sync
//!   created: lock, passcode id, name, a digest of the digits, never the digits) and its store,
//!   the codes the purge keeps, the guests' codes per door (from the stay memory).
//! - `plan`: what to do per code and door, without a call (unit-tested).
//! - `sync`: the calls, per gateway, and the report.
//!
//! Rules: a code the sync did not create (not in its record) is never changed or deleted; a
//! staff code that collides with a guest's code on a door is reported, never forced; an ended
//! period code is removed by the sync itself (revoked by time); settings equal to the record
//! cost no call.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::Validity;
use crate::error::{Code, Error, Result};
use crate::ops::passcodes::check_code;
use crate::ops::stay::StayStore;
use crate::state;

mod plan;
mod sync;

pub use plan::{plan, Reason, Status, Step, StepKind};
pub use sync::{staff_sync, DoorResult, StaffReport};

/// The record's file in `state_dir` when the host gives no store.
pub const STAFF_FILE: &str = "staff.json";
/// Serialises two syncs across processes.
pub const STAFF_LOCK_FILE: &str = "staff.lock";
const RECORD_VERSION: u32 = 1;

/// Which doors a staff code goes to, as the settings say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Doors {
    /// Every room lock of the request's `rooms`.
    Rooms,
    /// Every common door of the request's `common`.
    Common,
    /// Rooms and common doors.
    All,
    /// These locks.
    List(Vec<i64>),
}

impl Doors {
    /// `'rooms'`, `'common'` or `'all'`; anything else is `None`.
    pub fn parse(word: &str) -> Option<Doors> {
        match word {
            "rooms" => Some(Doors::Rooms),
            "common" => Some(Doors::Common),
            "all" => Some(Doors::All),
            _ => None,
        }
    }
}

/// One entry of the settings, as given. `Debug` hides the digits.
#[derive(Clone, PartialEq, Eq)]
pub struct StaffSpec {
    /// The code's name (shown in the TTLock app and the log): unique in the list.
    pub name: String,
    /// 4 to 9 digits.
    pub passcode: String,
    /// Where it goes.
    pub doors: Doors,
    /// Both `None`: permanent; both set: a period.
    pub valid_from_ms: Option<i64>,
    /// See `valid_from_ms`.
    pub valid_to_ms: Option<i64>,
}

impl std::fmt::Debug for StaffSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffSpec")
            .field("name", &self.name)
            .field("passcode", &"***")
            .field("doors", &self.doors)
            .field("valid_from_ms", &self.valid_from_ms)
            .field("valid_to_ms", &self.valid_to_ms)
            .finish()
    }
}

impl std::fmt::Debug for StaffCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffCode")
            .field("name", &self.name)
            .field("passcode", &"***")
            .field("lock_ids", &self.lock_ids)
            .field("validity", &self.validity)
            .finish()
    }
}

/// One staff code, checked, its doors resolved. `Debug` hides the digits.
#[derive(Clone, PartialEq, Eq)]
pub struct StaffCode {
    /// Its name.
    pub name: String,
    /// Its digits (never logged, never in a report).
    pub passcode: String,
    /// The locks, each once, in the settings' order.
    pub lock_ids: Vec<i64>,
    /// Permanent (type 2) or a period (type 3).
    pub validity: Validity,
}

/// What `staff_sync` is asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StaffRequest {
    /// The staff codes, checked.
    pub codes: Vec<StaffCode>,
    /// Door names for the texts (lock id → name); a lock without one is "lock <id>".
    pub door_names: BTreeMap<i64, String>,
    /// Report what would be done, send nothing.
    pub dry_run: bool,
}

impl StaffRequest {
    /// The door's name for a text.
    pub fn door_name(&self, lock_id: i64) -> String {
        self.door_names
            .get(&lock_id)
            .cloned()
            .unwrap_or_else(|| format!("lock {lock_id}"))
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::misuse(Code::InvalidArgument, msg)
}

/// Checks the settings and resolves the doors: every refusal names the code (never its digits)
/// and what to fix. Nothing is sent when this fails.
pub fn check_specs(specs: &[StaffSpec], rooms: &[i64], common: &[i64]) -> Result<Vec<StaffCode>> {
    let mut out: Vec<StaffCode> = Vec::new();
    let mut names = BTreeSet::new();
    for (i, s) in specs.iter().enumerate() {
        let name = s.name.trim();
        let at = if name.is_empty() {
            format!("staff code #{}", i + 1)
        } else {
            format!("staff code '{name}'")
        };
        if name.is_empty() {
            return Err(bad(format!("{at}: name is required")));
        }
        if name.chars().any(char::is_control) || name.chars().count() > 50 {
            return Err(bad(format!(
                "{at}: the name must be at most 50 characters without control characters"
            )));
        }
        if !names.insert(name.to_lowercase()) {
            return Err(bad(format!(
                "{at}: two staff codes have this name: names must be unique"
            )));
        }
        check_code(&s.passcode)
            .map_err(|_| bad(format!("{at}: the code must be 4 to 9 digits")))?;
        let validity = match (s.valid_from_ms, s.valid_to_ms) {
            (None, None) => Validity::Permanent,
            (Some(start_ms), Some(end_ms)) if end_ms > start_ms && start_ms >= 0 => {
                Validity::Period { start_ms, end_ms }
            }
            (Some(_), Some(_)) => {
                return Err(bad(format!(
                    "{at}: valid_to_ms must be after valid_from_ms"
                )))
            }
            _ => {
                return Err(bad(format!(
                    "{at}: give valid_from_ms and valid_to_ms together (neither: permanent)"
                )))
            }
        };
        let wanted: Vec<i64> = match &s.doors {
            Doors::Rooms => rooms.to_vec(),
            Doors::Common => common.to_vec(),
            Doors::All => rooms.iter().chain(common).copied().collect(),
            Doors::List(ids) => ids.clone(),
        };
        let mut seen = BTreeSet::new();
        let lock_ids: Vec<i64> = wanted.into_iter().filter(|id| seen.insert(*id)).collect();
        if lock_ids.is_empty() {
            let which = match s.doors {
                Doors::Rooms => "doors = 'rooms' but no rooms were given",
                Doors::Common => "doors = 'common' but no common doors were given",
                Doors::All => "doors = 'all' but no rooms or common doors were given",
                Doors::List(_) => "doors is an empty list",
            };
            return Err(bad(format!("{at}: {which}")));
        }
        if let Some(other) = out
            .iter()
            .find(|o| o.passcode == s.passcode && o.lock_ids.iter().any(|id| lock_ids.contains(id)))
        {
            return Err(bad(format!(
                "{at}: the same digits as staff code '{}' on a door both go to: a lock holds a code once",
                other.name
            )));
        }
        out.push(StaffCode {
            name: name.to_owned(),
            passcode: s.passcode.clone(),
            lock_ids,
            validity,
        });
    }
    Ok(out)
}

/// What the sync created on one lock (never the digits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffEntry {
    /// The staff code's name.
    pub name: String,
    /// The lock.
    pub lock_id: i64,
    /// keyboardPwdId; `None`: the add's answer was lost and no look-up settled it (the next
    /// sync may take over a copy with this name and validity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passcode_id: Option<i64>,
    /// [`digest`] of the digits on this lock: tells a changed code without keeping it.
    pub digest: String,
    /// Start of the period, ms (0 for a permanent code).
    #[serde(default)]
    pub valid_from_ms: i64,
    /// End of the period, ms (0 for a permanent code).
    #[serde(default)]
    pub valid_to_ms: i64,
}

impl StaffEntry {
    /// The validity the lock holds.
    pub fn validity(&self) -> Validity {
        if self.valid_to_ms == 0 {
            Validity::Permanent
        } else {
            Validity::Period {
                start_ms: self.valid_from_ms,
                end_ms: self.valid_to_ms,
            }
        }
    }
}

/// The staff record: every code the sync created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffRecord {
    /// Format version.
    #[serde(default)]
    pub version: u32,
    /// One entry per staff code and lock.
    #[serde(default)]
    pub codes: Vec<StaffEntry>,
    /// When the sync last wrote it, ms.
    #[serde(default)]
    pub updated_ms: i64,
}

impl StaffRecord {
    /// The entry of this code name on this lock.
    pub fn find(&self, name: &str, lock_id: i64) -> Option<&StaffEntry> {
        self.codes
            .iter()
            .find(|e| e.lock_id == lock_id && e.name == name)
    }

    /// Replace (or add) the entry of its name and lock.
    pub fn put(&mut self, e: StaffEntry) {
        self.remove(&e.name.clone(), e.lock_id);
        self.codes.push(e);
    }

    /// Forget the entry of this name and lock.
    pub fn remove(&mut self, name: &str, lock_id: i64) {
        self.codes
            .retain(|e| !(e.lock_id == lock_id && e.name == name));
    }
}

/// A fingerprint of a staff code on a lock: md5 of the lock id and the digits. Not a secret
/// (four to nine digits are quickly tried), only a way to see that the settings changed
/// without keeping the digits in the record (the settings hold them already).
pub fn digest(lock_id: i64, passcode: &str) -> String {
    crate::client::md5_hex(&format!("ttlock-staff:{lock_id}:{passcode}"))
}

/// Where the staff record is kept: the host's (LM storage), or a file in `state_dir`.
pub trait StaffStore {
    /// The record saved last (`None`: never saved).
    fn load(&self) -> Result<Option<StaffRecord>>;
    /// Keep the record.
    fn save(&self, record: &StaffRecord) -> Result<()>;
}

/// The default store: `state_dir/staff.json`.
pub struct FileStaffStore {
    path: PathBuf,
}

impl FileStaffStore {
    /// The store in `state_dir`.
    pub fn new(state_dir: &Path) -> FileStaffStore {
        FileStaffStore {
            path: state_dir.join(STAFF_FILE),
        }
    }
}

impl StaffStore for FileStaffStore {
    fn load(&self) -> Result<Option<StaffRecord>> {
        match state::read_optional(&self.path)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|_| unreadable(&format!("{} is unreadable", self.path.display()))),
        }
    }

    fn save(&self, record: &StaffRecord) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(record)
            .map_err(|e| Error::new(Code::BadResponse, format!("staff record: {e}")))?;
        state::atomic_write(&self.path, &bytes)
    }
}

/// The error of a record that cannot be read.
pub fn unreadable(what: &str) -> Error {
    Error::new(Code::BadResponse, format!("the staff record: {what}")).with_advice(
        "the staff record cannot be read: check the staff codes in the TTLock app, then delete the record (LM storage key ttlock_staff)",
    )
}

/// The codes the purge must keep: every code of the staff record, as (lock, id).
pub fn kept_codes(store: &dyn StaffStore) -> Result<Vec<(i64, i64)>> {
    Ok(store
        .load()?
        .unwrap_or_default()
        .codes
        .iter()
        .filter_map(|e| e.passcode_id.map(|id| (e.lock_id, id)))
        .collect())
}

/// The guests' codes on each door, as the stay memory knows them: every code a room holds on
/// a lock, and a live stay's code on each of its doors (a door still waiting for it too). Read
/// without the stays' lock (a snapshot); a room whose record cannot be read is an error (a
/// collision could not be seen).
pub fn guest_codes(store: &dyn StayStore, now_ms: i64) -> Result<BTreeMap<i64, BTreeSet<String>>> {
    let mut out: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for room in store.rooms()? {
        let Some(rec) = store.load(&room)? else {
            continue;
        };
        for h in &rec.holds {
            out.entry(h.lock_id).or_default().insert(h.passcode.clone());
        }
        if let Some(s) = rec.live_stay(now_ms) {
            for d in &rec.doors {
                out.entry(d.lock_id).or_default().insert(s.passcode.clone());
            }
        }
    }
    Ok(out)
}

/// Take the lock that serialises staff syncs.
pub fn lock_staff(state_dir: &Path) -> Result<state::FileLock> {
    state::lock_exclusive(
        &state_dir.join(STAFF_LOCK_FILE),
        std::time::Duration::from_secs(600),
    )
    .map_err(|e| e.with_advice("another staff sync is still running: try again later"))
}

/// The record's version written by this module.
pub(crate) fn record_version() -> u32 {
    RECORD_VERSION
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, code: &str, doors: Doors) -> StaffSpec {
        StaffSpec {
            name: name.into(),
            passcode: code.into(),
            doors,
            valid_from_ms: None,
            valid_to_ms: None,
        }
    }

    fn msg(specs: &[StaffSpec]) -> String {
        let e = check_specs(specs, &[1001, 1002], &[2001]).unwrap_err();
        assert!(e.is_misuse(), "{e:?}");
        e.message().to_owned()
    }

    #[test]
    fn doors_resolve_and_repeat_once() {
        let got = check_specs(
            &[
                spec("Cleaning", "246810", Doors::Rooms),
                spec("Manager", "135792", Doors::All),
                spec("Gate", "975310", Doors::List(vec![2001, 2001, 1002])),
                spec("Porter", "864200", Doors::Common),
            ],
            &[1001, 1002],
            &[2001, 1002],
        )
        .unwrap();
        let ids: Vec<Vec<i64>> = got.iter().map(|c| c.lock_ids.clone()).collect();
        assert_eq!(
            ids,
            vec![
                vec![1001, 1002],
                vec![1001, 1002, 2001],
                vec![2001, 1002],
                vec![2001, 1002]
            ]
        );
        assert!(got.iter().all(|c| c.validity == Validity::Permanent));
    }

    #[test]
    fn bad_settings_are_refused_without_the_digits() {
        let a = spec("Cleaning", "246810", Doors::Rooms);
        let mut dup = spec("cleaning ", "135792", Doors::Common);
        assert!(msg(&[a.clone(), dup.clone()]).contains("names must be unique"));
        dup.name = "Maintenance".into();
        dup.passcode = "12a4".into();
        let m = msg(&[a.clone(), dup.clone()]);
        assert!(
            m.contains("'Maintenance': the code must be 4 to 9 digits"),
            "{m}"
        );
        assert!(!m.contains("12a4"), "{m}");
        dup.passcode = "135792".into();
        dup.valid_from_ms = Some(5_000);
        assert!(msg(&[dup.clone()]).contains("together"));
        dup.valid_to_ms = Some(5_000);
        assert!(msg(&[dup.clone()]).contains("after valid_from_ms"));
        let same = spec("Night", "246810", Doors::List(vec![1002]));
        let m = msg(&[a.clone(), same]);
        assert!(m.contains("same digits as staff code 'Cleaning'"), "{m}");
        assert!(!m.contains("246810"), "{m}");
        // The same digits on doors that do not meet are allowed.
        check_specs(
            &[a, spec("Night", "246810", Doors::Common)],
            &[1001],
            &[2001],
        )
        .unwrap();
        let e = check_specs(&[spec("X", "1234", Doors::Rooms)], &[], &[2001]).unwrap_err();
        assert!(e.message().contains("no rooms were given"), "{e:?}");
        assert!(msg(&[spec(" ", "1234", Doors::Common)]).contains("#1: name is required"));
    }

    #[test]
    fn record_entries_and_digests() {
        let mut r = StaffRecord::default();
        let e = |name: &str, lock: i64, id: i64| StaffEntry {
            name: name.into(),
            lock_id: lock,
            passcode_id: Some(id),
            digest: digest(lock, "246810"),
            valid_from_ms: 0,
            valid_to_ms: 0,
        };
        r.put(e("Cleaning", 1, 10));
        r.put(e("Cleaning", 2, 11));
        r.put(e("Cleaning", 1, 12));
        assert_eq!(r.codes.len(), 2);
        assert_eq!(r.find("Cleaning", 1).unwrap().passcode_id, Some(12));
        r.remove("Cleaning", 2);
        assert_eq!(r.codes.len(), 1);
        assert_ne!(digest(1, "246810"), digest(2, "246810"));
        assert_eq!(r.codes[0].validity(), Validity::Permanent);
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("246810"), "{text}");
    }
}
