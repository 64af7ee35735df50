//! Endpoints of the developer account (ttlock-api.md §1.5): the app's monthly call counter.
use serde_json::Value;

use super::req_i64;
use crate::client::Client;
use crate::error::Result;
use crate::transport::Endpoint;

/// `app/getMonthRequestCount`: the app's API requests this month (a form POST, read only).
/// Authenticated by `clientId` and `clientSecret` in the form body, not by an access token.
pub const MONTH_REQUEST_COUNT: Endpoint = Endpoint::operation("/app/getMonthRequestCount", true);

/// `app/getMonthRequestCount`: how many API requests TTLock counted this month for the
/// configured app (months in Beijing time, UTC+8). Checks the client id and secret without
/// touching the tokens: a wrong id gives errcode 10000, a wrong secret 10001 (`auth_failed`).
pub fn month_request_count(c: &Client) -> Result<i64> {
    decode_month_request_count(&c.call_as_app(&MONTH_REQUEST_COUNT, &[])?)
}

/// The answer of `app/getMonthRequestCount`: `{monthRequestCount}`, a Long (lenient).
pub(crate) fn decode_month_request_count(v: &Value) -> Result<i64> {
    req_i64(&MONTH_REQUEST_COUNT, v, "monthRequestCount")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_the_count() {
        assert_eq!(
            decode_month_request_count(&json!({"monthRequestCount": 1234})).unwrap(),
            1234
        );
        assert_eq!(
            decode_month_request_count(&json!({"monthRequestCount": "77"})).unwrap(),
            77
        );
        let e = decode_month_request_count(&json!({})).unwrap_err();
        assert!(e.to_string().contains("monthRequestCount"), "{e}");
        assert!(!e.maybe_done());
    }
}
