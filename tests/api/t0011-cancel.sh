#!/usr/bin/env bash
# t0011 - POST /tasks/:id/cancel: unknown tasks, ended tasks and tasks that cannot stop
# (a clone) answer with why; a running migration's cancel is a lab test (t1003).
. "$(dirname "$0")/../lib.sh"
start_kimchid --uri "test://$ROOT/tests/api/node.xml"

req POST /tasks/42/cancel
ok "cancel of an unknown task: 404" eq "$STATUS $(jq_get .reason)" '404 WOKASYNC0001E: Task "42" does not exist.'
req POST /tasks/abc/cancel
ok "cancel of a malformed id: 404" eq "$STATUS" 404
req POST /vms/alpha/clone
id=$(jq_get .id)
wait_task "$id"
req POST "/tasks/$id/cancel"
ok "cancel of a finished task: 409 saying it ended" eq "$STATUS $(jq_get .reason)" \
  "409 KCHTASK0007E: Task $id has already finished; there is nothing to cancel."
req POST "/tasks/$id/cancel" '{"now":true}'
ok "cancel takes no fields: 400" eq "$STATUS" 400
req GET "/tasks/$id"
ok "...and the task is unchanged" eq "$(jq_get .status)" finished
req GET /tasks/1/cancel
ok "GET on the cancel URI: 405" eq "$STATUS" 405
stop_kimchid
ok "clean exit" eq "$KEXIT" 0
done_testing
