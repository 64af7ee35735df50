//! The Lua state as the core's host: the `token_store` and `log` callbacks that `configure`
//! stored, installed for the duration of each call; and the `persist` store around each call
//! (restore after a reboot before it, a bounded save after it: `state::persist`).
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use mlua::prelude::*;
use mlua::{Function, Table, Value};

use super::args::{as_f64, num_out, type_name, MAX_EXACT};
use super::export::{lua_error_text, misuse};
use super::values::{json_to_lua, lua_to_json};
use crate::client::Client;
use crate::error::Error;
use crate::host::{Host, Level, TokenRecord};
use crate::ops::gateways::GATEWAYS_FILE;
use crate::ops::ledger::LEDGER_FILE;
use crate::ops::stay::{FileStayStore, RoomRecord, StayStore};
use crate::secret::Secret;
use crate::state::persist;
use crate::transport::now_ms;

/// What `configure` stored in the Lua state.
pub(crate) struct Configured {
    pub(crate) client: Arc<Client>,
    pub(crate) load: Option<Function>,
    pub(crate) save: Option<Function>,
    pub(crate) log: Option<Function>,
    /// `stay_store = { rooms, load, save }`; `None`: the file in `state_dir`.
    pub(crate) stays: Option<StayCallbacks>,
    /// `persist = { load, save }`; `None`: `state_dir` only (as before).
    pub(crate) persist: Option<PersistCallbacks>,
}

/// The Lua functions of `configure{persist}`.
#[derive(Clone)]
pub(crate) struct PersistCallbacks {
    pub(crate) load: Function,
    pub(crate) save: Function,
}

/// The files of `state_dir` that a reboot must not lose (besides the month's call count).
pub(crate) const PERSISTED_FILES: &[&str] = &[LEDGER_FILE, GATEWAYS_FILE];

impl persist::Store for PersistCallbacks {
    fn load(&self, key: &str) -> crate::error::Result<Option<String>> {
        let v: Value = self
            .load
            .call(key)
            .map_err(|e| callback_failed("persist.load", &e))?;
        match v {
            Value::Nil => Ok(None),
            Value::String(s) => Ok(Some(s.to_string_lossy())),
            other => Err(Error::misuse(
                crate::error::Code::InvalidArgument,
                format!(
                    "persist.load must return a string or nil, got a {}",
                    type_name(&other)
                ),
            )),
        }
    }

    fn save(&self, key: &str, text: &str) -> crate::error::Result<()> {
        self.save
            .call::<()>((key, text))
            .map_err(|e| callback_failed("persist.save", &e))
    }
}

thread_local! {
    /// `with_client` calls in progress on this thread: only the outermost restores and saves.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

struct Depth;

impl Depth {
    fn enter() -> (Depth, bool) {
        let outer = DEPTH.with(|d| {
            let n = d.get();
            d.set(n + 1);
            n == 0
        });
        (Depth, outer)
    }
}

impl Drop for Depth {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Before a call: restore what the last boot kept, once per boot. A misuse of the callbacks
/// raises (nothing has been done yet); any other failure is logged and the call goes on (the
/// state is a cache; no save happens until a restore worked).
fn persist_before(c: &Client, p: &PersistCallbacks) -> LuaResult<()> {
    let dir = &c.config().state_dir;
    match persist::restore_if_needed(dir, PERSISTED_FILES, p, now_ms()) {
        Ok(None) => {}
        Ok(Some(r)) if r.saved_ms > 0 || r.unreadable => {
            let mut line = if r.unreadable {
                "ttlock: the state kept in persist was unreadable: it is replaced at the next save"
                    .to_owned()
            } else {
                format!(
                    "ttlock: state restored from persist (saved {}): {} call(s) this month",
                    utc_text(r.saved_ms),
                    r.calls
                )
            };
            if !r.files.is_empty() {
                line.push_str(&format!(", {}", r.files.join(", ")));
            }
            c.log(line);
        }
        Ok(Some(_)) => {}
        Err(e) if e.is_misuse() => return Err(misuse(e.message().to_owned())),
        Err(e) => c.log(format!(
            "ttlock: the state kept in persist was not restored ({}): nothing is saved until it is",
            e.message()
        )),
    }
    Ok(())
}

fn utc_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "at an unknown time".into())
}

/// After a call: a bounded save when due; a failure is logged, never fails the call.
fn persist_after(c: &Client, p: &PersistCallbacks) {
    let cfg = c.config();
    match persist::save_if_due(
        &cfg.state_dir,
        PERSISTED_FILES,
        p,
        cfg.persist_every,
        now_ms(),
    ) {
        Ok(Some(s)) => crate::host::debug(format!(
            "ttlock: state saved to persist ({} bytes, write {} of at most {} today{})",
            s.bytes,
            s.writes_today,
            persist::bound_per_day(cfg.persist_every),
            if s.forced {
                ", after a full listing"
            } else {
                ""
            }
        )),
        Ok(None) => {}
        Err(e) => c.log(format!(
            "ttlock: state not saved to persist: {}",
            e.message()
        )),
    }
}

/// The Lua functions of `configure{stay_store}`.
#[derive(Clone)]
pub(crate) struct StayCallbacks {
    pub(crate) rooms: Function,
    pub(crate) load: Function,
    pub(crate) save: Function,
}

/// The stay memory in the host's store (LM storage), called on the Lua thread only.
struct LuaStayStore {
    lua: Lua,
    f: StayCallbacks,
}

impl StayStore for LuaStayStore {
    fn rooms(&self) -> crate::error::Result<Vec<String>> {
        let v: Value = self
            .f
            .rooms
            .call(())
            .map_err(|e| callback_failed("stay_store.rooms", &e))?;
        let Value::Table(t) = v else {
            return Err(Error::misuse(
                crate::error::Code::InvalidArgument,
                "stay_store.rooms must return a list of room names",
            ));
        };
        let mut out = Vec::new();
        for v in t.sequence_values::<Value>() {
            match v.map_err(|e| callback_failed("stay_store.rooms", &e))? {
                Value::String(s) => out.push(s.to_string_lossy()),
                other => {
                    return Err(Error::misuse(
                        crate::error::Code::InvalidArgument,
                        format!(
                            "stay_store.rooms must return room names, got a {}",
                            type_name(&other)
                        ),
                    ))
                }
            }
        }
        Ok(out)
    }

    fn load(&self, room: &str) -> crate::error::Result<Option<RoomRecord>> {
        let v: Value = self
            .f
            .load
            .call(room)
            .map_err(|e| callback_failed("stay_store.load", &e))?;
        if v.is_nil() {
            return Ok(None);
        }
        // A record that cannot be read is a broken memory, not a misuse: the caller decides.
        // Without the parser's words: they can quote a value (a guest's digits).
        let unreadable = |_parser_says| {
            let text = format!("the stay memory of room {room} is unreadable");
            Error::new(crate::error::Code::BadResponse, text.clone()).with_advice(
                format!(
                    "{text}: check the room's codes in the TTLock app, then delete its memory (LM storage key ttlock_stay_{room})"
                ),
            )
        };
        let json = lua_to_json(&v, 0).map_err(unreadable)?;
        serde_json::from_value(json)
            .map(Some)
            .map_err(|e| unreadable(e.to_string()))
    }

    fn save(&self, room: &str, record: Option<&RoomRecord>) -> crate::error::Result<()> {
        let v = match record {
            None => Value::Nil,
            Some(r) => {
                let json = serde_json::to_value(r).map_err(|e| {
                    Error::new(crate::error::Code::BadResponse, format!("stay memory: {e}"))
                })?;
                json_to_lua(&self.lua, &json).map_err(|e| callback_failed("stay_store.save", &e))?
            }
        };
        self.f
            .save
            .call::<()>((room, v))
            .map_err(|e| callback_failed("stay_store.save", &e))
    }
}

/// Run `f` with the configured client, the host installed, and the stay store (the Lua
/// `stay_store`, else the file in `state_dir`).
pub(crate) fn with_stays<R>(
    lua: &Lua,
    f: impl FnOnce(&Client, &dyn StayStore) -> R,
) -> LuaResult<R> {
    let callbacks = lua
        .app_data_ref::<Configured>()
        .and_then(|c| c.stays.clone());
    with_client(lua, |c| match callbacks {
        Some(cb) => f(
            c,
            &LuaStayStore {
                lua: lua.clone(),
                f: cb,
            },
        ),
        None => f(c, &FileStayStore::new(&c.config().state_dir)),
    })
}

/// The Lua state's callbacks as the core's `Host` (on the Lua thread only).
struct LuaHost {
    lua: Lua,
    level: Level,
    load: Option<Function>,
    save: Option<Function>,
    log: Option<Function>,
}

fn callback_failed(what: &str, e: &LuaError) -> Error {
    let text = lua_error_text(e);
    let text = text.strip_prefix("ttlock: ").unwrap_or(&text);
    Error::misuse(
        crate::error::Code::InvalidArgument,
        format!("{what} failed: {text}"),
    )
}

impl Host for LuaHost {
    fn load_tokens(&self) -> crate::error::Result<Option<TokenRecord>> {
        let Some(load) = &self.load else {
            return Ok(None);
        };
        let v: Value = load
            .call(())
            .map_err(|e| callback_failed("token_store.load", &e))?;
        let t = match v {
            Value::Nil => return Ok(None),
            Value::Table(t) => t,
            other => {
                return Err(Error::misuse(
                    crate::error::Code::InvalidArgument,
                    format!(
                        "token_store.load must return a table or nil, got {}",
                        type_name(&other)
                    ),
                ))
            }
        };
        let bad = |k: &str, want: &str| {
            Error::misuse(
                crate::error::Code::InvalidArgument,
                format!("token_store.load: {k} must be {want}"),
            )
        };
        let secret = |k: &str| -> crate::error::Result<Option<Secret>> {
            match t
                .raw_get::<Value>(k)
                .map_err(|e| callback_failed("token_store.load", &e))?
            {
                Value::Nil => Ok(None),
                Value::String(s) => {
                    let s = s.to_str().map_err(|_| bad(k, "text"))?.to_string();
                    Ok((!s.is_empty()).then(|| Secret::new(s)))
                }
                _ => Err(bad(k, "a string or nil")),
            }
        };
        let expires = match t
            .raw_get::<Value>("expires_at_ms")
            .map_err(|e| callback_failed("token_store.load", &e))?
        {
            Value::Nil => None,
            v => match as_f64(&v) {
                Some(n) if n.is_finite() && n.fract() == 0.0 && n.abs() <= MAX_EXACT => {
                    Some(n as i64)
                }
                _ => return Err(bad("expires_at_ms", "a whole number or nil")),
            },
        };
        Ok(Some(TokenRecord {
            access_token: secret("access_token")?,
            refresh_token: secret("refresh_token")?,
            expires_at_ms: expires,
        }))
    }

    fn save_tokens(&self, rec: &TokenRecord) -> crate::error::Result<()> {
        let Some(save) = &self.save else {
            return Ok(());
        };
        let build = || -> LuaResult<Table> {
            let t = self.lua.create_table()?;
            if let Some(a) = &rec.access_token {
                t.set("access_token", a.expose())?;
            }
            if let Some(r) = &rec.refresh_token {
                t.set("refresh_token", r.expose())?;
            }
            if let Some(e) = rec.expires_at_ms {
                t.set("expires_at_ms", num_out(e))?;
            }
            Ok(t)
        };
        let t = build().map_err(|e| callback_failed("token_store.save", &e))?;
        save.call::<()>(t)
            .map_err(|e| callback_failed("token_store.save", &e))
    }

    fn log(&self, level: Level, line: &str) {
        if level < self.level {
            return;
        }
        if let Some(log) = &self.log {
            // A failing log callback must not fail the operation.
            let _ = log.call::<()>(line);
        }
    }
}

/// Run `f` with the configured client and this Lua state's callbacks installed as the host;
/// with a `persist` store, the outermost call restores before `f` and saves after it.
/// Not configured: raises.
pub(crate) fn with_client<R>(lua: &Lua, f: impl FnOnce(&Client) -> R) -> LuaResult<R> {
    let (client, host, persist) = {
        let cfg = lua.app_data_ref::<Configured>().ok_or_else(|| {
            misuse("not configured: call ttlock.configure{client_id=..., client_secret=...} first")
        })?;
        let host = LuaHost {
            lua: lua.clone(),
            level: cfg.client.config().log_level,
            load: cfg.load.clone(),
            save: cfg.save.clone(),
            log: cfg.log.clone(),
        };
        (cfg.client.clone(), host, cfg.persist.clone())
    };
    crate::host::with_host(Rc::new(host), || {
        let (_depth, outer) = Depth::enter();
        let persist = persist.filter(|_| outer);
        if let Some(p) = &persist {
            persist_before(&client, p)?;
        }
        let r = f(&client);
        if let Some(p) = &persist {
            persist_after(&client, p);
        }
        Ok(r)
    })
}
