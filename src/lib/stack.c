/*
 * stack.c - uthread stacks and the TCBs that live at their tops.
 *
 * One mapping per uthread:
 *
 *     map                                                    map + map_size
 *     | guard (PC_GUARD) | stack, grows down <- | struct pc_thread | color |
 *
 * Cache coloring: each new mapping puts its TCB (and so its stack top) a
 * different number of PC_COLOR_STEP bytes below the end. Without it every
 * TCB and every stack top sit at the same offset within their page, and a
 * switch that stores to one uthread's TCB and stack and then loads from
 * another's at the same offsets stalls on 4K aliasing: measured, that
 * doubled the cost of a direct switch (docs/design/context-switch.md).
 * The mapping is reserved with MAP_NORESERVE and committed by touch, so an
 * idle uthread costs the one or two pages its frames and TCB occupy. The
 * guard is made with MADV_GUARD_INSTALL where the kernel has it (Linux
 * 6.13+: no extra VMA per stack, so 100,000 stacks stay far below
 * vm.max_map_count) and with mprotect(PROT_NONE) otherwise.
 *
 * Mappings are never unmapped: a freed TCB goes to its vcore's cache, and
 * beyond PC_CACHE_LOCAL to a global list, where its stack pages are given
 * back with MADV_DONTNEED while the TCB page (with its generation count)
 * stays. So a stale thread handle always points to readable memory whose
 * generation tells it is stale (see pc__thread_from_handle()).
 */
#include "internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common/sys.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#if defined(PARCORE_VALGRIND)
#include <valgrind/valgrind.h>
#endif

/*
 * 16 KiB of guard: a frame with a local array up to that size cannot jump
 * over it. Costs address space only.
 */
#define PC_GUARD (16u * 1024u)
/*
 * Colors: 8 steps of 256 bytes spread TCBs over half a page and keep the
 * TCB and an idle uthread's first frames within the top page.
 */
#define PC_COLORS 8
#define PC_COLOR_STEP 256u
/* Cached TCBs per vcore before they go to the global list. */
#define PC_CACHE_LOCAL 64

static struct {
	struct pc__spinlock lock;
	struct pc_thread *free; /* any size; stacks given back to the OS */
} global_cache = { PC_SPINLOCK_INIT, NULL };

static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static bool guard_madvise; /* MADV_GUARD_INSTALL really guards */
static atomic_uint next_color;

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

static size_t tcb_area(void)
{
	return round_up(sizeof(struct pc_thread), PC_CACHELINE);
}

/* The TCB, its color and an idle uthread's first frames share one page. */
_Static_assert(sizeof(struct pc_thread) + (PC_COLORS - 1) * PC_COLOR_STEP +
			       1024 <=
		       PC_PAGE,
	       "TCB and colors leave room for frames in the top page");

/*
 * The usable stack tcb_map() gives for a request of @size bytes: the
 * request in whole pages. The TCB and its color take one more page.
 */
static size_t usable_size(size_t size)
{
	return round_up(size, PC_PAGE);
}

/*
 * Decides once whether MADV_GUARD_INSTALL works. Success alone does not
 * tell: a kernel without it says EINVAL, but qemu-user answers unknown
 * advice with success and does nothing. So a guard is installed on a
 * scratch page and read through write(2), which returns EFAULT for a
 * guarded page rather than raising SIGSEGV.
 */
static void guard_probe(void)
{
	char *page = mmap(NULL, PC_PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fds[2];

	if (page == MAP_FAILED)
		return;
	if (madvise(page, PC_PAGE, MADV_GUARD_INSTALL) == 0 &&
	    pipe(fds) == 0) {
		guard_madvise = write(fds[1], page, 1) < 0 && errno == EFAULT;
		close(fds[0]);
		close(fds[1]);
	}
	munmap(page, PC_PAGE);
}

/* Returns 0 or -errno; errno itself is left as it was. */
static int guard_install(char *lo)
{
	int saved = errno, err = 0;

	pthread_once(&guard_once, guard_probe);
	if (guard_madvise) {
		if (madvise(lo, PC_GUARD, MADV_GUARD_INSTALL) < 0)
			err = -errno;
	} else if (mprotect(lo, PC_GUARD, PROT_NONE) < 0) {
		err = -errno;
	}
	errno = saved;
	return err;
}

static struct pc_thread *tcb_map(size_t size)
{
	size_t map_size = PC_GUARD + size + PC_PAGE;
	size_t color = atomic_fetch_add_explicit(&next_color, 1,
						 memory_order_relaxed) %
		       PC_COLORS * PC_COLOR_STEP;
	struct pc_thread *t;
	int saved = errno;
	char *map;

	map = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
		   -1, 0);
	if (map == MAP_FAILED || guard_install(map) < 0) {
		if (map != MAP_FAILED)
			munmap(map, map_size);
		errno = saved; /* the caller returns -ENOMEM */
		return NULL;
	}
	t = (struct pc_thread *)(map + map_size - color - tcb_area());
	t->stack.map = map;
	t->stack.map_size = map_size;
	t->stack.size = (size_t)((char *)t - map) - PC_GUARD;
	t->stack.size_class = size;
#if defined(PARCORE_VALGRIND)
	VALGRIND_STACK_REGISTER(map + PC_GUARD, (char *)t);
#endif
	return t;
}

/* Resets @t for reuse, keeping its stack and generation. */
static struct pc_thread *tcb_reset(struct pc_thread *t)
{
	struct pc__stack stack = t->stack;
	size_t from = offsetof(struct pc_thread, err);

	memset((char *)t + from, 0, sizeof(*t) - from);
	t->stack = stack;
	atomic_init(&t->last_vcore, -1);
	atomic_init(&t->co_vcore, -1);
	return t;
}

/*
 * The vcore's own cache, changed in nopreempt sections: event handlers
 * create and free uthreads too, from the signal handler (notify.c).
 */
static struct pc_thread *cache_pop_local(struct pc__vcore *vc, size_t size)
{
	struct pc_thread *t;

	pc__nopreempt_enter();
	t = vc->stack_cache;
	if (t && t->stack.size_class == size) {
		vc->stack_cache = t->cache_next;
		vc->stack_cache_len--;
	} else {
		t = NULL;
	}
	pc__nopreempt_exit();
	return t;
}

static bool cache_push_local(struct pc__vcore *vc, struct pc_thread *t)
{
	bool kept = false;

	pc__nopreempt_enter();
	if (vc->stack_cache_len < PC_CACHE_LOCAL &&
	    t->stack.size_class == usable_size(PC_THREAD_STACK_DEFAULT)) {
		t->cache_next = vc->stack_cache;
		vc->stack_cache = t;
		vc->stack_cache_len++;
		kept = true;
	}
	pc__nopreempt_exit();
	return kept;
}

static struct pc_thread *cache_pop_global(size_t size)
{
	struct pc_thread **pp, *t = NULL;

	pc__spin_lock(&global_cache.lock);
	for (pp = &global_cache.free; *pp; pp = &(*pp)->cache_next) {
		if ((*pp)->stack.size_class == size) {
			t = *pp;
			*pp = t->cache_next;
			break;
		}
	}
	pc__spin_unlock(&global_cache.lock);
	return t;
}

/*
 * pc__tcb_alloc() - a TCB with a @size-byte stack (0: the default size),
 * from the calling vcore's cache, the global list, or a new mapping.
 * Any context. Returns NULL when memory is exhausted.
 */
struct pc_thread *pc__tcb_alloc(size_t size)
{
	struct pc__vcore *vc = pc__vcore_self();
	struct pc_thread *t = NULL;

	size = usable_size(size ? size : PC_THREAD_STACK_DEFAULT);
	if (vc)
		t = cache_pop_local(vc, size);
	if (!t)
		t = cache_pop_global(size);
	if (!t)
		t = tcb_map(size);
	return t ? tcb_reset(t) : NULL;
}

/*
 * pc__tcb_free() - cache @t's TCB and stack. Nothing may run on the stack.
 * Any context.
 */
void pc__tcb_free(struct pc_thread *t)
{
	struct pc__vcore *vc = pc__vcore_self();
	size_t tcb_page;

	/* Stale handles fail from here on. Only the freer writes gen. */
	atomic_store_explicit(&t->gen,
			      (uint16_t)(atomic_load_explicit(
						 &t->gen, memory_order_relaxed) +
					 1),
			      memory_order_relaxed);
	if (vc && cache_push_local(vc, t))
		return;
	/* Give the stack's pages back, keeping the TCB's page. */
	tcb_page = ((uintptr_t)t & ~(uintptr_t)(PC_PAGE - 1)) -
		   (uintptr_t)t->stack.map;
	if (tcb_page > PC_GUARD)
		madvise(t->stack.map + PC_GUARD, tcb_page - PC_GUARD,
			MADV_DONTNEED);
	pc__spin_lock(&global_cache.lock);
	t->cache_next = global_cache.free;
	global_cache.free = t;
	pc__spin_unlock(&global_cache.lock);
}

/* ---- overflow report ---- */

static struct sigaction old_segv;

/* Async-signal-safe: appends @s to @buf at *@len. */
static void buf_put(char *buf, size_t *len, size_t cap, const char *s)
{
	while (*s && *len + 1 < cap)
		buf[(*len)++] = *s++;
}

static void buf_put_uint(char *buf, size_t *len, size_t cap, size_t v)
{
	char digits[24];
	int n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n && *len + 1 < cap)
		buf[(*len)++] = digits[--n];
}

static bool in_guard(const char *addr, const char *map)
{
	return map && addr >= map && addr < map + PC_GUARD;
}

static void report_overflow(const char *what, const char *name, size_t size)
{
	char msg[160];
	size_t len = 0;

	buf_put(msg, &len, sizeof(msg), what);
	buf_put(msg, &len, sizeof(msg), " ");
	buf_put(msg, &len, sizeof(msg), name);
	buf_put(msg, &len, sizeof(msg), " overflowed its ");
	buf_put_uint(msg, &len, sizeof(msg), size / 1024);
	buf_put(msg, &len, sizeof(msg), " KiB stack\n");
	if (write(STDERR_FILENO, msg, len) < 0)
		msg[0] = 0;
	abort();
}

static void report_vcore_overflow(const char *what, struct pc__vcore *vc,
				  size_t size)
{
	char name[16] = "vcore ";
	size_t len = 6;

	buf_put_uint(name, &len, sizeof(name), (size_t)vc->id);
	name[len] = 0;
	report_overflow(what, name, size);
}

/*
 * SIGSEGV on the alternate stack: a fault in the guard of the running
 * uthread's stack (or of the vcore's transition or alternate stack) is
 * reported by name and aborts; anything else goes to the previous
 * handler. An overflow of the alternate stack comes back to its top: the
 * kernel sees a stack pointer off it, and this frame goes over the one
 * that overflowed, which is never returned to.
 */
static void segv_handler(int sig, siginfo_t *si, void *uc)
{
	struct pc__vcore *vc = pc__vcore_self();
	const char *addr = si->si_addr;

	if (vc && vc->current && in_guard(addr, vc->current->stack.map))
		report_overflow("uthread",
				vc->current->name[0] ? vc->current->name
						     : "(unnamed)",
				vc->current->stack.size_class);
	if (vc && in_guard(addr, vc->tstack_map))
		report_vcore_overflow("transition stack of", vc,
				      vc->tstack_size);
	if (vc && vc->alt_lo && in_guard(addr, vc->alt_lo - PC_GUARD))
		report_vcore_overflow("alternate signal stack of", vc,
				      PC_ALTSTACK_SIZE);
	if (old_segv.sa_flags & SA_SIGINFO) {
		if (old_segv.sa_sigaction) {
			old_segv.sa_sigaction(sig, si, uc);
			return;
		}
	} else if (old_segv.sa_handler != SIG_DFL &&
		   old_segv.sa_handler != SIG_IGN) {
		old_segv.sa_handler(sig);
		return;
	}
	/* Default action: re-fault with the default disposition. */
	signal(SIGSEGV, SIG_DFL);
}

/*
 * pc__stack_overflow_init() - install the SIGSEGV handler that names the
 * overflowing uthread. Called once when entering multi-core mode.
 */
void pc__stack_overflow_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
}

/*
 * pc__altstack_init() - see internal.h. Guarded like a transition stack:
 * event handlers run here (notify.c: early_look()), and an overflow is
 * reported. The program's own stack is kept, and handlers then run from
 * the loop: its size and guard are unknown.
 */
int pc__altstack_init(struct pc__vcore *vc)
{
	stack_t ss, old;
	char *map;
	int err;

	/* Each thread is bound to a vcore once: one found is not ours. */
	vc->alt_lo = NULL;
	if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE))
		return 0;
	map = mmap(NULL, PC_GUARD + PC_ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
		   -1, 0);
	if (map == MAP_FAILED)
		return -errno;
	ss.ss_sp = map + PC_GUARD;
	ss.ss_size = PC_ALTSTACK_SIZE;
	ss.ss_flags = 0;
	if (mprotect(map, PC_GUARD, PROT_NONE) == 0 &&
	    sigaltstack(&ss, NULL) == 0) {
		vc->alt_lo = ss.ss_sp;
		return 0;
	}
	err = -errno;
	munmap(map, PC_GUARD + PC_ALTSTACK_SIZE);
	return err;
}
