//! Lua argument conversion: arbitrary Lua values built from the input (nil, booleans, edge-case
//! numbers, strings, nested tables keyed mostly by the module's option names, functions that
//! return or raise such values) passed to every function of the module, in a built-in Lua 5.1.
//! The contract must hold for every call: a raise is a string starting with `ttlock:` and never
//! an internal error (a Rust panic); a `nil` result comes with an error table whose `code` and
//! `message` are strings. `configure` may take the fuzzer's table; right after it the state is
//! configured again with settings that cannot reach a network (api_base 127.0.0.1:9, a
//! temporary state_dir) and whose `token_store.load` returns a fuzzer-built value.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mlua::{Function, Lua, MultiValue, Table, Value};

const FUNCTIONS: &[&str] = &[
    "configure",
    "login",
    "refresh_token",
    "ensure_token",
    "token_info",
    "stats",
    "month_request_count",
    "add_passcode",
    "change_passcode",
    "delete_passcode",
    "list_passcodes",
    "generate_passcode",
    "local_time_ms",
    "purge_expired",
    "unlock",
    "lock",
    "lock_state",
    "battery",
    "check_in_plan",
    "stay_check_in",
    "stay_check_out",
    "stays_retry",
    "list_locks",
    "list_gateways",
    "records",
];

/// Every option and field name the module reads, so tables reach deep into the parsers.
#[rustfmt::skip]
const KEYS: &[&str] = &[
    "client_id", "client_secret", "api_base", "username", "password_md5", "token_store",
    "state_dir", "timeout_s", "connect_timeout_s", "retries", "retry_backoff_ms", "ca_file",
    "log", "password", "min_valid_s", "lock_id", "also_lock_ids", "passcode", "name",
    "valid_from_ms", "valid_to_ms", "atomic", "permanent", "passcode_id", "digits", "lock_ids",
    "grace_s", "dry_run", "name_prefix", "full_sweep_days", "load", "save", "access_token",
    "refresh_token", "expires_at_ms", "year", "month", "day", "hour", "minute", "second",
    "log_level", "room", "doors", "arrival_date", "arrival_time", "departure_date",
    "departure_time", "best_effort", "codes", "all", "stay_store", "rooms", "since_ms", "until_ms",
    "check", "every_days", "capacity_margin",
];

#[rustfmt::skip]
const NUMBERS: &[f64] = &[
    0.0, -0.0, 1.0, -1.0, 0.5, 3.0, 4.0, 9.0, 10.0, 2147483647.0, 2147483648.0, 4294967296.0,
    9007199254740992.0, 9007199254740994.0, 1.79e12, 1790000000000.5, 1e300, -1e300,
    f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 315360000.0, 3650.0, 2026.0, 12.0, 31.0, 59.0,
];

#[rustfmt::skip]
const STRINGS: &[&[u8]] = &[
    b"", b"48213", b"0482", b"123", b"1234567890", b"https://127.0.0.1:9", b"http://x",
    b"/tmp", b"e10adc3949ba59abbe56e057f20f883e", b"cid", b"a\nb", b"\xff\xfe", b"\0",
    b"\xc3\xa4", b"101_01120512", b"ttlock: x", b"memory", b"locks",
];

struct Gen<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Gen<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn pick<'t, T>(&mut self, list: &'t [T]) -> &'t T {
        &list[usize::from(self.byte()) % list.len()]
    }

    fn string(&mut self, lua: &Lua) -> mlua::Result<Value> {
        let bytes: Vec<u8> = if self.byte().is_multiple_of(2) {
            self.pick(STRINGS).to_vec()
        } else {
            let n = usize::from(self.byte() % 40);
            (0..n).map(|_| self.byte()).collect()
        };
        Ok(Value::String(lua.create_string(bytes)?))
    }

    fn number(&mut self) -> Value {
        match self.byte() % 3 {
            0 => Value::Number(*self.pick(NUMBERS)),
            1 => Value::Number(f64::from(self.byte()) - 16.0),
            _ => {
                let mut b = [0u8; 8];
                for x in &mut b {
                    *x = self.byte();
                }
                Value::Number(f64::from_le_bytes(b))
            }
        }
    }

    fn value(&mut self, lua: &Lua, depth: u32) -> mlua::Result<Value> {
        let kind = if depth >= 3 {
            self.byte() % 5
        } else {
            self.byte() % 8
        };
        Ok(match kind {
            0 => Value::Nil,
            1 => Value::Boolean(self.byte().is_multiple_of(2)),
            2 => self.number(),
            3 | 4 => self.string(lua)?,
            5 | 6 => Value::Table(self.table(lua, depth + 1)?),
            _ => Value::Function(self.function(lua, depth + 1)?),
        })
    }

    fn table(&mut self, lua: &Lua, depth: u32) -> mlua::Result<Table> {
        let t = lua.create_table()?;
        let n = self.byte() % 8;
        for i in 0..n {
            if self.done() {
                break;
            }
            let key = match self.byte() % 4 {
                0 | 1 => Value::String(lua.create_string(*self.pick(KEYS))?),
                2 => Value::Number(f64::from(i) + 1.0),
                _ => self.value(lua, depth)?,
            };
            let v = self.value(lua, depth)?;
            // NaN and nil cannot be keys: Lua would raise in the harness, not in the module.
            if matches!(key, Value::Nil) || matches!(key, Value::Number(x) if x.is_nan()) {
                continue;
            }
            t.raw_set(key, v)?;
        }
        Ok(t)
    }

    /// A function that returns a value, or raises one.
    fn function(&mut self, lua: &Lua, depth: u32) -> mlua::Result<Function> {
        let raise = self.byte().is_multiple_of(4);
        let v = self.value(lua, depth)?;
        let f: Function = lua
            .load(
                "local raise, v = ... return function() if raise then error(v, 0) end return v end",
            )
            .call((raise, v))?;
        Ok(f)
    }
}

fn state_dir() -> &'static str {
    static DIR: OnceLock<String> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("ttlock-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("state dir");
        d.to_string_lossy().into_owned()
    })
}

/// Settings that reach no network; `load` returns `stored`.
fn safe_configure(lua: &Lua, m: &Table, stored: Value) -> mlua::Result<()> {
    let store = lua.create_table()?;
    let load: Function = lua
        .load("local v = ... return function() return v end")
        .call(stored)?;
    store.set("load", load)?;
    store.set("save", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    let cfg = lua.create_table()?;
    cfg.set("client_id", "cid-fuzz")?;
    cfg.set("client_secret", "csecret-fuzz")?;
    cfg.set("api_base", "https://127.0.0.1:9")?;
    cfg.set("state_dir", state_dir())?;
    cfg.set("timeout_s", 1)?;
    cfg.set("connect_timeout_s", 0.5)?;
    cfg.set("retries", 0)?;
    cfg.set("retry_backoff_ms", 0)?;
    cfg.set("token_store", store)?;
    m.get::<Function>("configure")?.call::<()>(cfg)
}

/// The contract for one call's outcome (`pcall`'s results).
fn check(name: &str, out: &MultiValue) {
    let vals: Vec<&Value> = out.iter().collect();
    match vals.first() {
        Some(Value::Boolean(false)) => match vals.get(1) {
            Some(Value::String(s)) => {
                let s = s.to_string_lossy();
                assert!(s.starts_with("ttlock:"), "{name} raised {s:?}");
                assert!(!s.contains("internal error"), "{name}: {s}");
            }
            other => panic!("{name} raised a non-string: {other:?}"),
        },
        Some(Value::Boolean(true)) => {
            if matches!(vals.get(1), None | Some(Value::Nil)) && vals.len() > 2 {
                let Some(Value::Table(err)) = vals.get(2) else {
                    panic!("{name} returned nil without an error table: {vals:?}");
                };
                let code: Value = err.raw_get("code").expect("code");
                let message: Value = err.raw_get("message").expect("message");
                assert!(
                    matches!(code, Value::String(_)) && matches!(message, Value::String(_)),
                    "{name}: error table without code/message: {code:?} {message:?}"
                );
            }
        }
        other => panic!("pcall gave {other:?}"),
    }
}

fn run(data: &[u8]) -> mlua::Result<()> {
    let lua = Lua::new();
    let m = ttlock::lua_module(&lua)?;
    let mut g = Gen { data, pos: 0 };
    let stored = g.value(&lua, 1)?;
    safe_configure(&lua, &m, stored)?;
    let pcall: Function = lua.globals().get("pcall")?;
    for _ in 0..4 {
        if g.done() {
            break;
        }
        let name = *g.pick(FUNCTIONS);
        let f: Function = m.get(name)?;
        let n = g.byte() % 3;
        let mut args = vec![Value::Function(f)];
        for _ in 0..n {
            args.push(g.value(&lua, 0)?);
        }
        let out: MultiValue = pcall.call(MultiValue::from_vec(args))?;
        check(name, &out);
        if name == "configure" {
            let stored = g.value(&lua, 1)?;
            safe_configure(&lua, &m, stored)?;
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    if let Err(e) = run(data) {
        panic!("the harness failed: {e}");
    }
});
