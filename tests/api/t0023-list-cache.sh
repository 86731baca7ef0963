#!/usr/bin/env bash
# t0023 - the guest list is built once per change and served as it is: an ETag a client
# revalidates with (304 when nothing changed, a new tag when something did, the same tag
# across refreshes that change nothing), and gzip for a client that accepts it.
. "$(dirname "$0")/../lib.sh"
start_kimchid --uri "test://$ROOT/tests/api/node.xml"
H=$(mktemp); B=$(mktemp)
trap 'rm -f "$H" "$B"' EXIT
# get PATH [CURL-ARGS...] : sets CODE, headers in $H, body in $B
get() {
  local path=$1; shift
  : >"$B" # curl leaves the file as it was when there is no body
  # shellcheck disable=SC2086
  CODE=$(curl -s --max-time 10 $AUTH -D "$H" -o "$B" -w '%{http_code}' "$@" "$BASE$path")
}
hdr() { tr -d '\r' <"$H" | awk -v k="$(tr 'A-Z' 'a-z' <<<"$1"):" 'tolower($1)==k {sub(/^[^:]*: */, ""); print}'; }

get /vms
TAG=$(hdr ETag)
ok "GET /vms: 200 with an ETag" test "$CODE" == 200 -a -n "$TAG"
ok "...kept only to revalidate" eq "$(hdr Cache-Control)" "private, no-cache"
ok "...varying with the encoding and the caller" eq "$(hdr Vary)" "Accept-Encoding, Cookie, Authorization"
PLAIN=$(cat "$B")
ok "...the list as JSON" eq "$(jq -r '[.[].name] | join(",")' "$B")" "$(jq -r '[.[].name] | join(",")' <<<"$PLAIN")"

get /vms -H "If-None-Match: $TAG"
ok "If-None-Match with that tag: 304" eq "$CODE" 304
ok "...no body" eq "$(wc -c <"$B")" 0
ok "...the same tag" eq "$(hdr ETag)" "$TAG"
get /vms -H "If-None-Match: \"g0\", W/$TAG"
ok "...also among others, weak or not" eq "$CODE" 304
get /vms -H 'If-None-Match: "other"'
ok "another tag: 200 with the list" eq "$CODE $(wc -c <"$B")" "200 ${#PLAIN}"

sleep 3.2 # older than a request lets the list be (3 s): it is refreshed first, and nothing changed
get /vms -H "If-None-Match: $TAG"
ok "after refreshes that changed nothing: still 304, same tag" eq "$CODE $(hdr ETag)" "304 $TAG"

get /vms -H 'Accept-Encoding: gzip, deflate'
ok "Accept-Encoding gzip: gzip'd" eq "$CODE $(hdr Content-Encoding)" "200 gzip"
ok "...the same list once unzipped" eq "$(gzip -dc <"$B")" "$PLAIN"
ok "...smaller than the plain one ($(wc -c <"$B") of ${#PLAIN} bytes)" test "$(wc -c <"$B")" -lt "${#PLAIN}"
GZTAG=$(hdr ETag)
ok "...its own tag" test "$GZTAG" != "$TAG" -a -n "$GZTAG"
get /vms -H 'Accept-Encoding: gzip' -H "If-None-Match: $GZTAG"
ok "...revalidated: 304" eq "$CODE" 304
get /vms -H 'Accept-Encoding: gzip;q=0, identity'
ok "gzip;q=0: not gzip'd" eq "$CODE $(hdr Content-Encoding)" "200 "
get /vms -H 'Accept-Encoding: gzipx'
ok "an unknown coding: not gzip'd" eq "$(hdr Content-Encoding)" ""

req POST /vms/alpha/start
get /vms -H "If-None-Match: $TAG"
ok "after a change (alpha started): 200 with a new tag" test "$CODE" == 200 -a "$(hdr ETag)" != "$TAG"
ok "...listing the change" eq "$(jq -r '.[] | select(.name=="alpha") | .state' "$B")" running
others() { jq -c '[.[] | select(.name != "alpha") | del(.stats)]' "$1"; }
printf '%s' "$PLAIN" >"$B.before"
ok "...the other guests as they were, in order, none twice" \
  eq "$(jq -r '[.[].name] | join(",")' "$B") $(others "$B")" "$(jq -r '[.[].name] | join(",")' "$B.before") $(others "$B.before")"
req POST /vms/alpha/poweroff
req POST /vms/alpha/clone
wait_task "$(jq_get .id)"
get /vms
ok "a clone appears in the list at once, in name order" eq "$(jq -r '[.[].name] | join(",")' "$B")" \
  "$(jq -r '[.[].name] + ["alpha-clone-1"] | sort | join(",")' "$B.before")"
req DELETE /vms/alpha-clone-1
get /vms
ok "...and a deleted guest is gone from it at once" eq "$(jq -r '[.[].name] | join(",")' "$B")" \
  "$(jq -r '[.[].name] | join(",")' "$B.before")"
rm -f "$B.before"

get /vms/alpha
ok "GET /vms/:name stays uncached" eq "$(hdr Cache-Control) $(hdr ETag)" "no-store "

stop_kimchid
ok "kimchid exits cleanly" eq "$KEXIT" 0
done_testing
