#!/usr/bin/env bash
# t0018 - GET /plugins/kimchi/events: a Server-Sent Events stream of task and guest changes,
# for logged-in users; "ready" first (with the position as its id); a client that reconnects
# with Last-Event-ID gets what happened while it was away; ids it cannot resume get a reload;
# a stopping kimchid ends the streams at once.
. "$(dirname "$0")/../lib.sh"
start_kimchid --uri "test://$ROOT/tests/api/node.xml"
EV=$(mktemp); EV2=$(mktemp); HDR=$(mktemp)
trap 'rm -f "$EV" "$EV2" "$HDR"; kill $CURL 2>/dev/null' EXIT

# listen FILE [HEADER] : the stream into FILE, in the background (sets CURL)
listen() {
  # shellcheck disable=SC2086
  curl -sN $AUTH -D "$HDR" ${2:+-H "$2"} "$BASE/events" >"$1" &
  CURL=$!
  eventually 5 grep -q '^event: ready' "$1"
}
# frames FILE EVENT : the data lines of EVENT frames in FILE, one JSON per line
frames() { awk -v ev="event: $2" '$0 == ev { getline; sub(/^data: /, ""); print }' "$1"; }
# has_frame FILE EVENT COND : some EVENT frame's data in FILE satisfies the jq condition COND
has_frame() { frames "$1" "$2" | jq -s -e --arg id "${id:-}" "any(.[]; $3)" >/dev/null; }
last_id() { grep '^id: ' "$1" | tail -n1 | cut -c5-; }

st=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/events")
ok "without a login: 401" eq "$st" 401

listen "$EV"
ok "a logged-in client gets a text/event-stream" grep -qi '^content-type: text/event-stream' "$HDR"
ok "...starting with \"ready\", reload true (a first connection fetches what it shows)" \
  eq "$(frames "$EV" ready)" '{"reload":true}'
ok "...whose id is the stream's position" grep -qE '^id: [0-9]+\.[0-9]+$' "$EV"

req POST /vms/alpha/clone
id=$(jq_get .id)
wait_task "$id"
ok "a task's creation reaches the stream" eventually 3 has_frame "$EV" task '.id == $id and .status == "running"'
ok "...and its end, as GET /tasks/:id shows it" eventually 3 has_frame "$EV" task '.id == $id and .status == "finished"'
ok "...the end is the last frame of that task" eq "$(frames "$EV" task | jq -r --arg id "$id" 'select(.id == $id) | .status' | tail -n1)" finished
ok "the new guest arrives as \"added\" with its VM object" eventually 3 \
  has_frame "$EV" vm '.change == "added" and .name == "alpha-clone-1" and .vm.state == "shutoff"'

req POST /vms/busy/poweroff
ok "a guest powered off arrives as \"changed\", state shutoff" eventually 3 \
  has_frame "$EV" vm '.change == "changed" and .name == "busy" and .vm.state == "shutoff"'

# away: what happens while the client is disconnected is sent when it comes back
seen=$(last_id "$EV")
kill $CURL; wait $CURL 2>/dev/null
req POST /vms/busy/start
req DELETE /vms/alpha-clone-1
listen "$EV2" "Last-Event-ID: $seen"
ok "reconnecting with Last-Event-ID: ready says no reload" eq "$(frames "$EV2" ready | head -n1)" '{"reload":false}'
ok "...and the start that happened meanwhile arrives" eventually 3 \
  has_frame "$EV2" vm '.name == "busy" and .vm.state == "running"'
ok "...and the removal" eventually 3 \
  has_frame "$EV2" vm '.change == "removed" and .name == "alpha-clone-1" and .vm == null'
ok "...nothing from before the id is sent again" bash -c "! grep -q '\"id\":\"$id\"' '$EV2'"
kill $CURL; wait $CURL 2>/dev/null

st=$(curl -s $AUTH -o "$EV2" -w '%{http_code}' -H 'Last-Event-ID: not-an-id' "$BASE/events")
ok "a malformed Last-Event-ID: 400 saying what to do" eq "$st $(jq -r .reason "$EV2")" \
  '400 KCHAPI0017E: The Last-Event-ID header "not-an-id" is not an id this event stream sends (they look like 1795716946209.42). Reconnect without it and reload what you show.'
listen "$EV2" "Last-Event-ID: 12.5"
ok "an id from another run of kimchid: ready says reload" eq "$(frames "$EV2" ready)" '{"reload":true}'

# a stream lives as long as its session: logging out ends it
login=$(mktemp); printf '{"username":"%s","password":"%s"}' "$ADMIN_USER" "$ADMIN_PW" >"$login"
cookie=$(curl -s -i -H 'Content-Type: application/json' --data-binary @"$login" \
  "http://127.0.0.1:$PORT/login" | sed -n 's/^Set-Cookie: \([^;]*\).*/\1/ip'); rm -f "$login"
curl -sN -H "Cookie: $cookie" "$BASE/events" >"$EV2" &
SESS=$!
eventually 5 grep -q '^event: ready' "$EV2"
curl -s -o /dev/null -X POST -H "Cookie: $cookie" -H 'X-Requested-With: t' "http://127.0.0.1:$PORT/logout"
ok "logging out ends that session's stream at once" eventually 2 bash -c "! kill -0 $SESS 2>/dev/null"
ok "...while a stream with Basic credentials carries on" kill -0 "$CURL"

t0=$(date +%s%N)
stop_kimchid
ok "kimchid stops at once with a client connected ($(( ($(date +%s%N) - t0) / 1000000 )) ms)" \
  test $(( ($(date +%s%N) - t0) / 1000000 )) -lt 3000
ok "...cleanly" eq "$KEXIT" 0
ok "...and the client's stream ended" eventually 3 bash -c "! kill -0 $CURL 2>/dev/null"
done_testing
