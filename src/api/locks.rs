//! Lock endpoints (ttlock-api.md §4-§5): unlock, lock, open state, battery, detail, list.
use serde_json::Value;

use super::{opt_bool, opt_i64, opt_str, p, page, req_i64, Page};
use crate::client::Client;
use crate::error::Result;
use crate::transport::Endpoint;

/// Opens a door: never repeated blind.
pub const UNLOCK: Endpoint = Endpoint::operation("/v3/lock/unlock", false);
/// Locking a locked door changes nothing.
pub const LOCK: Endpoint = Endpoint::operation("/v3/lock/lock", true);
/// Whether the door is locked, asked of the lock through the gateway.
pub const QUERY_OPEN_STATE: Endpoint = Endpoint::query("/v3/lock/queryOpenState");
/// The battery level in percent, asked of the lock through the gateway.
pub const QUERY_ELECTRIC_QUANTITY: Endpoint = Endpoint::query("/v3/lock/queryElectricQuantity");
/// The lock's settings as the cloud holds them (admin only).
pub const LOCK_DETAIL: Endpoint = Endpoint::query("/v3/lock/detail");
/// The locks the account administers, paged.
pub const LOCK_LIST: Endpoint = Endpoint::query("/v3/lock/list");

/// The answer of `lock/queryOpenState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenState {
    /// 0 locked, 1 unlocked, 2 unknown (also when TTLock leaves it out).
    pub state: i64,
    /// sensorState of a bound door sensor (0 open, 1 closed, unconfirmed); absent without one.
    pub sensor_state: Option<i64>,
}

/// An item of `lock/list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockItem {
    /// lockId.
    pub lock_id: i64,
    /// lockAlias (the name the user gave the lock).
    pub alias: Option<String>,
    /// lockName (the Bluetooth name).
    pub name: Option<String>,
    /// lockMac.
    pub mac: Option<String>,
    /// electricQuantity: battery percent at the last contact, not a fresh reading.
    pub battery: Option<i64>,
    /// hasGateway: a gateway reaches the lock, so remote commands can work.
    pub has_gateway: Option<bool>,
}

/// Lock detail without its secrets (admin passcode, keys): only what integrations need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockDetail {
    /// What `lock/list` also says of the lock.
    pub lock: LockItem,
    /// timezoneRawOffset: the lock's time-zone offset to UTC in ms.
    pub timezone_raw_offset_ms: Option<i64>,
    /// featureValue: the hex bitmask of what the lock supports.
    pub feature_value: Option<String>,
    /// passageMode: 1 on, 2 off.
    pub passage_mode: Option<i64>,
}

/// `lock/unlock` (through the gateway).
pub fn unlock(c: &Client, lock_id: i64) -> Result<()> {
    c.call(&UNLOCK, &[p("lockId", lock_id)]).map(|_| ())
}

/// `lock/lock` (through the gateway).
pub fn lock(c: &Client, lock_id: i64) -> Result<()> {
    c.call(&LOCK, &[p("lockId", lock_id)]).map(|_| ())
}

/// `lock/queryOpenState`.
pub fn query_open_state(c: &Client, lock_id: i64) -> Result<OpenState> {
    decode_open_state(&c.call(&QUERY_OPEN_STATE, &[p("lockId", lock_id)])?)
}

/// The answer of `lock/queryOpenState`.
pub(crate) fn decode_open_state(v: &Value) -> Result<OpenState> {
    Ok(OpenState {
        // Real answers leave `state` out when the lock does not know it.
        state: opt_i64(v, "state").unwrap_or(2),
        sensor_state: opt_i64(v, "sensorState"),
    })
}

/// `lock/queryElectricQuantity` → percent.
pub fn query_electric_quantity(c: &Client, lock_id: i64) -> Result<i64> {
    decode_battery(&c.call(&QUERY_ELECTRIC_QUANTITY, &[p("lockId", lock_id)])?)
}

/// The answer of `lock/queryElectricQuantity`: percent.
pub(crate) fn decode_battery(v: &Value) -> Result<i64> {
    req_i64(&QUERY_ELECTRIC_QUANTITY, v, "electricQuantity")
}

/// `lock/detail` (secrets in the answer are dropped).
pub fn lock_detail(c: &Client, lock_id: i64) -> Result<LockDetail> {
    let v = c.call(&LOCK_DETAIL, &[p("lockId", lock_id)])?;
    Ok(decode_lock_detail(&v, lock_id))
}

/// The answer of `lock/detail` (`lock_id` when it has none).
pub(crate) fn decode_lock_detail(v: &Value, lock_id: i64) -> LockDetail {
    LockDetail {
        lock: lock_fields(v, opt_i64(v, "lockId").unwrap_or(lock_id)),
        timezone_raw_offset_ms: opt_i64(v, "timezoneRawOffset"),
        feature_value: opt_str(v, "featureValue"),
        passage_mode: opt_i64(v, "passageMode"),
    }
}

/// The lock fields `lock/list` items and `lock/detail` share.
fn lock_fields(v: &Value, lock_id: i64) -> LockItem {
    LockItem {
        lock_id,
        alias: opt_str(v, "lockAlias"),
        name: opt_str(v, "lockName"),
        mac: opt_str(v, "lockMac"),
        battery: opt_i64(v, "electricQuantity"),
        has_gateway: opt_bool(v, "hasGateway"),
    }
}

fn lock_item(e: &Endpoint, it: &Value) -> Result<LockItem> {
    Ok(lock_fields(it, req_i64(e, it, "lockId")?))
}

/// `lock/list`, one page (locks the account administers).
pub fn lock_list(c: &Client, page_no: i64, page_size: i64) -> Result<Page<LockItem>> {
    decode_lock_page(&c.call(
        &LOCK_LIST,
        &[p("pageNo", page_no), p("pageSize", page_size)],
    )?)
}

/// A page of `lock/list`.
pub(crate) fn decode_lock_page(v: &Value) -> Result<Page<LockItem>> {
    let e = LOCK_LIST;
    page(&e, v, |it| lock_item(&e, it))
}
