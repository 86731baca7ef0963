#!/usr/bin/env bash
# t1009 - the first contact with a host: kimchid shows the ssh host key it is offered
# (GET /host/sshkey, what the Migrate dialog shows), a move may name the key it must be
# (host_key) and is refused for any other, known or not, and with --known-hosts-strict no
# first contact happens without it (the password, which can run sudo, goes nowhere).
. "$(dirname "$0")/lib-lab.sh"
KH=$LAB/a/root/.ssh/known_hosts
AK=/root/.ssh/authorized_keys # host-b's root's
known_b() { grep -q '^host-b ' "$KH" 2>/dev/null; }
# what this script changes is put back as it was: host-a's known_hosts and host-b's trust
SAVED=$(mktemp -d /tmp/kimchid-t1009.XXXXXX)
[ -f "$KH" ] && cp -p "$KH" "$SAVED/known_hosts"
lab exec b sh -c "[ -f $AK ] && cat $AK" >"$SAVED/authorized_keys" 2>/dev/null
put_back() {
  if [ -f "$SAVED/known_hosts" ]; then cp -p "$SAVED/known_hosts" "$KH"; else rm -f "$KH"; fi
  lab exec b sh -c "cat >$AK" <"$SAVED/authorized_keys"
  rm -rf "$SAVED"
}
at_exit put_back
# host-b is new to kimchid: every line for it goes (hashed ones too: OpenSSH's, for libvirt)
for n in host-b 198.18.0.2; do [ -f "$KH" ] && ssh-keygen -q -R "$n" -f "$KH" >/dev/null 2>&1; done
rm -f "$KH.old"
KIMCHID_ARGS="--known-hosts-strict"
start_lab_kimchid
REAL=$(lab exec b ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | awk '{print $2}')
WRONG=SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
creds() { jq -n --arg p "$ADMIN_PW" --arg k "${1:-}" \
  '{remote_host:"host-b",user:"labadmin",password:$p} + (if $k == "" then {} else {host_key:$k} end)'; }

req GET "/host/sshkey?host=host-b"
ok "GET /host/sshkey?host=host-b: host-b's ed25519 key, as ssh-keygen -lf shows it there, not known yet" \
  eq "$STATUS $(jq_get '[.host, .fingerprint, .known] | join(" ")')" "200 host-b $REAL false"
ok "...and nothing was recorded" bash -c "! grep -q '^host-b ' '$KH' 2>/dev/null"
req GET "/host/sshkey?host="
ok "...without a host: 400" eq "$STATUS" 400

lab guest a vm-hk1 64 nofill persistent
migrate vm-hk1 "$(creds)"
wait_task "$ID"
ok "--known-hosts-strict, a first move without host_key: failed, naming the key to compare (KCHSSH0022E)" \
  has "$(jq_get .status) $(jq_get .message)" \
  "failed KCHSSH0022E: Migration of \"vm-hk1\" to \"host-b\" failed while setting up password-less ssh login: kimchid has never connected to \"host-b\", whose ssh host key is $REAL."
ok "...host-b's key was not recorded" bash -c "! grep -q '^host-b ' '$KH' 2>/dev/null"
ok "...and kimchid never logged in there (no password sent)" no_match "$KLOG" -q 'now accepts kimchid.s key'
migrate vm-hk1 "$(creds "$WRONG")"
wait_task "$ID"
ok "a first move whose host_key is another key: failed, showing both (KCHSSH0021E)" \
  has "$(jq_get .status) $(jq_get .message)" \
  "The ssh host key of \"host-b\" is $REAL, not $WRONG as given (host_key)."
ok "...not recorded either" bash -c "! grep -q '^host-b ' '$KH' 2>/dev/null"
migrate vm-hk1 "$(creds "SHA256:short")"
ok "a host_key that is no fingerprint: 400 KCHMIGR0048E, before any task" has "$STATUS $(jq_get .reason)" \
  "400 KCHMIGR0048E: The parameter \"host_key\" must be an ssh key fingerprint"
migrate vm-hk1 "$(creds "$REAL")"
wait_task "$ID"
ok "with host-b's own key as host_key: the move finishes" eq "$(jq_get .status)" finished
ok "...the key is recorded" known_b
ok "...as confirmed" grep -qF "recorded host key of \"host-b\" ($REAL) on first contact, as confirmed (host_key)" "$KLOG"
req GET "/host/sshkey?host=host-b"
ok "GET /host/sshkey now says it is known" eq "$(jq_get .known)" true

lab guest a vm-hk2 64 nofill persistent
migrate vm-hk2 "$(jq -n --arg k "$WRONG" '{remote_host:"host-b",host_key:$k}')"
wait_task "$ID"
ok "a known host, but a move naming another key: refused all the same (KCHSSH0021E)" \
  has "$(jq_get .status) $(jq_get .message)" "failed KCHSSH0021E: "
ok "...and the guest stays on host-a" eq "$(vm_state a vm-hk2) $(vm_state b vm-hk2)" "running absent"
migrate vm-hk2 '{"remote_host":"host-b"}'
wait_task "$ID"
ok "...without host_key, a host known already moves as before, strict or not" eq "$(jq_get .status)" finished

for g in vm-hk1 vm-hk2; do
  for h in a b; do lab exec "$h" $VIRSH destroy "$g" >/dev/null 2>&1; lab exec "$h" $VIRSH undefine "$g" >/dev/null 2>&1; done
done
stop_kimchid
ok "kimchid exits cleanly" eq "$KEXIT" 0
done_testing
