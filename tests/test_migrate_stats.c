#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_scale.h"
#include "migrate_stats.h"

/* --- a strict little JSON validator (RFC 8259 grammar) ------------------ */

struct jp {
	const char *s;
	int depth;
};

static bool jp_value(struct jp *p);

static void jp_ws(struct jp *p)
{
	while (*p->s == ' ' || *p->s == '\n' || *p->s == '\t' ||
	       *p->s == '\r')
		p->s++;
}

static bool jp_lit(struct jp *p, const char *lit)
{
	size_t n = strlen(lit);

	if (strncmp(p->s, lit, n))
		return false;
	p->s += n;
	return true;
}

static bool jp_digits(struct jp *p)
{
	const char *start = p->s;

	while (*p->s >= '0' && *p->s <= '9')
		p->s++;
	return p->s > start;
}

static bool jp_number(struct jp *p)
{
	if (*p->s == '-')
		p->s++;
	if (*p->s == '0')
		p->s++;
	else if (!jp_digits(p))
		return false;
	if (*p->s == '.') {
		p->s++;
		if (!jp_digits(p))
			return false;
	}
	if (*p->s == 'e' || *p->s == 'E') {
		p->s++;
		if (*p->s == '+' || *p->s == '-')
			p->s++;
		if (!jp_digits(p))
			return false;
	}
	return true;
}

static bool jp_string(struct jp *p)
{
	int i;

	if (*p->s++ != '"')
		return false;
	while (*p->s != '"') {
		unsigned char c = (unsigned char)*p->s++;

		if (c < 0x20)
			return false;	/* includes the terminating NUL */
		if (c != '\\')
			continue;
		c = (unsigned char)*p->s++;
		if (c == 'u') {
			for (i = 0; i < 4; i++)
				if (!isxdigit((unsigned char)*p->s++))
					return false;
		} else if (!c || !strchr("\"\\/bfnrt", c)) {
			return false;
		}
	}
	p->s++;
	return true;
}

static bool jp_container(struct jp *p, char close, bool object)
{
	p->s++;
	jp_ws(p);
	if (*p->s == close) {
		p->s++;
		return true;
	}
	for (;;) {
		if (object) {
			if (!jp_string(p))
				return false;
			jp_ws(p);
			if (*p->s++ != ':')
				return false;
		}
		if (!jp_value(p))
			return false;
		jp_ws(p);
		if (*p->s == close) {
			p->s++;
			return true;
		}
		if (*p->s++ != ',')
			return false;
		jp_ws(p);
	}
}

static bool jp_value(struct jp *p)
{
	bool ok;

	jp_ws(p);
	if (++p->depth > 32)
		return false;
	switch (*p->s) {
	case '{':
		ok = jp_container(p, '}', true);
		break;
	case '[':
		ok = jp_container(p, ']', false);
		break;
	case '"':
		ok = jp_string(p);
		break;
	case 't':
		ok = jp_lit(p, "true");
		break;
	case 'f':
		ok = jp_lit(p, "false");
		break;
	case 'n':
		ok = jp_lit(p, "null");
		break;
	default:
		ok = jp_number(p);
	}
	p->depth--;
	return ok;
}

static bool json_valid(const char *s)
{
	struct jp p = { s, 0 };

	if (!jp_value(&p))
		return false;
	jp_ws(&p);
	return *p.s == '\0';
}

static void test_validator(void **state)
{
	assert_true(json_valid("{\"a\": [1, -2.5e+3, null, true], \"b\": {}}"));
	assert_true(json_valid("\"\\u00e9\\n\""));
	assert_false(json_valid("{\"a\": nan}"));
	assert_false(json_valid("{\"a\": inf}"));
	assert_false(json_valid("{\"a\": 1,}"));
	assert_false(json_valid("{\"a\" 1}"));
	assert_false(json_valid("[01]"));
	assert_false(json_valid("\"a\nb\""));
	assert_false(json_valid("\"\\x\""));
	assert_false(json_valid("{} x"));
	assert_false(json_valid("[1.]"));
}

/* --- helpers ------------------------------------------------------------ */

static char *json_of(const struct migrate_stats *s,
		     const struct migrate_params *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(migrate_stats__write_json(s, p, f), 0);
	fclose(f);
	return buf;
}

static char *csv_of(const struct migrate_stats *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(migrate_stats__write_csv(s, f), 0);
	fclose(f);
	return buf;
}

static struct round_stats make_round(uint32_t i)
{
	struct round_stats r = {
		.index = i,
		.start_us = 1000ULL * i,
		.duration_us = 900,
		.dirty_pages = 1000 - i,
		.pages_sent = 1000 - i,
		.zero_pages = i,
		.zero_entries = i / 2,
		.bytes = 4096ULL * (1000 - i),
		.bandwidth_bps = 123456789.5,
		.dirty_rate_pps = 2500.25,
		.expected_downtime_ms = 12.5,
		.log_read_us = 300,
		.log_get_us = 100,
		.log_clear_us = 200,
		.link_bps = 250000000,
		.throttle_us = 100,
	};

	return r;
}

static void fill(struct migrate_stats *s, uint32_t rounds)
{
	struct round_stats r;
	uint32_t i;

	assert_int_equal(migrate_stats__init(s), 0);
	migrate_stats__start(s, "tcp:127.0.0.1:8888");
	migrate_stats__set_status(s, MIGRATE_STATUS_ACTIVE);
	s->ram_total = 512ULL << 20;
	s->ram_transferred = 600ULL << 20;
	s->ram_remaining = 4ULL << 20;
	s->pages_total = 150000;
	s->zero_pages_total = 1000;
	s->bytes_total = 601ULL << 20;
	s->device_state_bytes = 12345;
	snprintf(s->dirty_log_mode, sizeof(s->dirty_log_mode),
		 "manual-protect");
	for (i = 0; i < rounds; i++) {
		r = make_round(i);
		assert_int_equal(migrate_stats__add_round(s, &r), 0);
	}
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* --- tests -------------------------------------------------------------- */

static void test_names(void **state)
{
	static const char *const want[] = {
		"none", "setup", "active", "stop-copy", "completed", "failed",
		"cancelled",
	};
	int i;

	for (i = 0; i <= MIGRATE_STATUS_CANCELLED; i++)
		assert_string_equal(migrate_status__name(i), want[i]);
	assert_string_equal(migrate_status__name(99), "unknown");
}

static void test_rounds_grow(void **state)
{
	struct migrate_stats s;
	struct round_stats r;
	uint32_t i;

	fill(&s, 5000);
	assert_int_equal(s.rounds, 5000);
	assert_int_equal(s.rounds_len, 5000);
	assert_true(s.rounds_cap >= 5000);
	for (i = 0; i < 5000; i++)
		assert_int_equal(s.rounds_v[i].dirty_pages, 1000 - i);
	migrate_stats__free(&s);

	/* At the bound, rounds are counted but not stored. */
	fill(&s, 0);
	s.rounds_max = 100;
	for (i = 0; i < 150; i++) {
		r = make_round(i);
		assert_int_equal(migrate_stats__add_round(&s, &r),
				 i < 100 ? 0 : -ENOSPC);
	}
	assert_int_equal(s.rounds, 150);
	assert_int_equal(s.rounds_len, 100);
	assert_int_equal(s.rounds_cap, 100);
	migrate_stats__free(&s);
}

/* auto-converge's numbers: per round and in total, in the JSON and in
 * 'info migrate' (only once it has throttled). */
static void test_cpu_throttle(void **state)
{
	struct migrate_stats s;
	struct round_stats r;
	char *j, buf[4096];

	fill(&s, 0);
	migrate_stats__format_info(&s, buf, sizeof(buf));
	assert_null(strstr(buf, "cpu throttle"));
	r = make_round(0);
	r.cpu_throttle_pct = 30;
	r.nr_throttled_vcpus = 2;
	r.vcpu_throttled_us[0] = 1500;
	r.vcpu_throttled_us[1] = 0;
	migrate_stats__add_round(&s, &r);
	s.cpu_throttle_pct = 40;
	s.cpu_throttle_final_pct = 40;
	s.cpu_throttle_steps = 2;
	s.nr_throttled_vcpus = 2;
	s.vcpu_throttled_us[0] = 2500000;
	s.vcpu_throttled_us[1] = 7;
	j = json_of(&s, NULL);
	if (!json_valid(j))
		fail_msg("invalid JSON:\n%s", j);
	assert_non_null(strstr(j, "\"cpu_throttle_pct\": 30, \"vcpu_throttled_us\": [1500, 0], "));
	assert_non_null(strstr(j, "\"cpu_throttle_pct\": 40,"));
	assert_non_null(strstr(j, "\"cpu_throttle_final_pct\": 40,"));
	assert_non_null(strstr(j, "\"cpu_throttle_steps\": 2,"));
	assert_non_null(strstr(j, "\"vcpu_throttled_us\": [2500000, 7]"));
	free(j);
	migrate_stats__format_info(&s, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\ncpu throttle: 40 %\n"));
	assert_non_null(strstr(buf, "\ncpu throttle last: 40 %, raised 2 times\n"));
	assert_non_null(strstr(buf, "\nvcpu throttled: 0=2.500 s 1=0.007 ms\n"));
	migrate_stats__free(&s);
}

static void test_json(void **state)
{
	struct migrate_params p;
	struct migrate_stats s;
	struct round_stats r;
	char *j;

	migrate_params__defaults(&p);
	fill(&s, 3);
	r = make_round(3);
	r.bandwidth_bps = NAN;
	r.dirty_rate_pps = INFINITY;
	r.expected_downtime_ms = -INFINITY;
	migrate_stats__add_round(&s, &r);
	s.stop_reason = STOP_CONVERGED;
	migrate_stats__set_status(&s, MIGRATE_STATUS_COMPLETED);
	j = json_of(&s, &p);
	if (!json_valid(j))
		fail_msg("invalid JSON:\n%s", j);
	assert_non_null(strstr(j, "\"schema_version\": 1,"));
	assert_non_null(strstr(j, "\"status\": \"completed\""));
	assert_non_null(strstr(j, "\"stop_reason\": \"converged\""));
	assert_non_null(strstr(j, "\"error\": null"));
	assert_non_null(strstr(j, "\"uri\": \"tcp:127.0.0.1:8888\""));
	assert_non_null(strstr(j, "\"dirty_log_mode\": \"manual-protect\""));
	assert_non_null(strstr(j, "\"round_count\": 4"));
	assert_non_null(strstr(j, "\"rounds_dropped\": 0"));
	assert_non_null(strstr(j, "\"log_read_us\": 300, \"log_get_us\": 100, \"log_clear_us\": 200, "
				"\"link_bandwidth_bps\": 250000000, \"throttle_us\": 100, "
				"\"ring_full_exits\": 0, \"ring_wait_us\": 0, "
				"\"vcpu_dirty_pages\": [], "));
	/* Off: the cache is null, each round's counters 0. */
	assert_non_null(strstr(j, "\"xbzrle_cache\": null"));
	assert_non_null(strstr(j, "\"xbzrle_bytes_saved\": 0, \"cpu_throttle_pct\": 0, "
				"\"vcpu_throttled_us\": [], \"zstd_raw_bytes\": 0, "
				"\"zstd_bytes\": 0, \"zstd_cpu_us\": 0, "
				"\"disk_bytes\": 0, \"dirty_blocks\": 0, \"disk_us\": 0 }"));
	assert_non_null(strstr(j, "\"compression\": null"));
	assert_non_null(strstr(j, "\"multifd_compression\": \"none\""));
	assert_non_null(strstr(j, "\"max_sent_factor\": 3,"));
	assert_non_null(strstr(j, "\"stall_action\": \"stop-copy\""));
	assert_non_null(strstr(j, "\"forecast\": null"));
	assert_non_null(strstr(j, "\"bandwidth_bps\": 123456789.5,"));
	assert_non_null(strstr(j, "\"bandwidth_bps\": null"));
	assert_non_null(strstr(j, "\"dirty_rate_pps\": null"));
	assert_non_null(strstr(j, "\"link_bandwidth_bps\": 250000000, \"throttle_us\": 100,"));
	assert_non_null(strstr(j, "\"expected_downtime_ms\": null"));
	assert_null(strstr(j, "nan"));
	assert_null(strstr(j, "inf"));
	/* One line per round. */
	assert_non_null(strstr(j, "\n    { \"index\": 3, \"start_us\": 3000,"));
	free(j);

	/* No params, a forecast, and no rounds at all. */
	migrate_stats__free(&s);
	fill(&s, 0);
	s.forecast.valid = true;
	s.forecast.rounds = 7;
	s.forecast.downtime_ms = 0.1;
	s.forecast.bandwidth_bps = NAN;
	s.forecast.bytes = 123456;
	s.forecast.stop_reason = STOP_NO_PROGRESS;
	j = json_of(&s, NULL);
	if (!json_valid(j))
		fail_msg("invalid JSON:\n%s", j);
	assert_non_null(strstr(j, "\"params\": null"));
	assert_non_null(strstr(j, "\"rounds\": []"));
	assert_non_null(strstr(j, "\"downtime_ms\": 0.1,\n"));
	assert_non_null(strstr(j, "\"bytes\": 123456,\n"));
	assert_non_null(strstr(j, "\"ws_pages\": null,\n"));
	assert_non_null(strstr(j, "\"stop_reason\": \"no-progress\"\n"));
	assert_non_null(strstr(j, "\"bandwidth_bps\": null"));
	free(j);
	migrate_stats__free(&s);
}

static void test_json_escaping(void **state)
{
	struct migrate_stats s;
	char *j;

	fill(&s, 1);
	migrate_stats__set_error(&s, "bad \"quote\" back\\slash\nline\ttab"
				 "\r\b\f\x01\x1f\x7f caf\xc3\xa9 \xff\xc0\xaf"
				 " \xed\xa0\x80 \xf0\x9f\x98\x80 \xe2\x82");
	j = json_of(&s, NULL);
	if (!json_valid(j))
		fail_msg("invalid JSON:\n%s", j);
	assert_non_null(strstr(j, "\"error\": \"bad \\\"quote\\\" back\\\\slash"
			       "\\nline\\ttab\\r\\b\\f\\u0001\\u001f\\u007f "
			       "caf\xc3\xa9 \\ufffd\\ufffd\\ufffd \\ufffd"
			       "\\ufffd\\ufffd \xf0\x9f\x98\x80 \\ufffd"
			       "\\ufffd\""));
	free(j);

	/* Fixed arrays without a NUL stay in bounds. */
	memset(s.error, 'e', sizeof(s.error));
	memset(s.uri, '"', sizeof(s.uri));
	memset(s.dirty_log_mode, '\n', sizeof(s.dirty_log_mode));
	j = json_of(&s, NULL);
	if (!json_valid(j))
		fail_msg("invalid JSON:\n%s", j);
	free(j);
	migrate_stats__free(&s);
}

static void test_csv(void **state)
{
	struct migrate_stats s;
	struct round_stats r;
	char *c, *line;

	fill(&s, 0);
	c = csv_of(&s);
	assert_string_equal(c, "index,start_us,duration_us,dirty_pages,"
			    "pages_sent,zero_pages,zero_entries,bytes,bandwidth_bps,"
			    "dirty_rate_pps,expected_downtime_ms,"
			    "log_read_us,log_get_us,log_clear_us,link_bandwidth_bps,throttle_us,"
			    "ring_full_exits,ring_wait_us,vcpu_dirty_pages,"
			    "xbzrle_pages,xbzrle_bytes,xbzrle_hits,xbzrle_cache_miss,xbzrle_overflow,"
			    "xbzrle_bytes_saved,zstd_raw_bytes,zstd_bytes,zstd_cpu_us,"
			    "disk_bytes,dirty_blocks,disk_us\n");
	free(c);
	migrate_stats__free(&s);

	fill(&s, 41);
	r = make_round(41);
	r.bandwidth_bps = NAN;
	r.ring_full_exits = 7;
	r.ring_wait_us = 1234;
	r.nr_vcpus = 3;
	r.vcpu_dirty_pages[0] = 900;
	r.vcpu_dirty_pages[2] = 59;
	migrate_stats__add_round(&s, &r);
	c = csv_of(&s);
	assert_int_equal(count_lines(c), 43);
	assert_non_null(strstr(c, "\n0,0,900,1000,1000,0,0,4096000,123456789.5,"
			       "2500.25,12.5,300,100,200,250000000,100,0,0,,0,0,0,0,0,0,0,0,0,0,0,0\n"));
	assert_non_null(strstr(c, "\n41,41000,900,959,959,41,20,3928064,,"
			       "2500.25,12.5,300,100,200,250000000,100,7,1234,900;0;59,0,0,0,0,0,0,0,0,0,0,0,0\n"));
	for (line = c; (line = strchr(line, '\n')) && line[1]; line++) {
		size_t commas = 0;
		const char *q;

		for (q = line + 1; *q && *q != '\n'; q++)
			commas += *q == ',';
		assert_int_equal(commas, 30);
	}
	free(c);
	migrate_stats__free(&s);
}

static void test_write_error(void **state)
{
	struct migrate_stats s;
	FILE *f = fopen("/dev/null", "r");

	assert_non_null(f);
	fill(&s, 2);
	assert_int_equal(migrate_stats__write_json(&s, NULL, f), -EIO);
	assert_int_equal(migrate_stats__write_csv(&s, f), -EIO);
	fclose(f);
	migrate_stats__free(&s);
}

static void test_info(void **state)
{
	struct migrate_stats s;
	char buf[2048];

	fill(&s, 3);
	migrate_stats__format_info(&s, buf, sizeof(buf));
	assert_non_null(strstr(buf, "status: active\n"));
	assert_non_null(strstr(buf, "uri: tcp:127.0.0.1:8888\n"));
	assert_non_null(strstr(buf, "rounds: 3\n"));
	assert_non_null(strstr(buf, "dirty log: manual-protect\n"));
	assert_non_null(strstr(buf, "last round: #2, 0.900 ms, dirty 998"));
	assert_non_null(strstr(buf, "remaining of 512.0 MiB (99.2% done)"));
	assert_non_null(strstr(buf, "eta: 0.034 s at 117.7 MiB/s"));
	assert_non_null(strstr(buf, "expected downtime: 12.5 ms\n"));
	assert_null(strstr(buf, "stop reason"));
	assert_null(strstr(buf, "dirty ring"));

	s.stop_reason = STOP_NO_PROGRESS;
	migrate_stats__set_downtime(&s, &(struct downtime_marks){
		.pause = 1000, .paused = 1100, .last_ram = 31100, .state = 31600,
		.ready = 40000, .end = 42000 });
	migrate_stats__set_error(&s, "peer went away");
	migrate_stats__set_status(&s, MIGRATE_STATUS_COMPLETED);
	assert_true(s.total_us > 0 || s.start_mono_us);
	migrate_stats__format_info(&s, buf, sizeof(buf));
	assert_non_null(strstr(buf, "status: completed\n"));
	assert_non_null(strstr(buf, "stop reason: no-progress\n"));
	assert_non_null(strstr(buf, "downtime: 41.000 ms = pause 0.100 ms + last pages 30.000 ms + "
			       "state 0.500 ms + ready 8.400 ms + resumed 2.000 ms\n"));
	assert_non_null(strstr(buf, "error: peer went away\n"));
	migrate_stats__free(&s);
}

/* With the dirty ring, rounds carry ring-full exits and per-vCPU pages:
 * info migrate sums the first, shows the last round's second. */
static void test_info_ring(void **state)
{
	struct migrate_stats s;
	struct round_stats r;
	char buf[2048], *j;

	fill(&s, 0);
	r = make_round(0);
	r.ring_full_exits = 3;
	r.ring_wait_us = 1500;
	r.nr_vcpus = 2;
	migrate_stats__add_round(&s, &r);
	r = make_round(1);
	r.ring_full_exits = 4;
	r.ring_wait_us = 500;
	r.nr_vcpus = 2;
	r.vcpu_dirty_pages[0] = 700;
	r.vcpu_dirty_pages[1] = 12;
	migrate_stats__add_round(&s, &r);
	migrate_stats__format_info(&s, buf, sizeof(buf));
	assert_non_null(strstr(buf, "dirty ring: 7 ring-full exits, vCPUs waited 2.000 ms; "
			       "last round's pages by vCPU: 700 12\n"));
	migrate_stats__format_summary(&s, buf, sizeof(buf));
	assert_non_null(strstr(buf, "dirty ring: 7 ring-full exits, vCPUs waited 2.000 ms\n"));
	j = json_of(&s, NULL);
	if (!json_valid(j))
		fail_msg("invalid JSON:\n%s", j);
	assert_non_null(strstr(j, "\"ring_full_exits\": 4, \"ring_wait_us\": 500, "
			       "\"vcpu_dirty_pages\": [700, 12], "));
	free(j);
	migrate_stats__free(&s);

	/* Before anything happened: nothing unknown is shown as a number. */
	assert_int_equal(migrate_stats__init(&s), 0);
	migrate_stats__format_info(&s, buf, sizeof(buf));
	assert_non_null(strstr(buf, "status: none\n"));
	assert_non_null(strstr(buf, "eta: unknown"));
	assert_non_null(strstr(buf, "expected downtime: - ms\n"));
	assert_null(strstr(buf, "nan"));
	migrate_stats__free(&s);
}

static uint64_t parts_sum(const struct migrate_stats *s)
{
	return s->downtime_pause_us + s->downtime_last_ram_us + s->downtime_state_us +
	       s->downtime_ready_us + s->downtime_resumed_us;
}

/* The parts add up to the downtime exactly, whatever the instants (equal
 * ones included), and resume is ready + resumed; without a READY (a file)
 * the wait after END is all "ready". The JSON carries every part. */
static void test_downtime_parts(void **state)
{
	static const struct downtime_marks cases[] = {
		{ 100, 250, 9000, 9007, 12000, 12345 },
		{ 5, 5, 5, 5, 5, 5 },
		{ 1, 2, 3, 4, 0, 10 },
		{ 1000000, 1000001, 1000001, 2000000, 2000000, 2000003 },
	};
	struct migrate_stats s;
	char *text = NULL;
	size_t len = 0, i;
	FILE *f;

	assert_int_equal(migrate_stats__init(&s), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		migrate_stats__set_downtime(&s, &cases[i]);
		assert_int_equal(s.downtime_us, cases[i].end - cases[i].pause);
		assert_int_equal(parts_sum(&s), s.downtime_us);
		assert_int_equal(s.downtime_resume_us, s.downtime_ready_us + s.downtime_resumed_us);
	}
	migrate_stats__set_downtime(&s, &cases[2]);
	assert_int_equal(s.downtime_ready_us, 6);
	assert_int_equal(s.downtime_resumed_us, 0);
	migrate_stats__set_downtime(&s, &cases[0]);
	assert_int_equal(s.downtime_pause_us, 150);
	assert_int_equal(s.downtime_last_ram_us, 8750);
	assert_int_equal(s.downtime_state_us, 7);
	assert_int_equal(s.downtime_ready_us, 2993);
	assert_int_equal(s.downtime_resumed_us, 345);
	f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(migrate_stats__write_json(&s, NULL, f), 0);
	fclose(f);
	assert_non_null(strstr(text, "\"downtime_us\": 12245,"));
	assert_non_null(strstr(text, "\"downtime_ready_us\": 2993,"));
	assert_non_null(strstr(text, "\"downtime_resumed_us\": 345,"));
	assert_non_null(strstr(text, "\"downtime_resume_us\": 3338,"));
	free(text);
	migrate_stats__free(&s);
}

static void test_summary(void **state)
{
	struct migrate_stats s;
	static char buf[16384];

	fill(&s, 5);
	s.stop_reason = STOP_CONVERGED;
	s.total_us = 2500000;
	s.forecast.valid = true;
	s.forecast.rounds = 4;
	migrate_stats__set_status(&s, MIGRATE_STATUS_COMPLETED);
	migrate_stats__format_summary(&s, buf, sizeof(buf));
	assert_non_null(strstr(buf, "migration completed after 2.500 s, "
			       "stop reason: converged\n"));
	assert_non_null(strstr(buf, "(1.17x ram)"));
	assert_non_null(strstr(buf, "forecast: 4 rounds"));
	assert_non_null(strstr(buf, " round "));
	assert_non_null(strstr(buf,
			       "\n     4       0.9        996        996 "));
	assert_null(strstr(buf, "not shown"));
	migrate_stats__free(&s);

	/* Long runs: first and last 20 rounds, and the dropped ones. */
	fill(&s, 100);
	s.rounds_max = 100;
	migrate_stats__add_round(&s, &s.rounds_v[0]);
	migrate_stats__format_summary(&s, buf, sizeof(buf));
	assert_non_null(strstr(buf, "(60 rounds not shown)"));
	assert_non_null(strstr(buf, "\n    19 "));
	assert_null(strstr(buf, "\n    20 "));
	assert_null(strstr(buf, "\n    79 "));
	assert_non_null(strstr(buf, "\n    80 "));
	assert_non_null(strstr(buf, "\n    99 "));
	assert_non_null(strstr(buf, "(1 later rounds not recorded: limit of "
			       "100)"));
	migrate_stats__free(&s);
}

/* Every buffer size from 0 up: always terminated, never past len. */
static void test_truncation(void **state)
{
	struct migrate_stats s;
	char full[8192], buf[600];
	size_t len, n;

	fill(&s, 50);
	s.stop_reason = STOP_MAX_SENT;
	migrate_stats__set_error(&s, "%s", "x");
	migrate_stats__set_status(&s, MIGRATE_STATUS_FAILED);
	migrate_stats__format_summary(&s, full, sizeof(full));
	n = strlen(full);
	assert_true(n > sizeof(buf));
	for (len = 0; len < sizeof(buf) - 1; len++) {
		memset(buf, 'Z', sizeof(buf));
		migrate_stats__format_summary(&s, buf, len);
		if (len) {
			assert_int_equal(strlen(buf), len - 1);
			assert_memory_equal(buf, full, len - 1);
		}
		assert_int_equal(buf[len], 'Z');
		memset(buf, 'Z', sizeof(buf));
		migrate_stats__format_info(&s, buf, len);
		if (len)
			assert_true(strlen(buf) < len);
		assert_int_equal(buf[len], 'Z');
	}
	migrate_stats__format_info(&s, NULL, 100);
	migrate_stats__format_summary(&s, NULL, 100);
	migrate_stats__free(&s);
}

static void test_set_error_truncates(void **state)
{
	struct migrate_stats s;
	char big[1000];

	assert_int_equal(migrate_stats__init(&s), 0);
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	migrate_stats__set_error(&s, "%s", big);
	assert_int_equal(strlen(s.error), sizeof(s.error) - 1);
	migrate_stats__start(&s, big);
	assert_int_equal(strlen(s.uri), sizeof(s.uri) - 1);
	assert_int_equal(migrate_stats__status(&s), MIGRATE_STATUS_SETUP);
	assert_true(s.start_time_unix_us > 1500000000ULL * 1000000);
	migrate_stats__free(&s);
}

/* Source and destination count a RAM section the same way. */
static void test_count_pages(void **state)
{
	struct migrate_stats s;

	assert_int_equal(migrate_stats__init(&s), 0);
	migrate_stats__count_pages(&s, 10, 4, 2, 1000);
	migrate_stats__count_pages(&s, 5, 0, 0, 30000);
	assert_int_equal(s.pages_total, 15);
	assert_int_equal(s.zero_pages_total, 4);
	assert_int_equal(s.zero_entries_total, 2);
	assert_int_equal(s.ram_transferred, 11 * 4096);
	assert_int_equal(s.bytes_total, 30000);
	migrate_stats__free(&s);
}

struct seen_moves {
	enum migrate_status st[8];
	unsigned int n;
};

static void note_move(void *ctx, enum migrate_status st)
{
	struct seen_moves *seen = ctx;

	if (seen->n < 8)
		seen->st[seen->n++] = st;
}

/* Every move that is made reaches the listener, in order, across starts;
 * a refused move does not. */
static void test_listener(void **state)
{
	struct seen_moves seen = { .n = 0 };
	struct migrate_stats s;

	assert_int_equal(migrate_stats__init(&s), 0);
	migrate_stats__set_listener(&s, note_move, &seen);
	assert_int_equal(migrate_stats__start(&s, "tcp:x:1"), 0);
	assert_int_equal(migrate_stats__move(&s, MIGRATE_STATUS_SETUP, MIGRATE_STATUS_ACTIVE), 0);
	assert_int_equal(migrate_stats__move(&s, MIGRATE_STATUS_SETUP, MIGRATE_STATUS_ACTIVE),
			 -EBUSY);
	assert_int_equal(migrate_stats__set_status(&s, MIGRATE_STATUS_COMPLETED), 0);
	assert_int_equal(migrate_stats__start(&s, "tcp:x:1"), 0);
	assert_int_equal(migrate_stats__set_status(&s, MIGRATE_STATUS_FAILED), 0);
	migrate_stats__set_listener(&s, NULL, NULL);
	assert_int_equal(migrate_stats__start(&s, "tcp:x:1"), 0);
	assert_int_equal(seen.n, 5);
	assert_int_equal(seen.st[0], MIGRATE_STATUS_SETUP);
	assert_int_equal(seen.st[1], MIGRATE_STATUS_ACTIVE);
	assert_int_equal(seen.st[2], MIGRATE_STATUS_COMPLETED);
	assert_int_equal(seen.st[3], MIGRATE_STATUS_SETUP);
	assert_int_equal(seen.st[4], MIGRATE_STATUS_FAILED);
	migrate_stats__free(&s);
}

/* The monitor reads while the migration thread writes; run under the
 * sanitizer build (or helgrind) to see races. */
static uint32_t writer_rounds;

static void *writer(void *arg)
{
	struct migrate_stats *s = arg;
	struct round_stats r;
	uint32_t i;

	for (i = 0; i < writer_rounds; i++) {
		r = make_round(i);
		migrate_stats__lock(s);
		migrate_stats__add_round(s, &r);
		s->ram_transferred += 4096;
		s->ram_remaining = 4096ULL * (writer_rounds - i);
		migrate_stats__unlock(s);
	}
	migrate_stats__set_status(s, MIGRATE_STATUS_COMPLETED);
	return NULL;
}

static void test_threads(void **state)
{
	struct migrate_stats s;
	pthread_t t;
	char buf[4096];
	char *j = NULL;
	size_t len = 0;
	FILE *f;
	int i;

	fill(&s, 0);
	writer_rounds = (uint32_t)test_count(3000);
	assert_int_equal(pthread_create(&t, NULL, writer, &s), 0);
	for (i = 0; i < test_count(200); i++) {
		migrate_stats__format_info(&s, buf, sizeof(buf));
		migrate_stats__format_summary(&s, buf, sizeof(buf));
		f = open_memstream(&j, &len);
		assert_non_null(f);
		assert_int_equal(migrate_stats__write_json(&s, NULL, f), 0);
		fclose(f);
		if (!json_valid(j))
			fail_msg("invalid JSON while running");
		free(j);
		j = NULL;
	}
	pthread_join(t, NULL);
	assert_int_equal(s.rounds_len, writer_rounds);
	assert_int_equal(s.ram_transferred, (600ULL << 20) + writer_rounds * 4096ULL);
	migrate_stats__free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validator),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_rounds_grow),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_cpu_throttle),
		cmocka_unit_test(test_json_escaping),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_write_error),
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_info_ring),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_set_error_truncates),
		cmocka_unit_test(test_count_pages),
		cmocka_unit_test(test_downtime_parts),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_listener),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
