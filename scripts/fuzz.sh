#!/bin/sh
# Builds the libFuzzer harnesses in fuzz/ (clang, ASan + UBSan) and runs each
# for SECONDS, one after the other, from a small generated seed corpus.
# usage: scripts/fuzz.sh [SECONDS=60] [idx cifar image ...]
# Findings land in build/fuzz/findings/<harness>/ (crash-*, leak-*, timeout-*);
# the log of each run is build/fuzz/<harness>.log. Exit status 1 if any run
# found something.
set -e
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-idx cifar image}
out=build/fuzz
CC=${FUZZ_CC:-clang}
FLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -I. -I/usr/include/stb -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
SRC="datasets/*.c tensor/error.c tensor/rng.c"
mkdir -p "$out"
# stb_image 2.27, on a PNG whose first IDAT chunk is empty, computes NULL + 0
# and calls memcpy(NULL, src, 0) (fuzz/regress/image/png-empty-first-idat*):
# undefined in C, harmless (nothing is read or written through the pointer).
# UBSan's pointer-overflow and nonnull-attribute checks stop every run there,
# so they are off for stb alone; ASan still checks every memory access.
# shellcheck disable=SC2086
$CC $FLAGS -fno-sanitize=pointer-overflow,nonnull-attribute -c fuzz/stb_impl.c -o "$out/stb_impl.o"
for t in $targets; do
  echo "fuzz: building $out/fuzz_$t"
  # shellcheck disable=SC2086
  $CC $FLAGS fuzz/fuzz_$t.c $SRC "$out/stb_impl.o" -o "$out/fuzz_$t" -lz -lm -lpthread
done
cc -std=c11 -I/usr/include/stb fuzz/make_seeds.c -o "$out/make_seeds" -lstb -lz
mkdir -p "$out/seeds/idx" "$out/seeds/cifar" "$out/seeds/image"
"$out/make_seeds" "$out/seeds"
{ printf '\000'; cat tests/data/progressive.jpg; } > "$out/seeds/image/jpg_progressive"
found=0
for t in $targets; do
  mkdir -p "$out/corpus/$t" "$out/findings/$t"
  echo "fuzz: running fuzz_$t for ${secs}s (log: $out/$t.log)"
  "$out/fuzz_$t" "$out/corpus/$t" "$out/seeds/$t" -max_total_time="$secs" \
      -artifact_prefix="$out/findings/$t/" -rss_limit_mb=2048 -timeout=30 \
      -print_final_stats=1 > "$out/$t.log" 2>&1 || true
  runs=$(grep -o 'Done [0-9]* runs' "$out/$t.log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$out/$t.log" | tail -1)
  n=$(ls "$out/findings/$t" | wc -l)
  echo "fuzz_$t: ${runs:-no 'Done' line (see log)}, $cov, findings: $n"
  [ "$n" -gt 0 ] && found=1
done
exit $found
