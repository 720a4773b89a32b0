/* imap/imap_recent.h: the \Recent UIDs one session holds (imap_recent.c).
 *
 * RFC 3501 2.3.2: a message is \Recent in exactly one session, the first
 * to be notified of it; it is not passed on when that session ends.  The
 * store hands the unclaimed UIDs out as one interval per claim
 * ([first_recent_uid, UIDNEXT), store_mailbox_claim_recent, under the
 * mailbox record's lock), so the intervals of all sessions are disjoint and
 * every UID is handed out once.  A session keeps every interval it was
 * given: when another session claimed in between, its intervals are no
 * longer contiguous, and dropping the older one would leave those
 * messages \Recent nowhere.
 *
 * Each interval counts the messages of the view in it, so an interval
 * whose messages are all expunged is dropped once no later message can
 * land in it: the set stays one interval in the common case and never
 * holds more intervals than \Recent messages (plus one), within
 * IMAP_RECENT_RANGES_MAX.  A session at that bound claims nothing more:
 * the messages stay unclaimed in the store for the next session, still
 * \Recent in exactly one. */
#ifndef POSTINO_IMAP_RECENT_H
#define POSTINO_IMAP_RECENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAP_RECENT_RANGES_MAX 1024

/* UIDs [lo, hi), n of them messages of the view. */
struct imap_recent_range {
	uint32_t lo, hi;
	uint32_t n;
};

struct imap_recent {
	struct imap_recent_range *r;   /* ascending, disjoint */
	size_t count, cap;
	/* The store's UIDNEXT at this session's last claim: messages below
	 * it were handed out already (to us or to another session). */
	uint32_t asked;
};

bool imap_recent_has(const struct imap_recent *rc, uint32_t uid);
/* Room for one more interval: 0, or -1 at IMAP_RECENT_RANGES_MAX or out of
 * memory (then claim nothing: a claim must never be lost). */
int imap_recent_reserve(struct imap_recent *rc);
/* Add [lo, hi) holding n messages of the view, above every interval held
 * (the store's claims ascend); joins the last one when adjacent.  Needs a
 * successful imap_recent_reserve() first. */
void imap_recent_add(struct imap_recent *rc, uint32_t lo, uint32_t hi, uint32_t n);
/* Messages of ascending uids[0..n) that enter (dir > 0) or leave (dir < 0)
 * the view: each interval's count follows; returns how many are \Recent. */
size_t imap_recent_count(struct imap_recent *rc, const uint32_t *uids, size_t n, int dir);
/* Drop the intervals that hold no message of the view and can receive no
 * new one: every UID of theirs is at or below uid_hi, the highest UID the
 * view has announced. */
void imap_recent_prune(struct imap_recent *rc, uint32_t uid_hi);
void imap_recent_free(struct imap_recent *rc);

#endif
