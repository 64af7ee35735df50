//! The rules of a guest's stay as the LM scripts apply them at check-in: the code typed into the
//! passcode object, the arrival and departure, and the passcode's name. `add_passcode` itself
//! allows a start in the past (a guest already in the house); refusing a past arrival is a rule
//! of the check-in, so it lives here, once, and the scripts call it.
use crate::error::{Error, Result};
use crate::ops::passcodes::check_code;

/// A check-in's arrival may lie this far back: the visualisation has minutes, so an arrival
/// typed as "now" is in the current minute.
const ARRIVAL_TOLERANCE_MS: i64 = 60_000;

/// A passcode object's value, as LM gives it: text keeps leading zeros; a numeric object gives
/// a number.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeValue {
    /// A string object.
    Text(String),
    /// A numeric object.
    Number(f64),
    /// Anything else (nil, a boolean, a table).
    Missing,
}

/// The passcode of a passcode object as 4 to 9 digits (text is trimmed; a number is written
/// out whole). The value is never echoed in the error.
pub fn passcode_of(v: &CodeValue) -> Result<String> {
    let code = match v {
        CodeValue::Text(s) => s.trim().to_owned(),
        // A whole number below 10^9 written out; anything else is refused by the digit rule.
        CodeValue::Number(n) if n.is_finite() && *n >= 0.0 && n.fract() == 0.0 && *n < 1e9 => {
            format!("{n:.0}")
        }
        CodeValue::Number(_) => String::new(),
        CodeValue::Missing => {
            return Err(Error::invalid_argument(
                "no passcode: type 4 to 9 digits, or switch the trigger off for a new code",
            ))
        }
    };
    check_code(&code)?;
    Ok(code)
}

/// The check-in's window rules: the arrival not before the current minute, the departure after
/// the arrival. `shown` formats a time for the message (the controller's local time).
pub fn check_stay(
    arrival_ms: i64,
    departure_ms: i64,
    now_ms: i64,
    shown: impl Fn(i64) -> String,
) -> Result<()> {
    let minute_start = now_ms - now_ms.rem_euclid(ARRIVAL_TOLERANCE_MS);
    if arrival_ms < minute_start {
        return Err(Error::invalid_argument(format!(
            "arrival {} is in the past",
            shown(arrival_ms)
        )));
    }
    if departure_ms <= arrival_ms {
        return Err(Error::invalid_argument(format!(
            "departure {} is not after arrival {}",
            shown(departure_ms),
            shown(arrival_ms)
        )));
    }
    Ok(())
}

/// An LM date value (`{day, month, year}`) and time value (`{hour, minute, second}`), each field
/// `None` when missing or not a whole number. A date object that was never set gives
/// `{day=0, month=0, year=2000}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LmDateTime {
    /// Year, e.g. 2026.
    pub year: Option<i64>,
    /// 1 to 12 (0: never set).
    pub month: Option<i64>,
    /// 1 to 31 (0: never set).
    pub day: Option<i64>,
    /// 0 to 23.
    pub hour: Option<i64>,
    /// 0 to 59.
    pub minute: Option<i64>,
    /// 0 to 59; LM's time objects may leave it out.
    pub second: Option<i64>,
}

/// The checked parts of an [`LmDateTime`]: (year, month, day, hour, minute, second).
pub type DateTimeParts = (i64, i64, i64, i64, i64, i64);

/// Checks an LM date and time before they are turned into a time (os.time would quietly turn
/// 31.02 into 03.03). `what` names them in the message (`"arrival"`: "the arrival date is not
/// set").
pub fn check_lm_date_time(what: Option<&str>, v: &LmDateTime) -> Result<DateTimeParts> {
    let named = |part: &str, why: &str| {
        let what = what.map(|w| format!("{w} ")).unwrap_or_default();
        let text = format!("the {what}{part} {why}");
        Error::invalid_argument(text.clone()).with_advice(text)
    };
    let (Some(year), Some(month), Some(day)) = (v.year, v.month, v.day) else {
        return Err(named("date", "is not set"));
    };
    if month == 0 || day == 0 {
        return Err(named("date", "is not set"));
    }
    let (Some(hour), Some(minute)) = (v.hour, v.minute) else {
        return Err(named("time", "is not set"));
    };
    let second = v.second.unwrap_or(0);
    if let Err(e) = check_date_time(year, month, day, 0, 0, 0) {
        let short = named("date", "is not a real date");
        let long = format!("{}: {}", short.message(), e.message());
        return Err(short.with_message(long));
    }
    if check_date_time(year, month, day, hour, minute, second).is_err() {
        return Err(named("time", "is not a real time (hour 0-23, minute 0-59)"));
    }
    Ok((year, month, day, hour, minute, second))
}

const MONTH_DAYS: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// A date and time that exists (year 1970 to 2200).
pub fn check_date_time(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
) -> Result<()> {
    if !(1970..=2200).contains(&year) || !(1..=12).contains(&month) {
        return Err(Error::invalid_argument(
            "the date must have a year 1970 to 2200 and a month 1 to 12",
        ));
    }
    let mut days = MONTH_DAYS[(month - 1) as usize];
    if month == 2 && is_leap(year) {
        days = 29;
    }
    if !(1..=days).contains(&day) {
        return Err(Error::invalid_argument(format!(
            "day {day} of month {month} does not exist"
        )));
    }
    if !(0..=23).contains(&hour) || !(0..=59).contains(&minute) || !(0..=59).contains(&second) {
        return Err(Error::invalid_argument(
            "the time must have hour 0 to 23, minute 0 to 59 and second 0 to 59",
        ));
    }
    Ok(())
}

/// A day of the year as LM's date objects give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    /// 1 to 31.
    pub day: i64,
    /// 1 to 12.
    pub month: i64,
}

/// The passcode's name, the forum's convention: `<room>_<DDMM arrival><DDMM departure>`, with
/// the whole room name (the forum script cut it to two characters).
pub fn passcode_name(room: &str, arrival: Day, departure: Day) -> String {
    format!(
        "{room}_{:02}{:02}{:02}{:02}",
        arrival.day, arrival.month, departure.day, departure.month
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passcode_objects() {
        let t = |s: &str| passcode_of(&CodeValue::Text(s.into()));
        assert_eq!(t(" 04821 ").unwrap(), "04821");
        assert_eq!(t("123456789").unwrap(), "123456789");
        for bad in ["123", "1234567890", "12a4", "", "12.4"] {
            let e = t(bad).unwrap_err();
            assert!(e.message().contains("4 to 9 digits"), "{bad}");
        }
        let n = |x: f64| passcode_of(&CodeValue::Number(x));
        assert_eq!(n(48213.0).unwrap(), "48213");
        assert_eq!(n(123456789.0).unwrap(), "123456789");
        for bad in [123.0, 1e9, -4821.0, 4821.5, f64::NAN] {
            assert!(n(bad).is_err(), "{bad}");
        }
        let e = passcode_of(&CodeValue::Missing).unwrap_err();
        assert!(e.message().contains("switch the trigger off"));
    }

    #[test]
    fn stay_windows() {
        let now = 29_833_333 * 60_000 + 30_000; // 30 s into a minute
        let shown = |ms: i64| format!("t{ms}");
        assert!(check_stay(now - 30_000, now + 1, now, shown).is_ok());
        let e = check_stay(now - 30_001, now + 1, now, shown).unwrap_err();
        assert!(e.message().contains("is in the past"), "{e}");
        let e = check_stay(now, now, now, shown).unwrap_err();
        assert!(e.message().contains("is not after arrival"), "{e}");
    }

    #[test]
    fn lm_dates() {
        let v = |y, mo, d, h, mi| LmDateTime {
            year: Some(y),
            month: Some(mo),
            day: Some(d),
            hour: Some(h),
            minute: Some(mi),
            second: None,
        };
        let msg = |w: Option<&str>, x: LmDateTime| {
            check_lm_date_time(w, &x).unwrap_err().advice().to_owned()
        };
        assert_eq!(
            check_lm_date_time(None, &v(2024, 2, 29, 23, 59)).unwrap(),
            (2024, 2, 29, 23, 59, 0)
        );
        assert_eq!(
            msg(Some("arrival"), v(2025, 2, 29, 12, 0)),
            "the arrival date is not a real date"
        );
        assert_eq!(
            msg(Some("arrival"), v(2025, 4, 31, 12, 0)),
            "the arrival date is not a real date"
        );
        // A date object that was never set.
        assert_eq!(
            msg(Some("departure"), v(2000, 0, 0, 12, 0)),
            "the departure date is not set"
        );
        assert_eq!(
            msg(Some("departure"), LmDateTime::default()),
            "the departure date is not set"
        );
        assert_eq!(
            msg(Some("departure"), v(2026, 1, 1, 24, 0)),
            "the departure time is not a real time (hour 0-23, minute 0-59)"
        );
        let no_time = LmDateTime {
            hour: None,
            ..v(2026, 1, 1, 0, 0)
        };
        assert_eq!(msg(None, no_time), "the time is not set");
    }

    #[test]
    fn date_checks() {
        assert!(check_date_time(2026, 3, 29, 3, 30, 0).is_ok());
        assert!(check_date_time(2028, 2, 29, 23, 59, 59).is_ok());
        assert!(check_date_time(2027, 2, 29, 12, 0, 0).is_err());
        assert!(check_date_time(2100, 2, 29, 12, 0, 0).is_err());
        assert!(check_date_time(2000, 2, 29, 12, 0, 0).is_ok());
        assert!(check_date_time(2026, 4, 31, 12, 0, 0).is_err());
        assert!(check_date_time(2026, 13, 1, 12, 0, 0).is_err());
        assert!(check_date_time(2026, 0, 1, 12, 0, 0).is_err());
        assert!(check_date_time(2026, 1, 0, 12, 0, 0).is_err());
        assert!(check_date_time(2026, 1, 1, 24, 0, 0).is_err());
        assert!(check_date_time(2026, 1, 1, 0, 60, 0).is_err());
        assert!(check_date_time(2026, 1, 1, 0, 0, 60).is_err());
        assert!(check_date_time(1969, 12, 31, 0, 0, 0).is_err());
    }

    #[test]
    fn names_keep_the_whole_room() {
        let d = |day, month| Day { day, month };
        assert_eq!(passcode_name("101", d(1, 12), d(5, 12)), "101_01120512");
        assert_eq!(
            passcode_name("Suite 3", d(31, 1), d(2, 2)),
            "Suite 3_31010202"
        );
    }
}
