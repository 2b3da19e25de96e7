#!/bin/sh
# Installs the Debian packages the build, the tests and the demo need, if any
# is missing. Safe to run again: it does nothing when all are present.
# usage: scripts/deps.sh [build|test|example|demo|fuzz|ref|bench]
set -e
# libgraphviz-dev, libcairo2-dev, fonts-dejavu-core: plot/ (cell layouts, PNG/SVG, the font)
need="build-essential libopenblas-dev libstb-dev libcjson-dev zlib1g-dev pkg-config \
      libgraphviz-dev libcairo2-dev fonts-dejavu-core"
case "${1:-build}" in
  # libxml2-dev: tests/test_plot.c checks that every SVG is well-formed XML
  test)  need="$need libcriterion-dev libxml2-dev" ;;
  demo)  need="$need dataset-fashion-mnist" ;;
  # make example-check: pkg-config (above) and the examples' default data
  example) need="$need dataset-fashion-mnist" ;;
  fuzz)  need="$need clang libclang-rt-14-dev libomp-14-dev" ;;
  ref)   need="$need python3-torch python3-numpy" ;;
  bench) need="$need libcriterion-dev" ;;
esac
missing=""
for p in $need; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
