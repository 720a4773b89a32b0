/* imap/imap_notify.c: the change feed from the store to the IMAP sessions
 * that have a mailbox selected (DESIGN.md "Sessions see each other").
 *
 * The store calls one hook after each committed change to a mailbox
 * (store_set_notify), on whichever thread committed it.  Sessions live on
 * core's event loops (core/loop.h), each loop keeping the list of its own
 * sessions with a mailbox selected; the hook adds the mailbox to the
 * pending set of every loop that has such sessions and wakes that loop
 * through its inbox (one wake-up covers all the changes that arrive
 * before the loop runs), and the loop hands the news to each of its
 * sessions whose view is that mailbox.  A change made by another process
 * (the admin CLI) is not announced and is seen at the session's next
 * sync. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/loop.h"
#include "imap/imap_session.h"
#include "imap/imap_view.h"

/* More distinct mailboxes than this pending on one loop: every session of
 * the loop looks (a sync of an unchanged mailbox costs one read). */
#define NOTIFY_PENDING_MAX 64

struct notify_loop {
	struct inbox_item item;
	struct loop *loop;
	atomic_uint nsessions;            /* registered on this loop */
	struct imap_session *head;        /* the loop's thread only */
	pthread_mutex_t mu;               /* guards the pending set and posted */
	uint32_t pending[NOTIFY_PENDING_MAX];
	unsigned npending;
	bool all;
	bool posted;
};

static pthread_mutex_t notify_mu = PTHREAD_MUTEX_INITIALIZER;
static struct store *notify_store;        /* the store whose hook is ours */
static struct notify_loop *notify_loops;  /* one per loop of the server */
static unsigned notify_nloops;

static void notify_loop_run(struct inbox_item *it)
{
	struct notify_loop *nl = (struct notify_loop *)it;
	uint32_t ids[NOTIFY_PENDING_MAX];
	pthread_mutex_lock(&nl->mu);
	unsigned n = nl->npending;
	bool all = nl->all;
	memcpy(ids, nl->pending, n * sizeof(ids[0]));
	nl->npending = 0;
	nl->all = false;
	nl->posted = false;
	pthread_mutex_unlock(&nl->mu);
	/* A session's sync may close it (mailbox deleted: BYE), which only
	 * unregisters it later, from session_free; keep the next one first. */
	struct imap_session *next;
	for (struct imap_session *s = nl->head; s; s = next) {
		next = s->notify_next;
		if (!s->view)
			continue;
		bool hit = all;
		for (unsigned i = 0; i < n && !hit; i++)
			hit = s->view->mailbox_id == ids[i];
		if (hit)
			imap_session_notify(s);
	}
}

/* Any thread: the store committed a change to mailbox_id. */
static void imap_notify_hook(void *arg, uint32_t mailbox_id)
{
	struct notify_loop *loops = arg;
	for (unsigned i = 0; i < notify_nloops; i++) {
		struct notify_loop *nl = &loops[i];
		if (atomic_load(&nl->nsessions) == 0)
			continue;
		pthread_mutex_lock(&nl->mu);
		bool known = nl->all;
		for (unsigned k = 0; k < nl->npending && !known; k++)
			known = nl->pending[k] == mailbox_id;
		if (!known) {
			if (nl->npending < NOTIFY_PENDING_MAX)
				nl->pending[nl->npending++] = mailbox_id;
			else
				nl->all = true;
		}
		bool post = !nl->posted;
		nl->posted = true;
		pthread_mutex_unlock(&nl->mu);
		/* Only this caller saw posted false: nobody else posts the item
		 * before the loop has taken it (and cleared the flag). */
		if (post)
			loop_post(nl->loop, &nl->item, notify_loop_run);
	}
}

/* The per-loop lists, made once for the server's loops (the first session
 * to select anything), and the store hook pointed at them. */
static struct notify_loop *notify_loops_get(struct imap_session *s)
{
	pthread_mutex_lock(&notify_mu);
	if (notify_store != s->store) {
		struct server *srv = conn_server(s->c);
		unsigned n = loop_count(srv);
		struct notify_loop *loops = calloc(n, sizeof(*loops));
		if (loops) {
			for (unsigned i = 0; i < n; i++) {
				loops[i].loop = loop_at(srv, i);
				pthread_mutex_init(&loops[i].mu, NULL);
			}
			/* One store per process in the daemon; a previous
			 * store's lists had their sessions freed with it. */
			free(notify_loops);
			notify_loops = loops;
			notify_nloops = n;
			notify_store = s->store;
			store_set_notify(s->store, imap_notify_hook, loops);
		}
	}
	struct notify_loop *loops = notify_store == s->store ? notify_loops : NULL;
	pthread_mutex_unlock(&notify_mu);
	return loops;
}

static struct notify_loop *notify_loop_of(struct imap_session *s)
{
	struct notify_loop *loops = notify_loops_get(s);
	struct loop *lp = conn_loop(s->c);
	if (!loops || !lp)
		return NULL;
	unsigned i = loop_index(lp);
	return i < notify_nloops ? &loops[i] : NULL;
}

void imap_notify_register(struct imap_session *s)
{
	struct notify_loop *nl = notify_loop_of(s);
	if (!nl)
		return;
	for (struct imap_session *p = nl->head; p; p = p->notify_next)
		if (p == s)
			return;
	s->notify_next = nl->head;
	nl->head = s;
	atomic_fetch_add(&nl->nsessions, 1);
}

void imap_notify_unregister(struct imap_session *s)
{
	struct notify_loop *nl = notify_loop_of(s);
	if (!nl)
		return;
	for (struct imap_session **pp = &nl->head; *pp; pp = &(*pp)->notify_next) {
		if (*pp == s) {
			*pp = s->notify_next;
			s->notify_next = NULL;
			atomic_fetch_sub(&nl->nsessions, 1);
			return;
		}
	}
}
