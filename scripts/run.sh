#!/usr/bin/env bash
# run.sh - what `make run` does:
#  - libvirt configured here (/run/libvirt/libvirt-sock): kimchid on qemu:///system;
#  - else, as root: the two-host lab, kimchid inside host-a, https://127.0.0.1:8001/;
#  - not root: a demo on libvirt's test driver (no migration) on http://127.0.0.1:8001/.
# Ctrl-C stops kimchid and, for the lab, brings it down again.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${KIMCHID_PORT:-8001}
KIMCHID=$ROOT/build/kimchid

if [ "$(id -u)" -ne 0 ]; then
  echo "kimchid: not root, so no libvirt daemon and no lab. Starting the test-driver demo" >&2
  echo "(guests exist only in kimchid's memory; run 'sudo make run' for the real thing)." >&2
  state=${XDG_STATE_HOME:-$HOME/.local/state}/kimchid
  echo "kimchid: http://127.0.0.1:$PORT/ — log in as $(id -un) with your own password (read only)"
  exec "$KIMCHID" --http --listen "127.0.0.1:$PORT" --uri test:///default --state-dir "$state"
fi

if [ -S /run/libvirt/libvirt-sock ]; then
  echo "kimchid: using this host's libvirt (qemu:///system) on https://0.0.0.0:$PORT/"
  echo "kimchid: log in with an account of this host; root and members of group sudo are administrators"
  exec "$KIMCHID" --listen "0.0.0.0:$PORT" --uri qemu:///system
fi

LAB=${KIMCHID_LAB_DIR:-/tmp/kimchid-lab}
lab=$ROOT/tests/lab/lab
cleanup() {
  trap - INT TERM EXIT
  echo; echo "kimchid: stopping and removing the lab..."
  [ -n "${KPID:-}" ] && kill "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null || true
  "$lab" down >/dev/null 2>&1 || true
}
trap cleanup INT TERM EXIT
echo "kimchid: no libvirt configured here; building the two-host lab (about 15 s)..."
"$lab" up
mkdir -p "$LAB/a/state"
"$lab" exec a "$KIMCHID" --listen "198.18.0.1:$PORT" --state-dir "$LAB/a/state" --ui-dir "$ROOT/ui" \
  >"$LAB/kimchid.log" 2>&1 &
KPID=$!
socat "TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,fork" "TCP:198.18.0.1:$PORT" 2>>"$LAB/forward.log" &
echo $! >"$LAB/forward.pid"
for _ in $(seq 1 100); do curl -sk -o /dev/null "https://127.0.0.1:$PORT/" && break; sleep 0.1; done
admin_pw=$(jq -r '.[] | select(.name=="labadmin" and .host=="host-b") | .password' "$LAB/users.json")
kimchi_pw=$(jq -r '.[] | select(.name=="kimchiadmin") | .password' "$LAB/users.json")
user_pw=$(jq -r '.[] | select(.name=="labuser") | .password' "$LAB/users.json")
c_pw=$(jq -r '.[] | select(.name=="labadmin" and .host=="host-c") | .password' "$LAB/users.json")
cat <<EOF2

  kimchid is running inside host-a:  https://127.0.0.1:$PORT/
  (self-signed certificate: accept it in the browser, or use curl -k)
  Log in as:  kimchiadmin  password $kimchi_pw  (an administrator of host-a)

  Guests on host-a: vm-one, vm-two (running), vm-off (shut off), vm-transient (running),
    and booted Linux guests vm-shared (disk on GlusterFS), vm-local (local disk, copied
    when it moves), vm-busy (writing memory). What a booted guest prints each second:
      $lab console a vm-local     ($lab console b vm-local after it moved)
  Migration target: host-b (198.18.0.2)
    user labadmin  password $admin_pw  (may sudo: sets up ssh trust)
    user labuser   password $user_pw  (no sudo: set-up fails, on purpose)
  A second destination: host-c (198.18.0.4), user labadmin  password $c_pw

  Try:  curl -k -u kimchiadmin https://127.0.0.1:$PORT/plugins/kimchi/vms
        curl -k -u kimchiadmin -X POST -H 'Content-Type: application/json' \\
          -d '{"remote_host":"host-b","user":"labadmin","password":"$admin_pw"}' \\
          https://127.0.0.1:$PORT/plugins/kimchi/vms/vm-one/migrate
        (curl asks for kimchiadmin's password)
  kimchid's log: $LAB/kimchid.log      Ctrl-C stops everything.
EOF2
wait "$KPID"
