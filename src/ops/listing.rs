//! Reading a lock's passcodes: every page, and the look-up of one code.
use std::collections::HashSet;

use crate::api::{self, PasscodeItem};
use crate::client::Client;
use crate::error::Result;

/// listKeyboardPwd's documented maximum page size.
pub const PAGE_SIZE: i64 = 200;

/// A guard against an answer whose `pages` never ends: 100 pages of 200 is far beyond the 250
/// custom codes a lock holds (random codes included).
const MAX_PAGES: i64 = 100;

/// Every page of a lock's passcodes (pageSize 200), optionally filtered by `searchStr`.
/// Deduplicated by id: a code added while paging shifts later pages by one.
pub fn list_all(c: &Client, lock_id: i64, search: Option<&str>) -> Result<Vec<PasscodeItem>> {
    let mut out: Vec<PasscodeItem> = Vec::new();
    let mut seen = HashSet::new();
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
    let mut seen = HashSet::new();
    ids.into_iter().filter(|i| seen.insert(*i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_keeps_first_order() {
        assert_eq!(dedup([3, 1, 3, 2, 1]), vec![3, 1, 2]);
    }
}
