#!/usr/bin/env bash
# t0012 - records are durable or loudly not: with the state directory full, a new task is
# refused with 507 naming the directory (never run without a record); with room again, tasks
# are accepted and saved.
. "$(dirname "$0")/../lib.sh"
STATE=$(mktemp -d /tmp/kimchid-test.XXXXXX)
mount -t tmpfs -o size=1m,mode=0700 kimchid-test "$STATE" || { echo "not ok 1 - mount a small tmpfs"; exit 1; }
trap 'umount -l "$STATE"; rmdir "$STATE"' EXIT
start_kimchid --uri "test://$ROOT/tests/api/node.xml"
req POST /vms/alpha/clone
wait_task "$(jq_get .id)"
ok "with room, a task runs and is saved" eq "$(jq_get .status)" finished
dd if=/dev/zero of="$STATE/fill" bs=4k >/dev/null 2>&1 # until the disk is full
req POST /vms/alpha/clone
ok "with the state directory full, a new task: 507" eq "$STATUS" 507
ok "...saying where and what to do" has "$(jq_get .reason)" \
  "KCHTASK0009E: kimchid cannot save task records in its state directory \"$STATE\""
ok "...and that it refuses new tasks until it can" has "$(jq_get .reason)" "refuses new tasks until it can. Free space there"
req GET /vms/alpha-clone-2
ok "...and the refused clone did not run" eq "$STATUS" 404
ok "the failure is in the log too" grep -q "state directory \"$STATE\"" "$KLOG"
rm -f "$STATE/fill"
req POST /vms/alpha/clone
id=$(jq_get .id)
ok "with room again, a task is accepted" eq "$STATUS" 202
wait_task "$id"
ok "...runs" eq "$(jq_get .status)" finished
stop_kimchid
ok "clean exit" eq "$KEXIT" 0
ok "...and its record survived" eq "$(sqlite3 "$STATE/tasks.db" "SELECT status FROM tasks WHERE id=$id")" finished
done_testing
