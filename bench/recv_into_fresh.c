/* What the destination's first touch of guest RAM costs the data path:
 * 1 GiB over loopback TCP read (as stream 3.0 reads pages) into
 *   0: fresh anonymous memory with MADV_HUGEPAGE (a new destination's RAM),
 *   1: the same memory written once before (pre-faulted),
 *   2: one 4 MiB buffer read over and over (what iperf3's receiver does).
 * A sender thread writes from a 4 MiB buffer. Prints the receiver's CPU
 * time and wall time per mode.
 *
 *   cc -O2 -pthread bench/recv_into_fresh.c -o build/recv_into_fresh
 *   build/recv_into_fresh 0; build/recv_into_fresh 1; build/recv_into_fresh 2
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TOTAL	(1ul << 30)
#define CHUNK	(4ul << 20)

static int port;

static double clock_s(clockid_t id)
{
	struct timespec t;

	clock_gettime(id, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void *sender(void *arg)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char *buf = malloc(CHUNK);
	size_t done, off;
	ssize_t r;

	if (!buf || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		exit(1);
	memset(buf, 0x5a, CHUNK);
	for (done = 0; done < TOTAL; done += CHUNK)
		for (off = 0; off < CHUNK; off += (size_t)r) {
			r = send(fd, buf + off, CHUNK - off, 0);
			if (r <= 0)
				exit(1);
		}
	close(fd);
	free(buf);
	return arg;
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "fresh THP memory", "pre-faulted memory",
					     "one hot 4 MiB buffer" };
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int mode = argc > 1 ? atoi(argv[1]) : 0, lfd, fd;
	uint8_t *mem, *hot = malloc(CHUNK), *dst;
	double c0, w0;
	size_t got = 0, want;
	pthread_t t;
	ssize_t r;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (mode < 0 || mode > 2 || !hot || bind(lfd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(lfd, 1) || getsockname(lfd, (struct sockaddr *)&a, &alen))
		return 1;
	port = ntohs(a.sin_port);
	mem = mmap(NULL, TOTAL, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return 1;
	madvise(mem, TOTAL, MADV_HUGEPAGE);	/* as vmm's guest RAM */
	if (mode == 1)
		memset(mem, 1, TOTAL);
	pthread_create(&t, NULL, sender, NULL);
	fd = accept(lfd, NULL, NULL);
	c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
	w0 = clock_s(CLOCK_MONOTONIC);
	while (got < TOTAL) {
		dst = mode == 2 ? hot + got % CHUNK : mem + got;
		want = mode == 2 ? CHUNK - got % CHUNK : TOTAL - got;
		r = read(fd, dst, want);
		if (r <= 0)
			return 1;
		got += (size_t)r;
	}
	printf("recv_into_fresh mode=%d (%s): receiver CPU %.0f ms, wall %.0f ms, %.2f GB/s\n",
	       mode, names[mode], (clock_s(CLOCK_THREAD_CPUTIME_ID) - c0) * 1e3,
	       (clock_s(CLOCK_MONOTONIC) - w0) * 1e3,
	       TOTAL / (clock_s(CLOCK_MONOTONIC) - w0) / 1e9);
	pthread_join(t, NULL);
	return 0;
}
