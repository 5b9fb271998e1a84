/*
 * alarm.c - alarms: PC_EV_ALARM posted along its route at a deadline
 * (parcore/event.h), by the arbiter's clock (clock.c), as Akaros's alarm
 * device posts its events.
 *
 * A fixed table under grant_lock. An alarm's id is its slot and the
 * slot's generation, so that cancelling an alarm that has fired, whose
 * slot holds a newer alarm, is refused instead of cancelling that one.
 */
#include "internal.h"

#define PC_ALARM_SLOTS 256
#define PC_ALARM_GEN_SHIFT 8

static struct {
	uint64_t deadline; /* 0: free */
	uint64_t arg;
	unsigned int gen;
} alarms[PC_ALARM_SLOTS];

int pc_alarm_set(uint64_t deadline_ns, uint64_t arg)
{
	int id = -ENOSPC, err;

	if (deadline_ns == 0)
		return -EINVAL;
	if (atomic_load(&pc__rt.mode) != PC_MODE_M)
		return -EPERM;
	pc__grant_lock();
	err = pc__clock_start_locked();
	for (int i = 0; !err && i < PC_ALARM_SLOTS; i++) {
		if (alarms[i].deadline)
			continue;
		alarms[i].deadline = deadline_ns;
		alarms[i].arg = arg;
		id = i | (int)((alarms[i].gen & 0x7fffffu)
			       << PC_ALARM_GEN_SHIFT);
		pc__clock_kick_locked();
		break;
	}
	pc__grant_unlock();
	return err ? err : id;
}

int pc_alarm_cancel(int id)
{
	int slot = id & (PC_ALARM_SLOTS - 1), err = -ENOENT;

	if (id < 0)
		return -EINVAL;
	pc__grant_lock();
	if (alarms[slot].deadline &&
	    (alarms[slot].gen & 0x7fffffu) ==
		    (unsigned int)id >> PC_ALARM_GEN_SHIFT) {
		alarms[slot].deadline = 0;
		alarms[slot].gen++;
		err = 0;
	}
	pc__grant_unlock();
	return err;
}

/*
 * pc__alarms_due_locked() - see internal.h: posts every alarm due by
 * @now and frees its slot; returns the earliest deadline left.
 */
uint64_t pc__alarms_due_locked(uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (int i = 0; i < PC_ALARM_SLOTS; i++) {
		struct pc_event ev = { .type = PC_EV_ALARM };
		uint64_t d = alarms[i].deadline;

		if (!d)
			continue;
		if (d > now) {
			if (d < next)
				next = d;
			continue;
		}
		ev.arg[0] = alarms[i].arg;
		ev.arg[1] = d;
		alarms[i].deadline = 0;
		alarms[i].gen++;
		pc_event_post(&ev);
	}
	return next;
}
