//! Gateway endpoints (ttlock-api.md §6): the gateways of a lock, of the account, and the locks
//! of a gateway.
use serde_json::Value;

use super::{opt_bool, opt_i64, opt_str, p, page, req_i64, Page};
use crate::client::Client;
use crate::error::Result;
use crate::transport::Endpoint;

/// `gateway/listByLock`: the gateways that reach a lock.
pub const GATEWAY_LIST_BY_LOCK: Endpoint = Endpoint::query("/v3/gateway/listByLock");
/// `gateway/list`: the account's gateways, paged.
pub const GATEWAY_LIST: Endpoint = Endpoint::query("/v3/gateway/list");
/// `gateway/listLock`: the locks one gateway reaches.
pub const GATEWAY_LIST_LOCK: Endpoint = Endpoint::query("/v3/gateway/listLock");

/// An item of `gateway/listByLock`: a gateway that reaches the lock, with its signal there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayItem {
    /// gatewayId.
    pub gateway_id: i64,
    /// gatewayMac.
    pub mac: Option<String>,
    /// gatewayName.
    pub name: Option<String>,
    /// rssi in dBm at the lock: above -75 strong, -85..-75 medium, below -85 weak.
    pub rssi: Option<i64>,
    /// rssiUpdateDate: when the rssi was measured, ms since the epoch.
    pub rssi_update_ms: Option<i64>,
}

/// `gateway/listByLock`: gateways that reach the lock (empty: remote commands give -2012).
pub fn gateway_list_by_lock(c: &Client, lock_id: i64) -> Result<Vec<GatewayItem>> {
    decode_gateways(&c.call(&GATEWAY_LIST_BY_LOCK, &[p("lockId", lock_id)])?)
}

/// The answer of `gateway/listByLock`.
pub(crate) fn decode_gateways(v: &Value) -> Result<Vec<GatewayItem>> {
    let e = GATEWAY_LIST_BY_LOCK;
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
    /// gatewayId.
    pub gateway_id: i64,
    /// gatewayMac.
    pub mac: Option<String>,
    /// gatewayName.
    pub name: Option<String>,
    /// 1 G1, 2 G2, 3 G3 wired, 4 G4 4G.
    pub version: Option<i64>,
    /// networkName: the WiFi SSID the gateway is on.
    pub network_name: Option<String>,
    /// lockNum: how many locks the gateway reaches.
    pub lock_num: Option<i64>,
    /// Lags several minutes after a power loss.
    pub is_online: Option<bool>,
}

/// An item of `gateway/listLock`: a lock the gateway reaches, with its signal there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayLock {
    /// lockId.
    pub lock_id: i64,
    /// lockMac.
    pub mac: Option<String>,
    /// lockName (the Bluetooth name).
    pub name: Option<String>,
    /// lockAlias (the name the user gave the lock).
    pub alias: Option<String>,
    /// rssi in dBm of the lock at this gateway.
    pub rssi: Option<i64>,
    /// updateDate: when the rssi was measured, ms since the epoch.
    pub update_ms: Option<i64>,
}

/// `gateway/list`, one page (`page_size` at most 200).
pub fn gateway_list(c: &Client, page_no: i64, page_size: i64) -> Result<Page<GatewayInfo>> {
    decode_gateway_page(&c.call(
        &GATEWAY_LIST,
        &[p("pageNo", page_no), p("pageSize", page_size)],
    )?)
}

/// A page of `gateway/list`.
pub(crate) fn decode_gateway_page(v: &Value) -> Result<Page<GatewayInfo>> {
    let e = GATEWAY_LIST;
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
    decode_gateway_locks(&c.call(&GATEWAY_LIST_LOCK, &[p("gatewayId", gateway_id)])?)
}

/// The answer of `gateway/listLock`.
pub(crate) fn decode_gateway_locks(v: &Value) -> Result<Vec<GatewayLock>> {
    let e = GATEWAY_LIST_LOCK;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;
    use serde_json::json;

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
}
