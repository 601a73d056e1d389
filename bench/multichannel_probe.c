/* What several channels (multifd) could buy round 0 on this machine, before
 * any of it is built into vmm: SIZE MiB of all-non-zero memory moved over
 * loopback TCP by N connections, one thread per connection on each side,
 * doing per page what vmm's round 0 does.
 *
 *   sender (a child process): memory pre-faulted, MADV_HUGEPAGE, every
 *     64-bit word non-zero. Channel c owns the 4 MiB chunks c, c+N, c+2N...
 *     and sends each chunk as one batch of 1024 pages, as vmm's
 *     RAM_BATCH_MAX_PAGES: the zero test in place (mem__is_zero) while the
 *     batch is built, the CRC32C of each DATA page when it is finished, then
 *     one scatter-gather sendmsg of head, entry table and the pages straight
 *     from memory (adjacent pages as one run), then a trailer.
 *   receiver (the parent): reads each batch's head and entry table, then
 *     readv's the pages straight into a fresh MADV_HUGEPAGE mapping (never
 *     touched before, as a new destination's guest RAM) at their offsets,
 *     and checks every page's CRC32C there.
 *
 * The wire shape follows vmm's stream (16-byte section head, u64 offset |
 * flag and u32 CRC per page, u32 trailer CRC over head and entries), not
 * its bytes. Unlike vmm, sockets block instead of poll + MSG_DONTWAIT.
 *
 * Wall time runs from the first byte the receiver gets on any channel to
 * the last page checked on any channel; CPU is getrusage of each process
 * over its part (the sender's fill and both sides' setup excluded).
 *
 *   cc -O2 -Wall -Wextra -Werror -Iinclude -D_GNU_SOURCE -pthread \
 *      bench/multichannel_probe.c build/libvmm.a -lisal -o build/multichannel_probe
 *   build/multichannel_probe -n 2 [-m 1024] [-p 0] [-f]
 *
 * -n channels (1-64), -m MiB to move (a multiple of 4), -p the receiver's
 * port (0: any free one), -f: the receiver's memory touched before the
 * clock starts (a destination that populated its RAM first), to tell the
 * first touch from the rest. Prints one line: channels, GB/s (10^9 bytes
 * of pages per second of wall time), each side's CPU seconds (and the
 * part of it in the kernel), the receiver's minor faults. Exits 1 if a
 * page arrived wrong or a side failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "mem_zero.h"
#include "stream.h"

#define MAX_CHANNELS	64
#define CHUNK_PAGES	RAM_BATCH_MAX_PAGES
#define CHUNK_BYTES	((size_t)CHUNK_PAGES * RAM_PAGE_SIZE)
#define HEAD_LEN	16	/* u32 type, u32 count, u64 bytes that follow */
#define TABLE_MAX	(HEAD_LEN + (size_t)CHUNK_PAGES * RAM_ENTRY_LEN)
#define TYPE_PAGES	1u
#define TYPE_END	2u
#define FLAG_ZERO	1u
#define FLAG_DATA	2u
/* sendmsg and readv take at most IOV_MAX entries; vmm sends in slices too. */
#define IOV_SLICE	256

struct channel {
	int fd;
	unsigned index;
	uint8_t *mem;
	size_t bytes;
	unsigned nr_channels;
	uint8_t table[TABLE_MAX];
	struct iovec iov[CHUNK_PAGES + 2];
	uint64_t pages;		/* receiver: pages accounted for */
	double first_s, end_s;	/* receiver: first byte, last page checked */
	bool failed;
};

/* What the sender child reports back to the parent. */
struct sender_result {
	double cpu_s, sys_s;
	int ok;
};

static double mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void rusage_now(double *total, double *sys, long *minflt)
{
	struct rusage u;

	getrusage(RUSAGE_SELF, &u);
	*sys = u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
	*total = *sys + u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6;
	*minflt = u.ru_minflt;
}

/* Moves every byte of iov (which it consumes) in or out, blocking. */
static int move_all(int fd, struct iovec *iov, int cnt, bool out)
{
	struct msghdr m = { 0 };
	ssize_t r;

	while (cnt > 0) {
		m.msg_iov = iov;
		m.msg_iovlen = cnt < IOV_SLICE ? cnt : IOV_SLICE;
		r = out ? sendmsg(fd, &m, MSG_NOSIGNAL) : readv(fd, iov, (int)m.msg_iovlen);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		for (; cnt > 0 && (size_t)r >= iov->iov_len; iov++, cnt--)
			r -= (ssize_t)iov->iov_len;
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

static int move_buf(int fd, void *buf, size_t len, bool out)
{
	struct iovec v = { .iov_base = buf, .iov_len = len };

	return move_all(fd, &v, 1, out);
}

static void put_head(uint8_t *p, uint32_t type, uint32_t count, uint64_t len)
{
	memcpy(p, &type, 4);
	memcpy(p + 4, &count, 4);
	memcpy(p + 8, &len, 8);
}

/* One chunk as vmm's batch is built: zero test per page, the DATA pages
 * as iovec runs, then their CRCs once the table is complete. */
static int send_chunk(struct channel *c, size_t chunk_off)
{
	uint8_t *e = c->table + HEAD_LEN, *page;
	uint32_t crc, count = 0, data = 0, trailer;
	uint64_t word;
	int nr_iov = 1;
	size_t i;

	for (i = 0; i < CHUNK_PAGES && chunk_off + i * RAM_PAGE_SIZE < c->bytes; i++, count++) {
		page = c->mem + chunk_off + i * RAM_PAGE_SIZE;
		word = (chunk_off + i * RAM_PAGE_SIZE) |
		       (mem__is_zero(page, RAM_PAGE_SIZE) ? FLAG_ZERO : FLAG_DATA);
		memcpy(e + (size_t)count * RAM_ENTRY_LEN, &word, 8);
		if (word & FLAG_ZERO)
			continue;
		data++;
		if (nr_iov > 1 && (uint8_t *)c->iov[nr_iov - 1].iov_base +
					  c->iov[nr_iov - 1].iov_len == page) {
			c->iov[nr_iov - 1].iov_len += RAM_PAGE_SIZE;
		} else {
			c->iov[nr_iov].iov_base = page;
			c->iov[nr_iov++].iov_len = RAM_PAGE_SIZE;
		}
	}
	for (i = 0; i < count; i++) {
		memcpy(&word, e + i * RAM_ENTRY_LEN, 8);
		crc = word & FLAG_DATA ? crc32c__extend(0, c->mem + (word & ~(uint64_t)3),
							RAM_PAGE_SIZE) : 0;
		memcpy(e + i * RAM_ENTRY_LEN + 8, &crc, 4);
	}
	put_head(c->table, TYPE_PAGES, count,
		 (uint64_t)count * RAM_ENTRY_LEN + (uint64_t)data * RAM_PAGE_SIZE + 4);
	trailer = crc32c__extend(0, c->table, HEAD_LEN + (size_t)count * RAM_ENTRY_LEN);
	c->iov[0].iov_base = c->table;
	c->iov[0].iov_len = HEAD_LEN + (size_t)count * RAM_ENTRY_LEN;
	c->iov[nr_iov].iov_base = &trailer;
	c->iov[nr_iov++].iov_len = 4;
	return move_all(c->fd, c->iov, nr_iov, true);
}

static void *send_channel(void *arg)
{
	struct channel *c = arg;
	size_t off, stride = CHUNK_BYTES * c->nr_channels;
	uint8_t go;

	/* Start once the receiver's thread waits: its clock starts at our
	 * first byte. */
	if (move_buf(c->fd, &go, 1, false))
		c->failed = true;
	for (off = c->index * CHUNK_BYTES; !c->failed && off < c->bytes; off += stride)
		c->failed = send_chunk(c, off) != 0;
	put_head(c->table, TYPE_END, 0, 0);
	if (!c->failed)
		c->failed = move_buf(c->fd, c->table, HEAD_LEN, true) != 0;
	return NULL;
}

static int fail(struct channel *c, const char *why)
{
	fprintf(stderr, "multichannel_probe: channel %u: %s\n", c->index, why);
	c->failed = true;
	return -1;
}

/* One batch: entries, then the pages straight into place, then checks. */
static int recv_batch(struct channel *c, uint32_t count, uint64_t len)
{
	uint8_t *e = c->table + HEAD_LEN;
	uint64_t word, off, data = 0;
	uint32_t i, crc, trailer;
	int nr_iov = 0;

	if (count == 0 || count > CHUNK_PAGES || len < (uint64_t)count * RAM_ENTRY_LEN + 4)
		return fail(c, "bad batch head");
	if (move_buf(c->fd, e, (size_t)count * RAM_ENTRY_LEN, false))
		return fail(c, "short read of an entry table");
	for (i = 0; i < count; i++) {
		memcpy(&word, e + (size_t)i * RAM_ENTRY_LEN, 8);
		off = word & ~(uint64_t)(RAM_PAGE_SIZE - 1);
		if ((word & (RAM_PAGE_SIZE - 1)) != FLAG_DATA || off >= c->bytes) {
			if ((word & (RAM_PAGE_SIZE - 1)) != FLAG_ZERO || off >= c->bytes)
				return fail(c, "bad entry");
			continue;
		}
		data++;
		if (nr_iov > 0 && (uint8_t *)c->iov[nr_iov - 1].iov_base +
					  c->iov[nr_iov - 1].iov_len == c->mem + off) {
			c->iov[nr_iov - 1].iov_len += RAM_PAGE_SIZE;
		} else {
			c->iov[nr_iov].iov_base = c->mem + off;
			c->iov[nr_iov++].iov_len = RAM_PAGE_SIZE;
		}
	}
	if (len != (uint64_t)count * RAM_ENTRY_LEN + data * RAM_PAGE_SIZE + 4)
		return fail(c, "batch length does not match its entries");
	c->iov[nr_iov].iov_base = &trailer;
	c->iov[nr_iov++].iov_len = 4;
	if (move_all(c->fd, c->iov, nr_iov, false))
		return fail(c, "short read of pages");
	if (crc32c__extend(0, c->table, HEAD_LEN + (size_t)count * RAM_ENTRY_LEN) != trailer)
		return fail(c, "trailer CRC mismatch");
	/* Fresh memory reads as zero: a ZERO page needs nothing. */
	for (i = 0; i < count; i++) {
		memcpy(&word, e + (size_t)i * RAM_ENTRY_LEN, 8);
		memcpy(&crc, e + (size_t)i * RAM_ENTRY_LEN + 8, 4);
		off = word & ~(uint64_t)(RAM_PAGE_SIZE - 1);
		if ((word & FLAG_DATA) && crc32c__extend(0, c->mem + off, RAM_PAGE_SIZE) != crc)
			return fail(c, "page CRC mismatch");
	}
	c->pages += count;
	return 0;
}

static void *recv_channel(void *arg)
{
	struct channel *c = arg;
	uint32_t type, count;
	uint64_t len;
	uint8_t go = 1;

	if (move_buf(c->fd, &go, 1, true)) {
		fail(c, "cannot start the sender");
		return NULL;
	}
	while (!c->failed) {
		if (move_buf(c->fd, c->table, HEAD_LEN, false)) {
			fail(c, "short read of a batch head");
			break;
		}
		if (c->first_s == 0)
			c->first_s = mono_s();
		memcpy(&type, c->table, 4);
		memcpy(&count, c->table + 4, 4);
		memcpy(&len, c->table + 8, 8);
		if (type == TYPE_END)
			break;
		if (type != TYPE_PAGES)
			fail(c, "bad batch type");
		else if (!recv_batch(c, count, len))
			c->end_s = mono_s();	/* the last one: the last page checked */
	}
	return NULL;
}

static uint8_t *map_thp(size_t bytes)
{
	uint8_t *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (m == MAP_FAILED)
		return NULL;
	madvise(m, bytes, MADV_HUGEPAGE);	/* as vmm's guest RAM */
	return m;
}

/* Runs threads over chans[0..n) and the CPU this process spent on them. */
static bool run_threads(struct channel *chans, unsigned n, void *(*fn)(void *),
			double *cpu, double *sys, long *minflt)
{
	pthread_t t[MAX_CHANNELS];
	double c0, s0;
	long f0;
	unsigned i;
	bool ok = true;

	rusage_now(&c0, &s0, &f0);
	for (i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, fn, &chans[i]))
			exit(1);
	for (i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		ok = ok && !chans[i].failed;
	}
	rusage_now(cpu, sys, minflt);
	*cpu -= c0;
	*sys -= s0;
	*minflt -= f0;
	return ok;
}

static void sender(int port, unsigned n, size_t bytes, struct sender_result *res)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct channel *chans = calloc(n, sizeof(*chans));
	uint8_t *mem = map_thp(bytes);
	uint64_t *w;
	long minflt;
	unsigned i;

	if (!chans || !mem)
		exit(1);
	/* Every word non-zero: the zero test reads one block per page and
	 * answers "data", as for a guest that wrote all its memory. */
	for (w = (uint64_t *)mem; (uint8_t *)w < mem + bytes; w++)
		*w = ((uint64_t)(w - (uint64_t *)mem) * 0x9e3779b97f4a7c15ull) | 1;
	for (i = 0; i < n; i++) {
		chans[i] = (struct channel){ .fd = socket(AF_INET, SOCK_STREAM, 0), .index = i,
					     .mem = mem, .bytes = bytes, .nr_channels = n };
		if (connect(chans[i].fd, (struct sockaddr *)&a, sizeof(a)))
			exit(1);
	}
	res->ok = run_threads(chans, n, send_channel, &res->cpu_s, &res->sys_s, &minflt);
	exit(res->ok ? 0 : 1);
}

static int usage(void)
{
	fprintf(stderr, "usage: multichannel_probe [-n 1-%d] [-m MiB, a multiple of 4] [-p port] [-f]\n",
		MAX_CHANNELS);
	return 2;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct sender_result *res;
	struct channel *chans;
	uint8_t *mem;
	double cpu, sys, first = 0, end = 0;
	unsigned n = 1, i;
	size_t mib = 1024, bytes;
	uint64_t pages = 0;
	long minflt;
	int opt, lfd, status = 0, port = 0;
	pid_t pid;
	bool ok, prefault = false;

	while ((opt = getopt(argc, argv, "n:m:p:f")) != -1) {
		if (opt == 'n')
			n = (unsigned)atoi(optarg);
		else if (opt == 'm')
			mib = (size_t)atol(optarg);
		else if (opt == 'p')
			port = atoi(optarg);
		else if (opt == 'f')
			prefault = true;
		else
			return usage();
	}
	if (n < 1 || n > MAX_CHANNELS || mib < 4 || mib % 4 || port < 0 || port > 65535)
		return usage();
	bytes = mib << 20;
	a.sin_port = htons(port);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int)) ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, (int)n) ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen)) {
		perror("multichannel_probe: listen");
		return 1;
	}
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED)
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(lfd);
		sender(ntohs(a.sin_port), n, bytes, res);
	}
	chans = calloc(n, sizeof(*chans));
	if (!chans)
		return 1;
	mem = map_thp(bytes);
	if (!mem)
		return 1;
	if (prefault)
		memset(mem, 0, bytes);
	for (i = 0; i < n; i++) {
		chans[i] = (struct channel){ .fd = accept(lfd, NULL, NULL), .index = i,
					     .mem = mem, .bytes = bytes,
					     .nr_channels = n };
		if (chans[i].fd < 0)
			return 1;
	}
	ok = run_threads(chans, n, recv_channel, &cpu, &sys, &minflt);
	for (i = 0; i < n; i++) {
		pages += chans[i].pages;
		if (chans[i].first_s && (!first || chans[i].first_s < first))
			first = chans[i].first_s;
		if (chans[i].end_s > end)
			end = chans[i].end_s;
		close(chans[i].fd);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) ||
	    !res->ok || !ok || pages != bytes / RAM_PAGE_SIZE || end <= first) {
		fprintf(stderr, "multichannel_probe: failed (%llu of %zu pages, sender status %d)\n",
			(unsigned long long)pages, bytes / RAM_PAGE_SIZE, status);
		return 1;
	}
	printf("multichannel_probe channels=%u prefaulted=%d MiB=%zu wall_ms=%.1f GBps=%.3f "
	       "sender_cpu_s=%.3f sender_sys_s=%.3f receiver_cpu_s=%.3f receiver_sys_s=%.3f "
	       "receiver_minflt=%ld\n",
	       n, prefault, mib, (end - first) * 1e3, bytes / (end - first) / 1e9, res->cpu_s, res->sys_s,
	       cpu, sys, minflt);
	return 0;
}
