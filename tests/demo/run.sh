#!/usr/bin/env bash
# The demo: a small hotel in the TTLock simulator (three rooms on two gateways and a main door,
# 127.0.0.1 only) and an emulated LogicMachine running the real LM scripts through the real
# module: generate a code, check a guest in, unlock the main door, purge (dry run, then for real).
# Prints each step; exits non-zero when a step fails.
#
#   tests/demo/run.sh              # with lua5.1
#   LUA=luajit tests/demo/run.sh   # with LuaJIT
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
LUA=${LUA:-lua5.1}
command -v "${LUA%% *}" >/dev/null || { echo "demo: $LUA not found (apt-get install lua5.1 luajit)" >&2; exit 1; }

echo "== building the module (release) and the simulator"
echo "   (the first build compiles about 150 crates: a few minutes on 2 cores; cargo shows each one)"
cargo build --release -p ttlock 2>&1 | sed -u 's/^/   /'
cargo build -p ttlock-sim 2>&1 | sed -u 's/^/   /'

work=$(mktemp -d "${TMPDIR:-/tmp}/ttlock-demo-XXXXXX")
sim_pid=
cleanup() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

echo "== starting the simulator (demo-hotel)"
. tests/sim/start.sh
start_sim "$work" "$LUA" --fixture demo-hotel
export DEMO_DIR="$work"
echo "   simulator at $TTLOCK_SIM_BASE_URL (admin $TTLOCK_SIM_ADMIN_URL)"

status=0
LUA_PATH="$repo/tests/lm/?.lua;$repo/tests/lua/?.lua;;" $LUA "$repo/tests/demo/demo.lua" || status=$?
if [ "$status" -eq 0 ]; then
  rm -rf "$work"
else
  echo "demo: FAILED (site and simulator output kept in $work)" >&2
fi
exit "$status"
