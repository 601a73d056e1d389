/* QMP's protocol and command dispatch, driven with JSON text as a client
 * would send it; no socket and no /dev/kvm (the VM is an empty one with
 * no vCPUs, which pauses and resumes like any other). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "migrate_params.h"
#include "migration.h"
#include "qmp.h"
#include "vm.h"

static struct vm fake_vm;

struct fixture {
	struct qmp *q;
	struct migration *m;
	struct qmp_session s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	memset(&fake_vm, 0, sizeof(fake_vm));
	pthread_mutex_init(&fake_vm.lock, NULL);
	pthread_cond_init(&fake_vm.cond, NULL);
	f->q = qmp__create();
	f->m = migration__create(&fake_vm);
	assert_non_null(f->q);
	assert_non_null(f->m);
	qmp__set_migration(f->q, f->m);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	qmp__destroy(f->q);
	migration__destroy(f->m);
	free(f);
	return 0;
}

/* Sends text; returns the parsed reply (the caller frees it). */
static json_t *ask(struct fixture *f, const char *text)
{
	char *reply = qmp__request(f->q, &f->s, text, strlen(text));
	json_t *j;

	assert_non_null(reply);
	j = json_loads(reply, 0, NULL);
	assert_non_null(j);
	free(reply);
	return j;
}

/* The error's class and text, or fails when the reply is not an error. */
static void expect_error(struct fixture *f, const char *text, const char *cls, const char *desc)
{
	json_t *r = ask(f, text);
	json_t *e = json_object_get(r, "error");

	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "class")), cls);
	if (!strstr(json_string_value(json_object_get(e, "desc")), desc))
		fail_msg("'%s' not in '%s'", desc, json_string_value(json_object_get(e, "desc")));
	json_decref(r);
}

/* The "return" value (a new reference), or fails on an error. */
static json_t *expect_return(struct fixture *f, const char *text)
{
	json_t *r = ask(f, text);
	json_t *ret = json_object_get(r, "return");

	if (!ret)
		fail_msg("%s: no return: %s", text, json_dumps(r, 0));
	json_incref(ret);
	json_decref(r);
	return ret;
}

static void negotiate(struct fixture *f)
{
	json_decref(expect_return(f, "{\"execute\": \"qmp_capabilities\"}"));
}

static void test_greeting(void **state)
{
	struct fixture *f = *state;
	char *g = qmp__greeting(f->q);
	json_t *j = json_loads(g, 0, NULL);
	json_t *qmp = json_object_get(j, "QMP");

	assert_non_null(json_object_get(json_object_get(qmp, "version"), "qemu"));
	assert_true(json_is_array(json_object_get(qmp, "capabilities")));
	assert_int_equal(json_array_size(json_object_get(qmp, "capabilities")), 0);
	json_decref(j);
	free(g);
}

static void test_negotiation(void **state)
{
	struct fixture *f = *state;
	json_t *r, *id;

	r = ask(f, "{\"execute\": \"query-status\", \"id\": 7}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "class")),
			    "CommandNotFound");
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 7);
	json_decref(r);
	r = ask(f, "{\"execute\": \"qmp_capabilities\", \"id\": {\"a\": [1]}}");
	assert_non_null(json_object_get(r, "return"));
	id = json_pack("{s:[i]}", "a", 1);
	assert_true(json_equal(json_object_get(r, "id"), id));
	json_decref(id);
	json_decref(r);
	expect_error(f, "{\"execute\": \"qmp_capabilities\"}", "CommandNotFound",
		     "Capabilities negotiation is already complete");
}

static void test_malformed(void **state)
{
	struct fixture *f = *state;

	negotiate(f);
	expect_error(f, "{bad}", "GenericError", "JSON parse error");
	expect_error(f, "[1]", "GenericError", "QMP input must be a JSON object");
	expect_error(f, "{\"foo\": 1}", "GenericError", "QMP input member 'foo' is unexpected");
	expect_error(f, "{\"id\": 1}", "GenericError", "QMP input lacks member 'execute'");
	expect_error(f, "{\"execute\": 1}", "GenericError", "'execute' must be a string");
	expect_error(f, "{\"execute\": \"stop\", \"arguments\": 1}", "GenericError",
		     "'arguments' must be an object");
	expect_error(f, "{\"execute\": \"nope\"}", "CommandNotFound",
		     "The command nope has not been found");
}

static void test_arguments(void **state)
{
	struct fixture *f = *state;

	negotiate(f);
	expect_error(f, "{\"execute\": \"query-status\", \"arguments\": {\"x\": 1}}",
		     "GenericError", "Parameter 'x' is unexpected");
	expect_error(f, "{\"execute\": \"migrate\"}", "GenericError", "Parameter 'uri' is missing");
	expect_error(f, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": 5}}", "GenericError",
		     "Invalid parameter type for 'uri', expected: string");
	expect_error(f, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"x\", \"resume\": true}}",
		     "GenericError", "'resume' is not supported by vmm");
	expect_error(f, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"x\", \"inc\": 1}}",
		     "GenericError", "Invalid parameter type for 'inc', expected: bool");
}

static void test_status(void **state)
{
	struct fixture *f = *state;
	json_t *r;

	negotiate(f);
	qmp__watch_incoming(f->q, migration__stats(f->m));
	r = expect_return(f, "{\"execute\": \"query-status\"}");
	assert_string_equal(json_string_value(json_object_get(r, "status")), "inmigrate");
	assert_true(json_is_false(json_object_get(r, "running")));
	json_decref(r);
	expect_error(f, "{\"execute\": \"stop\"}", "GenericError", "inmigrate");
	qmp__set_vm(f->q, &fake_vm);
	r = expect_return(f, "{\"execute\": \"query-status\"}");
	assert_string_equal(json_string_value(json_object_get(r, "status")), "running");
	assert_true(json_is_true(json_object_get(r, "running")));
	json_decref(r);
	json_decref(expect_return(f, "{\"execute\": \"stop\"}"));
	r = expect_return(f, "{\"execute\": \"query-status\"}");
	assert_string_equal(json_string_value(json_object_get(r, "status")), "paused");
	json_decref(r);
	json_decref(expect_return(f, "{\"execute\": \"cont\"}"));
	r = expect_return(f, "{\"execute\": \"query-status\"}");
	assert_string_equal(json_string_value(json_object_get(r, "status")), "running");
	json_decref(r);
}

static void test_parameters(void **state)
{
	struct fixture *f = *state;
	const struct migrate_param_info *t;
	size_t n, i;
	json_t *r;

	negotiate(f);
	json_decref(expect_return(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
				  "{\"downtime-limit\": 120, \"max-bandwidth\": 1048576, "
				  "\"max-sent-factor\": 2.5, \"stall-action\": \"cancel\"}}"));
	/* All or nothing: the good one is not applied with the bad one. */
	expect_error(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
		     "{\"downtime-limit\": 50, \"max-iterations\": 0}}", "GenericError",
		     "max-iterations: 0 out of range 1..1000");
	expect_error(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
		     "{\"multifd-channels\": 2}}", "GenericError",
		     "'multifd-channels' is not supported by vmm");
	expect_error(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
		     "{\"xbzrle-cache-size\": 1}}", "GenericError",
		     "xbzrle-cache-size: 1 out of range 4K..1T");
	/* QEMU's throttle parameters, tailslow a JSON boolean as QEMU's. */
	json_decref(expect_return(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
				  "{\"cpu-throttle-initial\": 30, \"cpu-throttle-tailslow\": true, "
				  "\"vcpu-dirty-limit\": 50, \"xbzrle-cache-size\": 1048576}}"));
	expect_error(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
		     "{\"cpu-throttle-tailslow\": 1}}", "GenericError",
		     "Invalid parameter type for 'cpu-throttle-tailslow', expected: boolean");
	expect_error(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"foo\": 1}}",
		     "GenericError", "Parameter 'foo' is unexpected");
	expect_error(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
		     "{\"downtime-limit\": -1}}", "GenericError",
		     "Parameter 'downtime-limit' expects uint64");
	r = expect_return(f, "{\"execute\": \"query-migrate-parameters\"}");
	assert_int_equal(json_integer_value(json_object_get(r, "downtime-limit")), 120);
	assert_int_equal(json_integer_value(json_object_get(r, "max-bandwidth")), 1048576);
	assert_int_equal(json_integer_value(json_object_get(r, "max-iterations")), 30);
	assert_true(json_real_value(json_object_get(r, "max-sent-factor")) == 2.5);
	assert_string_equal(json_string_value(json_object_get(r, "stall-action")), "cancel");
	assert_string_equal(json_string_value(json_object_get(r, "secret-file")), "");
	assert_int_equal(json_integer_value(json_object_get(r, "cpu-throttle-initial")), 30);
	assert_int_equal(json_integer_value(json_object_get(r, "cpu-throttle-increment")), 10);
	assert_true(json_is_true(json_object_get(r, "cpu-throttle-tailslow")));
	assert_int_equal(json_integer_value(json_object_get(r, "vcpu-dirty-limit")), 50);
	assert_int_equal(json_integer_value(json_object_get(r, "xbzrle-cache-size")), 1048576);
	assert_int_equal(json_integer_value(json_object_get(r, "downtime-max")), 10000);
	assert_int_equal(json_integer_value(json_object_get(r, "timeout")), 0);
	/* Every parameter the engine has, none left out. */
	t = migrate_params__table(&n);
	for (i = 0; i < n; i++)
		if (!json_object_get(r, t[i].name))
			fail_msg("query-migrate-parameters has no '%s'", t[i].name);
	assert_int_equal(json_object_size(r), n);
	json_decref(r);
	/* QEMU's multifd compression pair: a string and a level. */
	json_decref(expect_return(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
				  "{\"multifd-compression\": \"zstd\", \"multifd-zstd-level\": 7}}"));
	expect_error(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
		     "{\"multifd-compression\": 1}}", "GenericError",
		     "Invalid parameter type for 'multifd-compression', expected: string");
	expect_error(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
		     "{\"multifd-zstd-level\": 21}}", "GenericError",
		     "multifd-zstd-level: 21 out of range 1..20");
	expect_error(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
		     "{\"multifd-zlib-level\": 1}}", "GenericError",
		     "'multifd-zlib-level' is not supported by vmm");
	r = expect_return(f, "{\"execute\": \"query-migrate-parameters\"}");
	assert_string_equal(json_string_value(json_object_get(r, "multifd-compression")), "zstd");
	assert_int_equal(json_integer_value(json_object_get(r, "multifd-zstd-level")), 7);
	assert_true(json_is_false(json_object_get(r, "block-incremental")));
	json_decref(r);
	/* QEMU 7.2's block-incremental, a JSON boolean. */
	json_decref(expect_return(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
				  "{\"block-incremental\": true}}"));
	expect_error(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
		     "{\"block-incremental\": \"on\"}}", "GenericError",
		     "Invalid parameter type for 'block-incremental', expected: boolean");
	r = expect_return(f, "{\"execute\": \"query-migrate-parameters\"}");
	assert_true(json_is_true(json_object_get(r, "block-incremental")));
	json_decref(r);
	/* secret-file is a path: a string, whose file must pass the rules. */
	expect_error(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
		     "{\"secret-file\": 1}}", "GenericError",
		     "Invalid parameter type for 'secret-file', expected: string");
	expect_error(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
		     "{\"secret-file\": \"/nonexistent/key\"}}", "GenericError",
		     "cannot open secret file /nonexistent/key");
	/* QEMU's tls parameters: tls-creds names a directory here (QEMU's
	 * names an object), loaded when set; tls-hostname a name. */
	expect_error(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
		     "{\"tls-creds\": true}}", "GenericError",
		     "Invalid parameter type for 'tls-creds', expected: string");
	expect_error(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
		     "{\"tls-creds\": \"/nonexistent/creds\"}}", "GenericError",
		     "tls-creds /nonexistent/creds: No such file or directory");
	expect_error(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
		     "{\"tls-hostname\": \"two words\"}}", "GenericError",
		     "tls-hostname: 'two words' is not a host name or address");
	expect_error(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
		     "{\"tls-authz\": \"x\"}}", "GenericError",
		     "'tls-authz' is not supported by vmm");
	json_decref(expect_return(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
				  "{\"tls-hostname\": \"dest.example\", \"tls-creds\": \"\"}}"));
	r = expect_return(f, "{\"execute\": \"query-migrate-parameters\"}");
	assert_string_equal(json_string_value(json_object_get(r, "tls-hostname")), "dest.example");
	assert_string_equal(json_string_value(json_object_get(r, "tls-creds")), "");
	json_decref(r);
}

static bool capability_state(json_t *list, const char *name)
{
	size_t i;
	json_t *c;

	json_array_foreach(list, i, c)
		if (!strcmp(json_string_value(json_object_get(c, "capability")), name))
			return json_is_true(json_object_get(c, "state"));
	fail_msg("capability %s not listed", name);
	return false;
}

static void test_capabilities(void **state)
{
	struct fixture *f = *state;
	json_t *r;

	negotiate(f);
	expect_error(f, "{\"execute\": \"migrate-set-capabilities\", \"arguments\": {\"capabilities\":"
		     " [{\"capability\": \"dirty-limit\", \"state\": true}]}}", "GenericError",
		     "dirty-limit needs the dirty ring: start vmm with --dirty-ring ENTRIES");
	json_decref(expect_return(f, "{\"execute\": \"migrate-set-capabilities\", \"arguments\": "
				  "{\"capabilities\": [{\"capability\": \"xbzrle\", \"state\": true}]}}"));
	r = expect_return(f, "{\"execute\": \"query-migrate-capabilities\"}");
	assert_true(capability_state(r, "xbzrle"));
	json_decref(r);
	expect_error(f, "{\"execute\": \"migrate-set-capabilities\", \"arguments\": {\"capabilities\":"
		     " [{\"capability\": \"postcopy-ram\", \"state\": true}]}}", "GenericError",
		     "capability 'postcopy-ram' is not supported by vmm");
	expect_error(f, "{\"execute\": \"migrate-set-capabilities\", \"arguments\": {\"capabilities\":"
		     " [{\"capability\": \"foo\", \"state\": false}]}}", "GenericError",
		     "Parameter 'capability' does not accept value 'foo'");
	r = expect_return(f, "{\"execute\": \"query-migrate-capabilities\"}");
	assert_false(capability_state(r, "events"));
	assert_false(capability_state(r, "auto-converge"));
	json_decref(r);
	json_decref(expect_return(f, "{\"execute\": \"migrate-set-capabilities\", \"arguments\": "
				  "{\"capabilities\": [{\"capability\": \"events\", \"state\": true},"
				  " {\"capability\": \"xbzrle\", \"state\": false}]}}"));
	r = expect_return(f, "{\"execute\": \"query-migrate-capabilities\"}");
	assert_true(capability_state(r, "events"));
	json_decref(r);
	assert_true(qmp__events_enabled(f->q));
}

static void test_dirty_rate(void **state)
{
	struct fixture *f = *state;
	json_t *r;

	negotiate(f);
	r = expect_return(f, "{\"execute\": \"query-dirty-rate\"}");
	assert_string_equal(json_string_value(json_object_get(r, "status")), "unstarted");
	assert_null(json_object_get(r, "dirty-rate"));
	json_decref(r);
	expect_error(f, "{\"execute\": \"calc-dirty-rate\", \"arguments\": {\"calc-time\": 1, "
		     "\"mode\": \"page-sampling\"}}", "GenericError",
		     "mode 'page-sampling' is not supported by vmm");
	qmp__set_vm(f->q, &fake_vm);
	expect_error(f, "{\"execute\": \"calc-dirty-rate\", \"arguments\": {\"calc-time\": 0}}",
		     "GenericError", "out of range 1..60");
	expect_error(f, "{\"execute\": \"calc-dirty-rate\"}", "GenericError",
		     "Parameter 'calc-time' is missing");
}

static void test_query_migrate_none(void **state)
{
	struct fixture *f = *state;
	json_t *r;

	negotiate(f);
	r = expect_return(f, "{\"execute\": \"query-migrate\"}");
	assert_int_equal(json_object_size(r), 0);
	json_decref(r);
	json_decref(expect_return(f, "{\"execute\": \"migrate_cancel\"}"));
	qmp__set_vm(f->q, &fake_vm);
	expect_error(f, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"bogus:1\"}}",
		     "GenericError", "bogus");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_greeting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negotiation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parameters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capabilities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_migrate_none, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
