#!/usr/bin/env bash
# flags.sh - what each of kimchid's migration defaults costs: an idle 256 MiB guest host-a -> host-b
# through kimchid with TLS and auto-converge on and off (3 runs each), and `virsh migrate`
# with the same flags, directly and through kimchid's ssh command. Prints each run's wall time
# (ms). Needs root.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LAB=${KIMCHID_LAB_DIR:-/tmp/kimchid-lab}
lab=$ROOT/tests/lab/lab
V="virsh -q -c qemu:///system"
. "$ROOT/bench/lib-lab.sh"
trap '"$lab" down >/dev/null 2>&1 || true' EXIT
"$lab" up >/dev/null
for g in vm-busy vm-shared vm-local; do "$lab" exec a $V destroy "$g" >/dev/null; done
"$lab" guest a vm-bench 256 nofill persistent
back_trust
start_kimchid
body=$(mktemp)
back() { "$lab" exec b $V migrate --live --p2p --persistent --undefinesource \
    --migrateuri tcp://198.18.0.1 vm-bench qemu+ssh://root@host-a/system >/dev/null; }
once() {
  printf '%s' "$1" >"$body"
  local t0 id st
  t0=$(now)
  id=$(curl -sk --netrc-file "$LAB/netrc" -X POST -H 'Content-Type: application/json' \
    --data-binary @"$body" "$BASE/vms/vm-bench/migrate" | jq -r .id)
  while st=$(curl -sk --netrc-file "$LAB/netrc" "$BASE/tasks/$id" | jq -r .status); [ "$st" == running ]; do sleep 0.02; done
  echo -n "$(( ($(now) - t0) / 1000000 ))($st) "
}
once "{\"remote_host\":\"host-b\",\"user\":\"labadmin\",\"password\":\"$pw\",\"delete_source\":true}" >/dev/null; back
for b in '{"remote_host":"host-b","delete_source":true}' \
         '{"remote_host":"host-b","delete_source":true,"auto_converge":false}' \
         '{"remote_host":"host-b","delete_source":true,"encrypted":false}' \
         '{"remote_host":"host-b","delete_source":true,"encrypted":false,"auto_converge":false}'; do
  echo -n "$b: "
  for _ in 1 2 3; do once "$b"; back; done
  echo
done
vs() { local t0; t0=$(now); "$lab" exec a $V migrate --live --p2p --persistent --undefinesource $1 \
    --migrateuri tcp://198.18.0.2 vm-bench "qemu+ssh://root@host-b/system$2" >/dev/null; echo -n "$(( ($(now) - t0) / 1000000 )) "; back; }
echo -n "virsh --tls --auto-converge: "; for _ in 1 2 3; do vs "--tls --auto-converge" ""; done; echo
echo -n "virsh --tls --auto-converge via kimchid's ssh wrapper: "; for _ in 1 2 3; do vs "--tls --auto-converge" "?no_tty=1&command=$LAB/a/state/ssh"; done; echo
kill "$KPID"; wait "$KPID" 2>/dev/null || true
