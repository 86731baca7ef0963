#!/usr/bin/env bash
# t0009 - logins: every API route needs one, only admins change things, cookies, lockout,
# cross-site requests, Basic auth for scripts, and a hardened request path.
. "$(dirname "$0")/../lib.sh"
start_kimchid --uri "test://$ROOT/tests/api/node.xml" --session-idle 3 --lockout-seconds 3
WEB=http://127.0.0.1:$PORT

code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
# every route of the route table (read from src/api/router.c, so a new route is swept too):
# 401 without a login, except the ones the table marks public; ":" parts become "alpha"
ROUTES=$(sed -n 's|^ *{"\([A-Z]*\)", \(P \)\?"\([^"]*\)", [a-z_]*, \(API_[A-Z]*\)[,}].*|\1 \2\3 \4|p' \
  "$ROOT/src/api/router.c" | sed 's|^\([A-Z]*\) P |\1 /plugins/kimchi|; s|/:|/alpha|g')
ok "the route table was read: every row, 4 of them public" eq "$(grep -c . <<<"$ROUTES") $(grep -c ' API_PUBLIC$' <<<"$ROUTES")" \
  "$(grep -c '^ *{"[A-Z]*", ' "$ROOT/src/api/router.c") 4"
while read -r method path kind; do
  got=$(code -X "$method" -H 'X-Requested-With: t' "http://127.0.0.1:$PORT$path")
  if [ "$kind" == API_PUBLIC ]; then
    ok "$method $path is public: no 401" bash -c "[ $got != 401 ]"
  else
    ok "$method $path without a login: 401" eq "$got" 401
  fi
done <<<"$ROUTES"
body=$(curl -s "$BASE/vms")
ok "401 body says how to log in" has "$body" 'WOKAUTH0002E: Log in first: POST /login'
ok "401 asks scripts for Basic credentials" has "$(curl -s -i "$BASE/vms")" 'WWW-Authenticate: Basic realm="kimchid"'
ok "...but not the UI (no browser prompt)" bash -c "! curl -s -i -H 'X-Requested-With: x' '$BASE/vms' | grep -qi WWW-Authenticate"
ok "static UI files need no login" eq "$(code "$WEB/")" 200

VIEW="--netrc-file $TEST_USERS_DIR/viewer.netrc"
while read -r method path kind; do # every change in the route table but the public ones
  [ "$method" == GET ] || [ "$kind" == API_PUBLIC ] && continue
  # shellcheck disable=SC2086
  ok "$method $path as a non-admin: 403" \
    eq "$(code $VIEW -X "$method" -H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$PORT$path")" 403
done <<<"$ROUTES"
# shellcheck disable=SC2086
ok "a non-admin may read" eq "$(code $VIEW "$BASE/vms")" 200
# shellcheck disable=SC2086
msg=$(curl -s $VIEW -X POST "$BASE/vms/alpha/start" | jq -r .reason)
ok "the 403 says why" has "$msg" "User \"$VIEWER_USER\" may only look"
ok "Basic credentials work for scripts" eq "$(code $AUTH "$BASE/vms")" 200
# the right password followed by a NUL byte and more: PAM would see only the part before it
hdr=$(mktemp)
{ printf 'Authorization: Basic '; printf '%s:%s\0tail' "$ADMIN_USER" "$ADMIN_PW" | base64 -w0; echo; } >"$hdr"
nul=$(curl -s -w ' %{http_code}' -H @"$hdr" "$BASE/vms"); rm -f "$hdr"
ok "Basic credentials holding a NUL byte are refused (401), even with the right password first" \
  eq "${nul##* }" 401
ok "...saying why" has "$nul" "The Basic credentials hold a NUL byte"

login() { # login USER PASSWORD [CURL ARGS...] : prints the response with headers
  local f; f=$(mktemp)
  printf '{"username":"%s","password":"%s"}' "$1" "$2" >"$f"
  curl -s -i -H 'Content-Type: application/json' --data-binary @"$f" "${@:3}" "$WEB/login"
  rm -f "$f"
}
out=$(login "$ADMIN_USER" "$ADMIN_PW")
ok "login: 200" has "$out" "HTTP/1.1 200"
ok "login answers username, groups and role" eq "$(echo "$out" | tail -1 | jq -c '[.username, .role, (.groups | index("sudo") != null)]')" "[\"$ADMIN_USER\",\"admin\",true]"
cookie=$(echo "$out" | sed -n 's/^Set-Cookie: //ip' | tr -d '\r')
ok "the cookie is HttpOnly, SameSite=Strict, Path=/, with a lifetime" has "$cookie" "; Path=/; Max-Age=28800; HttpOnly; SameSite=Strict"
token=$(echo "$cookie" | sed 's/^kimchid_session=\([0-9a-f]*\);.*/\1/')
ok "the session token is 256 random bits (64 hex digits)" eq "${#token}" 64
C=(-b "kimchid_session=$token")
ok "the cookie opens the API" eq "$(code "${C[@]}" "$BASE/vms")" 200
ok "GET /session tells who is logged in" eq "$(curl -s "${C[@]}" "$BASE/session" | jq -r '.username + " " + .role')" "$ADMIN_USER admin"
ok "a cookie POST without X-Requested-With or JSON: 403" eq "$(code "${C[@]}" -X POST "$BASE/vms/busy/suspend")" 403
ok "a cookie POST with X-Requested-With: 200" eq "$(code "${C[@]}" -H 'X-Requested-With: kimchid-ui' -X POST "$BASE/vms/busy/suspend")" 200
ok "a cookie POST with a JSON body: 200" eq "$(code "${C[@]}" -H 'Content-Type: application/json' -d '{}' -X POST "$BASE/vms/busy/resume")" 200
xs=$(curl -s "${C[@]}" -H 'X-Requested-With: x' -H 'Origin: https://evil.example' -X POST "$BASE/vms/busy/suspend")
ok "a cross-site POST (foreign Origin) is refused" eq "$(echo "$xs" | jq -r .code)" "403 Forbidden"
ok "...saying so" has "$(echo "$xs" | jq -r .reason)" 'Cross-site request refused: it comes from "https://evil.example"'
ok "a same-origin POST is accepted" eq "$(code "${C[@]}" -H 'X-Requested-With: x' -H "Origin: $WEB" -X POST "$BASE/vms/busy/suspend")" 200
ok "a cross-site login is refused" has "$(login "$ADMIN_USER" "$ADMIN_PW" -H 'Origin: https://evil.example')" "HTTP/1.1 403"

sleep 4
ok "a session unused longer than --session-idle has ended" eq "$(code "${C[@]}" "$BASE/vms")" 401
out=$(login "$ADMIN_USER" "$ADMIN_PW")
token=$(echo "$out" | sed -n 's/^Set-Cookie: kimchid_session=\([0-9a-f]*\);.*/\1/ip')
ok "logout: 200 and the cookie is cleared" has "$(curl -s -i -b "kimchid_session=$token" -X POST -H 'X-Requested-With: x' "$WEB/logout")" "Max-Age=0"
ok "after logout the token no longer works" eq "$(code -b "kimchid_session=$token" "$BASE/vms")" 401

out=$(login "$ADMIN_USER" wrong)
ok "wrong password: 401" has "$out" "HTTP/1.1 401"
ok "wrong password: one message" eq "$(echo "$out" | tail -1 | jq -r .reason)" "WOKAUTH0008E: The user name or password is wrong."
ok "unknown user: the very same message" eq "$(login no-such-user-xyz wrong | tail -1 | jq -r .reason)" "WOKAUTH0008E: The user name or password is wrong."
ok "login without a password: 400" has "$(curl -s -i -H 'Content-Type: application/json' -d "{\"username\":\"$ADMIN_USER\"}" "$WEB/login")" 'WOKAPI0008E: The parameter \"password\" is required.'

# lockout: 3 failures within 30 s for one user close it to new places (addresses it has not
# logged in from) for --lockout-seconds (3 here), doubling with each lockout in a row; where it
# logged in before, it still gets in; 3 failures from one address lock that address for anyone.
# The admin logged in from 127.0.0.1 above, so its failure there did not count for the user.
for _ in 1 2 3; do login "$ADMIN_USER" wrong --interface 127.0.0.3 >/dev/null; done
out=$(login "$ADMIN_USER" "$ADMIN_PW" --interface 127.0.0.5)
ok "after 3 failures, from a new place even the right password is refused: 429" has "$out" "HTTP/1.1 429"
ok "...with Retry-After" has "$out" "Retry-After: "
ok "...and a message saying when to try again" has "$(echo "$out" | tail -1)" "Too many failed logins. Try again in"
ok "from where the user logged in before, it still gets in: a stranger cannot lock it out" \
  has "$(login "$ADMIN_USER" "$ADMIN_PW")" "HTTP/1.1 200"
ok "another user from another address is not slowed" has "$(login "$VIEWER_USER" "$VIEWER_PW" --interface 127.0.0.2)" "HTTP/1.1 200"
ok "the locked user is refused from another new place too" has "$(login "$ADMIN_USER" "$ADMIN_PW" --interface 127.0.0.2)" "HTTP/1.1 429"
login "$VIEWER_USER" wrong --interface 127.0.0.4 >/dev/null
login no-such-user-1 wrong --interface 127.0.0.4 >/dev/null
login no-such-user-2 wrong --interface 127.0.0.4 >/dev/null
ok "3 failures from one address lock that address for anyone" has "$(login "$VIEWER_USER" "$VIEWER_PW" --interface 127.0.0.4)" "HTTP/1.1 429"
sleep 3.5 # the lockout's length is what is tested
ok "the lockout ends after --lockout-seconds" has "$(login "$ADMIN_USER" "$ADMIN_PW" --interface 127.0.0.6)" "HTTP/1.1 200"
for u in 3 4 5; do login "no-such-user-$u" wrong --interface 127.0.0.4 >/dev/null; done
ra=$(login "$VIEWER_USER" "$VIEWER_PW" --interface 127.0.0.4 | tr -d '\r' | sed -n 's/^Retry-After: //p')
ok "the address's next lockout in a row lasts twice as long (Retry-After: $ra, of 6 s)" test "${ra:-0}" -ge 5

# a session holds only while its account does: removed from the admin group, locked, its
# password changed, or
# deleted, the account's sessions end at its next change request
TMPU=kimchid-t-tmp
userdel -r "$TMPU" >/dev/null 2>&1
useradd -m -G sudo "$TMPU"
TMPW=$(rand_pw); printf '%s:%s\n' "$TMPU" "$TMPW" | chpasswd
session_of() { # session_of ADDRESS : logs TMPU in, prints the cookie option
  login "$TMPU" "$TMPW" --interface "$1" | sed -n 's/^Set-Cookie: \(kimchid_session=[0-9a-f]*\);.*/\1/ip'
}
# a change request on a guest that does not exist: 404 once the session and the role pass
change() { curl -s -w ' %{http_code}' -b "$1" -H 'X-Requested-With: t' -X POST "$BASE/vms/no-such-guest/start"; }
S1=$(session_of 127.0.0.20)
ok "a fresh admin's session may change things (it gets as far as the guest: 404)" eq "$(change "$S1" | tail -c 3)" 404
gpasswd -d "$TMPU" sudo >/dev/null
out=$(change "$S1")
ok "removed from sudo: the next change request ends the session (401)" eq "${out##* }" 401
ok "...saying why" has "$out" "KCHAUTH0009E: Your account changed since you logged in"
ok "...and the session stays ended, for reads too" eq "$(code -b "$S1" "$BASE/vms")" 401
S2=$(session_of 127.0.0.21)
ok "logged in again, the account now reads as a viewer" eq "$(curl -s -b "$S2" "$BASE/session" | jq -r .role)" user
usermod -L "$TMPU"
ok "locked (usermod -L): its session ends at the next change request" eq "$(change "$S2" | tail -c 3)" 401
usermod -U "$TMPU"
S4=$(session_of 127.0.0.23)
ok "logged in again (as a viewer), reads work" eq "$(code -b "$S4" "$BASE/vms")" 200
TMPW=$(rand_pw); printf '%s:%s\n' "$TMPU" "$TMPW" | chpasswd
out=$(change "$S4")
ok "its password changed (chpasswd): the next change request ends the session (401)" eq "${out##* }" 401
ok "...saying why" has "$out" "rights or password changed), so this session has ended. Log in again."
ok "...and the session stays ended, for reads too" eq "$(code -b "$S4" "$BASE/vms")" 401
S3=$(session_of 127.0.0.22)
userdel -r "$TMPU" >/dev/null 2>&1
ok "deleted: its session ends at the next change request" eq "$(change "$S3" | tail -c 3)" 401

# a failed login costs the same whether the user exists or not: no answer before 250 ms
fail_ms() { # fail_ms USER ADDRESS : milliseconds one failed login took
  local f; f=$(mktemp); printf '{"username":"%s","password":"wrong-%s"}' "$1" "$RANDOM" >"$f"
  curl -s -o /dev/null -w '%{time_total}' -H 'Content-Type: application/json' \
    --data-binary @"$f" --interface "$2" "$WEB/login" | awk '{printf "%d", $1 * 1000}'
  rm -f "$f"
}
missing=$(fail_ms no-such-user-timing 127.0.0.10)
wrong=$(fail_ms "$VIEWER_USER" 127.0.0.11)
ok "a missing user's failure takes at least 250 ms (${missing} ms)" test "$missing" -ge 250
ok "a wrong password's failure takes at least 250 ms (${wrong} ms)" test "$wrong" -ge 250
ok "...the two differ by less than 60 ms" test "$(( missing > wrong ? missing - wrong : wrong - missing ))" -lt 60

# hardened request path
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'GET /plugins/kimchi/vms HTTP/1.1\r\nHost: x\r\n' >&3 # a client that stops mid-request
slow=0
for _ in $(seq 1 20); do
  t=$(curl -s $AUTH -o /dev/null -w '%{time_total}' "$BASE/vms")
  awk -v t="$t" 'BEGIN {exit !(t > 1)}' && slow=$((slow + 1))
done
ok "a stalled client does not hold up others (20 requests, none over 1 s)" eq "$slow" 0
exec 3>&-
fds=()
for _ in $(seq 1 32); do exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" && fds+=("$fd"); done
ok "32 idle connections from one address are held" eq "${#fds[@]}" 32
ok "a 33rd from that address is refused" eq "$(code --max-time 3 $AUTH "$BASE/vms")" 000
ok "...while another address is still served" eq "$(code --interface 127.0.0.2 $AUTH "$BASE/vms")" 200
for fd in "${fds[@]}"; do exec {fd}>&-; done
served() { [ "$(code $AUTH "$BASE/vms")" == 200 ]; }
ok "once they close, the address is served again" eventually 5 served
big=$(head -c 70000 /dev/zero | tr '\0' 'c')
ok "a 70 KB header is refused" eq "$(code -H "X-Big: $big" "$BASE/vms" | cut -c1)" 4
long=$(head -c 5000 /dev/zero | tr '\0' 'd')
ok "a 5000-character URI is refused" eq "$(code $AUTH "$BASE/vms/$long" | cut -c1)" 4
ok "the daemon still serves after all that" eq "$(code $AUTH "$BASE/vms")" 200
login 'evil\n2099-01-01T00:00:00.000Z info  FORGED' wrong --interface 127.0.0.9 >/dev/null
ok "a user name with a line break cannot forge a log line" no_match "$KLOG" -q '^2099-01-01T00:00:00.000Z info  FORGED'
ok "...it is logged on one line with the break shown as ?" grep -q 'login failed for user "evil?2099' "$KLOG"

stop_kimchid
ok "clean exit" eq "$KEXIT" 0
no_login_secrets() {
  local pat; pat=$(mktemp)
  printf '%s\n%s\n' "$ADMIN_PW" "$VIEWER_PW" >"$pat"
  no_match "$KLOG" -rqaF -f "$pat" "$STATE"
  local rc=$?; rm -f "$pat"; return $rc
}
ok "the login passwords are in no log or state file" no_login_secrets
done_testing
