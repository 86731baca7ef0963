#!/usr/bin/env bash
# t0011 - POST /tasks/:id/cancel: unknown tasks, ended tasks and tasks that cannot stop
# (a clone) answer with why; a running migration's cancel is a lab test (t1003). POST
# /tasks/:id/recover: only a move that left a guest split has anything to recover (that
# case is a lab test, t1010); any other task answers with why.
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

req POST /tasks/42/recover
ok "recover of an unknown task: 404" eq "$STATUS $(jq_get .reason)" '404 WOKASYNC0001E: Task "42" does not exist.'
req POST "/tasks/$id/recover"
ok "recover of a task that left nothing split: 409 saying why" eq "$STATUS $(jq_get .reason)" \
  "409 KCHMIGR0049E: Task $id left no guest split between two hosts (only a move that failed during post-copy does, and kimchid forgets it when it restarts), so there is nothing to recover."
req POST "/tasks/$id/recover" '{"now":true}'
ok "recover takes no fields: 400" eq "$STATUS" 400
req GET "/tasks/$id"
ok "...and a task that left nothing split does not say recoverable" eq "$(jq_get .recoverable)" null
stop_kimchid
ok "clean exit" eq "$KEXIT" 0
done_testing
