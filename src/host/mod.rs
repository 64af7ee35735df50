//! The host: whoever embeds the core (the Lua state, or a test) and owns the token store and the
//! log. A facility at the bottom of the crate, so every layer above reaches it without importing
//! the Lua boundary.
//!
//! The Lua callbacks (`token_store.load/save`, `log`) belong to the Lua state and may only run on
//! the thread that runs Lua. The core reaches them through the [`Host`] trait:
//!
//! - The Lua binding installs its host for the duration of each call with [`with_host`]
//!   (a thread-local, so a call on the Lua thread reaches the callbacks directly).
//! - [`parallel`] runs jobs on worker threads (doors on different gateways at the same time). Each worker gets a channel back to the calling thread; the calling thread does
//!   not just join, it serves the workers' host requests (token load/save, log lines) while it
//!   waits. So a token refresh inside a worker saves through the Lua `token_store` on the Lua
//!   thread, and its log lines reach the Lua `log` callback, in order per worker.
//! - A thread with neither a host nor a relay (a thread spawned some other way) gets an error
//!   from `load_tokens` / `save_tokens`, and its log lines are dropped.
//!
//! The authenticated `Client` itself is `Sync`; only host access goes through here.
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;

use crate::error::{Code, Error, Result};

mod token_record;

pub use token_record::TokenRecord;
/// Worker threads at once for one operation (gateways worked on at the same time): a small
/// controller has one or two cores and little memory.
pub const MAX_WORKERS: usize = 4;

/// Run `f` over `items` with at most `workers` at once, results in input order. One item runs
/// on the calling thread (no thread for the common single-gateway case).
pub fn bounded<I, T, F>(items: Vec<I>, workers: usize, f: F) -> Vec<T>
where
    I: Send,
    T: Send,
    F: Fn(I) -> T + Sync,
{
    if items.len() <= 1 {
        return items.into_iter().map(f).collect();
    }
    let n = items.len();
    let queue: Mutex<VecDeque<(usize, I)>> = Mutex::new(items.into_iter().enumerate().collect());
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    let work = || loop {
        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
        let Some((i, item)) = next else { break };
        let out = f(item);
        results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(out);
    };
    let jobs: Vec<_> = (0..workers.clamp(1, n)).map(|_| &work).collect();
    parallel(jobs.into_iter().map(|w| move || w()).collect());
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.expect("every item was worked on"))
        .collect()
}

#[cfg(test)]
pub(crate) use token_record::EXPIRY_MARGIN_MS;

/// How much a diagnostics line matters. `configure{log_level}` sets the least that reaches the
/// host's log: a purge makes hundreds of successful requests, which only `Debug` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Every request, also the successful ones.
    Debug,
    /// What an integrator reads: failures, retries, renewals, outcomes.
    Info,
}

impl Level {
    /// `'debug'` or `'info'`.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "debug" => Some(Level::Debug),
            "info" => Some(Level::Info),
            _ => None,
        }
    }
}

/// What the embedding (the Lua state, or a test) provides. Runs only on its own thread.
pub trait Host {
    /// The stored token record, `None` when the store is empty.
    fn load_tokens(&self) -> Result<Option<TokenRecord>>;
    /// Keep a new record (at once, before it is used).
    fn save_tokens(&self, record: &TokenRecord) -> Result<()>;
    /// One diagnostics line; must not fail.
    fn log(&self, level: Level, line: &str);
}

enum Msg {
    Load(Sender<Result<Option<TokenRecord>>>),
    Save(TokenRecord, Sender<Result<()>>),
    Log(Level, String),
}

thread_local! {
    static HOST: RefCell<Option<Rc<dyn Host>>> = const { RefCell::new(None) };
    static RELAY: RefCell<Option<Sender<Msg>>> = const { RefCell::new(None) };
}

/// Run `f` with `host` installed on this thread (restoring the previous one afterwards, also on
/// unwinding, so nested calls from inside a callback work).
pub fn with_host<R>(host: Rc<dyn Host>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Rc<dyn Host>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            HOST.with(|h| *h.borrow_mut() = prev);
        }
    }
    let prev = HOST.with(|h| h.replace(Some(host)));
    let _restore = Restore(prev);
    f()
}

fn current_host() -> Option<Rc<dyn Host>> {
    // Cloned out so no RefCell borrow is held while the callback runs.
    HOST.with(|h| h.borrow().clone())
}

fn current_relay() -> Option<Sender<Msg>> {
    RELAY.with(|r| r.borrow().clone())
}

fn unreachable_host() -> Error {
    Error::misuse(
        Code::NotConfigured,
        "token_store is reachable only from the Lua thread or from exec::parallel workers",
    )
}

fn serve(host: &dyn Host, msg: Msg) {
    match msg {
        Msg::Load(reply) => {
            let _ = reply.send(host.load_tokens());
        }
        Msg::Save(rec, reply) => {
            let _ = reply.send(host.save_tokens(&rec));
        }
        Msg::Log(level, line) => host.log(level, &line),
    }
}

fn dispatch(msg: Msg) {
    if let Some(host) = current_host() {
        return serve(&*host, msg);
    }
    if let Some(relay) = current_relay() {
        if let Err(e) = relay.send(msg) {
            fail(e.0);
        }
        return;
    }
    fail(msg)
}

fn fail(msg: Msg) {
    match msg {
        Msg::Load(reply) => {
            let _ = reply.send(Err(unreachable_host()));
        }
        Msg::Save(_, reply) => {
            let _ = reply.send(Err(unreachable_host()));
        }
        Msg::Log(..) => {}
    }
}

/// Whether a host (direct or through a relay) is reachable from this thread.
pub fn host_reachable() -> bool {
    current_host().is_some() || current_relay().is_some()
}

/// The host's token record.
pub(crate) fn load_tokens() -> Result<Option<TokenRecord>> {
    let (tx, rx) = channel();
    dispatch(Msg::Load(tx));
    rx.recv().unwrap_or_else(|_| Err(unreachable_host()))
}

/// Hand a record to the host's store.
pub(crate) fn save_tokens(record: &TokenRecord) -> Result<()> {
    let (tx, rx) = channel();
    dispatch(Msg::Save(record.clone(), tx));
    rx.recv().unwrap_or_else(|_| Err(unreachable_host()))
}

/// A diagnostics line to the host's log (dropped where no host is reachable).
pub fn log(line: impl Into<String>) {
    dispatch(Msg::Log(Level::Info, line.into()));
}

/// A line only `log_level = 'debug'` shows.
pub fn debug(line: impl Into<String>) {
    dispatch(Msg::Log(Level::Debug, line.into()));
}

/// Run every job on its own thread and return their results in order. The calling thread
/// serves the workers' host requests until all of them have finished (see the module comment).
/// A panic in a job is re-raised here after every job has ended.
pub fn parallel<T, F>(jobs: Vec<F>) -> Vec<T>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    if jobs.is_empty() {
        return Vec::new();
    }
    let (tx, rx) = channel::<Msg>();
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|job| {
                let relay = tx.clone();
                scope.spawn(move || {
                    RELAY.with(|r| *r.borrow_mut() = Some(relay));
                    let out = job();
                    // Drop our sender now so the serving loop can end.
                    RELAY.with(|r| r.borrow_mut().take());
                    out
                })
            })
            .collect();
        drop(tx);
        // Ends when every worker has dropped its sender (finished or panicked).
        while let Ok(msg) = rx.recv() {
            dispatch(msg);
        }
        let mut out = Vec::with_capacity(handles.len());
        let mut panic = None;
        for h in handles {
            match h.join() {
                Ok(v) => out.push(v),
                Err(p) => panic = panic.or(Some(p)),
            }
        }
        if let Some(p) = panic {
            std::panic::resume_unwind(p);
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use std::cell::RefCell;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread::ThreadId;

    /// One job per item.
    fn map<I: Send, T: Send>(items: Vec<I>, f: impl Fn(I) -> T + Sync) -> Vec<T> {
        let f = &f;
        parallel(items.into_iter().map(|i| move || f(i)).collect())
    }

    /// A host that must only ever be called on the thread that created it.
    struct TestHost {
        owner: ThreadId,
        record: RefCell<Option<TokenRecord>>,
        lines: RefCell<Vec<String>>,
    }

    impl TestHost {
        fn check(&self) {
            assert_eq!(
                std::thread::current().id(),
                self.owner,
                "host used off its thread"
            );
        }
    }

    impl Host for TestHost {
        fn load_tokens(&self) -> Result<Option<TokenRecord>> {
            self.check();
            Ok(self.record.borrow().clone())
        }
        fn save_tokens(&self, record: &TokenRecord) -> Result<()> {
            self.check();
            *self.record.borrow_mut() = Some(record.clone());
            Ok(())
        }
        fn log(&self, _level: Level, line: &str) {
            self.check();
            self.lines.borrow_mut().push(line.to_owned());
        }
    }

    fn rec(token: &str) -> TokenRecord {
        TokenRecord {
            access_token: Some(Secret::new(token)),
            refresh_token: None,
            expires_at_ms: Some(1),
        }
    }

    #[test]
    fn workers_reach_the_host_through_the_calling_thread() {
        let host = Rc::new(TestHost {
            owner: std::thread::current().id(),
            record: RefCell::new(Some(rec("first"))),
            lines: RefCell::new(Vec::new()),
        });
        let out = with_host(host.clone(), || {
            map((0..6).collect(), |i: i32| {
                assert!(host_reachable());
                let loaded = load_tokens().unwrap().unwrap();
                log(format!("worker {i}"));
                if i == 3 {
                    save_tokens(&rec("from-worker-3")).unwrap();
                }
                (i, loaded.access_token.is_some())
            })
        });
        assert_eq!(out, (0..6).map(|i| (i, true)).collect::<Vec<_>>());
        let mut lines = host.lines.borrow().clone();
        lines.sort();
        assert_eq!(
            lines,
            (0..6).map(|i| format!("worker {i}")).collect::<Vec<_>>()
        );
        assert_eq!(
            host.record
                .borrow()
                .as_ref()
                .unwrap()
                .access_token
                .as_ref()
                .unwrap()
                .expose(),
            "from-worker-3"
        );
    }

    #[test]
    fn nested_parallel_and_no_host() {
        assert!(!host_reachable());
        assert_eq!(load_tokens().unwrap_err().code(), Code::NotConfigured);
        let host = Rc::new(TestHost {
            owner: std::thread::current().id(),
            record: RefCell::new(None),
            lines: RefCell::new(Vec::new()),
        });
        let n = with_host(host.clone(), || {
            map(vec![1, 2], |_| {
                map(vec![1, 2, 3], |_| {
                    log("inner");
                    load_tokens().unwrap().is_none()
                })
                .len()
            })
        });
        assert_eq!(n, vec![3, 3]);
        assert_eq!(host.lines.borrow().len(), 6);
        // Restored after with_host.
        assert!(!host_reachable());
        // A plain thread has no route to the host.
        std::thread::spawn(|| assert!(load_tokens().is_err()))
            .join()
            .unwrap();
    }

    #[test]
    fn a_panicking_job_is_re_raised_after_the_others_finish() {
        let done = std::sync::atomic::AtomicUsize::new(0);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            map(vec![0, 1, 2], |i| {
                if i == 1 {
                    panic!("job failed");
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
        }));
        assert!(r.is_err());
        assert_eq!(done.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn bounded_keeps_order_and_limits_workers() {
        let running = AtomicUsize::new(0);
        let max = AtomicUsize::new(0);
        let out = bounded((0..10).collect(), 3, |i: i32| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(5));
            running.fetch_sub(1, Ordering::SeqCst);
            i * 2
        });
        assert_eq!(out, (0..10).map(|i| i * 2).collect::<Vec<_>>());
        assert!(max.load(Ordering::SeqCst) <= 3);
        let one = bounded(vec![7], 4, |i: i32| (i, std::thread::current().id()));
        assert_eq!(one, vec![(7, std::thread::current().id())]);
        assert!(bounded(Vec::<i32>::new(), 4, |i| i).is_empty());
    }
}
