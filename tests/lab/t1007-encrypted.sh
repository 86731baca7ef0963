#!/usr/bin/env bash
# t1007 - a guest's memory never crosses the network in clear: a unique marker lives in a
# booted guest's RAM (its kernel command line); the traffic between the hosts is captured on
# the lab bridge during a move. With the default (encrypted) the marker is not on the wire;
# with "encrypted": false it is (so the test can fail). kimchid sets TLS up by itself the first
# time (its CA in the state directory, certificates in /etc/pki/qemu on both hosts), reuses
# it later, renews its own certificate when it is about to expire, and refuses to replace a
# certificate it did not issue.
. "$(dirname "$0")/lib-lab.sh"
# the first time is this script's, whatever earlier scripts moved: what kimchid installed in
# /etc/pki/qemu before goes (its CA in the state directory stays)
for h in a b; do
  lab exec "$h" sh -c 'cd /etc/pki/qemu 2>/dev/null && rm -f ca-cert.pem client-cert.pem client-key.pem server-cert.pem server-key.pem dh-params.pem'
done
start_lab_kimchid
V=$VIRSH
PKI=/etc/pki/qemu
MARK="kimchid-marker-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PCAP=$(mktemp /tmp/kimchid-t1007.XXXXXX)
at_exit 'rm -f "$PCAP"'

# moved NAME BODY : migrates NAME with BODY while capturing the hosts' traffic into PCAP
moved() {
  : >"$PCAP"
  tcpdump -i kimchid-br0 -U -s 0 -w "$PCAP" 'tcp and host 198.18.0.1 and host 198.18.0.2' 2>/dev/null &
  local cap=$!
  eventually 5 test -s "$PCAP" || true # the pcap header: tcpdump is listening
  migrate "$1" "$2"
  wait_task "$ID"
  sleep 1 # the last segments reach the capture
  kill -INT "$cap"; wait "$cap" 2>/dev/null || true
}
marks() { grep -a -c -- "$MARK" "$PCAP" || true; }
captured_mib() { echo $(( $(stat -c %s "$PCAP") / 1048576 )); }

for g in vm-mark1 vm-mark2 vm-mark3; do
  KIMCHID_LAB_CMDLINE="kmark=$MARK" lab booted a "$g" "" 16 0
done
for g in vm-mark1 vm-mark2 vm-mark3; do ok "$g booted with the marker on its command line" wait_hb a "$g" 1 90; done

# 1. the default: encrypted, set up by kimchid the first time
moved vm-mark1 "$(jq -n --arg p "$ADMIN_PW" '{remote_host:"host-b",user:"labadmin",password:$p}')"
ok "an encrypted move (the default) finishes" eq "$(jq_get .status)" finished
ok "...the capture holds the move ($(captured_mib) MiB)" test "$(captured_mib)" -ge 8
ok "...and the marker in the guest's memory is not on the wire" eq "$(marks)" 0
ok "...the guest carried on" survived vm-mark1
ok "kimchid's CA is in its state directory, the key readable by root only" \
  eq "$(stat -c '%a %U' "$STATE/pki/ca-key.pem") $(stat -c '%a' "$STATE/pki/ca-cert.pem")" "600 root 644"
verified() { lab exec a certtool --verify --load-ca-certificate "$PKI/ca-cert.pem" --infile "$PKI/client-cert.pem" >/dev/null 2>&1; }
ok "host-a trusts it and holds a client certificate it issued" verified
ok "host-b trusts it and holds a server certificate naming host-b and its address" bash -c \
  "'$LABCMD' exec b certtool -i --infile $PKI/server-cert.pem | grep -q 'DNSname: host-b' &&
   '$LABCMD' exec b certtool -i --infile $PKI/server-cert.pem | grep -q 'IPAddress: 198.18.0.2'"
ok "...its key readable by root and QEMU's group only" eq "$(lab exec b stat -c '%a %U %G' "$PKI/server-key.pem")" "640 root libvirt-qemu"
ok "...and RFC 7919's ffdhe2048 group as its Diffie-Hellman parameters (else QEMU makes its own on every move)" \
  bash -c "'$LABCMD' exec b cat $PKI/dh-params.pem | grep -q '^MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz$' &&
   [ \"\$('$LABCMD' exec b stat -c %a $PKI/dh-params.pem)\" == 644 ]"
ok "kimchid's log says what it installed, once" eq "$(grep -c ': installed kimchid.s CA on this host, a client certificate on this host, kimchid.s CA on host-b, a server certificate on host-b, Diffie-Hellman parameters on host-b$' "$KLOG")" 1

# 2. not encrypted when asked: the same memory is readable on the wire
moved vm-mark2 '{"remote_host":"host-b","encrypted":false}'
ok "\"encrypted\": false: the move finishes" eq "$(jq_get .status)" finished
ok "...and the marker is on the wire ($(marks) times): what encryption hides" test "$(marks)" -ge 1
ok "...the guest carried on" survived vm-mark2

# 3. later moves reuse the certificates; kimchid's own that is about to expire is renewed (a
# destination found ready is checked again after 10 minutes, a failed move or a restart)
stop_kimchid
start_lab_kimchid
before=$(lab exec b sha256sum "$PKI/server-cert.pem")
lab exec b sh -c "cat > /tmp/tmpl" <<'TMPL'
cn = "host-b"
dns_name = "host-b"
ip_address = "198.18.0.2"
expiration_days = 5
tls_www_server
encryption_key
signing_key
TMPL
expiring=$(mktemp)
certtool --generate-certificate --load-privkey <(lab exec b cat "$PKI/server-key.pem") \
  --load-ca-certificate "$STATE/pki/ca-cert.pem" --load-ca-privkey "$STATE/pki/ca-key.pem" \
  --template <(lab exec b cat /tmp/tmpl) --outfile "$expiring" 2>/dev/null
lab exec b sh -c "cat > $PKI/server-cert.pem" <"$expiring"
rm -f "$expiring"
lab exec b sh -c "certtool --get-dh-params --sec-param high 2>/dev/null | sed -n '/BEGIN/,/END/p' > $PKI/dh-params.pem"
own_dh=$(lab exec b sha256sum "$PKI/dh-params.pem")
moved vm-mark3 '{"remote_host":"host-b"}'
ok "with kimchid's certificate on host-b expiring in 5 days, the move finishes" eq "$(jq_get .status)" finished
ok "...encrypted" eq "$(marks)" 0
ok "...and host-b's certificate was renewed (a year now)" bash -c \
  "'$LABCMD' exec b certtool -i --infile $PKI/server-cert.pem | grep -q 'Not After: .*$(date -d '+396 days' +%Y)'"
ok "...which is not the one before" bash -c "[ \"\$('$LABCMD' exec b sha256sum $PKI/server-cert.pem)\" != '$before' ]"
ok "...while Diffie-Hellman parameters kimchid did not write stay as they were" eq "$(lab exec b sha256sum "$PKI/dh-params.pem")" "$own_dh"
ok "...the guest carried on" survived vm-mark3

# 4. a certificate kimchid did not issue is never replaced
stop_kimchid
start_lab_kimchid
lab exec b sh -c "cp -p $PKI/server-cert.pem /root/kimchid-cert.pem && cp -p $PKI/server-key.pem /root/kimchid-key.pem" # -p: QEMU (libvirt-qemu) reads the key through its group
lab exec b certtool --generate-privkey --outfile "$PKI/server-key.pem" 2>/dev/null
lab exec b sh -c "printf 'cn = host-b\nexpiration_days = 30\ntls_www_server\n' > /tmp/tmpl2"
lab exec b certtool --generate-self-signed --load-privkey "$PKI/server-key.pem" --template /tmp/tmpl2 \
  --outfile "$PKI/server-cert.pem" 2>/dev/null
foreign=$(lab exec b sha256sum "$PKI/server-cert.pem")
KIMCHID_LAB_CMDLINE="kmark=$MARK" lab booted a vm-mark4 "" 16 0
ok "vm-mark4 booted" wait_hb a vm-mark4 1 90
migrate vm-mark4 '{"remote_host":"host-b"}'
wait_task "$ID"
ok "with a server certificate on host-b that kimchid did not issue, the move fails" eq "$(jq_get .status)" failed
ok "...saying so and what to do" has "$(jq_get .message)" \
  'KCHMIGR0044E: Migration of "vm-mark4" to "host-b" failed while setting up encryption (TLS certificates): host-b already has a TLS certificate for migrations, /etc/pki/qemu/server-cert.pem, that kimchid did not issue, and kimchid does not replace it.'
ok "...the certificate is untouched" eq "$(lab exec b sha256sum "$PKI/server-cert.pem")" "$foreign"
ok "...and vm-mark4 runs on host-a, nothing of it on host-b" \
  bash -c "[ \"\$('$LABCMD' exec a $V domstate vm-mark4)\" == running ] && ! '$LABCMD' exec b $V domstate vm-mark4 >/dev/null 2>&1"
lab exec b sh -c "mv /root/kimchid-cert.pem $PKI/server-cert.pem && mv /root/kimchid-key.pem $PKI/server-key.pem"

for g in vm-mark1 vm-mark2 vm-mark3; do lab exec b $V destroy "$g" >/dev/null 2>&1 || true; done
lab exec a $V destroy vm-mark4 >/dev/null 2>&1 || true
stop_kimchid
ok "kimchid exits cleanly" eq "$KEXIT" 0
ok "no private key is in kimchid's log" no_match "$KLOG" -q 'PRIVATE KEY'
done_testing
