/*
 * safepoint.c - may a uthread interrupted at this instruction move to
 * another vcore (another Linux thread)?
 *
 * Not if it is inside code whose state is per Linux thread: libc (malloc's
 * per-thread cache, stdio's recursive locks, errno), the dynamic loader,
 * the sanitizer runtimes, libgcc's unwinder. The text of those objects is
 * collected once, at start-up, with dl_iterate_phdr(); the signal handler
 * then checks an instruction pointer against a short array, which is
 * async-signal-safe. Parcore's own code is never a safe point either: it
 * reads its vcore from TLS and keeps it in registers, so a move between
 * that read and its use acts on the old vcore (a 30-second provisioner run
 * crashed so, once). Its code is found as the object that holds this
 * file's functions: libparcore.so, or, linked statically, the program
 * itself, whose code then never moves at an arbitrary instruction (only
 * at its calls into parcore). Moving a statically linked program's code
 * needs parcore's code in sections of its own: not done yet.
 *
 * Objects loaded later with dlopen() are not in the list: code in them is
 * treated as movable. The ranges are read only after pc__safepoint_init()
 * returned, before any notification can be sent.
 */
#include "internal.h"

#include <link.h>
#include <string.h>

#define PC_UNSAFE_MAX 32

struct range {
	uintptr_t lo, hi;
};

static struct range unsafe[PC_UNSAFE_MAX];
static int nr_unsafe;

/* Libraries whose code keeps per-thread state. */
static bool unsafe_object(const char *path)
{
	static const char *const prefixes[] = {
		"libc.so", "ld-linux", "ld64.so", "libpthread.so", "libasan.so",
		"libtsan.so", "libubsan.so", "libgcc_s.so", "libparcore.so",
	};
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncmp(base, prefixes[i], strlen(prefixes[i])))
			return true;
	return false;
}

/* Whether the object of @info holds the instruction at @pc. */
static bool holds(const struct dl_phdr_info *info, uintptr_t pc)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && pc >= lo && pc < lo + ph->p_memsz)
			return true;
	}
	return false;
}

static int collect(struct dl_phdr_info *info, size_t size, void *unused)
{
	(void)size;
	(void)unused;
	if (!holds(info, (uintptr_t)pc__safepoint_init) &&
	    (!info->dlpi_name || !unsafe_object(info->dlpi_name)))
		return 0;
	for (int i = 0; i < info->dlpi_phnum && nr_unsafe < PC_UNSAFE_MAX;
	     i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		unsafe[nr_unsafe].lo = info->dlpi_addr + ph->p_vaddr;
		unsafe[nr_unsafe].hi = unsafe[nr_unsafe].lo + ph->p_memsz;
		nr_unsafe++;
	}
	return 0;
}

/* pc__safepoint_init() - see internal.h. Once, before vcores start. */
void pc__safepoint_init(void)
{
	dl_iterate_phdr(collect, NULL);
}

/* pc__safepoint_at() - see internal.h. Async-signal-safe. */
bool pc__safepoint_at(uintptr_t pc)
{
	for (int i = 0; i < nr_unsafe; i++)
		if (pc >= unsafe[i].lo && pc < unsafe[i].hi)
			return false;
	return true;
}
