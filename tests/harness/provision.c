/*
 * provision.c - the stress tests' provisioner (provision.h).
 */
#define _GNU_SOURCE
#include "provision.h"

#include <errno.h>
#include <parcore/parcore.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "test.h"

static int vcores;
static uint64_t run_ns;
static atomic_int done;
static atomic_long changes;
static pthread_t thread;

/* A random vcore, online if one is found in a few tries. */
static int pick_vcore(uint32_t *rnd)
{
	int v = 0;

	for (int tries = 0; tries < 8; tries++) {
		v = (int)(test_xorshift(rnd) % (uint32_t)vcores);
		if (pc_sched_vcore_online(v))
			break;
	}
	return v;
}

static bool preempt_one(uint32_t *rnd)
{
	int err = pc_vcore_preempt(pick_vcore(rnd), test_xorshift(rnd) % 200000);

	ASSERT_TRUE(err == 0 || err == -ENXIO || err == -EALREADY ||
		    err == -EBUSY);
	return err == 0;
}

static bool restore_one(void)
{
	int err = pc_vcore_restore();

	ASSERT_TRUE(err >= 0 || err == -ENOENT);
	return err >= 0;
}

/*
 * Preempts a random vcore or restores one core, the first more often the
 * more vcores there are; if that cannot be done, the other.
 */
static void provision_once(uint32_t *rnd)
{
	bool ok;

	if (test_xorshift(rnd) % (uint32_t)vcores <
	    (uint32_t)pc_vcore_count() - 1)
		ok = preempt_one(rnd) || restore_one();
	else
		ok = restore_one() || preempt_one(rnd);
	if (ok)
		atomic_fetch_add(&changes, 1);
}

static void *provisioner(void *arg)
{
	uint64_t end = test_now_ns() + run_ns;
	uint32_t rnd = 12345;

	(void)arg;
	/*
	 * The busy vcore threads share 2 CPUs with it: a higher priority
	 * (best effort: it needs privileges) is what lets it make changes
	 * by the thousand per second, as a real arbiter on its own core.
	 */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), -10);
	while (test_now_ns() < end) {
		uint64_t next = test_now_ns() + 20000; /* a sleep takes 1 ms here */

		provision_once(&rnd);
		while (test_now_ns() < next)
			;
	}
	while (pc_vcore_restore() != -ENOENT)
		atomic_fetch_add(&changes, 1);
	atomic_store(&done, 1);
	return NULL;
}

void test_provisioner_start(int nvcores, uint64_t ns)
{
	vcores = nvcores;
	run_ns = ns;
	ASSERT_EQ(pthread_create(&thread, NULL, provisioner, NULL), 0);
}

bool test_provisioner_done(void)
{
	return atomic_load(&done);
}

long test_provisioner_join(void)
{
	ASSERT_EQ(pthread_join(thread, NULL), 0);
	return atomic_load(&changes);
}

uint64_t test_stress_ns(unsigned long dflt)
{
	const char *env = getenv("PC_STRESS_SECONDS");

	return (env ? strtoull(env, NULL, 10) : dflt) * 1000000000ull;
}

void test_stress_run(int nvcores, uint64_t ns, bool provision)
{
	if (provision) {
		test_provisioner_start(nvcores, ns);
		ASSERT_GT(test_provisioner_join(), 0);
	} else {
		ASSERT_EQ(pc_thread_sleep(ns), 0);
	}
}
