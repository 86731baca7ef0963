#!/usr/bin/env bash
# t1006 - busy guests finish: a booted guest rewriting 64 MiB of memory at 50 MiB/s, moved
# behind a 20 MiB/s cap. Without auto-converge or post-copy the move never converges: its
# progress says so (no time left is made up), and the converge rule stops it with the guest
# intact on host-a. With kimchid's default policy (auto-converge) the same move finishes;
# with post-copy allowed it switches over and finishes (once the destination lets QEMU use
# userfaultfd; until then the move says so at once). Each move is proven from the
# guest's console (same boot, counter carrying on, memory check ok).
. "$(dirname "$0")/lib-lab.sh"
KIMCHID_ARGS="--converge-timeout 15"
start_lab_kimchid
V=$VIRSH
CAP=20
SEEN=$(mktemp)


lab booted a vm-hot1 "" 64 50
lab booted a vm-hot2 "" 64 50
ok "vm-hot1 booted and writes memory" wait_hb a vm-hot1 2 90
ok "vm-hot2 booted and writes memory" wait_hb a vm-hot2 2 90

# 1. pre-copy alone: does not converge, and the converge rule ends it
t0=$(date +%s)
migrate vm-hot1 "$(jq -n --arg p "$ADMIN_PW" --argjson c $CAP \
  '{remote_host:"host-b",user:"labadmin",password:$p,bandwidth:$c,auto_converge:false}')"
watch_task "$ID" 120
took=$(( $(date +%s) - t0 ))
ok "auto_converge false, no post-copy: the move fails (took ${took} s)" eq "$(jq_get .status)" failed
ok "...as not converging, in words" has "$(jq_get .message)" \
  'KCHMIGR0039E: Migration of "vm-hot1" to "host-b" failed while migrating: The migration did not converge: for 15 s the guest wrote memory ('
ok "...saying what to do" has "$(jq_get .message)" 'Allow auto_converge (the default) or postcopy, raise the bandwidth, or migrate when the guest is less busy. The guest runs on this host.'
ok "...ended by the converge rule, not the stall rule (data kept moving)" test "$took" -lt 60
ok "...its progress said it was not converging, with no time left made up" \
  eq "$(seen '[.[] | select(.converging == false) | .remaining_ms] | (length > 0) and all(. == null)')" true
ok "...and showed the passes and the guest's dirty rate" \
  eq "$(seen '(map(.iteration // 0) | max) >= 2 and (map(.dirty_bps // 0) | max) > 0')" true
ok "...auto-converge never slowed the guest" eq "$(seen 'map(.throttle_percent // 0) | max')" 0
on_a_only() { [ "$(vm_state a vm-hot1)" == running ] && absent_on b vm-hot1; }
ok "vm-hot1 still runs on host-a, nothing of it on host-b" on_a_only
ok "...and carries on with its memory intact" wait_hb a vm-hot1 2 30
ok "...every check ok" eq "$(hb_lines a vm-hot1 | grep -vc ' mem=ok ' || true)" 0

# 2. kimchid's default policy: auto-converge slows the guest until the move finishes
migrate vm-hot1 "{\"remote_host\":\"host-b\",\"bandwidth\":$CAP}"
watch_task "$ID" 180
ok "the default policy (auto-converge): the same move finishes" eq "$(jq_get .status)" finished
ok "...auto-converge slowed the guest ($(seen 'map(.throttle_percent // 0) | max') %)" \
  test "$(seen 'map(.throttle_percent // 0) | max')" -gt 0
DOWN=$(jq_get .message | sed -n 's/.*downtime \([0-9]*\) ms.*/\1/p')
ok "...with a downtime under 300 ms (${DOWN} ms)" test "${DOWN:-9999}" -lt 300
ok "...and vm-hot1 carried on on host-b with every page intact" survived vm-hot1
lab exec b $V destroy vm-hot1 >/dev/null # its writing would slow the next case

# 3. post-copy needs userfaultfd on the destination. QEMU runs as libvirt-qemu, and while
# vm.unprivileged_userfaultfd is 0 (Debian's default) only root may use it: the move fails
# at once, saying so and what to run, and the guest stays here. The sysctl is the machine's
# (one kernel under both hosts); it is put back as found.
UFFD=/proc/sys/vm/unprivileged_userfaultfd
UFFD_WAS=$(cat $UFFD)
at_exit 'echo "$UFFD_WAS" >$UFFD'
echo 0 >$UFFD
migrate vm-hot2 "{\"remote_host\":\"host-b\",\"bandwidth\":$CAP,\"auto_converge\":false,\"postcopy\":true}"
watch_task "$ID" 60
ok "postcopy with vm.unprivileged_userfaultfd=0: the move fails before it starts" eq "$(jq_get .status)" failed
ok "...saying post-copy is not available there and why" has "$(jq_get .message)" \
  'KCHMIGR0047E: Migration of "vm-hot2" to "host-b" failed while checking that post-copy can work on the remote host: post-copy is not available on "host-b": its QEMU (older than 8.1, not run as root) cannot use userfaultfd while vm.unprivileged_userfaultfd is 0 there.'
ok "...and what to run there" has "$(jq_get .message)" \
  'On "host-b" run "sysctl -w vm.unprivileged_userfaultfd=1" (and put it in /etc/sysctl.d/ to keep it), or move the guest without postcopy.'
on_a_only2() { [ "$(vm_state a vm-hot2)" == running ] && absent_on b vm-hot2; }
ok "...vm-hot2 still runs on host-a, nothing of it on host-b" on_a_only2
echo 1 >$UFFD

# 4. post-copy allowed: pre-copy stalls, kimchid switches, the move finishes
migrate vm-hot2 "{\"remote_host\":\"host-b\",\"bandwidth\":$CAP,\"auto_converge\":false,\"postcopy\":true}"
watch_task "$ID" 120
ok "postcopy allowed (auto-converge off): the move finishes" eq "$(jq_get .status)" finished
ok "...after switching to post-copy ($(seen '[.[].phase] | unique | join(" ")'))" \
  eq "$(seen 'any(.phase == "postcopy")')" true
ok "...and vm-hot2 carried on on host-b with every page intact" survived vm-hot2
lab exec b $V destroy vm-hot2 >/dev/null

rm -f "$SEEN"
stop_kimchid
ok "kimchid exits cleanly" eq "$KEXIT" 0
done_testing
