/*
 * xarea.c - vector save areas: where an interrupt saves a uthread's
 * vector state (docs/design/ticks.md, seed 004: never save what nobody
 * needs; allocate the save area on first need).
 *
 * A uthread gets an area the first time a notification interrupts it and
 * keeps it with its TCB, which is cached and reused, never unmapped: the
 * areas in use are bounded by the most uthreads that ever lived at once,
 * and a uthread that only switches cooperatively never has one. The
 * handler cannot allocate (it runs in a signal handler, maybe over a
 * malloc), so each vcore keeps one spare that the handler hands over;
 * vcore context refills it, from mmapped chunks, never from malloc: the
 * uthread just interrupted may hold a malloc lock of this very thread.
 */
#include "internal.h"

#include <stddef.h>
#include <sys/mman.h>

#define CHUNK_AREAS 32

/* switch.S's offsets. */
_Static_assert(offsetof(struct pc__xarea, busy) == 0, "xarea busy");
_Static_assert(offsetof(struct pc__xarea, image) == 64, "xarea image");

static struct pc__spinlock lock = PC_SPINLOCK_INIT;
static char *chunk; /* the rest of the last mapping; lock */
static size_t chunk_left;

/* Bytes of one area, header included: what the save may write, sized
 * from CPUID at start-up (notify.c's probe). */
static size_t area_bytes(void)
{
	uint64_t image = pc__xsave_ok == 2 ? pc__xsave_small : pc__xsave_size;

	return sizeof(struct pc__xarea) + ((image + 63) & ~(uint64_t)63);
}

/* An area from the current chunk, or NULL if it is used up. lock held. */
static struct pc__xarea *carve_locked(size_t size)
{
	struct pc__xarea *a = NULL;

	if (chunk_left >= size) {
		a = (struct pc__xarea *)chunk;
		chunk += size;
		chunk_left -= size;
	}
	return a;
}

/*
 * An area, mapping a new chunk when the last is used up. The mmap runs
 * outside the lock (holders of runtime spinlocks make no system calls);
 * of two vcores that map at once, the loser unmaps its chunk.
 */
static struct pc__xarea *carve(void)
{
	size_t size = area_bytes(), len = size * CHUNK_AREAS;
	struct pc__xarea *a;
	void *m;

	for (;;) {
		pc__spin_lock(&lock);
		a = carve_locked(size);
		pc__spin_unlock(&lock);
		if (a)
			return a;
		m = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return NULL;
		pc__spin_lock(&lock);
		if (chunk_left < size) {
			chunk = m;
			chunk_left = len;
			m = NULL;
		}
		pc__spin_unlock(&lock);
		if (m)
			munmap(m, len);
	}
}

/*
 * pc__xarea_refill() - give @vc a spare area if it has none. Vcore
 * context, or the vcore's thread before it runs uthreads. Out of memory
 * it stays without one, and interrupts save on the uthread's stack.
 */
void pc__xarea_refill(struct pc__vcore *vc)
{
	if (vc->xarea_spare || !pc__notify_interrupts())
		return;
	vc->xarea_spare = carve();
}

/*
 * pc__xarea_take() - the save area for an interrupt of @t on @vc, marked
 * busy until pc__notify_entry's restore; NULL to save on the stack. The
 * notification handler only, with @vc's notifications masked.
 *
 * Race: an interrupt between @t's resumption and the restore that ends
 * its previous interrupt (the return through the runtime, the restore
 * itself) would save over the image still to be restored. The busy mark
 * sends that nested save to the stack, below the first one.
 */
struct pc__xarea *pc__xarea_take(struct pc__vcore *vc, struct pc_thread *t)
{
	struct pc__xarea *a;

	if (!t)
		return NULL;
	a = t->xarea;
	if (!a) {
		a = vc->xarea_spare;
		if (!a)
			return NULL;
		vc->xarea_spare = NULL;
		t->xarea = a;
		atomic_fetch_add_explicit(&vc->tstat.areas, 1,
					  memory_order_relaxed);
	}
	if (a->busy)
		return NULL;
	a->busy = 1;
	return a;
}
