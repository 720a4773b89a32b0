/* imap/imap_recent.c: the set of \Recent UID intervals of one session
 * (imap_recent.h).  Pure: no store, no session, so it is unit-tested
 * alone.  Lookups are binary searches over the intervals, which are few. */
#include <stdlib.h>

#include "imap/imap_recent.h"

/* Index of the first interval whose hi is above uid; count when none. */
static size_t range_find(const struct imap_recent *rc, uint32_t uid)
{
	size_t lo = 0, hi = rc->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (rc->r[mid].hi <= uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool imap_recent_has(const struct imap_recent *rc, uint32_t uid)
{
	size_t i = range_find(rc, uid);
	return i < rc->count && rc->r[i].lo <= uid;
}

int imap_recent_reserve(struct imap_recent *rc)
{
	if (rc->count < rc->cap)
		return 0;
	if (rc->count >= IMAP_RECENT_RANGES_MAX)
		return -1;
	size_t nc = rc->cap ? rc->cap * 2 : 2;
	if (nc > IMAP_RECENT_RANGES_MAX)
		nc = IMAP_RECENT_RANGES_MAX;
	struct imap_recent_range *p = realloc(rc->r, nc * sizeof(*p));
	if (!p)
		return -1;
	rc->r = p;
	rc->cap = nc;
	return 0;
}

void imap_recent_add(struct imap_recent *rc, uint32_t lo, uint32_t hi, uint32_t n)
{
	if (lo >= hi)
		return;
	if (rc->count && rc->r[rc->count - 1].hi == lo) {
		rc->r[rc->count - 1].hi = hi;
		rc->r[rc->count - 1].n += n;
		return;
	}
	if (rc->count < rc->cap)
		rc->r[rc->count++] = (struct imap_recent_range){ lo, hi, n };
}

size_t imap_recent_count(struct imap_recent *rc, const uint32_t *uids, size_t n, int dir)
{
	size_t hits = 0;
	for (size_t k = 0; k < n; k++) {
		size_t i = range_find(rc, uids[k]);
		if (i == rc->count || rc->r[i].lo > uids[k])
			continue;
		hits++;
		if (dir > 0)
			rc->r[i].n++;
		else if (rc->r[i].n > 0)
			rc->r[i].n--;
	}
	return hits;
}

void imap_recent_prune(struct imap_recent *rc, uint32_t uid_hi)
{
	size_t w = 0;
	for (size_t i = 0; i < rc->count; i++) {
		if (rc->r[i].n == 0 && (uint64_t)rc->r[i].hi <= (uint64_t)uid_hi + 1)
			continue;
		rc->r[w++] = rc->r[i];
	}
	rc->count = w;
}

void imap_recent_free(struct imap_recent *rc)
{
	free(rc->r);
	*rc = (struct imap_recent){ 0 };
}
