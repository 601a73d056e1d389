/* vmm: boot a multiboot test guest on KVM, or receive one by migration. */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "auth.h"
#include "blk_base_cache.h"
#include "board.h"
#include "clock.h"
#include "devices.h"
#include "dirty_ring.h"
#include "drive_dir.h"
#include "file_ram.h"
#include "incoming.h"
#include "line_stamp.h"
#include "log.h"
#include "migration.h"
#include "monitor.h"
#include "monitor_migrate.h"
#include "monitor_trace.h"
#include "multiboot.h"
#include "options.h"
#include "privileges.h"
#include "progress.h"
#include "qmp.h"
#include "errmsg.h"
#include "jail.h"
#include "syscall_filter.h"
#include "term_signals.h"
#include "tls_creds.h"
#include "tls_tunnel.h"
#include "vm.h"

#define MAX_GUEST_FILE (256ULL << 20)

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

/* Before the sandbox and the privilege drop: the images are opened as
 * whoever started vmm, and io_uring is set up while that is allowed. */
static int open_drives(const struct options *o, struct board_drive *drives,
		       char *err, size_t errlen)
{
	unsigned int i;
	int ret;

	for (i = 0; i < o->nr_drives; i++) {
		ret = blk_backend__open(&o->drives[i], &drives[i].backend, err, errlen);
		if (ret)
			return ret;
		drives[i].readonly = o->drives[i].readonly;
		/* migrate -i's base digest, read while nothing else needs it */
		ret = blk_base_cache__start(drives[i].backend, o->drives[i].base_digest, err,
					    errlen);
		if (ret)
			return ret;
	}
	return 0;
}

/* What block migration (migrate -b) copies: the n drives cfgs describe. */
static void set_migration_drives(struct migration *mig, const struct drive_config *cfgs,
				 unsigned int n, const struct board_drive *drives)
{
	struct migration_drive md[MIGRATION_MAX_DRIVES];
	unsigned int i;

	for (i = 0; i < n && i < MIGRATION_MAX_DRIVES; i++)
		md[i] = (struct migration_drive){ .backend = drives[i].backend,
						  .readonly = cfgs[i].readonly,
						  .qcow2 = cfgs[i].format == DRIVE_FORMAT_QCOW2 };
	migration__set_drives(mig, md, i);
}

static void close_drives(struct board_drive *drives)
{
	unsigned int i;

	for (i = 0; i < DRIVE_MAX; i++) {
		blk_base_cache__stop(drives[i].backend);
		blk_backend__close(drives[i].backend);
	}
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
/* A quit (monitor or QMP) may come at any moment: while a destination
 * waits for its guest or receives it, it ends that; once the vCPUs run,
 * it ends the VM. Each side writes its own flag, then reads the other's,
 * so of a quit and a start that cross, at least one sees the other. */
static struct {
	struct vm *vm;
	struct incoming *in;	/* a destination's, until its guest runs */
	struct qmp *qmp;
	bool quit;		/* atomic */
	bool running;		/* atomic: the vCPUs were started */
} life;

static void request_quit(const char *why)
{
	__atomic_store_n(&life.quit, true, __ATOMIC_SEQ_CST);
	if (life.in)
		incoming__cancel(life.in);
	if (__atomic_load_n(&life.running, __ATOMIC_SEQ_CST))
		vm__request_exit(life.vm, 0, "%s", why);
}

static void vcpus_started(void)
{
	__atomic_store_n(&life.running, true, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&life.quit, __ATOMIC_SEQ_CST))
		vm__request_exit(life.vm, 0, "quit");
}

static void quit_from_qmp(void *ctx)
{
	(void)ctx;
	request_quit("quit from QMP");
}

/* With QMP on, a source whose guest moved away waits in postmigrate for a
 * quit (as QEMU's does): the text monitor's quit ends that wait too, so
 * it goes the QMP way then. */
static int monitor_quit(void *opaque, const char *args, struct monitor_reply *r)
{
	(void)opaque;
	(void)args;
	(void)r;
	if (life.qmp)
		qmp__quit(life.qmp, "host-qmp-quit");
	else
		request_quit("quit from the monitor");
	return 0;
}

/* SIGINT, SIGTERM, SIGHUP: the monitor's quit (QMP's SHUTDOWN says
 * host-signal, as QEMU's). */
static void quit_on_signal(int sig)
{
	(void)sig;
	if (life.qmp)
		qmp__quit(life.qmp, "host-signal");
	else
		request_quit("quit on a signal");
}

/* migrate_cancel on a destination whose guest has not arrived. */
static void cancel_incoming(void *ctx)
{
	log_info("migrate_cancel: ending the incoming migration; the source keeps its guest");
	incoming__cancel(ctx);
}

static void *stdin_reader(void *arg)
{
	struct device *console = board__console(arg);
	uint8_t buf[256];

	pthread_setname_np(pthread_self(), "serial-in");
	if (!console)
		return NULL;
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
		size_t off = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		while (off < (size_t)n) {
			off += uart16550__receive(console, buf + off, n - off);
			if (off < (size_t)n)
				usleep(1000);	/* the guest drains 16 bytes at a time */
		}
	}
}

/* The progress line shares the terminal only with vmm's own messages: not
 * with guest output or monitor replies written to it too (on stdout). */
static bool progress_line_wanted(const struct options *o)
{
	bool stdout_used = !strcmp(o->serial, "stdio") || (o->monitor && !strcmp(o->monitor, "stdio"));

	return log_level() >= 1 && !(stdout_used && isatty(STDOUT_FILENO));
}

/* A destination's disk line is done before its guest runs, so only the
 * monitor's replies could share the terminal with it. */
static bool disk_line_wanted(const struct options *o)
{
	bool stdout_used = o->monitor && !strcmp(o->monitor, "stdio");

	return log_level() >= 1 && !(stdout_used && isatty(STDOUT_FILENO));
}

/* What the host can give a guest now: MemAvailable, in bytes; 0 if
 * /proc/meminfo does not say (then no limit). */
static uint64_t mem_available(void)
{
	unsigned long long kib = 0;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return (uint64_t)kib << 10;
}

static void write_incoming_stats(struct incoming *in, const struct options *o)
{
	if (o->stats_json)
		migrate_stats__write_file(&in->stats, NULL, o->stats_json, false);
}

/* Test hook: VMM_TEST_SANDBOX_PROBE=syscall makes one system call outside
 * the allow-list (personality), =open:PATH[,PATH...] tries to open each
 * path for reading, =socket makes a TCP socket, =uring makes an io_uring
 * ring; each says what happened. Run once privileges are
 * dropped, so a test sees what a compromised vmm could still do. With a
 * `vcpu-` prefix (vcpu-open:PATH) vCPU 0's thread makes the probe, as a
 * device model a guest had subverted would. */
static void probe_privileges_for_tests(bool vcpu)
{
	const char *v = getenv("VMM_TEST_SANDBOX_PROBE");
	char paths[512], *p, *save = NULL;
	int fd;

	if (!v || vcpu != !strncmp(v, "vcpu-", 5))
		return;
	if (vcpu)
		v += 5;
	if (!strcmp(v, "syscall")) {
		log_info("VMM_TEST_SANDBOX_PROBE: calling personality(), which is not allowed");
		syscall(SYS_personality, 0xffffffffUL);
		log_info("VMM_TEST_SANDBOX_PROBE: personality() was not stopped");
		return;
	}
	if (!strcmp(v, "uring")) {
		/* A ring made now would not be restricted: the list refuses. */
		struct io_uring_params up = { 0 };

		log_info("VMM_TEST_SANDBOX_PROBE: calling io_uring_setup()");
		fd = (int)syscall(SYS_io_uring_setup, 4, &up);
		log_info("VMM_TEST_SANDBOX_PROBE: io_uring_setup: %s",
			 fd >= 0 ? "ring made" : strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	if (!strcmp(v, "socket")) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		log_info("VMM_TEST_SANDBOX_PROBE: socket: %s", fd >= 0 ? "made" : strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	if (strncmp(v, "open:", 5))
		return;
	snprintf(paths, sizeof(paths), "%s", v + 5);
	for (p = strtok_r(paths, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		fd = open(p, O_RDONLY | O_CLOEXEC);
		log_info("VMM_TEST_SANDBOX_PROBE: open %s: %s", p, fd >= 0 ? "opened" : strerror(errno));
		if (fd >= 0)
			close(fd);
	}
}

static bool sandboxed;

/* --jail: the directory, the host's Landlock, and every file vmm will
 * write later by a name given now, beneath the directory; --drive-dir's
 * images too (a name inside it stands for them). */
static int check_jail(const struct options *o, char *err, size_t errlen)
{
	const char *later[] = { o->stats_json, o->stats_csv };
	char image[PATH_MAX];
	size_t i;
	int ret = jail__check(o->jail, err, errlen);

	for (i = 0; !ret && i < sizeof(later) / sizeof(later[0]); i++)
		if (later[i] && !jail__contains(o->jail, later[i]))
			ret = errmsg__fail(-EPERM, err, errlen, "%s is outside --jail %s: vmm could "
					   "not write it", later[i], o->jail);
	if (!ret && o->drive_dir) {
		snprintf(image, sizeof(image), "%s/disk0.img", o->drive_dir);
		if (!jail__contains(o->jail, image))
			ret = errmsg__fail(-EPERM, err, errlen, "--drive-dir %s is outside --jail "
					   "%s: vmm could not create images there", o->drive_dir,
					   o->jail);
	}
	return ret;
}

/* Each vCPU thread, before it first enters the guest. */
static int vcpu_thread_init(unsigned int index, char *err, size_t errlen)
{
	int ret = sandboxed ? syscall_filter__narrow_vcpu(err, errlen) : 0;

	if (!ret && index == 0)
		probe_privileges_for_tests(true);
	return ret;
}

/* Up front, on a destination too: a bad --dirty-ring is refused before
 * anything waits for a guest. */
static int check_dirty_ring(int kvm_fd, uint32_t entries, char *err, size_t errlen)
{
	int cap;

	if (!entries)
		return 0;
	return dirty_ring__check_entries(entries, dirty_ring__host_max_bytes(kvm_fd, &cap),
					 err, errlen);
}

/* --mem-prealloc on a destination: the RAM the incoming VM will take,
 * every page allocated now, while no migration waits for it. */
static int preallocate_incoming_ram(struct guest_memory *ram, uint64_t size, char *err,
				    size_t errlen)
{
	uint64_t t0 = clock__mono_us();
	int ret = guest_memory__map(ram, size, true, err, errlen);

	if (!ret)
		log_info("preallocated %" PRIu64 " MiB of guest RAM in %" PRIu64 " ms",
			 size >> 20, (clock__mono_us() - t0) / 1000);
	return ret;
}

/* The destination's start: receive the VM, then run it like any other. */
static int start_incoming(struct vm *vm, struct incoming *in, const struct options *o,
			  int kvm_fd, int serial_fd, char *err, size_t errlen)
{
	struct progress *progress;
	int ret;

	memcpy(in->allow, o->incoming_allow, sizeof(in->allow));
	in->nr_allow = o->nr_incoming_allow;
	in->want_ram = o->ram_given ? o->ram_size : 0;
	in->want_cpus = o->cpus_given ? o->nr_cpus : 0;
	in->dirty_ring_entries = o->dirty_ring_entries;
	in->max_ram = o->max_mem ? o->max_mem : mem_available();
	in->max_ram_origin = o->max_mem ? "--max-mem" : "MemAvailable at start";
	progress = disk_line_wanted(o) ? progress__start_incoming(&in->stats) : NULL;
	ret = incoming__receive(in, kvm_fd, serial_fd, vm, err, errlen);
	progress__stop(progress);
	if (!ret) {
		vm->vcpu_thread_init = vcpu_thread_init;
		ret = vm__start_vcpus(vm, err, errlen);
		if (ret)
			incoming__report_failure(in, err);
	}
	if (ret) {
		/* Images made for a guest that never ran here stay nowhere. */
		if (in->drive_dir)
			drive_dir__discard(in->drive_dir);
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
	struct board_options bo;
	struct monitor *mon = NULL;
	struct qmp *qmp = NULL;
	struct migration *mig = NULL;
	struct progress *progress = NULL;
	static struct vm vm;
	static struct incoming in = { .listen_fd = -1, .fd = -1, .cancel_fd = -1 };
	static struct line_stamp serial_stamp;
	static struct auth_secret secret;
	static struct tls_creds *creds;
	static struct board_drive drives[DRIVE_MAX];
	static struct drive_dir drive_dir = { .fd = -1 };
	static struct guest_memory premapped;	/* --mem-prealloc --incoming */
	pthread_t thread;
	char err[1024] = "";
	int status, serial_fd, kvm_fd;
	bool vm_created = false;

	status = options__parse(&o, argc, argv);
	if (status >= 0)
		return status;
	/* Before any thread starts, so that every one inherits the mask and
	 * only the signal thread takes them. */
	if (term_signals__block(err, sizeof(err)))
		goto fail_early;
	/* A peer that goes away must be an error return, not a signal. */
	signal(SIGPIPE, SIG_IGN);

	if (o.jail && check_jail(&o, err, sizeof(err)))
		goto fail_early;
	/* Read once, now, while the file is still readable to us. */
	if (o.secret_file && auth__load_secret(o.secret_file, &secret, err, sizeof(err)))
		goto fail_early;
	/* The certificates too: a destination's the server's, a source's
	 * the client's, each checked before anything listens or connects. */
	if (o.tls_creds && tls_creds__load(o.tls_creds, o.incoming ? TLS_SERVER : TLS_CLIENT,
					   &creds, err, sizeof(err)))
		goto fail_early;
	kvm_fd = vm__open_kvm(err, sizeof(err));
	if (kvm_fd < 0)
		goto fail;
	if (check_dirty_ring(kvm_fd, o.dirty_ring_entries, err, sizeof(err)))
		goto fail;
	serial_fd = open_serial(o.serial, err, sizeof(err));
	if (serial_fd == -2)
		goto fail;
	line_stamp__init(&serial_stamp, serial_fd);
	/* Before listening: a source that connects finds the RAM there. */
	if (o.incoming && o.mem_prealloc &&
	    preallocate_incoming_ram(&premapped, o.ram_size, err, sizeof(err)))
		goto fail;
	if (o.incoming && incoming__prepare(&in, o.incoming, &secret, creds, o.insecure, err,
					    sizeof(err)))
		goto fail;
	if (premapped.base)	/* incoming__prepare starts from an empty one */
		in.ram_premapped = &premapped;
	if (o.serial_timestamps)
		in.serial_stamp = &serial_stamp;
	if (open_drives(&o, drives, err, sizeof(err)))
		goto fail;
	if (o.drive_dir && drive_dir__open(&drive_dir, o.drive_dir, drives, err, sizeof(err)))
		goto fail;
	/* file: saves and restores, however many: the sandbox lets no ring
	 * be made later (a failure is logged; they then use pwrite/pread). */
	file_ram__rings_init();
	in.drives = drives;
	in.nr_drives = o.nr_drives;
	in.drive_cfgs = o.drives;
	in.drive_dir = o.drive_dir ? &drive_dir : NULL;
	if (!o.incoming) {
		bo = (struct board_options){
			.vm = { .kvm_fd = kvm_fd, .ram_size = o.ram_size, .nr_cpus = o.nr_cpus,
				.dirty_ring_entries = o.dirty_ring_entries,
				.ram_prealloc = o.mem_prealloc },
			.serial_out_fd = serial_fd,
			.serial_stamp = in.serial_stamp,
			.drives = drives,
			.nr_drives = o.nr_drives,
		};
		kvm_fd = -1;	/* the VM owns it now, even on failure */
		if (board__create(&vm, &bo, err, sizeof(err)))
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
	if (o.qmp) {
		qmp = qmp__create();
		if (!qmp || qmp__listen(qmp, o.qmp, err, sizeof(err)))
			goto fail;
	}
	/* For every migration out, this VM's or one that arrives later; a
	 * failure is said by the first migration that misses it. */
	guest_memory__pagemap_open(err, sizeof(err));
	err[0] = '\0';
	/* libssl's one-time set-up asks the kernel things (sysinfo) the
	 * allow-list has no other use for: done now, a tls: migration later
	 * needs none of them. */
	if (tls_tunnel__init(err, sizeof(err)))
		goto fail;
	/* Everything privileged is open: from here on the process holds no
	 * capability, perhaps not uid 0, and makes only the system calls on
	 * the allow-list (synchronised onto the drives' I/O threads, set
	 * before any other thread starts, so all inherit it). */
	if (privileges__drop(o.runas, err, sizeof(err)))
		goto fail;
	if (o.jail && jail__enter(o.jail, err, sizeof(err)))
		goto fail;
	if (o.sandbox && syscall_filter__install(err, sizeof(err)))
		goto fail;
	sandboxed = o.sandbox;
	probe_privileges_for_tests(false);
	/* Before the guest arrives, so that QMP can set parameters and watch
	 * the incoming migration; it touches the VM only when asked to. */
	mig = migration__create(&vm);
	if (!mig) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	migration__force_plain_dirty_log(mig, o.plain_dirty_log);
	set_migration_drives(mig, o.drives, o.nr_drives, drives);
	migration__set_secret(mig, &secret);
	migration__set_tls_creds(mig, creds);
	if (o.incoming)
		migration__set_incoming_stats(mig, &in.stats);
	else
		migration__set_stats_output(mig, o.stats_json, o.stats_csv);
	life.vm = &vm;
	life.qmp = qmp;
	if (o.incoming) {
		/* Until the guest runs here, the monitor, QMP and the
		 * migration object keep their hands off the VM being built,
		 * and a quit or migrate_cancel ends the incoming migration. */
		life.in = &in;
		migration__expect_vm(mig, cancel_incoming, &in, o.dirty_ring_entries);
		if (mon)
			monitor__set_vm_arriving(mon, true);
	}
	if (term_signals__start(quit_on_signal, err, sizeof(err)))
		goto fail;
	if (qmp) {
		qmp__set_migration(qmp, mig);
		qmp__on_quit(qmp, quit_from_qmp, NULL);
		if (o.incoming)
			qmp__watch_incoming(qmp, &in.stats);
		if (qmp__start(qmp))
			log_warn("QMP monitor could not start");
	}
	if (mon && (monitor_migrate__register(mon, mig) || monitor_trace__register(mon, mig) ||
		    monitor__register(mon, "quit", "", "end the VM (exit status 0); on a "
				      "destination still receiving, end that", monitor_quit, NULL) ||
		    monitor__start(mon)))
		log_warn("monitor could not start");
	if (o.incoming) {
		int fd = kvm_fd;

		kvm_fd = -1;	/* incoming__receive hands it to the VM */
		if (start_incoming(&vm, &in, &o, fd, serial_fd, err, sizeof(err))) {
			if (__atomic_load_n(&life.quit, __ATOMIC_SEQ_CST)) {
				log_info("quit while a migration was incoming (%s); nothing ran here",
					 err);
				status = 0;
				goto out_early;
			}
			goto fail;
		}
		vm_created = true;
		/* --drive-dir's images, for a migration on from here. */
		if (in.nr_drives != o.nr_drives)
			set_migration_drives(mig, in.drive_cfgs, in.nr_drives, drives);
		vcpus_started();
		migration__vm_arrived(mig);
		if (mon)
			monitor__set_vm_arriving(mon, false);
	} else {
		/* The threads start parked: the guest runs on 'cont', or moves
		 * away unstarted if a migration comes first. */
		if (o.paused)
			vm__user_stop(&vm);
		vm.vcpu_thread_init = vcpu_thread_init;
		if (vm__start_vcpus(&vm, err, sizeof(err)))
			goto fail;
		vcpus_started();
	}
	if (qmp) {
		qmp__set_vm(qmp, &vm);
		/* As QEMU's destination says when it starts the guest. */
		if (o.incoming)
			qmp__emit(qmp, "RESUME", NULL);
	}
	if (progress_line_wanted(&o))
		progress = progress__start(mig);
	if (!strcmp(o.serial, "stdio") && !pthread_create(&thread, NULL, stdin_reader, &vm))
		pthread_detach(thread);
	/* The migration object owns the wait: destroying it ends the wait,
	 * so a guest that ends at that moment cannot race a start. */
	if (o.migrate_to &&
	    migration__start_after(mig, o.migrate_to, o.migrate_after_us, err, sizeof(err)))
		log_error("--migrate-to %s: %s", o.migrate_to, err);

	status = vm__wait(&vm);
	if (status == VMM_EXIT_ERROR || status == VMM_EXIT_GUEST_CRASH)
		log_error("%s", vm.exit_reason);
	else if (log_level() >= 2)
		log_info("%s (exit status %d)", vm.exit_reason, status);
	progress__stop(progress);
	if (qmp) {
		qmp__vm_ended(qmp, status);
		qmp__linger(qmp);
	}
	term_signals__mute();
	qmp__destroy(qmp);
	monitor__destroy(mon);
	migration__destroy(mig);
	vm__destroy(&vm);
	close_drives(drives);
	drive_dir__close(&drive_dir);
	file_ram__rings_exit();
	incoming__close(&in);
	guest_memory__destroy(&premapped);	/* unless the VM took it */
	auth__clear_secret(&secret);
	tls_tunnel__wait_idle(1000);
	tls_creds__free(creds);
	return status;

fail:
	log_error("%s", err);
	status = VMM_EXIT_ERROR;
out_early:
	term_signals__mute();
	qmp__destroy(qmp);
	monitor__destroy(mon);
	migration__destroy(mig);
	if (vm_created)
		vm__destroy(&vm);
	close_drives(drives);
	drive_dir__close(&drive_dir);
	file_ram__rings_exit();
	if (kvm_fd >= 0)
		close(kvm_fd);
	incoming__close(&in);
	guest_memory__destroy(&premapped);
	auth__clear_secret(&secret);
	tls_tunnel__wait_idle(1000);
	tls_creds__free(creds);
	return status;

fail_early:
	log_error("%s", err);
	return VMM_EXIT_ERROR;
}
