#!/usr/bin/env bash
# Runs every cargo-fuzz target of tests/fuzz for a bounded time:
#   tests/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      (default 60 s, every target)
#   tests/fuzz.sh --minimize [TARGET...]                 (fold the scratch corpus into the
#                                                         committed one: a small edge cover)
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a C++ compiler; with the stable toolchain
# the nightly flags cargo-fuzz passes are allowed by RUSTC_BOOTSTRAP=1. The committed seeds in
# tests/fuzz/corpus/<target> are read, never written: new inputs go to a scratch corpus
# (kept in tests/fuzz/target/corpus-<target>, reused by the next run), findings to
# tests/fuzz/artifacts/<target>. Exit status: non-zero when a target found a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
minimize=false
if [ "${1:-}" = --minimize ]; then
  minimize=true
  shift
  secs=0
else
  secs=${1:-60}
  shift || true
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(decode lua_args)
fi
export RUSTC_BOOTSTRAP=1
cargo fuzz build --fuzz-dir tests/fuzz
if $minimize; then
  # Inputs of at most 256 bytes that together reach every edge reached so far (hit counts and
  # value profiles ignored, so the committed corpus stays a few dozen KiB).
  for t in "${targets[@]}"; do
    out=$(mktemp -d)
    "tests/fuzz/target/x86_64-unknown-linux-gnu/release/$t" -set_cover_merge=1 -use_counters=0 \
      -use_value_profile=0 -max_len=256 "$out" "tests/fuzz/corpus/$t" "tests/fuzz/target/corpus-$t" \
      2>&1 | tail -n 1
    # Named seeds (written by hand) stay; the hashed inputs are replaced by the new cover.
    find "tests/fuzz/corpus/$t" -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' -delete
    for f in "tests/fuzz/corpus/$t"/*; do rm -f "$out/$(sha1sum "$f" | cut -d' ' -f1)"; done
    cp -n "$out"/* "tests/fuzz/corpus/$t/" 2>/dev/null || true
    rm -rf "$out"
    echo "$t: $(ls "tests/fuzz/corpus/$t" | wc -l) committed inputs"
  done
  exit 0
fi
status=0
for t in "${targets[@]}"; do
  scratch=tests/fuzz/target/corpus-$t
  mkdir -p "$scratch"
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=("-dict=tests/fuzz/$t.dict")
  echo "== $t: $secs s"
  if ! cargo fuzz run --fuzz-dir tests/fuzz "$t" "$scratch" "tests/fuzz/corpus/$t" -- \
      -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 "${dict[@]}" 2>&1 | tail -n 25; then
    status=1
  fi
  # `tail` hides cargo-fuzz's status: a crash leaves an artifact.
  if compgen -G "tests/fuzz/artifacts/$t/*" > /dev/null; then
    echo "!! $t: findings in tests/fuzz/artifacts/$t"
    status=1
  fi
done
exit $status
