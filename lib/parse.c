#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct unit {
	const char *name;
	uint64_t value;
};

/* Digits only, no sign: the ctype functions would accept locale digits and
 * need an unsigned char cast everywhere. */
static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Consumes one or more decimal digits. Overflow is remembered but the digits
 * are still consumed, so "99999999999999999999x" is reported as junk
 * (-EINVAL) rather than as a range error. */
static int take_digits(const char **sp, uint64_t *v, bool *overflow)
{
	const char *s = *sp;
	uint64_t acc = 0;

	if (!is_digit(*s))
		return -EINVAL;
	*overflow = false;
	for (; is_digit(*s); s++) {
		unsigned int d = (unsigned int)(*s - '0');

		if (acc > (UINT64_MAX - d) / 10)
			*overflow = true;
		acc = acc * 10 + d;
	}
	*sp = s;
	*v = acc;
	return 0;
}

static const struct unit *find_unit(const struct unit *units, const char *s)
{
	for (; units->name; units++)
		if (!strcmp(units->name, s))
			return units;
	return NULL;
}

int parse__u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	bool overflow;
	uint64_t v;

	if (!s || take_digits(&s, &v, &overflow) || *s)
		return -EINVAL;
	if (overflow || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* Shift counts, so the overflow check is a single comparison. */
static const struct unit size_units[] = {
	{ "", 0 },
	{ "K", 10 }, { "k", 10 }, { "KiB", 10 },
	{ "M", 20 }, { "m", 20 }, { "MiB", 20 },
	{ "G", 30 }, { "g", 30 }, { "GiB", 30 },
	{ "T", 40 }, { "t", 40 }, { "TiB", 40 },
	{ NULL, 0 },
};

int parse__size(const char *s, uint64_t *out)
{
	const struct unit *u;
	bool overflow;
	uint64_t v;

	if (!s || take_digits(&s, &v, &overflow))
		return -EINVAL;
	u = find_unit(size_units, s);
	if (!u)
		return -EINVAL;
	if (overflow || v > UINT64_MAX >> u->value)
		return -ERANGE;
	*out = v << u->value;
	return 0;
}

/* Microseconds per unit. */
static const struct unit time_units[] = {
	{ "s", 1000000 }, { "ms", 1000 }, { "us", 1 },
	{ NULL, 0 },
};

/* The fraction is added digit by digit in integer arithmetic, so "0.1s" is
 * exactly 100000 us (a double would make it 99999.99...). A digit worth
 * less than a microsecond must be zero. */
static int fraction_us(const char *frac, size_t n, uint64_t mult,
		       uint64_t *out)
{
	uint64_t scale = mult, acc = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned int d = (unsigned int)(frac[i] - '0');

		scale /= 10;
		if (!scale && d)
			return -EINVAL;
		acc += d * scale;
	}
	*out = acc;
	return 0;
}

int parse__duration_us(const char *s, uint64_t *out)
{
	const char *frac = NULL;
	const struct unit *u;
	uint64_t whole, part = 0, fv;
	size_t nfrac = 0;
	bool overflow, ovf2;

	if (!s || take_digits(&s, &whole, &overflow))
		return -EINVAL;
	if (*s == '.') {
		frac = ++s;
		if (take_digits(&s, &fv, &ovf2))
			return -EINVAL;
		nfrac = (size_t)(s - frac);
	}
	if (!*s) {
		/* Zero is zero in every unit, so it alone may go without. */
		if (overflow || whole || (frac && strspn(frac, "0") != nfrac))
			return -EINVAL;
		*out = 0;
		return 0;
	}
	u = find_unit(time_units, s);
	if (!u)
		return -EINVAL;
	if (frac && fraction_us(frac, nfrac, u->value, &part))
		return -EINVAL;
	if (overflow || whole > (UINT64_MAX - part) / u->value)
		return -ERANGE;
	*out = whole * u->value + part;
	return 0;
}

/* The grammar is checked by hand first because strtod() also takes
 * whitespace, "+", "inf", "nan" and hex floats. */
static bool is_plain_number(const char *s)
{
	if (*s == '-')
		s++;
	if (!is_digit(*s))
		return false;
	while (is_digit(*s))
		s++;
	if (*s == '.') {
		if (!is_digit(*++s))
			return false;
		while (is_digit(*s))
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!is_digit(*s))
			return false;
		while (is_digit(*s))
			s++;
	}
	return *s == '\0';
}

int parse__double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	if (!s || !is_plain_number(s))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || !isfinite(v))
		return -ERANGE;
	if (!(v >= min && v <= max))
		return -ERANGE;
	*out = v;
	return 0;
}

static bool is_host_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

/* Inside brackets: hex digits, ':' and '.' (for "::ffff:1.2.3.4"), then
 * an optional "%zone" interface name. */
static bool is_ipv6_literal(const char *s, size_t n)
{
	bool colon = false;
	size_t i;

	for (i = 0; i < n && s[i] != '%'; i++) {
		if (s[i] == ':')
			colon = true;
		else if (!isxdigit((unsigned char)s[i]) && s[i] != '.')
			return false;
	}
	if (i < n) {
		if (++i == n)
			return false;
		for (; i < n; i++)
			if (!is_host_char(s[i]))
				return false;
	}
	return colon;
}

/* Splits s into a host span and the port text; validates the host. */
static int split_host(const char *s, const char **host, size_t *n,
		      const char **port)
{
	const char *colon;

	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		*host = s + 1;
		*n = (size_t)(close - *host);
		*port = close + 2;
		return is_ipv6_literal(*host, *n) ? 0 : -EINVAL;
	}
	colon = strchr(s, ':');
	/* A second ':' is an IPv6 address without brackets: ambiguous. */
	if (!colon || colon == s || strchr(colon + 1, ':'))
		return -EINVAL;
	*host = s;
	*n = (size_t)(colon - s);
	*port = colon + 1;
	for (const char *p = s; p < colon; p++)
		if (!is_host_char(*p))
			return -EINVAL;
	return 0;
}

int parse__host_port(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *h, *p;
	uint64_t v;
	size_t n;
	int ret;

	if (!s || !host)
		return -EINVAL;
	ret = split_host(s, &h, &n, &p);
	if (ret)
		return ret;
	ret = parse__u64(p, 1, 65535, &v);
	if (ret)
		return ret;
	if (n == 1 && h[0] == '0') {
		h = "0.0.0.0";
		n = strlen(h);
	}
	if (n >= hostlen)
		return -ERANGE;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (uint16_t)v;
	return 0;
}
