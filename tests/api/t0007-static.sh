#!/usr/bin/env bash
# t0007 - the UI's static files: content types, security headers, no way out of ui/.
. "$(dirname "$0")/../lib.sh"
start_kimchid --uri test:///default --ui-dir "$ROOT/ui"
WEB=http://127.0.0.1:$PORT
h=$(curl -s -i "$WEB/")
ok "/ serves index.html" has "$h" "200 OK"
ok "index.html is text/html" has "$h" "Content-Type: text/html; charset=utf-8"
ok "pages forbid framing" has "$h" "X-Frame-Options: DENY"
ok "pages carry a CSP" has "$h" "Content-Security-Policy: default-src 'self'"
css=$(ls "$ROOT"/ui/css/*.css 2>/dev/null | head -1)
if [ -n "$css" ]; then
  ok "CSS is text/css" has "$(curl -s -i "$WEB/css/$(basename "$css")")" "Content-Type: text/css"
fi
ok "a missing file is 404" eq "$(curl -s -o /dev/null -w '%{http_code}' "$WEB/nope.js")" 404
ok "path traversal is refused" eq "$(curl -s --path-as-is -o /dev/null -w '%{http_code}' "$WEB/../../etc/passwd")" 404
ok "encoded traversal is refused" eq "$(curl -s --path-as-is -o /dev/null -w '%{http_code}' "$WEB/%2e%2e/%2e%2e/etc/passwd")" 404
ok "POST to a static path is 405" eq "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$WEB/index.html")" 405
secured() { [[ "$1" == *'X-Frame-Options: DENY'* && "$1" == *'X-Content-Type-Options: nosniff'* && "$1" == *'Content-Security-Policy: '* ]]; }
no_hsts() { ! grep -qi '^Strict-Transport-Security' <<<"$1"; }
ok "...and that answer carries the security headers too" secured "$(curl -s -i -X POST "$WEB/index.html")"
ok "plain HTTP (behind a proxy) sends no HSTS" no_hsts "$h"
stop_kimchid
ok "clean exit" eq "$KEXIT" 0
done_testing
