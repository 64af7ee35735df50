//! The lock's own truth about codes, apart from the cloud's list: what a guest typing a code on
//! the keypad gets.
//!
//! TTLock keeps two lists that can drift apart (ttlock-api.md §3, §3.2–3.4): the cloud's
//! (`lock/listKeyboardPwd`, `Lock::passcodes` here) and the lock's own memory. Only operations
//! that reach the lock (through a gateway: addType, changeType, deleteType 2) change the lock's
//! memory; cloud-only ones (type 1) change the list alone. Random ("offline") codes from
//! `keyboardPwd/get` are known to the lock by the algorithm it shares with the cloud from the
//! moment they are issued, gateway or not.
//!
//! Representation: `Lock::keypad` holds an entry for every code whose lock side differs from the
//! cloud's list or has lock-side state: a random code (from its issue on, for its first use and
//! its suspension), a code the lock holds but the cloud changed or deleted cloud-only, and a code
//! the cloud lists but the lock never got (`on_lock: false`, e.g. addType 1). A cloud code without
//! an entry is on the lock exactly as listed, so states written by hand, `State::add_passcode`
//! and the admin `POST /locks/ID/passcodes` give codes that open.

use serde::{Deserialize, Serialize};

use crate::events::EventOptions;
use crate::state::{Lock, Passcode, Record, State, HOUR_MS, TYPE_PERIOD, TYPE_PERMANENT};

/// A random code must be entered once within this long after its start (types 2 and 3), else
/// the lock suspends it (ttlock-api.md §3.2).
pub const FIRST_USE_WITHIN_MS: i64 = 24 * HOUR_MS;
/// A one-time random code (type 1) opens once within this long after its start.
pub const ONE_TIME_WITHIN_MS: i64 = 6 * HOUR_MS;

/// Cloud `recordType` of an opening by keypad code, and the lock's own `recordTypeFromLock`
/// (`OPERATE_TYPE_KEYBOARD_PASSWORD_UNLOCK` of TTLock's SDKs).
pub const RECORD_TYPE_PASSCODE: i64 = 4;

/// The lock's side of one code (JSON: an item of a lock's `"keypad"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeypadCode {
    /// The code's `keyboardPwdId` (the cloud's id, also when the cloud no longer lists it).
    pub keyboard_pwd_id: i64,
    /// false: the lock does not hold the code (cloud-only add, or a random code deleted through
    /// the gateway, kept so that its validity still gives -1026).
    #[serde(default = "yes")]
    pub on_lock: bool,
    pub keyboard_pwd: String,
    /// As `Passcode::type`: 2/3 for custom codes, 1..14 for random ones.
    #[serde(default = "period")]
    pub r#type: i64,
    #[serde(default)]
    pub start_ms: i64,
    /// 0: no end.
    #[serde(default)]
    pub end_ms: i64,
    #[serde(default = "yes")]
    pub is_custom: bool,
    /// Random codes: when the code first opened the lock (0 never).
    #[serde(default)]
    pub first_use_ms: i64,
    /// Random codes of type 2/3: not entered within 24 h of its start, so the lock refuses it.
    #[serde(default)]
    pub suspended: bool,
    /// Random codes: the type and validity `keyboardPwd/get` issued it with, which stay taken
    /// (-1026) after a change or a delete. Absent: the code's own type and window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<Validity>,
}

/// A random code's type and validity as issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validity {
    pub r#type: i64,
    pub start_ms: i64,
    pub end_ms: i64,
}

fn yes() -> bool {
    true
}
fn period() -> i64 {
    TYPE_PERIOD
}

/// Why the keypad opened or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeypadReason {
    /// The door opens.
    Ok,
    /// The lock holds no such code.
    Unknown,
    /// Before the code's start.
    NotYetValid,
    /// At or after the code's end (a one-time code: 6 h after its start).
    Expired,
    /// A random code of type 2/3 first entered 24 h or more after its start: refused for good.
    Suspended,
    /// A one-time code already used.
    Used,
    /// A cyclic code (types 5..14) outside its days or hours (extension).
    OutsideHours,
    /// A delete code (type 4): every other code on the lock is now invalid; the door stays shut
    /// (extension).
    Cleared,
}

impl KeypadReason {
    pub fn as_str(self) -> &'static str {
        match self {
            KeypadReason::Ok => "ok",
            KeypadReason::Unknown => "unknown",
            KeypadReason::NotYetValid => "not_yet_valid",
            KeypadReason::Expired => "expired",
            KeypadReason::Suspended => "suspended",
            KeypadReason::Used => "used",
            KeypadReason::OutsideHours => "outside_hours",
            KeypadReason::Cleared => "cleared",
        }
    }
}

/// What a guest typing a code on the lock gets (admin `POST /keypad`, [`State::keypad`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeypadAnswer {
    pub opens: bool,
    pub reason: KeypadReason,
    /// The code the lock matched (absent when `unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyboard_pwd_id: Option<i64>,
}

impl KeypadCode {
    /// The lock side of a cloud code that the lock holds as listed.
    pub fn from_passcode(p: &Passcode) -> KeypadCode {
        KeypadCode {
            keyboard_pwd_id: p.keyboard_pwd_id,
            on_lock: true,
            keyboard_pwd: p.keyboard_pwd.clone(),
            r#type: p.r#type,
            start_ms: p.start_ms,
            end_ms: p.end_ms,
            is_custom: p.is_custom,
            first_use_ms: 0,
            suspended: false,
            issued: None,
        }
    }

    /// The type and validity a random code was issued with.
    pub fn issued_validity(&self) -> Validity {
        self.issued.unwrap_or(Validity {
            r#type: self.r#type,
            start_ms: self.start_ms,
            end_ms: self.end_ms,
        })
    }

    /// The lock's verdict on this code entered at `at` (no change made).
    pub fn verdict(&self, at: i64) -> KeypadReason {
        use KeypadReason::*;
        let (start, end) = (self.start_ms, self.end_ms);
        if self.is_custom {
            // A custom permanent code opens whatever its dates (real ones carry start = end at
            // their creation, in the past).
            if self.r#type == TYPE_PERMANENT {
                return Ok;
            }
            return if at < start {
                NotYetValid
            } else if end != 0 && at >= end {
                Expired
            } else {
                Ok
            };
        }
        if at < start {
            return NotYetValid;
        }
        match self.r#type {
            1 => {
                if self.first_use_ms != 0 {
                    Used
                } else if at >= start + ONE_TIME_WITHIN_MS {
                    Expired
                } else {
                    Ok
                }
            }
            2 | 3 => {
                if end != 0 && at >= end {
                    Expired
                } else if self.suspended
                    || (self.first_use_ms == 0 && at >= start + FIRST_USE_WITHIN_MS)
                {
                    Suspended
                } else {
                    Ok
                }
            }
            4 => Cleared,
            t @ 5..=14 => {
                if in_cycle(t, start, end, at) {
                    Ok
                } else {
                    OutsideHours
                }
            }
            _ => Unknown,
        }
    }
}

/// A cyclic code (types 5..14): from the day of `start` on, on the cycle's weekdays, between
/// the times of day of `start` and `end` (UTC: the simulated locks have `timezoneRawOffset` 0).
fn in_cycle(t: i64, start: i64, end: i64, at: i64) -> bool {
    const DAY: i64 = 24 * HOUR_MS;
    if at.div_euclid(DAY) < start.div_euclid(DAY) {
        return false;
    }
    // 1970-01-01 was a Thursday: Monday is 0.
    let weekday = (at.div_euclid(DAY) + 3).rem_euclid(7);
    let day_ok = match t {
        5 => weekday >= 5,
        6 => true,
        7 => weekday < 5,
        _ => weekday == t - 8,
    };
    let (from, mut to) = (start.rem_euclid(DAY), end.rem_euclid(DAY));
    if to <= from {
        to = DAY;
    }
    let tod = at.rem_euclid(DAY);
    day_ok && tod >= from && tod < to
}

impl Lock {
    /// What the lock holds: the cloud's codes as listed unless `keypad` says otherwise, plus the
    /// codes only the lock still holds. Entries the lock does not hold are left out.
    pub fn keypad_codes(&self) -> Vec<KeypadCode> {
        let mut v: Vec<KeypadCode> = self
            .passcodes
            .iter()
            .filter(|p| self.keypad_entry(p.keyboard_pwd_id).is_none())
            .map(KeypadCode::from_passcode)
            .collect();
        v.extend(self.keypad.iter().filter(|k| k.on_lock).cloned());
        v.sort_by_key(|k| k.keyboard_pwd_id);
        v
    }

    /// The lock-side entry of a code, if it has one.
    pub fn keypad_entry(&self, keyboard_pwd_id: i64) -> Option<&KeypadCode> {
        self.keypad
            .iter()
            .find(|k| k.keyboard_pwd_id == keyboard_pwd_id)
    }

    /// Whether the lock holds a code with these digits (valid now or not; see [`State::keypad`]
    /// for the verdict).
    pub fn holds_code(&self, code: &str) -> bool {
        self.keypad_codes().iter().any(|k| k.keyboard_pwd == code)
    }

    /// The entry of a code, made from the cloud's version when it has none (the lock holds it as
    /// listed until now).
    fn entry_mut(&mut self, id: i64) -> Option<&mut KeypadCode> {
        if let Some(i) = self.keypad.iter().position(|k| k.keyboard_pwd_id == id) {
            return Some(&mut self.keypad[i]);
        }
        let k = KeypadCode::from_passcode(self.passcode(id)?);
        self.keypad.push(k);
        self.keypad.last_mut()
    }

    fn drop_entry(&mut self, id: i64) {
        self.keypad.retain(|k| k.keyboard_pwd_id != id);
    }

    /// After a cloud-only add (addType 1): the cloud lists the code, the lock never got it.
    pub(crate) fn added_in_cloud_only(&mut self, id: i64) {
        if let Some(k) = self.entry_mut(id) {
            k.on_lock = false;
        }
    }

    /// After `keyboardPwd/get`: the lock knows the random code from now on.
    pub(crate) fn issued_random(&mut self, id: i64) {
        if let Some(k) = self.entry_mut(id) {
            k.issued = Some(k.issued_validity());
        }
    }

    /// Before the cloud alone changes a code's digits or window (changeType 1): the lock keeps
    /// its own version.
    pub(crate) fn before_cloud_only_change(&mut self, id: i64) {
        self.entry_mut(id);
    }

    /// After a change through the gateway: the lock holds the code as the cloud now lists it
    /// (a random code keeps its first use and suspension).
    pub(crate) fn written_to_lock(&mut self, id: i64) {
        let Some(p) = self.passcode(id).cloned() else {
            return;
        };
        match self.keypad.iter_mut().find(|k| k.keyboard_pwd_id == id) {
            Some(k) if !k.is_custom => {
                k.on_lock = true;
                k.keyboard_pwd = p.keyboard_pwd;
                k.r#type = p.r#type;
                k.start_ms = p.start_ms;
                k.end_ms = p.end_ms;
            }
            Some(_) => self.drop_entry(id),
            None => {}
        }
    }

    /// A delete: through the gateway the lock forgets the code too (a random code's entry stays,
    /// off the lock, for -1026); cloud-only the lock keeps its version. The cloud forgets it
    /// either way.
    pub(crate) fn delete_code(&mut self, id: i64, through_gateway: bool) {
        if let Some(k) = self.entry_mut(id) {
            if through_gateway {
                k.on_lock = false;
            }
            if k.is_custom && !k.on_lock {
                self.drop_entry(id);
            }
        }
        self.passcodes.retain(|q| q.keyboard_pwd_id != id);
    }

    /// Random codes of this lock issued with this type and validity, deleted ones included.
    pub(crate) fn random_issued(&self, r#type: i64, start_ms: i64, end_ms: i64) -> usize {
        let same = |t: i64, s: i64, e: i64| (t, s, e) == (r#type, start_ms, end_ms);
        let from_entries = self
            .keypad
            .iter()
            .filter(|k| !k.is_custom)
            .map(KeypadCode::issued_validity)
            .filter(|v| same(v.r#type, v.start_ms, v.end_ms))
            .count();
        let listed_only = self
            .passcodes
            .iter()
            .filter(|p| !p.is_custom && same(p.r#type, p.start_ms, p.end_ms))
            .filter(|p| self.keypad_entry(p.keyboard_pwd_id).is_none())
            .count();
        from_entries + listed_only
    }

    /// Digits used by any code the cloud lists or the lock knows (random digits avoid them).
    pub(crate) fn code_in_use(&self, code: &str) -> bool {
        self.passcode_by_code(code).is_some() || self.keypad.iter().any(|k| k.keyboard_pwd == code)
    }
}

/// How many random codes of one type TTLock's algorithm gives for one validity before -1026:
/// 200 one-time and 20 permanent codes per start time (ttlock-api.md §3.2, [R14]); one for the
/// other types (a second `get` is refused, §9.4).
pub fn random_codes_per_validity(r#type: i64) -> usize {
    match r#type {
        1 => 200,
        2 => 20,
        _ => 1,
    }
}

impl State {
    /// A guest types `code` on lock `lock_id`'s keypad at `at_ms` (default: the simulator's
    /// clock): the lock's verdict by its own truth. A first use of a random code is remembered
    /// (as is its suspension); an opening sets `open_state` 1 and makes a record (cloud
    /// `recordType` 4, `recordTypeFromLock` 4, `username` the code's name in the cloud's list,
    /// `keyboardPwd` the code), sent up by an online gateway after the upload delay, else kept
    /// in `unsent_records`. A delete code (type 4) invalidates every other code on the lock.
    /// None for an unknown lock.
    pub fn keypad(&mut self, lock_id: i64, code: &str, at_ms: Option<i64>) -> Option<KeypadAnswer> {
        self.keypad_with(lock_id, code, EventOptions::at(at_ms))
    }

    /// [`State::keypad`] with the event's time, upload delay and `recordId` choice.
    pub fn keypad_with(
        &mut self,
        lock_id: i64,
        code: &str,
        ev: EventOptions,
    ) -> Option<KeypadAnswer> {
        let at = ev.at_ms.unwrap_or_else(|| self.now_ms());
        let online = self.gateway_online_for(lock_id)?;
        let lock = self.lock_mut(lock_id)?;
        let candidates: Vec<(KeypadCode, KeypadReason)> = lock
            .keypad_codes()
            .into_iter()
            .filter(|k| k.keyboard_pwd == code)
            .map(|k| {
                let r = k.verdict(at);
                (k, r)
            })
            .collect();
        // Two held codes with the same digits (possible once the lists drift): one that opens
        // wins.
        let Some((k, reason)) = candidates
            .iter()
            .find(|(_, r)| *r == KeypadReason::Ok)
            .or(candidates.first())
            .cloned()
        else {
            return Some(KeypadAnswer {
                opens: false,
                reason: KeypadReason::Unknown,
                keyboard_pwd_id: None,
            });
        };
        let id = k.keyboard_pwd_id;
        let mut record = None;
        match reason {
            KeypadReason::Ok => {
                if !k.is_custom {
                    if let Some(e) = lock.entry_mut(id) {
                        if e.first_use_ms == 0 {
                            e.first_use_ms = at;
                        }
                    }
                }
                lock.open_state = 1;
                let name = lock
                    .passcode(id)
                    .map(|p| p.name.clone())
                    .unwrap_or_default();
                record = Some(Record {
                    record_id: 0,
                    record_type: RECORD_TYPE_PASSCODE,
                    record_type_from_lock: RECORD_TYPE_PASSCODE,
                    success: 1,
                    username: name,
                    keyboard_pwd: code.to_string(),
                    lock_date_ms: at,
                    server_date_ms: 0,
                });
            }
            KeypadReason::Suspended => {
                if let Some(e) = lock.entry_mut(id) {
                    e.suspended = true;
                }
            }
            KeypadReason::Cleared => {
                let others: Vec<i64> = lock
                    .keypad_codes()
                    .iter()
                    .map(|c| c.keyboard_pwd_id)
                    .filter(|&o| o != id)
                    .collect();
                for o in others {
                    if let Some(e) = lock.entry_mut(o) {
                        e.on_lock = false;
                    }
                }
            }
            _ => {}
        }
        if let Some(r) = record {
            self.deliver_record(lock_id, r, &ev, online);
        }
        Some(KeypadAnswer {
            opens: reason == KeypadReason::Ok,
            reason,
            keyboard_pwd_id: Some(id),
        })
    }

    /// The lock's records not yet in the cloud reach it now, `server_date_ms` = now (as when
    /// the TTLock app syncs over Bluetooth, a gateway talks to the lock or comes back online);
    /// returns how many.
    pub fn upload_records(&mut self, lock_id: i64) -> usize {
        let now = self.now_ms();
        let Some(l) = self.lock_mut(lock_id) else {
            return 0;
        };
        let n = l.unsent_records.len();
        for mut r in l.unsent_records.drain(..) {
            r.server_date_ms = now;
            l.records.push(r);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::DAY_MS;

    fn random(t: i64, start: i64, end: i64) -> KeypadCode {
        KeypadCode {
            is_custom: false,
            r#type: t,
            ..KeypadCode::from_passcode(&Passcode::period("1234567", "", start, end))
        }
    }

    #[test]
    fn random_period_rules() {
        let s = 100 * DAY_MS;
        let k = random(3, s, s + 3 * DAY_MS);
        assert_eq!(k.verdict(s - 1), KeypadReason::NotYetValid);
        assert_eq!(k.verdict(s), KeypadReason::Ok);
        assert_eq!(k.verdict(s + DAY_MS - 1), KeypadReason::Ok);
        assert_eq!(k.verdict(s + DAY_MS), KeypadReason::Suspended);
        assert_eq!(k.verdict(s + 3 * DAY_MS), KeypadReason::Expired);
        let used = KeypadCode {
            first_use_ms: s + 1,
            ..k.clone()
        };
        assert_eq!(used.verdict(s + 2 * DAY_MS), KeypadReason::Ok);
        let perm = random(2, s, 0);
        assert_eq!(perm.verdict(s + 1000 * DAY_MS), KeypadReason::Suspended);
        let one = random(1, s, s + ONE_TIME_WITHIN_MS);
        assert_eq!(one.verdict(s + ONE_TIME_WITHIN_MS - 1), KeypadReason::Ok);
        assert_eq!(one.verdict(s + ONE_TIME_WITHIN_MS), KeypadReason::Expired);
        let once = KeypadCode {
            first_use_ms: s,
            ..one
        };
        assert_eq!(once.verdict(s + 1), KeypadReason::Used);
    }

    #[test]
    fn custom_rules() {
        let p = KeypadCode::from_passcode(&Passcode::period("4821", "", 10, 20));
        assert_eq!(
            [p.verdict(9), p.verdict(10), p.verdict(19), p.verdict(20)],
            [
                KeypadReason::NotYetValid,
                KeypadReason::Ok,
                KeypadReason::Ok,
                KeypadReason::Expired
            ]
        );
        let perm = KeypadCode::from_passcode(&Passcode {
            start_ms: 5,
            end_ms: 5,
            ..Passcode::permanent("4821", "")
        });
        assert_eq!(perm.verdict(1000), KeypadReason::Ok);
    }

    #[test]
    fn a_delete_code_clears_the_lock_but_not_the_cloud() {
        let mut s = State::fixture();
        let now = s.now_ms();
        let custom = s.add_passcode(1001, Passcode::permanent("4821", "staff"));
        let clear = s.add_passcode(
            1001,
            Passcode {
                is_custom: false,
                r#type: 4,
                ..Passcode::period("9876543", "clear", now - HOUR_MS, 0)
            },
        );
        assert!(s.keypad(1001, "4821", None).unwrap().opens);
        let a = s.keypad(1001, "9876543", None).unwrap();
        assert_eq!((a.opens, a.reason), (false, KeypadReason::Cleared));
        assert_eq!(a.keyboard_pwd_id, Some(clear));
        assert_eq!(
            s.keypad(1001, "4821", None).unwrap().reason,
            KeypadReason::Unknown
        );
        let l = s.lock(1001).unwrap();
        assert_eq!(l.passcodes.len(), 2, "the cloud still lists both");
        assert!(!l.keypad_entry(custom).unwrap().on_lock);
        assert_eq!(l.records.len(), 1, "one opening");
        assert!(s.keypad(9, "4821", None).is_none());
    }

    #[test]
    fn cyclic_codes_follow_days_and_hours() {
        // Saturday 2026-01-03 08:00 to 17:00 UTC, weekend cycle (the docs' example).
        let (start, end) = (1_767_427_200_000, 1_767_459_600_000);
        let k = random(5, start, end);
        assert_eq!(k.verdict(start + HOUR_MS), KeypadReason::Ok);
        assert_eq!(
            k.verdict(start + DAY_MS + HOUR_MS),
            KeypadReason::Ok,
            "Sunday"
        );
        assert_eq!(
            k.verdict(start + 2 * DAY_MS + HOUR_MS),
            KeypadReason::OutsideHours,
            "Monday"
        );
        assert_eq!(
            k.verdict(start + 7 * DAY_MS + 10 * HOUR_MS),
            KeypadReason::OutsideHours,
            "18:00"
        );
        assert_eq!(k.verdict(start - HOUR_MS), KeypadReason::NotYetValid);
        let sat = random(13, start, end);
        assert_eq!(sat.verdict(start + 7 * DAY_MS), KeypadReason::Ok);
        assert_eq!(sat.verdict(start + DAY_MS), KeypadReason::OutsideHours);
    }
}
