/* The few C library functions a freestanding build still needs (GCC may
 * emit calls to the mem* ones on its own), and the random generator.
 */
#include "kit.h"
#include "kit_priv.h"

void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;

	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d <= s || d >= s + n)
		return memcpy(dst, src, n);
	while (n--)
		d[n] = s[n];
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

uint64_t kit__mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void kit__rng_init(struct kit_rng *rng, uint64_t seed, unsigned int cpu)
{
	rng->s = kit__mix64(seed + 0x9e3779b97f4a7c15ULL * (cpu + 1));
	/* xorshift never leaves zero */
	if (!rng->s)
		rng->s = 0x9e3779b97f4a7c15ULL;
}

uint64_t kit__rng_next(struct kit_rng *rng)
{
	uint64_t x = rng->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng->s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

uint64_t kit__rng_below(struct kit_rng *rng, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)kit__rng_next(rng) * n) >> 64);
}
