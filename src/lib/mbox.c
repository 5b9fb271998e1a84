/*
 * mbox.c - a vcore's mailbox: a bounded ring of events (ring.c) with many
 * producers (other vcores, plain threads, the arbiter) and one consumer
 * (the vcore, in vcore context), plus a bitmap of event types.
 *
 * The ring lives in memory the process can write, and the arbiter posts
 * into it: so a producer that finds it full, or loses too many races for
 * it, falls back to the bitmap, which is a fetch_or and cannot be made to
 * spin or fail by whatever the process wrote (LESSONS 3.18). Falling back
 * sets the type's bit and counts an overflow: the event is never dropped
 * without a trace (seed 003 4.2.3).
 */
#include "internal.h"
#include "shared.h"

/*
 * pc__mbox_post() - queue @ev, or set its type's bit when the ring is full
 * (or looks corrupted) or @bit_only. Returns true if the message was
 * queued. Any thread; @ev->type must be < PC_EV_MAX.
 */
bool pc__mbox_post(struct pc__vcpd *v, const struct pc_event *ev,
		   bool bit_only)
{
	if (!bit_only && pc__ring_put(v->mbox.slot, PC_MBOX_SLOTS,
				      &v->mbox_tail, ev)) {
		atomic_fetch_add_explicit(&v->pstat.posted, 1,
					  memory_order_relaxed);
		return true;
	}
	pc__evbits_set(v->mbox.bits, ev->type);
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
	return pc__ring_take(v->mbox.slot, PC_MBOX_SLOTS, &v->mbox.head, out);
}

/*
 * pc__mbox_take_bits() - the bitmap word @word, cleared. Vcore context of
 * the mailbox's vcore.
 */
uint64_t pc__mbox_take_bits(struct pc__vcpd *v, unsigned int word)
{
	return pc__evbits_take(v->mbox.bits, word);
}
