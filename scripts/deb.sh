#!/usr/bin/env bash
# deb.sh [OUTDIR] - builds the Debian package from a copy of this tree (dpkg-buildpackage
# cleans the tree it builds in: the checkout keeps its builds) into OUTDIR (build/deb).
# Prints the .deb's path. The build's log goes to OUTDIR/build.log.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mkdir -p "${1:-$ROOT/build/deb}" && cd "${1:-$ROOT/build/deb}" && pwd)
"$ROOT/scripts/deps.sh" package >&2
WORK=$(mktemp -d /tmp/kimchid-deb.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/kimchid"
tar -C "$ROOT" --exclude=./build --exclude=./tests/artifacts --exclude=./tests/e2e/node_modules \
  --exclude=./.git -cf - . | tar -C "$WORK/kimchid" -xf -
(cd "$WORK/kimchid" && dpkg-buildpackage -us -uc -b) >"$OUT/build.log" 2>&1 ||
  { tail -30 "$OUT/build.log" >&2; exit 1; }
cp "$WORK"/kimchid_*.deb "$WORK"/kimchid_*.buildinfo "$WORK"/kimchid_*.changes "$OUT/"
ls "$OUT"/kimchid_*_amd64.deb | tail -n1
