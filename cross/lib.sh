# Shared by the cross/*.sh scripts (sourced, not run).
# Route: Debian rustc-web/cargo-web + rust-web-src (-Zbuild-std), zig (PyPI) as musl linker via
# cargo-zigbuild, qemu-user for running. See cross/README.md.
set -euo pipefail

REPO=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
# Everything installed outside apt lives here (venv, private apt state, qemu roots, Lua builds).
CROSS_HOME=${TTLOCK_CROSS_HOME:-/opt/ttlock-cross}
# Own target dir: Debian's rustc 1.96 cannot share artefacts with rustup's 1.95 anyway, and a
# separate dir keeps cargo's directory lock from blocking other builds in target/.
CROSS_TARGET_DIR=${TTLOCK_CROSS_TARGET_DIR:-$REPO/target/cross}
ALL_TARGETS="armv7-unknown-linux-musleabihf armv5te-unknown-linux-musleabi aarch64-unknown-linux-musl x86_64-unknown-linux-musl"
# Tested versions; pinned so a new release cannot change the build under us.
ZIG_PIP="ziglang==0.17.1 cargo-zigbuild==0.24.1"
APT_PKGS="rustc-web cargo-web rust-web-src qemu-user-static python3-venv curl binutils"

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Per-target facts: Debian arch (musl runtime package), musl loader, zig cc target and CPU,
# qemu command. Sets T_DEB T_LDSO T_ZIG T_MCPU T_QEMU.
target_info() {
  case "$1" in
    armv7-unknown-linux-musleabihf)
      T_DEB=armhf T_LDSO=ld-musl-armhf.so.1 T_ZIG=arm-linux-musleabihf T_MCPU=cortex_a7
      T_QEMU="qemu-arm-static -cpu cortex-a7" ;;
    armv5te-unknown-linux-musleabi)
      T_DEB=armel T_LDSO=ld-musl-arm.so.1 T_ZIG=arm-linux-musleabi T_MCPU=arm926ej_s
      T_QEMU="qemu-arm-static -cpu arm926" ;;
    aarch64-unknown-linux-musl)
      T_DEB=arm64 T_LDSO=ld-musl-aarch64.so.1 T_ZIG=aarch64-linux-musl T_MCPU=cortex_a53
      T_QEMU="qemu-aarch64-static" ;;
    x86_64-unknown-linux-musl)
      T_DEB=amd64 T_LDSO=ld-musl-x86_64.so.1 T_ZIG=x86_64-linux-musl T_MCPU=x86_64
      T_QEMU="qemu-x86_64-static" ;;
    *) die "unknown target '$1' (known: $ALL_TARGETS)" ;;
  esac
}

# Lines of the form `pkg` that dpkg does not report as installed.
missing_debs() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
  done
}

ensure_apt() {
  local miss
  miss=$(missing_debs $APT_PKGS | tr "\n" " " | sed "s/ *$//")
  if [ -n "$miss" ]; then
    [ "$(id -u)" = 0 ] || die "missing Debian packages (run as root to install): $miss"
    log "apt-get install $miss"
    # The lists may be absent on a fresh machine; retry while another apt holds the lock.
    local i
    for i in 1 2 3 4 5 6 7 8 9 10; do
      if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $miss >&2; then
        miss=; break
      fi
      DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || true
      sleep 6
    done
    [ -z "$miss" ] || die "apt-get install failed"
  fi
  # bookworm main has rustc-web 1.85; mlua 0.12 needs >= 1.88 (from bookworm-security).
  local v; v=$(/usr/bin/rustc -V | awk '{print $2}')
  case "$v" in 1.8[0-7].*|1.[0-7][0-9].*) die "Debian rustc $v is too old (>= 1.88 comes from bookworm-security; is that suite in the apt sources?)";; esac
  [ -e /usr/lib/rustlib/src/rust/library/Cargo.lock ] || die "rust-web-src is not installed (needed by -Zbuild-std)"
}

ensure_venv() {
  local v=$CROSS_HOME/venv
  if [ ! -x "$v/bin/cargo-zigbuild" ] || ! "$v/bin/python3" -m ziglang version >/dev/null 2>&1; then
    log "venv: pip install $ZIG_PIP"
    mkdir -p "$CROSS_HOME"
    rm -rf "$v"
    /usr/bin/python3 -m venv "$v"
    "$v/bin/pip" install -q --disable-pip-version-check $ZIG_PIP >&2
  fi
}

# Private apt state (own sources, lists and cache) used only to download the foreign musl runtime
# and the lua5.1 source: no `dpkg --add-architecture`, no change to the system's apt setup, and
# only bookworm main (bookworm-security's foreign indexes were seen mid-sync and failing).
PAPT_DIR=$CROSS_HOME/apt
papt() {
  apt-get -q \
    -o Dir::Etc::SourceList="$PAPT_DIR/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
    -o Dir::State::Lists="$PAPT_DIR/lists" -o Dir::Cache="$PAPT_DIR/cache" \
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root \
    -o APT::Architecture=amd64 -o APT::Architectures::=amd64 -o APT::Architectures::=armhf \
    -o APT::Architectures::=armel -o APT::Architectures::=arm64 "$@"
}
ensure_papt() {
  [ -f "$PAPT_DIR/lists/.updated" ] && return 0
  mkdir -p "$PAPT_DIR/lists/partial" "$PAPT_DIR/cache/archives/partial"
  cat > "$PAPT_DIR/sources.list" <<'EOS'
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
EOS
  log "private apt update (bookworm main: amd64 armhf armel arm64 + sources)"
  papt update >&2
  touch "$PAPT_DIR/lists/.updated"
}

# qemu root for a target: Debian's musl runtime unpacked (its loader symlink is relative, so
# `qemu -L root` finds it), a Lua 5.1.5 interpreter built from Debian's lua5.1 source with `zig cc`
# for that musl ABI, exporting the Lua API (-Wl,-E) so C modules bind to it, and lua-cjson (Debian
# source) in /usr/local/lib/lua/5.1 because the LM emulator's `json` is cjson and the host's
# x86 cjson.so cannot load there. QROOT_RECIPE changes whenever this recipe does (forces a rebuild).
QROOT_RECIPE="lua5.1 5.1.5 + lua-cjson 2.1.0, zig 0.17.1, v1"
ensure_qroot() {
  local t=$1; target_info "$t"
  local r=$CROSS_HOME/qroot-$T_DEB
  if [ "$(cat "$r/.recipe" 2>/dev/null)" = "$QROOT_RECIPE" ] && [ -x "$r/usr/bin/lua5.1" ] &&
     [ -e "$r/lib/$T_LDSO" ]; then
    echo "$r"; return 0
  fi
  ensure_venv; ensure_papt
  local d; d=$(mktemp -d)
  log "qemu root $r: musl:$T_DEB + Lua 5.1.5 + cjson (zig cc -target $T_ZIG -mcpu=$T_MCPU)"
  fetch() { (cd "$d" && papt download "musl:$T_DEB" >&2 && papt source --download-only lua5.1 lua-cjson >&2); }
  # Lists from an earlier run can name files a point release has since removed: refresh once.
  fetch || { rm -f "$PAPT_DIR/lists/.updated"; ensure_papt; fetch; }
  rm -rf "$r.new"; mkdir -p "$r.new/usr/bin" "$r.new/usr/local/lib/lua/5.1"
  dpkg-deb -x "$d"/musl_*_"$T_DEB".deb "$r.new"
  tar -xzf "$d"/lua5.1_*.orig.tar.gz -C "$d"
  tar -xzf "$d"/lua-cjson_*.orig.tar.gz -C "$d"
  local zcc=("$CROSS_HOME/venv/bin/python3" -m ziglang cc -target "$T_ZIG" -mcpu="$T_MCPU" -O2 -w)
  (cd "$d"/lua-5.1.5/src && "${zcc[@]}" -DLUA_USE_POSIX -DLUA_USE_DLOPEN -dynamic -Wl,-E \
     -o "$r.new/usr/bin/lua5.1" $(ls ./*.c | grep -v -E '/(luac|print)\.c$') -ldl -lm)
  (cd "$d"/lua-cjson-*/ && "${zcc[@]}" -shared -fPIC -I "$d"/lua-5.1.5/src \
     -o "$r.new/usr/local/lib/lua/5.1/cjson.so" lua_cjson.c strbuf.c fpconv.c)
  echo "$QROOT_RECIPE" > "$r.new/.recipe"
  rm -rf "$d" "$r"; mv "$r.new" "$r"
  echo "$r"
}

# The interpreter command line for a target (what TTLOCK_LUA_HOSTS gets).
lua_host_cmd() {
  local t=$1 r; r=$(ensure_qroot "$t"); target_info "$t"
  echo "$T_QEMU -L $r $r/usr/bin/lua5.1"
}
