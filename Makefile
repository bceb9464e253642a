# Thin wrapper around meson/ninja. The two commands a new user needs (as root on Debian 12):
#   make demo   install what is missing, build, build the example image, show digest and config
#   make test   install what the tests need, build, run every suite, print "N passed, N failed"
BUILD ?= build
LANA := $(BUILD)/lana-img
DEMO_ROOT := $(CURDIR)/.demo/store

BUILD_DEPS := meson ninja-build pkg-config gcc libc6-dev libarchive-dev libssl-dev \
	libdeflate-dev libzstd-dev libjansson-dev libfyaml-dev libcurl4-openssl-dev libseccomp-dev libcmocka-dev python3 \
	liblzma-dev libbz2-dev nettle-dev libxml2-dev zlib1g-dev
TEST_DEPS := libcmocka-dev bats skopeo umoci gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
	jq zstd pigz gzip clang clang-format docker-registry apache2-utils openssl curl python3 busybox-static bsdutils procps strace

.PHONY: all deps test-deps build demo test soak fuzz bench clean format

all: build

deps:
	@tools/install-deps $(BUILD_DEPS)

test-deps:
	@tools/install-deps $(BUILD_DEPS) $(TEST_DEPS)

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

examples/api/target/x86_64-unknown-linux-musl/release/lana-api: examples/api/src/lana-api.c
	@mkdir -p $(dir $@)
	gcc -static -O2 -o $@ $<

demo: deps build examples/api/target/x86_64-unknown-linux-musl/release/lana-api
	@echo "== building examples/api into $(DEMO_ROOT)"
	$(LANA) --root $(DEMO_ROOT) build --platform linux/amd64 examples/api
	@echo "== images"
	$(LANA) --root $(DEMO_ROOT) images
	@echo "== config of registry.example.com/lana/api:latest"
	$(LANA) --root $(DEMO_ROOT) inspect registry.example.com/lana/api:latest | \
		jq '{digest, config: .config.config, layers: [.layers[] | {digest, size}]}' 2>/dev/null || \
		$(LANA) --root $(DEMO_ROOT) inspect registry.example.com/lana/api:latest
	@echo "== running it (lana-img run --rm)"
	$(LANA) --root $(DEMO_ROOT) run --rm registry.example.com/lana/api:latest

test: test-deps build
	@tools/run-tests $(BUILD)

fuzz: build
	@fuzz/run-fuzz

bench: build
	@bench/run

soak: build
	@LANA_IMG=$(abspath $(LANA)) tools/soak $(SOAK_ARGS)

format:
	clang-format -i $$(find src include tests fuzz bench -name "*.[ch]")

clean:
	rm -rf $(BUILD) .demo
