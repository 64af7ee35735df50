//! Doors that get TTLock's random ("offline") codes instead of a custom code through a gateway:
//! a lock with no gateway, or one set to offline codes.
//!
//! TTLock computes a random code with an algorithm the lock shares (ttlock-api.md §3.2), so it
//! needs no gateway, but:
//! - TTLock chooses the digits;
//! - the validity has whole hours (the start is rounded down; the end is sent as a whole hour,
//!   rounded up here so the guest is never cut short);
//! - a period code must be entered once within 24 h of its start, or the lock suspends it;
//! - -1026: a code with this validity was issued before, so another whole hour is asked for;
//! - without a gateway nothing reaches the lock afterwards: a change or a delete is the cloud's
//!   only, and the code opens the door until its end whatever happens.
use super::plan::Door;
use super::record::{Hold, Stay, Window};
use crate::api::{self, RandomPasscode};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::ops::gateways::GatewayMap;

const HOUR_MS: i64 = 3_600_000;
/// A period code must be used once within this time of its start (§3.2).
pub const FIRST_USE_MS: i64 = 24 * HOUR_MS;
/// keyboardPwdType 3: a period code.
const PERIOD: i64 = 3;
/// Further whole hours tried after -1026.
const MAX_SHIFTS: u32 = 3;

/// How a door gets its codes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CodeMode {
    /// A custom code through the lock's gateway (the default).
    #[default]
    Gateway,
    /// TTLock's random code, no gateway needed.
    Offline,
    /// Offline when no gateway reaches the lock, else through the gateway.
    Auto,
}

impl CodeMode {
    /// The setting's word.
    pub fn as_str(self) -> &'static str {
        match self {
            CodeMode::Gateway => "gateway",
            CodeMode::Offline => "offline",
            CodeMode::Auto => "auto",
        }
    }

    /// `'gateway'`, `'offline'` or `'auto'`.
    pub fn parse(s: &str) -> Option<CodeMode> {
        match s {
            "gateway" => Some(CodeMode::Gateway),
            "offline" => Some(CodeMode::Offline),
            "auto" => Some(CodeMode::Auto),
            _ => None,
        }
    }
}

/// The whole hours that cover `w`: the start rounded down, the end rounded up.
pub fn whole_hours(w: Window) -> Window {
    let up = |t: i64| -(-t).div_euclid(HOUR_MS) * HOUR_MS;
    Window {
        from_ms: w.from_ms.div_euclid(HOUR_MS) * HOUR_MS,
        to_ms: up(w.to_ms),
    }
}

/// Whether a door gets offline codes (`Auto`: asks the gateway map, one call when not known).
pub fn is_offline(c: &Client, map: &GatewayMap, lock_id: i64, mode: CodeMode) -> Result<bool> {
    match mode {
        CodeMode::Gateway => Ok(false),
        CodeMode::Offline => Ok(true),
        CodeMode::Auto => Ok(!map.has_gateway(c, lock_id)?),
    }
}

/// An offline code issued for a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// TTLock's digits.
    pub passcode: String,
    /// keyboardPwdId.
    pub passcode_id: i64,
    /// The validity TTLock gave it (whole hours).
    pub window: Window,
}

/// A period code for `w` (whole hours) on `lock_id`; after -1026 the end moves one hour later.
pub fn issue(c: &Client, lock_id: i64, name: &str, w: Window) -> Result<Issued> {
    let mut w = whole_hours(w);
    let mut shifts = 0;
    loop {
        let r = RandomPasscode {
            lock_id,
            pwd_type: PERIOD,
            name: Some(name.to_owned()),
            start_ms: w.from_ms,
            end_ms: Some(w.to_ms),
        };
        match api::keyboard_pwd_get(c, &r) {
            Ok((passcode, passcode_id)) => {
                return Ok(Issued {
                    passcode,
                    passcode_id,
                    window: w,
                })
            }
            Err(e) if e.errcode() == Some(-1026) && shifts < MAX_SHIFTS => {
                shifts += 1;
                w.to_ms += HOUR_MS;
                c.log(format!(
                    "ttlock: lock {lock_id}: a random code with this validity was issued before: asking for one that ends an hour later"
                ));
            }
            Err(e) => return Err(offline_error(e, lock_id)),
        }
    }
}

/// What the status says of an offline door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The lock.
    pub lock_id: i64,
    /// Its code.
    pub passcode: String,
    /// keyboardPwdId.
    pub passcode_id: Option<i64>,
    /// The code's validity on the lock.
    pub window: Window,
    /// Issued in this operation (the guest must use it once within 24 h of its start).
    pub issued: bool,
    /// An earlier code of this door that still opens it until then.
    pub replaced_until: Option<i64>,
    /// The stay ended: the code still opens the door until its end.
    pub ending: bool,
}

/// Offline codes issued before a failure (they open their doors), and the failure.
pub type Unfinished = (Vec<Hold>, Error);

/// The offline doors' codes for the stay `want`: a door keeps its code when it covers the
/// stay's whole hours (and no new code was asked for), else gets a new one. The room door's
/// code becomes the stay's code (the common doors get the same digits). On failure: the codes
/// issued so far (they open their doors) and why.
pub fn codes_for(
    c: &Client,
    doors: &[Door],
    offline_locks: &[i64],
    old: &[Hold],
    old_stay: Option<&Stay>,
    want: &mut Stay,
    now_ms: i64,
) -> std::result::Result<(Vec<Hold>, Vec<Note>), Unfinished> {
    let mut need = whole_hours(want.window());
    // A new code during a stay starts now: one that started at a past arrival would be
    // suspended already (first use within 24 h of its start).
    need.from_ms = need.from_ms.max(now_ms.div_euclid(HOUR_MS) * HOUR_MS);
    let mut holds: Vec<Hold> = Vec::new();
    let mut notes = Vec::new();
    for d in doors.iter().filter(|d| offline_locks.contains(&d.lock_id)) {
        let is_room = d.lock_id == doors[0].lock_id;
        let prev = old.iter().find(|h| h.lock_id == d.lock_id);
        let (hold, issued) = match prev.filter(|h| keeps(h, is_room, old_stay, want)) {
            Some(h) => (h.clone(), false),
            None => match issue(c, d.lock_id, &want.name, need) {
                Ok(is) => (
                    Hold {
                        lock_id: d.lock_id,
                        passcode: is.passcode,
                        passcode_id: Some(is.passcode_id),
                        name: Some(want.name.clone()),
                        valid_from_ms: is.window.from_ms,
                        valid_to_ms: is.window.to_ms,
                        sure: true,
                        offline: true,
                    },
                    true,
                ),
                Err(e) => {
                    let advice = format!("{}: {}", d.name, e.advice());
                    return Err((holds, e.with_advice(advice)));
                }
            },
        };
        if d.lock_id == doors[0].lock_id {
            want.passcode = hold.passcode.clone();
        }
        notes.push(Note {
            lock_id: d.lock_id,
            passcode: hold.passcode.clone(),
            passcode_id: hold.passcode_id,
            window: hold.window(),
            issued,
            replaced_until: prev
                .filter(|p| issued && p.passcode != hold.passcode)
                .map(|p| p.valid_to_ms),
            ending: false,
        });
        holds.push(hold);
    }
    Ok((holds, notes))
}

/// Whether a door keeps its offline code `h` for the stay `want`: only for the same stay (the
/// live one, or an earlier try of this very stay: the same name), when no new code was asked
/// for, the code covers the stay's whole hours, and its first use is still possible at the
/// arrival (within 24 h of its start).
fn keeps(h: &Hold, is_room: bool, old_stay: Option<&Stay>, want: &Stay) -> bool {
    let need = whole_hours(want.window());
    // Another code asked for during a live stay (a lost code): every door gets a new one. What
    // +1 held when the stay was made is not a new request (a double trigger reads +1 before
    // the first one wrote TTLock's code there).
    let reissue = old_stay.is_some_and(|o| {
        o.passcode != want.passcode && o.asked.as_deref() != Some(want.passcode.as_str())
    });
    let same_stay = match old_stay {
        Some(o) => o.passcode == h.passcode || !is_room,
        None => h.name.as_deref() == Some(want.name.as_str()),
    };
    let covers = h.valid_from_ms <= need.from_ms
        && h.valid_to_ms >= need.to_ms
        && need.from_ms < h.valid_from_ms + FIRST_USE_MS;
    same_stay && covers && !reissue
}

/// The offline codes of a stay that ends now: they still open their doors until their end.
pub fn left_open(old: &[Hold], now_ms: i64) -> Vec<Note> {
    old.iter()
        .filter(|h| h.valid_to_ms > now_ms)
        .map(|h| Note {
            lock_id: h.lock_id,
            passcode: h.passcode.clone(),
            passcode_id: h.passcode_id,
            window: h.window(),
            issued: false,
            replaced_until: None,
            ending: true,
        })
        .collect()
}

fn offline_error(e: Error, lock_id: i64) -> Error {
    let advice = format!("no offline code: {}", e.advice());
    e.context(format!("lock {lock_id}: keyboardPwd/get"))
        .with_advice(advice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_hours_round_out() {
        let w = |a, b| Window {
            from_ms: a,
            to_ms: b,
        };
        assert_eq!(
            whole_hours(w(HOUR_MS + 1, 3 * HOUR_MS - 1)),
            w(HOUR_MS, 3 * HOUR_MS)
        );
        assert_eq!(
            whole_hours(w(2 * HOUR_MS, 4 * HOUR_MS)),
            w(2 * HOUR_MS, 4 * HOUR_MS)
        );
        assert_eq!(CodeMode::parse("auto"), Some(CodeMode::Auto));
        assert_eq!(CodeMode::parse("bluetooth"), None);
    }

    fn stay(code: &str, name: &str, from_h: i64, to_h: i64) -> Stay {
        Stay {
            passcode: code.into(),
            name: name.into(),
            valid_from_ms: from_h * HOUR_MS,
            valid_to_ms: to_h * HOUR_MS,
            asked: None,
            arrived_ms: None,
        }
    }

    fn code(c: &str, name: &str, from_h: i64, to_h: i64) -> Hold {
        Hold {
            lock_id: 1,
            passcode: c.into(),
            passcode_id: Some(7),
            name: Some(name.into()),
            valid_from_ms: from_h * HOUR_MS,
            valid_to_ms: to_h * HOUR_MS,
            sure: true,
            offline: true,
        }
    }

    #[test]
    fn a_code_is_kept_only_for_its_own_stay() {
        let h = code("7654321", "103_a", 10, 100);
        let live = stay("7654321", "103_a", 10, 100);
        // The same stay again, or shorter: kept.
        assert!(keeps(
            &h,
            true,
            Some(&live),
            &stay("7654321", "103_a", 10, 100)
        ));
        assert!(keeps(
            &h,
            true,
            Some(&live),
            &stay("7654321", "103_b", 10, 50)
        ));
        // Longer: a new code.
        assert!(!keeps(
            &h,
            true,
            Some(&live),
            &stay("7654321", "103_c", 10, 120)
        ));
        // Another code typed during the stay (lost code): a new one.
        assert!(!keeps(
            &h,
            true,
            Some(&live),
            &stay("1111", "103_a", 10, 100)
        ));
        // ... unless it is what +1 held when the stay was made (a double trigger).
        let asked = Stay {
            asked: Some("1111".into()),
            ..live.clone()
        };
        assert!(keeps(
            &h,
            true,
            Some(&asked),
            &stay("1111", "103_a", 10, 100)
        ));
        // The next guest never gets the previous guest's code, even inside its hours.
        assert!(!keeps(&h, true, None, &stay("2222", "103_next", 20, 40)));
        // An earlier try of this very stay (same name) keeps it.
        assert!(keeps(&h, true, None, &stay("2222", "103_a", 10, 100)));
        // An arrival more than 24 h after the code's start: the lock would suspend it.
        assert!(!keeps(
            &h,
            true,
            Some(&live),
            &stay("7654321", "103_a", 40, 100)
        ));
    }
}
