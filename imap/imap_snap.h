/* imap/imap_snap.h: immutable UID lists shared between the sessions that
 * see a mailbox the same way, and the process-wide cache that finds them
 * (imap_snap.c).
 *
 * A snapshot is the ascending UID list of one view (seq n = uids[n - 1]).
 * It never changes once made: a session whose view changes makes a new one
 * (copy-on-write) or takes the one another session already made for the
 * same state.  When a snapshot is exactly the store's state at a MODSEQ
 * (modseq != 0) it can be published in the cache, keyed by (store,
 * mailbox id, UIDVALIDITY); a session that reaches that state, or SELECTs
 * the mailbox, takes it from there instead of copying.  So N sessions idling
 * on one mailbox hold one list, not N.
 *
 * Thread-safe: sessions on different loop threads share snapshots.  The
 * reference count is atomic; the cache table is under one mutex.  The cache
 * keeps the newest snapshot of each mailbox while any session holds it, and
 * a bounded number of bytes of snapshots no session holds (least recently
 * used dropped first), so that re-SELECTing a large mailbox stays cheap. */
#ifndef POSTINO_IMAP_SNAP_H
#define POSTINO_IMAP_SNAP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct imap_snap {
	atomic_uint refs;
	const void *owner;        /* the store it came from (cache key) */
	uint32_t mailbox_id, uidvalidity;
	uint64_t modseq;          /* the store's state at this MODSEQ; 0: one view's own */
	size_t count;
	uint32_t *uids;           /* ascending, count entries */

	/* Private to imap_snap.c, under the cache mutex. */
	struct imap_snap *hnext, *lru_prev, *lru_next;
	int cached;
};

/* Wrap uids[0..count) (malloc'd, ascending; ownership passes, also on
 * failure) in a snapshot holding one reference.  NULL when out of memory. */
struct imap_snap *imap_snap_new(const void *owner, uint32_t mailbox_id, uint32_t uidvalidity,
				uint64_t modseq, uint32_t *uids, size_t count);
/* Drop one reference; the last frees it.  *sp becomes NULL. */
void imap_snap_release(struct imap_snap **sp);

/* The newest cached snapshot of a mailbox, with a reference for the
 * caller; NULL when none. */
struct imap_snap *imap_snap_cache_get(const void *owner, uint32_t mailbox_id, uint32_t uidvalidity);
/* The cached snapshot of exactly that state, referenced; NULL when the
 * cache holds another (or none). */
struct imap_snap *imap_snap_cache_get_at(const void *owner, uint32_t mailbox_id,
					 uint32_t uidvalidity, uint64_t modseq);
/* Offer snap (modseq != 0) to the cache: it replaces an older snapshot of
 * its mailbox and is ignored when the cache has a newer one.  The caller
 * keeps its own reference. */
void imap_snap_cache_put(struct imap_snap *snap);
/* Forget every cached snapshot (tests, and when a store is closed).
 * Sessions keep theirs. */
void imap_snap_cache_clear(void);
/* Snapshots in the cache, and the bytes of those no session holds. */
void imap_snap_cache_stats(size_t *entries_r, size_t *idle_bytes_r);

#endif
