#!/usr/bin/env bash
# t0019 - connections within limits behind a proxy, and event streams that cannot pile up:
# behind --trusted-proxy the per-address cap counts each forwarded client and the proxy itself
# may hold every connection; a user keeps at most 8 event streams (the oldest is closed with
# a final "closed" event); a stream opened with Basic credentials ends when its account is
# locked (read again every --account-recheck seconds, as a session is: 60 by default, 5 here);
# slow request bodies from one forwarded client hold at most its own 32 connections.
. "$(dirname "$0")/../lib.sh"
RECHECK=5
start_kimchid --uri "test://$ROOT/tests/api/node.xml" --trusted-proxy 127.0.0.1 --account-recheck $RECHECK
DIR=$(mktemp -d /tmp/kimchid-t0019.XXXXXX)
PIDS=()
cleanup() {
  kill "${PIDS[@]}" 2>/dev/null
  usermod -U "$VIEWER_USER" 2>/dev/null
  printf '%s:%s\n' "$VIEWER_USER" "$VIEWER_PW" | chpasswd
  [ -n "$KEEP" ] || rm -rf "$DIR"
}
trap cleanup EXIT
KEEP=${KEEP:-}

# stream FILE [CURL ARGS...] : an event stream into FILE, in the background
stream() {
  local f=$1; shift
  curl -sN "$@" "$BASE/events" >"$f" 2>/dev/null &
  PIDS+=($!)
}
greeted() { grep -q '^event: ready' "$1"; }
closed_with() { grep -A1 '^event: closed' "$1" | grep -q "$2"; }

# 1. Basic credentials: the viewer's stream, then the account is locked (checked at the end:
# its re-reading comes within a minute)
stream "$DIR/basic" --netrc-file "$TEST_USERS_DIR/viewer.netrc"
ok "a stream opened with Basic credentials starts" eventually 5 greeted "$DIR/basic"
BASIC_PID=${PIDS[-1]}
usermod -L "$VIEWER_USER"
t_locked=$SECONDS
locked_at=$(date +%s)

# 2. 40 streams through the proxy's address, each for another client it forwards, one user
for i in $(seq 1 40); do
  stream "$DIR/s$i" $AUTH -H "X-Forwarded-For: 192.0.2.$i"
  sleep 0.05
done
all_greeted() { for i in $(seq 1 40); do greeted "$DIR/s$i" || return 1; done; }
ok "40 streams through the proxy's address are all served (the proxy is not one client)" \
  eventually 10 all_greeted
closed_count() { grep -l '^event: closed' "$DIR"/s* 2>/dev/null | wc -l; }
ok "...the user keeps 8: the 32 oldest end with a final \"closed\" event" \
  eventually 10 eval '[ "$(closed_count)" -eq 32 ]'
ok "...which are the oldest (1 to 32), the newest 8 go on" \
  eval 'for i in $(seq 1 32); do closed_with "$DIR/s$i" KCHAPI0020E || exit 1; done; for i in $(seq 33 40); do ! grep -q "^event: closed" "$DIR/s$i" || exit 1; done'
ok "...the final event says why and what to do" \
  closed_with "$DIR/s1" 'This live view was closed: \\"kimchid-t-admin\\" opened more than 8 event streams, and kimchid keeps the newest 8. Close pages you no longer use, then reload this one.'
code() { curl -s -o /dev/null -w '%{http_code}' $AUTH "$@" "$BASE/vms"; }
ok "a new client behind the proxy is still answered" eq "$(code -H 'X-Forwarded-For: 192.0.2.200')" 200
ok "...and a client reaching kimchid directly" eq "$(code --interface 127.0.0.2)" 200
kill "${PIDS[@]:1}" 2>/dev/null

# 3. one forwarded client holds at most 32 connections (kept open between requests)
python3 - "$PORT" "$ADMIN_USER:$ADMIN_PW" >"$DIR/cap" 2>&1 <<'EOF'
import base64, socket, sys
port, cred = int(sys.argv[1]), base64.b64encode(sys.argv[2].encode()).decode()
def get(client):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall((f"GET /plugins/kimchi/vms HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {cred}\r\n"
               f"X-Forwarded-For: {client}\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return s, "closed", ""
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
    while length and len(body) < length[0]:
        body += s.recv(65536)
    return s, head.split(b" ")[1].decode(), body.decode()
held = [get("192.0.2.77") for _ in range(32)]
print("first32", " ".join(sorted(set(code for _, code, _ in held))))
s, code, body = get("192.0.2.77")
print("33rd", code)
print("body", body)
s2, code2, _ = get("192.0.2.78")
print("other", code2)
EOF
ok "one forwarded client's 32 connections are served" grep -qx 'first32 200' "$DIR/cap"
ok "...its 33rd is refused with 503" grep -qx '33rd 503' "$DIR/cap"
ok "...while another client behind the proxy is served" grep -qx 'other 200' "$DIR/cap"
ok "...the refusal names the client and what to do" \
  grep -qF 'KCHAPI0019E: The client 192.0.2.77 already holds 32 connections to kimchid through the proxy, as many as one address may. Close some of its pages or event streams, then try again.' "$DIR/cap"
req GET /vms
ok "kimchid still answers" eq "$STATUS" 200

# 1, continued: the locked account's Basic stream ends within --account-recheck of the lock
# (and the stream's own 5 s check), with a final event
ok "the Basic stream of an account locked since ends within the recheck interval ($RECHECK s), with a final event" \
  eventually $((RECHECK + 5 + 2 - (SECONDS - t_locked))) closed_with "$DIR/basic" KCHAPI0021E
closed_after=$(( $(stat -c %Y "$DIR/basic") - locked_at ))
ok "...its final event written ${closed_after} s after the lock (at most $RECHECK + the stream's 5 s check)" \
  test "$closed_after" -le $((RECHECK + 5 + 1))
ok "...saying why" closed_with "$DIR/basic" "the account \\\\\"$VIEWER_USER\\\\\" was removed, locked or expired"
ok "...and the stream is over" eventually 10 eval '! kill -0 '"$BASIC_PID"' 2>/dev/null'
usermod -U "$VIEWER_USER"

# 3b. the same when the account's password changes (the old credentials no longer log in)
stream "$DIR/basic2" --netrc-file "$TEST_USERS_DIR/viewer.netrc"
ok "a stream opened with Basic credentials starts again" eventually 5 greeted "$DIR/basic2"
printf '%s:%s\n' "$VIEWER_USER" "$(rand_pw)" | chpasswd
at_pw=$SECONDS
ok "its password changed: the stream ends within the recheck interval, with a final event" \
  eventually $((RECHECK + 5 + 2)) closed_with "$DIR/basic2" KCHAPI0021E
ok "...saying why ($((SECONDS - at_pw)) s after the change)" closed_with "$DIR/basic2" "rights or password changed"
printf '%s:%s\n' "$VIEWER_USER" "$VIEWER_PW" | chpasswd # the other tests' credentials

# 4. slow bodies: 1,100 logins through the proxy for one client, each promising a 60000-byte
# body and sending one byte; the cap applies as soon as a header is in, so the client holds
# its 32 connections and no more, and everyone else is answered at once
ulimit -n 4096
python3 "$ROOT/tests/api/slowbody.py" 127.0.0.1 "$PORT" 192.0.2.200 1100 6 >"$DIR/slow" &
SBPID=$!
sleep 1.5
probe 10 -H 'X-Forwarded-For: 192.0.2.201'
wait "$SBPID"
ok "while one client holds 1,100 slow bodies, another's 10 requests are answered (failed: $PROBE_FAILED)" eq "$PROBE_FAILED" 0
ok "...each within 1 s (slowest: $PROBE_WORST s)" awk -v w="$PROBE_WORST" 'BEGIN { exit !(w < 1) }'
ok "...the slow client kept at most 32 connections waiting for a body (kept: $(jq .held "$DIR/slow"))" \
  test "$(jq .held "$DIR/slow")" -le 32
ok "...the rest were refused at their header, 503 (answers: $(jq -c .statuses "$DIR/slow"))" \
  test "$(jq '.statuses["503"] // 0' "$DIR/slow")" -ge 1000

kill "${PIDS[@]}" 2>/dev/null
stop_kimchid
ok "kimchid exits cleanly" eq "$KEXIT" 0
done_testing
