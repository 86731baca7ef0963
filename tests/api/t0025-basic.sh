#!/usr/bin/env bash
# t0025 - HTTP Basic credentials PAM accepted are remembered (auth/basic.c): a script polling
# with curl -u costs one PAM login, not one per request, yet the credentials hold only as a
# session does: a wrong password still goes to PAM, and a changed account (password, rights,
# locked, deleted) is seen at the next change request and, for reads, within the account
# re-read interval. PAM's own answer is made visible by a PAM service of the test's own, which
# it switches to deny everyone.
. "$(dirname "$0")/../lib.sh"
SVC=kimchid-t0025
PAMF=/etc/pam.d/$SVC
TMPU=kimchid-t-basic
cleanup() { rm -f "$PAMF"; userdel -r "$TMPU" >/dev/null 2>&1; }
trap cleanup EXIT
pam_allows() { printf 'auth required pam_unix.so\naccount required pam_unix.so\n' >"$PAMF"; }
pam_denies() { printf 'auth required pam_deny.so\naccount required pam_deny.so\n' >"$PAMF"; }
pam_allows
userdel -r "$TMPU" >/dev/null 2>&1
useradd -m -G sudo "$TMPU"
PW=$(rand_pw)
printf '%s:%s\n' "$TMPU" "$PW" | chpasswd
RECHECK=2
start_kimchid --uri "test://$ROOT/tests/api/node.xml" --pam-service "$SVC" --account-recheck $RECHECK

basic() { # basic PASSWORD [CURL ARGS...] : status of a request with TMPU's Basic credentials
  local f rc; f=$(mktemp); printf 'machine 127.0.0.1 login %s password %s\n' "$TMPU" "$1" >"$f"
  shift
  rc=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --netrc-file "$f" "$@")
  rm -f "$f"; echo "$rc"
}
# A request expected to fail comes from an address of its own (failed A): three failures from
# one address would lock it for anyone (t0009). The ones expected to pass come from 127.0.0.1,
# where the user logged in first, so its own lockout (its failures add up) does not apply.
# The user's own failures still add up, and from its fourth it is locked out elsewhere: a
# refusal is then 429, decided before PAM, so what is asserted is that nothing let it in.
N=40
failed() { N=$((N + 1)); "$@" --interface "127.0.0.$N"; }
refused() { [[ "$1" == 401 || "$1" == 429 ]] || { fail_note "got $1, want 401 (or 429)"; return 1; }; }
get() { basic "$1" "$BASE/vms" "${@:2}"; }
# a change request on a guest that does not exist: 404 once the login and the role pass
change() { basic "$1" -X POST -H 'Content-Type: application/json' -d '{}' "$BASE/vms/no-such-guest/start" "${@:2}"; }
login() { # status of a session login (always asks PAM)
  local f; f=$(mktemp); printf '{"username":"%s","password":"%s"}' "$TMPU" "$1" >"$f"
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
    --data-binary @"$f" "${@:2}" "http://127.0.0.1:$PORT/login"; rm -f "$f"
}

ok "Basic credentials: 200" eq "$(get "$PW")" 200
pam_denies
ok "PAM now refuses everyone: a session login with the same password is refused" refused "$(failed login "$PW")"
ok "...but the Basic credentials PAM accepted are remembered: 200 without PAM" eq "$(get "$PW")" 200
ok "...for a change request too (the account is read again, not PAM): 404 past the login" \
  eq "$(change "$PW")" 404
ok "a wrong password never matches them: it goes to PAM (refused)" refused "$(failed get "wrong-$PW")"
pam_allows

NEW=$(rand_pw)
printf '%s:%s\n' "$TMPU" "$NEW" | chpasswd
ok "the password changed: the old one is refused at the next change request" \
  refused "$(failed change "$PW")"
ok "...and for reads too, from then on" refused "$(failed get "$PW")"
ok "the new password works" eq "$(change "$NEW")" 404
OLDER=$NEW NEW=$(rand_pw)
printf '%s:%s\n' "$TMPU" "$NEW" | chpasswd
sleep $((RECHECK + 1))
ok "changed again: reads with the old one are refused once the account re-read interval ($RECHECK s) passed" \
  refused "$(failed get "$OLDER")"
ok "the new one: 200" eq "$(get "$NEW")" 200

gpasswd -d "$TMPU" sudo >/dev/null
ok "removed from sudo: remembered credentials are a viewer's at the next change request (403)" \
  eq "$(change "$NEW")" 403
usermod -aG sudo "$TMPU"
ok "back in sudo: 404 past the login again" eq "$(change "$NEW")" 404
usermod -L "$TMPU"
ok "locked (usermod -L): refused at the next change request" refused "$(failed change "$NEW")"
usermod -U "$TMPU"
ok "unlocked: 404" eq "$(change "$NEW")" 404
userdel -r "$TMPU" >/dev/null 2>&1
ok "deleted: refused at the next change request" refused "$(failed change "$NEW")"
ok "the passwords are in no log or state file" bash -c "! grep -rqaF -e '$PW' -e '$OLDER' -e '$NEW' '$KLOG' '$STATE'"

stop_kimchid
ok "kimchid exits cleanly" eq "$KEXIT" 0
done_testing
