/*
 * tick.c - ticks: the ticker thread, PAUSE points, and the preemption of
 * a uthread that does not pause (docs/design/ticks.md).
 */
#include "internal.h"

#include <parcore/preempt.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/sys.h"

__thread int pc_pause_pending __attribute__((tls_model("initial-exec")));

/* The quantum in force: the process's if it set one, else the 2LS's. */
static atomic_uint_fast64_t quantum = PC_QUANTUM_DEFAULT_NS;
static pthread_mutex_t quantum_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t process_quantum = UINT64_MAX; /* unset; quantum_lock */
static uint64_t sched_quantum;                /* 0: none; quantum_lock */
/* Bumped by every kick: the ticker sleeps on it. */
static atomic_uint tick_word;
/* The ticker sleeps until kicked: no vcore was busy (internal.h). */
atomic_int pc__ticker_idle;
/* Per vcore: nr_runs when its flag was set, or NO_TICK. Ticker only. */
static unsigned int tick_seen[PC_VCORE_MAX];
/* Per vcore: its thread's CPU time and run-queue wait at its last tick. */
static uint64_t tick_cpu[PC_VCORE_MAX], tick_wait[PC_VCORE_MAX];
#define NO_WAIT UINT64_MAX
/* Per vcore: its last tick found it a spinner on a crowded CPU. */
static bool tick_crowded[PC_VCORE_MAX];
#define NO_TICK (~0u)

#define STAT_INC(vc, field)                                              \
	atomic_fetch_add_explicit(&(vc)->tstat.field, 1, memory_order_relaxed)

/* ---- PAUSE points ---- */

void pc_pause_slow(void)
{
	struct pc__vcore *vc = pc__vcore_self();
	struct pc_thread *t = vc ? vc->current : NULL;

	/*
	 * The flag stays for a later PAUSE point outside a uthread, in a
	 * disabled section (its end yields), and inside the runtime: a 2LS
	 * callback that pauses runs in a nopreempt section, which a yield
	 * would end behind the runtime's back.
	 */
	if (!t || t->preempt_off || vc->irq.nopreempt)
		return;
	/*
	 * The PAUSE point's load of the flag was relaxed: this one pairs
	 * with its setter's release (a load, not a fence: TSan has none).
	 */
	(void)__atomic_load_n(&pc_pause_pending, __ATOMIC_ACQUIRE);
	__atomic_store_n(&pc_pause_pending, 0, __ATOMIC_RELAXED);
	pc_thread_yield();
}

void pc_preempt_disable(void)
{
	struct pc_thread *t = pc__thread_current();

	if (t)
		t->preempt_off++;
}

int pc_preempt_enable(void)
{
	struct pc_thread *t = pc__thread_current();

	if (!t)
		return 0;
	if (!t->preempt_off)
		return -EINVAL;
	if (--t->preempt_off == 0)
		pc_pause();
	return 0;
}

/* pc__vcore_pause() - see internal.h. */
bool pc__vcore_pause(struct pc__vcore *vc, atomic_uint_fast64_t *count)
{
	/* Race: a vcore published before its thread ran (no flag yet). */
	int *flag = atomic_load(&vc->pause_flag);

	if (!flag)
		return false;
	/*
	 * Counted before the flag is set: once set, the uthread may yield,
	 * and whatever it let run may read the count (test_tick's pausing
	 * loop read 0 under qemu, the ticker stopped between the two). The
	 * release carries the count to pc_pause_slow()'s acquire load.
	 */
	if (count)
		atomic_fetch_add_explicit(count, 1, memory_order_relaxed);
	__atomic_store_n(flag, 1, __ATOMIC_RELEASE);
	return true;
}

int pc_sched_pause(int vcoreid)
{
	struct pc__vcore *vc;

	if (vcoreid < 0 || vcoreid >= PC_VCORE_MAX)
		return -EINVAL;
	vc = pc__vcore_get(vcoreid);
	if (!vc || !pc_sched_vcore_online(vcoreid))
		return -ENXIO;
	pc__vcore_pause(vc, NULL);
	return 0;
}

int pc_sched_preempt(int vcoreid)
{
	struct pc__vcore *vc;
	int err = pc_sched_pause(vcoreid);

	if (err)
		return err;
	vc = pc__vcore_get(vcoreid);
	/*
	 * Its own vcore: the flag is all. A yield here could be inside a
	 * runtime nopreempt section (a 2LS callback) or a signal handler.
	 */
	if (vc == pc__vcore_self() || !pc_preempt_supported())
		return 0;
	atomic_store_explicit(&vc->tick_due, 1, memory_order_relaxed);
	STAT_INC(vc, signals);
	pc__notify(vcoreid, true);
	return 0;
}

/* ---- the preemption, in vcore context ---- */

/* pc__tick_preempt() - see internal.h. */
struct pc_thread *pc__tick_preempt(struct pc__vcore *vc, struct pc_thread *t)
{
	struct pc_thread *h = pc__handle(t);

	atomic_store_explicit(&vc->tick_due, 0, memory_order_relaxed);
	if (!vc->resume_movable || t->preempt_off) {
		/* Push-forward: the flag stays set, the next tick retries. */
		STAT_INC(vc, deferred);
		return t;
	}
	STAT_INC(vc, preemptions);
	/* A due sleeper may be why: it goes first (the loop runs sleepers
	 * only every so many passes). */
	pc__timer_run(vc, pc__now_ns());
	if (pc__rt.ops->thread_paused)
		pc__rt.ops->thread_paused(h);
	else
		pc__rt.ops->thread_runnable(h);
	return NULL;
}

/* ---- the ticker ---- */

/*
 * Something waits for busy vcore @i: uthreads its 2LS queued for it, or
 * a sleeper of its own that is due (only its own loop runs its sleep
 * queue while it is busy, so a spinner would hold a due sleeper for ever).
 */
static bool waited_for(int i, struct pc__vcore *vc, uint64_t now)
{
	return (pc__rt.ops->queued && pc__rt.ops->queued(i)) ||
	       atomic_load_explicit(&vc->next_deadline,
				    memory_order_relaxed) <= now;
}

/*
 * CPU time used by vcore @vc's thread, in ns (0 if unknown): the clock id
 * glibc's pthread_getcpuclockid() makes from a thread id (Linux ABI:
 * ~tid << 3, per-thread, scheduler clock).
 */
static uint64_t thread_cpu_ns(struct pc__vcore *vc)
{
	int tid = atomic_load_explicit(&vc->tid, memory_order_relaxed);
	struct timespec ts;

	if (tid <= 0 ||
	    clock_gettime((clockid_t)(~(unsigned int)tid << 3 | 4 | 2), &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Reads /proc/self/task/<@vc's thread>/@name into @buf; false if not. */
static bool read_task_file(struct pc__vcore *vc, const char *name, char *buf,
			   size_t len)
{
	int tid = atomic_load_explicit(&vc->tid, memory_order_relaxed);
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/%s", tid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

/*
 * Nanoseconds vcore @vc's thread waited on a run queue, ready to run
 * (schedstat); 0 if unknown.
 */
static uint64_t thread_wait_ns(struct pc__vcore *vc)
{
	unsigned long long run, wait;
	char buf[96];

	if (!read_task_file(vc, "schedstat", buf, sizeof(buf)) ||
	    sscanf(buf, "%llu %llu", &run, &wait) != 2)
		return 0;
	return wait;
}

/* Whether vcore @vc's thread is running or ready to run now (stat: R). */
static bool thread_runnable_now(struct pc__vcore *vc)
{
	char buf[256], *p;

	/* "tid (comm) S ...": comm may hold spaces and parentheses. */
	if (!read_task_file(vc, "stat", buf, sizeof(buf)))
		return false;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'R';
}

/*
 * Whether vcore @i's thread mostly slept in the kernel over the last
 * quantum: its uthread blocks in system calls (poll, epoll_wait,
 * nanosleep... in a loop). It is then inside libc, not at a safe point,
 * and a signal would only make a call that the kernel never restarts,
 * SA_RESTART or not, fail with EINTR (ticks.md). A spinner uses the
 * quantum's CPU, or its share of an oversubscribed CPU: the bar is an
 * eighth. Below it, a thread ready to run now is a spinner on a crowded
 * CPU, and the time it waited for a CPU counts as use; a thread asleep
 * now is not signalled (counting its waits too sent signals into the
 * polls of a loaded machine's test_tick, whose wake-ups waited for a
 * CPU). Nor does one such reading do: a poller caught between two
 * polls, just after a wake-up that waited long for a CPU, looks the
 * same, and a CI run's test_tick got EINTR so once. A spinner stays
 * runnable, so it is signalled at the second tick in a row that finds
 * it crowded; the poller would have to be caught between polls twice.
 * One system call on the ticker per tick of a held vcore; /proc is read
 * only below the bar, which costs a crowded spinner two ticks.
 */
static bool mostly_asleep(int i, struct pc__vcore *vc)
{
	uint64_t bar = atomic_load_explicit(&quantum, memory_order_relaxed) / 8;
	uint64_t cpu = thread_cpu_ns(vc), used = cpu - tick_cpu[i], wait, was;

	tick_cpu[i] = cpu;
	if (!cpu || used >= bar) {
		tick_crowded[i] = false;
		return false;
	}
	wait = thread_wait_ns(vc);
	was = tick_wait[i];
	tick_wait[i] = wait;
	/* No earlier reading (the first low tick): look again next tick. */
	if (!wait || was == NO_WAIT || !thread_runnable_now(vc) ||
	    used + (wait - was) < bar) {
		tick_crowded[i] = false;
		return true;
	}
	if (!tick_crowded[i]) {
		tick_crowded[i] = true;
		return true;
	}
	return false;
}

/*
 * One tick of vcore @i, busy: the first sets its pause flag; the next,
 * if nothing ran there since, interrupts it, unless its thread mostly
 * slept in system calls meanwhile (then the next tick looks again).
 */
static void tick_vcore(int i, struct pc__vcore *vc, uint64_t now)
{
	unsigned int runs;

	if (!waited_for(i, vc, now)) {
		tick_seen[i] = NO_TICK;
		return;
	}
	runs = atomic_load_explicit(&vc->nr_runs, memory_order_relaxed);
	if (tick_seen[i] == runs) {
		/* Where nothing is preempted a signal only does harm. */
		if (!pc_preempt_supported() || mostly_asleep(i, vc)) {
			STAT_INC(vc, deferred);
			return;
		}
		atomic_store_explicit(&vc->tick_due, 1, memory_order_relaxed);
		STAT_INC(vc, signals);
		pc__notify(i, true);
		return;
	}
	if (!pc__vcore_pause(vc, &vc->tstat.ticks))
		return;
	tick_seen[i] = runs;
	tick_cpu[i] = thread_cpu_ns(vc);
	tick_wait[i] = NO_WAIT; /* read only if its CPU time is low */
	tick_crowded[i] = false;
}

/* Ticks every busy vcore; returns whether any was busy. */
static bool tick_all(void)
{
	int max = atomic_load_explicit(&pc__rt.max_vcoreid,
				       memory_order_acquire);
	uint64_t now = pc__now_ns();
	bool busy = false;

	for (int i = 0; i < max; i++) {
		struct pc__vcore *vc = pc__vcore_get(i);

		if (!vc || !atomic_load(&vc->online) ||
		    atomic_load(&vc->idle) != PC_VC_BUSY) {
			tick_seen[i] = NO_TICK;
			continue;
		}
		busy = true;
		tick_vcore(i, vc, now);
	}
	return busy;
}

/*
 * Whether any vcore is busy, after announcing the ticker idle: Dekker
 * with pc__ticker_kick(), whose vcore stored idle := BUSY before it reads
 * pc__ticker_idle.
 */
static bool still_busy(void)
{
	int max = atomic_load_explicit(&pc__rt.max_vcoreid,
				       memory_order_acquire);

	atomic_exchange(&pc__ticker_idle, 1);
	for (int i = 0; i < max; i++) {
		struct pc__vcore *vc = pc__vcore_get(i);

		if (vc && atomic_load(&vc->idle) == PC_VC_BUSY) {
			atomic_store(&pc__ticker_idle, 0);
			return true;
		}
	}
	return false;
}

static void *ticker(void *unused)
{
	(void)unused;
	for (;;) {
		unsigned int word = atomic_load(&tick_word);
		uint64_t q = atomic_load(&quantum);
		struct timespec ts;

		/*
		 * Ticks off, or no vcore busy: until kicked (a quantum set,
		 * a vcore leaving idleness). With ticks off this once went
		 * round without sleeping while a vcore was busy, a CPU's
		 * worth of spinning (bench tick_cost found it).
		 */
		if (!q || (!tick_all() && !still_busy())) {
			pc__futex_wait((uint32_t *)&tick_word, word, NULL);
			continue;
		}
		ts = pc__ns_to_ts(pc__now_ns() + q);
		pc__futex_wait((uint32_t *)&tick_word, word, &ts);
	}
	return NULL;
}

static void kick(void)
{
	atomic_fetch_add(&tick_word, 1);
	pc__futex_wake((uint32_t *)&tick_word, 1);
}

/* pc__ticker_wake() - see internal.h. */
void pc__ticker_wake(void)
{
	if (atomic_exchange(&pc__ticker_idle, 0))
		kick();
}

/* pc__ticker_start() - see internal.h. */
int pc__ticker_start(void)
{
	pthread_t th;
	int err;

	for (int i = 0; i < PC_VCORE_MAX; i++)
		tick_seen[i] = NO_TICK;
	err = pthread_create(&th, NULL, ticker, NULL);
	if (err)
		return -err;
	pthread_detach(th);
	return 0;
}

/* ---- settings and counters ---- */

/* Sets the process's (@process) or the 2LS's quantum, and the one in force. */
static void quantum_update(bool process, uint64_t ns)
{
	pthread_mutex_lock(&quantum_lock);
	if (process)
		process_quantum = ns;
	else
		sched_quantum = ns;
	atomic_store(&quantum, process_quantum != UINT64_MAX ? process_quantum :
			       sched_quantum ? sched_quantum :
					       PC_QUANTUM_DEFAULT_NS);
	pthread_mutex_unlock(&quantum_lock);
}

int pc_preempt_quantum_set(uint64_t ns)
{
	if (ns && ns < PC_QUANTUM_MIN_NS)
		return -EINVAL;
	quantum_update(true, ns);
	kick();
	return 0;
}

/* pc__quantum_of_2ls() - see internal.h. */
void pc__quantum_of_2ls(uint64_t ns)
{
	quantum_update(false, ns);
}

uint64_t pc_preempt_quantum(void)
{
	return atomic_load(&quantum);
}

int pc_preempt_supported(void)
{
	/* The notification's interrupt, and a safe point where it lands. */
#if PC_ASAN
	return 0;
#else
	return pc__notify_interrupts();
#endif
}

int pc_preempt_stats(int vcoreid, struct pc_preempt_stats *out)
{
	struct pc__vcore *vc;

	if (vcoreid < 0 || vcoreid >= PC_VCORE_MAX || !out)
		return -EINVAL;
	vc = pc__vcore_get(vcoreid);
	if (!vc) {
		*out = (struct pc_preempt_stats){ 0 };
		return 0;
	}
	out->ticks = atomic_load(&vc->tstat.ticks);
	out->signals = atomic_load(&vc->tstat.signals);
	out->preemptions = atomic_load(&vc->tstat.preemptions);
	out->deferred = atomic_load(&vc->tstat.deferred);
	out->restarts = atomic_load(&vc->tstat.restarts);
	out->areas = atomic_load(&vc->tstat.areas);
	return 0;
}
