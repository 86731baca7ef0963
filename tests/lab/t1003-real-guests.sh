#!/usr/bin/env bash
# t1003 - booted guests with disks move and carry on: a disk on shared storage (GlusterFS)
# stays put, a local disk is copied to a volume kimchid pre-creates on host-b, a guest that
# writes memory survives, a shut-off guest's local disk is copied through the storage API,
# delete_source removes the source's stale copy, and a destination dying during the disk
# copy leaves the guest on host-a and nothing on host-b. Each move is proven from the
# guest's console: same boot id, the counter carrying on, memory and disk checks ok.
. "$(dirname "$0")/lib-lab.sh"
start_lab_kimchid
V=$VIRSH
IMAGES=/var/lib/libvirt/images

# follow TASK-ID SECONDS : polls the task until it ends; PHASES holds the phases seen
follow() {
  PHASES=""
  local p
  for _ in $(seq 1 $(($2 * 5))); do
    req GET "/tasks/$1"
    p=$(jq_get '.progress.phase // empty')
    [ -n "$p" ] && [[ " $PHASES " != *" $p "* ]] && PHASES="$PHASES $p"
    [ "$(jq_get .status)" != running ] && return 0
    sleep 0.2
  done
  fail_note "task $1 still running after $2 s"
}

for g in vm-shared vm-local vm-busy; do
  ok "$g has booted on host-a and prints its heartbeat" wait_hb a "$g" 1 90
done
# Kimchi's stats from libvirt's bulk stats: a booted guest writing memory uses CPU and memory
busy_stats() { req GET /vms/vm-busy; STATS=$(jq -c .stats <<<"$BODY"); jq -e '.stats.cpu_utilization > 0 and .stats.mem_utilization > 0' <<<"$BODY" >/dev/null; }
ok "vm-busy's stats show it busy: cpu_utilization and mem_utilization above 0" eventually 10 busy_stats
ok "...percentages within 0-100, throughputs and peaks numbers ($STATS)" jq -e \
  '(.cpu_utilization <= 100) and (.mem_utilization <= 100) and (.net_throughput >= 0) and (.io_throughput >= 0) and (.net_throughput_peak >= 100) and (.io_throughput_peak >= 100)' <<<"$STATS"
req GET /vms/vm-local/storages
ok "vm-local's storages from its XML: its disk on host-a's images, in Kimchi's shape" \
  eq "$(jq -c '[.[] | select(.type == "disk") | {dev, path, bus}]' <<<"$BODY")" \
  "[{\"dev\":\"vda\",\"path\":\"$IMAGES/vm-local.qcow2\",\"bus\":\"virtio\"}]"
ok "the lab's pools: default and shared on every host" eq \
  "$(lab info | jq -c '[.pools[] | "\(.host):\(.name):\(.path)"] | sort')" \
  '["host-a:default:/var/lib/libvirt/images","host-a:shared:/var/lib/libvirt/shared","host-b:default:/var/lib/libvirt/images","host-b:shared:/var/lib/libvirt/shared","host-c:default:/var/lib/libvirt/images","host-c:shared:/var/lib/libvirt/shared"]'

# 1. a disk on shared storage stays put
migrate vm-shared "$(jq -n --arg p "$ADMIN_PW" '{remote_host:"host-b",user:"labadmin",password:$p}')"
follow "$ID" 120
ok "vm-shared (disk on GlusterFS): the task finished" eq "$(jq_get .status)" finished
ok "...its message copies no disk" bash -c "[[ '$(jq_get .message)' != *'copied disk'* ]]"
ok "...it runs on host-b" eq "$(vm_state b vm-shared)" running
ok "...on the same file, which host-a still sees" bash -c \
  "lab() { '$LABCMD' \"\$@\"; }; [ \"\$(lab exec b $V domblklist vm-shared --details | awk '\$3==\"vda\"{print \$4}')\" == /var/lib/libvirt/shared/vm-shared.qcow2 ] && lab exec a test -s /var/lib/libvirt/shared/vm-shared.qcow2"
ok "...and it carried on: same boot, counter continues, memory and disk ok" survived vm-shared
ok "...with no lock-manager warning: lockd runs on both hosts" bash -c "[[ '$(jq_get .message)' != *warning* ]]"
lab booted a vm-shared-dup /var/lib/libvirt/shared/vm-shared.qcow2 16 0 off
dup_err=$(lab exec a $V start vm-shared-dup 2>&1 || true)
# QEMU's own image lock (which GlusterFS enforces across hosts) refuses it at start; the
# lockd lease would refuse it at resume, as after a failed switch-over
ok "a second guest on host-a cannot start on the disk host-b's copy runs on" has "$dup_err" 'lock'
ok "...and host-b's virtlockd holds that disk's lease" bash -c \
  "ls -l /proc/\$(cat '$LAB/b/virtlockd.pid')/fd | grep -q /var/lib/libvirt/shared/vm-shared.qcow2"
ok "...so only host-b runs it" eq "$(vm_state a vm-shared-dup) $(vm_state b vm-shared)" "shut off running"
lab exec a $V undefine vm-shared-dup >/dev/null

# 1b. shared disks, but host-b's qemu.conf has no lock manager: the move warns
lab exec a $V vol-create-as shared vm-shared2.qcow2 64M --format qcow2 >/dev/null
lab booted a vm-shared2 /var/lib/libvirt/shared/vm-shared2.qcow2
lab exec b sed -i 's/^lock_manager = "lockd"/# lock_manager = "lockd"/' /etc/libvirt/qemu.conf
migrate vm-shared2 '{"remote_host":"host-b","delete_source":true}'
follow "$ID" 120
ok "vm-shared2 moves, and the task warns that host-b has no lock manager" has "$(jq_get .message)" \
  "; warning: the guest's disks are on shared storage but libvirt's lock manager is off on host-b, so nothing stops a second copy"
ok "...with delete_source its shared disk is not removed: the moved guest runs on it" bash -c \
  "[[ '$(jq_get .message)' != *'removed this host'* ]] && '$LABCMD' exec a test -s /var/lib/libvirt/shared/vm-shared2.qcow2 && [ \"\$('$LABCMD' exec b $V domstate vm-shared2)\" == running ]"
lab exec b sed -i 's/^# lock_manager = "lockd"/lock_manager = "lockd"/' /etc/libvirt/qemu.conf

# 2. a local disk is copied; with delete_source the source's copy goes
a_file=$LAB/a/lib-libvirt/images/vm-local.qcow2
b_file=$LAB/b/lib-libvirt/images/vm-local.qcow2
ok "before: vm-local's disk is only on host-a" bash -c "[ -s '$a_file' ] && [ ! -e '$b_file' ]"
migrate vm-local '{"remote_host":"host-b","delete_source":true,"bandwidth":8}'
follow "$ID" 180
ok "vm-local (local disk, delete_source): the task finished" eq "$(jq_get .status)" finished
ok "...its progress went through the disk copy, then memory (${PHASES# })" has "$PHASES" "disks memory"
ok "...its message names the copied disk and the removed file" has "$(jq_get .message)" \
  "; copied disk vda; source definition removed; removed this host's stale disk copies \"$IMAGES/vm-local.qcow2\""
ok "...the final progress counts the disk bytes" test "$(jq_get '.progress.disk_total // 0')" -gt 0
ok "...it runs on host-b, from host-b's own copy" bash -c \
  "[ \"\$('$LABCMD' exec b $V domblklist vm-local --details | awk '\$3==\"vda\"{print \$4}')\" == $IMAGES/vm-local.qcow2 ] && [ -s '$b_file' ]"
ok "...host-b's copy is qcow2 v3 (compat 1.1), as libvirt's own pre-creation makes it" eq \
  "$(lab exec b qemu-img info -U --output=json "$IMAGES/vm-local.qcow2" | jq -r '.["format-specific"].data.compat')" 1.1
ok "...the source's disk file is gone and its definition too" bash -c "[ ! -e '$a_file' ] && [ \"\$('$LABCMD' exec a $V domstate vm-local 2>/dev/null)\" == '' ]"
ok "...and it carried on, with the data it wrote during the copy" survived vm-local

# 3. a guest that writes memory all the time
migrate vm-busy '{"remote_host":"host-b"}'
follow "$ID" 180
ok "vm-busy (writing memory): the task finished" eq "$(jq_get .status)" finished
ok "...and it carried on with every page intact" survived vm-busy

# 4. a shut-off guest with a local disk: copied through the storage API, then defined there
booted_guest vm-cold default 16 off
migrate vm-cold '{"remote_host":"host-b"}'
follow "$ID" 120
ok "vm-cold (shut off, local disk): the task finished" eq "$(jq_get .status)" finished
ok "...its progress showed the disk copy, to the last byte" eq \
  "$(jq_get '[.progress.phase, (.progress.disk_total > 0), (.progress.disk_processed == .progress.disk_total), .progress.percent] | map(tostring) | join(" ")')" "disks true true 100"
ok "...and its message names the copied disk" has "$(jq_get .message)" "copied disk vda"
ok "...it is defined, shut off, on host-b and still on host-a" eq "$(vm_state b vm-cold) / $(vm_state a vm-cold)" "shut off / shut off"
ok "...host-b's copy is identical to host-a's" lab exec a qemu-img compare -q \
  "$IMAGES/vm-cold.qcow2" "$LAB/b/lib-libvirt/images/vm-cold.qcow2"
req POST /vms/vm-cold/start
ok "...its old definition on host-a refuses to start (409)" eq "$STATUS $(jq_get .reason | cut -c1-12)" "409 KCHMIGR0014E"
req POST /vms/vm-cold/start '{"force":"yes"}'
ok "...force must be a boolean (400)" eq "$STATUS" 400
req POST /vms/vm-cold/start '{"force":true}'
ok "...and starts with force, which drops the mark" eq "$STATUS $(jq_get .state) $(jq_get .moved_to)" "200 running null"
lab exec a $V destroy vm-cold >/dev/null
lab exec b $V start vm-cold >/dev/null
ok "...and it boots on host-b from the copy, disk check ok" bash -c \
  ". '$ROOT/tests/lab/lib-lab.sh' >/dev/null; wait_hb b vm-cold 2 90 && [ \"\$(hb_last b vm-cold | hb_field disk)\" == ok ]"

# 5. the destination's libvirtd dies during the disk copy
booted_guest vm-copyfail default 64
ok "vm-copyfail has booted" wait_hb a vm-copyfail 1 90
migrate vm-copyfail '{"remote_host":"host-b","bandwidth":4}'
wait_moving "$ID" disk_processed
ok "the disk copy was under way" eq "$(jq_get .progress.phase)" disks
ok "host-b had the pre-created volume" test -e "$LAB/b/lib-libvirt/images/vm-copyfail.qcow2"
kill -9 "$(cat "$LAB/b/libvirtd.pid")"
sleep 2
lab service b libvirtd start
follow "$ID" 120
ok "the task failed" eq "$(jq_get .status)" failed
ok "...naming the disk being copied" has "$(jq_get .message)" "while copying disk \"vda\" (\"$IMAGES/vm-copyfail.qcow2\")"
ok "...and the step" has "$(jq_get .message)" 'Migration of "vm-copyfail" to "host-b" failed while copying disks and migrating'
ok "...and no stale progress figures" eq "$(jq_get .progress)" null
ok "the guest runs on host-a" eq "$(vm_state a vm-copyfail)" running
ok "...and carries on there" bash -c ". '$ROOT/tests/lab/lib-lab.sh' >/dev/null; wait_hb a vm-copyfail 2 30 && [ \"\$(hb_last a vm-copyfail | hb_field mem)\" == ok ] && [ \"\$(hb_last a vm-copyfail | hb_field disk)\" == ok ]"
ok "no volume is left behind on host-b" test ! -e "$LAB/b/lib-libvirt/images/vm-copyfail.qcow2"
ok "no copy of the guest is on host-b" eq "$(vm_state b vm-copyfail)" absent

# 6. a local disk with nowhere to go on host-b
lab exec b $V pool-destroy default >/dev/null
booted_guest vm-nopool default 0
migrate vm-nopool '{"remote_host":"host-b"}'
follow "$ID" 60
ok "no pool on host-b for the local disk: the task failed" eq "$(jq_get .status)" failed
ok "...saying which path and what to create" has "$(jq_get .message)" \
  "no active storage pool on \"host-b\" has \"$IMAGES\" as its directory. Create one there"
ok "...before anything moved: it runs on host-a, nothing on host-b" eq "$(vm_state a vm-nopool) / $(vm_state b vm-nopool)" "running / absent"
lab exec b $V pool-start default >/dev/null

# 7. a CD-ROM image that host-b does not have
lab exec a qemu-img create -f raw "$IMAGES/tools.iso" 1M >/dev/null
lab exec a $V attach-disk vm-nopool "$IMAGES/tools.iso" hdc --type cdrom --mode readonly --config >/dev/null
lab exec a $V destroy vm-nopool >/dev/null
migrate vm-nopool '{"remote_host":"host-b"}'
follow "$ID" 60
ok "a CD-ROM image missing on host-b: the task failed" eq "$(jq_get .status)" failed
ok "...naming the file and what to do" has "$(jq_get .message)" \
  "The read-only image \"$IMAGES/tools.iso\" (disk \"hdc\", e.g. a CD-ROM) is not on \"host-b\". Copy it there"

# 8. cancel: during the disk copy of a live move, the guest stays and host-b keeps nothing
booted_guest vm-cancel default 48
ok "vm-cancel has booted" wait_hb a vm-cancel 1 90
migrate vm-cancel '{"remote_host":"host-b","bandwidth":4}'
mid=$ID
wait_moving "$mid" disk_processed
req POST "/tasks/$mid/cancel"
ok "cancel during the disk copy: 202" eq "$STATUS" 202
follow "$mid" 60
ok "...the task failed, saying who cancelled it and that the guest stays" has "$(jq_get .message)" \
  'KCHMIGR0016E: Migration of "vm-cancel" to "host-b" was cancelled by kimchiadmin while copying disks and migrating; the guest stays on this host.'
ok "...it runs on host-a and carries on" bash -c ". '$ROOT/tests/lab/lib-lab.sh' >/dev/null; wait_hb a vm-cancel 2 30 && [ \"\$(hb_last a vm-cancel | hb_field mem)\" == ok ]"
ok "...nothing of it is on host-b" eq "$(vm_state b vm-cancel) $(test -e "$LAB/b/lib-libvirt/images/vm-cancel.qcow2" && echo file || echo nofile)" "absent nofile"
req POST "/tasks/$mid/cancel"
ok "cancel again: 409, it has ended" eq "$STATUS $(jq_get .reason | cut -c1-12)" "409 KCHTASK0007E"

# 9. guests on host-b the move would collide with
lab guest a vm-clash 64 nofill persistent
lab guest b vm-clash 64 nofill persistent
migrate vm-clash '{"remote_host":"host-b"}'
follow "$ID" 60
ok "another guest of the same name on host-b: the task failed before anything moved" eq "$(jq_get .status) $(vm_state a vm-clash)" "failed running"
ok "...saying so with both UUIDs" has "$(jq_get .message)" "\"host-b\" already has another guest named \"vm-clash\" (UUID "
lab booted a vm-twin ""
lab booted b vm-twin ""
migrate vm-twin '{"remote_host":"host-b"}'
follow "$ID" 60
ok "this guest already running on host-b (same UUID): the task failed" eq "$(jq_get .status)" failed
ok "...saying a copy runs there" has "$(jq_get .message)" "is already running a guest with the UUID of \"vm-twin\""
ok "...and both copies are as they were" eq "$(vm_state a vm-twin) $(vm_state b vm-twin)" "running running"

stop_kimchid
ok "kimchid exits cleanly" eq "$KEXIT" 0
done_testing
