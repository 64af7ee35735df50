//! Lock control (lua-api.md "Locks"): unlock, lock, open state, battery, all through the
//! gateway. Errcodes map as the contract says (-4043 `not_supported` with the advice that
//! remote unlock is off in the TTLock app, -2012 `lock_offline`, -3002 `gateway_offline`).
//!
//! `unlock` is never repeated after an ambiguous failure (the transport does not repeat a
//! non-idempotent request that may have been carried out): the door may have opened, and the
//! error says so instead of opening it a second time.
use crate::api;
use crate::client::Client;
use crate::error::Result;

use super::gateways::GatewayMap;

/// The door as `lock_state` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockState {
    /// queryOpenState 0.
    Locked,
    /// queryOpenState 1.
    Unlocked,
    /// queryOpenState 2, or a value TTLock does not document.
    Unknown,
}

impl LockState {
    /// queryOpenState: 0 locked, 1 unlocked, 2 (or anything else) unknown.
    pub fn from_state(state: i64) -> LockState {
        match state {
            0 => LockState::Locked,
            1 => LockState::Unlocked,
            _ => LockState::Unknown,
        }
    }

    /// The name `lock_state` returns to Lua: 'locked', 'unlocked' or 'unknown'.
    pub fn as_str(self) -> &'static str {
        match self {
            LockState::Locked => "locked",
            LockState::Unlocked => "unlocked",
            LockState::Unknown => "unknown",
        }
    }
}

/// A gateway operation on `lock_id` in its turn at the gateway (see `GatewayMap::turn`).
fn at_gateway<T>(c: &Client, lock_id: i64, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let map = GatewayMap::new(&c.config().state_dir);
    let r = {
        let _turn = map.turn(c, lock_id);
        f()
    };
    r.map_err(|e| {
        map.note_error(c, lock_id, &e);
        e.context(format!("lock {lock_id}"))
    })
}

/// Remote unlock; an ambiguous failure is reported, not repeated.
pub fn unlock(c: &Client, lock_id: i64) -> Result<()> {
    at_gateway(c, lock_id, || {
        api::unlock(c, lock_id).map_err(|e| {
            if e.maybe_done() {
                let msg = format!(
                    "{}; unlock was not repeated: the door may have opened",
                    e.message()
                );
                e.with_message(msg).with_advice(
                    "no clear answer from TTLock: the door may or may not have opened; check it before unlocking again",
                )
            } else {
                e
            }
        })
    })
}

/// Remote lock; repeating it is harmless, so the transport may retry it.
pub fn lock(c: &Client, lock_id: i64) -> Result<()> {
    at_gateway(c, lock_id, || api::lock(c, lock_id))
}

/// Whether the door is locked, asked of the lock through its gateway.
pub fn lock_state(c: &Client, lock_id: i64) -> Result<LockState> {
    at_gateway(c, lock_id, || {
        api::query_open_state(c, lock_id).map(|s| LockState::from_state(s.state))
    })
}

/// Battery in percent (asked from the lock, not TTLock's cached value).
pub fn battery(c: &Client, lock_id: i64) -> Result<i64> {
    at_gateway(c, lock_id, || api::query_electric_quantity(c, lock_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        assert_eq!(LockState::from_state(0).as_str(), "locked");
        assert_eq!(LockState::from_state(1).as_str(), "unlocked");
        assert_eq!(LockState::from_state(2).as_str(), "unknown");
        assert_eq!(LockState::from_state(-7), LockState::Unknown);
    }
}
