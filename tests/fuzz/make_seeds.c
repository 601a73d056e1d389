/* Writes a seed corpus for fuzz_stream into the directory given as argv[1]:
 * one valid input for each of the harness's modes, made with the real
 * encoders, so the fuzzer starts past the checksums, the CONFIG rules and
 * the destination's ledger (the forward seeds are complete streams: the
 * counts add up, every vCPU's and device's state is there) instead of
 * having to discover them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blk_section.h"
#include "cpu_state.h"
#include "crc32c.h"
#include "ram_zstd.h"
#include "stream.h"
#include "vm_config.h"

static struct vm_config cfg;

static void die(const char *what)
{
	fprintf(stderr, "make_seeds: %s\n", what);
	exit(1);
}

static void make_config(struct wbuf *out)
{
	struct kvm_cpuid_entry2 *e;

	vm_config__init(&cfg);
	cfg.ram_size = 2 << 20;
	cfg.nr_slots = 2;
	cfg.slots[0].size = 1 << 20;
	cfg.slots[1].gpa = 1ull << 32;
	cfg.slots[1].size = 1 << 20;
	cfg.nr_cpus = 2;
	cfg.nr_cpuid = 2;
	e = &cfg.cpuid[0];
	e->function = 1;
	e->ecx = 0x80100000;
	e->edx = 0x06000001;
	e = &cfg.cpuid[1];
	e->function = 7;
	e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
	e->ebx = 0x20010020;
	cfg.nr_devices = 2;
	strcpy(cfg.devices[0].name, "uart16550@0x3f8");
	cfg.devices[0].version = 1;
	strcpy(cfg.devices[1].name, "fw_cfg");
	cfg.devices[1].version = 1;
	if (vm_config__encode(&cfg, out))
		die("config does not encode");
}

static void make_ram(struct ram_batch *b, struct wbuf *flat)
{
	static uint8_t page[RAM_PAGE_SIZE];
	const struct iovec *iov;
	int i, n;

	ram_batch__init(b);
	ram_batch__begin(b, 0);
	memset(page, 0x11, sizeof(page));
	/* 0x2000 and 0x3000: a ZERO_RUN of 2 pages (3.6). */
	if (ram_batch__add_page(b, 0x1000, page) ||
	    ram_batch__add_zero(b, 0x2000) || ram_batch__add_zero(b, 0x3000) ||
	    ram_batch__add_page(b, 1ull << 32, page) || ram_batch__finish(b) ||
	    b->nr_run != 1)
		die("RAM batch does not encode");
	iov = ram_batch__iov(b, &n);
	for (i = 0; i < n; i++)
		wbuf__put_bytes(flat, iov[i].iov_base, iov[i].iov_len);
}

/* A second batch: 0x1000 again as an XBZRLE delta against the first
 * batch's copy (byte 0 and the last byte changed), with the CRC of the
 * page it makes. */
static void make_ram_delta(struct wbuf *flat)
{
	static uint8_t page[RAM_PAGE_SIZE], area[RAM_PAGE_SIZE];
	static const uint8_t delta[] = { 0, 1, 0x22, 0xfe, 0x1f, 1, 0x33 };
	struct ram_batch b;
	const struct iovec *iov;
	int i, n;

	memset(page, 0x11, sizeof(page));
	page[0] = 0x22;
	page[RAM_PAGE_SIZE - 1] = 0x33;
	ram_batch__init(&b);
	ram_batch__set_delta_area(&b, area, sizeof(area));
	ram_batch__begin(&b, 0);
	if (ram_batch__add_delta(&b, 0x1000, delta, sizeof(delta),
				 crc32c__extend(0, page, RAM_PAGE_SIZE)) ||
	    ram_batch__add_zero(&b, 0x3000) || ram_batch__finish(&b))
		die("RAM delta batch does not encode");
	iov = ram_batch__iov(&b, &n);
	for (i = 0; i < n; i++)
		wbuf__put_bytes(flat, iov[i].iov_base, iov[i].iov_len);
}

/* A batch whose three whole pages go as one zstd frame (stream 3.2),
 * beside a ZERO entry. */
static void make_ram_zstd(struct wbuf *flat)
{
	static uint8_t pages[3 * RAM_PAGE_SIZE];
	static struct ram_zstd z;
	struct ram_batch b;
	const struct iovec *iov;
	int i, n;

	memset(pages, 0x44, sizeof(pages));
	pages[RAM_PAGE_SIZE] = 0x55;
	if (ram_zstd__create(&z, 1))
		die("zstd does not start");
	ram_batch__init(&b);
	ram_batch__begin(&b, 0);
	if (ram_batch__add_page(&b, 0x4000, pages) || ram_batch__add_zero(&b, 0x5000) ||
	    ram_batch__add_page(&b, 0x6000, pages + RAM_PAGE_SIZE) ||
	    ram_batch__add_page(&b, (1ull << 32) + 0x1000, pages + 2 * RAM_PAGE_SIZE) ||
	    ram_zstd__finish(&z, &b) || b.nr_zstd != 3)
		die("RAM zstd batch does not encode");
	iov = ram_batch__iov(&b, &n);
	for (i = 0; i < n; i++)
		wbuf__put_bytes(flat, iov[i].iov_base, iov[i].iov_len);
	ram_zstd__destroy(&z);
}

static void write_seed(const char *dir, const char *name, uint8_t mode,
		       const void *p, size_t n);

/* BLOCK payloads, direct mode: one sector of data at drive 1's end, and a
 * hole of a whole 1 MiB block. */
static void make_blocks(const char *dir)
{
	struct blk_extent data = { .drive = 1, .offset = 3584, .len = 512, .round = 2 };
	struct blk_extent hole = { .hole = true, .offset = 1 << 20, .len = 1 << 20 };
	uint8_t sector[512];
	struct wbuf w;

	memset(sector, 0x5a, sizeof(sector));
	wbuf__init(&w);
	if (blk_section__encode(&w, &data, sector))
		die("cannot encode a BLOCK seed");
	write_seed(dir, "seed-block", 3, w.data, w.len);
	wbuf__reset(&w);
	if (blk_section__encode(&w, &hole, NULL))
		die("cannot encode a BLOCK seed");
	write_seed(dir, "seed-block-hole", 3, w.data, w.len);
	wbuf__free(&w);
}

/* CONFIG with block-migrated drives, one of them incremental (3.4): the
 * trailers the decoder reads past the source version. */
static void make_config_bases(const char *dir)
{
	struct vm_config c = cfg;
	struct wbuf w;

	c.nr_block_drives = 2;
	c.block_drive_size[0] = 4096;
	c.block_drive_size[1] = 64 << 20;
	c.block_incremental[1] = 1;
	c.block_base_size[1] = 1000;
	memset(c.block_base_digest[1], 0xd5, VM_CONFIG_DIGEST_LEN);
	c.block_bulk_bytes[1] = 1 << 20;
	wbuf__init(&w);
	if (vm_config__encode(&c, &w))
		die("cannot encode the CONFIG with bases");
	write_seed(dir, "seed-config-bases", 3, w.data, w.len);
	wbuf__free(&w);
}

static void write_seed(const char *dir, const char *name, uint8_t mode,
		       const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(&mode, 1, 1, f) != 1 ||
	    (n && fwrite(p, 1, n, f) != n) || fclose(f))
		die("cannot write a seed");
}

/* Runs `emit` against a memfd and returns what it wrote. */
static size_t capture(enum stream_role role,
		      void (*emit)(struct stream *s, void *ctx), void *ctx,
		      uint8_t **out)
{
	struct stream s;
	off_t n;
	int fd = memfd_create("seed", 0);

	if (fd < 0)
		die("memfd_create");
	stream__init(&s, fd, role);
	if (stream__write_preamble(&s))
		die("preamble");
	emit(&s, ctx);
	n = lseek(fd, 0, SEEK_END);
	*out = malloc((size_t)n);
	if (!*out || pread(fd, *out, (size_t)n, 0) != n)
		die("reading back");
	close(fd);
	return (size_t)n;
}

struct parts {
	struct wbuf config, round_end, end, reason, vm_state, vcpu[2], device[2];
	struct ram_batch ram;
	struct wbuf ram_flat;	/* the RAM payload in one piece */
	struct wbuf delta_flat;	/* a second one, with a delta */
	struct wbuf zstd_flat;	/* a third, its pages in a zstd frame */
};

/* VM_STATE, one VCPU per vCPU and one DEVICE per device of the config,
 * each a payload the destination decodes. */
static void make_state(struct parts *p)
{
	static struct vcpu_state vs;
	static struct vm_state vms;
	unsigned int i;

	for (i = 0; i < VM_STATE_NR_IRQCHIPS; i++)
		vms.irqchip[i].chip_id = i;
	wbuf__init(&p->vm_state);
	if (vm_state__encode(&vms, &p->vm_state))
		die("VM_STATE does not encode");
	vs.xsave_len = CPU_XSAVE_MIN;
	for (i = 0; i < 2; i++) {
		wbuf__init(&p->vcpu[i]);
		wbuf__put_u32(&p->vcpu[i], i);
		if (vcpu_state__encode(&vs, &p->vcpu[i]))
			die("VCPU does not encode");
		wbuf__init(&p->device[i]);
		wbuf__put_str(&p->device[i], cfg.devices[i].name);
		wbuf__put_u32(&p->device[i], cfg.devices[i].version);
		wbuf__put_bytes(&p->device[i], "state", 5);
	}
}

static void send_or_die(struct stream *s, uint32_t type, const void *p, size_t n)
{
	if (stream__send(s, type, p, n))
		die(stream__type_name(type));
}

static void emit_forward(struct stream *s, void *ctx)
{
	struct parts *p = ctx;

	send_or_die(s, SECTION_CONFIG, p->config.data, p->config.len);
	send_or_die(s, SECTION_RAM, p->ram_flat.data, p->ram_flat.len);
	send_or_die(s, SECTION_RAM, p->delta_flat.data, p->delta_flat.len);
	send_or_die(s, SECTION_ROUND_END, p->round_end.data, p->round_end.len);
	send_or_die(s, SECTION_VM_STATE, p->vm_state.data, p->vm_state.len);
	send_or_die(s, SECTION_VCPU, p->vcpu[0].data, p->vcpu[0].len);
	send_or_die(s, SECTION_VCPU, p->vcpu[1].data, p->vcpu[1].len);
	send_or_die(s, SECTION_DEVICE, p->device[0].data, p->device[0].len);
	send_or_die(s, SECTION_DEVICE, p->device[1].data, p->device[1].len);
	send_or_die(s, SECTION_END, p->end.data, p->end.len);
	send_or_die(s, SECTION_GO, NULL, 0);
}

static void emit_return(struct stream *s, void *ctx)
{
	send_or_die(s, SECTION_ACCEPT, NULL, 0);
	/* 3.5: rounds 0 and 1 applied */
	send_or_die(s, SECTION_ROUND_DONE, "\0\0\0\0", ROUND_DONE_MSG_LEN);
	send_or_die(s, SECTION_ROUND_DONE, "\1\0\0\0", ROUND_DONE_MSG_LEN);
	send_or_die(s, SECTION_READY, NULL, 0);
	send_or_die(s, SECTION_RESUMED, NULL, 0);
}

static void emit_refuse(struct stream *s, void *ctx)
{
	struct parts *p = ctx;

	send_or_die(s, SECTION_REFUSE, p->reason.data, p->reason.len);
}

/* Mode 2 records: u8 type index, u16 length, payload. */
static void record(struct wbuf *w, uint8_t type_index, const void *p, size_t n)
{
	wbuf__put_u8(w, type_index);
	wbuf__put_u16(w, (uint16_t)n);
	wbuf__put_bytes(w, p, n);
}

int main(int argc, char **argv)
{
	/* 4 pages in the first batch, 2 in the second */
	struct round_end_msg re = { 0, 6, 0, 0, 0 };
	struct end_msg end = { 1, 6, 0 };
	struct parts p;
	struct wbuf framed;
	uint8_t *bytes;
	size_t n;

	if (argc != 2)
		die("usage: make_seeds DIR");
	wbuf__init(&p.config);
	wbuf__init(&p.round_end);
	wbuf__init(&p.end);
	wbuf__init(&p.reason);
	wbuf__init(&framed);
	wbuf__init(&p.ram_flat);
	wbuf__init(&p.delta_flat);
	make_config(&p.config);
	make_ram(&p.ram, &p.ram_flat);
	make_ram_delta(&p.delta_flat);
	wbuf__init(&p.zstd_flat);
	make_ram_zstd(&p.zstd_flat);
	make_state(&p);
	/* The round's bytes as the destination counts them, framing included. */
	re.bytes = 2 * (STREAM_HEADER_LEN + STREAM_TRAILER_LEN) + p.ram_flat.len +
		   p.delta_flat.len;
	stream_msg__encode_round_end(&p.round_end, &re);
	stream_msg__encode_end(&p.end, &end);
	stream_msg__encode_reason(&p.reason, "source RAM 512 MiB, this VM 256 MiB");

	n = capture(STREAM_SOURCE, emit_forward, &p, &bytes);
	write_seed(argv[1], "seed-forward", 0, bytes, n);
	free(bytes);
	n = capture(STREAM_DEST, emit_return, &p, &bytes);
	write_seed(argv[1], "seed-return", 1, bytes, n);
	free(bytes);
	n = capture(STREAM_DEST, emit_refuse, &p, &bytes);
	write_seed(argv[1], "seed-refuse", 1, bytes, n);
	free(bytes);

	wbuf__put_u8(&framed, 0);	/* read as the destination */
	record(&framed, 0, p.config.data, p.config.len);
	record(&framed, 1, p.ram_flat.data, p.ram_flat.len);
	record(&framed, 1, p.delta_flat.data, p.delta_flat.len);
	record(&framed, 1, p.zstd_flat.data, p.zstd_flat.len);
	record(&framed, 2, p.round_end.data, p.round_end.len);
	record(&framed, 4, p.vm_state.data, p.vm_state.len);
	record(&framed, 3, p.vcpu[0].data, p.vcpu[0].len);
	record(&framed, 3, p.vcpu[1].data, p.vcpu[1].len);
	record(&framed, 5, p.device[0].data, p.device[0].len);
	record(&framed, 5, p.device[1].data, p.device[1].len);
	record(&framed, 6, p.end.data, p.end.len);
	record(&framed, 11, NULL, 0);
	write_seed(argv[1], "seed-framed", 2, framed.data, framed.len);
	write_seed(argv[1], "seed-config", 3, p.config.data, p.config.len);
	write_seed(argv[1], "seed-ram", 3, p.ram_flat.data, p.ram_flat.len);
	write_seed(argv[1], "seed-ram-delta", 3, p.delta_flat.data, p.delta_flat.len);
	write_seed(argv[1], "seed-ram-zstd", 3, p.zstd_flat.data, p.zstd_flat.len);
	write_seed(argv[1], "seed-reason", 3, p.reason.data, p.reason.len);
	make_blocks(argv[1]);
	make_config_bases(argv[1]);
	return 0;
}
