#!/usr/bin/env bash
# deps.sh SET... - make sure the Debian packages a make target needs are
# installed. As root, installs what is missing (apt-get); otherwise prints
# the apt-get line to run and fails.
#   demo   compiler and build tools
#   check  + the aarch64 cross compiler and qemu, valgrind's headers
#   bench  + Boost.Context and Go (the peers)
set -eu

pkgs_demo="build-essential cmake ninja-build pkg-config"
pkgs_check="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user valgrind"
pkgs_bench="libboost-context-dev golang-go"

want=""
for set in "$@"; do
	case "$set" in
	demo) want="$want $pkgs_demo" ;;
	check) want="$want $pkgs_demo $pkgs_check" ;;
	bench) want="$want $pkgs_demo $pkgs_bench" ;;
	*) echo "deps.sh: unknown set '$set' (demo, check, bench)" >&2; exit 2 ;;
	esac
done

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "parcore needs these Debian packages; as root, run:" >&2
	echo "  apt-get install -y$missing" >&2
	exit 1
fi
echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086 # one word per package
apt-get install -y -q $missing >/dev/null
