/*
 * fifo_sched.h - a second 2LS: one global FIFO queue shared by all vcores.
 */
#ifndef FIFO_SCHED_H
#define FIFO_SCHED_H

#include <parcore/sched.h>

/* The table to pass to pc_sched_set() before the first vcore request. */
const struct pc_sched_ops *fifo_sched_ops(void);

#endif
