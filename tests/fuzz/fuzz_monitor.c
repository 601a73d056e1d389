/* libFuzzer target for the text monitor: each line of the input is run as
 * a client's line is (monitor__execute), against the whole command table a
 * vmm has (the built-ins, the migration commands, record-dirty, forecast),
 * on a destination whose guest has not arrived. So every command parses
 * its arguments (parameter names and values, sizes, durations, URIs,
 * vCPU numbers) and then, where it would touch the VM, refuses: nothing
 * here needs /dev/kvm, and no input can start a migration or write a file.
 *
 * A client's line never holds a NUL or a newline and is at most 4095
 * bytes (monitor.c answers the others itself), so the input is cut into
 * lines at both.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migration.h"
#include "monitor.h"
#include "monitor_migrate.h"
#include "monitor_trace.h"
#include "vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vm vm;		/* never created: the guest "is arriving" */
static struct monitor *mon;
static struct migration *mig;

static void no_incoming(void *ctx)
{
	(void)ctx;
}

static void setup(void)
{
	mon = monitor__create(&vm);
	mig = migration__create(&vm);
	if (!mon || !mig)
		abort();
	monitor__set_vm_arriving(mon, true);
	migration__expect_vm(mig, no_incoming, NULL, 0);
	if (monitor_migrate__register(mon, mig) || monitor_trace__register(mon, mig))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[4096];
	size_t i = 0, n;

	if (!mon)
		setup();
	while (i < size) {
		for (n = 0; i < size && data[i] != '\n' && data[i] != '\0'; i++)
			if (n < sizeof(line) - 1)
				line[n++] = (char)data[i];
		i++;
		line[n] = '\0';
		if (n) {
			struct monitor_reply r = { 0 };

			monitor__execute(mon, line, &r);
			monitor_reply__free(&r);
		}
	}
	return 0;
}
