/* The destination's ledger of a forward stream: which sections arrived,
 * checked against what CONFIG announced and what ROUND_END and END count.
 * It decides whether the stream is well formed and complete; it stores
 * nothing of the VM (incoming.c and vm_sections.c do that), so it runs
 * without KVM and the fuzzer drives it directly.
 *
 * Each forward section after CONFIG goes through stream_ledger__take
 * before its payload is used. It refuses:
 *   - a RAM section whose round is not the one open (rounds are numbered
 *     from 0 and closed by ROUND_END in order);
 *   - a ROUND_END whose round, page count or RAM byte count differs from
 *     what the stream carried in that round (a RAM section lost or added);
 *   - an END whose round count or page total differs, that follows RAM
 *     not closed by ROUND_END, or that comes before any round;
 *   - VM_STATE twice; a VCPU section for a vCPU CONFIG does not have, or
 *     for one vCPU twice; a DEVICE section for a device CONFIG did not
 *     announce, for one device twice, or with another state version than
 *     CONFIG announced;
 *   - at END, the VM_STATE, a vCPU's or a device's state still missing
 *     (the first one missing is named);
 *   - GO (the source's word to run the guest) unless END was taken and
 *     found complete;
 *   - a BLOCK section when CONFIG announced no block-migrated drive, or
 *     whose round is not the open one; a ROUND_END or END whose count of
 *     BLOCK sections differs from what the stream carried (a BLOCK
 *     section lost or added; blk_dest compares the data bytes).
 * Names from the stream appear in messages escaped (stream__escape).
 */
#ifndef VMM__STREAM_LEDGER_H
#define VMM__STREAM_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream.h"
#include "vm_config.h"

struct stream_ledger {
	const struct vm_config *cfg;	/* the stream's CONFIG, decoded */
	uint32_t rounds;		/* ROUND_ENDs taken: the open round */
	uint64_t round_sections;	/* RAM sections of the open round */
	uint64_t round_pages;
	uint64_t round_bytes;		/* framing included, as ROUND_END counts */
	uint64_t total_pages;
	uint64_t round_blocks;		/* BLOCK sections of the open round */
	uint64_t total_blocks;		/* of the closed rounds */
	bool have_vm_state;
	uint32_t devices_seen;		/* bit i: CONFIG's device i */
	uint64_t vcpus_seen[(VM_CONFIG_MAX_CPUS + 63) / 64];
	bool ended;			/* END taken and found complete */
	bool go;			/* GO taken: the guest may run */
};

void stream_ledger__init(struct stream_ledger *l, const struct vm_config *cfg);
/* Takes one forward section that follows CONFIG. Returns 0, or -EPROTO
 * (out of place, repeated, missing something) or -EBADMSG (a payload too
 * malformed to identify) with err naming the problem. */
int stream_ledger__take(struct stream_ledger *l, const struct section *sec, char *err,
			size_t errlen);

#endif
