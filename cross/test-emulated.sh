#!/usr/bin/env bash
# cross/test-emulated.sh TARGET [--smoke-only] [-- CARGO TEST ARGS]
# Runs the Lua test tier on target/TARGET/release/libttlock.so under qemu-user, with a Lua 5.1
# built for that musl ABI (see lib.sh ensure_qroot): first cross/smoke.lua, then
# tests/lua_tier.rs with TTLOCK_LUA_HOSTS = the qemu command line and TTLOCK_CPATH = the build.
# The Lua side reaches the simulator with the host's curl through io.popen (qemu-user execs the
# host /bin/sh), so no LuaSocket is needed under emulation.
. "$(dirname "$0")/lib.sh"

t=${1:?usage: cross/test-emulated.sh TARGET [--smoke-only] [-- CARGO TEST ARGS]}; shift
target_info "$t"
smoke_only=0
if [ "${1:-}" = --smoke-only ]; then smoke_only=1; shift; fi
if [ "${1:-}" = -- ]; then shift; fi
so=$REPO/target/$t/release/libttlock.so
[ -f "$so" ] || die "$so missing: run cross/build.sh $t first"
ensure_apt
host=$(lua_host_cmd "$t")
cpath="$REPO/target/$t/release/lib?.so"
version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n1)

log "check-abi selftest"
"$REPO/cross/selftest.sh"

log "smoke: $host cross/smoke.lua"
(cd "$REPO" && TTLOCK_CPATH="$cpath" TTLOCK_EXPECT_VERSION="$version" $host "$REPO/cross/smoke.lua")

if [ ! -f "$REPO/tests/lua_tier.rs" ]; then
  [ "$smoke_only" = 1 ] || die "tests/lua_tier.rs does not exist: the Lua tier cannot run (use --smoke-only to run the smoke test alone)"
  log "NOTE: tests/lua_tier.rs does not exist; only the smoke test ran (--smoke-only)"
  exit 0
fi
[ "$smoke_only" = 1 ] && { log "smoke only (--smoke-only): Lua tier not run"; exit 0; }

log "Lua tier on $t: TTLOCK_LUA_HOSTS=\"$host\""
# The user's cargo (rustup) and target/: the same build as the host test runs, so nothing is
# rebuilt for the emulated run except what the environment changes.
cd "$REPO"
TTLOCK_LUA_HOSTS="$host" TTLOCK_CPATH="$cpath" \
  cargo test -p ttlock --no-default-features --features vendored --test lua_tier "$@"
