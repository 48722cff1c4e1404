# Convenience entry points; the build itself is meson.
#   make run    install what is missing, build, start the CSE on its defaults
#   make test   install what is missing, build, run every test (plain and ASan/UBSan)
BUILD ?= build

.PHONY: deps build run test bench clean
deps:
	@./scripts/install-deps.sh

build: deps
	@test -d $(BUILD) || meson setup $(BUILD) >/dev/null
	@ninja -C $(BUILD)

run: build
	./$(BUILD)/m2m-cse

test: deps
	@./scripts/run-tests.sh

bench: build
	@./tests/bench/run.sh

clean:
	rm -rf $(BUILD) build-asan build-fuzz
