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
  "host=true login=true libvirt=true maintenance=true network=true tls=true guest=true storage=true cpu=true memory=true devices=true postcopy=true lock_manager=true"
ok "...no task started" eq "$ID" ""
req GET /tasks
ok "...and none listed for it" eq "$(jq_get '[.[] | select(.target_uri == "/plugins/kimchi/vms/vm-pf-ready/migrate")] | length')" 0
ok "...the guest still runs on host-a" eq "$(vm_state a vm-pf-ready)" running
ok "...and host-b has no copy of it" eq "$(vm_state b vm-pf-ready)" absent
ok "...the password is in no log or state file" secrets_absent "$ADMIN_PW"

# 1b. a TLS certificate kimchid did not issue on host-b: the tls check says so (kimchid never
# replaces it); host-b's own file is put back after
PKIB="cd /etc/pki/qemu 2>/dev/null || exit 0"
restore_pki() { # once: only while the foreign one is there
  lab exec b sh -c "$PKIB; [ -e .t1012-foreign ] || exit 0; rm -f server-cert.pem .t1012-foreign
    [ ! -e server-cert.pem.t1012 ] || mv server-cert.pem.t1012 server-cert.pem"
}
at_exit restore_pki
lab exec b sh -c 'mkdir -p /etc/pki/qemu && cd /etc/pki/qemu && touch .t1012-foreign &&
  { [ ! -e server-cert.pem ] || mv server-cert.pem server-cert.pem.t1012; } &&
  printf "cn = foreign\nexpiration_days = 2\n" >/tmp/t1012-foreign.tmpl &&
  certtool --generate-privkey --key-type ecdsa --outfile /tmp/t1012-foreign-key.pem 2>/dev/null &&
  certtool --generate-self-signed --load-privkey /tmp/t1012-foreign-key.pem --template /tmp/t1012-foreign.tmpl --outfile server-cert.pem 2>/dev/null;
  rm -f /tmp/t1012-foreign.tmpl /tmp/t1012-foreign-key.pem'
migrate vm-pf-ready "$(check)"
ok "check_only with a certificate kimchid did not issue on host-b: not ready" eq "$STATUS $(jq_get .ready)" "200 false"
ok "...the tls check says so and what to do (KCHPKI)" has "$(entry tls .message)" \
  'host-b already has a TLS certificate for migrations, /etc/pki/qemu/server-cert.pem, that kimchid did not issue, and kimchid does not replace it.'
ok "...and only that check fails" eq "$(jq_get '[.checks[] | select(.ok | not) | .id] | join(",")')" tls
ok "...the file is left as it was" bash -c "'$LABCMD' exec b certtool -i --infile /etc/pki/qemu/server-cert.pem 2>/dev/null | grep -q 'CN=foreign'"
restore_pki
migrate vm-pf-ready "$(check '{"encrypted":false}')"
ok "...with \"encrypted\": false no certificate is needed: ready" eq "$(jq_get .ready) $(entry tls .message)" \
  'true not encrypted ("encrypted": false): no certificates needed'

# 1c. host-b in maintenance (its marker, as a kimchid there writes it): the maintenance
# check refuses it, naming since when and who; a real move fails at that check
MARKB=/var/lib/libvirt/kimchid-maintenance
at_exit "lab exec b rm -f $MARKB"
lab exec b sh -c "printf '%s' '{\"since\":\"2026-12-07T08:00:00Z\",\"by\":\"labadmin\"}' >$MARKB"
migrate vm-pf-ready "$(check)"
ok "check_only to a host in maintenance: not ready" eq "$STATUS $(jq_get .ready)" "200 false"
ok "...the maintenance check says so (KCHMIGR0060E)" eq "$(entry maintenance .message)" \
  'KCHMIGR0060E: "host-b" is in maintenance (since 2026-12-07T08:00:00Z, by labadmin): it takes no guests. Choose another host, or end its maintenance there first.'
ok "...and only that check fails" eq "$(jq_get '[.checks[] | select(.ok | not) | .id] | join(",")')" maintenance
migrate vm-pf-ready "$(creds)"
wait_task "$ID"
ok "a real move to it fails at that check" has "$(jq_get .status) $(jq_get .message)" \
  'failed KCHMIGR0060E: Migration of "vm-pf-ready" to "host-b" failed while checking that the remote host is not in maintenance: "host-b" is in maintenance'
ok "...the guest still runs on host-a, nothing on host-b" eq "$(vm_state a vm-pf-ready) $(vm_state b vm-pf-ready)" "running absent"
lab exec b rm -f $MARKB
migrate vm-pf-ready "$(check)"
ok "maintenance ended there: ready again" eq "$(jq_get .ready) $(entry maintenance .ok)" "true true"

# 2. a device of this host passed through cannot move: not ready, and a real move is refused
define_a vm-pf-usb "" "<hostdev mode='subsystem' type='usb'><source><vendor id='0x1d6b'/><product id='0x0002'/></source></hostdev>"
migrate vm-pf-usb "$(check)"
ok "check_only of a guest with a USB device passed through: not ready" eq "$STATUS $(jq_get .ready)" "200 false"
ok "...the devices check says which and what to do (KCHMIGR0053E)" has "$(entry devices .message)" \
  'KCHMIGR0053E: "vm-pf-usb" uses 1 device of this host passed through (<hostdev>: PCI or USB), which cannot move with it.'
ok "...the others pass" eq "$(jq_get '[.checks[] | select(.ok | not) | .id] | join(",")')" devices
migrate vm-pf-usb "$(creds)"
ok "a real move of it: 400 on the POST (a check of this host alone), naming the check" \
  has "$STATUS $(jq_get .reason)" \
  '400 KCHMIGR0053E: Migration of "vm-pf-usb" to "host-b" failed while checking the guest'"'"'s devices:'
ok "...no task started" eq "$ID" ""
ok "...the guest is still defined on host-a" eq "$(vm_state a vm-pf-usb)" "shut off"
ok "...and nothing of it is on host-b" eq "$(vm_state b vm-pf-usb)" absent

# 2b. this host's TPM passed through, a serial port on this host's /dev/ttyS0, and a virtiofs
# share (QEMU 7.2 cannot migrate one): each not ready, and a move refused on the POST
define_a vm-pf-tpm "" "<tpm model='tpm-tis'><backend type='passthrough'><device path='/dev/tpm0'/></backend></tpm>"
migrate vm-pf-tpm "$(check)"
ok "check_only of a guest with this host's TPM passed through: the devices check says so" \
  has "$(entry devices .ok) $(entry devices .message)" \
  'false KCHMIGR0053E: "vm-pf-tpm" uses this host'"'"'s TPM passed through'
define_a vm-pf-fs "<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>" \
  "<filesystem type='mount' accessmode='passthrough'><driver type='virtiofs'/><source dir='/var/lib/libvirt/images'/><target dir='share'/></filesystem>"
migrate vm-pf-fs "$(check)"
ok "...and of a guest with a virtiofs share" has "$(entry devices .ok) $(entry devices .message)" \
  'false KCHMIGR0053E: "vm-pf-fs" shares a directory of this host with virtiofs, which QEMU cannot migrate'
define_a vm-pf-tty "" "<serial type='dev'><source path='/dev/ttyS0'/><target port='0'/></serial>"
migrate vm-pf-tty "$(check)"
ok "...and of a guest whose serial port is this host's /dev/ttyS0" has "$(entry devices .ok) $(entry devices .message)" \
  'false KCHMIGR0053E: "vm-pf-tty" has 1 serial, parallel, console or channel device on a device of this host'
migrate vm-pf-fs "$(creds)"
ok "...whose move is refused on the POST" has "$STATUS $(jq_get .reason)" '400 KCHMIGR0053E: Migration of "vm-pf-fs"'

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

# 4. a local disk in a pool host-b lacks: the storage check names the disk and the directory
# no pool there has; a real move fails at that check, before anything moves. A ready guest's
# storage check says what happens to each disk.
lab exec a $VIRSH pool-define-as pf-only-a dir --target /var/lib/libvirt/pf-only-a >/dev/null
at_exit "lab exec a $VIRSH pool-destroy pf-only-a >/dev/null 2>&1; lab exec a $VIRSH pool-undefine pf-only-a >/dev/null 2>&1; rm -rf $LAB/a/lib-libvirt/pf-only-a"
lab exec a mkdir -p /var/lib/libvirt/pf-only-a
lab exec a $VIRSH pool-start pf-only-a >/dev/null
lab exec a $VIRSH vol-create-as pf-only-a vm-pf-pool.qcow2 16M --format qcow2 >/dev/null
define_a vm-pf-pool "" "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/var/lib/libvirt/pf-only-a/vm-pf-pool.qcow2'/><target dev='vda' bus='virtio'/></disk>"
lab exec a $VIRSH start vm-pf-pool >/dev/null
migrate vm-pf-pool "$(check)"
ok "check_only of a guest whose disk's pool host-b lacks: not ready" eq "$STATUS $(jq_get .ready)" "200 false"
ok "...the storage check names the disk and the directory (KCHMIGR0002E)" has "$(entry storage .message)" \
  'Disk "vda" ("/var/lib/libvirt/pf-only-a/vm-pf-pool.qcow2") is on this host'"'"'s local storage, so it must be copied, but no active storage pool on "host-b" has "/var/lib/libvirt/pf-only-a" as its directory.'
ok "...and only that check fails" eq "$(jq_get '[.checks[] | select(.ok | not) | .id] | join(",")')" storage
migrate vm-pf-pool "$(creds)"
wait_task "$ID"
ok "a real move of it fails at that check" has "$(jq_get .status) $(jq_get .message)" \
  'failed KCHMIGR0002E: Migration of "vm-pf-pool" to "host-b" failed while checking the guest'"'"'s disks: Disk "vda"'
ok "...the guest still runs on host-a" eq "$(vm_state a vm-pf-pool)" running
ok "...and nothing of it is on host-b" eq "$(vm_state b vm-pf-pool)" absent
ok "...not even its disk" bash -c "! '$LABCMD' exec b test -e /var/lib/libvirt/pf-only-a/vm-pf-pool.qcow2"
lab exec a $VIRSH destroy vm-pf-pool >/dev/null
lab exec a $VIRSH undefine vm-pf-pool >/dev/null
lab exec a $VIRSH vol-delete --pool pf-only-a vm-pf-pool.qcow2 >/dev/null
# what a ready guest's checks say they found: its own guests (the lab's booted ones may have
# moved to host-b in an earlier script), running, one disk each in host-a's private pool and
# on the shared volume
disk_xml() { echo "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$1'/><target dev='vda' bus='virtio'/></disk>"; }
lab exec a $VIRSH vol-create-as default vm-pf-loc.qcow2 16M --format qcow2 >/dev/null
lab exec a $VIRSH vol-create-as shared vm-pf-sh.qcow2 16M --format qcow2 >/dev/null
define_a vm-pf-loc "" "$(disk_xml /var/lib/libvirt/images/vm-pf-loc.qcow2)"
define_a vm-pf-sh "" "$(disk_xml /var/lib/libvirt/shared/vm-pf-sh.qcow2)"
lab exec a $VIRSH start vm-pf-loc >/dev/null
lab exec a $VIRSH start vm-pf-sh >/dev/null
migrate vm-pf-loc "$(check)"
ok "check_only of a guest with a local disk: its storage check says it is copied into host-b's pool" \
  eq "$(entry storage .ok) $(entry storage .message)" 'true vda is copied into pool "default" on "host-b"'
ok "...the memory check gives the figures" has "$(entry memory .message)" 'the guest needs 320 MiB (64 MiB and QEMU'"'"'s own), "host-b" has '
ok "...the network check where the memory goes" eq "$(entry network .message)" 'memory and disks go to 198.18.0.2, the address of "host-b"'
migrate vm-pf-sh "$(check)"
ok "...and of a guest on the shared volume, that its disk stays" \
  eq "$(entry storage .ok) $(entry storage .message)" 'true vda stays on shared storage'

# 5. a host that does not resolve: its own check fails, what needs it is not checked
migrate vm-pf-ready '{"remote_host":"nosuch.invalid","check_only":true}'
ok "check_only to a host that does not resolve: not ready, the host check says why" \
  eq "$(jq_get .ready) $(entry host .ok) $(entry host .message | cut -c1-12)" "false false KCHMIGR0034E"
ok "...the checks that need it are not checked, and say so" eq "$(entry libvirt .skipped) $(entry libvirt .message)" \
  'true Not checked: the "host" check failed.'

stop_kimchid
done_testing
