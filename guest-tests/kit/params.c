/* key=value parameters from the multiboot command line. Anything we do not
 * understand stops the guest with exit code 2 and says why: a typo must
 * never turn silently into a default.
 */
#include "kit.h"
#include "kit_priv.h"

#define WORD_MAX	256
#define US_PER_S	((uint64_t)1000000)

enum parse_err {
	PARSE_OK,
	PARSE_BAD,
	PARSE_RANGE,
	PARSE_DECIMALS,
};

__attribute__((noreturn, format(printf, 4, 5)))
static void bad_param(const char *guest, const char *key, const char *value,
		      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kit_serial_lock(false);
	if (value)
		kit_printf_locked("%s: bad parameter '%s=%s': ", guest, key, value);
	else
		kit_printf_locked("%s: bad parameter '%s': ", guest, key);
	kit_vprintf_locked(fmt, ap);
	kit_printf_locked("\n");
	kit_serial_unlock();
	va_end(ap);
	kit__exit(KIT_EXIT_PARAM);
}

void kit__bad_param(const char *guest, const char *key, const char *value,
		    const char *reason)
{
	bad_param(guest, key, value, "%s", reason);
}

void kit__bad_value(const char *guest, const char *key, uint64_t value,
		    const char *reason)
{
	kit__printf("%s: bad parameter '%s=%lu': %s\n", guest, key, value,
		    reason);
	kit__exit(KIT_EXIT_PARAM);
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

/* At least one digit; stops at the first non-digit. */
static enum parse_err parse_digits(const char **sp, unsigned int base,
				   uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;
	int d;

	if (digit_value(*s) >= (int)base)
		return PARSE_BAD;
	while ((d = digit_value(*s)) < (int)base) {
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			return PARSE_RANGE;
		v = v * base + (uint64_t)d;
		s++;
	}
	*sp = s;
	*out = v;
	return PARSE_OK;
}

static enum parse_err parse_uint(const char *s, uint64_t *out)
{
	unsigned int base = 10;
	enum parse_err e;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		base = 16;
	}
	e = parse_digits(&s, base, out);
	if (e == PARSE_OK && *s)
		return PARSE_BAD;
	return e;
}

static enum parse_err parse_size(const char *s, uint64_t *out)
{
	unsigned int shift = 0;
	enum parse_err e;
	uint64_t v;

	e = parse_digits(&s, 10, &v);
	if (e != PARSE_OK)
		return e;
	switch (*s) {
	case 'k': case 'K': shift = 10; s++; break;
	case 'm': case 'M': shift = 20; s++; break;
	case 'g': case 'G': shift = 30; s++; break;
	case 't': case 'T': shift = 40; s++; break;
	}
	if (*s)
		return PARSE_BAD;
	if (shift && v > UINT64_MAX >> shift)
		return PARSE_RANGE;
	*out = v << shift;
	return PARSE_OK;
}

/* "5", "0.5", "1.25s": microseconds. */
static enum parse_err parse_seconds(const char *s, uint64_t *out)
{
	uint64_t whole, frac = 0, scale = US_PER_S;
	enum parse_err e;

	e = parse_digits(&s, 10, &whole);
	if (e != PARSE_OK)
		return e;
	if (*s == '.') {
		s++;
		if (digit_value(*s) > 9)
			return PARSE_BAD;
		for (; digit_value(*s) <= 9; s++) {
			if (scale == 1)
				return PARSE_DECIMALS;
			scale /= 10;
			frac += (uint64_t)(*s - '0') * scale;
		}
	}
	if (*s == 's')
		s++;
	if (*s)
		return PARSE_BAD;
	if (whole > (UINT64_MAX - frac) / US_PER_S)
		return PARSE_RANGE;
	*out = whole * US_PER_S + frac;
	return PARSE_OK;
}

static void bad_choice(const char *guest, const struct kit_param *p,
		       const char *value)
{
	const char *const *c;

	kit_serial_lock(false);
	kit_printf_locked("%s: bad parameter '%s=%s': must be one of ", guest,
			  p->key, value);
	for (c = p->choices; *c; c++)
		kit_printf_locked("%s%s", c == p->choices ? "" : "|", *c);
	kit_printf_locked("\n");
	kit_serial_unlock();
	kit__exit(KIT_EXIT_PARAM);
}

static enum parse_err parse_choice(const struct kit_param *p, const char *s,
				   uint64_t *out)
{
	uint64_t i;

	for (i = 0; p->choices[i]; i++) {
		if (!strcmp(p->choices[i], s)) {
			*out = i;
			return PARSE_OK;
		}
	}
	return PARSE_BAD;
}

static void too_large(const char *guest, const struct kit_param *p,
		      const char *value)
{
	if (p->type == KIT_PARAM_SECONDS)
		bad_param(guest, p->key, value, "must be at most %lu.%06lu s",
			  p->max / US_PER_S, p->max % US_PER_S);
	if (p->type == KIT_PARAM_SIZE)
		bad_param(guest, p->key, value, "must be at most %lu bytes",
			  p->max);
	bad_param(guest, p->key, value, "must be at most %lu", p->max);
}

static void set_param(const char *guest, const struct kit_param *p,
		      const char *value)
{
	static const char *const expected[] = {
		[KIT_PARAM_UINT] = "not a number (decimal, or hex with 0x)",
		[KIT_PARAM_SIZE] = "not a size (bytes with optional K, M, G or T, e.g. 64M)",
		[KIT_PARAM_SECONDS] = "not a duration in seconds (e.g. 5 or 0.5)",
	};
	enum parse_err e;
	uint64_t v = 0;

	if (!*value)
		kit__bad_param(guest, p->key, value, "empty value");
	switch (p->type) {
	case KIT_PARAM_UINT:
		e = parse_uint(value, &v);
		break;
	case KIT_PARAM_SIZE:
		e = parse_size(value, &v);
		break;
	case KIT_PARAM_SECONDS:
		e = parse_seconds(value, &v);
		break;
	default:
		if (parse_choice(p, value, &v) != PARSE_OK)
			bad_choice(guest, p, value);
		e = PARSE_OK;
	}
	if (e == PARSE_BAD)
		kit__bad_param(guest, p->key, value, expected[p->type]);
	if (e == PARSE_DECIMALS)
		kit__bad_param(guest, p->key, value, "at most 6 decimals");
	if (e == PARSE_RANGE)
		kit__bad_param(guest, p->key, value, "too large");
	if (p->max && v > p->max)
		too_large(guest, p, value);
	*p->value = v;
	if (p->given)
		*p->given = true;
}

static void handle_word(const char *guest, const struct kit_param *params,
			unsigned int n, char *word)
{
	char *eq = word;
	unsigned int i;

	while (*eq && *eq != '=')
		eq++;
	if (!*eq)
		kit__bad_param(guest, word, NULL, "expected key=value");
	*eq = '\0';
	for (i = 0; i < n; i++) {
		if (!strcmp(params[i].key, word)) {
			set_param(guest, &params[i], eq + 1);
			return;
		}
	}
	kit__bad_param(guest, word, eq + 1, "unknown key");
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool has_eq(const char *s)
{
	for (; *s; s++)
		if (*s == '=')
			return true;
	return false;
}

void kit__parse_params(const char *guest, const struct kit_param *params,
		       unsigned int n)
{
	const char *p = kit_boot.cmdline;
	char word[WORD_MAX];
	bool first = true;
	size_t len;

	for (;;) {
		while (is_space(*p))
			p++;
		if (!*p)
			return;
		for (len = 0; p[len] && !is_space(p[len]); len++)
			;
		if (len >= WORD_MAX) {
			memcpy(word, p, 40);
			memcpy(word + 40, "...", 4);
			kit__bad_param(guest, word, NULL, "longer than 255 bytes");
		}
		memcpy(word, p, len);
		word[len] = '\0';
		p += len;
		/* QEMU and GRUB pass the image path as the first word. */
		if (first && !has_eq(word)) {
			first = false;
			continue;
		}
		first = false;
		handle_word(guest, params, n, word);
	}
}
