#!/usr/bin/env bash
# t2002 - `make run` as README tells a newcomer to start it, on a terminal (as a person runs it:
# some tools print more when they have one): what it prints until kimchid is ready is what a
# newcomer needs (no polkit noise), the login it prints works, and Ctrl-C takes the lab away.
. "$(dirname "$0")/../lib.sh"
LAB=${KIMCHID_LAB_DIR:-/tmp/kimchid-lab}
OUT=$ARTIFACTS/make-run.out
RUN=
cleanup() {
  [ -n "$RUN" ] && kill_tree "$RUN"
  "$ROOT/tests/lab/lab" down >/dev/null 2>&1
}
trap cleanup EXIT
# script(1) gives make a terminal, and types into it what this test writes to KEYS (a ^C
# there is the terminal's Ctrl-C: SIGINT to what runs in the foreground)
KEYS=$(mktemp -u /tmp/kimchid-keys.XXXXXX)
mkfifo "$KEYS"
exec 3<>"$KEYS"
rm -f "$KEYS"
# (as from a shell of its own: not a make nested in make check's, which would say so)
env -u MAKELEVEL -u MAKEFLAGS -u MFLAGS setsid script -qefc "cd '$ROOT' && make run" /dev/null >"$OUT.raw" 2>&1 <&3 &
RUN=$!
text() { tr -d '\r' <"$OUT.raw" >"$OUT"; } # what a person reads
ready() { text; grep -q 'kimchid is running inside host-a' "$OUT"; }
ok "make run brings up the lab and kimchid, and says so (within 3 min)" eventually 180 ready
ok "...printing no polkit line (libvirt's tools on a terminal)" no_match "$OUT" 'polkit\|Authorization not available'
ok "...and nothing but its own lines and the login it offers" \
  bash -c "! grep -v '^kimchid: \|^lab: \|^ *\$\|^  ' '$OUT' | grep -q ."
pw=$(sed -n 's/.*Log in as:  kimchiadmin  password \([^ ]*\) .*/\1/p' "$OUT" | tr -d '\r')
port=$(sed -n 's|.*running inside host-a:  https://127.0.0.1:\([0-9]*\)/.*|\1|p' "$OUT" | head -1)
printf 'machine 127.0.0.1 login kimchiadmin password %s\n' "$pw" >"$ARTIFACTS/make-run.netrc"
chmod 600 "$ARTIFACTS/make-run.netrc"
ok "the printed URL and login list host-a's guests" bash -c \
  "curl -sk --max-time 20 --netrc-file '$ARTIFACTS/make-run.netrc' https://127.0.0.1:$port/plugins/kimchi/vms | jq -e 'map(.name) | index(\"vm-one\") != null' >/dev/null"
rm -f "$ARTIFACTS/make-run.netrc"
printf '\003' >&3
gone() { ! kill -0 "$RUN" 2>/dev/null; }
ok "Ctrl-C stops it (within 60 s)" eventually 60 gone
RUN=
text
ok "...saying so" grep -q 'stopping and removing the lab' "$OUT"
ok "...and the lab is gone: no lab directory, no host namespaces, nothing on port $port" bash -c \
  "[ ! -e '$LAB' ] && ! ip netns list | grep -q '^kimchid-' && ! ss -Htln 'sport = :$port' | grep -q ."
done_testing
