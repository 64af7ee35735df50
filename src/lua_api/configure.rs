//! Bindings of docs/lua-api.md "Module" and "Tokens": `configure`, `login`, the token
//! functions, `stats` and `month_request_count`.
use std::sync::Arc;
use std::time::Duration;

use mlua::prelude::*;
use mlua::{MultiValue, Value};

use super::args::{num_out, Opts};
use super::export::{misuse, Exporter};
use super::host::{Configured, PersistCallbacks, StayCallbacks};
use super::values::{fail, ret};
use super::with_client;
use crate::api;
use crate::client::{md5_hex, Client, TokenStore};
use crate::config::{self, Config};
use crate::host::Level;
use crate::secret::Secret;
use crate::state::persist;

const CONFIGURE_KEYS: &[&str] = &[
    "client_id",
    "client_secret",
    "api_base",
    "username",
    "password_md5",
    "token_store",
    "state_dir",
    "timeout_s",
    "connect_timeout_s",
    "retries",
    "retry_backoff_ms",
    "ca_file",
    "log",
    "log_level",
    "stay_store",
    "persist",
    "persist_every_s",
];

/// Default of `ensure_token{min_valid_s}`: a week, so a daily script renews well in time.
const DEFAULT_MIN_VALID_S: f64 = 7.0 * 86400.0;

pub(super) fn register(ex: &Exporter) -> LuaResult<()> {
    ex.add("configure", configure)?;
    ex.add("login", login)?;
    ex.add("refresh_token", |lua, args| {
        Opts::parse("refresh_token", args, &[], true)?;
        let r = with_client(lua, |c| c.refresh_token())?;
        ret(lua, r.map(|_| Value::Boolean(true)))
    })?;
    ex.add("ensure_token", |lua, args| {
        let o = Opts::parse("ensure_token", args, &["min_valid_s"], true)?;
        let min = match o.number("min_valid_s")? {
            None => DEFAULT_MIN_VALID_S,
            Some(n) if (0.0..=3650.0 * 86400.0).contains(&n) => n,
            Some(_) => return Err(misuse("ensure_token: min_valid_s must be 0 to 3650 days")),
        };
        let r = with_client(lua, |c| c.ensure_token(Duration::from_secs_f64(min)))?;
        ret(lua, r.map(|_| Value::Boolean(true)))
    })?;
    ex.add("token_info", |lua, args| {
        Opts::parse("token_info", args, &[], true)?;
        match with_client(lua, |c| c.token_info())? {
            Ok(info) => {
                let t = lua.create_table()?;
                t.set("has_access_token", info.has_access_token)?;
                t.set("has_refresh_token", info.has_refresh_token)?;
                if let Some(e) = info.expires_at_ms {
                    t.set("expires_at_ms", num_out(e))?;
                }
                t.set("needs_login", info.needs_login)?;
                Ok(MultiValue::from_vec(vec![Value::Table(t)]))
            }
            Err(e) => fail(lua, e),
        }
    })?;
    ex.add("stats", |lua, args| {
        Opts::parse("stats", args, &[], true)?;
        let has_persist = lua
            .app_data_ref::<Configured>()
            .is_some_and(|c| c.persist.is_some());
        let r = with_client(lua, |c| {
            let cfg = c.config();
            let info = has_persist.then(|| {
                persist::info(
                    &cfg.state_dir,
                    cfg.persist_every,
                    crate::transport::now_ms(),
                )
            });
            c.stats().map(|s| (s, info))
        })?;
        match r {
            Ok((s, info)) => {
                let t = lua.create_table()?;
                t.set("month", s.month)?;
                t.set("api_calls", num_out(s.api_calls as i64))?;
                if let Some(i) = info {
                    t.set("persist_writes", i.writes_today)?;
                    t.set("persist_bound", i.bound)?;
                    if let Some(ms) = i.saved_ms {
                        t.set("persist_saved_ms", num_out(ms))?;
                    }
                }
                Ok(MultiValue::from_vec(vec![Value::Table(t)]))
            }
            Err(e) => fail(lua, e),
        }
    })?;
    ex.add("month_request_count", |lua, args| {
        Opts::parse("month_request_count", args, &[], true)?;
        match with_client(lua, api::month_request_count)? {
            Ok(n) => Ok(MultiValue::from_vec(vec![num_out(n)])),
            Err(e) => fail(lua, e),
        }
    })?;
    Ok(())
}

/// `ttlock.configure{...}`: validates everything first; on any error it raises and the
/// previous configuration stays. Touches no file and no network.
fn configure(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let o = Opts::parse("configure", args, CONFIGURE_KEYS, false)?;
    let mut cfg = Config::new(
        o.required_string("client_id")?,
        Secret::new(o.required_string("client_secret")?),
    );
    if let Some(v) = o.string("api_base")? {
        cfg.api_base = v;
    }
    cfg.username = o.string("username")?;
    cfg.password_md5 = o.string("password_md5")?.map(Secret::new);
    if let Some(v) = o.string("state_dir")? {
        cfg.state_dir = v.into();
    }
    let seconds = |key: &'static str| -> LuaResult<Option<Duration>> {
        match o.number(key)? {
            None => Ok(None),
            Some(n) => config::seconds(key, n)
                .map(Some)
                .map_err(|e| misuse(format!("configure: {}", e.message()))),
        }
    };
    if let Some(d) = seconds("timeout_s")? {
        cfg.timeout = d;
    }
    if let Some(d) = seconds("connect_timeout_s")? {
        cfg.connect_timeout = d;
    }
    if let Some(n) = o.whole("retries", 0.0, f64::from(config::MAX_RETRIES))? {
        cfg.retries = n as u32;
    }
    if let Some(n) = o.whole("retry_backoff_ms", 0.0, 60_000.0)? {
        cfg.retry_backoff = Duration::from_millis(n as u64);
    }
    if let Some(n) = o.whole(
        "persist_every_s",
        persist::MIN_EVERY_S as f64,
        persist::MAX_EVERY_S as f64,
    )? {
        cfg.persist_every = Duration::from_secs(n as u64);
    }
    cfg.ca_file = o.string("ca_file")?.map(Into::into);
    if let Some(l) = o.string("log_level")? {
        cfg.log_level = Level::parse(&l)
            .ok_or_else(|| misuse("configure: log_level must be 'info' or 'debug'"))?;
    }
    let log = o.function("log")?;
    let (load, save) = match callbacks(&o, "token_store", &["load", "save"])? {
        None => (None, None),
        Some(mut f) => (Some(f.remove(0)), Some(f.remove(0))),
    };
    let stays =
        callbacks(&o, "stay_store", &["rooms", "load", "save"])?.map(|mut f| StayCallbacks {
            rooms: f.remove(0),
            load: f.remove(0),
            save: f.remove(0),
        });
    let persist = callbacks(&o, "persist", &["load", "save"])?.map(|mut f| PersistCallbacks {
        load: f.remove(0),
        save: f.remove(0),
    });
    let store = if load.is_some() {
        TokenStore::Host
    } else {
        TokenStore::File
    };
    let client = Client::new(cfg, store).map_err(|e| misuse(format!("configure: {e}")))?;
    lua.set_app_data(Configured {
        client: Arc::new(client),
        load,
        save,
        log,
        stays,
        persist,
    });
    Ok(MultiValue::from_vec(vec![Value::Boolean(true)]))
}

/// The functions `keys` of the table option `store`, in that order (`None`: option absent).
fn callbacks(o: &Opts, store: &str, keys: &[&str]) -> LuaResult<Option<Vec<LuaFunction>>> {
    let Some(t) = o.table(store)? else {
        return Ok(None);
    };
    keys.iter()
        .map(|k| match t.raw_get::<Value>(*k)? {
            Value::Function(f) => Ok(f),
            _ => Err(misuse(format!("configure: {store}.{k} must be a function"))),
        })
        .collect::<LuaResult<Vec<_>>>()
        .map(Some)
}

/// `ttlock.login{username, password | password_md5}`.
fn login(lua: &Lua, args: MultiValue) -> LuaResult<MultiValue> {
    let o = Opts::parse(
        "login",
        args,
        &["username", "password", "password_md5"],
        false,
    )?;
    let username = o.required_string("username")?;
    if username.trim().is_empty() {
        return Err(misuse("login: username must not be empty"));
    }
    let md5 = match (o.string("password")?, o.string("password_md5")?) {
        (Some(p), None) => Secret::new(md5_hex(&p)),
        (None, Some(m)) => Secret::new(config::normalise_md5(&m).ok_or_else(|| {
            misuse("login: password_md5 must be 32 hex digits (md5 of the TTLock app password)")
        })?),
        _ => return Err(misuse("login: give password or password_md5 (one of them)")),
    };
    let r = with_client(lua, |c| c.login(&username, &md5))?;
    ret(lua, r.map(|_| Value::Boolean(true)))
}
