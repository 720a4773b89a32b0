/* imap/imap_claim.c: see imap_claim.h. */
#include <stdbool.h>
#include <stdlib.h>

#include "core/conn.h"
#include "core/log.h"
#include "core/server.h"
#include "core/workpool.h"
#include "imap/imap_claim.h"
#include "imap/imap_recent.h"
#include "imap/imap_session.h"
#include "imap/imap_sync_cache.h"
#include "imap/imap_view.h"

struct imap_claim {
	struct work w;
	struct store *store;
	uint32_t mailbox_id;
	uint32_t last;                 /* the newest message held back */
	struct imap_session *s;        /* NULL once the view is gone */
	struct imap_view *v;
	int rc;
	uint32_t first;
	struct store_mailbox after;
};

/* The store's answer into the view: [first, UIDNEXT) is this session's.
 * Room for the interval was reserved before the claim. */
static void claim_keep(struct imap_view *v, uint32_t first, const struct store_mailbox *after)
{
	v->recent.asked = after->uidnext;
	imap_recent_add(&v->recent, first, after->uidnext, 0);
	imap_sync_cache_mailbox_put(after);   /* claimed: not by the next one */
}

static void claim_run(struct work *w)
{
	struct imap_claim *c = (struct imap_claim *)w;
	c->rc = store_mailbox_claim_recent(c->store, c->mailbox_id, &c->first, NULL, &c->after);
}

static void claim_done(struct work *w)
{
	struct imap_claim *c = (struct imap_claim *)w;
	struct imap_session *s = c->s;
	struct imap_view *v = c->v;
	if (v) {
		v->claim = NULL;
		if (w->ran && c->rc == STORE_OK) {
			claim_keep(v, c->first, &c->after);
		} else {
			/* Nothing claimed: the messages are told without
			 * \Recent here and stay unclaimed for another session
			 * (as when a claim in place fails). */
			conn_log(s->c, PLOG_WARN, "imap claim recent mailbox=%u error=%s",
				 (unsigned)c->mailbox_id, w->ran ? store_strerror(c->rc) : "stopped");
			if (v->recent.asked <= c->last)
				v->recent.asked = c->last + 1;
		}
		imap_session_claimed(s);
	}
	free(c);
}

int imap_claim_recent(struct imap_session *s, struct imap_view *v,
		      const struct store_mailbox *mbox, uint32_t last)
{
	if (v->readonly || last < v->recent.asked)
		return 0;   /* nothing to claim: handed out before */
	if (v->claim)
		return 1;   /* one is running: it covers these too */
	/* Below the first_recent_uid of the record the sync read, every
	 * message is claimed: another session was told first. */
	if (mbox->first_recent_uid > last) {
		v->recent.asked = mbox->first_recent_uid;
		return 0;
	}
	/* A claim must never be lost: claim only with room to keep it. */
	if (imap_recent_reserve(&v->recent) < 0)
		return 0;
	uint32_t first = 0;
	struct store_mailbox after;
	bool was = store_thread_nowait(true);
	int rc = store_mailbox_claim_recent(s->store, v->mailbox_id, &first, NULL, &after);
	store_thread_nowait(was);
	if (rc == STORE_ERR_BUSY) {
		struct imap_claim *c = calloc(1, sizeof(*c));
		if (c) {
			c->w.run = claim_run;
			c->w.done = claim_done;
			c->store = s->store;
			c->mailbox_id = v->mailbox_id;
			c->last = last;
			c->s = s;
			c->v = v;
			if (workpool_submit(s->srv->workpool, conn_loop(s->c), &c->w) == 0) {
				v->claim = c;
				conn_log(s->c, PLOG_DEBUG, "store busy: \\Recent claimed by a worker");
				return 1;
			}
			free(c);
		}
		/* No worker to take it: wait here, as before the pool. */
		rc = store_mailbox_claim_recent(s->store, v->mailbox_id, &first, NULL, &after);
	}
	if (rc != STORE_OK)
		return 0;   /* nothing claimed; told without \Recent */
	claim_keep(v, first, &after);
	return 0;
}

void imap_claim_detach(struct imap_view *v)
{
	if (v->claim) {
		v->claim->s = NULL;
		v->claim->v = NULL;
		v->claim = NULL;
	}
}
