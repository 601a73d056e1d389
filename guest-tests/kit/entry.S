/* Multiboot v1 entry, the AP trampoline, the switch to long mode, the
 * interrupt stubs and the drop to ring 3. Ring 0 may be emulated (slow), so
 * every path here is short and the page tables are built by one tight loop.
 */
#include "kit_priv.h"

#define MB_MAGIC	0x1BADB002
#define MB_FLAGS	0x00000003	/* page-align modules, memory info */

#define CR0_PE		0x00000001
#define CR0_WP		0x00010000
#define CR0_PG		0x80000000
#define CR0_KEEP	0x9fffffff	/* clears CD and NW: APs start with both set */
#define CR4_PAE		0x00000020
#define MSR_EFER	0xc0000080
#define EFER_LME	0x00000100
#define PDE_BOOT	0x87		/* present, writable, user, 2 MiB */

	.section .multiboot, "a"
	.balign 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

/* 32-bit protected mode -> long mode with kit_pml4, then a far jump to a
 * 64-bit target. Shared by the BSP and the APs. */
.macro long_mode_on target
	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov $kit_pml4, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	and $CR0_KEEP, %eax
	or $(CR0_PE | CR0_WP | CR0_PG), %eax
	mov %eax, %cr0
	ljmp $KIT_SEL_KCODE64, $\target
.endm

.macro load_data_segments
	mov $KIT_SEL_KDATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	xor %eax, %eax
	mov %eax, %fs
	mov %eax, %gs
.endm

	.section .text.boot32, "ax"
	.code32
	.globl _start
_start:
	cli
	cld
	mov %eax, %esi			/* multiboot magic */
	mov %ebx, %edi			/* multiboot info */
	mov $kit_boot_stack_top, %esp
	lgdt kit_gdtr
	ljmp $KIT_SEL_KCODE32, $1f
1:	load_data_segments
	/* The first GiB is enough until the C code maps what the mmap says. */
	mov $kit_boot_pd, %edx
	xor %ecx, %ecx
2:	mov %ecx, %eax
	shl $21, %eax
	or $PDE_BOOT, %eax
	mov %eax, (%edx, %ecx, 8)
	inc %ecx
	cmp $512, %ecx
	jne 2b
	movl $(kit_boot_pd + 7), kit_pdpt
	movl $(kit_pdpt + 7), kit_pml4
	long_mode_on bsp64

	/* APs arrive here from the trampoline; their APIC id picks a stack. */
	.globl kit_ap_entry32
kit_ap_entry32:
	load_data_segments
	mov $1, %eax
	cpuid
	shr $24, %ebx
	cmp $KIT_MAX_CPUS, %ebx
	jae 9f
	mov %ebx, %esi
	long_mode_on ap64
9:	cli
	hlt
	jmp 9b

	/* Copied to KIT_TRAMP_BASE; a SIPI starts APs here in real mode. */
	.code16
	.balign 16
	.globl kit_tramp_start, kit_tramp_end
kit_tramp_start:
	cli
	cld
	xor %ax, %ax
	mov %ax, %ds
	lgdtl KIT_TRAMP_BASE + (tramp_gdtr - kit_tramp_start)
	mov %cr0, %eax
	or $CR0_PE, %eax
	mov %eax, %cr0
	ljmpl $KIT_SEL_KCODE32, $kit_ap_entry32
	.balign 8
tramp_gdtr:
	.word KIT_GDT_ENTRIES * 8 - 1
	.long kit_gdt
kit_tramp_end:

	.text
	.code64
bsp64:
	load_data_segments
	mov $kit_boot_stack_top, %rsp
	mov %esi, %eax
	mov %edi, %esi
	mov %eax, %edi
	call kit_boot_bsp
3:	cli
	hlt
	jmp 3b

ap64:
	load_data_segments
	mov %esi, %edi
	mov kit_kstack_top(, %rdi, 8), %rsp
	call kit_boot_ap
	jmp 3b

/* void kit_enter_user(unsigned cpu, uint64_t stack_top, void (*entry)(unsigned)) */
	.globl kit_enter_user
kit_enter_user:
	mov $(KIT_SEL_UDATA | 3), %eax
	mov %eax, %ds
	mov %eax, %es
	pushq $(KIT_SEL_UDATA | 3)
	sub $8, %rsi			/* as if entry had been called */
	pushq %rsi
	pushq $KIT_RFLAGS_USER
	pushq $(KIT_SEL_UCODE | 3)
	pushq %rdx
	iretq

/* No IDT, then a fault: #UD cannot be delivered, nor can the #DF that
 * follows: a triple fault. (ud2 rather than int3: a PVM host's ring-0
 * emulator gives up on int3 with an empty IDT instead of faulting.) */
	.globl kit_triple_fault_r0
kit_triple_fault_r0:
	lidt empty_idtr
	ud2
	jmp 3b

/* One 16-byte stub per vector, so the IDT needs no table of addresses. */
.macro isr_stub vec
	.balign KIT_STUB_SIZE
	.if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq $0
	.endif
	pushq $\vec
	jmp isr_common
.endm

	.balign KIT_STUB_SIZE
	.globl kit_isr_stubs
kit_isr_stubs:
	.altmacro
	.set vec, 0
	.rept 256
	isr_stub %vec
	.set vec, vec + 1
	.endr
	.noaltmacro

.macro push_regs
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
.endm

.macro pop_regs
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
.endm

isr_common:
	push_regs
	mov %rsp, %rdi
	cld
	call kit_trap
	pop_regs
	add $16, %rsp
	iretq

	/* The timer only ends a hlt: acknowledge it and go back. */
	.balign 16
	.globl kit_isr_timer
kit_isr_timer:
	pushq %rax
	movabs $(KIT_LAPIC_BASE + 0xb0), %rax
	movl $0, (%rax)
	popq %rax
	iretq

	/* Spurious LAPIC interrupts need no EOI. */
	.globl kit_isr_spurious
kit_isr_spurious:
	iretq

	.data
	.balign 16
	.globl kit_gdtr
	.word 0, 0, 0
kit_gdtr:
	.word KIT_GDT_ENTRIES * 8 - 1
	.quad kit_gdt
	.word 0, 0, 0
empty_idtr:
	.word 0
	.quad 0

	.bss
	.balign 4096
	.globl kit_pml4, kit_pdpt
kit_pml4:
	.skip 4096
kit_pdpt:
	.skip 4096
kit_boot_pd:
	.skip 4096
	.skip 16384
kit_boot_stack_top:

	.section .note.GNU-stack, "", @progbits
