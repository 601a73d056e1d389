/* vmm's command line: what the user asked for, checked up front so every
 * mistake is reported before anything is set up. */
#ifndef VMM__OPTIONS_H
#define VMM__OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "drive.h"
#include "incoming.h"
#include "multiboot.h"

struct options {
	uint64_t ram_size;
	bool ram_given;
	bool mem_prealloc;		/* --mem-prealloc: RAM allocated at start */
	unsigned int nr_cpus;
	bool cpus_given;
	const char *serial;		/* stdio, none or file:PATH, without ,timestamps */
	bool serial_timestamps;		/* ,timestamps: host time on every line */
	char serial_buf[4096];		/* serial's text when the suffix was cut */
	const char *monitor;
	const char *qmp;
	const char *initrd[MULTIBOOT_MAX_MODULES];
	unsigned int nr_initrd;
	struct drive_config drives[DRIVE_MAX];
	unsigned int nr_drives;
	const char *drive_dir;		/* --drive-dir DIR, or NULL */
	const char *guest;
	char cmdline[MULTIBOOT_CMDLINE_MAX];
	const char *incoming;
	const char *incoming_allow[INCOMING_MAX_ALLOW];
	unsigned int nr_incoming_allow;
	const char *secret_file;	/* --secret-file PATH, or NULL */
	const char *tls_creds;		/* --tls-creds DIR, or NULL */
	bool insecure;			/* --insecure: listen beyond loopback without one */
	uint64_t max_mem;		/* --max-mem; 0 = the host's MemAvailable */
	const char *migrate_to;
	uint64_t migrate_after_us;
	bool migrate_after_given;
	const char *stats_json;
	const char *stats_csv;
	bool plain_dirty_log;
	uint32_t dirty_ring_entries;	/* --dirty-ring; 0 = the bitmap */
	bool paused;
	const char *runas;		/* --runas USER, or NULL */
	const char *jail;		/* --jail DIR, or NULL */
	bool sandbox;			/* --sandbox on (the default) */
};

/* Fills o from argv. Returns -1 when vmm should go on, or the exit status
 * to end with at once (0 after --help/--version, 1 after an error, which
 * has been printed with a hint). */
int options__parse(struct options *o, int argc, char **argv);

#endif
