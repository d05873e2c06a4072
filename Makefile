# The README's commands. `make` builds build/synchub; `make demo` and `make test` first install what a fresh
# Debian 12 machine lacks (scripts/install-deps). `make test` runs every test under ASan + UBSan (build-asan/),
# then the worker-pool suites (with 500 concurrent deliveries) again under ThreadSanitizer (build-tsan/).
# This file only sequences; the build itself is CMake + Ninja.
BUILD      ?= build
TEST_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
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
	@cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS="-fsanitize=thread -O1" \
	  -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread >/dev/null
	@cmake --build $(TSAN_BUILD) --target synchub
	@echo "ThreadSanitizer pass (worker pool, ingest, Odoo handlers, scheduler, shared Shopify throttle, dashboard API):"
	@SYNCHUB_BIN=$(CURDIR)/$(TSAN_BUILD)/synchub TSAN_OPTIONS=halt_on_error=1:exitcode=66 \
	  $(PYTEST) -q tests/integration/test_durability.py tests/integration/test_jobs.py \
	  tests/integration/test_odoo_orders.py tests/integration/test_fulfillments.py \
	  tests/integration/test_inventory.py tests/integration/test_dashboard.py -k "not ten_thousand"

unit: build
	@cd $(BUILD) && ctest --output-on-failure

bench: build
	@scripts/install-deps --bench
	@bench/run.sh

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(TSAN_BUILD)
