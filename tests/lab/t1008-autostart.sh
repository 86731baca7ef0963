#!/usr/bin/env bash
# t1008 - the guarantee holds after the task ends: a guest with autostart autostarts where it
# lives, and the definition a move leaves behind cannot start a second copy at the next boot.
# "Boot" is a host's libvirtd started with its autostart marker (/run/libvirt/qemu/autostarted)
# removed: libvirtd then starts every autostart guest, as when the host boots. Booted guests,
# so "runs" and "carried on" are read from their consoles.
#  1. local disk, without delete_source: host-a's old definition stays, with autostart off;
#     host-a boots: nothing starts there, the guest carries on on host-b;
#  2. shared disk, delete_source: host-b's definition autostarts (its copy destroyed, host-b
#     boots: the guest boots there);
#  3. kimchid killed mid-move, the move completing without it: autostart was already off on
#     host-a (a boot meanwhile starts nothing), and the restarted kimchid turns it on at host-b;
#  4. a cancelled move: the guest stays, and its autostart is back on here.
. "$(dirname "$0")/lib-lab.sh"
start_lab_kimchid
V=$VIRSH

autostart_of() { # autostart_of a|b NAME : enable / disable / absent
  local s
  s=$(lab exec "$1" $V dominfo "$2" 2>/dev/null | awk '/^Autostart:/ {print $2}')
  echo "${s:-absent}"
}
boot_host() { # boot_host a|b : libvirtd restarted as at boot (autostart marker gone)
  lab service "$1" libvirtd stop
  lab exec "$1" rm -f /run/libvirt/qemu/autostarted
  lab service "$1" libvirtd start
  sleep 3 # libvirtd starts autostart guests in the background once it is up
}
autostart_guest() { # autostart_guest NAME POOL : booted guest on host-a with autostart on
  booted_guest "$1" "$2" 4
  lab exec a $V autostart "$1" >/dev/null
  ok "$1 has booted on host-a, autostart on" booted_autostarting "$1"
}
booted_autostarting() { [ "$(autostart_of a "$1")" == enable ] && wait_hb a "$1" 1 90; }

# 1. local disk, old definition left on host-a
autostart_guest vm-as1 default
migrate vm-as1 "$(jq -n --arg p "$ADMIN_PW" '{remote_host:"host-b",user:"labadmin",password:$p}')"
task_end "$ID" 120
ok "vm-as1: moved" eq "$(jq_get .status)" finished
ok "...the task says autostart followed it" has "$(jq_get .message)" \
  'autostart follows the guest: on at "host-b", off for the old definition here'
ok "...host-a's old definition: autostart off" eq "$(autostart_of a vm-as1)" disable
ok "...host-b's definition: autostart on" eq "$(autostart_of b vm-as1)" enable
boot_host a
ok "host-a booted: vm-as1 runs on host-b only" eq "$(running_copies vm-as1)" "0 1"
ok "...and carried on there (console)" survived vm-as1

# 2. shared disk, delete_source: the guest autostarts where it lives
autostart_guest vm-as2 shared
migrate vm-as2 '{"remote_host":"host-b","delete_source":true}'
task_end "$ID" 120
ok "vm-as2: moved with delete_source" eq "$(jq_get .status)" finished
ok "...the task says autostart is on at host-b" has "$(jq_get .message)" \
  'source definition removed; autostart follows the guest: on at "host-b"'
ok "...no definition left on host-a" eq "$(autostart_of a vm-as2)" absent
ok "...host-b's definition: autostart on" eq "$(autostart_of b vm-as2)" enable
lab exec b $V destroy vm-as2 >/dev/null
boot_host b
booted_on_b() { lab console b vm-as2 | grep -q '^BOOT '; }
ok "host-b booted (its copy had stopped): vm-as2 started there by itself" eventually 90 booted_on_b
ok "...and runs on host-b only" eq "$(running_copies vm-as2)" "0 1"

# 3. kimchid killed mid-move; the move completes while it is away
autostart_guest vm-as3 default
fill_disk a "$(lab exec a $V vol-path --pool default vm-as3.qcow2)" 8
migrate vm-as3 '{"remote_host":"host-b","bandwidth":6}'
id=$ID
ok "vm-as3: the migration is moving data" wait_moving "$id"
ok "...host-a's autostart is off while it moves" eq "$(autostart_of a vm-as3)" disable
kill -9 "$KPID"; wait "$KPID" 2>/dev/null
job_on_a() { lab exec a $V domjobinfo vm-as3 2>/dev/null | grep -q Unbounded; }
no_job_on_a() { ! job_on_a; }
ok "...kimchid killed; libvirt completed the move without it" eventually 90 no_job_on_a
boot_host a
ok "host-a booted meanwhile: vm-as3 runs on host-b only" eq "$(running_copies vm-as3)" "0 1"
start_lab_kimchid
task_end "$id" 60
ok "after the restart the task finished" eq "$(jq_get .status)" finished
ok "...saying autostart followed the guest" has "$(jq_get .message)" \
  'autostart follows the guest: on at "host-b", off for the old definition here'
ok "...host-b's definition: autostart on; host-a's: off" \
  eq "$(autostart_of b vm-as3) $(autostart_of a vm-as3)" "enable disable"
ok "...and the guest carried on (console)" survived vm-as3

# 4. a move cancelled: the guest stays here, autostarting as before
autostart_guest vm-as4 default
fill_disk a "$(lab exec a $V vol-path --pool default vm-as4.qcow2)" 16
migrate vm-as4 '{"remote_host":"host-b","bandwidth":2}'
id=$ID
ok "vm-as4: the migration is moving data" wait_moving "$id"
req POST "/tasks/$id/cancel"
task_end "$id" 60
ok "vm-as4: cancelled, the guest stays" eq "$(jq_get .status) $(vm_state a vm-as4)" "failed running"
ok "...its autostart is on again here" eq "$(autostart_of a vm-as4)" enable
ok "...and nothing of it on host-b" absent_on b vm-as4

for g in vm-as1 vm-as2 vm-as3; do lab exec b $V destroy "$g" >/dev/null 2>&1; lab exec b $V undefine "$g" >/dev/null 2>&1; done
for g in vm-as1 vm-as3 vm-as4; do lab exec a $V destroy "$g" >/dev/null 2>&1; lab exec a $V undefine "$g" >/dev/null 2>&1; done
stop_kimchid
ok "kimchid exits cleanly" eq "$KEXIT" 0
done_testing
