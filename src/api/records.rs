//! The lock's records (ttlock-api.md §7): who opened the door, when and how.
use serde_json::Value;

use super::{opt_bool, opt_i64, opt_str, p, page, Page};
use crate::client::Client;
use crate::error::Result;
use crate::secret::Secret;
use crate::transport::Endpoint;

/// `lockRecord/list`: the lock's history of openings, paged.
pub const LOCK_RECORD_LIST: Endpoint = Endpoint::query("/v3/lockRecord/list");

/// What `lockRecord/list` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordQuery {
    /// lockId.
    pub lock_id: i64,
    /// pageNo, from 1 (0 or less asks for page 1).
    pub page_no: i64,
    /// pageSize, at most 200 (0 or less asks for 20).
    pub page_size: i64,
    /// startDate: the earliest record, ms since the epoch.
    pub start_ms: Option<i64>,
    /// endDate: the latest record, ms since the epoch.
    pub end_ms: Option<i64>,
    /// recordType filter (cloud type: 4 keypad passcode, 7 IC card, 8 fingerprint, 55 remote, …).
    pub record_type: Option<i64>,
}

/// An item of `lockRecord/list`: one opening or attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordItem {
    /// recordId (missing in old records).
    pub record_id: Option<i64>,
    /// lockId.
    pub lock_id: Option<i64>,
    /// recordType: the cloud's kind of record.
    pub record_type: Option<i64>,
    /// recordTypeFromLock: the lock's own code, which differs from `record_type`.
    pub record_type_from_lock: Option<i64>,
    /// success: the attempt opened the door.
    pub success: Option<bool>,
    /// App account, passcode name or card name.
    pub username: Option<String>,
    /// The PIN / card number used: a secret, never printed.
    pub keyboard_pwd: Option<Secret>,
    /// lockDate: when it happened by the lock's clock, ms since the epoch.
    pub lock_date_ms: Option<i64>,
    /// serverDate: when the record reached the cloud, ms since the epoch.
    pub server_date_ms: Option<i64>,
}

/// `lockRecord/list`, one page.
pub fn lock_record_list(c: &Client, q: &RecordQuery) -> Result<Page<RecordItem>> {
    let e = LOCK_RECORD_LIST;
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
    let e = LOCK_RECORD_LIST;
    page(&e, v, |it| {
        Ok(RecordItem {
            record_id: opt_i64(it, "recordId"),
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

    #[test]
    fn record_pin_is_not_printed() {
        let r = RecordItem {
            record_id: Some(1),
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
