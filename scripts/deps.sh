#!/usr/bin/env bash
# deps.sh - installs the Debian packages kimchid needs to build and test, when missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -euo pipefail

BUILD="gcc make pkg-config help2man libvirt-dev libmicrohttpd-dev libjansson-dev libsqlite3-dev
       libgnutls28-dev libxml2-dev libcmocka-dev libssh-dev libpam0g-dev libpcre2-dev zlib1g-dev"
TEST="curl jq gnutls-bin sqlite3 procps psmisc clang clang-format libclang-rt-14-dev valgrind
      nginx-light"
LAB="libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86
     openssh-server openssh-client iproute2 sudo socat qemu-utils glusterfs-server glusterfs-client
     tcpdump"
BENCH="wrk python3"
PACKAGE="debhelper lintian dpkg-dev fakeroot systemd"
case "${1:-all}" in
  build) WANT="$BUILD" ;;
  lab)   WANT="$LAB jq" ;;
  package) WANT="$BUILD $PACKAGE" ;;
  *)     WANT="$BUILD $TEST $LAB $BENCH $PACKAGE" ;;
esac

missing=()
for p in $WANT; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "kimchid: missing Debian packages. Run as root:" >&2
  echo "  apt-get update && $cmd" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$cmd >/tmp/kimchid-apt.log 2>&1 || { tail -20 /tmp/kimchid-apt.log >&2; exit 1; }
