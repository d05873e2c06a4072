# The README's commands. `make` builds build/synchub; `make demo` and `make test` first install what a fresh
# Debian 12 machine lacks (scripts/install-deps). `make test` runs every test under ASan + UBSan (build-asan/),
# then the worker-pool suites (with 500 concurrent deliveries) again under ThreadSanitizer (build-tsan/).
# PostgreSQL: `make test` starts a private throwaway cluster (scripts/pg-test-cluster, under the test build folder)
# and hands its URL to the tests as SYNCHUB_TEST_PG_URL: the store's unit tests run on both engines, the multi-node
# tests (test_pg_nodes.py, the issue's 20,000 jobs; 5,000 under ThreadSanitizer) run, and the whole integration suite
# runs a second time with every installation's store on PostgreSQL (SYNCHUB_TEST_STORE=postgres).
# `make test-pg-suite` is that second pass alone. First of all, scripts/check-layers prints the layer picture of
# src/ and fails on an include that goes up a layer or closes a cycle (CTest runs it again, with its self-test).
# `make deb` builds build-deb/synchub_<version>_<arch>.deb with dpkg-buildpackage and lints it (scripts/build-deb);
# `make deb-test` also installs it into a throw-away root and checks it (tests/package). It is not part of
# `make test` (its own optimised build costs 1-2 minutes on a shared machine); .ci/run runs it after `make test`.
# Fuzzing (tests/fuzz, libFuzzer with clang): `make fuzz` runs every harness for FUZZ_SECONDS (default 120) and reports
# executions and crashes per harness; `make test` runs each for FUZZ_TEST_SECONDS (default 15) on its corpus, and
# also compiles everything with clang -O2 -Wall -Wextra -Werror (gcc hid a buffer overrun clang's code exposed).
# This file only sequences; the build itself is CMake + Ninja.
BUILD      ?= build
TEST_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
CLANG_BUILD ?= build-clang
FUZZ_SECONDS ?= 120
FUZZ_TEST_SECONDS ?= 15
# Debian's python3-pytest installs pytest-3 for the system python3 (another python3 may come first in PATH).
PYTEST     ?= $(shell command -v pytest-3 || echo python3 -m pytest)
# Start (idempotently) the test cluster and export its URL for the commands that follow (`@$(PG_ENV) && ...`).
PG_DIR      = $(CURDIR)/$(TEST_BUILD)/pg-test
PG_ENV      = export PG_TEST_DIR=$(PG_DIR) && SYNCHUB_TEST_PG_URL=$$(scripts/pg-test-cluster start) && \
              export SYNCHUB_TEST_PG_URL

.PHONY: all build deps demo test test-pg-suite unit integration bench clean deb deb-test fuzz fuzz-build clang-build

all: build

build:
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD)

deps:
	@scripts/install-deps

demo: deps build
	@scripts/demo.sh

test: deps clang-build fuzz-build
	@scripts/check-layers
	@cmake -S . -B $(TEST_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSYNCHUB_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD)
	@mkdir -p $(TEST_BUILD)
	@$(PG_ENV) && cd $(TEST_BUILD) && ctest --output-on-failure
	@echo "Fuzz harnesses, $(FUZZ_TEST_SECONDS) s each on their corpus:"
	@FUZZ_BUILD=$(FUZZ_BUILD) scripts/fuzz-run $(FUZZ_TEST_SECONDS)
	@$(PG_ENV) && SYNCHUB_BIN=$(CURDIR)/$(TEST_BUILD)/synchub ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(PYTEST) -q tests/sim tests/integration
	@echo "The integration suite again, every installation's store on PostgreSQL:"
	@$(PG_ENV) && SYNCHUB_TEST_STORE=postgres SYNCHUB_BIN=$(CURDIR)/$(TEST_BUILD)/synchub \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(PYTEST) -q tests/integration --ignore=tests/integration/test_pg_nodes.py
	@cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS="-fsanitize=thread -O1" \
	  -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread >/dev/null
	@cmake --build $(TSAN_BUILD) --target synchub
	@echo "ThreadSanitizer pass (worker pool, ingest, Odoo handlers, scheduler, Shopify throttle, dashboard API, PostgreSQL nodes):"
	@$(PG_ENV) && SYNCHUB_PG_NODES_JOBS=5000 SYNCHUB_BIN=$(CURDIR)/$(TSAN_BUILD)/synchub \
	  TSAN_OPTIONS=halt_on_error=1:exitcode=66 \
	  $(PYTEST) -q tests/integration/test_durability.py tests/integration/test_jobs.py \
	  tests/integration/test_odoo_orders.py tests/integration/test_fulfillments.py \
	  tests/integration/test_inventory.py tests/integration/test_dashboard.py tests/integration/test_pg_nodes.py \
	  tests/integration/test_hardening.py tests/integration/test_local_queue.py -k "not ten_thousand"
	@PG_TEST_DIR=$(PG_DIR) scripts/pg-test-cluster stop

deb: deps
	@scripts/build-deb

deb-test: deps
	@echo "The Debian package: build, lintian, install into a throw-away root:"
	@SYNCHUB_DEB=$$(scripts/build-deb | tail -1) && export SYNCHUB_DEB && $(PYTEST) -q tests/package

# The integration suite with every installation's store on PostgreSQL (tests that inspect the SQLite file itself
# are skipped there), multi-node tests included.
test-pg-suite: deps
	@cmake -S . -B $(TEST_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSYNCHUB_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD)
	@mkdir -p $(TEST_BUILD)
	@$(PG_ENV) && SYNCHUB_TEST_STORE=postgres \
	  SYNCHUB_BIN=$(CURDIR)/$(TEST_BUILD)/synchub $(PYTEST) -q tests/integration

# Every source (library, binary, unit tests) under clang -O2 with the project's -Wall -Wextra -Werror.
clang-build:
	@CC=clang cmake -S . -B $(CLANG_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(CLANG_BUILD)

fuzz-build:
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSYNCHUB_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) --target fuzzers

fuzz: deps fuzz-build
	@FUZZ_BUILD=$(FUZZ_BUILD) scripts/fuzz-run $(FUZZ_SECONDS)

unit: build
	@cd $(BUILD) && ctest --output-on-failure

bench: build
	@scripts/install-deps --bench
	@bench/run.sh

clean:
	-@PG_TEST_DIR=$(PG_DIR) scripts/pg-test-cluster stop
	-@scripts/pg-test-cluster stop
	rm -rf $(BUILD) $(TEST_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD) $(CLANG_BUILD) build-deb
