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
 * crashed so, once). As libparcore.so it is one of the objects above.
 * Linked statically, it is one range of the program's text: libparcore.a
 * is a single object whose code parcore-text.ld brackets with
 * pc__text_start and pc__text_end, so the rest of the program stays
 * movable. Without those symbols (an archive built otherwise), or in a
 * fully static program (whose text holds libc as well), the whole program
 * is unsafe: its code moves only at its calls into parcore.
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

/* parcore-text.ld's brackets; absent (NULL) in libparcore.so. */
extern const char pc__text_start[] __attribute__((weak, visibility("hidden")));
extern const char pc__text_end[] __attribute__((weak, visibility("hidden")));

static bool libc_shared; /* libc is an object of its own */

static void add_range(uintptr_t lo, uintptr_t hi)
{
	if (nr_unsafe < PC_UNSAFE_MAX)
		unsafe[nr_unsafe++] = (struct range){ lo, hi };
}

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

static bool is_libc(const struct dl_phdr_info *info)
{
	const char *base = info->dlpi_name ? strrchr(info->dlpi_name, '/') : NULL;

	return base && !strncmp(base + 1, "libc.so", 7);
}

static int find_libc(struct dl_phdr_info *info, size_t size, void *unused)
{
	(void)size;
	(void)unused;
	libc_shared |= is_libc(info);
	return 0;
}

static int collect(struct dl_phdr_info *info, size_t size, void *unused)
{
	bool self = holds(info, (uintptr_t)pc__safepoint_init);

	(void)size;
	(void)unused;
	if (self && pc__text_start && libc_shared) {
		add_range((uintptr_t)pc__text_start, (uintptr_t)pc__text_end);
		return 0;
	}
	if (!self && (!info->dlpi_name || !unsafe_object(info->dlpi_name)))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X))
			add_range(lo, lo + ph->p_memsz);
	}
	return 0;
}

/* pc__safepoint_init() - see internal.h. Once, before vcores start. */
void pc__safepoint_init(void)
{
	dl_iterate_phdr(find_libc, NULL);
	dl_iterate_phdr(collect, NULL);
}

/* pc__safepoint_at() - see internal.h. Async-signal-safe. */
bool pc__safepoint_at(uintptr_t pc)
{
	/*
	 * Not in ASan builds: instrumented code keeps per-thread state of
	 * ASan's between its instructions (a frame's fake stack is taken
	 * from one thread's and given back to whichever the function
	 * returns on), and a 30-second ASan provisioner run in CI jumped
	 * to a wild address once after moves mid-function. Uthreads there
	 * move only at their calls into parcore; the plain tree tests the
	 * moves.
	 */
#if PC_ASAN
	(void)pc;
	return false;
#endif
	for (int i = 0; i < nr_unsafe; i++)
		if (pc >= unsafe[i].lo && pc < unsafe[i].hi)
			return false;
	return true;
}
