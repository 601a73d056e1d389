#include "ram_prefault.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "clock.h"

static uint8_t *chunk_of(const struct ram_prefault *pf, const uint8_t *p)
{
	return pf->lo + (uint64_t)(p - pf->lo) / RAM_PREFAULT_CHUNK * RAM_PREFAULT_CHUNK;
}

/* Returns whether the chunk was named before, naming it. */
static bool name_chunk(struct ram_prefault *pf, const uint8_t *chunk)
{
	uint64_t i = (uint64_t)(chunk - pf->lo) / RAM_PREFAULT_CHUNK, bit = 1ull << (i % 64);
	bool was = pf->named[i / 64] & bit;

	pf->named[i / 64] |= bit;
	return was;
}

static bool in_ram(const struct ram_prefault *pf, const struct iovec *run)
{
	const uint8_t *p = run->iov_base;

	return pf->named && run->iov_len && p >= pf->lo && p < pf->hi &&
	       run->iov_len <= (size_t)(pf->hi - p);
}

unsigned int ram_prefault__pick(struct ram_prefault *pf, const struct iovec *runs, int n,
				uint8_t **out, unsigned int max)
{
	uint8_t *own = NULL, *first, *c;
	unsigned int k = 0;
	int r;

	for (r = 0; r < n && !own; r++)
		if (in_ram(pf, &runs[r]))
			own = chunk_of(pf, runs[r].iov_base);
	/* From the far end back: with more than max, the last ones go. */
	for (r = n - 1; r >= 0; r--) {
		if (!in_ram(pf, &runs[r]))
			continue;
		first = chunk_of(pf, runs[r].iov_base);
		c = chunk_of(pf, (uint8_t *)runs[r].iov_base + runs[r].iov_len - 1);
		for (;; c -= RAM_PREFAULT_CHUNK) {
			if (!name_chunk(pf, c) && c != own && k < max)
				out[k++] = c;
			if (c == first)
				break;
		}
	}
	return k;
}

static void *prefault_thread(void *arg)
{
	struct ram_prefault *pf = arg;
	uint64_t t0;
	uint8_t *c;
	size_t len;

	pthread_mutex_lock(&pf->lock);
	for (;;) {
		while (!pf->count && !pf->stopping)
			pthread_cond_wait(&pf->cond, &pf->lock);
		if (pf->stopping)
			break;
		c = pf->queue[pf->head];
		pf->head = (pf->head + 1) % RAM_PREFAULT_QUEUE;
		pf->count--;
		pthread_mutex_unlock(&pf->lock);
		len = (size_t)(pf->hi - c) < RAM_PREFAULT_CHUNK ? (size_t)(pf->hi - c)
								  : RAM_PREFAULT_CHUNK;
		t0 = clock__mono_us();
		/* Advisory: a chunk it could not populate is faulted in by the
		 * receiver's read, as without this thread. */
		madvise(c, len, MADV_POPULATE_WRITE);
		pthread_mutex_lock(&pf->lock);
		pf->busy_us += clock__mono_us() - t0;
		pf->chunks++;
	}
	pthread_mutex_unlock(&pf->lock);
	return NULL;
}

int ram_prefault__start(struct ram_prefault *pf, uint8_t *base, uint64_t size)
{
	uint64_t nr = (size + RAM_PREFAULT_CHUNK - 1) / RAM_PREFAULT_CHUNK;
	int ret;

	memset(pf, 0, sizeof(*pf));
	if ((uintptr_t)base % RAM_PREFAULT_CHUNK || !size)
		return -EINVAL;
	pf->lo = base;
	pf->hi = base + size;
	pf->named = calloc((nr + 63) / 64, sizeof(uint64_t));
	if (!pf->named)
		return -ENOMEM;
	pthread_mutex_init(&pf->lock, NULL);
	pthread_cond_init(&pf->cond, NULL);
	ret = -pthread_create(&pf->thread, NULL, prefault_thread, pf);
	if (ret) {
		pthread_cond_destroy(&pf->cond);
		pthread_mutex_destroy(&pf->lock);
		free(pf->named);
		pf->named = NULL;
		return ret;
	}
	pthread_setname_np(pf->thread, "ram-prefault");
	pf->running = true;
	return 0;
}

void ram_prefault__ahead(struct ram_prefault *pf, const struct iovec *runs, int n)
{
	uint8_t *picked[RAM_PREFAULT_QUEUE];
	unsigned int k, i;

	if (!pf->running)
		return;
	k = ram_prefault__pick(pf, runs, n, picked, RAM_PREFAULT_QUEUE);
	if (!k)
		return;
	pthread_mutex_lock(&pf->lock);
	for (i = 0; i < k; i++) {
		/* Full: the rest are the receiver's to touch. */
		if (pf->count == RAM_PREFAULT_QUEUE || pf->stopping)
			break;
		pf->queue[(pf->head + pf->count) % RAM_PREFAULT_QUEUE] = picked[i];
		pf->count++;
	}
	pthread_cond_signal(&pf->cond);
	pthread_mutex_unlock(&pf->lock);
}

void ram_prefault__finish(struct ram_prefault *pf)
{
	if (!pf->running)
		return;
	pthread_mutex_lock(&pf->lock);
	pf->stopping = true;
	pf->count = 0;
	pthread_cond_signal(&pf->cond);
	pthread_mutex_unlock(&pf->lock);
}

void ram_prefault__stop(struct ram_prefault *pf)
{
	if (pf->running) {
		ram_prefault__finish(pf);
		pthread_join(pf->thread, NULL);
		pthread_cond_destroy(&pf->cond);
		pthread_mutex_destroy(&pf->lock);
		pf->running = false;
	}
	free(pf->named);
	pf->named = NULL;
}
