#!/bin/sh
# Builds the libFuzzer harnesses in fuzz/ (clang, ASan + UBSan) and runs each
# for SECONDS, one after the other, from a small generated seed corpus.
# usage: scripts/fuzz.sh [SECONDS=60] [idx cifar image safetensors arch ...]
# Harnesses: idx, cifar, image (the dataset readers), safetensors (the
# checkpoint reader: safetensors + the trainer's loading), arch (arch.json,
# NNI dicts, architecture strings). Default: all five.
# Findings land in build/fuzz/findings/<harness>/ (crash-*, leak-*, timeout-*);
# the log of each run is build/fuzz/<harness>.log; the corpus grows in
# build/fuzz/corpus/<harness>/. Exit status 1 if any run found something.
# Inputs worth keeping go to fuzz/regress/<harness>/ (replayed by the tests:
# tests/test_datasets.c, tests/test_fuzz_regress.c).
set -e
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-idx cifar image safetensors arch}
out=build/fuzz
CC=${FUZZ_CC:-clang}
FLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -I. -I/usr/include/stb -fsanitize=address,undefined -fno-sanitize-recover=undefined"
# The sources each harness links (the checkpoint and architecture readers
# need the engine, the spaces and the trainer: the library but the CLI).
DATA_SRC="datasets/*.c tensor/error.c tensor/rng.c"
LIB_SRC="tensor/*.c autograd/*.c ops/*.c ops/cpu/*.c supernet/*.c supernet/spaces/*.c datasets/*.c search/*.c"
src_of() {
  case $1 in
    safetensors|arch) echo "$LIB_SRC" ;;
    *) echo "$DATA_SRC" ;;
  esac
}
mkdir -p "$out/obj"
if ! printf '#include <omp.h>\n' | $CC -fopenmp -x c -fsyntax-only - 2>/dev/null; then
  echo "fuzz: $CC cannot compile OpenMP code (no omp.h): apt-get install libomp-14-dev" >&2
  exit 2
fi
# stb_image 2.27, on a PNG whose first IDAT chunk is empty, computes NULL + 0
# and calls memcpy(NULL, src, 0) (fuzz/regress/image/png-empty-first-idat*):
# undefined in C, harmless (nothing is read or written through the pointer).
# UBSan's pointer-overflow and nonnull-attribute checks stop every run there,
# so they are off for stb alone; ASan still checks every memory access.
# shellcheck disable=SC2086
$CC $FLAGS -fsanitize=fuzzer-no-link -fno-sanitize=pointer-overflow,nonnull-attribute -c fuzz/stb_impl.c \
    -o "$out/stb_impl.o"
# Each source is compiled once (instrumented, with OpenMP for the kernels'
# pragmas) into $out/obj, then linked into the harnesses that need it.
built=""
for t in $targets; do
  objs=""
  for s in $(src_of "$t"); do
    o="$out/obj/$(echo "${s%.c}" | tr / _).o"
    case " $built " in
      *" $o "*) ;;
      *) if [ "$s" = supernet/genotype.c ]; then
           # Its static initialisers read const arrays, a GCC extension clang
           # rejects: compiled with cc, without instrumentation or sanitizers.
           cc -std=c11 -D_GNU_SOURCE -g -O1 -I. -c "$s" -o "$o"
         else
           # shellcheck disable=SC2086
           $CC $FLAGS -fsanitize=fuzzer-no-link -fopenmp -c "$s" -o "$o"
         fi
         built="$built $o" ;;
    esac
    objs="$objs $o"
  done
  echo "fuzz: building $out/fuzz_$t"
  # shellcheck disable=SC2086
  $CC $FLAGS -fsanitize=fuzzer -fopenmp fuzz/fuzz_$t.c $objs "$out/stb_impl.o" -o "$out/fuzz_$t" \
      -lopenblas -lcjson -lz -lm -lpthread
done
cc -std=c11 -I/usr/include/stb fuzz/make_seeds.c -o "$out/make_seeds" -lstb -lz
mkdir -p "$out/seeds/idx" "$out/seeds/cifar" "$out/seeds/image" "$out/seeds/safetensors" "$out/seeds/arch"
"$out/make_seeds" "$out/seeds"
{ printf '\000'; cat tests/data/progressive.jpg; } > "$out/seeds/image/jpg_progressive"
found=0
for t in $targets; do
  mkdir -p "$out/corpus/$t" "$out/findings/$t"
  case $t in
    safetensors|arch) # the harness writes its own seeds (valid checkpoints, arch.json files)
      ONESHOT_FUZZ_SEEDS="$out/seeds/$t" OMP_NUM_THREADS=1 "$out/fuzz_$t" -runs=0 > /dev/null 2>&1 ;;
  esac
  echo "fuzz: running fuzz_$t for ${secs}s (log: $out/$t.log)"
  OMP_NUM_THREADS=1 "$out/fuzz_$t" "$out/corpus/$t" "$out/seeds/$t" -max_total_time="$secs" \
      -artifact_prefix="$out/findings/$t/" -rss_limit_mb=2048 -timeout=30 \
      -print_final_stats=1 > "$out/$t.log" 2>&1 || true
  runs=$(grep -o 'Done [0-9]* runs' "$out/$t.log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$out/$t.log" | tail -1)
  n=$(ls "$out/findings/$t" | wc -l)
  echo "fuzz_$t: ${runs:-no 'Done' line (see log)}, $cov, findings: $n"
  [ "$n" -gt 0 ] && found=1
done
exit $found
