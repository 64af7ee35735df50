//! Guest passcodes (docs/lua-api.md "Passcodes"): add to a room lock and its common doors,
//! change, delete, list, generate; the checks of codes, windows and LM dates.
//!
//! - `checks`: what is refused before anything is sent.
//! - `add`: several doors, the rollback, lost answers.
//! - `change`: change, delete, list.
//! - `generate`: random codes that are free on every door.
//!
//! Error messages and log lines never contain the passcode itself.
use crate::api::Validity;
use crate::error::Error;

mod add;
mod change;
mod checks;
mod generate;

pub(crate) use add::{add_one, record_added};
pub use add::{add_passcode, MAX_ADD_ATTEMPTS};
pub use change::{change_passcode, delete_passcode, list_passcodes};
pub use checks::{check_code, check_window, validate_add, window_matches};
pub use generate::{
    generate_avoiding, generate_passcode, generate_with, is_trivial, random_code, MAX_CANDIDATES,
};

#[derive(Debug, Clone, PartialEq, Eq)]
/// What `add_passcode` is asked to do.
pub struct AddRequest {
    /// The room lock.
    pub lock_id: i64,
    /// Common doors that get the same code.
    pub also_lock_ids: Vec<i64>,
    /// 4 to 9 digits.
    pub passcode: String,
    /// The passcode's name in TTLock.
    pub name: Option<String>,
    /// Permanent or a window.
    pub validity: Validity,
    /// On a failure anywhere, remove the code from the locks that got it.
    pub atomic: bool,
}

/// The outcome on one lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockResult {
    /// The lock.
    pub lock_id: i64,
    /// The code's id on this lock when it was added (or found after an ambiguous answer).
    pub passcode_id: Option<i64>,
    /// `None`: the code was added.
    pub error: Option<Error>,
    /// Found by a look-up after an ambiguous answer or a -3007, not by a clean add answer.
    pub existing: bool,
    /// The add may have been carried out although no answer says so (look-up impossible).
    pub maybe_added: bool,
    /// `Some(true)`: removed again by the rollback; `Some(false)`: removing failed.
    pub rolled_back: Option<bool>,
    /// Why removing the code again failed.
    pub rollback_error: Option<Error>,
}

/// Where a lock stands after `add_passcode`: what a status text prints for the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoorState {
    /// The lock has the code (added, or found there with this validity).
    Active,
    /// The lock got the code and the rollback removed it again.
    RolledBack,
    /// The lock got the code and removing it again failed: it still opens the door.
    Left,
    /// The add failed, but the lock may have the code (the answer was lost and nothing could
    /// tell, or removing a possible copy failed).
    Maybe,
    /// The add failed; the lock does not have the code.
    Failed,
}

impl DoorState {
    /// `'active'`, `'rolled_back'`, `'left'`, `'maybe'` or `'failed'` (the Lua `state`).
    pub fn as_str(self) -> &'static str {
        match self {
            DoorState::Active => "active",
            DoorState::RolledBack => "rolled_back",
            DoorState::Left => "left",
            DoorState::Maybe => "maybe",
            DoorState::Failed => "failed",
        }
    }

    /// Whether the door may open with the code.
    pub fn may_open(self) -> bool {
        matches!(self, DoorState::Active | DoorState::Left | DoorState::Maybe)
    }
}

impl LockResult {
    /// The code was added (or found) on this lock.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// Where the lock stands now.
    pub fn state(&self) -> DoorState {
        match (self.ok(), self.rolled_back) {
            (true, Some(true)) => DoorState::RolledBack,
            (true, Some(false)) => DoorState::Left,
            (true, None) => DoorState::Active,
            (false, Some(false)) => DoorState::Maybe,
            (false, None) if self.maybe_added => DoorState::Maybe,
            (false, _) => DoorState::Failed,
        }
    }

    fn added(lock_id: i64, id: i64, existing: bool) -> LockResult {
        LockResult {
            lock_id,
            passcode_id: Some(id),
            error: None,
            existing,
            maybe_added: false,
            rolled_back: None,
            rollback_error: None,
        }
    }

    fn failed(lock_id: i64, e: Error, maybe_added: bool) -> LockResult {
        LockResult {
            lock_id,
            passcode_id: None,
            error: Some(e),
            existing: false,
            maybe_added,
            rolled_back: None,
            rollback_error: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// A successful `add_passcode`.
pub struct AddOutcome {
    /// The code.
    pub passcode: String,
    /// Its name.
    pub name: Option<String>,
    /// The room lock first, then the common doors, each once.
    pub locks: Vec<LockResult>,
}

/// A failed `add_passcode`: `locks` is empty when nothing was sent (bad input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddError {
    /// The first failing lock's error, with what happened on the others.
    pub error: Error,
    /// Every lock, as for a success.
    pub locks: Vec<LockResult>,
    /// True when locks that got the code had it removed again, every one of them.
    pub rolled_back: bool,
}

/// How a failed `add_passcode` left the doors, for the status text's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddFailure {
    /// Nothing was sent to any lock: the input was refused.
    Unchanged,
    /// No door has the code (every copy was removed again, or none was added).
    NoDoorHasIt,
    /// Some door has, or may have, the code: a person should look.
    Incomplete,
}

impl AddFailure {
    /// `'unchanged'`, `'no_door_has_it'` or `'incomplete'` (the Lua `err.outcome`).
    pub fn as_str(self) -> &'static str {
        match self {
            AddFailure::Unchanged => "unchanged",
            AddFailure::NoDoorHasIt => "no_door_has_it",
            AddFailure::Incomplete => "incomplete",
        }
    }
}

impl AddError {
    /// How the doors were left.
    pub fn outcome(&self) -> AddFailure {
        if self.locks.is_empty() {
            AddFailure::Unchanged
        } else if self.locks.iter().any(|r| r.state().may_open()) {
            AddFailure::Incomplete
        } else {
            AddFailure::NoDoorHasIt
        }
    }
}

impl From<Error> for AddError {
    fn from(error: Error) -> AddError {
        AddError {
            error,
            locks: Vec::new(),
            rolled_back: false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
/// What `change_passcode` is asked to do.
pub struct ChangeRequest {
    /// The lock.
    pub lock_id: i64,
    /// The code's id on the lock.
    pub passcode_id: i64,
    /// A new code.
    pub passcode: Option<String>,
    /// A new name.
    pub name: Option<String>,
    /// (start, end) ms; both or neither.
    pub window: Option<(i64, i64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(ok: bool, maybe_added: bool, rolled_back: Option<bool>) -> LockResult {
        LockResult {
            lock_id: 1,
            passcode_id: ok.then_some(5),
            error: (!ok).then(|| Error::from_errcode(-3002, None)),
            existing: false,
            maybe_added,
            rolled_back,
            rollback_error: None,
        }
    }

    #[test]
    fn door_states_and_outcomes() {
        use DoorState::*;
        let cases = [
            (lock(true, false, None), Active),
            (lock(true, false, Some(true)), RolledBack),
            (lock(true, false, Some(false)), Left),
            (lock(false, true, None), Maybe),
            (lock(false, true, Some(false)), Maybe),
            (lock(false, true, Some(true)), Failed),
            (lock(false, false, None), Failed),
        ];
        for (r, want) in &cases {
            assert_eq!(r.state(), *want, "{r:?}");
        }
        let err = |locks: Vec<LockResult>| AddError {
            error: Error::from_errcode(-3002, None),
            locks,
            rolled_back: false,
        };
        assert_eq!(err(vec![]).outcome(), AddFailure::Unchanged);
        assert_eq!(
            err(vec![
                lock(true, false, Some(true)),
                lock(false, false, None)
            ])
            .outcome(),
            AddFailure::NoDoorHasIt
        );
        assert_eq!(
            err(vec![
                lock(true, false, Some(false)),
                lock(false, false, None)
            ])
            .outcome(),
            AddFailure::Incomplete
        );
        assert_eq!(
            err(vec![lock(false, true, None)]).outcome(),
            AddFailure::Incomplete
        );
    }
}
