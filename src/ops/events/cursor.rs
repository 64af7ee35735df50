//! A lock's door-events cursor: which of its records the poller has already handled.
//!
//! TTLock filters records by the lock's own clock, and gateways upload them late (a lock
//! without a gateway: when the app next syncs it), so "everything since my last poll" loses
//! records. The cursor instead reads back over a look-back window and remembers the records of
//! that window it has handled: by `recordId`, or by time, type, success and who when TTLock
//! sends no id. A record older than the window when it reaches TTLock is not seen (the window
//! is the bound on how late a record may be).
//!
//! The cursor is kept by the host (LM storage) as a short JSON text; it holds no digits.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Code, Error, Result};
use crate::ops::site::Record;

const VERSION: u32 = 1;

/// One lock's cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Format version.
    pub v: u32,
    /// The lock it belongs to.
    pub lock_id: i64,
    /// Records before this (lock time, ms) are done: the start of the next read.
    pub from_ms: i64,
    /// The records at or after `from_ms` already handled: key → their time (ms), for pruning.
    pub seen: BTreeMap<String, i64>,
}

impl Cursor {
    /// A lock's first cursor starts at the present: its history is not replayed.
    pub fn start(lock_id: i64, now_ms: i64) -> Cursor {
        Cursor {
            v: VERSION,
            lock_id,
            from_ms: now_ms,
            seen: BTreeMap::new(),
        }
    }

    /// A cursor as `to_text` wrote it, for `lock_id`.
    pub fn parse(lock_id: i64, text: &str) -> Result<Cursor> {
        let c: Cursor = serde_json::from_str(text).map_err(|e| {
            Error::misuse(
                Code::InvalidArgument,
                format!(
                    "door_events: the cursor of lock {lock_id} is not one door_events returned ({e})"
                ),
            )
        })?;
        if c.lock_id != lock_id {
            return Err(Error::misuse(
                Code::InvalidArgument,
                format!(
                    "door_events: the cursor belongs to lock {}, not to lock {lock_id}",
                    c.lock_id
                ),
            ));
        }
        Ok(c)
    }

    /// The text to keep.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The records not handled yet, in the order given; each is marked as handled. Records
    /// before `from_ms` (which TTLock should not have sent) count as handled.
    pub fn take_new<T>(&mut self, records: Vec<(Record, T)>) -> Vec<(Record, T)> {
        let mut fresh = Vec::new();
        for (r, extra) in records {
            let at = time_of(&r).unwrap_or(self.from_ms);
            if at < self.from_ms {
                continue;
            }
            let key = key_of(&r);
            if self.seen.contains_key(&key) {
                continue;
            }
            self.seen.insert(key, at);
            fresh.push((r, extra));
        }
        fresh
    }

    /// Moves the start of the next read to `now - lookback` (never back), and forgets the
    /// records before it.
    pub fn advance(&mut self, now_ms: i64, lookback_ms: i64) {
        self.from_ms = self.from_ms.max(now_ms - lookback_ms);
        let from = self.from_ms;
        self.seen.retain(|_, at| *at >= from);
    }
}

/// When a record happened: the lock's time, else the server's.
pub fn time_of(r: &Record) -> Option<i64> {
    r.time_ms.or(r.server_time_ms)
}

/// What tells a record apart: its id, else what it says (`who` only as a hash, so the cursor
/// never holds names either). The hash is FNV-1a: the same in every build and process.
pub fn key_of(r: &Record) -> String {
    match r.record_id {
        Some(id) => format!("r{id}"),
        None => format!(
            "t{}:{}:{}:{:016x}",
            time_of(r).map_or("-".to_string(), |t| t.to_string()),
            r.record_type.map_or("-".to_string(), |t| t.to_string()),
            match r.success {
                Some(true) => "1",
                Some(false) => "0",
                None => "-",
            },
            fnv1a(r.who.as_deref().unwrap_or(""))
        ),
    }
}

fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: Option<i64>, at: i64, who: &str) -> (Record, ()) {
        (
            Record {
                record_id: id,
                lock_id: 1,
                time_ms: Some(at),
                server_time_ms: Some(at + 10),
                record_type: Some(4),
                type_from_lock: None,
                type_name: Some("keypad"),
                success: Some(true),
                who: Some(who.into()),
            },
            (),
        )
    }

    #[test]
    fn each_record_once_by_id_or_content() {
        let mut c = Cursor::start(1, 1000);
        let got = c.take_new(vec![
            rec(Some(1), 1000, "a"),
            rec(None, 1001, "b"),
            rec(None, 1001, "c"),
        ]);
        assert_eq!(got.len(), 3);
        // The same records read again (look-back), plus a late one from the past window.
        let got = c.take_new(vec![
            rec(Some(1), 1000, "a"),
            rec(None, 1001, "b"),
            rec(None, 1001, "c"),
            rec(Some(2), 1002, "a"),
        ]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.record_id, Some(2));
        // Before the start: never (a first cursor does not replay history).
        assert!(c.take_new(vec![rec(Some(3), 999, "x")]).is_empty());
    }

    #[test]
    fn advance_prunes_only_what_falls_out_of_the_window() {
        let mut c = Cursor::start(1, 1000);
        c.take_new(vec![rec(Some(1), 1000, "a"), rec(Some(2), 5000, "a")]);
        c.advance(6000, 2000);
        assert_eq!(c.from_ms, 4000);
        assert_eq!(c.seen.keys().collect::<Vec<_>>(), vec!["r2"]);
        // Never moves back.
        c.advance(3000, 2000);
        assert_eq!(c.from_ms, 4000);
        assert!(c.take_new(vec![rec(Some(2), 5000, "a")]).is_empty());
    }

    #[test]
    fn text_round_trip_and_checks() {
        let mut c = Cursor::start(7, 1000);
        c.take_new(vec![rec(None, 1200, "101_01120512")]);
        let t = c.to_text();
        assert!(!t.contains("101_01120512"), "names only as a hash: {t}");
        assert_eq!(Cursor::parse(7, &t).unwrap(), c);
        assert!(Cursor::parse(8, &t)
            .unwrap_err()
            .message()
            .contains("belongs to lock 7"));
        assert_eq!(
            Cursor::parse(7, "{").unwrap_err().code(),
            Code::InvalidArgument
        );
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
