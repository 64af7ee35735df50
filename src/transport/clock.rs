//! The controller's clock: every `/v3` request carries it as `date`, and TTLock refuses one more
//! than 5 minutes off (80000), so a clock that was never set is caught before sending.
use crate::error::{Code, Error, Result};

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// 2024-01-01T00:00:00Z: a controller clock before this has not been set (cold boot, no NTP).
const SANE_CLOCK_MS: i64 = 1_704_067_200_000;

/// Refuses (`clock_skew`, nothing sent) a clock before 2024: not set since a cold boot.
pub fn check_clock(now_ms: i64) -> Result<()> {
    if now_ms < SANE_CLOCK_MS {
        let shown = chrono::DateTime::from_timestamp_millis(now_ms)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "an invalid time".into());
        return Err(Error::new(
            Code::ClockSkew,
            format!("the controller's clock says {shown}, which cannot be right; check NTP (nothing was sent)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_sanity() {
        assert_eq!(check_clock(0).unwrap_err().code(), Code::ClockSkew);
        assert!(check_clock(SANE_CLOCK_MS - 1).is_err());
        assert!(check_clock(SANE_CLOCK_MS).is_ok());
        assert!(check_clock(now_ms()).is_ok());
    }
}
