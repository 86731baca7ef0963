# lib.sh - helpers for the black-box test scripts: start kimchid, make requests, assert.
# Each script prints "ok N - name" / "not ok N - name" lines; tests/run-all.sh counts them.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KIMCHID=${KIMCHID:-$ROOT/build/asan/kimchid}
ARTIFACTS=${ARTIFACTS:-$ROOT/tests/artifacts}
mkdir -p "$ARTIFACTS"
T_N=0
T_FAIL=0
T_LAST=${EPOCHREALTIME/./} # microseconds: each ok line says how long its step took
# every curl a test runs is bounded (a hung kimchid fails a step instead of hanging the run):
# curl reads $CURL_HOME/.curlrc unless told not to; req bounds itself tighter
export CURL_HOME=${CURL_HOME:-$ARTIFACTS/curl-home}
mkdir -p "$CURL_HOME" && echo 'max-time = 120' >"$CURL_HOME/.curlrc"
REQ_MAX_TIME=${REQ_MAX_TIME:-60}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

ok() { # ok NAME CMD... : passes when CMD succeeds
  local name=$1; shift
  T_N=$((T_N + 1))
  local verdict=ok
  "$@" || { verdict="not ok"; T_FAIL=$((T_FAIL + 1)); }
  local now=${EPOCHREALTIME/./} ms
  ms=$(((now - T_LAST) / 1000)); T_LAST=$now
  printf '%s %d - %s (%d.%02d s)\n' "$verdict" "$T_N" "$name" $((ms / 1000)) $((ms % 1000 / 10))
}

fail_note() { echo "#   $*" >&2; }

# kill_tree PID : ends PID and every process it started (socat's forks, a daemon's workers)
kill_tree() {
  local c
  for c in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$c"; done
  kill "$1" 2>/dev/null
  return 0
}

# no_match FILE GREP-ARGS... : FILE exists and is not empty (a missing log must not pass for
# a clean one), and grep GREP-ARGS finds nothing in it (nor in further paths GREP-ARGS names)
no_match() {
  local f=$1; shift
  [ -s "$f" ] || { fail_note "$f is missing or empty"; return 1; }
  ! grep "$@" "$f"
}

# probe N [CURL ARGS...] : N logged-in GETs of $BASE/vms, 0.3 s apart, as a normal client
# makes them while something else loads kimchid; sets PROBE_FAILED (answers other than 200)
# and PROBE_WORST (the slowest, in seconds)
probe() {
  local n=$1 r; shift
  PROBE_WORST=0 PROBE_FAILED=0
  for _ in $(seq 1 "$n"); do
    # shellcheck disable=SC2086
    r=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 5 $AUTH "$@" "$BASE/vms")
    [ "${r% *}" == 200 ] || PROBE_FAILED=$((PROBE_FAILED + 1))
    PROBE_WORST=$(awk -v a="$PROBE_WORST" -v b="${r#* }" 'BEGIN { print (b > a ? b : a) }')
    sleep 0.3
  done
}

# eventually SECS CMD... : CMD succeeds within SECS seconds (tried every 0.2 s)
eventually() {
  local secs=$1; shift
  for _ in $(seq 1 $((secs * 5))); do "$@" 2>/dev/null && return 0; sleep 0.2; done
  "$@"
}

eq() { # eq GOT WANT
  [ "$1" == "$2" ] && return 0
  fail_note "got:  $1"; fail_note "want: $2"; return 1
}

has() { # has HAYSTACK NEEDLE
  [[ "$1" == *"$2"* ]] && return 0
  fail_note "\"$1\" does not contain \"$2\""; return 1
}

free_port() { # a port nothing listens on yet, below the kernel's ephemeral range (32768-):
  local p      # a port above could be the local end of any outgoing connection, and bind fails
  for p in $(shuf -i 20000-32767 -n 50); do
    (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}

# Local accounts for the tests: an admin (member of sudo) and a viewer, with random
# passwords; created once per run, removed by tests/run-all.sh (remove_test_users).
TEST_USERS_DIR=${TEST_USERS_DIR:-/tmp/kimchid-test-users}
ADMIN_USER=kimchid-t-admin
VIEWER_USER=kimchid-t-viewer
rand_pw() { head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 16; }
ensure_test_users() {
  [ -s "$TEST_USERS_DIR/netrc" ] && return 0
  mkdir -p "$TEST_USERS_DIR" && chmod 700 "$TEST_USERS_DIR"
  local apw vpw u
  apw="Ta-$(rand_pw)"; vpw="Tv-$(rand_pw)"
  for u in "$ADMIN_USER" "$VIEWER_USER"; do
    id "$u" >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin "$u"
  done
  usermod -aG sudo "$ADMIN_USER"
  printf '%s:%s\n%s:%s\n' "$ADMIN_USER" "$apw" "$VIEWER_USER" "$vpw" | chpasswd
  printf '%s' "$apw" >"$TEST_USERS_DIR/admin.pw"
  printf '%s' "$vpw" >"$TEST_USERS_DIR/viewer.pw"
  printf 'machine 127.0.0.1 login %s password %s\n' "$ADMIN_USER" "$apw" >"$TEST_USERS_DIR/netrc"
  printf 'machine 127.0.0.1 login %s password %s\n' "$VIEWER_USER" "$vpw" >"$TEST_USERS_DIR/viewer.netrc"
}
remove_test_users() {
  userdel "$ADMIN_USER" 2>/dev/null || true
  userdel "$VIEWER_USER" 2>/dev/null || true
  rm -rf "$TEST_USERS_DIR"
}
ensure_test_users
ADMIN_PW=$(cat "$TEST_USERS_DIR/admin.pw")
VIEWER_PW=$(cat "$TEST_USERS_DIR/viewer.pw")
NETRC=${NETRC:-$TEST_USERS_DIR/netrc}
AUTH="--netrc-file $NETRC" # credentials from a file: never on a command line

# start_kimchid [ARGS...] : plain HTTP on loopback; sets KPID, PORT, BASE, KLOG, STATE
start_kimchid() {
  PORT=$(free_port)
  STATE=${STATE:-$(mktemp -d /tmp/kimchid-test.XXXXXX)}
  KLOG=$ARTIFACTS/kimchid-$(basename "$0" .sh)-$PORT.log
  # shellcheck disable=SC2086 # KIMCHID_WRAP: a command to run kimchid under (valgrind)
  # the maintenance marker in the test's own directory, not this machine's libvirt's
  ${KIMCHID_WRAP:-} "$KIMCHID" --http --listen "127.0.0.1:$PORT" --state-dir "$STATE" \
    --maintenance-file "$STATE/maintenance" --log-level debug "$@" >"$KLOG" 2>&1 &
  KPID=$!
  BASE=http://127.0.0.1:$PORT/plugins/kimchi
  wait_ready "http://127.0.0.1:$PORT/plugins/kimchi/vms" ""
}

# wait_ready URL CURLFLAGS : until kimchid answers URL and, when KLOG and PORT are set, has
# said it serves on PORT: it answers HTTP before libvirt is open (API requests wait for it)
wait_ready() {
  for _ in $(seq 1 400); do
    # shellcheck disable=SC2086
    curl -s --max-time 2 -o /dev/null $2 "$1" &&
      { [ -z "${KLOG:-}" ] || [ -z "${PORT:-}" ] || grep -q "kimchid serving .*:$PORT/ with" "$KLOG"; } &&
      return 0
    kill -0 "$KPID" 2>/dev/null || { echo "kimchid died:" >&2; cat "$KLOG" >&2; return 1; }
    sleep 0.05
  done
  echo "kimchid did not answer" >&2; return 1
}

# stop_kimchid : SIGTERM, then checks a clean exit (no sanitizer report); a kimchid still
# running STOP_LIMIT (60) s later is killed and KEXIT says so (137)
stop_kimchid() {
  kill -TERM "$KPID" 2>/dev/null
  local rc=0 i
  for i in $(seq 1 $((${STOP_LIMIT:-60} * 10))); do kill -0 "$KPID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$KPID" 2>/dev/null && { fail_note "kimchid ignored SIGTERM for ${STOP_LIMIT:-60} s: killed"; kill -KILL "$KPID"; }
  wait "$KPID" || rc=$?
  KEXIT=$rc
}

# req METHOD PATH [BODY] : sets STATUS and BODY; PATH is below /plugins/kimchi. A body goes
# through a file (printf is a builtin), so a password in it never shows in /proc/*/cmdline.
CURL_OPTS=${CURL_OPTS:-}
req() {
  local method=$1 path=$2
  local out in; out=$(mktemp); in=$(mktemp)
  if [ $# -ge 3 ]; then
    printf '%s' "$3" >"$in"
    # shellcheck disable=SC2086
    STATUS=$(curl -s --max-time "$REQ_MAX_TIME" $CURL_OPTS $AUTH -o "$out" -w '%{http_code}' -X "$method" \
      -H 'Content-Type: application/json' --data-binary @"$in" "$BASE$path")
  else
    # shellcheck disable=SC2086
    STATUS=$(curl -s --max-time "$REQ_MAX_TIME" $CURL_OPTS $AUTH -o "$out" -w '%{http_code}' -X "$method" "$BASE$path")
  fi
  BODY=$(cat "$out"); rm -f "$out" "$in"
}

jq_get() { echo "$BODY" | jq -r "$1"; }

# wait_task ID : polls until the task is not running; sets BODY to the task
wait_task() {
  for _ in $(seq 1 300); do
    req GET "/tasks/$1"
    [ "$(jq_get .status)" != running ] && return 0
    sleep 0.1
  done
  return 1
}

done_testing() {
  echo "# $(basename "$0"): $((T_N - T_FAIL)) passed, $T_FAIL failed"
  [ "$T_FAIL" -eq 0 ]
}
