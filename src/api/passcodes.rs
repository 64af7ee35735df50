//! Passcode endpoints (ttlock-api.md §3): add, get (random), change, delete, list.
use serde_json::Value;

use super::{bad, opt_bool, opt_i64, opt_str, p, page, req_i64, Page};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::transport::Endpoint;

/// Creates a code: a lost answer must be checked by listing, not repeated.
pub const KEYBOARD_PWD_ADD: Endpoint = Endpoint::operation("/v3/keyboardPwd/add", false);
/// Issues a new random code each time.
pub const KEYBOARD_PWD_GET: Endpoint = Endpoint::operation("/v3/keyboardPwd/get", false);
/// Sets absolute values: repeating gives the same result.
pub const KEYBOARD_PWD_CHANGE: Endpoint = Endpoint::operation("/v3/keyboardPwd/change", true);
/// A repeat after a lost answer says -2009 (not found), which the caller must interpret.
pub const KEYBOARD_PWD_DELETE: Endpoint = Endpoint::operation("/v3/keyboardPwd/delete", false);
/// Every page of a lock's codes.
pub const LIST_KEYBOARD_PWD: Endpoint = Endpoint::query("/v3/lock/listKeyboardPwd");

/// `addType` / `changeType` / `deleteType`: how the change reaches the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// 1: already done over Bluetooth; the cloud only records it (does not open the door!).
    CloudOnly = 1,
    /// 2: through the gateway or WiFi (what this module uses).
    Gateway = 2,
}

/// Validity of a custom passcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// keyboardPwdType 2.
    Permanent,
    /// keyboardPwdType 3, from/to in ms.
    Period {
        /// startDate: valid from, ms since the epoch.
        start_ms: i64,
        /// endDate: valid until, ms since the epoch.
        end_ms: i64,
    },
}

/// What `keyboardPwd/add` sends: a custom code of our choosing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPasscode {
    /// lockId.
    pub lock_id: i64,
    /// 4-9 digits, as a string (leading zeros kept).
    pub passcode: String,
    /// keyboardPwdName: the name shown in the TTLock app.
    pub name: Option<String>,
    /// Permanent or for a period.
    pub validity: Validity,
    /// addType: how the code reaches the lock.
    pub via: Via,
}

/// What `keyboardPwd/change` sends; `None` leaves that part as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangePasscode {
    /// lockId.
    pub lock_id: i64,
    /// keyboardPwdId of the code to change.
    pub passcode_id: i64,
    /// newKeyboardPwd: the new digits.
    pub new_passcode: Option<String>,
    /// keyboardPwdName: the new name.
    pub name: Option<String>,
    /// Both or neither (TTLock needs both to change the period).
    pub start_ms: Option<i64>,
    /// endDate in ms since the epoch; see `start_ms`.
    pub end_ms: Option<i64>,
    /// `Via::Gateway` unless only the name changes.
    pub via: Option<Via>,
}

/// What `keyboardPwd/get` sends: TTLock picks the digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandomPasscode {
    /// lockId.
    pub lock_id: i64,
    /// keyboardPwdType 1..14 (§3.2).
    pub pwd_type: i64,
    /// keyboardPwdName.
    pub name: Option<String>,
    /// startDate in ms since the epoch (TTLock truncates it to the whole hour).
    pub start_ms: i64,
    /// endDate in ms since the epoch; needed by the period and cyclic kinds.
    pub end_ms: Option<i64>,
}

/// An item of `lock/listKeyboardPwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasscodeItem {
    /// keyboardPwdId.
    pub passcode_id: i64,
    /// lockId, when TTLock sends it.
    pub lock_id: Option<i64>,
    /// keyboardPwd: the digits (empty when TTLock leaves them out).
    pub passcode: String,
    /// keyboardPwdName.
    pub name: Option<String>,
    /// keyboardPwdType: 2 permanent, 3 period, others random kinds.
    pub pwd_type: i64,
    /// 0 or absent for permanent codes.
    pub start_ms: Option<i64>,
    /// endDate in ms since the epoch; for permanent codes see `start_ms`.
    pub end_ms: Option<i64>,
    /// isCustom: a code the user chose (not a random one); unknown when TTLock leaves it out.
    pub is_custom: Option<bool>,
    /// 1 normal, 2 expired, 4 adding, 5 add failed, … (optional in TTLock's answers).
    pub status: Option<i64>,
    /// sendDate: when the code was issued, ms since the epoch.
    pub send_ms: Option<i64>,
}

/// Whether a code never expires: type 2, no end, or its start equal to its end (the way real
/// answers show permanent codes: both dates the moment it was made, long past).
pub fn is_permanent(pwd_type: i64, start_ms: Option<i64>, end_ms: Option<i64>) -> bool {
    pwd_type == 2 || end_ms.is_none_or(|e| e <= 0) || (start_ms.is_some() && start_ms == end_ms)
}

impl PasscodeItem {
    /// Whether this listed code never expires ([`is_permanent`]).
    pub fn is_permanent(&self) -> bool {
        is_permanent(self.pwd_type, self.start_ms, self.end_ms)
    }
}

/// `keyboardPwd/add` → keyboardPwdId.
pub fn keyboard_pwd_add(c: &Client, a: &AddPasscode) -> Result<i64> {
    let e = KEYBOARD_PWD_ADD;
    let mut params = vec![
        p("lockId", a.lock_id),
        p("keyboardPwd", &a.passcode),
        p("addType", a.via as i64),
    ];
    if let Some(n) = &a.name {
        params.push(p("keyboardPwdName", n));
    }
    match a.validity {
        Validity::Permanent => params.push(p("keyboardPwdType", 2)),
        Validity::Period { start_ms, end_ms } => {
            params.push(p("keyboardPwdType", 3));
            params.push(p("startDate", start_ms));
            params.push(p("endDate", end_ms));
        }
    }
    decode_add(&c.call(&e, &params)?)
}

/// The answer of `keyboardPwd/add`: the new keyboardPwdId.
pub(crate) fn decode_add(v: &Value) -> Result<i64> {
    req_i64(&KEYBOARD_PWD_ADD, v, "keyboardPwdId")
}

/// `keyboardPwd/get` (random/offline code) → (passcode, keyboardPwdId).
pub fn keyboard_pwd_get(c: &Client, r: &RandomPasscode) -> Result<(String, i64)> {
    let e = KEYBOARD_PWD_GET;
    let mut params = vec![
        p("lockId", r.lock_id),
        p("keyboardPwdType", r.pwd_type),
        p("startDate", r.start_ms),
    ];
    if let Some(end) = r.end_ms {
        params.push(p("endDate", end));
    }
    if let Some(n) = &r.name {
        params.push(p("keyboardPwdName", n));
    }
    decode_get(&c.call(&e, &params)?)
}

/// The answer of `keyboardPwd/get`: (passcode, keyboardPwdId).
pub(crate) fn decode_get(v: &Value) -> Result<(String, i64)> {
    let e = KEYBOARD_PWD_GET;
    let code = opt_str(v, "keyboardPwd").ok_or_else(|| bad(&e, "no keyboardPwd".into()))?;
    Ok((code, req_i64(&e, v, "keyboardPwdId")?))
}

/// `keyboardPwd/change`.
pub fn keyboard_pwd_change(c: &Client, ch: &ChangePasscode) -> Result<()> {
    if ch.start_ms.is_some() != ch.end_ms.is_some() {
        return Err(Error::invalid_argument(
            "changing the validity needs both start and end",
        ));
    }
    let mut params = vec![p("lockId", ch.lock_id), p("keyboardPwdId", ch.passcode_id)];
    if let Some(n) = &ch.name {
        params.push(p("keyboardPwdName", n));
    }
    if let Some(code) = &ch.new_passcode {
        params.push(p("newKeyboardPwd", code));
    }
    if let (Some(s), Some(e)) = (ch.start_ms, ch.end_ms) {
        params.push(p("startDate", s));
        params.push(p("endDate", e));
    }
    // A rename alone is cloud-side and needs no changeType; anything else goes to the lock.
    let only_name = ch.new_passcode.is_none() && ch.start_ms.is_none();
    if let Some(via) = ch.via.or((!only_name).then_some(Via::Gateway)) {
        params.push(p("changeType", via as i64));
    }
    c.call(&KEYBOARD_PWD_CHANGE, &params).map(|_| ())
}

/// `keyboardPwd/delete`.
pub fn keyboard_pwd_delete(c: &Client, lock_id: i64, passcode_id: i64, via: Via) -> Result<()> {
    let params = [
        p("lockId", lock_id),
        p("keyboardPwdId", passcode_id),
        p("deleteType", via as i64),
    ];
    c.call(&KEYBOARD_PWD_DELETE, &params).map(|_| ())
}

/// `lock/listKeyboardPwd`, one page (`page_size` ≤ 200; `order_by` 0 name, 1 newest first).
pub fn list_keyboard_pwd(
    c: &Client,
    lock_id: i64,
    page_no: i64,
    page_size: i64,
    search: Option<&str>,
    order_by: i64,
) -> Result<Page<PasscodeItem>> {
    let e = LIST_KEYBOARD_PWD;
    let mut params = vec![
        p("lockId", lock_id),
        p("pageNo", page_no),
        p("pageSize", page_size),
        p("orderBy", order_by),
    ];
    if let Some(s) = search {
        params.push(p("searchStr", s));
    }
    decode_passcode_page(&c.call(&e, &params)?)
}

/// A page of `lock/listKeyboardPwd`.
pub(crate) fn decode_passcode_page(v: &Value) -> Result<Page<PasscodeItem>> {
    let e = LIST_KEYBOARD_PWD;
    page(&e, v, |it| {
        Ok(PasscodeItem {
            passcode_id: req_i64(&e, it, "keyboardPwdId")?,
            lock_id: opt_i64(it, "lockId"),
            passcode: opt_str(it, "keyboardPwd").unwrap_or_default(),
            name: opt_str(it, "keyboardPwdName"),
            pwd_type: opt_i64(it, "keyboardPwdType").unwrap_or(0),
            start_ms: opt_i64(it, "startDate"),
            end_ms: opt_i64(it, "endDate"),
            is_custom: opt_bool(it, "isCustom"),
            status: opt_i64(it, "status"),
            send_ms: opt_i64(it, "sendDate"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;
    use serde_json::json;

    #[test]
    fn pages_parse_leniently() {
        let e = LIST_KEYBOARD_PWD;
        let v = json!({"list": [{"keyboardPwdId": "11", "keyboardPwd": "04821", "keyboardPwdType": "3",
                                "startDate": 1, "endDate": "2", "isCustom": "1", "keyboardPwdName": "101_x"}],
                       "pageNo": 1, "pageSize": "200", "pages": "3", "total": 401});
        let pg = page(&e, &v, |it| {
            Ok((
                req_i64(&e, it, "keyboardPwdId")?,
                opt_str(it, "keyboardPwd"),
                opt_i64(it, "keyboardPwdType"),
                opt_bool(it, "isCustom"),
            ))
        })
        .unwrap();
        assert_eq!(
            pg.list,
            vec![(11, Some("04821".into()), Some(3), Some(true))]
        );
        assert_eq!(
            (pg.page_no, pg.page_size, pg.pages, pg.total),
            (1, 200, 3, 401)
        );
        let err = page(&e, &json!({"list": 5}), |_| Ok(())).unwrap_err();
        assert_eq!(err.code(), Code::BadResponse);
        let empty = page(&e, &json!({}), |_| Ok(())).unwrap();
        assert!(empty.list.is_empty());
        // A missing id is a bad answer; on a non-idempotent endpoint it may have been done.
        let err = req_i64(&KEYBOARD_PWD_ADD, &json!({}), "keyboardPwdId").unwrap_err();
        assert!(err.maybe_done());
    }
}
