/*
 * ring.h - Vyukov's bounded ring of events, the queue under a vcore's
 * mailbox (mbox.c) and an application's event queue (evq.c).
 *
 * Slot i's seq says whose turn it is: a producer holding ticket t may fill
 * slot t % N when seq == t, and publishes it with seq = t + 1; a consumer
 * holding ticket h takes slot h % N when seq == h + 1, and frees it with
 * seq = h + N. Producers take tickets by CAS on the tail and consumers by
 * CAS on the head, so none waits for another to finish its copy.
 *
 * The ring may live in memory that another party can write (the mailbox
 * is in the process page, and the arbiter posts into it): neither side
 * loops on what it reads there without bound. A producer gives up after
 * PC_RING_TRIES lost races and reports the ring full; a consumer stops
 * when a slot claims a turn that no live ticket explains.
 */
#ifndef PARCORE_RING_H
#define PARCORE_RING_H

#include <parcore/event.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* One ring slot: seq is its turn (above). */
struct pc__mslot {
	_Atomic uint32_t seq;
	uint32_t pad;
	struct pc_event ev;
};

/* Lost CAS races before a producer gives up on the ring. */
#define PC_RING_TRIES 16

/* Looks once at what the CPU offers the producers (before any ring). */
void pc__ring_probe(void);
/* Makes @n slots (a power of two) empty, for tickets from 0. */
void pc__ring_init(struct pc__mslot *slot, uint32_t n);
/*
 * Queues @ev in the ring of @n slots; false if it is full (or a producer
 * lost PC_RING_TRIES races, or the ring looks corrupted). Any thread.
 */
bool pc__ring_put(struct pc__mslot *slot, uint32_t n, _Atomic uint32_t *tail,
		  const struct pc_event *ev);
/*
 * Whether the slot at @head holds a published event: one load of one
 * line, for a consumer that polls. A hint: another consumer may take it.
 */
static inline bool pc__ring_ready(const struct pc__mslot *slot, uint32_t n,
				  _Atomic uint32_t *head)
{
	uint32_t h = atomic_load_explicit(head, memory_order_relaxed);

	return atomic_load_explicit(&slot[h & (n - 1)].seq,
				    memory_order_acquire) == h + 1;
}
/* Takes the oldest event into @out; false if there is none. Any thread. */
bool pc__ring_take(struct pc__mslot *slot, uint32_t n, _Atomic uint32_t *head,
		   struct pc_event *out);

/* Bitmaps of event types (PC_EV_WORDS words): set one; take a word. */
#define PC_EV_WORDS (PC_EV_MAX / 64)
void pc__evbits_set(_Atomic uint64_t *bits, unsigned int type);
uint64_t pc__evbits_take(_Atomic uint64_t *bits, unsigned int word);
/* The event a set bit stands for: its type, no payload, no sender. */
struct pc_event pc__evbits_event(unsigned int type);

#endif /* PARCORE_RING_H */
