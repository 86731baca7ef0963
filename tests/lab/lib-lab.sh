# lib-lab.sh - helpers for the lab tests: kimchid inside host-a, guest states on each host.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
LABCMD=$ROOT/tests/lab/lab
LAB=${KIMCHID_LAB_DIR:-/tmp/kimchid-lab}
STATE=$LAB/a/state
CURL_OPTS="-k"
AUTH="--netrc-file $LAB/netrc" # kimchid's admin on host-a (lab up made it)
ADMIN_PW=$(jq -r '.[] | select(.name=="labadmin") | .password' "$LAB/users.json")
USER_PW=$(jq -r '.[] | select(.name=="labuser") | .password' "$LAB/users.json")

lab() { "$LABCMD" "$@"; }

# start_lab_kimchid : HTTPS on host-a's address; sets KPID, PORT, BASE, KLOG
start_lab_kimchid() {
  PORT=$(free_port)
  KLOG=$LAB/kimchid.log
  mkdir -p "$STATE"
  "$LABCMD" exec a "$KIMCHID" --listen "198.18.0.1:$PORT" --state-dir "$STATE" \
    --log-level debug >>"$KLOG" 2>&1 &
  KPID=$!
  BASE=https://198.18.0.1:$PORT/plugins/kimchi
  wait_ready "$BASE/vms" "-k"
}

# vm_state a|b NAME : libvirt's state word ("running", "shut", ...) or "absent"
vm_state() {
  local s
  s=$(lab exec "$1" virsh -q -c qemu:///system domstate "$2" 2>/dev/null | head -1) || true
  echo "${s:-absent}"
}

vm_persistent() {
  lab exec "$1" virsh -q -c qemu:///system dominfo "$2" 2>/dev/null | awk '/^Persistent:/ {print $2}'
}

# migrate NAME JSON : POST migrate; sets ID (or empty) and leaves STATUS/BODY
migrate() {
  req POST "/vms/$1/migrate" "$2"
  ID=$(echo "$BODY" | jq -r '.id // empty' 2>/dev/null)
}

# secrets_absent PW : the password is in no log, state file or process command line
secrets_absent() { # the pattern goes through a file: grep's own argv must not hold it
  local pat hits=""; pat=$(mktemp)
  printf '%s\n' "$1" >"$pat"
  grep -rqaF -f "$pat" "$LAB/kimchid.log" "$STATE" 2>/dev/null && hits="$hits log/state"
  grep -qaF -f "$pat" /proc/[0-9]*/cmdline 2>/dev/null && hits="$hits cmdline"
  rm -f "$pat"
  [ -z "$hits" ] || { fail_note "password found in:$hits"; return 1; }
}
