//! What the sync does per staff code and door, from the settings, the staff record and the
//! guests' codes per door, without a call.
use std::collections::{BTreeMap, BTreeSet};

use super::{digest, StaffCode, StaffEntry, StaffRecord};
use crate::api::Validity;

/// Why a code the sync created is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Its name is gone from the settings.
    Revoked,
    /// The settings no longer send it to this door.
    DoorDropped,
    /// Its period has ended (revoked by time).
    Ended,
}

impl Reason {
    /// `'revoked'`, `'door_dropped'` or `'ended'` (the Lua `reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Revoked => "revoked",
            Reason::DoorDropped => "door_dropped",
            Reason::Ended => "ended",
        }
    }
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// Add the code. `adopt`: an earlier add's answer was lost, so a copy found with this
    /// name, digits and validity is the sync's own.
    Add {
        /// Take over a copy with this name and validity.
        adopt: bool,
    },
    /// `keyboardPwd/change` of the sync's code: new digits and/or a new period.
    Change {
        /// The digits change.
        digits: bool,
        /// The period changes.
        window: bool,
    },
    /// Permanent ↔ period: TTLock's change cannot switch the type, so delete, then add.
    Replace,
    /// Delete the sync's code.
    Delete(Reason),
    /// Nothing to do.
    Keep,
    /// A guest's code on this door has the same digits: not added, not changed.
    Collision,
    /// A period that has ended and is on no door: nothing to add.
    Ended,
}

/// A step for one staff code on one lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The staff code's name.
    pub name: String,
    /// The lock.
    pub lock_id: i64,
    /// What to do.
    pub kind: StepKind,
    /// The settings' code (absent for a revoked one).
    pub code: Option<StaffCode>,
    /// The record's entry (absent when the sync has not created it).
    pub entry: Option<StaffEntry>,
}

/// What a report entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The code was added.
    Added,
    /// The code was changed (digits, period, or replaced).
    Changed,
    /// Nothing to do.
    Unchanged,
    /// The sync's code was deleted.
    Removed,
    /// The same digits are on the door already (a guest's code, or a code made elsewhere).
    Collision,
    /// TTLock refused or did not answer.
    Failed,
    /// The period has ended: nothing on the door.
    Ended,
}

impl Status {
    /// The Lua `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Added => "added",
            Status::Changed => "changed",
            Status::Unchanged => "unchanged",
            Status::Removed => "removed",
            Status::Collision => "collision",
            Status::Failed => "failed",
            Status::Ended => "ended",
        }
    }
}

impl StepKind {
    /// The status the step has when it works (the dry run's).
    pub fn status(&self) -> Status {
        match self {
            StepKind::Add { .. } => Status::Added,
            StepKind::Change { .. } | StepKind::Replace => Status::Changed,
            StepKind::Delete(_) => Status::Removed,
            StepKind::Keep => Status::Unchanged,
            StepKind::Collision => Status::Collision,
            StepKind::Ended => Status::Ended,
        }
    }

    /// Whether the step calls TTLock.
    pub fn calls(&self) -> bool {
        matches!(
            self,
            StepKind::Add { .. }
                | StepKind::Change { .. }
                | StepKind::Replace
                | StepKind::Delete(_)
        )
    }
}

fn ended(v: &Validity, now_ms: i64) -> bool {
    matches!(*v, Validity::Period { end_ms, .. } if end_ms <= now_ms)
}

/// The plan: one step per code and door of the settings, then one per record entry the
/// settings no longer hold (in the record's order).
pub fn plan(
    codes: &[StaffCode],
    record: &StaffRecord,
    guests: &BTreeMap<i64, BTreeSet<String>>,
    now_ms: i64,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let guest_has = |lock: i64, code: &str| guests.get(&lock).is_some_and(|s| s.contains(code));
    for c in codes {
        for &lock in &c.lock_ids {
            let entry = record.find(&c.name, lock).cloned();
            let want = digest(lock, &c.passcode);
            let kind = match &entry {
                _ if ended(&c.validity, now_ms) => match &entry {
                    Some(_) => StepKind::Delete(Reason::Ended),
                    None => StepKind::Ended,
                },
                None => {
                    if guest_has(lock, &c.passcode) {
                        StepKind::Collision
                    } else {
                        StepKind::Add { adopt: false }
                    }
                }
                Some(e) if e.passcode_id.is_none() => {
                    if guest_has(lock, &c.passcode) {
                        StepKind::Collision
                    } else {
                        StepKind::Add {
                            adopt: e.digest == want && e.validity() == c.validity,
                        }
                    }
                }
                Some(e) => {
                    let digits = e.digest != want;
                    let window = e.validity() != c.validity;
                    let kind_changes = matches!(
                        (e.validity(), c.validity),
                        (Validity::Permanent, Validity::Period { .. })
                            | (Validity::Period { .. }, Validity::Permanent)
                    );
                    if digits && guest_has(lock, &c.passcode) {
                        StepKind::Collision
                    } else if kind_changes {
                        StepKind::Replace
                    } else if digits || window {
                        StepKind::Change { digits, window }
                    } else {
                        StepKind::Keep
                    }
                }
            };
            steps.push(Step {
                name: c.name.clone(),
                lock_id: lock,
                kind,
                code: Some(c.clone()),
                entry,
            });
        }
    }
    for e in &record.codes {
        let reason = match codes.iter().find(|c| c.name == e.name) {
            None => Reason::Revoked,
            Some(c) if !c.lock_ids.contains(&e.lock_id) => Reason::DoorDropped,
            Some(_) => continue,
        };
        steps.push(Step {
            name: e.name.clone(),
            lock_id: e.lock_id,
            kind: StepKind::Delete(reason),
            code: None,
            entry: Some(e.clone()),
        });
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const DAY: i64 = 86_400_000;

    fn code(name: &str, digits: &str, locks: &[i64], v: Validity) -> StaffCode {
        StaffCode {
            name: name.into(),
            passcode: digits.into(),
            lock_ids: locks.to_vec(),
            validity: v,
        }
    }

    fn entry(name: &str, digits: &str, lock: i64, v: Validity) -> StaffEntry {
        let (valid_from_ms, valid_to_ms) = match v {
            Validity::Permanent => (0, 0),
            Validity::Period { start_ms, end_ms } => (start_ms, end_ms),
        };
        StaffEntry {
            name: name.into(),
            lock_id: lock,
            passcode_id: Some(lock * 10),
            digest: digest(lock, digits),
            valid_from_ms,
            valid_to_ms,
        }
    }

    fn kinds(steps: &[Step]) -> Vec<(String, i64, StepKind)> {
        steps
            .iter()
            .map(|s| (s.name.clone(), s.lock_id, s.kind.clone()))
            .collect()
    }

    fn k(name: &str, lock: i64, kind: StepKind) -> (String, i64, StepKind) {
        (name.into(), lock, kind)
    }

    #[test]
    fn add_keep_change_replace_and_remove() {
        let p = Validity::Permanent;
        let week = Validity::Period {
            start_ms: NOW - DAY,
            end_ms: NOW + 7 * DAY,
        };
        let record = StaffRecord {
            codes: vec![
                entry("Cleaning", "246810", 1, p),
                entry("Cleaning", "246810", 3, p),
                entry("Manager", "135792", 1, p),
                entry("Temp", "975310", 1, p),
                entry("Old", "864200", 2, p),
            ],
            ..StaffRecord::default()
        };
        let codes = vec![
            code("Cleaning", "246810", &[1, 2], p),
            code("Manager", "135799", &[1], p),
            code("Temp", "975310", &[1], week),
        ];
        let steps = plan(&codes, &record, &BTreeMap::new(), NOW);
        assert_eq!(
            kinds(&steps),
            vec![
                k("Cleaning", 1, StepKind::Keep),
                k("Cleaning", 2, StepKind::Add { adopt: false }),
                k(
                    "Manager",
                    1,
                    StepKind::Change {
                        digits: true,
                        window: false
                    }
                ),
                k("Temp", 1, StepKind::Replace),
                k("Cleaning", 3, StepKind::Delete(Reason::DoorDropped)),
                k("Old", 2, StepKind::Delete(Reason::Revoked)),
            ]
        );
        // The same settings again (the record as the sync would leave it): nothing calls.
        let record = StaffRecord {
            codes: vec![
                entry("Cleaning", "246810", 1, p),
                entry("Cleaning", "246810", 2, p),
                entry("Manager", "135799", 1, p),
                entry("Temp", "975310", 1, week),
            ],
            ..StaffRecord::default()
        };
        let steps = plan(&codes, &record, &BTreeMap::new(), NOW);
        assert!(steps.iter().all(|s| s.kind == StepKind::Keep), "{steps:?}");
        // A new period is a change of the window.
        let later = Validity::Period {
            start_ms: NOW - DAY,
            end_ms: NOW + 9 * DAY,
        };
        let codes2 = vec![code("Temp", "975310", &[1], later)];
        let record2 = StaffRecord {
            codes: vec![entry("Temp", "975310", 1, week)],
            ..StaffRecord::default()
        };
        assert_eq!(
            kinds(&plan(&codes2, &record2, &BTreeMap::new(), NOW)),
            vec![k(
                "Temp",
                1,
                StepKind::Change {
                    digits: false,
                    window: true
                }
            )]
        );
    }

    #[test]
    fn collisions_and_ended_periods() {
        let p = Validity::Permanent;
        let gone = Validity::Period {
            start_ms: NOW - 9 * DAY,
            end_ms: NOW - DAY,
        };
        let guests: BTreeMap<i64, BTreeSet<String>> =
            [(2, BTreeSet::from(["246810".to_string()]))].into();
        let record = StaffRecord {
            codes: vec![
                entry("Manager", "135792", 2, p),
                entry("Summer", "975310", 1, gone),
            ],
            ..StaffRecord::default()
        };
        let codes = vec![
            code("Cleaning", "246810", &[1, 2], p),
            // New digits that a guest holds on door 2: the old code stays.
            code("Manager", "246810", &[2], p),
            code("Summer", "975310", &[1, 2], gone),
        ];
        let steps = plan(&codes, &record, &guests, NOW);
        assert_eq!(
            kinds(&steps),
            vec![
                k("Cleaning", 1, StepKind::Add { adopt: false }),
                k("Cleaning", 2, StepKind::Collision),
                k("Manager", 2, StepKind::Collision),
                k("Summer", 1, StepKind::Delete(Reason::Ended)),
                k("Summer", 2, StepKind::Ended),
            ]
        );
        assert_eq!(StepKind::Collision.status(), Status::Collision);
        assert!(!StepKind::Collision.calls() && StepKind::Replace.calls());
    }

    #[test]
    fn a_lost_add_is_taken_over_only_with_the_same_digits_and_validity() {
        let p = Validity::Permanent;
        let mut e = entry("Cleaning", "246810", 1, p);
        e.passcode_id = None;
        let record = StaffRecord {
            codes: vec![e],
            ..StaffRecord::default()
        };
        let same = vec![code("Cleaning", "246810", &[1], p)];
        let other = vec![code("Cleaning", "111333", &[1], p)];
        assert_eq!(
            plan(&same, &record, &BTreeMap::new(), NOW)[0].kind,
            StepKind::Add { adopt: true }
        );
        assert_eq!(
            plan(&other, &record, &BTreeMap::new(), NOW)[0].kind,
            StepKind::Add { adopt: false }
        );
    }
}
