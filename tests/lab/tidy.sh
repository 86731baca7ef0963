# tidy.sh - every lab script leaves the lab as it found it (sourced by lib-lab.sh and run.sh).
# An inventory is the guests defined on any host and the volumes in any host's pools;
# what a script made (names and paths not in the inventory taken before it) is destroyed,
# undefined and deleted when it exits, and run.sh checks that nothing of it is left.
TIDY_VIRSH=${VIRSH:-timeout -k 5 120 virsh -q -c qemu:///system}
TIDY_LAB=${KIMCHID_LAB_DIR:-/tmp/kimchid-lab}

# lab_inventory DIR : writes DIR/guests and DIR/vols (sorted names and paths, every host)
lab_inventory() {
  local h p
  mkdir -p "$1"
  : >"$1/guests"; : >"$1/vols"
  for h in a b c; do
    "$ROOT/tests/lab/lab" exec "$h" $TIDY_VIRSH list --all --name 2>/dev/null | sed '/^$/d' >>"$1/guests"
    for p in default shared; do
      "$ROOT/tests/lab/lab" exec "$h" $TIDY_VIRSH pool-refresh "$p" >/dev/null 2>&1
      "$ROOT/tests/lab/lab" exec "$h" $TIDY_VIRSH vol-list --pool "$p" 2>/dev/null | awk 'NF >= 2 {print $2}' >>"$1/vols"
    done
  done
  sort -u -o "$1/guests" "$1/guests"
  sort -u -o "$1/vols" "$1/vols"
}

# lab_made BASE-DIR : what was made since that inventory, as "guest NAME" and "volume PATH" lines
lab_made() {
  local now; now=$(mktemp -d /tmp/kimchid-inv.XXXXXX)
  lab_inventory "$now"
  comm -13 "$1/guests" "$now/guests" | sed 's/^/guest /'
  comm -13 "$1/vols" "$now/vols" | sed 's/^/volume /'
  rm -rf "$now"
}

# lab_tidy BASE-DIR : removes what was made since that inventory (guests with their consoles,
# then volumes) from both hosts
lab_tidy() {
  local kind what h
  while read -r kind what; do
    for h in a b c; do
      if [ "$kind" == guest ]; then
        "$ROOT/tests/lab/lab" exec "$h" $TIDY_VIRSH destroy "$what" >/dev/null 2>&1
        "$ROOT/tests/lab/lab" exec "$h" $TIDY_VIRSH undefine --managed-save --snapshots-metadata "$what" >/dev/null 2>&1
        rm -f "$TIDY_LAB/$h/log-libvirt/qemu/$what.serial"
      else
        "$ROOT/tests/lab/lab" exec "$h" $TIDY_VIRSH vol-delete "$what" >/dev/null 2>&1
      fi
    done
  done < <(lab_made "$1" | sort -r) # "volume" lines after "guest" ones: a guest lets go first
  return 0
}

# lab_qemus : the guests whose QEMU runs in either host now, as "host-a:NAME" words
lab_qemus() {
  local h p
  for h in a b c; do
    for p in $(ip netns pids "kimchid-$h" 2>/dev/null); do
      { tr '\0' ' ' <"/proc/$p/cmdline"; echo; } 2>/dev/null | sed -n "s/.*-name guest=\([^, ]*\).*/host-$h:\1/p"
    done
  done | sort | tr '\n' ' '
}
