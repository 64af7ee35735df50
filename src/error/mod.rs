//! The one error type of the crate: a stable `code()` (the Lua contract's `err.code`), a message
//! for the log, an advice that says what to do (the Lua `err.advice`, for status texts), and the
//! TTLock errcode / HTTP status when there is one.
//!
//! Messages never contain secrets: they are built from fixed texts, TTLock's `errmsg` and
//! transport errors whose URL has been stripped (see `transport`).
use std::fmt;

pub mod errcodes;

pub use errcodes::{Errcode, Rules};

/// Stable error codes (docs/lua-api.md "Return conventions"). Never rename: scripts compare
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// Bad input: a wrong type or value from the script, or a guest's dates or code.
    InvalidArgument,
    /// `configure` was not called, or its settings cannot work.
    NotConfigured,
    /// Credentials or tokens rejected: a person must act.
    AuthFailed,
    /// The controller's clock is off (errcode 80000, or a clock before 2024).
    ClockSkew,
    /// No connection to TTLock (DNS, refused, reset).
    Network,
    /// No answer within `timeout_s` / `connect_timeout_s`.
    Timeout,
    /// TLS failed (certificate, handshake, `ca_file`).
    Tls,
    /// An HTTP status other than 200.
    HttpStatus,
    /// An answer that is not the JSON TTLock documents.
    BadResponse,
    /// The gateway or the lock is busy (-3003, -3037).
    GatewayBusy,
    /// The gateway is offline (-3002).
    GatewayOffline,
    /// No gateway reaches the lock, or the lock is offline (-2012, -3036).
    LockOffline,
    /// The passcode is already on the lock (-3007).
    PasscodeExists,
    /// The lock's memory is full (-3009, -4056).
    StorageFull,
    /// The lock cannot do this, or it is switched off in the TTLock app (-4043).
    NotSupported,
    /// The account or application may not do this (-2018, 20002, 30001, -3046).
    PermissionDenied,
    /// TTLock's API call limit is reached (30006, 30007).
    QuotaExceeded,
    /// The lock, passcode or eKey does not exist (-1003, -2009, -1008).
    NotFound,
    /// Any other TTLock errcode (`errcode()` has it).
    ApiError,
}

impl Code {
    /// The contract string (`err.code`).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidArgument => "invalid_argument",
            Code::NotConfigured => "not_configured",
            Code::AuthFailed => "auth_failed",
            Code::ClockSkew => "clock_skew",
            Code::Network => "network",
            Code::Timeout => "timeout",
            Code::Tls => "tls",
            Code::HttpStatus => "http_status",
            Code::BadResponse => "bad_response",
            Code::GatewayBusy => "gateway_busy",
            Code::GatewayOffline => "gateway_offline",
            Code::LockOffline => "lock_offline",
            Code::PasscodeExists => "passcode_exists",
            Code::StorageFull => "storage_full",
            Code::NotSupported => "not_supported",
            Code::PermissionDenied => "permission_denied",
            Code::QuotaExceeded => "quota_exceeded",
            Code::NotFound => "not_found",
            Code::ApiError => "api_error",
        }
    }

    /// The contract code for a TTLock errcode (the errcode table; `ApiError` when unknown).
    pub fn from_errcode(errcode: i64) -> Code {
        errcodes::lookup(errcode).map_or(Code::ApiError, |e| e.code)
    }

    /// Whether an error of this code without a known errcode concerns the whole lock, so that
    /// the next change on the lock would fail the same way (the purge stops that lock). An
    /// exhaustive list: a new code must be decided here.
    pub fn stops_lock(self) -> bool {
        match self {
            Code::InvalidArgument
            | Code::NotConfigured
            | Code::AuthFailed
            | Code::ClockSkew
            | Code::Network
            | Code::Timeout
            | Code::Tls
            | Code::GatewayBusy
            | Code::GatewayOffline
            | Code::LockOffline
            | Code::PasscodeExists
            | Code::StorageFull
            | Code::NotSupported
            | Code::PermissionDenied
            | Code::QuotaExceeded => true,
            Code::HttpStatus | Code::BadResponse | Code::NotFound | Code::ApiError => false,
        }
    }

    /// What to do about an error of this code when no errcode says more, for status texts.
    /// `None` for the codes whose message is itself the advice (bad input, unknown errcodes).
    pub fn advice(self) -> Option<&'static str> {
        Some(match self {
            Code::InvalidArgument | Code::ApiError => return None,
            Code::NotConfigured => "the module is not set up: check the user library ttlock_config",
            Code::AuthFailed => {
                "TTLock refused the credentials: run lua/scripts/commission.lua, it says which one to fix (client_id, client_secret, or username and password_md5)"
            }
            Code::ClockSkew => "the controller's clock is off: check its NTP settings",
            Code::Network => {
                "no connection to TTLock: check the controller's internet access and DNS"
            }
            Code::Timeout => {
                "TTLock did not answer in time: check the internet connection and try again"
            }
            Code::Tls => {
                "the secure connection to TTLock failed: check the controller's clock (or ca_file behind a proxy)"
            }
            Code::HttpStatus => "the TTLock server failed: try again later",
            Code::BadResponse => "TTLock sent an unreadable answer: try again later",
            Code::GatewayBusy => "the gateway is busy: try again in a minute",
            Code::GatewayOffline => "the gateway is offline: check its power and network",
            Code::LockOffline => {
                "no gateway reaches the lock: check the gateway near it and the lock's battery"
            }
            Code::PasscodeExists => "this code is already on the lock: choose another code",
            Code::StorageFull => {
                "the lock's code memory is full: run the purge or delete unused codes"
            }
            Code::NotSupported => "the lock does not support this function",
            Code::PermissionDenied => {
                "the TTLock account may not manage this lock: it must be the lock's administrator"
            }
            Code::QuotaExceeded => {
                "the TTLock API call limit is used up: wait for the reset on the 1st of the month"
            }
            Code::NotFound => "not found in the TTLock account: check the LockId: comment",
        })
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error of the ttlock core.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    code: Code,
    message: String,
    /// Set when an errcode or the creator knows better than the code's general advice.
    advice: Option<String>,
    errcode: Option<i64>,
    http_status: Option<u16>,
    maybe_done: bool,
    misuse: bool,
}

impl Error {
    /// An error with a message for the log (the advice is the code's own).
    pub fn new(code: Code, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            advice: None,
            errcode: None,
            http_status: None,
            maybe_done: false,
            misuse: false,
        }
    }

    /// Programmer misuse (wrong type, unknown option, broken callback): the Lua layer raises it
    /// as a Lua error instead of returning `nil, err`.
    pub fn misuse(code: Code, message: impl Into<String>) -> Error {
        Error {
            misuse: true,
            ..Error::new(code, message)
        }
    }

    /// Bad input; the message is the advice.
    pub fn invalid_argument(message: impl Into<String>) -> Error {
        Error::new(Code::InvalidArgument, message)
    }

    /// TTLock answered `{"errcode": n, "errmsg": …}` with n != 0 (endpoint unknown).
    pub fn from_errcode(errcode: i64, errmsg: Option<&str>) -> Error {
        Error::from_answer(errcode, errmsg, None)
    }

    /// TTLock answered errcode n != 0 to the endpoint at `path`: the table's advice for that
    /// endpoint, TTLock's own words for an errcode the table does not know.
    pub fn from_answer(errcode: i64, errmsg: Option<&str>, path: Option<&str>) -> Error {
        let errmsg = errmsg.map(str::trim).filter(|m| !m.is_empty());
        let known = errcodes::lookup(errcode);
        let advice = known.map(|e| e.advice_for(path));
        let message = match (advice, errmsg) {
            (Some(a), _) => format!("{a} (TTLock errcode {errcode})"),
            (None, Some(m)) => format!("TTLock error {errcode}: {m}"),
            (None, None) => format!("TTLock error {errcode}"),
        };
        Error {
            errcode: Some(errcode),
            advice: advice.map(str::to_owned),
            ..Error::new(Code::from_errcode(errcode), message)
        }
    }

    /// An HTTP status other than 200.
    pub fn http_status(status: u16, path: &str) -> Error {
        let hint = if status >= 500 {
            "TTLock or a proxy failed; try again later"
        } else {
            "check api_base"
        };
        Error {
            http_status: Some(status),
            ..Error::new(
                Code::HttpStatus,
                format!("HTTP {status} from {path}: {hint}"),
            )
        }
    }

    /// The contract code.
    pub fn code(&self) -> Code {
        self.code
    }
    /// What happened, for the log (context included).
    pub fn message(&self) -> &str {
        &self.message
    }
    /// What happened and what to do, short, for a status text: the errcode table's advice,
    /// else the code's, else the message.
    pub fn advice(&self) -> &str {
        self.advice
            .as_deref()
            .or(self.code.advice())
            .unwrap_or(&self.message)
    }
    /// TTLock's errcode, when the error is one.
    pub fn errcode(&self) -> Option<i64> {
        self.errcode
    }
    /// The HTTP status, when it was not 200.
    pub fn http_status_code(&self) -> Option<u16> {
        self.http_status
    }
    /// What the errcode means for the rules (no flag set for errors without a known errcode).
    pub fn rules(&self) -> Rules {
        self.errcode
            .and_then(errcodes::lookup)
            .map(|e| e.rules)
            .unwrap_or_default()
    }
    /// Whether the next change on the same lock would fail the same way (the purge's stop
    /// rule): the errcode table's word for a known errcode, else the code's.
    pub fn stops_lock(&self) -> bool {
        match self.errcode.and_then(errcodes::lookup) {
            Some(e) => e.rules.stops_lock,
            None if self.errcode.is_some() => false,
            None => self.code.stops_lock(),
        }
    }
    /// True when the request may have reached TTLock and been carried out although no answer
    /// says so (answer lost, 5xx or unreadable answer after sending, timeout). An operation
    /// that is not idempotent must look before repeating.
    pub fn maybe_done(&self) -> bool {
        self.maybe_done
    }
    /// Programmer misuse: raised in Lua, not returned.
    pub fn is_misuse(&self) -> bool {
        self.misuse
    }

    /// The same error with an HTTP status.
    pub fn with_http_status(mut self, status: u16) -> Error {
        self.http_status = Some(status);
        self
    }
    /// The same error, marked as possibly carried out.
    pub fn with_maybe_done(mut self, maybe_done: bool) -> Error {
        self.maybe_done = maybe_done;
        self
    }
    /// The same error with another message (code, advice, errcode, HTTP status and flags kept).
    pub fn with_message(mut self, message: impl Into<String>) -> Error {
        self.message = message.into();
        self
    }
    /// The same error with another advice (for a status text).
    pub fn with_advice(mut self, advice: impl Into<String>) -> Error {
        self.advice = Some(advice.into());
        self
    }
    /// Prefix the message with context ("lock 123: …"); the advice stays short.
    pub fn context(mut self, what: impl fmt::Display) -> Error {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("code", &self.code.as_str())
            .field("message", &self.message)
            .field("advice", &self.advice())
            .field("errcode", &self.errcode)
            .field("http_status", &self.http_status)
            .field("maybe_done", &self.maybe_done)
            .finish()
    }
}

impl std::error::Error for Error {}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errcode_mapping_follows_the_contract() {
        let table: &[(&[i64], Code)] = &[
            (&[-3003, -3037], Code::GatewayBusy),
            (&[-3002], Code::GatewayOffline),
            (&[-2012, -3036], Code::LockOffline),
            (&[-3007], Code::PasscodeExists),
            (&[-3009, -4056], Code::StorageFull),
            (&[-4043], Code::NotSupported),
            (&[-2018, 20002, 30001, -3046], Code::PermissionDenied),
            (&[30006, 30007], Code::QuotaExceeded),
            (&[-2009, -1003, -1008], Code::NotFound),
            (&[10000, 10001, 10007, 10011], Code::AuthFailed),
            (&[80000], Code::ClockSkew),
            (&[1, -3, 90000, -3006, 30008, 12345], Code::ApiError),
        ];
        for (errcodes, code) in table {
            for &e in *errcodes {
                let err = Error::from_errcode(e, Some("x"));
                assert_eq!(err.code(), *code, "errcode {e}");
                assert_eq!(err.errcode(), Some(e));
                assert_eq!(err.http_status_code(), None);
            }
        }
    }

    #[test]
    fn codes_are_the_contract_strings() {
        let all = [
            (Code::InvalidArgument, "invalid_argument"),
            (Code::NotConfigured, "not_configured"),
            (Code::AuthFailed, "auth_failed"),
            (Code::ClockSkew, "clock_skew"),
            (Code::Network, "network"),
            (Code::Timeout, "timeout"),
            (Code::Tls, "tls"),
            (Code::HttpStatus, "http_status"),
            (Code::BadResponse, "bad_response"),
            (Code::GatewayBusy, "gateway_busy"),
            (Code::GatewayOffline, "gateway_offline"),
            (Code::LockOffline, "lock_offline"),
            (Code::PasscodeExists, "passcode_exists"),
            (Code::StorageFull, "storage_full"),
            (Code::NotSupported, "not_supported"),
            (Code::PermissionDenied, "permission_denied"),
            (Code::QuotaExceeded, "quota_exceeded"),
            (Code::NotFound, "not_found"),
            (Code::ApiError, "api_error"),
        ];
        for (c, s) in all {
            assert_eq!(c.as_str(), s);
            assert_eq!(c.to_string(), s);
        }
    }

    #[test]
    fn messages_say_what_to_do() {
        let m = Error::from_errcode(80000, Some("date must be current time"));
        assert!(m
            .message()
            .starts_with("the controller's clock is more than 5 minutes off: check its NTP"));
        assert!(m.message().contains("80000"));
        let m = Error::from_errcode(10007, None);
        assert!(m
            .message()
            .contains("TTLock app account that owns the locks"));
        let m = Error::from_answer(-4043, None, Some("/v3/lock/unlock"));
        assert!(m.message().contains("Remote unlock is off for this lock"));
        assert!(m.advice().starts_with("Remote unlock is off"));
        assert_eq!(
            Error::from_errcode(-4043, None).advice(),
            "the lock does not support this function"
        );
        // Unknown errcodes keep TTLock's own words.
        let m = Error::from_errcode(-9999, Some("  something odd "));
        assert_eq!(m.message(), "TTLock error -9999: something odd");
        assert_eq!(
            Error::from_errcode(-9999, None).message(),
            "TTLock error -9999"
        );
        // Advice: the errcode's, else the code's, else the message.
        assert_eq!(m.advice(), m.message());
        assert!(Error::new(Code::Network, "cannot connect to x: refused")
            .advice()
            .starts_with("no connection to TTLock"));
        assert_eq!(Error::invalid_argument("bad").advice(), "bad");
        assert_eq!(
            Error::from_errcode(-3002, None).context("lock 5").advice(),
            "the gateway is offline: check its power and network"
        );
    }

    #[test]
    fn the_stop_rule_lists_what_stops_a_lock() {
        for stop in [-3002, -2012, -3003, 10004, 30007, -1003, -4043, 80000] {
            assert!(Error::from_errcode(stop, None).stops_lock(), "{stop}");
        }
        for go_on in [-2009, 1, -3, 90000, -12345] {
            assert!(!Error::from_errcode(go_on, None).stops_lock(), "{go_on}");
        }
        assert!(!Error::http_status(503, "/x").stops_lock());
        assert!(!Error::new(Code::BadResponse, "b").stops_lock());
        assert!(Error::new(Code::Timeout, "t").stops_lock());
        assert!(Error::new(Code::Network, "n").stops_lock());
    }

    #[test]
    fn http_status_and_flags() {
        let e = Error::http_status(503, "/v3/lock/list");
        assert_eq!(e.code(), Code::HttpStatus);
        assert_eq!(e.http_status_code(), Some(503));
        assert!(e.message().contains("503"));
        assert!(!e.maybe_done());
        assert!(e.clone().with_maybe_done(true).maybe_done());
        assert!(Error::misuse(Code::InvalidArgument, "x").is_misuse());
        assert!(!Error::invalid_argument("x").is_misuse());
        assert_eq!(
            Error::invalid_argument("bad").context("lock 5").message(),
            "lock 5: bad"
        );
        let m = Error::from_errcode(-3007, None)
            .with_maybe_done(true)
            .with_message("other");
        assert_eq!(
            (m.code(), m.errcode(), m.message(), m.maybe_done()),
            (Code::PasscodeExists, Some(-3007), "other", true)
        );
    }
}
