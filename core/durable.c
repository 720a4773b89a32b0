/* core/durable.c: group commit (see durable.h) and periodic checkpoints.
 *
 * The loop thread only links waiters into a list it alone owns and bumps a
 * generation counter under a mutex; the flusher thread flushes everything
 * committed up to the generation it saw, publishes it as completed, and
 * wakes the loop through an eventfd.  Waiters are appended in generation
 * order, so the ones a flush covered are always a prefix of the list. */
#include "core/durable.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/config.h"
#include "core/log.h"
#include "core/server.h"
#include "storage/storage.h"

struct durable {
	struct server *srv;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t requested;        /* generation of the newest waiter */
	uint64_t completed;        /* every generation <= this is flushed */
	uint64_t failed_upto;      /* generations <= this got a failed flush */
	bool stop;
	int efd;
	struct event *wake;
	struct durable_waiter *head, *tail;   /* loop thread only */
};

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
			uint64_t one = 1;
			ssize_t w = write(d->efd, &one, sizeof(one));
			(void)w; /* a full eventfd counter still wakes the loop */
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

static void unlink_waiter(struct durable *d, struct durable_waiter *w)
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

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct durable *d = arg;
	uint64_t n;
	ssize_t r = read(d->efd, &n, sizeof(n));
	(void)r;
	pthread_mutex_lock(&d->mu);
	uint64_t completed = d->completed, failed_upto = d->failed_upto;
	pthread_mutex_unlock(&d->mu);
	while (d->head && d->head->gen <= completed) {
		struct durable_waiter *w = d->head;
		unlink_waiter(d, w);
		w->cb(w, w->gen > failed_upto);
	}
}

void durable_wait(struct server *srv, struct durable_waiter *w,
		  void (*cb)(struct durable_waiter *w, bool ok), void *arg)
{
	struct durable *d = srv->durable;
	if (w->queued)
		unlink_waiter(d, w);
	w->cb = cb;
	w->arg = arg;
	pthread_mutex_lock(&d->mu);
	w->gen = ++d->requested;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
	w->next = NULL;
	w->prev = d->tail;
	if (d->tail)
		d->tail->next = w;
	else
		d->head = w;
	d->tail = w;
	w->queued = true;
}

void durable_cancel(struct server *srv, struct durable_waiter *w)
{
	if (srv && srv->durable && w->queued)
		unlink_waiter(srv->durable, w);
}

int durable_start(struct server *srv)
{
	struct durable *d = calloc(1, sizeof(*d));
	if (!d)
		return -1;
	d->srv = srv;
	d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->efd < 0) {
		free(d);
		return -1;
	}
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	d->wake = event_new(srv->base, d->efd, EV_READ | EV_PERSIST, wake_cb, d);
	if (!d->wake || event_add(d->wake, NULL) < 0 ||
	    pthread_create(&d->thread, NULL, flusher_main, d) != 0) {
		if (d->wake)
			event_free(d->wake);
		close(d->efd);
		free(d);
		return -1;
	}
	srv->durable = d;
	return 0;
}

void durable_stop(struct server *srv)
{
	struct durable *d = srv->durable;
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	d->stop = true;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
	pthread_join(d->thread, NULL);
	/* Anything still queued was flushed by the thread's last pass. */
	wake_cb(d->efd, EV_READ, d);
	event_free(d->wake);
	close(d->efd);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	free(d);
	srv->durable = NULL;
}
