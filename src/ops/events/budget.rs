//! The monthly API budget, shared between the jobs: what the door events poller may spend.
//!
//! TTLock accounts may be capped at about 5,000 calls a month, so polling is what gives way:
//! check-ins, stay changes and the purge take their share first (the module never refuses a
//! check-in for budget), then the site health, then record polls, by priority:
//!
//! 1. room doors whose live stay has not arrived yet, from its arrival time for a day;
//! 2. common doors;
//! 3. every other door (last opened at / by).
//!
//! The allowance is recomputed at every run from what this month has left: `(budget − used)`
//! spread over the days left in TTLock's month (Beijing time), 10 % kept back for what nobody
//! plans (retries, an integrator's tests, the TTLock app). So a month that started badly corrects
//! itself, and an exhausted budget stops polling at once.
//!
//! Everything here is pure: the caller gives the clock, the month's count and the site.

/// Part of each day's allowance never planned.
pub const KEPT_BACK: f64 = 0.10;
/// Calls one stay costs on one door, from check-in to check-out: the add, the delete (at
/// check-out or by the purge), and a share of extends and new codes. Measured in the simulator
/// (tests/budget_month.rs): 1 add + 1 delete per door; an extend or a new code 1 more per door.
pub const CALLS_PER_STAY_DOOR: f64 = 2.2;
/// `lock/list` + `gateway/list`: one page each for any site up to 1000 locks and 200 gateways.
pub const HEALTH_CALLS: f64 = 2.0;
/// Pages of one full listing, on average (a room door holds a few codes: one page; a main door
/// holding 200..400 codes has two).
pub const PAGES_PER_LISTING: f64 = 1.2;
/// Calls one record poll costs on average (one page of 200; a busy main door sometimes two).
pub const CALLS_PER_POLL: f64 = 1.1;
/// Share of the allowance the purge's listings may take.
const PURGE_SHARE: f64 = 0.10;
/// Share of what is left after stays and purge that the site health may take.
const HEALTH_SHARE: f64 = 0.20;
/// The site health: at most every 15 minutes, at least once a day.
const HEALTH_FASTEST_MS: i64 = 15 * MINUTE_MS;
const HEALTH_SLOWEST_MS: i64 = DAY_MS;
/// The purge lists a lock with expired codes at least once a week and at most once a day.
const PURGE_SLOWEST_DAYS: f64 = 7.0;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// A room's door is an awaited arrival from its stay's arrival time (its code opens nothing
/// before) for this long at most (a guest who has not come by then is no longer looked for).
pub const AWAITED_FOR_MS: i64 = DAY_MS;

/// Intervals are rounded up to one of these, so the plan (and its log line) changes rarely.
const STEPS_MS: [i64; 20] = [
    5 * MINUTE_MS,
    10 * MINUTE_MS,
    15 * MINUTE_MS,
    20 * MINUTE_MS,
    30 * MINUTE_MS,
    45 * MINUTE_MS,
    HOUR_MS,
    90 * MINUTE_MS,
    2 * HOUR_MS,
    3 * HOUR_MS,
    4 * HOUR_MS,
    6 * HOUR_MS,
    8 * HOUR_MS,
    12 * HOUR_MS,
    DAY_MS,
    2 * DAY_MS,
    3 * DAY_MS,
    4 * DAY_MS,
    5 * DAY_MS,
    7 * DAY_MS,
];

/// A door's poll priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// A room door whose live stay has not arrived, from an hour before the arrival time.
    Arrival,
    /// A common door (main entrance, gate...).
    Common,
    /// Any other door.
    Other,
}

impl Tier {
    /// Every tier, most important first.
    pub const ALL: [Tier; 3] = [Tier::Arrival, Tier::Common, Tier::Other];

    /// The word used in texts and in Lua.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Arrival => "arrival",
            Tier::Common => "common",
            Tier::Other => "other",
        }
    }

    /// Relative poll rate: a common door is polled a quarter as often as an awaited arrival,
    /// another door 1/48 as often.
    fn weight(self) -> f64 {
        match self {
            Tier::Arrival => 1.0,
            Tier::Common => 0.25,
            Tier::Other => 1.0 / 48.0,
        }
    }

    /// Never more often than this (the door events script runs every minute; TTLock's records
    /// come through the gateway in minutes anyway).
    fn fastest_ms(self) -> i64 {
        match self {
            Tier::Arrival | Tier::Common => 5 * MINUTE_MS,
            Tier::Other => 15 * MINUTE_MS,
        }
    }

    /// Rarer than this is not polled at all (an arrival found a day late is no arrival).
    fn slowest_ms(self) -> i64 {
        match self {
            Tier::Arrival | Tier::Common => DAY_MS,
            Tier::Other => 7 * DAY_MS,
        }
    }
}

/// A door the poller may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollDoor {
    /// The lock.
    pub lock_id: i64,
    /// Its priority now.
    pub tier: Tier,
    /// Its last poll (`None`: never; its first poll only creates its cursor and costs nothing).
    pub last_poll_ms: Option<i64>,
}

/// What the plan needs to know about the site.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetInput {
    /// The monthly call budget (setting).
    pub month_budget: u64,
    /// Calls counted this month so far.
    pub used: u64,
    /// Now, ms.
    pub now_ms: i64,
    /// Room doors (locks that get guest codes).
    pub rooms: usize,
    /// Common doors (every stay's code goes to each).
    pub common: usize,
    /// Live stays and the average of their lengths in nights (for the stays' share).
    pub live_stays: usize,
    /// Average nights of the live stays; `None`: 2.
    pub avg_nights: Option<f64>,
    /// The doors to poll.
    pub doors: Vec<PollDoor>,
    /// The last site health check.
    pub last_health_ms: Option<i64>,
    /// Door-days of awaiting expected in a day: each room whose guest is awaited within the
    /// next day counts [`AWAITED_DAY_SHARE`] of a day.
    pub awaited_door_days: f64,
}

/// The part of a day a guest is awaited, on average: check-in from 14:00 or 15:00, most guests
/// in by the evening.
pub const AWAITED_DAY_SHARE: f64 = 8.0 / 24.0;

/// A door as the poll plan is given it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanDoor {
    /// The lock.
    pub lock_id: i64,
    /// A common door (every stay's code goes to it).
    pub common: bool,
    /// Its last poll.
    pub last_poll_ms: Option<i64>,
}

/// A live stay as the plan needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StayShape {
    /// The room's door.
    pub room_lock: i64,
    /// Arrival.
    pub from_ms: i64,
    /// Departure.
    pub to_ms: i64,
    /// The guest has arrived.
    pub arrived: bool,
}

/// The planner's input for a site: each door's tier from the live stays (a room door whose
/// guest has not arrived is awaited from the arrival time, when its code starts to open, for
/// [`AWAITED_FOR_MS`]; its next poll is due one interval after the arrival time, not at once),
/// the site's turnover from the stays' lengths, and the day's expected awaiting.
pub fn site_input(
    month_budget: u64,
    used: u64,
    now_ms: i64,
    doors: &[PlanDoor],
    stays: &[StayShape],
    last_health_ms: Option<i64>,
) -> BudgetInput {
    let now = now_ms;
    let awaited = |lock_id: i64| {
        stays.iter().find(|s| {
            s.room_lock == lock_id
                && !s.arrived
                && now >= s.from_ms
                && now < s.from_ms + AWAITED_FOR_MS
        })
    };
    let poll_doors = doors
        .iter()
        .map(|d| match awaited(d.lock_id) {
            Some(s) => PollDoor {
                lock_id: d.lock_id,
                tier: Tier::Arrival,
                last_poll_ms: d.last_poll_ms.map(|l| l.max(s.from_ms)),
            },
            None => PollDoor {
                lock_id: d.lock_id,
                tier: if d.common { Tier::Common } else { Tier::Other },
                last_poll_ms: d.last_poll_ms,
            },
        })
        .collect();
    // Rooms whose guest is awaited now or within a day.
    let awaited_rooms = stays
        .iter()
        .filter(|s| !s.arrived && s.from_ms <= now + DAY_MS && now < s.from_ms + AWAITED_FOR_MS)
        .count();
    let nights: Vec<f64> = stays
        .iter()
        .map(|s| (s.to_ms - s.from_ms) as f64 / DAY_MS as f64)
        .collect();
    let avg_nights = (!nights.is_empty()).then(|| nights.iter().sum::<f64>() / nights.len() as f64);
    let common = doors.iter().filter(|d| d.common).count();
    BudgetInput {
        month_budget,
        used,
        now_ms,
        rooms: doors.len() - common,
        common,
        live_stays: stays.len(),
        avg_nights,
        doors: poll_doors,
        last_health_ms,
        awaited_door_days: awaited_rooms as f64 * AWAITED_DAY_SHARE,
    }
}

/// The plan for this run.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetPlan {
    /// Calls left this month.
    pub left: u64,
    /// Days left in TTLock's month.
    pub days_left: f64,
    /// Calls a day that may be planned (after the part kept back).
    pub per_day: f64,
    /// Calls a day kept for check-ins and stay changes (a full house at the stays' length).
    pub stays_per_day: f64,
    /// Calls a day for the purge's listings.
    pub purge_per_day: f64,
    /// Calls a day for the site health.
    pub health_per_day: f64,
    /// Calls a day for record polls.
    pub polls_per_day: f64,
    /// How often the purge lists a lock that has expired codes (days).
    pub purge_every_days: f64,
    /// How often the site health runs.
    pub health_every_ms: i64,
    /// How often each tier is polled (`None`: not polled; most important first).
    pub poll_every_ms: [Option<i64>; 3],
    /// The locks to poll now (their first poll, or their interval has passed), most important
    /// first.
    pub due: Vec<i64>,
    /// The site health is due now.
    pub health_due: bool,
    /// The budget holds no polls at all.
    pub starved: bool,
}

impl BudgetPlan {
    /// How often `tier` is polled.
    pub fn every(&self, tier: Tier) -> Option<i64> {
        self.poll_every_ms[tier as usize]
    }

    /// One line for the log: what each job gets. It changes only when an interval does.
    pub fn intervals_text(&self) -> String {
        let tiers: Vec<String> = Tier::ALL
            .iter()
            .map(|t| {
                let what = match t {
                    Tier::Arrival => "awaited arrivals",
                    Tier::Common => "common doors",
                    Tier::Other => "other doors",
                };
                match self.every(*t) {
                    Some(ms) => format!("{what} every {}", duration_text(ms)),
                    None => format!("{what} not polled"),
                }
            })
            .collect();
        let starved = if self.starved {
            " (the budget left holds no polls: check-ins, the purge and a daily health check keep their share)"
        } else {
            ""
        };
        format!(
            "site health every {}, purge listings every {} day(s); record polls: {}{starved}",
            duration_text(self.health_every_ms),
            self.purge_every_days,
            tiers.join(", ")
        )
    }

    /// The figures behind the plan, for the log at start.
    pub fn budget_text(&self) -> String {
        format!(
            "{} calls left for {:.1} days: {:.0}/day planned (check-ins and stay changes {:.0}, purge {:.0}, site health {:.0}, record polls {:.0})",
            self.left,
            self.days_left,
            self.per_day,
            self.stays_per_day,
            self.purge_per_day,
            self.health_per_day,
            self.polls_per_day
        )
    }
}

/// "5 min", "3 h", "2 days".
pub fn duration_text(ms: i64) -> String {
    if ms % DAY_MS == 0 {
        let d = ms / DAY_MS;
        format!("{d} day{}", if d == 1 { "" } else { "s" })
    } else if ms % HOUR_MS == 0 {
        format!("{} h", ms / HOUR_MS)
    } else {
        format!("{} min", ms / MINUTE_MS)
    }
}

/// The smallest step at or above `ms` (the largest step above them all).
fn round_up(ms: f64) -> i64 {
    STEPS_MS
        .iter()
        .copied()
        .find(|s| *s as f64 >= ms)
        .unwrap_or(STEPS_MS[STEPS_MS.len() - 1])
}

/// Days from `now_ms` to the end of TTLock's calendar month (Beijing time, UTC+8).
pub fn days_left_in_month(now_ms: i64) -> f64 {
    use chrono::{Datelike, NaiveDate};
    const BEIJING_MS: i64 = 8 * HOUR_MS;
    let local = chrono::DateTime::from_timestamp_millis(now_ms + BEIJING_MS)
        .unwrap_or(chrono::DateTime::UNIX_EPOCH)
        .date_naive();
    let (y, m) = if local.month() == 12 {
        (local.year() + 1, 1)
    } else {
        (local.year(), local.month() + 1)
    };
    let next = NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis() - BEIJING_MS)
        .unwrap_or(now_ms + DAY_MS);
    (next - now_ms) as f64 / DAY_MS as f64
}

/// Polls a day when each tier with `n[t]` doors is polled every `every[t]`.
fn polls_per_day(n: &[f64; 3], every: &[Option<i64>; 3]) -> f64 {
    Tier::ALL
        .iter()
        .map(|t| {
            let i = *t as usize;
            every[i].map_or(0.0, |ms| n[i] * DAY_MS as f64 / ms as f64 * CALLS_PER_POLL)
        })
        .sum()
}

/// The intervals for `scale` (the arrival tier's interval before its floor, ms): each tier at
/// `scale / weight`, no faster than its floor; beyond its ceiling, not polled.
fn intervals(scale: f64, round: bool) -> [Option<i64>; 3] {
    Tier::ALL.map(|t| {
        let raw = (scale / t.weight()).max(t.fastest_ms() as f64);
        // The ceiling is judged before rounding: rounding up only ever polls less.
        if raw > t.slowest_ms() as f64 {
            return None;
        }
        Some(if round {
            round_up(raw).min(t.slowest_ms())
        } else {
            raw as i64
        })
    })
}

/// The plan: each job's share, the intervals, and what is due now.
pub fn plan(input: &BudgetInput) -> BudgetPlan {
    let now = input.now_ms;
    let left = input.month_budget.saturating_sub(input.used);
    let days_left = days_left_in_month(now);
    let per_day = left as f64 / days_left.max(1.0) * (1.0 - KEPT_BACK);

    let nights = input.avg_nights.unwrap_or(2.0).max(1.0);
    let doors_per_stay = 1.0 + input.common as f64;
    // A full house at the current stays' length: the stays' share never depends on a quiet day.
    let stays_per_day =
        input.rooms.max(input.live_stays) as f64 / nights * doors_per_stay * CALLS_PER_STAY_DOOR;

    let locks = (input.rooms + input.common) as f64;
    let listing = locks * PAGES_PER_LISTING;
    let purge_every_days = if per_day * PURGE_SHARE > 0.0 {
        (listing / (per_day * PURGE_SHARE))
            .ceil()
            .clamp(1.0, PURGE_SLOWEST_DAYS)
    } else {
        PURGE_SLOWEST_DAYS
    };
    let purge_per_day = listing / purge_every_days;

    let free = per_day - stays_per_day - purge_per_day;
    let health_budget = (free * HEALTH_SHARE).max(0.0);
    let health_every_ms = if health_budget > 0.0 {
        round_up(HEALTH_CALLS / health_budget * DAY_MS as f64)
            .clamp(HEALTH_FASTEST_MS, HEALTH_SLOWEST_MS)
    } else {
        HEALTH_SLOWEST_MS
    };
    let health_per_day = HEALTH_CALLS * DAY_MS as f64 / health_every_ms as f64;
    let poll_budget = free - health_per_day;

    // Doors polled all day long, per tier. An awaited arrival is awaited for part of the day
    // only: its polls are spread over the day's expected waiting (`awaited_door_days`), not
    // over the doors awaited this minute, so an evening of arrivals is polled as often as a
    // quiet morning.
    let mut n = [0.0f64; 3];
    for d in &input.doors {
        n[d.tier as usize] += 1.0;
    }
    n[Tier::Arrival as usize] = input.awaited_door_days;
    let poll_every_ms = poll_intervals(&n, poll_budget);
    let polls = polls_per_day(&n, &poll_every_ms);
    let starved = input.doors.is_empty() || poll_every_ms.iter().all(Option::is_none);

    let mut due: Vec<&PollDoor> = input
        .doors
        .iter()
        .filter(|d| match (d.last_poll_ms, poll_every_ms[d.tier as usize]) {
            // A first poll only creates the cursor: free, whatever the budget.
            (None, _) => true,
            (Some(last), Some(every)) => now - last >= every || last > now,
            (Some(_), None) => false,
        })
        .collect();
    due.sort_by_key(|d| (d.tier, d.last_poll_ms));
    let health_due = input
        .last_health_ms
        .is_none_or(|last| now - last >= health_every_ms || last > now);

    BudgetPlan {
        left,
        days_left,
        per_day,
        stays_per_day,
        purge_per_day,
        health_per_day,
        polls_per_day: polls,
        purge_every_days,
        health_every_ms,
        poll_every_ms,
        due: due.iter().map(|d| d.lock_id).collect(),
        health_due,
        starved,
    }
}

/// The fastest intervals (rounded up to the steps) whose polls fit `budget` calls a day.
fn poll_intervals(n: &[f64; 3], budget: f64) -> [Option<i64>; 3] {
    if budget <= 0.0 || n.iter().all(|c| *c <= 0.0) {
        return [None; 3];
    }
    // The unrounded polls fall as `scale` grows: find the smallest scale that fits, then round
    // every interval up (which only lowers the cost).
    let fits = |scale: f64| polls_per_day(n, &intervals(scale, false)) <= budget;
    let (mut lo, mut hi) = (1.0_f64, 1e12_f64);
    if fits(lo) {
        return intervals(lo, true);
    }
    for _ in 0..100 {
        let mid = (lo * hi).sqrt();
        if fits(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    intervals(hi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-02 00:00 Beijing time.
    const DEC_2: i64 = 1_764_604_800_000;

    fn site(budget: u64, used: u64, awaited: usize) -> BudgetInput {
        let mut doors = Vec::new();
        for i in 0..40 {
            doors.push(PollDoor {
                lock_id: 1000 + i,
                tier: if (i as usize) < awaited {
                    Tier::Arrival
                } else {
                    Tier::Other
                },
                last_poll_ms: Some(DEC_2 - 60_000),
            });
        }
        doors.push(PollDoor {
            lock_id: 1,
            tier: Tier::Common,
            last_poll_ms: Some(DEC_2 - 60_000),
        });
        BudgetInput {
            month_budget: budget,
            used,
            now_ms: DEC_2,
            rooms: 40,
            common: 1,
            live_stays: 32,
            avg_nights: Some(3.0),
            doors,
            last_health_ms: None,
            awaited_door_days: awaited as f64 * AWAITED_DAY_SHARE,
        }
    }

    #[test]
    fn month_end_is_beijing_midnight() {
        // 2026-12-31 16:00 UTC is 2027-01-01 00:00 in Beijing.
        let dec31_16utc = 1_798_732_800_000;
        assert!((days_left_in_month(dec31_16utc - DAY_MS) - 1.0).abs() < 1e-9);
        assert!((days_left_in_month(DEC_2) - 30.0).abs() < 1e-9);
    }

    #[test]
    fn a_small_budget_keeps_the_stays_share_and_polls_what_is_left() {
        let p = plan(&site(5000, 0, 3));
        assert!((p.per_day - 150.0).abs() < 1e-9, "{}", p.per_day);
        let total = p.stays_per_day + p.purge_per_day + p.health_per_day + p.polls_per_day;
        assert!(total <= p.per_day + 1e-9, "{total} > {}", p.per_day);
        assert!(p.polls_per_day > 0.0);
        let arrival = p.every(Tier::Arrival).unwrap();
        let common = p.every(Tier::Common).unwrap();
        assert!(arrival <= common, "{}", p.intervals_text());
        assert!(p.purge_every_days > 1.0 && p.purge_every_days <= 7.0);
        // Listings stay well under a quarter of the month.
        assert!(p.purge_per_day * 30.0 < 5000.0 / 4.0);
    }

    #[test]
    fn a_large_budget_polls_at_the_floors() {
        let p = plan(&site(100_000, 0, 3));
        assert_eq!(p.every(Tier::Arrival), Some(5 * MINUTE_MS));
        assert_eq!(p.every(Tier::Common), Some(5 * MINUTE_MS));
        assert_eq!(p.health_every_ms, 15 * MINUTE_MS);
        assert_eq!(p.purge_every_days, 1.0);
        let total = p.stays_per_day + p.purge_per_day + p.health_per_day + p.polls_per_day;
        assert!(total <= p.per_day);
    }

    #[test]
    fn an_exhausted_budget_stops_polling_first() {
        let p = plan(&site(5000, 4990, 3));
        assert!(p.starved);
        assert_eq!(p.poll_every_ms, [None; 3]);
        assert_eq!(p.health_every_ms, DAY_MS);
        assert!(p.due.is_empty());
        assert!(p.intervals_text().contains("holds no polls"));
        // Over budget: the same, no panic.
        let p = plan(&site(5000, 9000, 3));
        assert!(p.starved && p.due.is_empty());
    }

    #[test]
    fn due_puts_awaited_arrivals_first_and_first_polls_are_free() {
        let mut s = site(100_000, 0, 1);
        s.doors[5].last_poll_ms = None;
        s.doors[0].last_poll_ms = Some(DEC_2 - 3_600_000);
        let p = plan(&s);
        assert_eq!(p.due[0], 1000, "the awaited arrival first");
        assert!(p.due.contains(&1005), "a first poll is always due");
        assert!(!p.due.contains(&1010), "polled a minute ago");
        // A starved plan still lets a first poll create its cursor.
        let mut s = site(5000, 5000, 1);
        s.doors[7].last_poll_ms = None;
        assert_eq!(plan(&s).due, vec![1007]);
    }

    #[test]
    fn a_tier_rarer_than_its_ceiling_is_not_polled_even_after_rounding() {
        // 2,000 a month with 5 awaited, 1 common and 35 other doors (tests/budget_month.rs
        // found plans that polled other doors weekly while awaited arrivals were off).
        for used in (0..2000).step_by(5) {
            let mut s = site(2000, used, 5);
            s.doors.truncate(35);
            let p = plan(&s);
            if p.every(Tier::Arrival).is_none() {
                assert_eq!(
                    p.every(Tier::Other),
                    None,
                    "used {used}: {}",
                    p.intervals_text()
                );
            }
            let planned = p.stays_per_day + p.purge_per_day + p.health_per_day + p.polls_per_day;
            assert!(
                p.polls_per_day
                    <= (p.per_day - p.stays_per_day - p.purge_per_day - p.health_per_day).max(0.0)
                        + 1e-9,
                "used {used}: planned {planned} of {}: {}",
                p.per_day,
                p.intervals_text()
            );
        }
    }

    #[test]
    fn texts() {
        assert_eq!(duration_text(5 * MINUTE_MS), "5 min");
        assert_eq!(duration_text(3 * HOUR_MS), "3 h");
        assert_eq!(duration_text(DAY_MS), "1 day");
        assert_eq!(duration_text(7 * DAY_MS), "7 days");
        let p = plan(&site(5000, 0, 3));
        let t = p.intervals_text();
        assert!(t.starts_with("site health every "), "{t}");
        assert!(p.budget_text().contains("calls left for 30.0 days"));
        // A few calls more or less do not change the intervals (and the log line).
        assert_eq!(t, plan(&site(5000, 15, 3)).intervals_text());
    }
}
