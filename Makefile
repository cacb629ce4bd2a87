# Thin driver over CMake. `make run` starts the server; `make test` runs the whole suite.
JOBS ?= $(shell nproc)
REL  := build/release
TST  := build/test
TSAN := build/tsan

.PHONY: all deps build run test tsan bench fuzz format clean

all: build

deps:
	@./tools/install-deps.sh

build: deps
	@cmake -S . -B $(REL) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(REL) -j$(JOBS)

run: build
	@mkdir -p data
	exec ./$(REL)/tools/ember $(ARGS)

test: deps
	@cmake -S . -B $(TST) -DCMAKE_BUILD_TYPE=Debug -DEMBER_SANITIZE=address,undefined >/dev/null
	@cmake --build $(TST) -j$(JOBS)
	@cd $(TST) && ctest --output-on-failure -j$(JOBS) --timeout 600

# ThreadSanitizer build of the concurrency tests.
tsan: deps
	@cmake -S . -B $(TSAN) -DCMAKE_BUILD_TYPE=Debug -DEMBER_SANITIZE=thread -DEMBER_BUILD_BENCH=OFF >/dev/null
	@cmake --build $(TSAN) -j$(JOBS)
	@cd $(TSAN) && ctest --output-on-failure -j$(JOBS) -L tsan

bench: build
	@cd $(REL) && ls bench/

fuzz: deps
	@cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DEMBER_FUZZ=ON \
	    -DEMBER_SANITIZE=address,undefined -DEMBER_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build build/fuzz -j$(JOBS)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h' '*.cc')

clean:
	rm -rf build
