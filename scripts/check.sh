#!/usr/bin/env bash
# check.sh - the whole test suite (make check): the plain, ASan+UBSan and
# TSan build trees each run every test; then the aarch64 context switch
# runs under qemu. Ends with one line "check: N passed, N failed".
set -u
cd "$(dirname "$0")/.."

jobs=$(nproc)
passed=0
failed=0
failures=""

# run_tree DIR CMAKE-ARGS...: configure, build, ctest; count the results.
run_tree() {
	local dir=$1
	shift
	echo "== $dir"
	if ! cmake -S . -B "$dir" -G Ninja -DPARCORE_BUILD_BENCH=OFF "$@" \
		>/dev/null || ! cmake --build "$dir" -j "$jobs" >/dev/null; then
		echo "$dir: build failed"
		cmake --build "$dir" 2>&1 | tail -30
		failed=$((failed + 1))
		failures="$failures $dir(build)"
		return
	fi
	local log="$dir/ctest.log"
	(cd "$dir" && ctest -j "$jobs" --output-on-failure >"ctest.log" 2>&1)
	grep -E "tests passed|Test +#|\*\*\*" "$log" | sed "s|^|  |" | tail -40
	local total fail
	total=$(sed -nE 's/.*tests failed out of ([0-9]+).*/\1/p' "$log")
	fail=$(sed -nE 's/.* ([0-9]+) tests failed out of.*/\1/p' "$log")
	[ -n "$total" ] || { total=1; fail=1; }
	passed=$((passed + total - fail))
	failed=$((failed + fail))
	if [ "$fail" != 0 ]; then
		failures="$failures $dir"
		sed -n '/The following tests FAILED/,$p' "$log"
		grep -B2 -A30 "FAIL " "$log" | head -80
	fi
}

run_tree build
run_tree build-asan -DPARCORE_SANITIZE=address
run_tree build-tsan -DPARCORE_SANITIZE=thread

echo "== aarch64 (qemu-user)"
if scripts/check-aarch64.sh build-aarch64; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
	failures="$failures aarch64"
fi

[ -z "$failures" ] || echo "failed:$failures"
echo "check: $passed passed, $failed failed"
[ "$failed" = 0 ]
