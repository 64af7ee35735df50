//! Fault injection and counters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What happens to a request a fault catches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Waits `delay_ms`, then handles the request normally.
    Delay,
    /// The request is read, then the connection is closed; nothing is done.
    DropBefore,
    /// The request is carried out, then the connection is closed without an answer.
    LoseAnswer,
    /// Answers HTTP `status` (default 503) with an HTML body.
    HttpStatus,
    /// Answers HTTP 200 with a body that is not valid JSON.
    InvalidJson,
    /// Answers `{"errcode": errcode, ...}` (default -3003).
    Errcode,
    /// A TCP connection is accepted and closed before TLS. Path and lock id are ignored: it
    /// applies to the next `count` connections (no path is known before TLS).
    DropConnect,
    /// Extension: answers the endpoint's success without doing anything (as TTLock does for some
    /// deletes of unknown ids).
    FakeSuccess,
    /// Answers errcode 1, "failed or means no" (field reports: `lock/unlock`, `keyboardPwd/add`),
    /// after carrying the request out when `perform` is set (the code reached the lock anyway).
    FailedOrNo,
}

/// One pending fault: the next `count` requests on `path` (`"*"` = any), and on lock `lock_id`
/// when it is set, get `kind`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    pub path: String,
    pub kind: FaultKind,
    /// Only requests whose `lockId` parameter (query or form) is this lock; others pass untouched
    /// and do not use up `count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_id: Option<i64>,
    /// How many requests it catches; a negative count never runs out (until cleared).
    #[serde(default = "one")]
    pub count: i64,
    /// For `delay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// For `http_status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// For `errcode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errcode: Option<i64>,
    /// For `http_status`, `invalid_json`, `errcode`: carry the request out first (default false:
    /// nothing is done).
    #[serde(default)]
    pub perform: bool,
}

fn one() -> i64 {
    1
}

impl Fault {
    pub fn new(path: &str, kind: FaultKind, count: i64) -> Fault {
        Fault {
            path: path.to_string(),
            kind,
            lock_id: None,
            count,
            delay_ms: None,
            status: None,
            errcode: None,
            perform: false,
        }
    }

    /// `Delay` of `ms`.
    pub fn delay(path: &str, ms: u64, count: i64) -> Fault {
        Fault::new(path, FaultKind::Delay, count).with_delay_ms(ms)
    }

    /// `HttpStatus` with `status`.
    pub fn http_status(path: &str, status: u16, count: i64) -> Fault {
        Fault::new(path, FaultKind::HttpStatus, count).with_status(status)
    }

    /// `Errcode` with `errcode`.
    pub fn errcode(path: &str, errcode: i64, count: i64) -> Fault {
        Fault::new(path, FaultKind::Errcode, count).with_errcode(errcode)
    }

    /// Catch only requests on lock `id`.
    pub fn with_lock_id(mut self, id: i64) -> Fault {
        self.lock_id = Some(id);
        self
    }

    pub fn with_delay_ms(mut self, ms: u64) -> Fault {
        self.delay_ms = Some(ms);
        self
    }

    pub fn with_status(mut self, status: u16) -> Fault {
        self.status = Some(status);
        self
    }

    pub fn with_errcode(mut self, errcode: i64) -> Fault {
        self.errcode = Some(errcode);
        self
    }

    /// Carry the request out before giving the faulty answer.
    pub fn performed(mut self) -> Fault {
        self.perform = true;
        self
    }

    /// Whether it catches a request on `path` whose `lockId` parameter is `lock_id`.
    pub(crate) fn matches(&self, path: &str, lock_id: Option<i64>) -> bool {
        self.kind != FaultKind::DropConnect
            && (self.path == "*" || self.path == path)
            && self.lock_id.is_none_or(|id| lock_id == Some(id))
    }
}

/// Takes one use of the first fault accepted by `pred`, dropping it when used up.
pub(crate) fn take_fault(faults: &mut Vec<Fault>, pred: impl Fn(&Fault) -> bool) -> Option<Fault> {
    let i = faults.iter().position(|f| f.count != 0 && pred(f))?;
    let f = faults[i].clone();
    if faults[i].count > 0 {
        faults[i].count -= 1;
        if faults[i].count == 0 {
            faults.remove(i);
        }
    }
    Some(f)
}

/// What the simulator counted since start or the last reset. Admin requests are not counted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// HTTPS requests per path (query string cut), whatever their outcome.
    pub requests: BTreeMap<String, u64>,
    /// TCP connections accepted on the HTTPS port (including `drop_connect` ones).
    pub tcp_connections: u64,
    /// Completed TLS handshakes.
    pub tls_handshakes: u64,
    /// Password-grant requests handled by `/oauth2/token` (accepted or rejected).
    pub token_grants: u64,
    /// Refresh-grant requests handled by `/oauth2/token` (accepted or rejected).
    pub token_refreshes: u64,
    /// -3003 answers sent because a gateway was busy (not injected ones).
    pub gateway_busy_sent: u64,
    /// Most requests at the gateway stage of one gateway at the same time, rejected ones included;
    /// JSON keys are the gateway ids as strings.
    pub max_in_flight_per_gateway: BTreeMap<i64, u64>,
}

impl Counters {
    /// Requests on `path` (0 when none).
    pub fn requests_to(&self, path: &str) -> u64 {
        self.requests.get(path).copied().unwrap_or(0)
    }

    /// All HTTPS requests.
    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }

    /// Requests under `/v3/` (API calls as TTLock bills them).
    pub fn api_calls(&self) -> u64 {
        self.requests
            .iter()
            .filter(|(p, _)| p.starts_with("/v3/"))
            .map(|(_, n)| n)
            .sum()
    }

    /// The largest in-flight figure over all gateways (0 when none).
    pub fn max_in_flight(&self) -> u64 {
        self.max_in_flight_per_gateway
            .values()
            .copied()
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_json_shape() {
        let f: Fault = serde_json::from_str(
            r#"{"path":"/v3/keyboardPwd/add","kind":"http_status","status":502,"count":2}"#,
        )
        .unwrap();
        assert_eq!(f, Fault::http_status("/v3/keyboardPwd/add", 502, 2));
        let f: Fault = serde_json::from_str(r#"{"path":"*","kind":"lose_answer"}"#).unwrap();
        assert_eq!(f.count, 1);
        assert!(serde_json::from_str::<Fault>(r#"{"path":"*","kind":"nope"}"#).is_err());
        let v = serde_json::to_value(Fault::delay("*", 5, 1)).unwrap();
        assert_eq!(v["kind"], "delay");
        assert_eq!(v["delay_ms"], 5);
        assert!(v.get("lock_id").is_none(), "no lock_id unless set");
        let f: Fault = serde_json::from_str(
            r#"{"path":"/v3/lock/unlock","kind":"drop_before","lock_id":1001}"#,
        )
        .unwrap();
        assert_eq!(
            f,
            Fault::new("/v3/lock/unlock", FaultKind::DropBefore, 1).with_lock_id(1001)
        );
        assert_eq!(serde_json::to_value(&f).unwrap()["lock_id"], 1001);
    }

    #[test]
    fn lock_id_filter_skips_other_locks_without_using_the_count() {
        let mut fs = vec![Fault::new("/a", FaultKind::DropBefore, 1).with_lock_id(1001)];
        assert!(take_fault(&mut fs, |f| f.matches("/a", Some(2001))).is_none());
        assert!(take_fault(&mut fs, |f| f.matches("/a", None)).is_none());
        assert!(take_fault(&mut fs, |f| f.matches("/b", Some(1001))).is_none());
        assert_eq!(
            fs[0].count, 1,
            "count untouched by the requests it let pass"
        );
        assert!(take_fault(&mut fs, |f| f.matches("/a", Some(1001))).is_some());
        assert!(fs.is_empty());
    }

    #[test]
    fn take_counts_down_and_skips() {
        let mut fs = vec![
            Fault::new("/a", FaultKind::DropBefore, 2),
            Fault::new("*", FaultKind::InvalidJson, -1),
            Fault::new("*", FaultKind::DropConnect, 1),
        ];
        let a = |f: &Fault| f.matches("/a", None);
        assert_eq!(take_fault(&mut fs, a).unwrap().kind, FaultKind::DropBefore);
        assert_eq!(take_fault(&mut fs, a).unwrap().kind, FaultKind::DropBefore);
        assert_eq!(fs.len(), 2);
        for _ in 0..5 {
            assert_eq!(take_fault(&mut fs, a).unwrap().kind, FaultKind::InvalidJson);
        }
        assert_eq!(fs.len(), 2, "negative count never runs out");
        let dc = take_fault(&mut fs, |f| f.kind == FaultKind::DropConnect).unwrap();
        assert_eq!(dc.kind, FaultKind::DropConnect);
        assert_eq!(fs.len(), 1);
    }

    #[test]
    fn counters_json_uses_string_gateway_keys() {
        let mut c = Counters::default();
        c.max_in_flight_per_gateway.insert(1, 2);
        c.requests.insert("/v3/lock/unlock".into(), 3);
        c.requests.insert("/oauth2/token".into(), 1);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["max_in_flight_per_gateway"]["1"], 2);
        let back: Counters = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
        assert_eq!(c.api_calls(), 3);
        assert_eq!(c.total_requests(), 4);
        assert_eq!(c.max_in_flight(), 2);
    }
}
