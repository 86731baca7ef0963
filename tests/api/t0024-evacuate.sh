#!/usr/bin/env bash
# t0024 - POST /host/evacuate's request: every field's bad values are a 400 that names the
# field and writes nothing; without destinations it takes the hosts kimchid logs in to; the
# plan (check_only) lists every guest with why it cannot move; an evacuation puts this host in
# maintenance and ends failed naming the guests that stayed. (The moves themselves: lab t1015.)
. "$(dirname "$0")/../lib.sh"
STATE=$(mktemp -d /tmp/kimchid-test.XXXXXX)
start_kimchid --uri "test://$ROOT/tests/api/node.xml"
MARK=$STATE/maintenance # lib.sh's --maintenance-file
NOWHERE=no-such-host.invalid

code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --netrc-file "$TEST_USERS_DIR/viewer.netrc" \
  -H 'Content-Type: application/json' -d '{"check_only":true}' "$BASE/host/evacuate")
ok "a user who may only look: 403" eq "$code" 403

bad() { # bad BODY WANT-REASON-PREFIX
  req POST /host/evacuate "$1"
  ok "$1: 400 $(cut -c1-12 <<<"$2")" eq "$STATUS $(jq_get .reason | cut -c1-${#2})" "400 $2"
}
bad '{"destinations":"host-b"}' 'WOKAPI0008E: The parameter "destinations" must be a list.'
bad '{"destinations":[]}' 'KCHHOST0105E: "destinations" is empty: name at least one host'
bad '{"destinations":[7]}' 'KCHHOST0105E: "destinations" must be a list of host names (strings).'
bad '{"destinations":[" "]}' 'KCHHOST0105E: "destinations" must list host names or addresses, none of them blank.'
bad '{"destinations":["localhost"]}' 'KCHHOST0105E: "localhost" is this host: an evacuation moves guests to other hosts.'
bad '{"destinations":["h1","h1"]}' 'KCHHOST0105E: "destinations" names "h1" twice.'
bad "$(jq -cn '{destinations:[range(17) | "h\(.)"]}')" 'KCHHOST0105E: The parameter "destinations" lists more than 16 items.'
bad '{"destinations":["bad host!"]}' 'KCHMIGR'
bad '{"destinations":["h1"],"max_parallel":0}' 'KCHHOST0108E: The parameter "max_parallel" must be from 1 to 8 (guests moving from this host at once).'
bad '{"destinations":["h1"],"max_parallel":9}' 'KCHHOST0108E: The parameter "max_parallel" must be from 1 to 8'
bad '{"destinations":["h1"],"max_parallel":"2"}' 'WOKAPI0008E: The parameter "max_parallel" must be an integer.'
bad '{"destinations":["h1"],"include_shutoff":"yes"}' 'WOKAPI0008E: The parameter "include_shutoff" must be true or false.'
bad '{"destinations":["h1"],"check_only":1}' 'WOKAPI0008E: The parameter "check_only" must be true or false.'
bad '{"destinations":["h1"],"force":true}' 'KCHAPI0001E'
bad '{}' 'KCHHOST0104E: kimchid logs in to no other host yet'
ok "...and none of them entered maintenance" test ! -e "$MARK"
req GET /tasks
ok "...nor started a task" eq "$(jq_get '[.[] | select(.target_uri == "/plugins/kimchi/host/evacuate")] | length')" 0

# the plan: a destination that does not resolve takes nothing; each guest says so
req POST /host/evacuate "{\"destinations\":[\"$NOWHERE\"],\"check_only\":true}"
ok "check_only to a host that does not resolve: 200, not ready" eq "$STATUS $(jq_get .ready)" "200 false"
ok "...every guest listed, each cannot move" \
  eq "$(jq_get '[.guests[] | .status] | unique | join(" ")')" cannot-move
ok "...the guests are this host's" eq "$(jq_get '[.guests[].name] | join(" ")')" "alpha busy outside"
ok "...each names the destination and why" has "$(jq_get '.guests[0].message')" "$NOWHERE: KCHMIGR"
ok "...the destination says why it takes nothing" eq "$(jq_get '.destinations[0] | "\(.name) \(.why_not != null) \(.guests)"')" "$NOWHERE true 0"
ok "...and no maintenance" test ! -e "$MARK"

# without destinations: the hosts kimchid logs in to (its peers file), this host left out
printf 'localhost\n%s\n' "$NOWHERE" >"$STATE/peers"
req POST /host/evacuate '{"check_only":true}'
ok "without destinations: the hosts kimchid logs in to, not this host" \
  eq "$STATUS $(jq_get '[.destinations[].name] | join(" ")')" "200 $NOWHERE"
printf '192.0.2.7\n%s\n192.0.2.7\n' "$NOWHERE" >"$STATE/peers" # a file edited by hand
req POST /host/evacuate '{"check_only":true}'
ok "...each once" eq "$(jq_get '[.destinations[].name] | join(" ")')" "192.0.2.7 $NOWHERE"

# the evacuation itself: maintenance from the start; ends failed naming what stayed
req POST /host/evacuate "{\"destinations\":[\"$NOWHERE\"],\"max_parallel\":1}"
ok "evacuate: 202 with a task" eq "$STATUS $(jq_get .target_uri)" "202 /plugins/kimchi/host/evacuate"
ID=$(jq_get .id)
req GET /host
ok "...this host is in maintenance, by whom" eq "$(jq_get '"\(.maintenance) \(.maintenance_by)"')" "true $ADMIN_USER"
wait_task "$ID"
ok "...it ends failed: nothing could move (KCHHOST0106E)" \
  has "$(jq_get '"\(.status) \(.message)"')" 'failed KCHHOST0106E: The evacuation ended in'
ok "...naming the guests" has "$(jq_get .message)" '3 cannot move ("alpha", "busy", "outside")'
ok "...its progress lists them, with max_parallel" \
  eq "$(jq_get '"\(.progress.cannot_move) \(.progress.moved) \(.progress.max_parallel)"')" "3 0 1"
req GET /host
ok "...and this host stays in maintenance" eq "$(jq_get .maintenance)" true
req POST /host/maintenance '{"enabled":false}'
ok "ended by the administrator" eq "$STATUS $(jq_get .maintenance)" "200 false"
stop_kimchid
ok "kimchid exits cleanly (ASan: no leak)" eq "$KEXIT" 0
rm -rf "$STATE"
done_testing
