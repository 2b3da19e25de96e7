#!/bin/sh
# `make example-check`: builds each example the way a user of an installed
# oneshot does, from PREFIX through pkg-config, twice:
#   dynamic: cc $(pkg-config --cflags oneshot) ex.c $(pkg-config --libs oneshot)
#   static:  the same with `pkg-config --static --libs`, liboneshot.a linked in
#            (-Wl,-Bstatic -loneshot -Wl,-Bdynamic; its dependencies stay shared)
# and runs both from the repository root with ONESHOT_EXAMPLE_QUICK=1 (the
# dynamic one with LD_LIBRARY_PATH=PREFIX/lib). Every run must exit 0 within
# EXAMPLE_TIMEOUT seconds (default 300). First, each installed header must
# compile on its own as C11 (-std=c11 -pedantic -Wall -Wextra -Werror).
# usage: scripts/example_check.sh PREFIX OUTDIR examples/*.c
# CC (default cc) compiles; EXAMPLE_CFLAGS are added (make passes the
# sanitizer flags under SANITIZE=1).
set -e
prefix=$1 out=$2
shift 2
CC=${CC:-cc}
timeout=${EXAMPLE_TIMEOUT:-300}
fail() { echo "example-check: FAIL: $*" >&2; exit 1; }

PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
export PKG_CONFIG_PATH
got=$(pkg-config --variable=prefix oneshot) || fail "pkg-config finds no oneshot.pc in $PKG_CONFIG_PATH"
[ "$got" = "$prefix" ] || fail "pkg-config found the oneshot.pc of $got, not of $prefix"
cflags=$(pkg-config --cflags oneshot)
libs=$(pkg-config --libs oneshot)
slibs=$(pkg-config --static --libs oneshot | sed 's/-loneshot/-Wl,-Bstatic -loneshot -Wl,-Bdynamic/')
echo "example-check: cflags: $cflags"
echo "example-check: libs:   $libs"
echo "example-check: static: $slibs"

# The shared library exports the public API only (oneshot.map).
so=$(readlink -f "$prefix/lib/liboneshot.so") || fail "no $prefix/lib/liboneshot.so"
other=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ && $3 !~ /^oneshot_/ && $3 !~ /^ONESHOT_/ {print $3}' | head -5)
[ -z "$other" ] || fail "$so exports symbols outside the API: $other"
nm -D --defined-only "$so" | grep -q ' T oneshot_ctx_new' || fail "$so does not export oneshot_ctx_new"
# So does the static one (one object, its other globals made local).
a="$prefix/lib/liboneshot.a"
other=$(nm -g --defined-only "$a" | awk 'NF == 3 && $2 ~ /^[TDBRVW]$/ && $3 !~ /^oneshot_/ && $3 !~ /^ONESHOT_/ {print $3}' | head -5)
[ -z "$other" ] || fail "$a exports symbols outside the API: $other"
nm -g --defined-only "$a" | grep -q ' T oneshot_ctx_new' || fail "$a does not export oneshot_ctx_new"

mkdir -p "$out"
for h in "$prefix"/include/*.h; do
  [ -e "$h" ] || fail "no header in $prefix/include"
  echo "example-check: header $h alone, -std=c11 -pedantic"
  # shellcheck disable=SC2086
  printf '#include <%s>\n' "$(basename "$h")" |
    $CC -std=c11 -pedantic -Wall -Wextra -Werror $cflags -fsyntax-only -x c - ||
    fail "$h does not compile on its own"
done

for src in "$@"; do
  name=$(basename "$src" .c)
  dyn="$out/$name" sta="$out/$name-static"
  echo "example-check: $src"
  # shellcheck disable=SC2086
  $CC $EXAMPLE_CFLAGS -Wall -Wextra -Werror $cflags "$src" -o "$dyn" $libs
  # shellcheck disable=SC2086
  $CC $EXAMPLE_CFLAGS -Wall -Wextra -Werror $cflags "$src" -o "$sta" $slibs
  readelf -d "$dyn" | grep -q 'NEEDED.*liboneshot\.so' || fail "$dyn does not load liboneshot.so"
  if readelf -d "$sta" | grep -q 'NEEDED.*liboneshot'; then fail "$sta loads liboneshot.so"; fi
  LD_LIBRARY_PATH="$prefix/lib" ldd "$dyn" | grep -q "liboneshot\.so.* => $prefix/lib/" ||
    fail "$dyn does not resolve liboneshot.so to $prefix/lib"
  for bin in "$dyn" "$sta"; do
    ldpath=""
    [ "$bin" = "$dyn" ] && ldpath="$prefix/lib"
    echo "example-check: run ${ldpath:+LD_LIBRARY_PATH=$ldpath }$bin"
    rc=0
    env ${ldpath:+LD_LIBRARY_PATH="$ldpath"} ONESHOT_EXAMPLE_QUICK=1 OMP_NUM_THREADS=2 \
      timeout "$timeout" "$bin" || rc=$?
    [ "$rc" -eq 0 ] || fail "$bin exited with status $rc (124: over ${timeout}s)"
  done
done
echo "example-check: $# example(s) ok, shared and static"
