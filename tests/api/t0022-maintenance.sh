#!/usr/bin/env bash
# t0022 - this host's maintenance: entered and ended by an administrator, shown by GET /host,
# refusing to start guests here (unless forced), kept across a restart in its marker file.
. "$(dirname "$0")/../lib.sh"
STATE=$(mktemp -d /tmp/kimchid-test.XXXXXX)
start_kimchid --uri "test://$ROOT/tests/api/node.xml"
MARK=$STATE/maintenance # lib.sh's --maintenance-file

req GET /host
ok "GET /host: not in maintenance" eq "$(jq_get '[.maintenance, .maintenance_since, .maintenance_by] | map(tostring) | join(" ")')" "false null null"

req POST /host/maintenance '{}'
ok "POST /host/maintenance without enabled: 400" eq "$STATUS" 400
ok "...naming the field" has "$(jq_get .reason)" '"enabled"'
req POST /host/maintenance '{"enabled":"yes"}'
ok "enabled of the wrong type: 400 WOKAPI0008E" eq "$STATUS $(jq_get .reason)" \
  '400 WOKAPI0008E: The parameter "enabled" must be true or false.'
req POST /host/maintenance '{"enabled":true,"why":"disks"}'
ok "an unknown field: 400" eq "$STATUS" 400
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --netrc-file "$TEST_USERS_DIR/viewer.netrc" \
  -H 'Content-Type: application/json' -d '{"enabled":true}' "$BASE/host/maintenance")
ok "a user who may only look: 403" eq "$code" 403
ok "...and nothing was written" test ! -e "$MARK"

req POST /host/maintenance '{"enabled":true}'
ok "enter maintenance: 200, on" eq "$STATUS $(jq_get .maintenance)" "200 true"
ok "...saying who" eq "$(jq_get .maintenance_by)" "$ADMIN_USER"
ok "...and since when (UTC)" has "$(jq_get .maintenance_since)" "$(date -u +%Y-%m-%dT)"
SINCE=$(jq_get .maintenance_since)
ok "the marker holds the same" eq "$(jq -c . "$MARK")" "{\"since\":\"$SINCE\",\"by\":\"$ADMIN_USER\"}"
req GET /host
ok "GET /host says maintenance" eq "$(jq_get .maintenance)" true

req POST /vms/alpha/start
ok "starting a guest in maintenance: 409" eq "$STATUS" 409
ok "...saying why and what to do" eq "$(jq_get .reason)" \
  "KCHHOST0102E: This host is in maintenance (since $SINCE, by $ADMIN_USER): guests are not started here. Start \"alpha\" on another host, end maintenance (POST /plugins/kimchi/host/maintenance {\"enabled\": false}), or start it with {\"force\": true}."
req GET /vms/alpha
ok "...the guest stays shut off" eq "$(jq_get .state)" shutoff
req POST /vms/alpha/start '{"force":true}'
ok "with force: started" eq "$STATUS $(jq_get .state)" "200 running"
req POST /vms/alpha/poweroff

sleep 1
req POST /host/maintenance '{"enabled":true}'
ok "entering it again keeps when it began" eq "$(jq_get .maintenance_since)" "$SINCE"

stop_kimchid
start_kimchid --uri "test://$ROOT/tests/api/node.xml"
req GET /host
ok "after a restart: still in maintenance, same start" eq "$(jq_get .maintenance) $(jq_get .maintenance_since)" "true $SINCE"
req POST /vms/alpha/start
ok "...and starting is still refused" eq "$STATUS" 409

req POST /host/maintenance '{"enabled":false}'
ok "end maintenance: 200, off" eq "$STATUS $(jq_get .maintenance) $(jq_get .maintenance_since)" "200 false null"
ok "...the marker is gone" test ! -e "$MARK"
req POST /vms/alpha/start
ok "...guests start again" eq "$STATUS $(jq_get .state)" "200 running"
req POST /host/maintenance '{"enabled":false}'
ok "ending it again: 200, off" eq "$STATUS $(jq_get .maintenance)" "200 false"

echo '{"since":' >"$MARK"
req GET /host
ok "a marker that does not parse still means maintenance" eq "$(jq_get .maintenance) $(jq_get .maintenance_by)" "true ?"
rm -f "$MARK"

stop_kimchid
ok "kimchid exits cleanly" eq "$KEXIT" 0
rm -rf "$STATE"
done_testing
