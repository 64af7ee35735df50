#!/usr/bin/env bash
# cross/check-abi.sh SO [TARGET]: fail unless the module can load on a LogicMachine.
# - NEEDED only libc.so (+ libgcc_s.so.1);
# - every undefined dynamic symbol exported by LM: lua* by LuaJIT 2.0.5, the rest by musl 1.1.24
#   or libgcc_s (lists in cross/lm-abi/; musl resolves every symbol at dlopen, no lazy binding);
# - no musl 1.2 time64 symbol, no luaopen_debug (LM's LuaJIT does not export it);
# - ARM builds at most 2.5 MiB stripped.
# The lists: $TTLOCK_LM_ABI_DIR, else cross/lm-abi beside this script.
set -euo pipefail
SO=${1:?usage: cross/check-abi.sh SO [TARGET]}
T=${2:-}
[ -f "$SO" ] || { echo "check-abi: $SO not found" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
ABI=${TTLOCK_LM_ABI_DIR:-$here/lm-abi}
LUAJIT=$ABI/luajit-2.0.5-exports.txt MUSL=$ABI/musl-1.1.24-armhf-exports.txt GCC=$ABI/libgcc_s-armhf-exports.txt
for f in "$LUAJIT" "$MUSL" "$GCC"; do
  [ -r "$f" ] || { echo "check-abi: missing list $f (the lists live in cross/lm-abi; TTLOCK_LM_ABI_DIR, if set, must name such a folder)" >&2; exit 1; }
done
MAX_ARM=$((5 * 1024 * 1024 / 2))
fail=0
bad() { echo "check-abi: FAIL: $*" >&2; fail=1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
names() { grep -v -e '^#' -e '^[[:space:]]*$' "$1" | sed 's/@.*//' | sort -u; }
names "$LUAJIT" > "$tmp/luajit"; names "$MUSL" > "$tmp/musl"; names "$GCC" > "$tmp/gcc"

# Machine from the ELF header when no target is given.
mach=$(readelf -h "$SO" | awk -F: '/Machine:/{gsub(/^ +/,"",$2); print $2}')
case "$T" in
  arm*) arm=1 ;;
  "") case "$mach" in ARM) arm=1 ;; *) arm=0 ;; esac ;;
  *) arm=0 ;;
esac

# NEEDED
readelf -d -W "$SO" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' > "$tmp/needed"
while read -r n; do
  case "$n" in libc.so|libgcc_s.so.1) ;; *) bad "NEEDED $n (only libc.so and libgcc_s.so.1 exist on LM)";; esac
done < "$tmp/needed"
grep -qx libc.so "$tmp/needed" || bad "NEEDED has no libc.so (not linked against musl dynamically?)"

# Undefined dynamic symbols, split into strong and weak (musl leaves a missing weak one NULL).
readelf --dyn-syms -W "$SO" | awk '$7=="UND" && $8!="" {sub(/@.*/,"",$8); print $5, $8}' | sort -u > "$tmp/und"
awk '$1!="WEAK"{print $2}' "$tmp/und" | sort -u > "$tmp/strong"
awk '$1=="WEAK"{print $2}' "$tmp/und" | sort -u > "$tmp/weak"
grep -E '^lua' "$tmp/strong" > "$tmp/lua" || true
[ -s "$tmp/lua" ] || bad "imports no lua* symbol at all (not a Lua module?)"
awk '{print $2}' "$tmp/und" | grep -v -E '^lua' | sort -u > "$tmp/other" || true
grep -E '^lua' "$tmp/weak" >> "$tmp/lua" || true; sort -u -o "$tmp/lua" "$tmp/lua"

grep -qx luaopen_debug "$tmp/lua" && bad "imports luaopen_debug (LM's LuaJIT does not export it)"
miss_lua=$(comm -23 "$tmp/lua" "$tmp/luajit")
[ -z "$miss_lua" ] || bad "lua* imports not exported by LuaJIT 2.0.5: $(echo $miss_lua)"
t64=$(grep -E 'time64' "$tmp/und" | awk '{print $2}' || true)
[ -z "$t64" ] || bad "musl 1.2 time64 imports (LM has musl 1.1.24): $(echo $t64)"
sort -u "$tmp/musl" "$tmp/gcc" > "$tmp/libc_all"
miss=$(comm -23 "$tmp/other" "$tmp/libc_all")
miss_strong=$(comm -12 <(echo "$miss" | sort) "$tmp/strong")
miss_weak=$(comm -12 <(echo "$miss" | sort) "$tmp/weak")
if [ -n "$miss_strong" ]; then
  if [ "$arm" = 1 ]; then what="not exported by LM's musl 1.1.24/libgcc_s"
  else what="not in the musl 1.1.24 (armhf) / libgcc_s list (names compared without versions)"; fi
  bad "imports $what: $(echo $miss_strong)"
fi
[ -z "$miss_weak" ] || echo "check-abi: note: weak imports absent from the lists (resolve to NULL): $(echo $miss_weak)" >&2

# Size (stripped) for ARM.
size=$(stat -c %s "$SO")
if readelf -S -W "$SO" | grep -q -E '\.symtab|\.debug_'; then
  # Not stripped (the release profile strips; this is for other inputs). The host's binutils
  # cannot strip ARM files, so take the end of the last loaded segment: what strip keeps, less a
  # few hundred bytes of section headers and attributes.
  size=0
  while read -r off fsz; do
    [ $((off + fsz)) -gt "$size" ] && size=$((off + fsz))
  done < <(readelf -l -W "$SO" | awk '$1=="LOAD" {print $2, $5}')
  echo "check-abi: note: $SO is not stripped; size estimated from its loaded segments" >&2
fi
if [ "$arm" = 1 ] && [ "$size" -gt "$MAX_ARM" ]; then bad "stripped size $size B > 2.5 MiB ($MAX_ARM B)"; fi

nl=$(wc -l < "$tmp/lua"); no=$(wc -l < "$tmp/other")
if [ "$fail" = 0 ]; then
  echo "check-abi: OK $SO ${T:-$mach}: $size B stripped, NEEDED $(echo $(cat "$tmp/needed")), imports $nl lua* + $no libc/libgcc"
else
  exit 1
fi
