/* vmm: boot a multiboot test guest on KVM, or receive one by migration. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "incoming.h"
#include "log.h"
#include "migration.h"
#include "monitor.h"
#include "multiboot.h"
#include "parse.h"
#include "privileges.h"
#include "vm.h"

#define DEFAULT_RAM (256ULL << 20)
#define MAX_GUEST_FILE (256ULL << 20)

struct options {
	uint64_t ram_size;
	bool ram_given;
	unsigned int nr_cpus;
	bool cpus_given;
	const char *serial;
	const char *monitor;
	const char *initrd[MULTIBOOT_MAX_MODULES];
	unsigned int nr_initrd;
	const char *guest;
	char cmdline[MULTIBOOT_CMDLINE_MAX];
	const char *incoming;
	const char *incoming_allow[INCOMING_MAX_ALLOW];
	unsigned int nr_incoming_allow;
	const char *migrate_to;
	uint64_t migrate_after_us;
	bool migrate_after_given;
	const char *stats_json;
	const char *stats_csv;
	bool plain_dirty_log;
	bool paused;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: vmm [options] GUEST.elf [-- key=value ...]\n"
"       vmm [options] --incoming tcp:HOST:PORT | file:PATH\n"
"\n"
"Boots a multiboot v1 ELF guest on KVM, or receives a running one by live\n"
"migration. The words after -- are the guest's command line. Exit status:\n"
"the value the guest writes to port 0xf4, or 1 for a vmm error, 121 when\n"
"the guest crashes; 0 on the source after a successful migration.\n"
"\n"
"  --mem SIZE            guest RAM (K/M/G suffix; default 256M)\n"
"  --cpus N              vCPUs (default 1)\n"
"  --serial MODE         stdio | file:PATH | none (default stdio)\n"
"  --monitor SPEC        unix:PATH | stdio: the control monitor\n"
"  --initrd FILE         a multiboot module (repeatable)\n"
"  --paused              start with the vCPUs paused ('cont' on the monitor runs them)\n"
"  --incoming URI        receive a VM (tcp:HOST:PORT, HOST 0 = any; or\n"
"                        file:PATH); --mem/--cpus, if given, must match it\n"
"  --incoming-allow ADDR only this source address may connect (repeatable)\n"
"  --migrate-to URI      migrate after --migrate-after (no monitor needed)\n"
"  --migrate-after DUR   delay before --migrate-to (e.g. 2s, 500ms; default 0)\n"
"  --stats-json PATH     write migration statistics as JSON when it ends\n"
"  --stats-csv PATH      write one CSV row per pre-copy round when it ends\n"
"  --dirty-log-plain     use KVM_GET_DIRTY_LOG even if manual protect exists\n"
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
	OPT_INCOMING_ALLOW, OPT_PAUSED,
};

static const struct option long_options[] = {
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "monitor", required_argument, NULL, OPT_MONITOR },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "paused", no_argument, NULL, OPT_PAUSED },
	{ "incoming", required_argument, NULL, OPT_INCOMING },
	{ "incoming-allow", required_argument, NULL, OPT_INCOMING_ALLOW },
	{ "migrate-to", required_argument, NULL, OPT_MIGRATE_TO },
	{ "migrate-after", required_argument, NULL, OPT_MIGRATE_AFTER },
	{ "stats-json", required_argument, NULL, OPT_STATS_JSON },
	{ "stats-csv", required_argument, NULL, OPT_STATS_CSV },
	{ "dirty-log-plain", no_argument, NULL, OPT_PLAIN_LOG },
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

/* Returns -1 to continue, or an exit status. */
static int parse_options(struct options *o, int argc, char **argv)
{
	uint64_t v;
	int c;

	o->ram_size = DEFAULT_RAM;
	o->nr_cpus = 1;
	o->serial = "stdio";
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
			if (strcmp(optarg, "stdio") && strcmp(optarg, "none") &&
			    (strncmp(optarg, "file:", 5) || !optarg[5]))
				return die_usage("bad --serial '%s': stdio, file:PATH or none", optarg);
			o->serial = optarg;
			break;
		case OPT_MONITOR:
			if (strcmp(optarg, "stdio") && (strncmp(optarg, "unix:", 5) || !optarg[5]))
				return die_usage("bad --monitor '%s': unix:PATH or stdio", optarg);
			o->monitor = optarg;
			break;
		case OPT_INITRD:
			if (o->nr_initrd == MULTIBOOT_MAX_MODULES)
				return die_usage("more than %d --initrd modules", MULTIBOOT_MAX_MODULES);
			o->initrd[o->nr_initrd++] = optarg;
			break;
		case OPT_INCOMING:
			o->incoming = optarg;
			break;
		case OPT_PAUSED:
			o->paused = true;
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
		return -1;
	}
	if (optind >= argc)
		return die_usage("%s", "no guest image given");
	o->guest = argv[optind];
	if (build_cmdline(o, argc, argv, optind + 1))
		return VMM_EXIT_ERROR;
	return -1;
}

/* Reads a whole regular file (bounded) into a malloc'd buffer. */
static uint8_t *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf;
	size_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_GUEST_FILE) {
		snprintf(err, errlen, "%s: not a regular file of at most 256 MiB", path);
		close(fd);
		return NULL;
	}
	buf = malloc(st.st_size ? st.st_size : 1);
	while (buf && off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "reading %s: %s", path, n ? strerror(errno) : "short read");
			free(buf);
			buf = NULL;
			break;
		}
		off += n;
	}
	if (!buf && !err[0])
		snprintf(err, errlen, "out of memory reading %s", path);
	close(fd);
	*len = off;
	return buf;
}

static int load_guest(struct vm *vm, const struct options *o, char *err, size_t errlen)
{
	struct mb_module mods[MULTIBOOT_MAX_MODULES];
	uint8_t *mod_data[MULTIBOOT_MAX_MODULES] = { NULL };
	struct mb_image img;
	size_t len;
	uint8_t *file;
	unsigned int i;
	int ret = -EINVAL;
	char why[400] = "";

	file = read_file(o->guest, &len, why, sizeof(why));
	if (!file)
		goto out;
	ret = multiboot__parse(file, len, vm->mem.slots[0].size, &img, why, sizeof(why));
	if (ret)
		goto out;
	for (i = 0; i < o->nr_initrd; i++) {
		mod_data[i] = read_file(o->initrd[i], &mods[i].size, why, sizeof(why));
		if (!mod_data[i]) {
			ret = -EINVAL;
			goto out;
		}
		mods[i].data = mod_data[i];
		mods[i].name = o->initrd[i];
	}
	ret = multiboot__load(&vm->mem, file, &img, o->cmdline, mods, o->nr_initrd, why, sizeof(why));
	if (!ret)
		ret = multiboot__setup_bsp(vm->vcpus[0].fd, &img, why, sizeof(why));
out:
	if (ret)
		snprintf(err, errlen, "%s: %s", o->guest, why);
	for (i = 0; i < o->nr_initrd; i++)
		free(mod_data[i]);
	free(file);
	return ret;
}

static int open_serial(const char *spec, char *err, size_t errlen)
{
	int fd;

	if (!strcmp(spec, "stdio"))
		return STDOUT_FILENO;
	if (!strcmp(spec, "none"))
		return -1;
	fd = open(spec + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		snprintf(err, errlen, "--serial %s: %s", spec, strerror(errno));
	return fd < 0 ? -2 : fd;
}

/* Feeds standard input to the UART, waiting (not spinning) while its FIFO
 * is full. Ends quietly at end of input. */
static void *stdin_reader(void *arg)
{
	struct vm *vm = arg;
	uint8_t buf[256];

	pthread_setname_np(pthread_self(), "serial-in");
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
		size_t off = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		while (off < (size_t)n) {
			off += uart16550__receive(vm->uart, buf + off, n - off);
			if (off < (size_t)n)
				usleep(1000);	/* the guest drains 16 bytes at a time */
		}
	}
}

struct delayed_migration {
	struct migration *m;
	const char *uri;
	uint64_t delay_us;
};

/* --migrate-to: waits, then migrates as the monitor's "migrate" would. */
static void *delayed_migrate(void *arg)
{
	struct delayed_migration *d = arg;
	char err[512];

	pthread_setname_np(pthread_self(), "migrate-after");
	if (d->delay_us)
		usleep(d->delay_us);
	if (migration__start(d->m, d->uri, err, sizeof(err)))
		log_error("--migrate-to %s: %s", d->uri, err);
	return NULL;
}

static void write_incoming_stats(struct incoming *in, const struct options *o)
{
	FILE *f;

	if (!o->stats_json)
		return;
	f = fopen(o->stats_json, "w");
	if (!f || migrate_stats__write_json(&in->stats, NULL, f))
		log_error("cannot write statistics to %s", o->stats_json);
	if (f)
		fclose(f);
}

/* The destination's start: receive the VM, then run it like any other. */
static int start_incoming(struct vm *vm, struct incoming *in, const struct options *o,
			  int kvm_fd, int serial_fd, char *err, size_t errlen)
{
	int ret;

	memcpy(in->allow, o->incoming_allow, sizeof(in->allow));
	in->nr_allow = o->nr_incoming_allow;
	in->want_ram = o->ram_given ? o->ram_size : 0;
	in->want_cpus = o->cpus_given ? o->nr_cpus : 0;
	ret = incoming__receive(in, kvm_fd, serial_fd, vm, err, errlen);
	if (!ret) {
		ret = vm__start_vcpus(vm, err, errlen);
		if (ret)
			incoming__report_failure(in, err);
	}
	if (ret) {
		write_incoming_stats(in, o);
		return ret;
	}
	/* The guest runs here now; the source may let go of it. */
	if (incoming__ack_resumed(in, err, errlen))
		log_warn("%s", err);
	log_info("migration received from %s; the guest runs here",
		 in->uri.kind == TRANSPORT_TCP ? in->peer : in->uri.path);
	write_incoming_stats(in, o);
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct vm_options vo;
	struct monitor *mon = NULL;
	struct migration *mig = NULL;
	static struct vm vm;
	static struct incoming in = { .listen_fd = -1, .fd = -1 };
	struct delayed_migration dm;
	pthread_t thread;
	char err[1024] = "";
	int status, serial_fd, kvm_fd;
	bool vm_created = false;

	status = parse_options(&o, argc, argv);
	if (status >= 0)
		return status;
	/* A peer that goes away must be an error return, not a signal. */
	signal(SIGPIPE, SIG_IGN);

	kvm_fd = vm__open_kvm(err, sizeof(err));
	if (kvm_fd < 0)
		goto fail;
	serial_fd = open_serial(o.serial, err, sizeof(err));
	if (serial_fd == -2)
		goto fail;
	if (o.incoming && incoming__prepare(&in, o.incoming, err, sizeof(err)))
		goto fail;
	if (!o.incoming) {
		vo = (struct vm_options){ .kvm_fd = kvm_fd, .ram_size = o.ram_size,
					  .nr_cpus = o.nr_cpus, .serial_out_fd = serial_fd };
		kvm_fd = -1;	/* the VM owns it now, even on failure */
		if (vm__create(&vm, &vo, err, sizeof(err)))
			goto fail;
		vm_created = true;
		if (load_guest(&vm, &o, err, sizeof(err)))
			goto fail;
	}
	if (o.monitor) {
		mon = monitor__create(&vm);
		if (!mon || monitor__listen(mon, o.monitor, err, sizeof(err)))
			goto fail;
	}
	/* Everything privileged is open: from here on the process holds no
	 * capability (before any thread starts, so all inherit that). */
	if (privileges__drop(err, sizeof(err)))
		goto fail;
	if (o.incoming) {
		int fd = kvm_fd;

		kvm_fd = -1;	/* incoming__receive hands it to the VM */
		if (start_incoming(&vm, &in, &o, fd, serial_fd, err, sizeof(err)))
			goto fail;
		vm_created = true;
	} else {
		/* The threads start parked: the guest runs on 'cont', or moves
		 * away unstarted if a migration comes first. */
		if (o.paused)
			vm__user_stop(&vm);
		if (vm__start_vcpus(&vm, err, sizeof(err)))
			goto fail;
	}
	mig = migration__create(&vm);
	if (!mig) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	migration__force_plain_dirty_log(mig, o.plain_dirty_log);
	if (!o.incoming)
		migration__set_stats_output(mig, o.stats_json, o.stats_csv);
	if (mon && (migration__register_monitor(mig, mon) || monitor__start(mon)))
		log_warn("monitor could not start");
	if (!strcmp(o.serial, "stdio") && !pthread_create(&thread, NULL, stdin_reader, &vm))
		pthread_detach(thread);
	if (o.migrate_to) {
		dm = (struct delayed_migration){ mig, o.migrate_to, o.migrate_after_us };
		if (!pthread_create(&thread, NULL, delayed_migrate, &dm))
			pthread_detach(thread);
	}

	status = vm__wait(&vm);
	if (status == VMM_EXIT_ERROR || status == VMM_EXIT_GUEST_CRASH)
		log_error("%s", vm.exit_reason);
	else if (log_level() >= 2)
		log_info("%s (exit status %d)", vm.exit_reason, status);
	monitor__destroy(mon);
	migration__destroy(mig);
	vm__destroy(&vm);
	incoming__close(&in);
	return status;

fail:
	log_error("%s", err);
	monitor__destroy(mon);
	if (vm_created)
		vm__destroy(&vm);
	if (kvm_fd >= 0)
		close(kvm_fd);
	incoming__close(&in);
	return VMM_EXIT_ERROR;
}
