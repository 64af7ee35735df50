#!/usr/bin/env bash
# Runs every test of the project: unit tests, the simulator's tests, the Rust integration tests
# against the simulator, the Lua tier (the built .so in lua5.1 and luajit, the LM scripts through the
# LM emulator) and the forum-script fidelity test. Needs: lua5.1 luajit lua-socket lua-sec lua-cjson curl.
set -euo pipefail
cd "$(dirname "$0")/.."
# The Lua tier loads the real module, so build it first (default features: `module`).
cargo build --release -p ttlock
# Tests link the crate with a built-in Lua (`vendored`), since a `module` build leaves lua_* undefined.
cargo test --workspace --no-fail-fast --no-default-features --features ttlock/vendored "$@"
