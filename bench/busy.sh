#!/usr/bin/env bash
# busy.sh - a busy guest's move in the lab: a booted guest rewriting 64 MiB of memory at
# 50 MiB/s, host-a -> host-b behind a 20 MiB/s cap, through kimchid's defaults (auto-converge)
# and through `virsh migrate` with libvirt's defaults (no auto-converge, no post-copy) and the
# same cap, given 120 s. Prints time to finish (or "did not finish in 120 s") and downtime for
# each. Needs root. BENCH_BUSY_RUNS (2) runs each.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LAB=${KIMCHID_LAB_DIR:-/tmp/kimchid-lab}
lab=$ROOT/tests/lab/lab
RUNS=${BENCH_BUSY_RUNS:-2}
CAP=20
GIVE=120
V="virsh -q -c qemu:///system"
. "$ROOT/bench/lib-lab.sh"
trap '"$lab" down >/dev/null 2>&1 || true' EXIT
"$lab" up >/dev/null
for g in vm-busy vm-shared vm-local; do "$lab" exec a $V destroy "$g" >/dev/null; done
"$lab" booted a vm-hot "" 64 50
back_trust
start_kimchid
body=$(mktemp)
back() { # uncapped, the move back converges at once
  "$lab" exec b $V migrate --live --p2p --persistent --undefinesource \
    --migrateuri tcp://198.18.0.1 vm-hot qemu+ssh://root@host-a/system >/dev/null
}
kimchid_once() { # prints "ms downtime-ms"
  local t0 id st task
  t0=$(now)
  id=$(curl -sk --netrc-file "$LAB/netrc" -X POST -H 'Content-Type: application/json' \
    --data-binary @"$body" "$BASE/vms/vm-hot/migrate" | jq -r .id)
  while task=$(curl -sk --netrc-file "$LAB/netrc" "$BASE/tasks/$id"); st=$(jq -r .status <<<"$task"); [ "$st" == running ]; do
    sleep 0.1
  done
  [ "$st" == finished ] || { echo "kimchid migration failed: $(jq -r .message <<<"$task")" >&2; exit 1; }
  echo "$(( ($(now) - t0) / 1000000 )) $(jq -r .message <<<"$task" | sed -n 's/.*downtime \([0-9]*\) ms.*/\1/p')"
}
virsh_once() { # prints "ms downtime-ms", or "none -" when it did not finish in GIVE s
  local t0 pid
  t0=$(now)
  "$lab" exec a $V migrate --live --p2p --persistent --undefinesource --bandwidth $CAP \
    --migrateuri tcp://198.18.0.2 vm-hot qemu+ssh://root@host-b/system >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 $((GIVE * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    "$lab" exec a $V domjobabort vm-hot >/dev/null 2>&1 || true
    wait "$pid" 2>/dev/null || true
    echo "none -"
    return
  fi
  wait "$pid" 2>/dev/null || true
  local ms=$(( ($(now) - t0) / 1000000 ))
  echo "$ms $("$lab" exec b $V domjobinfo --completed vm-hot | awk '/^Total downtime/ {print $3}')"
}
printf '{"remote_host":"host-b","user":"labadmin","password":"%s","bandwidth":%d}' "$pw" $CAP >"$body"
k=(); kd=(); v=(); vd=()
for i in $(seq 1 "$RUNS"); do
  read -r ms dt < <(kimchid_once); k+=("$ms"); kd+=("$dt"); back
  [ "$i" -eq 1 ] && printf '{"remote_host":"host-b","bandwidth":%d}' $CAP >"$body"
  read -r ms dt < <(virsh_once); v+=("$ms"); vd+=("$dt")
  [ "$ms" == none ] || back
done
rm -f "$body"
kill "$KPID"; wait "$KPID" 2>/dev/null || true
echo "a busy guest (64 MiB rewritten at 50 MiB/s, booted TCG) host-a -> host-b behind a $CAP MiB/s cap, $RUNS runs each"
echo "  kimchid defaults (auto-converge): ${k[*]} ms, downtime ${kd[*]} ms (target: finishes, downtime < 300 ms)"
vs=(); for i in "${!v[@]}"; do [ "${v[$i]}" == none ] && vs+=("did not finish in ${GIVE} s") || vs+=("${v[$i]} ms (downtime ${vd[$i]} ms)"); done
printf '  virsh migrate, libvirt defaults: %s\n' "$(IFS=';'; echo "${vs[*]}" | sed 's/;/; /g')"
