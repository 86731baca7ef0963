# lib-lab.sh - helpers for the lab tests: kimchid inside host-a, guest states on each host.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
LABCMD=$ROOT/tests/lab/lab
LAB=${KIMCHID_LAB_DIR:-/tmp/kimchid-lab}
STATE=$LAB/a/state
CURL_OPTS="-k"
AUTH="--netrc-file $LAB/netrc" # kimchid's admin on host-a (lab up made it)
ADMIN_PW=$(jq -r '.[] | select(.name=="labadmin" and .host=="host-b") | .password' "$LAB/users.json")
USER_PW=$(jq -r '.[] | select(.name=="labuser") | .password' "$LAB/users.json")

lab() { "$LABCMD" "$@"; }
# virsh in a host, bounded: a hung (SIGSTOPped) libvirtd must fail a step, not hang the run
VIRSH="timeout -k 5 120 virsh -q -c qemu:///system"

# ---- the script leaves the lab as it found it ----
# What it made (guests, volumes; see tidy.sh) is removed when it exits, after the commands
# given to at_exit (faults undone: links, daemons, sysctls), and so is its kimchid.
# A helper that sources this file again in a child shell (bash -c) owns none of it.
. "$ROOT/tests/lab/tidy.sh"
AT_EXIT=()
at_exit() { AT_EXIT+=("$1"); } # at_exit 'SHELL CODE' : run when the script exits
lab_exit() {
  local c
  for c in "${AT_EXIT[@]}"; do eval "$c"; done
  [ -n "${KPID:-}" ] && kill -0 "$KPID" 2>/dev/null && STOP_LIMIT=30 stop_kimchid 2>/dev/null
  lab_tidy "$LAB_BASE"
  rm -rf "$LAB_BASE"
}
if [ -z "${KIMCHID_LAB_SCRIPT:-}" ]; then
  export KIMCHID_LAB_SCRIPT=$$
  LAB_BASE=$(mktemp -d /tmp/kimchid-base.XXXXXX)
  lab_inventory "$LAB_BASE"
  trap lab_exit EXIT
fi

# kimchid's waits on the other host in the lab, shorter than production's (README,
# Configuration): the fault cases wait these out, and assert against them
SSH_CONNECT_S=6 OPEN_S=8 SETTLE_S=10 SETTLE_EVERY_S=2 KNOCK_S=2 ALIVE_S=3
LAB_TIMERS="--ssh-connect-timeout $SSH_CONNECT_S --libvirt-open-timeout $OPEN_S --settle-timeout $SETTLE_S
  --settle-interval $SETTLE_EVERY_S --knock-timeout $KNOCK_S --ssh-alive-interval $ALIVE_S"

# start_lab_kimchid : HTTPS on host-a's address; sets KPID, PORT, BASE, KLOG; KIMCHID_ARGS adds options
start_lab_kimchid() {
  PORT=$(free_port)
  KLOG=$LAB/kimchid.log
  mkdir -p "$STATE"
  # under the packaged unit's UMask=0077, as on a real host (scripts/kimchid.service)
  # shellcheck disable=SC2086 # KIMCHID_ARGS: a test's extra options
  (umask 077 && exec "$LABCMD" exec a "$KIMCHID" --listen "198.18.0.1:$PORT" --state-dir "$STATE" \
    --log-level debug $LAB_TIMERS ${KIMCHID_ARGS:-}) >>"$KLOG" 2>&1 &
  KPID=$!
  BASE=https://198.18.0.1:$PORT/plugins/kimchi
  wait_ready "$BASE/vms" "-k"
}

# watch_task TASK-ID SECONDS : polls the task until it ends (left in BODY), keeping every
# progress it showed in the file $SEEN (the caller's); seen JQ : jq over those
watch_task() {
  : >"$SEEN"
  for _ in $(seq 1 $(($2 * 5))); do
    req GET "/tasks/$1"
    jq -c '.progress // empty' <<<"$BODY" >>"$SEEN"
    [ "$(jq_get .status)" != running ] && return 0
    sleep 0.2
  done
  fail_note "task $1 still running after $2 s"
}
seen() { jq -s "$1" "$SEEN"; }

# vm_state a|b NAME : libvirt's state word ("running", "shut", ...) or "absent"
vm_state() {
  local s
  s=$(lab exec "$1" $VIRSH domstate "$2" 2>/dev/null | head -1) || true
  echo "${s:-absent}"
}

vm_persistent() {
  lab exec "$1" $VIRSH dominfo "$2" 2>/dev/null | awk '/^Persistent:/ {print $2}'
}

# migrate NAME JSON : POST migrate; sets ID (or empty) and leaves STATUS/BODY
migrate() {
  req POST "/vms/$1/migrate" "$2"
  ID=$(echo "$BODY" | jq -r '.id // empty' 2>/dev/null)
}

# secrets_absent PW : the password is in no log, state file or process command line
secrets_absent() { # the pattern goes through a file: grep's own argv must not hold it
  # what is searched must be there: a missing log would hold no password and prove nothing
  [ -s "$LAB/kimchid.log" ] && [ -d "$STATE" ] ||
    { fail_note "nothing to search: $LAB/kimchid.log or $STATE is missing or empty"; return 1; }
  local pat hits=""; pat=$(mktemp)
  printf '%s\n' "$1" >"$pat"
  grep -rqaF -f "$pat" "$LAB/kimchid.log" "$STATE" 2>/dev/null && hits="$hits log/state"
  grep -qaF -f "$pat" /proc/[0-9]*/cmdline 2>/dev/null && hits="$hits cmdline"
  rm -f "$pat"
  [ -z "$hits" ] || { fail_note "password found in:$hits"; return 1; }
}

# ---- booted guests: their console files on each host ----
# hb_lines a|b NAME : the complete heartbeat lines a guest printed on that host
hb_lines() { lab console "$1" "$2" | tr -d '\r' | grep -E '^HB [0-9]+ boot=[0-9a-f-]+ mem=[^ ]+ disk=[^ ]+$' || true; }
hb_last() { hb_lines "$1" "$2" | tail -1; }
hb_field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; } # hb_field boot|mem|disk < line
hb_count() { awk '{print $2}'; }

# wait_hb a|b NAME [N] [SECONDS] : waits until the guest has printed N (1) more heartbeat
# lines on that host than it had when called; fails after SECONDS (60)
wait_hb() {
  local before want i
  before=$(hb_lines "$1" "$2" | wc -l)
  want=$((before + ${3:-1}))
  for i in $(seq 1 $((${4:-60} * 5))); do
    [ "$(hb_lines "$1" "$2" | wc -l)" -ge "$want" ] && return 0
    sleep 0.2
  done
  fail_note "$2 printed no new heartbeat on host-$1 in ${4:-60} s"; return 1
}

# survived NAME [DEST] : after a move host-a -> host-DEST (b), the guest's console says it
# carried on: DEST shows no boot, the same boot id as host-a's last line, a counter that
# continues from it (the line in flight at the switch-over may be split between the two
# files), and three more lines with the memory and disk checks ok.
survived() {
  local name=$1 to=${2:-b} last first bid
  last=$(hb_last a "$name")
  wait_hb "$to" "$name" 3 30 || return 1
  first=$(hb_lines "$to" "$name" | head -1)
  bid=$(hb_field boot <<<"$last")
  if lab console "$to" "$name" | grep -q '^BOOT '; then fail_note "$name booted again on host-$to"; return 1; fi
  [ -n "$bid" ] && [ "$(hb_field boot <<<"$first")" == "$bid" ] ||
    { fail_note "boot id changed: host-a '$last', host-$to '$first'"; return 1; }
  local gap=$(( $(hb_count <<<"$first") - $(hb_count <<<"$last") ))
  [ "$gap" -ge 1 ] && [ "$gap" -le 2 ] || { fail_note "counter jumped by $gap: '$last' -> '$first'"; return 1; }
  local bad
  bad=$(hb_lines "$to" "$name" | grep -v " boot=$bid mem=ok disk=\(ok\|none\)$" | head -1)
  [ -z "$bad" ] || { fail_note "check failed on host-$to: $bad"; return 1; }
}

# net_drop / net_restore : host-b's network loses every packet, links up (no netem in this
# kernel: a queue of length 0 on both ends of its link), as a cut cable or a dead switch does
net_drop() {
  tc qdisc replace dev kl-b root pfifo limit 0
  ip netns exec kimchid-b tc qdisc replace dev eth0 root pfifo limit 0
}
# net_rate MBIT : host-b's link carries MBIT Mbit/s each way (until net_restore)
net_rate() {
  tc qdisc replace dev kl-b root tbf rate "$1mbit" burst 64kb latency 100ms
  ip netns exec kimchid-b tc qdisc replace dev eth0 root tbf rate "$1mbit" burst 64kb latency 100ms
}
# net_unplug : host-b's cable pulled beyond its NIC: its link leaves the lab's bridge, so
# nothing reaches it or comes from it while its own stack sees a working link and drops
# nothing itself (as when the switch port dies); net_restore plugs it back
net_unplug() { ip link set kl-b nomaster; }
net_restore() {
  tc qdisc del dev kl-b root 2>/dev/null
  ip netns exec kimchid-b tc qdisc del dev eth0 root 2>/dev/null
  ip link set kl-b master kimchid-br0 2>/dev/null
  return 0
}

# ---- post-copy moves (t1010, t1011) ----
# postcopy_allowed : QEMU may use userfaultfd for the script's life (Debian 12 denies it as
# shipped, see t1006); the link is restored when the script exits
postcopy_allowed() {
  local f=/proc/sys/vm/unprivileged_userfaultfd was
  was=$(cat $f)
  at_exit "net_restore; echo $was >$f"
  echo 1 >$f
}
in_postcopy() { [ "$(lab exec a $VIRSH domstate --reason "$1")" == "paused (post-copy)" ]; }

b_runs_it() { [ "$(lab exec b $VIRSH domstate --reason "$1")" == "running (post-copy)" ]; }

# to_postcopy NAME [switched] : boots NAME (128 MiB) on host-a writing 64 MiB at 50 MiB/s,
# moves it capped at 8 MiB/s with post-copy allowed and a time budget of 40 s per GiB (5 s)
# whose action is the switch: kimchid switches in the first pass, with most pages still on
# host-a, so post-copy lasts at that cap (when the switch waited for pre-copy not to
# converge, a guest written slower than its rate on a loaded machine converged first, and its
# post-copy ended before a poll saw it), and
# returns once host-a's half is paused in post-copy (with "switched": once host-b runs it,
# the switch-over over), with the link slowed to 4 Mbit/s so that post-copy lasts; sets ID
to_postcopy() {
  lab booted a "$1" "" 64 50
  wait_hb a "$1" 2 90 || return 1
  migrate "$1" "$(jq -n --arg p "$ADMIN_PW" '{remote_host:"host-b",user:"labadmin",password:$p,
    bandwidth:8,auto_converge:false,postcopy:true,completion_timeout:40,
    completion_action:"postcopy"}')"
  [ -n "$ID" ] || { fail_note "no task: $BODY"; return 1; }
  eventually 120 in_postcopy "$1" || return 1
  net_rate 4
  [ "${2:-}" != switched ] || eventually 60 b_runs_it "$1"
}

# fill_disk a|b PATH MiB : writes MiB of a pattern at 8 MiB into an image the guest does not
# touch (it writes the first 4 MiB), so a copy has real data to move
fill_disk() { lab exec "$1" qemu-io -f qcow2 -c "write -P 0x5a 8M ${3}M" "$2" >/dev/null; }

# booted_guest NAME DISK-POOL|"" MiB-PREFILLED [off] : defines (and starts) one more booted guest on
# host-a (the lab's template), with a qcow2 disk in that pool
booted_guest() {
  local name=$1 pool=$2 fill=${3:-0} v=$VIRSH path=""
  if [ -n "$pool" ]; then
    lab exec a $v vol-create-as "$pool" "$name.qcow2" 128M --format qcow2 >/dev/null
    path=$(lab exec a $v vol-path --pool "$pool" "$name.qcow2")
    [ "$fill" -gt 0 ] && fill_disk a "$path" "$fill"
  fi
  lab booted a "$name" "$path" 16 0 ${4:-}
}

# running_copies NAME : "A B", the number of running copies on each host
running_copies() {
  local a b v=$VIRSH
  a=$(lab exec a $v list --state-running --name | grep -cx "$1" || true)
  b=$(lab exec b $v list --state-running --name | grep -cx "$1" || true)
  echo "$a $b"
}

# eventually SECONDS CMD... : CMD succeeds within SECONDS (polled every 0.2 s)
absent_on() { [ "$(vm_state "$1" "$2")" == absent ]; } # absent_on a|b NAME

# wait_moving TASK-ID [FIELD] : polls the task until progress.FIELD (data_processed) is above
# zero (true), or the task ends or 60 s pass (false); leaves the task in BODY
wait_moving() {
  local field=${2:-data_processed}
  for _ in $(seq 1 600); do
    req GET "/tasks/$1"
    [ "$(jq_get ".progress.$field // 0")" -gt 0 ] && return 0
    [ "$(jq_get .status)" != running ] && return 1
    sleep 0.1
  done
  return 1
}

# task_end ID SECONDS : polls the task until it ends (BODY holds it), false after SECONDS
task_end() {
  for _ in $(seq 1 $(($2 * 5))); do
    req GET "/tasks/$1"
    [ "$STATUS" == 200 ] && [ "$(jq_get .status)" != running ] && return 0
    sleep 0.2
  done
  fail_note "task $1 still running after $2 s: $(jq_get .message)"; return 1
}
