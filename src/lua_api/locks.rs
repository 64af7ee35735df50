//! Bindings of docs/lua-api.md "Locks"; the work is in `crate::ops::locks`.
use mlua::prelude::*;
use mlua::{MultiValue, Value};

use super::args::{num_out, Opts};
use super::export::Exporter;
use super::values::{done, fail, one};
use super::with_client;
use crate::ops::locks;

pub(super) fn register(ex: &Exporter) -> LuaResult<()> {
    ex.add("unlock", |lua, args| {
        let id = lock_arg("unlock", args)?;
        done(lua, with_client(lua, |c| locks::unlock(c, id))?)
    })?;
    ex.add("lock", |lua, args| {
        let id = lock_arg("lock", args)?;
        done(lua, with_client(lua, |c| locks::lock(c, id))?)
    })?;
    ex.add("lock_state", |lua, args| {
        let id = lock_arg("lock_state", args)?;
        match with_client(lua, |c| locks::lock_state(c, id))? {
            Ok(s) => one(Value::String(lua.create_string(s.as_str())?)),
            Err(e) => fail(lua, e),
        }
    })?;
    ex.add("battery", |lua, args| {
        let id = lock_arg("battery", args)?;
        match with_client(lua, |c| locks::battery(c, id))? {
            Ok(p) => one(num_out(p)),
            Err(e) => fail(lua, e),
        }
    })?;
    Ok(())
}

/// The one `lock_id` argument.
fn lock_arg(fname: &'static str, args: MultiValue) -> LuaResult<i64> {
    Opts::parse(fname, args, &["lock_id"], false)?.required_id("lock_id")
}
