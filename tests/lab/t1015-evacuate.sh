#!/usr/bin/env bash
# t1015 - empty a host: POST /host/evacuate plans every guest of host-a against host-b and
# host-c with the move's own checks, moves them (each its own task, never more than two at
# once), holds host-a in maintenance, and reports the guest that cannot move, which stays
# running. Then a second evacuation cancelled halfway: each guest in exactly one place.
# It runs last of the lab scripts: whatever earlier scripts left on host-a is evacuated too
# (the lab's memory writer, vm-busy, is powered off first: it moves as a definition).
. "$(dirname "$0")/lib-lab.sh"
start_lab_kimchid
C_PW=$(jq -r '.[] | select(.name=="labadmin" and .host=="host-c") | .password' "$LAB/users.json")
MARK=$LAB/a/lib-libvirt/kimchid-maintenance
at_exit "rm -f '$MARK'"
V=$VIRSH

# copies NAME : on which hosts the guest is defined or runs ("a b" ...)
copies() {
  local h out=""
  for h in a b c; do [ "$(vm_state "$h" "$1")" != absent ] && out="$out $h"; done
  echo "${out# }"
}
# remember_copies : where each guest of host-a is defined or runs now (before an evacuation)
declare -A BEFORE
remember_copies() {
  local g
  BEFORE=()
  for g in $(lab exec a $V list --all --name | sed '/^$/d'); do BEFORE[$g]=$(copies "$g"); done
}
# placed_right : each guest of the evacuation's progress (BODY) is where its status says: a
# moved one left host-a for its destination and nothing else changed; any other is where it
# was before (remember_copies)
placed_right() {
  local name st dest where want bad=""
  while read -r name st dest; do
    where=$(copies "$name")
    if [ "$st" == moved ]; then
      want=$(tr ' ' '\n' <<<"${BEFORE[$name]:-a} ${dest#host-}" | grep -vx a | sort -u | tr '\n' ' ')
    else
      want=${BEFORE[$name]:-a}
    fi
    [ "$(tr ' ' '\n' <<<"$where" | sed '/^$/d' | sort -u | tr '\n' ' ')" == "$(tr ' ' '\n' <<<"$want" | sed '/^$/d' | sort -u | tr '\n' ' ')" ] ||
      bad="$bad $name($st: on '$where', want '$want')"
  done < <(jq -r '.progress.guests[] | "\(.name) \(.status) \(.destination // "-")"' <<<"$BODY")
  [ -z "$bad" ] || { fail_note "not where their status says:$bad"; return 1; }
}
# most_at_once : the most of the evacuation's moves (BODY) whose tasks ran at the same time,
# from each task's start and end as kimchid recorded them
most_at_once() {
  local t spans="" body=$BODY
  for t in $(jq -r '.progress.guests[] | select(.task) | .task' <<<"$body"); do
    req GET "/tasks/$t"
    spans="$spans$(jq -c '[.created, .updated] | map((.[0:19] + "Z" | fromdateiso8601) + (.[20:23] | tonumber / 1000))' <<<"$BODY")"
  done
  BODY=$body
  jq -s '[.[] | [.[0], 1], [.[1], -1]] | sort_by(.[0], .[1]) | reduce .[] as $e ({n: 0, max: 0}; .n += $e[1] | .max = ([.max, .n] | max)) | .max' <<<"$spans"
}
# the most guests of host-a with a migration job at once, sampled from libvirt's job info
# until the file $1.stop exists
sample_jobs() {
  local max=0 n g
  while [ ! -e "$1.stop" ]; do
    n=0
    for g in $(lab exec a $V list --name 2>/dev/null); do
      lab exec a $V domjobinfo "$g" 2>/dev/null | grep -q '^Job type: *Unbounded' && n=$((n + 1))
    done
    [ "$n" -gt "$max" ] && max=$n && echo "$max" >"$1"
    sleep 0.3
  done
}

# the ssh trust to both destinations, set up as the Migrate dialog's check does
lab guest a ev-probe 64 nofill persistent
for d in b c; do
  pw=$ADMIN_PW; [ $d == c ] && pw=$C_PW
  migrate ev-probe "$(jq -n --arg h "host-$d" --arg p "$pw" '{remote_host:$h,user:"labadmin",password:$p,check_only:true}')"
  ok "trust to host-$d set up by a check" eq "$STATUS $(jq_get .ready)" "200 true"
done
lab exec a $V destroy vm-busy >/dev/null 2>&1

# the test's guests: three booted (no disk; disk on GlusterFS; a local disk, copied), one shut
# off, one whose disk is in a pool neither destination has
booted_guest ev-b1 ""
booted_guest ev-b2 shared
booted_guest ev-b3 default 8
lab guest a ev-off 64 nofill persistent
lab exec a $V destroy ev-off >/dev/null
lab exec a $V pool-define-as ev-only-a dir --target /var/lib/libvirt/ev-only-a >/dev/null
at_exit "lab exec a $V pool-destroy ev-only-a >/dev/null 2>&1; lab exec a $V pool-undefine ev-only-a >/dev/null 2>&1; rm -rf $LAB/a/lib-libvirt/ev-only-a"
lab exec a $V pool-build ev-only-a >/dev/null
lab exec a $V pool-start ev-only-a >/dev/null
lab exec a $V vol-create-as ev-only-a ev-stuck.qcow2 16M --format qcow2 >/dev/null
lab booted a ev-stuck /var/lib/libvirt/ev-only-a/ev-stuck.qcow2 16 0
# an old definition here of a guest host-b runs (a move without delete_source leaves one)
lab guest b ev-twin 64 nofill persistent
TWIN=$(mktemp); lab exec b $V dumpxml --inactive ev-twin >"$TWIN"; lab exec a $V define "$TWIN" >/dev/null; rm -f "$TWIN"
for g in ev-b1 ev-b2 ev-b3; do wait_hb a "$g" 2 90; done
before=$(lab exec a $V list --all --name | sed '/^$/d' | sort | tr '\n' ' ')

# 1. the plan: every guest listed, nothing moves, no maintenance
req POST /host/evacuate '{"destinations":["host-b","host-c"],"check_only":true}'
ok "check_only: 200, not ready (a guest cannot move)" eq "$STATUS $(jq_get .ready)" "200 false"
ok "...every guest of host-a listed" eq "$(jq_get '[.guests[].name] | sort | join(" ")') " "$before"
ok "...the stuck guest cannot move, each destination's reason named" \
  eq "$(jq_get '.guests[] | select(.name=="ev-stuck") | "\(.status) \(.destination)"')" "cannot-move null"
ok "...its reason names the directory no pool there has" \
  has "$(jq_get '.guests[] | select(.name=="ev-stuck") | .message')" 'host-b: KCHMIGR0002E: Disk "vda" ("/var/lib/libvirt/ev-only-a/ev-stuck.qcow2")'
ok "...and host-c's" has "$(jq_get '.guests[] | select(.name=="ev-stuck") | .message')" '; host-c: KCHMIGR0002E:'
ok "...an old definition of a guest host-b runs cannot move, though host-c could take it" \
  eq "$(jq_get '.guests[] | select(.name=="ev-twin") | "\(.status) \(.message | test("host-b: KCHMIGR0012E"))"')" "cannot-move true"
ok "...each other guest planned to host-b or host-c" \
  eq "$(jq_get '[.guests[] | select(.name | startswith("ev-b") or . == "ev-off") | select(.status != "waiting" or (.destination | test("^host-[bc]$") | not))] | length')" 0
ok "...both destinations get guests (free memory balances them)" \
  eq "$(jq_get '[.destinations[] | select(.guests > 0)] | length')" 2
ok "...nothing moved" eq "$(copies ev-b1) $(copies ev-off)" "a a"
req GET /host
ok "...and host-a is not in maintenance" eq "$(jq_get .maintenance)" false
grep -qx 198.18.0.2 "$STATE/peers" || echo 198.18.0.2 >>"$STATE/peers" # host-b by its address too
req POST /host/evacuate '{"check_only":true}'
ok "without destinations, the hosts kimchid logs in to" \
  eq "$STATUS $(jq_get '[.destinations[].name] | map(select(. == "host-c" or . == "host-b" or . == "198.18.0.2")) | length')" "200 2"
ok "...host-b once, though kimchid knows it by name and by address" \
  eq "$(jq_get '[.destinations[].name] | map(select(. == "host-b" or . == "198.18.0.2")) | length')" 1

# 2. the evacuation
SAMPLE=$(mktemp /tmp/kimchid-t1015.XXXXXX)
echo 0 >"$SAMPLE"
sample_jobs "$SAMPLE" &
SAMPLER=$!
at_exit "touch '$SAMPLE.stop'; wait $SAMPLER 2>/dev/null; rm -f '$SAMPLE' '$SAMPLE.stop'"
remember_copies
started=$SECONDS
req POST /host/evacuate '{"destinations":["host-b","host-c"]}'
ok "evacuate: 202 with a task" eq "$STATUS $(jq_get .target_uri)" "202 /plugins/kimchi/host/evacuate"
EID=$(jq_get .id)
req GET /host
ok "...host-a is in maintenance from the start" eq "$(jq_get .maintenance)" true
task_end "$EID" 400
touch "$SAMPLE.stop"; wait $SAMPLER 2>/dev/null
echo "# evacuation took $((SECONDS - started)) s; most moving at once: $(cat "$SAMPLE")"
ok "...it ends failed, naming the guest that cannot move (KCHHOST0106E)" \
  has "$(jq_get '"\(.status) \(.message)"')" 'failed KCHHOST0106E: The evacuation ended in'
ok "...the message names it" has "$(jq_get .message)" '"ev-stuck"'
ok "...every other guest moved, but an old definition of a guest a destination runs" \
  eq "$(jq_get '[.progress.guests[] | select(.name != "ev-stuck") | select(.status != "moved") | select(.message | test("KCHMIGR0012E") | not)] | map(.name) | join(" ")')" ""
ok "...each guest is where its status says" placed_right
ok "...the stuck guest still runs on host-a" eq "$(vm_state a ev-stuck)" running
ok "...never more than two moving at once (libvirt's job info)" test "$(cat "$SAMPLE")" -le 2
AT_ONCE=$(most_at_once)
ok "...two at once, never more (the moves' tasks, start to end)" eq "$AT_ONCE" 2
ok "...the test's own guests each on exactly one host" \
  eq "$(for g in ev-b1 ev-b2 ev-b3 ev-off; do copies "$g" | wc -w; done | tr -d '\n')" 1111
for g in ev-b1 ev-b2 ev-b3; do
  d=$(jq_get ".progress.guests[] | select(.name==\"$g\") | .destination")
  ok "...$g carried on on $d (its console)" survived "$g" "${d#host-}"
done
ok "...the shut-off guest moved as a definition, still shut off" \
  eq "$(copies ev-off)" "$(jq_get '.progress.guests[] | select(.name=="ev-off") | .destination' | sed 's/host-//')"
ok "...both destinations took guests" \
  eq "$(jq_get '[.progress.guests[] | select(.status=="moved") | .destination] | unique | join(" ")')" "host-b host-c"
t1=$(jq_get '.progress.guests[] | select(.name=="ev-b1") | .task')
req GET "/tasks/$t1"
ok "...each guest's move is a task of its own in /tasks, finished" \
  eq "$(jq_get '"\(.status) \(.target_uri)"')" "finished /plugins/kimchi/vms/ev-b1/migrate"
req GET /host
ok "host-a stays in maintenance after it" eq "$(jq_get .maintenance)" true
lab guest a ev-late 64 nofill persistent
lab exec a $V destroy ev-late >/dev/null
req POST /vms/ev-late/start '{}'
ok "...starting a guest there is refused (409 KCHHOST0102E)" eq "$STATUS $(jq_get '.reason[0:12]')" "409 KCHHOST0102E"

# 3. cancelled halfway: one at a time, four guests with memory to copy; cancel after the first
req POST /host/maintenance '{"enabled":false}'
for g in ev-c1 ev-c2 ev-c3 ev-c4; do lab guest a "$g" 128 fill persistent; done
remember_copies
req POST /host/evacuate '{"destinations":["host-b"],"max_parallel":1,"include_shutoff":false}'
ok "a second evacuation: 202" eq "$STATUS" 202
CID=$(jq_get .id)
req POST /host/evacuate '{"destinations":["host-c"]}'
ok "...a third while it runs: 409 KCHHOST0103E naming it" \
  has "$STATUS $(jq_get .reason)" "409 KCHHOST0103E: An evacuation of this host is already running (task $CID)"
for _ in $(seq 1 600); do
  req GET "/tasks/$CID"
  [ "$(jq_get '.progress.moved // 0')" -ge 1 ] || [ "$(jq_get .status)" != running ] && break
  sleep 0.1
done
req POST "/tasks/$CID/cancel"
ok "...cancelled after its first guest moved: 202" eq "$STATUS" 202
task_end "$CID" 120
ok "...it ends failed: cancelled (KCHHOST0107E), by whom" has "$(jq_get '"\(.status) \(.message)"')" "failed KCHHOST0107E: The evacuation was cancelled by kimchiadmin"
ok "...some guests moved, some stayed" \
  eq "$(jq_get '[.progress.guests[] | select(.name | startswith("ev-c")) | .status] | (map(select(. == "moved")) | length > 0) and (map(select(. == "cancelled" or . == "failed")) | length > 0)')" true
ok "...each guest is where its status says" placed_right
ok "...the shut-off guest was left (include_shutoff false): skipped" \
  eq "$(jq_get '.progress.guests[] | select(.name=="ev-late") | .status')" skipped
ok "...and what did not start still runs on host-a" \
  eq "$(jq_get '[.progress.guests[] | select(.status=="cancelled") | .name] | map(select(. | startswith("ev-c"))) | length > 0')" true

# 4. host-b's libvirtd dies while guests move there: those fail or go to host-c, none is lost
for g in ev-k1 ev-k2 ev-k3 ev-k4; do lab guest a "$g" 128 fill persistent; done
remember_copies
req POST /host/evacuate '{"destinations":["host-b","host-c"],"include_shutoff":false}'
KID=$(jq_get .id)
for _ in $(seq 1 300); do
  req GET "/tasks/$KID"
  [ "$(jq_get '.progress.moving // 0')" -ge 1 ] || [ "$(jq_get .status)" != running ] && break
  sleep 0.1
done
at_exit "lab exec b timeout 10 virsh -q -c qemu:///system uri >/dev/null 2>&1 || lab service b libvirtd start >/dev/null 2>&1"
lab service b libvirtd stop
task_end "$KID" 300
lab service b libvirtd start
ok "host-b's libvirtd killed during an evacuation: it ends, failed (KCHHOST0106E)" \
  has "$(jq_get '"\(.status) \(.message)"')" "failed KCHHOST0106E"
ok "...the guests planned to host-c moved there" \
  eq "$(jq_get '[.progress.guests[] | select(.destination=="host-c" and (.name | startswith("ev-k"))) | .status] | unique | join(" ")')" moved
ok "...each guest is where its status says" placed_right
ok "...none lost: each ev-k guest runs somewhere" \
  eq "$(for g in ev-k1 ev-k2 ev-k3 ev-k4; do n=0; for h in a b c; do [ "$(vm_state $h $g)" == running ] && n=$((n + 1)); done; echo -n "$n"; done)" 1111
req POST /host/maintenance '{"enabled":false}'
ok "maintenance ended by the administrator" eq "$STATUS $(jq_get .maintenance)" "200 false"
done_testing
