//! From the room's memory and the stay asked for to the steps on the locks.
//!
//! Everything is keyed by (lock, code): a lock holds one window per code. The target of a key
//! is the hull of the windows of the live stays that use the code on that lock (the room's new
//! stay and other rooms' live stays with the same code: a room move, or a family with two
//! rooms), or nothing when no live stay uses it. The steps take each key from what the lock
//! holds now to its target: add, change the window, or delete.
use std::collections::{BTreeMap, BTreeSet};

use super::record::{Hold, RoomRecord, Stay, Window};

/// A code on a lock.
pub type Key = (i64, String);

/// What a lock holds for a key, as far as the module knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// keyboardPwdId; `None` only for an add whose answer was lost (`sure == false`).
    pub passcode_id: Option<i64>,
    /// The window on the lock.
    pub window: Window,
    /// The passcode's name, when known.
    pub name: Option<String>,
    /// False: the lock may or may not hold it with this window.
    pub sure: bool,
}

impl Held {
    /// From a record's hold.
    pub fn of(h: &Hold) -> Held {
        Held {
            passcode_id: h.passcode_id,
            window: h.window(),
            name: h.name.clone(),
            sure: h.sure,
        }
    }

    /// As a record's hold on `key`.
    pub fn hold(&self, key: &Key) -> Hold {
        Hold {
            lock_id: key.0,
            passcode: key.1.clone(),
            passcode_id: self.passcode_id,
            name: self.name.clone(),
            valid_from_ms: self.window.from_ms,
            valid_to_ms: self.window.to_ms,
            sure: self.sure,
            offline: false,
        }
    }
}

/// A door of the room: the room lock first, then the common doors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Door {
    /// The lock.
    pub lock_id: i64,
    /// What the status calls it ("Room 101", "Main door").
    pub name: String,
    /// How it gets codes.
    pub mode: super::offline::CodeMode,
}

impl Door {
    /// A door that gets codes through its gateway.
    pub fn new(lock_id: i64, name: impl Into<String>) -> Door {
        Door {
            lock_id,
            name: name.into(),
            mode: Default::default(),
        }
    }
}

/// What the lock holds per key (`None`: nothing).
pub type Truth = BTreeMap<Key, Option<Held>>;

/// Grow steps (adds, and window changes of codes a live stay wants) run first; shrink steps
/// (deletes, and narrowing the window of a code this room gives up) only after every grow step
/// worked, so a new code is on every door before the old one goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Adds and changes toward what the stay asks for.
    Grow,
    /// Removing what no stay asks for any more.
    Shrink,
}

/// One key's way from now to its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The lock and code.
    pub key: Key,
    /// What the lock holds now.
    pub from: Option<Held>,
    /// What it should hold.
    pub to: Option<Window>,
    /// The name a new code gets.
    pub name: Option<String>,
    /// When it runs.
    pub phase: Phase,
}

/// The steps of one stay operation, with what is needed to describe them.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Every key the operation looks at, with what the lock held before.
    pub before: Truth,
    /// Every key's target.
    pub target: BTreeMap<Key, Option<Window>>,
    /// Keys the room's new stay uses.
    pub wanted: BTreeSet<Key>,
    /// Other rooms whose live stay uses a key.
    pub shared_with: BTreeMap<Key, Vec<String>>,
    /// The steps, grow steps first.
    pub steps: Vec<Step>,
}

/// The plan that takes `room`'s codes to `want` on `doors` (`None`: the room's stay ends).
/// `others` are the other rooms' records (ended stays already dropped).
pub fn plan(
    room: &RoomRecord,
    others: &[RoomRecord],
    doors: &[Door],
    want: Option<&Stay>,
    now_ms: i64,
) -> Plan {
    let mut p = Plan::default();
    let mut keys: BTreeSet<Key> = room
        .holds
        .iter()
        .map(|h| (h.lock_id, h.passcode.clone()))
        .collect();
    if let Some(s) = want {
        for d in doors {
            let k = (d.lock_id, s.passcode.clone());
            p.wanted.insert(k.clone());
            keys.insert(k);
        }
    }
    for key in keys {
        let before = room
            .holds
            .iter()
            .chain(others.iter().flat_map(|o| o.holds.iter()))
            .find(|h| h.lock_id == key.0 && h.passcode == key.1)
            .map(Held::of);
        let mut target = None::<Window>;
        let mut name = None;
        if let (true, Some(s)) = (p.wanted.contains(&key), want) {
            target = Some(s.window());
            name = Some(s.name.clone());
        }
        for o in others {
            let Some(s) = o.live_stay(now_ms) else {
                continue;
            };
            let uses = s.passcode == key.1
                && o.holds
                    .iter()
                    .any(|h| h.lock_id == key.0 && h.passcode == key.1);
            if uses {
                target = Some(target.map_or(s.window(), |w| w.hull(s.window())));
                p.shared_with
                    .entry(key.clone())
                    .or_default()
                    .push(o.room.clone());
            }
        }
        let phase = match (&before, target) {
            (None, None) => None,
            (None, Some(_)) => Some(Phase::Grow),
            (Some(_), None) => Some(Phase::Shrink),
            (Some(b), Some(t)) if b.window == t && b.sure => None,
            (Some(_), Some(_)) if p.wanted.contains(&key) => Some(Phase::Grow),
            (Some(_), Some(_)) => Some(Phase::Shrink),
        };
        if let Some(phase) = phase {
            p.steps.push(Step {
                key: key.clone(),
                from: before.clone(),
                to: target,
                name: name.or_else(|| before.as_ref().and_then(|b| b.name.clone())),
                phase,
            });
        }
        p.before.insert(key.clone(), before);
        p.target.insert(key, target);
    }
    p.steps.sort_by_key(|s| s.phase != Phase::Grow);
    p
}

/// The steps that take the locks from `now` back to `before` (the undo of a failed change).
pub fn back_to(before: &Truth, now: &Truth) -> Vec<Step> {
    let mut steps = Vec::new();
    for (key, was) in before {
        let is = now.get(key).cloned().flatten();
        let same = match (&is, was) {
            (None, None) => true,
            (Some(i), Some(w)) => i.sure && i.window == w.window,
            _ => false,
        };
        if !same {
            steps.push(Step {
                key: key.clone(),
                from: is.clone(),
                to: was.as_ref().map(|w| w.window),
                name: was
                    .as_ref()
                    .and_then(|w| w.name.clone())
                    .or_else(|| is.as_ref().and_then(|i| i.name.clone())),
                phase: Phase::Grow,
            });
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn stay(code: &str, from: i64, to: i64) -> Stay {
        Stay {
            passcode: code.into(),
            name: format!("n{from}"),
            valid_from_ms: from,
            valid_to_ms: to,
            asked: None,
            arrived_ms: None,
        }
    }

    fn hold(lock_id: i64, code: &str, id: i64, from: i64, to: i64) -> Hold {
        Hold {
            lock_id,
            passcode: code.into(),
            passcode_id: Some(id),
            name: None,
            valid_from_ms: from,
            valid_to_ms: to,
            sure: true,
            offline: false,
        }
    }

    fn doors() -> Vec<Door> {
        vec![Door::new(1, "Room 101"), Door::new(9, "Main door")]
    }

    fn record(room: &str, s: Option<Stay>, holds: Vec<Hold>) -> RoomRecord {
        let mut r = RoomRecord::new(room);
        r.stay = s;
        r.holds = holds;
        r
    }

    fn kinds(p: &Plan) -> Vec<(i64, String, Option<bool>, Phase)> {
        // (lock, code, Some(true)=add / Some(false)=change / None=delete, phase)
        p.steps
            .iter()
            .map(|s| {
                let kind = match (&s.from, s.to) {
                    (None, Some(_)) => Some(true),
                    (Some(_), Some(_)) => Some(false),
                    _ => None,
                };
                (s.key.0, s.key.1.clone(), kind, s.phase)
            })
            .collect()
    }

    #[test]
    fn a_new_stay_adds_on_every_door() {
        let p = plan(
            &RoomRecord::new("101"),
            &[],
            &doors(),
            Some(&stay("1111", DAY, 3 * DAY)),
            0,
        );
        assert_eq!(
            kinds(&p),
            vec![
                (1, "1111".into(), Some(true), Phase::Grow),
                (9, "1111".into(), Some(true), Phase::Grow)
            ]
        );
    }

    #[test]
    fn an_extend_changes_windows_and_a_new_code_adds_before_it_deletes() {
        let old = stay("1111", DAY, 3 * DAY);
        let r = record(
            "101",
            Some(old.clone()),
            vec![
                hold(1, "1111", 11, DAY, 3 * DAY),
                hold(9, "1111", 91, DAY, 3 * DAY),
            ],
        );
        let p = plan(&r, &[], &doors(), Some(&stay("1111", DAY, 5 * DAY)), 0);
        assert_eq!(
            kinds(&p),
            vec![
                (1, "1111".into(), Some(false), Phase::Grow),
                (9, "1111".into(), Some(false), Phase::Grow)
            ]
        );
        let p = plan(&r, &[], &doors(), Some(&stay("2222", DAY, 3 * DAY)), 0);
        assert_eq!(
            kinds(&p),
            vec![
                (1, "2222".into(), Some(true), Phase::Grow),
                (9, "2222".into(), Some(true), Phase::Grow),
                (1, "1111".into(), None, Phase::Shrink),
                (9, "1111".into(), None, Phase::Shrink)
            ]
        );
        // Nothing to do for the same stay.
        assert!(plan(&r, &[], &doors(), Some(&old), 0).steps.is_empty());
    }

    #[test]
    fn a_shared_common_door_gets_the_hull_and_shrinks_when_a_stay_ends() {
        // Room 102 holds the code on the main door (id 91) for 5..8.
        let other = record(
            "102",
            Some(stay("1111", 5 * DAY, 8 * DAY)),
            vec![
                hold(2, "1111", 21, 5 * DAY, 8 * DAY),
                hold(9, "1111", 91, 5 * DAY, 8 * DAY),
            ],
        );
        let p = plan(
            &RoomRecord::new("101"),
            std::slice::from_ref(&other),
            &doors(),
            Some(&stay("1111", DAY, 3 * DAY)),
            0,
        );
        assert_eq!(
            kinds(&p),
            vec![
                (1, "1111".into(), Some(true), Phase::Grow),
                (9, "1111".into(), Some(false), Phase::Grow)
            ]
        );
        let main = (9, "1111".to_string());
        assert_eq!(
            p.target[&main],
            Some(Window {
                from_ms: DAY,
                to_ms: 8 * DAY
            })
        );
        assert_eq!(p.shared_with[&main], vec!["102".to_string()]);
        // Room 101 checks out: its door is deleted, the main door shrinks back to 102's stay.
        let r = record(
            "101",
            Some(stay("1111", DAY, 3 * DAY)),
            vec![
                hold(1, "1111", 11, DAY, 3 * DAY),
                hold(9, "1111", 91, DAY, 8 * DAY),
            ],
        );
        let mut other2 = other.clone();
        other2.holds[1].valid_from_ms = DAY;
        let p = plan(&r, &[other2], &doors(), None, 0);
        assert_eq!(
            kinds(&p),
            vec![
                (1, "1111".into(), None, Phase::Shrink),
                (9, "1111".into(), Some(false), Phase::Shrink)
            ]
        );
        assert_eq!(
            p.target[&main],
            Some(Window {
                from_ms: 5 * DAY,
                to_ms: 8 * DAY
            })
        );
        // An ended other stay shares nothing.
        let p = plan(&r, &[other], &doors(), None, 8 * DAY);
        assert_eq!(p.target[&main], None);
    }

    #[test]
    fn back_to_undoes_each_kind() {
        let w = |a, b| Window {
            from_ms: a,
            to_ms: b,
        };
        let held = |id, win| Held {
            passcode_id: Some(id),
            window: win,
            name: Some("n".into()),
            sure: true,
        };
        let k = |l: i64| (l, "1111".to_string());
        let before: Truth = [
            (k(1), None),
            (k(2), Some(held(2, w(0, 5)))),
            (k(3), Some(held(3, w(0, 5)))),
            (k(4), Some(held(4, w(0, 5)))),
        ]
        .into_iter()
        .collect();
        let now: Truth = [
            (k(1), Some(held(1, w(0, 5)))),
            (k(2), None),
            (k(3), Some(held(3, w(0, 9)))),
            (k(4), Some(held(4, w(0, 5)))),
        ]
        .into_iter()
        .collect();
        let steps = back_to(&before, &now);
        let got: Vec<(i64, bool, bool)> = steps
            .iter()
            .map(|s| (s.key.0, s.from.is_some(), s.to.is_some()))
            .collect();
        assert_eq!(
            got,
            vec![(1, true, false), (2, false, true), (3, true, true)]
        );
    }
}
