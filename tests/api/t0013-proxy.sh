#!/usr/bin/env bash
# t0013 - behind a real reverse proxy (Debian's nginx terminating TLS), as README's deployment
# section sets it up: the page's changes pass the Origin check, the session cookie is Secure,
# and the lockout counts the client's address (X-Forwarded-For), which only the proxy named
# with --trusted-proxy may set. Reached by a DNS name, kimchid answers it only when told
# (--server-name): another name pointed at its address (DNS rebinding) gets 400.
. "$(dirname "$0")/../lib.sh"
start_kimchid --uri "test://$ROOT/tests/api/node.xml" --trusted-proxy 127.0.0.1 \
  --server-name kimchi.example,other.example
command -v nginx >/dev/null || { echo "not ok - nginx is installed (make deps)"; exit 1; }
NG=$(mktemp -d /tmp/kimchid-nginx.XXXXXX)
PPORT=$(free_port)
certtool --generate-privkey --key-type ecdsa --outfile "$NG/key.pem" >/dev/null 2>&1
printf 'cn = "localhost"\nip_address = "127.0.0.1"\ntls_www_server\nexpiration_days = 2\n' >"$NG/tmpl"
certtool --generate-self-signed --load-privkey "$NG/key.pem" --template "$NG/tmpl" \
  --outfile "$NG/cert.pem" >/dev/null 2>&1
mkdir -p "$NG/tmp"
cat >"$NG/nginx.conf" <<EOF
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/error.log;
daemon off;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $NG/tmp; proxy_temp_path $NG/tmp; fastcgi_temp_path $NG/tmp;
  uwsgi_temp_path $NG/tmp; scgi_temp_path $NG/tmp;
  server {
    listen 127.0.0.1:$PPORT ssl;
    ssl_certificate $NG/cert.pem;
    ssl_certificate_key $NG/key.pem;
    location / {
      proxy_pass http://127.0.0.1:$PORT;
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
    }
  }
}
EOF
nginx -c "$NG/nginx.conf" -e "$NG/error.log" &
NPID=$!
trap 'kill_tree "$NPID"; kill "$(cat "$NG/nginx.pid" 2>/dev/null)" 2>/dev/null; rm -rf "$NG"' EXIT
P=https://127.0.0.1:$PPORT
ok "nginx answers in front of kimchid" eventually 10 curl -sk -o /dev/null "$P/"

login() { # login USER PASSWORD [CURL ARGS...] : through the proxy, headers and body
  local f; f=$(mktemp)
  printf '{"username":"%s","password":"%s"}' "$1" "$2" >"$f"
  curl -sk -i -H 'Content-Type: application/json' -H "Origin: $P" --data-binary @"$f" "${@:3}" "$P/login"
  rm -f "$f"
}
out=$(login "$ADMIN_USER" "$ADMIN_PW")
ok "login through nginx (HTTPS): 200" has "$out" "HTTP/1.1 200"
cookie=$(echo "$out" | sed -n 's/^Set-Cookie: //ip' | tr -d '\r')
ok "...the session cookie is Secure (the proxy says the client used HTTPS)" has "$cookie" "; Secure"
C=(-b "$(echo "$cookie" | cut -d';' -f1)")
change() { curl -sk -o /dev/null -w '%{http_code}' "${C[@]}" -H 'X-Requested-With: kimchid-ui' "$@" -X POST "$P/plugins/kimchi/vms/busy/suspend"; }
ok "a change from the page (Origin https://…) passes through the proxy" eq "$(change -H "Origin: $P")" 200
ok "...while one from another site is still refused (403)" eq "$(change -H "Origin: https://evil.example")" 403
ok "...and one claiming plain http:// for this site too" eq "$(change -H "Origin: http://127.0.0.1:$PPORT")" 403

# the lockout counts the client behind the proxy, not the proxy: a client forging
# X-Forwarded-For gets nowhere, because nginx appends the address it sees
for _ in 1 2 3; do login no-such-user-p wrong -H 'X-Forwarded-For: 192.0.2.99' --interface 127.0.0.30 >/dev/null; done
ok "3 failures from one client behind the proxy lock that client (429)" \
  has "$(login "$VIEWER_USER" "$VIEWER_PW" --interface 127.0.0.30)" "HTTP/1.1 429"
ok "...and nobody else behind the same proxy" \
  has "$(login "$VIEWER_USER" "$VIEWER_PW" --interface 127.0.0.31)" "HTTP/1.1 200"
ok "...the lock names the client's address, the last one the proxy added" \
  grep -q "too many failed logins for a:127.0.0.30:" "$KLOG"

# the name clients use, through the proxy (nginx passes the client's Host on)
N=https://kimchi.example:$PPORT
f=$(mktemp); printf '{"username":"%s","password":"%s"}' "$ADMIN_USER" "$ADMIN_PW" >"$f"
out=$(curl -sk -i --resolve "kimchi.example:$PPORT:127.0.0.1" -H 'Content-Type: application/json' \
  -H "Origin: $N" --data-binary @"$f" --interface 127.0.0.33 "$N/login"); rm -f "$f"
ok "reached as kimchi.example (--server-name) through nginx, the login works" has "$out" "HTTP/1.1 200"
host_as() { curl -s -o /dev/null -w '%{http_code}' -H "Host: $1" $AUTH "http://127.0.0.1:$PORT${2:-/plugins/kimchi/vms}"; }
ok "direct, with Host localhost: served" eq "$(host_as "localhost:$PORT")" 200
ok "...with the machine's host name: served" eq "$(host_as "$(hostname)")" 200
ok "...with the second --server-name: served" eq "$(host_as other.example)" 200
ok "...with a name it was not given (DNS rebinding): 400" eq "$(host_as evil.example)" 400
ok "...the UI's files too" eq "$(host_as evil.example /)" 400
ok "...saying which name and what to do" eq "$(curl -s -H 'Host: evil.example:80' "http://127.0.0.1:$PORT/plugins/kimchi/vms" | jq -r .reason)" \
  'KCHAPI0013E: This server does not answer to the name "evil.example:80" (the request'"'"'s Host). If that is how you reach kimchid, start it with --server-name NAME (the name without the port); else use its address.'

# HAProxy (option forwardfor) adds a header line of its own after the ones the client sent: the
# client is the last line's last entry (sent here from 127.0.0.1, the trusted proxy's address,
# as HAProxy would send it)
as_proxy() { # as_proxy BODY-FILE CURL-ARGS... : a login sent the way the proxy forwards it
  curl -s -H 'Content-Type: application/json' --data-binary @"$1" "${@:2}" "http://127.0.0.1:$PORT/login"
}
f=$(mktemp); printf '{"username":"no-such-user-h","password":"x"}' >"$f"
for _ in 1 2 3; do
  as_proxy "$f" -o /dev/null -H 'X-Forwarded-For: 6.6.6.6' -H 'X-Forwarded-For: 10.2.2.2'
done
ok "two X-Forwarded-For lines (HAProxy's after the client's): the lock names the proxy's entry" \
  grep -q "too many failed logins for a:10.2.2.2:" "$KLOG"
ok "...never the address the client wrote" no_match "$KLOG" "failed logins for a:6.6.6.6:"
g=$(mktemp); printf '{"username":"no-such-user-i","password":"x"}' >"$g" # a user not locked yet
ok "one line, entries by commas (nginx, Apache): the last one" bash -c \
  "for _ in 1 2 3; do curl -s -o /dev/null -H 'Content-Type: application/json' --data-binary @'$g' \
     -H 'X-Forwarded-For: 7.7.7.7, 10.3.3.3' http://127.0.0.1:$PORT/login; done
   grep -q 'too many failed logins for a:10.3.3.3:' '$KLOG' && ! grep -q 'a:7.7.7.7:' '$KLOG'"
for entry in '10.4.4.4:5678' '[::1]' '[2001:db8::1]:443' 'unknown' 'host.example' '10.5.5.5 junk' ''; do
  out=$(as_proxy "$f" -w ' %{http_code}' -H "X-Forwarded-For: 10.9.9.9, $entry")
  ok "the proxy's entry \"$entry\" (not an IP address): 400, not taken for the proxy's address" \
    eq "${out##* } $(echo "${out% *}" | jq -r .reason)" \
    "400 KCHAPI0022E: The trusted proxy's X-Forwarded-For ends in \"$entry\", which is not an IP address. Have the proxy add the client's address alone (README, \"Reverse proxy\")."
done
rm -f "$f" "$g"
ok "...the static files too (every request is counted by its client)" \
  eq "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Forwarded-For: 1.2.3.4:80' "http://127.0.0.1:$PORT/")" 400

# without the proxy, the forwarded headers are ignored: a client cannot pick its address
for _ in 1 2 3; do
  f=$(mktemp); printf '{"username":"no-such-user-d","password":"x"}' >"$f"
  curl -s -o /dev/null -H 'Content-Type: application/json' -H "X-Forwarded-For: 198.51.100.$RANDOM" \
    --data-binary @"$f" --interface 127.0.0.32 "http://127.0.0.1:$PORT/login"; rm -f "$f"
done
ok "a client talking to kimchid directly cannot dodge the lockout with X-Forwarded-For" \
  grep -q "too many failed logins for a:127.0.0.32:" "$KLOG"
stop_kimchid
ok "clean exit" eq "$KEXIT" 0
done_testing
