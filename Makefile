# Build: `make` (everything), `make test`, `make asan`, `make deps`, `make demo`.
# Everything built goes under $(BUILD)/ (default build/). V=1 shows commands.

BUILD ?= build
CC ?= cc
VERSION := 0.1.0

WARNINGS += -Wall
WARNINGS += -Wextra
WARNINGS += -Werror
WARNINGS += -Wshadow
WARNINGS += -Wformat=2
WARNINGS += -Wmissing-prototypes
WARNINGS += -Wstrict-prototypes
WARNINGS += -Wno-unused-parameter

# gnu11: the KVM and Linux UAPI headers use GNU extensions.
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -pthread $(WARNINGS) -Iinclude -MMD -MP
CFLAGS += -DVMM_VERSION='"$(VERSION)"' -D_GNU_SOURCE
LDLIBS += -pthread -lcap -lseccomp -lzstd -lisal -ljansson -lm
# liburing: the disks' I/O (devices/blk_raw.c).
LDLIBS += -luring
# OpenSSL: libcrypto for HMAC-SHA256 and random nonces (migrate/auth.c),
# libssl for TLS 1.3 (migrate/tls_tunnel.c).
CFLAGS += $(shell pkg-config --cflags libssl libcrypto)
LDLIBS += $(shell pkg-config --libs libssl libcrypto)

ifeq ($(SANITIZE),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

# The code stands in floors, each including only the floors below it
# (scripts/check-floors.sh enforces it): lib/ shared pieces, vmm/ the KVM
# core, devices/, migrate/ the engine, vmm/app/ the program. Every .c but
# main.c goes into one library; tests link against it, so a test sees
# exactly the code the VMM runs.
FLOORS := lib vmm devices migrate vmm/app
LIB_SRCS := $(filter-out vmm/app/main.c,$(foreach f,$(FLOORS),$(wildcard $(f)/*.c)))
LIB_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
LIB := $(BUILD)/libvmm.a

TEST_SRCS := $(wildcard tests/test_*.c)
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))

all: $(BUILD)/vmm guests $(TEST_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/vmm: $(BUILD)/obj/vmm/app/main.o $(LIB)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(LDLIBS)

# Guests are freestanding and built with their own flags (never sanitized).
-include guest-tests/Module.mk
-include tests/fuzz/Module.mk

# test and demo install their own dependencies first (a no-op once present).
test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)SANITIZE=$(SANITIZE) tests/run-tests.sh $(BUILD)

# The sanitizer build lives in its own tree so it never mixes objects.
asan:
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan SANITIZE=1 test

# Unit tests and a migration pair under valgrind's memcheck.
valgrind: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/valgrind.sh $(BUILD)

deps:
	$(Q)scripts/install-deps.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh $(BUILD)

clean:
	rm -rf build build-asan build-clang

.PHONY: all test asan valgrind deps demo clean guests
.DELETE_ON_ERROR:
# Keep the test objects: without this make deletes them as intermediates
# and rebuilds every test on every run.
.SECONDARY:

-include $(LIB_OBJS:.o=.d) $(BUILD)/obj/vmm/app/main.d $(TEST_BINS:$(BUILD)/tests/%=$(BUILD)/obj/tests/%.d)
