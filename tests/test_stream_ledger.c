/* The destination's ledger: a forward stream must be complete and every
 * state section identified, whatever order of mistakes it holds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blk_section.h"
#include "stream_ledger.h"

static struct vm_config cfg;
static struct stream_ledger ledger;
static char err[512];

/* Two vCPUs, the devices vmm builds. */
static int setup(void **state)
{
	vm_config__init(&cfg);
	cfg.ram_size = 2 << 20;
	cfg.nr_slots = 1;
	cfg.slots[0].size = 2 << 20;
	cfg.nr_cpus = 2;
	cfg.nr_devices = 3;
	strcpy(cfg.devices[0].name, "uart16550");
	cfg.devices[0].version = 1;
	strcpy(cfg.devices[1].name, "debug-exit");
	cfg.devices[1].version = 1;
	strcpy(cfg.devices[2].name, "fw_cfg");
	cfg.devices[2].version = 2;
	stream_ledger__init(&ledger, &cfg);
	err[0] = '\0';
	return 0;
}

static int take(uint32_t type, const void *p, size_t n)
{
	struct section sec = { .type = type, .len = n, .head_len = n, .payload = (uint8_t *)p };

	return stream_ledger__take(&ledger, &sec, err, sizeof(err));
}

/* A RAM section header: only round and count matter to the ledger. */
static int ram(uint32_t round, uint32_t count, size_t len)
{
	uint8_t *p = calloc(1, len);
	int ret;

	assert_non_null(p);
	wire__le32(p, round);
	wire__le32(p + 4, count);
	ret = take(SECTION_RAM, p, len);
	free(p);
	return ret;
}

static int round_end(uint32_t round, uint64_t pages, uint64_t bytes)
{
	struct round_end_msg m = { round, pages, bytes, 0, 0 };
	struct wbuf b;
	int ret;

	wbuf__init(&b);
	stream_msg__encode_round_end(&b, &m);
	ret = take(SECTION_ROUND_END, b.data, b.len);
	wbuf__free(&b);
	return ret;
}

static int end(uint32_t rounds, uint64_t pages)
{
	struct end_msg m = { rounds, pages, 0 };
	struct wbuf b;
	int ret;

	wbuf__init(&b);
	stream_msg__encode_end(&b, &m);
	ret = take(SECTION_END, b.data, b.len);
	wbuf__free(&b);
	return ret;
}

static int vcpu(uint32_t idx)
{
	uint8_t p[8] = { 0 };

	wire__le32(p, idx);
	return take(SECTION_VCPU, p, sizeof(p));
}

static int device_raw(const void *name, size_t n, uint32_t version)
{
	struct wbuf b;
	int ret;

	wbuf__init(&b);
	wbuf__put_u16(&b, (uint16_t)n);
	wbuf__put_bytes(&b, name, n);
	wbuf__put_u32(&b, version);
	wbuf__put_bytes(&b, "state", 5);
	ret = take(SECTION_DEVICE, b.data, b.len);
	wbuf__free(&b);
	return ret;
}

static int device(const char *name, uint32_t version)
{
	return device_raw(name, strlen(name), version);
}

/* Round 0: two batches (3 + 1 pages), round 1: one batch (2 pages). */
static void send_rounds(void)
{
	assert_int_equal(ram(0, 3, 100), 0);
	assert_int_equal(ram(0, 1, 50), 0);
	assert_int_equal(round_end(0, 4, 150 + 2 * 20), 0);
	assert_int_equal(ram(1, 2, 60), 0);
	assert_int_equal(round_end(1, 2, 80), 0);
}

static void send_state(void)
{
	assert_int_equal(take(SECTION_VM_STATE, "vm", 2), 0);
	assert_int_equal(vcpu(1), 0);
	assert_int_equal(vcpu(0), 0);
	assert_int_equal(device("fw_cfg", 2), 0);
	assert_int_equal(device("uart16550", 1), 0);
	assert_int_equal(device("debug-exit", 1), 0);
}

/* A BLOCK payload's header: the ledger reads its round only. */
static int block(uint32_t round)
{
	uint8_t p[BLK_SECTION_HDR + 512] = { 0 };

	wire__le32(p + 16, 512);
	wire__le32(p + 20, round);
	return take(SECTION_BLOCK, p, sizeof(p));
}

static int round_end_blk(uint32_t round, uint64_t pages, uint64_t bytes, uint64_t blocks)
{
	struct round_end_msg m = { round, pages, bytes, blocks, blocks * 512 };
	struct wbuf b;
	int ret;

	wbuf__init(&b);
	stream_msg__encode_round_end(&b, &m);
	ret = take(SECTION_ROUND_END, b.data, b.len);
	wbuf__free(&b);
	return ret;
}

static int end_blk(uint32_t rounds, uint64_t pages, uint64_t blocks)
{
	struct end_msg m = { rounds, pages, blocks };
	struct wbuf b;
	int ret;

	wbuf__init(&b);
	stream_msg__encode_end(&b, &m);
	ret = take(SECTION_END, b.data, b.len);
	wbuf__free(&b);
	return ret;
}

/* Block migration: BLOCK sections counted per round and at END. */
static void test_block_sections_counted(void **state)
{
	cfg.nr_block_drives = 1;
	cfg.block_drive_size[0] = 1 << 20;
	assert_int_equal(block(0), 0);
	assert_int_equal(ram(0, 1, 50), 0);
	assert_int_equal(block(0), 0);
	assert_int_equal(round_end_blk(0, 1, 70, 2), 0);
	assert_int_equal(block(1), 0);
	assert_int_equal(round_end_blk(1, 0, 0, 1), 0);
	send_state();
	assert_int_equal(end_blk(2, 1, 3), 0);
	assert_true(ledger.ended);
}

static void test_missing_block_section(void **state)
{
	cfg.nr_block_drives = 1;
	cfg.block_drive_size[0] = 1 << 20;
	assert_int_equal(block(0), 0);
	assert_int_equal(round_end_blk(0, 0, 0, 2), -EPROTO);
	assert_string_equal(err, "round 0: ROUND_END counts 2 BLOCK sections, the stream "
			    "carried 1 (a BLOCK section is missing or extra)");
	/* The short form says none. */
	setup(state);
	cfg.nr_block_drives = 1;
	cfg.block_drive_size[0] = 1 << 20;
	assert_int_equal(block(0), 0);
	assert_int_equal(round_end(0, 0, 0), -EPROTO);
}

static void test_block_section_out_of_place(void **state)
{
	assert_int_equal(block(0), -EPROTO);
	assert_string_equal(err, "BLOCK section, but CONFIG announced no block-migrated drive");
	cfg.nr_block_drives = 1;
	cfg.block_drive_size[0] = 1 << 20;
	assert_int_equal(block(1), -EPROTO);
	assert_string_equal(err, "BLOCK section of round 1 while round 0 is open");
	assert_int_equal(block(0), 0);
	assert_int_equal(round_end_blk(0, 0, 0, 1), 0);
	send_state();
	assert_int_equal(end_blk(1, 0, 2), -EPROTO);
	assert_string_equal(err, "END counts 2 BLOCK sections, the stream carried 1");
}

static void test_complete_stream(void **state)
{
	send_rounds();
	send_state();
	assert_int_equal(end(2, 6), 0);
	assert_true(ledger.ended);
	assert_false(ledger.go);
	assert_int_equal(take(SECTION_GO, "", 0), 0);
	assert_true(ledger.go);
}

/* GO runs the guest: never on a stream not found whole. */
static void test_go_needs_complete_end(void **state)
{
	send_rounds();
	assert_int_equal(take(SECTION_GO, "", 0), -EPROTO);
	assert_string_equal(err, "GO before a complete END");
	send_state();
	assert_int_equal(end(2, 6), 0);
	assert_int_equal(take(SECTION_GO, "x", 1), -EBADMSG);
	assert_false(ledger.go);
}

/* The defect: one RAM section dropped from a round went unnoticed. */
static void test_missing_ram_section(void **state)
{
	assert_int_equal(ram(0, 3, 100), 0);
	assert_int_equal(round_end(0, 4, 190), -EPROTO);
	assert_string_equal(err, "round 0: ROUND_END counts 4 pages in 190 bytes, the stream "
			    "carried 3 pages in 120 bytes (a RAM section is missing or extra)");
}

/* ROUND_END and END count pages, and a ZERO_RUN entry (3.6) is as many
 * pages as its length: one entry of 500 zero pages and a ZERO page. */
static void test_zero_run_pages_counted(void **state)
{
	uint8_t p[8 + 2 * 12] = { 0 };

	wire__le32(p + 4, 2);
	wire__le64(p + 8, 0x1000 | RAM_FLAG_ZERO_RUN);
	wire__le32(p + 16, 500);
	wire__le64(p + 20, 0x200000 | RAM_FLAG_ZERO);
	assert_int_equal(take(SECTION_RAM, p, sizeof(p)), 0);
	assert_int_equal(round_end(0, 2, sizeof(p) + 20), -EPROTO);
	assert_string_equal(err, "round 0: ROUND_END counts 2 pages in 52 bytes, the stream "
			    "carried 501 pages in 52 bytes (a RAM section is missing or extra)");
	setup(state);
	assert_int_equal(take(SECTION_RAM, p, sizeof(p)), 0);
	assert_int_equal(round_end(0, 501, sizeof(p) + 20), 0);
	assert_int_equal(end(1, 501), -EPROTO);	/* state missing: the count passed */
	assert_null(strstr(err, "pages"));
}

static void test_extra_ram_section(void **state)
{
	assert_int_equal(ram(0, 3, 100), 0);
	assert_int_equal(ram(0, 3, 100), 0);
	assert_int_equal(round_end(0, 3, 120), -EPROTO);
}

static void test_rounds_in_order(void **state)
{
	assert_int_equal(ram(1, 1, 50), -EPROTO);
	assert_string_equal(err, "RAM section of round 1 while round 0 is open");
	setup(state);
	assert_int_equal(round_end(1, 0, 0), -EPROTO);
	assert_string_equal(err, "ROUND_END for round 1 while round 0 is open");
	setup(state);
	assert_int_equal(round_end(0, 0, 0), 0);
	assert_int_equal(ram(0, 1, 50), -EPROTO);
	assert_string_equal(err, "RAM section of round 0 while round 1 is open");
	setup(state);
	assert_int_equal(take(SECTION_RAM, "1234567", 7), -EBADMSG);
	assert_int_equal(take(SECTION_ROUND_END, "1234567", 7), -EBADMSG);
}

static void test_end_counts(void **state)
{
	send_rounds();
	send_state();
	assert_int_equal(end(3, 6), -EPROTO);
	assert_string_equal(err, "END counts 3 rounds and 6 pages, the stream carried 2 rounds "
			    "and 6 pages");
	assert_int_equal(end(2, 7), -EPROTO);
	assert_false(ledger.ended);
	assert_int_equal(take(SECTION_END, "1234", 4), -EBADMSG);
}

static void test_end_with_open_round(void **state)
{
	send_rounds();
	assert_int_equal(ram(2, 1, 50), 0);
	send_state();
	assert_int_equal(end(2, 6), -EPROTO);
	assert_string_equal(err, "END while round 2 is open (1 RAM and 0 BLOCK sections without ROUND_END)");
	setup(state);
	send_state();
	assert_int_equal(end(0, 0), -EPROTO);
	assert_string_equal(err, "END before any ROUND_END: the stream has no stop-and-copy round");
}

/* The defect: a device's state twice and another's not at all passed,
 * because only the number of DEVICE sections was compared. */
static void test_device_twice_other_missing(void **state)
{
	send_rounds();
	assert_int_equal(take(SECTION_VM_STATE, "vm", 2), 0);
	assert_int_equal(vcpu(0), 0);
	assert_int_equal(vcpu(1), 0);
	assert_int_equal(device("uart16550", 1), 0);
	assert_int_equal(device("debug-exit", 1), 0);
	assert_int_equal(device("uart16550", 1), -EPROTO);
	assert_string_equal(err, "device uart16550: state sent twice");
	assert_int_equal(end(2, 6), -EPROTO);
	assert_string_equal(err, "stream ended without device fw_cfg's state");
}

static void test_device_not_announced(void **state)
{
	assert_int_equal(device("virtio-net", 1), -EPROTO);
	assert_string_equal(err, "state for device virtio-net, which CONFIG did not announce");
	/* A name that would drive the terminal is shown escaped. */
	assert_int_equal(device_raw("ua\x1b[2Jrt\\", 9, 1), -EPROTO);
	assert_string_equal(err, "state for device ua\\x1b[2Jrt\\x5c, which CONFIG did not announce");
	/* A prefix of a known name is another name. */
	assert_int_equal(device_raw("uart", 4, 1), -EPROTO);
	assert_int_equal(device_raw("uart16550\0", 10, 1), -EPROTO);
	assert_int_equal(take(SECTION_DEVICE, "\x09\0uart", 6), -EBADMSG);
	assert_string_equal(err, "DEVICE section: malformed header");
}

static void test_device_version(void **state)
{
	assert_int_equal(device("fw_cfg", 1), -EPROTO);
	assert_string_equal(err, "device fw_cfg: state version 1, CONFIG announced 2");
}

static void test_vcpus_and_vm_state(void **state)
{
	assert_int_equal(vcpu(2), -EPROTO);
	assert_string_equal(err, "VCPU section for vCPU 2: no such vCPU");
	assert_int_equal(vcpu(1), 0);
	assert_int_equal(vcpu(1), -EPROTO);
	assert_string_equal(err, "VCPU section for vCPU 1: sent twice");
	assert_int_equal(take(SECTION_VCPU, "123", 3), -EBADMSG);
	assert_int_equal(take(SECTION_VM_STATE, "vm", 2), 0);
	assert_int_equal(take(SECTION_VM_STATE, "vm", 2), -EPROTO);
	assert_string_equal(err, "VM_STATE section sent twice");
	assert_int_equal(take(SECTION_CONFIG, "", 0), -EPROTO);
}

static void test_missing_state_named(void **state)
{
	send_rounds();
	assert_int_equal(end(2, 6), -EPROTO);
	assert_string_equal(err, "stream ended without the VM_STATE section");
	assert_int_equal(take(SECTION_VM_STATE, "vm", 2), 0);
	assert_int_equal(vcpu(0), 0);
	assert_int_equal(end(2, 6), -EPROTO);
	assert_string_equal(err, "stream ended without vCPU 1's state");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_complete_stream, setup),
		cmocka_unit_test_setup(test_go_needs_complete_end, setup),
		cmocka_unit_test_setup(test_missing_ram_section, setup),
		cmocka_unit_test_setup(test_extra_ram_section, setup),
		cmocka_unit_test_setup(test_zero_run_pages_counted, setup),
		cmocka_unit_test_setup(test_rounds_in_order, setup),
		cmocka_unit_test_setup(test_end_counts, setup),
		cmocka_unit_test_setup(test_end_with_open_round, setup),
		cmocka_unit_test_setup(test_device_twice_other_missing, setup),
		cmocka_unit_test_setup(test_device_not_announced, setup),
		cmocka_unit_test_setup(test_device_version, setup),
		cmocka_unit_test_setup(test_vcpus_and_vm_state, setup),
		cmocka_unit_test_setup(test_missing_state_named, setup),
		cmocka_unit_test_setup(test_block_sections_counted, setup),
		cmocka_unit_test_setup(test_missing_block_section, setup),
		cmocka_unit_test_setup(test_block_section_out_of_place, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
