//! The commissioning check: what the LM commissioning script reports, run once by hand after an
//! install and again after any change. It reads and never changes anything on a lock.
//!
//! - The client id and secret, by TTLock's monthly call count (a call as the app: no token is
//!   read, refreshed or saved), so a wrong secret is found now, not at the first refresh weeks
//!   later.
//! - The tokens: a stored access token that has not expired is used as it is (it is never
//!   replaced while it works); only when there is none, or TTLock refuses it, the ordinary token
//!   lifecycle renews it (refresh token, then the app account's username and password_md5).
//!   With a wrong client id or secret and no usable token nothing is tried: it would fail.
//! - The account's locks (`lock/list`: only those it administers) and gateways, and for each
//!   gateway the locks it reaches (`gateway/listLock`), so every door the site uses is checked:
//!   administered by this account, a gateway reaches it, that gateway online, battery.
//!
//! Every problem is one entry, named once (an offline gateway once, with the doors behind it),
//! with what to do. Calls: one as the app, `lock/list`, `gateway/list`, one `gateway/listLock`
//! per gateway; a renewal only when no token works.
use std::collections::HashMap;

use crate::api::{self, GatewayInfo, LockItem};
use crate::client::{Client, TokenInfo};
use crate::error::{Code, Error, Result};
use crate::host::{bounded, MAX_WORKERS};
use crate::ops::site;
use crate::transport::now_ms;

/// Errcode of an unknown client id.
const UNKNOWN_CLIENT: i64 = 10000;
/// Errcode of a wrong client secret.
const WRONG_SECRET: i64 = 10001;

/// A door the site uses (a room lock, a common door, a door to open remotely).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Door {
    /// The `LockId:` of the objects or the settings.
    pub lock_id: i64,
    /// How the report names it (`Room 101 (32/1/0)`, `Main door`).
    pub name: String,
    /// Codes (or remote commands) go through a gateway: without one it cannot work.
    pub needs_gateway: bool,
}

/// What the check is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The site's doors (each lock once).
    pub doors: Vec<Door>,
    /// A door's battery at or below this percent is a problem.
    pub battery_low: i64,
}

/// The client id and secret.
#[derive(Debug, Clone)]
pub enum Secret {
    /// Right: TTLock's count of the month for the app.
    Right(i64),
    /// TTLock does not know the client id (10000).
    UnknownClient(Error),
    /// The secret is wrong (10001).
    Wrong(Error),
    /// Not checked: TTLock could not be asked (network, quota, ...).
    NotChecked(Error),
}

impl Secret {
    fn bad(&self) -> bool {
        matches!(self, Secret::UnknownClient(_) | Secret::Wrong(_))
    }
}

/// The tokens.
#[derive(Debug, Clone)]
pub enum Tokens {
    /// The stored access token worked (nothing was renewed).
    Working,
    /// No stored token worked; the token lifecycle got new ones (refresh or login).
    Renewed,
    /// No token worked and none could be had.
    Failed(Error),
    /// No usable token and the client id or secret is wrong: nothing tried.
    Skipped,
}

/// A door as the account sees it.
#[derive(Debug, Clone)]
pub struct DoorFact {
    /// The door asked about.
    pub door: Door,
    /// In the account's lock list (`None`: the list could not be read).
    pub administered: Option<bool>,
    /// The gateways that reach it, best first, with name and online (empty: none).
    pub gateways: Vec<(i64, Option<String>, Option<bool>)>,
}

/// One problem: what happened and what to do, in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `secret`, `client_id`, `tokens`, `listing`, `not_administered`, `no_gateway`,
    /// `gateway_offline`, `gateway_locks`, `battery`.
    pub kind: &'static str,
    /// The lock it is about.
    pub lock_id: Option<i64>,
    /// The gateway it is about.
    pub gateway_id: Option<i64>,
    /// The line.
    pub text: String,
}

/// The whole check.
#[derive(Debug, Clone)]
pub struct Report {
    /// The client id and secret.
    pub secret: Secret,
    /// The tokens.
    pub tokens: Tokens,
    /// The tokens after the check (no secrets).
    pub token_info: TokenInfo,
    /// Username and password_md5 are configured.
    pub has_credentials: bool,
    /// The account's locks, each with the gateways that reach it (`None`: not read).
    pub locks: Option<Vec<(LockItem, Vec<i64>)>>,
    /// The account's gateways (`None`: not read).
    pub gateways: Option<Vec<GatewayInfo>>,
    /// Why the locks or gateways could not be read.
    pub listing_error: Option<Error>,
    /// The doors asked about.
    pub doors: Vec<DoorFact>,
    /// Every problem, once.
    pub problems: Vec<Problem>,
    /// This controller's `/v3` calls this month (the module's count).
    pub module_calls: Option<u64>,
}

fn problem(
    kind: &'static str,
    lock_id: Option<i64>,
    gateway_id: Option<i64>,
    text: String,
) -> Problem {
    Problem {
        kind,
        lock_id,
        gateway_id,
        text,
    }
}

/// Runs the check (module comment).
pub fn check(c: &Client, req: &Request) -> Result<Report> {
    let mut problems = Vec::new();
    let secret = match api::month_request_count(c) {
        Ok(n) => Secret::Right(n),
        Err(e) if e.errcode() == Some(WRONG_SECRET) => Secret::Wrong(e),
        Err(e) if e.errcode() == Some(UNKNOWN_CLIENT) => Secret::UnknownClient(e),
        Err(e) => Secret::NotChecked(e),
    };
    match &secret {
        Secret::Wrong(_) => problems.push(problem(
            "secret",
            None,
            None,
            "client_secret is wrong: copy it again from the TTLock developer portal (euopen.ttlock.com \u{2192} your application) into ttlock_config; until then no token can be renewed".to_owned(),
        )),
        Secret::UnknownClient(_) => problems.push(problem(
            "client_id",
            None,
            None,
            format!(
                "TTLock at {} does not know this client_id: copy it again from the TTLock developer portal (euopen.ttlock.com \u{2192} your application); mainland-China apps use api_base https://cnapi.ttlock.com",
                c.config().api_base
            ),
        )),
        _ => {}
    }

    let before = c.load_tokens()?.unwrap_or_default();
    let usable = before.access_token.is_some() && !before.is_expired(now_ms());
    let mut locks = None;
    let mut gateways = None;
    let mut listing_error = None;
    let tokens = if secret.bad() && !usable {
        Tokens::Skipped
    } else {
        match site::list_locks(c) {
            Ok(l) => {
                locks = Some(l);
                let after = c.load_tokens()?.unwrap_or_default();
                if after.access_token != before.access_token {
                    Tokens::Renewed
                } else {
                    Tokens::Working
                }
            }
            Err(e) if e.code() == Code::AuthFailed => {
                // A wrong secret is said once, by its own line.
                let same = matches!(e.errcode(), Some(UNKNOWN_CLIENT | WRONG_SECRET));
                if !(secret.bad() && same) {
                    problems.push(problem("tokens", None, None, e.advice().to_owned()));
                }
                Tokens::Failed(e)
            }
            Err(e) => {
                problems.push(problem(
                    "listing",
                    None,
                    None,
                    format!("the account's locks could not be read: {}", e.advice()),
                ));
                listing_error = Some(e);
                Tokens::Working
            }
        }
    };

    // Gateways, and which locks each reaches.
    let mut reach: HashMap<i64, Vec<i64>> = HashMap::new();
    if locks.is_some() {
        match site::list_gateways(c) {
            Ok(g) => {
                let ids: Vec<i64> = g.iter().map(|g| g.gateway_id).collect();
                let lists = bounded(ids.clone(), MAX_WORKERS, |id| api::gateway_list_lock(c, id));
                for (info, r) in g.iter().zip(lists) {
                    match r {
                        Ok(list) => {
                            for l in list {
                                reach.entry(l.lock_id).or_default().push(info.gateway_id);
                            }
                        }
                        Err(e) => problems.push(problem(
                            "gateway_locks",
                            None,
                            Some(info.gateway_id),
                            format!(
                                "{}: the locks it reaches could not be read ({}): run this check again",
                                gateway_label(info),
                                e.advice()
                            ),
                        )),
                    }
                }
                gateways = Some(g);
            }
            Err(e) => {
                problems.push(problem(
                    "listing",
                    None,
                    None,
                    format!("the account's gateways could not be read: {}", e.advice()),
                ));
                listing_error = Some(e);
            }
        }
    }

    let gw_of = |id: i64| {
        gateways
            .as_ref()
            .and_then(|g| g.iter().find(|g| g.gateway_id == id))
    };
    let lock_of = |id: i64| {
        locks
            .as_ref()
            .and_then(|l| l.iter().find(|l: &&LockItem| l.lock_id == id))
    };

    // The doors, and their problems.
    let mut doors = Vec::new();
    let mut behind_offline: HashMap<i64, Vec<String>> = HashMap::new();
    for d in &req.doors {
        let item = lock_of(d.lock_id);
        let administered = locks.as_ref().map(|_| item.is_some());
        let mut gws = Vec::new();
        if let Some(ids) = reach.get(&d.lock_id) {
            for &g in ids {
                let info = gw_of(g);
                gws.push((
                    g,
                    info.and_then(|i| i.name.clone()),
                    info.and_then(|i| i.is_online),
                ));
            }
        }
        if administered == Some(false) {
            problems.push(problem(
                "not_administered",
                Some(d.lock_id),
                None,
                format!(
                    "{}: lock {} is not administered by this account (TTLock lists only the locks it administers): correct the LockId from the lock list above, or use the TTLock account that administers the lock",
                    d.name, d.lock_id
                ),
            ));
        }
        if let Some(l) = item {
            let no_gateway = l.has_gateway == Some(false)
                || (gateways.is_some() && gws.is_empty() && l.has_gateway != Some(true));
            if d.needs_gateway && no_gateway {
                problems.push(problem(
                    "no_gateway",
                    Some(d.lock_id),
                    None,
                    format!(
                        "{} (lock {}): no gateway reaches it, so codes cannot be sent to it: place a gateway near it, or give it offline codes (README, Doors without a gateway)",
                        d.name, d.lock_id
                    ),
                ));
            } else if !gws.is_empty() && gws.iter().all(|g| g.2 == Some(false)) {
                behind_offline
                    .entry(gws[0].0)
                    .or_default()
                    .push(d.name.clone());
            }
            if let Some(b) = l.battery.filter(|b| *b <= req.battery_low) {
                problems.push(problem(
                    "battery",
                    Some(d.lock_id),
                    None,
                    format!(
                        "{} (lock {}): battery at {} %: replace the batteries",
                        d.name, d.lock_id, b
                    ),
                ));
            }
        }
        doors.push(DoorFact {
            door: d.clone(),
            administered,
            gateways: gws,
        });
    }
    for g in gateways.iter().flatten() {
        if g.is_online == Some(false) {
            let mut text = format!(
                "{} is offline: check its power and network",
                gateway_label(g)
            );
            if let Some(names) = behind_offline.get(&g.gateway_id) {
                text.push_str(&format!(
                    " (no code reaches {} meanwhile)",
                    names.join(", ")
                ));
            }
            problems.push(problem("gateway_offline", None, Some(g.gateway_id), text));
        }
    }

    let locks = locks.map(|l| {
        l.into_iter()
            .map(|item| {
                let g = reach.get(&item.lock_id).cloned().unwrap_or_default();
                (item, g)
            })
            .collect()
    });
    Ok(Report {
        secret,
        tokens,
        token_info: c.token_info()?,
        has_credentials: c.config().has_credentials(),
        locks,
        gateways,
        listing_error,
        doors,
        problems,
        module_calls: c.stats().ok().map(|s| s.api_calls),
    })
}

/// `gateway GW floor 2 (id 2)`.
fn gateway_label(g: &GatewayInfo) -> String {
    match g.name.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => format!("gateway {n} (id {})", g.gateway_id),
        None => format!("gateway {}", g.gateway_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateways_are_named_with_their_id() {
        let mut g = GatewayInfo {
            gateway_id: 2,
            mac: None,
            name: Some("GW floor 2".into()),
            version: None,
            network_name: None,
            lock_num: None,
            is_online: Some(false),
        };
        assert_eq!(gateway_label(&g), "gateway GW floor 2 (id 2)");
        g.name = Some(String::new());
        assert_eq!(gateway_label(&g), "gateway 2");
    }

    #[test]
    fn only_a_wrong_id_or_secret_is_bad() {
        assert!(Secret::Wrong(Error::from_errcode(10001, None)).bad());
        assert!(Secret::UnknownClient(Error::from_errcode(10000, None)).bad());
        assert!(!Secret::Right(3).bad());
        assert!(!Secret::NotChecked(Error::new(Code::Network, "x")).bad());
    }
}
