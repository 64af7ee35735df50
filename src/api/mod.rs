//! Typed TTLock endpoints (ttlock-api.md §3-§6): one function per endpoint, typed parameters and
//! results, lenient number parsing. The operations of issue 4 (passcodes, purge, locks) are
//! written over these; each function is one authenticated call with the transport's retry
//! policy (see `http`). Each endpoint constant says whether it is idempotent.
//!
//! Field names follow TTLock's; ids and times are `i64` (milliseconds since the epoch).
use serde_json::Value;

use crate::client::Client;
use crate::error::{Code, Error, Result};
use crate::http::{num_i64, Endpoint};
use crate::secret::Secret;

pub mod ep {
    use crate::http::Endpoint;
    /// Creates a code: a lost answer must be checked by listing, not repeated.
    pub const KEYBOARD_PWD_ADD: Endpoint = Endpoint::operation("/v3/keyboardPwd/add", false);
    /// Issues a new random code each time.
    pub const KEYBOARD_PWD_GET: Endpoint = Endpoint::operation("/v3/keyboardPwd/get", false);
    /// Sets absolute values: repeating gives the same result.
    pub const KEYBOARD_PWD_CHANGE: Endpoint = Endpoint::operation("/v3/keyboardPwd/change", true);
    /// A repeat after a lost answer says -2009 (not found), which the caller must interpret.
    pub const KEYBOARD_PWD_DELETE: Endpoint = Endpoint::operation("/v3/keyboardPwd/delete", false);
    pub const LIST_KEYBOARD_PWD: Endpoint = Endpoint::query("/v3/lock/listKeyboardPwd");
    /// Opens a door: never repeated blind.
    pub const UNLOCK: Endpoint = Endpoint::operation("/v3/lock/unlock", false);
    /// Locking a locked door changes nothing.
    pub const LOCK: Endpoint = Endpoint::operation("/v3/lock/lock", true);
    pub const QUERY_OPEN_STATE: Endpoint = Endpoint::query("/v3/lock/queryOpenState");
    pub const QUERY_ELECTRIC_QUANTITY: Endpoint = Endpoint::query("/v3/lock/queryElectricQuantity");
    pub const LOCK_DETAIL: Endpoint = Endpoint::query("/v3/lock/detail");
    pub const LOCK_LIST: Endpoint = Endpoint::query("/v3/lock/list");
    pub const GATEWAY_LIST_BY_LOCK: Endpoint = Endpoint::query("/v3/gateway/listByLock");
    pub const GATEWAY_LIST: Endpoint = Endpoint::query("/v3/gateway/list");
    pub const GATEWAY_LIST_LOCK: Endpoint = Endpoint::query("/v3/gateway/listLock");
    pub const LOCK_RECORD_LIST: Endpoint = Endpoint::query("/v3/lockRecord/list");
}

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
    Period { start_ms: i64, end_ms: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPasscode {
    pub lock_id: i64,
    /// 4-9 digits, as a string (leading zeros kept).
    pub passcode: String,
    pub name: Option<String>,
    pub validity: Validity,
    pub via: Via,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangePasscode {
    pub lock_id: i64,
    pub passcode_id: i64,
    pub new_passcode: Option<String>,
    pub name: Option<String>,
    /// Both or neither (TTLock needs both to change the period).
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// `Via::Gateway` unless only the name changes.
    pub via: Option<Via>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandomPasscode {
    pub lock_id: i64,
    /// keyboardPwdType 1..14 (§3.2).
    pub pwd_type: i64,
    pub name: Option<String>,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
}

/// A page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub list: Vec<T>,
    pub page_no: i64,
    pub page_size: i64,
    /// Total pages (loop while `page_no < pages`).
    pub pages: i64,
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasscodeItem {
    pub passcode_id: i64,
    pub lock_id: Option<i64>,
    pub passcode: String,
    pub name: Option<String>,
    /// keyboardPwdType: 2 permanent, 3 period, others random kinds.
    pub pwd_type: i64,
    /// 0 or absent for permanent codes.
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub is_custom: bool,
    /// 1 normal, 2 expired, 4 adding, 5 add failed, … (optional in TTLock's answers).
    pub status: Option<i64>,
    pub send_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenState {
    /// 0 locked, 1 unlocked, 2 unknown.
    pub state: i64,
    pub sensor_state: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockItem {
    pub lock_id: i64,
    pub alias: Option<String>,
    pub name: Option<String>,
    pub mac: Option<String>,
    pub battery: Option<i64>,
    pub has_gateway: Option<bool>,
}

/// Lock detail without its secrets (admin passcode, keys): only what integrations need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockDetail {
    pub lock_id: i64,
    pub alias: Option<String>,
    pub name: Option<String>,
    pub mac: Option<String>,
    pub battery: Option<i64>,
    pub has_gateway: Option<bool>,
    pub timezone_raw_offset_ms: Option<i64>,
    pub feature_value: Option<String>,
    pub passage_mode: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayItem {
    pub gateway_id: i64,
    pub mac: Option<String>,
    pub name: Option<String>,
    pub rssi: Option<i64>,
    pub rssi_update_ms: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordQuery {
    pub lock_id: i64,
    pub page_no: i64,
    pub page_size: i64,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub record_type: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordItem {
    pub record_id: i64,
    pub lock_id: Option<i64>,
    pub record_type: Option<i64>,
    pub record_type_from_lock: Option<i64>,
    pub success: Option<bool>,
    /// App account, passcode name or card name.
    pub username: Option<String>,
    /// The PIN / card number used: a secret, never printed.
    pub keyboard_pwd: Option<Secret>,
    pub lock_date_ms: Option<i64>,
    pub server_date_ms: Option<i64>,
}

// ---- parsing helpers ---------------------------------------------------------------------

fn bad(ep: &Endpoint, why: String) -> Error {
    Error::new(
        Code::BadResponse,
        format!("unexpected answer from {}: {why}", ep.path),
    )
    .with_maybe_done(!ep.idempotent)
}

fn opt_i64(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(num_i64)
}

fn req_i64(ep: &Endpoint, v: &Value, key: &str) -> Result<i64> {
    opt_i64(v, key).ok_or_else(|| bad(ep, format!("no number {key}")))
}

fn opt_str(v: &Value, key: &str) -> Option<String> {
    match v.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn opt_bool(v: &Value, key: &str) -> Option<bool> {
    match v.get(key) {
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => num_i64(other).map(|n| n != 0),
        None => None,
    }
}

fn page<T>(ep: &Endpoint, v: &Value, item: impl Fn(&Value) -> Result<T>) -> Result<Page<T>> {
    let list = match v.get("list") {
        Some(Value::Array(a)) => a.iter().map(&item).collect::<Result<Vec<_>>>()?,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(bad(ep, "list is not an array".into())),
    };
    Ok(Page {
        page_no: opt_i64(v, "pageNo").unwrap_or(1),
        page_size: opt_i64(v, "pageSize").unwrap_or(list.len() as i64),
        pages: opt_i64(v, "pages").unwrap_or(1),
        total: opt_i64(v, "total").unwrap_or(list.len() as i64),
        list,
    })
}

fn p(k: &'static str, v: impl ToString) -> (&'static str, String) {
    (k, v.to_string())
}

// ---- endpoints ---------------------------------------------------------------------------

/// `keyboardPwd/add` → keyboardPwdId.
pub fn keyboard_pwd_add(c: &Client, a: &AddPasscode) -> Result<i64> {
    let e = ep::KEYBOARD_PWD_ADD;
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
    req_i64(&ep::KEYBOARD_PWD_ADD, v, "keyboardPwdId")
}

/// `keyboardPwd/get` (random/offline code) → (passcode, keyboardPwdId).
pub fn keyboard_pwd_get(c: &Client, r: &RandomPasscode) -> Result<(String, i64)> {
    let e = ep::KEYBOARD_PWD_GET;
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
    let e = ep::KEYBOARD_PWD_GET;
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
    c.call(&ep::KEYBOARD_PWD_CHANGE, &params).map(|_| ())
}

/// `keyboardPwd/delete`.
pub fn keyboard_pwd_delete(c: &Client, lock_id: i64, passcode_id: i64, via: Via) -> Result<()> {
    let params = [
        p("lockId", lock_id),
        p("keyboardPwdId", passcode_id),
        p("deleteType", via as i64),
    ];
    c.call(&ep::KEYBOARD_PWD_DELETE, &params).map(|_| ())
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
    let e = ep::LIST_KEYBOARD_PWD;
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
    let e = ep::LIST_KEYBOARD_PWD;
    page(&e, v, |it| {
        Ok(PasscodeItem {
            passcode_id: req_i64(&e, it, "keyboardPwdId")?,
            lock_id: opt_i64(it, "lockId"),
            passcode: opt_str(it, "keyboardPwd").unwrap_or_default(),
            name: opt_str(it, "keyboardPwdName"),
            pwd_type: opt_i64(it, "keyboardPwdType").unwrap_or(0),
            start_ms: opt_i64(it, "startDate"),
            end_ms: opt_i64(it, "endDate"),
            is_custom: opt_bool(it, "isCustom").unwrap_or(false),
            status: opt_i64(it, "status"),
            send_ms: opt_i64(it, "sendDate"),
        })
    })
}

/// `lock/unlock` (through the gateway).
pub fn unlock(c: &Client, lock_id: i64) -> Result<()> {
    c.call(&ep::UNLOCK, &[p("lockId", lock_id)]).map(|_| ())
}

/// `lock/lock` (through the gateway).
pub fn lock(c: &Client, lock_id: i64) -> Result<()> {
    c.call(&ep::LOCK, &[p("lockId", lock_id)]).map(|_| ())
}

/// `lock/queryOpenState`.
pub fn query_open_state(c: &Client, lock_id: i64) -> Result<OpenState> {
    decode_open_state(&c.call(&ep::QUERY_OPEN_STATE, &[p("lockId", lock_id)])?)
}

/// The answer of `lock/queryOpenState`.
pub(crate) fn decode_open_state(v: &Value) -> Result<OpenState> {
    Ok(OpenState {
        state: req_i64(&ep::QUERY_OPEN_STATE, v, "state")?,
        sensor_state: opt_i64(v, "sensorState"),
    })
}

/// `lock/queryElectricQuantity` → percent.
pub fn query_electric_quantity(c: &Client, lock_id: i64) -> Result<i64> {
    decode_battery(&c.call(&ep::QUERY_ELECTRIC_QUANTITY, &[p("lockId", lock_id)])?)
}

/// The answer of `lock/queryElectricQuantity`: percent.
pub(crate) fn decode_battery(v: &Value) -> Result<i64> {
    req_i64(&ep::QUERY_ELECTRIC_QUANTITY, v, "electricQuantity")
}

/// `lock/detail` (secrets in the answer are dropped).
pub fn lock_detail(c: &Client, lock_id: i64) -> Result<LockDetail> {
    let v = c.call(&ep::LOCK_DETAIL, &[p("lockId", lock_id)])?;
    Ok(decode_lock_detail(&v, lock_id))
}

/// The answer of `lock/detail` (`lock_id` when it has none).
pub(crate) fn decode_lock_detail(v: &Value, lock_id: i64) -> LockDetail {
    LockDetail {
        lock_id: opt_i64(v, "lockId").unwrap_or(lock_id),
        alias: opt_str(v, "lockAlias"),
        name: opt_str(v, "lockName"),
        mac: opt_str(v, "lockMac"),
        battery: opt_i64(v, "electricQuantity"),
        has_gateway: opt_bool(v, "hasGateway"),
        timezone_raw_offset_ms: opt_i64(v, "timezoneRawOffset"),
        feature_value: opt_str(v, "featureValue"),
        passage_mode: opt_i64(v, "passageMode"),
    }
}

fn lock_item(e: &Endpoint, it: &Value) -> Result<LockItem> {
    Ok(LockItem {
        lock_id: req_i64(e, it, "lockId")?,
        alias: opt_str(it, "lockAlias"),
        name: opt_str(it, "lockName"),
        mac: opt_str(it, "lockMac"),
        battery: opt_i64(it, "electricQuantity"),
        has_gateway: opt_bool(it, "hasGateway"),
    })
}

/// `lock/list`, one page (locks the account administers).
pub fn lock_list(c: &Client, page_no: i64, page_size: i64) -> Result<Page<LockItem>> {
    decode_lock_page(&c.call(
        &ep::LOCK_LIST,
        &[p("pageNo", page_no), p("pageSize", page_size)],
    )?)
}

/// A page of `lock/list`.
pub(crate) fn decode_lock_page(v: &Value) -> Result<Page<LockItem>> {
    let e = ep::LOCK_LIST;
    page(&e, v, |it| lock_item(&e, it))
}

/// `gateway/listByLock`: gateways that reach the lock (empty: remote commands give -2012).
pub fn gateway_list_by_lock(c: &Client, lock_id: i64) -> Result<Vec<GatewayItem>> {
    decode_gateways(&c.call(&ep::GATEWAY_LIST_BY_LOCK, &[p("lockId", lock_id)])?)
}

/// The answer of `gateway/listByLock`.
pub(crate) fn decode_gateways(v: &Value) -> Result<Vec<GatewayItem>> {
    let e = ep::GATEWAY_LIST_BY_LOCK;
    let pg = page(&e, v, |it| {
        Ok(GatewayItem {
            gateway_id: req_i64(&e, it, "gatewayId")?,
            mac: opt_str(it, "gatewayMac"),
            name: opt_str(it, "gatewayName"),
            rssi: opt_i64(it, "rssi"),
            rssi_update_ms: opt_i64(it, "rssiUpdateDate"),
        })
    })?;
    Ok(pg.list)
}

/// An item of `gateway/list` (ttlock-api.md §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayInfo {
    pub gateway_id: i64,
    pub mac: Option<String>,
    pub name: Option<String>,
    /// 1 G1, 2 G2, 3 G3 wired, 4 G4 4G.
    pub version: Option<i64>,
    pub network_name: Option<String>,
    pub lock_num: Option<i64>,
    /// Lags several minutes after a power loss.
    pub is_online: Option<bool>,
}

/// An item of `gateway/listLock`: a lock the gateway reaches, with its signal there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayLock {
    pub lock_id: i64,
    pub mac: Option<String>,
    pub name: Option<String>,
    pub alias: Option<String>,
    pub rssi: Option<i64>,
    pub update_ms: Option<i64>,
}

/// `gateway/list`, one page (`page_size` at most 200).
pub fn gateway_list(c: &Client, page_no: i64, page_size: i64) -> Result<Page<GatewayInfo>> {
    decode_gateway_page(&c.call(
        &ep::GATEWAY_LIST,
        &[p("pageNo", page_no), p("pageSize", page_size)],
    )?)
}

/// A page of `gateway/list`.
pub(crate) fn decode_gateway_page(v: &Value) -> Result<Page<GatewayInfo>> {
    let e = ep::GATEWAY_LIST;
    page(&e, v, |it| {
        Ok(GatewayInfo {
            gateway_id: req_i64(&e, it, "gatewayId")?,
            mac: opt_str(it, "gatewayMac"),
            name: opt_str(it, "gatewayName"),
            version: opt_i64(it, "gatewayVersion"),
            network_name: opt_str(it, "networkName"),
            lock_num: opt_i64(it, "lockNum"),
            is_online: opt_bool(it, "isOnline"),
        })
    })
}

/// `gateway/listLock`: the locks a gateway reaches (-4037: no such gateway).
pub fn gateway_list_lock(c: &Client, gateway_id: i64) -> Result<Vec<GatewayLock>> {
    decode_gateway_locks(&c.call(&ep::GATEWAY_LIST_LOCK, &[p("gatewayId", gateway_id)])?)
}

/// The answer of `gateway/listLock`.
pub(crate) fn decode_gateway_locks(v: &Value) -> Result<Vec<GatewayLock>> {
    let e = ep::GATEWAY_LIST_LOCK;
    let pg = page(&e, v, |it| {
        Ok(GatewayLock {
            lock_id: req_i64(&e, it, "lockId")?,
            mac: opt_str(it, "lockMac"),
            name: opt_str(it, "lockName"),
            alias: opt_str(it, "lockAlias"),
            rssi: opt_i64(it, "rssi"),
            update_ms: opt_i64(it, "updateDate"),
        })
    })?;
    Ok(pg.list)
}

/// `lockRecord/list`, one page.
pub fn lock_record_list(c: &Client, q: &RecordQuery) -> Result<Page<RecordItem>> {
    let e = ep::LOCK_RECORD_LIST;
    let mut params = vec![
        p("lockId", q.lock_id),
        p("pageNo", q.page_no.max(1)),
        p("pageSize", if q.page_size > 0 { q.page_size } else { 20 }),
    ];
    if let Some(s) = q.start_ms {
        params.push(p("startDate", s));
    }
    if let Some(s) = q.end_ms {
        params.push(p("endDate", s));
    }
    if let Some(t) = q.record_type {
        params.push(p("recordType", t));
    }
    decode_record_page(&c.call(&e, &params)?)
}

/// A page of `lockRecord/list`.
pub(crate) fn decode_record_page(v: &Value) -> Result<Page<RecordItem>> {
    let e = ep::LOCK_RECORD_LIST;
    page(&e, v, |it| {
        Ok(RecordItem {
            record_id: req_i64(&e, it, "recordId")?,
            lock_id: opt_i64(it, "lockId"),
            record_type: opt_i64(it, "recordType"),
            record_type_from_lock: opt_i64(it, "recordTypeFromLock"),
            success: opt_bool(it, "success"),
            username: opt_str(it, "username"),
            keyboard_pwd: opt_str(it, "keyboardPwd").map(Secret::new),
            lock_date_ms: opt_i64(it, "lockDate"),
            server_date_ms: opt_i64(it, "serverDate"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoints_are_marked() {
        const {
            assert!(!ep::KEYBOARD_PWD_ADD.idempotent);
            assert!(!ep::UNLOCK.idempotent);
            assert!(!ep::KEYBOARD_PWD_GET.idempotent);
            assert!(!ep::KEYBOARD_PWD_DELETE.idempotent);
            assert!(ep::LIST_KEYBOARD_PWD.idempotent);
        }
        for e in [
            ep::LIST_KEYBOARD_PWD,
            ep::QUERY_OPEN_STATE,
            ep::QUERY_ELECTRIC_QUANTITY,
            ep::LOCK_DETAIL,
            ep::LOCK_LIST,
            ep::GATEWAY_LIST_BY_LOCK,
            ep::GATEWAY_LIST,
            ep::GATEWAY_LIST_LOCK,
            ep::LOCK_RECORD_LIST,
        ] {
            assert_eq!(e.method, crate::http::Method::Get, "{}", e.path);
        }
    }

    #[test]
    fn pages_parse_leniently() {
        let e = ep::LIST_KEYBOARD_PWD;
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
        let err = req_i64(&ep::KEYBOARD_PWD_ADD, &json!({}), "keyboardPwdId").unwrap_err();
        assert!(err.maybe_done());
    }

    #[test]
    fn gateway_pages_and_gateway_locks_decode() {
        let v = json!({"list": [{"gatewayId": "7", "gatewayMac": "4C:00", "gatewayName": "GW 7",
                                 "gatewayVersion": 2, "networkName": "Hotel-WiFi", "lockNum": "3",
                                 "isOnline": 1}],
                       "pageNo": 1, "pageSize": 200, "pages": 1, "total": 1});
        let pg = decode_gateway_page(&v).unwrap();
        assert_eq!(
            pg.list,
            vec![GatewayInfo {
                gateway_id: 7,
                mac: Some("4C:00".into()),
                name: Some("GW 7".into()),
                version: Some(2),
                network_name: Some("Hotel-WiFi".into()),
                lock_num: Some(3),
                is_online: Some(true),
            }]
        );
        let v = json!({"list": [{"lockId": 5001, "lockMac": "5A:01", "lockName": "S1_5001",
                                 "lockAlias": "Room 1", "rssi": "-58", "updateDate": 9}]});
        assert_eq!(
            decode_gateway_locks(&v).unwrap(),
            vec![GatewayLock {
                lock_id: 5001,
                mac: Some("5A:01".into()),
                name: Some("S1_5001".into()),
                alias: Some("Room 1".into()),
                rssi: Some(-58),
                update_ms: Some(9),
            }]
        );
        let err = decode_gateway_locks(&json!({"list": [{"rssi": -50}]})).unwrap_err();
        assert_eq!(err.code(), Code::BadResponse);
    }

    #[test]
    fn record_pin_is_not_printed() {
        let r = RecordItem {
            record_id: 1,
            lock_id: None,
            record_type: Some(4),
            record_type_from_lock: None,
            success: Some(true),
            username: None,
            keyboard_pwd: Some(Secret::new("482133")),
            lock_date_ms: None,
            server_date_ms: None,
        };
        assert!(!format!("{r:?}").contains("482133"));
    }
}
