//! Token lifecycle against the simulator, through the Rust API: login, refresh and rotation,
//! 10004/10003 (one refresh, one repeat), 10011 with and without credentials, ensure_token,
//! and the single-flight refresh across 8 processes.
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{fixture_config, fixture_config_at, start_sim, Sim, State, TempDir};
use ttlock::{api, Client, Code, TokenRecord, TokenStore};
use ttlock_sim::{
    Fault, FaultKind, FIXTURE_ACCESS_TOKEN, FIXTURE_PASSWORD, FIXTURE_PASSWORD_MD5,
    FIXTURE_REFRESH_TOKEN, FIXTURE_USERNAME,
};

const BATTERY_PATH: &str = "/v3/lock/queryElectricQuantity";

/// A file-store client of the fixture app holding no token yet.
fn client(sim: &Sim, dir: &Path) -> Client {
    Client::new(fixture_config(sim, dir), TokenStore::File).unwrap()
}

fn client_with_credentials(sim: &Sim, dir: &Path) -> Client {
    let mut cfg = fixture_config(sim, dir);
    cfg.username = Some(FIXTURE_USERNAME.into());
    cfg.password_md5 = Some(FIXTURE_PASSWORD_MD5.into());
    Client::new(cfg, TokenStore::File).unwrap()
}

fn seed(c: &Client, access: &str, refresh: &str, expires_at_ms: Option<i64>) {
    c.save_tokens(&TokenRecord {
        access_token: Some(access.into()),
        refresh_token: Some(refresh.into()),
        expires_at_ms,
    })
    .unwrap();
}

fn far_future() -> Option<i64> {
    Some(ttlock::transport::now_ms() + 80 * 86_400_000)
}

fn stored(c: &Client) -> TokenRecord {
    c.load_tokens().unwrap().expect("a stored token record")
}

#[test]
fn login_refresh_and_rotation() {
    let sim = start_sim(State::fixture());
    let dir = TempDir::new("tokens-login");
    let c = client(&sim, dir.path());

    // Wrong password: auth_failed with the advice, and a person must act.
    let e = c
        .login(FIXTURE_USERNAME, &ttlock::md5_hex("wrong").into())
        .unwrap_err();
    assert_eq!((e.code(), e.errcode()), (Code::AuthFailed, Some(10007)));
    assert!(e.message().contains("TTLock app"), "{e}");
    assert!(c.token_info().unwrap().needs_login);

    c.login(FIXTURE_USERNAME, &ttlock::md5_hex(FIXTURE_PASSWORD).into())
        .unwrap();
    let info = c.token_info().unwrap();
    assert!(info.has_access_token && info.has_refresh_token && !info.needs_login);
    let now = ttlock::transport::now_ms();
    let exp = info.expires_at_ms.unwrap();
    assert!((exp - (now + 7_776_000_000)).abs() < 60_000, "{exp}");
    assert_eq!(sim.counters().token_grants, 2);
    let first = stored(&c);
    assert_eq!(api::query_electric_quantity(&c, 1001).unwrap(), 87);

    // The tokens file is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("tokens.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // Refresh: the simulator rotates the refresh token; the rotated one must be kept, or the
    // second refresh would be rejected with 10011.
    c.refresh_token().unwrap();
    let second = stored(&c);
    assert_ne!(second.access_token, first.access_token);
    assert_ne!(second.refresh_token, first.refresh_token);
    c.refresh_token().unwrap();
    let third = stored(&c);
    assert_ne!(third.refresh_token, second.refresh_token);
    assert_eq!(sim.counters().token_refreshes, 2);
    assert_eq!(api::query_electric_quantity(&c, 1001).unwrap(), 87);
    // The old refresh token is dead in the simulator, as after a real rotation.
    let old = first.refresh_token.unwrap();
    let state = sim.state();
    let t = state
        .tokens
        .iter()
        .find(|t| t.refresh_token == old.expose())
        .unwrap();
    assert!(!t.refresh_valid);
}

#[test]
fn expired_access_token_refreshes_once_and_repeats_once() {
    let sim = start_sim(State::fixture());
    let dir = TempDir::new("tokens-10004");
    let c = client(&sim, dir.path());
    // Valid by the local record, expired at TTLock: the call meets 10004.
    seed(
        &c,
        FIXTURE_ACCESS_TOKEN,
        FIXTURE_REFRESH_TOKEN,
        far_future(),
    );
    sim.expire_access_tokens();
    assert_eq!(api::query_electric_quantity(&c, 1001).unwrap(), 87);
    let n = sim.counters();
    assert_eq!(n.token_refreshes, 1);
    assert_eq!(n.requests_to(BATTERY_PATH), 2);
    assert_ne!(
        stored(&c).access_token.unwrap().expose(),
        FIXTURE_ACCESS_TOKEN
    );

    // 10003 (token unknown) is handled the same way.
    sim.reset_counters();
    let refresh = stored(&c).refresh_token.unwrap();
    seed(
        &c,
        "0123456789abcdef0123456789abcdef",
        refresh.expose(),
        far_future(),
    );
    assert_eq!(api::query_electric_quantity(&c, 1002).unwrap(), 64);
    assert_eq!(sim.counters().token_refreshes, 1);
    assert_eq!(sim.counters().requests_to(BATTERY_PATH), 2);

    // Only once: when the repeat is rejected again, the error comes back.
    sim.reset_counters();
    sim.inject(Fault::errcode(BATTERY_PATH, 10004, 2));
    let e = api::query_electric_quantity(&c, 1001).unwrap_err();
    assert_eq!((e.code(), e.errcode()), (Code::AuthFailed, Some(10004)));
    assert_eq!(sim.counters().token_refreshes, 1);
    assert_eq!(sim.counters().requests_to(BATTERY_PATH), 2);
}

#[test]
fn locally_expired_token_is_refreshed_before_the_call() {
    let sim = start_sim(State::fixture());
    let dir = TempDir::new("tokens-local-exp");
    let c = client(&sim, dir.path());
    seed(
        &c,
        FIXTURE_ACCESS_TOKEN,
        FIXTURE_REFRESH_TOKEN,
        Some(ttlock::transport::now_ms() - 1000),
    );
    assert_eq!(api::query_electric_quantity(&c, 1001).unwrap(), 87);
    assert_eq!(sim.counters().token_refreshes, 1);
    // No wasted call with the expired token.
    assert_eq!(sim.counters().requests_to(BATTERY_PATH), 1);
}

#[test]
fn rejected_refresh_token_without_credentials_needs_login() {
    let sim = start_sim(State::fixture());
    let dir = TempDir::new("tokens-10011");
    let c = client(&sim, dir.path());
    seed(
        &c,
        FIXTURE_ACCESS_TOKEN,
        "ffffffffffffffffffffffffffffffff",
        far_future(),
    );
    sim.expire_access_tokens();
    let e = api::query_electric_quantity(&c, 1001).unwrap_err();
    assert_eq!((e.code(), e.errcode()), (Code::AuthFailed, Some(10011)));
    assert!(e.message().contains("log in again"), "{e}");
    assert_eq!(sim.counters().token_grants, 0);
    assert!(c.token_info().unwrap().needs_login);
    // A later process (a new client on the same state_dir) knows it too.
    let later = client(&sim, dir.path());
    assert!(later.token_info().unwrap().needs_login);
    // A successful login clears it.
    later
        .login(FIXTURE_USERNAME, &FIXTURE_PASSWORD_MD5.into())
        .unwrap();
    assert!(!c.token_info().unwrap().needs_login);
    assert_eq!(api::query_electric_quantity(&c, 1001).unwrap(), 87);
}

#[test]
fn rejected_refresh_token_with_credentials_logs_in() {
    let sim = start_sim(State::fixture());
    let dir = TempDir::new("tokens-10011-pw");
    let c = client_with_credentials(&sim, dir.path());
    seed(
        &c,
        FIXTURE_ACCESS_TOKEN,
        "ffffffffffffffffffffffffffffffff",
        far_future(),
    );
    sim.expire_access_tokens();
    assert_eq!(api::query_electric_quantity(&c, 1001).unwrap(), 87);
    let n = sim.counters();
    assert_eq!((n.token_refreshes, n.token_grants), (1, 1));
    assert!(!c.token_info().unwrap().needs_login);
    let rec = stored(&c);
    assert_ne!(
        rec.refresh_token.unwrap().expose(),
        "ffffffffffffffffffffffffffffffff"
    );

    // With no token at all, the configured credentials log in on first use.
    let dir2 = TempDir::new("tokens-first-use");
    let c2 = client_with_credentials(&sim, dir2.path());
    assert!(!c2.token_info().unwrap().needs_login);
    assert_eq!(api::query_electric_quantity(&c2, 1002).unwrap(), 64);
    assert_eq!(sim.counters().token_grants, 2);
}

#[test]
fn ensure_token_refreshes_early() {
    let sim = start_sim(State::fixture());
    let dir = TempDir::new("tokens-ensure");
    let c = client(&sim, dir.path());
    let week = Duration::from_secs(7 * 86400);
    // One day left by the record: refresh.
    seed(
        &c,
        FIXTURE_ACCESS_TOKEN,
        FIXTURE_REFRESH_TOKEN,
        Some(ttlock::transport::now_ms() + 86_400_000),
    );
    c.ensure_token(week).unwrap();
    assert_eq!(sim.counters().token_refreshes, 1);
    // Now 90 days: nothing to do, no request.
    c.ensure_token(week).unwrap();
    assert_eq!(sim.counters().token_refreshes, 1);
    assert_eq!(sim.counters().total_requests(), 1);
    // Unknown expiry counts as "refresh".
    let rec = stored(&c);
    c.save_tokens(&TokenRecord {
        expires_at_ms: None,
        ..rec
    })
    .unwrap();
    c.ensure_token(week).unwrap();
    assert_eq!(sim.counters().token_refreshes, 2);
    assert!(stored(&c).expires_at_ms.is_some());
}

// ---- 8 processes ---------------------------------------------------------------------------

const CHILD_ENV: &str = "TTLOCK_TOKENS_CHILD";

/// Run as a child process by `eight_processes_make_one_refresh`: waits for the start signal,
/// then makes one lock query with the shared state_dir and prints the outcome.
#[test]
#[ignore = "helper: runs only as a child process of eight_processes_make_one_refresh"]
fn child_battery_query() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split('\n').collect();
    let (base, ca, dir, id) = (parts[0], parts[1], Path::new(parts[2]), parts[3]);
    let c = Client::new(fixture_config_at(base, ca, dir), TokenStore::File).unwrap();
    std::fs::write(dir.join(format!("ready-{id}")), b"").unwrap();
    let go = dir.join("go");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !go.exists() {
        assert!(Instant::now() < deadline, "no start signal");
        std::thread::sleep(Duration::from_millis(2));
    }
    // A cloud-side query: gateway queries would meet -3003 when 8 run at once.
    match api::lock_detail(&c, 1001) {
        Ok(d) => println!("CHILD_RESULT ok {}", d.lock.alias.unwrap_or_default()),
        Err(e) => println!("CHILD_RESULT err {} {e}", e.code()),
    }
}

#[test]
fn eight_processes_make_one_refresh() {
    let sim = start_sim(State::fixture());
    let dir = TempDir::new("tokens-8proc");
    let c = client(&sim, dir.path());
    seed(
        &c,
        FIXTURE_ACCESS_TOKEN,
        FIXTURE_REFRESH_TOKEN,
        far_future(),
    );
    sim.expire_access_tokens();

    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..8)
        .map(|i| {
            let spec = format!(
                "{}\n{}\n{}\n{i}",
                sim.base_url(),
                sim.ca_file(),
                dir.path().display()
            );
            Command::new(&exe)
                .args([
                    "--exact",
                    "child_battery_query",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, spec)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Start them together once all 8 are up, so they find the expired token at the same time.
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = |i: usize| dir.path().join(format!("ready-{i}")).exists();
    while !(0..8).all(ready) {
        assert!(Instant::now() < deadline, "children did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::write(dir.path().join("go"), b"").unwrap();
    let mut results = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "child failed: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = text
            .lines()
            .find_map(|l| l.find("CHILD_RESULT").map(|i| l[i..].to_owned()))
            .unwrap_or_else(|| panic!("no result line in {text}"));
        results.push(line);
    }
    for r in &results {
        assert_eq!(r, "CHILD_RESULT ok Room 101");
    }
    let n = sim.counters();
    assert_eq!(n.token_refreshes, 1, "{n:?}");
    assert_eq!(n.token_grants, 0);
    // Every child met 10004 once at most and repeated once.
    let detail = n.requests_to("/v3/lock/detail");
    assert!((8..=16).contains(&detail), "{n:?}");
}

#[test]
fn drop_before_on_refresh_is_not_repeated() {
    // A refresh whose answer may be lost is not repeated blind: the simulator rotates refresh
    // tokens, so a repeat would present a dead one.
    let sim = start_sim(State::fixture());
    let dir = TempDir::new("tokens-refresh-lost");
    let c = client(&sim, dir.path());
    seed(
        &c,
        FIXTURE_ACCESS_TOKEN,
        FIXTURE_REFRESH_TOKEN,
        far_future(),
    );
    sim.inject(Fault::new("/oauth2/token", FaultKind::LoseAnswer, 1));
    let e = c.refresh_token().unwrap_err();
    assert_eq!(e.code(), Code::Network);
    assert!(e.maybe_done());
    assert_eq!(sim.counters().token_refreshes, 1);
    assert_eq!(sim.counters().requests_to("/oauth2/token"), 1);
}
