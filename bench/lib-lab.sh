# lib-lab.sh - sourced by the lab benchmarks: what they share once the lab is up.
# ROOT, LAB and lab (the lab command) must be set.

# back_trust [b|c] : host-b (or host-c) -> host-a ssh trust, only so a benchmark can move a
# guest back between runs (kimchid moves from host-a only)
back_trust() {
  local h=${1:-b}
  "$lab" exec "$h" ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519
  mkdir -p "$LAB/a/root/.ssh" && cat "$LAB/$h/root/.ssh/id_ed25519.pub" >>"$LAB/a/root/.ssh/authorized_keys"
  "$lab" exec "$h" sh -c 'ssh-keyscan host-a 2>/dev/null >>/root/.ssh/known_hosts'
}

# start_kimchid : the optimised build in host-a on port 8011; sets KPID, BASE, pw (labadmin's)
start_kimchid() {
  mkdir -p "$LAB/a/state"
  "$lab" exec a "$ROOT/build/kimchid" --listen 198.18.0.1:8011 --state-dir "$LAB/a/state" \
    --log-level "${KIMCHID_LOG_LEVEL:-warn}" >"$LAB/kimchid.log" 2>&1 &
  KPID=$!
  BASE=https://198.18.0.1:8011/plugins/kimchi
  for _ in $(seq 1 100); do curl -sk -o /dev/null "$BASE/vms" && break; sleep 0.1; done
  pw=$(jq -r '.[] | select(.name=="labadmin" and .host=="host-b") | .password' "$LAB/users.json")
}

now() { date +%s%N; }
