#include "incoming.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "board.h"
#include "clock.h"
#include "errmsg.h"
#include "cpuid.h"
#include "log.h"
#include "ram_prefault.h"
#include "ram_recv.h"
#include "vm.h"
#include "stream_ledger.h"
#include "tls_tunnel.h"
#include "vm_config.h"
#include "vm_sections.h"

/* From accept to a decoded CONFIG (the authentication included): a peer
 * that takes longer is turned away and the wait goes on. */
#define GREETING_TIMEOUT_MS 10000
/* A source that goes quiet for this long mid-stream has failed. */
#define SOURCE_TIMEOUT_MS 60000
/* After READY, GO is due within this long, however it trickles in; a
 * source that has not sent it by then has given up (its downtime-max is
 * far shorter) or is gone. */
#define GO_TIMEOUT_US 60000000ULL

/* Without a secret anyone who reaches the port could send a VM: unless
 * told otherwise, only this host may. */
static void restrict_listener(struct incoming *in, bool insecure)
{
	char was[sizeof(in->uri.host)];

	if (transport__is_loopback(in->uri.host))
		return;
	if (insecure) {
		log_warn("listening on %s:%u without a secret (--insecure): anyone who reaches "
			 "this port can send a VM", in->uri.host[0] ? in->uri.host : "0", in->uri.port);
		return;
	}
	snprintf(was, sizeof(was), "%s", in->uri.host);
	snprintf(in->uri.host, sizeof(in->uri.host), "%s", strchr(was, ':') ? "::1" : "127.0.0.1");
	log_warn("no --secret-file: listening on %s:%u only, not on %s (give --secret-file, or "
		 "--insecure to accept an unauthenticated source from anywhere)", in->uri.host,
		 in->uri.port, was[0] ? was : "0");
}

int incoming__prepare(struct incoming *in, const char *uri, const struct auth_secret *secret,
		      const struct tls_creds *creds, bool insecure, char *err, size_t errlen)
{
	int fd, ret;

	memset(in, 0, sizeof(*in));
	in->listen_fd = in->fd = in->ram_fd = -1;
	in->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (in->cancel_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -errno;
	}
	in->secret = secret && secret->len ? secret : NULL;
	in->creds = creds;
	ret = migrate_stats__init(&in->stats);
	if (ret) {
		snprintf(err, errlen, "out of memory");
		return ret;
	}
	ret = transport__parse_uri(uri, &in->uri, err, errlen);
	if (ret)
		return ret;
	/* As QEMU's tls-creds: given, the migration uses TLS. */
	if (in->uri.kind == TRANSPORT_TCP && in->creds && !in->uri.tls) {
		in->uri.tls = true;
		log_info("--tls-creds given: %s runs TLS, as tls: does", uri);
	}
	if (in->uri.tls && !in->secret && !in->creds)
		return errmsg__fail(-EINVAL, err, errlen, "--incoming %s needs --secret-file or "
				    "--tls-creds: the secret or the certificates are the TLS key", uri);
	/* Certificates say who the source is, as a secret does. */
	if (in->uri.kind == TRANSPORT_TCP && !in->secret && !in->creds)
		restrict_listener(in, insecure);
	fd = transport__open_dest(&in->uri, err, errlen);
	if (fd < 0)
		return fd;
	if (in->uri.kind == TRANSPORT_TCP) {
		in->listen_fd = fd;
		return 0;
	}
	in->fd = fd;
	return incoming_file__open(in, err, errlen);
}

static int send_reason(struct incoming *in, uint32_t type, const char *reason)
{
	struct wbuf b;
	int ret;

	wbuf__init(&b);
	stream_msg__encode_reason(&b, reason);
	ret = b.err ? b.err : stream__send(&in->s, type, b.data, b.len);
	wbuf__free(&b);
	return ret;
}

void incoming__report_failure(struct incoming *in, const char *reason)
{
	if (in->uri.kind != TRANSPORT_TCP || in->fd < 0 || !in->s.preamble_out)
		return;
	/* REFUSE while the source still waits for the verdict on its
	 * configuration, FAILED afterwards. */
	send_reason(in, in->s.last_out ? SECTION_FAILED : SECTION_REFUSE, reason);
}

static bool allowed(const struct incoming *in, const char *host)
{
	unsigned int i;

	if (!in->nr_allow)
		return true;
	for (i = 0; i < in->nr_allow; i++)
		if (transport__same_addr(in->allow[i], host))
			return true;
	return false;
}

/* Waits for a connection from an allowed address; the listening socket
 * stays open (a bad peer must not end the wait for the real source). */
static int accept_one(struct incoming *in, char *err, size_t errlen)
{
	struct pollfd p[2] = { { .fd = in->listen_fd, .events = POLLIN },
			       { .fd = in->cancel_fd, .events = POLLIN } };
	char host[64];
	uint16_t port;
	int fd;

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return errmsg__fail(-errno, err, errlen, "poll: %s", strerror(errno));
		}
		if (p[1].revents)
			return errmsg__fail(-ECANCELED, err, errlen,
					    "cancelled while waiting for a source");
		if (!(p[0].revents & POLLIN))
			continue;
		fd = transport__accept(in->listen_fd, host, sizeof(host), &port, err, errlen);
		if (fd < 0)
			return fd;
		if (allowed(in, host))
			break;
		/* A stranger must not be able to end the wait for the real
		 * source: turn it away and keep listening. */
		log_warn("refused a connection from %s:%u: not in --incoming-allow", host, port);
		close(fd);
	}
	snprintf(in->peer, sizeof(in->peer), "%s:%u", host, port);
	in->fd = fd;
	return 0;
}

/* Test hook: VMM_TEST_HIDE_CPUID="LEAF.SUBLEAF.REG.BIT[,...]" (REG one of
 * eax ebx ecx edx, numbers in hex or decimal) removes those feature bits
 * from what this host claims to support, so a test can watch a
 * destination refuse a guest that uses them, on a single machine. */
static void hide_host_features(struct kvm_cpuid2 *host)
{
	static const char regs[][4] = { "eax", "ebx", "ecx", "edx" };
	const char *v = getenv("VMM_TEST_HIDE_CPUID");
	char buf[256], *tok, *save = NULL;

	if (!v)
		return;
	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned long leaf, sub, bit;
		char reg[4], *p;
		unsigned int i, r;

		leaf = strtoul(tok, &p, 0);
		if (*p++ != '.')
			continue;
		sub = strtoul(p, &p, 0);
		if (*p++ != '.' || strlen(p) < 5 || p[3] != '.')
			continue;
		memcpy(reg, p, 3);
		reg[3] = '\0';
		bit = strtoul(p + 4, NULL, 0);
		for (r = 0; r < 4 && strcmp(reg, regs[r]); r++)
			;
		if (r == 4 || bit > 31)
			continue;
		for (i = 0; i < host->nent; i++) {
			struct kvm_cpuid_entry2 *e = &host->entries[i];
			uint32_t *word = r == 0 ? &e->eax : r == 1 ? &e->ebx : r == 2 ? &e->ecx : &e->edx;

			if (e->function == leaf && e->index == sub)
				*word &= ~(1U << bit);
		}
	}
}

/* The RAM layout vm__create builds (guest_memory's), as CONFIG's slots. */
static int host_layout(uint64_t ram_size, struct vm_config_slot *slots, uint32_t *nr_slots)
{
	struct guest_memory mem;
	unsigned int i;

	if (guest_memory__layout(&mem, ram_size))
		return -EINVAL;
	for (i = 0; i < mem.nr_slots && i < VM_CONFIG_MAX_SLOTS; i++) {
		slots[i].gpa = mem.slots[i].gpa;
		slots[i].size = mem.slots[i].size;
	}
	*nr_slots = i;
	return 0;
}

/* This destination as the compatibility check sees it, but its devices
 * (describe_devices); host->cpuid is allocated here. */
static int describe_host(struct incoming *in, int kvm_fd, struct vm_host *host, char *err,
			 size_t errlen)
{
	struct kvm_cpuid2 *cpuid;
	unsigned int max_cpus;

	memset(host, 0, sizeof(*host));
	cpuid = cpuid__host_supported(kvm_fd);
	if (!cpuid) {
		snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		return -errno;
	}
	hide_host_features(cpuid);
	host->cpuid = cpuid;
	host->ram_size = in->want_ram;
	host->nr_cpus = in->want_cpus;
	vm__host_limits(kvm_fd, host->missing_caps, sizeof(host->missing_caps), &max_cpus);
	host->max_cpus = max_cpus;
	host->layout = host_layout;
	return 0;
}

/* The devices this vmm builds with the drives it has now: --drive-dir
 * makes them only once CONFIG says what the source copies. */
static int describe_devices(const struct incoming *in, struct vm_host *host, char *err,
			    size_t errlen)
{
	_Static_assert(DEVICE_NAME_MAX == VM_CONFIG_NAME_LEN, "a device name fits CONFIG's");
	struct board_device_info devs[VM_CONFIG_MAX_DEVICES];
	int i, n;

	n = board__list_devices(devs, VM_CONFIG_MAX_DEVICES, in->nr_drives);
	if (n < 0) {
		snprintf(err, errlen, "listing this vmm's devices: %s", strerror(-n));
		return n;
	}
	host->nr_devices = (uint32_t)n;
	for (i = 0; i < n; i++) {
		memcpy(host->devices[i].name, devs[i].name, sizeof(host->devices[i].name));
		host->devices[i].version = devs[i].state_version;
	}
	return 0;
}

/* This destination as the check sees it, described before a source
 * connects (KVM_GET_SUPPORTED_CPUID alone takes a millisecond here):
 * nothing in it depends on the source; its devices follow at the check.
 * Freed by free_host. */
static int host_now(struct incoming *in, int kvm_fd, struct vm_host **out, char *err,
		    size_t errlen)
{
	struct vm_host *host = calloc(1, sizeof(*host));
	int ret;

	*out = NULL;
	if (!host)
		return errmsg__fail(-ENOMEM, err, errlen, "out of memory");
	ret = describe_host(in, kvm_fd, host, err, errlen);
	if (ret) {
		free(host);
		return ret;
	}
	*out = host;
	return 0;
}

static void free_host(struct vm_host *host)
{
	if (host)
		free((void *)host->cpuid);
	free(host);
}

/* Where a page of the destination's guest lives: ram_recv reads pages
 * straight there. */
static uint8_t *page_hva(void *ctx, uint64_t gpa)
{
	struct guest_memory *mem = ctx;

	/* ram_batch__check has put gpa inside a slot. */
	return guest_memory__page_hva(mem, guest_memory__gpa_page(mem, gpa));
}

/* check_config has found this host able to build the VM CONFIG describes:
 * the same RAM layout, vCPU count and devices. */
static int build_vm(int kvm_fd, int serial_fd, const struct incoming *in,
		    const struct vm_config *cfg, bool has_shell, struct vm *vm, char *err,
		    size_t errlen)
{
	struct board_drive drives[DRIVE_MAX];
	struct kvm_cpuid2 *cpuid;
	struct board_options bo = {
		.vm = { .kvm_fd = kvm_fd, .ram_size = cfg->ram_size, .nr_cpus = cfg->nr_cpus,
			.dirty_ring_entries = in->dirty_ring_entries,
			.ram_premapped = in->ram_premapped },
		.serial_out_fd = serial_fd,
		.serial_stamp = in->serial_stamp,
		.drives = in->drives,
		.nr_drives = in->nr_drives,
		.vm_has_shell = has_shell,
	};
	unsigned int i;
	int ret;

	/* Block migration may write into a bigger image: the guest keeps
	 * its disk's size (and the device state its capacity). */
	if (cfg->nr_block_drives && in->nr_drives <= DRIVE_MAX) {
		for (i = 0; i < in->nr_drives; i++) {
			drives[i] = in->drives[i];
			drives[i].size = cfg->block_drive_size[i];
		}
		bo.drives = drives;
	}

	/* make_shell's VM has the same RAM: the check held CONFIG to --mem. */
	cpuid = calloc(1, sizeof(*cpuid) + cfg->nr_cpuid * sizeof(cpuid->entries[0]));
	if (!cpuid) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	cpuid->nent = cfg->nr_cpuid;
	memcpy(cpuid->entries, cfg->cpuid, cfg->nr_cpuid * sizeof(cpuid->entries[0]));
	bo.vm.cpuid = cpuid;
	ret = board__create(vm, &bo, err, errlen);
	free(cpuid);
	return ret;
}

/* With --mem the RAM size is known before a source connects: the VM's
 * shell (the KVM VM and its memory slots, whose registration alone takes
 * milliseconds) is made then, as QEMU's destination is built before it
 * listens, and the migration only completes it. */
static int make_shell(int kvm_fd, const struct incoming *in, struct vm *vm, char *err,
		      size_t errlen)
{
	struct vm_options o = {
		.kvm_fd = kvm_fd, .ram_size = in->want_ram,
		.dirty_ring_entries = in->dirty_ring_entries, .ram_premapped = in->ram_premapped,
	};

	return vm__create_shell(vm, &o, err, errlen);
}

/* The stream's preamble and its CONFIG, decoded but not yet checked. */
static int read_config(struct incoming *in, struct section *sec, struct vm_config *cfg,
		       char *err, size_t errlen)
{
	struct rbuf r;
	int ret;

	ret = stream__read_preamble(&in->s, err, errlen);
	if (!ret)
		ret = stream__recv(&in->s, sec, err, errlen);
	if (ret)
		return ret;
	if (sec->type != SECTION_CONFIG) {
		snprintf(err, errlen, "stream starts with %s, not CONFIG", stream__type_name(sec->type));
		return -EPROTO;
	}
	rbuf__init(&r, sec->payload, sec->len);
	return vm_config__decode(cfg, &r, err, errlen);
}

/* Before anything is allocated for it: a guest bigger than --max-mem (or
 * than what the host had available) is refused with both numbers. */
static int check_config(struct incoming *in, struct vm_host *host,
			const struct vm_config *cfg, char *err, size_t errlen)
{
	int ret;

	if (in->max_ram && cfg->ram_size > in->max_ram) {
		snprintf(err, errlen, "source RAM %" PRIu64 " MiB is more than this destination "
			 "takes: %" PRIu64 " MiB (%s)", cfg->ram_size >> 20, in->max_ram >> 20,
			 in->max_ram_origin ? in->max_ram_origin : "--max-mem");
		return -EFBIG;
	}
	/* First: a destination without the images to write says so, rather
	 * than that it lacks the source's virtio-blk devices. */
	ret = incoming_blk__check(in, cfg, err, errlen);
	if (!ret)
		ret = describe_devices(in, host, err, errlen);
	/* The one compatibility check, before anything is accepted or built
	 * from CONFIG (a shell made from --mem is not). */
	return ret ? ret : vm_config__check_compat(cfg, host, err, errlen);
}

/* The ledger has checked the section: block migration's data bytes and
 * the statistics are left. */
/* 3.5: the round is in guest memory. A source pauses its guest once the
 * rounds before the last are done here: what it sent and this side has
 * not yet read would otherwise be read inside the downtime. Not to an
 * older source (it would refuse the section), nor into a file. */
static int round_done(struct incoming *in, uint32_t round, char *err, size_t errlen)
{
	struct wbuf b;
	int ret;

	if (!stream__has_round_done(&in->s))
		return 0;
	wbuf__init(&b);
	stream_msg__encode_round_done(&b, round);
	ret = b.err ? b.err : stream__send(&in->s, SECTION_ROUND_DONE, b.data, b.len);
	wbuf__free(&b);
	if (ret)
		errmsg__set(err, errlen, "sending ROUND_DONE of round %u: %s", round,
			     strerror(-ret));
	return ret;
}

static int record_round(struct incoming *in, const struct section *sec, uint64_t *round_start,
			char *err, size_t errlen)
{
	struct round_end_msg msg;
	struct round_stats rs = { 0 };
	uint64_t now = clock__mono_us();
	int ret;

	stream_msg__decode_round_end(sec->payload, sec->len, &msg, NULL, 0);
	ret = incoming_blk__end_round(in, &msg, err, errlen);
	if (ret)
		return ret;
	rs.disk_bytes = msg.block_bytes;
	rs.index = msg.round;
	rs.start_us = *round_start - in->stats.start_mono_us;
	rs.duration_us = now - *round_start;
	rs.pages_sent = msg.pages;
	rs.bytes = msg.bytes;
	rs.bandwidth_bps = rs.duration_us ? msg.bytes * 1e6 / rs.duration_us : 0;
	migrate_stats__add_round(&in->stats, &rs);
	*round_start = now;
	return round_done(in, msg.round, err, errlen);
}

/* Test hook: VMM_TEST_KILL_AT=round:N (on the first RAM section of round N)
 * or =state (on the first vCPU state) or =go (on GO, before the guest runs)
 * or =block (on the first BLOCK section: block migration's bulk pass)
 * makes this process SIGKILL itself,
 * so tests can kill a destination at an exact phase of the migration. */
static void maybe_die(const struct section *sec)
{
	static int mode = -1;	/* -1 unknown, 0 off, 1 round, 2 state, 3 go, 4 block */
	static uint32_t round;
	const char *v;

	if (mode < 0) {
		v = getenv("VMM_TEST_KILL_AT");
		mode = 0;
		if (v && !strncmp(v, "round:", 6)) {
			mode = 1;
			round = (uint32_t)strtoul(v + 6, NULL, 10);
		} else if (v && !strcmp(v, "state")) {
			mode = 2;
		} else if (v && !strcmp(v, "go")) {
			mode = 3;
		} else if (v && !strcmp(v, "block")) {
			mode = 4;
		}
	}
	if ((mode == 1 && sec->type == SECTION_RAM && sec->len >= 4 &&
	     wire__get_le32(sec->payload) == round) ||
	    (mode == 2 && sec->type == SECTION_VCPU) ||
	    (mode == 3 && sec->type == SECTION_GO) ||
	    (mode == 4 && sec->type == SECTION_BLOCK)) {
		log_info("VMM_TEST_KILL_AT: killing this destination now");
		kill(getpid(), SIGKILL);
	}
}

/* Everything is loaded and nothing runs: READY, then GO, the source's
 * promise never to resume its copy. Without GO the guest must not run
 * here, whatever happened to the source. */
static int await_go(struct incoming *in, struct stream_ledger *ledger, struct section *sec,
		    char *err, size_t errlen)
{
	char why[256];
	int ret;

	ret = stream__send(&in->s, SECTION_READY, NULL, 0);
	if (ret) {
		snprintf(err, errlen, "lost the source before GO (sending READY: %s)", strerror(-ret));
		return ret;
	}
	in->s.wait.deadline_us = clock__mono_us() + GO_TIMEOUT_US;
	ret = stream__recv(&in->s, sec, why, sizeof(why));
	if (!ret) {
		maybe_die(sec);
		ret = stream_ledger__take(ledger, sec, why, sizeof(why));
	}
	if (ret)
		snprintf(err, errlen, "lost the source before GO (%s)",
			 ret == -ETIMEDOUT ? "no GO within 60 s" : why);
	return ret;
}

static int receive_stream(struct incoming *in, struct vm *vm, const struct vm_config *cfg,
			  struct section *sec, char *err, size_t errlen)
{
	struct stream_ledger ledger;
	struct vm_state_set set;
	struct ram_batch_info info;
	struct ram_recv *rr = malloc(sizeof(*rr));
	uint64_t round_start = clock__mono_us();
	struct ram_prefault prefault;
	int ret;

	ret = rr ? ram_recv__init(rr, cfg, page_hva, &vm->mem) : -ENOMEM;
	if (!ret) {
		ret = vm_state_set__init(&set, vm->nr_cpus);
		if (ret)
			ram_recv__free(rr);
	}
	if (ret) {
		free(rr);
		snprintf(err, errlen, "out of memory");
		return ret;
	}
	stream_ledger__init(&ledger, cfg);
	/* Round 0 fills fresh RAM: a second thread takes over first touches
	 * (ram_prefault.h). Without it the receiver makes them all. A saved
	 * file's RAM is read apart from this stream. */
	memset(&prefault, 0, sizeof(prefault));
	if (!in->mapped && !ram_prefault__start(&prefault, vm->mem.base, vm->mem.size))
		rr->prefault = &prefault;
	for (;;) {
		/* A RAM section stops after its entry table: the pages are
		 * read into guest memory once the table has passed. */
		ret = stream__recv_head(&in->s, sec, err, errlen);
		if (ret)
			break;
		maybe_die(sec);
		/* Order, identity and counts first, before a payload is used. */
		ret = stream_ledger__take(&ledger, sec, err, errlen);
		if (!ret && in->mapped && sec->type == SECTION_RAM)
			ret = errmsg__fail(-EPROTO, err, errlen, "saved file: a RAM section in the "
					   "state stream, whose pages belong in the RAM region");
		if (ret)
			break;
		if (sec->type == SECTION_RAM) {
			ret = ram_recv__section(rr, &in->s, sec, &info, err, errlen);
			if (ret)
				break;
			migrate_stats__count_pages(&in->stats, info.pages, info.zero_pages,
						   info.nr_zero + info.nr_run, in->s.bytes_in);
			if (info.nr_torn) {
				migrate_stats__lock(&in->stats);
				in->stats.torn_pages += info.nr_torn;
				migrate_stats__unlock(&in->stats);
			}
		} else if (sec->type == SECTION_BLOCK) {
			ret = incoming_blk__section(in, sec, err, errlen);
			if (ret)
				break;
		} else if (sec->type == SECTION_ROUND_END) {
			/* Later rounds write memory round 0 allocated. */
			ram_prefault__finish(&prefault);
			ret = record_round(in, sec, &round_start, err, errlen);
			if (ret)
				break;
		} else if (sec->type == SECTION_END) {
			ret = ram_recv__check_end(rr, err, errlen);
			/* The images durable before READY: after GO the source's
			 * copy may be gone. */
			if (!ret)
				ret = incoming_blk__sync(in, err, errlen);
			if (!ret)
				ret = vm_state_set__apply(&set, vm, err, errlen);
			if (!ret && in->s.is_socket)
				ret = await_go(in, &ledger, sec, err, errlen);
			break;
		} else {
			ret = vm_state_set__take(&set, vm, sec, err, errlen);
			if (ret)
				break;
		}
	}
	ram_prefault__stop(&prefault);
	migrate_stats__lock(&in->stats);
	in->stats.prefault_chunks = prefault.chunks;
	in->stats.prefault_us = prefault.busy_us;
	migrate_stats__unlock(&in->stats);
	vm_state_set__free(&set);
	ram_recv__free(rr);
	free(rr);
	return ret;
}

/* Says what became of the VM: it never ran here. */
static void discarded(char *err, size_t errlen)
{
	size_t n = strlen(err);

	snprintf(err + n, errlen - n, "; the VM built here was discarded, the guest stays on the source");
}

/* A source that knows a secret this destination lacks: its HELLO is
 * waiting (peeked, not read), so this side can say why it will fail. */
static bool peer_authenticates(struct incoming *in)
{
	uint8_t buf[AUTH_MAGIC_LEN];
	struct pollfd p = { .fd = in->fd, .events = POLLIN };
	uint64_t now = clock__mono_us();
	ssize_t n;

	if (now >= in->s.wait.deadline_us ||
	    poll(&p, 1, (int)((in->s.wait.deadline_us - now + 999) / 1000)) <= 0)
		return false;
	n = recv(in->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	return n == AUTH_MAGIC_LEN && auth__is_hello(buf, (size_t)n);
}

/* From accept to a decoded CONFIG: the secret proved both ways (or its
 * absence on both sides), the preambles, the configuration. A failure
 * here is a bad peer, not a refused source. */
static int greet(struct incoming *in, struct section *sec, struct vm_config *cfg, char *err,
		 size_t errlen)
{
	struct stream_wait w = {
		.deadline_us = clock__mono_us() + GREETING_TIMEOUT_MS * 1000ULL,
		.cancel_fd = in->cancel_fd, .stall_ms = SOURCE_TIMEOUT_MS,
	};
	int fd, ret;

	/* tls: the stream reads the tunnel's plain end; the tunnel owns the
	 * TCP connection (on failure it stays ours, closed by turn_away). */
	if (in->uri.tls) {
		struct tls_keys keys = { .secret = in->secret, .creds = in->creds };

		fd = tls_tunnel__start(in->fd, TLS_SERVER, &keys, &w, err, errlen);
		if (fd < 0)
			return fd;
		in->fd = fd;
	}
	stream__init(&in->s, in->fd, STREAM_DEST);
	in->s.wait = w;
	in->s.is_socket = true;
	if (in->secret && in->secret->len) {
		ret = auth__dest(in->fd, in->secret, &in->s.wait, err, errlen);
		/* A source without a secret reads a REFUSE that says why. */
		if (ret == -ENOPROTOOPT)
			stream__write_preamble(&in->s);
		if (ret)
			return ret;
	}
	ret = stream__write_preamble(&in->s);
	if (ret) {
		snprintf(err, errlen, "sending the return-path preamble: %s", strerror(-ret));
		return ret;
	}
	if (!(in->secret && in->secret->len) && peer_authenticates(in)) {
		snprintf(err, errlen, "the source wants to authenticate (it has a secret) and this "
			 "destination has none (--secret-file)");
		return -EACCES;
	}
	ret = read_config(in, sec, cfg, err, errlen);
	in->s.wait.deadline_us = 0;
	return ret;
}

/* Turns a bad peer away: it is told why when it can read it, its
 * connection ends, and the wait goes on, up to INCOMING_MAX_FAILED. */
static int turn_away(struct incoming *in, const char *why, char *err, size_t errlen)
{
	incoming__report_failure(in, why);
	close(in->fd);
	in->fd = -1;
	in->failed++;
	if (in->failed >= INCOMING_MAX_FAILED) {
		snprintf(err, errlen, "gave up after %u failed connections (the last, from %s: %s)",
			 in->failed, in->peer, why);
		return -ECONNABORTED;
	}
	log_warn("connection from %s turned away: %s; still waiting for the source (%u of %u "
		 "failed connections)", in->peer, why, in->failed, INCOMING_MAX_FAILED);
	return 0;
}

/* While one peer is served, a second connection is refused at once
 * rather than left queued behind it: a thread accepts and closes. */
struct busy_guard {
	struct incoming *in;
	int stop_fd;			/* an eventfd: readable = stop */
	pthread_t thread;
	bool running;
};

static void *guard_run(void *arg)
{
	struct busy_guard *g = arg;
	struct pollfd p[2] = { { .fd = g->in->listen_fd, .events = POLLIN },
			       { .fd = g->stop_fd, .events = POLLIN } };
	char host[64], err[128];
	uint16_t port;
	int fd;

	pthread_setname_np(pthread_self(), "incoming-busy");
	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return NULL;
		if (p[1].revents)
			return NULL;
		if (!(p[0].revents & POLLIN))
			continue;
		fd = transport__accept(g->in->listen_fd, host, sizeof(host), &port, err, sizeof(err));
		if (fd < 0)
			continue;
		log_warn("refused a connection from %s:%u: busy with %s", host, port, g->in->peer);
		close(fd);
	}
}

static void guard_start(struct busy_guard *g, struct incoming *in)
{
	g->in = in;
	g->running = false;
	g->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (g->stop_fd < 0)
		return;	/* a second peer then waits its turn: no harm */
	g->running = !pthread_create(&g->thread, NULL, guard_run, g);
	if (!g->running)
		close(g->stop_fd);
}

static void guard_stop(struct busy_guard *g)
{
	uint64_t one = 1;

	if (!g->running)
		return;
	if (write(g->stop_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("stopping the busy guard: %s", strerror(errno));
	pthread_join(g->thread, NULL);
	close(g->stop_fd);
	g->running = false;
}

/* TCP: connections until one greets as a source should; each bad one is
 * turned away. Then the listening socket closes: one source at a time. */
static int accept_source(struct incoming *in, struct section *sec, struct vm_config *cfg,
			 char *err, size_t errlen)
{
	struct busy_guard guard;
	char why[512];
	int ret;

	log_info("waiting for a migration on %s:%u", in->uri.host, in->uri.port);
	for (;;) {
		ret = accept_one(in, err, errlen);
		if (ret)
			return ret;
		log_info("connection from %s", in->peer);
		guard_start(&guard, in);
		ret = greet(in, sec, cfg, why, sizeof(why));
		guard_stop(&guard);
		if (!ret)
			break;
		if (ret == -ECANCELED) {
			incoming__report_failure(in, "the destination was told to stop waiting");
			return errmsg__fail(ret, err, errlen, "cancelled while %s was connecting",
					    in->peer);
		}
		ret = turn_away(in, why, err, errlen);
		if (ret)
			return ret;
	}
	close(in->listen_fd);
	in->listen_fd = -1;
	log_info("migration from %s", in->peer);
	return 0;
}

static int receive_start(struct incoming *in, struct section *sec, struct vm_config *cfg,
			 char *err, size_t errlen)
{
	int ret;

	if (in->uri.kind == TRANSPORT_TCP) {
		ret = accept_source(in, sec, cfg, err, errlen);
		migrate_stats__start(&in->stats, in->fd >= 0 ? in->peer : in->uri.host);
		return ret;
	}
	migrate_stats__start(&in->stats, in->uri.path);
	ret = incoming_file__probe(in, err, errlen);
	if (ret)
		return ret;
	stream__init(&in->s, in->fd, STREAM_DEST);
	in->s.wait.cancel_fd = in->cancel_fd;
	ret = read_config(in, sec, cfg, err, errlen);
	if (!ret && in->mapped)
		ret = incoming_file__check_config(in, cfg->ram_size, err, errlen);
	return ret;
}

static bool cancel_requested(const struct incoming *in)
{
	struct pollfd p = { .fd = in->cancel_fd, .events = POLLIN };

	return in->cancel_fd >= 0 && poll(&p, 1, 0) == 1;
}

int incoming__receive(struct incoming *in, int kvm_fd, int serial_out_fd, struct vm *vm,
		      char *err, size_t errlen)
{
	struct vm_config *cfg = calloc(1, sizeof(*cfg));
	struct vm_host *host = NULL;
	struct section sec;
	bool has_shell = false, vm_built = false;
	int ret;

	section__init(&sec);
	if (!cfg) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = host_now(in, kvm_fd, &host, err, errlen);
	if (ret)
		goto out;
	if (in->want_ram) {
		ret = make_shell(kvm_fd, in, vm, err, errlen);
		if (ret)
			goto out;
		has_shell = true;
	}
	ret = receive_start(in, &sec, cfg, err, errlen);
	if (!ret)
		ret = check_config(in, host, cfg, err, errlen);
	/* ACCEPT as soon as the check has passed, and build after it: the
	 * source's round 0 starts while the VM is built here (KVM's memory
	 * slot alone takes milliseconds), its first pages waiting in the
	 * connection's buffers. A build that fails now is a FAILED, read by
	 * the source before it pauses its guest. */
	if (!ret && in->s.is_socket) {
		ret = stream__send(&in->s, SECTION_ACCEPT, NULL, 0);
		if (ret)
			snprintf(err, errlen, "accepting the source: %s", strerror(-ret));
	}
	if (!ret) {
		ret = build_vm(kvm_fd, serial_out_fd, in, cfg, has_shell, vm, err, errlen);
		vm_built = !ret;
		has_shell = false;	/* built, or destroyed with the failure */
	}
	if (ret)
		goto out;
	migrate_stats__lock(&in->stats);
	in->stats.ram_total = cfg->ram_size;
	in->stats.setup_us = clock__mono_us() - in->stats.start_mono_us;
	migrate_stats__unlock(&in->stats);
	migrate_stats__move(&in->stats, MIGRATE_STATUS_SETUP, MIGRATE_STATUS_ACTIVE);
	/* A saved file's RAM first: every page is checked before the
	 * state is, and the guest runs only if both pass. */
	ret = in->mapped ? incoming_file__load(in, vm->mem.base, err, errlen) : 0;
	if (!ret)
		ret = receive_stream(in, vm, cfg, &sec, err, errlen);
	/* GO may have come in just as the cancel: the guest must not start,
	 * and FAILED (below) tells the source to resume its own. */
	if (!ret && cancel_requested(in))
		ret = errmsg__fail(-ECANCELED, err, errlen, "cancelled before the guest started here");
	if (ret == -ECANCELED && !strstr(err, "cancelled"))
		snprintf(err, errlen, "cancelled while receiving the guest");
out:
	if (ret) {
		incoming__report_failure(in, err);
		migrate_stats__set_error(&in->stats, "%s", err);
		/* From wherever it got to: setup, or active. */
		migrate_stats__set_status(&in->stats, MIGRATE_STATUS_FAILED);
		if (vm_built) {
			vm__destroy(vm);
			discarded(err, errlen);
		}
		if (has_shell)
			vm__destroy(vm);
	}
	free_host(host);
	section__free(&sec);
	free(cfg);
	return ret;
}

int incoming__ack_resumed(struct incoming *in, char *err, size_t errlen)
{
	int ret = 0;

	if (in->uri.kind == TRANSPORT_TCP) {
		ret = stream__send(&in->s, SECTION_RESUMED, NULL, 0);
		if (ret)
			snprintf(err, errlen, "the guest runs here, but RESUMED did not reach the source "
				 "(%s): it keeps its copy paused (handover unconfirmed); 'quit' it",
				 strerror(-ret));
	}
	migrate_stats__lock(&in->stats);
	in->stats.bytes_total = in->s.bytes_in + in->s.bytes_out;
	/* The receive runs on this (the main) thread from accept to here. */
	in->stats.cpu_time_us = clock__us(CLOCK_THREAD_CPUTIME_ID);
	migrate_stats__unlock(&in->stats);
	/* Completed either way: after GO the guest is this side's. */
	migrate_stats__move(&in->stats, MIGRATE_STATUS_ACTIVE, MIGRATE_STATUS_COMPLETED);
	return ret;
}

void incoming__cancel(struct incoming *in)
{
	uint64_t one = 1;

	if (in->cancel_fd >= 0 && write(in->cancel_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("cancelling the incoming migration: %s", strerror(errno));
}

void incoming__close(struct incoming *in)
{
	if (in->listen_fd >= 0)
		close(in->listen_fd);
	if (in->fd >= 0)
		close(in->fd);
	if (in->cancel_fd >= 0)
		close(in->cancel_fd);
	in->listen_fd = in->fd = in->cancel_fd = -1;
	incoming_file__close(in);
	incoming_blk__free(in);
	migrate_stats__free(&in->stats);
}
