# The README's commands. `make` builds build/synchub; `make demo` and `make test` first install what a fresh
# Debian 12 machine lacks (scripts/install-deps). The test build (build-asan/) runs under ASan + UBSan.
# This file only sequences; the build itself is CMake + Ninja.
BUILD      ?= build
TEST_BUILD ?= build-asan
# Debian's python3-pytest installs pytest-3 for the system python3 (another python3 may come first in PATH).
PYTEST     ?= $(shell command -v pytest-3 || echo python3 -m pytest)

.PHONY: all build deps demo test unit integration bench clean

all: build

build:
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD)

deps:
	@scripts/install-deps

demo: deps build
	@scripts/demo.sh

test: deps
	@cmake -S . -B $(TEST_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSYNCHUB_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD)
	@cd $(TEST_BUILD) && ctest --output-on-failure
	@SYNCHUB_BIN=$(CURDIR)/$(TEST_BUILD)/synchub ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(PYTEST) -q tests/sim tests/integration

unit: build
	@cd $(BUILD) && ctest --output-on-failure

bench: build
	@scripts/install-deps --bench
	@bench/run.sh

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
