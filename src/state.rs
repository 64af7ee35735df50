//! Files in `state_dir`, shared by every process of the controller (each LM event script is a
//! process of its own): the directory itself (0700), atomic writes (0600), lock files and the
//! monthly API call counter. `persist`: what must outlive a reboot of a controller whose
//! `state_dir` is in RAM, copied to the host's persistent store with a bounded number of writes.
use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Code, Error, Result};

pub mod persist;

/// The stored access and refresh tokens, in `state_dir`.
pub const TOKENS_FILE: &str = "tokens.json";
/// Lock file that lets one process at a time renew the tokens.
pub const TOKEN_LOCK_FILE: &str = "token.lock";
/// Flag file: no token can be had without a person (no usable refresh token and no working
/// password grant); cleared by the next successful grant.
pub const NEEDS_LOGIN_FILE: &str = "needs_login";

fn io_error(path: &Path, what: &str, e: io::Error) -> Error {
    Error::new(
        Code::InvalidArgument,
        format!(
            "state_dir: cannot {what} {}: {e} (check state_dir)",
            path.display()
        ),
    )
}

/// Create `dir` (and parents) with mode 0700 if missing.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io_error(dir, "create", e))
}

/// Write `data` to `path` so that readers see the old or the new content, never a mix:
/// temp file in the same directory (0600), fsync, rename, then fsync the directory.
pub fn atomic_write(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    ensure_dir(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), unique()));
    let write = || -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // Durability of the rename itself; failure here does not undo the write.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_error(path, "write", e)
    })
}

/// A number that differs between calls, threads and processes (temp names, jitter).
pub fn unique() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    // 32 bits: armv5te (LM's i.MX28) has no 64-bit atomics; the hasher's random keys and the
    // process id make the result unique well beyond 2^32 calls anyway.
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u32(N.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.finish()
}

/// Read a file; `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, "read", e)),
    }
}

/// An exclusive lock on a file in `state_dir`, released on drop (also when the process dies:
/// the kernel drops `flock` locks with the descriptor, so no stale lock survives a crash).
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

/// Take the exclusive lock on `path`, waiting at most `wait`.
pub fn lock_exclusive(path: &Path, wait: Duration) -> Result<FileLock> {
    if let Some(dir) = path.parent() {
        ensure_dir(dir)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_error(path, "open", e))?;
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(FileLock { _file: file }),
            Err(TryLockError::WouldBlock) => {
                if Instant::now() >= deadline {
                    return Err(Error::new(
                        Code::Timeout,
                        format!(
                            "another process held {} for more than {} s",
                            path.display(),
                            wait.as_secs()
                        ),
                    ));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(TryLockError::Error(e)) => return Err(io_error(path, "lock", e)),
        }
    }
}

/// TTLock counts API calls per calendar month in Beijing time (UTC+8), so the counter's month
/// follows that clock, not the controller's time zone.
pub fn beijing_month(now_ms: i64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(now_ms + 8 * 3_600_000)
        .unwrap_or(chrono::DateTime::UNIX_EPOCH);
    t.format("%Y-%m").to_string()
}

fn counter_path(dir: &Path, month: &str) -> PathBuf {
    dir.join(format!("calls-{month}"))
}

/// Count one API call: one byte appended with O_APPEND, so concurrent processes never lose a
/// count and the count is the file size.
pub fn count_call(dir: &Path, now_ms: i64) -> Result<()> {
    add_calls(dir, now_ms, 1)
}

/// Appends `n` counts to the month's counter file.
fn add_calls(dir: &Path, now_ms: i64, n: u64) -> Result<()> {
    ensure_dir(dir)?;
    let path = counter_path(dir, &beijing_month(now_ms));
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| io_error(&path, "open", e))?;
    f.write_all(&vec![b'.'; n as usize])
        .map_err(|e| io_error(&path, "write", e))
}

/// More calls than any month holds: a kept count above this is not believed.
const MAX_MONTH_CALLS: u64 = 10_000_000;

/// Raises this month's count to `calls` when it holds fewer (a reboot emptied a `state_dir` in
/// RAM; the host kept the last count). Never lowers it.
pub fn raise_calls(dir: &Path, now_ms: i64, calls: u64) -> Result<()> {
    let (_, have) = month_calls(dir, now_ms)?;
    if calls <= have || calls > MAX_MONTH_CALLS {
        return Ok(());
    }
    add_calls(dir, now_ms, calls - have)
}

/// `(month, calls)` of the month containing `now_ms`.
pub fn month_calls(dir: &Path, now_ms: i64) -> Result<(String, u64)> {
    let month = beijing_month(now_ms);
    let path = counter_path(dir, &month);
    let n = match fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(io_error(&path, "read", e)),
    };
    Ok((month, n))
}

/// Sets (writes `dir/name`) or clears (removes it) a flag file; clearing a missing flag is fine.
pub fn set_flag(dir: &Path, name: &str, on: bool) -> Result<()> {
    let path = dir.join(name);
    if on {
        atomic_write(&path, b"1\n")
    } else {
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(&path, "remove", e)),
        }
    }
}

/// Whether the flag file `dir/name` is set.
pub fn flag(dir: &Path, name: &str) -> bool {
    dir.join(name).exists()
}

#[cfg(test)]
pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ttlock-unit-{tag}-{:x}", unique()));
    fs::create_dir_all(&d).unwrap();
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn dir_and_files_are_private() {
        let root = temp_dir("perm");
        let dir = root.join("a/b");
        ensure_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let f = dir.join("x.json");
        atomic_write(&f, b"one").unwrap();
        atomic_write(&f, b"two").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"two");
        assert_eq!(mode(&f), 0o600);
        // No temp files left behind.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.json")]);
        assert_eq!(read_optional(&dir.join("missing")).unwrap(), None);
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn lock_is_exclusive_and_bounded() {
        let dir = temp_dir("lock");
        let p = dir.join("token.lock");
        let held = lock_exclusive(&p, Duration::from_secs(1)).unwrap();
        let err = lock_exclusive(&p, Duration::from_millis(50)).unwrap_err();
        assert_eq!(err.code(), Code::Timeout);
        drop(held);
        lock_exclusive(&p, Duration::from_millis(50)).unwrap();
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn beijing_month_boundary() {
        // 2026-01-31T16:00:00Z is 2026-02-01 00:00 in Beijing.
        let t = chrono::DateTime::parse_from_rfc3339("2026-01-31T16:00:00Z")
            .unwrap()
            .timestamp_millis();
        assert_eq!(beijing_month(t), "2026-02");
        assert_eq!(beijing_month(t - 1), "2026-01");
    }

    #[test]
    fn raise_calls_restores_a_lost_count_and_never_lowers_it() {
        let dir = temp_dir("raise");
        let now = 1_764_604_800_000;
        count_call(&dir, now).unwrap();
        raise_calls(&dir, now, 40).unwrap();
        assert_eq!(month_calls(&dir, now).unwrap().1, 40);
        raise_calls(&dir, now, 10).unwrap();
        assert_eq!(month_calls(&dir, now).unwrap().1, 40);
        raise_calls(&dir, now, MAX_MONTH_CALLS + 1).unwrap();
        assert_eq!(
            month_calls(&dir, now).unwrap().1,
            40,
            "a bogus count is not believed"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn counter_counts_across_threads() {
        let dir = temp_dir("count");
        let now = 1_780_000_000_000;
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..25 {
                        count_call(&dir, now).unwrap();
                    }
                });
            }
        });
        assert_eq!(month_calls(&dir, now).unwrap(), (beijing_month(now), 100));
        // Another month starts from zero.
        assert_eq!(month_calls(&dir, now + 40 * 86_400_000).unwrap().1, 0);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn flags() {
        let dir = temp_dir("flag");
        assert!(!flag(&dir, NEEDS_LOGIN_FILE));
        set_flag(&dir, NEEDS_LOGIN_FILE, true).unwrap();
        assert!(flag(&dir, NEEDS_LOGIN_FILE));
        set_flag(&dir, NEEDS_LOGIN_FILE, false).unwrap();
        set_flag(&dir, NEEDS_LOGIN_FILE, false).unwrap();
        assert!(!flag(&dir, NEEDS_LOGIN_FILE));
        fs::remove_dir_all(dir).unwrap();
    }
}
