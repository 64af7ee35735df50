#!/usr/bin/env bash
# cross/package.sh [TARGET...]: dist/ttlock-<version>-<target>.tar.gz (+ .sha256) holding
# ttlock.so (target/TARGET/release/libttlock.so, ABI-checked again), the lua/ files and the
# install section of README.md (else cross/INSTALL.txt). Without targets: every target built.
. "$(dirname "$0")/lib.sh"

version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n1)
[ -n "$version" ] || die "no version in Cargo.toml"
if [ $# -eq 0 ]; then
  set --
  for t in $ALL_TARGETS; do [ -f "$REPO/target/$t/release/libttlock.so" ] && set -- "$@" "$t"; done
  [ $# -gt 0 ] || die "nothing built: run cross/build.sh TARGET|all first"
fi

# Install text: README.md's section whose heading mentions Install, down to the next heading of
# the same or a higher level.
readme_excerpt() {
  if [ -f "$REPO/README.md" ] && grep -q -i -E '^#+ .*install' "$REPO/README.md"; then
    awk '/^#+ / { lvl = length($1)
                  if (on && lvl <= start) exit
                  if (!on && tolower($0) ~ /install/) { on = 1; start = lvl } }
         on' "$REPO/README.md"
  else
    cat "$REPO/cross/INSTALL.txt"
  fi
}

# Reproducible archives: fixed order, owner and mtime (the commit's time).
mtime=$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || echo 0)
mkdir -p "$REPO/dist"
for t in "$@"; do
  target_info "$t"
  so=$REPO/target/$t/release/libttlock.so
  [ -f "$so" ] || die "$so missing: run cross/build.sh $t first"
  "$REPO/cross/check-abi.sh" "$so" "$t"
  name=ttlock-$version-$t
  stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage/$name"
  cp "$so" "$stage/$name/ttlock.so"
  if [ -d "$REPO/lua" ]; then cp -r "$REPO/lua" "$stage/$name/lua"; fi
  readme_excerpt > "$stage/$name/INSTALL.md"
  {
    echo "ttlock $version for $t"
    echo "commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet HEAD -- src Cargo.toml Cargo.lock lua 2>/dev/null || echo ' (with local changes)')"
    echo "sha256 ttlock.so $(sha256sum "$so" | cut -d' ' -f1)"
  } > "$stage/$name/BUILD.txt"
  out=$REPO/dist/$name.tar.gz
  tar -C "$stage" --sort=name --mtime="@$mtime" --owner=0 --group=0 --numeric-owner \
      -cf - "$name" | gzip -n -9 > "$out.tmp"
  mv "$out.tmp" "$out"
  (cd "$REPO/dist" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
  rm -rf "$stage"; trap - EXIT
  log "$out ($(stat -c %s "$out") B) + .sha256"
done
