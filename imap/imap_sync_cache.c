/* imap/imap_sync_cache.c: one pass of a loop's change feed reads each
 * watched mailbox's record, changes and keywords once (see the header). */
#include "imap/imap_sync_cache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct imap_sync_cache_entry {
	uint32_t mailbox_id;
	bool have_mbox, have_changes;
	struct store_mailbox mbox;
	uint64_t since;            /* the changes: store_changes_since(since, max) */
	size_t max, n;
	struct store_change *changes;
	struct store_keywords *keywords;
};

/* The pass open on this thread (a loop's), or NULL. */
static _Thread_local struct imap_sync_cache *tl_cache;

void imap_sync_cache_begin(struct imap_sync_cache *c)
{
	memset(c, 0, sizeof(*c));
	tl_cache = c;
}

static void entry_free(struct imap_sync_cache_entry *e)
{
	if (!e)
		return;
	free(e->changes);
	free(e->keywords);
	free(e);
}

void imap_sync_cache_end(struct imap_sync_cache *c)
{
	for (unsigned i = 0; i < IMAP_SYNC_CACHE_MAILBOXES; i++)
		entry_free(c->e[i]);
	memset(c, 0, sizeof(*c));
	if (tl_cache == c)
		tl_cache = NULL;
}

/* The open pass's entry for mailbox_id; with `make`, a new one (replacing
 * the oldest) when there is none.  NULL: no pass, or out of memory. */
static struct imap_sync_cache_entry *entry_get(uint32_t mailbox_id, bool make)
{
	struct imap_sync_cache *c = tl_cache;
	if (!c)
		return NULL;
	for (unsigned i = 0; i < IMAP_SYNC_CACHE_MAILBOXES; i++)
		if (c->e[i] && c->e[i]->mailbox_id == mailbox_id)
			return c->e[i];
	if (!make)
		return NULL;
	struct imap_sync_cache_entry *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->mailbox_id = mailbox_id;
	entry_free(c->e[c->next]);
	c->e[c->next] = e;
	c->next = (c->next + 1) % IMAP_SYNC_CACHE_MAILBOXES;
	return e;
}

int imap_sync_cache_mailbox(struct store *st, uint32_t mailbox_id, struct store_mailbox *mbox_r)
{
	struct imap_sync_cache_entry *e = entry_get(mailbox_id, true);
	if (e && e->have_mbox) {
		*mbox_r = e->mbox;
		return STORE_OK;
	}
	int rc = store_mailbox_get_by_id(st, mailbox_id, mbox_r);
	if (rc == STORE_OK && e) {
		e->mbox = *mbox_r;
		e->have_mbox = true;
	}
	return rc;
}

void imap_sync_cache_mailbox_put(const struct store_mailbox *mbox)
{
	struct imap_sync_cache_entry *e = entry_get(mbox->id, false);
	if (e) {
		e->mbox = *mbox;
		e->have_mbox = true;
	}
}

int imap_sync_cache_changes(struct store *st, uint32_t mailbox_id, uint64_t since,
			    struct store_change *out, size_t max, size_t *n_r)
{
	struct imap_sync_cache_entry *e = entry_get(mailbox_id, true);
	if (e && e->have_changes && e->since == since && e->max == max) {
		memcpy(out, e->changes, e->n * sizeof(*out));
		*n_r = e->n;
		return STORE_OK;
	}
	int rc = store_changes_since(st, mailbox_id, since, out, max, n_r);
	/* The first batch a pass reads is kept (the one every caught-up
	 * session asks for); later ones, or other starting points, not. */
	if (rc == STORE_OK && e && !e->have_changes &&
	    (e->changes = malloc((*n_r ? *n_r : 1) * sizeof(*out)))) {
		memcpy(e->changes, out, *n_r * sizeof(*out));
		e->since = since;
		e->max = max;
		e->n = *n_r;
		e->have_changes = true;
	}
	return rc;
}

int imap_sync_cache_keywords(struct store *st, uint32_t mailbox_id, struct store_keywords *kw_r)
{
	struct imap_sync_cache_entry *e = entry_get(mailbox_id, true);
	if (e && e->keywords) {
		memcpy(kw_r, e->keywords, sizeof(*kw_r));
		return STORE_OK;
	}
	int rc = store_keywords_get(st, mailbox_id, kw_r);
	if (rc == STORE_OK && e && (e->keywords = malloc(sizeof(*kw_r))))
		memcpy(e->keywords, kw_r, sizeof(*kw_r));
	return rc;
}
