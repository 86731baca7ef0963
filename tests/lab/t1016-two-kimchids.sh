#!/usr/bin/env bash
# t1016 - several kimchids, one CA each: kimchid on host-a and a second kimchid on host-b both
# move guests into host-c (encrypted) and into each other's host. No move is refused and no
# certificate flip-flops: host-c keeps the server certificate the first kimchid issued, its
# ca-cert.pem holds both CAs (appended, never replaced), and the second kimchid's host trusts
# the first one's CA for it. (An expired certificate a kimchid issued is renewed, not refused:
# tests/unit/test_pki.c.)
. "$(dirname "$0")/lib-lab.sh"
start_lab_kimchid
C_PW=$(jq -r '.[] | select(.name=="labadmin" and .host=="host-c") | .password' "$LAB/users.json")
KA_PW=$(jq -r '.[] | select(.name=="kimchiadmin") | .password' "$LAB/users.json")

# kimchid B on host-b: its own state directory (its own CA) and an administrator of host-b
B_PW="Kb-$(rand_pw)"
lab exec b useradd -m -s /bin/bash -G sudo t1016admin
printf 't1016admin:%s\n' "$B_PW" | lab exec b chpasswd
at_exit "lab exec b userdel -r t1016admin >/dev/null 2>&1"
B_NETRC=$(mktemp /tmp/kimchid-t1016.XXXXXX)
printf 'machine 198.18.0.2 login t1016admin password %s\n' "$B_PW" >"$B_NETRC"
B_STATE=$LAB/b/state-t1016
mkdir -p "$B_STATE"
B_PORT=$(free_port)
# shellcheck disable=SC2086
(umask 077 && exec "$LABCMD" exec b "$KIMCHID" --listen "198.18.0.2:$B_PORT" --state-dir "$B_STATE" \
  --log-level debug $LAB_TIMERS) >>"$LAB/kimchid-b.log" 2>&1 &
B_PID=$!
at_exit "kill -TERM $B_PID 2>/dev/null; for _ in \$(seq 1 300); do kill -0 $B_PID 2>/dev/null || break; sleep 0.1; done; kill -9 $B_PID 2>/dev/null; rm -rf '$B_NETRC' '$B_STATE'; mv '$LAB/kimchid-b.log' '$ROOT/tests/artifacts/lab-t1016-kimchid-b.log' 2>/dev/null"
B_BASE=https://198.18.0.2:$B_PORT/plugins/kimchi
for _ in $(seq 1 200); do curl -sk --max-time 2 -o /dev/null "$B_BASE/vms" && break; sleep 0.05; done
reqb() { BASE=$B_BASE AUTH="--netrc-file $B_NETRC" req "$@"; }

# the ssh trust each needs, set up by a check as the Migrate dialog's is
trust() { # trust a|b HOST USER PASSWORD GUEST
  local body; body=$(jq -n --arg h "$2" --arg u "$3" --arg p "$4" '{remote_host:$h,user:$u,password:$p,check_only:true}')
  if [ "$1" == a ]; then req POST "/vms/$5/migrate" "$body"; else reqb POST "/vms/$5/migrate" "$body"; fi
  ok "kimchid on host-$1 logs in to $2" eq "$STATUS $(jq_get .ready)" "200 true"
}
for g in t16-a1 t16-a2 t16-a3; do lab guest a "$g" 64 nofill persistent; done
for g in t16-b1 t16-b2; do lab guest b "$g" 64 nofill persistent; done
trust a host-c labadmin "$C_PW" t16-a1
trust a host-b labadmin "$ADMIN_PW" t16-a1
trust b host-c labadmin "$C_PW" t16-b1
trust b host-a kimchiadmin "$KA_PW" t16-b1

move() { # move a|b GUEST HOST : a move by that host's kimchid, to its end; BODY the task
  local body; body=$(jq -n --arg h "$3" '{remote_host:$h}')
  if [ "$1" == a ]; then req POST "/vms/$2/migrate" "$body"; else reqb POST "/vms/$2/migrate" "$body"; fi
  local id; id=$(jq_get .id)
  for _ in $(seq 1 600); do
    if [ "$1" == a ]; then req GET "/tasks/$id"; else reqb GET "/tasks/$id"; fi
    [ "$(jq_get .status)" != running ] && break
    sleep 0.2
  done
}
CERT=/etc/pki/qemu
cert_of() { lab exec "$1" sha256sum "$CERT/server-cert.pem" 2>/dev/null | cut -c1-64; }
# holds_ca HOST STATE-DIR : that kimchid's CA is in the host's ca-cert.pem
holds_ca() { lab exec "$1" grep -qF "$(sed -n 2p "$2/pki/ca-cert.pem")" "$CERT/ca-cert.pem"; }

move a t16-a1 host-c
ok "kimchid A moves a guest into host-c (encrypted)" eq "$(jq_get .status) $(vm_state c t16-a1)" "finished running"
before=$(cert_of c)
move b t16-b1 host-c
ok "kimchid B moves one there too: not refused" eq "$(jq_get .status) $(vm_state c t16-b1)" "finished running"
ok "...host-c keeps the server certificate it had (no flip-flop)" eq "$(cert_of c)" "$before"
ok "...host-c's ca-cert.pem holds A's CA" holds_ca c "$STATE"
ok "...and B's, appended" holds_ca c "$B_STATE"
ok "...host-b trusts A's CA, which issued host-c's certificate" holds_ca b "$STATE"
move a t16-a2 host-c
ok "A moves another one into host-c after B: not refused" eq "$(jq_get .status) $(vm_state c t16-a2)" "finished running"
ok "...and host-c's certificate is still the same" eq "$(cert_of c)" "$before"
move a t16-a3 host-b
ok "A moves a guest into host-b, where B runs" eq "$(jq_get .status) $(vm_state b t16-a3)" "finished running"
move b t16-b2 host-a
ok "B moves a guest into host-a, where A runs" eq "$(jq_get .status) $(vm_state a t16-b2)" "finished running"
ok "...host-a's ca-cert.pem holds both CAs" eq "$(holds_ca a "$STATE" && holds_ca a "$B_STATE" && echo yes)" yes
# the SFTP sessions both kept for their next move are closed once idle for 10 s, without one
sftp_sessions() { pgrep -fc '^sftp-server|/sftp-server' || true; }
ok "the kimchids keep SFTP sessions to their destinations for the next move" test "$(sftp_sessions)" -ge 1
sleep 12
ok "...and close them once idle for 10 s, with no request to wake them" eq "$(sftp_sessions)" 0
done_testing
