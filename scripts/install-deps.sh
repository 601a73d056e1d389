#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the benchmarks use.
# Safe to run again: packages already present are left alone.
set -eu
pkgs=(build-essential clang make binutils pkg-config
      liburing-dev libzstd-dev libisal-dev libcmocka-dev libcap-dev libseccomp-dev
      libjansson-dev libssl-dev openssl qemu-system-x86 qemu-utils socat iproute2 python3 valgrind gdb
      python3-matplotlib iperf3 fio)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#pkgs[@]} packages present"
	exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
