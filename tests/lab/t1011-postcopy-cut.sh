#!/usr/bin/env bash
# t1011 - a post-copy move whose link is cut for 20 s once host-b runs the guest (a cut in the
# switch-over itself is t1010's window case), then comes back (the guest and the slow
# link as in t1010; the cable pulled beyond host-b's NIC, net_unplug). QEMU's own connection
# survives and completes the move, but the ssh session under libvirt's connection between
# the two libvirtds was ended by its keepalive (9 s in the lab), so libvirt calls the move
# failed. kimchid must find the move completed from
# QEMU's status, not start a recovery that would race it (libvirt drops QEMU's "completed"
# while a recovery owns the job): the task says finished and how long post-copy was
# interrupted, and the guest carries on on host-b. soak-postcopy.sh runs this N times.
. "$(dirname "$0")/lib-lab.sh"
postcopy_allowed
BUDGET=180
V=$VIRSH

# Under TCG a pause cannot be followed by a recovery (t1010), so here pages that stopped are
# waited for longer than TCP's retransmission backoff after the cut can take (kimchid's
# default, 60 s, is for KVM hosts, where pausing and resuming over a new connection works)
KIMCHID_ARGS="--postcopy-recover-timeout $BUDGET --postcopy-recover-interval 2 --postcopy-pause-after 150"
start_lab_kimchid
LOG_FROM=$(wc -l <"$KLOG")
ok "vm-pc1 switches to post-copy, and host-b runs it" to_postcopy vm-pc1 switched
net_unplug
cut_at=$SECONDS
sleep 5
req GET "/tasks/$ID"
ok "with the link cut, the move waits in post-copy" eq "$(jq_get .progress.phase)" postcopy
ok "...host-a's half paused, holding the pages" eq "$(vm_state a vm-pc1)" paused
sleep $((cut_at + 20 - SECONDS > 0 ? cut_at + 20 - SECONDS : 0))
net_restore
restored_at=$SECONDS
ok "the link back, the move ends" task_end "$ID" 200
ok "...finished ($((SECONDS - restored_at)) s after the link came back)" eq "$(jq_get .status)" finished
resumed() { has "$1" "post-copy was interrupted for" && has "$1" "QEMU's own connection resumed"; }
ok "...saying how long post-copy was interrupted and that QEMU's own connection resumed" \
  resumed "$(jq_get .message)"
SINCE=$(mktemp)
tail -n +"$LOG_FROM" "$KLOG" >"$SINCE"
ok "...no recovery was started while QEMU's stream was alive" \
  no_match "$SINCE" "post-copy recovery of \"vm-pc1\", attempt"
rm -f "$SINCE"
ok "vm-pc1 carried on on host-b with every page intact" survived vm-pc1
only_b() { [ "$(vm_state b vm-pc1)" == running ] && [ "$(vm_state a vm-pc1)" != running ] &&
  [ "$(vm_state a vm-pc1)" != paused ]; }
ok "...and runs there only" only_b
lab exec b $V destroy vm-pc1 >/dev/null 2>&1
lab exec b $V undefine vm-pc1 >/dev/null 2>&1
net_restore

stop_kimchid
ok "kimchid exits cleanly" eq "$KEXIT" 0
done_testing
