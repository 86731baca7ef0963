#!/usr/bin/env bash
# events.sh - the event stream (make bench): (1) in the lab, the time from a guest's state
# change (virsh suspend/resume on host-a, 100 times) to its frame reaching a client of
# kimchid's stream; (2) on the test driver, what 100 connected stream clients cost kimchid in
# memory, and in CPU while nothing changes. Needs root.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LAB=${KIMCHID_LAB_DIR:-/tmp/kimchid-lab}
lab=$ROOT/tests/lab/lab
. "$ROOT/tests/lib.sh" # a local admin account for part 2 (removed at the end)
. "$ROOT/bench/lib-lab.sh" # after: its start_kimchid (the lab's) is the one used
trap '"$lab" down >/dev/null 2>&1 || true; remove_test_users' EXIT
"$lab" up >/dev/null
start_kimchid
echo "event stream (kimchid $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null), lab host-a, HTTPS):"
python3 "$ROOT/bench/events.py" latency "$BASE" "$LAB/netrc" vm-one \
  "$lab" exec a virsh -q -c qemu:///system
kill "$KPID"; wait "$KPID" 2>/dev/null || true
"$lab" down >/dev/null

port=$(free_port)
state=$(mktemp -d)
"$ROOT/build/kimchid" --http --listen "127.0.0.1:$port" --uri test:///default --state-dir "$state" \
  --log-level warn &
pid=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
login=$(mktemp); printf '{"username":"%s","password":"%s"}' "$ADMIN_USER" "$ADMIN_PW" >"$login"
cookie=$(curl -s -i -H 'Content-Type: application/json' --data-binary @"$login" \
  "http://127.0.0.1:$port/login" | sed -n 's/^Set-Cookie: \([^;]*\).*/\1/ip')
rm -f "$login"
python3 "$ROOT/bench/events.py" clients "http://127.0.0.1:$port/plugins/kimchi" "$cookie" "$pid"
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
rm -rf "$state"
echo "targets: p99 < 100 ms; 100 clients < 5 MiB and no measurable CPU while nothing changes"
