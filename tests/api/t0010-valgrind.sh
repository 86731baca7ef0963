#!/usr/bin/env bash
# t0010 - no leak under valgrind (the optimized build, not ASan) for a login, list, action,
# logout cycle, and a clean shutdown.
. "$(dirname "$0")/../lib.sh"
KIMCHID=$ROOT/build/kimchid
KIMCHID_WRAP="valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect
  --show-leak-kinds=definite,indirect --error-exitcode=99 --log-file=$ARTIFACTS/valgrind.log"
start_kimchid --uri "test://$ROOT/tests/api/node.xml"
WEB=http://127.0.0.1:$PORT
f=$(mktemp); printf '{"username":"%s","password":"%s"}' "$ADMIN_USER" "$ADMIN_PW" >"$f"
jar=$(mktemp)
ok "login under valgrind" eq "$(curl -s -c "$jar" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$f" "$WEB/login")" 200
rm -f "$f"
ok "list" eq "$(curl -s -b "$jar" -o /dev/null -w '%{http_code}' "$BASE/vms")" 200
ok "an action" eq "$(curl -s -b "$jar" -o /dev/null -w '%{http_code}' -H 'X-Requested-With: t' -X POST "$BASE/vms/busy/suspend")" 200
ok "a task list" eq "$(curl -s -b "$jar" -o /dev/null -w '%{http_code}' "$BASE/tasks")" 200
ok "logout" eq "$(curl -s -b "$jar" -o /dev/null -w '%{http_code}' -H 'X-Requested-With: t' -X POST "$WEB/logout")" 200
rm -f "$jar"
stop_kimchid
ok "valgrind finds no leak and no memory error (see valgrind.log)" eq "$KEXIT" 0
done_testing
