# bound.sh - every test script runs under a time bound (sourced by tests/run-all.sh and the
# layers' run.sh). Past its bound a script is killed with everything it started (GNU timeout
# signals the whole process group it makes: kimchid, curl, virsh, nsenter'd commands), counted
# as failed, and the log says which step it was in.

# The bounds, in seconds: a script that needs more has a bug or a wait that should be shorter.
LAB_SCRIPT_LIMIT=${LAB_SCRIPT_LIMIT:-300}
API_SCRIPT_LIMIT=${API_SCRIPT_LIMIT:-120}
TSAN_SCRIPT_LIMIT=${TSAN_SCRIPT_LIMIT:-240}
PACKAGE_SCRIPT_LIMIT=${PACKAGE_SCRIPT_LIMIT:-300}
E2E_LIMIT=${E2E_LIMIT:-600}
LAB_UP_LIMIT=${LAB_UP_LIMIT:-240}
UNIT_LIMIT=${UNIT_LIMIT:-120}            # one cmocka binary
FUZZ_BUILD_LIMIT=${FUZZ_BUILD_LIMIT:-300} # building the fuzz target, on top of its run

# bounded SECS LOG CMD... : runs CMD (output appended to LOG) within SECS seconds; on time-out
# kills its process group (TERM, KILL 10 s later), appends a "not ok" line naming the step
# that did not end, and returns 124. Otherwise CMD's status. Either way, what CMD started and
# left running in its process group is killed and named in LOG.
bounded() {
  local secs=$1 log=$2 rc=0 pid left; shift 2
  timeout -k 10 "$secs" "$@" >>"$log" 2>&1 </dev/null &
  pid=$! # timeout leads its own process group: what CMD started and left running is in it
  wait "$pid" || rc=$?
  # what is still ending gets 10 s (an ssh whose connection kimchid closed as it exited)
  for _ in $(seq 1 100); do pgrep -g "$pid" >/dev/null 2>&1 || break; sleep 0.1; done
  left=$(pgrep -g "$pid" 2>/dev/null | xargs -r ps -o comm= -p 2>/dev/null | sort | uniq -c | xargs)
  if [ -n "$left" ]; then
    echo "not ok - $(basename "${*: -1}") left running when it ended (now killed): $left" >>"$log"
    kill -KILL -- -"$pid" 2>/dev/null
  fi
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    local last; last=$(grep -E '^(not )?ok ' "$log" | tail -1)
    echo "not ok - $(basename "${*: -1}") killed at its bound of $secs s, in the step after: ${last:-its start}" >>"$log"
    return 124
  fi
  return "$rc"
}

# TIMES collects "SECONDS NAME" for the table at the end of make check.
TIMES_FILE=${TIMES_FILE:-${ARTIFACTS:-/tmp}/times.txt}
took() { echo "$1 $2" >>"$TIMES_FILE"; } # took SECONDS NAME
