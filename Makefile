# SPDX-License-Identifier: Apache-2.0
# Entry points: make demo | make test | make bench | make asan | make tsan | make e2e
# make install [PREFIX=/opt/ttshm] [DESTDIR=/stage] | make uninstall
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
MAKEFLAGS += --no-print-directory

.PHONY: all deps build test demo bench asan tsan stress fuzz install uninstall e2e format \
	format-check clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	@scripts/demo.sh $(BUILD)

bench: build
	$(BUILD)/bench/tt-shm-bench

# The whole suite under ASan+UBSan, and under TSan.
asan:
	@$(MAKE) --no-print-directory test BUILD=build-asan CMAKE_FLAGS="-DTTSHM_SANITIZE=address"

# clang: gcc refuses atomic_thread_fence under -fsanitize=thread.
tsan:
	@scripts/deps.sh clang libclang-rt-dev
	@$(MAKE) --no-print-directory test BUILD=build-tsan \
		CMAKE_FLAGS="-DTTSHM_SANITIZE=thread -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++"

# Long reliability runs (docs/reliability.md). `make test` runs short versions.
# stress: crash/restart torture (1000 SIGKILLs) and 16 writer threads x 10M
# events against 4 validating reader processes; every host-safety case of
# test_host, with thousands of forks and hundreds of cancellations.
stress: build
	@cd $(BUILD)/tests && export TTSHM_LONG=1 TTSHM_TEST_BIN_DIR=$(abspath $(BUILD)) && rc=0 && \
		{ ./torture_restart || rc=1; } && { ./stress_validate || rc=1; } && \
		{ ./test_host || rc=1; } && exit $$rc

# fuzz: the reader's open/validate/iterate path under libFuzzer (clang,
# ASan+UBSan), seeded with real segments; FUZZ_RUNS executions (CI: a short run).
FUZZ_BUILD ?= build-fuzz
FUZZ_RUNS ?= 10000000
fuzz:
	@scripts/deps.sh clang libclang-rt-dev
	@CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DTTSHM_SANITIZE=address -DTTSHM_FUZZ=ON -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_reader fuzz_seedgen
	@mkdir -p $(FUZZ_BUILD)/corpus
	@$(FUZZ_BUILD)/tests/fuzz_seedgen $(FUZZ_BUILD)/corpus >/dev/null
	$(FUZZ_BUILD)/tests/fuzz_reader -runs=$(FUZZ_RUNS) -timeout=20 -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus

# PREFIX: where to install (default: CMake's, /usr/local). DESTDIR stages the
# tree under another root (packaging). The files installed are listed in
# $(BUILD)/install_manifest.txt, which `make uninstall` removes.
PREFIX ?=
install: build
	cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX))

uninstall:
	@test -f $(BUILD)/install_manifest.txt || \
		{ echo "uninstall: no $(BUILD)/install_manifest.txt (nothing installed from $(BUILD))" >&2; exit 1; }
	@n=0; while IFS= read -r f || [ -n "$$f" ]; do \
		if [ -e "$$f" ] || [ -L "$$f" ]; then rm -f -- "$$f" && n=$$((n + 1)); fi; \
	done < $(BUILD)/install_manifest.txt; echo "uninstall: $$n files removed"

# e2e: a real Prometheus server scrapes tt-shm-stat --listen while tt-shm-sim
# runs, and its query API must agree with tt-shm-stat --json (tests/e2e).
e2e: build
	@python3 tests/e2e/prometheus_e2e.py $(BUILD)

SOURCES = $(shell find core include reader sim tests bench integrations -name '*.[ch]' \
	-o -name '*.[ch]pp')

format:
	clang-format -i $(SOURCES)

# CI: every C and C++ source formatted as .clang-format says.
format-check:
	@scripts/deps.sh clang-format
	@clang-format --dry-run --Werror $(SOURCES) && echo "format: $(words $(SOURCES)) files ok"

clean:
	rm -rf build build-asan build-tsan build-fuzz
