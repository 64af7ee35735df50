//! What a stay operation tells reception (+9) and the log: door by door what holds now. The
//! status may name the guest's code (it is the room's own object); the log line and the alert
//! never do.
use std::collections::BTreeSet;

use super::plan::{Key, Plan, Truth};
use super::record::{Stay, Window};
use super::{door_name, Action, Door, DoorNow, DoorReport, Outcome, Shown, StayReport};
use crate::error::Error;

/// Everything the texts are made from.
pub(super) struct Context<'a> {
    pub room: &'a str,
    pub doors: &'a [Door],
    pub action: Action,
    pub old: Option<&'a Stay>,
    pub new: Option<&'a Stay>,
    pub plan: &'a Plan,
    pub truth: &'a Truth,
    pub errors: &'a [(Key, Error)],
    pub undone: &'a BTreeSet<i64>,
    pub shown: Shown<'a>,
}

fn window(shown: Shown, w: Window) -> String {
    format!("{}\u{2013}{}", shown(w.from_ms), shown(w.to_ms))
}

impl Context<'_> {
    /// The doors to report: the room's doors, then any other lock the room had a code on.
    fn locks(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.doors.iter().map(|d| d.lock_id).collect();
        for (lock, _) in self.plan.before.keys() {
            if !ids.contains(lock) {
                ids.push(*lock);
            }
        }
        ids
    }

    fn keys_of(&self, lock: i64) -> impl Iterator<Item = &Key> {
        self.plan.before.keys().filter(move |k| k.0 == lock)
    }

    fn door_now(&self, lock: i64) -> DoorNow {
        let mut all_new = true;
        let mut all_old = true;
        for k in self.keys_of(lock) {
            let is = self.truth.get(k).cloned().flatten();
            if is.as_ref().is_some_and(|h| !h.sure) {
                return DoorNow::Unknown;
            }
            let was = self.plan.before.get(k).cloned().flatten();
            let target = self.plan.target.get(k).copied().flatten();
            all_new &= is.as_ref().map(|h| h.window) == target;
            all_old &= is.as_ref().map(|h| h.window) == was.as_ref().map(|h| h.window);
        }
        match (all_new, all_old) {
            (true, _) => DoorNow::New,
            (false, true) => DoorNow::Old,
            _ => DoorNow::Unknown,
        }
    }

    fn error_of(&self, lock: i64) -> Option<&Error> {
        self.errors
            .iter()
            .find(|(k, _)| k.0 == lock)
            .map(|(_, e)| e)
    }

    /// The stay's code on a lock afterwards.
    fn held(&self, lock: i64, code: Option<&str>) -> Option<super::Held> {
        let code = code?;
        self.truth.get(&(lock, code.to_owned())).cloned().flatten()
    }

    fn shared(&self, lock: i64, code: Option<&str>) -> Vec<String> {
        code.and_then(|c| self.plan.shared_with.get(&(lock, c.to_owned())))
            .cloned()
            .unwrap_or_default()
    }

    fn rooms(list: &[String]) -> String {
        list.iter()
            .map(|r| format!("Room {r}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn what_it_holds(&self, lock: i64, show_code: bool) -> String {
        let shown = self.shown;
        // The code that matters on this door: the new stay's, else the old one's.
        let new_code = self.new.map(|s| s.passcode.as_str());
        let old_code = self.old.map(|s| s.passcode.as_str());
        let code_of = |c: &str| {
            if show_code {
                format!("code {c}")
            } else {
                "the code".to_owned()
            }
        };
        let mut parts = Vec::new();
        for k in self.keys_of(lock) {
            let Some(h) = self.truth.get(k).cloned().flatten() else {
                continue;
            };
            let label = if Some(k.1.as_str()) == new_code && new_code != old_code {
                if self.action == Action::CheckIn {
                    code_of(&k.1)
                } else {
                    "new code".to_owned()
                }
            } else if Some(k.1.as_str()) == old_code && new_code.is_some() && new_code != old_code {
                "old code".to_owned()
            } else {
                code_of(&k.1)
            };
            let state = if h.sure { "" } else { " (unsure)" };
            parts.push(format!("{label} {}{state}", window(shown, h.window)));
        }
        if parts.is_empty() {
            "no code".to_owned()
        } else {
            parts.join(" and ")
        }
    }

    fn door_text(&self, lock: i64, now: DoorNow, ok: bool, show_code: bool) -> String {
        let shown = self.shown;
        let err = self.error_of(lock);
        let new_code = self.new.map(|s| s.passcode.as_str());
        let held = self.held(lock, new_code);
        let id = |h: &super::Held| {
            h.passcode_id
                .map(|i| format!(" (id {i})"))
                .unwrap_or_default()
        };
        let shared = self.shared(lock, new_code.or(self.old.map(|s| s.passcode.as_str())));
        match now {
            DoorNow::New if self.new.is_none() => {
                if shared.is_empty() {
                    "removed".to_owned()
                } else {
                    let h = self.held(lock, self.old.map(|s| s.passcode.as_str()));
                    format!(
                        "kept for {}{}",
                        Self::rooms(&shared),
                        h.map(|h| format!(" (now {})", window(shown, h.window)))
                            .unwrap_or_default()
                    )
                }
            }
            DoorNow::New => {
                let h = held.unwrap_or(super::Held {
                    passcode_id: None,
                    window: self.new.map(|s| s.window()).unwrap_or(Window {
                        from_ms: 0,
                        to_ms: 0,
                    }),
                    name: None,
                    sure: true,
                });
                let mut t = if !ok {
                    format!("{} now", self.what_it_holds(lock, show_code))
                } else if self.action == Action::CheckIn && lock == self.doors[0].lock_id {
                    let code = if show_code {
                        format!("code {} active", new_code.unwrap_or("?"))
                    } else {
                        "code active".to_owned()
                    };
                    format!("{code} {}{}", window(shown, h.window), id(&h))
                } else {
                    format!("ok{}", id(&h))
                };
                if !shared.is_empty() && ok {
                    t.push_str(&format!(
                        ", shared with {}: open {}",
                        Self::rooms(&shared),
                        window(shown, h.window)
                    ));
                }
                t
            }
            DoorNow::Old => {
                let back = if self.undone.contains(&lock) {
                    match self.action {
                        Action::CheckIn => "code removed again (rolled back)".to_owned(),
                        Action::NewCode => "new code removed again, old code kept".to_owned(),
                        _ => format!("back to {}", self.what_it_holds(lock, show_code)),
                    }
                } else {
                    match self.action {
                        Action::CheckIn => "not changed".to_owned(),
                        Action::CheckOut => {
                            format!("still has {}", self.what_it_holds(lock, show_code))
                        }
                        _ => format!("keeps {}", self.what_it_holds(lock, show_code)),
                    }
                };
                match err {
                    Some(e) if self.action == Action::CheckIn => e.advice().to_owned(),
                    Some(e) => format!("{}; {back}", e.advice()),
                    None => back,
                }
            }
            DoorNow::Unknown => {
                let why = err
                    .map(|e| e.advice().to_owned())
                    .unwrap_or_else(|| "an answer was lost".to_owned());
                format!(
                    "UNKNOWN, may have {} ({why}): check this door in the TTLock app",
                    self.what_it_holds(lock, show_code)
                )
            }
        }
    }

    fn summary(&self, names: &str, show_code: bool) -> String {
        let shown = self.shown;
        let code = |s: &Stay| {
            if show_code {
                format!("code {}", s.passcode)
            } else {
                "the code".to_owned()
            }
        };
        let (new, old) = (self.new, self.old);
        match (self.action, new, old) {
            (Action::Extend, Some(n), Some(o)) => format!(
                "Stay extended: {} active {} (was until {}) on {names}",
                code(n),
                window(shown, n.window()),
                shown(o.valid_to_ms)
            ),
            (Action::Shorten, Some(n), Some(o)) => format!(
                "Stay shortened: {} active {} (was until {}) on {names}",
                code(n),
                window(shown, n.window()),
                shown(o.valid_to_ms)
            ),
            (Action::ChangeDates, Some(n), Some(o)) => format!(
                "Dates changed: {} active {} (was {}) on {names}",
                code(n),
                window(shown, n.window()),
                window(shown, o.window())
            ),
            (Action::NewCode, Some(n), _) => format!(
                "New {} active {} on {names}; the old code is removed",
                code(n),
                window(shown, n.window())
            ),
            (Action::Unchanged, Some(n), _) => format!(
                "No change: {} already active {} on {names}",
                code(n),
                window(shown, n.window())
            ),
            (Action::CheckOut, _, _) => format!("Checked out: the code is removed from {names}"),
            (Action::NothingToCheckOut, _, _) => {
                "Nothing to check out: this room has no live stay and no code on a door".to_owned()
            }
            _ => String::new(),
        }
    }

    fn failure_head(&self, outcome: Outcome) -> String {
        let what = match self.action {
            Action::CheckIn => "Check-in",
            Action::Extend => "Extend",
            Action::Shorten => "Shorten",
            Action::ChangeDates => "Date change",
            Action::NewCode => "New code",
            Action::Unchanged => "Change",
            Action::CheckOut | Action::NothingToCheckOut => "Check-out",
        };
        match (outcome, self.action) {
            (Outcome::Incomplete, _) => format!("{what} INCOMPLETE: "),
            (_, Action::CheckIn) => "Check-in failed, no door has the code: ".to_owned(),
            (_, Action::NewCode) => "New code failed, every door keeps the old code: ".to_owned(),
            (_, Action::CheckOut) => "Check-out failed, the code still opens: ".to_owned(),
            _ => format!("{what} failed, every door keeps its old dates: "),
        }
    }
}

/// The report of a finished operation.
pub(super) fn report(ctx: &Context, stay_after: Option<Stay>) -> StayReport {
    let locks = ctx.locks();
    let nows: Vec<DoorNow> = locks.iter().map(|l| ctx.door_now(*l)).collect();
    let ok = ctx.errors.is_empty();
    let outcome = if ok {
        Outcome::Done
    } else if nows.iter().all(|n| *n == DoorNow::Old) {
        Outcome::RolledBack
    } else {
        Outcome::Incomplete
    };
    let code_now = stay_after.as_ref().map(|s| s.passcode.clone());
    let doors: Vec<DoorReport> = locks
        .iter()
        .zip(&nows)
        .map(|(lock, now)| DoorReport {
            lock_id: *lock,
            name: door_name(ctx.doors, *lock),
            now: *now,
            held: ctx.held(*lock, code_now.as_deref()),
            shared_with: ctx.shared(*lock, code_now.as_deref()),
            error: ctx.error_of(*lock).cloned(),
            undone: ctx.undone.contains(lock),
            text: ctx.door_text(*lock, *now, ok, true),
        })
        .collect();
    let per_door = |show_code: bool, with_lock: bool| -> String {
        doors
            .iter()
            .map(|d| {
                let mut text = if show_code {
                    d.text.clone()
                } else {
                    ctx.door_text(d.lock_id, d.now, ok, false)
                };
                // The log also gets the longer message an integrator troubleshoots with.
                if let (false, Some(e)) = (show_code, &d.error) {
                    if !e.message().is_empty() && e.message() != e.advice() {
                        text.push_str(&format!(" [{}]", e.message()));
                    }
                }
                if with_lock {
                    format!("{} (lock {}): {text}", d.name, d.lock_id)
                } else {
                    format!("{}: {text}", d.name)
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let names = doors
        .iter()
        .map(|d| d.name.clone())
        .collect::<Vec<_>>()
        .join(", ");
    let shared_notes = || -> String {
        doors
            .iter()
            .filter(|d| !d.shared_with.is_empty())
            .map(|d| {
                let w = d
                    .held
                    .as_ref()
                    .map(|h| format!(" (open {})", window(ctx.shown, h.window)))
                    .unwrap_or_default();
                format!(
                    "; {} shared with {}{w}",
                    d.name,
                    Context::rooms(&d.shared_with)
                )
            })
            .collect::<String>()
    };
    let kept_for_others = || -> String {
        let old_code = ctx.old.map(|s| s.passcode.as_str());
        let kept: Vec<String> = locks
            .iter()
            .filter_map(|l| {
                let sh = ctx.shared(*l, old_code);
                (!sh.is_empty() && ctx.new.map(|n| n.passcode.as_str()) != old_code).then(|| {
                    let h = ctx.held(*l, old_code);
                    format!(
                        "; {} keeps the {} for {}{}",
                        door_name(ctx.doors, *l),
                        if ctx.new.is_some() {
                            "old code"
                        } else {
                            "code"
                        },
                        Context::rooms(&sh),
                        h.map(|h| format!(" (open {})", window(ctx.shown, h.window)))
                            .unwrap_or_default()
                    )
                })
            })
            .collect();
        kept.concat()
    };
    let (status, log_line) = if ok {
        if ctx.action == Action::CheckIn {
            (per_door(true, false), per_door(false, true))
        } else {
            let old_code = ctx.old.map(|s| s.passcode.as_str());
            let removed: Vec<String> = doors
                .iter()
                .filter(|d| ctx.shared(d.lock_id, old_code).is_empty())
                .map(|d| d.name.clone())
                .collect();
            let names = if ctx.new.is_none() {
                removed.join(", ")
            } else {
                names.clone()
            };
            let notes = if ctx.new.is_some() {
                shared_notes()
            } else {
                String::new()
            };
            (
                format!("{}{notes}{}", ctx.summary(&names, true), kept_for_others()),
                format!("{}{notes}{}", ctx.summary(&names, false), kept_for_others()),
            )
        }
    } else {
        let head = ctx.failure_head(outcome);
        (
            format!("{head}{}", per_door(true, false)),
            format!("{head}{}", per_door(false, true)),
        )
    };
    let unknown: Vec<&DoorReport> = doors.iter().filter(|d| d.now == DoorNow::Unknown).collect();
    let alert = (!unknown.is_empty()).then(|| {
        format!(
            "Room {}: {} left a door in a state nobody asked for: {}",
            ctx.room,
            ctx.action.as_str().replace('_', " "),
            unknown
                .iter()
                .map(|d| format!("{}: {}", d.name, ctx.door_text(d.lock_id, d.now, ok, false)))
                .collect::<Vec<_>>()
                .join("; ")
        )
    });
    StayReport {
        room: ctx.room.to_owned(),
        action: ctx.action,
        outcome,
        stay: stay_after,
        doors,
        error: ctx.errors.first().map(|(_, e)| e.clone()),
        status,
        log_line,
        alert,
    }
}
