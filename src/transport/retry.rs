//! The retry policy: only what can succeed later and cannot do harm twice is sent again, after a
//! jittered exponential back-off.
//!
//! - A connection that failed before the request was sent: always.
//! - An errcode whose table entry says `retry_later`: when it also says `nothing_done`, or the
//!   endpoint is idempotent.
//! - 5xx and connections lost after sending: on idempotent endpoints only.
//! - Never a timeout (the caller asked for a bound), a TLS failure or an unreadable answer.
use std::time::Duration;

use super::connection::Sent;
use super::Endpoint;
use crate::error::{Code, Error};

/// Whether a failed attempt is sent again (attempts left aside).
pub(super) fn should_retry(ep: &Endpoint, err: &Error, sent: Sent) -> bool {
    match (err.errcode(), err.http_status_code()) {
        (Some(_), _) => {
            let rules = err.rules();
            rules.retry_later && (rules.nothing_done || ep.idempotent)
        }
        (None, Some(s)) if s >= 500 => ep.idempotent,
        (None, Some(_)) => false,
        (None, None) => match err.code() {
            Code::Timeout | Code::Tls | Code::BadResponse => false,
            _ => sent == Sent::No || ep.idempotent,
        },
    }
}

/// The delay before retry `n` (1-based): base·2^(n-1), times a random factor in [0.5, 1.5).
pub fn backoff(base: Duration, n: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << n.saturating_sub(1).min(10));
    let jitter = 0.5 + (crate::state::unique() % 1000) as f64 / 1000.0;
    exp.mul_f64(jitter).min(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        for n in 1..5u32 {
            let nominal = 100.0 * f64::from(1u32 << (n - 1));
            for _ in 0..20 {
                let d = backoff(base, n).as_secs_f64() * 1000.0;
                assert!(d >= nominal * 0.5 - 1e-6 && d < nominal * 1.5, "{n}: {d}");
            }
        }
        assert!(backoff(Duration::from_secs(20), 9) <= Duration::from_secs(30));
        assert_eq!(backoff(Duration::ZERO, 3), Duration::ZERO);
    }

    #[test]
    fn what_is_retried() {
        let add = Endpoint::operation("/v3/keyboardPwd/add", false);
        let list = Endpoint::query("/v3/lock/listKeyboardPwd");
        let busy = Error::from_errcode(-3003, None);
        assert!(should_retry(&add, &busy, Sent::Maybe));
        assert!(!should_retry(
            &add,
            &Error::from_errcode(-3002, None),
            Sent::Maybe
        ));
        let s503 = Error::http_status(503, "/x");
        assert!(should_retry(&list, &s503, Sent::Maybe));
        assert!(!should_retry(&add, &s503, Sent::Maybe));
        let lost = Error::new(Code::Network, "reset");
        assert!(should_retry(&add, &lost, Sent::No));
        assert!(!should_retry(&add, &lost, Sent::Maybe));
        assert!(should_retry(&list, &lost, Sent::Maybe));
        assert!(!should_retry(
            &list,
            &Error::new(Code::Timeout, "t"),
            Sent::Maybe
        ));
    }
}
