#!/usr/bin/env bash
# Benchmark: the forum scripts and our LM scripts, each run as its own process through the
# LM emulator, against one simulator (every gateway operation holds its gateway 300 ms, 20 ms added
# per request), on the same workloads: check-in, unlock, daily purge; ours alone: extending a stay
# (against one change_passcode process); then the cold start of an event process (callgrind) and
# the module sizes. Prints a table of figures, ratios and targets and writes it to
# target/bench/results.md. Takes about four minutes; not part of CI.
#
#   tests/bench/run.sh                     # LM scripts under luajit (LM runs LuaJIT)
#   LUA=lua5.1 tests/bench/run.sh          # under PUC Lua 5.1
#   BENCH_RUNS=3 tests/bench/run.sh        # repetitions of check-in, unlock, extend, cold start (default 5)
#   BENCH_CROSS=1 tests/bench/run.sh       # first build every LM target (cross/build.sh all, minutes)
#   BENCH_CALLGRIND=0 / BENCH_ONLY=quick   # skip callgrind / skip the purge (about 3 minutes)
#   BENCH_KEEP=1                           # keep the work directory (sites, logs, callgrind files)
#   TTLOCK_FORUM_SEED=<file>               # the forum post (default: tests/forum/seed-location.txt);
#                                          # absent: the run prints that it is skipped, exits 0
#
# Needs: lua5.1 luajit lua-socket lua-sec lua-cjson curl valgrind time (apt), cargo.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
# The forum post (not ours, not in the repository): TTLOCK_FORUM_SEED, else where
# tests/forum/seed-location.txt says. Without it there is nothing to compare against.
if [ -z "${TTLOCK_FORUM_SEED:-}" ]; then
  rel=$(grep -v -e '^#' -e '^[[:space:]]*$' tests/forum/seed-location.txt | head -n 1)
  if [ ! -f "$repo/$rel" ]; then
    echo "bench skipped: $rel is absent (it holds the forum scripts the benchmark compares against, which this repository does not ship). Set TTLOCK_FORUM_SEED=<file> to run it."
    exit 0
  fi
  TTLOCK_FORUM_SEED=$repo/$rel
fi
[ -f "$TTLOCK_FORUM_SEED" ] || { echo "bench: TTLOCK_FORUM_SEED=$TTLOCK_FORUM_SEED is not a file" >&2; exit 1; }
export TTLOCK_FORUM_SEED
LUA=${LUA:-luajit}
for tool in lua5.1 "${LUA%% *}" curl valgrind /usr/bin/time readelf; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install lua5.1 luajit lua-socket lua-sec lua-cjson curl valgrind time binutils)" >&2; exit 1; }
done

echo "== building the module (release) and the simulator"
cargo build -q --release -p ttlock
# The simulator's own speed is not measured (a TLS handshake costs it about 3 ms in a debug
# build, against the 20 ms latency every request gets), so the debug build the tests use will do.
cargo build -q -p ttlock-sim
if [ "${BENCH_CROSS:-0}" = 1 ]; then
  echo "== cross builds (cross/build.sh all)"
  cross/build.sh all
fi

out_dir="$repo/target/bench"
mkdir -p "$out_dir"
work=$(mktemp -d "${TMPDIR:-/tmp}/ttlock-bench-XXXXXX")
sim_pid=
cleanup() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

. tests/sim/start.sh
start_sim "$work" "$LUA" --fixture fixture --gateway-hold-ms 300 --latency-ms 20
export BENCH_DIR="$work"
export BENCH_OUT="$out_dir/results.md"

status=0
LUA_PATH="$repo/tests/bench/?.lua;$repo/tests/lm/?.lua;$repo/tests/lua/?.lua;;" \
  lua5.1 "$repo/tests/bench/bench.lua" || status=$?
if [ "$status" -eq 0 ] && [ "${BENCH_KEEP:-0}" != 1 ]; then
  rm -rf "$work"
elif [ "$status" -eq 0 ]; then
  echo "bench: sites, scripts and callgrind output kept in $work"
else
  echo "bench: FAILED (sites, scripts and simulator output kept in $work)" >&2
fi
exit "$status"
