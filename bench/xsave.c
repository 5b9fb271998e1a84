/*
 * xsave.c - the vector state a preemption saves: parcore's lazy save
 * (XSAVEC of the components XGETBV(1) reports in use, plus x87 and SSE:
 * what pc__notify_entry does) against a full XSAVE of every component
 * XCR0 enables, with only SSE in use and with AVX-512 in use. x86-64
 * with XSAVEC only; elsewhere both are reported missing.
 */
#include "xsave.h"

#include <stdio.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>

static unsigned char area[16384] __attribute__((aligned(64)));

static bool probe(struct bench_value *v)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) {
		bench_value_missing(v, "no XSAVE");
		return false;
	}
	__cpuid_count(0xd, 1, a, b, c, d);
	if ((a & 0x6) != 0x6) {
		bench_value_missing(v, "no XSAVEC or XGETBV(1)");
		return false;
	}
	__cpuid_count(0xd, 0, a, b, c, d);
	if (b > sizeof(area)) {
		bench_value_missing(v, "XSAVE area of %u bytes", b);
		return false;
	}
	return true;
}

static unsigned char init_image[4096] __attribute__((aligned(64)));

/*
 * Puts the state the case wants in use: every component back to its
 * initial state (XRSTOR of an all-zero header), then SSE, or AVX-512 too.
 * At the top of each batch, and nothing from there to the batch's end
 * calls libc: glibc's string and allocation routines use AVX-512's
 * upper registers and mask registers where the CPU has them, and a
 * calloc() between this and the batch made the "SSE only" save write
 * AVX-512's state too (1664 bytes, not 576; a second reader found it).
 */
static void set_state(bool avx512)
{
	__asm__ volatile("movl $-1, %%eax\n movl $-1, %%edx\n xrstor64 %0"
			 :
			 : "m"(init_image)
			 : "eax", "edx", "memory");
	__asm__ volatile("pcmpeqd %%xmm1, %%xmm1" ::: "xmm1");
	if (avx512)
		__asm__ volatile("vpternlogd $0xff, %%zmm17, %%zmm17, %%zmm17\n"
				 "movl $0x5a5a, %%eax\n kmovw %%eax, %%k1"
				 :
				 :
				 : "eax", "memory");
}

/* The 64-byte header zeroed, without libc, then one save. */
#define ZERO_HEADER                                                       \
	"xorl %%eax, %%eax\n"                                             \
	"movq %%rax, 512+%0\n movq %%rax, 520+%0\n"                        \
	"movq %%rax, 528+%0\n movq %%rax, 536+%0\n"                        \
	"movq %%rax, 544+%0\n movq %%rax, 552+%0\n"                        \
	"movq %%rax, 560+%0\n movq %%rax, 568+%0\n"

/* @arg: the bool of set_state(). */
static int lazy_batch(void *arg, uint64_t n)
{
	set_state(*(const bool *)arg);
	while (n--)
		__asm__ volatile(ZERO_HEADER
				 "movl $1, %%ecx\n xgetbv\n orl $3, %%eax\n"
				 "xsavec64 %0"
				 : "+m"(area)
				 :
				 : "eax", "ecx", "edx", "memory");
	return 0;
}

static int full_batch(void *arg, uint64_t n)
{
	set_state(*(const bool *)arg);
	while (n--)
		__asm__ volatile(ZERO_HEADER
				 "movl $-1, %%eax\n movl $-1, %%edx\n"
				 "xsave64 %0"
				 : "+m"(area)
				 :
				 : "eax", "edx", "memory");
	return 0;
}

/* Bytes the last lazy save wrote: the compacted size of its components. */
static unsigned int compacted_bytes(uint64_t mask)
{
	unsigned int size = 576, a, b, c, d;

	for (int i = 2; i < 63; i++) {
		if (!(mask >> i & 1))
			continue;
		__cpuid_count(0xd, (unsigned int)i, a, b, c, d);
		if (c & 2) /* 64-byte aligned in the compacted form */
			size = (size + 63) & ~63u;
		size += a;
	}
	return size;
}

static void measure(const struct bench_timing *bt, bench_batch_fn fn,
		    bool avx512, struct bench_value *v)
{
	double ns;
	int err;

	if (!probe(v))
		return;
	if (avx512 && !__builtin_cpu_supports("avx512f")) {
		bench_value_missing(v, "no AVX-512");
		return;
	}
	/* MXCSR is loaded from the image whatever its header says. */
	memcpy(init_image + 24, &(uint32_t){ 0x1f80 }, sizeof(uint32_t));
	if (fn == lazy_batch) {
		unsigned int lo, hi, a, b, c, d;

		/* What a batch sees after its own set_state(). */
		set_state(avx512);
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(1));
		__cpuid_count(0xd, 0, a, b, c, d);
		printf("  (the lazy save writes %u bytes, components %#x; a full "
		       "one %u)\n",
		       compacted_bytes(((uint64_t)hi << 32 | lo) | 3), lo | 3, b);
	}
	err = bench_measure(bt, fn, &avx512, &ns);
	if (err)
		bench_value_missing(v, "measuring: %d", err);
	else
		bench_value_set(v, ns);
}

void xsave_lazy(const struct bench_timing *bt, bool avx512,
		struct bench_value *v)
{
	measure(bt, lazy_batch, avx512, v);
}

void xsave_full(const struct bench_timing *bt, bool avx512,
		struct bench_value *v)
{
	measure(bt, full_batch, avx512, v);
}

#else

void xsave_lazy(const struct bench_timing *bt, bool avx512,
		struct bench_value *v)
{
	(void)bt;
	(void)avx512;
	bench_value_missing(v, "x86-64 only");
}

void xsave_full(const struct bench_timing *bt, bool avx512,
		struct bench_value *v)
{
	xsave_lazy(bt, avx512, v);
}

#endif
