# The two commands a user needs: `make run` and `make test`. See README.md.
.PHONY: setup build run test test-slow bench fuzz format clean

JOBS ?= $(shell nproc)
BUILD_DIR := build
TEST_DIR := build-asan

setup:
	@bash scripts/setup

build: setup
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DVIGIL_TESTS=OFF > /dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target vigil

run: build
	$(BUILD_DIR)/vigil serve --data ./data --listen 127.0.0.1:8080

test: setup
	@cmake -S . -B $(TEST_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_SANITIZE=ON > /dev/null
	@cmake --build $(TEST_DIR) -j $(JOBS)
	cd $(TEST_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j 2 -LE slow

test-slow: setup
	@cmake -S . -B $(TEST_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_SANITIZE=ON > /dev/null
	@cmake --build $(TEST_DIR) -j $(JOBS)
	cd $(TEST_DIR) && ctest --output-on-failure -L slow

bench: build
	bash bench/ingest/run.sh
	bash bench/symbolicate/run.sh
	bash bench/batch/run.sh
	bash bench/query/run.sh
	bash bench/freshness/run.sh

fuzz: setup
	bash tests/fuzz/run.sh

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD_DIR) $(TEST_DIR)
