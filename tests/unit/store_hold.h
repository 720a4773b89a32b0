/* tests/unit/store_hold.h: a store transaction on another thread that
 * holds its locks until the test lets go: what a delivery, a STORE or an
 * expunge in progress holds, for the tests of what must not wait for it
 * (issue 11 point 1).  Header-only, for the unit tests. */
#ifndef POSTINO_TEST_STORE_HOLD_H
#define POSTINO_TEST_STORE_HOLD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "storage/storage.h"
#include "storage/storage_private.h"

struct store_hold {
	struct store *st;
	uint32_t mailbox_id;
	/* Takes the locks in txn (arg: this struct); NULL: the mailbox
	 * record's write lock, as a delivery to it takes.  Its result ends
	 * the transaction: STORE_OK commits, another code aborts. */
	store_txn_fn *take;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool holding, release;
	pthread_t t;
};

static int store_hold_fn(struct store *st, DB_TXN *txn, void *arg)
{
	struct store_hold *h = arg;
	int rc;
	if (h->take) {
		rc = h->take(st, txn, h);
	} else {
		struct store_mailbox m;
		rc = store_mbox_read(st, txn, h->mailbox_id, &m, DB_RMW);
	}
	pthread_mutex_lock(&h->mu);
	h->holding = true;
	pthread_cond_broadcast(&h->cv);
	while (!h->release)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
	return rc;
}

static void *store_hold_main(void *arg)
{
	struct store_hold *h = arg;
	return (void *)(intptr_t)store_txn_run(h->st, store_hold_fn, h);
}

/* Starts the transaction and returns once it holds its locks; 0, or -1
 * when the thread could not be made. */
static inline int store_hold_start(struct store_hold *h, struct store *st, uint32_t mailbox_id,
				   store_txn_fn *take)
{
	*h = (struct store_hold){.st = st, .mailbox_id = mailbox_id, .take = take};
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	if (pthread_create(&h->t, NULL, store_hold_main, h) != 0)
		return -1;
	pthread_mutex_lock(&h->mu);
	while (!h->holding)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
	return 0;
}

/* Lets go and returns the transaction's result. */
static inline int store_hold_end(struct store_hold *h)
{
	pthread_mutex_lock(&h->mu);
	h->release = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	void *ret = NULL;
	pthread_join(h->t, &ret);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	return (int)(intptr_t)ret;
}

#endif
