/*
 * provision.h - the provisioner of the stress tests, playing the arbiter:
 * a pthread that takes random cores of the process away and gives them
 * back, with warnings from 0 to 200 us, as fast as it can (thousands of
 * changes a second here), through the test hooks pc_vcore_preempt() and
 * pc_vcore_restore().
 */
#ifndef PARCORE_TEST_PROVISION_H
#define PARCORE_TEST_PROVISION_H

#include <stdbool.h>
#include <stdint.h>

/* Starts it on a process of @nvcores vcores, for @ns. */
void test_provisioner_start(int nvcores, uint64_t ns);
/* True once it has stopped and every core is back. */
bool test_provisioner_done(void);
/* Waits until it is done; returns the changes it made. */
long test_provisioner_join(void);

/* How long a stress test runs: $PC_STRESS_SECONDS, else @dflt seconds. */
uint64_t test_stress_ns(unsigned long dflt);
/*
 * Lets the uthreads of a stress test run for @ns: with the provisioner
 * taking the cores of @nvcores vcores away and back if @provision, else
 * asleep. Uthread context.
 */
void test_stress_run(int nvcores, uint64_t ns, bool provision);

#endif
