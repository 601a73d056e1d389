/* vmm's command line: every option, every combination rule, every bad
 * value refused with exit status 1 before anything is set up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "options.h"

static struct options o;

/* Parses a space-separated command line (no quoting needed here). */
static int parse(const char *line)
{
	static char buf[8192];
	char *argv[64];
	int argc = 0;
	char *tok;

	snprintf(buf, sizeof(buf), "vmm %s", line);
	for (tok = strtok(buf, " "); tok && argc < 63; tok = strtok(NULL, " "))
		argv[argc++] = tok;
	argv[argc] = NULL;
	return options__parse(&o, argc, argv);
}

static void test_defaults(void **state)
{
	assert_int_equal(parse("g.elf"), -1);
	assert_int_equal(o.ram_size, 256ULL << 20);
	assert_int_equal(o.nr_cpus, 1);
	assert_string_equal(o.serial, "stdio");
	assert_null(o.monitor);
	assert_string_equal(o.guest, "g.elf");
	assert_string_equal(o.cmdline, "g.elf");
	assert_false(o.ram_given);
	assert_false(o.paused);
	assert_int_equal(o.dirty_ring_entries, 0);
}

static void test_help_and_version(void **state)
{
	assert_int_equal(parse("--help"), 0);
	assert_int_equal(parse("-h"), 0);
	assert_int_equal(parse("--version"), 0);
	assert_int_equal(parse("-V"), 0);
}

static void test_mem(void **state)
{
	assert_int_equal(parse("--mem 512M g.elf"), -1);
	assert_int_equal(o.ram_size, 512ULL << 20);
	assert_true(o.ram_given);
	assert_int_equal(parse("--mem 5G g.elf"), -1);
	assert_int_equal(o.ram_size, 5ULL << 30);
	assert_int_equal(parse("--mem 1M g.elf"), 1);	/* below 2M */
	assert_int_equal(parse("--mem 12Q g.elf"), 1);
	assert_int_equal(parse("--mem 2T g.elf"), 1);	/* above 1T */
	assert_int_equal(parse("--mem 3000000 g.elf"), 1);	/* not a multiple of 4K */
	assert_int_equal(parse("--mem -1 g.elf"), 1);
	assert_int_equal(parse("--mem g.elf"), 1);	/* value eaten, no guest */
}

/* --mem-prealloc: a flag anywhere; a destination makes its RAM before
 * the stream says how much, so there it needs --mem. */
static void test_mem_prealloc(void **state)
{
	assert_int_equal(parse("g.elf"), -1);
	assert_false(o.mem_prealloc);
	assert_int_equal(parse("--mem-prealloc g.elf"), -1);
	assert_true(o.mem_prealloc);
	assert_int_equal(parse("--mem-prealloc --mem 1G --incoming tcp:0:8888"), -1);
	assert_true(o.mem_prealloc);
	assert_int_equal(o.ram_size, 1ULL << 30);
	assert_int_equal(parse("--mem-prealloc --incoming tcp:0:8888"), 1);
	assert_int_equal(parse("--mem-prealloc=on g.elf"), 1);	/* takes no value */
}

static void test_cpus(void **state)
{
	assert_int_equal(parse("--cpus 2 g.elf"), -1);
	assert_int_equal(o.nr_cpus, 2);
	assert_int_equal(parse("--cpus 64 g.elf"), -1);
	assert_int_equal(parse("--cpus 0 g.elf"), 1);
	assert_int_equal(parse("--cpus 65 g.elf"), 1);
	assert_int_equal(parse("--cpus two g.elf"), 1);
}

/* Only a number here: the host's limit is checked once /dev/kvm is open. */
static void test_dirty_ring(void **state)
{
	assert_int_equal(parse("--dirty-ring 4096 g.elf"), -1);
	assert_int_equal(o.dirty_ring_entries, 4096);
	assert_int_equal(parse("--dirty-ring 0 g.elf"), -1);
	assert_int_equal(o.dirty_ring_entries, 0);
	assert_int_equal(parse("--dirty-ring 4096 --incoming tcp:127.0.0.1:1"), -1);
	assert_int_equal(o.dirty_ring_entries, 4096);
	assert_int_equal(parse("--dirty-ring abc g.elf"), 1);
	assert_int_equal(parse("--dirty-ring -1 g.elf"), 1);
	assert_int_equal(parse("--dirty-ring 4294967296 g.elf"), 1);
}

static void test_serial_and_monitor(void **state)
{
	assert_int_equal(parse("--serial none g.elf"), -1);
	assert_int_equal(parse("--serial file:/x g.elf"), -1);
	assert_int_equal(parse("--serial file: g.elf"), 1);
	assert_int_equal(parse("--serial tty g.elf"), 1);
	assert_false(o.serial_timestamps);
	assert_int_equal(parse("--serial file:/x,timestamps g.elf"), -1);
	assert_string_equal(o.serial, "file:/x");
	assert_true(o.serial_timestamps);
	assert_int_equal(parse("--serial stdio,timestamps g.elf"), -1);
	assert_string_equal(o.serial, "stdio");
	assert_true(o.serial_timestamps);
	/* A comma elsewhere belongs to the path. */
	assert_int_equal(parse("--serial file:/a,b g.elf"), -1);
	assert_string_equal(o.serial, "file:/a,b");
	assert_false(o.serial_timestamps);
	assert_int_equal(parse("--serial none,timestamps g.elf"), 1);
	assert_int_equal(parse("--serial file:,timestamps g.elf"), 1);
	assert_int_equal(parse("--serial ,timestamps g.elf"), 1);
	assert_int_equal(parse("--serial stdio,stamps g.elf"), 1);
	assert_int_equal(parse("--monitor unix:/m g.elf"), -1);
	assert_string_equal(o.monitor, "unix:/m");
	assert_int_equal(parse("--monitor tcp:1 g.elf"), 1);
	assert_int_equal(parse("--monitor unix: g.elf"), 1);
	/* Both would read standard input. */
	assert_int_equal(parse("--monitor stdio g.elf"), 1);
	assert_int_equal(parse("--monitor stdio --serial none g.elf"), -1);
	/* QMP beside the text monitor, on a unix socket only. */
	assert_int_equal(parse("--monitor unix:/m --qmp unix:/q g.elf"), -1);
	assert_string_equal(o.qmp, "unix:/q");
	assert_int_equal(parse("--qmp stdio g.elf"), 1);
	assert_int_equal(parse("--qmp unix: g.elf"), 1);
}

static void test_guest_command_line(void **state)
{
	assert_int_equal(parse("g.elf -- rate=1 ws=2M"), -1);
	assert_string_equal(o.cmdline, "g.elf rate=1 ws=2M");
	assert_int_equal(parse("g.elf --"), -1);
	assert_string_equal(o.cmdline, "g.elf");
	/* Guest words need the --; options after the image are not ours. */
	assert_int_equal(parse("g.elf rate=1"), 1);
	assert_int_equal(parse("g.elf --cpus 2"), 1);
	assert_int_equal(parse(""), 1);	/* no image */
}

static void test_command_line_too_long(void **state)
{
	static char line[6000];
	char word[301];
	size_t n;
	int i;

	/* 20 words of 300 bytes: past the 4095 bytes a multiboot command
	 * line may have here, in few enough words for parse(). */
	memset(word, 'v', sizeof(word) - 1);
	word[sizeof(word) - 1] = '\0';
	n = (size_t)snprintf(line, sizeof(line), "g.elf --");
	for (i = 0; i < 20; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " k=%s", word);
	assert_int_equal(parse(line), 1);
	/* Just under the limit is fine. */
	n = (size_t)snprintf(line, sizeof(line), "g.elf --");
	for (i = 0; i < 12; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " k=%s", word);
	assert_int_equal(parse(line), -1);
}

static void test_initrd(void **state)
{
	assert_int_equal(parse("--initrd a --initrd b g.elf"), -1);
	assert_int_equal(o.nr_initrd, 2);
	assert_string_equal(o.initrd[1], "b");
}

static void test_drive(void **state)
{
	assert_int_equal(parse("--drive file=a.img --drive file=b.img,readonly=on,cache=none g.elf"),
			 -1);
	assert_int_equal(o.nr_drives, 2);
	assert_string_equal(o.drives[1].path, "b.img");
	assert_true(o.drives[1].readonly);
	assert_int_equal(o.drives[1].cache, DRIVE_CACHE_NONE);
	assert_int_equal(parse("--incoming tcp:0:8888 --drive file=a.img"), -1);
	assert_int_equal(o.nr_drives, 1);
	assert_int_equal(parse("--drive file=a.img,format=qcow2 g.elf"), -1);
	assert_int_equal(o.drives[0].format, DRIVE_FORMAT_QCOW2);
	assert_int_equal(parse("--drive file=a.img,format=vmdk g.elf"), 1);
	assert_int_equal(parse("--drive a.img g.elf"), 1);
	assert_int_equal(parse("--drive file=a --drive file=b --drive file=c --drive file=d "
			       "--drive file=e g.elf"), 1);
}

/* --drive-dir: a destination's, and instead of --drive, never beside it. */
static void test_drive_dir(void **state)
{
	assert_int_equal(parse("--incoming tcp:0:8888 --drive-dir /srv/img"), -1);
	assert_string_equal(o.drive_dir, "/srv/img");
	assert_int_equal(parse("--incoming tcp:0:8888"), -1);
	assert_null(o.drive_dir);
	assert_int_equal(parse("--drive-dir /srv/img g.elf"), 1);
	assert_int_equal(parse("--incoming tcp:0:8888 --drive-dir /srv/img --drive file=a.img"), 1);
	assert_int_equal(parse("--incoming tcp:0:8888 --drive-dir="), 1);
}

static void test_incoming(void **state)
{
	assert_int_equal(parse("--incoming tcp:0:8888"), -1);
	assert_string_equal(o.incoming, "tcp:0:8888");
	assert_null(o.guest);
	assert_int_equal(parse("--incoming tcp:0:8888 --mem 512M --cpus 2"), -1);
	assert_int_equal(parse("--incoming tcp:0:8888 g.elf"), 1);
	assert_int_equal(parse("--incoming tcp:0:8888 --initrd x"), 1);
	assert_int_equal(parse("--incoming tcp:0:8888 --paused"), 1);
	assert_int_equal(parse("--incoming tcp:0:8888 --migrate-to tcp:h:1"), 1);
	assert_int_equal(parse("--incoming tcp:0:1 --incoming-allow 10.0.0.1 --incoming-allow ::1"), -1);
	assert_int_equal(o.nr_incoming_allow, 2);
	assert_int_equal(parse("--incoming tcp:0:1 --incoming-allow host.example"), 1);
	assert_int_equal(parse("--incoming-allow 10.0.0.1 g.elf"), 1);
	assert_int_equal(parse("--incoming tcp:0:1 --secret-file k"), -1);
	assert_string_equal(o.secret_file, "k");
	assert_int_equal(parse("--secret-file k --migrate-to tcp:h:1 g.elf"), -1);
	assert_int_equal(parse("--incoming tcp:0:1 --insecure"), -1);
	assert_true(o.insecure);
	assert_int_equal(parse("--insecure g.elf"), 1);
	assert_int_equal(parse("--incoming tcp:0:1 --insecure --secret-file k"), 1);
	assert_int_equal(parse("--incoming tls:0:1 --tls-creds d"), -1);
	assert_string_equal(o.tls_creds, "d");
	assert_int_equal(parse("--tls-creds d --migrate-to tcp:h:1 g.elf"), -1);
	assert_int_equal(parse("--tls-creds= g.elf"), 1);
	assert_int_equal(parse("--incoming tcp:0:1 --max-mem 8G"), -1);
	assert_int_equal(o.max_mem, 8ULL << 30);
	assert_int_equal(parse("--incoming tcp:0:1 --max-mem 1M"), 1);
	assert_int_equal(parse("--incoming tcp:0:1 --max-mem lots"), 1);
	assert_int_equal(parse("--max-mem 8G g.elf"), 1);
}

static void test_migrate_to(void **state)
{
	assert_int_equal(parse("--migrate-to tcp:127.0.0.1:1 g.elf"), -1);
	assert_int_equal(o.migrate_after_us, 0);
	assert_int_equal(parse("--migrate-to file:/s --migrate-after 1.5s g.elf"), -1);
	assert_int_equal(o.migrate_after_us, 1500000);
	assert_int_equal(parse("--migrate-to file:/s --migrate-after 500ms g.elf"), -1);
	assert_int_equal(o.migrate_after_us, 500000);
	assert_int_equal(parse("--migrate-to file:/s --migrate-after 2 g.elf"), 1);	/* unit? */
	assert_int_equal(parse("--migrate-after 2s g.elf"), 1);	/* to where? */
	assert_int_equal(parse("--stats-json s.json --stats-csv r.csv g.elf"), -1);
	assert_string_equal(o.stats_csv, "r.csv");
}

static void test_runas_and_sandbox(void **state)
{
	assert_int_equal(parse("g.elf"), -1);
	assert_null(o.runas);
	assert_true(o.sandbox);
	assert_int_equal(parse("--runas nobody --sandbox off g.elf"), -1);
	assert_string_equal(o.runas, "nobody");
	assert_false(o.sandbox);
	assert_int_equal(parse("--sandbox on g.elf"), -1);
	assert_true(o.sandbox);
	assert_int_equal(parse("--sandbox yes g.elf"), 1);
	assert_int_equal(parse("--sandbox g.elf"), 1);	/* g.elf taken as the value */
}

static void test_unknown_option(void **state)
{
	assert_int_equal(parse("--frobnicate g.elf"), 1);
	assert_int_equal(parse("-x g.elf"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_help_and_version),
		cmocka_unit_test(test_mem),
		cmocka_unit_test(test_mem_prealloc),
		cmocka_unit_test(test_cpus),
		cmocka_unit_test(test_dirty_ring),
		cmocka_unit_test(test_serial_and_monitor),
		cmocka_unit_test(test_guest_command_line),
		cmocka_unit_test(test_command_line_too_long),
		cmocka_unit_test(test_initrd),
		cmocka_unit_test(test_drive),
		cmocka_unit_test(test_drive_dir),
		cmocka_unit_test(test_incoming),
		cmocka_unit_test(test_migrate_to),
		cmocka_unit_test(test_runas_and_sandbox),
		cmocka_unit_test(test_unknown_option),
	};

	/* --help and --version print to stdout; the errors go to stderr. */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
