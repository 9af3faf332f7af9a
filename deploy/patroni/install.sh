#!/usr/bin/env bash
# Installs Patroni and etcd beside the TimescaleDB that deploy/timescaledb/install-rootfs.sh
# made (natively on Debian 13, or into its debootstrap folder on Debian 12, where the
# PostgreSQL 17 binaries Patroni must run live), and prints that root. Root is needed once.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(bash "$here/../timescaledb/install-rootfs.sh")

in_root() { if [ "$root" = / ]; then "$@"; else chroot "$root" "$@"; fi; }

# Patroni's etcd3 store needs python3-etcd, one of several alternatives its package
# depends on: apt may pick python3-consul instead, and Patroni then stops at once
# ("Available implementations: consul, kubernetes").
if in_root sh -c 'command -v patroni >/dev/null && command -v etcd >/dev/null &&
                  python3 -c "import etcd" 2>/dev/null'; then
  echo "$root"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "patroni/install: root is needed to install patroni and etcd-server into $root" >&2
  exit 1
fi
echo "patroni/install: installing patroni, python3-etcd and etcd-server into $root (about 35 s)" >&2
in_root apt-get update -qq >&2
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  patroni python3-etcd etcd-server >&2
echo "$root"
