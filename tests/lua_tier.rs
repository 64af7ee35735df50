//! The Lua test tier: every `tests/lua/test_*.lua` (and `tests/lua/*/test_*.lua`) under every Lua
//! host of `TTLOCK_LUA_HOSTS`, each run against a fresh simulator holding `State::fixture()`, at
//! most `TTLOCK_LUA_JOBS` (default 2) at a time.
//!
//! With `[[test]] name = "lua_tier" harness = false` in Cargo.toml, `main` below is the test
//! binary: one test per (file, host) pair, named `<file>::<host>`, with libtest's `--list`,
//! `--exact`, `--skip` and name filters (so `cargo test --test lua_tier -- lm_emulator` and
//! cargo-nextest work). Under the default harness the single `#[test]` runs every pair.

mod common;

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use common::{
    host_label, lua_env, lua_host_specs, lua_hosts, lua_test_files, module_cpath, parse_summary,
    repo_root, run_lua, start_sim, State,
};

struct Job {
    name: String,
    file: PathBuf,
    host: String,
}

struct Outcome {
    ok: bool,
    line: String,
    output: String,
}

fn jobs(hosts: &[String]) -> Vec<Job> {
    let dir = repo_root().join("tests/lua");
    let files = lua_test_files();
    assert!(!files.is_empty(), "no Lua test files in {}", dir.display());
    // Labels must be unique: two hosts with the same label get their position appended.
    let labels: Vec<String> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let l = host_label(h);
            if hosts.iter().filter(|o| host_label(o) == l).count() > 1 {
                format!("{l}#{}", i + 1)
            } else {
                l
            }
        })
        .collect();
    let mut jobs = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(&dir)
            .unwrap_or(file)
            .to_string_lossy()
            .into_owned();
        for (host, label) in hosts.iter().zip(&labels) {
            jobs.push(Job {
                name: format!("{rel}::{label}"),
                file: file.clone(),
                host: host.clone(),
            });
        }
    }
    jobs
}

fn run_job(job: &Job, cpath: &str) -> Outcome {
    let sim = start_sim(State::fixture());
    let env = lua_env(&sim, &job.host, cpath);
    let run = run_lua(&job.host, &job.file, &env);
    let summary = parse_summary(&run.output);
    let (ok, detail) = match summary {
        _ if run.timed_out => (false, "timed out".to_string()),
        Some((p, f)) => (
            run.success() && f == 0 && p > 0,
            format!("{p} passed, {f} failed, exit {:?}", run.code()),
        ),
        None => (
            false,
            format!("no `N passed, N failed` line, exit {:?}", run.code()),
        ),
    };
    Outcome {
        ok,
        line: format!(
            "test {} ... {} ({detail})",
            job.name,
            if ok { "ok" } else { "FAILED" }
        ),
        output: run.output,
    }
}

fn parallelism() -> usize {
    std::env::var("TTLOCK_LUA_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(2)
}

/// Runs the jobs, printing each result as it finishes; returns (passed, failed names).
fn run_all(jobs: Vec<Job>, cpath: &str) -> (usize, Vec<String>) {
    let jobs = Arc::new(jobs);
    let next = Arc::new(Mutex::new(0usize));
    let (tx, rx) = mpsc::channel::<(String, Outcome)>();
    let workers: Vec<_> = (0..parallelism().min(jobs.len().max(1)))
        .map(|_| {
            let (jobs, next, tx, cpath) =
                (jobs.clone(), next.clone(), tx.clone(), cpath.to_string());
            std::thread::spawn(move || loop {
                let i = {
                    let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                    let i = *n;
                    *n += 1;
                    i
                };
                let Some(job) = jobs.get(i) else { break };
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_job(job, &cpath)))
                        .unwrap_or_else(|p| Outcome {
                            ok: false,
                            line: format!("test {} ... FAILED (runner panicked)", job.name),
                            output: panic_text(&p),
                        });
                if tx.send((job.name.clone(), outcome)).is_err() {
                    break;
                }
            })
        })
        .collect();
    drop(tx);
    let (mut passed, mut failed) = (0, Vec::new());
    for (name, outcome) in rx {
        println!("{}", outcome.line);
        if outcome.ok {
            // Measurements a passing file reports (`figure: ...`) are kept in the output.
            for line in outcome.output.lines().filter(|l| l.starts_with("figure: ")) {
                println!("  {name}: {line}");
            }
            passed += 1;
        } else {
            println!(
                "---- {name} output ----\n{}\n---- end of {name} ----",
                outcome.output.trim_end()
            );
            failed.push(name);
        }
    }
    for w in workers {
        let _ = w.join();
    }
    (passed, failed)
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".to_string())
}

/// libtest-style arguments: name filters, `--exact`, `--skip NAME`, `--list`, `--ignored`;
/// other flags (`--nocapture`, `--format terse`, `--test-threads N`, ...) are accepted and ignored.
struct Args {
    list: bool,
    ignored: bool,
    exact: bool,
    filters: Vec<String>,
    skips: Vec<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        list: false,
        ignored: false,
        exact: false,
        filters: Vec::new(),
        skips: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--list" => args.list = true,
            "--ignored" => args.ignored = true,
            "--exact" => args.exact = true,
            "--skip" => args.skips.extend(it.next()),
            "--format" | "--test-threads" | "--color" | "--logfile" | "-Z" | "--report-time"
            | "--shuffle-seed" => {
                it.next();
            }
            s if s.starts_with('-') => {}
            s => args.filters.push(s.to_string()),
        }
    }
    args
}

fn selected(args: &Args, name: &str) -> bool {
    let matches = |f: &String| {
        if args.exact {
            name == f
        } else {
            name.contains(f.as_str())
        }
    };
    (args.filters.is_empty() || args.filters.iter().any(matches))
        && !args.skips.iter().any(|s| name.contains(s.as_str()))
}

// The entry point when Cargo.toml declares this test with `harness = false`.
#[allow(dead_code)]
fn main() -> std::process::ExitCode {
    let args = parse_args();
    if args.list {
        // No ignored tests; `--list --ignored` lists nothing.
        if !args.ignored {
            for job in jobs(&lua_host_specs()) {
                if selected(&args, &job.name) {
                    println!("{}: test", job.name);
                }
            }
        }
        return std::process::ExitCode::SUCCESS;
    }
    if args.ignored {
        println!("0 passed, 0 failed");
        return std::process::ExitCode::SUCCESS;
    }
    let all = jobs(&lua_hosts());
    let jobs: Vec<Job> = all
        .into_iter()
        .filter(|j| selected(&args, &j.name))
        .collect();
    if jobs.is_empty() {
        println!("0 passed, 0 failed (no test matches the filters)");
        return std::process::ExitCode::SUCCESS;
    }
    let cpath = module_cpath();
    println!("running {} Lua test files", jobs.len());
    let (passed, failed) = run_all(jobs, &cpath);
    if !failed.is_empty() {
        println!("\nfailures:\n    {}", failed.join("\n    "));
    }
    println!("{passed} passed, {} failed", failed.len());
    if failed.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

// The entry point under the default libtest harness: every pair in one test.
#[test]
fn all_lua_test_files() {
    let jobs = jobs(&lua_hosts());
    let cpath = module_cpath();
    let (passed, failed) = run_all(jobs, &cpath);
    println!("{passed} passed, {} failed", failed.len());
    assert!(
        failed.is_empty(),
        "Lua test files failed: {}",
        failed.join(", ")
    );
}
