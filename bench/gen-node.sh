#!/usr/bin/env bash
# gen-node.sh N : prints a libvirt test-driver node with N guests (half running).
n=$1
echo "<node>"
for i in $(seq 1 "$n"); do
  state=$(( i % 2 ? 1 : 5 ))
  printf "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'><name>guest-%04d</name><title>Guest %d</title><memory unit='MiB'>256</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os><devices><interface type='network'><source network='default'/></interface><graphics type='vnc' port='%d' listen='127.0.0.1'/></devices><test:runstate>%d</test:runstate></domain>\n" "$i" "$i" $((5900 + i)) "$state"
done
echo "</node>"
