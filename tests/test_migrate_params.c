#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "migrate_params.h"

/* Field by field: struct padding is not part of the value. */
static void assert_params_equal(const struct migrate_params *a,
				const struct migrate_params *b)
{
	assert_int_equal(a->max_iterations, b->max_iterations);
	assert_int_equal(a->downtime_limit_ms, b->downtime_limit_ms);
	assert_int_equal(a->min_dirty_pages, b->min_dirty_pages);
	assert_int_equal(a->no_progress_rounds, b->no_progress_rounds);
	assert_true(a->max_sent_factor == b->max_sent_factor);
	assert_true(a->shrink_factor == b->shrink_factor);
	assert_int_equal(a->max_bandwidth, b->max_bandwidth);
	assert_int_equal(a->stall_action, b->stall_action);
	assert_int_equal(a->downtime_max_ms, b->downtime_max_ms);
	assert_int_equal(a->timeout_s, b->timeout_s);
	assert_string_equal(a->secret_file, b->secret_file);
	assert_string_equal(a->tls_creds, b->tls_creds);
	assert_string_equal(a->tls_hostname, b->tls_hostname);
	assert_int_equal(a->throttle_trigger_pct, b->throttle_trigger_pct);
	assert_int_equal(a->cpu_throttle_initial, b->cpu_throttle_initial);
	assert_int_equal(a->cpu_throttle_increment, b->cpu_throttle_increment);
	assert_int_equal(a->max_cpu_throttle, b->max_cpu_throttle);
	assert_int_equal(a->cpu_throttle_tailslow, b->cpu_throttle_tailslow);
	assert_int_equal(a->vcpu_dirty_limit_mbps, b->vcpu_dirty_limit_mbps);
	assert_int_equal(a->vcpu_dirty_limit_period_ms, b->vcpu_dirty_limit_period_ms);
	assert_int_equal(a->xbzrle_cache_size, b->xbzrle_cache_size);
}

static void test_defaults(void **state)
{
	struct migrate_params p;

	memset(&p, 0xff, sizeof(p));
	migrate_params__defaults(&p);
	assert_int_equal(p.max_iterations, 30);
	assert_int_equal(p.downtime_limit_ms, 300);
	assert_int_equal(p.min_dirty_pages, 50);
	assert_int_equal(p.no_progress_rounds, 5);
	assert_true(p.max_sent_factor == 3.0);
	assert_int_equal(p.max_bandwidth, 0);
	assert_int_equal(p.stall_action, ON_STALL_STOP_COPY);
}

static void set_ok(struct migrate_params *p, const char *name,
		   const char *value)
{
	char err[128] = "junk";
	int ret = migrate_params__set(p, name, value, err, sizeof(err));

	if (ret || err[0])
		fail_msg("set %s=%s: %d '%s'", name, value, ret, err);
}

static void test_set_each(void **state)
{
	struct migrate_params p;

	migrate_params__defaults(&p);
	set_ok(&p, "max-iterations", "1");
	assert_int_equal(p.max_iterations, 1);
	set_ok(&p, "max-iterations", "1000");
	assert_int_equal(p.max_iterations, 1000);

	set_ok(&p, "downtime-limit", "0");
	assert_int_equal(p.downtime_limit_ms, 0);
	set_ok(&p, "downtime-limit", "300");
	assert_int_equal(p.downtime_limit_ms, 300);
	set_ok(&p, "downtime-limit", "50ms");
	assert_int_equal(p.downtime_limit_ms, 50);
	set_ok(&p, "downtime-limit", "1.5s");
	assert_int_equal(p.downtime_limit_ms, 1500);
	set_ok(&p, "downtime-limit", "2000us");
	assert_int_equal(p.downtime_limit_ms, 2);
	set_ok(&p, "downtime-limit", "2000s");
	assert_int_equal(p.downtime_limit_ms, 2000000);
	set_ok(&p, "downtime-limit", "2000000");
	assert_int_equal(p.downtime_limit_ms, 2000000);

	set_ok(&p, "min-dirty-pages", "0");
	assert_int_equal(p.min_dirty_pages, 0);
	set_ok(&p, "min-dirty-pages", "1000000000");
	assert_int_equal(p.min_dirty_pages, 1000000000);

	set_ok(&p, "no-progress-rounds", "0");
	assert_int_equal(p.no_progress_rounds, 0);
	set_ok(&p, "no-progress-rounds", "1000");
	assert_int_equal(p.no_progress_rounds, 1000);

	set_ok(&p, "max-sent-factor", "0");
	assert_true(p.max_sent_factor == 0.0);
	set_ok(&p, "max-sent-factor", "1");
	assert_true(p.max_sent_factor == 1.0);
	set_ok(&p, "max-sent-factor", "2.5");
	assert_true(p.max_sent_factor == 2.5);
	set_ok(&p, "max-sent-factor", "1000");
	assert_true(p.max_sent_factor == 1000.0);

	set_ok(&p, "shrink-factor", "0");
	assert_true(p.shrink_factor == 0.0);
	set_ok(&p, "shrink-factor", "1.5");
	assert_true(p.shrink_factor == 1.5);
	set_ok(&p, "shrink-factor", "1000");
	assert_true(p.shrink_factor == 1000.0);

	set_ok(&p, "max-bandwidth", "0");
	assert_int_equal(p.max_bandwidth, 0);
	set_ok(&p, "max-bandwidth", "100M");
	assert_int_equal(p.max_bandwidth, 100ULL << 20);
	set_ok(&p, "max-bandwidth", "12345");
	assert_int_equal(p.max_bandwidth, 12345);
	set_ok(&p, "max-bandwidth", "1T");
	assert_int_equal(p.max_bandwidth, 1ULL << 40);

	set_ok(&p, "stall-action", "cancel");
	assert_int_equal(p.stall_action, ON_STALL_CANCEL);
	set_ok(&p, "stall-action", "stop-copy");
	assert_int_equal(p.stall_action, ON_STALL_STOP_COPY);

	set_ok(&p, "downtime-max", "0");
	assert_int_equal(p.downtime_max_ms, 0);
	set_ok(&p, "downtime-max", "2s");
	assert_int_equal(p.downtime_max_ms, 2000);
	set_ok(&p, "downtime-max", "1500");
	assert_int_equal(p.downtime_max_ms, 1500);
	set_ok(&p, "timeout", "0");
	assert_int_equal(p.timeout_s, 0);
	set_ok(&p, "timeout", "600");
	assert_int_equal(p.timeout_s, 600);

	set_ok(&p, "throttle-trigger-threshold", "100");
	assert_int_equal(p.throttle_trigger_pct, 100);
	set_ok(&p, "cpu-throttle-initial", "1");
	assert_int_equal(p.cpu_throttle_initial, 1);
	set_ok(&p, "cpu-throttle-increment", "99");
	assert_int_equal(p.cpu_throttle_increment, 99);
	set_ok(&p, "max-cpu-throttle", "80");
	assert_int_equal(p.max_cpu_throttle, 80);
	set_ok(&p, "cpu-throttle-tailslow", "on");
	assert_true(p.cpu_throttle_tailslow);
	set_ok(&p, "cpu-throttle-tailslow", "false");
	assert_false(p.cpu_throttle_tailslow);
	set_ok(&p, "vcpu-dirty-limit", "1048576");
	assert_int_equal(p.vcpu_dirty_limit_mbps, 1048576);
	set_ok(&p, "x-vcpu-dirty-limit-period", "1");
	assert_int_equal(p.vcpu_dirty_limit_period_ms, 1);
	set_ok(&p, "xbzrle-cache-size", "4K");
	assert_int_equal(p.xbzrle_cache_size, 4096);
	set_ok(&p, "xbzrle-cache-size", "1G");
	assert_int_equal(p.xbzrle_cache_size, 1ULL << 30);
}

/* Capabilities: known, not built yet, the pair QEMU refuses, and off is
 * always allowed (turning off what is off changes nothing). */
static void test_capabilities(void **state)
{
	struct migrate_params p;
	char err[256], buf[256];

	migrate_params__defaults(&p);
	assert_int_equal(migrate_params__set_capability(&p, "postcopy-ram", true, err,
							sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "unknown capability 'postcopy-ram'"));
	assert_int_equal(migrate_params__set_capability(&p, NULL, true, err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(migrate_params__set_capability(&p, "xbzrle", false, err, sizeof(err)),
			 0);
	assert_string_equal(err, "");
	/* Pretend both throttles are on to check the pair rule whatever
	 * this build has built. */
	p.caps[MIGRATE_CAP_AUTO_CONVERGE] = true;
	assert_true(migrate_params__set_capability(&p, "dirty-limit", true, err,
						   sizeof(err)) < 0);
	assert_false(p.caps[MIGRATE_CAP_DIRTY_LIMIT]);
	assert_int_equal(migrate_params__set_capability(&p, "auto-converge", false, err,
							sizeof(err)), 0);
	assert_false(p.caps[MIGRATE_CAP_AUTO_CONVERGE]);
	p.caps[MIGRATE_CAP_XBZRLE] = true;
	migrate_params__format_capabilities(&p, buf, sizeof(buf));
	assert_string_equal(buf, "auto-converge: off\ndirty-limit: off\nxbzrle: on\nblock: off\n");
	assert_string_equal(migrate_cap__name(MIGRATE_CAP_DIRTY_LIMIT), "dirty-limit");
	assert_string_equal(migrate_cap__name(MIGRATE_NR_CAPS), "unknown");
}

/* auto-converge and dirty-limit are built: each turns on alone, never
 * the pair (QEMU refuses it). */
static void test_auto_converge_capability(void **state)
{
	struct migrate_params p;
	char err[256];

	migrate_params__defaults(&p);
	assert_int_equal(migrate_params__set_capability(&p, "dirty-limit", true, err,
							sizeof(err)), 0);
	assert_true(migrate_params__set_capability(&p, "auto-converge", true, err,
						   sizeof(err)) < 0);
	assert_false(p.caps[MIGRATE_CAP_AUTO_CONVERGE]);
	assert_int_equal(migrate_params__set_capability(&p, "dirty-limit", false, err,
							sizeof(err)), 0);
	assert_int_equal(migrate_params__set_capability(&p, "auto-converge", true, err,
							sizeof(err)), 0);
	assert_true(p.caps[MIGRATE_CAP_AUTO_CONVERGE]);
	assert_true(migrate_params__set_capability(&p, "dirty-limit", true, err,
						   sizeof(err)) < 0);
	assert_false(p.caps[MIGRATE_CAP_DIRTY_LIMIT]);
}

struct bad_case {
	const char *name;
	const char *value;
	int ret;
	const char *msg;
};

static void test_set_bad(void **state)
{
	static const struct bad_case cases[] = {
		{ "shrink-factor", "1", -ERANGE,
		  "shrink-factor: 1 out of range: 0 (off) or above 1 up to 1000" },
		{ "shrink-factor", "1001", -ERANGE,
		  "shrink-factor: 1001 out of range: 0 (off) or above 1 up to 1000" },
		{ "shrink-factor", "x", -EINVAL,
		  "shrink-factor: 'x' is not a number (0 = off, or above 1 up to 1000)" },
		{ "cpu-throttle-initial", "0", -ERANGE,
		  "cpu-throttle-initial: 0 out of range 1..99" },
		{ "cpu-throttle-increment", "100", -ERANGE,
		  "cpu-throttle-increment: 100 out of range 1..99" },
		{ "throttle-trigger-threshold", "101", -ERANGE,
		  "throttle-trigger-threshold: 101 out of range 1..100" },
		{ "cpu-throttle-tailslow", "yes", -EINVAL,
		  "cpu-throttle-tailslow: 'yes' is not on or off" },
		{ "vcpu-dirty-limit", "0", -ERANGE,
		  "vcpu-dirty-limit: 0 out of range 1..1048576" },
		{ "x-vcpu-dirty-limit-period", "1001", -ERANGE,
		  "x-vcpu-dirty-limit-period: 1001 out of range 1..1000" },
		{ "xbzrle-cache-size", "5000", -EINVAL,
		  "xbzrle-cache-size: 5000 is not a multiple of 4K" },
		{ "xbzrle-cache-size", "2K", -ERANGE,
		  "xbzrle-cache-size: 2K out of range 4K..1T" },
		{ "xbzrle-cache-size", "lots", -EINVAL,
		  "xbzrle-cache-size: 'lots' is not a size in bytes (e.g. 64M)" },
		{ "max-iterations", "0", -ERANGE,
		  "max-iterations: 0 out of range 1..1000" },
		{ "max-iterations", "1001", -ERANGE,
		  "max-iterations: 1001 out of range 1..1000" },
		{ "max-iterations", "99999999999999999999999", -ERANGE,
		  "max-iterations: 99999999999999999999999 out of range "
		  "1..1000" },
		{ "max-iterations", "ten", -EINVAL,
		  "max-iterations: 'ten' is not a whole number (range "
		  "1..1000)" },
		{ "max-iterations", "", -EINVAL, NULL },
		{ "max-iterations", "-1", -EINVAL, NULL },
		{ "max-iterations", "5 ", -EINVAL, NULL },
		{ "downtime-limit", "2000001", -ERANGE,
		  "downtime-limit: 2000001 out of range 0..2000000 ms" },
		{ "downtime-limit", "2001s", -ERANGE, NULL },
		{ "downtime-limit", "99999999999999999999999", -ERANGE, NULL },
		{ "downtime-limit", "99999999999999999999999s", -ERANGE, NULL },
		{ "downtime-limit", "1500us", -EINVAL,
		  "downtime-limit: 1500us is not a whole number of "
		  "milliseconds" },
		{ "downtime-limit", "300x", -EINVAL,
		  "downtime-limit: '300x' is not a duration (milliseconds, "
		  "or a number with s, ms or us)" },
		{ "downtime-limit", "", -EINVAL, NULL },
		{ "downtime-limit", "1.5", -EINVAL, NULL },
		{ "downtime-limit", "-5", -EINVAL, NULL },
		{ "min-dirty-pages", "1000000001", -ERANGE,
		  "min-dirty-pages: 1000000001 out of range 0..1000000000" },
		{ "min-dirty-pages", "5K", -EINVAL, NULL },
		{ "no-progress-rounds", "1001", -ERANGE,
		  "no-progress-rounds: 1001 out of range 0..1000" },
		{ "max-sent-factor", "0.5", -ERANGE,
		  "max-sent-factor: 0.5 out of range: 0 (off) or 1..1000" },
		{ "max-sent-factor", "1000.5", -ERANGE, NULL },
		{ "max-sent-factor", "-1", -ERANGE, NULL },
		{ "max-sent-factor", "nan", -EINVAL,
		  "max-sent-factor: 'nan' is not a number (0 = off, or "
		  "1..1000)" },
		{ "max-sent-factor", "inf", -EINVAL, NULL },
		{ "max-bandwidth", "2T", -ERANGE,
		  "max-bandwidth: 2T out of range 0..1T (bytes/s)" },
		{ "max-bandwidth", "99999999999999999999", -ERANGE, NULL },
		{ "max-bandwidth", "100MB", -EINVAL,
		  "max-bandwidth: '100MB' is not a size in bytes/s (e.g. "
		  "100M; 0 = unlimited)" },
		{ "max-bandwidth", "-1", -EINVAL, NULL },
		{ "stall-action", "pause", -EINVAL,
		  "stall-action: 'pause' is not one of stop-copy, cancel" },
		{ "stall-action", "", -EINVAL, NULL },
		{ "stall-action", "Cancel", -EINVAL, NULL },
		{ "downtime-max", "2000001", -ERANGE, NULL },
		{ "downtime-max", "1.5ms", -EINVAL, NULL },
		{ "timeout", "604801", -ERANGE,
		  "timeout: 604801 out of range 0..604800" },
		{ "timeout", "10s", -EINVAL, NULL },
		{ "max_iterations", "5", -EINVAL,
		  "unknown parameter 'max_iterations' ('info migrate_parameters' "
		  "lists them)" },
		{ "", "5", -EINVAL, NULL },
		{ NULL, "5", -EINVAL, "missing parameter name" },
		{ "max-iterations", NULL, -EINVAL,
		  "max-iterations: missing value" },
	};
	struct migrate_params p, before;
	char err[160];
	size_t i;
	int ret;

	migrate_params__defaults(&p);
	before = p;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_case *c = &cases[i];

		err[0] = '\0';
		ret = migrate_params__set(&p, c->name, c->value, err,
					  sizeof(err));
		if (ret != c->ret)
			fail_msg("%s=%s: %d, want %d", c->name, c->value, ret,
				 c->ret);
		if (!err[0])
			fail_msg("%s=%s: no message", c->name, c->value);
		if (c->msg && strcmp(err, c->msg))
			fail_msg("%s=%s: '%s'", c->name, c->value, err);
		/* The parameter is named, so the user knows which one. */
		if (c->name && c->name[0] && !strstr(err, c->name))
			fail_msg("%s: message '%s' lacks the name", c->name,
				 err);
		assert_params_equal(&p, &before);
	}
}

static void test_err_buffer(void **state)
{
	struct migrate_params p;
	char err[8];

	migrate_params__defaults(&p);
	memset(err, 'x', sizeof(err));
	assert_int_equal(migrate_params__set(&p, "max-iterations", "0", err,
					     sizeof(err)), -ERANGE);
	assert_string_equal(err, "max-ite");
	/* No buffer at all is fine too. */
	assert_int_equal(migrate_params__set(&p, "max-iterations", "0", NULL,
					     0), -ERANGE);
	assert_int_equal(migrate_params__set(&p, "nope", "0", err, 0), -EINVAL);
	assert_int_equal(err[0], 'm');
}

/* Feeds every "name: value" line back through set. */
static void reparse(const char *text, struct migrate_params *p)
{
	char copy[1024], err[128];
	char *line, *save, *colon;
	int n = 0;

	snprintf(copy, sizeof(copy), "%s", text);
	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		colon = strstr(line, ": ");
		assert_non_null(colon);
		*colon = '\0';
		if (migrate_params__set(p, line, colon + 2, err, sizeof(err)))
			fail_msg("line '%s: %s' does not parse: %s", line,
				 colon + 2, err);
		n++;
	}
	assert_int_equal(n, 25);
}

/* secret-file takes a path whose file passes the secret file's rules, or
 * "" for --secret-file's; a refused one leaves the parameters alone. */
static void test_secret_file(void **state)
{
	struct migrate_params p;
	char path[] = "/tmp/test_params_XXXXXX", err[256];
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "k\n", 2), 2);
	migrate_params__defaults(&p);
	assert_int_equal(fchmod(fd, 0644), 0);
	assert_int_equal(migrate_params__set(&p, "secret-file", path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "too open"));
	assert_string_equal(p.secret_file, "");
	assert_int_equal(fchmod(fd, 0600), 0);
	assert_int_equal(migrate_params__set(&p, "secret-file", path, err, sizeof(err)), 0);
	assert_string_equal(p.secret_file, path);
	assert_int_equal(migrate_params__set(&p, "secret-file", "", err, sizeof(err)), 0);
	assert_string_equal(p.secret_file, "");
	assert_int_equal(migrate_params__set(&p, "secret-file", "/nonexistent/k", err,
					     sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "cannot open"));
	close(fd);
	unlink(path);
}

static void test_format(void **state)
{
	struct migrate_params p, q;
	char buf[1024];

	migrate_params__defaults(&p);
	migrate_params__format(&p, buf, sizeof(buf));
	assert_string_equal(buf,
		"max-iterations: 30\n"
		"downtime-limit: 300ms\n"
		"min-dirty-pages: 50\n"
		"no-progress-rounds: 5\n"
		"max-sent-factor: 3\n"
		"shrink-factor: 2\n"
		"max-bandwidth: 0\n"
		"stall-action: stop-copy\n"
		"downtime-max: 10000ms\n"
		"timeout: 0\n"
		"secret-file: \n"
		"throttle-trigger-threshold: 50\n"
		"cpu-throttle-initial: 20\n"
		"cpu-throttle-increment: 10\n"
		"max-cpu-throttle: 99\n"
		"cpu-throttle-tailslow: off\n"
		"vcpu-dirty-limit: 1\n"
		"x-vcpu-dirty-limit-period: 1000\n"
		"xbzrle-cache-size: 64M\n"
		"multifd-compression: none\n"
		"multifd-zstd-level: 1\n"
		"round-end: pass\n"
		"tls-creds: \n"
		"tls-hostname: \n"
		"block-incremental: off\n");

	p.max_iterations = 7;
	p.downtime_limit_ms = 1234;
	p.min_dirty_pages = 0;
	p.no_progress_rounds = 0;
	p.max_sent_factor = 2.75;
	p.shrink_factor = 4.5;
	p.max_bandwidth = 100ULL << 20;
	p.stall_action = ON_STALL_CANCEL;
	p.downtime_max_ms = 2500;
	p.timeout_s = 90;
	p.cpu_throttle_tailslow = true;
	p.max_cpu_throttle = 70;
	p.xbzrle_cache_size = 12ULL << 10;
	p.block_incremental = true;
	migrate_params__format(&p, buf, sizeof(buf));
	assert_non_null(strstr(buf, "max-bandwidth: 100M\n"));
	assert_non_null(strstr(buf, "stall-action: cancel\n"));
	migrate_params__defaults(&q);
	reparse(buf, &q);
	assert_params_equal(&p, &q);

	p.max_bandwidth = (3ULL << 30) + 1;
	migrate_params__format(&p, buf, sizeof(buf));
	assert_non_null(strstr(buf, "max-bandwidth: 3221225473\n"));
	p.max_bandwidth = 1536 << 10;
	migrate_params__format(&p, buf, sizeof(buf));
	assert_non_null(strstr(buf, "max-bandwidth: 1536K\n"));
}

static void test_format_truncates(void **state)
{
	struct migrate_params p;
	char full[1024], buf[40];
	size_t len;

	migrate_params__defaults(&p);
	migrate_params__format(&p, full, sizeof(full));
	for (len = 1; len <= sizeof(buf); len++) {
		memset(buf, 'Z', sizeof(buf));
		migrate_params__format(&p, buf, len);
		assert_int_equal(strlen(buf), len - 1);
		assert_memory_equal(buf, full, len - 1);
		if (len < sizeof(buf))
			assert_int_equal(buf[len], 'Z');
	}
	migrate_params__format(&p, buf, 0);
	migrate_params__format_help(buf, 0);
	migrate_params__format_help(buf, 1);
	assert_string_equal(buf, "");
}

/* QEMU's multifd-compression and multifd-zstd-level, with QEMU's
 * defaults; zlib (which QEMU has) is named as not built. */
static void test_compression(void **state)
{
	struct migrate_params p;
	char err[256];

	(void)state;
	migrate_params__defaults(&p);
	assert_int_equal(p.compression, MIGRATE_COMPRESSION_NONE);
	assert_int_equal(p.zstd_level, 1);
	assert_int_equal(migrate_params__set(&p, "multifd-compression", "zstd", err, sizeof(err)), 0);
	assert_int_equal(p.compression, MIGRATE_COMPRESSION_ZSTD);
	assert_int_equal(migrate_params__set(&p, "multifd-zstd-level", "20", err, sizeof(err)), 0);
	assert_int_equal(p.zstd_level, 20);
	assert_int_equal(migrate_params__set(&p, "multifd-zstd-level", "21", err, sizeof(err)),
			 -ERANGE);
	assert_int_equal(migrate_params__set(&p, "multifd-zstd-level", "0", err, sizeof(err)),
			 -ERANGE);
	assert_int_equal(p.zstd_level, 20);
	assert_int_equal(migrate_params__set(&p, "multifd-compression", "zlib", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "zlib is not built"));
	assert_int_equal(migrate_params__set(&p, "multifd-compression", "lz4", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "multifd-compression: 'lz4' is not none or zstd");
	assert_int_equal(p.compression, MIGRATE_COMPRESSION_ZSTD);
	assert_int_equal(migrate_params__set(&p, "multifd-compression", "none", err, sizeof(err)), 0);
	assert_int_equal(p.compression, MIGRATE_COMPRESSION_NONE);
}

static void test_round_end(void **state)
{
	struct migrate_params p;
	char err[256];

	(void)state;
	migrate_params__defaults(&p);
	assert_false(p.round_end_fit);
	assert_int_equal(migrate_params__set(&p, "round-end", "fit", err, sizeof(err)), 0);
	assert_true(p.round_end_fit);
	assert_int_equal(migrate_params__set(&p, "round-end", "on", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "round-end: 'on' is not pass or fit");
	assert_true(p.round_end_fit);
	assert_int_equal(migrate_params__set(&p, "round-end", "pass", err, sizeof(err)), 0);
	assert_false(p.round_end_fit);
}

/* block-incremental: on/off (true/false from QMP), off by default. */
static void test_block_incremental(void **state)
{
	struct migrate_params p;
	char err[128];

	migrate_params__defaults(&p);
	assert_false(p.block_incremental);
	assert_int_equal(migrate_params__set(&p, "block-incremental", "on", err, sizeof(err)), 0);
	assert_true(p.block_incremental);
	assert_int_equal(migrate_params__set(&p, "block-incremental", "yes", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "block-incremental: 'yes' is not on or off");
	assert_true(p.block_incremental);
	assert_int_equal(migrate_params__set(&p, "block-incremental", "false", err, sizeof(err)),
			 0);
	assert_false(p.block_incremental);
}

static void test_help(void **state)
{
	const struct migrate_param_info *t;
	struct migrate_params p;
	char buf[4096], err[128];
	size_t n, i;

	t = migrate_params__table(&n);
	assert_int_equal(n, 25);
	migrate_params__format_help(buf, sizeof(buf));
	for (i = 0; i < n; i++) {
		assert_non_null(t[i].name);
		assert_true(strlen(t[i].help) > 10);
		assert_non_null(strstr(buf, t[i].name));
		assert_non_null(strstr(buf, t[i].help));
		/* Every listed name is settable: a wrong value is a value
		 * error, not "unknown parameter". */
		migrate_params__defaults(&p);
		assert_true(migrate_params__set(&p, t[i].name, "?", err,
						sizeof(err)) != 0);
		assert_null(strstr(err, "unknown"));
	}
	assert_string_equal(on_stall__name(ON_STALL_CANCEL), "cancel");
	assert_string_equal(on_stall__name((enum on_stall)99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_set_each),
		cmocka_unit_test(test_capabilities),
		cmocka_unit_test(test_auto_converge_capability),
		cmocka_unit_test(test_set_bad),
		cmocka_unit_test(test_err_buffer),
		cmocka_unit_test(test_secret_file),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_truncates),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_block_incremental),
		cmocka_unit_test(test_compression),
		cmocka_unit_test(test_round_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
