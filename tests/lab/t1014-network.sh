#!/usr/bin/env bash
# t1014 - a migration network: host-a and host-b share a second link (198.19.0.0/24, its own
# bridge) besides the management one (198.18.0.0/24). A move with "migration_address", or
# with kimchid's --migration-network, sends the guest's memory over the second link only:
# both links are captured (tcpdump on their bridge ports, in this machine's namespace) and
# the memory stream (QEMU's migration ports, libvirt's 49152-49215) is on the migration link
# and nowhere on the management link, where libvirt's own connection (ssh) still runs. TLS
# still checks host-b's certificate by its name. A local disk's copy takes the same link. An address that is not host-b's, and a
# network host-b has no address in, fail the "network" check before anything moves.
. "$(dirname "$0")/lib-lab.sh"
start_lab_kimchid
CAP=$(mktemp -d /tmp/kimchid-t1014.XXXXXX)
at_exit "pkill -INT -f 'tcpdump -i k[lm]-a -nn' 2>/dev/null; rm -rf $CAP"
creds() { jq -c -n --arg p "$ADMIN_PW" '{remote_host:"host-b",user:"labadmin",password:$p}' | jq -c ". + $1"; }

# capture_start / capture_stop : both of host-a's links, from here (the bridge ports)
capture_start() {
  rm -f "$CAP"/*.pcap
  tcpdump -i km-a -nn -s 96 -w "$CAP/mig.pcap" 'tcp' >/dev/null 2>&1 &
  tcpdump -i kl-a -nn -s 96 -w "$CAP/mgmt.pcap" 'tcp' >/dev/null 2>&1 &
  sleep 1 # tcpdump opens its socket
}
capture_stop() {
  sleep 1
  pkill -INT -f 'tcpdump -i k[lm]-a -nn' 2>/dev/null
  for _ in $(seq 1 50); do pgrep -f 'tcpdump -i k[lm]-a -nn' >/dev/null || return 0; sleep 0.1; done
}
# bytes FILE FILTER : the TCP payload bytes in a capture that match a tcpdump filter
bytes() {
  tcpdump -r "$1" -nn -q "$2" 2>/dev/null | awk '{n += $NF} END {print n + 0}'
}
# QEMU's migration ports between host-a and host-b (not an ssh session whose ephemeral port
# falls in that range, nor GlusterFS's bricks on host-s, which use it too)
QEMU_PORTS='tcp portrange 49152-49215 and not port 22 and (host 198.18.0.2 or host 198.19.0.2)'
task_end() { watch_task "$1" 120; }
SEEN=$(mktemp -p "$CAP")

info=$(lab info)
ok "lab info lists the migration link (198.19.0.0/24)" eq "$(jq -r .networks.migration <<<"$info")" 198.19.0.0/24
ok "...and host-b's address on it" eq "$(jq -r '.hosts[] | select(.name=="host-b") | .migration_address' <<<"$info")" 198.19.0.2

lab guest a vm-net1 128 fill persistent
lab guest a vm-net2 128 fill persistent
lab guest a vm-net3 64 nofill persistent
booted_guest vm-net4 default 24 # a local disk, 24 MiB of data in it: copied by the move

# 1. migration_address: the memory goes over the migration link, TLS on
capture_start
migrate vm-net1 "$(creds '{migration_address:"198.19.0.2"}')"
task_end "$ID"
capture_stop
ok "migration_address 198.19.0.2: the move finishes (encrypted, the default)" eq "$(jq_get .status)" finished
mig=$(bytes "$CAP/mig.pcap" "$QEMU_PORTS"); mgmt=$(bytes "$CAP/mgmt.pcap" "$QEMU_PORTS")
ok "...the memory stream crossed the migration link ($((mig / 1048576)) MiB; the guest holds 24 MiB of random data)" \
  test "$mig" -gt $((24 * 1048576))
ok "...and none of it the management link ($mgmt bytes to QEMU's migration ports)" eq "$mgmt" 0
ok "...where libvirt's connection (ssh) ran meanwhile ($(bytes "$CAP/mgmt.pcap" 'tcp port 22') bytes)" \
  test "$(bytes "$CAP/mgmt.pcap" 'tcp port 22')" -gt 0
ok "...vm-net1 runs on host-b" eq "$(vm_state b vm-net1)" running
grep -q 'migration of "vm-net1" to "host-b": memory and disks go to 198.19.0.2' "$KLOG"
ok "...and kimchid's log names the address" eq $? 0

# 2. an address that is not host-b's: the network check says so, and a move fails there
req POST /vms/vm-net2/migrate "$(creds '{migration_address:"198.19.0.9",check_only:true}')"
entry() { jq_get ".checks[] | select(.id==\"$1\") | $2"; }
ok "check_only, migration_address not host-b's: not ready" eq "$(jq_get .ready)" false
ok "...the network check names host-b's addresses" has "$(entry network .message)" \
  'KCHMIGR0058E: 198.19.0.9 is not an address of "host-b" (its addresses: 198.18.0.2 198.19.0.2). Give one of them as migration_address, or leave it out.'
migrate vm-net2 "$(creds '{migration_address:"198.19.0.9"}')"
task_end "$ID"
ok "...a real move fails at that check" has "$(jq_get .message)" \
  'failed while checking the migration network on the remote host: 198.19.0.9 is not an address of "host-b"'
on_a_only() { [ "$(vm_state a vm-net2)" == running ] && absent_on b vm-net2; }
ok "...vm-net2 still runs on host-a, nothing of it on host-b" on_a_only
req POST /vms/vm-net2/migrate "$(creds '{migration_address:"198.19.0.1"}')"
ok "host-a's own address as migration_address: 400 at once" eq "$STATUS $(jq_get .reason)" \
  '400 KCHMIGR0058E: migration_address 198.19.0.1 is an address of this host. Give the destination'"'"'s address on the network for migrations.'

# 3. --migration-network: host-b's address in it is chosen, without migration_address
stop_kimchid
KIMCHID_ARGS="--migration-network 198.19.0.0/24"
start_lab_kimchid
ok "vm-net4 booted" wait_hb a vm-net4 1 90
capture_start
migrate vm-net4 "$(creds '{}')"
task_end "$ID"
capture_stop
ok "--migration-network 198.19.0.0/24: a move with a local disk finishes" eq "$(jq_get .status)" finished
ok "...having copied the disk" has "$(jq_get .message)" 'copied disk vda'
mig=$(bytes "$CAP/mig.pcap" "$QEMU_PORTS"); mgmt=$(bytes "$CAP/mgmt.pcap" "$QEMU_PORTS")
ok "...memory and disk over the migration link ($((mig / 1048576)) MiB; the disk holds 24 MiB)" \
  test "$mig" -gt $((24 * 1048576))
ok "...and nothing of them on the management link ($mgmt bytes)" eq "$mgmt" 0
ok "...vm-net4 carried on on host-b" survived vm-net4

# 4. a network host-b has no address in: the check says so, naming it
stop_kimchid
KIMCHID_ARGS="--migration-network 10.99.0.0/24"
start_lab_kimchid
req POST /vms/vm-net3/migrate "$(creds '{check_only:true}')"
ok "--migration-network host-b is not on: not ready" eq "$(jq_get .ready)" false
ok "...the network check names the network and host-b's addresses" eq "$(entry network .message)" \
  'KCHMIGR0059E: "host-b" has no address in the migration network 10.99.0.0/24 (--migration-network; its addresses: 198.18.0.2 198.19.0.2). Give it one there, or name the address to use as migration_address.'
ok "...the other checks still ran (cpu ok)" eq "$(entry cpu .ok)" true

stop_kimchid
ok "kimchid exits cleanly" eq "$KEXIT" 0
done_testing
