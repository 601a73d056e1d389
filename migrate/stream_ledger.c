#include "stream_ledger.h"

#include <errno.h>
#include <string.h>

#include "blk_section.h"
#include "errmsg.h"

/* What a RAM section costs on the wire, as the source counts it in
 * ROUND_END: header, payload, checksum. */
#define SECTION_OVERHEAD (STREAM_HEADER_LEN + STREAM_TRAILER_LEN)

void stream_ledger__init(struct stream_ledger *l, const struct vm_config *cfg)
{
	memset(l, 0, sizeof(*l));
	l->cfg = cfg;
}

/* A section belongs to the open round: the stream's rounds come in
 * order, each closed by its ROUND_END. */
static int check_round(const struct stream_ledger *l, const char *what, uint32_t round,
		       char *err, size_t errlen)
{
	if (round == l->rounds)
		return 0;
	errmsg__set(err, errlen, "%s %u while round %u is open", what, round, l->rounds);
	return -EPROTO;
}

static int take_ram(struct stream_ledger *l, const struct section *sec, char *err,
		    size_t errlen)
{
	int ret;

	if (sec->len < RAM_BATCH_HEADER_LEN) {
		errmsg__set(err, errlen,
			     "RAM batch: payload of %llu bytes is shorter than its %d-byte header",
			     (unsigned long long)sec->len, RAM_BATCH_HEADER_LEN);
		return -EBADMSG;
	}
	ret = check_round(l, "RAM section of round", wire__get_le32(sec->payload), err, errlen);
	if (ret)
		return ret;
	/* The table is checked against the payload by ram_batch__check,
	 * which runs next; a batch it refuses fails the stream anyway. */
	l->round_sections++;
	l->round_pages += ram_batch__pages(sec->payload, sec->head_len);
	l->round_bytes += sec->len + SECTION_OVERHEAD;
	return 0;
}

/* Only the round here (offset 20, FORMAT.md's BLOCK payload): blk_dest
 * checks the rest before it writes a byte. */
static int take_block(struct stream_ledger *l, const struct section *sec, char *err,
		      size_t errlen)
{
	int ret;

	if (!l->cfg->nr_block_drives) {
		errmsg__set(err, errlen, "BLOCK section, but CONFIG announced no block-migrated drive");
		return -EPROTO;
	}
	if (sec->len < BLK_SECTION_HDR) {
		errmsg__set(err, errlen, "BLOCK section: payload of %llu bytes is shorter than its %d-byte header",
			     (unsigned long long)sec->len, BLK_SECTION_HDR);
		return -EBADMSG;
	}
	ret = check_round(l, "BLOCK section of round", wire__get_le32(sec->payload + 20),
			  err, errlen);
	if (ret)
		return ret;
	l->round_blocks++;
	return 0;
}

static int take_round_end(struct stream_ledger *l, const struct section *sec, char *err,
			  size_t errlen)
{
	struct round_end_msg m;
	int ret;

	ret = stream_msg__decode_round_end(sec->payload, sec->len, &m, err, errlen);
	if (ret)
		return ret;
	ret = check_round(l, "ROUND_END for round", m.round, err, errlen);
	if (ret)
		return ret;
	if (m.block_sections != l->round_blocks) {
		errmsg__set(err, errlen,
			     "round %u: ROUND_END counts %llu BLOCK sections, the stream carried %llu (a BLOCK section is missing or extra)",
			     m.round, (unsigned long long)m.block_sections,
			     (unsigned long long)l->round_blocks);
		return -EPROTO;
	}
	if (m.pages != l->round_pages || m.bytes != l->round_bytes) {
		errmsg__set(err, errlen,
			     "round %u: ROUND_END counts %llu pages in %llu bytes, the stream carried %llu pages in %llu bytes (a RAM section is missing or extra)",
			     m.round, (unsigned long long)m.pages, (unsigned long long)m.bytes,
			     (unsigned long long)l->round_pages,
			     (unsigned long long)l->round_bytes);
		return -EPROTO;
	}
	l->total_pages += l->round_pages;
	l->total_blocks += l->round_blocks;
	l->rounds++;
	l->round_sections = l->round_pages = l->round_bytes = l->round_blocks = 0;
	return 0;
}

static bool vcpu_seen(const struct stream_ledger *l, uint32_t i)
{
	return l->vcpus_seen[i / 64] & (1ull << (i % 64));
}

static int take_vcpu(struct stream_ledger *l, const struct section *sec, char *err,
		     size_t errlen)
{
	uint32_t idx;

	if (sec->len < 4) {
		errmsg__set(err, errlen, "VCPU section: payload of %llu bytes has no vCPU index",
			     (unsigned long long)sec->len);
		return -EBADMSG;
	}
	idx = wire__get_le32(sec->payload);
	if (idx >= l->cfg->nr_cpus || vcpu_seen(l, idx)) {
		errmsg__set(err, errlen, "VCPU section for vCPU %u: %s", idx,
			     idx >= l->cfg->nr_cpus ? "no such vCPU" : "sent twice");
		return -EPROTO;
	}
	l->vcpus_seen[idx / 64] |= 1ull << (idx % 64);
	return 0;
}

static int find_device(const struct vm_config *cfg, const uint8_t *name, size_t n)
{
	uint32_t i;

	for (i = 0; i < cfg->nr_devices && i < VM_CONFIG_MAX_DEVICES; i++)
		if (strnlen(cfg->devices[i].name, VM_CONFIG_NAME_LEN) == n &&
		    !memcmp(cfg->devices[i].name, name, n))
			return (int)i;
	return -1;
}

static int take_device(struct stream_ledger *l, const struct section *sec, char *err,
		       size_t errlen)
{
	char shown[4 * VM_CONFIG_NAME_LEN + 8];
	const uint8_t *name;
	uint32_t version;
	struct rbuf r;
	uint16_t n;
	int i;

	rbuf__init(&r, sec->payload, sec->len);
	n = rbuf__get_u16(&r);
	name = rbuf__get_span(&r, n);
	version = rbuf__get_u32(&r);
	if (r.err) {
		errmsg__set(err, errlen, "DEVICE section: malformed header");
		return -EBADMSG;
	}
	/* Escaped, cut to a name's length and a bit: enough to recognise. */
	stream__escape(name, n < VM_CONFIG_NAME_LEN ? n : VM_CONFIG_NAME_LEN, shown,
		       sizeof(shown));
	i = find_device(l->cfg, name, n);
	if (i < 0) {
		errmsg__set(err, errlen, "state for device %s%s, which CONFIG did not announce",
			     shown, n > VM_CONFIG_NAME_LEN ? "..." : "");
		return -EPROTO;
	}
	if (l->devices_seen & (1u << i)) {
		errmsg__set(err, errlen, "device %s: state sent twice", shown);
		return -EPROTO;
	}
	if (version != l->cfg->devices[i].version) {
		errmsg__set(err, errlen, "device %s: state version %u, CONFIG announced %u",
			     shown, version, l->cfg->devices[i].version);
		return -EPROTO;
	}
	l->devices_seen |= 1u << i;
	return 0;
}

/* At END: everything CONFIG promised has arrived. */
static int check_state_complete(const struct stream_ledger *l, char *err, size_t errlen)
{
	char shown[4 * VM_CONFIG_NAME_LEN];
	uint32_t i;

	if (!l->have_vm_state) {
		errmsg__set(err, errlen, "stream ended without the VM_STATE section");
		return -EPROTO;
	}
	for (i = 0; i < l->cfg->nr_cpus; i++) {
		if (!vcpu_seen(l, i)) {
			errmsg__set(err, errlen, "stream ended without vCPU %u's state", i);
			return -EPROTO;
		}
	}
	for (i = 0; i < l->cfg->nr_devices && i < VM_CONFIG_MAX_DEVICES; i++) {
		if (!(l->devices_seen & (1u << i))) {
			stream__escape(l->cfg->devices[i].name,
				       strnlen(l->cfg->devices[i].name, VM_CONFIG_NAME_LEN),
				       shown, sizeof(shown));
			errmsg__set(err, errlen, "stream ended without device %s's state", shown);
			return -EPROTO;
		}
	}
	return 0;
}

static int take_end(struct stream_ledger *l, const struct section *sec, char *err,
		    size_t errlen)
{
	struct end_msg m;
	int ret;

	ret = stream_msg__decode_end(sec->payload, sec->len, &m, err, errlen);
	if (ret)
		return ret;
	if (l->round_sections || l->round_blocks) {
		errmsg__set(err, errlen, "END while round %u is open (%llu RAM and %llu BLOCK sections without ROUND_END)",
			     l->rounds, (unsigned long long)l->round_sections,
			     (unsigned long long)l->round_blocks);
		return -EPROTO;
	}
	if (!l->rounds) {
		errmsg__set(err, errlen, "END before any ROUND_END: the stream has no stop-and-copy round");
		return -EPROTO;
	}
	if (m.rounds != l->rounds || m.total_pages != l->total_pages) {
		errmsg__set(err, errlen,
			     "END counts %u rounds and %llu pages, the stream carried %u rounds and %llu pages",
			     m.rounds, (unsigned long long)m.total_pages, l->rounds,
			     (unsigned long long)l->total_pages);
		return -EPROTO;
	}
	if (m.block_sections != l->total_blocks) {
		errmsg__set(err, errlen, "END counts %llu BLOCK sections, the stream carried %llu",
			     (unsigned long long)m.block_sections,
			     (unsigned long long)l->total_blocks);
		return -EPROTO;
	}
	ret = check_state_complete(l, err, errlen);
	if (!ret)
		l->ended = true;
	return ret;
}

int stream_ledger__take(struct stream_ledger *l, const struct section *sec, char *err,
			size_t errlen)
{
	switch (sec->type) {
	case SECTION_RAM:
		return take_ram(l, sec, err, errlen);
	case SECTION_ROUND_END:
		return take_round_end(l, sec, err, errlen);
	case SECTION_BLOCK:
		return take_block(l, sec, err, errlen);
	case SECTION_VM_STATE:
		if (l->have_vm_state) {
			errmsg__set(err, errlen, "VM_STATE section sent twice");
			return -EPROTO;
		}
		l->have_vm_state = true;
		return 0;
	case SECTION_VCPU:
		return take_vcpu(l, sec, err, errlen);
	case SECTION_DEVICE:
		return take_device(l, sec, err, errlen);
	case SECTION_END:
		return take_end(l, sec, err, errlen);
	case SECTION_GO:
		/* The framing already keeps GO after END; the ledger also
		 * wants END to have been complete, so that a guest runs only
		 * from a stream found whole. */
		if (!l->ended) {
			errmsg__set(err, errlen, "GO before a complete END");
			return -EPROTO;
		}
		if (sec->len) {
			errmsg__set(err, errlen, "section GO: payload is %llu bytes, must be 0",
				     (unsigned long long)sec->len);
			return -EBADMSG;
		}
		l->go = true;
		return 0;
	default:
		errmsg__set(err, errlen, "unexpected %s section after CONFIG",
			     stream__type_name(sec->type));
		return -EPROTO;
	}
}
