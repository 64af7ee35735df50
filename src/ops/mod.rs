//! The operations of lua-api.md "Passcodes", "Purge" and "Locks", written over the typed
//! endpoints of `api`:
//!
//! - `passcodes`: add (several doors, rollback, lost answers), change, delete, list, generate,
//!   `local_time` date checks.
//! - `purge`: expired codes of many locks, ledger fast path, weekly full sweep.
//! - `locks`: unlock, lock, state, battery.
//! - `ledger`, `gateways`: files in `state_dir` (codes this module knows of; each lock's gateway).
//!
//! Gateway operations (writes that reach a lock) on one gateway run one after another, different
//! gateways at the same time, at most [`MAX_WORKERS`] at once, on `exec::parallel` workers (so
//! token refreshes and log lines still reach the Lua host).
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use crate::api::{self, PasscodeItem};
use crate::client::Client;
use crate::error::{Code, Result};

pub mod gateways;
pub mod ledger;
pub mod locks;
pub mod passcodes;
pub mod purge;

/// Gateways worked on at the same time (threads on a small controller).
pub const MAX_WORKERS: usize = 4;

/// listKeyboardPwd's documented maximum page size.
pub const PAGE_SIZE: i64 = 200;

/// A guard against an answer whose `pages` never ends: 100 pages of 200 is far beyond the 250
/// custom codes a lock holds (random codes included).
const MAX_PAGES: i64 = 100;

/// Extra rounds for a gateway that stays busy after the transport's own retries (-3003 means
/// nothing was done, so repeating is safe); waits 4, 8, 16 × `retry_backoff`.
const BUSY_ROUNDS: u32 = 3;

/// Run `f` over `items` with at most `workers` at once, results in input order. One item runs
/// on the calling thread (no thread for the common single-gateway case).
pub fn bounded<I, T, F>(items: Vec<I>, workers: usize, f: F) -> Vec<T>
where
    I: Send,
    T: Send,
    F: Fn(I) -> T + Sync,
{
    if items.len() <= 1 {
        return items.into_iter().map(f).collect();
    }
    let n = items.len();
    let queue: Mutex<VecDeque<(usize, I)>> = Mutex::new(items.into_iter().enumerate().collect());
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    let work = || loop {
        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
        let Some((i, item)) = next else { break };
        let out = f(item);
        results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(out);
    };
    let jobs: Vec<_> = (0..workers.clamp(1, n)).map(|_| &work).collect();
    crate::exec::parallel(jobs.into_iter().map(|w| move || w()).collect());
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.expect("every item was worked on"))
        .collect()
}

/// A gateway operation with extra rounds while the gateway stays busy.
pub(crate) fn busy_retry<T>(c: &Client, what: &str, mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let mut round = 0;
    loop {
        match f() {
            Err(e) if e.code() == Code::GatewayBusy && round < BUSY_ROUNDS => {
                round += 1;
                let wait = crate::http::backoff(c.config().retry_backoff * 4, round);
                c.log(format!(
                    "ttlock: {what}: gateway still busy, trying again in {} ms ({round}/{BUSY_ROUNDS})",
                    wait.as_millis()
                ));
                std::thread::sleep(wait.min(Duration::from_secs(30)));
            }
            r => return r,
        }
    }
}

/// Every page of a lock's passcodes (pageSize 200), optionally filtered by `searchStr`.
/// Deduplicated by id: a code added while paging shifts later pages by one.
pub fn list_all(c: &Client, lock_id: i64, search: Option<&str>) -> Result<Vec<PasscodeItem>> {
    let mut out: Vec<PasscodeItem> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut page_no = 1;
    loop {
        let page = api::list_keyboard_pwd(c, lock_id, page_no, PAGE_SIZE, search, 1)
            .map_err(|e| e.context(format!("lock {lock_id}: listing passcodes")))?;
        let empty = page.list.is_empty();
        for item in page.list {
            if seen.insert(item.passcode_id) {
                out.push(item);
            }
        }
        if empty || page_no >= page.pages || page_no >= MAX_PAGES {
            return Ok(out);
        }
        page_no += 1;
    }
}

/// The items whose code is exactly `code` (searchStr also matches names).
pub fn find_code(c: &Client, lock_id: i64, code: &str) -> Result<Vec<PasscodeItem>> {
    Ok(list_all(c, lock_id, Some(code))?
        .into_iter()
        .filter(|it| it.passcode == code)
        .collect())
}

/// Ids in first-seen order without repeats.
pub(crate) fn dedup(ids: impl IntoIterator<Item = i64>) -> Vec<i64> {
    let mut seen = std::collections::HashSet::new();
    ids.into_iter().filter(|i| seen.insert(*i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn bounded_keeps_order_and_limits_workers() {
        let running = AtomicUsize::new(0);
        let max = AtomicUsize::new(0);
        let out = bounded((0..10).collect(), 3, |i: i32| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(5));
            running.fetch_sub(1, Ordering::SeqCst);
            i * 2
        });
        assert_eq!(out, (0..10).map(|i| i * 2).collect::<Vec<_>>());
        assert!(max.load(Ordering::SeqCst) <= 3);
        let one = bounded(vec![7], 4, |i: i32| (i, std::thread::current().id()));
        assert_eq!(one, vec![(7, std::thread::current().id())]);
        assert!(bounded(Vec::<i32>::new(), 4, |i| i).is_empty());
    }

    #[test]
    fn dedup_keeps_first_order() {
        assert_eq!(dedup([3, 1, 3, 2, 1]), vec![3, 1, 2]);
    }
}
