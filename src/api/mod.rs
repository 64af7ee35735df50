//! Typed TTLock endpoints (ttlock-api.md §1.5, §3-§7), one file per subject: one function per
//! endpoint, typed parameters and results, lenient number parsing. Each function is one
//! authenticated call (`account`'s counter: one call as the app, by client id and secret) with
//! the transport's retry policy; each endpoint constant says whether it is idempotent. [`DECODERS`] lists every endpoint whose answer is decoded, with its decoder.
//!
//! Field names follow TTLock's; ids and times are `i64` (milliseconds since the epoch).
use serde_json::Value;

use crate::error::{Code, Error, Result};
use crate::lenient::num_i64;
use crate::transport::Endpoint;

pub mod account;
pub mod gateways;
pub mod locks;
pub mod passcodes;
pub mod records;

pub use account::*;
pub use gateways::*;
pub use locks::*;
pub use passcodes::*;
pub use records::*;

/// A page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub list: Vec<T>,
    /// This page, from 1.
    pub page_no: i64,
    /// Items per page asked for.
    pub page_size: i64,
    /// Total pages (loop while `page_no < pages`).
    pub pages: i64,
    /// Items on all pages.
    pub total: i64,
}

/// An endpoint and its answer's decoder, the result as Debug text (errors included).
pub type Decoder = (Endpoint, fn(&Value) -> String);

/// Every endpoint whose answer the module decodes, with its decoder: what the fuzz target
/// feeds, and where a newcomer finds each decoder.
pub const DECODERS: &[Decoder] = &[
    (KEYBOARD_PWD_ADD, |v| {
        format!("{:?}", passcodes::decode_add(v))
    }),
    (KEYBOARD_PWD_GET, |v| {
        format!("{:?}", passcodes::decode_get(v))
    }),
    (LIST_KEYBOARD_PWD, |v| {
        format!("{:?}", passcodes::decode_passcode_page(v))
    }),
    (QUERY_OPEN_STATE, |v| {
        format!("{:?}", locks::decode_open_state(v))
    }),
    (QUERY_ELECTRIC_QUANTITY, |v| {
        format!("{:?}", locks::decode_battery(v))
    }),
    (LOCK_DETAIL, |v| {
        format!("{:?}", locks::decode_lock_detail(v, 1))
    }),
    (LOCK_LIST, |v| format!("{:?}", locks::decode_lock_page(v))),
    (GATEWAY_LIST_BY_LOCK, |v| {
        format!("{:?}", gateways::decode_gateways(v))
    }),
    (GATEWAY_LIST, |v| {
        format!("{:?}", gateways::decode_gateway_page(v))
    }),
    (GATEWAY_LIST_LOCK, |v| {
        format!("{:?}", gateways::decode_gateway_locks(v))
    }),
    (LOCK_RECORD_LIST, |v| {
        format!("{:?}", records::decode_record_page(v))
    }),
    (MONTH_REQUEST_COUNT, |v| {
        format!("{:?}", account::decode_month_request_count(v))
    }),
];

// ---- decoding helpers of the endpoint files ------------------------------------------------

pub(crate) fn bad(ep: &Endpoint, why: String) -> Error {
    Error::new(
        Code::BadResponse,
        format!("unexpected answer from {}: {why}", ep.path),
    )
    .with_maybe_done(!ep.idempotent)
}

pub(crate) fn opt_i64(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(num_i64)
}

pub(crate) fn req_i64(ep: &Endpoint, v: &Value, key: &str) -> Result<i64> {
    opt_i64(v, key).ok_or_else(|| bad(ep, format!("no number {key}")))
}

pub(crate) fn opt_str(v: &Value, key: &str) -> Option<String> {
    match v.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn opt_bool(v: &Value, key: &str) -> Option<bool> {
    match v.get(key) {
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => num_i64(other).map(|n| n != 0),
        None => None,
    }
}

pub(crate) fn page<T>(
    ep: &Endpoint,
    v: &Value,
    item: impl Fn(&Value) -> Result<T>,
) -> Result<Page<T>> {
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

pub(crate) fn p(k: &'static str, v: impl ToString) -> (&'static str, String) {
    (k, v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_marked() {
        const {
            assert!(!KEYBOARD_PWD_ADD.idempotent);
            assert!(!UNLOCK.idempotent);
            assert!(!KEYBOARD_PWD_GET.idempotent);
            assert!(!KEYBOARD_PWD_DELETE.idempotent);
            assert!(LIST_KEYBOARD_PWD.idempotent);
        }
        for e in [
            LIST_KEYBOARD_PWD,
            QUERY_OPEN_STATE,
            QUERY_ELECTRIC_QUANTITY,
            LOCK_DETAIL,
            LOCK_LIST,
            GATEWAY_LIST_BY_LOCK,
            GATEWAY_LIST,
            GATEWAY_LIST_LOCK,
            LOCK_RECORD_LIST,
        ] {
            assert_eq!(e.method, crate::transport::Method::Get, "{}", e.path);
        }
    }

    #[test]
    fn every_decoded_endpoint_is_listed_once() {
        for (i, (e, _)) in DECODERS.iter().enumerate() {
            assert!(DECODERS[i + 1..].iter().all(|(o, _)| o.path != e.path));
        }
        assert_eq!(DECODERS.len(), 12);
    }
}
