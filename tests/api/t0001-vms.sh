#!/usr/bin/env bash
# t0001 - GET /vms and /vms/:name in Kimchi's shape, 404, 405, trailing slash, HEAD.
. "$(dirname "$0")/../lib.sh"
start_kimchid --uri "test://$ROOT/tests/api/node.xml"

req GET /vms
ok "GET /vms is 200" eq "$STATUS" 200
ok "GET /vms lists the three guests sorted" eq "$(jq_get '[.[].name] | join(",")')" "alpha,busy,outside"
ok "every VM object has all of Kimchi's fields" eq "$(jq_get '[.[] | has("name","uuid","title","description","state","memory","cpu_info","persistent","autostart","graphics","stats","icon","screenshot","users","groups","access","bootorder","bootmenu") ] | all')" true

req GET /vms/alpha
ok "GET /vms/alpha is 200" eq "$STATUS" 200
ok "state of a shut-off guest" eq "$(jq_get .state)" shutoff
ok "uuid" eq "$(jq_get .uuid)" 11111111-2222-3333-4444-555555555501
ok "title and description from the XML" eq "$(jq_get '.title + "|" + .description')" "Alpha guest|first test guest"
ok "memory in MiB (current, maxmemory)" eq "$(jq_get '"\(.memory.current) \(.memory.maxmemory)"')" "256 512"
ok "cpu_info vcpus/maxvcpus" eq "$(jq_get '"\(.cpu_info.vcpus) \(.cpu_info.maxvcpus)"')" "1 2"
ok "persistent is a boolean, autostart a number (libvirt's 0 or 1, as Kimchi sends it)" \
  eq "$(jq_get '"\(.persistent) \(.autostart) \(.autostart | type)"')" "true 0 number"
ok "graphics type and listen" eq "$(jq_get '"\(.graphics.type) \(.graphics.listen)"')" "vnc 127.0.0.1"
ok "graphics password is never shown" eq "$(jq_get .graphics.passwd)" null
ok "stats present with neutral values" eq "$(jq_get .stats.cpu_utilization)" 0

req GET /vms/busy
ok "running guest reads running" eq "$(jq_get .state)" running
ok "guest without graphics has null graphics type" eq "$(jq_get .graphics.type)" null

req GET /vms/nosuch
ok "unknown guest is 404" eq "$STATUS" 404
ok "unknown guest has Kimchi's error body" eq "$BODY" '{"code":"404 Not Found","reason":"KCHVM0002E: Virtual machine \"nosuch\" does not exist."}'

req GET /vms/
ok "trailing slash is the collection" eq "$STATUS" 200

req GET /nothing/here
ok "unknown route is 404" eq "$STATUS" 404
ok "unknown route body" eq "$(jq_get .reason)" "KCHAPI0003E: There is no such resource. Check the URI against docs/API.md."

hdrs=$(curl -s -i $AUTH -X PUT "$BASE/vms/alpha")
ok "wrong method is 405" has "$hdrs" "405 Method Not Allowed"
ok "405 carries Allow" has "$hdrs" "Allow: GET, HEAD, DELETE"
ok "405 body names the methods" has "$hdrs" '"reason":"KCHAPI0002E: Method PUT is not allowed here; use GET, HEAD, DELETE."'

head=$(curl -s -I $AUTH "$BASE/vms")
ok "HEAD /vms is 200 with JSON type" has "$head" "Content-Type: application/json"

req GET "/vms/a%2Fb"
ok "a name with an encoded slash does not match a guest route" eq "$STATUS" 404

stop_kimchid
ok "kimchid exits cleanly on SIGTERM (no sanitizer report)" eq "$KEXIT" 0
done_testing
