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
    /// The doors on TTLock's random codes.
    pub offline: &'a [super::offline::Note],
    /// Doors waiting in the queue (best effort), with why.
    pub waiting: &'a [(Key, Error)],
    /// A retry of waiting doors.
    pub retry: bool,
    pub shown: Shown<'a>,
}

/// A failed door's reason in the status, after the door's name: its error's advice, shorter
/// for a code the door already has from other hands (the advice names the door for logs and
/// alerts; here the name is in front already).
fn door_advice(e: &Error) -> String {
    if e.code() == crate::error::Code::PasscodeExists {
        return "the code is already used on this door by another code: switch the trigger off for a new code, then on again".to_owned();
    }
    e.advice().to_owned()
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
        if self.waiting.iter().any(|(k, _)| k.0 == lock) {
            return DoorNow::Pending;
        }
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
            .chain(self.waiting.iter())
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

    fn offline_note(&self, lock: i64) -> Option<&super::offline::Note> {
        self.offline.iter().find(|n| n.lock_id == lock)
    }

    /// An offline door: its code, its hours, and what TTLock cannot do without a gateway.
    fn offline_text(&self, n: &super::offline::Note, show_code: bool) -> String {
        let shown = self.shown;
        let code = if show_code {
            format!("offline code {}", n.passcode)
        } else {
            "offline code".to_owned()
        };
        if n.ending {
            return format!(
                "{code} still valid until {}: without a gateway TTLock cannot remove it",
                shown(n.window.to_ms)
            );
        }
        let mut t = format!("{code} valid {}", window(shown, n.window));
        // Until its first-use deadline has passed, every status repeats it (a retry's too).
        let deadline = n.window.from_ms + super::offline::FIRST_USE_MS;
        if n.issued || deadline > crate::transport::now_ms() {
            t.push_str(&format!(
                ", must be used once before {} or the lock suspends it",
                shown(deadline)
            ));
        }
        if let Some(until) = n.replaced_until {
            t.push_str(&format!(
                "; the old code stays valid until {} (no gateway to remove it)",
                shown(until)
            ));
        }
        if let Some(s) = self.new {
            if !n.issued && s.valid_to_ms < n.window.to_ms {
                t.push_str(&format!(
                    " (it cannot be shortened without a gateway: it opens until {})",
                    shown(n.window.to_ms)
                ));
            }
        }
        t
    }

    fn door_text(&self, lock: i64, now: DoorNow, ok: bool, show_code: bool) -> String {
        if let Some(n) = self.offline_note(lock) {
            return self.offline_text(n, show_code);
        }
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
            DoorNow::New if self.new.is_none() && self.keys_of(lock).next().is_none() => {
                "no code of this stay found".to_owned()
            }
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
                } else if lock == self.doors[0].lock_id {
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
                let had_it = self
                    .keys_of(lock)
                    .any(|k| self.plan.before.get(k).is_some_and(|b| b.is_some()));
                let back = if self.undone.contains(&lock) {
                    match self.action {
                        // A shared door kept another stay's code: only its window went back.
                        Action::CheckIn if had_it => {
                            format!("back to {}", self.what_it_holds(lock, show_code))
                        }
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
                    Some(e) if self.action == Action::CheckIn => door_advice(e),
                    Some(e) => format!("{}; {back}", door_advice(e)),
                    None => back,
                }
            }
            DoorNow::Pending if self.new.is_none() => format!(
                "still has {} ({}): removing it is retried",
                self.what_it_holds(lock, show_code),
                err.map(|e| e.advice()).unwrap_or("not reached")
            ),
            DoorNow::Pending => {
                let mut t = format!(
                    "pending ({}), retrying",
                    err.map(|e| e.advice()).unwrap_or("not reached")
                );
                // Until then it keeps what it had: say so when that still opens the door.
                let has = self.what_it_holds(lock, show_code);
                if has != "no code" {
                    t.push_str(&format!("; until then it has {has}"));
                }
                t
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
                "New code{} active {} on {names}; the old code is removed",
                if show_code {
                    format!(" {}", n.passcode)
                } else {
                    String::new()
                },
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
            (Outcome::Incomplete, _) if self.retry => "Retry INCOMPLETE: ".to_owned(),
            (_, _) if self.retry => "Retry failed, every door keeps what it had: ".to_owned(),
            (Outcome::Incomplete, _) => format!("{what} INCOMPLETE: "),
            (_, Action::CheckIn) if self.plan.before.values().any(|b| b.is_some()) => {
                "Check-in failed, every door is as before: ".to_owned()
            }
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
    let outcome = if ok && !ctx.waiting.is_empty() {
        Outcome::Pending
    } else if ok {
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
            // An offline door's code is not planned: the note has it (+8 for an offline room).
            held: ctx.held(*lock, code_now.as_deref()).or_else(|| {
                ctx.offline_note(*lock)
                    .filter(|n| !n.ending)
                    .map(|n| super::Held {
                        passcode_id: n.passcode_id,
                        window: n.window,
                        name: None,
                        sure: true,
                    })
            }),
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
        if !ctx.offline.is_empty() || !ctx.waiting.is_empty() || ctx.retry {
            let head = match ctx.action {
                _ if ctx.retry && ctx.waiting.is_empty() => "Pending doors done: ",
                _ if ctx.retry => "Still pending: ",
                Action::CheckIn => "",
                Action::Extend => "Stay extended: ",
                Action::Shorten => "Stay shortened: ",
                Action::ChangeDates => "Dates changed: ",
                Action::NewCode => "New code: ",
                Action::Unchanged => "No change: ",
                Action::CheckOut | Action::NothingToCheckOut => "Checked out: ",
            };
            (
                format!("{head}{}", per_door(true, false)),
                format!("{head}{}", per_door(false, true)),
            )
        } else if ctx.action == Action::CheckIn {
            (per_door(true, false), per_door(false, true))
        } else {
            let old_code = ctx.old.map(|s| s.passcode.as_str());
            let removed: Vec<String> = doors
                .iter()
                .filter(|d| ctx.shared(d.lock_id, old_code).is_empty())
                .filter(|d| ctx.keys_of(d.lock_id).next().is_some())
                .map(|d| d.name.clone())
                .collect();
            let not_found: Vec<String> = doors
                .iter()
                .filter(|d| ctx.keys_of(d.lock_id).next().is_none())
                .map(|d| d.name.clone())
                .collect();
            let names = if ctx.new.is_none() {
                removed.join(", ")
            } else {
                names.clone()
            };
            let notes = if ctx.new.is_some() {
                shared_notes()
            } else if !not_found.is_empty() && ctx.action == Action::CheckOut {
                format!("; no code of this stay found on {}", not_found.join(", "))
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
    // A door nobody asked for: unknown, or one that holds the new state of an all-or-nothing
    // change that failed (its undo failed too).
    let unasked = |d: &&DoorReport| {
        d.now == DoorNow::Unknown
            || (!ok
                && ctx.new.is_some()
                && d.now == DoorNow::New
                && ctx.keys_of(d.lock_id).any(|k| {
                    ctx.truth.get(k).cloned().flatten().map(|h| h.window)
                        != ctx.plan.before.get(k).cloned().flatten().map(|h| h.window)
                }))
    };
    let unknown: Vec<&DoorReport> = doors.iter().filter(unasked).collect();
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

#[cfg(test)]
mod tests {
    use super::super::plan::{plan, Held};
    use super::super::record::{Hold, RoomRecord};
    use super::*;

    const H: i64 = 3_600_000;

    fn shown(ms: i64) -> String {
        format!("{}h", ms / H)
    }

    fn doors() -> Vec<Door> {
        vec![Door::new(1, "Room 101"), Door::new(9, "Main door")]
    }

    fn stay(code: &str, from_h: i64, to_h: i64) -> Stay {
        Stay {
            passcode: code.into(),
            name: format!("101_{from_h}"),
            valid_from_ms: from_h * H,
            valid_to_ms: to_h * H,
            asked: None,
            arrived_ms: None,
        }
    }

    fn held(id: i64, w: Window) -> Option<Held> {
        Some(Held {
            passcode_id: Some(id),
            window: w,
            name: None,
            sure: true,
        })
    }

    fn record(s: &Stay) -> RoomRecord {
        let mut r = RoomRecord::new("101");
        r.stay = Some(s.clone());
        r.holds = [1, 9]
            .iter()
            .map(|l| Hold {
                lock_id: *l,
                passcode: s.passcode.clone(),
                passcode_id: Some(10 + l),
                name: None,
                valid_from_ms: s.valid_from_ms,
                valid_to_ms: s.valid_to_ms,
                sure: true,
                offline: false,
            })
            .collect();
        r
    }

    /// The report when each key ends as `after` says (missing keys: as planned).
    fn run(
        old: Option<&Stay>,
        new: Option<&Stay>,
        after: &[(i64, &str, Option<Held>)],
        errors: &[(i64, &str)],
        undone: &[i64],
    ) -> StayReport {
        let rec = old.map(record).unwrap_or_else(|| RoomRecord::new("101"));
        let p = plan(&rec, &[], &doors(), new, 0);
        let mut truth = p.before.clone();
        for s in &p.steps {
            let id = s
                .from
                .as_ref()
                .and_then(|h| h.passcode_id)
                .unwrap_or(50 + s.key.0);
            truth.insert(s.key.clone(), s.to.and_then(|w| held(id, w)));
        }
        for (l, code, h) in after {
            truth.insert((*l, code.to_string()), h.clone());
        }
        let errors: Vec<(Key, Error)> = errors
            .iter()
            .map(|(l, code)| ((*l, code.to_string()), Error::from_errcode(-3002, None)))
            .collect();
        let undone: BTreeSet<i64> = undone.iter().copied().collect();
        let action = match new {
            Some(n) => Action::of(old, n),
            None => Action::CheckOut,
        };
        let ctx = Context {
            room: "101",
            doors: &doors(),
            action,
            old,
            new,
            plan: &p,
            truth: &truth,
            errors: &errors,
            undone: &undone,
            offline: &[],
            waiting: &[],
            retry: false,
            shown: &shown,
        };
        let after_stay = if errors.is_empty() {
            new.cloned()
        } else {
            old.cloned()
        };
        report(&ctx, after_stay)
    }

    #[test]
    fn a_check_in_names_the_code_and_ids_only_in_the_status() {
        let s = stay("48213", 24, 96);
        let r = run(None, Some(&s), &[], &[], &[]);
        assert_eq!(r.outcome, Outcome::Done);
        assert_eq!(
            r.status,
            "Room 101: code 48213 active 24h\u{2013}96h (id 51); Main door: ok (id 59)"
        );
        assert!(!r.log_line.contains("48213"), "{}", r.log_line);
        assert!(r.alert.is_none());
    }

    #[test]
    fn a_clean_rollback_says_what_each_door_holds_and_raises_no_alert() {
        let old = stay("48213", 24, 96);
        let new = stay("48213", 24, 144);
        // The main door failed; the room door was changed and sent back.
        let r = run(
            Some(&old),
            Some(&new),
            &[
                (1, "48213", held(11, old.window())),
                (9, "48213", held(19, old.window())),
            ],
            &[(9, "48213")],
            &[1],
        );
        assert_eq!(r.outcome, Outcome::RolledBack);
        assert_eq!(
            r.status,
            "Extend failed, every door keeps its old dates: Room 101: back to code 48213 24h\u{2013}96h; \
             Main door: the gateway is offline: check its power and network; keeps code 48213 24h\u{2013}96h"
        );
        assert!(r.alert.is_none());
        assert!(r.log_line.contains("Main door (lock 9)"), "{}", r.log_line);
        assert!(!r.log_line.contains("48213"), "{}", r.log_line);
    }

    #[test]
    fn an_unsure_door_is_unknown_and_alerts_without_the_code() {
        let old = stay("48213", 24, 96);
        let new = stay("48213", 24, 144);
        let unsure = Some(Held {
            passcode_id: Some(19),
            window: old.window(),
            name: None,
            sure: false,
        });
        let r = run(
            Some(&old),
            Some(&new),
            &[(1, "48213", held(11, old.window())), (9, "48213", unsure)],
            &[(9, "48213")],
            &[1],
        );
        assert_eq!(r.outcome, Outcome::Incomplete);
        assert!(r.status.starts_with("Extend INCOMPLETE: "), "{}", r.status);
        assert!(r.status.contains("Main door: UNKNOWN"), "{}", r.status);
        let alert = r.alert.expect("an alert");
        assert!(
            alert.contains("nobody asked for") && alert.contains("Main door"),
            "{alert}"
        );
        assert!(!alert.contains("48213"), "{alert}");
    }

    #[test]
    fn a_partial_check_out_says_which_door_still_opens() {
        let old = stay("48213", 24, 96);
        let r = run(
            Some(&old),
            None,
            &[(9, "48213", held(19, old.window()))],
            &[(9, "48213")],
            &[],
        );
        assert_eq!(r.outcome, Outcome::Incomplete);
        assert_eq!(
            r.status,
            "Check-out INCOMPLETE: Room 101: removed; Main door: the gateway is offline: check its power and network; \
             still has code 48213 24h\u{2013}96h"
        );
        assert!(
            r.alert.is_none(),
            "the main door holds what it held: no alert"
        );
        let done = run(Some(&old), None, &[], &[], &[]);
        assert_eq!(
            done.status,
            "Checked out: the code is removed from Room 101, Main door"
        );
    }
}
