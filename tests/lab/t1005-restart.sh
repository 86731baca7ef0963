#!/usr/bin/env bash
# t1005 - restart is not amnesia: kimchid killed (-9) while libvirt moves a guest. libvirt goes
# on without it; the next kimchid takes the task up again from its record (which names the
# guest, the destination and the disk copies begun there) and ends it on the truth:
#  - the move still runs at the restart: the task follows libvirt's job (progress moves on),
#    the guest stays claimed (409 to changes), and the task finishes when the guest is on host-b;
#  - the move completed while kimchid was down (delete_source): finished, the source's
#    definition and stale disk copy are gone;
#  - the move was stopped while kimchid was down: failed, saying the guest is on host-a, and the
#    disk copy begun on host-b is removed.
# Each of those guests is a booted one, so "it carried on" is read from its console.
# Then host-a's libvirtd is restarted mid-move (kimchid stays): exactly one copy runs, the task
# says where and names the cause; an old definition left on host-a cannot be started.
. "$(dirname "$0")/lib-lab.sh"
start_lab_kimchid
V=$VIRSH
IMAGES=/var/lib/libvirt/images

kill_kimchid() { kill -9 "$KPID"; wait "$KPID" 2>/dev/null; return 0; }
job_on_a() { lab exec a $V domjobinfo "$1" 2>/dev/null | grep -q Unbounded; }
no_job_on_a() { ! job_on_a "$1"; }
# moving_guest NAME BANDWIDTH BODY-EXTRA : a booted guest with a local disk (8 MiB of data to
# copy), being migrated with that bandwidth; sets ID once data moves. The first move sets up
# root's key login to host-b with labadmin's password; the others use it.
CRED=$(jq -n --arg p "$ADMIN_PW" '{user:"labadmin",password:$p}')
moving_guest() {
  booted_guest "$1" default 8
  ok "$1 has booted" wait_hb a "$1" 1 90
  local extra=${3:-"{}"}
  migrate "$1" "$(jq -n --argjson c "$CRED" --argjson bw "$2" --argjson x "$extra" \
    '{remote_host:"host-b",bandwidth:$bw} + $c + $x')"
  CRED='{}'
  ok "$1: the migration is moving data" wait_moving "$ID"
}

# 1. the move still runs when kimchid comes back
moving_guest vm-rs1 6
id=$ID
kill_kimchid
ok "vm-rs1: kimchid was killed; libvirt's job goes on without it" job_on_a vm-rs1
start_lab_kimchid
req GET "/tasks/$id"
ok "after the restart the same task is running again" eq "$(jq_get .status)" running
before=$(jq_get '.progress.data_processed // 0')
req POST /vms/vm-rs1/suspend
ok "...a change to the guest meanwhile: 409" eq "$STATUS" 409
migrate vm-rs1 '{"remote_host":"host-b"}'
ok "...a new migration of it: 409, no task" eq "$STATUS $ID" "409 "
moved_on() { req GET "/tasks/$id"; [ "$(jq_get '.progress.data_processed // 0')" -gt "$before" ]; }
ok "...its progress follows libvirt's job" eventually 30 moved_on
ok "...saying kimchid follows the move" has "$(jq_get .message)" \
  'kimchid restarted while "vm-rs1" moved to "host-b"; following the move'
task_end "$id" 90
ok "vm-rs1: the task finished" eq "$(jq_get .status)" finished
ok "...saying the move completed while kimchid restarted" has "$(jq_get .message)" \
  'kimchid restarted while the move ran and found it completed'
ok "...with the job's figures" has "$(jq_get .message)" 'OK: "vm-rs1" migrated to "host-b" in '
ok "vm-rs1 runs on host-b only" eq "$(vm_state a vm-rs1) $(vm_state b vm-rs1)" "shut off running"
ok "...and carried on (console)" survived vm-rs1
req POST /vms/vm-rs1/start
ok "...its old definition on host-a is marked: start answers 409" eq "$STATUS" 409
ok "...naming where it runs" has "$(jq_get .reason)" 'KCHMIGR0014E'

# 2. the move completes while kimchid is down (delete_source)
moving_guest vm-rs2 10 '{"delete_source":true}'
id=$ID
kill_kimchid
ok "vm-rs2: kimchid was killed mid-move" job_on_a vm-rs2
ok "...and libvirt completed the move without it" eventually 90 no_job_on_a vm-rs2
ok "...the guest runs on host-b" eq "$(vm_state b vm-rs2)" running
start_lab_kimchid
task_end "$id" 60
ok "vm-rs2: after the restart the task finished" eq "$(jq_get .status)" finished
ok "...saying the move completed while kimchid was away" has "$(jq_get .message)" \
  'kimchid restarted while the move ran and found it completed'
ok "...and that it removed host-a's stale disk copy" has "$(jq_get .message)" \
  "removed this host's stale disk copies \"$IMAGES/vm-rs2.qcow2\""
ok "...which is gone from host-a" lab exec a test ! -e "$IMAGES/vm-rs2.qcow2"
ok "...as is the source definition" absent_on a vm-rs2
ok "...while the guest carried on on host-b" survived vm-rs2

# 3. the move is stopped while kimchid is down
moving_guest vm-rs3 1
id=$ID
kill_kimchid
ok "vm-rs3: kimchid was killed mid-move" job_on_a vm-rs3
lab exec a $V domjobabort vm-rs3 >/dev/null 2>&1
ok "...and the move was stopped with virsh meanwhile" eventually 30 no_job_on_a vm-rs3
start_lab_kimchid
task_end "$id" 60
ok "vm-rs3: after the restart the task failed" eq "$(jq_get .status)" failed
ok "...saying the move did not complete and where the guest is" has "$(jq_get .message)" \
  'KCHMIGR0020E: Migration of "vm-rs3" to "host-b" failed while following the move after kimchid restarted: kimchid stopped while the move ran, and the move did not complete: the guest is on this host.'
ok "...no stale progress figures" eq "$(jq_get .progress)" null
ok "vm-rs3 runs on host-a" eq "$(vm_state a vm-rs3)" running
ok "...and carries on there" wait_hb a vm-rs3 2 30
ok "...nothing of it is defined on host-b" absent_on b vm-rs3
ok "...and the disk copy begun on host-b was removed" lab exec b test ! -e "$IMAGES/vm-rs3.qcow2"
req POST /vms/vm-rs3/suspend
ok "...and the guest is free again: suspend works" eq "$STATUS" 200
req POST /vms/vm-rs3/resume

# 4. this host's libvirtd restarted mid-move: libvirt's answer is an error whatever became of the
# move; the task learns from both hosts where the guest is, and an old definition left here
# cannot be started while the guest runs on host-b
# moving_libvirtd_down NAME : NAME moves to host-b (4 MiB/s) when host-a's libvirtd is stopped
moving_libvirtd_down() {
  lab guest a "$1" 128 fill persistent
  migrate "$1" '{"remote_host":"host-b","bandwidth":4}'
  id=$ID
  ok "$1: the migration is moving data" wait_moving "$id"
  A_LIBVIRTD=$(cat "$LAB/a/libvirtd.pid")
  lab service a libvirtd stop
}
moving_libvirtd_down vm-rs4
gone() { [ ! -d "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status"; }
ok "...host-a's libvirtd was stopped (it may finish the move first)" eventually 90 gone "$A_LIBVIRTD"
lab service a libvirtd start
task_end "$id" 90
st=$(jq_get .status); copies=$(running_copies vm-rs4)
ok "vm-rs4: after host-a's libvirtd restarted, the task ended ($st: $(jq_get .message | cut -c1-300))" test "$st" != running
ok "...naming the cause: this host's libvirt stopped answering" has "$(jq_get .message)" \
  "this host's libvirt stopped answering during the move (libvirt: "
ok "...exactly one host runs the guest (host-a, host-b: $copies)" bash -c "[ '$copies' == '1 0' ] || [ '$copies' == '0 1' ]"
if [ "$copies" == "0 1" ]; then
  ok "...it runs on host-b and the task says finished" eq "$st" finished
  req POST /vms/vm-rs4/start
  ok "...and host-a's old definition cannot be started (409)" eq "$STATUS" 409
else
  ok "...it runs on host-a and the task says failed" eq "$st" failed
  ok "...saying so" has "$(jq_get .message)" "The guest runs on this host."
fi
req GET /vms
ok "kimchid answers after host-a's libvirtd came back" eq "$STATUS" 200

# 5. the same, with host-a's libvirtd away for 3 settle timeouts: kimchid cannot learn where
# the guest is, so it does not guess: the task stays running and says it keeps asking, until
# it knows
AWAY=$((3 * SETTLE_S))
moving_libvirtd_down vm-rs5
down_at=$SECONDS
settling() { req GET "/tasks/$id"; has "$(jq_get .message)" "$1" 2>/dev/null; }
ok "...with host-a's libvirt away, the task says it is settling and keeps asking" eventually $AWAY \
  settling 'settling: the move of "vm-rs5" failed, and this host'"'"'s libvirt does not answer, so kimchid cannot tell whether a copy of the guest runs here too; kimchid keeps asking both hosts every '"$SETTLE_EVERY_S"' s until it knows'
sleep $((down_at + AWAY - SECONDS > 0 ? down_at + AWAY - SECONDS : 0))
req GET "/tasks/$id"
ok "...$AWAY s later still running, not ended on a guess" eq "$(jq_get .status)" running
ok "...and counting the time it has waited" has "$(jq_get .message)" " s so far)"
lab service a libvirtd start
task_end "$id" 90
st=$(jq_get .status); copies=$(running_copies vm-rs5)
ok "vm-rs5: once host-a's libvirtd is back, the task ends ($st: $(jq_get .message | cut -c1-300))" test "$st" != running
ok "...exactly one host runs the guest (host-a, host-b: $copies)" bash -c "[ '$copies' == '1 0' ] || [ '$copies' == '0 1' ]"
if [ "$copies" == "0 1" ]; then
  ok "...it runs on host-b and the task says finished" eq "$st" finished
else
  ok "...it runs on host-a and the task says failed, saying so" has "$st $(jq_get .message)" "The guest runs on this host."
fi

for g in vm-rs1 vm-rs2 vm-rs4 vm-rs5; do lab exec b $V destroy "$g" >/dev/null 2>&1; lab exec b $V undefine "$g" >/dev/null 2>&1; done
lab exec a $V destroy vm-rs3 >/dev/null 2>&1
lab exec a $V destroy vm-rs5 >/dev/null 2>&1
stop_kimchid
ok "kimchid exits cleanly" eq "$KEXIT" 0
done_testing
