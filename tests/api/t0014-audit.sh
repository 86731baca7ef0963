#!/usr/bin/env bash
# t0014 - the audit trail (<state-dir>/audit.log): who logged in or failed to, who asked for
# which change and what came of it, and how each task ended; one line each, mode 0600, no
# secret, and no value that could forge a line; bounded (requests without a login summarised
# past 20 a minute, failed logins on a budget of their own, the file rotated past --audit-max).
. "$(dirname "$0")/../lib.sh"
start_kimchid --uri "test://$ROOT/tests/api/node.xml"
AUD=$STATE/audit.log
VIEW="--netrc-file $TEST_USERS_DIR/viewer.netrc"
post_login() { # post_login USER PASSWORD : the HTTP status of POST /login
  local f; f=$(mktemp)
  jq -n --arg u "$1" --arg p "$2" '{username:$u,password:$p}' >"$f"
  curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$f" \
    "http://127.0.0.1:$PORT/login"
  rm -f "$f"
}
line_with() { grep -F -- "$1" "$AUD" | grep -F -- "$2"; } # line_with A B : a line holding both

ok "a login: 200" eq "$(post_login "$ADMIN_USER" "$ADMIN_PW")" 200
ok "...is in the audit trail, with who and from where" \
  line_with "user=\"$ADMIN_USER\" from=\"127.0.0.1\" request=\"POST /login\"" 'outcome="200"'
ok "a failed login: 401" eq "$(post_login "$VIEWER_USER" wrong-password)" 401
ok "...is there with its error id" line_with "user=\"$VIEWER_USER\"" 'outcome="401 WOKAUTH0008E"'
post_login "$(printf 'evil\n2026-01-01T00:00:00Z user="root"')" x >/dev/null
ok "a user name with a newline cannot forge a line" \
  line_with 'user="evil\x0a2026-01-01T00:00:00Z user=\"root\""' 'outcome="401 WOKAUTH0008E"'

req POST /vms/busy/suspend
ok "a change: who asked for what, and the answer" \
  line_with "user=\"$ADMIN_USER\" from=\"127.0.0.1\" request=\"POST /plugins/kimchi/vms/busy/suspend\"" 'outcome="200"'
req POST /vms/busy/resume
req POST /vms/nosuch/start
ok "a refused change: its error id" line_with 'request="POST /plugins/kimchi/vms/nosuch/start"' 'outcome="404 KCHVM0002E"'
# shellcheck disable=SC2086
curl -s -o /dev/null $VIEW -X POST "$BASE/vms/busy/suspend"
ok "a viewer's attempt: 403, with the viewer's name" \
  line_with "user=\"$VIEWER_USER\"" 'outcome="403 WOKAPI0009E"'
req POST /vms/alpha/clone
id=$(jq_get .id)
ok "a clone: 202 and the task it started" line_with 'request="POST /plugins/kimchi/vms/alpha/clone"' "outcome=\"202 task $id\""
wait_task "$id"
ok "...and the task's end, under its id" line_with "request=\"task $id /plugins/kimchi/vms/alpha-clone-1/clone\"" 'outcome="finished: OK"'
req GET /vms
ok "reads are not audited" no_match "$AUD" -q 'request="GET '
ok "the trail is root's only (mode 0600)" eq "$(stat -c %a "$AUD")" 600
no_secret() { # the passwords are not in the trail (the pattern goes through a file)
  local pat; pat=$(mktemp); printf '%s\n%s\n' "$ADMIN_PW" "$VIEWER_PW" >"$pat"
  no_match "$AUD" -qF -f "$pat"; local rc=$?; rm -f "$pat"; return $rc
}
ok "no password is in the trail" no_secret
ok "every line is one event: time, user, from, request, outcome" \
  no_match "$AUD" -qvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z user="[^"]*(\\"[^"]*)*" from="[^"]*" request=".*" outcome=".*"$'
# requests refused from nobody logged in, which anyone can send: 20 lines a minute at most,
# the rest counted into one summary line (written at the latest when kimchid stops)
ok "100 POSTs without a login: 401 each" \
  eq "$(python3 "$ROOT/tests/api/burst.py" "$PORT" 100 POST /plugins/kimchi/vms/busy/start)" "401 100"
stop_kimchid
ok "clean exit" eq "$KEXIT" 0
flood_lines=$(grep -c 'request="POST /plugins/kimchi/vms/busy/start" outcome="401 ' "$AUD")
held=$(sed -n 's/.*request="requests without a login" outcome="\([0-9]*\) more not written since .* (at most 20 a minute are)"$/\1/p' "$AUD" | awk '{s += $1} END {print s + 0}')
ok "...at most 20 of them written a minute (${flood_lines})" test "$flood_lines" -le 40
ok "...the rest counted in a summary line (${held:-none})" test "$((flood_lines + ${held:-0}))" -ge 100

# a bounded trail: past --audit-max it becomes audit.log.1 and a new one starts
STATE=$(mktemp -d /tmp/kimchid-test.XXXXXX)
start_kimchid --uri "test://$ROOT/tests/api/node.xml" --audit-max 64K
AUD=$STATE/audit.log
# logged in once, as a browser is (Basic credentials would run PAM 600 times)
printf '{"username":"%s","password":"%s"}' "$ADMIN_USER" "$ADMIN_PW" >"$STATE/login"
COOKIE=$(curl -s -i -H 'Content-Type: application/json' --data-binary @"$STATE/login" \
  "http://127.0.0.1:$PORT/login" | sed -n 's/^Set-Cookie: \([^;]*\).*/\1/ip' | tr -d '\r')
rm -f "$STATE/login"
ok "600 refused changes by a logged-in admin: all answered" \
  eq "$(BURST_COOKIE="$COOKIE" python3 "$ROOT/tests/api/burst.py" "$PORT" 600 POST /plugins/kimchi/vms/nosuch/start)" "404 600"
stop_kimchid
ok "...past 64 KiB the trail was rotated to audit.log.1" test -s "$AUD.1"
ok "...which is root's only too (0600)" eq "$(stat -c %a "$AUD.1")" 600
ok "...neither file holds much more than 64 KiB" \
  test "$(stat -c %s "$AUD")" -le 66000 -a "$(stat -c %s "$AUD.1")" -le 66000
ok "...the new file says where the lines before are" \
  grep -q "request=\"audit trail\" outcome=\"rotated: the lines before are in $AUD.1\"" "$AUD"
ok "...and no line of a logged-in user was dropped (600 in the two files)" \
  eq "$(cat "$AUD.1" "$AUD" | grep -c "user=\"$ADMIN_USER\" from=\"127.0.0.1\" request=\"POST /plugins/kimchi/vms/nosuch/start\" outcome=\"404 KCHVM0002E\"")" 600

# strangers cannot erase the trail: every request from nobody logged in goes through the
# bounded path, whatever its answer (a /logout without a session writes nothing at all), and
# failed logins have a budget of their own
STATE=$(mktemp -d /tmp/kimchid-test.XXXXXX)
start_kimchid --uri "test://$ROOT/tests/api/node.xml" --audit-max 64K
AUD=$STATE/audit.log
req POST /vms/busy/suspend
req POST /vms/busy/resume
flood() { python3 "$ROOT/tests/api/burst.py" "$PORT" 1500 POST "$1"; }
ok "1500 POSTs /logout from nobody logged in: 200 each (Wok's answer)" eq "$(flood /logout)" "200 1500"
ok "1500 POSTs to a guest's action without a login: 401 each" eq "$(flood /plugins/kimchi/vms/busy/start)" "401 1500"
ok "1500 POSTs to nowhere without a login: 404 each" eq "$(flood /plugins/kimchi/nowhere)" "404 1500"
ok "...then a failed login, after over 20 anonymous refusals this minute: 401" \
  eq "$(post_login guess-after-flood wrong)" 401
ok "...is written with its user and address all the same (a budget of its own)" \
  line_with 'user="guess-after-flood" from="127.0.0.1" request="POST /login"' 'outcome="401 WOKAUTH0008E"'
ok "1500 malformed logins: 400 each" eq "$(flood /login)" "400 1500"
stop_kimchid
ok "...the trail was not rotated: the flood wrote little (audit.log $(stat -c %s "$AUD") bytes)" \
  test ! -e "$AUD.1" -a "$(stat -c %s "$AUD")" -lt 16384
ok "...the admin's earlier changes are still there" \
  line_with "user=\"$ADMIN_USER\" from=\"127.0.0.1\" request=\"POST /plugins/kimchi/vms/busy/suspend\"" 'outcome="200"'
ok "...no line for a /logout that ended no session" no_match "$AUD" -q 'request="POST /logout"'
held=$(sed -n 's/.*request="requests without a login" outcome="\([0-9]*\) more not written since .*/\1/p' "$AUD" | awk '{s += $1} END {print s + 0}')
ok "...the anonymous requests not written are counted (${held})" test "$held" -ge 2900
ok "...the failed logins not written too, in a summary of their own naming who and from where" \
  grep -qE 'request="failed logins" outcome="[0-9]+ more not written since .* \(at most 20 a minute are\); users: -; from: 127\.0\.0\.1"' "$AUD"
done_testing
