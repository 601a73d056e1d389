#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "drive.h"

static int parse(const char *spec, struct drive_config *d, char *err, size_t errlen)
{
	err[0] = '\0';
	return drive__parse(spec, d, err, errlen);
}

static void test_defaults(void **state)
{
	struct drive_config d;
	char err[256];

	assert_int_equal(parse("file=disk.img", &d, err, sizeof(err)), 0);
	assert_string_equal(d.path, "disk.img");
	assert_int_equal(d.format, DRIVE_FORMAT_RAW);
	assert_false(d.readonly);
	assert_int_equal(d.cache, DRIVE_CACHE_WRITEBACK);
	assert_int_equal(d.base_digest, DRIVE_BASE_DIGEST_AUTO);
}

static void test_all_keys(void **state)
{
	struct drive_config d;
	char err[256];

	assert_int_equal(parse("cache=none,file=/a/b.img,readonly=on,format=raw", &d, err,
			       sizeof(err)), 0);
	assert_string_equal(d.path, "/a/b.img");
	assert_true(d.readonly);
	assert_int_equal(d.cache, DRIVE_CACHE_NONE);
	assert_int_equal(parse("file=x,readonly=off,cache=writeback", &d, err, sizeof(err)), 0);
	assert_false(d.readonly);
	assert_int_equal(d.cache, DRIVE_CACHE_WRITEBACK);
}

static void test_qcow2(void **state)
{
	struct drive_config d;
	char err[256];

	assert_int_equal(parse("file=ov.qcow2,format=qcow2", &d, err, sizeof(err)), 0);
	assert_int_equal(d.format, DRIVE_FORMAT_QCOW2);
	assert_int_equal(d.base_digest, DRIVE_BASE_DIGEST_AUTO);
	/* cache=none: the backend opens its data clusters O_DIRECT. */
	assert_int_equal(parse("file=ov.qcow2,format=qcow2,cache=none", &d, err,
			       sizeof(err)), 0);
	assert_int_equal(d.cache, DRIVE_CACHE_NONE);
}

static void test_base_digest(void **state)
{
	static const struct {
		const char *spec;
		enum drive_base_digest want;
		const char *name;
	} ok[] = {
		{ "file=ov.qcow2,format=qcow2,base-digest=lazy", DRIVE_BASE_DIGEST_LAZY, "lazy" },
		{ "base-digest=ahead,file=ov.qcow2,format=qcow2", DRIVE_BASE_DIGEST_AHEAD, "ahead" },
		{ "file=ov.qcow2,base-digest=auto,format=qcow2", DRIVE_BASE_DIGEST_AUTO, "auto" },
	};
	struct drive_config d;
	char err[256];
	unsigned int i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(parse(ok[i].spec, &d, err, sizeof(err)), 0);
		assert_int_equal(d.base_digest, ok[i].want);
		assert_string_equal(drive__base_digest_name(d.base_digest), ok[i].name);
	}
}

static void test_escaped_comma(void **state)
{
	struct drive_config d;
	char err[256];

	assert_int_equal(parse("file=a,,b,,,readonly=on", &d, err, sizeof(err)), 0);
	assert_string_equal(d.path, "a,b,");
	assert_true(d.readonly);
}

static void refused(const char *spec, const char *says)
{
	struct drive_config d;
	char err[256];

	assert_int_equal(parse(spec, &d, err, sizeof(err)), -EINVAL);
	if (!strstr(err, says))
		fail_msg("\"%s\": \"%s\" does not say \"%s\"", spec, err, says);
}

static void test_refusals(void **state)
{
	refused("", "file=PATH is required");
	refused("readonly=on", "file=PATH is required");
	refused("file=", "needs a path");
	refused("file=x,format=vmdk", "expected raw or qcow2");
	refused("file=x,cache=unsafe", "expected none or writeback");
	refused("file=x,readonly=yes", "expected on or off");
	refused("file=x,if=virtio", "unknown key \"if\"");
	refused("disk.img", "expected key=value");
	refused("file=x,format=qcow2,base-digest=never",
		"base-digest=never: expected auto, ahead or lazy");
	refused("file=x,format=qcow2,base-digest=", "base-digest=: expected auto, ahead or lazy");
	refused("file=x,base-digest=lazy", "base-digest= is for a qcow2 overlay's base image");
}

static void test_long_path(void **state)
{
	char spec[DRIVE_PATH_MAX + 16];

	memset(spec, 'a', sizeof(spec));
	memcpy(spec, "file=", 5);
	spec[sizeof(spec) - 1] = '\0';
	refused(spec, "longer than");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_escaped_comma),
		cmocka_unit_test(test_qcow2),
		cmocka_unit_test(test_base_digest),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_long_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
