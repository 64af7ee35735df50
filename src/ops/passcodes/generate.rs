//! Random guest codes: uniform digits from the OS, never a trivial code, free on every door.
use std::io::Read;

use crate::client::Client;
use crate::error::{Code, Error, Result};
use crate::host::{bounded, MAX_WORKERS};
use crate::ops::listing::{dedup, find_code};

/// Random candidates `generate_passcode` tries before giving up.
pub const MAX_CANDIDATES: u32 = 20;

/// Codes a guest or a passer-by would try first: one digit repeated, or a straight run up or
/// down (also across 9→0, e.g. 78901).
pub fn is_trivial(code: &str) -> bool {
    let d: Vec<i16> = code
        .bytes()
        .map(|b| i16::from(b) - i16::from(b'0'))
        .collect();
    if d.len() < 2 {
        return true;
    }
    let steps: Vec<i16> = d.windows(2).map(|w| (w[1] - w[0]).rem_euclid(10)).collect();
    steps.iter().all(|&s| s == 0) || steps.iter().all(|&s| s == 1) || steps.iter().all(|&s| s == 9)
}

/// `digits` uniform random digits from the OS (/dev/urandom), never a trivial code.
pub fn random_code(digits: usize) -> Result<String> {
    if !(4..=9).contains(&digits) {
        return Err(Error::invalid_argument("digits must be 4 to 9"));
    }
    let mut f = std::fs::File::open("/dev/urandom").map_err(urandom_error)?;
    loop {
        let mut code = String::with_capacity(digits);
        let mut buf = [0u8; 32];
        while code.len() < digits {
            f.read_exact(&mut buf).map_err(urandom_error)?;
            // 250 = 25 × 10: bytes above it are dropped so every digit is equally likely.
            for b in buf.iter().filter(|b| **b < 250) {
                if code.len() < digits {
                    code.push(char::from(b'0' + b % 10));
                }
            }
        }
        if !is_trivial(&code) {
            return Ok(code);
        }
    }
}

fn urandom_error(e: std::io::Error) -> Error {
    Error::new(
        Code::NotSupported,
        format!("cannot read random numbers from /dev/urandom: {e}"),
    )
}

/// Random, not trivial, and not taken: `taken(code)` says whether a candidate is in use (it may
/// fail). At most [`MAX_CANDIDATES`] candidates.
pub fn generate_with(digits: usize, mut taken: impl FnMut(&str) -> Result<bool>) -> Result<String> {
    for _ in 0..MAX_CANDIDATES {
        let code = random_code(digits)?;
        if !taken(&code)? {
            return Ok(code);
        }
    }
    Err(Error::new(
        Code::PasscodeExists,
        format!("no free {digits}-digit code found in {MAX_CANDIDATES} tries: the locks are nearly full"),
    ))
}

/// `generate_passcode`: random, not trivial, on none of `lock_ids` (each checked with a
/// searchStr listing: at least one call per lock and candidate).
pub fn generate_passcode(c: &Client, digits: usize, lock_ids: &[i64]) -> Result<String> {
    let lock_ids = dedup(lock_ids.iter().copied());
    generate_with(digits, |code| {
        if lock_ids.is_empty() {
            return Ok(false);
        }
        let present = bounded(lock_ids.clone(), MAX_WORKERS, |id| {
            find_code(c, id, code).map(|found| !found.is_empty())
        });
        let mut taken = false;
        for r in present {
            taken |= r?;
        }
        Ok(taken)
    })
}

/// A random code, not trivial, that is none of `known` (no API call): the codes the caller
/// knows on the doors (the stay memory). A code put on a door by other hands is not known: the
/// add that uses the code meets it (-3007).
pub fn generate_avoiding(
    digits: usize,
    known: &std::collections::BTreeSet<String>,
) -> Result<String> {
    generate_with(digits, |code| Ok(known.contains(code)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivial_codes() {
        for t in [
            "0000",
            "11111",
            "999999999",
            "1234",
            "01234",
            "56789",
            "78901",
            "9876",
            "43210",
            "10987",
            "123456789",
        ] {
            assert!(is_trivial(t), "{t}");
        }
        for ok in ["48213", "1235", "0482", "11112", "13579", "2468", "12321"] {
            assert!(!is_trivial(ok), "{ok}");
        }
    }

    #[test]
    fn random_codes_are_well_formed_and_spread() {
        let mut first_digits = [0u32; 10];
        for _ in 0..2000 {
            let c = random_code(5).unwrap();
            assert_eq!(c.len(), 5);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
            assert!(!is_trivial(&c));
            first_digits[(c.as_bytes()[0] - b'0') as usize] += 1;
        }
        // Leading zeros occur (kept as text) and no digit is missing: 2000 draws, ~200 each.
        assert!(first_digits.iter().all(|&n| n > 100), "{first_digits:?}");
        for d in 4..=9 {
            assert_eq!(random_code(d).unwrap().len(), d);
        }
        assert!(random_code(3).is_err());
        assert!(random_code(10).is_err());
    }

    #[test]
    fn avoiding_known_codes_never_returns_one() {
        // Every 4-digit code but a handful is known: what comes out is one of the free ones.
        let free: std::collections::BTreeSet<String> =
            ["4821", "0482", "7315", "9024"].map(String::from).into();
        let known: std::collections::BTreeSet<String> = (0..10_000)
            .map(|n| format!("{n:04}"))
            .filter(|c| !free.contains(c))
            .collect();
        let mut hits = 0;
        for _ in 0..50 {
            match generate_avoiding(4, &known) {
                Ok(code) => {
                    assert!(free.contains(&code), "{code}");
                    hits += 1;
                }
                Err(e) => assert_eq!(e.code(), Code::PasscodeExists),
            }
        }
        // 20 draws among 10,000 rarely find one of 4: mostly the clear error.
        assert!(hits < 50);
        // Nothing known: the first candidate.
        let code = generate_avoiding(6, &Default::default()).unwrap();
        assert_eq!(code.len(), 6);
        assert!(!is_trivial(&code));
        // A failing check stops at once.
        let mut calls = 0;
        let e = generate_with(5, |_| {
            calls += 1;
            Err(Error::invalid_argument("no"))
        })
        .unwrap_err();
        assert_eq!((calls, e.code()), (1, Code::InvalidArgument));
        // Taken candidates are drawn again, at most MAX_CANDIDATES times.
        let mut calls = 0;
        let e = generate_with(5, |_| {
            calls += 1;
            Ok(true)
        })
        .unwrap_err();
        assert_eq!((calls, e.code()), (MAX_CANDIDATES, Code::PasscodeExists));
        assert!(e.message().contains("nearly full"), "{}", e.message());
    }
}
