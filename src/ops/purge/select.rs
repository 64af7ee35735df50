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

/// Whether the ledger shows a code of the lock past the grace (and matching the prefix).
pub(super) fn ledger_has_expired(known: &[Entry], req: &PurgeRequest, cutoff: i64) -> bool {
    known.iter().any(|e| {
        is_purgeable(
            3,
            (None, Some(e.end_ms)),
            e.name.as_deref(),
            cutoff,
            req.name_prefix.as_deref(),
        )
    })
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
        assert!(!ledger_has_expired(&[], &req, cutoff));
        assert!(!ledger_has_expired(
            &[e(0, "staff"), e(NOW, "a")],
            &req,
            cutoff
        ));
        assert!(!ledger_has_expired(&[e(cutoff, "a")], &req, cutoff));
        assert!(ledger_has_expired(
            &[e(NOW, "a"), e(cutoff - 1, "b")],
            &req,
            cutoff
        ));
        req.name_prefix = Some("101_".into());
        assert!(!ledger_has_expired(&[e(cutoff - 1, "b")], &req, cutoff));
        assert!(ledger_has_expired(&[e(cutoff - 1, "101_b")], &req, cutoff));
    }
}
