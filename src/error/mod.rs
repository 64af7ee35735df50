//! The one error type of the crate: a stable `code()` (the Lua contract's `err.code`), a message
//! that says what to do, and the TTLock errcode / HTTP status when there is one.
//!
//! Messages never contain secrets: they are built from fixed texts, TTLock's `errmsg` and
//! transport errors whose URL has been stripped (see `http.rs`).
use std::fmt;

/// Stable error codes (lua-api.md "Return conventions"). Never rename: scripts compare them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    InvalidArgument,
    NotConfigured,
    AuthFailed,
    ClockSkew,
    Network,
    Timeout,
    Tls,
    HttpStatus,
    BadResponse,
    GatewayBusy,
    GatewayOffline,
    LockOffline,
    PasscodeExists,
    StorageFull,
    NotSupported,
    PermissionDenied,
    QuotaExceeded,
    NotFound,
    ApiError,
}

impl Code {
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

    /// The contract code for a TTLock errcode (ttlock-api.md §9).
    pub fn from_errcode(errcode: i64) -> Code {
        match errcode {
            -3003 | -3037 => Code::GatewayBusy,
            -3002 => Code::GatewayOffline,
            -2012 | -3036 => Code::LockOffline,
            -3007 => Code::PasscodeExists,
            -3009 | -4056 => Code::StorageFull,
            -4043 => Code::NotSupported,
            -2018 | 20002 | 30001 | -3046 => Code::PermissionDenied,
            30006 | 30007 => Code::QuotaExceeded,
            -2009 | -1003 | -1008 => Code::NotFound,
            10000 | 10001 | 10003 | 10004 | 10007 | 10011 => Code::AuthFailed,
            80000 => Code::ClockSkew,
            _ => Code::ApiError,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do about a TTLock errcode, in words an integrator can act on.
fn advice(errcode: i64) -> Option<&'static str> {
    Some(match errcode {
        80000 => "the controller's clock is more than 5 minutes off; check NTP",
        10007 => "wrong TTLock app username or password (use the TTLock app account, password md5)",
        -4043 => "remote unlock is off in the TTLock app for this lock, or the lock cannot do it",
        10000 => "unknown client_id: check client_id and api_base (apps registered on euopen.ttlock.com use https://euapi.ttlock.com)",
        10001 => "client_id or client_secret rejected: copy both again from the TTLock developer portal",
        10003 => "TTLock does not know this access token (other region or never issued): log in again",
        10004 => "the access token is expired or revoked and could not be renewed: log in again",
        10011 => "the refresh token was rejected: log in again (ttlock.login, or configure username and password_md5)",
        -3003 => "the gateway is busy; try again in a few seconds",
        -3037 => "the lock is busy; try again in a few seconds",
        -3002 => "the gateway is offline: check its power and network",
        -2012 => "no gateway reaches this lock: place a gateway near it or check it in the TTLock app",
        -3036 => "the lock is offline: check its battery and gateway",
        -3035 => "the WiFi lock is in power-saving mode and cannot be reached now",
        -3034 => "the WiFi lock has no network configured",
        -3007 => "this passcode already exists on the lock: choose another one",
        -3009 => "the lock's passcode storage is full: delete unused passcodes",
        -4056 => "the lock's memory is full: delete unused passcodes, cards or fingerprints",
        -3006 => "invalid passcode length: use 4 to 9 digits",
        -2032 => "the passcode is too simple: avoid repeated or consecutive digits",
        -3008 => "a passcode that was never used on the lock cannot be changed",
        -2025 => "the lock is frozen and cannot be operated now",
        -2018 => "permission denied: the TTLock account must administer this lock",
        20002 => "the TTLock account is not an administrator of this lock",
        30001 => "this TTLock application has no permission for this API",
        -3046 => "this TTLock account has no remote-unlock permission for the lock",
        30006 => "TTLock API call limit exceeded: call less often",
        30007 => "the monthly TTLock API call limit is used up: it resets on the 1st (Beijing time)",
        30008 => "cross-site access: mainland-China accounts use cnapi.ttlock.com, all others euapi.ttlock.com",
        -2009 => "this passcode does not exist on the lock",
        -1003 => "this lock does not exist in the TTLock account: check the lock id",
        -1008 => "this eKey does not exist",
        -1007 => "the lock has no passcode data: reset its passcodes in the TTLock app",
        -3 => "TTLock rejected a parameter",
        90000 => "TTLock internal server error; try again later",
        _ => return None,
    })
}

/// An error of the ttlock core.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    code: Code,
    message: String,
    errcode: Option<i64>,
    http_status: Option<u16>,
    maybe_done: bool,
    misuse: bool,
}

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
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

    pub fn invalid_argument(message: impl Into<String>) -> Error {
        Error::new(Code::InvalidArgument, message)
    }

    /// TTLock answered `{"errcode": n, "errmsg": …}` with n != 0.
    pub fn from_errcode(errcode: i64, errmsg: Option<&str>) -> Error {
        let errmsg = errmsg.map(str::trim).filter(|m| !m.is_empty());
        let message = match (advice(errcode), errmsg) {
            (Some(a), _) => format!("{a} (TTLock errcode {errcode})"),
            (None, Some(m)) => format!("TTLock error {errcode}: {m}"),
            (None, None) => format!("TTLock error {errcode}"),
        };
        Error {
            errcode: Some(errcode),
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

    pub fn code(&self) -> Code {
        self.code
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn errcode(&self) -> Option<i64> {
        self.errcode
    }
    pub fn http_status_code(&self) -> Option<u16> {
        self.http_status
    }
    /// True when the request may have reached TTLock and been carried out although no answer
    /// says so (answer lost, 5xx or unreadable answer after sending, timeout). An operation
    /// that is not idempotent must look before repeating.
    pub fn maybe_done(&self) -> bool {
        self.maybe_done
    }
    pub fn is_misuse(&self) -> bool {
        self.misuse
    }

    pub fn with_http_status(mut self, status: u16) -> Error {
        self.http_status = Some(status);
        self
    }
    pub fn with_maybe_done(mut self, maybe_done: bool) -> Error {
        self.maybe_done = maybe_done;
        self
    }
    /// The same error with another message (code, errcode, HTTP status and flags kept).
    pub fn with_message(mut self, message: impl Into<String>) -> Error {
        self.message = message.into();
        self
    }
    /// Prefix the message with context ("lock 123: …").
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
            .field("errcode", &self.errcode)
            .field("http_status", &self.http_status)
            .field("maybe_done", &self.maybe_done)
            .finish()
    }
}

impl std::error::Error for Error {}

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
            .starts_with("the controller's clock is more than 5 minutes off; check NTP"));
        assert!(m.message().contains("80000"));
        let m = Error::from_errcode(10007, None);
        assert!(m
            .message()
            .contains("use the TTLock app account, password md5"));
        let m = Error::from_errcode(-4043, None);
        assert!(m
            .message()
            .contains("remote unlock is off in the TTLock app"));
        // Unknown errcodes keep TTLock's own words.
        let m = Error::from_errcode(-9999, Some("  something odd "));
        assert_eq!(m.message(), "TTLock error -9999: something odd");
        assert_eq!(
            Error::from_errcode(-9999, None).message(),
            "TTLock error -9999"
        );
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
