#!/usr/bin/env bash
# t2001 - the Debian package, as an administrator meets it: built from this tree with
# dpkg-buildpackage, checked by lintian, installed with apt (dependencies too), every file in
# place, the unit verified by systemd-analyze, the installed kimchid started with
# /etc/kimchid.conf against the lab's host-a and logged in to, then purged: nothing left but
# what policy keeps.
. "$(dirname "$0")/../lib.sh"
LABCMD=$ROOT/tests/lab/lab
LAB=${KIMCHID_LAB_DIR:-/tmp/kimchid-lab}
"$ROOT/scripts/deps.sh" package >/dev/null || { echo "not ok - installing the packaging tools"; exit 1; }
WORK=$(mktemp -d /tmp/kimchid-pkg.XXXXXX)
KP=
cleanup() {
  [ -n "$KP" ] && kill "$KP" 2>/dev/null
  "$LABCMD" down >/dev/null 2>&1
  dpkg --purge kimchid >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

# 1. build (from a copy of the tree: the checkout keeps its builds)
DEB=$("$ROOT/scripts/deb.sh" "$WORK/out" 2>>"$ARTIFACTS/package-build.log")
cp "$WORK/out/build.log" "$ARTIFACTS/package-build.log" 2>/dev/null
ok "dpkg-buildpackage builds kimchid_<version>_amd64.deb" test -s "$DEB"
VERSION=$(dpkg-deb -f "$DEB" Version)
ok "...version $VERSION, the one the packaged kimchid reports" eq "kimchid $VERSION" \
  "$(dpkg-deb --fsys-tarfile "$DEB" | tar -xO ./usr/sbin/kimchid >"$WORK/k" && chmod +x "$WORK/k" && "$WORK/k" --version | head -n1)"
lintian --fail-on error "$DEB" >"$ARTIFACTS/package-lintian.log" 2>&1
ok "lintian reports no errors" eq "$?" 0
ok "...the runtime dependencies are declared" \
  bash -c "dpkg-deb -f '$DEB' Depends | grep -q 'libvirt-daemon-system | libvirt-daemon' && dpkg-deb -f '$DEB' Depends | grep -q openssh-client"

# 2. install, with its dependencies
DEBIAN_FRONTEND=noninteractive apt-get install -y "$DEB" >"$ARTIFACTS/package-install.log" 2>&1
ok "apt-get installs it" eq "$(dpkg-query -W -f='${Status}' kimchid 2>/dev/null)" "install ok installed"
for f in /usr/sbin/kimchid /usr/share/kimchid/ui/index.html /usr/share/kimchid/ui/js/main.js \
  /etc/kimchid.conf /etc/pam.d/kimchid /lib/systemd/system/kimchid.service \
  /usr/share/man/man8/kimchid.8.gz /usr/share/doc/kimchid/API.md.gz; do
  ok "$f is installed" test -s "$f"
done
ok "/etc/kimchid.conf and /etc/pam.d/kimchid are conffiles" \
  bash -c "dpkg-query -W -f='\${Conffiles}' kimchid | grep -q ' /etc/kimchid.conf ' && dpkg-query -W -f='\${Conffiles}' kimchid | grep -q ' /etc/pam.d/kimchid '"
ok "the config file lists every option of --help, commented, with its default" bash -c '
  for o in $(/usr/sbin/kimchid --help | grep -o -- "--[a-z-]*" | sort -u); do
    case $o in --config|--help|--version) continue ;; esac
    grep -q "^#${o#--}\( =.*\)\?$" /etc/kimchid.conf || { echo "missing ${o#--}" >&2; exit 1; }
  done'
ok "the man page documents every option of --help, the config file, signals, files and exit status" bash -c '
  page=$(zcat /usr/share/man/man8/kimchid.8.gz)
  for o in $(/usr/sbin/kimchid --help | grep -o -- "--[a-z-]*" | sort -u); do
    grep -qF -- "${o//-/\\-}" <<<"$page" || { echo "missing $o" >&2; exit 1; }
  done
  for s in CONFIGURATION SIGNALS "EXIT STATUS" FILES EXAMPLES; do grep -q "^\.SH \"\?$s" <<<"$page" || { echo "no $s" >&2; exit 1; }; done'
ok "man renders it" bash -c "MANWIDTH=80 man -l /usr/share/man/man8/kimchid.8.gz 2>/dev/null | grep -q 'stall-timeout'"
systemd-analyze verify /lib/systemd/system/kimchid.service >"$ARTIFACTS/package-verify.log" 2>&1
ok "systemd-analyze verify accepts the unit" eq "$?" 0
ok "...which runs kimchid with /etc/kimchid.conf, restarts on failure, has a state directory" bash -c "
  grep -qx 'ExecStart=/usr/sbin/kimchid --config /etc/kimchid.conf' /lib/systemd/system/kimchid.service &&
  grep -qx 'Restart=on-failure' /lib/systemd/system/kimchid.service &&
  grep -qx 'StateDirectory=kimchid' /lib/systemd/system/kimchid.service &&
  grep -q '^After=.*libvirtd.service' /lib/systemd/system/kimchid.service"

# 3. the installed kimchid, configured by /etc/kimchid.conf, against the lab's host-a
printf 'listen = 198.18.0.1:8444\nstate-dir = %s\nlog-level = debug\n' "$LAB/a/pkg-state" >>/etc/kimchid.conf
"$LABCMD" up >"$ARTIFACTS/package-lab.log" 2>&1 # after: the hosts' /etc is this one beneath
"$LABCMD" exec a /usr/sbin/kimchid --config /etc/kimchid.conf >"$ARTIFACTS/package-kimchid.log" 2>&1 &
KP=$!
up() { curl -sk -o /dev/null https://198.18.0.1:8444/; }
ok "the installed kimchid listens where /etc/kimchid.conf says" eventually 10 up
ok "...serves the packaged UI" bash -c "curl -sk https://198.18.0.1:8444/ | grep -q '<title>kimchid'"
ok "...and a login through it lists host-a's guests" bash -c \
  "curl -sk --netrc-file '$LAB/netrc' https://198.18.0.1:8444/plugins/kimchi/vms | jq -e 'map(.name) | index(\"vm-one\") != null' >/dev/null"
kill "$KP"; wait "$KP" 2>/dev/null; KP=
"$LABCMD" down >/dev/null 2>&1

# 4. purge: nothing left but what policy keeps
mkdir -p /var/lib/kimchid && touch /var/lib/kimchid/tasks.db
dpkg --purge kimchid >"$ARTIFACTS/package-purge.log" 2>&1
ok "dpkg --purge removes it" bash -c "! dpkg-query -W -f='\${Status}' kimchid 2>/dev/null | grep -q installed"
for f in /usr/sbin/kimchid /usr/share/kimchid /etc/kimchid.conf /etc/pam.d/kimchid \
  /lib/systemd/system/kimchid.service /usr/share/man/man8/kimchid.8.gz /usr/share/doc/kimchid /var/lib/kimchid; do
  ok "...$f is gone" test ! -e "$f"
done
# 5. elsewhere: make install and make uninstall, with DESTDIR and PREFIX
D=$WORK/root
make -C "$ROOT" -s install DESTDIR="$D" PREFIX=/opt/kimchid >"$ARTIFACTS/package-make-install.log" 2>&1
for f in /opt/kimchid/sbin/kimchid /opt/kimchid/share/kimchid/ui/index.html /etc/kimchid.conf \
  /etc/pam.d/kimchid /lib/systemd/system/kimchid.service /opt/kimchid/share/man/man8/kimchid.8; do
  ok "make install DESTDIR PREFIX=/opt/kimchid: $f" test -s "$D$f"
done
ok "...the unit runs that kimchid" grep -qx 'ExecStart=/opt/kimchid/sbin/kimchid --config /etc/kimchid.conf' "$D/lib/systemd/system/kimchid.service"
ok "...which finds its UI there" bash -c "'$D/opt/kimchid/sbin/kimchid' --help | grep -q '/opt/kimchid/share/kimchid/ui'"
echo 'listen = 127.0.0.1:9' >"$D/etc/kimchid.conf"
make -C "$ROOT" -s install DESTDIR="$D" PREFIX=/opt/kimchid >>"$ARTIFACTS/package-make-install.log" 2>&1
ok "...a second install keeps the administrator's /etc/kimchid.conf" eq "$(cat "$D/etc/kimchid.conf")" 'listen = 127.0.0.1:9'
make -C "$ROOT" -s uninstall DESTDIR="$D" PREFIX=/opt/kimchid >>"$ARTIFACTS/package-make-install.log" 2>&1
ok "make uninstall leaves only /etc/kimchid.conf" eq "$(cd "$D" && find . -type f | sort)" './etc/kimchid.conf'
make -C "$ROOT" -s all >/dev/null 2>&1 # the checkout's build as it was (PREFIX back to its default)
done_testing
