#!/usr/bin/env bash
# t1013 - a move's time budget: completion_timeout seconds per GiB of guest memory (and copied
# disks). A booted guest rewriting 32 MiB of its memory, moved behind a 4 MiB/s cap with
# auto-converge off, cannot finish in a 40 s/GiB budget (5 s for its 128 MiB): with
# completion_action "abort" (the default) kimchid stops the move at its budget and the guest
# carries on on host-a; with "postcopy" kimchid switches to post-copy at its budget and the
# move finishes on host-b. Both are still in their first pass over memory when the budget
# runs out, so neither the converge rule (from the second pass) nor the stall rule (data
# moves) can be what acted; each message says it was the budget.
. "$(dirname "$0")/lib-lab.sh"
start_lab_kimchid
postcopy_allowed # QEMU as libvirt-qemu needs vm.unprivileged_userfaultfd=1 for post-copy
SEEN=$(mktemp)
at_exit "rm -f $SEEN"

body() { # body EXTRA-JSON : the move's request
  jq -c -n --arg p "$ADMIN_PW" --argjson x "$1" \
    '{remote_host:"host-b",user:"labadmin",password:$p,bandwidth:4,auto_converge:false,completion_timeout:40} + $x'
}

lab booted a vm-bud1 "" 32 20
lab booted a vm-bud2 "" 32 20
ok "vm-bud1 booted and writes memory" wait_hb a vm-bud1 2 90
ok "vm-bud2 booted and writes memory" wait_hb a vm-bud2 2 90

# 1. completion_action abort (the default): stopped at the budget, the guest stays
t0=$(date +%s)
migrate vm-bud1 "$(body '{}')"
watch_task "$ID" 90
took=$(( $(date +%s) - t0 ))
ok "past its budget, the move fails (took ${took} s)" eq "$(jq_get .status)" failed
ok "...as past its time budget, naming it and the rate" has "$(jq_get .message)" \
  'KCHMIGR0055E: Migration of "vm-bud1" to "host-b" failed while migrating: The migration ran past its time budget of 5 s (completion_timeout: 40 s per GiB of guest memory and copied disks), so kimchid stopped it.'
ok "...saying what to do, and where the guest is" has "$(jq_get .message)" \
  'Raise completion_timeout, let it switch to post-copy instead ("postcopy": true and "completion_action": "postcopy"), raise the bandwidth, or migrate when the guest is less busy. The guest runs on this host.'
ok "...stopped soon after its 5 s (${took} s from the request)" test "$took" -lt 30
ok "...still in its first pass when stopped (no converge rule yet)" \
  eq "$(seen 'length > 0 and (map(.iteration // 0) | max <= 1)')" true
on_a_only() { [ "$(vm_state a vm-bud1)" == running ] && absent_on b vm-bud1; }
ok "vm-bud1 still runs on host-a, nothing of it on host-b" on_a_only
ok "...and carries on with its memory intact" wait_hb a vm-bud1 2 30
ok "...every check ok" eq "$(hb_lines a vm-bud1 | grep -vc ' mem=ok ' || true)" 0
grep -q 'migration of "vm-bud1" ran past its time budget of 5 s: stopped' "$KLOG"
ok "kimchid's log says the budget stopped it" eq $? 0

# 2. completion_action postcopy: switched at the budget, the move finishes
migrate vm-bud2 "$(body '{"postcopy":true,"completion_action":"postcopy"}')"
watch_task "$ID" 120
ok "completion_action postcopy: the move finishes" eq "$(jq_get .status)" finished
ok "...saying it switched to post-copy at its budget" has "$(jq_get .message)" \
  'switched to post-copy when it ran past its time budget of 5 s'
ok "...its progress showed post-copy ($(seen '[.[].phase] | unique | join(" ")'))" \
  eq "$(seen 'any(.phase == "postcopy")')" true
cp "$SEEN" "$ARTIFACTS/t1013-vm-bud2-progress.jsonl" 2>/dev/null || true
grep -q 'migration of "vm-bud2": past its time budget, switched to post-copy' "$KLOG"
ok "kimchid's log says the budget switched it (not the converge rule)" eq $? 0
ok "...and vm-bud2 carried on on host-b with every page intact" survived vm-bud2
lab exec b $VIRSH destroy vm-bud2 >/dev/null

stop_kimchid
ok "kimchid exits cleanly" eq "$KEXIT" 0
done_testing
