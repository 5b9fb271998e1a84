/*
 * ring.c - see ring.h.
 */
#include "ring.h"

#if defined(__x86_64__)
#include <cpuid.h>

static bool have_prefetchw;

/* pc__ring_probe() - see ring.h. */
void pc__ring_probe(void)
{
	unsigned int a, b, c, d;

	have_prefetchw = __get_cpuid(0x80000001, &a, &b, &c, &d) &&
			 (c & bit_PRFCHW);
}

/*
 * Asks for @p's line for writing. A producer's next slot was last
 * written by the consumer, which also polls it: a load and then a store
 * cost two transfers of the line, this and the store about one
 * (event_poll_latency: 330 -> 308 ns, medians of 6 runs each). PREFETCHW
 * is not on every x86-64 CPU, hence the probe.
 */
static inline void prefetch_for_write(const void *p)
{
	if (have_prefetchw)
		__asm__ volatile("prefetchw %0" ::"m"(*(const char *)p));
}
#else
void pc__ring_probe(void)
{
}

static inline void prefetch_for_write(const void *p)
{
	__builtin_prefetch(p, 1);
}
#endif

void pc__ring_init(struct pc__mslot *slot, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		atomic_store_explicit(&slot[i].seq, i, memory_order_relaxed);
}

bool pc__ring_put(struct pc__mslot *slot, uint32_t n, _Atomic uint32_t *tail,
		  const struct pc_event *ev)
{
	uint32_t t = atomic_load_explicit(tail, memory_order_relaxed);

	prefetch_for_write(&slot[t & (n - 1)]);
	for (int tries = 0; tries < PC_RING_TRIES; tries++) {
		struct pc__mslot *s = &slot[t & (n - 1)];
		/* Acquire pairs with the consumer's release that freed it. */
		uint32_t seq =
		    atomic_load_explicit(&s->seq, memory_order_acquire);
		int32_t dif = (int32_t)(seq - t);

		if (dif < 0)
			return false; /* full: it still holds an older event */
		if (dif > 0) {
			t = atomic_load_explicit(tail, memory_order_relaxed);
			continue; /* another producer took ticket t */
		}
		if (atomic_compare_exchange_weak_explicit(
			tail, &t, t + 1, memory_order_relaxed,
			memory_order_relaxed)) {
			s->ev = *ev;
			/* Release: a consumer sees the event once seq moves. */
			atomic_store_explicit(&s->seq, t + 1,
					      memory_order_release);
			return true;
		}
	}
	return false;
}

bool pc__ring_take(struct pc__mslot *slot, uint32_t n, _Atomic uint32_t *head,
		   struct pc_event *out)
{
	uint32_t h = atomic_load_explicit(head, memory_order_relaxed);

	for (;;) {
		struct pc__mslot *s = &slot[h & (n - 1)];
		/* Acquire pairs with the producer's release of seq. */
		uint32_t seq =
		    atomic_load_explicit(&s->seq, memory_order_acquire);
		int32_t dif = (int32_t)(seq - (h + 1));
		uint32_t again;

		if (dif < 0)
			return false; /* empty: not yet published */
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(
				head, &h, h + 1, memory_order_relaxed,
				memory_order_relaxed)) {
				*out = s->ev;
				/* Release: the slot's next producer may write.
				 */
				atomic_store_explicit(&s->seq, h + n,
						      memory_order_release);
				return true;
			}
			continue; /* h now holds the head another consumer moved
				   */
		}
		/*
		 * Another consumer took ticket h and freed the slot: the head
		 * has moved past h. If it has not, the slot was written by
		 * someone outside the protocol; report the ring empty.
		 */
		again = atomic_load_explicit(head, memory_order_relaxed);
		if (again == h)
			return false;
		h = again;
	}
}

void pc__evbits_set(_Atomic uint64_t *bits, unsigned int type)
{
	atomic_fetch_or(&bits[type / 64], (uint64_t)1 << (type % 64));
}

uint64_t pc__evbits_take(_Atomic uint64_t *bits, unsigned int word)
{
	if (!atomic_load_explicit(&bits[word], memory_order_relaxed))
		return 0;
	return atomic_exchange(&bits[word], 0);
}

struct pc_event pc__evbits_event(unsigned int type)
{
	return (struct pc_event){ .type = (uint16_t)type,
				  .src_vcore = -1,
				  .flags = PC_EVENT_F_OVERFLOW };
}
