#!/usr/bin/env bash
# t1012 - know before you move: "check_only" runs every check a move would run, on both real
# hosts, and moves nothing; a real move runs the same checks and fails before anything moves
# when one is not ok. The guests that cannot move are defined, not started: a check needs
# their definition only.
. "$(dirname "$0")/lib-lab.sh"
start_lab_kimchid
creds() { jq -n --arg p "$ADMIN_PW" '{remote_host:"host-b",user:"labadmin",password:$p}'; }
check() { jq -c --argjson c "$(creds)" '$c + {check_only:true} + .' <<<"${1:-{\}}"; }
# define_a NAME EXTRA-XML : a shut-off guest on host-a with EXTRA-XML inside <domain>
define_a() {
  local t; t=$(mktemp)
  cat >"$t" <<XML
<domain type='qemu'>
  <name>$1</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  $2
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator><memballoon model='none'/>$3</devices>
</domain>
XML
  lab exec a $VIRSH define "$t" >/dev/null
  rm -f "$t"
}
entry() { jq_get ".checks[] | select(.id==\"$1\") | $2"; }

# 0. a host kimchid never logged in to, checked without a password: the login check says so
# and records nothing (no unconfirmed host key); host-a's known_hosts is put back after
KH=$LAB/a/root/.ssh/known_hosts
SAVED_KH=$(mktemp /tmp/kimchid-t1012.XXXXXX)
if [ -f "$KH" ]; then cp -p "$KH" "$SAVED_KH"; else rm -f "$SAVED_KH"; fi
at_exit "if [ -f '$SAVED_KH' ]; then cp -p '$SAVED_KH' '$KH'; rm -f '$SAVED_KH'; else rm -f '$KH'; fi"
for n in host-b 198.18.0.2; do [ -f "$KH" ] && ssh-keygen -q -R "$n" -f "$KH" >/dev/null 2>&1; done
rm -f "$KH.old"
lab guest a vm-pf-ready 64 nofill persistent
migrate vm-pf-ready '{"remote_host":"host-b","check_only":true}'
ok "check_only without a password to a host kimchid never logged in to: not ready" \
  eq "$STATUS $(jq_get .ready) $(entry login .ok)" "200 false false"
ok "...the login check says how to set it up (KCHMIGR0054E), naming host-b's key" \
  has "$(entry login .message)" 'KCHMIGR0054E: kimchid has never logged in to "host-b" (its ssh host key is SHA256:'
ok "...and host-b's key was not recorded" bash -c "! grep -q '^host-b ' '$KH' 2>/dev/null"

# 1. a guest that can move: every check ok, nothing moved, no task
migrate vm-pf-ready "$(check)"
ok "check_only of a guest that can move: 200, ready" eq "$STATUS $(jq_get .ready)" "200 true"
ok "...every check there, each ok" \
  eq "$(jq_get '[.checks[] | "\(.id)=\(.ok)"] | join(" ")')" \
  "host=true login=true libvirt=true guest=true storage=true cpu=true memory=true devices=true postcopy=true lock_manager=true"
ok "...no task started" eq "$ID" ""
req GET /tasks
ok "...and none listed for it" eq "$(jq_get '[.[] | select(.target_uri == "/plugins/kimchi/vms/vm-pf-ready/migrate")] | length')" 0
ok "...the guest still runs on host-a" eq "$(vm_state a vm-pf-ready)" running
ok "...and host-b has no copy of it" eq "$(vm_state b vm-pf-ready)" absent
ok "...the password is in no log or state file" secrets_absent "$ADMIN_PW"

# 2. a device of this host passed through cannot move: not ready, and a real move fails first
define_a vm-pf-usb "" "<hostdev mode='subsystem' type='usb'><source><vendor id='0x1d6b'/><product id='0x0002'/></source></hostdev>"
migrate vm-pf-usb "$(check)"
ok "check_only of a guest with a USB device passed through: not ready" eq "$STATUS $(jq_get .ready)" "200 false"
ok "...the devices check says which and what to do (KCHMIGR0053E)" has "$(entry devices .message)" \
  'KCHMIGR0053E: "vm-pf-usb" uses 1 device of this host passed through (<hostdev>: PCI or USB), which cannot move with it.'
ok "...the others pass" eq "$(jq_get '[.checks[] | select(.ok | not) | .id] | join(",")')" devices
migrate vm-pf-usb "$(creds)"
wait_task "$ID"
ok "a real move of it fails at that check, before anything moves" has "$(jq_get .status) $(jq_get .message)" \
  'failed KCHMIGR0053E: Migration of "vm-pf-usb" to "host-b" failed while checking the guest'"'"'s devices:'
ok "...the guest is still defined on host-a" eq "$(vm_state a vm-pf-usb)" "shut off"
ok "...and nothing of it is on host-b" eq "$(vm_state b vm-pf-usb)" absent

# 3. a CPU host-b's hypervisor cannot give: a custom model requiring a feature that QEMU's
# TCG (the lab's hypervisor, on both hosts) does not have, as host-b's libvirt reports it
# (virsh domcapabilities --virttype qemu lists no avx512f); defined with check='none' so
# that host-a's libvirt takes the definition
define_a vm-pf-cpu "<cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model><feature policy='require' name='avx512f'/></cpu>" ""
ok "host-b's TCG offers no avx512f (the premise of this case)" \
  bash -c "! '$LABCMD' exec b $VIRSH domcapabilities --virttype qemu --arch x86_64 | grep -q \"name='avx512f'\""
migrate vm-pf-cpu "$(check)"
ok "check_only of a guest whose CPU host-b cannot run: not ready" eq "$STATUS $(jq_get .ready)" "200 false"
ok "...the cpu check says so, naming the missing feature (KCHMIGR0051E)" \
  has "$(entry cpu .ok) $(entry cpu .message)" 'false KCHMIGR0051E: "host-b" cannot run the CPU of "vm-pf-cpu"'
ok "......avx512f" has "$(entry cpu .message)" avx512f
ok "...and only that check fails" eq "$(jq_get '[.checks[] | select(.ok | not) | .id] | join(",")')" cpu

# 4. a host that does not resolve: its own check fails, what needs it is not checked
migrate vm-pf-ready '{"remote_host":"nosuch.invalid","check_only":true}'
ok "check_only to a host that does not resolve: not ready, the host check says why" \
  eq "$(jq_get .ready) $(entry host .ok) $(entry host .message | cut -c1-12)" "false false KCHMIGR0034E"
ok "...the checks that need it are not checked, and say so" eq "$(entry libvirt .skipped) $(entry libvirt .message)" \
  'true Not checked: the "host" check failed.'

stop_kimchid
done_testing
