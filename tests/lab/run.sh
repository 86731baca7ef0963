#!/usr/bin/env bash
# run.sh [SCRIPT...] - the lab layer of make check: brings the two-host lab up, runs
# tests/lab/t*.sh in order (or only the scripts named: `tests/lab/run.sh t1005`), and always
# brings the lab down. Each script runs within LAB_SCRIPT_LIMIT (tests/bound.sh), must leave
# no guest of its own defined (tidy.sh), and is followed by a health check of both hosts: a
# script killed at its bound, or one that left a host without libvirtd or sshd, gets a
# rebuilt lab for the next. All output goes to tests/artifacts/lab-all.log; a summary line
# per script to stdout, with its time and the QEMUs still running after it.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ARTIFACTS=${ARTIFACTS:-$ROOT/tests/artifacts}
LOG=$ARTIFACTS/lab-all.log
LAB=${KIMCHID_LAB_DIR:-/tmp/kimchid-lab}
mkdir -p "$ARTIFACTS"
: >"$LOG"
. "$ROOT/tests/bound.sh"
. "$ROOT/tests/lab/tidy.sh"
lab() { "$ROOT/tests/lab/lab" "$@"; }
cleanup() {
  cp "$LAB/kimchid.log" "$ARTIFACTS/lab-kimchid.log" 2>/dev/null || true
  timeout -k 10 120 "$ROOT/tests/lab/lab" down >>"$LOG" 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

lab_up() {
  local started=$SECONDS
  bounded "$LAB_UP_LIMIT" "$LOG" "$ROOT/tests/lab/lab" up || return 1
  took $((SECONDS - started)) "lab up"
}
# every host's libvirtd and sshd answer
healthy() {
  local h
  for h in a b c; do
    lab exec "$h" timeout 10 virsh -q -c qemu:///system uri >/dev/null 2>&1 || return 1
    kill -0 "$(cat "$LAB/$h/sshd.pid" 2>/dev/null)" 2>/dev/null || return 1
  done
}

scripts=()
if [ $# -eq 0 ]; then
  scripts=("$ROOT"/tests/lab/t[0-9]*.sh)
else
  for a in "$@"; do scripts+=("$ROOT"/tests/lab/"$(basename "$a" .sh)"*.sh); done
fi
if ! lab_up; then
  echo "not ok - the lab came up" | tee -a "$LOG"
  tail -20 "$LOG"
  exit 1
fi
rc=0
for t in "${scripts[@]}"; do
  [ -e "$t" ] || { echo "not ok - no lab script $t" | tee -a "$LOG"; rc=1; continue; }
  name=$(basename "$t" .sh)
  out=$ARTIFACTS/lab-$name.log
  : >"$out"
  base=$(mktemp -d /tmp/kimchid-base.XXXXXX)
  lab_inventory "$base"
  started=$SECONDS
  bounded "$LAB_SCRIPT_LIMIT" "$out" bash "$t"
  r=$?
  [ "$r" -ne 0 ] && rc=1
  left=$(lab_made "$base" | sed -n 's/^guest //p' | tr '\n' ' ')
  if [ -n "$left" ]; then
    echo "not ok - $name left guests it made defined: $left" >>"$out"; rc=1
    lab_tidy "$base"
  fi
  rm -rf "$base"
  took $((SECONDS - started)) "lab/$name"
  cat "$out" >>"$LOG"
  # kimchid's log of this script (its lines since the script began), kept past a rebuild
  mv "$LAB/kimchid.log" "$ARTIFACTS/lab-$name-kimchid.log" 2>/dev/null
  echo "lab $(grep -v '^not ok - .* killed at its bound\|left guests' "$out" | tail -1) ($((SECONDS - started)) s; QEMUs running after it: $(lab_qemus))"
  grep -E '^not ok|^#   ' "$out" | head -30
  if [ "$r" -eq 124 ] || ! healthy; then
    echo "# $name: the lab is rebuilt for the next script" | tee -a "$LOG"
    lab_up || { echo "not ok - the lab came up again after $name" | tee -a "$LOG"; exit 1; }
  fi
done
exit $rc
