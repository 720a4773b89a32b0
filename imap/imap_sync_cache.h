/* imap/imap_sync_cache.h: the store reads of a view's catch-up
 * (imap_view_sync: the mailbox record, the change records past the view's
 * MODSEQ, the keyword table), made once per pass of a loop's change feed
 * for all of the loop's sessions that have the same mailbox selected.
 *
 * A delivery into a mailbox that N sessions of a loop watch in IDLE made
 * each of them read the same three things, each in a transaction of its
 * own: with 8 such sessions and 32 others delivering into the mailbox,
 * a third of the server's CPU.  imap_notify.c opens a cache around a pass
 * (imap_sync_cache_begin/_end, on the loop's thread); in between, the
 * calls below hand a session what a session before it in the same pass
 * read, asked with the same arguments; outside a pass, and for anything
 * not read yet, they read the store.  What a pass reads is as fresh as
 * its first reader's: a change committed meanwhile wakes the loop again.
 * The one write of a catch-up, the \Recent claim, updates the cached
 * mailbox record (imap_sync_cache_mailbox_put), so the next session sees
 * the interval claimed and does not claim again. */
#ifndef POSTINO_IMAP_SYNC_CACHE_H
#define POSTINO_IMAP_SYNC_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "storage/storage.h"

/* Mailboxes one pass keeps; a further one replaces the oldest. */
#define IMAP_SYNC_CACHE_MAILBOXES 4

struct imap_sync_cache_entry;

struct imap_sync_cache {
	struct imap_sync_cache_entry *e[IMAP_SYNC_CACHE_MAILBOXES];
	unsigned next;             /* the slot a new mailbox takes */
};

/* On a loop's thread: calls on this thread share reads until _end, which
 * frees what was kept.  Not nested. */
void imap_sync_cache_begin(struct imap_sync_cache *c);
void imap_sync_cache_end(struct imap_sync_cache *c);

/* store_mailbox_get_by_id, store_changes_since and store_keywords_get,
 * from the pass's cache when one is open and has the answer. */
int imap_sync_cache_mailbox(struct store *st, uint32_t mailbox_id, struct store_mailbox *mbox_r);
int imap_sync_cache_changes(struct store *st, uint32_t mailbox_id, uint64_t since,
			    struct store_change *out, size_t max, size_t *n_r);
int imap_sync_cache_keywords(struct store *st, uint32_t mailbox_id, struct store_keywords *kw_r);
/* The mailbox record as a write of this thread left it (a \Recent claim):
 * later reads of the pass get it. */
void imap_sync_cache_mailbox_put(const struct store_mailbox *mbox);

#endif
