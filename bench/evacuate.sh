#!/usr/bin/env bash
# evacuate.sh - emptying host-a in the lab: 6 idle 256 MiB TCG guests onto host-b and host-c,
# through kimchid's POST /host/evacuate (POST to the task's end: its plan and checks included)
# with max_parallel 2 and with 1, against a sequential loop of `virsh migrate` with the same
# flags (TLS, auto-converge, persistent, undefine source) sending them to the same hosts.
# Alternating, BENCH_EVAC_RUNS (3) rounds each; prints the medians and the ratios. Needs root.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LAB=${KIMCHID_LAB_DIR:-/tmp/kimchid-lab}
lab=$ROOT/tests/lab/lab
RUNS=${BENCH_EVAC_RUNS:-3}
V="virsh -q -c qemu:///system"
GUESTS="ev-1 ev-2 ev-3 ev-4 ev-5 ev-6"
. "$ROOT/bench/lib-lab.sh"
# kimchid's log is kept for a look at its debug lines (the lab's directory goes with it)
trap 'mkdir -p "$ROOT/tests/artifacts"; cp "$LAB/kimchid.log" "$ROOT/tests/artifacts/bench-$(basename "$0" .sh)-kimchid.log" 2>/dev/null; "$lab" down >/dev/null 2>&1 || true' EXIT
"$lab" up >/dev/null
# host-a holds only the benchmark's guests
for g in $("$lab" exec a $V list --all --name); do
  "$lab" exec a $V destroy "$g" >/dev/null 2>&1 || true
  "$lab" exec a $V undefine "$g" >/dev/null 2>&1 || true
done
for g in $GUESTS; do "$lab" guest a "$g" 256 nofill persistent; done
back_trust b
back_trust c
start_kimchid
cpw=$(jq -r '.[] | select(.name=="labadmin" and .host=="host-c") | .password' "$LAB/users.json")
api() { curl -sk --netrc-file "$LAB/netrc" -H 'Content-Type: application/json' "$@"; }
body=$(mktemp)
for h in host-b:$pw host-c:$cpw; do # the ssh trust, set up once as the Migrate dialog's check does
  printf '{"remote_host":"%s","user":"labadmin","password":"%s","check_only":true}' "${h%%:*}" "${h#*:}" >"$body"
  [ "$(api -X POST --data-binary @"$body" "$BASE/vms/ev-1/migrate" | jq -r .ready)" == true ] ||
    { echo "evacuate.sh: kimchid cannot reach ${h%%:*}" >&2; exit 1; }
done
rm -f "$body"
where() { # where GUEST : b or c
  if "$lab" exec b $V domstate "$1" >/dev/null 2>&1; then echo b; else echo c; fi
}
back() { # every guest back on host-a (not timed), host-a out of maintenance
  local g h
  for g in $GUESTS; do
    h=$(where "$g")
    "$lab" exec "$h" $V migrate --live --p2p --persistent --undefinesource \
      --migrateuri "tcp://198.18.0.1" "$g" qemu+ssh://root@host-a/system >/dev/null
  done
  api -X POST -d '{"enabled":false}' "$BASE/host/maintenance" >/dev/null
}
kimchid_once() { # kimchid_once MAX-PARALLEL : ms from the POST to the evacuation's end, as the
  # page sees it (a session, the task's end on the event stream: bench/task_end.py)
  local id st ms req; req=$(mktemp)
  printf '{"destinations":["host-b","host-c"],"max_parallel":%s}' "$1" >"$req"
  read -r id st ms < <(python3 "$ROOT/bench/task_end.py" "$BASE" "$LAB/netrc" host/evacuate "$req")
  rm -f "$req"
  [ "$st" == finished ] || { echo "evacuate.sh: the evacuation failed: $(api "$BASE/tasks/$id" | jq -r .message)" >&2; exit 1; }
  echo "$ms"
}
virsh_once() { # the same moves, one after another, alternating destinations as the plan does
  local t0 g i=0 h
  t0=$(now)
  for g in $GUESTS; do
    h=$([ $((i % 2)) -eq 0 ] && echo b || echo c); i=$((i + 1))
    "$lab" exec a $V migrate --live --p2p --persistent --undefinesource --tls --auto-converge \
      --migrateuri "tcp://198.18.0.$([ "$h" == b ] && echo 2 || echo 4)" "$g" "qemu+ssh://root@host-$h/system" >/dev/null
  done
  echo $(( ($(now) - t0) / 1000000 ))
}
# how busy the machine's cores are during each variant (all processes: QEMU, libvirtd, ssh,
# kimchid): a variant that keeps them busy all the time cannot go faster by moving more at once
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat; }
timed() { # timed NAME CMD... : runs CMD (prints ms), adds the machine's busy share to NAME.busy
  local b0 t0 b1 t1 out; read -r b0 t0 < <(busy_ticks)
  out=$("${@:2}"); read -r b1 t1 < <(busy_ticks)
  awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) 'BEGIN {printf "%.0f\n", 100 * b / t}' >>"$WORKDIR/$1.busy"
  echo "$out"
}
WORKDIR=$(mktemp -d)
k2=(); k1=(); v=()
for _ in $(seq 1 "$RUNS"); do
  k2+=("$(timed k2 kimchid_once 2)"); back
  v+=("$(timed v virsh_once)"); back
  k1+=("$(timed k1 kimchid_once 1)"); back
done
kill "$KPID"; wait "$KPID" 2>/dev/null || true
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m2=$(median "${k2[@]}"); m1=$(median "${k1[@]}"); mv=$(median "${v[@]}")
echo "evacuation of 6 idle 256 MiB TCG guests host-a -> host-b and host-c, $RUNS rounds, alternating"
echo "  kimchid, max_parallel 2 (POST to the task's end on the event stream, plan included): ${k2[*]} ms, median $m2 ms"
echo "  kimchid, max_parallel 1: ${k1[*]} ms, median $m1 ms"
echo "  virsh migrate loop, same flags, one after another: ${v[*]} ms, median $mv ms"
echo "  the machine's $(nproc) cores busy (all processes, % of their time; per round): kimchid 2 at once $(paste -sd' ' "$WORKDIR/k2.busy"), 1 at once $(paste -sd' ' "$WORKDIR/k1.busy"), virsh loop $(paste -sd' ' "$WORKDIR/v.busy")"
rm -rf "$WORKDIR"
awk -v a="$m2" -v b="$mv" 'BEGIN {printf "  ratio kimchid (2 at once)/virsh loop: %.3f (target <= 0.7)\n", a/b}'
awk -v a="$m1" -v b="$mv" 'BEGIN {printf "  ratio kimchid (1 at once)/virsh loop: %.3f (target <= 1.05)\n", a/b}'
