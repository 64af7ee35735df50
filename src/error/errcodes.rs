//! Every TTLock errcode the module knows (ttlock-api.md §9), in one table: its contract
//! [`Code`], the advice an integrator or a receptionist can act on, and what it means for the
//! module's rules. Every rule that depends on an errcode (retries, token renewal, the purge's
//! stop rule, the gateway map, the look-ups after an add) reads this table and nothing else.
use super::Code;

/// What an errcode means for the module's rules. Each flag is read by exactly one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rules {
    /// TTLock did nothing with the request: sending the same request again is harmless, also
    /// on an endpoint that is not idempotent.
    pub nothing_done: bool,
    /// Sending the request again a little later can succeed (the transport retries it with
    /// back-off, when repeating is harmless).
    pub retry_later: bool,
    /// The access token was not accepted: renew it once and repeat the call once.
    pub access_token_rejected: bool,
    /// Said to a refresh grant, the refresh token was refused (whatever the errcode): fall back
    /// to a password grant when credentials exist.
    pub refresh_rejected: bool,
    /// Every further change on the same lock would fail the same way: the purge stops there.
    pub stops_lock: bool,
    /// The gateway stored for the lock may be wrong: learn it again.
    pub gateway_stale: bool,
    /// The passcode (or other item) named in the request does not exist: a delete of it is
    /// already done.
    pub item_gone: bool,
    /// The answer does not say whether the request was carried out: an operation that is not
    /// idempotent must look before repeating it (an add looks its code up; an unlock is not
    /// repeated).
    pub outcome_unknown: bool,
}

impl Rules {
    const NONE: Rules = Rules {
        nothing_done: false,
        retry_later: false,
        access_token_rejected: false,
        refresh_rejected: false,
        stops_lock: false,
        gateway_stale: false,
        item_gone: false,
        outcome_unknown: false,
    };
    /// Busy for now: nothing was done, and the same request can succeed in a moment.
    const BUSY: Rules = Rules {
        nothing_done: true,
        retry_later: true,
        stops_lock: true,
        ..Rules::NONE
    };
    /// A condition of the whole lock or account: nothing was done, and the next change on the
    /// lock would fail the same way.
    const LOCK_WIDE: Rules = Rules {
        nothing_done: true,
        stops_lock: true,
        ..Rules::NONE
    };
}

/// One known errcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errcode {
    /// TTLock's number.
    pub errcode: i64,
    /// The contract code it maps to.
    pub code: Code,
    /// What happened and what to do, in words for the +9 status and the log.
    pub advice: &'static str,
    /// Advice that replaces [`Errcode::advice`] on particular endpoints: (path, advice).
    pub advice_on: &'static [(&'static str, &'static str)],
    /// What it means for the rules.
    pub rules: Rules,
}

const fn entry(errcode: i64, code: Code, advice: &'static str, rules: Rules) -> Errcode {
    Errcode {
        errcode,
        code,
        advice,
        advice_on: &[],
        rules,
    }
}

const UNLOCK: &str = "/v3/lock/unlock";
const LOCK: &str = "/v3/lock/lock";
const ADD: &str = "/v3/keyboardPwd/add";

/// The table. An errcode missing here maps to `api_error` with TTLock's own message.
pub const ERRCODES: &[Errcode] = &[
    entry(
        -3003,
        Code::GatewayBusy,
        "the gateway is busy: try again in a minute",
        Rules::BUSY,
    ),
    entry(
        -3037,
        Code::GatewayBusy,
        "the lock is busy: try again in a minute",
        Rules::BUSY,
    ),
    entry(
        -3002,
        Code::GatewayOffline,
        "the gateway is offline: check its power and network",
        Rules {
            gateway_stale: true,
            ..Rules::LOCK_WIDE
        },
    ),
    entry(
        -2012,
        Code::LockOffline,
        "no gateway reaches this lock: place a gateway near it, or check the lock in the TTLock app",
        Rules {
            gateway_stale: true,
            ..Rules::LOCK_WIDE
        },
    ),
    entry(
        -3036,
        Code::LockOffline,
        "the lock is offline: check its battery and its gateway",
        Rules::LOCK_WIDE,
    ),
    entry(
        -3035,
        Code::ApiError,
        "the WiFi lock is in power-saving mode and cannot be reached now: try again later",
        Rules::NONE,
    ),
    entry(
        -3034,
        Code::ApiError,
        "the WiFi lock has no network configured: set up its WiFi in the TTLock app",
        Rules::NONE,
    ),
    entry(
        -3007,
        Code::PasscodeExists,
        "this code is already on the lock: choose another code",
        Rules {
            nothing_done: true,
            stops_lock: true,
            ..Rules::NONE
        },
    ),
    entry(
        -3009,
        Code::StorageFull,
        "the lock's code memory is full: run the purge or delete unused codes",
        Rules::LOCK_WIDE,
    ),
    entry(
        -4056,
        Code::StorageFull,
        "the lock's memory is full: delete unused codes, cards or fingerprints",
        Rules::LOCK_WIDE,
    ),
    Errcode {
        errcode: -4043,
        code: Code::NotSupported,
        advice: "the lock does not support this function",
        advice_on: &[
            (
                UNLOCK,
                "Remote unlock is off for this lock: turn it on in the TTLock app (lock settings, Remote unlock)",
            ),
            (
                LOCK,
                "Remote unlock is off for this lock: turn it on in the TTLock app (lock settings, Remote unlock)",
            ),
            (
                ADD,
                "this lock cannot take codes through the gateway: add the code with the TTLock app next to the lock",
            ),
        ],
        rules: Rules::LOCK_WIDE,
    },
    entry(
        -3006,
        Code::ApiError,
        "the lock refused the code's length: use 4 to 9 digits",
        Rules::NONE,
    ),
    entry(
        -2032,
        Code::ApiError,
        "the code is too simple: avoid repeated or consecutive digits",
        Rules::NONE,
    ),
    entry(
        -3008,
        Code::ApiError,
        "a code that was never used on the lock cannot be changed: delete it and add a new one",
        Rules::NONE,
    ),
    entry(
        -2025,
        Code::ApiError,
        "the lock is frozen: unfreeze it in the TTLock app",
        Rules::NONE,
    ),
    entry(
        -1026,
        Code::ApiError,
        "a random code with this validity was issued before: ask for another whole hour",
        Rules {
            nothing_done: true,
            ..Rules::NONE
        },
    ),
    entry(
        -1007,
        Code::ApiError,
        "the lock has no passcode data: reset its passcodes in the TTLock app",
        Rules::NONE,
    ),
    entry(
        -2018,
        Code::PermissionDenied,
        "permission denied: the TTLock account must be the administrator of this lock",
        Rules::LOCK_WIDE,
    ),
    entry(
        20002,
        Code::PermissionDenied,
        "the TTLock account is not an administrator of this lock: log in with the lock's owner account",
        Rules::LOCK_WIDE,
    ),
    entry(
        30001,
        Code::PermissionDenied,
        "this TTLock application may not use this API: check the application on the TTLock developer portal",
        Rules::LOCK_WIDE,
    ),
    entry(
        -3046,
        Code::PermissionDenied,
        "this TTLock account may not unlock the lock remotely: give it the right in the TTLock app",
        Rules::LOCK_WIDE,
    ),
    entry(
        30006,
        Code::QuotaExceeded,
        "too many TTLock API calls: call less often",
        Rules::LOCK_WIDE,
    ),
    entry(
        30007,
        Code::QuotaExceeded,
        "the monthly TTLock API call limit is used up: it resets on the 1st (Beijing time)",
        Rules::LOCK_WIDE,
    ),
    entry(
        30008,
        Code::ApiError,
        "wrong region: mainland-China accounts use https://cnapi.ttlock.com, all others https://euapi.ttlock.com (api_base)",
        Rules::NONE,
    ),
    entry(
        -2009,
        Code::NotFound,
        "this code does not exist on the lock (any more)",
        Rules {
            nothing_done: true,
            item_gone: true,
            ..Rules::NONE
        },
    ),
    entry(
        -1003,
        Code::NotFound,
        "this lock is not in the TTLock account: check the LockId: comment",
        Rules::LOCK_WIDE,
    ),
    entry(
        -1008,
        Code::NotFound,
        "this eKey does not exist",
        Rules::NONE,
    ),
    entry(
        10000,
        Code::AuthFailed,
        "TTLock does not know this client_id: check client_id and api_base (apps registered on euopen.ttlock.com use https://euapi.ttlock.com)",
        Rules::LOCK_WIDE,
    ),
    entry(
        10001,
        Code::AuthFailed,
        "client_id or client_secret rejected: copy both again from the TTLock developer portal into ttlock_config",
        Rules::LOCK_WIDE,
    ),
    entry(
        10003,
        Code::AuthFailed,
        "TTLock does not know this access token (other region or never issued): log in again",
        Rules {
            access_token_rejected: true,
            refresh_rejected: true,
            ..Rules::LOCK_WIDE
        },
    ),
    entry(
        10004,
        Code::AuthFailed,
        "the access token is expired or revoked and could not be renewed: log in again",
        Rules {
            access_token_rejected: true,
            refresh_rejected: true,
            ..Rules::LOCK_WIDE
        },
    ),
    entry(
        10007,
        Code::AuthFailed,
        "wrong TTLock app username or password: set username and password_md5 of the TTLock app account that owns the locks",
        Rules {
            refresh_rejected: true,
            ..Rules::LOCK_WIDE
        },
    ),
    entry(
        10011,
        Code::AuthFailed,
        "the refresh token was rejected: log in again (set username and password_md5 in ttlock_config, or call ttlock.login)",
        Rules {
            refresh_rejected: true,
            ..Rules::LOCK_WIDE
        },
    ),
    entry(
        80000,
        Code::ClockSkew,
        "the controller's clock is more than 5 minutes off: check its NTP settings",
        Rules::LOCK_WIDE,
    ),
    entry(
        -3,
        Code::ApiError,
        "TTLock rejected a parameter",
        Rules::NONE,
    ),
    // No source says what TTLock did before failing: a query is repeated, anything else looks
    // before repeating.
    entry(
        90000,
        Code::ApiError,
        "TTLock had an internal server error: try again later",
        Rules {
            retry_later: true,
            outcome_unknown: true,
            ..Rules::NONE
        },
    ),
    // "failed or means no": field reports show it from unlock and from add, where the code
    // sometimes reached the lock all the same.
    entry(
        1,
        Code::ApiError,
        "TTLock answered 'failed' without saying what was done: check the result before trying again",
        Rules {
            outcome_unknown: true,
            ..Rules::NONE
        },
    ),
];

/// The table entry of an errcode.
pub fn lookup(errcode: i64) -> Option<&'static Errcode> {
    ERRCODES.iter().find(|e| e.errcode == errcode)
}

impl Errcode {
    /// The advice for an answer of the endpoint at `path` (`None`: any endpoint).
    pub fn advice_for(&self, path: Option<&str>) -> &'static str {
        path.and_then(|p| self.advice_on.iter().find(|(on, _)| *on == p))
            .map_or(self.advice, |(_, a)| a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_errcode_is_listed_once_with_advice() {
        for (i, e) in ERRCODES.iter().enumerate() {
            assert!(
                ERRCODES[i + 1..].iter().all(|o| o.errcode != e.errcode),
                "{} twice",
                e.errcode
            );
            assert!(!e.advice.is_empty());
            assert!(!e.advice.ends_with('.'), "{}: no full stop", e.errcode);
        }
    }

    #[test]
    fn endpoint_advice_replaces_the_general_one() {
        let e = lookup(-4043).unwrap();
        assert!(e
            .advice_for(Some(UNLOCK))
            .contains("turn it on in the TTLock app"));
        assert!(e.advice_for(Some(ADD)).contains("cannot take codes"));
        assert_eq!(e.advice_for(None), e.advice);
        assert_eq!(e.advice_for(Some("/v3/lock/list")), e.advice);
    }

    #[test]
    fn only_retryable_errcodes_are_retried() {
        let retried: Vec<i64> = ERRCODES
            .iter()
            .filter(|e| e.rules.retry_later)
            .map(|e| e.errcode)
            .collect();
        assert_eq!(retried, vec![-3003, -3037, 90000]);
    }
}
