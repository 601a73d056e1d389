#include "options.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "guest_memory.h"
#include "log.h"
#include "parse.h"
#include "transport.h"
#include "vm.h"

#define DEFAULT_RAM (256ULL << 20)


static void usage(FILE *f)
{
	fprintf(f,
"usage: vmm [options] GUEST.elf [-- key=value ...]\n"
"       vmm [options] --incoming tcp:HOST:PORT | tls:HOST:PORT | file:PATH\n"
"\n"
"Boots a multiboot v1 ELF guest on KVM, or receives a running one by live\n"
"migration. The words after -- are the guest's command line. Exit status:\n"
"the value the guest writes to port 0xf4, or 1 for a vmm error, 121 when\n"
"the guest crashes; 0 on the source after a successful migration.\n"
"\n"
"  --mem SIZE            guest RAM (K/M/G suffix; default 256M)\n"
"  --mem-prealloc        allocate all of guest RAM at start (on a destination,\n"
"                        before it listens; needs --mem there), not at first touch\n"
"  --cpus N              vCPUs (default 1)\n"
"  --serial MODE         stdio | file:PATH | none (default stdio); append\n"
"                        ,timestamps to put host time before every line\n"
"  --monitor SPEC        unix:PATH | stdio: the control monitor\n"
"  --qmp unix:PATH       a QMP monitor (QEMU's JSON protocol)\n"
"  --initrd FILE         a multiboot module (repeatable)\n"
"  --drive file=PATH[,format=raw|qcow2][,readonly=on][,cache=none|writeback]\n"
"                        a virtio-blk disk on PCI (repeatable, up to 4; a\n"
"                        destination takes the source's, on shared storage)\n"
"                        ,base-digest=auto|ahead|lazy (qcow2): when its base's\n"
"                        SHA-256 for migrate -i is made (auto: ahead up to 1 GiB)\n"
"  --drive-dir DIR       with --incoming: create the images a block migration\n"
"                        (migrate -b) copies in DIR, disk0.img, disk1.img, ...\n"
"  --paused              start with the vCPUs paused ('cont' on the monitor runs them)\n"
"  --incoming URI        receive a VM (tcp:HOST:PORT, HOST 0 = any; tls:HOST:PORT,\n"
"                        encrypted, needs --secret-file or --tls-creds; or\n"
"                        file:PATH); --mem/--cpus, if given, must match it.\n"
"                        Without a secret or creds, tcp: listens on loopback only\n"
"  --incoming-allow ADDR only this source address may connect (repeatable)\n"
"  --secret-file PATH    the shared secret both sides prove they know\n"
"                        (mode 0600 or stricter; the source's too)\n"
"  --tls-creds DIR       x509 certificates for TLS, as QEMU's tls-creds-x509:\n"
"                        ca-cert.pem, server-cert.pem/server-key.pem (with\n"
"                        --incoming), client-cert.pem/client-key.pem (source);\n"
"                        given, tcp: runs TLS too\n"
"  --insecure            --incoming without a secret on a non-loopback address\n"
"  --max-mem SIZE        refuse an incoming guest with more RAM (default: the\n"
"                        host's MemAvailable at start)\n"
"  --migrate-to URI      migrate after --migrate-after (no monitor needed)\n"
"  --migrate-after DUR   delay before --migrate-to (e.g. 2s, 500ms; default 0)\n"
"  --stats-json PATH     write migration statistics as JSON when it ends\n"
"  --stats-csv PATH      write one CSV row per pre-copy round when it ends\n"
"  --dirty-log-plain     use KVM_GET_DIRTY_LOG even if manual protect exists\n"
"  --dirty-ring ENTRIES  track dirty pages with KVM's dirty ring, ENTRIES per\n"
"                        vCPU (a power of two, 256 up to the host's limit;\n"
"                        default 0: the dirty bitmap)\n"
"  --runas USER          once set up, run as USER (needs root; drops uid 0)\n"
"  --jail DIR            once set up, touch files only beneath DIR (Landlock)\n"
"  --sandbox on|off      the system-call allow-list (default on)\n"
"  -q, --quiet           only errors from the vmm itself\n"
"  -v, --verbose         also debug messages (why the VM ended, ...)\n"
"  -h, --help            this text\n"
"  -V, --version         the version\n");
}

static int __attribute__((format(printf, 1, 2))) die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vmm: error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(try 'vmm --help')\n");
	return VMM_EXIT_ERROR;
}

enum {
	OPT_MEM = 256, OPT_CPUS, OPT_SERIAL, OPT_MONITOR, OPT_INITRD, OPT_INCOMING,
	OPT_MIGRATE_TO, OPT_MIGRATE_AFTER, OPT_STATS_JSON, OPT_STATS_CSV, OPT_PLAIN_LOG,
	OPT_INCOMING_ALLOW, OPT_PAUSED, OPT_RUNAS, OPT_JAIL, OPT_SANDBOX, OPT_QMP,
	OPT_SECRET_FILE, OPT_INSECURE, OPT_TLS_CREDS, OPT_MAX_MEM, OPT_DIRTY_RING, OPT_DRIVE,
	OPT_DRIVE_DIR, OPT_MEM_PREALLOC,
};

static const struct option long_options[] = {
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "mem-prealloc", no_argument, NULL, OPT_MEM_PREALLOC },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "monitor", required_argument, NULL, OPT_MONITOR },
	{ "qmp", required_argument, NULL, OPT_QMP },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "drive", required_argument, NULL, OPT_DRIVE },
	{ "drive-dir", required_argument, NULL, OPT_DRIVE_DIR },
	{ "paused", no_argument, NULL, OPT_PAUSED },
	{ "incoming", required_argument, NULL, OPT_INCOMING },
	{ "incoming-allow", required_argument, NULL, OPT_INCOMING_ALLOW },
	{ "secret-file", required_argument, NULL, OPT_SECRET_FILE },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "tls-creds", required_argument, NULL, OPT_TLS_CREDS },
	{ "max-mem", required_argument, NULL, OPT_MAX_MEM },
	{ "migrate-to", required_argument, NULL, OPT_MIGRATE_TO },
	{ "migrate-after", required_argument, NULL, OPT_MIGRATE_AFTER },
	{ "stats-json", required_argument, NULL, OPT_STATS_JSON },
	{ "stats-csv", required_argument, NULL, OPT_STATS_CSV },
	{ "dirty-log-plain", no_argument, NULL, OPT_PLAIN_LOG },
	{ "dirty-ring", required_argument, NULL, OPT_DIRTY_RING },
	{ "runas", required_argument, NULL, OPT_RUNAS },
	{ "jail", required_argument, NULL, OPT_JAIL },
	{ "sandbox", required_argument, NULL, OPT_SANDBOX },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static int build_cmdline(struct options *o, int argc, char **argv, int i)
{
	size_t len;

	/* Like QEMU's -kernel: the image's name comes first, then the words
	 * after --; guests skip the first word. */
	len = (size_t)snprintf(o->cmdline, sizeof(o->cmdline), "%s", o->guest);
	if (i < argc && strcmp(argv[i], "--"))
		return die_usage("unexpected argument '%s' after the guest (put guest "
				 "parameters after --)", argv[i]);
	for (i++; i < argc; i++) {
		len += (size_t)snprintf(o->cmdline + len, len < sizeof(o->cmdline) ?
					sizeof(o->cmdline) - len : 0, " %s", argv[i]);
		if (len >= sizeof(o->cmdline))
			return die_usage("guest command line longer than %d bytes", MULTIBOOT_CMDLINE_MAX - 1);
	}
	return 0;
}

#define TIMESTAMPS_SUFFIX ",timestamps"

/* stdio | none | file:PATH, the first and last with ,timestamps after. */
static int parse_serial(struct options *o, const char *arg)
{
	size_t len = strlen(arg), slen = strlen(TIMESTAMPS_SUFFIX);

	o->serial_timestamps = false;
	if (len > slen && !strcmp(arg + len - slen, TIMESTAMPS_SUFFIX)) {
		if (len - slen >= sizeof(o->serial_buf))
			return -1;
		memcpy(o->serial_buf, arg, len - slen);
		o->serial_buf[len - slen] = '\0';
		o->serial_timestamps = true;
		arg = o->serial_buf;
	}
	/* none has no lines to stamp */
	if (!strcmp(arg, "none") && o->serial_timestamps)
		return -1;
	if (strcmp(arg, "stdio") && strcmp(arg, "none") && (strncmp(arg, "file:", 5) || !arg[5]))
		return -1;
	o->serial = arg;
	return 0;
}

int options__parse(struct options *o, int argc, char **argv)
{
	char err[256];
	uint64_t v;
	int c;

	memset(o, 0, sizeof(*o));
	optind = 0;	/* glibc: start afresh, so the parser can run again */
	o->ram_size = DEFAULT_RAM;
	o->nr_cpus = 1;
	o->serial = "stdio";
	o->sandbox = true;
	/* '+': stop at the guest image; what follows belongs to the guest. */
	while ((c = getopt_long(argc, argv, "+qvhV", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_MEM:
			if (parse__size(optarg, &v) || v < GUEST_RAM_MIN || v > GUEST_RAM_MAX ||
			    v % GUEST_PAGE_SIZE)
				return die_usage("bad --mem '%s': a size from 2M to 1T, a multiple "
						 "of 4K (e.g. 512M)", optarg);
			o->ram_size = v;
			o->ram_given = true;
			break;
		case OPT_CPUS:
			if (parse__u64(optarg, 1, VM_MAX_CPUS, &v))
				return die_usage("bad --cpus '%s': a number from 1 to %d", optarg, VM_MAX_CPUS);
			o->nr_cpus = (unsigned int)v;
			o->cpus_given = true;
			break;
		case OPT_SERIAL:
			if (parse_serial(o, optarg))
				return die_usage("bad --serial '%s': stdio, file:PATH or none, the "
						 "first two optionally followed by ,timestamps", optarg);
			break;
		case OPT_MONITOR:
			if (strcmp(optarg, "stdio") && (strncmp(optarg, "unix:", 5) || !optarg[5]))
				return die_usage("bad --monitor '%s': unix:PATH or stdio", optarg);
			o->monitor = optarg;
			break;
		case OPT_QMP:
			if (strncmp(optarg, "unix:", 5) || !optarg[5])
				return die_usage("bad --qmp '%s': unix:PATH", optarg);
			o->qmp = optarg;
			break;
		case OPT_INITRD:
			if (o->nr_initrd == MULTIBOOT_MAX_MODULES)
				return die_usage("more than %d --initrd modules", MULTIBOOT_MAX_MODULES);
			o->initrd[o->nr_initrd++] = optarg;
			break;
		case OPT_DRIVE:
			if (o->nr_drives == DRIVE_MAX)
				return die_usage("more than %d --drive", DRIVE_MAX);
			if (drive__parse(optarg, &o->drives[o->nr_drives++], err, sizeof(err)))
				return die_usage("%s", err);
			break;
		case OPT_DRIVE_DIR:
			if (!*optarg)
				return die_usage("%s", "--drive-dir needs a directory");
			o->drive_dir = optarg;
			break;
		case OPT_INCOMING:
			o->incoming = optarg;
			break;
		case OPT_PAUSED:
			o->paused = true;
			break;
		case OPT_MEM_PREALLOC:
			o->mem_prealloc = true;
			break;
		case OPT_INCOMING_ALLOW:
			if (!transport__is_addr(optarg))
				return die_usage("bad --incoming-allow '%s': a numeric IPv4 or IPv6 "
						 "address", optarg);
			if (o->nr_incoming_allow == INCOMING_MAX_ALLOW)
				return die_usage("more than %d --incoming-allow addresses",
						 INCOMING_MAX_ALLOW);
			o->incoming_allow[o->nr_incoming_allow++] = optarg;
			break;
		case OPT_SECRET_FILE:
			if (!*optarg)
				return die_usage("%s", "--secret-file needs a path");
			o->secret_file = optarg;
			break;
		case OPT_INSECURE:
			o->insecure = true;
			break;
		case OPT_TLS_CREDS:
			if (!*optarg)
				return die_usage("%s", "--tls-creds needs a directory");
			o->tls_creds = optarg;
			break;
		case OPT_MAX_MEM:
			if (parse__size(optarg, &v) || v < GUEST_RAM_MIN)
				return die_usage("bad --max-mem '%s': a size of at least 2M (e.g. 8G)",
						 optarg);
			o->max_mem = v;
			break;
		case OPT_MIGRATE_TO:
			o->migrate_to = optarg;
			break;
		case OPT_MIGRATE_AFTER:
			if (parse__duration_us(optarg, &o->migrate_after_us))
				return die_usage("bad --migrate-after '%s': a duration such as 2s, "
						 "500ms or 1.5s", optarg);
			o->migrate_after_given = true;
			break;
		case OPT_STATS_JSON:
			o->stats_json = optarg;
			break;
		case OPT_STATS_CSV:
			o->stats_csv = optarg;
			break;
		case OPT_PLAIN_LOG:
			o->plain_dirty_log = true;
			break;
		case OPT_DIRTY_RING:
			/* The host's limit is checked once /dev/kvm is open. */
			if (parse__u64(optarg, 0, UINT32_MAX, &v))
				return die_usage("bad --dirty-ring '%s': a number of entries "
						 "(a power of two from 256), or 0", optarg);
			o->dirty_ring_entries = (uint32_t)v;
			break;
		case OPT_RUNAS:
			if (!*optarg)
				return die_usage("%s", "--runas needs a user name");
			o->runas = optarg;
			break;
		case OPT_JAIL:
			if (!*optarg)
				return die_usage("%s", "--jail needs a directory");
			o->jail = optarg;
			break;
		case OPT_SANDBOX:
			if (strcmp(optarg, "on") && strcmp(optarg, "off"))
				return die_usage("bad --sandbox '%s': on or off", optarg);
			o->sandbox = !strcmp(optarg, "on");
			break;
		case 'q':
			log_set_level(0);
			break;
		case 'v':
			log_set_level(2);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vmm %s\n", VMM_VERSION);
			return 0;
		default:
			return die_usage("unknown option or missing value");
		}
	}
	if (o->monitor && !strcmp(o->monitor, "stdio") && !strcmp(o->serial, "stdio"))
		return die_usage("%s", "--monitor stdio needs --serial file:PATH or none "
				 "(both would read standard input)");
	if (o->nr_incoming_allow && !o->incoming)
		return die_usage("--incoming-allow needs --incoming");
	if ((o->insecure || o->max_mem) && !o->incoming)
		return die_usage("%s needs --incoming", o->insecure ? "--insecure" : "--max-mem");
	if (o->insecure && o->secret_file)
		return die_usage("%s", "--insecure and --secret-file exclude each other");
	if (o->drive_dir && !o->incoming)
		return die_usage("%s", "--drive-dir needs --incoming (a destination creates "
				 "the images a block migration copies there)");
	if (o->drive_dir && o->nr_drives)
		return die_usage("%s", "--drive-dir and --drive exclude each other: --drive "
				 "names every image, --drive-dir creates them all");
	if (o->migrate_after_given && !o->migrate_to)
		return die_usage("--migrate-after needs --migrate-to");
	if (o->incoming) {
		if (o->migrate_to)
			return die_usage("--incoming and --migrate-to exclude each other");
		if (o->nr_initrd || o->paused)
			return die_usage("--incoming takes neither --initrd nor --paused (the guest "
					 "comes from the stream, and runs once it has arrived)");
		if (optind < argc)
			return die_usage("--incoming takes no guest image ('%s'): the VM comes "
					 "from the stream", argv[optind]);
		if (o->mem_prealloc && !o->ram_given)
			return die_usage("%s", "--mem-prealloc with --incoming needs --mem: the "
					 "RAM is made before the source connects, so its size "
					 "must be known then (the stream's must match it)");
		return -1;
	}
	if (optind >= argc)
		return die_usage("%s", "no guest image given");
	o->guest = argv[optind];
	if (build_cmdline(o, argc, argv, optind + 1))
		return VMM_EXIT_ERROR;
	return -1;
}
