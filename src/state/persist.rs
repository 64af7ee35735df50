//! What must outlive a reboot, kept in the host's persistent store (`configure{persist}`; LM
//! storage in the LM library) with a bounded number of writes per day.
//!
//! `state_dir` stays where every process works (on LM: `/tmp/ttlock`, RAM): the call counter
//! takes one append per API call, lock files and flags change all the time, and none of that may
//! wear the controller's flash. What a reboot must not lose is copied out as one snapshot (one
//! text under one key): the month's call count and the files named by the caller (the passcode
//! ledger and the gateway map). Never the tokens (they have their own store) and never a
//! passcode's digits (the ledger holds none).
//!
//! - **Restore** ([`restore_if_needed`], before an operation): when `state_dir` has no
//!   [`STAMP_FILE`] (the first call after a reboot emptied RAM, or ever), the snapshot is loaded;
//!   each file missing from `state_dir` is written from it, and the month's counter is raised to
//!   the snapshot's count (never lowered, see [`super::raise_calls`]). Files present stay: they
//!   are at least as new as the snapshot.
//! - **Save** ([`save_if_due`], after an operation): a snapshot is written when its content
//!   changed and either [`Config::persist_every`](crate::config::Config) has passed since the
//!   last save or check (periodic), or a full listing of a lock changed the ledger
//!   ([`DUE_FLAG`], set by the ledger; a purge) and fewer than [`FORCED_PER_DAY`] such saves
//!   were made today (forced). Never more than [`bound_per_day`] writes in a UTC day.
//! - The bound survives a reboot: the snapshot carries the day's write counts, and the stamp
//!   restored from it carries on counting.
//! - A process that could not load the snapshot never saves (it would overwrite the kept state
//!   with an empty one); the next call tries to load again.
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    atomic_write, beijing_month, flag, lock_exclusive, month_calls, raise_calls, read_optional,
    set_flag,
};
use crate::error::{Code, Result};

/// The one key the snapshot is saved under (`persist.save(KEY, text)`).
pub const KEY: &str = "state";
/// In `state_dir`: when this boot restored, when the last save was, today's write counts.
pub const STAMP_FILE: &str = "persist.json";
/// In `state_dir`: serialises restore and save across processes.
pub const LOCK_FILE: &str = "persist.lock";
/// Flag file in `state_dir`: a change worth saving before the interval ends (a full listing).
pub const DUE_FLAG: &str = "persist.due";
/// Default of `persist_every_s`: a periodic save at most every 30 minutes.
pub const DEFAULT_EVERY_S: u64 = 1800;
/// The least `persist_every_s` accepted (5 minutes: 292 writes a day at most).
pub const MIN_EVERY_S: u64 = 300;
/// The most `persist_every_s` accepted (a day).
pub const MAX_EVERY_S: u64 = 86_400;
/// Saves a day that do not wait for the interval (after a purge's listings).
pub const FORCED_PER_DAY: u32 = 4;

const DAY_MS: i64 = 86_400_000;
const VERSION: u32 = 1;
/// 2024-01-01T00:00:00Z: before it the clock has not been set since a cold boot (no NTP yet). A
/// restore then would file the kept count under the wrong month, so it waits for the clock.
const SANE_CLOCK_MS: i64 = 1_704_067_200_000;
const RESTORE_WAIT: Duration = Duration::from_secs(10);
const SAVE_WAIT: Duration = Duration::from_secs(2);

/// The host's persistent store: text by key.
pub trait Store {
    /// The text saved under `key`, `None` when nothing is.
    fn load(&self, key: &str) -> Result<Option<String>>;
    /// Keep `text` under `key` (replacing what was there).
    fn save(&self, key: &str, text: &str) -> Result<()>;
}

/// The most writes to the store in one UTC day with a periodic save every `every`: one per
/// interval and [`FORCED_PER_DAY`] more (48 + 4 = 52 with the default 30 minutes).
pub fn bound_per_day(every: Duration) -> u32 {
    let s = every.as_secs().max(1);
    86_400u64.div_ceil(s) as u32 + FORCED_PER_DAY
}

/// The UTC day of a time (days since 1970-01-01).
pub fn utc_day(now_ms: i64) -> i64 {
    now_ms.div_euclid(DAY_MS)
}

/// The text under [`KEY`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    /// When it was written.
    saved_ms: i64,
    /// The UTC day of `saved_ms`, and the writes (this one included) and forced writes that day.
    day: i64,
    writes: u32,
    #[serde(default)]
    forced: u32,
    /// TTLock's month (Beijing time) and the calls counted in it.
    month: String,
    calls: u64,
    /// File name in `state_dir` → its JSON content.
    #[serde(default)]
    files: BTreeMap<String, serde_json::Value>,
}

/// `state_dir/persist.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    /// The last save or check: the interval counts from it.
    last_ms: i64,
    /// The last write (0: none known).
    saved_ms: i64,
    /// UTC day of the counts below.
    day: i64,
    writes: u32,
    forced: u32,
    /// Of the content last written (or restored): unchanged content is not written again.
    hash: u64,
    /// When this boot restored.
    restored_ms: i64,
}

/// What a restore did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// Files written back into `state_dir`.
    pub files: Vec<String>,
    /// The month's count the counter was raised to (0: none kept for this month).
    pub calls: u64,
    /// When the snapshot was written (0: there was none).
    pub saved_ms: i64,
    /// A snapshot was there but could not be read: it is replaced at the next save.
    pub unreadable: bool,
}

/// What a save did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    /// Writes today (UTC), this one included.
    pub writes_today: u32,
    /// It did not wait for the interval (after a full listing).
    pub forced: bool,
    /// Bytes written.
    pub bytes: usize,
}

/// The persistent store's use today, for `stats()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// Writes in the current UTC day.
    pub writes_today: u32,
    /// The most writes a day ([`bound_per_day`]).
    pub bound: u32,
    /// When the snapshot was last written, if known.
    pub saved_ms: Option<i64>,
    /// Whether this boot has restored (else the next call does).
    pub restored: bool,
}

fn read_stamp(dir: &Path) -> Option<Stamp> {
    let bytes = read_optional(&dir.join(STAMP_FILE)).ok()??;
    // An unreadable stamp counts as present with no history: it is rewritten at the next save.
    Some(serde_json::from_slice(&bytes).unwrap_or_default())
}

fn write_stamp(dir: &Path, s: &Stamp) -> Result<()> {
    atomic_write(
        &dir.join(STAMP_FILE),
        &serde_json::to_vec(s).expect("stamp serialises"),
    )
}

/// The part of the snapshot that says whether anything changed.
#[derive(Serialize)]
struct Content {
    month: String,
    calls: u64,
    files: BTreeMap<String, serde_json::Value>,
}

fn content(dir: &Path, files: &[&str], now_ms: i64) -> Result<Content> {
    let (month, calls) = month_calls(dir, now_ms)?;
    let mut out = BTreeMap::new();
    for name in files {
        if let Some(bytes) = read_optional(&dir.join(name))? {
            // A file that is not JSON is not kept (the files are caches: unreadable = empty).
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                out.insert((*name).to_owned(), v);
            }
        }
    }
    Ok(Content {
        month,
        calls,
        files: out,
    })
}

fn hash_of(c: &Content) -> u64 {
    let text = serde_json::to_string(c).expect("content serialises");
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// When `state_dir` has not been restored since it was emptied (a reboot), load the snapshot,
/// write back the files of `files` that are missing, raise the month's counter to the kept
/// count, and start the stamp. `Ok(None)`: restored already, or the clock is not set yet (a
/// later call restores). An error of `store.load` is returned and nothing is written (the next
/// call tries again; no save happens meanwhile).
pub fn restore_if_needed(
    dir: &Path,
    files: &[&str],
    store: &dyn Store,
    now_ms: i64,
) -> Result<Option<Restored>> {
    let stamp_path = dir.join(STAMP_FILE);
    if stamp_path.exists() || now_ms < SANE_CLOCK_MS {
        return Ok(None);
    }
    let _guard = lock_exclusive(&dir.join(LOCK_FILE), RESTORE_WAIT)?;
    if stamp_path.exists() {
        return Ok(None);
    }
    let text = store.load(KEY)?;
    let mut out = Restored::default();
    let snap = match text {
        None => None,
        Some(t) => match serde_json::from_str::<Snapshot>(&t) {
            Ok(s) if s.version == VERSION => Some(s),
            _ => {
                out.unreadable = true;
                None
            }
        },
    };
    let mut stamp = Stamp {
        restored_ms: now_ms,
        day: utc_day(now_ms),
        ..Stamp::default()
    };
    if let Some(s) = &snap {
        for name in files {
            let path = dir.join(name);
            if let Some(v) = s.files.get(*name) {
                if !path.exists() {
                    atomic_write(&path, &serde_json::to_vec(v).expect("json serialises"))?;
                    out.files.push((*name).to_owned());
                }
            }
        }
        if s.month == beijing_month(now_ms) {
            raise_calls(dir, now_ms, s.calls)?;
            out.calls = s.calls;
        }
        out.saved_ms = s.saved_ms;
        stamp.last_ms = s.saved_ms;
        stamp.saved_ms = s.saved_ms;
        stamp.day = s.day;
        stamp.writes = s.writes;
        stamp.forced = s.forced;
    }
    stamp.hash = hash_of(&content(dir, files, now_ms)?);
    if snap.is_none() {
        // Nothing kept (or unreadable): the first save comes after this call.
        stamp.hash = 0;
    }
    write_stamp(dir, &stamp)?;
    Ok(Some(out))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Periodic,
    Forced,
}

fn due(stamp: &Stamp, wanted: bool, every: Duration, now_ms: i64) -> Option<Kind> {
    let (writes, forced) = if stamp.day == utc_day(now_ms) {
        (stamp.writes, stamp.forced)
    } else {
        (0, 0)
    };
    if writes >= bound_per_day(every) {
        return None;
    }
    if wanted && forced < FORCED_PER_DAY {
        return Some(Kind::Forced);
    }
    // A clock set back (NTP correcting a jump) must not stop the periodic saves.
    (now_ms - stamp.last_ms >= every.as_millis() as i64 || now_ms < stamp.last_ms)
        .then_some(Kind::Periodic)
}

/// Save a snapshot when one is due (see the module comment). `Ok(None)`: nothing written (not
/// due, unchanged, another process busy saving, or this boot has not restored). A failed
/// `store.save` is returned; it counts as a write and waits for the next interval.
pub fn save_if_due(
    dir: &Path,
    files: &[&str],
    store: &dyn Store,
    every: Duration,
    now_ms: i64,
) -> Result<Option<Saved>> {
    // Cheap checks first: most calls end here without taking the lock.
    let Some(stamp) = read_stamp(dir) else {
        return Ok(None);
    };
    if due(&stamp, flag(dir, DUE_FLAG), every, now_ms).is_none() {
        return Ok(None);
    }
    let _guard = match lock_exclusive(&dir.join(LOCK_FILE), SAVE_WAIT) {
        Ok(g) => g,
        Err(e) if e.code() == Code::Timeout => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(mut stamp) = read_stamp(dir) else {
        return Ok(None);
    };
    let wanted = flag(dir, DUE_FLAG);
    let Some(kind) = due(&stamp, wanted, every, now_ms) else {
        return Ok(None);
    };
    let today = utc_day(now_ms);
    if stamp.day != today {
        stamp.day = today;
        stamp.writes = 0;
        stamp.forced = 0;
    }
    let c = content(dir, files, now_ms)?;
    let hash = hash_of(&c);
    if wanted {
        set_flag(dir, DUE_FLAG, false)?;
    }
    stamp.last_ms = now_ms;
    if hash == stamp.hash {
        write_stamp(dir, &stamp)?;
        return Ok(None);
    }
    stamp.writes += 1;
    if kind == Kind::Forced {
        stamp.forced += 1;
    }
    let snap = Snapshot {
        version: VERSION,
        saved_ms: now_ms,
        day: today,
        writes: stamp.writes,
        forced: stamp.forced,
        month: c.month,
        calls: c.calls,
        files: c.files,
    };
    let text = serde_json::to_string(&snap).expect("snapshot serialises");
    let saved = store.save(KEY, &text);
    if saved.is_ok() {
        stamp.hash = hash;
        stamp.saved_ms = now_ms;
    }
    write_stamp(dir, &stamp)?;
    saved.map(|()| {
        Some(Saved {
            writes_today: stamp.writes,
            forced: kind == Kind::Forced,
            bytes: text.len(),
        })
    })
}

/// Today's use of the store (no store access).
pub fn info(dir: &Path, every: Duration, now_ms: i64) -> Info {
    let stamp = read_stamp(dir);
    let s = stamp.clone().unwrap_or_default();
    Info {
        writes_today: if s.day == utc_day(now_ms) {
            s.writes
        } else {
            0
        },
        bound: bound_per_day(every),
        saved_ms: (s.saved_ms > 0).then_some(s.saved_ms),
        restored: stamp.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{count_call, temp_dir};
    use std::cell::RefCell;
    use std::fs;

    #[derive(Default)]
    struct Mem {
        text: RefCell<Option<String>>,
        saves: RefCell<u32>,
        fail_load: bool,
    }

    impl Store for Mem {
        fn load(&self, key: &str) -> Result<Option<String>> {
            assert_eq!(key, KEY);
            if self.fail_load {
                return Err(crate::error::Error::new(Code::InvalidArgument, "no store"));
            }
            Ok(self.text.borrow().clone())
        }
        fn save(&self, key: &str, text: &str) -> Result<()> {
            assert_eq!(key, KEY);
            *self.saves.borrow_mut() += 1;
            *self.text.borrow_mut() = Some(text.to_owned());
            Ok(())
        }
    }

    const T0: i64 = 1_780_000_000_000 - 1_780_000_000_000 % DAY_MS + 3_600_000;
    const EVERY: Duration = Duration::from_secs(DEFAULT_EVERY_S);
    const FILES: &[&str] = &["ledger.json", "gateways.json"];

    fn reboot(dir: &Path) {
        fs::remove_dir_all(dir).unwrap();
        fs::create_dir_all(dir).unwrap();
    }

    #[test]
    fn the_bound_is_stated() {
        assert_eq!(bound_per_day(EVERY), 52);
        assert_eq!(bound_per_day(Duration::from_secs(MIN_EVERY_S)), 292);
        assert_eq!(bound_per_day(Duration::from_secs(7 * 3600)), 4 + 4);
    }

    #[test]
    fn a_reboot_keeps_files_and_count_and_nothing_else() {
        let dir = temp_dir("persist");
        let store = Mem::default();
        assert_eq!(
            restore_if_needed(&dir, FILES, &store, T0).unwrap(),
            Some(Restored::default())
        );
        assert_eq!(restore_if_needed(&dir, FILES, &store, T0).unwrap(), None);
        fs::write(dir.join("ledger.json"), br#"{"version":1,"codes":[]}"#).unwrap();
        fs::write(dir.join("tokens.json"), br#"{"access_token":"SECRET"}"#).unwrap();
        for _ in 0..7 {
            count_call(&dir, T0).unwrap();
        }
        let s = save_if_due(&dir, FILES, &store, EVERY, T0 + 1000)
            .unwrap()
            .unwrap();
        assert_eq!((s.writes_today, s.forced), (1, false));
        let text = store.text.borrow().clone().unwrap();
        assert!(!text.contains("SECRET"), "{text}");
        assert!(
            !text.contains("gateways.json"),
            "a missing file is not kept"
        );
        // Not due again within the interval, whatever changes.
        count_call(&dir, T0).unwrap();
        assert_eq!(
            save_if_due(&dir, FILES, &store, EVERY, T0 + 60_000).unwrap(),
            None
        );

        reboot(&dir);
        assert_eq!(
            save_if_due(&dir, FILES, &store, EVERY, T0 + 2 * 60_000).unwrap(),
            None
        );
        let r = restore_if_needed(&dir, FILES, &store, T0 + 2 * 60_000)
            .unwrap()
            .unwrap();
        assert_eq!(r.files, vec!["ledger.json".to_owned()]);
        assert_eq!(r.calls, 7, "the 8th call came after the save");
        assert_eq!(month_calls(&dir, T0).unwrap().1, 7);
        assert_eq!(
            fs::read(dir.join("ledger.json")).unwrap(),
            br#"{"codes":[],"version":1}"#
        );
        assert!(!dir.join("tokens.json").exists());
        // The day's count came back with it.
        assert_eq!(info(&dir, EVERY, T0 + 2 * 60_000).writes_today, 1);
        // Restored content unchanged: nothing to write even when due.
        assert_eq!(
            save_if_due(&dir, FILES, &store, EVERY, T0 + 3_600_000).unwrap(),
            None
        );
        assert_eq!(*store.saves.borrow(), 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_counter_is_raised_never_lowered_and_only_in_its_month() {
        let dir = temp_dir("persist-raise");
        let store = Mem::default();
        let snap = |month: &str, calls: u64| {
            serde_json::to_string(&Snapshot {
                version: VERSION,
                saved_ms: T0,
                day: utc_day(T0),
                writes: 1,
                month: month.into(),
                calls,
                ..Snapshot::default()
            })
            .unwrap()
        };
        *store.text.borrow_mut() = Some(snap(&beijing_month(T0), 40));
        for _ in 0..50 {
            count_call(&dir, T0).unwrap();
        }
        restore_if_needed(&dir, FILES, &store, T0).unwrap().unwrap();
        assert_eq!(month_calls(&dir, T0).unwrap().1, 50, "never lowered");
        reboot(&dir);
        *store.text.borrow_mut() = Some(snap("2001-01", 40));
        let r = restore_if_needed(&dir, FILES, &store, T0).unwrap().unwrap();
        assert_eq!(r.calls, 0, "another month's count is not this month's");
        assert_eq!(month_calls(&dir, T0).unwrap().1, 0);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failed_load_restores_nothing_and_never_overwrites_the_kept_state() {
        let dir = temp_dir("persist-fail");
        let store = Mem {
            fail_load: true,
            ..Mem::default()
        };
        assert!(restore_if_needed(&dir, FILES, &store, T0).is_err());
        count_call(&dir, T0).unwrap();
        assert_eq!(
            save_if_due(&dir, FILES, &store, EVERY, T0 + DAY_MS).unwrap(),
            None
        );
        assert_eq!(*store.saves.borrow(), 0);
        assert!(!dir.join(STAMP_FILE).exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_clock_not_yet_set_waits_for_the_restore() {
        let dir = temp_dir("persist-clock");
        let store = Mem::default();
        *store.text.borrow_mut() = Some("{}".into());
        let cold = 3_600_000; // 1970: the clock before NTP
        assert_eq!(restore_if_needed(&dir, FILES, &store, cold).unwrap(), None);
        assert_eq!(save_if_due(&dir, FILES, &store, EVERY, cold).unwrap(), None);
        assert!(!dir.join(STAMP_FILE).exists());
        assert!(restore_if_needed(&dir, FILES, &store, T0)
            .unwrap()
            .is_some());
        assert_eq!(*store.saves.borrow(), 0);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unreadable_snapshot_is_replaced() {
        let dir = temp_dir("persist-bad");
        let store = Mem::default();
        *store.text.borrow_mut() = Some("{not json".into());
        let r = restore_if_needed(&dir, FILES, &store, T0).unwrap().unwrap();
        assert!(r.unreadable);
        save_if_due(&dir, FILES, &store, EVERY, T0)
            .unwrap()
            .unwrap();
        let text = store.text.borrow().clone().unwrap();
        let s: Snapshot = serde_json::from_str(&text).unwrap();
        assert_eq!((s.version, s.writes), (VERSION, 1));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn forced_saves_are_capped_and_the_day_is_bounded() {
        let dir = temp_dir("persist-forced");
        let store = Mem::default();
        restore_if_needed(&dir, FILES, &store, T0).unwrap();
        let mut t = T0;
        let mut forced = 0;
        // A purge every minute for the rest of the day (T0 is 01:00 UTC), with calls in
        // between: 4 forced saves, then one per interval.
        for i in 0..1380 {
            t = T0 + i * 60_000;
            count_call(&dir, t).unwrap();
            set_flag(&dir, DUE_FLAG, true).unwrap();
            if let Some(s) = save_if_due(&dir, FILES, &store, EVERY, t).unwrap() {
                forced += u32::from(s.forced);
            }
        }
        assert_eq!(forced, FORCED_PER_DAY);
        let saves = *store.saves.borrow();
        assert!(saves <= bound_per_day(EVERY), "{saves}");
        assert!(saves >= 40, "the periodic saves go on: {saves}");
        assert_eq!(info(&dir, EVERY, t).writes_today, saves);
        fs::remove_dir_all(dir).unwrap();
    }
}
