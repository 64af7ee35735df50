//! Response decoding: arbitrary bytes as the answer of one endpoint (the first byte picks the
//! endpoint and the HTTP status), through the envelope rule and that endpoint's decoder, as the
//! module reads TTLock's answers. Must never panic, whatever TTLock (or a proxy) sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ttlock::fuzz_api::{decode, paths};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let paths = paths();
    let path = paths[usize::from(pick & 0x0f) % paths.len()];
    let status = match pick >> 4 {
        0..=11 => 200,
        12 => 500,
        13 => 502,
        14 => 503,
        _ => 404,
    };
    let out = decode(path, status, body);
    // A non-200 answer is never read as a success.
    if status != 200 {
        assert!(out.contains("\"http_status\""), "{path} {status}: {out}");
    }
});
