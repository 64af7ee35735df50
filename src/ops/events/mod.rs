//! Door events (lua-api.md "Door events"): what happened at the doors since the last poll, read
//! from TTLock's records within a call budget.
//!
//! - [`door_events`]: one lock's new records (the cursor drops those already handled), which
//!   live stay's code opened the door, and the stays whose guest arrived (the first successful
//!   opening with the stay's own code, once per stay, kept in the stay memory).
//! - [`health`]: batteries, gateways, the token and the month's calls, alerting on changes.
//! - [`budget`]: how often each job may call TTLock in this month's budget.
//!
//! A guest is told by the code's digits, which TTLock's record carries and the stay memory
//! holds; they are compared here and never leave: events name the stay (`101_01120512`).
pub mod budget;
pub mod cursor;
pub mod health;

use crate::client::Client;
use crate::error::{Code, Error, Result};
use crate::ops::site::{self, Record, RecordSpan};
use crate::ops::stay::{self, LiveStay, StayStore};
use crate::transport::now_ms;

pub use budget::PlanDoor;
pub use cursor::Cursor;

/// Default look-back window: a record reaching TTLock up to a day after it happened is seen.
pub const DEFAULT_LOOKBACK_MS: i64 = 24 * 3_600_000;
/// Longest look-back window (a week): longer reads cost pages for records seen long ago.
pub const MAX_LOOKBACK_MS: i64 = 7 * 24 * 3_600_000;
/// A lock's clock may run this much ahead of the stay's arrival time (it is set by the app).
const CLOCK_SLACK_MS: i64 = 10 * 60_000;

/// Record types that open the door for someone: app, keypad code, card, fingerprint,
/// wristband, key, remote (gateway), unlock button, hotel card, key fob, QR code, face, palm
/// vein, admin code (TTLock's cloud record types; lua-api.md "Site").
const OPENINGS: [i64; 14] = [1, 4, 7, 8, 9, 10, 12, 46, 49, 55, 57, 67, 84, 92];
/// A keypad code (the only way a guest's code opens).
const KEYPAD: i64 = 4;

/// Whether a record is a successful opening.
pub fn is_opening(r: &Record) -> bool {
    r.success == Some(true) && r.record_type.is_some_and(|t| OPENINGS.contains(&t))
}

/// What `door_events` is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsRequest {
    /// The lock.
    pub lock_id: i64,
    /// The cursor the last call returned (`None`: the lock's first poll, which reads nothing).
    pub cursor: Option<String>,
    /// How far back each read goes, ms.
    pub lookback_ms: i64,
}

impl EventsRequest {
    /// Misuse, raised before anything is sent.
    pub fn check(&self) -> Result<()> {
        if self.lock_id < 1 {
            return Err(Error::misuse(
                Code::InvalidArgument,
                format!("door_events: lock_id {} is not a lock id", self.lock_id),
            ));
        }
        if !(60_000..=MAX_LOOKBACK_MS).contains(&self.lookback_ms) {
            return Err(Error::misuse(
                Code::InvalidArgument,
                format!(
                    "door_events: lookback_s must be 60 to {} (a week), got {}",
                    MAX_LOOKBACK_MS / 1000,
                    self.lookback_ms / 1000
                ),
            ));
        }
        if let Some(t) = &self.cursor {
            Cursor::parse(self.lock_id, t)?;
        }
        Ok(())
    }
}

/// One new record, with the live stay whose code made it (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoorEvent {
    /// The record (no digits).
    pub record: Record,
    /// The room whose live stay's code opened the door.
    pub room: Option<String>,
    /// That stay's name (`101_01120512`).
    pub stay: Option<String>,
}

/// A guest's first opening with the stay's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The room.
    pub room: String,
    /// The stay's name.
    pub stay: String,
    /// When (the lock's clock).
    pub time_ms: i64,
    /// The door.
    pub lock_id: i64,
}

/// What one poll found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoorEvents {
    /// The cursor to keep for the next poll.
    pub cursor: String,
    /// The new records, oldest first.
    pub events: Vec<DoorEvent>,
    /// Stays whose guest arrived with these records (each stay once, ever).
    pub arrivals: Vec<Arrival>,
    /// This was the lock's first poll: the cursor starts now and nothing was read.
    pub first: bool,
}

impl DoorEvents {
    /// The latest successful opening among the new records.
    pub fn last_opening(&self) -> Option<&DoorEvent> {
        self.events.iter().rev().find(|e| is_opening(&e.record))
    }
}

/// One lock's new records since its cursor (lua-api.md "Door events"). The records are read
/// from `cursor.from_ms` (now − look-back, at most) to now; those already handled are dropped;
/// a keypad opening with a live stay's code on one of its doors names the stay, and the stay's
/// first such opening is its arrival (remembered in the stay memory, so it is reported once;
/// again only when that opening is read again by the same old cursor, with the same events).
/// On an error the cursor to keep is the old one, and nothing is lost: an arrival marked before
/// the error comes with the next poll from that cursor.
pub fn door_events(c: &Client, store: &dyn StayStore, req: &EventsRequest) -> Result<DoorEvents> {
    req.check()?;
    let now = now_ms();
    let Some(text) = &req.cursor else {
        return Ok(DoorEvents {
            cursor: Cursor::start(req.lock_id, now).to_text(),
            events: Vec::new(),
            arrivals: Vec::new(),
            first: true,
        });
    };
    let mut cursor = Cursor::parse(req.lock_id, text)?;
    let span = RecordSpan {
        lock_id: req.lock_id,
        since_ms: cursor.from_ms.max(0),
        until_ms: None,
    };
    let fresh = cursor.take_new(site::records_with_digits(c, &span)?);
    // The stay memory is read only when a code opened the door (no cost otherwise).
    let keypad = fresh
        .iter()
        .any(|(r, d)| d.is_some() && is_opening(r) && r.record_type == Some(KEYPAD));
    let stays = if keypad {
        stay::live_stays(c, store, now)?
    } else {
        Vec::new()
    };
    let mut events = Vec::new();
    let mut arrivals = Vec::new();
    for (record, digits) in fresh {
        let whose = match (&digits, is_opening(&record), record.record_type) {
            (Some(d), true, Some(KEYPAD)) => {
                stay_of(&stays, d.expose().trim(), req.lock_id, &record)
            }
            _ => None,
        };
        if let Some(s) = whose {
            let at = cursor::time_of(&record).unwrap_or(now);
            let reported = arrivals.iter().any(|a: &Arrival| a.room == s.room);
            let arrived = match s.stay.arrived_ms {
                None => !reported && stay::mark_arrived(c, store, &s.room, &s.stay.passcode, at)?,
                // This very opening is the stay's arrival, marked by an earlier read of these
                // records whose cursor was not kept (that poll failed after marking it, or the
                // host restarted before keeping the cursor): it comes again with them, as the
                // events do, so that it is never lost. A kept cursor never reads it again.
                Some(t) if at < t => {
                    // An earlier opening on another door, read after: it becomes the arrival's
                    // time (still one arrival).
                    stay::mark_arrived(c, store, &s.room, &s.stay.passcode, at)?;
                    false
                }
                Some(t) => !reported && t == at,
            };
            if arrived {
                arrivals.push(Arrival {
                    room: s.room.clone(),
                    stay: s.stay.name.clone(),
                    time_ms: at,
                    lock_id: req.lock_id,
                });
            }
        }
        events.push(DoorEvent {
            room: whose.map(|s| s.room.clone()),
            stay: whose.map(|s| s.stay.name.clone()),
            record,
        });
    }
    cursor.advance(now, req.lookback_ms);
    Ok(DoorEvents {
        cursor: cursor.to_text(),
        events,
        arrivals,
        first: false,
    })
}

/// The live stay whose code `digits` is, with `lock_id` among its doors, and whose window holds
/// the record (lock time, with slack for the lock's clock). A previous guest's code differs, or
/// its window is over; the same digits on a lock that is no door of the stay (a staff code
/// there) are not the stay's.
fn stay_of<'a>(
    stays: &'a [LiveStay],
    digits: &str,
    lock_id: i64,
    r: &Record,
) -> Option<&'a LiveStay> {
    let at = cursor::time_of(r)?;
    stays.iter().find(|s| {
        s.stay.passcode == digits
            && s.lock_ids.contains(&lock_id)
            && at >= s.stay.valid_from_ms - CLOCK_SLACK_MS
            && at <= s.stay.valid_to_ms + CLOCK_SLACK_MS
    })
}

/// What `poll_plan` is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRequest {
    /// The monthly call budget.
    pub month_budget: u64,
    /// Calls this month as the caller knows them (TTLock's count); the module's own count is
    /// used when higher.
    pub used: u64,
    /// The clock.
    pub now_ms: i64,
    /// Every door to watch.
    pub doors: Vec<PlanDoor>,
    /// The last site health check.
    pub last_health_ms: Option<i64>,
}

/// The poll plan: each door's priority from the stay memory (a room door whose live stay has
/// not arrived, from an hour before its arrival), the site's turnover from the live stays, and
/// the month's count (the higher of the caller's and the module's).
pub fn poll_plan(c: &Client, store: &dyn StayStore, req: &PlanRequest) -> Result<PollPlan> {
    if req.month_budget == 0 {
        return Err(Error::misuse(
            Code::InvalidArgument,
            "poll_plan: budget must be the calls a month the TTLock account allows (1 or more)",
        ));
    }
    let stays = stay::live_stays(c, store, req.now_ms)?;
    let own = crate::state::month_calls(&c.config().state_dir, req.now_ms)
        .map(|(_, n)| n)
        .unwrap_or(0);
    let shapes: Vec<budget::StayShape> = stays
        .iter()
        .filter_map(|s| {
            Some(budget::StayShape {
                room_lock: *s.lock_ids.first()?,
                from_ms: s.stay.valid_from_ms,
                to_ms: s.stay.valid_to_ms,
                arrived: s.stay.arrived_ms.is_some(),
            })
        })
        .collect();
    let plan = budget::plan(&budget::site_input(
        req.month_budget,
        req.used.max(own),
        req.now_ms,
        &req.doors,
        &shapes,
        req.last_health_ms,
    ));
    let rooms = stays
        .iter()
        .filter_map(|s| {
            Some(RoomNow {
                room: s.room.clone(),
                lock_id: *s.lock_ids.first()?,
                stay: s.stay.name.clone(),
                arrived_ms: s.stay.arrived_ms,
                valid_from_ms: s.stay.valid_from_ms,
                valid_to_ms: s.stay.valid_to_ms,
            })
        })
        .collect();
    Ok(PollPlan { plan, rooms })
}

/// A room with a live stay, as the plan saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomNow {
    /// The room.
    pub room: String,
    /// Its door.
    pub lock_id: i64,
    /// The stay's name.
    pub stay: String,
    /// When its guest arrived (`None`: not yet).
    pub arrived_ms: Option<i64>,
    /// The stay's window.
    pub valid_from_ms: i64,
    /// See `valid_from_ms`.
    pub valid_to_ms: i64,
}

/// The plan and the rooms with a live stay.
#[derive(Debug, Clone, PartialEq)]
pub struct PollPlan {
    /// Shares, intervals, what is due.
    pub plan: budget::BudgetPlan,
    /// Rooms with a live stay (guest arrived or not).
    pub rooms: Vec<RoomNow>,
}
