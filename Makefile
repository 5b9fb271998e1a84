# parcore - the README's commands. Each installs what it needs first
# (scripts/deps.sh: as root it runs apt-get, otherwise it prints the line).
#
#   make demo      build (-O2 -g) and run the matrix-multiply demo
#   make check     the whole test suite: plain, ASan+UBSan and TSan trees,
#                  the aarch64 switch under qemu, the install test
#   make bench     release tree; parcore against its peers, with ratios;
#                  writes build/bench-results.json
#   make install   PREFIX (default /usr/local) and DESTDIR are honored
#   make clean

PREFIX ?= /usr/local
CMAKE ?= cmake
GEN := -G Ninja

.PHONY: demo check bench install clean

demo:
	@scripts/deps.sh demo
	@$(CMAKE) -S . -B build $(GEN) -DPARCORE_BUILD_BENCH=OFF >/dev/null
	@$(CMAKE) --build build --target matmul
	build/examples/matmul

check:
	@scripts/deps.sh check
	scripts/check.sh

bench:
	@scripts/deps.sh bench
	@$(CMAKE) -S . -B build-release $(GEN) -DCMAKE_BUILD_TYPE=Release \
		-DBUILD_TESTING=OFF \
		-DPARCORE_BENCH_JSON=$(CURDIR)/build/bench-results.json >/dev/null
	@mkdir -p build
	$(CMAKE) --build build-release --target bench

install:
	@scripts/deps.sh demo
	@$(CMAKE) -S . -B build $(GEN) -DPARCORE_BUILD_BENCH=OFF >/dev/null
	@$(CMAKE) --build build
	$(CMAKE) --install build --prefix $(PREFIX)

clean:
	rm -rf build build-asan build-tsan build-release build-aarch64
