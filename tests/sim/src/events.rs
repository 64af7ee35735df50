//! Door events and how their records reach the cloud.
//!
//! An opening by card, app, fingerprint, remote, key or button (admin `POST /open`,
//! [`State::open`]) makes a record as a keypad opening does. A record reaches
//! `lockRecord/list` the way a gateway brings it: a lock with an online gateway sends it up
//! `record_upload_delay_ms` after the lock made it (its `serverDate`; it is not listed before);
//! a lock with no online gateway keeps it in `unsent_records` until a gateway of it comes back
//! online ([`State::set_gateway_online`]), an operation through a gateway reaches it, or the app
//! syncs it ([`State::upload_records`]).

use std::collections::HashSet;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::state::{Record, State};

/// How a door was opened (`"by"` of admin `POST /open`). The keypad has its own request
/// (`POST /keypad`), which checks the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenedBy {
    /// The TTLock app over Bluetooth.
    App,
    /// An IC card.
    Card,
    Fingerprint,
    /// Remote unlock through a gateway (as `lock/unlock` records it).
    Remote,
    /// A mechanical key.
    Key,
    /// The unlock button on the lock.
    Button,
}

impl OpenedBy {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            OpenedBy::App => "app",
            OpenedBy::Card => "card",
            OpenedBy::Fingerprint => "fingerprint",
            OpenedBy::Remote => "remote",
            OpenedBy::Key => "key",
            OpenedBy::Button => "button",
        }
    }

    /// The cloud's `recordType` (TTLock's "record type of cloud"): app 1, card 7, fingerprint
    /// 8, key 10, remote 12, button 46 (the keypad's is 4).
    pub fn record_type(self) -> i64 {
        match self {
            OpenedBy::App => 1,
            OpenedBy::Card => 7,
            OpenedBy::Fingerprint => 8,
            OpenedBy::Key => 10,
            OpenedBy::Remote => 12,
            OpenedBy::Button => 46,
        }
    }

    /// `recordTypeFromLock`, the lock's own operation code (the SDKs' `LogOperate`; our choice,
    /// TTLock does not document the pairs): app 1 (mobile unlock), card 17 (IC card unlock; 25
    /// when it failed), fingerprint 20 (22 when it failed), key 27 (key unlock), remote 28
    /// (gateway unlock, as `lock/unlock`), button 32 (going out).
    pub fn record_type_from_lock(self, success: bool) -> i64 {
        match (self, success) {
            (OpenedBy::App, _) => 1,
            (OpenedBy::Card, true) => 17,
            (OpenedBy::Card, false) => 25,
            (OpenedBy::Fingerprint, true) => 20,
            (OpenedBy::Fingerprint, false) => 22,
            (OpenedBy::Key, _) => 27,
            (OpenedBy::Remote, _) => 28,
            (OpenedBy::Button, _) => 32,
        }
    }
}

/// An opening by something other than the keypad (JSON: the body of admin `POST /open`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Opening {
    pub lock_id: i64,
    pub by: OpenedBy,
    /// The record's `username`: the card's or fingerprint's name, the app user (default "").
    #[serde(default)]
    pub who: String,
    /// The lock's time of the event (None: the simulator's clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<i64>,
    /// false: the lock refused (the record has `success` 0 and the door stays as it was).
    #[serde(default = "yes")]
    pub success: bool,
    /// Card or fingerprint number, kept as the record's `keyboardPwd` (like a code's digits);
    /// a JSON number is taken as its digits.
    #[serde(
        default,
        deserialize_with = "digits",
        skip_serializing_if = "String::is_empty"
    )]
    pub number: String,
    /// `lockRecord/list` serves the record without `recordId`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_record_id: bool,
    /// This record's upload delay (None: option `record_upload_delay_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_delay_ms: Option<u64>,
}

fn yes() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn digits<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) if n.is_u64() => Ok(n.to_string()),
        Value::Null => Ok(String::new()),
        _ => Err(serde::de::Error::custom(
            "`number` must be a string of digits",
        )),
    }
}

impl Opening {
    /// A successful opening of `lock_id` by `by`, named `who`, now, with no number.
    pub fn new(lock_id: i64, by: OpenedBy, who: &str) -> Opening {
        Opening {
            lock_id,
            by,
            who: who.to_string(),
            at_ms: None,
            success: true,
            number: String::new(),
            no_record_id: false,
            upload_delay_ms: None,
        }
    }

    /// At this lock time.
    pub fn with_at_ms(mut self, at_ms: i64) -> Opening {
        self.at_ms = Some(at_ms);
        self
    }

    /// Refused by the lock.
    pub fn failed(mut self) -> Opening {
        self.success = false;
        self
    }

    /// With the card's or fingerprint's number.
    pub fn with_number(mut self, number: &str) -> Opening {
        self.number = number.to_string();
        self
    }

    /// Served without `recordId`.
    pub fn without_record_id(mut self) -> Opening {
        self.no_record_id = true;
        self
    }

    /// With its own upload delay.
    pub fn with_upload_delay_ms(mut self, ms: u64) -> Opening {
        self.upload_delay_ms = Some(ms);
        self
    }

    /// Its time and delivery.
    pub fn event(&self) -> EventOptions {
        EventOptions {
            at_ms: self.at_ms,
            upload_delay_ms: self.upload_delay_ms,
            no_record_id: self.no_record_id,
        }
    }
}

/// When an event happens on a lock and how its record is served (the optional fields `at_ms`,
/// `upload_delay_ms` and `no_record_id` of admin `POST /keypad` and `POST /open`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventOptions {
    /// The lock's time of the event (None: the simulator's clock).
    pub at_ms: Option<i64>,
    /// The record's upload delay (None: option `record_upload_delay_ms`).
    pub upload_delay_ms: Option<u64>,
    /// `lockRecord/list` serves the record without `recordId`.
    pub no_record_id: bool,
}

impl EventOptions {
    /// At this lock time, otherwise the defaults.
    pub fn at(at_ms: Option<i64>) -> EventOptions {
        EventOptions {
            at_ms,
            ..EventOptions::default()
        }
    }
}

impl State {
    /// Whether some gateway of the lock is online (None for an unknown lock).
    pub fn gateway_online_for(&self, lock_id: i64) -> Option<bool> {
        Some(
            self.lock(lock_id)?
                .gateway_ids
                .iter()
                .any(|g| self.gateway(*g).is_some_and(|g| g.online)),
        )
    }

    /// A record the lock made at `r.lock_date_ms` goes on its way (id allocated): when
    /// `online` its gateway sends it up after the upload delay (`server_date_ms` is the lock
    /// time plus the delay, listed from then on; a lock time ahead of the simulator's clock
    /// counts as now, as from a lock whose clock runs fast), else it waits on the lock in
    /// `unsent_records`. Returns its id (None for an unknown lock).
    pub(crate) fn deliver_record(
        &mut self,
        lock_id: i64,
        mut r: Record,
        ev: &EventOptions,
        online: bool,
    ) -> Option<i64> {
        let delay = ev
            .upload_delay_ms
            .unwrap_or(self.options.record_upload_delay_ms);
        let id = self.next_record_id();
        let now = self.now_ms();
        let l = self.lock_mut(lock_id)?;
        r.record_id = id;
        if ev.no_record_id {
            l.records_without_id.push(id);
        }
        if online {
            r.server_date_ms = r
                .lock_date_ms
                .min(now)
                .saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
            l.records.push(r);
        } else {
            r.server_date_ms = 0;
            l.unsent_records.push(r);
        }
        Some(id)
    }

    /// Someone opens (or fails to open) a lock by card, app, fingerprint and so on: a record
    /// with the kind's `recordType`, `username` = `who`, `keyboardPwd` = `number`; a success
    /// sets `open_state` 1. The record goes up as [`State::deliver_record`] says. Returns the
    /// record's id in the simulator (also for a record served without one); None for an
    /// unknown lock.
    pub fn open(&mut self, o: &Opening) -> Option<i64> {
        let online = self.gateway_online_for(o.lock_id)?;
        let at = o.at_ms.unwrap_or_else(|| self.now_ms());
        let r = Record {
            record_id: 0,
            record_type: o.by.record_type(),
            record_type_from_lock: o.by.record_type_from_lock(o.success),
            success: i64::from(o.success),
            username: o.who.clone(),
            keyboard_pwd: o.number.clone(),
            lock_date_ms: at,
            server_date_ms: 0,
        };
        if o.success {
            self.lock_mut(o.lock_id)?.open_state = 1;
        }
        self.deliver_record(o.lock_id, r, &o.event(), online)
    }

    /// Sets a gateway on- or offline. When it comes back online (it was offline) it uploads
    /// the unsent records of every lock it reaches, with `serverDate` = now. Returns how many
    /// records went up; None for an unknown gateway.
    pub fn set_gateway_online(&mut self, gateway_id: i64, online: bool) -> Option<usize> {
        let g = self.gateway_mut(gateway_id)?;
        let was = std::mem::replace(&mut g.online, online);
        Some(if online && !was {
            self.gateway_came_back(gateway_id)
        } else {
            0
        })
    }

    /// A gateway is back online: the locks it reaches send up what they kept.
    pub(crate) fn gateway_came_back(&mut self, gateway_id: i64) -> usize {
        let locks: Vec<i64> = self
            .locks
            .iter()
            .filter(|l| l.gateway_ids.contains(&gateway_id))
            .map(|l| l.lock_id)
            .collect();
        locks.into_iter().map(|id| self.upload_records(id)).sum()
    }

    /// What `lockRecord/list` lists for the lock now, before its filters: the records whose
    /// `server_date_ms` the simulator's clock has reached, newest first by `lock_date_ms`
    /// (equal times: the one made last first). Empty for an unknown lock.
    pub fn listed_records(&self, lock_id: i64) -> Vec<&Record> {
        let now = self.now_ms();
        let Some(l) = self.lock(lock_id) else {
            return Vec::new();
        };
        let mut v: Vec<&Record> = l
            .records
            .iter()
            .rev()
            .filter(|r| r.server_date_ms <= now)
            .collect();
        // Stable: equal lock times keep the newest-made first.
        v.sort_by_key(|r| std::cmp::Reverse(r.lock_date_ms));
        v
    }

    /// The ids of the lock's records served without `recordId`.
    pub(crate) fn records_without_id(&self, lock_id: i64) -> HashSet<i64> {
        self.lock(lock_id)
            .map(|l| l.records_without_id.iter().copied().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Lock, Passcode, HOUR_MS};

    /// The fixture plus lock 3001 without a gateway and lock 1003 on gateways 1 and 2.
    fn state() -> State {
        let mut s = State::fixture();
        s.locks.push(Lock::new(3001, "Garage", &[]));
        s.locks.push(Lock::new(1003, "Room 103", &[1, 2]));
        s
    }

    fn listed_ids(s: &State, lock_id: i64) -> Vec<i64> {
        s.listed_records(lock_id)
            .iter()
            .map(|r| r.record_id)
            .collect()
    }

    #[test]
    fn openings_carry_their_kind_and_who_never_the_number() {
        let mut s = state();
        let now = s.now_ms();
        let kinds = [
            (OpenedBy::App, 1, 1),
            (OpenedBy::Card, 7, 17),
            (OpenedBy::Fingerprint, 8, 20),
            (OpenedBy::Key, 10, 27),
            (OpenedBy::Remote, 12, 28),
            (OpenedBy::Button, 46, 32),
        ];
        for (i, (by, t, from_lock)) in kinds.into_iter().enumerate() {
            let at = now - 10 * HOUR_MS + i as i64 * HOUR_MS;
            let id = s
                .open(
                    &Opening::new(1001, by, &format!("{} {i}", by.as_str()))
                        .with_at_ms(at)
                        .with_number("3543255893"),
                )
                .unwrap();
            let l = s.lock(1001).unwrap();
            let r = l.records.iter().find(|r| r.record_id == id).unwrap();
            assert_eq!(
                (r.record_type, r.record_type_from_lock, r.success),
                (t, from_lock, 1),
                "{by:?}"
            );
            assert_eq!(r.username, format!("{} {i}", by.as_str()));
            assert_eq!(r.keyboard_pwd, "3543255893");
            assert_eq!((r.lock_date_ms, r.server_date_ms), (at, at));
            assert_eq!(l.open_state, 1);
        }
        // A card without a name: the username stays empty, not the number.
        s.open(&Opening::new(1001, OpenedBy::Card, "").with_number("777"))
            .unwrap();
        let listed = s.listed_records(1001);
        assert_eq!(listed.len(), 7);
        assert_eq!(
            (listed[0].username.as_str(), listed[0].keyboard_pwd.as_str()),
            ("", "777")
        );
        assert!(listed
            .iter()
            .all(|r| r.username != r.keyboard_pwd && !r.username.contains("3543255893")));
        assert_eq!(s.open(&Opening::new(9, OpenedBy::App, "x")), None);
    }

    #[test]
    fn a_refused_card_is_recorded_and_leaves_the_door_shut() {
        let mut s = state();
        let id = s
            .open(&Opening::new(1001, OpenedBy::Card, "Card 9").failed())
            .unwrap();
        let l = s.lock(1001).unwrap();
        assert_eq!(l.open_state, 0);
        let r = &l.records[0];
        assert_eq!(
            (
                r.record_id,
                r.record_type,
                r.record_type_from_lock,
                r.success
            ),
            (id, 7, 25, 0)
        );
    }

    #[test]
    fn the_upload_delay_hides_a_record_until_its_server_date() {
        let mut s = state();
        s.options.record_upload_delay_ms = 60_000;
        let now = s.now_ms();
        let id = s
            .open(&Opening::new(1001, OpenedBy::Card, "Card 1"))
            .unwrap();
        let r = s.lock(1001).unwrap().records[0].clone();
        assert!(r.lock_date_ms >= now && r.server_date_ms == r.lock_date_ms + 60_000);
        assert!(s.listed_records(1001).is_empty(), "still on its way");
        // An opening long ago has long arrived; a per-event delay overrides the option.
        let old = s
            .open(&Opening::new(1001, OpenedBy::App, "a").with_at_ms(now - HOUR_MS))
            .unwrap();
        let late = s
            .open(
                &Opening::new(1001, OpenedBy::App, "b")
                    .with_at_ms(now - HOUR_MS)
                    .with_upload_delay_ms(2 * HOUR_MS as u64),
            )
            .unwrap();
        assert_eq!(listed_ids(&s, 1001), vec![old]);
        // The clock moves on: the first arrives, the late one not yet.
        s.options.clock_offset_ms = 61_000;
        assert_eq!(listed_ids(&s, 1001), vec![id, old]);
        s.options.clock_offset_ms = HOUR_MS + 1000;
        assert_eq!(listed_ids(&s, 1001), vec![id, late, old]);
        // The keypad too.
        s.add_passcode(1001, Passcode::permanent("4821", "Staff"));
        let a = s
            .keypad_with(
                1001,
                "4821",
                EventOptions {
                    upload_delay_ms: Some(5000),
                    ..EventOptions::default()
                },
            )
            .unwrap();
        assert!(a.opens);
        let k = s.lock(1001).unwrap().records.last().unwrap().clone();
        assert_eq!(k.server_date_ms, k.lock_date_ms + 5000);
        assert_eq!(s.listed_records(1001).len(), 3);
    }

    #[test]
    fn a_lock_time_ahead_of_the_clock_goes_up_from_now() {
        let mut s = state();
        s.options.record_upload_delay_ms = 1000;
        let ahead = s.now_ms() + 3 * HOUR_MS;
        s.open(&Opening::new(1001, OpenedBy::App, "a").with_at_ms(ahead))
            .unwrap();
        let r = s.lock(1001).unwrap().records[0].clone();
        assert_eq!(r.lock_date_ms, ahead);
        assert!(r.server_date_ms <= s.now_ms() + 1000, "not {ahead} + 1000");
        s.options.clock_offset_ms = 1001;
        assert_eq!(s.listed_records(1001).len(), 1);
        // Kept on a lock without gateway and synced: up now too.
        s.open(&Opening::new(3001, OpenedBy::App, "a").with_at_ms(ahead))
            .unwrap();
        s.upload_records(3001);
        assert_eq!(s.listed_records(3001).len(), 1);
    }

    #[test]
    fn offline_gateways_keep_records_until_one_comes_back() {
        let mut s = state();
        s.options.record_upload_delay_ms = 60_000;
        let at = s.now_ms() - HOUR_MS;
        // Lock 1003 has two gateways: one online is enough.
        assert_eq!(s.set_gateway_online(1, false), Some(0));
        s.open(&Opening::new(1003, OpenedBy::Card, "c").with_at_ms(at))
            .unwrap();
        assert_eq!(s.lock(1003).unwrap().records.len(), 1);
        assert_eq!(s.set_gateway_online(2, false), Some(0));
        let a = s
            .open(&Opening::new(1001, OpenedBy::Card, "c1").with_at_ms(at))
            .unwrap();
        let b = s
            .open(&Opening::new(1003, OpenedBy::Fingerprint, "f").with_at_ms(at + 1))
            .unwrap();
        s.open(&Opening::new(3001, OpenedBy::Key, "k")).unwrap();
        for (lock, n) in [(1001, 1), (1003, 1), (3001, 1)] {
            let l = s.lock(lock).unwrap();
            assert_eq!(l.unsent_records.len(), n, "{lock}");
            assert_eq!(l.open_state, 1, "the door opened all the same");
        }
        assert!(s.listed_records(1001).is_empty());
        // Gateway 1 comes back: locks 1001 and 1003 send theirs up now, not after the delay.
        s.options.clock_offset_ms = 5 * 60_000;
        let back = s.now_ms();
        assert_eq!(s.set_gateway_online(1, true), Some(2));
        assert_eq!(s.set_gateway_online(1, true), Some(0), "already online");
        for (lock, id) in [(1001, a), (1003, b)] {
            let l = s.lock(lock).unwrap();
            assert!(l.unsent_records.is_empty());
            let r = l.records.iter().find(|r| r.record_id == id).unwrap();
            assert!(r.server_date_ms >= back && r.server_date_ms <= s.now_ms());
            assert_eq!(listed_ids(&s, lock)[0], id);
        }
        // A lock without a gateway keeps them until the app syncs it.
        assert_eq!(s.lock(3001).unwrap().unsent_records.len(), 1);
        assert_eq!(s.upload_records(3001), 1);
        assert_eq!(s.set_gateway_online(99, true), None);
    }

    #[test]
    fn records_without_id_stay_distinct() {
        let mut s = state();
        let at = s.now_ms() - HOUR_MS;
        let o = Opening::new(1001, OpenedBy::Card, "Card 3")
            .with_at_ms(at)
            .without_record_id();
        let a = s.open(&o).unwrap();
        let b = s.open(&o).unwrap();
        let c = s
            .open(&Opening::new(1001, OpenedBy::Card, "Card 3").with_at_ms(at))
            .unwrap();
        assert!(a != b && b != c);
        assert_eq!(
            listed_ids(&s, 1001),
            vec![c, b, a],
            "equal times: last made first"
        );
        assert_eq!(s.records_without_id(1001), HashSet::from([a, b]));
        // Through JSON and back.
        let back = State::from_json(&s.to_json()).unwrap();
        assert_eq!(back.lock(1001).unwrap().records_without_id, vec![a, b]);
        let v: Value = serde_json::from_str(&State::fixture().to_json()).unwrap();
        assert!(v["locks"][0].get("records_without_id").is_none());
    }

    #[test]
    fn listing_is_newest_first_by_lock_time() {
        let mut s = state();
        let now = s.now_ms();
        let ids: Vec<i64> = [3, 1, 2]
            .into_iter()
            .map(|h| {
                s.open(&Opening::new(1001, OpenedBy::App, "a").with_at_ms(now - h * HOUR_MS))
                    .unwrap()
            })
            .collect();
        assert_eq!(listed_ids(&s, 1001), vec![ids[1], ids[2], ids[0]]);
    }

    #[test]
    fn opening_json() {
        let o: Opening = serde_json::from_str(
            r#"{"lock_id":1001,"by":"card","who":"Cleaning card 3","number":3543255893,"at_ms":5}"#,
        )
        .unwrap();
        assert_eq!(
            o,
            Opening::new(1001, OpenedBy::Card, "Cleaning card 3")
                .with_number("3543255893")
                .with_at_ms(5)
        );
        let back: Opening = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
        assert_eq!(back, o);
        for bad in [
            r#"{"lock_id":1,"by":"keypad"}"#,
            r#"{"lock_id":1,"by":"card","whom":"x"}"#,
            r#"{"lock_id":1,"by":"card","number":-5}"#,
            r#"{"lock_id":1,"by":"card","success":1}"#,
            r#"{"lock_id":1,"by":"card","upload_delay_ms":-1}"#,
            r#"{"by":"card"}"#,
        ] {
            assert!(serde_json::from_str::<Opening>(bad).is_err(), "{bad}");
        }
    }
}
