//! The simulated cloud's data: app, users, tokens, gateways, locks, passcodes, options.
//!
//! Rust field names are the JSON field names (`Passcode::r#type` is `"type"`), so the README's
//! JSON shape is also the Rust shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::keypad::KeypadCode;
use crate::util::{now_ms, random_hex};

/// Fixture app client id.
pub const FIXTURE_CLIENT_ID: &str = "cid-test";
/// Fixture app client secret (a fake test value).
pub const FIXTURE_CLIENT_SECRET: &str = "csecret-test";
/// Fixture TTLock user.
pub const FIXTURE_USERNAME: &str = "hotel@example.com";
/// Fixture user's plain password (a fake test value).
pub const FIXTURE_PASSWORD: &str = "secret-pass";
/// md5 hex of [`FIXTURE_PASSWORD`].
pub const FIXTURE_PASSWORD_MD5: &str = "591fac3e56ffbdc6f310c1b646050c09";
/// Fixture user's uid.
pub const FIXTURE_UID: i64 = 1001;
/// The fixture's valid access token (a fake test value).
pub const FIXTURE_ACCESS_TOKEN: &str = "a0a0a0a0b1b1b1b1c2c2c2c2d3d3d3d3";
/// The fixture's valid refresh token (a fake test value).
pub const FIXTURE_REFRESH_TOKEN: &str = "e4e4e4e4f5f5f5f5a6a6a6a6b7b7b7b7";

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;
/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;

/// Passcode type 2: permanent (start and end 0).
pub const TYPE_PERMANENT: i64 = 2;
/// Passcode type 3: period.
pub const TYPE_PERIOD: i64 = 3;

/// The whole simulated cloud.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub app: App,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub tokens: Vec<Token>,
    #[serde(default)]
    pub gateways: Vec<Gateway>,
    #[serde(default)]
    pub locks: Vec<Lock>,
    #[serde(default)]
    pub options: Options,
    /// The highest passcode id handed out so far. TTLock never gives an id twice, so a request
    /// that lands late on a deleted code's id must not hit a newer code: ids only go up.
    #[serde(skip)]
    pub(crate) passcode_id_mark: IdMark,
}

/// A high-water mark that is not part of what a state *is*: two states that differ only in it
/// compare equal.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IdMark(i64);

impl PartialEq for IdMark {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct App {
    pub client_id: String,
    pub client_secret: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub username: String,
    /// Lowercase md5 hex of the password, as TTLock expects it on the wire.
    pub password_md5: String,
    #[serde(default)]
    pub uid: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub access_token: String,
    pub refresh_token: String,
    #[serde(default)]
    pub username: String,
    /// Simulator clock (real clock + `clock_offset_ms`) at which the access token expires.
    pub access_expires_at_ms: i64,
    #[serde(default = "yes")]
    pub refresh_valid: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gateway {
    pub gateway_id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default = "yes")]
    pub online: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    pub lock_id: i64,
    #[serde(default)]
    pub alias: String,
    /// Gateways that reach the lock; operations use the online one with the best signal.
    #[serde(default)]
    pub gateway_ids: Vec<i64>,
    /// Extension: signal (dBm) of the lock at a gateway, by gateway id; a gateway of
    /// `gateway_ids` not listed here has `-60 - 8 * position` (so the list order is best first).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rssi: BTreeMap<i64, i64>,
    #[serde(default = "full_battery")]
    pub battery: i64,
    /// 0 locked, 1 unlocked, 2 unknown.
    #[serde(default)]
    pub open_state: i64,
    #[serde(default = "yes")]
    pub remote_unlock: bool,
    #[serde(default)]
    pub passcodes: Vec<Passcode>,
    /// Lock records the cloud has or is being sent by a gateway (extension), in the order they
    /// were made; `lockRecord/list` lists one once the clock reaches its `server_date_ms`.
    /// `lock/unlock` appends recordType 12.
    #[serde(default)]
    pub records: Vec<Record>,
    /// What the lock itself holds where it differs from `passcodes` (the cloud's list), and the
    /// lock-side state of random codes (extension; see `keypad.rs` and the README): a cloud code
    /// without an entry here is on the lock as listed.
    #[serde(default)]
    pub keypad: Vec<KeypadCode>,
    /// Records the lock made that have not reached the cloud yet (no online gateway when they
    /// were made), oldest first (extension).
    #[serde(default)]
    pub unsent_records: Vec<Record>,
    /// Ids of records (in `records` or `unsent_records`) that `lockRecord/list` serves without
    /// `recordId`, as some real answers come (extension). The simulator keeps its own id for
    /// them, so they stay distinct items.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records_without_id: Vec<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Passcode {
    /// 0 in input JSON: the simulator allocates one.
    #[serde(default)]
    pub keyboard_pwd_id: i64,
    pub keyboard_pwd: String,
    #[serde(default)]
    pub name: String,
    /// 2 permanent (start/end 0), 3 period; `keyboardPwd/get` codes keep their 1..14 type.
    #[serde(default = "period")]
    pub r#type: i64,
    #[serde(default)]
    pub start_ms: i64,
    #[serde(default)]
    pub end_ms: i64,
    #[serde(default = "yes")]
    pub is_custom: bool,
    #[serde(default)]
    pub create_ms: i64,
    /// Extension: the list item's `status` (1 normal).
    #[serde(default = "one")]
    pub status: i64,
    /// Extension: the list item's `senderUsername`.
    #[serde(default)]
    pub sender_username: String,
}

/// A lock record (extension), listed by `lockRecord/list`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    #[serde(default)]
    pub record_id: i64,
    pub record_type: i64,
    #[serde(default)]
    pub record_type_from_lock: i64,
    #[serde(default = "one")]
    pub success: i64,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub keyboard_pwd: String,
    #[serde(default)]
    pub lock_date_ms: i64,
    #[serde(default)]
    pub server_date_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Options {
    pub gateway_hold_ms: u64,
    pub latency_ms: u64,
    pub rotate_refresh_tokens: bool,
    pub token_ttl_s: i64,
    pub clock_offset_ms: i64,
    pub numbers_as_strings: bool,
    /// Extension: a refresh also expires the access token it replaces (10004 for its holders).
    pub refresh_revokes_access: bool,
    /// Extension: custom passcodes a lock holds before -3009.
    pub custom_passcode_limit: usize,
    /// Extension: an idle keep-alive connection is closed after this long.
    pub keep_alive_s: u64,
    /// Answer in the shapes real TTLock answers were seen in (official docs' examples, peers'
    /// fixtures and field reports): optional fields left out (`isCustom` of listed codes,
    /// `gatewayName` of `gateway/list`, `recordId` of old records, `state` of a lock whose state
    /// is unknown), `keyboardPwdType` as a string, and every other item's numbers as strings.
    pub real_shapes: bool,
    /// Extension: how long after the lock made a record its gateway gets it to the cloud
    /// (`serverDate` = `lockDate` + this); `lockRecord/list` does not list it before.
    pub record_upload_delay_ms: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            gateway_hold_ms: 300,
            latency_ms: 0,
            rotate_refresh_tokens: true,
            token_ttl_s: 7_776_000,
            clock_offset_ms: 0,
            numbers_as_strings: false,
            refresh_revokes_access: false,
            custom_passcode_limit: 250,
            keep_alive_s: 60,
            real_shapes: false,
            record_upload_delay_ms: 0,
        }
    }
}

fn yes() -> bool {
    true
}
fn one() -> i64 {
    1
}
fn period() -> i64 {
    TYPE_PERIOD
}
fn full_battery() -> i64 {
    100
}

/// What [`State::add_passcodes`] asks its closure for: `(type, start_ms, end_ms)`.
pub type Window = (i64, i64, i64);

impl Lock {
    /// A lock with defaults (battery 100, locked, remote unlock on, no passcodes).
    pub fn new(lock_id: i64, alias: &str, gateway_ids: &[i64]) -> Lock {
        Lock {
            lock_id,
            alias: alias.to_string(),
            gateway_ids: gateway_ids.to_vec(),
            rssi: BTreeMap::new(),
            battery: 100,
            open_state: 0,
            remote_unlock: true,
            passcodes: Vec::new(),
            records: Vec::new(),
            keypad: Vec::new(),
            unsent_records: Vec::new(),
            records_without_id: Vec::new(),
        }
    }

    /// The lock's gateways with their signal, best first (equal signals in `gateway_ids` order).
    pub fn gateways_by_signal(&self) -> Vec<(i64, i64)> {
        let mut v: Vec<(i64, i64)> = self
            .gateway_ids
            .iter()
            .enumerate()
            .map(|(i, &g)| (g, self.rssi.get(&g).copied().unwrap_or(-60 - 8 * i as i64)))
            .collect();
        v.sort_by_key(|&(_, rssi)| std::cmp::Reverse(rssi));
        v
    }

    /// Custom passcodes stored on the lock (what -3009 counts).
    pub fn custom_count(&self) -> usize {
        self.passcodes.iter().filter(|p| p.is_custom).count()
    }

    pub fn passcode(&self, keyboard_pwd_id: i64) -> Option<&Passcode> {
        self.passcodes
            .iter()
            .find(|p| p.keyboard_pwd_id == keyboard_pwd_id)
    }

    pub fn passcode_by_code(&self, code: &str) -> Option<&Passcode> {
        self.passcodes.iter().find(|p| p.keyboard_pwd == code)
    }
}

impl Passcode {
    /// A custom period code (type 3); `create_ms` is left 0 until added to a state.
    pub fn period(code: &str, name: &str, start_ms: i64, end_ms: i64) -> Passcode {
        Passcode {
            keyboard_pwd_id: 0,
            keyboard_pwd: code.to_string(),
            name: name.to_string(),
            r#type: TYPE_PERIOD,
            start_ms,
            end_ms,
            is_custom: true,
            create_ms: 0,
            status: 1,
            sender_username: String::new(),
        }
    }

    /// A custom permanent code (type 2, start and end 0).
    pub fn permanent(code: &str, name: &str) -> Passcode {
        Passcode {
            r#type: TYPE_PERMANENT,
            ..Passcode::period(code, name, 0, 0)
        }
    }
}

impl State {
    /// An empty state with just the app.
    pub fn new(client_id: &str, client_secret: &str) -> State {
        State {
            app: App {
                client_id: client_id.to_string(),
                client_secret: client_secret.to_string(),
            },
            users: Vec::new(),
            tokens: Vec::new(),
            gateways: Vec::new(),
            locks: Vec::new(),
            options: Options::default(),
            passcode_id_mark: IdMark::default(),
        }
    }

    /// Parses the README's JSON shape; passcodes and records with id 0 get ids.
    pub fn from_json(json: &str) -> Result<State, serde_json::Error> {
        let mut s: State = serde_json::from_str(json)?;
        s.normalize();
        Ok(s)
    }

    /// Like [`State::from_json`] from a parsed value.
    pub fn from_value(value: serde_json::Value) -> Result<State, serde_json::Error> {
        let mut s: State = serde_json::from_value(value)?;
        s.normalize();
        Ok(s)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("state serializes")
    }

    /// The test fixture: app `cid-test`/`csecret-test`, user `hotel@example.com` (password
    /// `secret-pass`), one valid token pair ([`FIXTURE_ACCESS_TOKEN`], [`FIXTURE_REFRESH_TOKEN`],
    /// 90 days), gateways 1 and 2 online, locks 1001 "Room 101" (gw 1), 1002 "Room 102" (gw 2)
    /// and 2001 "Main door" (gw 2), no passcodes.
    pub fn fixture() -> State {
        let mut s = State::new(FIXTURE_CLIENT_ID, FIXTURE_CLIENT_SECRET);
        s.users.push(User {
            username: FIXTURE_USERNAME.to_string(),
            password_md5: FIXTURE_PASSWORD_MD5.to_string(),
            uid: FIXTURE_UID,
        });
        s.tokens.push(Token {
            access_token: FIXTURE_ACCESS_TOKEN.to_string(),
            refresh_token: FIXTURE_REFRESH_TOKEN.to_string(),
            username: FIXTURE_USERNAME.to_string(),
            access_expires_at_ms: now_ms() + s.options.token_ttl_s * 1000,
            refresh_valid: true,
        });
        s.add_gateway(1, "GW floor 1");
        s.add_gateway(2, "GW floor 2");
        s.locks.push(Lock {
            battery: 87,
            ..Lock::new(1001, "Room 101", &[1])
        });
        s.locks.push(Lock {
            battery: 64,
            ..Lock::new(1002, "Room 102", &[2])
        });
        s.locks.push(Lock::new(2001, "Main door", &[2]));
        s
    }

    /// The demo hotel: the fixture's app, user and token; rooms 101 (lock 1101) and 102 (1102) on
    /// gateway 1 "Floor 1", room 201 (1201) on gateway 2 "Floor 2", the main door (1000) on
    /// gateway 2 too. Passcodes relative to now, so a purge has work: on 1101 a guest who left
    /// three days ago and one who left six hours ago (inside the grace day), on 1102 a current
    /// guest, on 1201 a guest who left two days ago; the main door holds the same codes plus a
    /// permanent staff code.
    pub fn demo_hotel() -> State {
        let now = now_ms();
        let mut s = State::fixture();
        s.gateways.clear();
        s.locks.clear();
        s.add_gateway(1, "Floor 1");
        s.add_gateway(2, "Floor 2");
        s.locks.push(Lock {
            battery: 91,
            ..Lock::new(1101, "Room 101", &[1])
        });
        s.locks.push(Lock {
            battery: 78,
            ..Lock::new(1102, "Room 102", &[1])
        });
        s.locks.push(Lock {
            battery: 55,
            ..Lock::new(1201, "Room 201", &[2])
        });
        s.locks.push(Lock::new(1000, "Main door", &[2]));
        let stays = [
            (1101, "31415", "101", now - 6 * DAY_MS, now - 3 * DAY_MS),
            (1101, "27182", "101", now - 2 * DAY_MS, now - 6 * HOUR_MS),
            (1102, "16180", "102", now - DAY_MS, now + 2 * DAY_MS),
            (1201, "14142", "201", now - 4 * DAY_MS, now - 2 * DAY_MS),
        ];
        for (lock_id, code, room, start, end) in stays {
            let name = format!("{room}_{}{}", ddmm(start), ddmm(end));
            let p = Passcode::period(code, &name, start, end);
            s.add_passcode(lock_id, p.clone());
            s.add_passcode(1000, p);
        }
        s.add_passcode(1000, Passcode::permanent("909090", "Staff"));
        s
    }

    pub fn add_gateway(&mut self, gateway_id: i64, name: &str) {
        self.gateways.push(Gateway {
            gateway_id,
            name: name.to_string(),
            online: true,
        });
    }

    pub fn lock(&self, lock_id: i64) -> Option<&Lock> {
        self.locks.iter().find(|l| l.lock_id == lock_id)
    }

    pub fn lock_mut(&mut self, lock_id: i64) -> Option<&mut Lock> {
        self.locks.iter_mut().find(|l| l.lock_id == lock_id)
    }

    pub fn gateway(&self, gateway_id: i64) -> Option<&Gateway> {
        self.gateways.iter().find(|g| g.gateway_id == gateway_id)
    }

    pub fn gateway_mut(&mut self, gateway_id: i64) -> Option<&mut Gateway> {
        self.gateways
            .iter_mut()
            .find(|g| g.gateway_id == gateway_id)
    }

    /// The passcodes of a lock (empty for an unknown lock).
    pub fn passcodes(&self, lock_id: i64) -> &[Passcode] {
        self.lock(lock_id).map_or(&[], |l| &l.passcodes[..])
    }

    /// The simulator's clock for this state: real clock plus `clock_offset_ms`.
    pub fn now_ms(&self) -> i64 {
        now_ms() + self.options.clock_offset_ms
    }

    /// Adds a passcode as stored (no validation), allocating its id when 0 and `create_ms` when
    /// 0. Panics on an unknown lock (a test bug). Returns the id.
    pub fn add_passcode(&mut self, lock_id: i64, mut p: Passcode) -> i64 {
        if p.keyboard_pwd_id == 0 {
            p.keyboard_pwd_id = self.next_passcode_id();
        }
        if p.create_ms == 0 {
            p.create_ms = self.now_ms();
        }
        let id = p.keyboard_pwd_id;
        self.lock_mut(lock_id)
            .unwrap_or_else(|| panic!("add_passcode: no lock {lock_id}"))
            .passcodes
            .push(p);
        id
    }

    /// Adds `n` custom passcodes to a lock in one go (no validation, no 250 limit), for big-data
    /// tests. `window(i)` gives `(type, start_ms, end_ms)`; type 2 stores start/end 0. Codes are
    /// distinct 6-digit strings not already on the lock, names `bulk_<i>`, creation times
    /// increasing with `i`. Returns the new ids in order.
    pub fn add_passcodes(
        &mut self,
        lock_id: i64,
        n: usize,
        mut window: impl FnMut(usize) -> Window,
    ) -> Vec<i64> {
        let first_id = self.reserve_passcode_ids(n);
        let now = self.now_ms();
        let lock = self
            .lock_mut(lock_id)
            .unwrap_or_else(|| panic!("add_passcodes: no lock {lock_id}"));
        let mut used: std::collections::HashSet<String> = lock
            .passcodes
            .iter()
            .map(|p| p.keyboard_pwd.clone())
            .collect();
        let mut candidate = 300_000u32;
        let mut ids = Vec::with_capacity(n);
        for (i, next_id) in (0..n).zip(first_id..) {
            let code = loop {
                // Step by a prime so neighbouring codes differ in several digits.
                candidate = 100_000 + (candidate - 100_000 + 7919) % 900_000;
                let c = candidate.to_string();
                if used.insert(c.clone()) {
                    break c;
                }
            };
            let (t, start, end) = window(i);
            let (start, end) = if t == TYPE_PERMANENT {
                (0, 0)
            } else {
                (start, end)
            };
            lock.passcodes.push(Passcode {
                keyboard_pwd_id: next_id,
                create_ms: now - (n - i) as i64,
                r#type: t,
                ..Passcode::period(&code, &format!("bulk_{i:04}"), start, end)
            });
            ids.push(next_id);
        }
        ids
    }

    /// Every access token expires now (simulator clock).
    pub fn expire_access_tokens(&mut self) {
        let now = self.now_ms();
        for t in &mut self.tokens {
            t.access_expires_at_ms = t.access_expires_at_ms.min(now - 1);
        }
    }

    /// Adds a fresh valid token pair for `username` and returns it.
    pub fn issue_token(&mut self, username: &str) -> Token {
        let t = Token {
            access_token: random_hex(32),
            refresh_token: random_hex(32),
            username: username.to_string(),
            access_expires_at_ms: self.now_ms() + self.options.token_ttl_s * 1000,
            refresh_valid: true,
        };
        self.tokens.push(t.clone());
        t
    }

    /// A fresh passcode id, never one given before (also when the newest code was deleted).
    pub(crate) fn next_passcode_id(&mut self) -> i64 {
        self.reserve_passcode_ids(1)
    }

    /// Reserves `n` consecutive fresh passcode ids and returns the first.
    fn reserve_passcode_ids(&mut self, n: usize) -> i64 {
        let max = self
            .locks
            .iter()
            .flat_map(|l| l.passcodes.iter().map(|p| p.keyboard_pwd_id))
            .max()
            .unwrap_or(0)
            .max(self.passcode_id_mark.0);
        // Start at a realistic-looking id rather than 1.
        let first = (max + 1).max(24_000_001);
        self.passcode_id_mark.0 = first + n as i64 - 1;
        first
    }

    pub(crate) fn next_record_id(&self) -> i64 {
        let max = self
            .locks
            .iter()
            .flat_map(|l| l.records.iter().chain(&l.unsent_records))
            .map(|r| r.record_id)
            .max()
            .unwrap_or(0);
        (max + 1).max(5_000_000_001)
    }

    /// Gives ids to passcodes and records loaded with id 0.
    pub(crate) fn normalize(&mut self) {
        let unnumbered = self
            .locks
            .iter()
            .flat_map(|l| &l.passcodes)
            .filter(|p| p.keyboard_pwd_id == 0)
            .count();
        let mut next = self.reserve_passcode_ids(unnumbered);
        let mut next_rec = self.next_record_id();
        for l in &mut self.locks {
            for p in &mut l.passcodes {
                if p.keyboard_pwd_id == 0 {
                    p.keyboard_pwd_id = next;
                    next += 1;
                }
            }
            for r in l.records.iter_mut().chain(&mut l.unsent_records) {
                if r.record_id == 0 {
                    r.record_id = next_rec;
                    next_rec += 1;
                }
            }
        }
    }
}

/// `DDMM` of a UTC millisecond time, as the LM scripts name passcodes.
fn ddmm(ms: i64) -> String {
    let (_, m, d) = crate::util::civil_from_days(ms.div_euclid(DAY_MS));
    format!("{d:02}{m:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_example_parses_with_defaults() {
        let json = r#"{
          "app": { "client_id": "cid-test", "client_secret": "csecret-test" },
          "users": [ { "username": "hotel@example.com", "password_md5": "e10adc3949ba59abbe56e057f20f883e", "uid": 1001 } ],
          "tokens": [ { "access_token": "a", "refresh_token": "r", "username": "hotel@example.com",
                        "access_expires_at_ms": 1790000000000, "refresh_valid": true } ],
          "gateways": [ { "gateway_id": 1, "name": "GW floor 1", "online": true } ],
          "locks": [ { "lock_id": 1234567, "alias": "Room 101", "gateway_ids": [1], "battery": 87,
                       "open_state": 0, "remote_unlock": true,
                       "passcodes": [ { "keyboard_pwd_id": 11, "keyboard_pwd": "48213", "name": "101_01120512",
                                        "type": 3, "start_ms": 0, "end_ms": 0, "is_custom": true,
                                        "create_ms": 0 },
                                      { "keyboard_pwd": "1234" } ] } ],
          "options": { "gateway_hold_ms": 300, "latency_ms": 0, "rotate_refresh_tokens": true,
                       "token_ttl_s": 7776000, "clock_offset_ms": 0, "numbers_as_strings": false }
        }"#;
        let s = State::from_json(json).unwrap();
        assert_eq!(s.locks[0].passcodes[0].keyboard_pwd_id, 11);
        // The second code had no id: allocated, distinct.
        assert_ne!(s.locks[0].passcodes[1].keyboard_pwd_id, 0);
        assert_ne!(s.locks[0].passcodes[1].keyboard_pwd_id, 11);
        assert_eq!(s.locks[0].passcodes[1].r#type, TYPE_PERIOD);
        assert_eq!(s.options.custom_passcode_limit, 250);

        let minimal = State::from_json(r#"{"app":{"client_id":"a","client_secret":"b"}}"#).unwrap();
        assert_eq!(minimal.options, Options::default());
        assert!(minimal.locks.is_empty());
        assert!(
            State::from_json(r#"{"users":[]}"#).is_err(),
            "app is required"
        );
    }

    #[test]
    fn state_round_trips_through_json() {
        let s = State::demo_hotel();
        let back = State::from_json(&s.to_json()).unwrap();
        assert_eq!(s, back);
        let v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert!(v["locks"][0]["passcodes"][0]["type"].is_i64());
    }

    #[test]
    fn fixture_matches_the_brief() {
        let s = State::fixture();
        assert_eq!(s.app.client_id, "cid-test");
        assert_eq!(s.users[0].password_md5, FIXTURE_PASSWORD_MD5);
        assert!(s.tokens[0].access_expires_at_ms > s.now_ms());
        let ids: Vec<_> = s
            .locks
            .iter()
            .map(|l| (l.lock_id, l.gateway_ids[0]))
            .collect();
        assert_eq!(ids, vec![(1001, 1), (1002, 2), (2001, 2)]);
        assert_eq!(s.gateways.len(), 2);
    }

    #[test]
    fn passcode_ids_never_come_back_after_the_newest_is_deleted() {
        let mut s = State::fixture();
        let a = s.add_passcode(1001, Passcode::period("4821", "a", 0, 1));
        let b = s.add_passcode(1001, Passcode::period("4822", "b", 0, 1));
        s.lock_mut(1001)
            .unwrap()
            .passcodes
            .retain(|p| p.keyboard_pwd_id != b);
        let c = s.add_passcode(1001, Passcode::period("4823", "c", 0, 1));
        assert!(a < b && b < c, "ids {a} {b} {c}");
        let bulk = s.add_passcodes(1002, 3, |_| (TYPE_PERIOD, 0, 1));
        assert_eq!(bulk, vec![c + 1, c + 2, c + 3]);
        assert!(s.next_passcode_id() > c + 3);
    }

    #[test]
    fn add_passcodes_makes_distinct_codes_and_ids() {
        let mut s = State::fixture();
        let ids = s.add_passcodes(1001, 450, |i| {
            if i % 10 == 0 {
                (TYPE_PERMANENT, 5, 6)
            } else {
                (TYPE_PERIOD, i as i64, i as i64 + 10)
            }
        });
        assert_eq!(ids.len(), 450);
        let lock = s.lock(1001).unwrap();
        let codes: std::collections::HashSet<_> =
            lock.passcodes.iter().map(|p| &p.keyboard_pwd).collect();
        assert_eq!(codes.len(), 450);
        assert!(lock.passcodes.iter().all(|p| p.keyboard_pwd.len() == 6));
        let perm = lock.passcode(ids[0]).unwrap();
        assert_eq!((perm.r#type, perm.start_ms, perm.end_ms), (2, 0, 0));
        assert_eq!(lock.passcode(ids[1]).unwrap().end_ms, 11);
        let more = s.add_passcodes(1001, 1, |_| (3, 0, 1));
        assert_eq!(more[0], ids[449] + 1);
    }

    #[test]
    fn demo_hotel_has_expired_and_valid_codes() {
        let s = State::demo_hotel();
        let now = s.now_ms();
        let main = s.lock(1000).unwrap();
        assert_eq!(main.passcodes.len(), 5);
        assert!(main.passcodes.iter().any(|p| p.r#type == 2));
        assert!(main
            .passcodes
            .iter()
            .any(|p| p.end_ms != 0 && p.end_ms < now - DAY_MS));
        assert!(main.passcodes.iter().any(|p| p.end_ms > now));
        assert_eq!(s.lock(1101).unwrap().gateway_ids, vec![1]);
        assert!(s.lock(1101).unwrap().passcodes[0].name.starts_with("101_"));
    }
}
