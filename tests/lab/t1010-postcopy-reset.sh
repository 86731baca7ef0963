#!/usr/bin/env bash
# t1010 - a post-copy move whose migration connection is reset, the link up. A booted guest
# rewriting 64 MiB at 50 MiB/s, capped at 8 MiB/s, is switched to post-copy at its time budget
# (5 s, in its first pass), and the link then slows to 4 Mbit/s so that post-copy lasts while
# the fault lands. The guest's memory is then split: host-b runs on the pages it has, host-a's
# paused QEMU holds the rest. kimchid reads both QEMUs' own migration status (query-migrate) and
# acts on that alone; it never stops a half. In this lab (TCG, no KVM) host-b's vCPU waits for a
# page while holding QEMU's big lock, so host-b's QEMU answers nothing and no recovery can
# complete (docs/API.md): kimchid's calls end within their bound, the task ends failed within
# its budget saying the guest is split, what each QEMU said, that host-b's does not answer and
# why, and that neither half was stopped; both halves are still there. The task offers the
# recovery again (POST /tasks/:id/recover), which answers with the same truth. Then the
# switch-over window: host-b's QEMU killed as host-a's half pauses for post-copy; the task says
# from libvirt's events whether host-b had run the guest, and resumes host-a's half only if it
# had not.
. "$(dirname "$0")/lib-lab.sh"
postcopy_allowed
BUDGET=30
V=$VIRSH

# pages that stopped for 10 s are paused, so that both QEMUs can reach postcopy-paused
KIMCHID_ARGS="--postcopy-recover-timeout $BUDGET --postcopy-recover-interval 2 --postcopy-pause-after 10"
start_lab_kimchid
ok "vm-pc2 switches to post-copy, and host-b runs it" to_postcopy vm-pc2 switched
lab exec a ss -K -tn state established '( dport >= :49152 and dport <= :49215 )' >/dev/null
reset_at=$SECONDS
ok "with the connection reset, the task ends within its budget ($BUDGET s) and the settling" \
  task_end "$ID" $((BUDGET + 60))
took=$((SECONDS - reset_at))
ok "...failed, after ${took} s" eq "$(jq_get .status)" failed
m=$(jq_get .message)
split_said() { # split_said MESSAGE : the whole truth of a split, as a task says it
  has "$1" "the halves are still apart: this host (QEMU: postcopy-" &&
    has "$1" "\"host-b\" (QEMU does not answer:" &&
    has "$1" "under TCG (no KVM) a vCPU waiting there for a page still on the other host holds QEMU's lock" &&
    has "$1" "kimchid stopped neither half."
}
ok "...saying the guest is split, what each QEMU said, that host-b's does not answer and why, and that kimchid stopped neither half" \
  split_said "$m"
ok "...and offers the recovery again" eq "$(jq_get .recoverable)" true
halves() { [ "$(vm_state a vm-pc2)" == paused ] && [ "$(vm_state b vm-pc2)" == running ]; }
ok "both halves are still there: host-a's paused, host-b's running on the pages it has" halves
req GET /vms
ok "kimchid still answers" eq "$STATUS" 200

first=$ID
req POST "/tasks/$first/recover"
ok "recover: 202 with a new task" eq "$STATUS" 202
ID=$(jq_get .id)
req POST "/tasks/$first/recover"
ok "...a second one meanwhile: 409" eq "$STATUS $(jq_get .reason)" \
  "409 KCHMIGR0049E: A recovery of \"vm-pc2\" is already running; wait for its task to end."
ok "...the recovery ends within its budget" task_end "$ID" $((BUDGET + 30))
ok "...failed, with the same truth" split_said "$(jq_get .message)"
req GET "/tasks/$first"
ok "...and the move's task still offers it" eq "$(jq_get .recoverable)" true
ok "both halves are still there" halves
lab exec b $V destroy vm-pc2 >/dev/null 2>&1
lab exec a $V destroy vm-pc2 >/dev/null 2>&1
net_restore

# The switch-over window: host-b's QEMU killed as soon as host-a's half is paused in post-copy.
# Whether host-b had run the guest decides whether host-a's half is the whole guest; kimchid
# learns it from libvirt's events for the incoming copy there, and says which.
ok "vm-pc3 switches to post-copy" to_postcopy vm-pc3
# (the lab's hosts share one process space: host-b's QEMU is found by its own pid file there)
qpid=$(lab exec b cat /run/libvirt/qemu/vm-pc3.pid 2>/dev/null)
[ -n "$qpid" ] && kill -9 "$qpid" || fail_note "no QEMU of vm-pc3 on host-b to kill"
ok "with host-b's QEMU killed, the task ends" task_end "$ID" $((BUDGET + 60))
ok "...failed" eq "$(jq_get .status)" failed
m=$(jq_get .message)
window() { # libvirt itself, or kimchid from libvirt's events, and the guest where that says
  if has "$m" "The guest runs on this host." 2>/dev/null ||
    has "$m" "had never run the guest (libvirt on \"host-b\" reported its incoming copy stopped without ever resuming it), so this host's half held the whole guest: kimchid resumed it here" 2>/dev/null; then
    wait_hb a vm-pc3 2 30 # ...and it carries on here
  elif has "$m" "had never run the guest (libvirt on \"host-b\" reported its incoming copy stopped without ever resuming it), so this host's paused half holds the whole guest, but libvirt refused to resume it" 2>/dev/null; then
    [ "$(vm_state a vm-pc3)" == paused ] # libvirt 9.0 keeps the failed move's job on it
  else
    has "$m" "The destination had run the guest (libvirt there reported its copy resumed), so this host's half is not the whole guest, so kimchid stopped neither half" &&
      [ "$(vm_state a vm-pc3)" == paused ]
  fi
}
ok "...saying from libvirt's events whether host-b had run it, and acting only on that" window
lab exec a $V destroy vm-pc3 >/dev/null 2>&1
net_restore

stop_kimchid
ok "kimchid exits cleanly" eq "$KEXIT" 0
done_testing
