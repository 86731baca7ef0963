#!/usr/bin/env bash
# t0003 - malformed JSON, wrong types, unknown fields, oversized bodies; the daemon keeps serving.
. "$(dirname "$0")/../lib.sh"
start_kimchid --uri "test://$ROOT/tests/api/node.xml"

req POST /vms/alpha/clone '{"name":'
ok "malformed JSON: 400" eq "$STATUS" 400
ok "malformed JSON: message" has "$(jq_get .reason)" "WOKAPI0006E: The request body is not valid JSON"
req POST /vms/alpha/clone '[1]'
ok "a JSON array body: 400" eq "$STATUS $(jq_get .reason)" "400 WOKAPI0008E: The request body must be a JSON object."
req POST /vms/alpha/clone '{"name":5}'
ok "wrong type: 400 naming the field" eq "$STATUS $(jq_get .reason)" '400 WOKAPI0008E: The parameter "name" must be a string.'
req POST /vms/alpha/clone '{"name":"x","color":"red"}'
ok "unknown field: 400 naming it" eq "$STATUS $(jq_get .reason)" '400 KCHAPI0001E: Unknown parameter "color". Remove it from the request.'
long=$(printf 'a%.0s' $(seq 1 63))
req POST /vms/alpha/clone "{\"name\":\"x\",\"${long}é\":1}"
ok "an unknown field whose quoted 64 bytes end inside a character: 400 with the reason, the cut byte a '?'" \
  eq "$STATUS $(jq_get .reason)" "400 KCHAPI0001E: Unknown parameter \"${long}?\". Remove it from the request."
req POST /vms/alpha/clone '{"name":"a","name":"b"}'
ok "duplicate keys: 400" eq "$STATUS" 400
req POST /vms/alpha/clone '{"name":"bad/name"}'
ok "invalid guest name: 400" eq "$STATUS $(jq_get .reason)" "400 KCHVM0100E: A guest name cannot contain '/' or control characters."
req POST /vms/alpha/clone '{"name":"busy"}'
ok "clone to an existing name: 409" eq "$STATUS $(jq_get .reason)" '409 KCHVM0001E: A virtual machine named "busy" already exists. Choose another name.'

big=$(head -c 70000 /dev/zero | tr '\0' 'a')
req POST /vms/alpha/start "{\"x\":\"$big\"}"
ok "body over 64 KiB: 413" eq "$STATUS" 413
ok "413 body" eq "$BODY" '{"code":"413 Payload Too Large","reason":"KCHAPI0011E: The request body is larger than 64 KiB. Send a smaller request."}'
chunked=$(printf '{"x":"%s"}' "$big" | curl -s $AUTH -w ' %{http_code}' -X POST -H 'Transfer-Encoding: chunked' --data-binary @- "$BASE/vms/alpha/start")
ok "chunked body over 64 KiB: 413" has "$chunked" "413"
long=$(head -c 3000 /dev/zero | tr '\0' 'b')
req GET "/vms/$long"
ok "a very long name: 4xx, not a crash" eq "${STATUS:0:1}" 4
req GET "/vms/a%01b"
ok "control characters in a name are refused" eq "${STATUS:0:1}" 4
req GET /tasks/abc
ok "non-numeric task id: 404" eq "$STATUS $(jq_get .reason)" '404 WOKASYNC0001E: Task "abc" does not exist.'
raw=$(printf 'GARBAGE / HTTP/1.1\r\nHost: x\r\n\r\n' | timeout 3 socat - TCP:127.0.0.1:$PORT 2>/dev/null | head -1)
ok "garbage request line gets an HTTP error" has "$raw" "HTTP/1.1"
req GET /vms
ok "daemon still serving after all that" eq "$STATUS" 200

stop_kimchid
ok "clean exit" eq "$KEXIT" 0
done_testing
