#!/usr/bin/env bash
# t0026 - kimchid answers before libvirt is open: the pages and a login go through while it
# opens libvirt and reads the guests; an API request waits for that (boundedly), then gets the
# whole list; a libvirt that never answers gives 503 KCHAPI0023E after the wait, SIGTERM still
# stops it; one that cannot be opened stops kimchid with its reason.
. "$(dirname "$0")/../lib.sh"
WORK=$(mktemp -d /tmp/kimchid-t0026.XXXXXX)
HUNG=
cleanup() {
  [ -n "$HUNG" ] && kill "$HUNG" 2>/dev/null
  kill_tree "${KPID:-}" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
N=3000
"$ROOT/bench/gen-node.sh" "$N" >"$WORK/node.xml"

# start_raw URI : kimchid without start_kimchid's wait (it waits for "kimchid serving")
start_raw() {
  PORT=$(free_port)
  STATE=$(mktemp -d -p "$WORK")
  KLOG=$ARTIFACTS/kimchid-t0026-$PORT.log
  "$KIMCHID" --http --listen "127.0.0.1:$PORT" --state-dir "$STATE" --log-level debug \
    --maintenance-file "$STATE/maintenance" --uri "$1" >"$KLOG" 2>&1 &
  KPID=$!
  BASE=http://127.0.0.1:$PORT/plugins/kimchi
  for _ in $(seq 1 200); do
    curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$PORT/" && return 0
    sleep 0.02
  done
  return 1
}
serving() { grep -q "kimchid serving" "$KLOG"; }
login() { # login : sets COOKIE and LOGIN_STATUS
  local in out; in=$(mktemp -p "$WORK"); out=$(mktemp -p "$WORK")
  printf '{"username":"%s","password":"%s"}' "$ADMIN_USER" "$ADMIN_PW" >"$in"
  LOGIN_STATUS=$(curl -s --max-time 10 -D "$out" -o /dev/null -w '%{http_code}' \
    -H 'Content-Type: application/json' --data-binary @"$in" "http://127.0.0.1:$PORT/login")
  COOKIE=$(sed -n 's/^Set-Cookie: \([^;]*\).*/\1/ip' "$out")
  rm -f "$in" "$out"
}

start_raw "test://$WORK/node.xml"
ok "the pages answer while libvirt opens ($N guests)" eq "$(serving && echo opened || echo opening)" opening
login
ok "...and a login goes through meanwhile" eq "$LOGIN_STATUS" 200
ok "...before kimchid has read its guests" eq "$(serving && echo opened || echo opening)" opening
body=$(curl -s --max-time 30 -H "Cookie: $COOKIE" -w '\n%{http_code}' "$BASE/vms")
ok "GET /vms waits for libvirt and answers 200" eq "${body##*$'\n'}" 200
ok "...with the whole list" eq "$(echo "${body%$'\n'*}" | jq length)" "$N"
ok "...once kimchid serves" serving
ok "the log says how long libvirt's open and the first read took" \
  grep -q "libvirt open and its guests read in [0-9]* ms" "$KLOG"
stop_kimchid
ok "a clean exit" eq "$KEXIT" 0

# a libvirt that accepts the connection and never answers: kimchid waits on it
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)
held = []
while True:
    held.append(s.accept()[0])
' "$WORK/hung.sock" &
HUNG=$!
for _ in $(seq 1 100); do [ -S "$WORK/hung.sock" ] && break; sleep 0.02; done
start_raw "qemu+unix:///system?socket=$WORK/hung.sock"
ok "with libvirt not answering, the pages answer" eq "$?" 0
login
ok "...and a login goes through" eq "$LOGIN_STATUS" 200
hdr=$(mktemp -p "$WORK")
t0=$(date +%s%N)
body=$(curl -s --max-time 30 -D "$hdr" -H "Cookie: $COOKIE" -w '\n%{http_code}' "$BASE/vms")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
ok "GET /vms answers 503 after the wait (took $ms ms)" eq "${body##*$'\n'}" 503
ok "...of about 10 s" test "$ms" -ge 9500 -a "$ms" -lt 20000
ok "...saying kimchid is still starting and what to check" eq "$(echo "${body%$'\n'*}" | jq -r .reason)" \
  "KCHAPI0023E: kimchid is still starting: libvirt has not answered yet. Try again in a few seconds; if this lasts, check that libvirtd is running."
ok "...with Retry-After" grep -qi '^Retry-After: 5' "$hdr"
t0=$(date +%s%N)
stop_kimchid
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
ok "SIGTERM stops it while libvirt hangs (exit $KEXIT, $ms ms)" test "$KEXIT" -eq 0 -a "$ms" -lt 5000
kill "$HUNG"; HUNG=

# a libvirt that cannot be opened: kimchid stops, saying why
start_raw "qemu+unix:///system?socket=$WORK/none.sock" || true
for _ in $(seq 1 200); do kill -0 "$KPID" 2>/dev/null || break; sleep 0.05; done
wait "$KPID"; rc=$?
ok "with no libvirt to open, kimchid exits with status 1" eq "$rc" 1
ok "...saying libvirt could not be opened" grep -q "none.sock" "$KLOG"
KPID=
done_testing
