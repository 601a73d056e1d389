/* The destination side: receive a VM from a stream (tcp: from a live
 * source, file: from a saved snapshot), build it, load its state, and
 * report back once the guest runs here.
 */
#ifndef VMM__INCOMING_H
#define VMM__INCOMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "file_layout.h"
#include "migrate_stats.h"
#include "stream.h"
#include "transport.h"

struct guest_memory;

struct auth_secret;
struct tls_creds;
struct board_drive;
struct vm;
struct line_stamp;
struct blk_dest;
struct drive_config;
struct drive_dir;
struct round_end_msg;
struct section;
struct vm_config;

#define INCOMING_MAX_ALLOW 8
/* Bad peers (a wrong or missing secret, junk, a connect-and-close, 10 s
 * of silence) turned away before the destination gives up. */
#define INCOMING_MAX_FAILED 10

struct incoming {
	struct migrate_uri uri;
	int listen_fd;			/* tcp: the listening socket */
	int fd;				/* the stream */
	struct stream s;
	uint64_t want_ram;		/* 0 = take the stream's */
	unsigned int want_cpus;		/* 0 = take the stream's */
	uint32_t dirty_ring_entries;	/* the VM built here: --dirty-ring */
	/* --mem-prealloc: its RAM, made and allocated before listening; the
	 * VM built here takes it (vm_options.ram_premapped). NULL: none. */
	struct guest_memory *ram_premapped;
	struct migrate_stats stats;	/* this side's view */
	char peer[128];			/* "ADDR:PORT" of the source */
	/* Numeric addresses a source may connect from; none = anyone. */
	const char *allow[INCOMING_MAX_ALLOW];
	unsigned int nr_allow;
	/* Stamps the UART's output with host time when set (see board.h). */
	struct line_stamp *serial_stamp;
	/* The secret a source must prove (and this side proves back);
	 * NULL or empty: none. Outlives the struct. */
	const struct auth_secret *secret;
	/* x509 credentials (--tls-creds), or NULL: they key TLS and let
	 * the listener reach beyond loopback. Outlive the struct. */
	const struct tls_creds *creds;
	/* Refuse a guest with more RAM than this (0 = no limit); the
	 * origin names the limit in the refusal ("--max-mem"). */
	uint64_t max_ram;
	const char *max_ram_origin;
	unsigned int failed;		/* bad peers turned away so far */
	/* The --drive images, opened before the sandbox: the VM built here
	 * gets them (shared storage: the source's images, synced). */
	const struct board_drive *drives;
	unsigned int nr_drives;
	/* Their --drive options (paths, formats), in the same order. */
	const struct drive_config *drive_cfgs;
	/* --drive-dir (or NULL): with no --drive, the images a block
	 * migration copies are created there and become drives and
	 * drive_cfgs above. */
	struct drive_dir *drive_dir;
	/* Block migration (incoming_blk.c): the images written from the
	 * stream's BLOCK sections, when CONFIG announces them; NULL else. */
	struct blk_dest *blk;
	uint8_t *blk_buf;		/* a payload copied so its data is aligned */
	/* An eventfd, readable once incoming__cancel was called: every
	 * wait (accept, each read and write) polls it. -1 before prepare. */
	int cancel_fd;
	/* file: a saved file with pages at fixed offsets (incoming_file.c):
	 * its RAM region's fd (O_DIRECT where it could; -1: none), header,
	 * bitmap and page checksums, all checked before the VM is built. */
	int ram_fd;
	bool mapped;
	struct file_layout layout;
	uint8_t *bitmap;
	uint8_t *crcs;
};

/* incoming_file.c, for incoming.c. Opens the RAM fd beside the stream's
 * (before privileges drop); a FIFO has none. */
int incoming_file__open(struct incoming *in, char *err, size_t errlen);
/* Reads and checks the header and the tables of a mapped file and moves
 * the stream to its state region; an older sequential file is left as it
 * is (in->mapped false). */
int incoming_file__probe(struct incoming *in, char *err, size_t errlen);
/* The header's RAM must be CONFIG's. */
int incoming_file__check_config(struct incoming *in, uint64_t ram_size, char *err,
				size_t errlen);
/* Reads the RAM region into guest memory at base, every page checked. */
int incoming_file__load(struct incoming *in, uint8_t *base, char *err, size_t errlen);
void incoming_file__close(struct incoming *in);

/* incoming_blk.c, for incoming.c (each a no-op without block migration).
 * check: CONFIG's block-migrated drives against this side's --drive
 * images, or the images it creates in --drive-dir (as many, raw,
 * writable, at least the source's size), refused
 * with the reason before anything is written; section writes one BLOCK
 * section; end_round compares a ROUND_END's block counts; sync makes the
 * images durable before READY. */
int incoming_blk__check(struct incoming *in, const struct vm_config *cfg, char *err,
			size_t errlen);
int incoming_blk__section(struct incoming *in, const struct section *sec, char *err,
			  size_t errlen);
int incoming_blk__end_round(struct incoming *in, const struct round_end_msg *m, char *err,
			    size_t errlen);
int incoming_blk__sync(struct incoming *in, char *err, size_t errlen);
void incoming_blk__free(struct incoming *in);

/* Parses the URI and opens the listening socket or the file: done before
 * privileges are dropped. Without a secret or creds a tcp: listener binds
 * to loopback only (and says so) unless insecure is set, which warns
 * instead. With creds (--tls-creds, loaded: they must outlive in) a tcp:
 * URI runs TLS as tls: does, keyed by the certificates. */
int incoming__prepare(struct incoming *in, const char *uri, const struct auth_secret *secret,
		      const struct tls_creds *creds, bool insecure, char *err, size_t errlen);
/* Accepts the source (over TCP: turning bad peers away, see
 * INCOMING_MAX_FAILED), receives everything and builds vm (created here
 * with serial_out_fd for its UART) with all its state loaded; the vCPUs
 * are not started. Over TCP it then answers READY and returns only once
 * the source's GO has arrived: without GO (the source gave up, the link
 * broke, 60 s passed) the VM is destroyed, err says so, and the guest
 * must not run here. On failure the source is told why. */
int incoming__receive(struct incoming *in, int kvm_fd, int serial_out_fd, struct vm *vm,
		      char *err, size_t errlen);
/* After the vCPUs run: RESUMED, telling the source it may let go of the
 * guest. A failure to send it changes nothing here (after GO the guest is
 * this side's): the message says the source is left paused. */
int incoming__ack_resumed(struct incoming *in, char *err, size_t errlen);
/* Ends the receive from any thread: the wait for a source, or the
 * transfer under way (the source is told, and keeps its guest), or, after
 * GO, the start (FAILED instead of RESUMED, so the source resumes its
 * guest). incoming__receive then fails with -ECANCELED. */
void incoming__cancel(struct incoming *in);
/* Tells the source the migration failed here (best effort). */
void incoming__report_failure(struct incoming *in, const char *reason);
void incoming__close(struct incoming *in);

#endif
