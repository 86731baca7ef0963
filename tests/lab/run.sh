#!/usr/bin/env bash
# run.sh - the lab layer of make check: brings the two-host lab up, starts kimchid (ASan
# build) in host-a, runs tests/lab/t*.sh in order, and always brings the lab down.
# All output goes to tests/artifacts/lab-all.log; a summary line per script to stdout.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ARTIFACTS=${ARTIFACTS:-$ROOT/tests/artifacts}
LOG=$ARTIFACTS/lab-all.log
LAB=${KIMCHID_LAB_DIR:-/tmp/kimchid-lab}
mkdir -p "$ARTIFACTS"
: >"$LOG"
cleanup() {
  cp "$LAB/kimchid.log" "$ARTIFACTS/lab-kimchid.log" 2>/dev/null || true
  "$ROOT/tests/lab/lab" down >>"$LOG" 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if ! "$ROOT/tests/lab/lab" up >>"$LOG" 2>&1; then
  echo "not ok - the lab came up" | tee -a "$LOG"
  tail -20 "$LOG"
  exit 1
fi
rc=0
for t in "$ROOT"/tests/lab/t[0-9]*.sh; do
  out=$ARTIFACTS/lab-$(basename "$t" .sh).log
  started=$SECONDS
  bash "$t" >"$out" 2>&1 || rc=1
  cat "$out" >>"$LOG"
  echo "lab $(tail -1 "$out") ($((SECONDS - started)) s)"
  grep -E '^not ok|^#   ' "$out" | head -30
done
exit $rc
