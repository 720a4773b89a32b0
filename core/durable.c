/* core/durable.c: group commit (see durable.h) and periodic checkpoints.
 *
 * Each loop thread links its waiters into a list of its own and bumps one
 * generation counter shared by every loop, under a mutex; the flusher
 * thread flushes everything committed up to the generation it saw (one
 * log flush covers every loop's transactions), publishes it as completed,
 * and wakes each loop that has waiters through the loop's inbox.  Each
 * loop appends its waiters in generation order, so the ones a flush
 * covered are always a prefix of its list. */
#include "core/durable.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/server.h"
#include "storage/storage.h"

/* One loop's waiters. */
struct durable_port {
	struct durable *d;
	struct inbox_item item;
	struct loop *loop;
	bool waiting;              /* under d->mu: has waiters the flusher must wake */
	bool posted;               /* under d->mu: item is in the loop's inbox */
	struct durable_waiter *head, *tail;   /* the loop's thread only */
};

struct durable {
	struct server *srv;
	pthread_t thread;
	bool running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t requested;        /* generation of the newest waiter */
	uint64_t completed;        /* every generation <= this is flushed */
	uint64_t failed_upto;      /* generations <= this got a failed flush */
	bool stop;
	unsigned nports;
	struct durable_port *ports;   /* one per loop */
};

static void durable_port_cb(struct inbox_item *it);

/* Under d->mu: wake every loop whose waiters may be covered now. */
static void durable_wake_locked(struct durable *d)
{
	for (unsigned i = 0; i < d->nports; i++) {
		struct durable_port *pt = &d->ports[i];
		if (!pt->waiting || pt->posted)
			continue;
		pt->waiting = false;
		pt->posted = true;
		loop_post(pt->loop, &pt->item, durable_port_cb);
	}
}

static void *flusher_main(void *arg)
{
	struct durable *d = arg;
	const unsigned interval = d->srv->cfg->checkpoint_interval;
	struct timespec next_ckpt;
	clock_gettime(CLOCK_REALTIME, &next_ckpt);
	next_ckpt.tv_sec += interval;

	pthread_mutex_lock(&d->mu);
	for (;;) {
		if (d->requested > d->completed) {
			uint64_t target = d->requested;
			pthread_mutex_unlock(&d->mu);
			int rc = store_sync(d->srv->store);
			if (rc != STORE_OK)
				log_error("store sync failed error=\"%s\"", store_strerror(rc));
			pthread_mutex_lock(&d->mu);
			if (rc != STORE_OK)
				d->failed_upto = target;
			d->completed = target;
			durable_wake_locked(d);
			continue;
		}
		if (d->stop)
			break;
		int rc = pthread_cond_timedwait(&d->cv, &d->mu, &next_ckpt);
		if (rc == ETIMEDOUT) {
			pthread_mutex_unlock(&d->mu);
			int crc = store_checkpoint(d->srv->store);
			if (crc != STORE_OK)
				log_warn("store checkpoint failed error=\"%s\"", store_strerror(crc));
			clock_gettime(CLOCK_REALTIME, &next_ckpt);
			next_ckpt.tv_sec += interval;
			pthread_mutex_lock(&d->mu);
		}
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

static void unlink_waiter(struct durable_port *d, struct durable_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		d->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		d->tail = w->prev;
	w->next = w->prev = NULL;
	w->queued = false;
}

/* On the port's loop: run the waiters the flush covered.  Whether waiters
 * remain is decided under the same lock hold that reads `completed`, so a
 * flush finishing meanwhile either is seen here or sees `waiting`. */
static void durable_port_run(struct durable_port *pt)
{
	struct durable *d = pt->d;
	pthread_mutex_lock(&d->mu);
	pt->posted = false;
	uint64_t completed = d->completed, failed_upto = d->failed_upto;
	if (pt->tail && pt->tail->gen > completed)
		pt->waiting = true;
	pthread_mutex_unlock(&d->mu);
	while (pt->head && pt->head->gen <= completed) {
		struct durable_waiter *w = pt->head;
		unlink_waiter(pt, w);
		w->cb(w, w->gen > failed_upto);
	}
}

static void durable_port_cb(struct inbox_item *it)
{
	durable_port_run((struct durable_port *)((char *)it - offsetof(struct durable_port, item)));
}

void durable_wait(struct server *srv, struct durable_waiter *w,
		  void (*cb)(struct durable_waiter *w, bool ok), void *arg)
{
	struct durable *d = srv->durable;
	struct loop *lp = loop_current();
	struct durable_port *pt = &d->ports[lp ? loop_index(lp) : 0];
	if (w->queued)
		unlink_waiter(w->port, w);
	w->cb = cb;
	w->arg = arg;
	w->port = pt;
	pthread_mutex_lock(&d->mu);
	w->gen = ++d->requested;
	pt->waiting = true;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
	w->next = NULL;
	w->prev = pt->tail;
	if (pt->tail)
		pt->tail->next = w;
	else
		pt->head = w;
	pt->tail = w;
	w->queued = true;
}

void durable_cancel(struct server *srv, struct durable_waiter *w)
{
	if (srv && srv->durable && w->queued)
		unlink_waiter(w->port, w);
}

int durable_start(struct server *srv)
{
	struct durable *d = calloc(1, sizeof(*d));
	if (!d)
		return -1;
	d->srv = srv;
	d->nports = loop_count(srv);
	d->ports = calloc(d->nports ? d->nports : 1, sizeof(*d->ports));
	if (!d->ports) {
		free(d);
		return -1;
	}
	for (unsigned i = 0; i < d->nports; i++) {
		d->ports[i].d = d;
		d->ports[i].loop = loop_at(srv, i);
	}
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	srv->durable = d;
	if (pthread_create(&d->thread, NULL, flusher_main, d) != 0)
		return -1;
	d->running = true;
	return 0;
}

void durable_stop(struct server *srv)
{
	struct durable *d = srv->durable;
	if (!d || !d->running)
		return;
	pthread_mutex_lock(&d->mu);
	d->stop = true;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
	pthread_join(d->thread, NULL);
	d->running = false;
	/* The loops have stopped: anything still queued was flushed by the
	 * thread's last pass and is run here. */
	for (unsigned i = 0; i < d->nports; i++)
		durable_port_run(&d->ports[i]);
}

void durable_free(struct server *srv)
{
	struct durable *d = srv->durable;
	if (!d)
		return;
	durable_stop(srv);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	free(d->ports);
	free(d);
	srv->durable = NULL;
}
