/* Unit tests for imap/imap_snap.c: the cache keeps the newest snapshot of
 * each mailbox (a new UIDVALIDITY replaces it, an older state never does),
 * finds a state by MODSEQ, drops idle snapshots least recently used first
 * once they pass their byte budget but never one a session holds, and
 * survives threads taking and dropping references while another publishes
 * new states. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>

#include "imap/imap_snap.h"

static const int owner_a, owner_b;   /* two stores */

static struct imap_snap *mk(const void *owner, uint32_t mbox, uint32_t uidv, uint64_t modseq,
			    size_t n)
{
	uint32_t *u = malloc((n ? n : 1) * sizeof(*u));
	assert_non_null(u);
	for (size_t i = 0; i < n; i++)
		u[i] = (uint32_t)i + 1;
	struct imap_snap *sn = imap_snap_new(owner, mbox, uidv, modseq, u, n);
	assert_non_null(sn);
	return sn;
}

static int teardown(void **state)
{
	(void)state;
	imap_snap_cache_clear();
	return 0;
}

static void test_newest_wins(void **state)
{
	(void)state;
	struct imap_snap *s5 = mk(&owner_a, 1, 100, 5, 3), *s7 = mk(&owner_a, 1, 100, 7, 4);
	imap_snap_cache_put(s5);
	imap_snap_cache_put(s7);
	imap_snap_cache_put(s5);   /* older: ignored */
	struct imap_snap *g = imap_snap_cache_get(&owner_a, 1, 100);
	assert_ptr_equal(g, s7);
	imap_snap_release(&g);
	assert_null(g);
	g = imap_snap_cache_get_at(&owner_a, 1, 100, 5);
	assert_null(g);
	g = imap_snap_cache_get_at(&owner_a, 1, 100, 7);
	assert_ptr_equal(g, s7);
	imap_snap_release(&g);
	/* Other store, other UIDVALIDITY: not this one. */
	assert_null(imap_snap_cache_get(&owner_b, 1, 100));
	assert_null(imap_snap_cache_get(&owner_a, 1, 101));
	/* A recreated mailbox (new UIDVALIDITY) replaces it even at a lower
	 * MODSEQ. */
	struct imap_snap *r = mk(&owner_a, 1, 101, 2, 1);
	imap_snap_cache_put(r);
	g = imap_snap_cache_get(&owner_a, 1, 101);
	assert_ptr_equal(g, r);
	imap_snap_release(&g);
	/* Private lists (modseq 0) are never cached. */
	struct imap_snap *p = mk(&owner_a, 2, 100, 0, 1);
	imap_snap_cache_put(p);
	assert_null(imap_snap_cache_get(&owner_a, 2, 100));
	imap_snap_release(&p);
	/* Ours outlive the cache's. */
	imap_snap_cache_clear();
	assert_int_equal(s7->count, 4);
	assert_int_equal(s7->uids[3], 4);
	imap_snap_release(&s5);
	imap_snap_release(&s7);
	imap_snap_release(&r);
}

static void test_idle_budget(void **state)
{
	(void)state;
	/* 12 idle lists of 8 MiB (calloc'd: untouched pages cost nothing)
	 * against a 64 MiB budget, one of them held throughout. */
	enum { N = 12, EACH = 2 * 1024 * 1024 };
	struct imap_snap *held = NULL;
	for (uint32_t i = 0; i < N; i++) {
		uint32_t *u = calloc(EACH, sizeof(*u));
		assert_non_null(u);
		struct imap_snap *sn = imap_snap_new(&owner_a, 10 + i, 1, 1, u, EACH);
		assert_non_null(sn);
		imap_snap_cache_put(sn);
		if (i == 0)
			held = sn;
		else
			imap_snap_release(&sn);
	}
	size_t entries = 0, idle = 0;
	imap_snap_cache_stats(&entries, &idle);
	/* Checked at each put, when the new one is still held by its maker:
	 * the budget may be passed by that one. */
	assert_true(idle <= 64u * 1024 * 1024 + EACH * sizeof(uint32_t) + 4096);
	assert_true(entries < N);
	assert_true(entries >= 7);
	/* The held one, the oldest, is still there; the newest too. */
	struct imap_snap *g = imap_snap_cache_get(&owner_a, 10, 1);
	assert_ptr_equal(g, held);
	imap_snap_release(&g);
	g = imap_snap_cache_get(&owner_a, 10 + N - 1, 1);
	assert_non_null(g);
	imap_snap_release(&g);
	/* The least recently used idle ones went first. */
	assert_null(imap_snap_cache_get(&owner_a, 11, 1));
	imap_snap_release(&held);
}

/* ---- threads ---- */

static _Atomic int stop;

static void *reader(void *arg)
{
	(void)arg;
	unsigned long seen = 0;
	while (!stop) {
		struct imap_snap *g = imap_snap_cache_get(&owner_a, 1, 1);
		if (g) {
			/* A list is immutable and alive while referenced. */
			assert_int_equal(g->uids[g->count - 1], (uint32_t)g->count);
			seen++;
			imap_snap_release(&g);
		}
	}
	return (void *)seen;
}

static void test_threads(void **state)
{
	(void)state;
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader, NULL), 0);
	for (uint64_t m = 1; m <= 20000; m++) {
		struct imap_snap *sn = mk(&owner_a, 1, 1, m, 1 + m % 64);
		imap_snap_cache_put(sn);
		imap_snap_release(&sn);
	}
	stop = 1;
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	size_t entries = 0, idle = 0;
	imap_snap_cache_stats(&entries, &idle);
	assert_int_equal(entries, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_newest_wins, teardown),
		cmocka_unit_test_teardown(test_idle_budget, teardown),
		cmocka_unit_test_teardown(test_threads, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
