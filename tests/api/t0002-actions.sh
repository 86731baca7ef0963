#!/usr/bin/env bash
# t0002 - lifecycle actions, the states that forbid them, and DELETE.
. "$(dirname "$0")/../lib.sh"
start_kimchid --uri "test://$ROOT/tests/api/node.xml"

act() { req POST "/vms/$1/$2"; }

# the route table says which states allow each action; each VM object lists those of its state
req GET /config/capabilities
ok "capabilities list the guests' actions in the menu's order" \
  eq "$(jq_get '[.vm_actions[].name] | join(",")')" "start,shutdown,poweroff,reset,reboot,suspend,resume,clone,migrate,delete"
ok "...each with its menu label" eq "$(jq_get '.vm_actions[2].label')" "Power off"
req GET /vms/alpha
ok "a shut-off guest's actions" eq "$(jq_get '.actions | join(",")')" "start,clone,migrate,delete"
act alpha start
ok "start a shut-off guest: 200" eq "$STATUS" 200
ok "a running guest's actions" eq "$(jq_get '.actions | join(",")')" "shutdown,poweroff,reset,reboot,suspend,migrate,delete"
ok "start returns the VM object, running" eq "$(jq_get .state)" running
req GET /vms
ok "the list shows it running right after" eq "$(jq_get '.[] | select(.name=="alpha") | .state')" running
ok "the list's objects carry their actions too" eq "$(jq_get '.[] | select(.name=="alpha") | .actions | join(",")')" "shutdown,poweroff,reset,reboot,suspend,migrate,delete"
act alpha start
ok "start a running guest: 400" eq "$STATUS" 400
ok "start a running guest: message says why" eq "$BODY" '{"code":"400 Bad Request","reason":"KCHVM0048E: Cannot start virtual machine \"alpha\" because it is already running (its state is \"running\")."}'
act alpha suspend
ok "suspend: paused" eq "$STATUS $(jq_get .state)" "200 paused"
ok "a paused guest's actions" eq "$(jq_get '.actions | join(",")')" "poweroff,reset,resume,migrate,delete"
act alpha clone
ok "clone refused by the row's states: 400 with Kimchi's id" eq "$STATUS $(jq_get .reason)" \
  '400 KCHVM0033E: Cannot clone virtual machine "alpha" because it must be shut off first (its state is "paused").'
req POST /vms/alpha/suspend '{"x":1}'
ok "a body field the row does not name: 400 before the state is read" has "$STATUS $(jq_get .reason)" '400 KCHAPI0001E'
req POST /vms/bad%01name/suspend '{"x":1}'
ok "a bad guest name: 400 before anything else" has "$STATUS $(jq_get .reason)" '400 KCHVM0100E'
req POST /vms/nosuch/clone '{"x":1}'
ok "an unknown field before an unknown guest: 400" has "$STATUS $(jq_get .reason)" '400 KCHAPI0001E'
req POST /vms/nosuch/clone
ok "an unknown guest: 404 before anything about its state" has "$STATUS $(jq_get .reason)" '404 KCHVM0002E' 
act alpha suspend
ok "suspend a paused guest: 400" eq "$STATUS" 400
act alpha resume
ok "resume: running" eq "$STATUS $(jq_get .state)" "200 running"
act alpha resume
ok "resume a running guest: 400 naming the state" has "$(jq_get .reason)" "because it is not paused"
act alpha reset
ok "reset a running guest: 200" eq "$STATUS $(jq_get .state)" "200 running"
act alpha reboot
ok "reboot a running guest: 200, running (libvirt's virDomainReboot)" eq "$STATUS $(jq_get .state)" "200 running"
act alpha shutdown
ok "shutdown: shutoff" eq "$STATUS $(jq_get .state)" "200 shutoff"
act alpha reboot
ok "reboot a shut-off guest: 400 with its own id, saying why" eq "$STATUS $(jq_get .reason)" \
  '400 KCHVM0102E: Cannot reboot virtual machine "alpha" because it is not running (its state is "shutoff").'
req POST /vms/alpha/reboot '{"now":true}'
ok "reboot takes no body fields: 400 naming it" has "$STATUS $(jq_get .reason)" '400 KCHAPI0001E: Unknown parameter "now"'
req GET /tasks
ok "reboot starts no task" eq "$(jq_get 'length')" 0
act alpha shutdown
ok "shutdown a shut-off guest: 400" eq "$STATUS" 400
act alpha poweroff
ok "poweroff a shut-off guest: 400" eq "$STATUS" 400
act alpha reset
ok "reset a shut-off guest: 400" eq "$STATUS" 400
act busy poweroff
ok "poweroff a running guest: shutoff" eq "$STATUS $(jq_get .state)" "200 shutoff"
act nosuch start
ok "action on an unknown guest: 404" eq "$STATUS $(jq_get .reason)" '404 KCHVM0002E: Virtual machine "nosuch" does not exist.'
req POST /vms/alpha/start '{"bogus":true}'
ok "action with an unknown field: 400 naming it" eq "$STATUS $(jq_get .reason)" '400 KCHAPI0001E: Unknown parameter "bogus". Remove it from the request.'
req POST /vms/alpha/start '{"force":"yes"}'
ok "start's force must be a boolean: 400" eq "$STATUS" 400
req POST /vms/alpha/start '{}'
ok "action with an empty object body: 200" eq "$STATUS" 200

req DELETE /vms/alpha
ok "DELETE a running guest: 204" eq "$STATUS" 204
ok "DELETE has no body" eq "$BODY" ""
req GET /vms/alpha
ok "deleted guest is gone" eq "$STATUS" 404
req DELETE /vms/alpha
ok "DELETE again: 404" eq "$STATUS" 404
req GET /vms
ok "list no longer has it" eq "$(jq_get '[.[].name] | join(",")')" "busy,outside"

stop_kimchid
ok "clean exit" eq "$KEXIT" 0
done_testing
