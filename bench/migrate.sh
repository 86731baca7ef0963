#!/usr/bin/env bash
# migrate.sh [idle|disk|tls] - migration host-a -> host-b in the lab: kimchid (POST to the
# task's end, all its checks included) against `virsh migrate` with the same flags (kimchid's
# defaults: TLS, auto-converge), alternately, 5 times each (7 with a disk, whose runs spread
# wider). Prints both medians and the ratio.
# Needs root.
#   tls:  the idle guest through kimchid, encrypted (the default) against "encrypted": false
#   idle: an idle 256 MiB TCG guest, no disk (the default)
#   disk: a booted guest whose 256 MiB local qcow2 disk is fully written; kimchid copies it
#         (creating the destination's volume itself) and removes the source's copy
#         (delete_source); virsh gets --copy-storage-all (libvirt creates the destination's
#         volume in its pool) and the source's copy is removed by rm in the same timed command
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LAB=${KIMCHID_LAB_DIR:-/tmp/kimchid-lab}
lab=$ROOT/tests/lab/lab
MODE=${1:-idle}
RUNS=${BENCH_MIGRATIONS:-$([ "$MODE" == disk ] && echo 7 || echo 5)}
V="virsh -q -c qemu:///system"
IMG=/var/lib/libvirt/images/vm-bench.qcow2
. "$ROOT/bench/lib-lab.sh"
# kimchid's log is kept for a look at its debug lines (the lab's directory goes with it)
trap 'mkdir -p "$ROOT/tests/artifacts"; cp "$LAB/kimchid.log" "$ROOT/tests/artifacts/bench-$(basename "$0" .sh)-kimchid.log" 2>/dev/null; "$lab" down >/dev/null 2>&1 || true' EXIT
"$lab" up >/dev/null
# a quiet lab, as the figures were first measured: the lab's booted guests would compete for
# the 2 cores (vm-busy rewrites memory all the time)
for g in vm-busy vm-shared vm-local; do "$lab" exec a $V destroy "$g" >/dev/null; done
if [ "$MODE" == disk ]; then
  "$lab" exec a $V vol-create-as default vm-bench.qcow2 256M --format qcow2 >/dev/null
  "$lab" exec a qemu-io -f qcow2 -c "write -P 0x5a 0 256M" "$IMG" >/dev/null
  "$lab" booted a vm-bench "$IMG"
  COPY=--copy-storage-all
else
  "$lab" guest a vm-bench 256 nofill persistent
  COPY=
fi
back_trust
KIMCHID_LOG_LEVEL=debug start_kimchid # each move's timing line (bench/steps.py)
body=$(mktemp)
printf '{"remote_host":"host-b","user":"labadmin","password":"%s"}' "$pw" >"$body"
back() { # puts the guest back on host-a (not timed); host-b's disk copy goes, host-a's stays
  # shellcheck disable=SC2086
  "$lab" exec b $V migrate --live --p2p --persistent --undefinesource $COPY \
    --migrateuri tcp://198.18.0.1 vm-bench qemu+ssh://root@host-a/system >/dev/null
  [ "$MODE" != disk ] || "$lab" exec b rm -f "$IMG"
  [ "$MODE" != disk ] || "$lab" exec b $V pool-refresh default >/dev/null
  # the copy just written back is flushed before the next timed move, not during it
  [ "$MODE" != disk ] || sync
}
kimchid_once() { # as the page waits: a session, the POST, the task's end on the event stream
  local id st ms
  read -r id st ms < <(python3 "$ROOT/bench/task_end.py" "$BASE" "$LAB/netrc" vms/vm-bench/migrate "$body")
  [ "$st" == finished ] || { echo "kimchid migration failed: $(curl -sk --netrc-file "$LAB/netrc" "$BASE/tasks/$id" | jq -r .message)" >&2; exit 1; }
  echo "$ms"
  # kimchid's own clock: the task's creation (the POST) to its end
  curl -sk --netrc-file "$LAB/netrc" "$BASE/tasks/$id" |
    jq '[.created, .updated] | map((.[0:19] + "Z" | fromdateiso8601) * 1000 + (.[20:23] | tonumber)) | .[1] - .[0] | floor' >>"$SERVER_MS"
}
SERVER_MS=$(mktemp)
# virsh's side ends where kimchid's does: with a disk, libvirt creates the destination's volume
# itself (in the pool holding its directory there, as kimchid does before its call), and the
# source's copy is removed as kimchid's delete_source does (rm in the same timed command; the
# pool learns it untimed)
virsh_once() {
  local t0 rm=
  [ "$MODE" != disk ] || rm="&& rm -f $IMG"
  t0=$(now)
  "$lab" exec a sh -c "$V migrate --live --p2p --persistent --undefinesource --tls --auto-converge \
    $COPY --migrateuri tcp://198.18.0.2 vm-bench qemu+ssh://root@host-b/system >/dev/null $rm"
  echo $(( ($(now) - t0) / 1000000 ))
  [ "$MODE" != disk ] || "$lab" exec a $V pool-refresh default >/dev/null
}
# the first kimchid run sets up the ssh trust (password login + sudo); later ones reuse it
first=$(kimchid_once); back
printf '{"remote_host":"host-b","delete_source":true}' >"$body"
k=(); v=()
plain=$(mktemp)
printf '{"remote_host":"host-b","delete_source":true,"encrypted":false}' >"$plain"
for _ in $(seq 1 "$RUNS"); do
  k+=("$(kimchid_once)"); back
  if [ "$MODE" == tls ]; then
    v+=("$(body=$plain kimchid_once)"); back
  else
    v+=("$(virsh_once)"); back
  fi
done
rm -f "$plain"
rm -f "$body"
kill "$KPID"; wait "$KPID" 2>/dev/null || true
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
km=$(median "${k[@]}"); vm=$(median "${v[@]}")
# the first move's and the tls mode's plain moves are in the file too: the timed encrypted ones
mapfile -t srv < <(if [ "$MODE" == tls ]; then sed -n '2~2p' "$SERVER_MS"; else tail -n "$RUNS" "$SERVER_MS"; fi)
sm=$(median "${srv[@]}"); rm -f "$SERVER_MS"
if [ "$MODE" == tls ]; then
  echo "migration of an idle 256 MiB TCG guest host-a -> host-b through kimchid, $RUNS runs each, alternating"
  echo "  encrypted (TLS, the default): ${k[*]} ms, median $km ms"
  echo "  \"encrypted\": false: ${v[*]} ms, median $vm ms"
  awk -v a="$km" -v b="$vm" 'BEGIN {printf "  cost of encryption: %.3f of the plain wall time (target <= 1.25)\n", a/b}'
  exit 0
fi
if [ "$MODE" == disk ]; then
  echo "migration of a booted guest with a 256 MiB local disk, fully written, host-a -> host-b (disk copied), $RUNS runs each, alternating"
else
  echo "migration of an idle 256 MiB TCG guest host-a -> host-b, $RUNS runs each, alternating"
fi
echo "  first kimchid run, with ssh trust set-up: ${first} ms"
awk -v a="$first" -v b="$km" 'BEGIN {printf "  ratio first/later move: %.2f (target <= 2.0)\n", a/b}'
echo "  kimchid (POST to the task's end on the event stream, as the page sees it): ${k[*]} ms, median $km ms"
echo "  kimchid by its own clock (the task's creation to its end): ${srv[*]} ms, median $sm ms"
then=; [ "$MODE" != disk ] || then=", then rm of the source's copy"
echo "  virsh migrate, same flags${COPY:+ $COPY}$then: ${v[*]} ms, median $vm ms"
awk -v a="$km" -v b="$vm" 'BEGIN {printf "  ratio kimchid/virsh: %.3f (target <= 1.05)\n", a/b}'
awk -v a="$sm" -v b="$vm" 'BEGIN {printf "  ratio kimchid by its own clock/virsh: %.3f\n", a/b}'
python3 "$ROOT/bench/steps.py" "$LAB/kimchid.log" 1
echo "  the first move's steps:"
python3 "$ROOT/bench/steps.py" "$LAB/kimchid.log" 0 1 | tail -n +2
