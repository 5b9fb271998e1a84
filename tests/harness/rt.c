/*
 * rt.c - see rt.h.
 */
#include "rt.h"

#include <errno.h>
#include <parcore/parcore.h>
#include <stdlib.h>
#include <string.h>

#include "fifo_sched.h"
#include "test.h"

void test_enter(int nvcores)
{
	const char *sched = getenv("PC_TEST_SCHED");

	if (sched && strcmp(sched, "fifo") == 0)
		ASSERT_EQ(pc_sched_set(fifo_sched_ops()), 0);
	ASSERT_EQ(pc_vcore_limit_set(nvcores), 0);
	ASSERT_GE(pc_vcore_request(nvcores), 1);
	ASSERT_TRUE(pc_thread_self() != NULL);
}

void test_errno_set(int v)
{
	errno = v;
}

int test_errno_get(void)
{
	return errno;
}
