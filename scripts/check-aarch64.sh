#!/bin/sh
#
# check-aarch64.sh - cross-build for aarch64 and run under qemu-aarch64:
# first tests/unit/test_arch*.c against the aarch64 context switch alone,
# then the whole library with every unit test and the stress test.
#
#   scripts/check-aarch64.sh [BUILD_DIR]    (default: build-aarch64)
#
# Extra compiler flags may be given in $CFLAGS (for example
# CFLAGS=-mbranch-protection=standard). The binary is linked statically so
# qemu needs no aarch64 sysroot at run time. Prints each test's summary
# line; exits 0 when every test passed or skipped all its cases, 1 when
# one failed, a tool is missing or the build fails.

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
warn="-std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
	-Wmissing-prototypes -Wformat=2 -Wvla"
# shellcheck disable=SC2086 # CFLAGS and warn are lists of words
for name in test_arch test_arch_irq; do
	"$cc" $warn ${CFLAGS:-} -static -o "$out/$name" \
		"$root/tests/unit/$name.c" "$root/tests/harness/test.c" \
		"$root/src/lib/arch/aarch64/switch.S" -lpthread -lm
done

# The library, as CMake builds it, then each test against it.
rm -f "$out"/*.o "$out/libparcore.a"
for src in "$root"/src/lib/*.c "$root/src/lib/arch/aarch64/switch.S"; do
	# shellcheck disable=SC2086
	(cd "$out" && "$cc" $warn ${CFLAGS:-} -D_GNU_SOURCE -DPARCORE_BUILDING \
		-fvisibility=hidden -I"$root/include" -c "$src")
done
aarch64-linux-gnu-ar rcs "$out/libparcore.a" "$out"/*.o
tests="test_arch test_arch_irq"
for src in "$root"/tests/unit/test_*.c "$root"/tests/stress/stress_*.c; do
	name=$(basename "$src" .c)
	case $name in test_arch | test_arch_irq) continue ;; esac
	# shellcheck disable=SC2086
	"$cc" $warn ${CFLAGS:-} -static -I"$root/include" \
		-I"$root/tests/harness" -I"$root/examples" -o "$out/$name" \
		"$src" "$root/tests/harness/test.c" "$root/tests/harness/rt.c" \
		"$root/tests/harness/provision.c" "$root/tests/harness/whole.c" \
		"$root/examples/fifo_sched.c" "$out/libparcore.a" -lpthread -lm
	tests="$tests $name"
done

# The harness prints one line per case and the summary line last. Under
# emulation everything is slower: the stress test makes 20,000 uthreads.
status=0
for t in $tests; do
	echo "-- $t"
	rc=0
	PC_STRESS_THREADS=20000 PC_STRESS_TOGGLES=300 "$qemu" "$out/$t" ||
		rc=$?
	# 77: every case skipped (test_regs is x86-64 only), not a failure.
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		status=1
	fi
done
exit "$status"
