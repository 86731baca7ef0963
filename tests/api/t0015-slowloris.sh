#!/usr/bin/env bash
# t0015 - slow clients hold up nobody: clients that send a request header one line a second
# and never finish it (slowloris), from many addresses at once and coming back as soon as
# they are cut, while a normal client measures how long its requests take. Each address
# holds at most 32 connections; an unfinished header is cut after 10 s, or after 2 s once
# 3/4 of the 1024 connections are taken (http/guard.c).
. "$(dirname "$0")/../lib.sh"
start_kimchid --uri "test://$ROOT/tests/api/node.xml"
SL=$ROOT/tests/api/slowloris.py
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
log_has() { grep -q "$1" "$KLOG"; }
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

# under pressure: 26 addresses x 34 connections (the 33rd and 34th of each are refused; the
# 832 held are over 3/4 of the limit)
addrs=$(seq -f '127.0.1.%g' 1 26 | paste -sd,)
python3 "$SL" 127.0.0.1 "$PORT" "$addrs" 34 14 >"$OUT" &
SLPID=$!
ok "the slow clients are in place (kimchid cuts their unfinished headers)" \
  eventually 10 log_has 'closed a connection from 127.0.1.*no complete request header in time, server busy'
probe 20
wait "$SLPID"
ok "meanwhile a normal client's 20 requests were all answered (failed: $PROBE_FAILED)" eq "$PROBE_FAILED" 0
ok "...none taking over 1 s (slowest: ${PROBE_WORST} s)" awk -v w="$PROBE_WORST" 'BEGIN { exit !(w < 1) }'
held=$(jq '[.[] | .held] | max' "$OUT")
ok "no address held more than 32 connections (most: $held)" test "$held" -le 32
ok "...and every address held some (the cap, not a refusal of all)" \
  test "$(jq '[.[] | .held] | min' "$OUT")" -ge 16
cut=$(jq '[.[] | .cut_s] | max' "$OUT")
ok "under pressure an unfinished header was cut within 4 s (longest: ${cut} s)" \
  awk -v c="$cut" 'BEGIN { exit !(c > 0 && c < 4) }'

# no pressure: a few slow connections from one address live to the 10 s deadline, not longer
python3 "$SL" 127.0.0.1 "$PORT" 127.0.2.1 4 13 >"$OUT"
cut=$(jq '.["127.0.2.1"].cut_s' "$OUT")
ok "without pressure an unfinished header is cut at 10 s (longest: ${cut} s)" \
  awk -v c="$cut" 'BEGIN { exit !(c >= 9.5 && c < 12) }'
ok "kimchid still answers" eq "$(code $AUTH "$BASE/vms")" 200
stop_kimchid
ok "clean exit" eq "$KEXIT" 0
done_testing
