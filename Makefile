# SPDX-License-Identifier: Apache-2.0
# Entry points: make demo | make test | make bench | make asan | make tsan
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build test demo bench asan tsan stress fuzz install format clean

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

install: build
	cmake --install $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-tsan
