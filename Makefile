# Thin wrapper over CMake so a fresh machine needs one command per goal.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build run test unit integration asan clean format

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

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory build BUILD=build-asan CMAKE_FLAGS="-DTERN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"
	cd build-asan && ctest --output-on-failure -j $(JOBS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) build-asan
