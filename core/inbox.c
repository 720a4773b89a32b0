/* core/inbox.c: a queue other threads fill and one event loop empties
 * (see inbox.h).
 *
 * The eventfd is written only when the queue goes from empty to non-empty:
 * a loop that is already due to run the queue is not woken again, so a
 * burst of posts costs one write and one read. */
#include "core/inbox.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

struct inbox {
	pthread_mutex_t mu;
	struct inbox_item *head, *tail;
	int efd;
	struct event *ev;
};

/* Takes the whole queue and runs it in order; items posted meanwhile wait
 * for the next wake-up, so one busy poster cannot keep the loop here. */
static void inbox_run(struct inbox *ib)
{
	pthread_mutex_lock(&ib->mu);
	struct inbox_item *it = ib->head;
	ib->head = ib->tail = NULL;
	pthread_mutex_unlock(&ib->mu);
	while (it) {
		struct inbox_item *next = it->next;
		it->next = NULL;
		it->fn(it);   /* may free it, or post it again */
		it = next;
	}
}

static void inbox_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	uint64_t n;
	ssize_t r = read(fd, &n, sizeof(n));
	(void)r;   /* EAGAIN: another wake-up already emptied the counter */
	inbox_run(arg);
}

struct inbox *inbox_new(struct event_base *base)
{
	struct inbox *ib = calloc(1, sizeof(*ib));
	if (!ib)
		return NULL;
	ib->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ib->efd < 0) {
		free(ib);
		return NULL;
	}
	pthread_mutex_init(&ib->mu, NULL);
	ib->ev = event_new(base, ib->efd, EV_READ | EV_PERSIST, inbox_cb, ib);
	if (!ib->ev || event_add(ib->ev, NULL) < 0) {
		if (ib->ev)
			event_free(ib->ev);
		pthread_mutex_destroy(&ib->mu);
		close(ib->efd);
		free(ib);
		return NULL;
	}
	return ib;
}

void inbox_post(struct inbox *ib, struct inbox_item *item, void (*fn)(struct inbox_item *item))
{
	item->fn = fn;
	item->next = NULL;
	pthread_mutex_lock(&ib->mu);
	bool was_empty = ib->head == NULL;
	if (ib->tail)
		ib->tail->next = item;
	else
		ib->head = item;
	ib->tail = item;
	pthread_mutex_unlock(&ib->mu);
	if (was_empty) {
		uint64_t one = 1;
		ssize_t w = write(ib->efd, &one, sizeof(one));
		(void)w;   /* only fails when the counter is full: still readable */
	}
}

void inbox_free(struct inbox **ibp)
{
	struct inbox *ib = *ibp;
	if (!ib)
		return;
	*ibp = NULL;
	/* Functions run here may post again (to this inbox too). */
	while (ib->head)
		inbox_run(ib);
	event_free(ib->ev);
	close(ib->efd);
	pthread_mutex_destroy(&ib->mu);
	free(ib);
}
