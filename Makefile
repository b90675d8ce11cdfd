# The two commands of the README:
#   make run    install what is missing, build, start wsip on its embedded defaults
#   make check  install what is missing, build (normal + ASan/UBSan), run every test
# Other targets: build, asan, fuzz, bench, bench-compare, format, clean.

JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
CORPUS ?= $(abspath $(CURDIR)/../shared/corpus)

CMAKE_COMMON = -DWSIP_CORPUS_DIR=$(CORPUS)

.PHONY: run check build asan fuzz fuzz-build bench bench-compare format format-check clean deps-build deps-check

# Starts wsip on its embedded defaults (loopback only) in the foreground,
# serving the web phone the build wrote to build/web (wsip logs its
# address); says how to add a user when there is none. Ctrl-C stops it.
# Extra options: make run ARGS='--set log.level=debug'.
ARGS ?=
run: deps-build build
	@scripts/run.sh $(ARGS)

check: deps-check
	@bash scripts/check.sh

deps-build:
	@scripts/deps build

deps-check:
	@scripts/deps check

build:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_COMMON) >/dev/null
	cmake --build build -j $(JOBS)

asan:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	      -DWSIP_SANITIZE=ON $(CMAKE_COMMON) >/dev/null
	cmake --build build-asan -j $(JOBS)

# libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined).
fuzz-build:
	cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	      -DWSIP_SANITIZE=ON -DWSIP_LIBFUZZER=ON $(CMAKE_COMMON) >/dev/null
	cmake --build build-fuzz -j $(JOBS)

# make fuzz TARGET=sip_msg SECONDS=600
TARGET  ?= sip_msg
SECONDS ?= 60
fuzz: deps-check fuzz-build
	bash tests/fuzz/run.sh build-fuzz $(TARGET) $(SECONDS)

# make bench [BENCH_ARGS='--quick' | '--rounds 61' | '--clock cpu' | '--per-message']
BENCH_ARGS ?=
bench:
	@scripts/deps bench
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DWSIP_BENCH=ON $(CMAKE_COMMON) >/dev/null
	cmake --build build-bench -j $(JOBS) --target parse_bench
	./build-bench/bench/parse_bench $(BENCH_ARGS) $(CORPUS)

# Kamailio and wsip side by side (BENCHMARKS.md); installs Kamailio and SIPp
# (scripts/deps bench) and builds build-compare/ itself.
# make bench-compare [COMPARE_ARGS='--quick' | '--rounds 5' | '--only ws_']
COMPARE_ARGS ?=
bench-compare:
	bench/compare $(COMPARE_ARGS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz build-bench build-compare
