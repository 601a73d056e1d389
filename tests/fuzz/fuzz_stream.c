/* libFuzzer target for everything that reads bytes from a peer: the
 * preamble, section framing, the payload decoders (CONFIG, RAM,
 * ROUND_END, END, REFUSE/FAILED, VCPU, VM_STATE), the destination's
 * ledger (every forward section after a decoded CONFIG, as incoming.c
 * feeds it), plus the compatibility check fed with whatever configuration
 * decoded.
 *
 * The first input byte picks how the rest is used:
 *   0: a raw forward stream, read by a destination
 *   1: a raw return path, read by a source
 *   2: records (u8 type, u16 length, payload) that the harness frames
 *      with a good preamble and correct checksums, so mutations reach the
 *      payload decoders and the ordering rules instead of dying at the CRC
 *   3: the payload decoders called directly on the rest
 * Properties checked besides "no crash": a CONFIG that decodes encodes
 * back to the same bytes, and so do ROUND_END and END.
 *
 * A destination reads RAM sections as incoming.c does (stream 3.2): the
 * head with stream__recv_head, the ledger, then ram_recv__section, which
 * checks the entry table and reads the pages into "guest memory" (here a
 * scratch area every gpa maps into) and the delta area, applies XBZRLE
 * deltas, and ram_recv__check_end at END.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blk_section.h"
#include "cpu_state.h"
#include "crc32c.h"
#include "ram_recv.h"
#include "stream.h"
#include "stream_ledger.h"
#include "vm_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint32_t all_types[] = {
	SECTION_CONFIG, SECTION_RAM, SECTION_ROUND_END, SECTION_VCPU,
	SECTION_VM_STATE, SECTION_DEVICE, SECTION_END, SECTION_ACCEPT,
	SECTION_REFUSE, SECTION_RESUMED, SECTION_FAILED, SECTION_GO,
	SECTION_READY,
};

static struct vm_config cfg, reencoded_check;
static struct kvm_cpuid2 *host, *host_all;
static struct vm_host vm_host;
static struct stream_ledger ledger;
static bool have_ledger;
static struct vcpu_state vcpu;
static struct vm_state vms;
static int memfd = -1;
static struct ram_recv rr;
static bool have_rr;
/* Any guest page lands here: gpa's page number modulo SCRATCH_PAGES. */
#define SCRATCH_PAGES 1024
static uint8_t scratch[SCRATCH_PAGES * RAM_PAGE_SIZE];

static uint8_t *scratch_hva(void *ctx, uint64_t gpa)
{
	(void)ctx;
	return scratch + ((gpa / RAM_PAGE_SIZE) % SCRATCH_PAGES) * RAM_PAGE_SIZE;
}

/* The destination's page record for the configuration in force. */
static void reset_rr(void)
{
	if (have_rr)
		ram_recv__free(&rr);
	have_rr = !ram_recv__init(&rr, &cfg, scratch_hva, NULL);
}

/* A host that offers every bit of every leaf the check compares. */
static struct kvm_cpuid2 *make_host_all(void)
{
	static const uint32_t leaves[][2] = {
		{ 1, 0 }, { 7, 0 }, { 0xd, 0 }, { 0x80000001, 0 } };
	struct kvm_cpuid2 *h;
	uint32_t i;

	h = calloc(1, sizeof(*h) + 4 * sizeof(struct kvm_cpuid_entry2));
	if (!h)
		abort();
	h->nent = 4;
	for (i = 0; i < 4; i++) {
		h->entries[i].function = leaves[i][0];
		h->entries[i].index = leaves[i][1];
		h->entries[i].flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		h->entries[i].eax = h->entries[i].ebx = 0xffffffff;
		h->entries[i].ecx = h->entries[i].edx = 0xffffffff;
	}
	return h;
}

static void setup(void)
{
	if (memfd >= 0)
		return;
	memfd = memfd_create("fuzz_stream", 0);
	if (memfd < 0)
		abort();
	/* A host offering leaves 1 and 7 with some features. */
	host = calloc(1, sizeof(*host) + 2 * sizeof(struct kvm_cpuid_entry2));
	if (!host)
		abort();
	host->nent = 2;
	host->entries[0].function = 1;
	host->entries[0].ecx = 0x7ffaf3ff;
	host->entries[0].edx = 0x1789fbff;
	host->entries[1].function = 7;
	host->entries[1].flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
	host->entries[1].ebx = 0x219c07ab;
	host_all = make_host_all();
}

/* The layout of the configuration being checked: a host that builds
 * exactly what the source has. */
static const struct vm_config *layout_of;

static int same_layout(uint64_t ram_size, struct vm_config_slot *slots, uint32_t *nr_slots)
{
	uint32_t i;

	if (ram_size != layout_of->ram_size)
		return -EINVAL;
	for (i = 0; i < layout_of->nr_slots; i++)
		slots[i] = layout_of->slots[i];
	*nr_slots = layout_of->nr_slots;
	return 0;
}

/* The compatibility check against a host built for this very
 * configuration that has every feature must pass; against altered hosts it
 * must not crash. */
static void check_compat(const struct vm_config *c)
{
	char err[512];
	uint32_t i;

	memset(&vm_host, 0, sizeof(vm_host));
	layout_of = c;
	vm_host.cpuid = host_all;
	vm_host.layout = same_layout;
	vm_host.max_cpus = VM_CONFIG_MAX_CPUS;
	vm_host.nr_devices = c->nr_devices;
	for (i = 0; i < c->nr_devices; i++)
		vm_host.devices[i] = c->devices[i];
	if (vm_config__check_compat(c, &vm_host, err, sizeof(err)))
		abort();
	vm_host.cpuid = host;
	vm_config__check_compat(c, &vm_host, err, sizeof(err));
	if (vm_host.nr_devices) {
		vm_host.devices[0].version--;
		vm_host.devices[vm_host.nr_devices - 1].name[0] ^= 1;
	}
	vm_host.ram_size = c->ram_size + 4096;
	vm_host.nr_cpus = c->nr_cpus + 1;
	vm_host.max_cpus = 1;
	snprintf(vm_host.missing_caps, sizeof(vm_host.missing_caps), "KVM_CAP_XSAVE");
	vm_config__check_compat(c, &vm_host, err, sizeof(err));
	vm_config__check_compat(c, &vm_host, err, 7);
	layout_of = &cfg;
	vm_config__check_compat(c, &vm_host, err, sizeof(err));
}

/* The fallback layout for RAM batches when no CONFIG decoded. */
static void default_cfg(void)
{
	vm_config__init(&cfg);
	cfg.ram_size = 2 << 20;
	cfg.nr_slots = 2;
	cfg.slots[0].size = 1 << 20;
	cfg.slots[1].gpa = 1ull << 32;
	cfg.slots[1].size = 1 << 20;
	cfg.nr_cpus = 1;
}

static int touch_page(void *ctx, uint64_t gpa, const uint8_t *data, bool torn)
{
	volatile uint8_t sum = 0;
	size_t i;

	/* Reading every byte lets ASan catch a page that is not all there. */
	if (data)
		for (i = 0; i < RAM_PAGE_SIZE; i++)
			sum += data[i];
	(void)sum;
	(void)torn;
	return gpa == 0xdead000 ? -5 : 0;
}

static void check_config(const uint8_t *p, size_t len)
{
	struct rbuf r;
	struct wbuf w;
	char err[512];

	rbuf__init(&r, p, len);
	if (vm_config__decode(&reencoded_check, &r, err, sizeof(err)))
		return;
	/* The encoding is canonical: what decoded must encode identically. */
	wbuf__init(&w);
	if (vm_config__encode(&reencoded_check, &w) || w.len != len ||
	    memcmp(w.data, p, len))
		abort();
	wbuf__free(&w);
	check_compat(&reencoded_check);
	cfg = reencoded_check;
	/* Later sections of this stream go through a ledger of this CONFIG. */
	stream_ledger__init(&ledger, &cfg);
	have_ledger = true;
	reset_rr();
}

static void check_small(uint32_t type, const uint8_t *p, size_t len)
{
	struct round_end_msg re;
	struct end_msg e;
	struct wbuf w;
	char err[256], reason[64];

	wbuf__init(&w);
	if (type == SECTION_ROUND_END &&
	    !stream_msg__decode_round_end(p, len, &re, err, sizeof(err))) {
		stream_msg__encode_round_end(&w, &re);
		if (w.len != len || memcmp(w.data, p, len))
			abort();
	}
	if (type == SECTION_END &&
	    !stream_msg__decode_end(p, len, &e, err, sizeof(err))) {
		stream_msg__encode_end(&w, &e);
		if (w.len != len || memcmp(w.data, p, len))
			abort();
	}
	if (type == SECTION_REFUSE || type == SECTION_FAILED)
		stream_msg__decode_reason(p, len, reason, sizeof(reason), err,
					  sizeof(err));
	wbuf__free(&w);
}

/* VCPU (after its index) and VM_STATE: decoded as the destination does. */
static void check_state(uint32_t type, const uint8_t *p, size_t len)
{
	struct rbuf r;
	char err[256];

	rbuf__init(&r, p, len);
	if (type == SECTION_VM_STATE) {
		vm_state__decode(&vms, &r, err, sizeof(err));
	} else {
		rbuf__get_u32(&r);
		vcpu_state__decode(&vcpu, &r, err, sizeof(err));
	}
}

static void decode_payload(uint32_t type, const uint8_t *p, size_t len)
{
	struct ram_batch_info info;
	char err[256];

	if (type == SECTION_CONFIG)
		check_config(p, len);
	else if (type == SECTION_RAM)
		ram_batch__decode(p, len, &cfg, touch_page, NULL, &info, err,
				  sizeof(err));
	else if (type == SECTION_VCPU || type == SECTION_VM_STATE)
		check_state(type, p, len);
	else
		check_small(type, p, len);
}

/* The destination's order: the ledger first, the payload only if it
 * passed; the first refusal ends the stream, as in incoming.c. */
static int take_forward(struct stream *s, struct section *sec)
{
	struct ram_batch_info info;
	char err[512];

	if (sec->type != SECTION_CONFIG && have_ledger &&
	    stream_ledger__take(&ledger, sec, err, sizeof(err)))
		return -1;
	if (sec->type == SECTION_RAM) {
		if (!have_rr || ram_recv__section(&rr, s, sec, &info, err, sizeof(err)))
			return -1;
		if (info.nr_torn > info.nr_data || rr.torn_now > rr.nr_pages ||
		    info.nr_zero + info.nr_data + info.nr_delta + info.nr_zstd + info.nr_run !=
			    info.count ||
		    info.pages < info.count || info.zero_pages > info.pages)
			abort();
		return 0;
	}
	if (sec->type == SECTION_END && have_rr && ram_recv__check_end(&rr, err, sizeof(err)))
		return -1;
	decode_payload(sec->type, sec->payload, sec->len);
	/* END is taken only when everything it counts arrived. */
	if (sec->type == SECTION_END && have_ledger && !ledger.ended)
		abort();
	/* And GO, which runs the guest, only after such an END. */
	if (sec->type == SECTION_GO && have_ledger && !(ledger.ended && ledger.go))
		abort();
	return 0;
}

static void read_stream(const uint8_t *p, size_t len, enum stream_role role)
{
	struct stream s;
	struct section sec;
	char err[256];

	if (ftruncate(memfd, 0) || pwrite(memfd, p, len, 0) != (ssize_t)len ||
	    lseek(memfd, 0, SEEK_SET))
		abort();
	default_cfg();
	have_ledger = false;
	reset_rr();
	stream__init(&s, memfd, role);
	section__init(&sec);
	if (!stream__read_preamble(&s, err, sizeof(err)))
		while (role == STREAM_DEST ? !stream__recv_head(&s, &sec, err, sizeof(err)) :
		       !stream__recv(&s, &sec, err, sizeof(err)))
			if (role == STREAM_DEST ? take_forward(&s, &sec) :
			    (decode_payload(sec.type, sec.payload, sec.len), 0))
				break;
	section__free(&sec);
}

/* Mode 2: frame records into a stream with correct checksums. */
static void framed(const uint8_t *p, size_t len)
{
	enum stream_role role = len && (p[0] & 1) ? STREAM_SOURCE : STREAM_DEST;
	struct wbuf w;
	uint8_t head[STREAM_HEADER_LEN], tail[STREAM_TRAILER_LEN];
	size_t pos = 1, n;
	uint32_t type, crc;
	size_t covered;

	wbuf__init(&w);
	wbuf__put_bytes(&w, STREAM_MAGIC, STREAM_MAGIC_LEN);
	wbuf__put_u16(&w, STREAM_VERSION_MAJOR);
	wbuf__put_u16(&w, STREAM_VERSION_MINOR);
	wbuf__put_u32(&w, 0);
	while (pos + 3 <= len) {
		type = all_types[p[pos] % (sizeof(all_types) / sizeof(all_types[0]))];
		n = p[pos + 1] | (size_t)p[pos + 2] << 8;
		pos += 3;
		if (n > len - pos)
			n = len - pos;
		wire__le32(head, type);
		wire__le32(head + 4, 0);
		wire__le64(head + 8, n);
		/* RAM's checksum leaves the pages out (FORMAT.md). */
		covered = n;
		if (type == SECTION_RAM && n >= RAM_BATCH_HEADER_LEN &&
		    RAM_BATCH_HEADER_LEN + (uint64_t)wire__get_le32(p + pos + 4) * RAM_ENTRY_LEN <= n)
			covered = RAM_BATCH_HEADER_LEN + (size_t)wire__get_le32(p + pos + 4) * RAM_ENTRY_LEN;
		crc = crc32c__extend(0, head, sizeof(head));
		crc = crc32c__extend(crc, p + pos, covered);
		wire__le32(tail, crc);
		wbuf__put_bytes(&w, head, sizeof(head));
		wbuf__put_bytes(&w, p + pos, n);
		wbuf__put_bytes(&w, tail, sizeof(tail));
		pos += n;
	}
	if (!w.err)
		read_stream(w.data, w.len, role);
	wbuf__free(&w);
}

/* The BLOCK payload (not in the stream yet): two drives, one of them
 * sized so ranges can end exactly at, or just past, its end. */
static void decode_block(const uint8_t *p, size_t len)
{
	static const uint64_t sizes[2] = { 64ULL << 20, 4096 };
	struct blk_extent e;
	const uint8_t *data;
	char err[256];

	if (!blk_section__decode(p, len, sizes, 2, &e, &data, err, sizeof(err)) &&
	    (e.drive >= 2 || e.offset + e.len > sizes[e.drive] ||
	     (!e.hole && data + e.len != p + len)))
		abort();
}

static void direct(const uint8_t *p, size_t len)
{
	size_t i;

	default_cfg();
	for (i = 0; i < sizeof(all_types) / sizeof(all_types[0]); i++)
		decode_payload(all_types[i], p, len);
	decode_block(p, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	setup();
	switch (data[0] & 3) {
	case 0:
		read_stream(data + 1, size - 1, STREAM_DEST);
		break;
	case 1:
		read_stream(data + 1, size - 1, STREAM_SOURCE);
		break;
	case 2:
		framed(data + 1, size - 1);
		break;
	default:
		direct(data + 1, size - 1);
		break;
	}
	return 0;
}
