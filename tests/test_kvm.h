/* Unit tests that need /dev/kvm. Where it cannot be used the test
 * program ends as skipped (77) and its last line says why: the runner
 * shows that line, and REQUIRE_KVM=1 (as CI runs) counts the skip as a
 * failure. cmocka.h must come first. */
#ifndef VMM__TEST_KVM_H
#define VMM__TEST_KVM_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

/* An open /dev/kvm of the API this build speaks, or the program ends. */
__attribute__((unused))
static int kvm_open_or_skip(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		printf("SKIP: cannot open /dev/kvm: %m\n");
		exit(77);
	}
	if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		printf("SKIP: /dev/kvm does not answer KVM_GET_API_VERSION with %d\n",
		       KVM_API_VERSION);
		exit(77);
	}
	return fd;
}

/* For tests that open their own: /dev/kvm is there, or the program ends. */
__attribute__((unused))
static void kvm_require(void)
{
	close(kvm_open_or_skip());
}

#endif
