#!/usr/bin/env bash
# t0017 - the resources Kimchi's own web UI loads to show its pages, in Wok's and Kimchi's
# shapes (Wok's model code: config, plugins, notifications, reqlogger; Kimchi's: config,
# capabilities, host, cpuinfo, templates, vmstorages, vmifaces, vmsnapshots), and Kimchi's 404
# and 405 for what kimchid does not implement.
. "$(dirname "$0")/../lib.sh"
start_kimchid --uri "test://$ROOT/tests/api/node.xml"
ROOTURL=http://127.0.0.1:$PORT
jqc() { echo "$BODY" | jq -c "$1"; }
get() { BODY=$(curl -s $AUTH -w '\n%{http_code}' "$ROOTURL$1"); STATUS=${BODY##*$'\n'}; BODY=${BODY%$'\n'*}; }

# ---- Wok's root resources ----
BODY=$(curl -s "$ROOTURL/config")
ok "GET /config without a login (Wok's login page reads it): Wok's keys and types" \
  eq "$(jqc 'map_values(type)')" '{"proxy_port":"string","websockets_port":"string","auth":"string","server_root":"string","federation":"string","version":"string"}'
ok "...the ports are the one the client used, auth is PAM, federation \"off\" as Wok's text" \
  eq "$(jqc '[.proxy_port, .websockets_port, .auth, .federation]')" "[\"$PORT\",\"$PORT\",\"pam\",\"off\"]"
BODY=$(curl -s -w '\n%{http_code}' "$ROOTURL/config/plugins"); STATUS=${BODY##*$'\n'}; BODY=${BODY%$'\n'*}
ok "GET /config/plugins without a login (Wok's login page shows the plugins' logos): kimchi, \"enabled\" as Wok's text" \
  eq "$STATUS $(jqc .)" '200 [{"name":"kimchi","enabled":"True","depends":[],"is_dependency_of":[]}]'
get /config/plugins
ok "...the same with a login" eq "$STATUS $(jqc '.[0].enabled')" '200 "True"'
get /notifications
ok "GET /notifications: a JSON list (kimchid raises none)" eq "$STATUS $BODY" "200 []"
get /notifications/WOKCONFIG0001I
ok "GET of a notification that does not exist: 404 with Wok's id" eq "$STATUS $(jq_get .reason)" \
  '404 WOKNOT0001E: Notification "WOKCONFIG0001I" does not exist.'
del=$(curl -s $AUTH -X DELETE -H 'X-Requested-With: t' "$ROOTURL/notifications/x" -w ' %{http_code}')
ok "...DELETE of one too" eq "${del##* } $(echo "${del% *}" | jq -r .reason)" '404 WOKNOT0001E: Notification "x" does not exist.'

# the Activity Log from the audit trail: a clone task, a start and a refused start
req POST /vms/alpha/clone
TASK=$(jq_get .id)
wait_task "$TASK"
req POST /vms/alpha/start
req POST /vms/alpha/start
get /logs
ok "GET /logs: a list of Wok's records, newest first, with Wok's keys and types" \
  eq "$STATUS $(jqc '.[0] | map_values(type)')" \
  '200 {"app":"string","date":"string","time":"string","zone":"string","req":"string","status":"number","ip":"string","user":"string","message":"string"}'
ok "...a refused start shows its status and error id" \
  has "$(jqc '.[0] | [.app, .req, .status, .user, .ip, .message]')" \
  '["kimchi","POST",400,"kimchid-t-admin","127.0.0.1","POST /plugins/kimchi/vms/alpha/start: 400 KCHVM0048E"]'
ok "...the clone's record shows how its task ended (as Wok's does)" \
  has "$(jqc '.[2].status') $(jq_get '.[2].message')" \
  "200 POST /plugins/kimchi/vms/alpha/clone: 202 task $TASK (finished"
ok "...date and time in Wok's formats" eq "$(jq_get '.[0] | (.date | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}$")) and (.time | test("^[0-9]{2}:[0-9]{2}:[0-9]{2}$"))')" true
get "/logs?status=400"
ok "a search (Wok's filter fields): {uri, records} with the matching records only" \
  eq "$STATUS $(jqc '[.uri, (.records | length), (.records | map(.status) | unique)]')" '200 [null,1,[400]]'
get "/logs?user=kimchid-t-admin&req=POST"
ok "...filters combine" eq "$(jqc '.records | length')" 3
viewer=$(curl -s --netrc-file "$TEST_USERS_DIR/viewer.netrc" -w ' %{http_code}' "$ROOTURL/logs")
ok "a user who may only look cannot read the activity log (who did what, from where): 403" \
  eq "${viewer##* } $(echo "${viewer% *}" | jq -r .reason)" \
  "403 WOKAPI0009E: User \"$VIEWER_USER\" may not read the activity log: it needs an administrator (root, or a member of the admin group)."
curl -s -o /dev/null $AUTH -X POST -H 'X-Requested-With: t' "$BASE/vms/%FF/start"
get "/logs?status=404"
ok "a request for a path with a byte that is not UTF-8 (0xff) is in the Activity Log, the byte as \\xff" \
  eq "$STATUS $(jq_get '.records[0].message')" '200 POST /plugins/kimchi/vms/\xff/start: 404 KCHVM0002E'
get "/logs?message=x"
ok "...a field Wok does not search: 400 with Wok's id" eq "$STATUS $(jq_get .reason)" \
  '400 WOKLOG0001E: Invalid filter parameter "message". Filter parameters allowed: app, date, ip, req, status, user, time.'

# ---- Kimchi's resources ----
req GET /config
ok "GET /plugins/kimchi/config: Kimchi 3.0's keys and types" eq "$STATUS $(jqc 'map_values(type)')" '200 {"version":"string","with_spice_web_client":"boolean"}'
ok "...no SPICE web client" eq "$(jqc .with_spice_web_client)" false
req GET /config/capabilities
ok "GET /config/capabilities: Kimchi's keys, every optional feature off (kimchid has none)" \
  eq "$STATUS $(jqc 'del(.vm_actions)')" '200 {"libvirt_stream_protocols":[],"qemu_spice":false,"qemu_stream":false,"screenshot":false,"kernel_vfio":false,"nm_running":false,"mem_hotplug_support":false}'
ok "...and (kimchid's) the guests' actions for its menu" eq "$(jqc '.vm_actions[0]')" '{"name":"start","label":"Start"}'
req GET /host
ok "GET /host: the architecture libvirt reports" eq "$STATUS $(jqc .arch)" '200 "i686"'
ok "...and (kimchid's) this host's name, CPUs, memory, versions and the hosts it logs in to" \
  eq "$(jqc '[.name, .cpus, .memory.total, .libvirt_version, .qemu_version, .peers]')" \
  "[\"$(hostname)\",16,3072,\"$(virsh -v | sed 's/^\([0-9]*\.[0-9]*\.[0-9]*\).*/\1/')\",\"0.0.2\",[]]"
req GET /host/cpuinfo
ok "GET /host/cpuinfo: Kimchi's keys, the topology (the test driver's node: 2 nodes x 2 sockets x 2 cores x 2 threads)" \
  eq "$STATUS $(jqc .)" '200 {"threading_enabled":true,"sockets":4,"cores":8,"threads_per_core":2}'
req GET /templates
ok "GET /templates: kimchid has none, an empty list" eq "$STATUS $BODY" "200 []"

req GET /vms/alpha/storages
ok "GET /vms/alpha/storages: each disk as Kimchi's storage, from the guest's XML" eq "$STATUS $(jqc .)" \
  '200 [{"dev":"vda","path":"/default-pool/alpha.img","type":"disk","format":"","bus":"virtio"},{"dev":"hdc","path":"/isos/installer.iso","type":"cdrom","format":"","bus":"ide"}]'
req GET /vms/alpha/storages/hdc
ok "...one of them by its dev" eq "$STATUS $(jq_get .path)" "200 /isos/installer.iso"
req GET /vms/alpha/storages/sdz
ok "...an unknown one: 404 with Kimchi's id" eq "$STATUS $(jq_get .reason)" '404 KCHVMSTOR0007E: Virtual machine "alpha" has no storage device "sdz".'
req GET /vms/alpha/ifaces
ok "GET /vms/alpha/ifaces: Kimchi's interface (type, mac, network, ips)" eq "$STATUS $(jqc .)" \
  '200 [{"type":"network","mac":"52:54:00:00:00:01","network":"default","ips":[]}]'
req GET /vms/alpha/ifaces/52:54:00:00:00:01
ok "...one of them by its MAC" eq "$STATUS $(jq_get .network)" "200 default"
req GET /vms/alpha/ifaces/52:54:00:00:00:99
ok "...an unknown MAC: 404 with Kimchi's id" eq "$STATUS $(jq_get .reason | cut -c1-12)" "404 KCHVMIF0001E"
req GET /vms/alpha/snapshots
ok "GET /vms/alpha/snapshots: a list (none here)" eq "$STATUS $BODY" "200 []"
req GET /vms/alpha/snapshots/before-upgrade
ok "...an unknown one: 404 with Kimchi's id" eq "$STATUS $(jq_get .reason)" '404 KCHSNAP0003E: Virtual machine "alpha" has no snapshot "before-upgrade".'
req GET /vms/nosuch/storages
ok "the devices of an unknown guest: 404 KCHVM0002E" eq "$STATUS $(jq_get .reason | cut -c1-10)" "404 KCHVM0002E"

# what kimchid does not implement answers in Kimchi's error shape
req GET /storagepools
ok "an endpoint kimchid does not have: 404 in Kimchi's shape" eq "$STATUS $(jqc 'keys')" '404 ["code","reason"]'
req PUT /vms/alpha '{"name":"x"}'
ok "a method kimchid does not implement: 405 in Kimchi's shape, naming the allowed ones" \
  eq "$STATUS $(jq_get .code)" '405 405 Method Not Allowed'

# the task object: Wok's keys and types (kimchid adds, never removes)
req GET /tasks/1
ok "the task object has Wok's keys with Wok's types" \
  eq "$(jqc '{id, status, message, target_uri} | map_values(type)')" '{"id":"string","status":"string","message":"string","target_uri":"string"}'
stop_kimchid
ok "clean exit" eq "$KEXIT" 0
done_testing
