/*
 * parcore/parcore.h - the whole public API.
 *
 *   vcore.h   ask for cores; see what you were granted
 *   thread.h  uthreads: create, join, yield, sleep, park, local keys
 *   sched.h   replace the second-level scheduler
 *   preempt.h PAUSE points, ticks, preemption of uthreads that do not pause
 *   sync.h    locks, condition variables, semaphores, channels...: FIFO
 *             hand-off
 *   event.h   events, handlers, alarms; evq.h, application event queues
 */
#ifndef PARCORE_PARCORE_H
#define PARCORE_PARCORE_H

#include <parcore/common.h>
#include <parcore/event.h>
#include <parcore/evq.h>
#include <parcore/preempt.h>
#include <parcore/sched.h>
#include <parcore/sync.h>
#include <parcore/thread.h>
#include <parcore/vcore.h>

#endif /* PARCORE_PARCORE_H */
