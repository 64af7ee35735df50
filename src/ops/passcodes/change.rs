//! `change_passcode`, `delete_passcode` and `list_passcodes`.
use super::checks::{check_code, check_window};
use super::ChangeRequest;
use crate::api::{self, ChangePasscode, PasscodeItem};
use crate::client::Client;
use crate::error::{Code, Error, Result};
use crate::ops::gateways::GatewayMap;
use crate::ops::ledger::Ledger;
use crate::ops::listing::list_all;
use crate::ops::schedule::{busy_retry, delete_via_gateway};

fn gateway_map(c: &Client) -> GatewayMap {
    GatewayMap::new(&c.config().state_dir)
}

fn ledger(c: &Client) -> Ledger {
    Ledger::new(&c.config().state_dir)
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
    let r = delete_via_gateway(c, &gateway_map(c), lock_id, passcode_id).map(|_| ());
    if r.as_ref().map_or_else(|e| e.rules().item_gone, |_| true) {
        // Gone either way.
        ledger(c).update_logged(c, |d| d.remove(lock_id, passcode_id));
    }
    r.map_err(|e| e.context(format!("lock {lock_id}")))
}

/// `list_passcodes`: every page.
pub fn list_passcodes(c: &Client, lock_id: i64) -> Result<Vec<PasscodeItem>> {
    list_all(c, lock_id, None)
}
