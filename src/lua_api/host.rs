//! The Lua state as the core's host: the `token_store` and `log` callbacks that `configure`
//! stored, installed for the duration of each call.
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
use crate::ops::stay::{FileStayStore, RoomRecord, StayStore};
use crate::secret::Secret;

/// What `configure` stored in the Lua state.
pub(crate) struct Configured {
    pub(crate) client: Arc<Client>,
    pub(crate) load: Option<Function>,
    pub(crate) save: Option<Function>,
    pub(crate) log: Option<Function>,
    /// `stay_store = { rooms, load, save }`; `None`: the file in `state_dir`.
    pub(crate) stays: Option<StayCallbacks>,
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

/// Run `f` with the configured client and this Lua state's callbacks installed as the host.
/// Not configured: raises.
pub(crate) fn with_client<R>(lua: &Lua, f: impl FnOnce(&Client) -> R) -> LuaResult<R> {
    let (client, host) = {
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
        (cfg.client.clone(), host)
    };
    Ok(crate::host::with_host(Rc::new(host), || f(&client)))
}
