//! The site as TTLock sees it (lua-api.md "Site"): every lock and every gateway of the account,
//! and a lock's records over a time span, oldest first.
//!
//! All three read every page through one loop, [`every_page`]: items already seen on an earlier
//! page are dropped (an item added while paging shifts the later pages by one), an empty page
//! ends the reading, and a page limit guards against an answer whose `pages` never ends.
//!
//! A record's digits (`keyboardPwd`: the guest's passcode, a card or fingerprint number) stay
//! inside `api::RecordItem` as a `Secret`; [`Record`] has no field for them, and `who` is never
//! the digits (a code without a name would otherwise show them there).
use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use crate::api::{self, GatewayInfo, LockItem, Page, RecordItem, RecordQuery};
use crate::client::Client;
use crate::error::{Code, Error, Result};
use crate::secret::Secret;

/// `lock/list`'s documented maximum page size (ttlock-api.md §4.1): a site's locks in one call.
pub const LOCK_PAGE_SIZE: i64 = 1000;
/// `gateway/list`'s documented maximum page size (§6.1).
pub const GATEWAY_PAGE_SIZE: i64 = 200;
/// `lockRecord/list`'s documented maximum page size (§5).
pub const RECORD_PAGE_SIZE: i64 = 200;

/// Guard for `lock/list`: 20 pages of 1000 locks.
const MAX_LOCK_PAGES: i64 = 20;
/// Guard for `gateway/list`: 50 pages of 200 gateways.
const MAX_GATEWAY_PAGES: i64 = 50;
/// At most this many pages of records (10,000 records) per call; a span holding more is refused
/// after its first page, so that one call never spends more than 50 API calls.
pub const MAX_RECORD_PAGES: i64 = 50;

/// TTLock keeps a lock's records in the cloud for six months (ttlock-api.md §5); 183 days.
pub const RECORDS_KEPT_MS: i64 = 183 * 24 * 3600 * 1000;

/// How [`every_page`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The last page (by `pages`), or an empty page.
    Done,
    /// The page limit, with more pages announced.
    Limit,
    /// A whole page of items already seen: the answer repeats itself.
    Repeats,
}

/// What [`every_page`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paged<T> {
    /// The items in the order read, without repeats across pages.
    pub items: Vec<T>,
    /// Pages asked for.
    pub pages_read: i64,
    /// Why the reading stopped.
    pub end: End,
}

/// Every page from `fetch(1)` on, at most `max_pages`. An item whose `key` was seen on an
/// earlier page is dropped; repeats within one page are kept (they are what TTLock holds).
pub fn every_page<T, K: Eq + Hash>(
    max_pages: i64,
    mut fetch: impl FnMut(i64) -> Result<Page<T>>,
    key: impl Fn(&T) -> K,
) -> Result<Paged<T>> {
    let mut items = Vec::new();
    let mut seen: HashSet<K> = HashSet::new();
    let mut page_no = 1;
    loop {
        let page = fetch(page_no)?;
        let (pages, got) = (page.pages, page.list.len());
        let fresh: Vec<T> = page
            .list
            .into_iter()
            .filter(|it| !seen.contains(&key(it)))
            .collect();
        let repeats = got > 0 && fresh.is_empty();
        seen.extend(fresh.iter().map(&key));
        items.extend(fresh);
        let end = if got == 0 || page_no >= pages {
            Some(End::Done)
        } else if repeats {
            Some(End::Repeats)
        } else if page_no >= max_pages {
            Some(End::Limit)
        } else {
            None
        };
        if let Some(end) = end {
            return Ok(Paged {
                items,
                pages_read: page_no,
                end,
            });
        }
        page_no += 1;
    }
}

/// Every lock the account administers (`lock/list`, every page). TTLock lists only the locks
/// whose top administrator is the account (ttlock-api.md §4.1).
pub fn list_locks(c: &Client) -> Result<Vec<LockItem>> {
    let paged = every_page(
        MAX_LOCK_PAGES,
        |n| api::lock_list(c, n, LOCK_PAGE_SIZE).map_err(|e| e.context("listing the locks")),
        |l| l.lock_id,
    )?;
    note_cut(c, "lock/list", &paged);
    Ok(paged.items)
}

/// Every gateway of the account (`gateway/list`, every page).
pub fn list_gateways(c: &Client) -> Result<Vec<GatewayInfo>> {
    let paged = every_page(
        MAX_GATEWAY_PAGES,
        |n| {
            api::gateway_list(c, n, GATEWAY_PAGE_SIZE)
                .map_err(|e| e.context("listing the gateways"))
        },
        |g| g.gateway_id,
    )?;
    note_cut(c, "gateway/list", &paged);
    Ok(paged.items)
}

/// A listing cut short is still the best answer there is; the log says so.
fn note_cut<T>(c: &Client, what: &str, paged: &Paged<T>) {
    let why = match paged.end {
        End::Done => return,
        End::Limit => "the page limit",
        End::Repeats => "a page that repeated the earlier ones",
    };
    c.log(format!(
        "{what}: stopped after {} pages ({why}); {} items read",
        paged.pages_read,
        paged.items.len()
    ));
}

/// What `records` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSpan {
    /// The lock.
    pub lock_id: i64,
    /// The earliest record (`startDate`, by the lock's clock), ms since the epoch.
    pub since_ms: i64,
    /// The latest record (`endDate`), ms since the epoch; `None`: up to now.
    pub until_ms: Option<i64>,
}

impl RecordSpan {
    /// Misuse (raised in Lua, nothing sent): a negative time, or `since_ms` after `until_ms`.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::misuse(Code::InvalidArgument, m));
        if self.lock_id < 1 {
            return bad(format!(
                "records: lock_id {} is not a lock id",
                self.lock_id
            ));
        }
        if self.since_ms < 0 || self.until_ms.is_some_and(|u| u < 0) {
            return bad("records: since_ms and until_ms must be 0 or more".into());
        }
        if let Some(u) = self.until_ms.filter(|u| self.since_ms > *u) {
            return bad(format!(
                "records: since_ms ({}) is after until_ms ({u})",
                self.since_ms
            ));
        }
        Ok(())
    }
}

/// One record of a lock, without its digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// recordId (absent in some answers).
    pub record_id: Option<i64>,
    /// lockId (the asked lock when the record does not say).
    pub lock_id: i64,
    /// lockDate: when it happened by the lock's clock.
    pub time_ms: Option<i64>,
    /// serverDate: when it reached the cloud.
    pub server_time_ms: Option<i64>,
    /// recordType: the cloud's kind of record (the table of ttlock-api.md §5).
    pub record_type: Option<i64>,
    /// recordTypeFromLock: the lock's own code for it (another numbering).
    pub type_from_lock: Option<i64>,
    /// A short English word for `record_type` (see [`type_name`]).
    pub type_name: Option<&'static str>,
    /// Whether it worked (an opening that opened).
    pub success: Option<bool>,
    /// The code's name, the card's or fingerprint's name, or the app user (`username`); never
    /// the digits.
    pub who: Option<String>,
}

/// A short English word for the common cloud record types (ttlock-api.md §5, hass-ttlock's
/// copy of TTLock's "record type of cloud" table); `None` for the others.
pub fn type_name(record_type: i64) -> Option<&'static str> {
    Some(match record_type {
        1 => "app",
        4 => "keypad",
        7 => "card",
        8 => "fingerprint",
        9 => "wristband",
        10 => "key",
        11 => "app_lock",
        12 => "remote",
        29 => "forced",
        30 => "door_closed",
        31 => "door_open",
        32 => "inside",
        33 => "fingerprint_lock",
        34 => "keypad_lock",
        35 => "card_lock",
        36 => "key_lock",
        44 => "tamper",
        45 => "auto_lock",
        46 => "button",
        47 => "lock_button",
        48 => "lockout",
        49 => "hotel_card",
        55 => "key_fob",
        57 => "qr_code",
        63 => "passage_mode",
        67 => "face",
        84 => "palm_vein",
        92 => "admin_code",
        _ => return None,
    })
}

/// The record as returned: digits dropped, `who` never the digits, an empty name absent.
fn record_out(lock_id: i64, r: RecordItem, digits: Option<&Secret>) -> Record {
    let digits = digits.map(|s| s.expose().trim()).filter(|s| !s.is_empty());
    let who = r
        .username
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty() && Some(u.as_str()) != digits);
    Record {
        record_id: r.record_id,
        lock_id: r.lock_id.unwrap_or(lock_id),
        time_ms: r.lock_date_ms,
        server_time_ms: r.server_date_ms,
        record_type: r.record_type,
        type_from_lock: r.record_type_from_lock,
        type_name: r.record_type.and_then(type_name),
        success: r.success,
        who,
    }
}

/// What tells two records apart across pages: the id, else everything the record says (the
/// digits only as a hash, so that not even a stray `{:?}` of a key could show them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum RecordKey {
    Id(i64),
    Content(Vec<Option<i64>>, Option<String>, Option<u64>),
}

fn digits_hash(s: &Secret) -> u64 {
    let mut h = DefaultHasher::new();
    s.expose().hash(&mut h);
    h.finish()
}

fn record_key(r: &RecordItem) -> RecordKey {
    match r.record_id {
        Some(id) => RecordKey::Id(id),
        None => RecordKey::Content(
            vec![
                r.lock_date_ms,
                r.server_date_ms,
                r.record_type,
                r.record_type_from_lock,
                r.success.map(i64::from),
            ],
            r.username.clone(),
            r.keyboard_pwd.as_ref().map(digits_hash),
        ),
    }
}

/// Oldest first: by the lock's time (the server's when the lock's is missing), then the
/// server's, then the id; records that say none of these keep their order.
fn oldest_first(records: &mut [(Record, Option<Secret>)]) {
    records.sort_by_key(|(r, _)| {
        (
            r.time_ms.or(r.server_time_ms),
            r.server_time_ms,
            r.record_id,
        )
    });
}

/// Every record of a lock in the span (`lockRecord/list`, every page, pageSize 200), oldest
/// first. A span holding more than [`MAX_RECORD_PAGES`] pages is refused after the first page
/// (`invalid_argument`: ask for a shorter span); an answer whose pages repeat is `bad_response`.
pub fn records(c: &Client, span: &RecordSpan) -> Result<Vec<Record>> {
    Ok(records_with_digits(c, span)?
        .into_iter()
        .map(|(r, _)| r)
        .collect())
}

/// As [`records`], each record with the digits TTLock sent for it (a code, card or fingerprint
/// number), kept as a `Secret`: the door events poller tells a stay's own code by them.
pub fn records_with_digits(c: &Client, span: &RecordSpan) -> Result<Vec<(Record, Option<Secret>)>> {
    span.check()?;
    let lock_id = span.lock_id;
    let query = |page_no| RecordQuery {
        lock_id,
        page_no,
        page_size: RECORD_PAGE_SIZE,
        start_ms: Some(span.since_ms),
        end_ms: span.until_ms,
        record_type: None,
    };
    let fetch = |page_no| {
        let page = api::lock_record_list(c, &query(page_no))
            .map_err(|e| e.context(format!("lock {lock_id}: reading records")))?;
        if page.pages > MAX_RECORD_PAGES {
            return Err(too_many(lock_id, &page));
        }
        Ok(page)
    };
    let paged = every_page(MAX_RECORD_PAGES, fetch, record_key)?;
    if paged.end != End::Done {
        return Err(Error::new(
            Code::BadResponse,
            format!(
                "lock {lock_id}: reading records: TTLock's pages did not end after {} pages",
                paged.pages_read
            ),
        ));
    }
    // TTLock sends the newest first: reversed, the stable sort keeps ties in time order.
    let mut out: Vec<(Record, Option<Secret>)> = paged
        .items
        .into_iter()
        .rev()
        .map(|mut r| {
            let digits = r.keyboard_pwd.take();
            (record_out(lock_id, r, digits.as_ref()), digits)
        })
        .collect();
    oldest_first(&mut out);
    Ok(out)
}

fn too_many(lock_id: i64, page: &Page<RecordItem>) -> Error {
    let most = MAX_RECORD_PAGES * RECORD_PAGE_SIZE;
    Error::invalid_argument(format!(
        "lock {lock_id}: more than {most} records in the span ({} records on {} pages): ask for a shorter span (until_ms)",
        page.total, page.pages
    ))
    .with_advice(format!(
        "more than {most} records in one call: ask for a shorter span"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page<T>(list: Vec<T>, page_no: i64, pages: i64) -> Page<T> {
        Page {
            page_size: list.len() as i64,
            total: pages * list.len() as i64,
            list,
            page_no,
            pages,
        }
    }

    #[test]
    fn every_page_reads_to_the_last_and_drops_repeats_across_pages() {
        let mut asked = Vec::new();
        let r = every_page(
            10,
            |n| {
                asked.push(n);
                Ok(match n {
                    1 => page(vec![1, 2, 3], 1, 3),
                    // An item added while paging shifts 3 onto page 2.
                    2 => page(vec![3, 4, 5], 2, 3),
                    _ => page(vec![6, 6], 3, 3),
                })
            },
            |x| *x,
        )
        .unwrap();
        assert_eq!(asked, vec![1, 2, 3]);
        assert_eq!(
            r.items,
            vec![1, 2, 3, 4, 5, 6, 6],
            "repeats within a page kept"
        );
        assert_eq!((r.pages_read, r.end), (3, End::Done));
    }

    #[test]
    fn every_page_stops_at_an_empty_page_the_limit_and_a_repeating_answer() {
        let r = every_page(
            10,
            |n| Ok(page(if n < 3 { vec![n] } else { vec![] }, n, 99)),
            |x| *x,
        )
        .unwrap();
        assert_eq!((r.items, r.end), (vec![1, 2], End::Done));
        let r = every_page(4, |n| Ok(page(vec![n], n, i64::MAX)), |x| *x).unwrap();
        assert_eq!((r.items.len(), r.pages_read, r.end), (4, 4, End::Limit));
        let r = every_page(50, |n| Ok(page(vec![7, 8], n, 1000)), |x| *x).unwrap();
        assert_eq!(
            (r.items, r.pages_read, r.end),
            (vec![7, 8], 2, End::Repeats)
        );
        // `pages` missing decodes as 1: one page.
        let r = every_page(50, |n| Ok(page(vec![n], n, 1)), |x| *x).unwrap();
        assert_eq!((r.items, r.end), (vec![1], End::Done));
        let e = every_page::<i64, i64>(5, |_| Err(Error::new(Code::Timeout, "t")), |x| *x);
        assert_eq!(e.unwrap_err().code(), Code::Timeout);
    }

    fn item(id: Option<i64>, at: i64, user: &str, pwd: &str) -> RecordItem {
        RecordItem {
            record_id: id,
            lock_id: None,
            record_type: Some(4),
            record_type_from_lock: Some(4),
            success: Some(true),
            username: Some(user.into()),
            keyboard_pwd: Some(Secret::new(pwd)),
            lock_date_ms: Some(at),
            server_date_ms: Some(at + 5),
        }
    }

    /// The record as `records` returns it.
    fn out(lock_id: i64, mut r: RecordItem) -> Record {
        let digits = r.keyboard_pwd.take();
        record_out(lock_id, r, digits.as_ref())
    }

    #[test]
    fn a_record_never_carries_the_digits() {
        let r = out(1001, item(Some(9), 100, "101_01120512", "48213"));
        assert_eq!(r.who.as_deref(), Some("101_01120512"));
        assert_eq!(
            (r.lock_id, r.time_ms, r.server_time_ms, r.type_name),
            (1001, Some(100), Some(105), Some("keypad"))
        );
        assert!(!format!("{r:?}").contains("48213"));
        // A code without a name: TTLock may show the digits as the name.
        let r = out(1001, item(None, 100, " 48213 ", "48213"));
        assert_eq!(r.who, None);
        let r = out(1001, item(None, 100, "", "48213"));
        assert_eq!(r.who, None);
        let mut it = item(None, 100, "hotel@example.com", "");
        it.record_type = Some(1);
        it.lock_id = Some(2001);
        let r = out(1001, it);
        assert_eq!(
            (r.who.as_deref(), r.type_name, r.lock_id),
            (Some("hotel@example.com"), Some("app"), 2001)
        );
    }

    #[test]
    fn records_sort_oldest_first_and_keys_tell_records_without_id_apart() {
        let mut rs: Vec<(Record, Option<Secret>)> =
            [(Some(3), 300), (None, 100), (Some(2), 200), (Some(1), 200)]
                .into_iter()
                .map(|(id, at)| (out(1, item(id, at, "x", "1")), None))
                .collect();
        oldest_first(&mut rs);
        let order: Vec<_> = rs.iter().map(|(r, _)| (r.record_id, r.time_ms)).collect();
        assert_eq!(
            order,
            vec![
                (None, Some(100)),
                (Some(1), Some(200)),
                (Some(2), Some(200)),
                (Some(3), Some(300))
            ]
        );
        let a = item(None, 100, "x", "1");
        let b = item(None, 101, "x", "1");
        assert_eq!(record_key(&a), record_key(&a.clone()));
        assert_ne!(record_key(&a), record_key(&b));
        assert_eq!(record_key(&item(Some(5), 1, "a", "1")), RecordKey::Id(5));
        assert_ne!(record_key(&a), record_key(&item(None, 100, "x", "2")));
        assert!(!format!("{:?}", record_key(&item(None, 1, "x", "48213"))).contains("48213"));
    }

    #[test]
    fn type_names_of_the_common_kinds() {
        for (t, n) in [
            (1, "app"),
            (4, "keypad"),
            (7, "card"),
            (8, "fingerprint"),
            (12, "remote"),
        ] {
            assert_eq!(type_name(t), Some(n));
        }
        assert_eq!(type_name(0), None);
        assert_eq!(type_name(28), None);
    }

    #[test]
    fn a_span_must_run_forwards() {
        let span = |since_ms, until_ms| RecordSpan {
            lock_id: 1001,
            since_ms,
            until_ms,
        };
        assert!(span(5, Some(5)).check().is_ok());
        assert!(span(5, None).check().is_ok());
        for bad in [span(6, Some(5)), span(-1, None), span(0, Some(-1))] {
            let e = bad.check().unwrap_err();
            assert!(e.is_misuse() && e.code() == Code::InvalidArgument, "{e:?}");
        }
        assert!(span(6, Some(5))
            .check()
            .unwrap_err()
            .message()
            .contains("since_ms (6) is after until_ms (5)"));
    }
}
