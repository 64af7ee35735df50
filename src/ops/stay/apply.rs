//! Carrying the steps out: one after another per lock in its gateway's turn, locks on different
//! gateways at the same time. Each step reports what the lock holds afterwards, also when it
//! failed (a lost answer leaves the key unsure), so the caller always knows the truth it can.
use super::plan::{Held, Key, Step};
use super::record::Window;
use crate::api::Validity;
use crate::client::Client;
use crate::error::{Code, Error};
use crate::ops::gateways::GatewayMap;
use crate::ops::listing::find_code;
use crate::ops::passcodes::{
    add_one, change_passcode, delete_passcode, record_added, AddRequest, ChangeRequest,
};
use crate::ops::schedule::per_gateway;

/// What one step did.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// The lock and code.
    pub key: Key,
    /// What the lock holds now (as far as known).
    pub after: Option<Held>,
    /// Why the step failed.
    pub error: Option<Error>,
}

/// Carry out `steps` (at most one per key); results in no particular order.
pub fn run(c: &Client, map: &GatewayMap, steps: &[Step]) -> Vec<StepResult> {
    let locks = crate::ops::listing::dedup(steps.iter().map(|s| s.key.0));
    per_gateway(
        c,
        map,
        &locks,
        |id| steps.iter().filter(|s| s.key.0 == id).count(),
        |id| {
            steps
                .iter()
                .filter(|s| s.key.0 == id)
                .map(|s| run_step(c, map, s))
                .collect::<Vec<_>>()
        },
    )
    .into_iter()
    .flat_map(|(_, r)| r)
    .collect()
}

fn run_step(c: &Client, map: &GatewayMap, s: &Step) -> StepResult {
    let (after, error) = match (&s.from, s.to) {
        (None, None) => (None, None),
        (None, Some(w)) => add(c, map, s, w),
        (Some(h), Some(w)) => change(c, s, h, w),
        (Some(h), None) => delete(c, s, h),
    };
    StepResult {
        key: s.key.clone(),
        after,
        error,
    }
}

fn add(c: &Client, map: &GatewayMap, s: &Step, w: Window) -> (Option<Held>, Option<Error>) {
    let req = AddRequest {
        lock_id: s.key.0,
        also_lock_ids: Vec::new(),
        passcode: s.key.1.clone(),
        name: s.name.clone(),
        validity: Validity::Period {
            start_ms: w.from_ms,
            end_ms: w.to_ms,
        },
        atomic: false,
    };
    let r = add_one(c, map, &req, s.key.0);
    record_added(c, &req, std::slice::from_ref(&r));
    let held = |id: Option<i64>, sure: bool| Held {
        passcode_id: id,
        window: w,
        name: s.name.clone(),
        sure,
    };
    match (r.error, r.passcode_id) {
        (None, id) => (Some(held(id, true)), None),
        (Some(e), _) if r.maybe_added => (Some(held(None, false)), Some(e)),
        (Some(e), _) => (None, Some(e)),
    }
}

fn change(c: &Client, s: &Step, h: &Held, w: Window) -> (Option<Held>, Option<Error>) {
    let Some(id) = h.passcode_id else {
        let e = Error::new(
            Code::NotFound,
            format!("lock {}: the code's id is not known", s.key.0),
        );
        return (Some(h.clone()), Some(e));
    };
    // The name follows the dates (`<room>_<DDMM><DDMM>`): a look-up by name after a lost
    // memory must find the code again.
    let rename = s.name.clone().filter(|n| h.name.as_ref() != Some(n));
    let req = ChangeRequest {
        lock_id: s.key.0,
        passcode_id: id,
        name: rename.clone(),
        window: Some((w.from_ms, w.to_ms)),
        ..ChangeRequest::default()
    };
    match change_passcode(c, &req) {
        Ok(()) => (
            Some(Held {
                window: w,
                sure: true,
                name: rename.or(h.name.clone()),
                ..h.clone()
            }),
            None,
        ),
        Err(e) if e.rules().item_gone => (None, Some(e)),
        Err(e) if e.maybe_done() => (
            Some(Held {
                sure: false,
                ..h.clone()
            }),
            Some(e),
        ),
        Err(e) => (Some(h.clone()), Some(e)),
    }
}

fn delete(c: &Client, s: &Step, h: &Held) -> (Option<Held>, Option<Error>) {
    let id = match h.passcode_id {
        Some(id) => id,
        // An add whose answer was lost: look for the copy first.
        None => match find_code(c, s.key.0, &s.key.1) {
            Ok(found) => match found.iter().find(|it| {
                it.start_ms == Some(h.window.from_ms) && it.end_ms == Some(h.window.to_ms)
            }) {
                Some(it) => it.passcode_id,
                None => return (None, None),
            },
            Err(e) => return (Some(h.clone()), Some(e)),
        },
    };
    match delete_passcode(c, s.key.0, id) {
        Ok(()) => (None, None),
        Err(e) if e.rules().item_gone => (None, None),
        Err(e) => (
            Some(Held {
                passcode_id: Some(id),
                ..h.clone()
            }),
            Some(e),
        ),
    }
}
