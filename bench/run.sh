#!/usr/bin/env bash
# run.sh - kimchid's benchmarks (not tests): prints figures, writes bench/out/results.txt.
# API: GET /vms and /vms/:name under wrk (16 connections) for 1, 100 and 1000 test-driver
# guests; peak RSS; time from start to the first authenticated GET /vms listing every guest.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/bench/out
mkdir -p "$OUT"
DUR=${BENCH_SECONDS:-5}
. "$ROOT/tests/lib.sh" # a local admin account to log in with (removed at the end)
trap remove_test_users EXIT
RES=$OUT/results.txt
: >"$RES"
rm -f "$OUT/memory.txt"
say() { echo "$*" | tee -a "$RES"; }

wrk_run() { # wrk_run URL : prints "req/s p50 p99"
  wrk -t2 -c16 -d"${DUR}s" --latency -H "Cookie: $COOKIE" "$1" >"$OUT/wrk.txt" 2>&1
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk.txt")
  p50=$(awk '$1=="50%" {print $2}' "$OUT/wrk.txt")
  p99=$(awk '$1=="99%" {print $2}' "$OUT/wrk.txt")
  echo "$rps $p50 $p99"
}

say "kimchid $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) on $(nproc) cores, wrk -t2 -c16 -d${DUR}s, plain HTTP on loopback, logged-in session"
say "$(printf '%-7s %-12s %12s %10s %10s %9s %9s' guests endpoint 'req/s' p50 p99 'RSS MiB' 'start ms')"
for n in 1 100 1000; do
  node=$OUT/node-$n.xml
  "$ROOT/bench/gen-node.sh" "$n" >"$node"
  port=$(shuf -i 20000-32767 -n 1) # below the ephemeral range
  state=$(mktemp -d)
  read -r start _ _ pid < <(python3 "$ROOT/bench/first_vms.py" "$port" "$ADMIN_USER" \
    "$TEST_USERS_DIR/admin.pw" "$n" "$ROOT/build/kimchid" --http --listen "127.0.0.1:$port" \
    --uri "test://$node" --state-dir "$state" --log-level warn)
  base=http://127.0.0.1:$port/plugins/kimchi
  login=$(mktemp); printf '{"username":"%s","password":"%s"}' "$ADMIN_USER" "$ADMIN_PW" >"$login"
  COOKIE=$(curl -s -i -H 'Content-Type: application/json' --data-binary @"$login" \
    "http://127.0.0.1:$port/login" | sed -n 's/^Set-Cookie: \([^;]*\).*/\1/ip')
  rm -f "$login"
  read -r r1 a1 b1 < <(wrk_run "$base/vms")
  read -r r2 a2 b2 < <(wrk_run "$base/vms/guest-0001")
  rss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
  pss=$(awk '/^Pss:/ {printf "%.1f", $2/1024}' "/proc/$pid/smaps_rollup")
  anon=$(awk '/^Private_Dirty:/ {printf "%.1f", $2/1024}' "/proc/$pid/smaps_rollup")
  echo "$n guests: peak RSS $rss MiB (now: PSS $pss MiB, private dirty $anon MiB; the rest is shared library text)" >>"$OUT/memory.txt"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$state"
  say "$(printf '%-7s %-12s %12s %10s %10s %9s %9s' "$n" /vms "$r1" "$a1" "$b1" "$rss" "$start")"
  say "$(printf '%-7s %-12s %12s %10s %10s %9s %9s' "$n" /vms/:name "$r2" "$a2" "$b2" "$rss" "$start")"
done
cat "$OUT/memory.txt" | tee -a "$RES"; rm -f "$OUT/memory.txt"
[ -x "$ROOT/bench/list.sh" ] && "$ROOT/bench/list.sh" | tee -a "$RES"
[ -x "$ROOT/bench/migrate.sh" ] && "$ROOT/bench/migrate.sh" idle | tee -a "$RES"
[ -x "$ROOT/bench/migrate.sh" ] && "$ROOT/bench/migrate.sh" disk | tee -a "$RES"
[ -x "$ROOT/bench/migrate.sh" ] && "$ROOT/bench/migrate.sh" tls | tee -a "$RES"
[ -x "$ROOT/bench/evacuate.sh" ] && "$ROOT/bench/evacuate.sh" | tee -a "$RES"
[ -x "$ROOT/bench/busy.sh" ] && "$ROOT/bench/busy.sh" | tee -a "$RES"
[ -x "$ROOT/bench/flags.sh" ] && "$ROOT/bench/flags.sh" | tee -a "$RES"
[ -x "$ROOT/bench/events.sh" ] && "$ROOT/bench/events.sh" | tee -a "$RES"
say "targets (100 guests): /vms >= 3000 req/s, p99 <= 20 ms; /vms/:name >= 10000 req/s; RSS <= 20 MiB; start <= 200 ms"
