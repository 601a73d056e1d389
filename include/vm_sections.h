/* The VM as stream sections: its configuration (CONFIG), and the state sent
 * during stop-and-copy (VM_STATE, one VCPU per vCPU, one DEVICE per device).
 * Shared by the live migration and file save/restore.
 */
#ifndef VMM__VM_SECTIONS_H
#define VMM__VM_SECTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu_state.h"
#include "stream.h"
#include "vm_config.h"

struct vm;

/* Describes a (created) VM as the CONFIG section carries it. */
int vm_sections__describe(struct vm *vm, struct vm_config *c, char *err, size_t errlen);
/* Rough size of the state stop-and-copy sends, for the downtime forecast. */
uint64_t vm_sections__state_estimate(const struct vm *vm);
/* Sends VM_STATE, every VCPU and every DEVICE. The VM must be paused. */
int vm_sections__send_state(struct vm *vm, struct stream *s, char *err, size_t errlen);

/* Destination: collects state sections, then applies them all at once.
 * Which sections may come, once each, and that all have come by END, is
 * stream_ledger's decision (include/stream_ledger.h): every section passes
 * it before it is taken here. */
struct vm_state_set {
	unsigned int nr_cpus;
	struct vcpu_state *vcpus;	/* nr_cpus entries */
	struct vm_state vm;
};

int vm_state_set__init(struct vm_state_set *set, unsigned int nr_cpus);
void vm_state_set__free(struct vm_state_set *set);
/* Takes one VCPU, VM_STATE or DEVICE section. Device state is loaded into
 * the device at once (devices validate before they change anything). A
 * VCPU or VM_STATE payload must end where its state ends. */
int vm_state_set__take(struct vm_state_set *set, struct vm *vm, const struct section *sec,
		       char *err, size_t errlen);
/* Loads everything into KVM, in order, once stream_ledger has found the
 * stream complete. */
int vm_state_set__apply(struct vm_state_set *set, struct vm *vm, char *err, size_t errlen);

#endif
