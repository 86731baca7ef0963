#!/usr/bin/env bash
# t0008 - POST /vms/:name/migrate input validation, answered before any task (RFC messages).
. "$(dirname "$0")/../lib.sh"
start_kimchid --uri "test://$ROOT/tests/api/node.xml"

bad() { # bad NAME BODY STATUS REASON
  req POST /vms/busy/migrate "$2"
  ok "$1" eq "$STATUS $(jq_get .reason)" "$3 $4"
}
BLANK='KCHMIGR0028E: remote host field cannot be blank. Give the name or address of the host to migrate to.'
BOTH='KCHMIGR0029E: both user and password fields must be filled. Fill in both to set up password-less login, or neither to use the existing one.'
bad "missing remote_host" '{}' 400 "$BLANK"
bad "empty body" '' 400 "$BLANK"
bad "blank remote_host" '{"remote_host":"   "}' 400 "$BLANK"
bad "user without password" '{"remote_host":"host-b","user":"root"}' 400 "$BOTH"
bad "password without user" '{"remote_host":"host-b","password":"x"}' 400 "$BOTH"
bad "user with an empty password" '{"remote_host":"host-b","user":"root","password":""}' 400 "$BOTH"
bad "malformed host name" '{"remote_host":"bad host!"}' 400 'KCHMIGR0030E: "bad host!" is not a valid host name or IP address. Use a name such as "host-b" or "host-b.example.com", or an address.'
bad "host name with a shell metacharacter" '{"remote_host":"b;reboot"}' 400 'KCHMIGR0030E: "b;reboot" is not a valid host name or IP address. Use a name such as "host-b" or "host-b.example.com", or an address.'
bad "malformed user name" '{"remote_host":"host-b","user":"x y","password":"p"}' 400 "KCHMIGR0031E: \"x y\" is not a valid user name: use letters, digits, '_', '.' and '-', starting with a letter, at most 32 characters."
bad "user name starting with a dash" '{"remote_host":"host-b","user":"-oProxyCommand","password":"p"}' 400 "KCHMIGR0031E: \"-oProxyCommand\" is not a valid user name: use letters, digits, '_', '.' and '-', starting with a letter, at most 32 characters."
bad "password with a line break" '{"remote_host":"host-b","user":"root","password":"a\nb"}' 400 'KCHMIGR0032E: The password cannot contain line breaks.'
bad "unknown field" '{"remote_host":"host-b","live":true}' 400 'KCHAPI0001E: Unknown parameter "live". Remove it from the request.'
bad "delete_source of the wrong type" '{"remote_host":"host-b","delete_source":"yes"}' 400 'WOKAPI0008E: The parameter "delete_source" must be true or false.'
bad "bandwidth of the wrong type" '{"remote_host":"host-b","bandwidth":"fast"}' 400 'WOKAPI0008E: The parameter "bandwidth" must be an integer.'
bad "bandwidth zero" '{"remote_host":"host-b","bandwidth":0}' 400 'KCHMIGR0033E: The parameter "bandwidth" must be from 1 to 100000 (MiB/s).'
# the convergence fields (busy guests): each bad value its own 400
bad "max_downtime zero" '{"remote_host":"host-b","max_downtime":0}' 400 'KCHMIGR0040E: The parameter "max_downtime" must be from 1 to 60000 (milliseconds the guest may pause at the switch-over).'
bad "max_downtime over a minute" '{"remote_host":"host-b","max_downtime":60001}' 400 'KCHMIGR0040E: The parameter "max_downtime" must be from 1 to 60000 (milliseconds the guest may pause at the switch-over).'
bad "max_downtime of the wrong type" '{"remote_host":"host-b","max_downtime":"300ms"}' 400 'WOKAPI0008E: The parameter "max_downtime" must be an integer.'
bad "auto_converge of the wrong type" '{"remote_host":"host-b","auto_converge":"no"}' 400 'WOKAPI0008E: The parameter "auto_converge" must be true or false.'
bad "postcopy of the wrong type" '{"remote_host":"host-b","postcopy":1}' 400 'WOKAPI0008E: The parameter "postcopy" must be true or false.'
bad "parallel zero" '{"remote_host":"host-b","parallel":0}' 400 'KCHMIGR0041E: The parameter "parallel" must be from 1 to 16 (connections).'
bad "parallel 17" '{"remote_host":"host-b","parallel":17}' 400 'KCHMIGR0041E: The parameter "parallel" must be from 1 to 16 (connections).'
bad "compression of the wrong type" '{"remote_host":"host-b","compression":"zstd"}' 400 'WOKAPI0008E: The parameter "compression" must be true or false.'
bad "completion_timeout negative" '{"remote_host":"host-b","completion_timeout":-1}' 400 'KCHMIGR0057E: The parameter "completion_timeout" must be from 0 to 3600 (seconds per GiB of guest memory and copied disks; 0: no budget).'
bad "completion_timeout over an hour per GiB" '{"remote_host":"host-b","completion_timeout":3601}' 400 'KCHMIGR0057E: The parameter "completion_timeout" must be from 0 to 3600 (seconds per GiB of guest memory and copied disks; 0: no budget).'
bad "completion_timeout of the wrong type" '{"remote_host":"host-b","completion_timeout":"150"}' 400 'WOKAPI0008E: The parameter "completion_timeout" must be an integer.'
bad "completion_action unknown" '{"remote_host":"host-b","completion_action":"pause"}' 400 'KCHMIGR0056E: "completion_action" must be "abort" (stop the move past its time budget; the guest stays) or "postcopy" (switch to post-copy).'
bad "completion_action postcopy without postcopy" '{"remote_host":"host-b","completion_action":"postcopy"}' 400 'KCHMIGR0056E: "completion_action": "postcopy" needs "postcopy": true (post-copy is used only when the request allows it).'
bad "completion_action of the wrong type" '{"remote_host":"host-b","completion_action":true}' 400 'WOKAPI0008E: The parameter "completion_action" must be a string.'
bad "migration_address not an address" '{"remote_host":"host-b","migration_address":"host-b-mig"}' 400 'KCHMIGR0058E: The parameter "migration_address" must be an IP address of the destination on the network for migrations (e.g. 198.19.0.2), not "host-b-mig".'
bad "migration_address of this host" '{"remote_host":"host-b","migration_address":"127.0.0.1"}' 400 'KCHMIGR0058E: migration_address 127.0.0.1 is an address of this host. Give the destination'"'"'s address on the network for migrations.'
bad "migration_address of the wrong type" '{"remote_host":"host-b","migration_address":["198.19.0.2"]}' 400 'WOKAPI0008E: The parameter "migration_address" must be a string.'
bad "compression with parallel connections" '{"remote_host":"host-b","compression":true,"parallel":4}' 400 'KCHMIGR0042E: "compression" (XBZRLE) and "parallel" connections cannot be combined in this QEMU: choose one.'
bad "remote_host of the wrong type" '{"remote_host":5}' 400 'WOKAPI0008E: The parameter "remote_host" must be a string.'
bad "this host by name" '{"remote_host":"localhost"}' 400 'KCHVM0055E: "localhost" is this host. Choose another host to migrate to.'
req POST /vms/nosuch/migrate '{"remote_host":"host-b"}'
ok "unknown guest: 404" eq "$STATUS $(jq_get .reason)" '404 KCHVM0002E: Virtual machine "nosuch" does not exist.'
req GET /vms/busy/migrate
ok "GET on migrate: 405 with Allow: POST" eq "$STATUS" 405

req POST /vms/busy/migrate '{"remote_host":"no-such-host.invalid","user":"root","password":"S3cr3t-t0008"}'
# Kimchi's UI sees failures answered on the POST, not a task that failed at once
ok "an unresolvable host is answered on the POST: 400" eq "$STATUS $(jq_get .reason | cut -c1-51)" '400 KCHMIGR0034E: Cannot resolve "no-such-host.invalid"'
req GET /tasks
ok "...and no task was created" eq "$(jq_get length)" 0
for k in SHA256:short SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA! MD5:aa:bb ""; do
  bad "host_key \"$k\" (not a fingerprint as ssh-keygen -l prints it)" \
    "{\"remote_host\":\"host-b\",\"host_key\":\"$k\"}" 400 \
    'KCHMIGR0048E: The parameter "host_key" must be an ssh key fingerprint as ssh-keygen -l prints it: SHA256: and 43 characters, e.g. SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s.'
done
req GET "/host/sshkey?host="
ok "GET /host/sshkey without a host: 400" eq "$STATUS $(jq_get .reason | cut -c1-12)" "400 KCHMIGR0028E"
req GET "/host/sshkey?host=localhost"
ok "...of this host: 400" eq "$STATUS $(jq_get .reason | cut -c1-10)" "400 KCHVM0055E"
req GET "/host/sshkey?host=bad%20name"
ok "...a malformed name: 400" eq "$STATUS $(jq_get .reason | cut -c1-12)" "400 KCHMIGR0030E"
# shellcheck disable=SC2086
ok "...a viewer may not ask (it opens a connection to any host): 403" \
  eq "$(curl -s -o /dev/null -w '%{http_code}' --netrc-file "$TEST_USERS_DIR/viewer.netrc" "$BASE/host/sshkey?host=host-b")" 403
# check_only: every check a move would run, each answered; nothing moves and no task starts
bad "check_only of the wrong type" '{"remote_host":"host-b","check_only":"yes"}' 400 'WOKAPI0008E: The parameter "check_only" must be true or false.'
bad "check_only still validates the fields" '{"remote_host":"   ","check_only":true}' 400 "$BLANK"
req POST /vms/busy/migrate '{"remote_host":"nosuch.invalid","check_only":true,"user":"root","password":"S3cr3t-t0008"}'
ok "check_only: 200 with the checks" eq "$STATUS $(jq_get '.ready') $(jq_get '[.checks[].id] | join(",")')" \
  "200 false host,login,libvirt,maintenance,network,tls,guest,storage,cpu,memory,devices,postcopy,lock_manager"
ok "...the host check says why, with the resolver's id" eq "$(jq_get '.checks[0].ok') $(jq_get '.checks[0].message' | cut -c1-12)" "false KCHMIGR0034E"
ok "...what needs that host is not checked, and says so" \
  eq "$(jq_get '[.checks[] | select(.skipped) | .id] | join(",")')" "login,libvirt,maintenance,network,tls,guest,storage,cpu,memory,postcopy,lock_manager"
ok "......naming the check that failed" eq "$(jq_get '.checks[1].message')" 'Not checked: the "host" check failed.'
ok "...what is this host's own is checked anyway" eq "$(jq_get '.checks[10] | "\(.id) \(.ok)"')" "devices true"
req GET /tasks
ok "check_only starts no task" eq "$(jq_get 'length')" 0
req POST /vms/nosuch/migrate '{"remote_host":"host-b","check_only":true}'
ok "check_only of an unknown guest: 404" eq "$STATUS $(jq_get .reason | cut -c1-10)" "404 KCHVM0002E"
req GET /vms/busy
ok "the guest is unharmed" eq "$(jq_get .state)" running
stop_kimchid
ok "clean exit" eq "$KEXIT" 0
pat=$(mktemp); printf 'S3cr3t-t0008\n' >"$pat"
ok "the password is in no log or state file" no_match "$KLOG" -rqaF -f "$pat" "$STATE"
rm -f "$pat"
done_testing
