//! What outlives a reboot (`state::persist`), over busy simulated days with a fake clock: a
//! controller making a call every few seconds, check-ins writing the ledger, six purges a day
//! (full listings), the gateway map learned, and three reboots a day that empty `state_dir`.
//! After every reboot the ledger, the gateway map and the month's count are back as last saved
//! (the count never lower than the snapshot's), and the writes to the store stay within the
//! stated bound (48 + 4 a UTC day) on every day. Also: a host without `persist` keeps
//! `state_dir` only, as before.
mod common;

use std::cell::RefCell;
use std::fs;
use std::path::Path;
use std::time::Duration;

use common::{lua_for, start_sim, State, TempDir};
use ttlock::ops::gateways::GATEWAYS_FILE;
use ttlock::ops::ledger::{Entry, Ledger, Origin, LEDGER_FILE};
use ttlock::state::{self, persist};
use ttlock::Result;

const DAY: i64 = 86_400_000;
const MIN: i64 = 60_000;
const FILES: &[&str] = &[LEDGER_FILE, GATEWAYS_FILE];

/// The host's store, counting its writes per UTC day.
#[derive(Default)]
struct Counted {
    text: RefCell<Option<String>>,
    writes: RefCell<Vec<i64>>,
    now: RefCell<i64>,
}

impl persist::Store for Counted {
    fn load(&self, _key: &str) -> Result<Option<String>> {
        Ok(self.text.borrow().clone())
    }
    fn save(&self, key: &str, text: &str) -> Result<()> {
        assert_eq!(key, persist::KEY);
        self.writes.borrow_mut().push(*self.now.borrow());
        *self.text.borrow_mut() = Some(text.to_owned());
        Ok(())
    }
}

fn kept(store: &Counted) -> serde_json::Value {
    serde_json::from_str(store.text.borrow().as_deref().expect("a snapshot")).unwrap()
}

fn file_json(dir: &Path, name: &str) -> Option<serde_json::Value> {
    fs::read(dir.join(name))
        .ok()
        .map(|b| serde_json::from_slice(&b).unwrap())
}

/// A tiny deterministic generator (no dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[test]
fn busy_days_with_reboots_keep_the_state_within_the_bound() {
    let tmp = TempDir::new("persist-days");
    let dir = tmp.path().join("state");
    let every = Duration::from_secs(persist::DEFAULT_EVERY_S);
    let bound = persist::bound_per_day(every);
    assert_eq!(bound, 52, "the bound docs/lua-api.md states");
    let store = Counted::default();
    let ledger = Ledger::new(&dir);
    let mut rng = Lcg(15);
    // 2026-03-10 00:00 UTC: three days inside one Beijing month.
    let start = 1_773_100_800_000;
    assert_eq!(state::beijing_month(start), "2026-03");
    assert_eq!(state::beijing_month(start + 3 * DAY), "2026-03");
    let purges = [
        MIN * 30,
        3 * 60 * MIN,
        9 * 60 * MIN,
        12 * 60 * MIN,
        17 * 60 * MIN,
        23 * 60 * MIN,
    ];
    let reboots = [5 * 60 * MIN + 7, 13 * 60 * MIN + 1, 20 * 60 * MIN + 44_000];
    let mut purged_at = Vec::new();
    let mut next_id = 1;
    let mut restores = 0;
    let mut step = 0;
    let mut t = start;
    while t < start + 3 * DAY {
        *store.now.borrow_mut() = t;
        let of_day = t.rem_euclid(DAY);
        if reboots
            .iter()
            .any(|r| (of_day..of_day + 20_000).contains(r))
        {
            // A reboot: RAM is gone. What the store kept is what comes back.
            let snap = kept(&store);
            fs::remove_dir_all(&dir).unwrap();
            let r = persist::restore_if_needed(&dir, FILES, &store, t)
                .unwrap()
                .expect("restored");
            restores += 1;
            assert_eq!(r.calls, snap["calls"].as_u64().unwrap());
            assert_eq!(state::month_calls(&dir, t).unwrap().1, r.calls);
            for name in FILES {
                assert_eq!(file_json(&dir, name).as_ref(), snap["files"].get(*name));
            }
            assert!(r.files.contains(&LEDGER_FILE.to_owned()));
        } else {
            persist::restore_if_needed(&dir, FILES, &store, t).unwrap();
        }
        // Every 20 s: one to three API calls (about 8,600 a day).
        for _ in 0..=rng.next(3) {
            state::count_call(&dir, t).unwrap();
        }
        // A check-in every ten minutes or so: two codes in the ledger.
        if rng.next(30) == 0 {
            for lock in [1001 + rng.next(40) as i64, 2001] {
                ledger
                    .update(|d| {
                        d.put(Entry {
                            lock_id: lock,
                            passcode_id: next_id,
                            end_ms: t + 3 * DAY,
                            name: Some(format!("{}_stay", lock)),
                            added_ms: t,
                            origin: Origin::Module,
                        })
                    })
                    .unwrap();
                next_id += 1;
            }
        }
        // The purges: a full listing of every lock (the ledger asks for a save).
        if purges.iter().any(|p| (of_day..of_day + 20_000).contains(p)) {
            purged_at.push(t);
            ledger
                .update(|d| {
                    for lock in 1001..=1040 {
                        let listed: Vec<Entry> = d.entries_of(lock).cloned().collect();
                        d.sync_lock(lock, t, listed, 1);
                    }
                })
                .unwrap();
        }
        // The gateway map, learned now and then.
        if step % 500 == 0 {
            state::atomic_write(
                &dir.join(GATEWAYS_FILE),
                format!(r#"{{"locks":{{"1001":{{"gateways":[1],"learned_ms":{t}}}}}}}"#).as_bytes(),
            )
            .unwrap();
        }
        persist::save_if_due(&dir, FILES, &store, every, t).unwrap();
        let info = persist::info(&dir, every, t);
        let today = persist::utc_day(t);
        let written_today = store
            .writes
            .borrow()
            .iter()
            .filter(|w| persist::utc_day(**w) == today)
            .count() as u32;
        assert_eq!(
            info.writes_today, written_today,
            "stats() counts what the store saw"
        );
        step += 1;
        t += 20_000;
    }
    assert_eq!(restores, 9);
    let writes = store.writes.borrow();
    for day in 0..3 {
        let n = writes
            .iter()
            .filter(|w| persist::utc_day(**w) == persist::utc_day(start) + day)
            .count() as u32;
        eprintln!("day {day}: {n} writes to the store (bound {bound})");
        assert!(n <= bound, "day {day}: {n} writes, bound {bound}");
        assert!(
            n >= 45,
            "day {day}: a busy day saves about every interval, got {n}"
        );
    }
    // The first four purges of each day are saved at once (the others when the interval says).
    assert_eq!(purged_at.len(), 3 * purges.len());
    for (i, p) in purged_at.iter().enumerate() {
        if i % purges.len() < persist::FORCED_PER_DAY as usize {
            assert!(writes.contains(p), "purge {i} saved at once");
        }
    }
    // Periodic saves are an interval apart; the rest are the purges' (at most four a day).
    let close = writes
        .windows(2)
        .filter(|w| w[1] - w[0] < every.as_millis() as i64)
        .count();
    assert!(close <= 3 * persist::FORCED_PER_DAY as usize, "{close}");
    // The last snapshot holds the whole ledger and no passcode digits (the ledger has none).
    let snap = kept(&store);
    let codes = snap["files"][LEDGER_FILE]["codes"]
        .as_array()
        .unwrap()
        .len();
    assert!(codes > 100, "{codes} codes kept");
}

#[test]
fn a_host_without_persist_keeps_state_dir_only() {
    let sim = start_sim(State::fixture());
    let dir = TempDir::new("persist-none");
    let lua = lua_for(&sim, dir.path(), "");
    lua.load(
        r#"
        assert(ttlock.battery{ lock_id = 1001 })
        local s = ttlock.stats()
        assert(s.api_calls == 1 and s.persist_writes == nil and s.persist_bound == nil)
        "#,
    )
    .exec()
    .unwrap();
    assert!(!dir.path().join(persist::STAMP_FILE).exists());
    assert!(!dir.path().join(persist::LOCK_FILE).exists());
}

#[test]
fn a_lua_host_with_persist_restores_after_state_dir_is_emptied() {
    let sim = start_sim(State::fixture());
    let dir = TempDir::new("persist-lua");
    let lua = lua_for(
        &sim,
        dir.path(),
        r#"
        KEPT, WRITES = {}, 0
        OPTS.persist = { load = function(k) return KEPT[k] end,
                         save = function(k, text) KEPT[k] = text; WRITES = WRITES + 1 end }
        "#,
    );
    lua.load(
        r#"
        for _ = 1, 5 do assert(ttlock.battery{ lock_id = 1001 }) end
        assert(ttlock.purge_expired{ lock_ids = { 1001, 2001 }, dry_run = true })
        CALLS = ttlock.stats().api_calls
        assert(WRITES == 2, 'first call and the purge: ' .. WRITES)
        assert(KEPT.state:find('"calls":' .. CALLS, 1, true), KEPT.state)
        "#,
    )
    .exec()
    .unwrap();
    fs::remove_dir_all(dir.path()).unwrap();
    lua.load(
        r#"
        local s = ttlock.stats()
        assert(s.api_calls == CALLS, s.api_calls .. ' ' .. CALLS)
        assert(s.persist_writes == 2 and s.persist_bound == 52)
        local r = assert(ttlock.purge_expired{ lock_ids = { 1001, 2001 }, dry_run = true })
        for _, l in ipairs(r.locks) do assert(l.source == 'ledger', l.source) end
        "#,
    )
    .exec()
    .unwrap();
    let lines: Vec<String> = common::lua_lines(&lua);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("state restored from persist")),
        "{lines:?}"
    );
}
