#!/usr/bin/env bash
# t1004 - faults during a move: nothing waits forever, and the guest stays whole on host-a.
#  - host-b's ssh server frozen: kimchid's own connection, and the source libvirtd's during the
#    move, give up after --ssh-connect-timeout; the task names the cause;
#  - the network to host-b drops mid-migration: ssh's keepalive ends the move, the task says the
#    network to host-b was lost; the guest runs on host-a and nothing is left on host-b;
#  - host-b's QEMU hangs mid-move: after --stall-timeout kimchid stops the move, then kills the
#    hung incoming copy that keeps libvirt from ending it; the task says so;
#  - host-b's libvirtd killed at the switch-over: exactly one copy runs, the task says where
#    and that host-b's libvirt stopped answering;
#  - host-b's libvirtd hung before kimchid connected: the open gives up after 2 x
#    --libvirt-open-timeout;
#  - SIGTERM while a migration runs: reads keep working, new tasks get 503, the migration
#    finishes, then kimchid exits; with a short --shutdown-timeout the move is cancelled.
. "$(dirname "$0")/lib-lab.sh"
STALL=16
KIMCHID_ARGS="--stall-timeout $STALL" # above ssh's connect bound (the frozen-ssh case)
start_lab_kimchid
V=$VIRSH

at_exit net_restore

booted_guest vm-stall "" 0
ok "vm-stall has booted" wait_hb a vm-stall 1 90
migrate vm-stall "$(jq -n --arg p "$ADMIN_PW" '{remote_host:"host-b",user:"labadmin",password:$p,bandwidth:2}')"
ok "the migration was moving data" wait_moving "$ID"
net_drop
start=$(date +%s)
no_job() { ! lab exec a $V domjobinfo "$1" 2>/dev/null | grep -q Unbounded; }
ok "with the network to host-b gone, libvirt's move ends within 3 x $ALIVE_S s + 10 s (ssh keepalive)" eventually $((3 * ALIVE_S + 10)) no_job vm-stall
ok "...before the stall rule ($STALL s of no data) had to act" no_match "$KLOG" -q 'vm-stall" moved no data'
settling() { grep -q 'the move of "vm-stall" failed (.*); asking both hosts' "$KLOG"; }
ok "...and kimchid, having named the cause, asks both hosts where the guest is" eventually 10 settling
net_restore # the network comes back later: kimchid then learns where the guest is
for _ in $(seq 1 600); do req GET "/tasks/$ID"; [ "$(jq_get .status)" != running ] && break; sleep 0.1; done
took=$(( $(date +%s) - start ))
ok "the task ended within 60 s of the network dropping (took ${took} s)" test "$took" -le 60
ok "...failed, saying the network to host-b was lost (in words, with libvirt's)" has "$(jq_get .status) $(jq_get .message)" \
  'failed KCHMIGR0022E: Migration of "vm-stall" to "host-b" failed while migrating: libvirt could not migrate "vm-stall" to "host-b": the connection to "host-b" broke off (libvirt: "'
ok "...naming the cause" has "$(jq_get .message)" 'and "host-b" no longer answers on its ssh port: the network to it, or the host itself, is down.'
ok "...and saying where the guest runs" has "$(jq_get .message)" "The guest runs on this host."
ok "the guest runs on host-a" eq "$(vm_state a vm-stall)" running
ok "...and carries on with its memory intact" bash -c ". '$ROOT/tests/lab/lib-lab.sh' >/dev/null; wait_hb a vm-stall 2 30 && [ \"\$(hb_last a vm-stall | hb_field mem)\" == ok ]"
ok "no copy of it is left on host-b" eventually 30 absent_on b vm-stall

# the destination's QEMU hangs (SIGSTOP) mid-move: the connections stay up but no data moves;
# after --stall-timeout kimchid stops the move; libvirt cannot end it while that QEMU hangs, so
# 15 s later kimchid kills the hung incoming copy, and says so
qemu_pid() { # qemu_pid a|b NAME : the pid of NAME's QEMU in that host's namespace
  local p
  for p in $(ip netns pids "kimchid-$1"); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "-name guest=$2," && { echo "$p"; return 0; }
  done
  return 1
}
lab guest a vm-hang 128 fill persistent
migrate vm-hang '{"remote_host":"host-b","bandwidth":2}'
ok "vm-hang: the migration is moving data" wait_moving "$ID"
HUNG=$(qemu_pid b vm-hang)
ok "...its incoming QEMU on host-b is stopped (SIGSTOP)" kill -STOP "$HUNG"
start=$(date +%s)
for _ in $(seq 1 600); do req GET "/tasks/$ID"; [ "$(jq_get .status)" != running ] && break; sleep 0.1; done
took=$(( $(date +%s) - start ))
kill -CONT "$HUNG" 2>/dev/null
stalled() { grep -q "migration of \"vm-hang\" moved no data for $STALL s: stopped" "$KLOG"; }
ok "with no data moving, kimchid stopped libvirt's job after $STALL s" stalled
ok "...the task ended within 60 s (took ${took} s)" test "$took" -le 60
ok "...failed as stalled, naming the host and the time" has "$(jq_get .status) $(jq_get .message)" \
  "failed KCHMIGR0018E: Migration of \"vm-hang\" to \"host-b\" failed while migrating: The migration stalled: no data moved to \"host-b\" for $STALL s"
ok "...that its hung copy on host-b was killed, and where the guest runs" has "$(jq_get .message)" \
  'kimchid stopped it. Check "host-b" and try again. Its incoming copy on "host-b" hung, so kimchid killed it there. The guest runs on this host.'

ok "vm-hang runs on host-a" eq "$(vm_state a vm-hang)" running
ok "...no copy of it is left on host-b" eventually 30 absent_on b vm-hang

# host-b's libvirtd killed (-9) the moment host-a pauses the guest for the switch-over, then
# restarted: whatever libvirt answered, exactly one copy runs, and the task says where
qemu_count() { # qemu_count a|b NAME : QEMU processes of NAME in that host's namespace
  local p n=0
  for p in $(ip netns pids "kimchid-$1"); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "-name guest=$2," && n=$((n + 1))
  done
  echo "$n"
}
gone() { [ ! -d "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status"; } # exited (or a zombie)
kill_at_switchover() { # kill_at_switchover NAME : in the background, as host-a pauses the guest
  # for the switch-over (its last pages and device state on their way to host-b, whose libvirt
  # has yet to finish the move: killed then, it can never have answered for it; killed at
  # host-b's "Resumed" instead, its answer races the kill, and a fast one wins)
  B_LIBVIRTD=$(cat "$LAB/b/libvirtd.pid")
  # grep reads a process substitution, not a pipe: the kill must follow the event at once,
  # not wait for virsh to exit as a pipeline would
  ( timeout 120 grep -m1 -qF "'$1': Suspended Migrated" \
      < <(lab exec a stdbuf -oL virsh -q -c qemu:///system event --loop --event lifecycle 2>/dev/null) &&
      kill -9 "$B_LIBVIRTD" ) &
  KILLER=$!
  sleep 1.5 # the event stream is registered
}
switchover_case() { # switchover_case NAME BODY-JSON
  lab guest a "$1" 128 fill persistent
  kill_at_switchover "$1"
  migrate "$1" "$2"
  local id=$ID
  wait "$KILLER"
  ok "$1: host-b's libvirtd was killed at the switch-over" eventually 5 gone "$B_LIBVIRTD"
  sleep 2
  lab service b libvirtd start
  for _ in $(seq 1 600); do req GET "/tasks/$id"; [ "$(jq_get .status)" != running ] && break; sleep 0.1; done
  local st copies; st=$(jq_get .status); copies=$(running_copies "$1")
  ok "$1: the task ended ($st: $(jq_get .message | cut -c1-400))" test "$st" != running
  ok "$1: exactly one host runs the guest (running on host-a, host-b: $copies)" bash -c "[ '$copies' == '1 0' ] || [ '$copies' == '0 1' ]"
  ok "$1: one QEMU process in all ($(qemu_count a "$1") on host-a, $(qemu_count b "$1") on host-b)" \
    test "$(( $(qemu_count a "$1") + $(qemu_count b "$1") ))" -eq 1
  ok "$1: the task names the cause: host-b's libvirt stopped answering" has "$(jq_get .message)" \
    'the libvirt of "host-b" stopped answering (libvirt: "'
  if [ "$copies" == "0 1" ]; then
    ok "$1: it runs on host-b and the task says finished" eq "$st" finished
  else
    ok "$1: it runs on host-a and the task says failed" eq "$st" failed
  fi
}
switchover_case vm-sw1 '{"remote_host":"host-b","bandwidth":8}'
switchover_case vm-sw2 '{"remote_host":"host-b","bandwidth":8,"delete_source":true}'
req GET /vms
ok "kimchid still answers" eq "$STATUS" 200

# a migration kimchid did not start (virsh, or a kimchid before a restart): while libvirt runs
# its job, changes through kimchid answer 409
lab guest a vm-ext 128 fill persistent
( lab exec a $V migrate --live --p2p --persistent --bandwidth 4 vm-ext qemu+ssh://root@host-b/system >/dev/null 2>&1 ) &
EXT=$!
job_running() { lab exec a $V domjobinfo vm-ext 2>/dev/null | grep -q Unbounded; }
ok "a migration started with virsh is running" eventually 30 job_running
req POST /vms/vm-ext/suspend
ok "...suspend through kimchid meanwhile: 409" eq "$STATUS" 409
ok "...saying libvirt runs a job and what to do" has "$(jq_get .reason)" \
  'KCHMIGR0019E: libvirt is running a job on virtual machine "vm-ext" (a migration or another long operation, started outside kimchid or before it restarted). Wait for it to end, or stop it (virsh domjobabort vm-ext), then try again.'
migrate vm-ext '{"remote_host":"host-b"}'
ok "...a migrate of it: 409 too, before any task" eq "$STATUS $ID" "409 "
wait "$EXT"
ok "...and the outside migration was left alone: it finished" eq "$(vm_state b vm-ext)" running

# host-b's ssh server frozen (it accepts TCP but never answers), with trust set up: every ssh
# connection to it gives up after $SSH_CONNECT_S s, the task says why, and the guest stays.
# frozen_case NAME STEP : kimchid's libvirt connection to host-b is cached (alive) or not; STEP
# is where the move must fail: at libvirt's call (the source libvirtd's connection to host-b)
# or at kimchid's own check
SSHD_B=$(cat "$LAB/b/sshd.pid")
at_exit 'kill -CONT "$SSHD_B" 2>/dev/null'
frozen_case() {
  lab guest a "$1" 128 fill persistent
  kill -STOP "$SSHD_B"
  local start took; start=$(date +%s)
  # not encrypted: whether the TLS step needs ssh depends on what earlier cases left
  migrate "$1" '{"remote_host":"host-b","encrypted":false}'
  for _ in $(seq 1 600); do req GET "/tasks/$ID"; [ "$(jq_get .status)" != running ] && break; sleep 0.1; done
  took=$(( $(date +%s) - start ))
  kill -CONT "$SSHD_B"
  ok "$1: with host-b's ssh server frozen, the migration ended within 2 x $SSH_CONNECT_S s + 10 s (took ${took} s)" test "$took" -le $((2 * SSH_CONNECT_S + 10))
  ok "...failed while ${2//|/ or }, saying host-b's ssh server did not answer" \
    grep -qE "^failed KCHMIGR0024E: Migration of \"$1\" to \"host-b\" failed while ($2): " <<<"$(jq_get .status) $(jq_get .message)"
  ok "...in words" has "$(jq_get .message)" \
    "the ssh server on \"host-b\" accepted the connection but did not answer within $SSH_CONNECT_S s (it may be hung or overloaded). Check sshd on \"host-b\", then try again."
  ok "$1 runs on host-a" eq "$(vm_state a "$1")" running
  ok "...and nothing of it is on host-b" absent_on b "$1"
}
# the first step to open a new ssh connection fails: the maintenance check's SFTP read, or,
# when an SFTP session kept from a move a few seconds before still serves it (its sshd child
# is not the frozen listener), libvirt's own connection for the move
frozen_case vm-frz1 "checking that the remote host is not in maintenance|migrating"

stop_kimchid
ok "kimchid exits cleanly" eq "$KEXIT" 0

# SIGTERM during a migration: HTTP keeps answering (reads; new tasks 503) until it finishes
KIMCHID_ARGS="--shutdown-timeout 60"
start_lab_kimchid

frozen_case vm-frz2 "checking libvirt on the remote host" # a new kimchid: no connection yet

# host-b's libvirtd hung (SIGSTOP: its socket still accepts, nothing answers) and kimchid has no
# connection to it yet (the case above opened none): libvirt's open has no timeout of its own,
# so kimchid bounds it ($OPEN_S s, tried twice), ending the ssh process under it; the task says what
# hangs and what to do
B_LIBVIRTD=$(cat "$LAB/b/libvirtd.pid")
at_exit 'kill -CONT "$B_LIBVIRTD" 2>/dev/null'
lab guest a vm-lvh 128 fill persistent
kill -STOP "$B_LIBVIRTD"
start=$(date +%s)
migrate vm-lvh '{"remote_host":"host-b"}'
sleep 2
req GET /vms
ok "with host-b's libvirtd hung, kimchid answers meanwhile" eq "$STATUS" 200
for _ in $(seq 1 600); do req GET "/tasks/$ID"; [ "$(jq_get .status)" != running ] && break; sleep 0.1; done
took=$(( $(date +%s) - start ))
ssh_left=$(pgrep -c -P "$KPID" -f 'ssh.*host-b' || true)
kill -CONT "$B_LIBVIRTD"
ok "...the migration ended within 2 x $OPEN_S s + 10 s (took ${took} s)" test "$took" -le $((2 * OPEN_S + 10))
ok "...failed while checking host-b's libvirt, saying it did not answer, what to do" eq "$(jq_get .status) $(jq_get .message)" \
  "failed KCHMIGR0026E: Migration of \"vm-lvh\" to \"host-b\" failed while checking libvirt on the remote host: Cannot connect to libvirt on \"host-b\": it accepted the connection but did not answer within $OPEN_S s, twice (it may be hung, overloaded or still starting). Check it there (systemctl status libvirtd), then try again."
ok "...no ssh process of kimchid's is left waiting on it" eq "$ssh_left" 0
ok "vm-lvh runs on host-a" eq "$(vm_state a vm-lvh)" running
ok "...and nothing of it is on host-b" absent_on b vm-lvh
migrate vm-lvh '{"remote_host":"host-b"}'
wait_task "$ID"
ok "with host-b's libvirtd answering again, the same migration works" eq "$(jq_get .status)" finished
lab guest a vm-term 128 fill persistent
migrate vm-term '{"remote_host":"host-b","bandwidth":3}'
term_id=$ID
ok "the migration is moving data" wait_moving "$term_id"
sigterms=$(grep -c "signal 15: shutting down" "$KLOG" || true) # earlier runs log there too
kill -TERM "$KPID"
terminating() { [ "$(grep -c "signal 15: shutting down" "$KLOG")" -gt "$sigterms" ]; }
ok "kimchid took the SIGTERM" eventually 5 terminating
req GET /vms
ok "after SIGTERM, with a migration running, reads still work" eq "$STATUS" 200
req POST /vms/vm-off/clone
ok "...and new tasks get 503 saying kimchid is shutting down" eq "$STATUS $(jq_get .reason)" \
  "503 KCHTASK0004E: kimchid is shutting down; try again later."
req GET "/tasks/$term_id"
ok "...while the migration goes on" eq "$(jq_get .status)" running
KEXIT=0; wait "$KPID" || KEXIT=$?
ok "kimchid exits, cleanly, once the migration has ended" eq "$KEXIT" 0
ok "...and the migration finished: the guest runs on host-b" eq "$(vm_state b vm-term)" running
ok "...which its record says" eq "$(sqlite3 "$STATE/tasks.db" "SELECT status FROM tasks WHERE id=$term_id")" finished

# SIGTERM with a short --shutdown-timeout: the running migration is cancelled, the guest stays
KIMCHID_ARGS="--shutdown-timeout 2"
start_lab_kimchid
lab guest a vm-term2 128 fill persistent
migrate vm-term2 '{"remote_host":"host-b","bandwidth":1}'
term_id=$ID
ok "the migration is moving data" wait_moving "$term_id"
start=$(date +%s)
kill -TERM "$KPID"
KEXIT=0; wait "$KPID" || KEXIT=$?
took=$(( $(date +%s) - start ))
ok "with --shutdown-timeout 2, kimchid exits within 20 s (took ${took} s) and cleanly" eq "$KEXIT $([ "$took" -le 20 ] && echo fast)" "0 fast"
ok "...the migration was cancelled: its record says so" has \
  "$(sqlite3 "$STATE/tasks.db" "SELECT status || ' ' || message FROM tasks WHERE id=$term_id")" \
  "failed KCHMIGR0016E: Migration of \"vm-term2\" to \"host-b\" was cancelled by kimchid (shutting down)"
ok "...and the guest runs on host-a" eq "$(vm_state a vm-term2)" running
ok "...not on host-b" eventually 30 absent_on b vm-term2
done_testing
