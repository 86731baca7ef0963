#!/usr/bin/env bash
# t0016 - what Kimchi's own web UI depends on, as Kimchi 3.0 (Wok) answers it: task filters
# are regular expressions matched at the start of the field (Wok's re.match), with the exact
# patterns Kimchi's UI sends; a clone task's target_uri ends in /clone; the migrate dialog's
# enable_rdma is accepted; logout answers 200 {}; migrating an unknown guest is 404 before
# anything about the host; the VM object has every key Kimchi's lookup returns, with its type.
. "$(dirname "$0")/../lib.sh"
start_kimchid --uri "test://$ROOT/tests/api/node.xml"
jqc() { echo "$BODY" | jq -c "$1"; }

req POST /vms/alpha/clone
wait_task "$(jq_get .id)"
ok "a clone task's target_uri is Kimchi's: the new guest's URI + /clone" \
  eq "$(jq_get .target_uri)" /plugins/kimchi/vms/alpha-clone-1/clone
tasks() { curl -s $AUTH -G "$BASE/tasks" "$@"; }
ok "Kimchi UI's clone filter finds it (status=finished, target_uri=^/plugins/kimchi/vms/.+/clone)" \
  eq "$(tasks --data-urlencode status=finished --data-urlencode 'target_uri=^/plugins/kimchi/vms/.+/clone' | jq -r '.[].target_uri')" \
  /plugins/kimchi/vms/alpha-clone-1/clone
ok "...and its migrate filter does not" \
  eq "$(tasks --data-urlencode 'target_uri=^/plugins/kimchi/vms/.+/migrate' | jq length)" 0
ok "a pattern is anchored at the start only (status=fin matches finished)" \
  eq "$(tasks --data-urlencode status=fin | jq -r '.[0].status')" finished
ok "...at the start (status=inished matches nothing)" eq "$(tasks --data-urlencode status=inished | jq length)" 0
ok "an exact value still matches (status=finished)" eq "$(tasks --data-urlencode status=finished | jq length)" 1
ok "a field tasks do not have matches nothing, as in Wok" eq "$(tasks --data-urlencode nosuch=x | jq length)" 0
ok "parameters starting with _ are Wok's flags, not filters" eq "$(tasks --data-urlencode _flag=x | jq length)" 1
bad=$(tasks --data-urlencode 'target_uri=(' -w ' %{http_code}')
ok "an invalid pattern: 400" eq "${bad##* }" 400
ok "...saying which and what to do" eq "$(echo "${bad% *}" | jq -r .reason)" \
  'KCHAPI0015E: The filter target_uri="(" is not a valid regular expression (missing closing parenthesis, at character 1). Fix the pattern, or filter by the exact value.'
ok "Python's syntax: \\d, (?:...), lazy quantifiers (target_uri=(?:/plugins)/kimchi/vms/\\w+?-clone-\\d/)" \
  eq "$(tasks --data-urlencode 'target_uri=(?:/plugins)/kimchi/vms/\w+?-clone-\d/' | jq length)" 1
# hostile patterns from any logged-in user: glibc's regex crashed kimchid on the first
# (CVE-2019-9192) and grew it to gigabytes on the second
viewer_tasks() { curl -s --netrc-file "$TEST_USERS_DIR/viewer.netrc" -G "$BASE/tasks" "$@"; }
ok "a viewer's (|)(\\1\\1)* is a pattern like any other: 200" \
  eq "$(viewer_tasks --data-urlencode 'target_uri=(|)(\1\1)*' -o /dev/null -w '%{http_code}')" 200
bad=$(tasks --data-urlencode 'target_uri=((((a{0,99}){0,99}){0,99}){0,99})' -w ' %{http_code}' -m 5)
ok "nested counted repeats: 400 at once" eq "${bad##* }" 400
ok "...saying the pattern is too large" has "$(echo "${bad% *}" | jq -r .reason)" 'KCHAPI0015E: The filter target_uri="((((a{0,99}){0,99}){0,99}){0,99})" is not a valid regular expression (regular expression is too large'
bad=$(tasks --data-urlencode 'target_uri=(.|..)*\d\d' -w ' %{http_code}' -m 5)
ok "catastrophic backtracking ((.|..)*\\d\\d on a target_uri with one digit): 400 at once" eq "${bad##* }" 400
ok "...naming the limit it crossed" has "$(echo "${bad% *}" | jq -r .reason)" 'KCHAPI0018E: The filter target_uri="(.|..)*\d\d" needs more backtracking steps than kimchid allows one pattern.'
long=$(printf 'a%.0s' $(seq 300))
bad=$(tasks --data-urlencode "target_uri=$long" -w ' %{http_code}')
ok "a pattern of 300 characters: 400 naming the limit" eq "$(echo "${bad% *}" | jq -r .reason)" \
  'KCHAPI0014E: The filter target_uri is 300 characters long: a pattern may have at most 256.'
ok "kimchid is still serving after all of them" eq "$(tasks -o /dev/null -w '%{http_code}')" 200

# the VM object: every key Kimchi's VMModel.lookup returns, with its JSON type
req GET /vms/alpha
ok "the VM object's keys have Kimchi's types" eq "$(jqc '{name, title, description, state,
  stats, uuid, memory, cpu_info, screenshot, icon, graphics, users, groups, access, persistent,
  bootorder, bootmenu, autostart} | map_values(type)')" \
  '{"name":"string","title":"string","description":"string","state":"string","stats":"object","uuid":"string","memory":"object","cpu_info":"object","screenshot":"null","icon":"null","graphics":"object","users":"array","groups":"array","access":"string","persistent":"boolean","bootorder":"array","bootmenu":"string","autostart":"number"}'
ok "...stats has Kimchi's six figures, mem_utilization included (the UI's memory bar)" \
  eq "$(jqc '.stats | keys')" '["cpu_utilization","io_throughput","io_throughput_peak","mem_utilization","net_throughput","net_throughput_peak"]'
ok "...graphics has Kimchi's five keys" eq "$(jqc '.graphics | keys')" '["listen","passwd","passwdValidTo","port","type"]'
ok "...bootorder and bootmenu from the guest's XML" eq "$(jqc '[.bootorder, .bootmenu]')" '[["hd","cdrom"],"yes"]'
req GET /vms/busy
ok "...a guest without them: libvirt's default boot device, and \"no\"" eq "$(jqc '[.bootorder, .bootmenu]')" '[["hd"],"no"]'

req POST /vms/nosuch/migrate '{"remote_host":"localhost"}'
ok "migrating an unknown guest: 404 before anything about the host" eq "$STATUS $(jq_get .reason)" \
  '404 KCHVM0002E: Virtual machine "nosuch" does not exist.'
req POST /vms/busy/migrate '{"remote_host":"localhost","enable_rdma":false}'
ok "enable_rdma (Kimchi's dialog always sends it) is accepted: the host check answers" \
  eq "$STATUS $(jq_get .reason)" '400 KCHVM0055E: "localhost" is this host. Choose another host to migrate to.'
req POST /vms/busy/migrate '{"remote_host":"host-b","enable_rdma":true}'
ok "enable_rdma true: 400 saying RDMA is not supported and what to send" eq "$STATUS $(jq_get .reason)" \
  '400 KCHMIGR0027E: Migration over RDMA is not supported by kimchid: send "enable_rdma": false, or leave it out, to migrate over TCP.'

out=$(curl -s -i -X POST -H 'X-Requested-With: x' "http://127.0.0.1:$PORT/logout" | tr -d '\r')
ok "logout answers 200 {} as Wok does" eq "$(echo "$out" | head -1) $(echo "$out" | tail -1)" "HTTP/1.1 200 OK {}"
stop_kimchid
ok "clean exit" eq "$KEXIT" 0
done_testing
