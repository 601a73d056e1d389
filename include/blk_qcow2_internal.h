/* The qcow2 backend's parts shared by its files (blk_qcow2.c opens and
 * checks an image, blk_qcow2_io.c reads and writes it); nothing else
 * includes this.
 */
#ifndef VMM__BLK_QCOW2_INTERNAL_H
#define VMM__BLK_QCOW2_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "blk_qcow2.h"
#include "fd_io.h"

#define QCOW2_MAGIC		0x514649fbu
#define HDR_V2_LEN		72
#define HDR_V3_LEN		104
#define OFFSET_MASK		0x00fffffffffffe00ull
#define ENTRY_COPIED		(1ull << 63)
#define L2_COMPRESSED		(1ull << 62)
#define L2_ZERO			1ull
#define L1_RESERVED		(0x7f000000000001ffull)
#define L2_RESERVED		(0x3f000000000001feull)
#define INCOMPAT_DIRTY		(1ull << 0)
#define INCOMPAT_CORRUPT	(1ull << 1)
#define INCOMPAT_DATA_FILE	(1ull << 2)
#define INCOMPAT_COMPRESSION	(1ull << 3)
#define INCOMPAT_EXTL2		(1ull << 4)
#define EXT_END			0u
#define EXT_BACKING_FMT		0xe2792acau
#define L2_CACHE_SLOTS		16
/* Table entries kept pending in memory before they are written out on
 * their own (a guest flush, an eviction or close write them sooner): one
 * fdatasync per 4096 allocations costs next to nothing, and a crash
 * leaks at most 4096 clusters (256 MiB with 64 KiB clusters), which
 * `qemu-img check -r leaks` takes back. */
#define PENDING_MAX		4096
#define MAX_TABLE_BYTES		(32ull << 20)
#define MAX_VIRT_SIZE		(1ull << 55)
#define MAX_CHAIN		8
#define BACKING_NAME_MAX	1023

struct l2_slot {
	uint64_t off;			/* 0: empty */
	uint64_t *t;			/* host byte order */
	unsigned int age;
	bool dirty;			/* holds entries not yet on the disk */
};

struct qcow2 {
	char *path;			/* for messages */
	char *back_path;		/* the backing file as opened; NULL: none */
	unsigned int version;
	int fd;
	bool own_fd;
	bool readonly;
	unsigned int cluster_bits;
	uint64_t cluster;
	uint64_t size;
	uint64_t *l1;			/* host byte order */
	uint32_t l1_size;
	uint64_t l1_off;
	uint64_t *reftable;
	uint64_t reftable_entries;
	uint64_t reftable_off;
	uint64_t l2_entries;
	uint64_t rb_entries;
	uint64_t file_end;		/* where the next cluster goes */
	struct l2_slot cache[L2_CACHE_SLOTS];
	unsigned int clock;
	int back_fd;
	uint64_t back_size;
	struct qcow2 *back_q;
	uint8_t *buf;			/* one cluster, for copy-on-write */
	/* Writing pending entries skips the sync before them
	 * (qcow2__set_unordered). */
	bool unordered;
	/* Table entries set in memory (cache slots marked dirty, L1 entries
	 * in [l1_lo, l1_hi)) but not yet on the disk: they go out after an
	 * fdatasync, so a table never points at what the disk lacks. */
	unsigned int pending;
	uint32_t l1_lo, l1_hi;
};


/* blk_qcow2_io.c's steps, for blk_qcow2_map.c. */
int qcow2_get_l2(struct qcow2 *q, uint64_t i, bool alloc, uint64_t **t, uint64_t *t_off);
int qcow2_check_l2(const struct qcow2 *q, uint64_t e);
int qcow2_put_entry(struct qcow2 *q, uint64_t table_off, uint64_t idx, uint64_t v);
/* Sets entry idx of the cached L2 table at t_off (t, as qcow2_get_l2
 * gave it) in memory; the disk gets it with the pending entries. */
void qcow2_set_l2(struct qcow2 *q, uint64_t t_off, uint64_t *t, uint64_t idx, uint64_t v);
/* fdatasync, then every pending entry written out; on failure they stay
 * pending (the next call tries again). */
int qcow2_write_pending(struct qcow2 *q);
/* Sets L1 entry i in memory, pending like an L2 entry. */
void qcow2_set_l1(struct qcow2 *q, uint32_t i, uint64_t v);
/* fdatasync unless unordered. */
int qcow2_barrier(struct qcow2 *q);
/* The L2 table at off through the cache (host byte order). */
int qcow2_load_l2(struct qcow2 *q, uint64_t off, uint64_t **out);
int qcow2_read_backing(struct qcow2 *q, uint64_t off, void *buf, size_t len);
/* Bytes the backing chain holds (0: no backing file). */
uint64_t qcow2_backing_size(const struct qcow2 *q);
/* One piece inside a cluster, allocating (copy-on-write) as needed. */
int qcow2_write_piece(struct qcow2 *q, uint64_t off, const uint8_t *buf, size_t len);

#endif
