#!/usr/bin/env bash
# soak-postcopy.sh [N] - not in make check: runs t1011 (the "cut" case: a post-copy move whose
# link is cut for 20 s and comes back) N times (20) on the running lab, and prints how many
# ended with the task finished, saying how long post-copy was interrupted, and the guest
# carrying on on host-b with every page intact. Each run's output: $ARTIFACTS/soak-N.log.
# Needs the lab up (tests/lab/lab up). About 80 s a run on 2 cores.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ARTIFACTS=${ARTIFACTS:-$ROOT/tests/artifacts}
mkdir -p "$ARTIFACTS"
n=${1:-20} good=0
for i in $(seq 1 "$n"); do
  started=$SECONDS
  if timeout -k 10 300 bash "$ROOT/tests/lab/t1011-postcopy-cut.sh" \
    >"$ARTIFACTS/soak-$i.log" 2>&1 && ! grep -q '^not ok' "$ARTIFACTS/soak-$i.log"; then
    good=$((good + 1)) word=finished
  else
    word="FAILED: $(grep -m1 '^not ok' "$ARTIFACTS/soak-$i.log")"
  fi
  echo "run $i: $word ($((SECONDS - started)) s); $good of $i so far"
done
echo "soak-postcopy: $good of $n runs finished with the guest on host-b (commit $(git -C "$ROOT" rev-parse --short HEAD))"
[ "$good" -eq "$n" ]
