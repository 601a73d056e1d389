/* Machine-readable output of migrate_stats: JSON (whole migration) and CSV
 * (one row per round). The schema is documented in migrate/STATS.md; keys
 * are only ever added, never renamed, and schema_version says which. */
#include "migrate_stats.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define SCHEMA_VERSION 1

/* One JSON object being written: members are separated by a comma and
 * then indent, which is "\n" plus spaces for a block object or " " for an
 * object kept on one line (each round is one greppable line). */
struct jobj {
	FILE *f;
	const char *indent;
	bool first;
};

/* Shortest of %.15g / %.17g that reads back as the same double: readable
 * for the usual values, exact for the rest. JSON has no NaN or infinity;
 * an unknown value is null. */
static void format_number(char *buf, size_t len, double v)
{
	char *p;

	snprintf(buf, len, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, len, "%.17g", v);
	/* A locale with a decimal comma would break JSON and CSV alike. */
	for (p = buf; *p; p++)
		if (*p == ',')
			*p = '.';
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629), or 0. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	/* Second-byte limits exclude overlong forms, surrogates and
	 * code points past U+10FFFF. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n > left || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

static void put_escaped(FILE *f, unsigned char c)
{
	switch (c) {
	case '"':  fputs("\\\"", f); break;
	case '\\': fputs("\\\\", f); break;
	case '\n': fputs("\\n", f); break;
	case '\r': fputs("\\r", f); break;
	case '\t': fputs("\\t", f); break;
	case '\b': fputs("\\b", f); break;
	case '\f': fputs("\\f", f); break;
	default:
		if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

/* At most max bytes of s: the fixed char arrays in the stats need not be
 * NUL-terminated for this to stay in bounds. Bytes that are not UTF-8
 * become U+FFFD, so the output is always valid JSON text. */
static void put_string(FILE *f, const char *str, size_t max)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len = strnlen(str, max), i = 0, n;

	fputc('"', f);
	while (i < len) {
		if (s[i] < 0x80) {
			put_escaped(f, s[i++]);
			continue;
		}
		n = utf8_len(s + i, len - i);
		if (n) {
			fwrite(s + i, 1, n, f);
			i += n;
		} else {
			fputs("\\ufffd", f);
			i++;
		}
	}
	fputc('"', f);
}

static void jo_key(struct jobj *o, const char *key)
{
	if (!o->first)
		fputc(',', o->f);
	o->first = false;
	fprintf(o->f, "%s\"%s\": ", o->indent, key);
}

static void jo_u64(struct jobj *o, const char *key, uint64_t v)
{
	jo_key(o, key);
	fprintf(o->f, "%" PRIu64, v);
}

/* An array of n numbers, at most the stats' vCPU bound. */
static void jo_u64s(struct jobj *o, const char *key, const uint64_t *v, uint32_t n)
{
	uint32_t i;

	jo_key(o, key);
	fputc('[', o->f);
	for (i = 0; i < n && i < MIGRATE_STATS_MAX_VCPUS; i++)
		fprintf(o->f, "%s%" PRIu64, i ? ", " : "", v[i]);
	fputc(']', o->f);
}

static void jo_num(struct jobj *o, const char *key, double v)
{
	char buf[40];

	jo_key(o, key);
	if (!isfinite(v)) {
		fputs("null", o->f);
		return;
	}
	format_number(buf, sizeof(buf), v);
	fputs(buf, o->f);
}

/* An empty optional string is written as null. */
static void jo_str(struct jobj *o, const char *key, const char *s,
		   size_t max, bool empty_is_null)
{
	jo_key(o, key);
	if (empty_is_null && !strnlen(s, max))
		fputs("null", o->f);
	else
		put_string(o->f, s, max);
}

static void json_params(struct jobj *top, const struct migrate_params *p)
{
	struct jobj o = { top->f, "\n    ", true };

	jo_key(top, "params");
	if (!p) {
		fputs("null", top->f);
		return;
	}
	fputc('{', o.f);
	jo_u64(&o, "max_iterations", p->max_iterations);
	jo_u64(&o, "downtime_limit_ms", p->downtime_limit_ms);
	jo_u64(&o, "min_dirty_pages", p->min_dirty_pages);
	jo_u64(&o, "no_progress_rounds", p->no_progress_rounds);
	jo_num(&o, "max_sent_factor", p->max_sent_factor);
	jo_num(&o, "shrink_factor", p->shrink_factor);
	jo_u64(&o, "max_bandwidth", p->max_bandwidth);
	jo_str(&o, "stall_action", on_stall__name(p->stall_action), 32, false);
	jo_u64(&o, "downtime_max_ms", p->downtime_max_ms);
	jo_u64(&o, "timeout_s", p->timeout_s);
	jo_str(&o, "multifd_compression", migrate_compression__name(p->compression), 8, false);
	jo_u64(&o, "multifd_zstd_level", p->zstd_level);
	fputs("\n  }", o.f);
}

static void json_forecast(struct jobj *top, const struct migrate_forecast *fc)
{
	struct jobj o = { top->f, "\n    ", true };

	jo_key(top, "forecast");
	if (!fc->valid) {
		fputs("null", top->f);
		return;
	}
	fputc('{', o.f);
	jo_num(&o, "dirty_rate_pps", fc->dirty_rate_pps);
	jo_num(&o, "bandwidth_bps", fc->bandwidth_bps);
	jo_u64(&o, "rounds", fc->rounds);
	jo_u64(&o, "total_us", fc->total_us);
	jo_num(&o, "downtime_ms", fc->downtime_ms);
	jo_u64(&o, "bytes", fc->bytes);
	jo_num(&o, "ws_pages", fc->ws_pages > 0 ? fc->ws_pages : NAN);
	jo_str(&o, "stop_reason", stop_reason__name(fc->stop_reason), 32, false);
	fputs("\n  }", o.f);
}

/* Like jo_u64s, bounded the same way: a count read back from a stats
 * struct is never trusted past its array. */
static void json_u32_array(FILE *f, const uint32_t *v, uint32_t n)
{
	uint32_t i;

	fputc('[', f);
	for (i = 0; i < n && i < MIGRATE_STATS_MAX_VCPUS; i++)
		fprintf(f, "%s%" PRIu32, i ? ", " : "", v[i]);
	fputc(']', f);
}

/* QEMU's two rates: misses per lookup, and page bytes per delta byte. */
static double miss_rate(const struct xbzrle_counters *x)
{
	return x->hits + x->cache_miss ? (double)x->cache_miss / (double)(x->hits + x->cache_miss)
				       : NAN;
}

static double encoding_rate(const struct xbzrle_counters *x)
{
	return x->bytes ? (double)x->pages * 4096.0 / (double)x->bytes : NAN;
}

static void json_xbzrle(struct jobj *top, const struct migrate_stats *s)
{
	struct jobj o = { top->f, "\n    ", true };
	const struct xbzrle_counters *x = &s->xbzrle;

	jo_key(top, "xbzrle_cache");
	if (!s->xbzrle_on) {
		fputs("null", top->f);
		return;
	}
	fputc('{', o.f);
	jo_u64(&o, "cache_size", s->xbzrle_cache_size);
	jo_u64(&o, "bytes", x->bytes);
	jo_u64(&o, "pages", x->pages);
	jo_u64(&o, "cache_miss", x->cache_miss);
	jo_num(&o, "cache_miss_rate", miss_rate(x));
	jo_num(&o, "encoding_rate", encoding_rate(x));
	jo_u64(&o, "overflow", x->overflow);
	jo_u64(&o, "hits", x->hits);
	jo_u64(&o, "evictions", x->evictions);
	jo_u64(&o, "not_cached", x->not_cached);
	jo_u64(&o, "bytes_saved", x->bytes_saved);
	jo_u64(&o, "memory_bytes", s->xbzrle_memory);
	fputs("\n  }", o.f);
}

/* multifd-compression zstd's totals; null when off. */
static void json_compression(struct jobj *top, const struct migrate_stats *s)
{
	struct jobj o = { top->f, "\n    ", true };
	const struct zstd_counters *z = &s->zstd;

	jo_key(top, "compression");
	if (!s->zstd_on) {
		fputs("null", top->f);
		return;
	}
	fputc('{', o.f);
	jo_str(&o, "method", "zstd", 8, false);
	jo_u64(&o, "level", s->zstd_level);
	jo_u64(&o, "raw_bytes", z->raw_bytes);
	jo_u64(&o, "bytes", z->sent_bytes);
	jo_num(&o, "ratio", z->sent_bytes ? (double)z->raw_bytes / (double)z->sent_bytes : NAN);
	jo_u64(&o, "pages", z->pages);
	jo_u64(&o, "frames", z->frames);
	jo_u64(&o, "raw_batches", z->raw_batches);
	jo_u64(&o, "skipped_batches", z->skipped);
	jo_u64(&o, "cpu_us", z->cpu_us);
	jo_u64(&o, "memory_bytes", s->zstd_memory);
	fputs("\n  }", o.f);
}

static void json_round(FILE *f, const struct round_stats *r)
{
	struct jobj o = { f, " ", true };

	fputc('{', f);
	jo_u64(&o, "index", r->index);
	jo_u64(&o, "start_us", r->start_us);
	jo_u64(&o, "duration_us", r->duration_us);
	jo_u64(&o, "dirty_pages", r->dirty_pages);
	jo_u64(&o, "pages_sent", r->pages_sent);
	jo_u64(&o, "pages_left", r->pages_left);
	jo_u64(&o, "zero_pages", r->zero_pages);
	jo_u64(&o, "zero_entries", r->zero_entries);
	jo_u64(&o, "bytes", r->bytes);
	jo_num(&o, "bandwidth_bps", r->bandwidth_bps);
	jo_num(&o, "dirty_rate_pps", r->dirty_rate_pps);
	jo_num(&o, "expected_downtime_ms", r->expected_downtime_ms);
	jo_u64(&o, "log_read_us", r->log_read_us);
	jo_u64(&o, "log_get_us", r->log_get_us);
	jo_u64(&o, "log_clear_us", r->log_clear_us);
	jo_num(&o, "link_bandwidth_bps", r->link_bps);
	jo_u64(&o, "throttle_us", r->throttle_us);
	jo_u64(&o, "ring_full_exits", r->ring_full_exits);
	jo_u64(&o, "ring_wait_us", r->ring_wait_us);
	jo_key(&o, "vcpu_dirty_pages");
	json_u32_array(f, r->vcpu_dirty_pages, r->nr_vcpus);
	jo_u64(&o, "xbzrle_pages", r->xbzrle.pages);
	jo_u64(&o, "xbzrle_bytes", r->xbzrle.bytes);
	jo_u64(&o, "xbzrle_hits", r->xbzrle.hits);
	jo_u64(&o, "xbzrle_cache_miss", r->xbzrle.cache_miss);
	jo_u64(&o, "xbzrle_overflow", r->xbzrle.overflow);
	jo_u64(&o, "xbzrle_bytes_saved", r->xbzrle.bytes_saved);
	jo_u64(&o, "cpu_throttle_pct", r->cpu_throttle_pct);
	jo_u64s(&o, "vcpu_throttled_us", r->vcpu_throttled_us, r->nr_throttled_vcpus);
	jo_u64(&o, "zstd_raw_bytes", r->zstd.raw_bytes);
	jo_u64(&o, "zstd_bytes", r->zstd.sent_bytes);
	jo_u64(&o, "zstd_cpu_us", r->zstd.cpu_us);
	jo_u64(&o, "disk_bytes", r->disk_bytes);
	jo_u64(&o, "dirty_blocks", r->dirty_blocks);
	jo_u64(&o, "disk_us", r->disk_us);
	fputs(" }", f);
}

static void json_rounds(struct jobj *top, const struct migrate_stats *s)
{
	size_t i;

	jo_key(top, "rounds");
	fputc('[', top->f);
	for (i = 0; i < s->rounds_len; i++) {
		fputs(i ? ",\n    " : "\n    ", top->f);
		json_round(top->f, &s->rounds_v[i]);
	}
	fputs(s->rounds_len ? "\n  ]" : "]", top->f);
}

static void json_totals(struct jobj *o, const struct migrate_stats *s)
{
	jo_u64(o, "schema_version", SCHEMA_VERSION);
	jo_str(o, "status", migrate_status__name(migrate_state__get(&s->state)), 32, false);
	jo_str(o, "error", s->error, sizeof(s->error), true);
	jo_str(o, "uri", s->uri, sizeof(s->uri), false);
	jo_u64(o, "start_time_unix_us", s->start_time_unix_us);
	jo_u64(o, "setup_us", s->setup_us);
	jo_u64(o, "total_us", s->total_us);
	jo_u64(o, "downtime_us", s->downtime_us);
	jo_u64(o, "downtime_pause_us", s->downtime_pause_us);
	jo_u64(o, "downtime_last_ram_us", s->downtime_last_ram_us);
	jo_u64(o, "downtime_state_us", s->downtime_state_us);
	jo_u64(o, "downtime_resume_us", s->downtime_resume_us);
	jo_u64(o, "downtime_ready_us", s->downtime_ready_us);
	jo_u64(o, "downtime_resumed_us", s->downtime_resumed_us);
	jo_u64(o, "downtime_drain_us", s->downtime_drain_us);
	jo_u64(o, "link_queued_bytes", s->link_queued_bytes);
	jo_u64(o, "link_drain_us", s->link_drain_us);
	jo_u64(o, "rounds_applied_at_pause", s->rounds_applied_at_pause);
	jo_str(o, "stop_reason", stop_reason__name(s->stop_reason), 32, false);
	jo_u64(o, "round_count", s->rounds);
	jo_u64(o, "rounds_dropped", s->rounds > s->rounds_len ?
	       s->rounds - (uint64_t)s->rounds_len : 0);
	jo_u64(o, "ram_total", s->ram_total);
	jo_u64(o, "ram_transferred", s->ram_transferred);
	jo_u64(o, "ram_remaining", s->ram_remaining);
	jo_u64(o, "disk_total", s->disk_total);
	jo_u64(o, "disk_transferred", s->disk_transferred);
	jo_u64(o, "disk_remaining", s->disk_remaining);
	jo_u64(o, "pages_total", s->pages_total);
	jo_u64(o, "zero_pages_total", s->zero_pages_total);
	jo_u64(o, "zero_entries_total", s->zero_entries_total);
	jo_u64(o, "torn_pages", s->torn_pages);
	jo_u64(o, "pages_skipped_unread", s->pages_skipped_unread);
	jo_u64(o, "prefault_chunks", s->prefault_chunks);
	jo_u64(o, "prefault_us", s->prefault_us);
	jo_u64(o, "bytes_total", s->bytes_total);
	jo_u64(o, "device_state_bytes", s->device_state_bytes);
	jo_u64(o, "cpu_time_us", s->cpu_time_us);
	jo_str(o, "dirty_log_mode", s->dirty_log_mode,
	       sizeof(s->dirty_log_mode), true);
	jo_u64(o, "cpu_throttle_pct", s->cpu_throttle_pct);
	jo_u64(o, "cpu_throttle_final_pct", s->cpu_throttle_final_pct);
	jo_u64(o, "cpu_throttle_steps", s->cpu_throttle_steps);
	jo_u64s(o, "vcpu_throttled_us", s->vcpu_throttled_us, s->nr_throttled_vcpus);
	jo_key(o, "dirty_limit_active");
	fputs(s->dirty_limit_active ? "true" : "false", o->f);
	jo_key(o, "vcpu_throttle_pct");
	json_u32_array(o->f, s->vcpu_throttle_pct, s->nr_throttled_vcpus);
}

static int finish(FILE *f)
{
	if (fflush(f) || ferror(f))
		return -EIO;
	return 0;
}

int migrate_stats__write_json(const struct migrate_stats *s,
			      const struct migrate_params *p, FILE *f)
{
	struct jobj top = { f, "\n  ", true };

	pthread_mutex_lock((pthread_mutex_t *)&s->lock);
	fputc('{', f);
	json_totals(&top, s);
	json_params(&top, p);
	json_forecast(&top, &s->forecast);
	json_xbzrle(&top, s);
	json_compression(&top, s);
	json_rounds(&top, s);
	fputs("\n}\n", f);
	pthread_mutex_unlock((pthread_mutex_t *)&s->lock);
	return finish(f);
}

/* Empty field for an unknown value: spreadsheets and pandas read it as
 * missing, where "nan" would be text to some of them. */
static void csv_num(FILE *f, double v, char sep)
{
	char buf[40];

	if (isfinite(v)) {
		format_number(buf, sizeof(buf), v);
		fputs(buf, f);
	}
	fputc(sep, f);
}

/* One column: the numbers joined by ';' (empty when there are none). */
static void csv_u32_list(FILE *f, const uint32_t *v, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		fprintf(f, "%s%" PRIu32, i ? ";" : "", v[i]);
}

int migrate_stats__write_csv(const struct migrate_stats *s, FILE *f)
{
	const struct round_stats *r;
	size_t i;

	pthread_mutex_lock((pthread_mutex_t *)&s->lock);
	fputs("index,start_us,duration_us,dirty_pages,pages_sent,zero_pages,"
	      "zero_entries,bytes,bandwidth_bps,dirty_rate_pps,expected_downtime_ms,"
	      "log_read_us,log_get_us,log_clear_us,link_bandwidth_bps,throttle_us,"
	      "ring_full_exits,ring_wait_us,vcpu_dirty_pages,"
	      "xbzrle_pages,xbzrle_bytes,xbzrle_hits,xbzrle_cache_miss,xbzrle_overflow,"
	      "xbzrle_bytes_saved,zstd_raw_bytes,zstd_bytes,zstd_cpu_us,"
	      "disk_bytes,dirty_blocks,disk_us\n", f);
	for (i = 0; i < s->rounds_len; i++) {
		r = &s->rounds_v[i];
		fprintf(f, "%" PRIu32 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%"
			PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",", r->index,
			r->start_us, r->duration_us, r->dirty_pages,
			r->pages_sent, r->zero_pages, r->zero_entries, r->bytes);
		csv_num(f, r->bandwidth_bps, ',');
		csv_num(f, r->dirty_rate_pps, ',');
		csv_num(f, r->expected_downtime_ms, ',');
		fprintf(f, "%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",", r->log_read_us,
			r->log_get_us, r->log_clear_us);
		csv_num(f, r->link_bps, ',');
		fprintf(f, "%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",", r->throttle_us,
			r->ring_full_exits, r->ring_wait_us);
		csv_u32_list(f, r->vcpu_dirty_pages, r->nr_vcpus);
		fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64,
			r->xbzrle.pages, r->xbzrle.bytes, r->xbzrle.hits,
			r->xbzrle.cache_miss, r->xbzrle.overflow, r->xbzrle.bytes_saved);
		fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64, r->zstd.raw_bytes,
			r->zstd.sent_bytes, r->zstd.cpu_us);
		fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n", r->disk_bytes, r->dirty_blocks,
			r->disk_us);
	}
	pthread_mutex_unlock((pthread_mutex_t *)&s->lock);
	return finish(f);
}

int migrate_stats__write_file(const struct migrate_stats *s, const struct migrate_params *p,
			      const char *path, bool csv)
{
	FILE *f = fopen(path, "w");
	int ret;

	if (!f) {
		ret = -errno;
		log_error("cannot write statistics to %s: %s", path, strerror(errno));
		return ret;
	}
	ret = csv ? migrate_stats__write_csv(s, f) : migrate_stats__write_json(s, p, f);
	if (fclose(f) && !ret)
		ret = -EIO;
	if (ret)
		log_error("writing statistics to %s failed", path);
	return ret;
}
