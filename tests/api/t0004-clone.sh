#!/usr/bin/env bash
# t0004 - clone as a task: a new guest with a new UUID and a copied volume; refusals.
. "$(dirname "$0")/../lib.sh"
start_kimchid --uri "test://$ROOT/tests/api/node.xml"

req POST /vms/alpha/clone
ok "clone of a shut-off guest: 202" eq "$STATUS" 202
ok "202 body is a running task" eq "$(jq_get .status)" running
ok "task target_uri names the new guest" eq "$(jq_get .target_uri)" /plugins/kimchi/vms/alpha-clone-1/clone
id=$(jq_get .id)
ok "task id is a string" eq "$(echo "$BODY" | jq -r '.id | type')" string
wait_task "$id"
ok "clone task finished" eq "$(jq_get .status)" finished
ok "clone task says OK" eq "$(jq_get .message)" OK
req GET /vms/alpha-clone-1
ok "the clone exists, shut off" eq "$STATUS $(jq_get .state)" "200 shutoff"
ok "the clone has a new UUID" eq "$([ "$(jq_get .uuid)" != 11111111-2222-3333-4444-555555555501 ] && echo new)" new
ok "the clone keeps memory and CPUs" eq "$(jq_get '"\(.memory.current) \(.cpu_info.vcpus)"')" "256 1"

req POST /vms/alpha/clone
wait_task "$(jq_get .id)"
ok "a second clone is alpha-clone-2" eq "$(jq_get .target_uri)" /plugins/kimchi/vms/alpha-clone-2/clone
ok "second clone finished (its volume name did not collide)" eq "$(jq_get .status)" finished

req POST /vms/alpha/clone '{"name":"my-copy"}'
wait_task "$(jq_get .id)"
ok "clone with a chosen name" eq "$(jq_get '.status + " " + .target_uri')" "finished /plugins/kimchi/vms/my-copy/clone"

req POST /vms/busy/clone
ok "clone of a running guest: 400" eq "$STATUS $(jq_get .reason)" '400 KCHVM0033E: Cannot clone virtual machine "busy" because it must be shut off first (its state is "running").'

req POST /vms/outside/clone
id=$(jq_get .id)
wait_task "$id"
ok "disk outside any pool: task failed" eq "$(jq_get .status)" failed
ok "the failure says which disk and why" eq "$(jq_get .message)" 'KCHVM0035E: The disk "/elsewhere/outside.img" of virtual machine "outside" is not in a storage pool; kimchid can clone only disks that live in a storage pool.'
req GET /vms/outside-clone-1
ok "nothing half-made is left behind" eq "$STATUS" 404

req POST /vms/nosuch/clone
ok "clone of an unknown guest: 404" eq "$STATUS" 404

req GET /tasks
ok "GET /tasks lists all four" eq "$(jq_get length)" 4
req GET "/tasks?status=failed"
ok "GET /tasks?status=failed filters" eq "$(jq_get '[.[].status] | unique | join(",")')" failed
req GET "/tasks?target_uri=/plugins/kimchi/vms/my-copy/clone"
ok "GET /tasks?target_uri= filters" eq "$(jq_get 'length')" 1

stop_kimchid
ok "clean exit" eq "$KEXIT" 0
done_testing
