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
 * sync.
 *
 * Sessions with NOTIFY set (RFC 5465, imap_notify_set.c) are on the same
 * lists, with or without a mailbox selected: the loop reads each changed
 * mailbox's record once (its owner) and hands the ids to the NOTIFY
 * sessions of that owner; and the store's list hook (CREATE, DELETE,
 * RENAME, SUBSCRIBE) and metadata hook (SETMETADATA) queue a copy of each
 * change per loop, in one queue so their order is kept, handed the same
 * way.  A RESETKEY goes in the same queue (imap_notify_urlmech), for the
 * user's sessions with the mailbox selected (RFC 4467 7). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/loop.h"
#include "imap/imap_session.h"
#include "imap/imap_sync_cache.h"
#include "imap/imap_notify_set.h"
#include "imap/imap_view.h"

/* More distinct mailboxes than this pending on one loop: every session of
 * the loop looks (a sync of an unchanged mailbox costs one read). */
#define NOTIFY_PENDING_MAX 256
/* List and metadata changes queued on one loop before its sessions run,
 * in number and in octets (a SETMETADATA may name many entries); past
 * either they get NOTIFICATIONOVERFLOW (RFC 5465 5.8). */
#define NOTIFY_LISTS_MAX 1024
#define NOTIFY_LISTS_BYTES_MAX (1024 * 1024)

struct notify_list_item {
	struct notify_list_item *next;
	enum { ITEM_LIST, ITEM_META, ITEM_URLMECH } kind;
	struct store_list_change ch;   /* LIST: strings point into the item */
	struct imap_notify_meta m;     /* META: entries and their strings too */
	struct {                       /* URLMECH: a RESETKEY (imap_notify_urlmech) */
		uint32_t user_id, mailbox_id;   /* mailbox 0: every mailbox */
		char conn[CONN_ID_MAX];         /* the session that made it */
	} key;
	uint64_t origin;
	size_t size;                   /* the allocation, for the bound */
};

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
	struct notify_list_item *lists, **lists_tail;
	unsigned nlists;
	size_t lists_bytes;
	bool lists_overflow;
};

static pthread_mutex_t notify_mu = PTHREAD_MUTEX_INITIALIZER;
static struct store *notify_store;        /* the store whose hook is ours */
static struct notify_loop *notify_loops;  /* one per loop of the server */
static unsigned notify_nloops;

/* The NOTIFY sessions of the loop: what changed, by owner. */
static void notify_loop_run_sets(struct notify_loop *nl, const uint32_t *ids, unsigned n, bool all,
				 struct notify_list_item *lists, bool lists_overflow)
{
	uint32_t users[NOTIFY_PENDING_MAX];
	bool read = false;
	struct imap_session *next;
	for (struct imap_session *s = nl->head; s; s = next) {
		next = s->notify_next;
		if (!s->nset || s->closing)
			continue;
		if (!read) {
			/* Once per changed mailbox, not per session: its owner. */
			for (unsigned i = 0; i < n; i++) {
				struct store_mailbox mb;
				users[i] = store_mailbox_get_by_id(s->store, ids[i], &mb) == STORE_OK
						   ? mb.user_id
						   : 0;
			}
			read = true;
		}
		if (lists_overflow)
			s->nset->overflow = true;
		for (struct notify_list_item *li = lists; li && s->nset; li = li->next) {
			if (li->kind == ITEM_META)
				imap_notify_set_meta_changed(s, &li->m, li->origin);
			else if (li->kind == ITEM_LIST)
				imap_notify_set_list_changed(s, &li->ch, li->origin);
		}
		if (s->nset && (n || all))
			imap_notify_set_changed(s, ids, users, n, all);
		else if (s->nset && lists_overflow && imap_notify_set_can_push(s))
			imap_notify_set_flush(s);
	}
}

/* RFC 4467 7: the loop's other sessions of the user with the mailbox
 * selected say "* OK [URLMECH INTERNAL]" with their next updates. */
static void notify_loop_run_urlmech(struct notify_loop *nl, const struct notify_list_item *li)
{
	/* As in notify_loop_run: a sync may close a session (BYE). */
	struct imap_session *next;
	for (struct imap_session *s = nl->head; s; s = next) {
		next = s->notify_next;
		if (!s->view || s->closing || s->user.id != li->key.user_id ||
		    (li->key.mailbox_id && s->view->mailbox_id != li->key.mailbox_id) ||
		    strcmp(conn_id(s->c), li->key.conn) == 0)
			continue;
		s->view->urlmech_pending = true;
		imap_session_notify(s);
	}
}

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
	struct notify_list_item *lists = nl->lists;
	bool lists_overflow = nl->lists_overflow;
	nl->lists = NULL;
	nl->lists_tail = &nl->lists;
	nl->nlists = 0;
	nl->lists_bytes = 0;
	nl->lists_overflow = false;
	pthread_mutex_unlock(&nl->mu);
	/* The sessions of a mailbox read its record and changes once
	 * (imap_sync_cache.h).  A session's sync may close it (mailbox
	 * deleted: BYE), which only unregisters it later, from session_free;
	 * keep the next one first. */
	struct imap_sync_cache cache;
	imap_sync_cache_begin(&cache);
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
	for (struct notify_list_item *li = lists; li; li = li->next)
		if (li->kind == ITEM_URLMECH)
			notify_loop_run_urlmech(nl, li);
	notify_loop_run_sets(nl, ids, n, all, lists, lists_overflow);
	imap_sync_cache_end(&cache);
	while (lists) {
		struct notify_list_item *li = lists;
		lists = li->next;
		free(li);
	}
}

/* Queues li (NULL: could not be made) on nl, or counts an overflow. */
static void notify_loop_queue(struct notify_loop *nl, struct notify_list_item *li)
{
	pthread_mutex_lock(&nl->mu);
	if (!li || nl->nlists >= NOTIFY_LISTS_MAX ||
	    li->size > NOTIFY_LISTS_BYTES_MAX - nl->lists_bytes) {
		nl->lists_overflow = true;
		free(li);
	} else {
		if (!nl->lists_tail)
			nl->lists_tail = &nl->lists;
		*nl->lists_tail = li;
		nl->lists_tail = &li->next;
		nl->nlists++;
		nl->lists_bytes += li->size;
	}
	bool post = !nl->posted;
	nl->posted = true;
	pthread_mutex_unlock(&nl->mu);
	if (post)
		loop_post(nl->loop, &nl->item, notify_loop_run);
}

/* Any thread: the store committed a CREATE, DELETE, RENAME or (UN)SUBSCRIBE. */
static void imap_notify_list_hook(void *arg, const struct store_list_change *ch)
{
	struct notify_loop *loops = arg;
	uint64_t origin = imap_notify_origin_get();
	size_t nlen = strlen(ch->name) + 1;
	size_t olen = ch->old_name ? strlen(ch->old_name) + 1 : 0;
	for (unsigned i = 0; i < notify_nloops; i++) {
		struct notify_loop *nl = &loops[i];
		if (atomic_load(&nl->nsessions) == 0)
			continue;
		size_t size = sizeof(struct notify_list_item) + nlen + olen;
		struct notify_list_item *li = calloc(1, size);
		if (li) {
			char *p = (char *)(li + 1);
			memcpy(p, ch->name, nlen);
			li->kind = ITEM_LIST;
			li->ch = *ch;
			li->ch.name = p;
			li->ch.old_name = NULL;
			if (olen) {
				memcpy(p + nlen, ch->old_name, olen);
				li->ch.old_name = p + nlen;
			}
			li->origin = origin;
			li->size = size;
		}
		notify_loop_queue(nl, li);
	}
}

/* Any thread: the store committed a SETMETADATA that changed entries. */
static void imap_notify_meta_hook(void *arg, uint32_t user_id, uint32_t mailbox_id,
				  const char *mailbox, const char *const *entries, size_t nentries)
{
	(void)mailbox;   /* each session reads the name as it is when it runs */
	struct notify_loop *loops = arg;
	uint64_t origin = imap_notify_origin_get();
	size_t strings = 0;
	for (size_t k = 0; k < nentries; k++)
		strings += strlen(entries[k]) + 1;
	/* Entry names are at most STORE_METADATA_ENTRY_MAX octets, and
	 * nentries is bounded by the command that made them: no overflow. */
	size_t size = sizeof(struct notify_list_item) + nentries * sizeof(char *) + strings;
	for (unsigned i = 0; i < notify_nloops; i++) {
		struct notify_loop *nl = &loops[i];
		if (atomic_load(&nl->nsessions) == 0)
			continue;
		struct notify_list_item *li =
			size <= NOTIFY_LISTS_BYTES_MAX ? calloc(1, size) : NULL;
		if (li) {
			const char **names = (const char **)(li + 1);
			char *p = (char *)(names + nentries);
			for (size_t k = 0; k < nentries; k++) {
				size_t len = strlen(entries[k]) + 1;
				memcpy(p, entries[k], len);
				names[k] = p;
				p += len;
			}
			li->kind = ITEM_META;
			li->m.user_id = user_id;
			li->m.mailbox_id = mailbox_id;
			li->m.entries = names;
			li->m.nentries = nentries;
			li->origin = origin;
			li->size = size;
		}
		notify_loop_queue(nl, li);
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
				loops[i].lists_tail = &loops[i].lists;
				pthread_mutex_init(&loops[i].mu, NULL);
			}
			/* One store per process in the daemon; a previous
			 * store's lists had their sessions freed with it. */
			free(notify_loops);
			notify_loops = loops;
			notify_nloops = n;
			notify_store = s->store;
			store_set_notify(s->store, imap_notify_hook, loops);
			store_set_list_notify(s->store, imap_notify_list_hook, loops);
			store_set_metadata_notify(s->store, imap_notify_meta_hook, loops);
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
	/* The view closes or NOTIFY ends: MessageNew's FETCH responses still
	 * owed are not this view's or not wanted (imap_notify_fetch.c). */
	imap_notify_wait_detach(s);
	/* NOTIFY (imap_notify_set.c) keeps a session on the list after its
	 * view closed; imap_notify_set_install(s, NULL) ends that. */
	if (s->nset)
		return;
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

/* RFC 4467 7 (RESETKEY): "Any current IMAP session logged in as the user
 * that has the mailbox selected will receive an untagged OK response with
 * the URLMECH status response code".  On s's loop, once the reset is
 * committed: every loop with sessions gets the news in its queue (in
 * order with the list and metadata changes).  s itself says it in its
 * tagged OK (RFC 4467 8).  mailbox_id 0: all the user's keys. */
void imap_notify_urlmech(struct imap_session *s, uint32_t mailbox_id)
{
	struct notify_loop *loops = notify_loops_get(s);
	if (!loops)
		return;
	for (unsigned i = 0; i < notify_nloops; i++) {
		struct notify_loop *nl = &loops[i];
		if (atomic_load(&nl->nsessions) == 0)
			continue;
		struct notify_list_item *li = calloc(1, sizeof(*li));
		if (li) {
			li->kind = ITEM_URLMECH;
			li->key.user_id = s->user.id;
			li->key.mailbox_id = mailbox_id;
			snprintf(li->key.conn, sizeof(li->key.conn), "%s", conn_id(s->c));
			li->size = sizeof(*li);
		}
		notify_loop_queue(nl, li);
	}
}
