//! Which codes the purge takes: never a permanent one, never one inside the grace.
use super::PurgeRequest;
use crate::api::{is_permanent, PasscodeItem};
use crate::ops::ledger::{Entry, Origin};

use super::PurgeCode;

/// Whether a code may be purged: not permanent, its end more than the grace before now
/// (`end < cutoff`), and its name starting with `prefix` when one is given.
pub fn is_purgeable(
    pwd_type: i64,
    (start_ms, end_ms): (Option<i64>, Option<i64>),
    name: Option<&str>,
    cutoff_ms: i64,
    prefix: Option<&str>,
) -> bool {
    if is_permanent(pwd_type, start_ms, end_ms) {
        return false;
    }
    end_ms.is_some_and(|end| end < cutoff_ms)
        && prefix.is_none_or(|p| name.is_some_and(|n| n.starts_with(p)))
}

/// The report's form of a listed code of `lock_id` (`valid_to_ms` 0 when it has no end).
pub fn code_of(item: &PasscodeItem, lock_id: i64) -> PurgeCode {
    PurgeCode {
        lock_id,
        passcode_id: item.passcode_id,
        name: item.name.clone(),
        valid_to_ms: item.end_ms.unwrap_or(0),
    }
}

/// The listed codes to purge.
pub fn select_expired(
    items: &[PasscodeItem],
    lock_id: i64,
    cutoff_ms: i64,
    prefix: Option<&str>,
) -> Vec<PurgeCode> {
    items
        .iter()
        .filter(|it| {
            is_purgeable(
                it.pwd_type,
                (it.start_ms, it.end_ms),
                it.name.as_deref(),
                cutoff_ms,
                prefix,
            )
        })
        .map(|it| code_of(it, lock_id))
        .collect()
}

/// What a full listing tells the ledger about a lock.
#[derive(Debug, Clone)]
pub(super) struct Listing {
    /// When the listing started, ms.
    pub at_ms: i64,
    /// Every code on the lock that can expire.
    pub entries: Vec<Entry>,
    /// How many permanent codes it showed (they fill the lock's memory too).
    pub permanent: usize,
}

/// The ledger's view of a full listing of `lock_id` made at `at_ms`.
pub(super) fn listing_of(items: &[PasscodeItem], lock_id: i64, at_ms: i64) -> Listing {
    Listing {
        at_ms,
        entries: entries_of_listing(items, lock_id, at_ms),
        permanent: items.iter().filter(|it| it.is_permanent()).count(),
    }
}

/// Why the purge listed a lock in full, or skipped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Listed: the module never listed it (its ledger knows nothing).
    NeverListed,
    /// Listed: its last full listing is older than `full_sweep_days` (the weekly sweep, which
    /// also finds codes made in the TTLock app).
    FullSweep,
    /// Listed: the ledger shows expired codes and the last full listing that purged the lock
    /// (a dry run's does not count) is older than `every_days`.
    Expired,
    /// Listed: the ledger shows expired codes and the codes it counts on the lock reached
    /// `capacity_margin`, however recent the last listing.
    Capacity,
    /// Skipped: none of the codes the ledger knows on it has expired.
    NothingExpired,
    /// Skipped: the ledger shows expired codes, but the lock was listed less than `every_days`
    /// ago and holds fewer than `capacity_margin` codes (they wait; an expired code opens
    /// nothing).
    ListedRecently,
}

impl Reason {
    /// The name in the Lua report.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NeverListed => "never_listed",
            Reason::FullSweep => "full_sweep",
            Reason::Expired => "expired",
            Reason::Capacity => "capacity",
            Reason::NothingExpired => "nothing_expired",
            Reason::ListedRecently => "listed_recently",
        }
    }

    /// Whether the lock is listed in full in this run.
    pub fn lists(self) -> bool {
        !matches!(self, Reason::NothingExpired | Reason::ListedRecently)
    }
}

/// What the ledger says about a lock before the run.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Known {
    /// Start of its last full listing, ms.
    pub last_listing_ms: Option<i64>,
    /// Start of its last full listing by a run that purged it (not a dry run), ms.
    pub last_purge_ms: Option<i64>,
    /// Codes past their end and the grace (live stays' codes left out).
    pub expired: usize,
    /// Codes the ledger counts on the lock's memory (permanent ones and live stays' included).
    pub count: usize,
}

/// A daily run starts a little earlier or later each day, and a long run lists its last lock
/// minutes after its first: a listing is "less than N days ago" only when it is that, give or
/// take this much (an hour, or a tenth of N when N is short).
const SLACK_MS: i64 = 3_600_000;

/// Whether `last` lies less than `interval_ms` (less the slack) before `now` (never with a
/// zero interval, nor a listing time in the future: the clock was set back).
pub(super) fn within(last: i64, interval_ms: i64, now: i64) -> bool {
    let slack = SLACK_MS.min(interval_ms / 10);
    interval_ms > 0 && last <= now && now - last < interval_ms - slack
}

/// Whether to list the lock in this run, and why (see [`Reason`]).
pub(super) fn decide(k: Known, req: &PurgeRequest, now: i64) -> Reason {
    let Some(last) = k.last_listing_ms else {
        return Reason::NeverListed;
    };
    if !within(last, req.full_sweep_ms, now) {
        return Reason::FullSweep;
    }
    if k.expired == 0 {
        return Reason::NothingExpired;
    }
    if !k
        .last_purge_ms
        .is_some_and(|p| within(p, req.every_ms, now))
    {
        return Reason::Expired;
    }
    if k.count >= req.capacity_margin {
        return Reason::Capacity;
    }
    Reason::ListedRecently
}

/// Ledger entries for a full listing: every code that can ever expire (permanent ones cannot).
pub(super) fn entries_of_listing(items: &[PasscodeItem], lock_id: i64, at_ms: i64) -> Vec<Entry> {
    items
        .iter()
        .filter(|it| !it.is_permanent())
        .map(|it| Entry {
            lock_id,
            passcode_id: it.passcode_id,
            end_ms: it.end_ms.unwrap_or(0),
            name: it.name.clone(),
            added_ms: at_ms,
            origin: Origin::Sweep,
        })
        .collect()
}

/// How many codes of the lock the ledger shows past the grace (and matching the prefix).
pub(super) fn ledger_expired(known: &[Entry], req: &PurgeRequest, cutoff: i64) -> usize {
    known
        .iter()
        .filter(|e| {
            is_purgeable(
                3,
                (None, Some(e.end_ms)),
                e.name.as_deref(),
                cutoff,
                req.name_prefix.as_deref(),
            )
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000_000;
    const DAY: i64 = 86_400_000;

    fn item(id: i64, t: i64, end: Option<i64>, name: &str) -> PasscodeItem {
        PasscodeItem {
            passcode_id: id,
            lock_id: Some(1),
            passcode: format!("{:05}", id),
            name: Some(name.into()),
            pwd_type: t,
            start_ms: end.map(|e| e - DAY),
            end_ms: end,
            is_custom: Some(true),
            status: None,
            send_ms: None,
        }
    }

    #[test]
    fn selection_never_takes_permanent_valid_or_in_grace_codes() {
        let cutoff = NOW - DAY;
        let items = vec![
            item(1, 3, Some(NOW - 3 * DAY), "101_old"),     // expired
            item(2, 3, Some(NOW - 6 * 3_600_000), "101_g"), // inside the grace day
            item(3, 3, Some(NOW + 2 * DAY), "101_now"),     // valid
            item(4, 2, Some(0), "Staff"),                   // permanent
            item(5, 2, Some(NOW - 3 * DAY), "odd"),         // type 2 with an end: still permanent
            item(6, 3, None, "noend"),                      // no end: treated as permanent
            item(7, 3, Some(0), "zero"),                    // end 0: permanent
            item(8, 1, Some(NOW - 2 * DAY), "random"),      // a random one-time code, ended
            item(9, 3, Some(cutoff), "edge"),               // exactly at the cutoff: kept
            item(10, 3, Some(cutoff - 1), "edge2"),         // just past it
        ];
        let ids: Vec<i64> = select_expired(&items, 1, cutoff, None)
            .iter()
            .map(|c| c.passcode_id)
            .collect();
        assert_eq!(ids, vec![1, 8, 10]);
        let ids: Vec<i64> = select_expired(&items, 1, cutoff, Some("101_"))
            .iter()
            .map(|c| c.passcode_id)
            .collect();
        assert_eq!(ids, vec![1]);
        // A zero grace takes the in-grace code too, never the valid one.
        let ids: Vec<i64> = select_expired(&items, 1, NOW, None)
            .iter()
            .map(|c| c.passcode_id)
            .collect();
        assert_eq!(ids, vec![1, 2, 8, 9, 10]);
        let c = &select_expired(&items, 7, cutoff, None)[0];
        assert_eq!(
            (c.lock_id, c.name.as_deref(), c.valid_to_ms),
            (7, Some("101_old"), NOW - 3 * DAY)
        );
    }

    #[test]
    fn listing_entries_skip_permanent_codes() {
        let items = vec![
            item(1, 3, Some(NOW), "a"),
            item(2, 2, Some(0), "b"),
            item(3, 3, None, "c"),
        ];
        let e = entries_of_listing(&items, 9, 5);
        assert_eq!(e.len(), 1);
        assert_eq!(
            (e[0].lock_id, e[0].passcode_id, e[0].end_ms, e[0].added_ms),
            (9, 1, NOW, 5)
        );
        assert_eq!(e[0].origin, Origin::Sweep);
    }

    #[test]
    fn ledger_expiry_check_follows_grace_and_prefix() {
        let e = |end: i64, name: &str| Entry {
            lock_id: 1,
            passcode_id: 1,
            end_ms: end,
            name: Some(name.into()),
            added_ms: 0,
            origin: Origin::Module,
        };
        let mut req = PurgeRequest::new(vec![1]);
        let cutoff = NOW - DAY;
        assert_eq!(ledger_expired(&[], &req, cutoff), 0);
        assert_eq!(
            ledger_expired(&[e(0, "staff"), e(NOW, "a")], &req, cutoff),
            0
        );
        assert_eq!(ledger_expired(&[e(cutoff, "a")], &req, cutoff), 0);
        assert_eq!(
            ledger_expired(
                &[e(NOW, "a"), e(cutoff - 1, "b"), e(cutoff - 9, "c")],
                &req,
                cutoff
            ),
            2
        );
        req.name_prefix = Some("101_".into());
        assert_eq!(ledger_expired(&[e(cutoff - 1, "b")], &req, cutoff), 0);
        assert_eq!(ledger_expired(&[e(cutoff - 1, "101_b")], &req, cutoff), 1);
    }

    #[test]
    fn within_allows_an_hour_early_or_a_tenth_of_a_short_interval() {
        const H: i64 = 3_600_000;
        // A day: a listing 23 h ago is recent, 23 h 1 s ago is not (runs start a little early).
        assert!(within(NOW - 23 * H + 1000, DAY, NOW));
        assert!(!within(NOW - 23 * H, DAY, NOW));
        assert!(!within(NOW - DAY, DAY, NOW));
        // An hour: six minutes of slack.
        assert!(within(NOW - 53 * 60_000, H, NOW));
        assert!(!within(NOW - 54 * 60_000, H, NOW));
        // Zero: never recent; a listing in the future (the clock went back): not recent.
        assert!(!within(NOW, 0, NOW));
        assert!(!within(NOW + 1, DAY, NOW));
    }

    #[test]
    fn decide_lists_what_is_due_and_skips_the_rest() {
        let mut req = PurgeRequest::new(vec![1]);
        req.every_ms = 3 * DAY;
        req.capacity_margin = 200;
        let k = |ago_days: f64, expired: usize, count: usize| {
            let t = Some(NOW - (ago_days * DAY as f64) as i64);
            Known {
                last_listing_ms: t,
                last_purge_ms: t,
                expired,
                count,
            }
        };
        let never = Known {
            last_listing_ms: None,
            ..Known::default()
        };
        assert_eq!(decide(never, &req, NOW), Reason::NeverListed);
        // The weekly sweep lists whatever the ledger says.
        assert_eq!(decide(k(7.0, 0, 0), &req, NOW), Reason::FullSweep);
        assert_eq!(
            decide(k(6.99, 0, 0), &req, NOW),
            Reason::FullSweep,
            "give or take an hour"
        );
        assert_eq!(decide(k(6.9, 0, 240), &req, NOW), Reason::NothingExpired);
        // Expired codes: listed when the last listing is older than every_days...
        assert_eq!(decide(k(3.0, 1, 10), &req, NOW), Reason::Expired);
        assert_eq!(decide(k(2.5, 1, 10), &req, NOW), Reason::ListedRecently);
        // ... or when the lock nears capacity.
        assert_eq!(decide(k(0.5, 1, 199), &req, NOW), Reason::ListedRecently);
        assert_eq!(decide(k(0.5, 1, 200), &req, NOW), Reason::Capacity);
        // every_days 1 (the default): a lock with expired codes is listed on every daily run.
        req.every_ms = DAY;
        assert_eq!(decide(k(1.0, 1, 10), &req, NOW), Reason::Expired);
        assert_eq!(decide(k(0.98, 1, 10), &req, NOW), Reason::Expired);
        assert_eq!(decide(k(0.9, 1, 10), &req, NOW), Reason::ListedRecently);
        // 0: on every run; capacity_margin 0: likewise.
        req.every_ms = 0;
        assert_eq!(decide(k(0.0, 1, 10), &req, NOW), Reason::Expired);
        req.every_ms = 3 * DAY;
        req.capacity_margin = 0;
        assert_eq!(decide(k(0.0, 1, 0), &req, NOW), Reason::Capacity);
        // full_sweep_days 0: every lock every time.
        req.full_sweep_ms = 0;
        assert_eq!(decide(k(0.0, 0, 0), &req, NOW), Reason::FullSweep);
        // Listed recently by a dry run only: the next real run purges.
        req.full_sweep_ms = 7 * DAY;
        req.every_ms = 3 * DAY;
        req.capacity_margin = 200;
        let dry = Known {
            last_purge_ms: None,
            ..k(0.0, 1, 10)
        };
        assert_eq!(decide(dry, &req, NOW), Reason::Expired);
        let dry_after_purge = Known {
            last_purge_ms: Some(NOW - DAY),
            ..k(0.0, 1, 10)
        };
        assert_eq!(decide(dry_after_purge, &req, NOW), Reason::ListedRecently);
        assert!(Reason::Capacity.lists() && !Reason::ListedRecently.lists());
        assert_eq!(Reason::ListedRecently.as_str(), "listed_recently");
    }
}
