#!/usr/bin/env bash
# cross/build.sh TARGET...|all -> target/TARGET/release/libttlock.so (LogicMachine builds).
# Installs what it needs (apt as root, a venv under $TTLOCK_CROSS_HOME=/opt/ttlock-cross),
# builds `-p ttlock` (default features, cdylib only) with Debian's rustc + -Zbuild-std and zig
# as the musl linker, dynamically linked against the device's musl, then runs cross/check-abi.sh.
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || die "usage: cross/build.sh TARGET...|all   (targets: $ALL_TARGETS)"
targets=()
for a in "$@"; do
  if [ "$a" = all ]; then targets+=($ALL_TARGETS); else target_info "$a"; targets+=("$a"); fi
done

ensure_apt
ensure_venv

for t in "${targets[@]}"; do
  log "build $t"
  start=$(date +%s.%N)
  tu=$(echo "$t" | tr 'a-z-' 'A-Z_')
  # A failed build must not leave an older module behind for test-emulated.sh or package.sh.
  rm -f "$REPO/target/$t/release/libttlock.so"
  (
    cd "$REPO"
    unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_TARGET CARGO_BUILD_RUSTFLAGS
    # Debian's toolchain, not rustup's proxies; cargo-zigbuild finds zig as `python3 -m ziglang`
    # of the venv. RUSTC_BOOTSTRAP=1 on every build in this target dir (-Zbuild-std needs it, and
    # build scripts that watch it would rerun if it changed between builds).
    export PATH="$CROSS_HOME/venv/bin:/usr/bin:/bin:/usr/sbin:/sbin" RUSTC=/usr/bin/rustc \
      CARGO=/usr/bin/cargo RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$CROSS_TARGET_DIR"
    # A cdylib loaded by the device's libc must not carry its own (static) musl.
    # Size (ARM limit 2.5 MiB; measured on armv7 at 2.29 MB -> 2.02 MB): no file:line in panic
    # messages (-Zlocation-detail=none, -84 KB), std without its backtrace symbolizer (-163 KB,
    # useless in a stripped module) and with optimize_for_size. panic-unwind stays: mlua turns a
    # panic into a Lua error only when unwinding.
    export "CARGO_TARGET_${tu}_RUSTFLAGS=-C target-feature=-crt-static -Zlocation-detail=none"
    # `rustc --crate-type cdylib`: the crate also declares an rlib (for its Rust tests), and with
    # an rlib in the unit cargo passes no `-C lto`; the cdylib alone gets the profile's fat LTO
    # (armv7: 2.02 MB -> 1.61 MB).
    cargo-zigbuild rustc --release -p ttlock --lib --crate-type cdylib --target "$t" \
      -Zbuild-std=std,panic_unwind -Zbuild-std-features=panic-unwind,optimize_for_size
  )
  mkdir -p "$REPO/target/$t/release"
  cp "$CROSS_TARGET_DIR/$t/release/libttlock.so" "$REPO/target/$t/release/libttlock.so.tmp"
  mv "$REPO/target/$t/release/libttlock.so.tmp" "$REPO/target/$t/release/libttlock.so"
  end=$(date +%s.%N)
  log "$t built in $(awk "BEGIN{printf \"%.1f\", $end-$start}") s"
  "$REPO/cross/check-abi.sh" "$REPO/target/$t/release/libttlock.so" "$t"
done
