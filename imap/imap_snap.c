/* imap/imap_snap.c: shared immutable UID lists and their cache
 * (imap_snap.h).
 *
 * One entry per mailbox (its newest published snapshot) in a chained hash
 * table, and every entry on one LRU list.  The cache holds a reference of
 * its own; an entry whose only reference is the cache's is "idle".  Idle
 * entries are kept up to SNAP_IDLE_BYTES in all and dropped oldest first,
 * but only the put that takes the cache over that many bytes walks the
 * list, so the common put costs O(1).  The check runs at each put, while
 * the new snapshot is still held by its maker, so the idle bytes may pass
 * the budget by that one snapshot until the next put. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "imap/imap_snap.h"

#define SNAP_BUCKETS 4096u                    /* power of two */
#define SNAP_IDLE_BYTES (64u * 1024u * 1024u) /* kept for re-SELECT */

static pthread_mutex_t snap_mu = PTHREAD_MUTEX_INITIALIZER;
static struct imap_snap *snap_table[SNAP_BUCKETS];
static struct imap_snap *lru_head, *lru_tail; /* head: most recently used */
static size_t snap_entries, snap_bytes;

static size_t snap_size(const struct imap_snap *sn)
{
	return sizeof(*sn) + sn->count * sizeof(uint32_t);
}

static size_t bucket_of(const void *owner, uint32_t mailbox_id)
{
	uintptr_t h = (uintptr_t)owner >> 4;
	h ^= (uintptr_t)mailbox_id * 2654435761u;
	return (size_t)(h ^ (h >> 13)) & (SNAP_BUCKETS - 1);
}

struct imap_snap *imap_snap_new(const void *owner, uint32_t mailbox_id, uint32_t uidvalidity,
				uint64_t modseq, uint32_t *uids, size_t count)
{
	struct imap_snap *sn = calloc(1, sizeof(*sn));
	if (!sn) {
		free(uids);
		return NULL;
	}
	atomic_init(&sn->refs, 1);
	sn->owner = owner;
	sn->mailbox_id = mailbox_id;
	sn->uidvalidity = uidvalidity;
	sn->modseq = modseq;
	sn->uids = uids;
	sn->count = count;
	return sn;
}

void imap_snap_release(struct imap_snap **sp)
{
	struct imap_snap *sn = *sp;
	*sp = NULL;
	if (!sn)
		return;
	/* acq_rel: the freeing thread must see every other holder's reads
	 * finished (they happen before their own decrement). */
	if (atomic_fetch_sub_explicit(&sn->refs, 1, memory_order_acq_rel) == 1) {
		free(sn->uids);
		free(sn);
	}
}

static struct imap_snap *snap_ref(struct imap_snap *sn)
{
	atomic_fetch_add_explicit(&sn->refs, 1, memory_order_relaxed);
	return sn;
}

/* ---- under snap_mu ---- */

static struct imap_snap **slot_find(const void *owner, uint32_t mailbox_id)
{
	struct imap_snap **pp = &snap_table[bucket_of(owner, mailbox_id)];
	while (*pp && ((*pp)->owner != owner || (*pp)->mailbox_id != mailbox_id))
		pp = &(*pp)->hnext;
	return pp;
}

static void lru_unlink(struct imap_snap *sn)
{
	if (sn->lru_prev)
		sn->lru_prev->lru_next = sn->lru_next;
	else
		lru_head = sn->lru_next;
	if (sn->lru_next)
		sn->lru_next->lru_prev = sn->lru_prev;
	else
		lru_tail = sn->lru_prev;
	sn->lru_prev = sn->lru_next = NULL;
}

static void lru_push_head(struct imap_snap *sn)
{
	sn->lru_prev = NULL;
	sn->lru_next = lru_head;
	if (lru_head)
		lru_head->lru_prev = sn;
	lru_head = sn;
	if (!lru_tail)
		lru_tail = sn;
}

/* Take sn (found at *pp) out of the cache; the caller drops the cache's
 * reference once the mutex is released. */
static void entry_remove(struct imap_snap **pp)
{
	struct imap_snap *sn = *pp;
	*pp = sn->hnext;
	sn->hnext = NULL;
	lru_unlink(sn);
	sn->cached = 0;
	snap_entries--;
	snap_bytes -= snap_size(sn);
}

/* Drop idle entries, least recently used first, until the idle ones fit
 * in SNAP_IDLE_BYTES.  Dropped entries are chained on *dropped. */
static void evict_idle(struct imap_snap **dropped)
{
	if (snap_bytes <= SNAP_IDLE_BYTES)
		return;
	size_t idle = 0;
	for (struct imap_snap *sn = lru_head; sn; sn = sn->lru_next)
		if (atomic_load_explicit(&sn->refs, memory_order_relaxed) == 1)
			idle += snap_size(sn);
	for (struct imap_snap *sn = lru_tail; sn && idle > SNAP_IDLE_BYTES;) {
		struct imap_snap *prev = sn->lru_prev;
		/* refs can only grow through the cache (under snap_mu), so an
		 * idle entry stays idle while we hold the mutex. */
		if (atomic_load_explicit(&sn->refs, memory_order_relaxed) == 1) {
			idle -= snap_size(sn);
			entry_remove(slot_find(sn->owner, sn->mailbox_id));
			sn->hnext = *dropped;
			*dropped = sn;
		}
		sn = prev;
	}
}

static void release_chain(struct imap_snap *sn)
{
	while (sn) {
		struct imap_snap *next = sn->hnext;
		sn->hnext = NULL;
		imap_snap_release(&sn);
		sn = next;
	}
}

/* ---- public ---- */

struct imap_snap *imap_snap_cache_get_at(const void *owner, uint32_t mailbox_id,
					 uint32_t uidvalidity, uint64_t modseq)
{
	struct imap_snap *got = NULL;
	pthread_mutex_lock(&snap_mu);
	struct imap_snap *sn = *slot_find(owner, mailbox_id);
	if (sn && sn->uidvalidity == uidvalidity && (modseq == 0 || sn->modseq == modseq)) {
		lru_unlink(sn);
		lru_push_head(sn);
		got = snap_ref(sn);
	}
	pthread_mutex_unlock(&snap_mu);
	return got;
}

struct imap_snap *imap_snap_cache_get(const void *owner, uint32_t mailbox_id, uint32_t uidvalidity)
{
	return imap_snap_cache_get_at(owner, mailbox_id, uidvalidity, 0);
}

void imap_snap_cache_put(struct imap_snap *snap)
{
	if (!snap || snap->modseq == 0)
		return;
	struct imap_snap *dropped = NULL;
	pthread_mutex_lock(&snap_mu);
	if (snap->cached) {
		pthread_mutex_unlock(&snap_mu);
		return;
	}
	struct imap_snap **pp = slot_find(snap->owner, snap->mailbox_id);
	struct imap_snap *old = *pp;
	/* A newer state of the same mailbox wins; a new UIDVALIDITY always
	 * does (the old one can never be asked for again). */
	if (old && old->uidvalidity == snap->uidvalidity && old->modseq >= snap->modseq) {
		pthread_mutex_unlock(&snap_mu);
		return;
	}
	if (old) {
		entry_remove(pp);
		old->hnext = dropped;
		dropped = old;
		pp = slot_find(snap->owner, snap->mailbox_id);
	}
	snap_ref(snap);
	snap->cached = 1;
	snap->hnext = NULL;
	*pp = snap;
	lru_push_head(snap);
	snap_entries++;
	snap_bytes += snap_size(snap);
	evict_idle(&dropped);
	pthread_mutex_unlock(&snap_mu);
	release_chain(dropped);
}

void imap_snap_cache_clear(void)
{
	struct imap_snap *dropped = NULL;
	pthread_mutex_lock(&snap_mu);
	while (lru_head) {
		struct imap_snap *sn = lru_head;
		entry_remove(slot_find(sn->owner, sn->mailbox_id));
		sn->hnext = dropped;
		dropped = sn;
	}
	pthread_mutex_unlock(&snap_mu);
	release_chain(dropped);
}

void imap_snap_cache_stats(size_t *entries_r, size_t *idle_bytes_r)
{
	pthread_mutex_lock(&snap_mu);
	size_t idle = 0;
	for (struct imap_snap *sn = lru_head; sn; sn = sn->lru_next)
		if (atomic_load_explicit(&sn->refs, memory_order_relaxed) == 1)
			idle += snap_size(sn);
	*entries_r = snap_entries;
	*idle_bytes_r = idle;
	pthread_mutex_unlock(&snap_mu);
}
