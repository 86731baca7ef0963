#!/usr/bin/env bash
# t0005 - task records survive a restart; ids continue; the state dir holds them.
. "$(dirname "$0")/../lib.sh"
STATE=$(mktemp -d /tmp/kimchid-test.XXXXXX)
start_kimchid --uri "test://$ROOT/tests/api/node.xml"
req POST /vms/alpha/clone
wait_task 1
req POST /vms/outside/clone
wait_task 2
stop_kimchid
ok "first run exits cleanly" eq "$KEXIT" 0
ok "tasks are stored in the state dir" test -s "$STATE/tasks.db"

start_kimchid --uri "test://$ROOT/tests/api/node.xml"
req GET /tasks/1
ok "finished task survives a restart" eq "$(jq_get '.status + " " + .message')" "finished OK"
req GET /tasks/2
ok "failed task survives with its message" eq "$(jq_get .status)" failed
has_msg=$(jq_get .message)
ok "failed message kept" has "$has_msg" "is not in a storage pool"
req POST /vms/alpha/clone
ok "new task ids continue after the old ones" eq "$(jq_get .id)" 3
wait_task 3
stop_kimchid

sqlite3 "$STATE/tasks.db" "UPDATE tasks SET status='running', message='cloning disk' WHERE id=3"
start_kimchid --uri "test://$ROOT/tests/api/node.xml"
req GET /tasks/3
ok "a task left running reads failed after restart" eq "$(jq_get .status)" failed
ok "...with a message saying it was interrupted, and its last step" has "$(jq_get .message)" 'interrupted because kimchid stopped while it was running (last step: "cloning disk")'

# one daemon per state directory: a second one exits at once, naming the first
second_log=$(mktemp)
start=$(date +%s%N)
timeout 10 "$KIMCHID" --http --listen "127.0.0.1:$(free_port)" --state-dir "$STATE" \
  --uri "test://$ROOT/tests/api/node.xml" >"$second_log" 2>&1
second_rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
ok "a second kimchid on the same state directory exits with status 1" eq "$second_rc" 1
ok "...within 2 s (took ${ms} ms)" test "$ms" -lt 2000
ok "...saying which process holds it and what to do" has "$(cat "$second_log")" \
  "KCHD0030E: Another kimchid (process $KPID) already uses the state directory \"$STATE\". Stop it first, or give this one its own --state-dir."
req GET /tasks/3
ok "...and the first one still answers" eq "$STATUS" 200
ok "the lock file is 0600 and names the running daemon" eq "$(stat -c %a "$STATE/kimchid.lock") $(cat "$STATE/kimchid.lock")" "600 $KPID"
rm -f "$second_log"
stop_kimchid
ok "clean exit" eq "$KEXIT" 0
done_testing
