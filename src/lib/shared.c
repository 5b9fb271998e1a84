/*
 * shared.c - creating, mapping and sealing the pages shared with the
 * arbiter (layout: shared.h; protocol: docs/design/shared-page.md).
 *
 * Order matters for the seal: the arbiter maps its page writable, seals
 * it with F_SEAL_FUTURE_WRITE, and only then does the process map it; from
 * then on no writable mapping of it can be made (mmap fails with EPERM,
 * mprotect of the read-only one with EACCES). The process page is never
 * sealed: both sides write it.
 */
#include "internal.h"
#include "shared.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct pc__shared pc__sh;

static pthread_once_t shared_once = PTHREAD_ONCE_INIT;
static int shared_err;

static void *map_fd(int fd, size_t size, int prot)
{
	void *p = mmap(NULL, size, prot, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int memfd_sized(const char *name, size_t size, unsigned int flags)
{
	int fd = memfd_create(name, MFD_CLOEXEC | flags);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* The arbiter's half: what a daemon would do before passing the fds. */
static int arbiter_side(void)
{
	struct pc__arb_page *a;
	struct pc__proc_page *p;

	pc__sh.arb_fd = memfd_sized("parcore-arbiter",
				    sizeof(struct pc__arb_page),
				    MFD_ALLOW_SEALING);
	if (pc__sh.arb_fd < 0)
		return pc__sh.arb_fd;
	pc__sh.proc_fd = memfd_sized("parcore-process",
				     sizeof(struct pc__proc_page), 0);
	if (pc__sh.proc_fd < 0)
		return pc__sh.proc_fd;
	a = map_fd(pc__sh.arb_fd, sizeof(*a), PROT_READ | PROT_WRITE);
	p = map_fd(pc__sh.proc_fd, sizeof(*p), PROT_READ | PROT_WRITE);
	if (!a || !p)
		return -ENOMEM;
	a->magic = PC_SHARED_MAGIC;
	a->version = PC_SHARED_VERSION;
	for (int i = 0; i < PC_VCORE_MAX; i++)
		atomic_init(&a->vc[i].cpu, -1);
	if (fcntl(pc__sh.arb_fd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE |
			  F_SEAL_SEAL) < 0)
		return -errno;
	pc__sh.arb_rw = a;
	pc__sh.arb_proc = p;
	return 0;
}

/* The process's half: map both, fill in its own page's defaults. */
static int process_side(void)
{
	struct pc__proc_page *p;

	p = map_fd(pc__sh.proc_fd, sizeof(*p), PROT_READ | PROT_WRITE);
	pc__sh.arb = map_fd(pc__sh.arb_fd, sizeof(struct pc__arb_page),
			    PROT_READ);
	if (!p || !pc__sh.arb)
		return -ENOMEM;
	if (pc__sh.arb->magic != PC_SHARED_MAGIC ||
	    pc__sh.arb->version != PC_SHARED_VERSION)
		return -EPROTO;
	p->magic = PC_SHARED_MAGIC;
	p->version = PC_SHARED_VERSION;
	for (int t = 0; t < PC_EV_MAX; t++) {
		atomic_init(&p->route[t].vcoreid, 0);
		atomic_init(&p->route[t].flags,
			    PC_EVF_NOTIFY | PC_EVF_FALLBACK);
	}
	pc__sh.proc = p;
	return 0;
}

/*
 * pc__vcpd_init() - ready vcore @id's words, before the vcore exists
 * (vcore_alloc), so that the page is touched only for vcores in use.
 */
void pc__vcpd_init(int id)
{
	struct pc__vcpd *v = pc__vcpd(id);

	/* A vcore is in vcore context until its first pop. */
	atomic_store(&v->notif_disabled, 1);
	pc__ring_init(v->mbox.slot, PC_MBOX_SLOTS);
}

static void shared_setup(void)
{
	pc__ring_probe();
	shared_err = arbiter_side();
	if (!shared_err)
		shared_err = process_side();
	if (shared_err)
		fprintf(stderr, "parcore: cannot set up the shared pages: %s\n",
			strerror(-shared_err));
}

int pc__shared_init(void)
{
	pthread_once(&shared_once, shared_setup);
	return shared_err;
}
