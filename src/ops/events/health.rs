//! The site's health: batteries, gateways, the token and the month's calls, with an alert on
//! each change of state (battery low, gateway offline, gateway back, token near its end without
//! credentials, TTLock unreachable and back), never on every check.
//!
//! Two calls for the whole site: `lock/list` (batteries, as TTLock last heard them) and
//! `gateway/list`. The month's count is TTLock's own (`getMonthRequestCount`, no `/v3` call)
//! where the account allows it, else the module's (`state_dir`), which a reboot of a
//! controller whose `state_dir` is in RAM would lose: the state kept by the host carries the
//! last count, and the module's counter is raised back to it.

use serde::{Deserialize, Serialize};

use crate::api;
use crate::client::Client;
use crate::error::{Code, Error, Result};
use crate::ops::site;
use crate::state;
use crate::transport::now_ms;

const VERSION: u32 = 1;
const DAY_MS: i64 = 86_400_000;
/// A battery counts as replaced (the alarm clears) this many points above the threshold, so a
/// reading that wobbles around it does not alert again and again.
pub const BATTERY_HYSTERESIS: i64 = 5;
/// Default low-battery threshold, percent.
pub const DEFAULT_BATTERY_LOW: i64 = 20;
/// TTLock's own count of the month is asked at most this often.
const TTLOCK_COUNT_EVERY_MS: i64 = 3_600_000;
/// Default warning before the access token's end, in days.
pub const DEFAULT_TOKEN_WARN_DAYS: i64 = 14;

/// What `site_health` is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRequest {
    /// The state the last check returned (`None`: the first check).
    pub previous: Option<String>,
    /// A battery at or below this percent is low.
    pub battery_low: i64,
    /// Warn this many days before the access token ends, when no credentials can renew it.
    pub token_warn_days: i64,
}

impl HealthRequest {
    /// Misuse, raised before anything is sent.
    pub fn check(&self) -> Result<()> {
        if !(0..=100).contains(&self.battery_low) {
            return Err(Error::misuse(
                Code::InvalidArgument,
                format!(
                    "site_health: battery_low must be 0 to 100 (percent), got {}",
                    self.battery_low
                ),
            ));
        }
        if !(0..=90).contains(&self.token_warn_days) {
            return Err(Error::misuse(
                Code::InvalidArgument,
                format!(
                    "site_health: token_warn_days must be 0 to 90, got {}",
                    self.token_warn_days
                ),
            ));
        }
        Ok(())
    }
}

/// What the last check saw (kept by the host between checks; no secrets, no digits).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthState {
    /// Format version.
    pub v: u32,
    /// Locks whose battery alarm is on.
    #[serde(default)]
    pub low: Vec<i64>,
    /// Gateways last seen offline.
    #[serde(default)]
    pub offline: Vec<i64>,
    /// The token warning is on.
    #[serde(default)]
    pub token_warned: bool,
    /// The last check failed.
    #[serde(default)]
    pub failing: bool,
    /// The month (Beijing time, `YYYY-MM`) and the calls counted by then.
    #[serde(default)]
    pub month: String,
    /// See `month`.
    #[serde(default)]
    pub calls: u64,
    /// When TTLock's own count was last asked (0: never, or it failed).
    #[serde(default)]
    pub ttlock_ms: i64,
    /// Whether TTLock answered then.
    #[serde(default)]
    pub ttlock_ok: bool,
    /// Its answer then.
    #[serde(default)]
    pub ttlock_calls: u64,
    /// The module's count then.
    #[serde(default)]
    pub own_at_ttlock: u64,
}

/// One lock's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHealth {
    /// lockId.
    pub lock_id: i64,
    /// The name to show: the alias from the TTLock app, else the lock's own name.
    pub name: String,
    /// Percent, as TTLock last heard it.
    pub battery: Option<i64>,
    /// The low-battery alarm is on.
    pub low: bool,
    /// A gateway reaches the lock.
    pub has_gateway: Option<bool>,
}

/// One gateway's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayHealth {
    /// gatewayId.
    pub gateway_id: i64,
    /// Its name in the TTLock app.
    pub name: String,
    /// Online as TTLock sees it (it keeps saying `true` for minutes after a power cut).
    pub online: bool,
}

/// The outcome of one check.
#[derive(Debug, Clone)]
pub struct Health {
    /// The account answered both listings.
    pub ok: bool,
    /// Why not (`ok == false`).
    pub error: Option<Error>,
    /// Every lock of the account.
    pub locks: Vec<LockHealth>,
    /// Every gateway of the account.
    pub gateways: Vec<GatewayHealth>,
    /// Days until the access token ends (`None`: no token).
    pub token_days: Option<f64>,
    /// Whether a login can renew the tokens without a person (username and password set).
    pub has_credentials: bool,
    /// API calls this month.
    pub calls: u64,
    /// Where `calls` comes from: `"ttlock"` (TTLock's own count) or `"module"`.
    pub calls_source: &'static str,
    /// Alerts for the changes of state found by this check.
    pub alerts: Vec<String>,
    /// Log lines (changes that need no one: a battery replaced).
    pub logs: Vec<String>,
    /// The state to keep for the next check.
    pub state: HealthState,
}

/// The state given back by the host; an unreadable one counts as none (the next alerts may
/// repeat once), never as an error.
pub fn parse_state(text: Option<&str>) -> HealthState {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default()
}

/// One health check. Never fails: a failed listing gives `ok = false` with the error, and the
/// previous state of batteries and gateways is kept.
pub fn site_health(c: &Client, req: &HealthRequest) -> Health {
    let now = now_ms();
    let prev = parse_state(req.previous.as_deref());
    let mut next = HealthState {
        v: VERSION,
        ..prev.clone()
    };
    let mut alerts = Vec::new();
    let mut logs = Vec::new();

    let listed = site::list_locks(c).and_then(|l| Ok((l, site::list_gateways(c)?)));
    let (locks, gateways, error) = match listed {
        Ok((l, g)) => (l, g, None),
        Err(e) => (Vec::new(), Vec::new(), Some(e)),
    };
    let ok = error.is_none();
    match (&error, prev.failing) {
        (Some(e), false) => alerts.push(format!(
            "TTLock: the site check failed: {}. {}",
            e.message(),
            advice_sentence(e)
        )),
        (None, true) => alerts.push("TTLock: the site check works again".to_string()),
        _ => {}
    }
    next.failing = !ok;

    let mut lock_health = Vec::new();
    if ok {
        next.low.clear();
        for l in &locks {
            let name = lock_name(l);
            let was_low = prev.low.contains(&l.lock_id);
            let low = match l.battery {
                Some(b) if b <= req.battery_low => true,
                Some(b) if was_low && b < req.battery_low + BATTERY_HYSTERESIS => true,
                Some(_) => false,
                None => was_low,
            };
            match (low, was_low, l.battery) {
                (true, false, Some(b)) => alerts.push(format!(
                    "TTLock: battery low on {name} (lock {}): {b} % (alarm at {} %). Replace the batteries soon: a lock with flat batteries opens for no code",
                    l.lock_id, req.battery_low
                )),
                (false, true, Some(b)) => logs.push(format!(
                    "ttlock: battery of {name} (lock {}) is back at {b} %: alarm cleared",
                    l.lock_id
                )),
                _ => {}
            }
            if low {
                next.low.push(l.lock_id);
            }
            lock_health.push(LockHealth {
                lock_id: l.lock_id,
                name,
                battery: l.battery,
                low,
                has_gateway: l.has_gateway,
            });
        }
        next.offline.clear();
        for g in &gateways {
            let name = gateway_name(g);
            // TTLock leaves isOnline out of some answers: unknown keeps what was known.
            let was_offline = prev.offline.contains(&g.gateway_id);
            let online = g.is_online.unwrap_or(!was_offline);
            if !online && !was_offline {
                alerts.push(format!(
                    "TTLock: gateway {name} (id {}) is offline: the doors it serves get no new codes, changes or remote unlocks. Check its power and network (Wi-Fi or cable)",
                    g.gateway_id
                ));
            } else if online && was_offline {
                alerts.push(format!(
                    "TTLock: gateway {name} (id {}) is back online",
                    g.gateway_id
                ));
            }
            if !online {
                next.offline.push(g.gateway_id);
            }
        }
    }
    let gateway_health: Vec<GatewayHealth> = gateways
        .iter()
        .map(|g| {
            let was_offline = prev.offline.contains(&g.gateway_id);
            GatewayHealth {
                gateway_id: g.gateway_id,
                name: gateway_name(g),
                online: g.is_online.unwrap_or(!was_offline),
            }
        })
        .collect();

    // Counted after the listings, so that they are in it.
    let (calls, calls_source) = month_calls(c, &prev, now, &mut next);

    let token = c.token_info().ok();
    let token_days = token
        .as_ref()
        .and_then(|t| t.expires_at_ms)
        .map(|exp| (exp - now) as f64 / DAY_MS as f64);
    let has_credentials = c.config().has_credentials();
    let near = !has_credentials && token_days.is_some_and(|d| d <= req.token_warn_days as f64);
    if near && !prev.token_warned {
        let days = token_days.unwrap_or(0.0).max(0.0);
        alerts.push(format!(
            "TTLock: the access token ends in {days:.0} day(s) and no username / password_md5 is set to renew it by a login. Set them in ttlock_config (the TTLock app account and the md5 of its password), or the module stops working when the token ends"
        ));
    }
    next.token_warned = near;

    for line in &logs {
        c.log(line.clone());
    }
    Health {
        ok,
        error,
        locks: lock_health,
        gateways: gateway_health,
        token_days,
        has_credentials,
        calls,
        calls_source,
        alerts,
        logs,
        state: next,
    }
}

fn gateway_name(g: &api::GatewayInfo) -> String {
    g.name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("gateway {}", g.gateway_id))
}

fn lock_name(l: &api::LockItem) -> String {
    [&l.alias, &l.name]
        .into_iter()
        .flatten()
        .find(|n| !n.trim().is_empty())
        .cloned()
        .unwrap_or_else(|| format!("lock {}", l.lock_id))
}

/// The error's advice as a sentence ("Check ...").
fn advice_sentence(e: &Error) -> String {
    let a = e.advice();
    let mut chars = a.chars();
    match chars.next() {
        Some(f) => f.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// This month's calls: TTLock's count where the account allows it, else the module's. The
/// module's counter is first raised to what the last check saw (a reboot may have emptied it).
fn month_calls(
    c: &Client,
    prev: &HealthState,
    now: i64,
    next: &mut HealthState,
) -> (u64, &'static str) {
    let dir = &c.config().state_dir;
    let month = state::beijing_month(now);
    if prev.month == month {
        if let Err(e) = state::raise_calls(dir, now, prev.calls) {
            c.log(format!(
                "ttlock: could not restore this month's call count: {}",
                e.message()
            ));
        }
    }
    let own = state::month_calls(dir, now).map(|(_, n)| n).unwrap_or(0);
    let same_month = prev.month == month;
    // TTLock's count is asked at most hourly; in between it is the last answer plus the calls
    // counted here since.
    let fresh = same_month && prev.ttlock_ms > 0 && now - prev.ttlock_ms < TTLOCK_COUNT_EVERY_MS;
    let (calls, source) = if fresh && !prev.ttlock_ok {
        (own, "module")
    } else if fresh {
        let since = own.saturating_sub(prev.own_at_ttlock);
        ((prev.ttlock_calls + since).max(own), "ttlock")
    } else {
        match api::month_request_count(c) {
            Ok(n) if n >= 0 => {
                next.ttlock_ms = now;
                next.ttlock_ok = true;
                next.ttlock_calls = n as u64;
                next.own_at_ttlock = own;
                ((n as u64).max(own), "ttlock")
            }
            _ => {
                // Not every account may ask: try again in an hour.
                next.ttlock_ms = now;
                next.ttlock_ok = false;
                (own, "module")
            }
        }
    };
    next.month = month;
    next.calls = own.max(if prev.month == next.month {
        prev.calls
    } else {
        0
    });
    (calls, source)
}
