#!/usr/bin/env bash
# t1017 - six moves at once. libvirtd serves at most 5 calls of one client connection at once
# (max_client_requests, its default) and reads nothing more from that connection meanwhile;
# a move's migration call lasts the whole move. When every move made its call on kimchid's
# one connection, a sixth move's call waited for another move's end, and so did every other
# libvirt call of kimchid (an action, the guest list, the moves' own progress). Each move now
# makes its call on a connection of its own.
. "$(dirname "$0")/lib-lab.sh"
KIMCHID_ARGS="--workers 8" start_lab_kimchid
V=$VIRSH
N=6
SEEN=$(mktemp)
at_exit "rm -f '$SEEN'"

# the ssh trust to host-b, set up as the Migrate dialog's check does (if not there already)
for i in $(seq 0 $((N - 1))); do lab guest a "vm-m$i" 64 fill transient >/dev/null; done
lab guest a vm-mstay 32 nofill transient >/dev/null # stays: its XML is read during the moves
migrate vm-m0 "$(jq -n --arg p "$ADMIN_PW" '{remote_host:"host-b",user:"labadmin",password:$p,check_only:true}')"
ok "trust to host-b set up by a check" eq "$STATUS $(jq_get .ready)" "200 true"

# each move capped at 2 MiB/s: ~24 MiB of each guest's memory is data, so each takes seconds
ids=()
slowest=0
for i in $(seq 0 $((N - 1))); do
  t0=$(date +%s%N)
  migrate "vm-m$i" '{"remote_host":"host-b","bandwidth":2}'
  took=$((($(date +%s%N) - t0) / 1000000))
  [ "$took" -gt "$slowest" ] && slowest=$took
  ids+=("$ID")
done
ok "$N moves accepted (202 each)" eq "$(printf '%s\n' "${ids[@]}" | sed '/^$/d' | wc -l)" "$N"
ok "...each POST answered in under 2 s (slowest ${slowest} ms): none waited for a move's end" \
  test "$slowest" -lt 2000

# jobs_on_a : how many of the guests have a libvirt job running on host-a now
jobs_on_a() {
  local i n=0
  for i in $(seq 0 $((N - 1))); do
    lab exec a $V domjobinfo "vm-m$i" 2>/dev/null | grep -q '^Job type: *Unbounded' && n=$((n + 1))
  done
  echo "$n"
}
most=0
for _ in $(seq 1 40); do
  n=$(jobs_on_a)
  [ "$n" -gt "$most" ] && most=$n
  [ "$most" -eq "$N" ] && break
  sleep 0.25
done
ok "all $N moves ran in libvirt at once (at most $most seen)" eq "$most" "$N"

# a call of kimchid's own to libvirt (the guest's XML) while they run
t0=$(date +%s%N)
req GET /vms/vm-mstay/storages
took=$((($(date +%s%N) - t0) / 1000000))
ok "...meanwhile kimchid read another guest's disks from libvirt in ${took} ms (under 2 s)" \
  eq "$STATUS $([ "$took" -lt 2000 ] && echo fast || echo slow)" "200 fast"
ok "...while the moves were still running" test "$(jobs_on_a)" -ge 1

ended=0
for id in "${ids[@]}"; do
  watch_task "$id" 120
  [ "$(jq_get .status)" == finished ] && ended=$((ended + 1))
done
ok "all $N moves finished" eq "$ended" "$N"
on_b=0
for i in $(seq 0 $((N - 1))); do [ "$(vm_state b "vm-m$i")" == running ] && on_b=$((on_b + 1)); done
ok "...and the $N guests run on host-b" eq "$on_b" "$N"

stop_kimchid
ok "kimchid exits cleanly" eq "$KEXIT" 0
done_testing
