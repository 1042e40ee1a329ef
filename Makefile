# Thin wrapper over CMake so a fresh machine needs one command per goal.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build run test unit integration asan valgrind fuzz fuzz-ci e2e clean format install deb package-test

all: build

$(BUILD)/CMakeCache.txt:
	@scripts/deps.sh build
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	@scripts/deps.sh build
	cmake --build $(BUILD) -j $(JOBS)

# Start ternd on the bundled configuration (loopback, port 3478, demo user).
run: build
	@echo "ternd: STUN/TURN on udp 127.0.0.1:3478 and [::1]:3478 (etc/ternd.conf)"
	@echo "  realm:    $$(sed -n 's/^realm=//p' etc/ternd.conf)"
	@echo "  user:     $$(sed -n 's/^user=\([^:]*\):.*/\1/p' etc/ternd.conf)"
	@echo "  password: $$(sed -n 's/^user=[^:]*://p' etc/ternd.conf)"
	@echo "  try:      turnutils_uclient -u demo -w demo-password -e 127.0.0.1 -r 3480 127.0.0.1"
	@echo "            (with 'turnutils_peer -L 127.0.0.1 -p 3480' running; Debian package coturn)"
	@echo "  Ctrl-C stops it."
	$(BUILD)/ternd -c etc/ternd.conf

test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

integration: build
	cd $(BUILD) && ctest --output-on-failure -L integration

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer. Any
# report ends the process that made it (halt_on_error), so it fails its test;
# ternd checks for leaks at its clean exit (detect_leaks), which the
# integration tests require to be status 0. The package test is left out:
# it builds its own (unsanitized) package, which `make test` already checks.
asan:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory build BUILD=build-asan CMAKE_FLAGS="-DTERN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"
	cd build-asan && \
	ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	ctest --output-on-failure -j $(JOBS) -LE package

# The integration tests once with ternd under valgrind memcheck (build-valgrind/:
# no sanitizers). Passes only with every test passing and every ternd run
# ending in "ERROR SUMMARY: 0 errors" (definite leaks count as errors). The
# C tests start ternd through TERN_IT_WRAPPER (tests/integration/lib/server.c);
# it_coturn_client.sh gets a wrapper script as $TERND; it_bench.sh (speed) is
# left out. libbpf's feature probes pass the kernel a short bpf_attr on
# purpose, which memcheck misreads: those two reports are suppressed; so is
# a branch inside libbpf's netlink reply parsing under bpf_tc_query (the
# fast path's start-up check for a clsact filter left behind).
valgrind: VALGRIND_DIR = $(CURDIR)/build-valgrind/valgrind
valgrind:
	@scripts/deps.sh test
	@command -v valgrind >/dev/null || { echo "valgrind: not installed (Debian package valgrind)" >&2; exit 2; }
	@$(MAKE) --no-print-directory build BUILD=build-valgrind
	@rm -rf $(VALGRIND_DIR) && mkdir -p $(VALGRIND_DIR)
	@for p in expected_attach_type prog_ifindex; do \
		printf '{\n  libbpf-probe-%s\n  Memcheck:Param\n  bpf(attr->%s)\n  fun:syscall\n  obj:*libbpf.so*\n}\n' $$p $$p; \
	done >$(VALGRIND_DIR)/libbpf.supp
	@printf '{\n  libbpf-netlink-tc-query\n  Memcheck:Cond\n  obj:*libbpf.so*\n  ...\n  fun:bpf_tc_query\n}\n' \
		>>$(VALGRIND_DIR)/libbpf.supp
	@echo "valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
		"--show-leak-kinds=definite --suppressions=$(VALGRIND_DIR)/libbpf.supp" \
		"--log-file=$(VALGRIND_DIR)/ternd.%p.log" >$(VALGRIND_DIR)/wrapper
	@printf '#!/bin/sh\nexec %s %s "$$@"\n' "$$(cat $(VALGRIND_DIR)/wrapper)" $(CURDIR)/build-valgrind/ternd \
		>$(VALGRIND_DIR)/ternd && chmod +x $(VALGRIND_DIR)/ternd
	@rc=0; \
	(cd build-valgrind && TERN_IT_WRAPPER="$$(cat $(VALGRIND_DIR)/wrapper)" \
		ctest --output-on-failure -L integration -E 'it_bench|it_coturn_client' -j $(JOBS)) || rc=1; \
	if [ -f tests/integration/it_coturn_client.sh ]; then \
		TERND=$(VALGRIND_DIR)/ternd timeout 600 bash tests/integration/it_coturn_client.sh \
			>$(VALGRIND_DIR)/it_coturn_client.out 2>&1 || { rc=1; cat $(VALGRIND_DIR)/it_coturn_client.out; }; \
		tail -n 1 $(VALGRIND_DIR)/it_coturn_client.out | sed 's/^/it_coturn_client.sh under valgrind: /'; \
	fi; \
	runs=0; bad=0; \
	for f in $(VALGRIND_DIR)/ternd.*.log; do \
		[ -e "$$f" ] || continue; runs=$$((runs + 1)); \
		if ! grep -q 'ERROR SUMMARY: 0 errors' "$$f"; then bad=$$((bad + 1)); echo "valgrind: $$f:"; cat "$$f"; fi; \
	done; \
	echo "valgrind: $$runs ternd runs, $$bad with errors, definite leaks or no clean exit (logs: $(VALGRIND_DIR))"; \
	[ "$$runs" -gt 0 ] && [ "$$bad" -eq 0 ] && [ "$$rc" -eq 0 ]

# libFuzzer: every fuzz target for FUZZ_SECONDS (clang, build-fuzz/), after
# replaying fuzz/regressions/ and the seed corpus; fuzz-ci: 60 s each, as
# many at a time as there are cores. See fuzz/README.md.
fuzz: FUZZ_SECONDS ?= 300
fuzz:
	@scripts/deps.sh test
	fuzz/run.sh $(FUZZ_SECONDS)

fuzz-ci:
	@scripts/deps.sh test
	fuzz/run.sh -j $(JOBS) 60

# Real-browser WebRTC test through ternd: headless Debian Chromium in network
# namespaces (root). A machine that cannot run it fails here; `make test` skips it.
e2e: build
	E2E_STRICT=1 BUILD_DIR=$(BUILD) e2e/run.sh

# Soak: ternd under steady load for SOAK_SECONDS (default 600): allocations
# created, refreshed, expired and deleted while ChannelData flows through echo
# peers; asserts zero loss, flat memory and descriptors, consistent counters
# and no sanitizer report (tests/soak/soak.c; CTest runs a 60 s version). With
# ASan+UBSan: make soak BUILD=build-asan CMAKE_FLAGS="-DTERN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"
.PHONY: soak
soak: SOAK_SECONDS ?= 600
soak:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory build
	$(BUILD)/tests/soak/soak $(BUILD)/ternd $(SOAK_SECONDS)

# Install under PREFIX (default /usr/local) into DESTDIR (staging, empty =
# the machine): sbin/ternd, bin/tern, share/man/man{1,5,8}, the systemd unit
# (lib/systemd/system; /lib/systemd/system for PREFIX=/usr) and an example
# ternd.conf in SYSCONFDIR (PREFIX/etc; /etc for PREFIX=/usr), never over an
# existing one. Reconfigures so the unit names the installed paths.
PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?=
install:
	@scripts/deps.sh build
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) -DCMAKE_INSTALL_PREFIX=$(PREFIX) \
		$(if $(SYSCONFDIR),-DCMAKE_INSTALL_SYSCONFDIR=$(SYSCONFDIR))
	cmake --build $(BUILD) -j $(JOBS) --target ternd tern man
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

# The Debian package (debian/), built with dpkg-buildpackage in a copy of
# the tree (the repository stays clean); the .deb lands in DEB_OUT.
DEB_OUT ?= $(CURDIR)/build-deb
deb:
	@scripts/deps.sh deb
	scripts/build-deb.sh $(DEB_OUT)

# Build the package, install it into this machine, check it, purge it
# (tests/package/package_test.sh; also CTest label "package").
package-test:
	@scripts/deps.sh deb
	bash tests/package/package_test.sh $(DEB_OUT)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) build-asan build-deb
