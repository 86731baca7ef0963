#!/usr/bin/env bash
# t1001 - real migrations host-a -> host-b through kimchid, starting with no ssh trust.
. "$(dirname "$0")/lib-lab.sh"
start_lab_kimchid
LOG_FROM=$(wc -l <"$KLOG")

ok "at the start root on host-a cannot log in to host-b with a key" \
  bash -c "! '$LABCMD' exec a ssh -o BatchMode=yes -o ConnectTimeout=5 -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no root@host-b true 2>/dev/null"

# 1. running persistent guest, with the sudo user's credentials; bandwidth makes it take seconds
migrate vm-one "$(jq -n --arg p "$ADMIN_PW" '{remote_host:"host-b",user:"labadmin",password:$p,bandwidth:4}')"
ok "migrate with credentials: 202 and a task" eq "$STATUS $(jq_get .status)" "202 running"
ok "the task's target_uri names the guest" eq "$(jq_get .target_uri)" /plugins/kimchi/vms/vm-one/migrate
no_password_in_body() { [[ "$BODY" != *"$ADMIN_PW"* ]]; }
ok "the 202 body has no password" no_password_in_body
percents=()
steps=()
for _ in $(seq 1 600); do
  req GET "/tasks/$ID"
  p=$(jq_get '.progress.percent // empty')
  [ -n "$p" ] && percents+=("$p")
  steps+=("$(jq_get .message)")
  [ "$(jq_get .status)" != running ] && break
  sleep 0.25
done
ok "migration task finished" eq "$(jq_get .status)" finished
ok "final message gives time, speed and downtime" has "$(jq_get .message)" 'OK: "vm-one" migrated to "host-b" in '
ok "final message has the downtime" has "$(jq_get .message)" " ms"
ok "final progress: 100 percent with elapsed and downtime figures" eq "$(jq_get '[.progress.percent, (.progress.elapsed_ms|type), (.progress.downtime_ms|type), (.progress.data_total|type)] | join(" ")')" "100 number number number"
distinct=$(printf '%s\n' "${percents[@]}" | awk '$1 < 100' | sort -nu | wc -l)
ok "progress was seen rising in at least two readings below 100% (${percents[*]})" test "$distinct" -ge 2
ok "progress never went backwards" bash -c 'prev=-1; for p in "$@"; do [ "$p" -ge "$prev" ] || exit 1; prev=$p; done' _ "${percents[@]}"
all_steps=$(printf '%s\n' "${steps[@]}" | uniq | tr '\n' '|')
ok "the task went through the ssh set-up step" has "$all_steps" "setting up password-less ssh login"
sftp_once() { # the checks' reads and the certificates' writes on host-b shared one SFTP login,
  # made ahead while libvirt's connection was being made (sshc_sftp_warm)
  local log; log=$(tail -n +"$LOG_FROM" "$KLOG")
  [ "$(grep -c 'ssh: SFTP login to "host-b" as root' <<<"$log")" == 1 ] &&
    grep -q 'ssh: SFTP session to "host-b" opened ahead in ' <<<"$log"
}
ok "...and logged in over SFTP to host-b once, ahead, while libvirt's connection was made" sftp_once
ok "...then the libvirt check" has "$all_steps" "|checking libvirt on the remote host|"
ok "...and the migration" has "$all_steps" "|migrating|"
ok "vm-one runs on host-b" eq "$(vm_state b vm-one)" running
ok "vm-one is persistent on host-b" eq "$(vm_persistent b vm-one)" yes
ok "vm-one is shut off but still defined on host-a" eq "$(vm_state a vm-one)" "shut off"
req GET /vms/vm-one
ok "kimchid shows vm-one shut off" eq "$(jq_get .state)" shutoff
ok "...and where it moved (moved_to)" eq "$(jq_get .moved_to.host)" host-b
ok "the mark is in the old definition's own XML, with a time" bash -c \
  "'$LABCMD' exec a virsh -q -c qemu:///system dumpxml vm-one --inactive | grep -q '<kimchid:moved xmlns:kimchid=\"https://kimchid.invalid/xmlns/moved/1\" host=\"host-b\" at=\"20'"
req POST /vms/vm-one/start
ok "starting the old definition while the guest runs on host-b: 409" eq "$STATUS" 409
ok "...saying where it runs and how to force it" has "$(jq_get .reason)" \
  'KCHMIGR0014E: "vm-one" was moved to "host-b" at 20'
ok "...and nothing started on host-a" eq "$(vm_state a vm-one)" "shut off"
ok "root's key is in host-b's authorized_keys once" eq "$(grep -c kimchid-root@host-a "$LAB/b/root/.ssh/authorized_keys")" 1
ok "host-b's key was recorded in host-a's known_hosts" grep -q '^host-b ' "$LAB/a/root/.ssh/known_hosts"
ok "root key login from host-a to host-b now works" "$LABCMD" exec a ssh -o BatchMode=yes root@host-b true

# 2. second running guest, no credentials (trust is set up), delete_source; the event stream
# tells a listener the guest moved away
EVS=$(mktemp)
# shellcheck disable=SC2086
curl -sN $CURL_OPTS $AUTH "$BASE/events" >"$EVS" &
EVPID=$!
eventually 5 grep -q '^event: ready' "$EVS"
migrate vm-two '{"remote_host":"host-b","delete_source":true}'
ok "migrate without credentials, delete_source: 202" eq "$STATUS" 202
wait_task "$ID"
ok "delete_source migration finished" eq "$(jq_get .status)" finished
ok "its message says the source definition was removed" has "$(jq_get .message)" "source definition removed"
ok "vm-two runs on host-b" eq "$(vm_state b vm-two)" running
ok "vm-two is gone from host-a" eq "$(vm_state a vm-two)" absent
unlisted() { req GET /vms/vm-two; [ "$STATUS" == 404 ]; }
ok "kimchid no longer lists vm-two" eventually 5 unlisted
moved_away() { grep -q '^data: {"change":"removed","name":"vm-two","vm":null,"while":"migrating"}$' "$EVS"; }
ok "the event stream told a listener vm-two went away while migrating" eventually 3 moved_away
ok "...after its task's progress frames (the stream carried the move)" \
  test "$(grep -c '^data: {"id":"'"$ID"'","status":"running"' "$EVS")" -ge 3
kill "$EVPID"; rm -f "$EVS"

# 3. transient guest
migrate vm-transient '{"remote_host":"host-b"}'
wait_task "$ID"
ok "transient guest migration finished" eq "$(jq_get .status)" finished
ok "vm-transient runs on host-b" eq "$(vm_state b vm-transient)" running
ok "vm-transient stays transient on host-b" eq "$(vm_persistent b vm-transient)" no
ok "vm-transient is gone from host-a" eq "$(vm_state a vm-transient)" absent

# 4. shut-off guest: offline migration
migrate vm-off '{"remote_host":"198.18.0.2"}'
wait_task "$ID"
ok "offline migration of a shut-off guest finished (by address)" eq "$(jq_get .status)" finished
ok "vm-off is defined, shut off, on host-b" eq "$(vm_state b vm-off)" "shut off"
ok "vm-off stays defined on host-a" eq "$(vm_state a vm-off)" "shut off"

# 5. credentials again: no duplicate key line
lab guest a vm-again 64 nofill persistent
migrate vm-again "$(jq -n --arg p "$ADMIN_PW" '{remote_host:"host-b",user:"labadmin",password:$p}')"
wait_task "$ID"
ok "a second set-up with credentials finished" eq "$(jq_get .status)" finished
ok "...and did not add the key twice" eq "$(grep -c kimchid-root@host-a "$LAB/b/root/.ssh/authorized_keys")" 1

ok "the sudo user's password is in no log, state file or command line" secrets_absent "$ADMIN_PW"
stop_kimchid
ok "kimchid exits cleanly" eq "$KEXIT" 0
ok "the password is not in the task database" secrets_absent "$ADMIN_PW"
done_testing
