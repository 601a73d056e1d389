/* The destination's check of an incoming configuration: can this host run
 * this VM? Part of the vm_config module (include/vm_config.h); kept apart
 * because the CPU feature tables are long. */
#include "vm_config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "outbuf.h"
#include "stream.h"

enum { REG_EAX, REG_EBX, REG_ECX, REG_EDX };

/* One CPUID register whose bits are CPU features. The names are the ones
 * Linux shows in /proc/cpuinfo; for bits Linux keeps out of /proc/cpuinfo
 * the kernel's own feature name in lower case; NULL where nobody has a
 * name (reported as "cpuid.7.0.ebx[bit 22]").
 *
 * `ignore` holds the bits that describe the VM, not the CPU, so a host
 * cannot lack them:
 *   1.ecx[27] osxsave, 7.0.ecx[4] ospke: mirror the guest's CR4.OSXSAVE /
 *     CR4.PKE; KVM sets them at run time.
 *   1.edx[9] apic: mirrors the guest's IA32_APIC_BASE enable bit.
 *   1.ecx[31] hypervisor: set by the VMM for its guests, no host has it
 *     in KVM_GET_SUPPORTED_CPUID.
 *   1.edx[28] ht: describes the vCPU topology the VMM chose.
 *   1.ecx[24] tsc_deadline_timer: emulated by KVM's in-kernel LAPIC on
 *     every host; older kernels announce it through
 *     KVM_CAP_TSC_DEADLINE_TIMER, not in the supported CPUID.
 * Registers not listed (leaf 1 EBX with the APIC id, family/model, cache
 * and topology leaves) are not compared at all: they describe, they do not
 * enable anything the guest could fault on. */
struct feature_reg {
	uint32_t function;
	uint32_t index;
	bool indexed;		/* the subleaf is part of the name */
	int reg;
	uint32_t ignore;
	const char *names[32];
};

static const struct feature_reg feature_regs[] = {
	{ 0x1, 0, false, REG_EDX, (1u << 9) | (1u << 28), {
		[0] = "fpu", [1] = "vme", [2] = "de", [3] = "pse", [4] = "tsc",
		[5] = "msr", [6] = "pae", [7] = "mce", [8] = "cx8", [9] = "apic",
		[11] = "sep", [12] = "mtrr", [13] = "pge", [14] = "mca",
		[15] = "cmov", [16] = "pat", [17] = "pse36", [18] = "pn",
		[19] = "clflush", [21] = "dts", [22] = "acpi", [23] = "mmx",
		[24] = "fxsr", [25] = "sse", [26] = "sse2", [27] = "ss",
		[28] = "ht", [29] = "tm", [30] = "ia64", [31] = "pbe" } },
	{ 0x1, 0, false, REG_ECX, (1u << 24) | (1u << 27) | (1u << 31), {
		[0] = "pni", [1] = "pclmulqdq", [2] = "dtes64", [3] = "monitor",
		[4] = "ds_cpl", [5] = "vmx", [6] = "smx", [7] = "est",
		[8] = "tm2", [9] = "ssse3", [10] = "cid", [11] = "sdbg",
		[12] = "fma", [13] = "cx16", [14] = "xtpr", [15] = "pdcm",
		[17] = "pcid", [18] = "dca", [19] = "sse4_1", [20] = "sse4_2",
		[21] = "x2apic", [22] = "movbe", [23] = "popcnt",
		[24] = "tsc_deadline_timer", [25] = "aes", [26] = "xsave",
		[27] = "osxsave", [28] = "avx", [29] = "f16c", [30] = "rdrand",
		[31] = "hypervisor" } },
	{ 0x7, 0, true, REG_EBX, 0, {
		[0] = "fsgsbase", [1] = "tsc_adjust", [2] = "sgx", [3] = "bmi1",
		[4] = "hle", [5] = "avx2", [6] = "fdp_excptn_only", [7] = "smep",
		[8] = "bmi2", [9] = "erms", [10] = "invpcid", [11] = "rtm",
		[12] = "cqm", [13] = "zero_fcs_fds", [14] = "mpx",
		[15] = "rdt_a", [16] = "avx512f", [17] = "avx512dq",
		[18] = "rdseed", [19] = "adx", [20] = "smap",
		[21] = "avx512ifma", [23] = "clflushopt", [24] = "clwb",
		[25] = "intel_pt", [26] = "avx512pf", [27] = "avx512er",
		[28] = "avx512cd", [29] = "sha_ni", [30] = "avx512bw",
		[31] = "avx512vl" } },
	{ 0x7, 0, true, REG_ECX, 1u << 4, {
		[1] = "avx512vbmi", [2] = "umip", [3] = "pku", [4] = "ospke",
		[5] = "waitpkg", [6] = "avx512_vbmi2", [7] = "shstk",
		[8] = "gfni", [9] = "vaes", [10] = "vpclmulqdq",
		[11] = "avx512_vnni", [12] = "avx512_bitalg", [13] = "tme",
		[14] = "avx512_vpopcntdq", [16] = "la57", [22] = "rdpid",
		[24] = "bus_lock_detect", [25] = "cldemote", [27] = "movdiri",
		[28] = "movdir64b", [29] = "enqcmd", [30] = "sgx_lc" } },
	{ 0x7, 0, true, REG_EDX, 0, {
		[2] = "avx512_4vnniw", [3] = "avx512_4fmaps", [4] = "fsrm",
		[8] = "avx512_vp2intersect", [9] = "srbds_ctrl",
		[10] = "md_clear", [11] = "rtm_always_abort",
		[13] = "tsx_force_abort", [14] = "serialize",
		[15] = "hybrid_cpu", [16] = "tsxldtrk", [18] = "pconfig",
		[19] = "arch_lbr", [20] = "ibt", [22] = "amx_bf16",
		[23] = "avx512_fp16", [24] = "amx_tile", [25] = "amx_int8",
		[26] = "spec_ctrl", [27] = "intel_stibp", [28] = "flush_l1d",
		[29] = "arch_capabilities", [30] = "core_capabilities",
		[31] = "spec_ctrl_ssbd" } },
	{ 0x80000001, 0, false, REG_EDX, 0, {
		[11] = "syscall", [19] = "mp", [20] = "nx", [22] = "mmxext",
		[25] = "fxsr_opt", [26] = "pdpe1gb", [27] = "rdtscp",
		[29] = "lm", [30] = "3dnowext", [31] = "3dnow" } },
	{ 0x80000001, 0, false, REG_ECX, 0, {
		[0] = "lahf_lm", [1] = "cmp_legacy", [2] = "svm",
		[3] = "extapic", [4] = "cr8_legacy", [5] = "abm", [6] = "sse4a",
		[7] = "misalignsse", [8] = "3dnowprefetch", [9] = "osvw",
		[10] = "ibs", [11] = "xop", [12] = "skinit", [13] = "wdt",
		[15] = "lwp", [16] = "fma4", [17] = "tce", [19] = "nodeid_msr",
		[21] = "tbm", [22] = "topoext", [23] = "perfctr_core",
		[24] = "perfctr_nb", [26] = "bpext", [27] = "ptsc",
		[28] = "perfctr_llc", [29] = "mwaitx" } },
	/* XSAVE state components the guest may enable in XCR0; a host without
	 * one cannot restore the guest's XSAVE area. */
	{ 0xd, 0, true, REG_EAX, 0, {
		[0] = "xstate_x87", [1] = "xstate_sse", [2] = "xstate_avx",
		[3] = "xstate_bndregs", [4] = "xstate_bndcsr",
		[5] = "xstate_opmask", [6] = "xstate_zmm_hi256",
		[7] = "xstate_hi16_zmm", [9] = "xstate_pkru",
		[17] = "xstate_xtilecfg", [18] = "xstate_xtiledata" } },
};

static const char *const reg_names[] = { "eax", "ebx", "ecx", "edx" };

/* The counts come from a decoded (validated) config, but a caller's own
 * struct gets the same protection against reading past the arrays. */
static uint32_t clamp(uint32_t n, uint32_t max)
{
	return n < max ? n : max;
}

/* Messages are built by appending (outbuf: output past the buffer is cut,
 * never overrun), one problem after another. */
struct msg {
	struct outbuf o;
	int problems;
};

/* Starts a new problem, separated from the previous one. */
static void msg_problem(struct msg *m)
{
	if (m->problems++)
		outbuf__printf(&m->o, "; ");
}

static void fmt_size(uint64_t bytes, char *out, size_t n)
{
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	unsigned int u = 0;

	while (u + 1 < sizeof(units) / sizeof(units[0]) && bytes &&
	       !(bytes & 1023)) {
		bytes >>= 10;
		u++;
	}
	snprintf(out, n, "%llu %s", (unsigned long long)bytes, units[u]);
}

static void check_layout(const struct vm_config *in, const struct vm_host *host,
			 struct msg *m)
{
	struct vm_config_slot slots[VM_CONFIG_MAX_SLOTS];
	uint32_t i, n = 0;
	char a[32], b[32];

	fmt_size(in->ram_size, a, sizeof(a));
	if (host->layout(in->ram_size, slots, &n) || n > VM_CONFIG_MAX_SLOTS) {
		msg_problem(m);
		outbuf__printf(&m->o, "source RAM %s: this vmm cannot build RAM of that size", a);
		return;
	}
	if (in->nr_slots != n) {
		msg_problem(m);
		outbuf__printf(&m->o, "source RAM is in %u slots, this vmm's in %u", in->nr_slots, n);
		return;
	}
	for (i = 0; i < n; i++)
		if (in->slots[i].gpa != slots[i].gpa || in->slots[i].size != slots[i].size) {
			fmt_size(in->slots[i].size, a, sizeof(a));
			fmt_size(slots[i].size, b, sizeof(b));
			msg_problem(m);
			outbuf__printf(&m->o, "RAM slot %u: source %s at 0x%llx, this vmm %s at 0x%llx",
				i, a, (unsigned long long)in->slots[i].gpa, b,
				(unsigned long long)slots[i].gpa);
			return;
		}
}

static void check_ram(const struct vm_config *in, const struct vm_host *host, struct msg *m)
{
	char a[32], b[32];

	if (host->ram_size && in->ram_size != host->ram_size) {
		fmt_size(in->ram_size, a, sizeof(a));
		fmt_size(host->ram_size, b, sizeof(b));
		msg_problem(m);
		outbuf__printf(&m->o, "source RAM %s, this VM %s", a, b);
		return;
	}
	check_layout(in, host, m);
}

static void check_cpus(const struct vm_config *in, const struct vm_host *host, struct msg *m)
{
	if (host->nr_cpus && in->nr_cpus != host->nr_cpus) {
		msg_problem(m);
		outbuf__printf(&m->o, "source has %u vCPU%s, this VM %u", in->nr_cpus,
			in->nr_cpus == 1 ? "" : "s", host->nr_cpus);
	} else if (host->max_cpus && in->nr_cpus > host->max_cpus) {
		msg_problem(m);
		outbuf__printf(&m->o, "source has %u vCPUs, this host runs at most %u", in->nr_cpus,
			host->max_cpus);
	}
}

static const struct vm_config_device *find_device(const struct vm_config_device *devs,
						  uint32_t n, const char *name)
{
	uint32_t i;

	for (i = 0; i < clamp(n, VM_CONFIG_MAX_DEVICES); i++)
		if (!strncmp(devs[i].name, name, VM_CONFIG_NAME_LEN))
			return &devs[i];
	return NULL;
}

/* A device name for a message: escaped like every string from the
 * stream (a decoded CONFIG holds printable ASCII only, but a backslash
 * must not pass for an escape of ours). */
static const char *shown(const char *name, char *buf, size_t len)
{
	return stream__escape(name, strnlen(name, VM_CONFIG_NAME_LEN - 1), buf, len);
}

static void check_devices(const struct vm_config *in, const struct vm_host *host,
			  struct msg *m)
{
	const struct vm_config_device *d, *l;
	char buf[4 * VM_CONFIG_NAME_LEN];
	uint32_t i;

	for (i = 0; i < clamp(in->nr_devices, VM_CONFIG_MAX_DEVICES); i++) {
		d = &in->devices[i];
		l = find_device(host->devices, host->nr_devices, d->name);
		if (!l) {
			msg_problem(m);
			outbuf__printf(&m->o, "source has device %s, this vmm does not",
				shown(d->name, buf, sizeof(buf)));
		} else if (d->version > l->version) {
			msg_problem(m);
			outbuf__printf(&m->o, "device %s: source state version %u, this vmm reads up to %u",
				shown(d->name, buf, sizeof(buf)), d->version, l->version);
		}
	}
	for (i = 0; i < clamp(host->nr_devices, VM_CONFIG_MAX_DEVICES); i++)
		if (!find_device(in->devices, in->nr_devices, host->devices[i].name)) {
			msg_problem(m);
			outbuf__printf(&m->o, "this vmm has device %s, the source does not",
				shown(host->devices[i].name, buf, sizeof(buf)));
		}
}

static bool entry_matches(const struct kvm_cpuid_entry2 *e, uint32_t function,
			  uint32_t index)
{
	return e->function == function &&
	       (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index);
}

static uint32_t entry_reg(const struct kvm_cpuid_entry2 *e, int reg)
{
	switch (reg) {
	case REG_EAX:
		return e->eax;
	case REG_EBX:
		return e->ebx;
	case REG_ECX:
		return e->ecx;
	default:
		return e->edx;
	}
}

static const struct kvm_cpuid_entry2 *
find_leaf(const struct kvm_cpuid_entry2 *e, uint32_t n, uint32_t function,
	  uint32_t index)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (entry_matches(&e[i], function, index))
			return &e[i];
	return NULL;
}

static void name_bit(const struct feature_reg *f, int bit, struct msg *m)
{
	if (f->names[bit]) {
		outbuf__printf(&m->o, "%s", f->names[bit]);
	} else if (f->indexed) {
		outbuf__printf(&m->o, "cpuid.%x.%x.%s[bit %d]", f->function, f->index,
			reg_names[f->reg], bit);
	} else {
		outbuf__printf(&m->o, "cpuid.%x.%s[bit %d]", f->function,
			reg_names[f->reg], bit);
	}
}

static void check_cpu(const struct vm_config *in,
		      const struct kvm_cpuid2 *host, struct msg *m)
{
	const struct kvm_cpuid_entry2 *g, *h;
	const struct feature_reg *f;
	uint32_t missing;
	size_t i;
	int bit, named = 0;

	for (i = 0; i < sizeof(feature_regs) / sizeof(feature_regs[0]); i++) {
		f = &feature_regs[i];
		g = find_leaf(in->cpuid, clamp(in->nr_cpuid, VM_CONFIG_MAX_CPUID),
			      f->function, f->index);
		if (!g)
			continue;
		h = find_leaf(host->entries, host->nent, f->function, f->index);
		missing = entry_reg(g, f->reg) & ~f->ignore;
		if (h)
			missing &= ~entry_reg(h, f->reg);
		for (bit = 0; bit < 32; bit++) {
			if (!(missing & (1u << bit)))
				continue;
			if (!named++) {
				msg_problem(m);
				outbuf__printf(&m->o, "this host's CPU lacks: ");
			} else {
				outbuf__printf(&m->o, ", ");
			}
			name_bit(f, bit, m);
		}
	}
}

int vm_config__check_compat(const struct vm_config *incoming, const struct vm_host *host,
			    char *err, size_t errlen)
{
	struct msg m = { .problems = 0 };

	outbuf__init(&m.o, err, errlen);
	if (!host || !host->cpuid || !host->layout) {
		outbuf__printf(&m.o, "no host CPUID or RAM layout to check the incoming VM against");
		return -EINVAL;
	}
	check_ram(incoming, host, &m);
	check_cpus(incoming, host, &m);
	check_devices(incoming, host, &m);
	if (host->missing_caps[0]) {
		msg_problem(&m);
		outbuf__printf(&m.o, "this host's KVM lacks: %.400s", host->missing_caps);
	}
	check_cpu(incoming, host->cpuid, &m);
	return m.problems ? -ENOTSUP : 0;
}
