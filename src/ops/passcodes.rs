//! Guest passcodes (lua-api.md "Passcodes"): add to a room lock and its common doors, change,
//! delete, list, generate; plus the checks of an LM date and time.
//!
//! `add_passcode` and a lost answer: `keyboardPwd/add` is not idempotent, so an answer that may
//! hide a done add (lost connection, 5xx, timeout, unreadable answer) or a -3007 ("same passcode
//! exists") is never answered by a blind repeat. The code is looked up (listKeyboardPwd with
//! searchStr = the code): present with our window → success (`existing`); present with another
//! window → `passcode_exists`; absent → add again, at most [`MAX_ADD_ATTEMPTS`] adds per lock.
//!
//! Error messages and log lines never contain the passcode itself.
use std::io::Read;

use crate::api::{self, AddPasscode, ChangePasscode, PasscodeItem, Validity, Via};
use crate::client::Client;
use crate::error::{Code, Error, Result};
use crate::http::now_ms;

use super::gateways::{self, GatewayMap, Slot};
use super::ledger::{Entry, Ledger, Origin};
use super::{bounded, busy_retry, dedup, find_code, MAX_WORKERS};

/// Adds per lock, the first included, when answers stay ambiguous.
pub const MAX_ADD_ATTEMPTS: u32 = 3;

/// Random candidates `generate_passcode` tries before giving up.
pub const MAX_CANDIDATES: u32 = 20;

/// A listed window matches ours when both ends are within this (TTLock keeps custom passcode
/// windows to the minute).
const WINDOW_TOLERANCE_MS: i64 = 60_000;

/// Times below this are surely seconds, not milliseconds (1973-03-03 in ms).
const SURELY_SECONDS: i64 = 100_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddRequest {
    pub lock_id: i64,
    /// Common doors that get the same code.
    pub also_lock_ids: Vec<i64>,
    pub passcode: String,
    pub name: Option<String>,
    pub validity: Validity,
    /// On a failure anywhere, remove the code from the locks that got it.
    pub atomic: bool,
}

/// The outcome on one lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockResult {
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
    pub rollback_error: Option<Error>,
}

impl LockResult {
    pub fn ok(&self) -> bool {
        self.error.is_none()
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
pub struct AddOutcome {
    pub passcode: String,
    pub name: Option<String>,
    /// The room lock first, then the common doors, each once.
    pub locks: Vec<LockResult>,
}

/// A failed `add_passcode`: `locks` is empty when nothing was sent (bad input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddError {
    pub error: Error,
    pub locks: Vec<LockResult>,
    /// True when locks that got the code had it removed again, every one of them.
    pub rolled_back: bool,
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

// ---- pure checks -------------------------------------------------------------------------

/// 4 to 9 digits (the value is never echoed: it may be a guest's code).
pub fn check_code(code: &str) -> Result<()> {
    if (4..=9).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::invalid_argument(
            "the passcode must be 4 to 9 digits, given as a string",
        ))
    }
}

/// A window of a period code: end after start, start not negative.
pub fn check_window(start_ms: i64, end_ms: i64) -> Result<()> {
    if start_ms < 0 || end_ms < 0 {
        return Err(Error::invalid_argument(
            "valid_from_ms and valid_to_ms must not be negative",
        ));
    }
    if end_ms <= start_ms {
        return Err(Error::invalid_argument(
            "the validity must end after it starts (valid_to_ms > valid_from_ms)",
        ));
    }
    Ok(())
}

/// Everything `add_passcode` refuses before sending anything.
pub fn validate_add(req: &AddRequest, now_ms: i64) -> Result<()> {
    check_code(&req.passcode)?;
    if let Validity::Period { start_ms, end_ms } = req.validity {
        check_window(start_ms, end_ms)?;
        if end_ms <= now_ms {
            let hint = if end_ms < SURELY_SECONDS {
                " (times are milliseconds: os.time() * 1000)"
            } else {
                ""
            };
            return Err(Error::invalid_argument(format!(
                "the validity has already ended{hint}"
            )));
        }
    }
    if let Some(n) = &req.name {
        if n.chars().any(char::is_control) {
            return Err(Error::invalid_argument(
                "the passcode name must not contain control characters",
            ));
        }
    }
    Ok(())
}

/// Whether a listed code has the validity we asked for.
pub fn window_matches(item: &PasscodeItem, v: &Validity) -> bool {
    match *v {
        Validity::Permanent => item.pwd_type == 2 || item.end_ms.unwrap_or(0) == 0,
        Validity::Period { start_ms, end_ms } => {
            item.pwd_type != 2
                && item
                    .start_ms
                    .is_some_and(|s| (s - start_ms).abs() < WINDOW_TOLERANCE_MS)
                && item
                    .end_ms
                    .is_some_and(|e| (e - end_ms).abs() < WINDOW_TOLERANCE_MS)
        }
    }
}

/// Codes a guest or a passer-by would try first: one digit repeated, or a straight run up or
/// down (also across 9→0, e.g. 78901).
pub fn is_trivial(code: &str) -> bool {
    let d: Vec<i16> = code
        .bytes()
        .map(|b| i16::from(b) - i16::from(b'0'))
        .collect();
    if d.len() < 2 {
        return true;
    }
    let steps: Vec<i16> = d.windows(2).map(|w| (w[1] - w[0]).rem_euclid(10)).collect();
    steps.iter().all(|&s| s == 0) || steps.iter().all(|&s| s == 1) || steps.iter().all(|&s| s == 9)
}

/// `digits` uniform random digits from the OS (/dev/urandom), never a trivial code.
pub fn random_code(digits: usize) -> Result<String> {
    if !(4..=9).contains(&digits) {
        return Err(Error::invalid_argument("digits must be 4 to 9"));
    }
    let mut f = std::fs::File::open("/dev/urandom").map_err(urandom_error)?;
    loop {
        let mut code = String::with_capacity(digits);
        let mut buf = [0u8; 32];
        while code.len() < digits {
            f.read_exact(&mut buf).map_err(urandom_error)?;
            // 250 = 25 × 10: bytes above it are dropped so every digit is equally likely.
            for b in buf.iter().filter(|b| **b < 250) {
                if code.len() < digits {
                    code.push(char::from(b'0' + b % 10));
                }
            }
        }
        if !is_trivial(&code) {
            return Ok(code);
        }
    }
}

fn urandom_error(e: std::io::Error) -> Error {
    Error::new(
        Code::NotSupported,
        format!("cannot read random numbers from /dev/urandom: {e}"),
    )
}

const MONTH_DAYS: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// An LM date and time (checked before `os.time`, which would quietly turn 31.02 into 03.03).
pub fn check_date_time(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
) -> Result<()> {
    if !(1970..=2200).contains(&year) || !(1..=12).contains(&month) {
        return Err(Error::invalid_argument(
            "the date must have a year 1970 to 2200 and a month 1 to 12",
        ));
    }
    let mut days = MONTH_DAYS[(month - 1) as usize] as i64;
    if month == 2 && is_leap(year) {
        days = 29;
    }
    if !(1..=days).contains(&day) {
        return Err(Error::invalid_argument(format!(
            "the date is not a real date (day {day} of month {month})"
        )));
    }
    if !(0..=23).contains(&hour) || !(0..=59).contains(&minute) || !(0..=59).contains(&second) {
        return Err(Error::invalid_argument(
            "the time must have hour 0 to 23, minute 0 to 59 and second 0 to 59",
        ));
    }
    Ok(())
}

// ---- operations ----------------------------------------------------------------------------

fn gateway_map(c: &Client) -> GatewayMap {
    GatewayMap::new(&c.config().state_dir)
}

fn ledger(c: &Client) -> Ledger {
    Ledger::new(&c.config().state_dir)
}

fn end_of(v: &Validity) -> i64 {
    match *v {
        Validity::Permanent => 0,
        Validity::Period { end_ms, .. } => end_ms,
    }
}

/// Add the code on one lock, resolving ambiguous answers by looking the code up.
fn add_one(c: &Client, map: &GatewayMap, req: &AddRequest, lock_id: i64) -> LockResult {
    let add = AddPasscode {
        lock_id,
        passcode: req.passcode.clone(),
        name: req.name.clone(),
        validity: req.validity,
        via: Via::Gateway,
    };
    let mut maybe_ours = false;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let added = {
            let _turn = map.turn(c, lock_id);
            busy_retry(c, "add_passcode", || api::keyboard_pwd_add(c, &add))
        };
        let e = match added {
            Ok(id) => return LockResult::added(lock_id, id, false),
            Err(e) => e,
        };
        map.note_error(c, lock_id, &e);
        let exists = e.errcode() == Some(-3007);
        if !(exists || e.maybe_done()) {
            return LockResult::failed(lock_id, e.context(format!("lock {lock_id}")), false);
        }
        maybe_ours |= e.maybe_done();
        c.log(format!(
            "ttlock: lock {lock_id}: add_passcode answer was {} ({}): looking the code up",
            if exists {
                "'exists'"
            } else {
                "lost or unclear"
            },
            e.code()
        ));
        let found = match find_code(c, lock_id, &req.passcode) {
            Ok(found) => found,
            Err(le) => {
                let msg = format!(
                    "lock {lock_id}: {}; looking the code up failed too ({}), so the lock may or may not have it",
                    e.message(),
                    le.message()
                );
                return LockResult::failed(lock_id, e.with_message(msg), maybe_ours);
            }
        };
        if let Some(it) = found.iter().find(|it| window_matches(it, &req.validity)) {
            c.log(format!(
                "ttlock: lock {lock_id}: the code is on the lock with this validity (id {}): done",
                it.passcode_id
            ));
            return LockResult::added(lock_id, it.passcode_id, true);
        }
        if let Some(other) = found.first() {
            let msg = format!(
                "lock {lock_id}: this passcode is already on the lock with another validity (id {}): choose another code",
                other.passcode_id
            );
            let e = Error::from_errcode(-3007, None).with_message(msg);
            return LockResult::failed(lock_id, e, false);
        }
        if attempt >= MAX_ADD_ATTEMPTS {
            return LockResult::failed(
                lock_id,
                e.context(format!(
                    "lock {lock_id}: not added after {attempt} attempts (the look-up finds no copy)"
                )),
                false,
            );
        }
    }
}

/// Delete through the gateway. A repeat after an ambiguous answer that says -2009 means the
/// first request did it: success. A plain -2009 is returned (the caller decides).
pub fn delete_via_gateway(
    c: &Client,
    map: &GatewayMap,
    lock_id: i64,
    passcode_id: i64,
) -> Result<()> {
    let _turn = map.turn(c, lock_id);
    let del = || {
        busy_retry(c, "delete", || {
            api::keyboard_pwd_delete(c, lock_id, passcode_id, Via::Gateway)
        })
    };
    match del() {
        Ok(()) => Ok(()),
        Err(e) if e.maybe_done() => {
            c.log(format!(
                "ttlock: lock {lock_id}: delete of id {passcode_id} unanswered ({}): asking again",
                e.code()
            ));
            match del() {
                Ok(()) => Ok(()),
                Err(e2) if e2.errcode() == Some(-2009) => Ok(()),
                Err(e2) => {
                    map.note_error(c, lock_id, &e2);
                    Err(e2)
                }
            }
        }
        Err(e) => {
            map.note_error(c, lock_id, &e);
            Err(e)
        }
    }
}

/// Remove the code from a lock during a rollback.
fn roll_back_one(c: &Client, map: &GatewayMap, req: &AddRequest, r: &mut LockResult) {
    let id = match (r.ok(), r.passcode_id) {
        (true, Some(id)) => Some(id),
        _ if r.maybe_added => {
            // Unknown whether the add landed: look again.
            match find_code(c, r.lock_id, &req.passcode) {
                Ok(found) => found
                    .iter()
                    .find(|it| window_matches(it, &req.validity))
                    .map(|it| it.passcode_id),
                Err(e) => {
                    r.rolled_back = Some(false);
                    r.rollback_error = Some(e);
                    return;
                }
            }
        }
        _ => None,
    };
    let Some(id) = id else { return };
    r.passcode_id = Some(id);
    match delete_via_gateway(c, map, r.lock_id, id) {
        Ok(()) => r.rolled_back = Some(true),
        Err(e) if e.errcode() == Some(-2009) => r.rolled_back = Some(true),
        Err(e) => {
            r.rolled_back = Some(false);
            r.rollback_error = Some(e.context(format!("lock {}: removing the code", r.lock_id)));
        }
    }
}

/// Run `f` on every lock: one after another per gateway, gateways at the same time.
fn per_gateway<T: Send>(
    c: &Client,
    map: &GatewayMap,
    lock_ids: &[i64],
    f: impl Fn(i64) -> T + Sync,
) -> Vec<(i64, T)> {
    let slots = map.slots(c, lock_ids);
    let groups = gateways::group(lock_ids, &slots);
    let done = bounded(groups, MAX_WORKERS, |(_, ids): (Slot, Vec<i64>)| {
        ids.into_iter().map(|id| (id, f(id))).collect::<Vec<_>>()
    });
    done.into_iter().flatten().collect()
}

/// `add_passcode` (see the module comment and lua-api.md).
pub fn add_passcode(c: &Client, req: &AddRequest) -> std::result::Result<AddOutcome, AddError> {
    validate_add(req, now_ms())?;
    let lock_ids = dedup(std::iter::once(req.lock_id).chain(req.also_lock_ids.iter().copied()));
    let map = gateway_map(c);
    let mut done = per_gateway(c, &map, &lock_ids, |id| add_one(c, &map, req, id));
    // Back to the caller's order.
    done.sort_by_key(|(id, _)| lock_ids.iter().position(|x| x == id));
    let mut results: Vec<LockResult> = done.into_iter().map(|(_, r)| r).collect();

    let failed_first = results.iter().position(|r| !r.ok());
    let mut rolled_back = false;
    if let Some(first) = failed_first {
        if req.atomic {
            let to_undo: Vec<i64> = results
                .iter()
                .filter(|r| r.ok() || r.maybe_added)
                .map(|r| r.lock_id)
                .collect();
            if !to_undo.is_empty() {
                let undone = per_gateway(c, &map, &to_undo, |id| {
                    let mut r = results
                        .iter()
                        .find(|r| r.lock_id == id)
                        .expect("undo only known locks")
                        .clone();
                    roll_back_one(c, &map, req, &mut r);
                    r
                });
                for (id, r) in undone {
                    if let Some(slot) = results.iter_mut().find(|x| x.lock_id == id) {
                        *slot = r;
                    }
                }
                rolled_back = results.iter().all(|r| r.rolled_back != Some(false))
                    && results.iter().any(|r| r.rolled_back == Some(true));
            }
        }
        record_added(c, req, &results);
        let error = summary_error(&results[first], &results, req.atomic);
        return Err(AddError {
            error,
            locks: results,
            rolled_back,
        });
    }
    record_added(c, req, &results);
    Ok(AddOutcome {
        passcode: req.passcode.clone(),
        name: req.name.clone(),
        locks: results,
    })
}

/// Ledger entries for every lock that has the code now.
fn record_added(c: &Client, req: &AddRequest, results: &[LockResult]) {
    let now = now_ms();
    let keep: Vec<(i64, i64)> = results
        .iter()
        .filter(|r| r.rolled_back != Some(true))
        .filter_map(|r| match (r.ok(), r.passcode_id) {
            (true, Some(id)) => Some((r.lock_id, id)),
            // A failed rollback knows the id of the copy it left.
            (false, Some(id)) if r.rolled_back == Some(false) => Some((r.lock_id, id)),
            _ => None,
        })
        .collect();
    if keep.is_empty() {
        return;
    }
    ledger(c).update_logged(c, |d| {
        for (lock_id, passcode_id) in keep {
            d.put(Entry {
                lock_id,
                passcode_id,
                end_ms: end_of(&req.validity),
                name: req.name.clone(),
                added_ms: now,
                origin: Origin::Module,
            });
        }
    });
}

/// The error of a failed add: the first failing lock's, with what happened on the others.
fn summary_error(first: &LockResult, all: &[LockResult], atomic: bool) -> Error {
    let base = first.error.clone().expect("a failing lock has an error");
    let mut notes = Vec::new();
    let others_failed = all.iter().filter(|r| !r.ok()).count() - 1;
    if others_failed > 0 {
        notes.push(format!("{others_failed} more lock(s) failed"));
    }
    let removed: Vec<String> = all
        .iter()
        .filter(|r| r.rolled_back == Some(true))
        .map(|r| r.lock_id.to_string())
        .collect();
    if !removed.is_empty() {
        notes.push(format!("removed again from lock {}", removed.join(", ")));
    }
    let left: Vec<String> = all
        .iter()
        .filter(|r| r.rolled_back == Some(false))
        .map(|r| r.lock_id.to_string())
        .collect();
    if !left.is_empty() {
        notes.push(format!(
            "removing it failed on lock {}: it may still open that door",
            left.join(", ")
        ));
    }
    if !atomic {
        let kept: Vec<String> = all
            .iter()
            .filter(|r| r.ok())
            .map(|r| r.lock_id.to_string())
            .collect();
        if !kept.is_empty() {
            notes.push(format!(
                "lock {} has the code (atomic = false)",
                kept.join(", ")
            ));
        }
    }
    if notes.is_empty() {
        return base;
    }
    let msg = format!("{}; {}", base.message(), notes.join("; "));
    base.with_message(msg)
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeRequest {
    pub lock_id: i64,
    pub passcode_id: i64,
    pub passcode: Option<String>,
    pub name: Option<String>,
    /// (start, end) ms; both or neither.
    pub window: Option<(i64, i64)>,
}

/// `change_passcode`: a new code or window goes through the gateway, a rename stays in the
/// cloud. Idempotent: the transport repeats it after a lost answer.
pub fn change_passcode(c: &Client, req: &ChangeRequest) -> Result<()> {
    if let Some(code) = &req.passcode {
        check_code(code)?;
    }
    if let Some((s, e)) = req.window {
        check_window(s, e)?;
    }
    if req.passcode.is_none() && req.name.is_none() && req.window.is_none() {
        return Err(Error::misuse(
            Code::InvalidArgument,
            "change_passcode: nothing to change (give passcode, name or valid_from_ms + valid_to_ms)",
        ));
    }
    let ch = ChangePasscode {
        lock_id: req.lock_id,
        passcode_id: req.passcode_id,
        new_passcode: req.passcode.clone(),
        name: req.name.clone(),
        start_ms: req.window.map(|w| w.0),
        end_ms: req.window.map(|w| w.1),
        via: None,
    };
    let map = gateway_map(c);
    let changed = {
        let _turn = map.turn(c, req.lock_id);
        busy_retry(c, "change_passcode", || api::keyboard_pwd_change(c, &ch))
    };
    changed.map_err(|e| {
        map.note_error(c, req.lock_id, &e);
        e.context(format!("lock {}", req.lock_id))
    })?;
    if req.window.is_some() || req.name.is_some() {
        ledger(c).update_logged(c, |d| {
            if let Some(e) = d
                .codes
                .iter_mut()
                .find(|e| e.lock_id == req.lock_id && e.passcode_id == req.passcode_id)
            {
                if let Some((_, end)) = req.window {
                    e.end_ms = end;
                }
                if let Some(n) = &req.name {
                    e.name = Some(n.clone());
                }
            }
        });
    }
    Ok(())
}

/// `delete_passcode` through the gateway; -2009 after a lost answer is success.
pub fn delete_passcode(c: &Client, lock_id: i64, passcode_id: i64) -> Result<()> {
    let r = delete_via_gateway(c, &gateway_map(c), lock_id, passcode_id);
    if r.is_ok() || r.as_ref().err().and_then(Error::errcode) == Some(-2009) {
        // Gone either way.
        ledger(c).update_logged(c, |d| d.remove(lock_id, passcode_id));
    }
    r.map_err(|e| e.context(format!("lock {lock_id}")))
}

/// `list_passcodes`: every page.
pub fn list_passcodes(c: &Client, lock_id: i64) -> Result<Vec<PasscodeItem>> {
    super::list_all(c, lock_id, None)
}

/// `generate_passcode`: random, not trivial, on none of `lock_ids` (each checked with a
/// searchStr listing).
pub fn generate_passcode(c: &Client, digits: usize, lock_ids: &[i64]) -> Result<String> {
    let lock_ids = dedup(lock_ids.iter().copied());
    for _ in 0..MAX_CANDIDATES {
        let code = random_code(digits)?;
        if lock_ids.is_empty() {
            return Ok(code);
        }
        let present = bounded(lock_ids.clone(), MAX_WORKERS, |id| {
            find_code(c, id, &code).map(|found| !found.is_empty())
        });
        let mut taken = false;
        for r in present {
            taken |= r?;
        }
        if !taken {
            return Ok(code);
        }
    }
    Err(Error::new(
        Code::PasscodeExists,
        format!("no free {digits}-digit code found in {MAX_CANDIDATES} tries: the locks are nearly full"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(code: &str, v: Validity) -> AddRequest {
        AddRequest {
            lock_id: 1,
            also_lock_ids: vec![],
            passcode: code.into(),
            name: None,
            validity: v,
            atomic: true,
        }
    }

    const NOW: i64 = 1_790_000_000_000;

    fn period(s: i64, e: i64) -> Validity {
        Validity::Period {
            start_ms: s,
            end_ms: e,
        }
    }

    #[test]
    fn add_validation() {
        let ok = period(NOW - 1000, NOW + 3_600_000);
        assert!(validate_add(&req("0482", ok), NOW).is_ok());
        assert!(validate_add(&req("123456789", ok), NOW).is_ok());
        // A start in the past is allowed (a guest already in the house).
        assert!(validate_add(&req("48213", period(NOW - 86_400_000, NOW + 1)), NOW).is_ok());
        assert!(validate_add(&req("48213", Validity::Permanent), NOW).is_ok());
        for bad in ["123", "1234567890", "12a4", "", " 1234", "１２３４", "12.4"] {
            let e = validate_add(&req(bad, ok), NOW).unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{bad}");
            assert!(!e.is_misuse());
            if bad.len() >= 4 {
                assert!(!e.message().contains(bad.trim()), "code echoed: {e}");
            }
        }
        let e = validate_add(&req("48213", period(NOW + 10, NOW + 10)), NOW).unwrap_err();
        assert!(e.message().contains("end after it starts"), "{e}");
        let e = validate_add(&req("48213", period(NOW + 10, NOW)), NOW).unwrap_err();
        assert!(e.message().contains("end after it starts"), "{e}");
        let e = validate_add(&req("48213", period(NOW - 20, NOW)), NOW).unwrap_err();
        assert!(e.message().contains("already ended"), "{e}");
        // Seconds instead of milliseconds get a hint.
        let e = validate_add(&req("48213", period(1_790_000_000, 1_790_003_600)), NOW).unwrap_err();
        assert!(e.message().contains("milliseconds"), "{e}");
        let e = validate_add(&req("48213", period(-5, NOW + 5)), NOW).unwrap_err();
        assert!(e.message().contains("negative"), "{e}");
        let mut r = req("48213", ok);
        r.name = Some("a\nb".into());
        assert!(validate_add(&r, NOW).is_err());
    }

    fn item(code: &str, t: i64, s: Option<i64>, e: Option<i64>) -> PasscodeItem {
        PasscodeItem {
            passcode_id: 1,
            lock_id: Some(1),
            passcode: code.into(),
            name: None,
            pwd_type: t,
            start_ms: s,
            end_ms: e,
            is_custom: true,
            status: None,
            send_ms: None,
        }
    }

    #[test]
    fn window_matching() {
        let v = period(NOW, NOW + 3_600_000);
        assert!(window_matches(
            &item("1", 3, Some(NOW), Some(NOW + 3_600_000)),
            &v
        ));
        // TTLock keeps minutes: a few seconds off still matches.
        assert!(window_matches(
            &item("1", 3, Some(NOW - 30_000), Some(NOW + 3_600_000 + 59_000)),
            &v
        ));
        assert!(!window_matches(
            &item("1", 3, Some(NOW), Some(NOW + 7_200_000)),
            &v
        ));
        assert!(!window_matches(&item("1", 3, None, None), &v));
        assert!(!window_matches(&item("1", 2, Some(0), Some(0)), &v));
        assert!(window_matches(
            &item("1", 2, Some(0), Some(0)),
            &Validity::Permanent
        ));
        assert!(window_matches(
            &item("1", 3, None, None),
            &Validity::Permanent
        ));
        assert!(!window_matches(
            &item("1", 3, Some(NOW), Some(NOW + 1)),
            &Validity::Permanent
        ));
    }

    #[test]
    fn trivial_codes() {
        for t in [
            "0000",
            "11111",
            "999999999",
            "1234",
            "01234",
            "56789",
            "78901",
            "9876",
            "43210",
            "10987",
            "123456789",
        ] {
            assert!(is_trivial(t), "{t}");
        }
        for ok in ["48213", "1235", "0482", "11112", "13579", "2468", "12321"] {
            assert!(!is_trivial(ok), "{ok}");
        }
    }

    #[test]
    fn random_codes_are_well_formed_and_spread() {
        let mut first_digits = [0u32; 10];
        for _ in 0..2000 {
            let c = random_code(5).unwrap();
            assert_eq!(c.len(), 5);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
            assert!(!is_trivial(&c));
            first_digits[(c.as_bytes()[0] - b'0') as usize] += 1;
        }
        // Leading zeros occur (kept as text) and no digit is missing: 2000 draws, ~200 each.
        assert!(first_digits.iter().all(|&n| n > 100), "{first_digits:?}");
        for d in 4..=9 {
            assert_eq!(random_code(d).unwrap().len(), d);
        }
        assert!(random_code(3).is_err());
        assert!(random_code(10).is_err());
    }

    #[test]
    fn date_checks() {
        assert!(check_date_time(2026, 3, 29, 3, 30, 0).is_ok());
        assert!(check_date_time(2028, 2, 29, 23, 59, 59).is_ok());
        assert!(check_date_time(2027, 2, 29, 12, 0, 0).is_err());
        assert!(check_date_time(2100, 2, 29, 12, 0, 0).is_err());
        assert!(check_date_time(2000, 2, 29, 12, 0, 0).is_ok());
        assert!(check_date_time(2026, 4, 31, 12, 0, 0).is_err());
        assert!(check_date_time(2026, 13, 1, 12, 0, 0).is_err());
        assert!(check_date_time(2026, 0, 1, 12, 0, 0).is_err());
        assert!(check_date_time(2026, 1, 0, 12, 0, 0).is_err());
        assert!(check_date_time(2026, 1, 1, 24, 0, 0).is_err());
        assert!(check_date_time(2026, 1, 1, 0, 60, 0).is_err());
        assert!(check_date_time(2026, 1, 1, 0, 0, 60).is_err());
        assert!(check_date_time(1969, 12, 31, 0, 0, 0).is_err());
    }

    #[test]
    fn windows() {
        assert!(check_window(0, 1).is_ok());
        assert!(check_window(5, 5).is_err());
        assert!(check_window(-1, 5).is_err());
        assert!(check_code("0000").is_ok());
    }
}
