#!/usr/bin/env bash
# t0006 - HTTPS by default with a generated self-signed certificate; --http only on loopback.
. "$(dirname "$0")/../lib.sh"
STATE=$(mktemp -d /tmp/kimchid-test.XXXXXX)
PORT=$(free_port)
KLOG=$ARTIFACTS/kimchid-tls.log
"$KIMCHID" --listen "127.0.0.1:$PORT" --state-dir "$STATE" --uri test:///default >"$KLOG" 2>&1 &
KPID=$!
wait_ready "https://127.0.0.1:$PORT/plugins/kimchi/vms" "-k"
body=$(curl -sk $AUTH "https://127.0.0.1:$PORT/plugins/kimchi/vms")
ok "HTTPS answers GET /vms with the test guest" eq "$(echo "$body" | jq -r '.[0].name + " " + .[0].state')" "test running"
ok "a certificate was generated" test -s "$STATE/kimchid-cert.pem"
ok "HTTPS answers carry HSTS (API)" has "$(curl -sk -i $AUTH "https://127.0.0.1:$PORT/plugins/kimchi/vms")" \
  "Strict-Transport-Security: max-age=31536000"
ok "...and errors and static answers too" has "$(curl -sk -i "https://127.0.0.1:$PORT/nope.js")" \
  "Strict-Transport-Security: max-age=31536000"
ok "the key file is mode 0600" eq "$(stat -c %a "$STATE/kimchid-key.pem")" 600
ok "plain HTTP to the TLS port gets no API answer" eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/plugins/kimchi/vms")" 000
ok "TLS 1.1 is refused" eq "$(curl -sk --tlsv1.1 --tls-max 1.1 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/plugins/kimchi/vms")" 000
ok "TLS 1.2 is accepted" eq "$(curl -sk $AUTH --tlsv1.2 --tls-max 1.2 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/plugins/kimchi/vms")" 200
login=$(mktemp); printf '{"username":"%s","password":"%s"}' "$ADMIN_USER" "$ADMIN_PW" >"$login"
cookie=$(curl -sk -i -H 'Content-Type: application/json' --data-binary @"$login" "https://127.0.0.1:$PORT/login" | grep -i '^Set-Cookie:')
rm -f "$login"
ok "over TLS the session cookie is Secure, HttpOnly and SameSite=Strict" has "$cookie" "; HttpOnly; SameSite=Strict; Secure"
fp1=$(openssl x509 -noout -fingerprint -in "$STATE/kimchid-cert.pem" 2>/dev/null || sha256sum "$STATE/kimchid-cert.pem")
stop_kimchid
ok "clean exit" eq "$KEXIT" 0
"$KIMCHID" --listen "127.0.0.1:$PORT" --state-dir "$STATE" --uri test:///default >>"$KLOG" 2>&1 &
KPID=$!
wait_ready "https://127.0.0.1:$PORT/plugins/kimchi/vms" "-k"
fp2=$(openssl x509 -noout -fingerprint -in "$STATE/kimchid-cert.pem" 2>/dev/null || sha256sum "$STATE/kimchid-cert.pem")
ok "the certificate is reused on the next start" eq "$fp2" "$fp1"
stop_kimchid

out=$("$KIMCHID" --http --listen "0.0.0.0:$PORT" --state-dir "$STATE" --uri test:///default 2>&1)
ok "--http on a non-loopback address is refused" eq "$?" 1
ok "...with a message saying why" has "$out" "--http serves plain HTTP and is accepted only on a loopback address"
out=$("$KIMCHID" --listen nonsense --state-dir "$STATE" 2>&1)
ok "a bad --listen is refused with usage help" has "$out" "--listen takes ADDR:PORT"
ok "--version prints the version" has "$("$KIMCHID" --version)" "kimchid 0."
ok "--help lists the options" has "$("$KIMCHID" --help)" "--state-dir DIR"
out=$("$KIMCHID" --listen "127.0.0.1:$PORT" --state-dir "$STATE" --uri 'test:///nonexistent/file.xml' 2>&1)
ok "an unusable libvirt URI fails with libvirt's reason" has "$out" "Cannot connect to libvirt"
bad=$(mktemp); echo "not a certificate" >"$bad"
out=$(timeout 10 "$KIMCHID" --listen "127.0.0.1:$PORT" --state-dir "$STATE" --uri test:///default \
  --tls-cert "$bad" --tls-key "$STATE/kimchid-key.pem" 2>&1)
ok "a certificate that is no certificate is refused at start (exit 1)" eq "$?" 1
ok "...saying so, not blaming the port" has "$out" "KCHD0008E: The TLS certificate \"$bad\" and key \"$STATE/kimchid-key.pem\" cannot be used: "
fifo=$(mktemp -u); mkfifo "$fifo"
out=$(timeout 10 "$KIMCHID" --listen "127.0.0.1:$PORT" --state-dir "$STATE" --uri test:///default \
  --tls-cert "$STATE/kimchid-cert.pem" --tls-key "$fifo" 2>&1)
ok "a FIFO as key file does not hang start-up: it is refused at once (exit 1)" eq "$?" 1
ok "...saying it is not a regular file" has "$out" "Cannot read \"$fifo\": not a regular file."
rm -f "$bad" "$fifo"
# a private key every user can read is refused, naming the file and the chmod to run
open_key=$(mktemp); cp "$STATE/kimchid-key.pem" "$open_key"; chmod 644 "$open_key"
out=$(timeout 10 "$KIMCHID" --listen "127.0.0.1:$PORT" --state-dir "$STATE" --uri test:///default \
  --tls-cert "$STATE/kimchid-cert.pem" --tls-key "$open_key" 2>&1)
ok "a world-readable private key is refused at start (exit 1)" eq "$?" 1
ok "...naming the file and the chmod to run" has "$out" \
  "KCHD0036E: The TLS private key \"$open_key\" can be read by every user of this host (mode 0644), so any of them could pose as kimchid. Run \"chmod 600 $open_key\""
chmod 640 "$open_key"
out=$(timeout 3 "$KIMCHID" --listen "127.0.0.1:$PORT" --state-dir "$STATE" --uri test:///default \
  --tls-cert "$STATE/kimchid-cert.pem" --tls-key "$open_key" 2>&1)
ok "...a group-readable one (0640, as Debian's ssl-cert) is used (kimchid ran until stopped)" eq "$?" 124
chmod 600 "$open_key"; chown "$VIEWER_USER" "$open_key"
out=$(timeout 10 "$KIMCHID" --listen "127.0.0.1:$PORT" --state-dir "$STATE" --uri test:///default \
  --tls-cert "$STATE/kimchid-cert.pem" --tls-key "$open_key" 2>&1)
ok "a private key another user owns (mode 0600: its owner reads or replaces it anyway) is refused at start (exit 1)" eq "$?" 1
ok "...naming the owner and the chown to run" has "$out" \
  "KCHD0037E: The TLS private key \"$open_key\" belongs to the user $VIEWER_USER (uid $(id -u "$VIEWER_USER")), who can read or replace it whatever its mode, and so pose as kimchid. Run \"chown root $open_key\""
rm -f "$open_key"
# SIGTERM while start-up blocks (here on a libvirt socket that accepts and never answers) stops
# kimchid at once; before, the signal waited for start-up to end
mute=$(mktemp -u /tmp/kimchid-mute.XXXXXX.sock)
socat "UNIX-LISTEN:$mute,fork" EXEC:"sleep 30" & mute_pid=$!
for _ in $(seq 1 50); do [ -S "$mute" ] && break; sleep 0.1; done
"$KIMCHID" --http --listen "127.0.0.1:$PORT" --state-dir "$STATE" --log-level info \
  --uri "qemu+unix:///system?socket=$mute" >"$ARTIFACTS/t0006-startup-term.log" 2>&1 & start_pid=$!
sleep 1.5
kill -TERM "$start_pid"
t0=$(date +%s%N)
for _ in $(seq 1 50); do kill -0 "$start_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$start_pid" 2>/dev/null && { kill -9 "$start_pid"; fail_note "still running 5 s after SIGTERM"; }
wait "$start_pid"; term_rc=$?
ok "SIGTERM during a blocked start-up stops kimchid within 5 s, exit 0 ($(( ($(date +%s%N) - t0) / 1000000 )) ms)" eq "$term_rc" 0
ok "...saying so" has "$(cat "$ARTIFACTS/t0006-startup-term.log")" "signal 15 during start-up: stopping before serving anything"
kill_tree "$mute_pid"; wait "$mute_pid" 2>/dev/null; rm -f "$mute"
done_testing
