/*
 * clock.c - the embedded arbiter's clock: one thread that sleeps until the
 * next thing due and does it. Two things come due: preemption deadlines
 * (revoke.c forces the vcores past theirs) and alarms (alarm.c posts
 * PC_EV_ALARM). A daemon arbiter keeps the same duties on its own clock.
 *
 * Everything it reads and writes is under grant_lock, which its condition
 * variable waits on; whoever adds something due sooner kicks it.
 */
#include "internal.h"

#include "../common/sys.h"

static pthread_cond_t clock_cond;
static bool clock_up;

static void *clock_loop(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&pc__rt.grant_lock);
	for (;;) {
		uint64_t now = pc__now_ns();
		uint64_t next = pc__preempt_force_due_locked(now);
		uint64_t alarm = pc__alarms_due_locked(now);

		if (alarm < next)
			next = alarm;
		if (next == UINT64_MAX) {
			pthread_cond_wait(&clock_cond, &pc__rt.grant_lock);
		} else {
			struct timespec ts = pc__ns_to_ts(next);

			pthread_cond_timedwait(&clock_cond, &pc__rt.grant_lock,
					       &ts);
		}
	}
	return NULL;
}

/* pc__clock_start_locked() - see internal.h. */
int pc__clock_start_locked(void)
{
	pthread_condattr_t ca;
	pthread_t th;
	int err;

	if (clock_up)
		return 0;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&clock_cond, &ca);
	pthread_condattr_destroy(&ca);
	err = pthread_create(&th, NULL, clock_loop, NULL);
	if (err)
		return -err;
	pthread_detach(th);
	clock_up = true;
	return 0;
}

/* pc__clock_kick_locked() - see internal.h. */
void pc__clock_kick_locked(void)
{
	pthread_cond_signal(&clock_cond);
}
