/*
 * key.c - uthread-local keys.
 *
 * A key is a slot index plus the slot's generation: deleting a key bumps
 * the generation, so values stored under the old key are invisible to a
 * new key in the same slot (every uthread's value starts NULL) and a
 * deleted key is refused. Each uthread's values live in an array that is
 * allocated the first time it sets one.
 */
#include "internal.h"

#include <stdlib.h>

#define KEY_IDX_BITS 8
#define KEY_IDX_MASK ((1u << KEY_IDX_BITS) - 1)
/* Destructor rounds at exit, as PTHREAD_DESTRUCTOR_ITERATIONS. */
#define KEY_DTOR_ROUNDS 4

_Static_assert(PC_KEYS_MAX <= (1 << KEY_IDX_BITS), "key index bits");

struct pc__keyval {
	void *value;
	unsigned int gen;
};

/* gen is odd while the key is live. */
static struct {
	atomic_uint gen;
	_Atomic(pc_key_dtor_fn) dtor;
} keys[PC_KEYS_MAX];

static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;

static bool key_decode(pc_key_t key, unsigned int *idx, unsigned int *gen)
{
	*idx = key & KEY_IDX_MASK;
	*gen = key >> KEY_IDX_BITS;
	return *idx < PC_KEYS_MAX && (*gen & 1) &&
	       atomic_load_explicit(&keys[*idx].gen, memory_order_acquire) ==
		       *gen;
}

int pc_key_create(pc_key_t *key, pc_key_dtor_fn dtor)
{
	int ret = -EAGAIN;

	if (!key)
		return -EINVAL;
	pthread_mutex_lock(&keys_lock);
	for (unsigned int i = 0; i < PC_KEYS_MAX; i++) {
		unsigned int gen = atomic_load_explicit(&keys[i].gen,
							memory_order_relaxed);

		if (gen & 1)
			continue;
		gen = (gen + 1) & (UINT32_MAX >> KEY_IDX_BITS);
		atomic_store_explicit(&keys[i].dtor, dtor,
				      memory_order_relaxed);
		/* Release pairs with the acquire in key_decode(). */
		atomic_store_explicit(&keys[i].gen, gen, memory_order_release);
		*key = i | (gen << KEY_IDX_BITS);
		ret = 0;
		break;
	}
	pthread_mutex_unlock(&keys_lock);
	return ret;
}

int pc_key_delete(pc_key_t key)
{
	unsigned int idx, gen;
	int ret = -EINVAL;

	pthread_mutex_lock(&keys_lock);
	if (key_decode(key, &idx, &gen)) {
		atomic_store_explicit(&keys[idx].gen,
				      (gen + 1) & (UINT32_MAX >> KEY_IDX_BITS),
				      memory_order_release);
		ret = 0;
	}
	pthread_mutex_unlock(&keys_lock);
	return ret;
}

int pc_key_set(pc_key_t key, const void *value)
{
	struct pc_thread *t = pc__thread_current();
	unsigned int idx, gen;

	if (!t)
		return -EPERM;
	if (!key_decode(key, &idx, &gen))
		return -EINVAL;
	if (!t->keys) {
		t->keys = calloc(PC_KEYS_MAX, sizeof(*t->keys));
		if (!t->keys)
			return -ENOMEM;
	}
	t->keys[idx].value = (void *)value;
	t->keys[idx].gen = gen;
	return 0;
}

void *pc_key_get(pc_key_t key)
{
	struct pc_thread *t = pc__thread_current();
	unsigned int idx, gen;

	if (!t || !t->keys || !key_decode(key, &idx, &gen) ||
	    t->keys[idx].gen != gen)
		return NULL;
	return t->keys[idx].value;
}

/*
 * pc__keys_run_dtors() - run the destructors of @t's non-NULL values of
 * live keys, repeating while destructors set new values (at most
 * KEY_DTOR_ROUNDS rounds). Uthread context of @t, at exit.
 */
void pc__keys_run_dtors(struct pc_thread *t)
{
	for (int round = 0; t->keys && round < KEY_DTOR_ROUNDS; round++) {
		bool ran = false;

		for (unsigned int i = 0; i < PC_KEYS_MAX; i++) {
			struct pc__keyval *kv = &t->keys[i];
			pc_key_dtor_fn dtor;
			void *v = kv->value;

			if (!v || atomic_load_explicit(&keys[i].gen,
						       memory_order_acquire) !=
					  kv->gen)
				continue;
			kv->value = NULL;
			dtor = atomic_load_explicit(&keys[i].dtor,
						    memory_order_relaxed);
			if (dtor) {
				dtor(v);
				ran = true;
			}
		}
		if (!ran)
			break;
	}
}

/* pc__keys_free() - release @t's value array. Any context. */
void pc__keys_free(struct pc_thread *t)
{
	free(t->keys);
	t->keys = NULL;
}
