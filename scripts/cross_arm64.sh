#!/bin/sh
# Cross-build the oneshot command for aarch64 (64-bit Arm boards: Raspberry Pi
# 4/5, Jetson, Graviton) on an x86-64 Debian machine, then (RUN=1, the
# default) start it under qemu-user as a smoke test: it measures a proxyless
# latency table (emulated, so its milliseconds mean nothing).
#
#   scripts/cross_arm64.sh                 # build into $OUT/build/oneshot
#   OPT="-O2 -mcpu=cortex-a76" scripts/cross_arm64.sh   # tuned for one board
#   RUN=0 scripts/cross_arm64.sh           # build only
#
# The arm64 libraries (OpenBLAS, cJSON, zlib, stb, Graphviz, cairo and what
# they need) are downloaded as .deb files and unpacked into a private sysroot
# ($OUT/root); nothing arm64 is installed. Installing their arm64 -dev
# packages next to the amd64 ones with `apt-get install pkg:arm64` was tried
# and is not safe on Debian 12: one of Graphviz's dependencies (libgts) ships a
# different changelog per architecture, dpkg refuses to co-install it, and apt
# resolves that by removing the amd64 Graphviz, which the x86 build links.
# To let apt see arm64 packages the script adds the architecture (root, with
# `dpkg --add-architecture arm64` and `apt-get update`) and removes it again
# when it was not there before.
#
# On the board the binary needs the runtime libraries: apt-get install
# libopenblas0-pthread libcjson1 zlib1g libstb0 libgvc6 libcairo2 (Debian or
# Raspberry Pi OS). Copy $OUT/build/oneshot there and run
#   oneshot latency --space proxyless --input 3x32x32 --out board.json
set -e
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/oneshot-arm64}
OPT=${OPT:-"-O2"}
RUN=${RUN:-1}
PKGS="libopenblas-dev libopenblas0-pthread libopenblas-pthread-dev libstb-dev libstb0 libcjson-dev libcjson1
      zlib1g-dev zlib1g libgraphviz-dev libgvc6 libcgraph6 libcdt5 libpathplan4 libcairo2-dev libcairo2 libgomp1"
TRIPLET=aarch64-linux-gnu
TOOLCHAIN_LIB=/usr/$TRIPLET/lib

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "cross_arm64.sh: $1 needs root (run it with sudo)" >&2
        exit 1
    fi
}
if ! command -v $TRIPLET-gcc >/dev/null; then
    need_root "installing crossbuild-essential-arm64"
    apt-get install -y crossbuild-essential-arm64
fi
if [ "$RUN" = 1 ] && ! command -v qemu-aarch64 >/dev/null; then
    need_root "installing qemu-user"
    apt-get install -y qemu-user
fi

mkdir -p "$OUT/debs"
if [ ! -f "$OUT/root/.done" ]; then
    added=0
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        need_root "adding the arm64 architecture to apt's view"
        dpkg --add-architecture arm64
        added=1
    fi
    apt-get update -qq
    list=""
    for p in $PKGS; do list="$list $p:arm64"; done
    # every package these need, recursively (only arm64 ones: the rest are
    # architecture-independent headers already named or not needed)
    deps=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
           --no-replaces --no-enhances $list | grep -v '^ ' | grep ':arm64$' | sort -u)
    (cd "$OUT/debs" && apt-get download $deps)
    if [ $added = 1 ]; then
        dpkg --remove-architecture arm64
    fi
    rm -rf "$OUT/root"
    mkdir -p "$OUT/root"
    for f in "$OUT"/debs/*.deb; do dpkg -x "$f" "$OUT/root"; done
    # absolute symlinks (libz.so -> /lib/...) point into the sysroot instead
    find "$OUT/root" -type l | while read -r l; do
        t=$(readlink "$l")
        case "$t" in
        /*) ln -sf "$(realpath -m --relative-to="$(dirname "$l")" "$OUT/root$t")" "$l" ;;
        esac
    done
    # the C library and its start files come from the cross toolchain, never
    # from the unpacked libc6-dev (its libc.so script names absolute paths)
    for d in usr/lib/$TRIPLET lib/$TRIPLET lib; do
        [ -d "$OUT/root/$d" ] || continue
        for f in "$OUT/root/$d"/*; do
            [ -e "$TOOLCHAIN_LIB/$(basename "$f")" ] && rm -f "$f"
        done
    done
    touch "$OUT/root/.done"
fi

R=$OUT/root
L=$R/usr/lib/$TRIPLET
LIBPATH=$L/openblas-pthread:$L:$R/lib/$TRIPLET
# the sysroot's headers after the toolchain's own (-idirafter), as system headers
CFLAGS="-isystem $R/usr/include/$TRIPLET/openblas-pthread -isystem $R/usr/include/stb \
        -idirafter $R/usr/include/$TRIPLET -idirafter $R/usr/include" \
LDFLAGS="-L$L/openblas-pthread -L$L -L$R/lib/$TRIPLET -Wl,-rpath-link,$LIBPATH" \
    make CC=$TRIPLET-gcc CUDA=0 BUILD="$OUT/build" OPT="$OPT" "$OUT/build/oneshot"
file "$OUT/build/oneshot"

if [ "$RUN" = 1 ]; then
    echo "smoke test under qemu-aarch64 (emulated: the times are not the board's):"
    qemu-aarch64 -L /usr/$TRIPLET -E LD_LIBRARY_PATH=$LIBPATH "$OUT/build/oneshot" latency --space proxyless \
        --input 1x28x28 --channels 16 --cells 4 --threads 1 --runs 20 --warmup 2 --out "$OUT/latency-qemu.json"
    qemu-aarch64 -L /usr/$TRIPLET -E LD_LIBRARY_PATH=$LIBPATH "$OUT/build/oneshot" costs --arch acenas-m1 \
        --input 3x224x224 --classes 1000
fi
