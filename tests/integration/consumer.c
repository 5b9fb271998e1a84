/*
 * consumer.c - a program outside the tree, built against the installed
 * library with `pkg-config --cflags --libs parcore` (install_pkgconfig.sh).
 * It is also the README's example.
 */
#include <parcore/parcore.h>
#include <stdint.h>
#include <stdio.h>

static void *square(void *arg)
{
	intptr_t n = (intptr_t)arg;

	pc_thread_yield(); /* let the others run; may resume on another vcore */
	return (void *)(n * n);
}

int main(void)
{
	struct pc_thread *t[8];
	intptr_t sum = 0;

	if (pc_vcore_request(2) < 1) /* main() is now a uthread on vcore 0 */
		return 1;
	for (intptr_t i = 0; i < 8; i++)
		pc_thread_create(&t[i], NULL, square, (void *)i);
	for (int i = 0; i < 8; i++) {
		void *r;

		pc_thread_join(t[i], &r);
		sum += (intptr_t)r;
	}
	printf("sum of squares 0..7 = %ld on %d vcores\n", (long)sum,
	       pc_vcore_count());
	return sum == 140 ? 0 : 1;
}
