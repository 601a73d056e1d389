# libFuzzer target for the migration stream decoders (tests/fuzz/fuzz_stream.c).
#   make fuzz                      builds $(BUILD)/fuzz/fuzz_stream
#   make fuzz-run FUZZ_TIME=300    runs it, corpus kept in $(BUILD)/fuzz/corpus,
#                                  with the format's words in stream.dict
# The sources are linked directly (not libvmm.a): the fuzzer needs its own
# instrumentation in every object it explores.

FUZZ_CC ?= clang
FUZZ_TIME ?= 60
# All three before any rule names them: a prerequisite is expanded when
# its rule is read.
FUZZ_BIN := $(BUILD)/fuzz/fuzz_stream
FUZZ_FILE_BIN := $(BUILD)/fuzz/fuzz_file
FUZZ_MON_BIN := $(BUILD)/fuzz/fuzz_monitor
FUZZ_SEEDER := $(BUILD)/fuzz/make_seeds
FUZZ_LIB_SRCS := migrate/stream.c
FUZZ_LIB_SRCS += migrate/stream_io.c
FUZZ_LIB_SRCS += migrate/stream_msg.c
FUZZ_LIB_SRCS += migrate/stream_ledger.c
FUZZ_LIB_SRCS += vmm/cpu_state.c
FUZZ_LIB_SRCS += migrate/ram_batch.c
FUZZ_LIB_SRCS += migrate/ram_recv.c
FUZZ_LIB_SRCS += migrate/ram_prefault.c
FUZZ_LIB_SRCS += migrate/xbzrle.c
FUZZ_LIB_SRCS += migrate/ram_zstd.c
FUZZ_LIB_SRCS += migrate/vm_config.c
FUZZ_LIB_SRCS += migrate/vm_compat.c
FUZZ_LIB_SRCS += migrate/blk_section.c
FUZZ_LIB_SRCS += lib/crc32c.c
FUZZ_LIB_SRCS += lib/wire.c
FUZZ_LIB_SRCS += lib/errmsg.c
FUZZ_LIB_SRCS += lib/outbuf.c
FUZZ_LIB_SRCS += lib/mem_zero.c
FUZZ_CFLAGS := -g -O1 -std=gnu11 -pthread -Iinclude -D_GNU_SOURCE
FUZZ_CFLAGS += -DVMM_VERSION='"$(VERSION)"' $(WARNINGS)
FUZZ_CFLAGS += -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS += -fno-omit-frame-pointer

$(FUZZ_BIN): tests/fuzz/fuzz_stream.c $(FUZZ_LIB_SRCS) $(wildcard include/*.h) tests/fuzz/Module.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_stream.c $(FUZZ_LIB_SRCS) -lzstd -lisal

# Valid inputs for every mode of the harness, made with the real encoders.
$(FUZZ_SEEDER): tests/fuzz/make_seeds.c $(FUZZ_LIB_SRCS) $(wildcard include/*.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(FUZZ_CC) -g -O1 -std=gnu11 -pthread -Iinclude -D_GNU_SOURCE \
		-DVMM_VERSION='"$(VERSION)"' $(WARNINGS) -o $@ \
		tests/fuzz/make_seeds.c $(FUZZ_LIB_SRCS) -lzstd -lisal

# A saved file's header and tables (tests/fuzz/fuzz_file.c).
#   make fuzz-file-run FUZZ_TIME=60
$(FUZZ_FILE_BIN): tests/fuzz/fuzz_file.c migrate/file_layout.c lib/crc32c.c lib/errmsg.c $(wildcard include/*.h) tests/fuzz/Module.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_file.c migrate/file_layout.c \
		lib/crc32c.c lib/errmsg.c -lisal

fuzz-file-run: $(FUZZ_FILE_BIN)
	@mkdir -p $(BUILD)/fuzz/file-corpus
	$(FUZZ_FILE_BIN) -max_total_time=$(FUZZ_TIME) -timeout=10 -rss_limit_mb=4096 \
		-artifact_prefix=$(BUILD)/fuzz/file- $(BUILD)/fuzz/file-corpus

fuzz: $(FUZZ_BIN) $(FUZZ_SEEDER) $(FUZZ_MON_BIN) $(FUZZ_FILE_BIN)

fuzz-run: fuzz
	@mkdir -p $(BUILD)/fuzz/corpus
	$(Q)$(FUZZ_SEEDER) $(BUILD)/fuzz/corpus
	$(FUZZ_BIN) -max_total_time=$(FUZZ_TIME) -timeout=10 -rss_limit_mb=4096 \
		-dict=tests/fuzz/stream.dict \
		-artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus

# The text monitor's command parser (tests/fuzz/fuzz_monitor.c), over the
# whole program but main.c, instrumented likewise.
#   make fuzz-monitor-run FUZZ_TIME=60
$(FUZZ_MON_BIN): tests/fuzz/fuzz_monitor.c $(LIB_SRCS) $(wildcard include/*.h) tests/fuzz/Module.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(shell pkg-config --cflags libcrypto) -o $@ \
		tests/fuzz/fuzz_monitor.c $(LIB_SRCS) $(LDLIBS)

fuzz-monitor-run: $(FUZZ_MON_BIN)
	@mkdir -p $(BUILD)/fuzz/monitor-corpus
	$(FUZZ_MON_BIN) -max_total_time=$(FUZZ_TIME) -timeout=10 -rss_limit_mb=4096 \
		-dict=tests/fuzz/monitor.dict -max_len=8192 \
		-artifact_prefix=$(BUILD)/fuzz/monitor- $(BUILD)/fuzz/monitor-corpus

.PHONY: fuzz fuzz-run fuzz-monitor-run fuzz-file-run
