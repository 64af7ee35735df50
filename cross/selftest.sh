#!/usr/bin/env bash
# cross/selftest.sh: proves cross/check-abi.sh rejects what LM cannot load. Builds tiny ARM
# shared objects with zig cc (a few seconds) and expects OK or FAIL from the check for each.
. "$(dirname "$0")/lib.sh"
ensure_venv
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
zcc() { "$CROSS_HOME/venv/bin/python3" -m ziglang cc -target arm-linux-musleabihf -mcpu=cortex_a7 -O1 -w -shared -fPIC "$@"; }
mk() {  # name, C body
  printf '%s\n' "$2" > "$d/$1.c"
  zcc -o "$d/$1.so" "$d/$1.c" "${@:3}"
}
LUA=$'void lua_settop(void*,int); int luaopen_x(void *L) { lua_settop(L, 0); return 0; }\n'
mk good "$LUA #include <stdlib.h>
void *f(unsigned n) { return malloc(n); }"
mk debug "$LUA int luaopen_debug(void*); int g(void *L) { return luaopen_debug(L); }"
mk lua52 "$LUA long lua_tointegerx(void*,int,int*); long g(void *L) { return lua_tointegerx(L, 1, 0); }"
mk time64 "$LUA int __clock_gettime64(int, void*); int g(void *t) { return __clock_gettime64(0, t); }"
mk nolua '#include <stdlib.h>
void *f(unsigned n) { return malloc(n); }'
mk libc12 "$LUA #include <stdlib.h>
void *g(void *p, unsigned a, unsigned b) { return reallocarray(p, a, b); }"
mk dep 'int dep_fn(void) { return 1; }'
mk needed "$LUA int dep_fn(void); int g(void) { return dep_fn(); }" -L"$d" -l:dep.so
mk big "$LUA #include <stdlib.h>
const char blob[3 * 1024 * 1024] = {1}; const char *g(void) { return malloc(1) ? blob : 0; }"

fail=0
expect() {  # OK|FAIL, name, message pattern
  local out rc=0
  out=$("$REPO/cross/check-abi.sh" "$d/$2.so" armv7-unknown-linux-musleabihf 2>&1) || rc=$?
  if { [ "$1" = OK ] && [ $rc = 0 ]; } || { [ "$1" = FAIL ] && [ $rc != 0 ] && grep -q -- "$3" <<<"$out"; }; then
    echo "ok   $2: $1"
  else
    echo "FAIL $2: expected $1 ${3:+(/$3/)}, got rc=$rc: $out"; fail=1
  fi
}
expect OK good
expect FAIL debug 'luaopen_debug'
expect FAIL lua52 'lua_tointegerx'
expect FAIL time64 '__clock_gettime64'
expect FAIL nolua 'no lua'
expect FAIL libc12 'reallocarray'
expect FAIL needed 'NEEDED dep.so'
expect FAIL big 'stripped size'
[ $fail = 0 ] && echo "check-abi selftest OK" || { echo "check-abi selftest FAILED"; exit 1; }
