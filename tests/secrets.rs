//! Secrets: what every Lua-tier test saw of the module is scanned for the configured
//! client secret, the password and its md5, and every token the simulator issued.
//!
//! Every `tests/lua/test_*.lua` runs again under the first Lua host, each against its own
//! simulator, with `TTLOCK_CAPTURE_DIR` set: testlib then wraps `require('ttlock')` so every
//! value a module function returns or raises, and every line it hands to a `log` callback, is
//! written down, and at the end it adds the log, alert, error and bus files and the object values
//! of every emulated LM site the file made, with its simulator's secrets (app secret, user md5s,
//! every token pair it ever issued). The files' own output is captured too. Then every capture
//! is searched for every secret (case-insensitively: md5 and tokens are hex).
//!
//! The Rust tests check their own outputs (the fault matrix scans each cell's errors and log
//! lines; lua_boundary and lua_operations scan theirs); they can drop more through
//! `common::capture`.
mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::sync::Mutex;

use common::{lua_env, lua_hosts, lua_test_files, module_cpath, parse_summary, run_lua, start_sim};
use common::{State, TempDir};
use ttlock_sim::{
    FIXTURE_ACCESS_TOKEN, FIXTURE_CLIENT_SECRET, FIXTURE_PASSWORD, FIXTURE_PASSWORD_MD5,
    FIXTURE_REFRESH_TOKEN,
};

/// `(secret, file, line)` for every secret found in a capture.
fn find_leaks(captures: &[(String, String)], secrets: &BTreeSet<String>) -> Vec<String> {
    let lowered: Vec<String> = secrets.iter().map(|s| s.to_lowercase()).collect();
    let mut found = Vec::new();
    for (name, text) in captures {
        for line in text.lines() {
            let l = line.to_lowercase();
            for s in &lowered {
                if l.contains(s.as_str()) {
                    found.push(format!("{s:?} in {name}: {line}"));
                }
            }
        }
    }
    found
}

/// Runs one Lua test file with captures on; returns its output (and fails the test if it
/// failed: an incomplete run would scan less than it claims).
fn run_captured_file(host: &str, cpath: &str, file: &Path, capture: &Path) -> String {
    let sim = start_sim(State::fixture());
    let mut env = lua_env(&sim, host, cpath);
    env.push((
        "TTLOCK_CAPTURE_DIR".into(),
        capture.to_string_lossy().into_owned(),
    ));
    let run = run_lua(host, file, &env);
    let summary = parse_summary(&run.output);
    assert!(
        run.success() && summary.is_some_and(|(p, f)| p > 0 && f == 0),
        "{} failed with captures on:\n{}",
        file.display(),
        run.output
    );
    run.output
}

#[test]
fn the_scanner_finds_a_planted_secret() {
    let secrets: BTreeSet<String> = ["e4e4e4e4f5f5f5f5a6a6a6a6b7b7b7b7".to_string()].into();
    let clean = vec![("a".to_string(), "ttlock.battery: 1 true 2 87".to_string())];
    assert!(find_leaks(&clean, &secrets).is_empty());
    let leaky = vec![(
        "b".to_string(),
        "ok\nlog: refreshed with E4E4E4E4F5F5F5F5A6A6A6A6B7B7B7B7 today".to_string(),
    )];
    let found = find_leaks(&leaky, &secrets);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("in b: log: refreshed"), "{found:?}");
}

#[test]
fn no_secret_in_anything_the_lua_tier_saw() {
    let host = lua_hosts().remove(0);
    let cpath = module_cpath();
    let capture = TempDir::new("captures");
    let files = lua_test_files();
    assert!(!files.is_empty(), "no Lua test files");

    // Two files at a time, as the tier runs them.
    let queue = Mutex::new(files.clone().into_iter());
    let outputs: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let next = queue.lock().unwrap().next();
                let Some(file) = next else { break };
                let out = run_captured_file(&host, &cpath, &file, capture.path());
                let name = format!("output of {}", file.display());
                outputs.lock().unwrap().push((name, out));
            });
        }
    });

    let mut captures = outputs.into_inner().unwrap();
    let mut secrets: BTreeSet<String> = [
        FIXTURE_CLIENT_SECRET,
        FIXTURE_PASSWORD,
        FIXTURE_PASSWORD_MD5,
        FIXTURE_ACCESS_TOKEN,
        FIXTURE_REFRESH_TOKEN,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut secret_files = 0;
    for entry in fs::read_dir(capture.path()).unwrap().flatten() {
        let path = entry.path();
        let text = String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned();
        match path.extension().and_then(|e| e.to_str()) {
            Some("secrets") => {
                secret_files += 1;
                secrets.extend(
                    text.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from),
                );
            }
            _ => captures.push((path.display().to_string(), text)),
        }
    }

    // The scan means something only if the captures hold what they should.
    let all: String = captures.iter().map(|(_, t)| t.as_str()).collect();
    let count = |prefix: &str| all.lines().filter(|l| l.starts_with(prefix)).count();
    let results = count("ttlock.");
    let log_lines = count("log: ");
    let site_lines = all.matches("TTLock:").count();
    let bytes: usize = captures.iter().map(|(_, t)| t.len()).sum();
    println!(
        "{} Lua test files under {host}: {} captures ({} KiB), {results} module results, \
         {log_lines} log-callback lines, {site_lines} LM log lines, {} secrets ({secret_files} \
         simulators)",
        files.len(),
        captures.len(),
        bytes / 1024,
        secrets.len()
    );
    // (A file may run inner testlib files of its own: at least one each.)
    assert!(
        secret_files >= files.len(),
        "{secret_files} secrets files for {} test files",
        files.len()
    );
    assert!(results >= 500, "only {results} module results captured");
    assert!(log_lines >= 100, "only {log_lines} log lines captured");
    assert!(
        site_lines >= 50,
        "only {site_lines} LM site log lines captured"
    );
    assert!(
        secrets.len() >= 20,
        "only {} secrets known: the simulators issued more tokens than that",
        secrets.len()
    );

    let leaks = find_leaks(&captures, &secrets);
    assert!(
        leaks.is_empty(),
        "{} secret(s) found:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}
