/* Strict parsers for command-line and monitor values.
 *
 * Every parser takes a NUL-terminated string and either fills *out and
 * returns 0, or leaves *out untouched and returns -EINVAL (malformed: empty,
 * leading or trailing junk, whitespace, a sign where none is allowed) or
 * -ERANGE (well-formed but too large, or outside [min, max]). None of them
 * accepts leading whitespace or a '+' sign, unlike strtoull(), so "  12",
 * "+12" and "-1" never slip through as numbers.
 */
#ifndef VMM__PARSE_H
#define VMM__PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Decimal digits with an optional binary suffix: K, M, G, T (either case)
 * or KiB, MiB, GiB, TiB (exactly so spelt). "64K" = 65536, "1GiB" =
 * 1073741824. "MB"/"KB" are refused: they would mean powers of ten to some
 * readers and powers of two to others. */
int parse__size(const char *s, uint64_t *out);

/* A decimal number with a unit: "2s", "500ms", "100us", "1.5s", "0.25s".
 * The unit is required (a bare "300" could be seconds or milliseconds,
 * depending on who reads it) except for a zero value such as "0". A
 * fraction must leave a whole number of microseconds: "1.5ms" is fine,
 * "1.5us" is -EINVAL. A digit is required on both sides of the '.'. */
int parse__duration_us(const char *s, uint64_t *out);

/* Plain decimal digits only, then min <= value <= max (else -ERANGE). */
int parse__u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* [-]digits[.digits][e[+-]digits], then min <= value <= max. "nan", "inf",
 * hex floats and values that overflow or underflow a double are refused. */
int parse__double(const char *s, double min, double max, double *out);

/* "HOST:PORT" or "[IPV6]:PORT" with PORT in 1..65535. host receives the
 * address without brackets. A host of "0" means any address and is
 * returned as "0.0.0.0" (use "[::]" for IPv6 any). A host that does not
 * fit in hostlen bytes gives -ERANGE. */
int parse__host_port(const char *s, char *host, size_t hostlen, uint16_t *port);

#endif
