/*
 * mbox.c - a vcore's mailbox: a bounded ring of events with many
 * producers (other vcores, plain threads, the arbiter) and one consumer
 * (the vcore, in vcore context), plus a bitmap of event types.
 *
 * The ring is Vyukov's bounded queue. Slot i's seq says whose turn it is:
 * a producer holding ticket t may fill slot t % N when seq == t, and
 * publishes it with seq = t + 1; the consumer at ticket h takes slot h % N
 * when seq == h + 1 and frees it with seq = h + N. Producers take tickets
 * by CAS on the tail (mbox_tail), so none waits for another to finish writing; a producer
 * that finds its slot still unconsumed (seq < t) sees a full ring.
 *
 * The ring lives in memory the process can write, and the arbiter posts
 * into it: so a producer tries a bounded number of times and then falls
 * back to the bitmap, which is a fetch_or and cannot be made to spin or
 * fail by whatever the process wrote (LESSONS 3.18). Falling back sets the
 * type's bit and counts an overflow: the event is never dropped without a
 * trace (seed 003 4.2.3).
 */
#include "internal.h"
#include "shared.h"

/* CAS attempts before a producer gives up on the ring. */
#define PC_MBOX_TRIES 16

static void set_bit(struct pc__mbox *mb, unsigned int type)
{
	atomic_fetch_or(&mb->bits[type / 64], (uint64_t)1 << (type % 64));
}

/*
 * pc__mbox_post() - queue @ev, or set its type's bit when the ring is full
 * (or looks corrupted) or @bit_only. Returns true if the message was
 * queued. Any thread; @ev->type must be < PC_EV_MAX.
 */
bool pc__mbox_post(struct pc__vcpd *v, const struct pc_event *ev,
		   bool bit_only)
{
	struct pc__mbox *mb = &v->mbox;
	uint32_t t = atomic_load_explicit(&v->mbox_tail, memory_order_relaxed);

	for (int tries = 0; !bit_only && tries < PC_MBOX_TRIES; tries++) {
		struct pc__mslot *s = &mb->slot[t % PC_MBOX_SLOTS];
		/* Acquire pairs with the consumer's release that freed it. */
		uint32_t seq = atomic_load_explicit(&s->seq,
						    memory_order_acquire);
		int32_t dif = (int32_t)(seq - t);

		if (dif < 0)
			break; /* full: the slot still holds an older event */
		if (dif > 0) {
			t = atomic_load_explicit(&v->mbox_tail,
						 memory_order_relaxed);
			continue; /* another producer took ticket t */
		}
		if (atomic_compare_exchange_weak_explicit(
			    &v->mbox_tail, &t, t + 1, memory_order_relaxed,
			    memory_order_relaxed)) {
			s->ev = *ev;
			/* Release: the consumer sees the event once seq moves. */
			atomic_store_explicit(&s->seq, t + 1,
					      memory_order_release);
			atomic_fetch_add_explicit(&v->pstat.posted, 1,
						  memory_order_relaxed);
			return true;
		}
	}
	set_bit(mb, ev->type);
	if (!bit_only)
		atomic_fetch_add_explicit(&v->pstat.overflowed, 1,
					  memory_order_relaxed);
	return false;
}

/*
 * pc__mbox_take() - the oldest queued event into @out; false if the ring
 * is empty. Vcore context of the mailbox's vcore (the one consumer).
 */
bool pc__mbox_take(struct pc__vcpd *v, struct pc_event *out)
{
	struct pc__mbox *mb = &v->mbox;
	uint32_t h = atomic_load_explicit(&mb->head, memory_order_relaxed);
	struct pc__mslot *s = &mb->slot[h % PC_MBOX_SLOTS];

	/* Acquire pairs with the producer's release of seq. */
	if (atomic_load_explicit(&s->seq, memory_order_acquire) != h + 1)
		return false;
	*out = s->ev;
	atomic_store_explicit(&s->seq, h + PC_MBOX_SLOTS, memory_order_release);
	atomic_store_explicit(&mb->head, h + 1, memory_order_relaxed);
	return true;
}

/*
 * pc__mbox_take_bits() - the bitmap word @word, cleared. Vcore context of
 * the mailbox's vcore.
 */
uint64_t pc__mbox_take_bits(struct pc__vcpd *v, unsigned int word)
{
	if (!atomic_load_explicit(&v->mbox.bits[word], memory_order_relaxed))
		return 0;
	return atomic_exchange(&v->mbox.bits[word], 0);
}
