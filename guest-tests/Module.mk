# Test guests: freestanding multiboot v1 kernels, built with their own
# compiler flags (never the host's CFLAGS or sanitizers). Included by the
# top-level Makefile; `make guests` builds $(BUILD)/guests/NAME.elf.

GUEST_CC ?= gcc
GUEST_LD ?= ld
GUEST_OBJCOPY ?= objcopy
GUEST_DIR := $(BUILD)/guests
GUEST_NAMES := hello idle memtouch verify heartbeat portio ioverify diskverify disktouch

GUEST_WARNINGS := -Wall -Wextra -Werror -Wshadow -Wformat=2 \
	-Wmissing-prototypes -Wstrict-prototypes
# -fno-tree-loop-distribute-patterns: GCC would turn memset's own loop into
# a call to memset.
GUEST_CFLAGS := -m64 -std=gnu11 -ffreestanding -fno-pic -fno-pie \
	-fno-stack-protector -mno-red-zone -mgeneral-regs-only -nostdlib \
	-fno-asynchronous-unwind-tables -fcf-protection=none \
	-fno-tree-loop-distribute-patterns -O2 -g $(GUEST_WARNINGS) \
	-Iguest-tests/kit -MMD -MP
GUEST_LDFLAGS := -m elf_x86_64 -T guest-tests/kit/guest.ld -z max-page-size=4096 \
	-nostdlib --build-id=none

GUEST_KIT_SRCS := $(wildcard guest-tests/kit/*.c guest-tests/kit/*.S)
GUEST_KIT_OBJS := $(patsubst guest-tests/kit/%,$(GUEST_DIR)/obj/kit/%.o,$(GUEST_KIT_SRCS))
GUEST_ELFS := $(patsubst %,$(GUEST_DIR)/%.elf,$(GUEST_NAMES))

guests: $(GUEST_ELFS)

$(GUEST_DIR)/obj/kit/%.c.o: guest-tests/kit/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUESTCC $<")
	$(Q)$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(GUEST_DIR)/obj/kit/%.S.o: guest-tests/kit/%.S
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUESTAS $<")
	$(Q)$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(GUEST_DIR)/obj/%.o: guest-tests/guests/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUESTCC $<")
	$(Q)$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

# QEMU's multiboot loader refuses ELF64, hence the final elf32-i386 copy.
$(GUEST_DIR)/%.elf: $(GUEST_DIR)/obj/%.o $(GUEST_KIT_OBJS) guest-tests/kit/guest.ld
	@$(if $(Q),echo "  GUESTLD $@")
	$(Q)$(GUEST_LD) $(GUEST_LDFLAGS) -o $@.64 $(filter %.o,$^)
	$(Q)$(GUEST_OBJCOPY) -O elf32-i386 $@.64 $@
	$(Q)rm -f $@.64

.PHONY: guests
-include $(GUEST_KIT_OBJS:.o=.d) $(GUEST_NAMES:%=$(GUEST_DIR)/obj/%.d)
# Objects reached only through pattern rules would count as intermediate
# and be deleted after each build.
.SECONDARY: $(GUEST_KIT_OBJS) $(GUEST_NAMES:%=$(GUEST_DIR)/obj/%.o)
