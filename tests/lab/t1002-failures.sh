#!/usr/bin/env bash
# t1002 - every way a migration can fail: a clear message naming the step and the cause,
# and the guest unharmed on host-a. Also 409s and concurrent migrations.
. "$(dirname "$0")/lib-lab.sh"
start_lab_kimchid
lab guest a vm-fail 64 nofill persistent

unharmed() { [ "$(vm_state a vm-fail)" == running ] && [ "$(vm_state b vm-fail)" == absent ]; }

# expect_failure NAME JSON SUBSTRING : the migration task fails with SUBSTRING, guest unharmed
expect_failure() {
  migrate vm-fail "$2"
  if [ "$STATUS" != 202 ]; then ok "$1: accepted as a task" eq "$STATUS" 202; return; fi
  wait_task "$ID"
  ok "$1: task failed" eq "$(jq_get .status)" failed
  ok "$1: message names the cause" has "$(jq_get .message)" "$3"
  ok "$1: guest unharmed on host-a" unharmed
}

expect_failure "wrong password" \
  "$(jq -n '{remote_host:"host-b",user:"labadmin",password:"not-the-password"}')" \
  'failed while setting up password-less ssh login: "host-b" refused the password for user "labadmin". Check the user name and the password.'
expect_failure "user without sudo" \
  "$(jq -n --arg p "$USER_PW" '{remote_host:"host-b",user:"labuser",password:$p}')" \
  'User "labuser" may not use sudo on "host-b", so kimchid cannot add its key for root there.'

# an account whose sudo needs no password (NOPASSWD) sets the trust up too, and its password
# goes nowhere but the ssh login
NOPW_PW=$(jq -r '.[] | select(.name=="labnopw") | .password' "$LAB/users.json")
lab guest a vm-nopw 64 nofill persistent
migrate vm-nopw "$(jq -n --arg p "$NOPW_PW" '{remote_host:"host-b",user:"labnopw",password:$p}')"
wait_task "$ID"
ok "a user with NOPASSWD sudo: the move finishes ($(jq_get .message | cut -c1-120))" eq "$(jq_get .status)" finished
ok "...kimchid set the trust up through that user's sudo" \
  grep -q 'ssh: root on "host-b" now accepts kimchid.s key (set up as "labnopw", whose sudo needs no password)' "$KLOG"
nopw_nowhere() { # the password is not in root's authorized_keys there (the pattern via a file)
  local pat; pat=$(mktemp); printf '%s\n' "$NOPW_PW" >"$pat"
  ! lab exec b cat /root/.ssh/authorized_keys | grep -qF -f "$pat"; local rc=$?; rm -f "$pat"; return $rc
}
ok "...and its password is not in root's authorized_keys on host-b" nopw_nowhere
lab exec b virsh -q -c qemu:///system destroy vm-nopw >/dev/null 2>&1
lab exec b virsh -q -c qemu:///system undefine vm-nopw >/dev/null 2>&1

lab service b libvirtd stop
expect_failure "host-b's libvirtd stopped" '{"remote_host":"host-b"}' \
  'failed while checking libvirt on the remote host: Cannot connect to libvirt on "host-b" (is libvirtd running there?)'
lab service b libvirtd start

# quick checks are answered on the POST, before any task (Kimchi's UI sees only those)
answered_on_post() { # answered_on_post WHAT BODY STATUS REASON-START
  local before; req GET /tasks; before=$(jq_get length)
  migrate vm-fail "$2"
  ok "$1: answered on the POST" has "$STATUS $(jq_get .reason)" "$3 $4"
  req GET /tasks
  ok "$1: no task" eq "$STATUS $(jq_get length)" "200 $before"
  ok "$1: guest unharmed on host-a" unharmed
}
t0=$(date +%s)
answered_on_post "an address nothing answers on" '{"remote_host":"198.18.0.99"}' 500 \
  "KCHMIGR0036E: Cannot reach \"198.18.0.99\" (198.18.0.99) on port 22: no answer within $KNOCK_S.0 s"
ok "...within 5 seconds (the message says the wait made: --knock-timeout $KNOCK_S)" test $(( $(date +%s) - t0 )) -le 5
answered_on_post "a name that does not resolve" '{"remote_host":"no-such-host"}' 400 \
  'KCHMIGR0034E: Cannot resolve "no-such-host"'

for h in localhost 127.0.0.1 host-a 198.18.0.1 ::1 HOST-A; do
  migrate vm-fail "{\"remote_host\":\"$h\"}"
  ok "this same host spelled \"$h\": 400" eq "$STATUS $(jq_get .reason)" "400 KCHVM0055E: \"$h\" is this host. Choose another host to migrate to."
done
echo "198.18.0.1 alias-of-a" | lab exec a tee -a /etc/hosts >/dev/null
answered_on_post "a name that resolves to this host" '{"remote_host":"alias-of-a"}' 400 \
  'KCHVM0055E: "alias-of-a" (198.18.0.1) is this host. Choose another host to migrate to.'

# changes to a host's files go through the host: its /etc is an overlay
lab exec b sh -c 'cp /etc/libvirt/libvirtd.conf /root/libvirtd.conf.orig &&
  sed -i "s/^host_uuid = .*/host_uuid = \"0a0a0a0a-1111-4111-8111-00000000000a\"/" /etc/libvirt/libvirtd.conf'
lab service b libvirtd stop; lab service b libvirtd start
expect_failure "a cloned host with the same libvirt host UUID" '{"remote_host":"host-b"}' \
  'has the same libvirt host UUID (0a0a0a0a-1111-4111-8111-00000000000a) as this host'
lab exec b cp /root/libvirtd.conf.orig /etc/libvirt/libvirtd.conf
lab service b libvirtd stop; lab service b libvirtd start

lab exec b sh -c 'mkdir -p /root/keys && cp /etc/ssh/ssh_host_* /root/keys/ && rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null'
lab service b sshd stop; lab service b sshd start
expect_failure "host-b presents a changed host key" '{"remote_host":"host-b"}' \
  'The ssh host key of "host-b" has changed'
ok "...and the message shows both fingerprints" eq "$(jq_get .message | grep -o 'SHA256:' | wc -l)" 2
ok "...and known_hosts was not silently updated" eq "$(grep -c '^host-b ' "$LAB/a/root/.ssh/known_hosts")" 1
lab exec b sh -c 'cp /root/keys/* /etc/ssh/'
lab service b sshd stop; lab service b sshd start
migrate vm-fail '{"remote_host":"host-b","bandwidth":8}'
wait_task "$ID"
ok "with the original host key back, migration works again" eq "$(jq_get .status)" finished
lab exec a virsh -q -c qemu:///system start vm-fail >/dev/null 2>&1 || true

# the same guest twice, and actions while it migrates
lab guest a vm-slow 128 fill persistent
migrate vm-slow '{"remote_host":"host-b","bandwidth":4}'
slow=$ID
migrate vm-slow '{"remote_host":"host-b"}'
ok "the same guest already migrating: 409" eq "$STATUS" 409
ok "409 says it is busy migrating" has "$(jq_get .reason)" 'Virtual machine "vm-slow" is busy migrating.'
req DELETE /vms/vm-slow
ok "DELETE of a migrating guest: 409" eq "$STATUS" 409
req POST /vms/vm-slow/poweroff
ok "power off of a migrating guest: 409" eq "$STATUS" 409

# two different guests at once, and the API answering meanwhile
lab guest a vm-p2 128 fill persistent
migrate vm-p2 '{"remote_host":"host-b","bandwidth":8}'
p2=$ID
both=0
slowest=0
for _ in $(seq 1 200); do
  s=$(date +%s%N)
  req GET /vms
  ms=$(( ($(date +%s%N) - s) / 1000000 ))
  [ "$ms" -gt "$slowest" ] && slowest=$ms
  req GET "/tasks?status=running"
  [ "$(jq_get length)" -ge 2 ] && both=1
  [ "$(jq_get length)" -eq 0 ] && break
  sleep 0.2
done
ok "two guests were migrating at the same time" eq "$both" 1
ok "GET /vms kept answering within 1 s while they ran (slowest ${slowest} ms)" test "$slowest" -lt 1000
wait_task "$slow"
ok "the slow migration finished" eq "$(jq_get .status)" finished
wait_task "$p2"
ok "the parallel migration finished" eq "$(jq_get .status)" finished
ok "both guests run on host-b" eq "$(vm_state b vm-slow) $(vm_state b vm-p2)" "running running"

no_secrets() { secrets_absent "$ADMIN_PW" && secrets_absent "$USER_PW" && secrets_absent not-the-password; }
ok "no password of either user is in a log, state file or command line" no_secrets
stop_kimchid
ok "kimchid exits cleanly" eq "$KEXIT" 0
done_testing
