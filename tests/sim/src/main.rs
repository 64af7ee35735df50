//! `ttlock-sim`: runs the simulator alone and prints `base_url=`, `ca_file=`, `admin_url=`,
//! `ready`, one per line; serves until SIGTERM/SIGINT or, with `--exit-on-eof`, until standard
//! input closes.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ttlock_sim::{Sim, SimConfig, State};

const USAGE: &str = "usage: ttlock-sim [--state FILE.json | --fixture fixture|demo-hotel]
                  [--port N] [--admin-port N] [--gateway-hold-ms N] [--latency-ms N]
                  [--exit-on-eof]
Prints base_url=, ca_file=, admin_url= and ready, then serves until SIGTERM/SIGINT
(or until standard input is closed, with --exit-on-eof). Default state: --fixture fixture.";

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

struct Args {
    state: State,
    config: SimConfig,
    hold: Option<u64>,
    latency: Option<u64>,
    exit_on_eof: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut state = None;
    let mut config = SimConfig::default();
    let (mut hold, mut latency, mut exit_on_eof) = (None, None, false);
    fn num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
        v.as_deref()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{flag} needs a number"))
    }
    while let Some(a) = args.next() {
        match a.as_str() {
            "--state" => {
                let path = args.next().ok_or("--state needs a file")?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
                state = Some(State::from_json(&text).map_err(|e| format!("{path}: {e}"))?);
            }
            "--fixture" => {
                state = Some(match args.next().as_deref() {
                    Some("fixture") => State::fixture(),
                    Some("demo-hotel") => State::demo_hotel(),
                    other => return Err(format!("unknown fixture {other:?}")),
                });
            }
            "--port" => config.port = num(&a, args.next())?,
            "--admin-port" => config.admin_port = num(&a, args.next())?,
            "--gateway-hold-ms" => hold = Some(num(&a, args.next())?),
            "--latency-ms" => latency = Some(num(&a, args.next())?),
            "--exit-on-eof" => exit_on_eof = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        state: state.unwrap_or_else(State::fixture),
        config,
        hold,
        latency,
        exit_on_eof,
    })
}

fn main() -> ExitCode {
    let mut args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ttlock-sim: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(h) = args.hold {
        args.state.options.gateway_hold_ms = h;
    }
    if let Some(l) = args.latency {
        args.state.options.latency_ms = l;
    }
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    let sim = match Sim::start_with(args.state, args.config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ttlock-sim: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "base_url={}", sim.base_url());
    let _ = writeln!(out, "ca_file={}", sim.ca_file());
    let _ = writeln!(out, "admin_url={}", sim.admin_url());
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    drop(out);
    if args.exit_on_eof {
        std::thread::spawn(|| {
            let mut sink = [0u8; 4096];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            STOP.store(true, Ordering::SeqCst);
        });
    }
    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Dropping stops the servers and removes the CA's temporary directory.
    sim.stop();
    ExitCode::SUCCESS
}
