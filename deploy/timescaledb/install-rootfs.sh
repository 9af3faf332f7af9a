#!/usr/bin/env bash
# Installs PostgreSQL 17 with the TimescaleDB extension (Apache-licensed Debian build)
# for tests and the demo, and prints the folder holding its binaries' root.
#
# On Debian 13 the packages install natively. On Debian 12 we install Debian 13's
# packages into a debootstrap folder and run PostgreSQL inside it with chroot; the
# folder is kept so a second run reuses it (about 40 s the first time, root needed).
set -euo pipefail

root="${HEATLINK_TSDB_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/heatlink/trixie-timescaledb}"

if [ -x /usr/lib/postgresql/17/bin/postgres ] && \
   [ -f /usr/share/postgresql/17/extension/timescaledb.control ]; then
  echo "/"
  exit 0
fi

if [ -f "$root/.heatlink-ready" ]; then
  echo "$root"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "install-rootfs: root is needed to install TimescaleDB into $root" >&2
  exit 1
fi

if grep -q 'VERSION_CODENAME=trixie' /etc/os-release 2>/dev/null; then
  apt-get update -qq >&2
  apt-get install -y -qq postgresql-17 postgresql-17-timescaledb >&2
  echo "/"
  exit 0
fi

command -v debootstrap >/dev/null || {
  apt-get update -qq >&2
  apt-get install -y -qq debootstrap >&2
}

# Use the Debian mirror the machine's apt sources already name.
mirror=$(grep -rhoE 'https?://[^ ]*debian(/)?' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
  | grep -v -- '-security' | grep -v snapshot | head -n 1 || true)
mirror="${HEATLINK_DEBIAN_MIRROR:-${mirror:-http://deb.debian.org/debian}}"

rm -rf "$root.partial"
mkdir -p "$(dirname "$root")"
echo "install-rootfs: debootstrap trixie from $mirror into $root (about 40 s)" >&2
debootstrap --variant=minbase \
  --include=postgresql-17,postgresql-17-timescaledb \
  trixie "$root.partial" "$mirror" >&2
touch "$root.partial/.heatlink-ready"
mv "$root.partial" "$root"
echo "$root"
