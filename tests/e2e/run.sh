#!/usr/bin/env bash
# run.sh - the browser layer of make check: Debian's chromium driven by playwright-core
# (npm, pinned by package-lock.json) against kimchid running in host-a of a fresh lab.
# Output: tests/artifacts/e2e-all.log (TAP); screenshots in tests/artifacts/screenshots/.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ARTIFACTS=${ARTIFACTS:-$ROOT/tests/artifacts}
LOG=$ARTIFACTS/e2e-all.log
LAB=${KIMCHID_LAB_DIR:-/tmp/kimchid-lab}
mkdir -p "$ARTIFACTS/screenshots"
: >"$LOG"
fail() { echo "not ok - $*" | tee -a "$LOG"; exit 1; }

if ! command -v chromium >/dev/null || ! command -v node >/dev/null; then
  [ "$(id -u)" -eq 0 ] || fail "chromium and node are missing: apt-get install chromium nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y --no-install-recommends chromium fonts-dejavu-core \
    $(command -v node >/dev/null || echo nodejs npm) >>"$LOG" 2>&1 || fail "installing chromium"
fi
if [ ! -d "$ROOT/tests/e2e/node_modules/playwright-core" ]; then
  (cd "$ROOT/tests/e2e" && npm ci --no-audit --no-fund >>"$LOG" 2>&1) || fail "npm ci (playwright-core)"
fi

KPID=
cleanup() {
  [ -n "$KPID" ] && kill "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
  cp "$LAB/kimchid.log" "$ARTIFACTS/e2e-kimchid.log" 2>/dev/null || true
  "$ROOT/tests/lab/lab" down >>"$LOG" 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$ROOT/tests/lab/lab" up >>"$LOG" 2>&1 || fail "the lab came up"
PORT=8443 # host-a's own network namespace: nothing else can hold it
mkdir -p "$LAB/a/state"
"$ROOT/tests/lab/lab" exec a "${KIMCHID:-$ROOT/build/asan/kimchid}" --listen "198.18.0.1:$PORT" \
  --state-dir "$LAB/a/state" --ui-dir "$ROOT/ui" --log-level debug >"$LAB/kimchid.log" 2>&1 &
KPID=$!
up=
for _ in $(seq 1 100); do
  # it answers before libvirt is open: wait for that too, as a page's first requests would
  curl -sk -o /dev/null "https://198.18.0.1:$PORT/" && grep -q "kimchid serving" "$LAB/kimchid.log" &&
    { up=1; break; }
  kill -0 "$KPID" 2>/dev/null || break
  sleep 0.1
done
[ -n "$up" ] || { cat "$LAB/kimchid.log" >>"$LOG"; fail "kimchid answered on host-a within 10 s"; }
# the browser this run used, for the record (Debian's wrapper script may complain on stderr)
echo "# chromium: $(chromium --version 2>/dev/null) ($(dpkg-query -W -f='${Package} ${Version}' chromium 2>/dev/null))" >>"$LOG"
export KIMCHID_URL="https://198.18.0.1:$PORT/" KIMCHID_LOG="$LAB/kimchid.log" LAB ARTIFACTS
node --test-reporter=tap "$ROOT/tests/e2e/ui.test.mjs" >>"$LOG" 2>&1
rc=$?
grep -E '^(not )?ok ' "$LOG" | sed 's/^/e2e /' | grep -v '^e2e ok' || true
echo "e2e # ui.test.mjs: $(grep -c '^ok ' "$LOG") passed, $(grep -c '^not ok ' "$LOG") failed ($(sed -n 's/^# chromium: //p' "$LOG" | head -1))"
exit $rc
