# Sourced by tests/demo/run.sh and tests/bench/run.sh: start_sim WORKDIR LUA [SIM ARGS...]
# starts target/debug/ttlock-sim (loopback only), waits for its `ready` line, sets `sim_pid` (the
# caller's EXIT trap stops it) and exports the environment tests/lua/testlib.lua reads. Run from
# the repository root; `target` is $CARGO_TARGET_DIR when set, as for the cargo builds before.
start_sim() {
  local work=$1 lua=$2 target
  shift 2
  target=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)
  "$target/debug/ttlock-sim" "$@" >"$work/sim.out" 2>"$work/sim.err" &
  sim_pid=$!
  for _ in $(seq 1 100); do
    grep -q '^ready' "$work/sim.out" 2>/dev/null && break
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q '^ready' "$work/sim.out"; then
    echo "the simulator did not start:" >&2
    cat "$work/sim.out" "$work/sim.err" >&2
    return 1
  fi
  v() { sed -n "s/^$1=//p" "$work/sim.out" | head -n1; }
  TTLOCK_SIM_BASE_URL=$(v base_url)
  TTLOCK_SIM_CA_FILE=$(v ca_file)
  TTLOCK_SIM_ADMIN_URL=$(v admin_url)
  TTLOCK_CPATH="$target/release/lib?.so"
  TTLOCK_REPO=$(pwd)
  TTLOCK_LUA_HOST=$lua
  export TTLOCK_SIM_BASE_URL TTLOCK_SIM_CA_FILE TTLOCK_SIM_ADMIN_URL TTLOCK_CPATH TTLOCK_REPO TTLOCK_LUA_HOST
}
