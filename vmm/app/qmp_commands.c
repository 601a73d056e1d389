#include "qmp_commands.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dirty_rate.h"
#include "migrate_params.h"
#include "migration.h"
#include "qmp.h"
#include "vm.h"

typedef json_t *(*qmp_cmd_fn)(struct qmp *q, json_t *args, struct qmp_error *e);

/* An argument: its name, its JSON type as QEMU names it, required or not. */
struct qmp_arg {
	const char *name;
	const char *type;	/* "string", "int", "bool", "number", "array" */
	bool required;
};

#define QMP_MAX_ARGS 8

struct qmp_cmd {
	const char *name;
	struct qmp_arg args[QMP_MAX_ARGS];
	bool own_check;		/* the handler checks its arguments itself */
	qmp_cmd_fn fn;
};

__attribute__((format(printf, 2, 3)))
static json_t *fail(struct qmp_error *e, const char *fmt, ...)
{
	va_list ap;

	e->cls = "GenericError";
	va_start(ap, fmt);
	vsnprintf(e->desc, sizeof(e->desc), fmt, ap);
	va_end(ap);
	return NULL;
}

static bool has_type(json_t *v, const char *type)
{
	if (!strcmp(type, "string"))
		return json_is_string(v);
	if (!strcmp(type, "int"))
		return json_is_integer(v);
	if (!strcmp(type, "bool"))
		return json_is_boolean(v);
	if (!strcmp(type, "number"))
		return json_is_number(v);
	return json_is_array(v);
}

/* QEMU's checks and words: unexpected, missing, wrong type. */
static bool check_args(const struct qmp_cmd *c, json_t *args, struct qmp_error *e)
{
	const struct qmp_arg *a;
	const char *key;
	json_t *v;

	json_object_foreach(args, key, v) {
		for (a = c->args; a->name && strcmp(a->name, key); a++)
			;
		if (!a->name) {
			fail(e, "Parameter '%.64s' is unexpected", key);
			return false;
		}
		if (!has_type(v, a->type)) {
			fail(e, "Invalid parameter type for '%s', expected: %s", key, a->type);
			return false;
		}
	}
	for (a = c->args; a->name; a++) {
		if (a->required && !json_object_get(args, a->name)) {
			fail(e, "Parameter '%s' is missing", a->name);
			return false;
		}
	}
	return true;
}

/* The VM commands act on, or NULL with the reason. */
static struct vm *need_vm(struct qmp *q, struct qmp_error *e)
{
	struct vm *vm = qmp__vm(q);

	if (!vm)
		fail(e, "the guest is still arriving (status inmigrate)");
	else if (qmp__ended(q))
		fail(e, "the VM has ended");
	return vm && !qmp__ended(q) ? vm : NULL;
}

static struct migration *need_migration(struct qmp *q, struct qmp_error *e)
{
	struct migration *m = qmp__migration(q);

	if (!m)
		fail(e, "migration is not available yet");
	return m;
}

/* --- run state --------------------------------------------------------- */

static const char *run_status(struct qmp *q)
{
	struct migration *m = qmp__migration(q);
	struct vm *vm = qmp__vm(q);
	enum migrate_status st = m ? migration__status(m) : MIGRATE_STATUS_NONE;

	if (!vm)
		return "inmigrate";
	if (qmp__ended(q) || vm__is_exiting(vm))
		return m && migration__moved_away(m) ? "postmigrate" : "shutdown";
	if (st == MIGRATE_STATUS_STOP_COPY)
		return "finish-migrate";
	return vm__is_paused(vm) ? "paused" : "running";
}

static json_t *cmd_query_status(struct qmp *q, json_t *args, struct qmp_error *e)
{
	const char *st = run_status(q);

	return json_pack("{s:s, s:b, s:b}", "status", st, "singlestep", 0, "running",
			 !strcmp(st, "running"));
}

static json_t *cmd_stop(struct qmp *q, json_t *args, struct qmp_error *e)
{
	struct vm *vm = need_vm(q, e);

	if (!vm)
		return NULL;
	vm__user_stop(vm);
	return json_object();
}

static json_t *cmd_cont(struct qmp *q, json_t *args, struct qmp_error *e)
{
	struct vm *vm = need_vm(q, e);

	if (!vm)
		return NULL;
	if (vm__user_cont(vm))
		return fail(e, "the VM stays paused: a migration's stop-and-copy holds it");
	return json_object();
}

static json_t *cmd_quit(struct qmp *q, json_t *args, struct qmp_error *e)
{
	qmp__quit(q, "host-qmp-quit");
	return json_object();
}

/* --- migration --------------------------------------------------------- */

static json_t *cmd_migrate(struct qmp *q, json_t *args, struct qmp_error *e)
{
	struct migration *m = need_migration(q, e);
	const char *uri = json_string_value(json_object_get(args, "uri"));
	static const char *const unsupported[] = { "resume" };
	bool blk = json_is_true(json_object_get(args, "blk"));
	bool inc = json_is_true(json_object_get(args, "inc"));
	char err[512];
	size_t i;
	int ret;

	for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		if (json_is_true(json_object_get(args, unsupported[i])))
			return fail(e, "migrate: '%s' is not supported by vmm", unsupported[i]);
	if (!m || !need_vm(q, e))
		return NULL;
	/* QEMU's inc implied blk. */
	if (inc)
		ret = migration__start_incremental(m, uri, err, sizeof(err));
	else if (blk)
		ret = migration__start_block(m, uri, err, sizeof(err));
	else
		ret = migration__start(m, uri, err, sizeof(err));
	if (ret)
		return fail(e, "%s", err);
	return json_object();
}

static json_t *cmd_migrate_cancel(struct qmp *q, json_t *args, struct qmp_error *e)
{
	struct migration *m = need_migration(q, e);

	if (!m)
		return NULL;
	migration__cancel(m);	/* as on QEMU, nothing to cancel is no error */
	return json_object();
}

/* Which statistics (STATS.md's JSON) query-migrate is made from. */
static json_t *stats_json(struct migration *m, struct qmp_error *e)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	json_error_t jerr;
	json_t *j = NULL;

	if (f) {
		int ret = migration__write_info_json(m, f);

		if (!fclose(f) && !ret)
			j = json_loadb(text, len, 0, &jerr);
	}
	free(text);
	return j ? j : fail(e, "cannot read the migration statistics");
}

static uint64_t u64_of(json_t *o, const char *key)
{
	return (uint64_t)json_integer_value(json_object_get(o, key));
}

/* The last round's numbers; the guest's dirty rate from the last pre-copy
 * round (during the stop-and-copy it dirties nothing). */
static json_t *qmp_ram(json_t *st, json_t *rounds, bool completed)
{
	size_t n = json_array_size(rounds);
	json_t *last = n ? json_array_get(rounds, n - 1) : NULL;
	json_t *precopy = completed && n >= 2 ? json_array_get(rounds, n - 2) : last;
	uint64_t pages = u64_of(st, "pages_total"), zero = u64_of(st, "zero_pages_total");
	uint64_t downtime_bytes = 0, total_bytes = u64_of(st, "bytes_total");
	double bw = last ? json_number_value(json_object_get(last, "bandwidth_bps")) : 0;
	double rate = precopy ? json_number_value(json_object_get(precopy, "dirty_rate_pps")) : 0;
	uint64_t dur = last ? u64_of(last, "duration_us") : 0;
	double pps = dur ? u64_of(last, "pages_sent") * 1e6 / dur : 0;

	/* The last round of a completed migration is its stop-and-copy. */
	if (completed && last)
		downtime_bytes = u64_of(last, "bytes") + u64_of(st, "device_state_bytes");
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:f, s:I, s:I}",
			 "page-size", (json_int_t)GUEST_PAGE_SIZE,
			 "transferred", (json_int_t)u64_of(st, "ram_transferred"),
			 "remaining", (json_int_t)u64_of(st, "ram_remaining"),
			 "total", (json_int_t)u64_of(st, "ram_total"),
			 "duplicate", (json_int_t)zero,
			 "skipped", (json_int_t)0,
			 "normal", (json_int_t)(pages - zero),
			 "normal-bytes", (json_int_t)((pages - zero) * GUEST_PAGE_SIZE),
			 "dirty-sync-count", (json_int_t)u64_of(st, "round_count"),
			 "mbps", bw * 8 / 1e6,
			 "dirty-pages-rate", (json_int_t)rate,
			 "pages-per-second", pps,
			 "precopy-bytes", (json_int_t)(total_bytes > downtime_bytes ?
							total_bytes - downtime_bytes : 0),
			 "downtime-bytes", (json_int_t)downtime_bytes);
}

/* QEMU's xbzrle-cache object: its names, from the JSON's. */
static json_t *qmp_xbzrle(json_t *x)
{
	json_t *miss = json_object_get(x, "cache_miss_rate");
	json_t *enc = json_object_get(x, "encoding_rate");

	return json_pack("{s:I, s:I, s:I, s:I, s:f, s:f, s:I}",
			 "cache-size", (json_int_t)u64_of(x, "cache_size"),
			 "bytes", (json_int_t)u64_of(x, "bytes"),
			 "pages", (json_int_t)u64_of(x, "pages"),
			 "cache-miss", (json_int_t)u64_of(x, "cache_miss"),
			 "cache-miss-rate", json_is_number(miss) ? json_number_value(miss) : 0.0,
			 "encoding-rate", json_is_number(enc) ? json_number_value(enc) : 0.0,
			 "overflow", (json_int_t)u64_of(x, "overflow"));
}

static json_t *cmd_query_migrate(struct qmp *q, json_t *args, struct qmp_error *e)
{
	struct migration *m = need_migration(q, e);
	enum migrate_status status;
	json_t *st, *r, *rounds, *last;
	uint64_t total_ms;

	if (!m)
		return NULL;
	status = migration__status(m);
	if (status == MIGRATE_STATUS_NONE)
		return json_object();	/* as QEMU: no migration yet */
	st = stats_json(m, e);
	if (!st)
		return NULL;
	rounds = json_object_get(st, "rounds");
	last = json_array_size(rounds) ? json_array_get(rounds, json_array_size(rounds) - 1) : NULL;
	total_ms = migrate_status__is_running(status)
		? (clock__us(CLOCK_REALTIME) - u64_of(st, "start_time_unix_us")) / 1000
		: u64_of(st, "total_us") / 1000;
	r = json_pack("{s:s, s:I, s:I}",
		      "status", status == MIGRATE_STATUS_STOP_COPY ? "device"
								 : migrate_status__name(status),
		      "total-time", (json_int_t)total_ms,
		      "setup-time", (json_int_t)(u64_of(st, "setup_us") / 1000));
	if (status == MIGRATE_STATUS_COMPLETED)
		json_object_set_new(r, "downtime", json_integer(u64_of(st, "downtime_us") / 1000));
	if (status == MIGRATE_STATUS_ACTIVE && last &&
	    json_is_number(json_object_get(last, "expected_downtime_ms")))
		json_object_set_new(r, "expected-downtime", json_integer(
			(json_int_t)json_number_value(json_object_get(last, "expected_downtime_ms"))));
	/* QEMU shows it while its throttle is on. */
	if (status == MIGRATE_STATUS_ACTIVE && u64_of(st, "cpu_throttle_pct"))
		json_object_set_new(r, "cpu-throttle-percentage",
				    json_integer((json_int_t)u64_of(st, "cpu_throttle_pct")));
	if (status == MIGRATE_STATUS_FAILED && json_is_string(json_object_get(st, "error")))
		json_object_set(r, "error-desc", json_object_get(st, "error"));
	json_object_set_new(r, "ram", qmp_ram(st, rounds, status == MIGRATE_STATUS_COMPLETED));
	/* QEMU's MigrationInfo had it while block migration ran. */
	if (u64_of(st, "disk_total"))
		json_object_set_new(r, "disk", json_pack("{s:I, s:I, s:I}",
			"transferred", (json_int_t)u64_of(st, "disk_transferred"),
			"remaining", (json_int_t)u64_of(st, "disk_remaining"),
			"total", (json_int_t)u64_of(st, "disk_total")));
	if (json_is_object(json_object_get(st, "xbzrle_cache")))
		json_object_set_new(r, "xbzrle-cache", qmp_xbzrle(json_object_get(st, "xbzrle_cache")));
	json_object_set_new(r, "vmm", st);
	return r;
}

/* --- parameters -------------------------------------------------------- */

/* QEMU 7.2's parameters vmm has no use for: named in the refusal. */
static const char *const qemu_only_params[] = {
	"announce-initial", "announce-max", "announce-rounds", "announce-step",
	"compress-level", "compress-threads", "compress-wait-thread", "decompress-threads",
	"tls-authz",
	"max-postcopy-bandwidth", "multifd-channels", "multifd-zlib-level",
	"x-checkpoint-delay", "block-bitmap-mapping",
};

static bool is_qemu_only_param(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(qemu_only_params) / sizeof(qemu_only_params[0]); i++)
		if (!strcmp(qemu_only_params[i], name))
			return true;
	return false;
}

static bool is_real_param(const char *name)
{
	return !strcmp(name, "max-sent-factor") || !strcmp(name, "shrink-factor");
}

/* One parameter onto the copy p, through the text monitor's parser (the
 * names are the same; downtime-limit's bare number is ms, as QEMU's). */
static bool set_param(struct migrate_params *p, const char *key, json_t *v, struct qmp_error *e)
{
	const struct migrate_param_info *t;
	size_t n, i;
	char value[sizeof(p->secret_file) + 1], err[512];

	t = migrate_params__table(&n);
	for (i = 0; i < n && strcmp(t[i].name, key); i++)
		;
	if (i == n) {
		if (is_qemu_only_param(key))
			fail(e, "parameter '%s' is not supported by vmm ('query-migrate-parameters' "
			     "lists what it has)", key);
		else
			fail(e, "Parameter '%.64s' is unexpected", key);
		return false;
	}
	if (!strcmp(key, "stall-action") || !strcmp(key, "secret-file") ||
	    !strcmp(key, "multifd-compression") || !strcmp(key, "round-end") ||
	    !strcmp(key, "tls-creds") || !strcmp(key, "tls-hostname")) {
		if (!json_is_string(v)) {
			fail(e, "Invalid parameter type for '%s', expected: string", key);
			return false;
		}
		snprintf(value, sizeof(value), "%s", json_string_value(v));
	} else if (!strcmp(key, "cpu-throttle-tailslow") || !strcmp(key, "block-incremental")) {
		if (!json_is_boolean(v)) {
			fail(e, "Invalid parameter type for '%s', expected: boolean", key);
			return false;
		}
		snprintf(value, sizeof(value), "%s", json_is_true(v) ? "on" : "off");
	} else if (is_real_param(key) ? json_is_number(v)
						   : json_is_integer(v) && json_integer_value(v) >= 0) {
		snprintf(value, sizeof(value), "%.17g", json_number_value(v));
		if (json_is_integer(v))
			snprintf(value, sizeof(value), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else {
		fail(e, "Parameter '%s' expects %s", key,
		     is_real_param(key) ? "number" : "uint64");
		return false;
	}
	if (migrate_params__set(p, key, value, err, sizeof(err))) {
		fail(e, "%s", err);
		return false;
	}
	return true;
}

static json_t *cmd_set_parameters(struct qmp *q, json_t *args, struct qmp_error *e)
{
	struct migration *m = need_migration(q, e);
	struct migrate_params p;
	const char *key;
	json_t *v;

	if (!m)
		return NULL;
	/* All or nothing: every change is checked on a copy first. */
	migration__get_params(m, &p);
	json_object_foreach(args, key, v)
		if (!set_param(&p, key, v, e))
			return NULL;
	migration__set_params(m, &p);
	return json_object();
}

static json_t *cmd_query_parameters(struct qmp *q, json_t *args, struct qmp_error *e)
{
	struct migration *m = need_migration(q, e);
	struct migrate_params p;

	if (!m)
		return NULL;
	migration__get_params(m, &p);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:s, s:s, s:I, s:I, s:I, "
			 "s:I, s:b, s:I, s:I, s:I, s:s, s:I, s:s, s:s, s:s, s:b}",
			 "downtime-limit", (json_int_t)p.downtime_limit_ms,
			 "downtime-max", (json_int_t)p.downtime_max_ms,
			 "timeout", (json_int_t)p.timeout_s,
			 "max-bandwidth", (json_int_t)p.max_bandwidth,
			 "max-iterations", (json_int_t)p.max_iterations,
			 "min-dirty-pages", (json_int_t)p.min_dirty_pages,
			 "no-progress-rounds", (json_int_t)p.no_progress_rounds,
			 "max-sent-factor", p.max_sent_factor,
			 "shrink-factor", p.shrink_factor,
			 "stall-action", on_stall__name(p.stall_action),
			 "secret-file", p.secret_file,
			 "throttle-trigger-threshold", (json_int_t)p.throttle_trigger_pct,
			 "cpu-throttle-initial", (json_int_t)p.cpu_throttle_initial,
			 "cpu-throttle-increment", (json_int_t)p.cpu_throttle_increment,
			 "max-cpu-throttle", (json_int_t)p.max_cpu_throttle,
			 "cpu-throttle-tailslow", p.cpu_throttle_tailslow,
			 "vcpu-dirty-limit", (json_int_t)p.vcpu_dirty_limit_mbps,
			 "x-vcpu-dirty-limit-period", (json_int_t)p.vcpu_dirty_limit_period_ms,
			 "xbzrle-cache-size", (json_int_t)p.xbzrle_cache_size,
			 "multifd-compression", migrate_compression__name(p.compression),
			 "multifd-zstd-level", (json_int_t)p.zstd_level,
			 "round-end", p.round_end_fit ? "fit" : "pass",
			 "tls-creds", p.tls_creds,
			 "tls-hostname", p.tls_hostname,
			 "block-incremental", p.block_incremental);
}

/* --- capabilities ------------------------------------------------------ */

/* QEMU 7.2's capabilities, and dirty-limit (QEMU 8.1). "events" is the
 * QMP layer's; the engine's own (migrate_params) say themselves whether
 * vmm has built them. */
static const char *const capabilities[] = {
	"xbzrle", "rdma-pin-all", "auto-converge", "zero-blocks", "compress", "events",
	"postcopy-ram", "x-colo", "release-ram", "block", "return-path",
	"pause-before-switchover", "multifd", "dirty-bitmaps", "postcopy-blocktime",
	"late-block-activate", "x-ignore-shared", "validate-uuid", "background-snapshot",
	"zero-copy-send", "postcopy-preempt", "dirty-limit",
};
#define NR_CAPABILITIES (sizeof(capabilities) / sizeof(capabilities[0]))

static bool known_capability(const char *name)
{
	size_t i;

	for (i = 0; i < NR_CAPABILITIES; i++)
		if (!strcmp(capabilities[i], name))
			return true;
	return false;
}

/* One capability onto the copy p (all or nothing, as parameters). */
static bool set_capability(struct migrate_params *p, json_t *c, struct qmp_error *e)
{
	const char *name = json_string_value(json_object_get(c, "capability"));
	json_t *state = json_object_get(c, "state");
	char err[256];
	int ret;

	if (!json_is_object(c) || json_object_size(c) != 2 || !name || !json_is_boolean(state)) {
		fail(e, "each capability is {\"capability\": NAME, \"state\": BOOL}");
		return false;
	}
	if (!known_capability(name)) {
		fail(e, "Parameter 'capability' does not accept value '%.64s'", name);
		return false;
	}
	if (!strcmp(name, "events"))
		return true;
	ret = migrate_params__set_capability(p, name, json_is_true(state), err, sizeof(err));
	if (ret == -ENOENT) {
		if (!json_is_true(state))
			return true;
		fail(e, "capability '%s' is not supported by vmm", name);
		return false;
	}
	if (ret) {
		fail(e, "%s", err);
		return false;
	}
	return true;
}

static json_t *cmd_set_capabilities(struct qmp *q, json_t *args, struct qmp_error *e)
{
	struct migration *m = qmp__migration(q);
	json_t *list = json_object_get(args, "capabilities"), *c;
	struct migrate_params p;
	char err[256];
	size_t i;

	/* "events" is QMP's own: it works on a destination whose migration
	 * object does not exist yet; the engine's need it. */
	migrate_params__defaults(&p);
	if (m)
		migration__get_params(m, &p);
	json_array_foreach(list, i, c) {
		if (!set_capability(&p, c, e))
			return NULL;
		if (!m && strcmp(json_string_value(json_object_get(c, "capability")), "events")) {
			need_migration(q, e);
			return NULL;
		}
	}
	if (m && migration__check_capabilities(m, &p, err, sizeof(err))) {
		fail(e, "%s", err);
		return NULL;
	}
	if (m)
		migration__set_params(m, &p);
	json_array_foreach(list, i, c)
		if (!strcmp(json_string_value(json_object_get(c, "capability")), "events"))
			qmp__set_events_enabled(q, json_is_true(json_object_get(c, "state")));
	return json_object();
}

static bool capability_state(struct qmp *q, const struct migrate_params *p, const char *name)
{
	unsigned int c;

	if (!strcmp(name, "events"))
		return qmp__events_enabled(q);
	for (c = 0; c < MIGRATE_NR_CAPS; c++)
		if (!strcmp(migrate_cap__name(c), name))
			return p->caps[c];
	return false;
}

static json_t *cmd_query_capabilities(struct qmp *q, json_t *args, struct qmp_error *e)
{
	struct migration *m = qmp__migration(q);
	struct migrate_params p;
	json_t *list;
	size_t i;

	migrate_params__defaults(&p);
	if (m)
		migration__get_params(m, &p);
	list = json_array();
	for (i = 0; i < NR_CAPABILITIES; i++)
		json_array_append_new(list, json_pack("{s:s, s:b}", "capability", capabilities[i],
						      "state", capability_state(q, &p,
										capabilities[i])));
	return list;
}

/* --- dirty rate -------------------------------------------------------- */

static json_t *cmd_calc_dirty_rate(struct qmp *q, json_t *args, struct qmp_error *e)
{
	struct migration *m = need_migration(q, e);
	const char *mode = json_string_value(json_object_get(args, "mode"));
	json_int_t secs = json_integer_value(json_object_get(args, "calc-time"));
	enum dirty_rate_mode dm = DIRTY_RATE_MODE_BITMAP;
	char err[256];

	/* vmm measures with KVM's dirty log: dirty-bitmap is also what a
	 * mode-less request gets; dirty-ring needs vmm's --dirty-ring. */
	if (mode && !strcmp(mode, "dirty-ring")) {
		dm = DIRTY_RATE_MODE_RING;
	} else if (mode && strcmp(mode, "dirty-bitmap")) {
		if (strcmp(mode, "page-sampling"))
			return fail(e, "Parameter 'mode' does not accept value '%.64s'", mode);
		return fail(e, "calc-dirty-rate: mode '%s' is not supported by vmm "
			    "(it measures with mode dirty-bitmap, or dirty-ring)", mode);
	}
	if (!m || !need_vm(q, e))
		return NULL;
	if (dirty_rate__check_seconds(secs, err, sizeof(err)) ||
	    migration__calc_dirty_rate(m, (uint32_t)secs, dm, err, sizeof(err)))
		return fail(e, "%s", err);
	return json_object();
}

/* QEMU's [{id, dirty-rate}], MB/s rounded as its total. */
static json_t *vcpu_rates(const struct dirty_rate *d)
{
	json_t *a = json_array();
	unsigned int i;

	for (i = 0; i < d->nr_vcpus; i++)
		json_array_append_new(a, json_pack("{s:I, s:I}", "id", (json_int_t)i, "dirty-rate",
			(json_int_t)(dirty_rate__vcpu_mib_per_s(d, i) + 0.5)));
	return a;
}

static json_t *cmd_query_dirty_rate(struct qmp *q, json_t *args, struct qmp_error *e)
{
	struct migration *m = need_migration(q, e);
	struct dirty_rate d;
	json_t *r;

	if (!m)
		return NULL;
	migration__dirty_rate(m, &d);
	r = json_pack("{s:s, s:I, s:I, s:I, s:s}",
		      "status", d.status == DIRTY_RATE_FAILED ? "measured"
							      : dirty_rate__status_name(d.status),
		      "sample-pages", (json_int_t)0,
		      "start-time", (json_int_t)d.start_time_s,
		      "calc-time", (json_int_t)d.calc_time_s,
		      "mode", dirty_rate__mode_name(d.mode));
	if (d.status == DIRTY_RATE_MEASURED) {
		json_object_set_new(r, "dirty-rate", json_integer((json_int_t)(d.mib_per_s + 0.5)));
		if (d.mode == DIRTY_RATE_MODE_RING)
			json_object_set_new(r, "vcpu-dirty-rate", vcpu_rates(&d));
		json_object_set_new(r, "vmm", json_pack("{s:I, s:f, s:f, s:I, s:s}",
			"dirty-pages", (json_int_t)d.pages, "page-rate", d.pages_per_s,
			"mib-per-second", d.mib_per_s, "elapsed-us", (json_int_t)d.elapsed_us,
			"dirty-log-mode", d.dirty_log_mode));
	} else if (d.status == DIRTY_RATE_FAILED) {
		json_object_set_new(r, "vmm", json_pack("{s:s}", "error", d.error));
	}
	return r;
}

/* vmm's own: a forecast of a migration, sending nothing. Blocks this
 * client for "seconds" (default 2) while it watches the guest. */
static json_t *cmd_forecast(struct qmp *q, json_t *args, struct qmp_error *e)
{
	struct migration *m = need_migration(q, e);
	json_t *js = json_object_get(args, "seconds"), *jb = json_object_get(args, "bandwidth");
	json_t *jb0 = json_object_get(args, "round0-bandwidth");
	json_t *jsu = json_object_get(args, "setup-us"), *jso = json_object_get(args, "switchover-us");
	json_int_t secs = js ? json_integer_value(js) : 2, bw = jb ? json_integer_value(jb) : 0;
	json_int_t bw0 = jb0 ? json_integer_value(jb0) : 0;
	json_int_t su = jsu ? json_integer_value(jsu) : 0, so = jso ? json_integer_value(jso) : 0;
	struct forecast_request req;
	struct forecast_now n;
	char err[256];

	if (!m || !need_vm(q, e))
		return NULL;
	if (secs < FORECAST_MIN_SECONDS || secs > FORECAST_MAX_SECONDS || bw < 0 || bw0 < 0 ||
	    su < 0 || so < 0)
		return fail(e, "x-vmm-forecast: seconds must be %d..%d; bandwidth, round0-bandwidth "
			    "(bytes/s), setup-us and switchover-us >= 0", FORECAST_MIN_SECONDS,
			    FORECAST_MAX_SECONDS);
	req = (struct forecast_request){ .seconds = (uint32_t)secs, .bandwidth = (uint64_t)bw,
					 .round0_bandwidth = (uint64_t)bw0,
					 .setup_us = (uint64_t)su, .switchover_us = (uint64_t)so };
	if (migration__forecast(m, &req, &n, err, sizeof(err)))
		return fail(e, "%s", err);
	return json_pack("{s:I, s:I, s:I, s:f, s:I, s:s, s:b, s:f, s:s, s:o, s:o, s:f, s:s, s:f, "
			 "s:f, s:f, s:f}",
			 "rounds", (json_int_t)n.f.rounds,
			 "total-time", (json_int_t)(n.f.total_us / 1000),
			 "total-time-us", (json_int_t)n.f.total_us,
			 "downtime", n.f.downtime_ms,
			 "bytes", (json_int_t)n.f.bytes,
			 "stop-reason", stop_reason__name(n.f.stop_reason),
			 "converges", forecast__converges(&n.f),
			 "bandwidth", n.start.link_bps,
			 "bandwidth-source", n.link_source,
			 "working-set-pages", n.f.ws_pages > 0 ? json_integer((json_int_t)n.f.ws_pages) :
								 json_null(),
			 "working-set-order", n.f.ws_pages > 0 ?
				json_string(n.f.ws_in_order ? "in-order" : "random") : json_null(),
			 "dirty-rate", n.f.dirty_rate_pps,
			 "dirty-log-mode", n.dirty_log_mode,
			 "setup-time", n.start.setup_us / 1e3,
			 "build-time", n.start.dest_build_us / 1e3,
			 "zero-scan-time", n.start.scan_us / 1e3,
			 "switchover-time", n.start.switchover_us / 1e3);
}

/* --- the table --------------------------------------------------------- */

static const struct qmp_cmd commands[] = {
	{ "query-status", { { 0 } }, false, cmd_query_status },
	{ "stop", { { 0 } }, false, cmd_stop },
	{ "cont", { { 0 } }, false, cmd_cont },
	{ "quit", { { 0 } }, false, cmd_quit },
	{ "migrate", { { "uri", "string", true }, { "detach", "bool", false },
		       { "blk", "bool", false }, { "inc", "bool", false },
		       { "resume", "bool", false } }, false, cmd_migrate },
	{ "migrate_cancel", { { 0 } }, false, cmd_migrate_cancel },
	{ "query-migrate", { { 0 } }, false, cmd_query_migrate },
	{ "migrate-set-parameters", { { 0 } }, true, cmd_set_parameters },
	{ "query-migrate-parameters", { { 0 } }, false, cmd_query_parameters },
	{ "migrate-set-capabilities", { { "capabilities", "array", true } }, false,
	  cmd_set_capabilities },
	{ "query-migrate-capabilities", { { 0 } }, false, cmd_query_capabilities },
	{ "calc-dirty-rate", { { "calc-time", "int", true }, { "sample-pages", "int", false },
			       { "mode", "string", false } }, false, cmd_calc_dirty_rate },
	{ "query-dirty-rate", { { 0 } }, false, cmd_query_dirty_rate },
	{ "x-vmm-forecast", { { "seconds", "int", false }, { "bandwidth", "int", false },
			      { "round0-bandwidth", "int", false }, { "setup-us", "int", false },
			      { "switchover-us", "int", false } }, false, cmd_forecast },
};

json_t *qmp_commands__run(struct qmp *q, const char *name, json_t *args, struct qmp_error *e)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct qmp_cmd *c = &commands[i];

		if (strcmp(c->name, name))
			continue;
		if (!c->own_check && !check_args(c, args, e))
			return NULL;
		return c->fn(q, args, e);
	}
	e->cls = "CommandNotFound";
	snprintf(e->desc, sizeof(e->desc), "The command %.64s has not been found", name);
	return NULL;
}
