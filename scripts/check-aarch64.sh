#!/bin/sh
#
# check-aarch64.sh - build tests/unit/test_arch.c against the aarch64
# context switch with the cross compiler and run it under qemu-aarch64.
#
#   scripts/check-aarch64.sh [BUILD_DIR]    (default: build-aarch64)
#
# Extra compiler flags may be given in $CFLAGS (for example
# CFLAGS=-mbranch-protection=standard). The binary is linked statically so
# qemu needs no aarch64 sysroot at run time. Prints the harness's summary
# line; exits with the harness's status (0 pass, 1 fail, 77 all skipped),
# or 1 when a tool is missing or the build fails.

set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-build-aarch64}
cc="aarch64-linux-gnu-gcc"
qemu="qemu-aarch64"

missing=
if ! command -v "$cc" >/dev/null 2>&1; then
	missing="$missing gcc-aarch64-linux-gnu"
fi
if [ ! -e /usr/aarch64-linux-gnu/include/stdio.h ]; then
	missing="$missing libc6-dev-arm64-cross"
fi
if ! command -v "$qemu" >/dev/null 2>&1; then
	missing="$missing qemu-user"
fi
if [ -n "$missing" ]; then
	echo "check-aarch64.sh: missing packages; install with:" >&2
	echo "  apt-get install$missing" >&2
	exit 1
fi

mkdir -p "$out"
# shellcheck disable=SC2086 # CFLAGS is a list of words
"$cc" -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla \
	${CFLAGS:-} -static -o "$out/test_arch" \
	"$root/tests/unit/test_arch.c" "$root/tests/harness/test.c" \
	"$root/src/lib/arch/aarch64/switch.S" -lm

# The harness prints one line per case and the summary line last.
status=0
"$qemu" "$out/test_arch" || status=$?
exit "$status"
