//! What `add_passcode` and `change_passcode` refuse before sending anything, and the checks of
//! an LM date and time.
use super::AddRequest;
use crate::api::{PasscodeItem, Validity};
use crate::error::{Error, Result};

/// A listed window matches ours when both ends are within this (TTLock keeps custom passcode
/// windows to the minute).
const WINDOW_TOLERANCE_MS: i64 = 60_000;

/// Times below this are surely seconds, not milliseconds (1973-03-03 in ms).
const SURELY_SECONDS: i64 = 100_000_000_000;

/// 4 to 9 digits, the one digit rule of every code (the value is never echoed: it may be a
/// guest's code).
pub fn check_code(code: &str) -> Result<()> {
    if (4..=9).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::invalid_argument(
            "the passcode must be 4 to 9 digits",
        ))
    }
}

/// A window of a period code: end after start, start not negative.
pub fn check_window(start_ms: i64, end_ms: i64) -> Result<()> {
    if start_ms < 0 || end_ms < 0 {
        return Err(Error::invalid_argument(
            "valid_from_ms and valid_to_ms must not be negative",
        ));
    }
    if end_ms <= start_ms {
        return Err(Error::invalid_argument(
            "the validity must end after it starts (valid_to_ms > valid_from_ms)",
        ));
    }
    Ok(())
}

/// Everything `add_passcode` refuses before sending anything.
pub fn validate_add(req: &AddRequest, now_ms: i64) -> Result<()> {
    check_code(&req.passcode)?;
    if let Validity::Period { start_ms, end_ms } = req.validity {
        check_window(start_ms, end_ms)?;
        if end_ms <= now_ms {
            let hint = if end_ms < SURELY_SECONDS {
                " (times are milliseconds: os.time() * 1000)"
            } else {
                ""
            };
            return Err(Error::invalid_argument(format!(
                "the validity has already ended{hint}"
            )));
        }
    }
    if let Some(n) = &req.name {
        if n.chars().any(char::is_control) {
            return Err(Error::invalid_argument(
                "the passcode name must not contain control characters",
            ));
        }
    }
    Ok(())
}

/// Whether a listed code has the validity we asked for.
pub fn window_matches(item: &PasscodeItem, v: &Validity) -> bool {
    match *v {
        Validity::Permanent => item.is_permanent(),
        Validity::Period { start_ms, end_ms } => {
            !item.is_permanent()
                && item
                    .start_ms
                    .is_some_and(|s| (s - start_ms).abs() < WINDOW_TOLERANCE_MS)
                && item
                    .end_ms
                    .is_some_and(|e| (e - end_ms).abs() < WINDOW_TOLERANCE_MS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    fn req(code: &str, v: Validity) -> AddRequest {
        AddRequest {
            lock_id: 1,
            also_lock_ids: vec![],
            passcode: code.into(),
            name: None,
            validity: v,
            atomic: true,
        }
    }

    const NOW: i64 = 1_790_000_000_000;

    fn period(s: i64, e: i64) -> Validity {
        Validity::Period {
            start_ms: s,
            end_ms: e,
        }
    }

    fn item(code: &str, t: i64, s: Option<i64>, e: Option<i64>) -> PasscodeItem {
        PasscodeItem {
            passcode_id: 1,
            lock_id: Some(1),
            passcode: code.into(),
            name: None,
            pwd_type: t,
            start_ms: s,
            end_ms: e,
            is_custom: Some(true),
            status: None,
            send_ms: None,
        }
    }

    #[test]
    fn add_validation() {
        let ok = period(NOW - 1000, NOW + 3_600_000);
        assert!(validate_add(&req("0482", ok), NOW).is_ok());
        assert!(validate_add(&req("123456789", ok), NOW).is_ok());
        // A start in the past is allowed (a guest already in the house).
        assert!(validate_add(&req("48213", period(NOW - 86_400_000, NOW + 1)), NOW).is_ok());
        assert!(validate_add(&req("48213", Validity::Permanent), NOW).is_ok());
        for bad in ["123", "1234567890", "12a4", "", " 1234", "１２３４", "12.4"] {
            let e = validate_add(&req(bad, ok), NOW).unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{bad}");
            assert!(!e.is_misuse());
            if bad.len() >= 4 {
                assert!(!e.message().contains(bad.trim()), "code echoed: {e}");
            }
        }
        let e = validate_add(&req("48213", period(NOW + 10, NOW + 10)), NOW).unwrap_err();
        assert!(e.message().contains("end after it starts"), "{e}");
        let e = validate_add(&req("48213", period(NOW + 10, NOW)), NOW).unwrap_err();
        assert!(e.message().contains("end after it starts"), "{e}");
        let e = validate_add(&req("48213", period(NOW - 20, NOW)), NOW).unwrap_err();
        assert!(e.message().contains("already ended"), "{e}");
        // Seconds instead of milliseconds get a hint.
        let e = validate_add(&req("48213", period(1_790_000_000, 1_790_003_600)), NOW).unwrap_err();
        assert!(e.message().contains("milliseconds"), "{e}");
        let e = validate_add(&req("48213", period(-5, NOW + 5)), NOW).unwrap_err();
        assert!(e.message().contains("negative"), "{e}");
        let mut r = req("48213", ok);
        r.name = Some("a\nb".into());
        assert!(validate_add(&r, NOW).is_err());
    }

    #[test]
    fn window_matching() {
        let v = period(NOW, NOW + 3_600_000);
        assert!(window_matches(
            &item("1", 3, Some(NOW), Some(NOW + 3_600_000)),
            &v
        ));
        // TTLock keeps minutes: a few seconds off still matches.
        assert!(window_matches(
            &item("1", 3, Some(NOW - 30_000), Some(NOW + 3_600_000 + 59_000)),
            &v
        ));
        assert!(!window_matches(
            &item("1", 3, Some(NOW), Some(NOW + 7_200_000)),
            &v
        ));
        assert!(!window_matches(&item("1", 3, None, None), &v));
        assert!(!window_matches(&item("1", 2, Some(0), Some(0)), &v));
        assert!(window_matches(
            &item("1", 2, Some(0), Some(0)),
            &Validity::Permanent
        ));
        assert!(window_matches(
            &item("1", 3, None, None),
            &Validity::Permanent
        ));
        assert!(!window_matches(
            &item("1", 3, Some(NOW), Some(NOW + 1)),
            &Validity::Permanent
        ));
    }

    #[test]
    fn windows() {
        assert!(check_window(0, 1).is_ok());
        assert!(check_window(5, 5).is_err());
        assert!(check_window(-1, 5).is_err());
        assert!(check_code("0000").is_ok());
    }
}
