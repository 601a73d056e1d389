#include "migrate_params.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "errmsg.h"
#include "outbuf.h"
#include "parse.h"
#include "tls_creds.h"

/* QEMU allows downtime-limit up to 2000 s; so do we. */
#define DOWNTIME_MAX_MS 2000000ULL
#define MAX_ITERATIONS_MAX 1000
#define MIN_DIRTY_MAX 1000000000ULL
#define NO_PROGRESS_MAX 1000
#define SENT_FACTOR_MAX 1000.0
#define BANDWIDTH_MAX (1ULL << 40)
#define TIMEOUT_MAX_S (7ULL * 24 * 3600)
/* QEMU's bounds: a throttle is a share of each time slice, 1..99 %. */
#define THROTTLE_PCT_MAX 99
/* vcpu-dirty-limit in MB/s: beyond what any vCPU can dirty. */
#define DIRTY_LIMIT_MAX_MBPS (1ULL << 20)
#define DIRTY_LIMIT_PERIOD_MAX_MS 1000
#define XBZRLE_CACHE_MIN 4096ULL

typedef int (*param_set_fn)(struct migrate_params *p, const char *name,
			    const char *v, char *err, size_t errlen);

/* Both failure kinds carry the accepted range, so the user sees at once
 * what would have worked. */
static int set_u64(const char *name, const char *v, uint64_t min,
		   uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	int ret = parse__u64(v, min, max, out);

	if (ret == -EINVAL)
		return errmsg__fail(-EINVAL, err, errlen, "%s: '%.64s' is not a whole number "
			    "(range %" PRIu64 "..%" PRIu64 ")", name, v, min,
			    max);
	if (ret == -ERANGE)
		return errmsg__fail(-ERANGE, err, errlen, "%s: %.64s out of range %" PRIu64 "..%"
		     PRIu64, name, v, min, max);
	return 0;
}

static int set_max_iterations(struct migrate_params *p, const char *name,
			      const char *v, char *err, size_t errlen)
{
	uint64_t x;
	int ret = set_u64(name, v, 1, MAX_ITERATIONS_MAX, &x, err, errlen);

	if (!ret)
		p->max_iterations = (uint32_t)x;
	return ret;
}

static int downtime_range(const char *name, const char *v, char *err,
			  size_t errlen)
{
	return errmsg__fail(-ERANGE, err, errlen, "%s: %.64s out of range 0..%llu ms", name, v,
	     DOWNTIME_MAX_MS);
}

/* A bare number is milliseconds (QEMU's unit for this parameter), so
 * scripts written for QEMU work unchanged. */
static int parse_ms(const char *name, const char *v, uint64_t *out, char *err,
		    size_t errlen)
{
	uint64_t us;
	int ret;

	if (v && v[0] && strspn(v, "0123456789") == strlen(v)) {
		ret = parse__u64(v, 0, DOWNTIME_MAX_MS, &us);
		if (ret)
			return downtime_range(name, v, err, errlen);
		*out = us;
		return 0;
	}
	ret = parse__duration_us(v, &us);
	if (ret == -ERANGE || (!ret && us / 1000 > DOWNTIME_MAX_MS))
		return downtime_range(name, v, err, errlen);
	if (ret)
		return errmsg__fail(-EINVAL, err, errlen, "%s: '%.64s' is not a duration "
			    "(milliseconds, or a number with s, ms or us)",
			    name, v);
	if (us % 1000)
		return errmsg__fail(-EINVAL, err, errlen, "%s: %.64s is not a whole number of "
			    "milliseconds", name, v);
	*out = us / 1000;
	return 0;
}

static int set_downtime(struct migrate_params *p, const char *name,
			const char *v, char *err, size_t errlen)
{
	return parse_ms(name, v, &p->downtime_limit_ms, err, errlen);
}

static int set_downtime_max(struct migrate_params *p, const char *name,
			    const char *v, char *err, size_t errlen)
{
	return parse_ms(name, v, &p->downtime_max_ms, err, errlen);
}

static int set_timeout(struct migrate_params *p, const char *name,
		       const char *v, char *err, size_t errlen)
{
	return set_u64(name, v, 0, TIMEOUT_MAX_S, &p->timeout_s, err, errlen);
}

static int set_min_dirty(struct migrate_params *p, const char *name,
			 const char *v, char *err, size_t errlen)
{
	return set_u64(name, v, 0, MIN_DIRTY_MAX, &p->min_dirty_pages, err,
		       errlen);
}

static int set_no_progress(struct migrate_params *p, const char *name,
			   const char *v, char *err, size_t errlen)
{
	uint64_t x;
	int ret = set_u64(name, v, 0, NO_PROGRESS_MAX, &x, err, errlen);

	if (!ret)
		p->no_progress_rounds = (uint32_t)x;
	return ret;
}

/* Below 1.0 the rule would fire during the first full pass, which sends
 * about one RAM's worth by itself: almost certainly a typo. */
static int set_sent_factor(struct migrate_params *p, const char *name,
			   const char *v, char *err, size_t errlen)
{
	double x;
	int ret = parse__double(v, 0.0, SENT_FACTOR_MAX, &x);

	if (ret == -EINVAL)
		return errmsg__fail(-EINVAL, err, errlen, "%s: '%.64s' is not a number "
			    "(0 = off, or 1..1000)", name, v);
	if (ret == -ERANGE || (x > 0.0 && x < 1.0))
		return errmsg__fail(-ERANGE, err, errlen, "%s: %.64s out of range: 0 (off) or 1..1000",
		     name, v);
	p->max_sent_factor = x;
	return 0;
}

/* At 1 or below a settled set would "shrink" forever and every migration
 * would run to max-iterations. */
static int set_shrink_factor(struct migrate_params *p, const char *name,
			     const char *v, char *err, size_t errlen)
{
	double x;
	int ret = parse__double(v, 0.0, SENT_FACTOR_MAX, &x);

	if (ret == -EINVAL)
		return errmsg__fail(-EINVAL, err, errlen, "%s: '%.64s' is not a number "
			    "(0 = off, or above 1 up to 1000)", name, v);
	if (ret == -ERANGE || (x > 0.0 && x <= 1.0))
		return errmsg__fail(-ERANGE, err, errlen, "%s: %.64s out of range: 0 (off) or "
				    "above 1 up to 1000", name, v);
	p->shrink_factor = x;
	return 0;
}

static int set_bandwidth(struct migrate_params *p, const char *name,
			 const char *v, char *err, size_t errlen)
{
	uint64_t x;
	int ret = parse__size(v, &x);

	if (ret == -EINVAL)
		return errmsg__fail(-EINVAL, err, errlen, "%s: '%.64s' is not a size in bytes/s "
			    "(e.g. 100M; 0 = unlimited)", name, v);
	if (ret == -ERANGE || x > BANDWIDTH_MAX)
		return errmsg__fail(-ERANGE, err, errlen, "%s: %.64s out of range 0..1T (bytes/s)",
		     name, v);
	p->max_bandwidth = x;
	return 0;
}

static int set_stall_action(struct migrate_params *p, const char *name,
			    const char *v, char *err, size_t errlen)
{
	if (v && !strcmp(v, "stop-copy"))
		p->stall_action = ON_STALL_STOP_COPY;
	else if (v && !strcmp(v, "cancel"))
		p->stall_action = ON_STALL_CANCEL;
	else
		return errmsg__fail(-EINVAL, err, errlen, "%s: '%.64s' is not one of "
			    "stop-copy, cancel", name, v ? v : "");
	return 0;
}

/* A path, checked now (mode, size) so that a mistake shows at once; the
 * migration reads the file again when it starts. "" = --secret-file's. */
static int set_secret_file(struct migrate_params *p, const char *name,
			   const char *v, char *err, size_t errlen)
{
	struct auth_secret *s;
	int ret;

	if (strlen(v) >= sizeof(p->secret_file))
		return errmsg__fail(-EINVAL, err, errlen, "%s: a path of at most %zu bytes", name,
				    sizeof(p->secret_file) - 1);
	if (*v) {
		s = malloc(sizeof(*s));
		if (!s)
			return errmsg__fail(-ENOMEM, err, errlen, "out of memory");
		ret = auth__load_secret(v, s, err, errlen);
		auth__clear_secret(s);
		free(s);
		if (ret)
			return ret == -ENOMEM ? ret : -EINVAL;
	}
	snprintf(p->secret_file, sizeof(p->secret_file), "%s", v);
	return 0;
}

/* A directory, loaded and checked now (as a source's: the client's
 * certificate and key) so that a mistake shows at once; the migration
 * loads it again when it starts. "" = --tls-creds's. */
static int set_tls_creds(struct migrate_params *p, const char *name,
			 const char *v, char *err, size_t errlen)
{
	struct tls_creds *c;
	int ret;

	if (strlen(v) >= sizeof(p->tls_creds))
		return errmsg__fail(-EINVAL, err, errlen, "%s: a path of at most %zu bytes", name,
				    sizeof(p->tls_creds) - 1);
	if (*v) {
		ret = tls_creds__load(v, TLS_CLIENT, &c, err, errlen);
		tls_creds__free(c);
		if (ret)
			return ret == -ENOMEM ? ret : -EINVAL;
	}
	snprintf(p->tls_creds, sizeof(p->tls_creds), "%s", v);
	return 0;
}

/* A DNS name or a numeric address: what a certificate's subjectAltName
 * can carry. "" = the URI's host. */
static int set_tls_hostname(struct migrate_params *p, const char *name,
			    const char *v, char *err, size_t errlen)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "0123456789.-_:";

	if (strlen(v) >= sizeof(p->tls_hostname) || v[strspn(v, ok)])
		return errmsg__fail(-EINVAL, err, errlen, "%s: '%.64s' is not a host name or "
				    "address (letters, digits, '.', '-', '_', ':'; at most %zu "
				    "bytes)", name, v, sizeof(p->tls_hostname) - 1);
	snprintf(p->tls_hostname, sizeof(p->tls_hostname), "%s", v);
	return 0;
}

static int set_pct(const char *name, const char *v, uint64_t min, uint64_t max,
		   uint32_t *out, char *err, size_t errlen)
{
	uint64_t x;
	int ret = set_u64(name, v, min, max, &x, err, errlen);

	if (!ret)
		*out = (uint32_t)x;
	return ret;
}

static int set_trigger(struct migrate_params *p, const char *name,
		       const char *v, char *err, size_t errlen)
{
	return set_pct(name, v, 1, 100, &p->throttle_trigger_pct, err, errlen);
}

static int set_throttle_initial(struct migrate_params *p, const char *name,
				const char *v, char *err, size_t errlen)
{
	return set_pct(name, v, 1, THROTTLE_PCT_MAX, &p->cpu_throttle_initial, err, errlen);
}

static int set_throttle_increment(struct migrate_params *p, const char *name,
				  const char *v, char *err, size_t errlen)
{
	return set_pct(name, v, 1, THROTTLE_PCT_MAX, &p->cpu_throttle_increment, err, errlen);
}

static int set_max_throttle(struct migrate_params *p, const char *name,
			    const char *v, char *err, size_t errlen)
{
	return set_pct(name, v, 1, THROTTLE_PCT_MAX, &p->max_cpu_throttle, err, errlen);
}

/* QMP sends a JSON boolean, which the QMP layer hands over as
 * "true"/"false"; people type on/off. */
static int set_bool(const char *name, const char *v, bool *out, char *err, size_t errlen)
{
	if (!strcmp(v, "on") || !strcmp(v, "true"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "false"))
		*out = false;
	else
		return errmsg__fail(-EINVAL, err, errlen, "%s: '%.64s' is not on or off", name, v);
	return 0;
}

static int set_tailslow(struct migrate_params *p, const char *name,
			const char *v, char *err, size_t errlen)
{
	return set_bool(name, v, &p->cpu_throttle_tailslow, err, errlen);
}

static int set_block_incremental(struct migrate_params *p, const char *name,
				 const char *v, char *err, size_t errlen)
{
	return set_bool(name, v, &p->block_incremental, err, errlen);
}

static int set_dirty_limit(struct migrate_params *p, const char *name,
			   const char *v, char *err, size_t errlen)
{
	return set_u64(name, v, 1, DIRTY_LIMIT_MAX_MBPS, &p->vcpu_dirty_limit_mbps, err,
		       errlen);
}

static int set_dirty_limit_period(struct migrate_params *p, const char *name,
				  const char *v, char *err, size_t errlen)
{
	return set_u64(name, v, 1, DIRTY_LIMIT_PERIOD_MAX_MS, &p->vcpu_dirty_limit_period_ms,
		       err, errlen);
}

/* Whole pages: the cache holds pages, and a size that is not a multiple
 * would promise memory that is never used. */
static int set_xbzrle_cache(struct migrate_params *p, const char *name,
			    const char *v, char *err, size_t errlen)
{
	uint64_t x;
	int ret = parse__size(v, &x);

	if (ret == -EINVAL)
		return errmsg__fail(-EINVAL, err, errlen, "%s: '%.64s' is not a size in bytes "
				    "(e.g. 64M)", name, v);
	if (ret == -ERANGE || x < XBZRLE_CACHE_MIN || x > BANDWIDTH_MAX)
		return errmsg__fail(-ERANGE, err, errlen, "%s: %.64s out of range 4K..1T", name, v);
	if (x % XBZRLE_CACHE_MIN)
		return errmsg__fail(-EINVAL, err, errlen, "%s: %.64s is not a multiple of 4K",
				    name, v);
	p->xbzrle_cache_size = x;
	return 0;
}

static int set_compression(struct migrate_params *p, const char *name,
			   const char *v, char *err, size_t errlen)
{
	if (!strcmp(v, "none"))
		p->compression = MIGRATE_COMPRESSION_NONE;
	else if (!strcmp(v, "zstd"))
		p->compression = MIGRATE_COMPRESSION_ZSTD;
	else if (!strcmp(v, "zlib"))
		return errmsg__fail(-EINVAL, err, errlen, "%s: zlib is not built in vmm (none or zstd)",
				    name);
	else
		return errmsg__fail(-EINVAL, err, errlen, "%s: '%.64s' is not none or zstd", name, v);
	return 0;
}

static int set_zstd_level(struct migrate_params *p, const char *name,
			  const char *v, char *err, size_t errlen)
{
	return set_pct(name, v, 1, 20, &p->zstd_level, err, errlen);
}

static int set_round_end(struct migrate_params *p, const char *name,
			 const char *v, char *err, size_t errlen)
{
	if (!strcmp(v, "pass"))
		p->round_end_fit = false;
	else if (!strcmp(v, "fit"))
		p->round_end_fit = true;
	else
		return errmsg__fail(-EINVAL, err, errlen, "%s: '%.64s' is not pass or fit", name, v);
	return 0;
}

/* Parallel to setters[] below; the order is the order of help and format. */
static const struct migrate_param_info infos[] = {
	{ "max-iterations", "1..1000",
	  "stop-and-copy after this many rounds (round 0 is the full pass)" },
	{ "downtime-limit", "0..2000000 ms (0 = off; units s, ms, us)",
	  "stop when the rest would be sent within this time" },
	{ "min-dirty-pages", "0..1000000000",
	  "stop when at most this many pages are dirty" },
	{ "no-progress-rounds", "0..1000 (0 = off)",
	  "stall when the dirty set reaches no new low for this many rounds" },
	{ "max-sent-factor", "0 (off) or 1..1000",
	  "stall when more than this many times RAM size has been sent" },
	{ "shrink-factor", "0 (off) or above 1 up to 1000",
	  "once it fits, iterate on while a round divides the dirty set by this" },
	{ "max-bandwidth", "0..1T bytes/s (0 = unlimited; K, M, G, T)",
	  "cap on the migration stream's bandwidth" },
	{ "stall-action", "stop-copy|cancel",
	  "on a stall: stop-and-copy now, or cancel and keep running here" },
	{ "downtime-max", "0..2000000 ms (0 = off; units s, ms, us)",
	  "hard cap on the pause: past it, before GO, give up and resume here" },
	{ "timeout", "0..604800 s (0 = off)",
	  "give up a migration that has not handed over within this time" },
	{ "secret-file", "PATH, mode 0600 (empty = --secret-file's)",
	  "the shared secret that authenticates a tcp: migration" },
	{ "throttle-trigger-threshold", "1..100 %",
	  "auto-converge: throttle when a round dirties more than this share of what it sent" },
	{ "cpu-throttle-initial", "1..99 %",
	  "auto-converge: the first throttle" },
	{ "cpu-throttle-increment", "1..99 %",
	  "auto-converge: added to the throttle each time the rule fires again" },
	{ "max-cpu-throttle", "1..99 %",
	  "auto-converge: the throttle never goes past this" },
	{ "cpu-throttle-tailslow", "on|off",
	  "auto-converge: past the first step, add only what the dirty rate needs" },
	{ "vcpu-dirty-limit", "1..1048576 MB/s",
	  "dirty-limit: the most each vCPU may dirty" },
	{ "x-vcpu-dirty-limit-period", "1..1000 ms",
	  "dirty-limit: how often each vCPU's rate is checked" },
	{ "xbzrle-cache-size", "4K..1T bytes, whole 4K pages (K, M, G, T)",
	  "xbzrle: memory that keeps pages sent before, to send deltas against" },
	{ "multifd-compression", "none|zstd",
	  "compress whole RAM pages, one zstd frame per batch, where it is smaller" },
	{ "multifd-zstd-level", "1..20",
	  "zstd: the compression level (higher: smaller, more CPU)" },
	{ "round-end", "pass|fit",
	  "a round sends its whole dirty set, or stops once the rest fits the downtime" },
	{ "tls-creds", "DIR of x509 PEM files (empty = --tls-creds's)",
	  "certificates that key and authenticate TLS (tcp: then runs TLS too)" },
	{ "tls-hostname", "NAME or ADDR (empty = the URI's host)",
	  "the name the destination's certificate must carry" },
	{ "block-incremental", "on|off",
	  "block migration copies only what each qcow2 overlay adds to its base" },
};

static const param_set_fn setters[] = {
	set_max_iterations,
	set_downtime,
	set_min_dirty,
	set_no_progress,
	set_sent_factor,
	set_shrink_factor,
	set_bandwidth,
	set_stall_action,
	set_downtime_max,
	set_timeout,
	set_secret_file,
	set_trigger,
	set_throttle_initial,
	set_throttle_increment,
	set_max_throttle,
	set_tailslow,
	set_dirty_limit,
	set_dirty_limit_period,
	set_xbzrle_cache,
	set_compression,
	set_zstd_level,
	set_round_end,
	set_tls_creds,
	set_tls_hostname,
	set_block_incremental,
};

#define NPARAMS (sizeof(infos) / sizeof(infos[0]))
_Static_assert(sizeof(setters) / sizeof(setters[0]) == NPARAMS,
	       "one setter per parameter");

void migrate_params__defaults(struct migrate_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_iterations = 30;
	p->downtime_limit_ms = 300;
	p->min_dirty_pages = 50;
	p->no_progress_rounds = 5;
	p->max_sent_factor = 3.0;
	/* Halving: each further round is at most half as long as the one
	 * before, so the tail costs at most one more such round in all. */
	p->shrink_factor = 2.0;
	p->max_bandwidth = 0;
	p->stall_action = ON_STALL_STOP_COPY;
	/* A stop-and-copy normally takes milliseconds; one that runs 10 s
	 * (30 x the downtime-limit target) is stuck or on a link far slower
	 * than pre-copy measured, and the guest's own peers start timing it
	 * out: better back on the source than paused longer. */
	p->downtime_max_ms = 10000;
	p->timeout_s = 0;
	/* QEMU's defaults, so that a script written for QEMU means the same. */
	p->throttle_trigger_pct = 50;
	p->cpu_throttle_initial = 20;
	p->cpu_throttle_increment = 10;
	p->max_cpu_throttle = 99;
	p->cpu_throttle_tailslow = false;
	p->vcpu_dirty_limit_mbps = 1;
	p->vcpu_dirty_limit_period_ms = 1000;
	p->xbzrle_cache_size = 64ULL << 20;
	/* QEMU's defaults: no compression; zstd at level 1. */
	p->compression = MIGRATE_COMPRESSION_NONE;
	p->zstd_level = 1;
}

int migrate_params__set(struct migrate_params *p, const char *name,
			const char *value, char *err, size_t errlen)
{
	struct migrate_params tmp = *p;
	size_t i;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!name)
		return errmsg__fail(-EINVAL, err, errlen, "missing parameter name");
	if (!value)
		return errmsg__fail(-EINVAL, err, errlen, "%.64s: missing value", name);
	for (i = 0; i < NPARAMS; i++) {
		if (strcmp(infos[i].name, name))
			continue;
		/* Work on a copy: p stays as it was whatever fails. */
		ret = setters[i](&tmp, name, value, err, errlen);
		if (!ret)
			*p = tmp;
		return ret;
	}
	return errmsg__fail(-EINVAL, err, errlen, "unknown parameter '%.64s' ('info "
		    "migrate_parameters' lists them)", name);
}

/* The largest binary suffix that represents v exactly, so the value reads
 * well and still parses back to the same number. */
static void format_size(uint64_t v, char *buf, size_t len)
{
	static const char suffix[] = "TGMK";
	unsigned int i, shift;

	for (i = 0, shift = 40; v && i < 4; i++, shift -= 10) {
		if (!(v & ((1ULL << shift) - 1))) {
			snprintf(buf, len, "%" PRIu64 "%c", v >> shift,
				 suffix[i]);
			return;
		}
	}
	snprintf(buf, len, "%" PRIu64, v);
}

void migrate_params__format(const struct migrate_params *p, char *buf,
			    size_t len)
{
	struct outbuf o;
	char bw[32], cache[32];

	outbuf__init(&o, buf, len);
	format_size(p->max_bandwidth, bw, sizeof(bw));
	format_size(p->xbzrle_cache_size, cache, sizeof(cache));
	outbuf__printf(&o, "max-iterations: %" PRIu32 "\n", p->max_iterations);
	outbuf__printf(&o, "downtime-limit: %" PRIu64 "ms\n", p->downtime_limit_ms);
	outbuf__printf(&o, "min-dirty-pages: %" PRIu64 "\n", p->min_dirty_pages);
	outbuf__printf(&o, "no-progress-rounds: %" PRIu32 "\n", p->no_progress_rounds);
	outbuf__printf(&o, "max-sent-factor: %.15g\n", p->max_sent_factor);
	outbuf__printf(&o, "shrink-factor: %.15g\n", p->shrink_factor);
	outbuf__printf(&o, "max-bandwidth: %s\n", bw);
	outbuf__printf(&o, "stall-action: %s\n", on_stall__name(p->stall_action));
	outbuf__printf(&o, "downtime-max: %" PRIu64 "ms\n", p->downtime_max_ms);
	outbuf__printf(&o, "timeout: %" PRIu64 "\n", p->timeout_s);
	outbuf__printf(&o, "secret-file: %s\n", p->secret_file);
	outbuf__printf(&o, "throttle-trigger-threshold: %" PRIu32 "\n", p->throttle_trigger_pct);
	outbuf__printf(&o, "cpu-throttle-initial: %" PRIu32 "\n", p->cpu_throttle_initial);
	outbuf__printf(&o, "cpu-throttle-increment: %" PRIu32 "\n", p->cpu_throttle_increment);
	outbuf__printf(&o, "max-cpu-throttle: %" PRIu32 "\n", p->max_cpu_throttle);
	outbuf__printf(&o, "cpu-throttle-tailslow: %s\n", p->cpu_throttle_tailslow ? "on" : "off");
	outbuf__printf(&o, "vcpu-dirty-limit: %" PRIu64 "\n", p->vcpu_dirty_limit_mbps);
	outbuf__printf(&o, "x-vcpu-dirty-limit-period: %" PRIu64 "\n",
		       p->vcpu_dirty_limit_period_ms);
	outbuf__printf(&o, "xbzrle-cache-size: %s\n", cache);
	outbuf__printf(&o, "multifd-compression: %s\n", migrate_compression__name(p->compression));
	outbuf__printf(&o, "multifd-zstd-level: %" PRIu32 "\n", p->zstd_level);
	outbuf__printf(&o, "round-end: %s\n", p->round_end_fit ? "fit" : "pass");
	outbuf__printf(&o, "tls-creds: %s\n", p->tls_creds);
	outbuf__printf(&o, "tls-hostname: %s\n", p->tls_hostname);
	outbuf__printf(&o, "block-incremental: %s\n", p->block_incremental ? "on" : "off");
}

void migrate_params__format_help(char *buf, size_t len)
{
	struct outbuf o;
	size_t i;

	outbuf__init(&o, buf, len);
	for (i = 0; i < NPARAMS; i++)
		outbuf__printf(&o, "%-26s %s [%s]\n", infos[i].name, infos[i].help,
		    infos[i].range);
}

const struct migrate_param_info *migrate_params__table(size_t *count)
{
	if (count)
		*count = NPARAMS;
	return infos;
}

const char *migrate_compression__name(enum migrate_compression c)
{
	return c == MIGRATE_COMPRESSION_ZSTD ? "zstd" : "none";
}

const char *on_stall__name(enum on_stall a)
{
	switch (a) {
	case ON_STALL_STOP_COPY:
		return "stop-copy";
	case ON_STALL_CANCEL:
		return "cancel";
	}
	return "unknown";
}

static const char *const cap_names[MIGRATE_NR_CAPS] = {
	[MIGRATE_CAP_AUTO_CONVERGE] = "auto-converge",
	[MIGRATE_CAP_DIRTY_LIMIT] = "dirty-limit",
	[MIGRATE_CAP_XBZRLE] = "xbzrle",
	[MIGRATE_CAP_BLOCK] = "block",
};

/* Which capabilities the engine carries out; the others are refused
 * rather than accepted and silently ignored. */
static const bool cap_built[MIGRATE_NR_CAPS] = {
	[MIGRATE_CAP_AUTO_CONVERGE] = true,
	[MIGRATE_CAP_DIRTY_LIMIT] = true,
	[MIGRATE_CAP_XBZRLE] = true,
	[MIGRATE_CAP_BLOCK] = true,
};

const char *migrate_cap__name(enum migrate_cap c)
{
	return (unsigned int)c < MIGRATE_NR_CAPS ? cap_names[c] : "unknown";
}

int migrate_params__set_capability(struct migrate_params *p, const char *name, bool on,
				   char *err, size_t errlen)
{
	unsigned int i;

	if (err && errlen)
		err[0] = '\0';
	for (i = 0; i < MIGRATE_NR_CAPS && (!name || strcmp(cap_names[i], name)); i++)
		;
	if (i == MIGRATE_NR_CAPS)
		return errmsg__fail(-ENOENT, err, errlen, "unknown capability '%.64s' "
				    "('info migrate_capabilities' lists them)", name ? name : "");
	if (on && !cap_built[i])
		return errmsg__fail(-EOPNOTSUPP, err, errlen, "capability '%s' is not "
				    "supported by vmm yet", name);
	/* QEMU refuses the pair: both slow the vCPUs, each by its own rule,
	 * and together neither rule would mean what it says. */
	if (on && ((i == MIGRATE_CAP_AUTO_CONVERGE && p->caps[MIGRATE_CAP_DIRTY_LIMIT]) ||
		   (i == MIGRATE_CAP_DIRTY_LIMIT && p->caps[MIGRATE_CAP_AUTO_CONVERGE])))
		return errmsg__fail(-EINVAL, err, errlen, "auto-converge and dirty-limit "
				    "cannot both be on: turn the other off first");
	p->caps[i] = on;
	return 0;
}

void migrate_params__format_capabilities(const struct migrate_params *p, char *buf,
					 size_t len)
{
	struct outbuf o;
	unsigned int i;

	outbuf__init(&o, buf, len);
	for (i = 0; i < MIGRATE_NR_CAPS; i++)
		outbuf__printf(&o, "%s: %s\n", cap_names[i], p->caps[i] ? "on" : "off");
}
