/* imap/imap_view.c: the selected mailbox as one session sees it
 * (imap_view.h): the seq <-> UID map, catching up with the store's change
 * records, sequence-set resolution, \Recent and the flag lists.
 *
 * Catching up is two steps.  collect() reads the change records past
 * v->modseq (store_changes_since, in batches) into three private lists:
 * expunges of messages in the view, UIDs of new messages not yet announced,
 * and UIDs whose flags others changed.  report() then writes what the
 * session may send now (RFC 3501 7.4.1: EXPUNGE only when allowed; EXISTS
 * never decreases without EXPUNGE).  imap_view_absorb() runs collect()
 * alone, dropping the flag changes this session's own STORE made (the
 * records at the MODSEQ it gave each message), so that they are not
 * reported twice, while new messages, expunges and flag changes made by
 * others meanwhile (a session on another loop) still are.
 *
 * A message has one change record, at its current MODSEQ: a new message
 * whose flags changed before we looked shows up only as FLAGS, and one
 * expunged before we looked only as EXPUNGE.  So "new" is any NEW or FLAGS
 * record for a UID above the view, and an EXPUNGE for a UID the view never
 * had is ignored.
 *
 * Invariant: the view is every message of the store's state at v->modseq
 * with a UID <= v->uid_hi, plus the pending expunges; the pending new
 * messages are those of that state above uid_hi.  UIDs only grow, so an
 * EXPUNGE record past v->modseq for a UID <= uid_hi is a message of the
 * view, and any other record above uid_hi a new one: collect() needs no
 * UID array.  SELECT takes count, uid_hi and MODSEQ from one read of the
 * mailbox record, so it is exact and O(1) at once.
 *
 * The UID array (seq <-> UID) is loaded on first need
 * (imap_view_uids_load): from the cache when another session published
 * this very state, else from the store's UID list (read between two
 * collects, cut at uid_hi, with the pending expunges merged back in).  It is
 * a shared snapshot (imap_snap.h): once a sync has reported every pending
 * change the view is exactly the store's state at v->modseq, and
 * view_apply() takes the cached snapshot of that state when there is one
 * and publishes its own copy when not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/conn.h"
#include "core/log.h"
#include "imap/imap_claim.h"
#include "imap/imap_context.h"
#include "imap/imap_qresync.h"
#include "imap/imap_session.h"
#include "imap/imap_snap.h"
#include "imap/imap_sync_cache.h"
#include "imap/imap_search.h"
#include "imap/imap_view.h"
#include "storage/storage.h"

/* Change records read per store call. */
#define VIEW_CHANGES_BATCH 512

/* The public view plus state only this file uses (allocated together). */
struct view_priv {
	struct imap_view v;
	uint32_t *pending_new;        /* new UIDs not yet in uids (EXISTS owed) */
	size_t nnew, new_cap;
	uint32_t *pending_flags;      /* UIDs whose flags others changed */
	size_t nflags, flags_cap;
};

static struct view_priv *priv(struct imap_view *v)
{
	return (struct view_priv *)v;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Sort ascending and drop duplicates. */
static void u32_sort_unique(uint32_t *a, size_t *n)
{
	if (*n < 2)
		return;
	qsort(a, *n, sizeof(*a), u32_cmp);
	size_t w = 1;
	for (size_t r = 1; r < *n; r++)
		if (a[r] != a[w - 1])
			a[w++] = a[r];
	*n = w;
}

/* Index of the first element >= x in ascending a[0..n). */
static size_t u32_lower_bound(const uint32_t *a, size_t n, uint32_t x)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool u32_contains(const uint32_t *a, size_t n, uint32_t x)
{
	size_t i = u32_lower_bound(a, n, x);
	return i < n && a[i] == x;
}

static int u32_push(uint32_t **a, size_t *n, size_t *cap, uint32_t x)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		if (nc > SIZE_MAX / sizeof(**a))
			return STORE_ERR_TEMP;
		uint32_t *p = realloc(*a, nc * sizeof(**a));
		if (!p)
			return STORE_ERR_TEMP;
		*a = p;
		*cap = nc;
	}
	(*a)[(*n)++] = x;
	return STORE_OK;
}

/* Remove from ascending a[] every element of ascending b[]: one merge
 * walk from the first element that can go. */
static void u32_remove_all(uint32_t *a, size_t *n, const uint32_t *b, size_t nb)
{
	if (nb == 0)
		return;
	size_t w = u32_lower_bound(a, *n, b[0]), j = 0;
	for (size_t r = w; r < *n; r++) {
		while (j < nb && b[j] < a[r])
			j++;
		if (j < nb && b[j] == a[r])
			continue;
		a[w++] = a[r];
	}
	*n = w;
}

/* The array's length: v->count once loaded, 0 before (a caller that
 * forgot imap_view_uids_load finds nothing rather than reading NULL). */
static size_t view_n(const struct imap_view *v)
{
	return v->snap ? v->count : 0;
}

static uint32_t view_max_uid(const struct imap_view *v)
{
	return view_n(v) ? v->uids[v->count - 1] : 0;
}

size_t imap_view_lower(const struct imap_view *v, uint32_t uid)
{
	return v->snap ? u32_lower_bound(v->uids, v->count, uid) : v->count;
}

uint32_t imap_view_seq(const struct imap_view *v, uint32_t uid)
{
	size_t n = view_n(v);
	size_t i = u32_lower_bound(v->uids, n, uid);
	return i < n && v->uids[i] == uid ? (uint32_t)(i + 1) : 0;
}

bool imap_view_is_recent(const struct imap_view *v, uint32_t uid)
{
	return imap_recent_has(&v->recent, uid);
}

bool imap_view_is_expunged(const struct imap_view *v, uint32_t uid)
{
	return u32_contains(v->pending_expunge, v->npending_expunge, uid);
}

uint32_t imap_view_store_flags(unsigned sysflags)
{
	uint32_t f = 0;
	if (sysflags & IMAP_FLAG_SEEN)
		f |= STORE_F_SEEN;
	if (sysflags & IMAP_FLAG_ANSWERED)
		f |= STORE_F_ANSWERED;
	if (sysflags & IMAP_FLAG_FLAGGED)
		f |= STORE_F_FLAGGED;
	if (sysflags & IMAP_FLAG_DELETED)
		f |= STORE_F_DELETED;
	if (sysflags & IMAP_FLAG_DRAFT)
		f |= STORE_F_DRAFT;
	return f;
}

struct own_change;
static int collect(struct imap_session *s, struct imap_view *v, const struct own_change *own,
		   size_t nown);

/* sn (NULL: unload) becomes the view's array; the caller checked that it
 * holds v->count UIDs. */
static void view_snap_set(struct imap_view *v, struct imap_snap *sn)
{
	imap_snap_release(&v->snap);
	v->snap = sn;
	v->uids = sn ? sn->uids : NULL;
}

/* ---- open / close ---- */

/* The cached snapshot of exactly the view's state, when another session
 * published it and nothing is pending here; NULL otherwise. */
static struct imap_snap *view_snap_cached(struct imap_session *s, struct imap_view *v)
{
	if (v->npending_expunge || priv(v)->nnew)
		return NULL;
	struct imap_snap *sn = imap_snap_cache_get_at(s->store, v->mailbox_id, v->uidvalidity,
						      v->modseq);
	if (sn && (sn->count != v->count || (sn->count && sn->uids[sn->count - 1] > v->uid_hi)))
		imap_snap_release(&sn);
	return sn;
}

/* ---- SELECT's store part: steps a worker may finish ---- */

int imap_view_load_init(struct imap_view_load *l, struct store *st, uint32_t user_id,
			const char *name, bool readonly)
{
	memset(l, 0, sizeof(*l));
	l->store = st;
	l->user_id = user_id;
	l->readonly = readonly;
	l->name = strdup(name);
	l->keywords = calloc(1, sizeof(*l->keywords));
	if (!l->name || !l->keywords) {
		imap_view_load_free(l);
		return STORE_ERR_TEMP;
	}
	return STORE_OK;
}

void imap_view_load_free(struct imap_view_load *l)
{
	free(l->name);
	free(l->keywords);
	l->name = NULL;
	l->keywords = NULL;
}

int imap_view_load_steps(struct imap_view_load *l)
{
	int rc = STORE_OK;
	switch (l->step) {
	case 0:
		if ((rc = store_mailbox_get(l->store, l->user_id, l->name, &l->mbox)) != STORE_OK)
			return rc;
		if (strlen(l->mbox.name) > STORE_MAILBOX_NAME_MAX)
			return STORE_ERR_CORRUPT;
		l->step = 1;
		/* fall through */
	case 1:
		/* RFC 3501 2.3.1.2: the read-write session claims \Recent;
		 * EXAMINE must not change it (RFC 3501 6.3.2).  The claim
		 * hands out its messages once: it is made here, and a step
		 * after it that must be made again does not make it again. */
		if (!l->readonly) {
			rc = store_mailbox_claim_recent(l->store, l->mbox.id, &l->first_recent,
							&l->claimed, &l->mbox);
			if (rc != STORE_OK)
				return rc;
		}
		l->step = 2;
		/* fall through */
	case 2:
		if ((rc = store_keywords_get(l->store, l->mbox.id, l->keywords)) != STORE_OK)
			return rc;
		l->step = 3;
		/* fall through */
	default:
		return STORE_OK;
	}
}

int imap_view_open_loaded(struct imap_session *s, struct imap_view_load *l,
			  struct imap_view **view_r, struct store_mailbox *mbox_r)
{
	*view_r = NULL;
	struct store_mailbox mbox = l->mbox;
	struct view_priv *p = calloc(1, sizeof(*p));
	if (!p)
		return STORE_ERR_TEMP;
	struct imap_view *v = &p->v;
	v->keywords = l->keywords;    /* the view's now */
	l->keywords = NULL;
	v->mailbox_id = mbox.id;
	v->readonly = l->readonly;
	int rc = STORE_OK;
	if (imap_recent_reserve(&v->recent) < 0) {
		rc = STORE_ERR_TEMP;
		goto fail;
	}
	if (!l->readonly) {
		imap_recent_add(&v->recent, l->first_recent, mbox.uidnext, l->claimed);
		v->recent.asked = mbox.uidnext;
		v->nrecent = l->claimed;
	} else {
		/* EXAMINE sees the messages no session has claimed yet as
		 * \Recent (RECENT n, FETCH FLAGS) without claiming them. */
		imap_recent_add(&v->recent, mbox.first_recent_uid, mbox.uidnext, mbox.recent);
		v->nrecent = mbox.recent;
	}
	/* One record, one instant: the view is the store's state at
	 * HIGHESTMODSEQ, every message below UIDNEXT.  No UID is read. */
	v->modseq = mbox.highestmodseq;
	v->modseq_told = v->modseq;
	v->uidvalidity = mbox.uidvalidity;
	v->uidnext = mbox.uidnext;
	v->uid_hi = mbox.uidnext - 1;
	v->count = mbox.messages;
	memcpy(v->name, mbox.name, strlen(mbox.name) + 1);
	/* Another session's array of this very state costs nothing to share. */
	view_snap_set(v, view_snap_cached(s, v));

	if (mbox_r)
		*mbox_r = mbox;
	*view_r = v;
	/* The change feed finds the session by its selected view. */
	s->view = v;
	imap_notify_register(s);
	return STORE_OK;
fail:
	imap_recent_free(&v->recent);
	free(v->keywords);
	free(p);
	return rc;
}

void imap_view_close(struct imap_session *s, struct imap_view **vp)
{
	struct imap_view *v = *vp;
	if (!v)
		return;
	if (s && s->view == v) {
		imap_notify_unregister(s);
		s->view = NULL;
	}
	struct view_priv *p = priv(v);
	imap_claim_detach(v);
	imap_context_view_end(v);
	imap_snap_release(&v->snap);
	imap_recent_free(&v->recent);
	free(v->keywords);
	free(v->saved);
	free(v->pending_expunge);
	free(p->pending_new);
	free(p->pending_flags);
	free(p);
	*vp = NULL;
}

/* ---- resolving sets ---- */

static int saved_resolve(const struct imap_view *v, uint32_t **uids_r, size_t *n_r)
{
	/* RFC 5182 2.1: "$" is the saved UIDs that still exist. */
	if (v->nsaved == 0)
		return 0;
	uint32_t *out = malloc(v->nsaved * sizeof(*out));
	if (!out)
		return -1;
	size_t k = 0;
	for (size_t i = 0; i < v->nsaved; i++)
		if (imap_view_seq(v, v->saved[i]))
			out[k++] = v->saved[i];
	if (k == 0) {
		free(out);
		return 0;
	}
	*uids_r = out;
	*n_r = k;
	return 0;
}

int imap_view_resolve(const struct imap_view *v, const struct imap_seqset *set, bool uid,
		      uint32_t **uids_r, size_t *n_r, const char **error_r)
{
	*uids_r = NULL;
	*n_r = 0;
	*error_r = NULL;
	if (set->saved) {
		if (saved_resolve(v, uids_r, n_r) < 0) {
			*error_r = "Out of memory";
			return -1;
		}
		return 0;
	}
	/* RFC 3501 9 seq-number: a message number above EXISTS is invalid;
	 * a UID that does not exist is simply not there (RFC 3501 6.4.8). */
	if (!uid && imap_seqset_highest(set) > v->count) {
		*error_r = "Invalid message sequence number";
		return -1;
	}
	if (v->count == 0)
		return 0;
	if (!v->snap) {
		*error_r = "[SERVERBUG] Sequence numbers not loaded";
		return -1;
	}
	/* "*" is the last message / the highest UID; normalising puts n:*
	 * with n above it as *:n, which names the last one (RFC 3501 9). */
	uint32_t star = uid ? view_max_uid(v) : (uint32_t)v->count;
	struct imap_seqset *norm = NULL;
	if (imap_seqset_normalize(set, star, &norm) < 0) {
		*error_r = "Out of memory";
		return -1;
	}
	/* Ranges are sorted and disjoint, so the result is ascending. */
	size_t total = 0;
	for (size_t r = 0; r < norm->count; r++) {
		uint32_t lo = norm->ranges[r].lo, hi = norm->ranges[r].hi;
		if (uid) {
			size_t a = u32_lower_bound(v->uids, v->count, lo);
			size_t b = hi == UINT32_MAX ? v->count
			                            : u32_lower_bound(v->uids, v->count, hi + 1);
			if (b > a)
				total += b - a;
		} else if (lo >= 1 && lo <= v->count) {
			total += (hi > v->count ? v->count : hi) - lo + 1;
		}
	}
	if (total == 0) {
		imap_seqset_free(&norm);
		return 0;
	}
	uint32_t *out = malloc(total * sizeof(*out));
	if (!out) {
		imap_seqset_free(&norm);
		*error_r = "Out of memory";
		return -1;
	}
	size_t k = 0;
	for (size_t r = 0; r < norm->count; r++) {
		uint32_t lo = norm->ranges[r].lo, hi = norm->ranges[r].hi;
		size_t a, b;
		if (uid) {
			a = u32_lower_bound(v->uids, v->count, lo);
			b = hi == UINT32_MAX ? v->count : u32_lower_bound(v->uids, v->count, hi + 1);
		} else {
			if (lo < 1 || lo > v->count)
				continue;
			a = lo - 1;
			b = hi > v->count ? v->count : hi;
		}
		for (size_t i = a; i < b; i++)
			out[k++] = v->uids[i];
	}
	imap_seqset_free(&norm);
	*uids_r = out;
	*n_r = k;
	return 0;
}

/* ---- flags ---- */

int imap_view_flags_write(const struct imap_view *v, struct buf *out, const struct store_msg *m)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} sys[] = {
		{ STORE_F_SEEN, "\\Seen" },       { STORE_F_ANSWERED, "\\Answered" },
		{ STORE_F_FLAGGED, "\\Flagged" }, { STORE_F_DELETED, "\\Deleted" },
		{ STORE_F_DRAFT, "\\Draft" },
	};
	int rc = buf_putc(out, '(');
	bool first = true;
	for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
		if (!(m->flags & sys[i].bit))
			continue;
		rc |= first ? 0 : buf_putc(out, ' ');
		rc |= buf_puts(out, sys[i].name);
		first = false;
	}
	/* \Recent is the session's (RFC 3501 2.3.2), not the stored bit. */
	if (imap_view_is_recent(v, m->uid)) {
		rc |= first ? 0 : buf_putc(out, ' ');
		rc |= buf_puts(out, "\\Recent");
		first = false;
	}
	for (size_t i = 0; i < v->keywords->count && i < 64; i++) {
		if (!(m->keywords & ((uint64_t)1 << i)))
			continue;
		rc |= first ? 0 : buf_putc(out, ' ');
		rc |= buf_puts(out, v->keywords->name[i]);
		first = false;
	}
	rc |= buf_putc(out, ')');
	return rc ? -1 : 0;
}

void imap_view_flags_announce(struct imap_session *s)
{
	struct imap_view *v = s->view;
	if (!v)
		return;
	struct buf kw;
	buf_init(&kw, 0);
	for (size_t i = 0; i < v->keywords->count; i++) {
		buf_putc(&kw, ' ');
		buf_puts(&kw, v->keywords->name[i]);
	}
	const char *k = kw.data ? kw.data : "";
	/* RFC 3501 7.2.6 FLAGS, 7.1 PERMANENTFLAGS: "\*" only while new
	 * keywords can still be created (the table holds
	 * STORE_KEYWORDS_MAX).  EXAMINE: nothing can be changed. */
	imap_untagged(s, "FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s)", k);
	if (v->readonly)
		imap_untagged(s, "OK [PERMANENTFLAGS ()] No permanent flags permitted");
	else
		imap_untagged(s, "OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s%s)] "
			      "Flags permitted",
			      k, v->keywords->count < STORE_KEYWORDS_MAX ? " \\*" : "");
	v->keywords_reported = v->keywords->count;
	buf_free(&kw);
}

/* Re-read the mailbox's keyword table and announce it when it grew: the
 * view never writes a keyword its client has not been given in FLAGS
 * (RFC 3501 7.2.6, RFC 9051 7.3.5), so whatever refreshes the table
 * outside a sync (which announces before its FETCH responses) comes here.
 * Callers are between responses. */
static int view_keywords_refresh(struct imap_session *s)
{
	struct imap_view *v = s->view;
	int rc = STORE_OK;
	if (v->keywords->count < STORE_KEYWORDS_MAX)
		rc = store_keywords_get(s->store, v->mailbox_id, v->keywords);
	if (v->keywords->count > v->keywords_reported)
		imap_view_flags_announce(s);
	return rc;
}

int imap_view_keywords_cover(struct imap_session *s, uint64_t mask)
{
	struct imap_view *v = s->view;
	if (!v)
		return STORE_ERR_NOTFOUND;
	/* Bits at or above n: keywords beyond the first n entries. */
	uint64_t beyond_reported = v->keywords_reported >= 64 ? 0 : mask >> v->keywords_reported;
	if (beyond_reported == 0)
		return STORE_OK;
	uint64_t beyond_table = v->keywords->count >= 64 ? 0 : mask >> v->keywords->count;
	/* Keywords interned by another session since the table was read. */
	if (beyond_table != 0)
		return view_keywords_refresh(s);
	imap_view_flags_announce(s);
	return STORE_OK;
}

int imap_view_keywords_intern(struct imap_session *s, const struct imap_flags *f, uint64_t *mask_r)
{
	struct imap_view *v = s->view;
	*mask_r = 0;
	if (!v)
		return STORE_ERR_NOTFOUND;
	if (f->nkeywords == 0)
		return STORE_OK;
	/* Keywords the view's table already has need no transaction: most
	 * STOREs name keywords in use, and the intern below takes the
	 * mailbox record's write lock, which every delivery to the mailbox
	 * takes too (issue 11 point 1: no lock wait on a loop for them). */
	uint64_t mask = 0;
	size_t i = 0;
	for (; i < f->nkeywords; i++) {
		int bit = store_keywords_find(v->keywords, f->keywords[i].s, f->keywords[i].len);
		if (bit < 0)
			break;
		mask |= (uint64_t)1 << bit;
	}
	if (i == f->nkeywords) {
		*mask_r = mask;
		if (v->keywords->count > v->keywords_reported)
			imap_view_flags_announce(s);
		return STORE_OK;
	}
	const char **names = calloc(f->nkeywords, sizeof(*names));
	if (!names)
		return STORE_ERR_TEMP;
	for (i = 0; i < f->nkeywords; i++)
		names[i] = f->keywords[i].s;
	int rc = store_keywords_intern(s->store, v->mailbox_id, (const char *const *)names,
				       f->nkeywords, mask_r, v->keywords);
	free(names);
	/* Tell the client about new keywords before the FETCH responses that
	 * use them (RFC 3501 7.2.6). */
	if (rc == STORE_OK && v->keywords->count > v->keywords_reported)
		imap_view_flags_announce(s);
	return rc;
}

/* ---- catching up ---- */

/* The mailbox is gone (deleted, or recreated with another UIDVALIDITY):
 * RFC 3501 7.1.5 BYE, since the session's view can no longer be kept. */
static int view_gone(struct imap_session *s)
{
	imap_session_close(s, "Selected mailbox no longer exists", "mailbox deleted");
	return -1;
}

/* Read every change record past v->modseq into the private lists. */
/* This session's own flag changes, (UID, MODSEQ) ascending by UID, that
 * collect() drops instead of reporting. */
struct own_change {
	uint32_t uid;
	uint64_t modseq;
};

static int own_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct own_change *)a)->uid, y = ((const struct own_change *)b)->uid;
	return x < y ? -1 : x > y;
}

static bool own_has(const struct own_change *own, size_t n, const struct store_change *ch)
{
	if (n == 0)
		return false;   /* own may be NULL: bsearch wants an array */
	struct own_change key = {ch->uid, 0};
	const struct own_change *o = bsearch(&key, own, n, sizeof(*own), own_cmp);
	return o && o->modseq == ch->modseq;
}

static int collect(struct imap_session *s, struct imap_view *v, const struct own_change *own,
		   size_t nown)
{
	struct view_priv *p = priv(v);
	struct store_change *ch = malloc(VIEW_CHANGES_BATCH * sizeof(*ch));
	if (!ch)
		return STORE_ERR_TEMP;
	uint32_t *gone = NULL;        /* expunged before they were announced */
	size_t ngone = 0, gone_cap = 0;
	size_t exp_cap = v->pending_cap;
	int rc;
	for (;;) {
		size_t n = 0;
		rc = imap_sync_cache_changes(s->store, v->mailbox_id, v->modseq, ch,
					     VIEW_CHANGES_BATCH, &n);
		if (rc != STORE_OK)
			break;
		/* The invariant (top of file) sorts every record by its UID. */
		for (size_t i = 0; i < n && rc == STORE_OK; i++) {
			uint32_t uid = ch[i].uid;
			if (ch[i].kind == STORE_CHANGE_EXPUNGE) {
				if (uid <= v->uid_hi)
					rc = u32_push(&v->pending_expunge, &v->npending_expunge, &exp_cap, uid);
				else
					rc = u32_push(&gone, &ngone, &gone_cap, uid);
			} else if (uid > v->uid_hi) {
				rc = u32_push(&p->pending_new, &p->nnew, &p->new_cap, uid);
			} else if (ch[i].kind == STORE_CHANGE_FLAGS && !own_has(own, nown, &ch[i])) {
				rc = u32_push(&p->pending_flags, &p->nflags, &p->flags_cap, uid);
			}
		}
		if (rc != STORE_OK)
			break;
		if (n > 0)
			v->modseq = ch[n - 1].modseq;
		if (n < VIEW_CHANGES_BATCH)
			break;
	}
	v->pending_cap = exp_cap;
	free(ch);
	u32_sort_unique(v->pending_expunge, &v->npending_expunge);
	u32_sort_unique(p->pending_new, &p->nnew);
	u32_sort_unique(p->pending_flags, &p->nflags);
	if (ngone) {
		u32_sort_unique(gone, &ngone);
		u32_remove_all(p->pending_new, &p->nnew, gone, ngone);
	}
	free(gone);
	return rc;
}

/* Merge ascending a[0..na) and b[0..nb) into out (room for na + nb),
 * dropping duplicates; returns the length. */
static size_t u32_merge(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, uint32_t *out)
{
	size_t i = 0, j = 0, k = 0;
	while (i < na || j < nb) {
		uint32_t x;
		if (j == nb || (i < na && a[i] < b[j]))
			x = a[i++];
		else if (i == na || b[j] < a[i])
			x = b[j++];
		else {
			x = a[i++];
			j++;
		}
		out[k++] = x;
	}
	return k;
}

/* The first half of a load: 1 when the view has its array now (it had
 * one, or the cached snapshot of its state), 0 when the store's list must
 * be read (after this catch-up, so that the list is of a state no older
 * than what the session has been told), or a store error. */
static int uids_load_begin(struct imap_session *s)
{
	struct imap_view *v = s->view;
	if (!v)
		return STORE_ERR_NOTFOUND;
	if (v->snap)
		return 1;
	struct imap_snap *sn = view_snap_cached(s, v);
	if (sn) {
		view_snap_set(v, sn);
		return 1;
	}
	/* Catch up first, so that the list read next can be compared with
	 * what we know; after reading it, once more (uids_load_end): a
	 * message expunged while it was read is then pending, and merged
	 * back there. */
	int rc = collect(s, v, NULL, 0);
	return rc == STORE_OK ? 0 : rc;
}

/* The second half: list (n UIDs, ascending, read from the store after
 * uids_load_begin; taken over and freed here) adjusted to this view. */
static int uids_load_end(struct imap_session *s, uint32_t *list, size_t n)
{
	struct imap_view *v = s->view;
	int rc = collect(s, v, NULL, 0);
	if (rc != STORE_OK) {
		free(list);
		return rc;
	}
	/* New messages above uid_hi are not ours yet; expunged ones that we
	 * have not reported still are. */
	if (v->uid_hi < UINT32_MAX)
		n = u32_lower_bound(list, n, v->uid_hi + 1);
	uint32_t *u = list;
	if (v->npending_expunge) {
		if (n > SIZE_MAX / sizeof(*u) - v->npending_expunge ||
		    !(u = malloc((n + v->npending_expunge) * sizeof(*u)))) {
			free(list);
			return STORE_ERR_TEMP;
		}
		n = u32_merge(list, n, v->pending_expunge, v->npending_expunge, u);
		free(list);
	}
	if (n != v->count) {
		/* The invariant broke (a store outside the rules?): the
		 * numbers the client has cannot be mapped. */
		free(u);
		conn_log(s->c, PLOG_WARN, "imap view load mailbox=%u count=%zu uids=%zu",
			 (unsigned)v->mailbox_id, v->count, n);
		return STORE_ERR_CORRUPT;
	}
	bool exact = v->npending_expunge == 0 && priv(v)->nnew == 0;
	struct imap_snap *sn = imap_snap_new(s->store, v->mailbox_id, v->uidvalidity,
					     exact ? v->modseq : 0, u, n);
	if (!sn)
		return STORE_ERR_TEMP;
	imap_snap_cache_put(sn);
	view_snap_set(v, sn);
	return STORE_OK;
}

void imap_view_search_env(const struct imap_view *v, struct imap_search_env *env)
{
	env->nmsgs = (uint32_t)v->count;
	env->max_uid = v->count ? v->uids[v->count - 1] : 0;
	env->recent = &v->recent;
	env->saved = v->saved;
	env->nsaved = v->nsaved;
	env->keywords = v->keywords;
	env->now = (int64_t)time(NULL);
}

int imap_view_uids_load(struct imap_session *s)
{
	int rc = uids_load_begin(s);
	if (rc != 0)
		return rc == 1 ? STORE_OK : rc;
	uint32_t *list = NULL;
	size_t n = 0;
	rc = store_msg_uids(s->store, s->view->mailbox_id, &list, &n);
	if (rc != STORE_OK) {
		free(list);
		return rc;
	}
	return uids_load_end(s, list, n);
}

/* ---- the list of a large mailbox, read on the worker pool ---- */

/* From this many messages the store's list is read by a worker while the
 * command waits (about 5 ms at 50,000 messages, 105 ms at 1,000,000; once
 * per mailbox state, the snapshot is shared after). */
#define VIEW_UIDS_POOL_MIN 50000

struct uids_job {
	struct imap_job job;
	struct store *store;
	uint32_t mailbox_id;
	uint32_t *list;
	size_t n;
	int rc;
};

static void uids_job_run(struct imap_job *job)
{
	struct uids_job *j = (struct uids_job *)job;
	j->rc = store_msg_uids(j->store, j->mailbox_id, &j->list, &j->n);
}

static void uids_job_finish(struct imap_job *job, bool ran)
{
	struct uids_job *j = (struct uids_job *)job;
	struct imap_session *s = job->cmd->s;
	/* The same view (the session waited: nothing selected another), so
	 * its catch-up and the list meet as in imap_view_uids_load.  On a
	 * failure (or a pool stopped before running it) the command's own
	 * load tries in place and answers for it. */
	if (ran && j->rc == STORE_OK && s->view && s->view->mailbox_id == j->mailbox_id &&
	    !s->view->snap)
		(void)uids_load_end(s, j->list, j->n);
	else
		free(j->list);
	free(j);
}

static void uids_job_discard(struct imap_job *job)
{
	struct uids_job *j = (struct uids_job *)job;
	free(j->list);
	free(j);
}

int imap_view_uids_preload(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct imap_view *v = s->view;
	if (!v || v->snap || v->count < VIEW_UIDS_POOL_MIN || uids_load_begin(s) != 0)
		return -1;
	struct uids_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -1;
	j->job.run = uids_job_run;
	j->job.finish = uids_job_finish;
	j->job.discard = uids_job_discard;
	j->store = s->store;
	j->mailbox_id = v->mailbox_id;
	if (imap_cmd_job_submit(cmd, &j->job) < 0) {
		free(j);
		return -1;
	}
	conn_log(s->c, PLOG_DEBUG, "imap view list of mailbox=%u (%zu messages) read by a worker",
		 (unsigned)v->mailbox_id, v->count);
	return 0;
}

/* The array after the pending changes: the cached one of that state when
 * the result is the store's state at v->modseq (nothing left pending), else
 * a copy of ours without the expunges (when `expunge`) and with the new
 * UIDs appended, published when exact.  NULL: out of memory. */
static struct imap_snap *view_snap_next(struct imap_session *s, struct imap_view *v, bool expunge)
{
	struct view_priv *p = priv(v);
	size_t ne = expunge ? v->npending_expunge : 0;
	/* Every pending expunge is in the view (collect), so ne <= count. */
	size_t n = v->count - ne + p->nnew;
	bool exact = expunge || v->npending_expunge == 0;
	if (exact) {
		struct imap_snap *sn = imap_snap_cache_get_at(s->store, v->mailbox_id, v->uidvalidity,
							      v->modseq);
		if (sn && sn->count == n)
			return sn;
		imap_snap_release(&sn);
	}
	/* The copy holds the whole old list before the expunges leave it. */
	size_t cap = v->count + p->nnew;
	if (cap < v->count || cap > SIZE_MAX / sizeof(uint32_t))
		return NULL;
	uint32_t *u = malloc(cap ? cap * sizeof(*u) : sizeof(*u));
	if (!u)
		return NULL;
	/* (Either list may be NULL when empty: no memcpy from NULL.) */
	if (v->count)
		memcpy(u, v->uids, v->count * sizeof(*u));
	size_t k = v->count;
	u32_remove_all(u, &k, v->pending_expunge, ne);
	if (p->nnew)
		memcpy(u + k, p->pending_new, p->nnew * sizeof(*u));
	if (k + p->nnew != n) {
		free(u);
		return NULL;
	}
	struct imap_snap *sn = imap_snap_new(s->store, v->mailbox_id, v->uidvalidity,
					     exact ? v->modseq : 0, u, n);
	if (sn)
		imap_snap_cache_put(sn);
	return sn;
}

/* Apply what is pending to the view and tell the client: the expunges
 * only when `expunge`, as "* n EXPUNGE", highest number first so that each
 * number is right when the client applies it (RFC 3501 7.4.1); then the new
 * messages as "* n EXISTS" and "* n RECENT", their \Recent claimed first
 * unless read-only (RFC 3501 2.3.2: the first session told of a message
 * claims it; imap_claim.h).  While a worker makes the claim everything
 * stays pending, expunges too: the view's numbers change in one piece when
 * it returns (a command's OK waits for that: imap_cmd_ok).  A view without
 * its array stays without, unless expunges need their numbers.  On error
 * nothing is written and everything stays pending. */
static int view_apply(struct imap_session *s, struct imap_view *v, bool expunge,
		      struct store_mailbox *mbox)
{
	struct view_priv *p = priv(v);
	if (p->nnew && imap_claim_recent(s, v, mbox, p->pending_new[p->nnew - 1]))
		return STORE_OK;
	bool any_expunge = expunge && v->npending_expunge > 0;
	if (!any_expunge && p->nnew == 0)
		return STORE_OK;
	/* VANISHED names UIDs: no message numbers needed (RFC 7162 3.2.10.2). */
	if (any_expunge && !s->qresync) {
		int rc = imap_view_uids_load(s);
		if (rc != STORE_OK)
			return rc;
	}
	struct imap_snap *next = NULL;
	if (v->snap && !(next = view_snap_next(s, v, expunge)))
		return STORE_ERR_TEMP;
	if (any_expunge)
		/* RFC 5267 4.3.4: REMOVEFROM before the EXPUNGE (or VANISHED)
		 * responses. */
		imap_context_expunged(s, v->pending_expunge, v->npending_expunge);
	if (any_expunge && s->qresync) {
		/* Every pending expunge is a message the client was told of
		 * (collect keeps only UIDs <= uid_hi), as 3.2.10.2 requires. */
		struct imap_vanished van = { .uids = v->pending_expunge, .n = v->npending_expunge };
		imap_vanished_write(s, &van, false, false);   /* no AGAIN in a sync */
	} else if (any_expunge) {
		for (size_t i = v->npending_expunge; i-- > 0;) {
			uint32_t seq = imap_view_seq(v, v->pending_expunge[i]);
			if (seq)
				imap_untagged(s, "%u EXPUNGE", (unsigned)seq);
		}
	}
	size_t gone_recent = 0;
	if (any_expunge) {
		gone_recent = imap_recent_count(&v->recent, v->pending_expunge,
						v->npending_expunge, -1);
		v->nrecent -= gone_recent;
		v->count -= v->npending_expunge;
		v->npending_expunge = 0;
	}
	if (v->snap)
		view_snap_set(v, next);
	if (p->nnew == 0) {
		imap_recent_prune(&v->recent, v->uid_hi);
		/* RFC 3501 7.3.2: RECENT when the mailbox's size changes, so a
		 * client need not work the count out from each message's
		 * flags (Dovecot does the same; imaptest's state tracking
		 * relies on it).  With new messages it follows EXISTS below. */
		if (gone_recent && !s->rev2)
			imap_untagged(s, "%zu RECENT", v->nrecent);
		return STORE_OK;
	}
	uint32_t last = p->pending_new[p->nnew - 1];
	v->count += p->nnew;
	v->uid_hi = last;
	if (last >= v->uidnext)
		v->uidnext = last + 1;
	v->nrecent += imap_recent_count(&v->recent, p->pending_new, p->nnew, 1);
	imap_recent_prune(&v->recent, v->uid_hi);
	size_t nnew = p->nnew;
	p->nnew = 0;
	imap_untagged(s, "%zu EXISTS", v->count);
	/* RFC 9051 drops RECENT (its appendix E); rev1 clients need it. */
	if (!s->rev2)
		imap_untagged(s, "%zu RECENT", v->nrecent);
	/* RFC 5267 4.3.3: ADDTO after EXISTS. */
	imap_context_arrived(s, p->pending_new, nnew);
	return STORE_OK;
}

static void report_flags(struct imap_session *s)
{
	struct imap_view *v = s->view;
	struct view_priv *p = priv(v);
	/* FETCH responses carry sequence numbers. */
	if (p->nflags == 0 || imap_view_uids_load(s) != STORE_OK)
		return;
	struct buf b;
	buf_init(&b, 0);
	size_t i;
	for (i = 0; i < p->nflags; i++) {
		/* Another session's STORE 1:* must not queue a million lines:
		 * the rest stays pending for the next sync (RFC 3501 7: the
		 * server may send updates at any time). */
		if (imap_output_full(s))
			break;
		uint32_t uid = p->pending_flags[i];
		uint32_t seq = imap_view_seq(v, uid);
		if (!seq || imap_view_is_expunged(v, uid))
			continue;
		struct store_msg m;
		if (store_msg_get(s->store, v->mailbox_id, uid, &m) != STORE_OK)
			continue;   /* expunged meanwhile: its EXPUNGE follows */
		/* Set since the sync read the table: FLAGS first. */
		(void)imap_view_keywords_cover(s, m.keywords);
		buf_reset(&b);
		int rc = buf_printf(&b, "* %u FETCH (FLAGS ", (unsigned)seq);
		rc |= imap_view_flags_write(v, &b, &m);
		rc |= buf_printf(&b, " UID %u", (unsigned)uid);
		/* RFC 7162 3.2.4: MODSEQ in unsolicited FETCH once enabled. */
		if (s->condstore)
			rc |= buf_printf(&b, " MODSEQ (%llu)", (unsigned long long)m.modseq);
		rc |= buf_puts(&b, ")\r\n");
		if (rc == 0)
			imap_write_buf(s, &b);
	}
	/* RFC 5267 4.3.2: the contexts' ADDTO/REMOVEFROM after the FETCHes
	 * that carry their cause. */
	imap_context_flags(s, p->pending_flags, i);
	if (i > 0 && i < p->nflags)
		memmove(p->pending_flags, p->pending_flags + i, (p->nflags - i) * sizeof(uint32_t));
	p->nflags -= i;
	buf_free(&b);
}

int imap_view_sync(struct imap_session *s, bool allow_expunge)
{
	struct imap_view *v = s->view;
	if (!v || s->closing)
		return 0;
	struct store_mailbox mbox;
	int rc = imap_sync_cache_mailbox(s->store, v->mailbox_id, &mbox);
	if (rc == STORE_ERR_NOTFOUND || (rc == STORE_OK && (mbox.uidvalidity != v->uidvalidity ||
							    mbox.user_id != s->user.id)))
		return view_gone(s);
	if (rc != STORE_OK) {
		conn_log(s->c, PLOG_WARN, "imap view sync mailbox=%u error=%s", (unsigned)v->mailbox_id,
			 store_strerror(rc));
		return 0;
	}
	/* RENAME keeps the id and UIDVALIDITY: the selection follows it. */
	if (strcmp(v->name, mbox.name) != 0 && strlen(mbox.name) <= STORE_MAILBOX_NAME_MAX)
		memcpy(v->name, mbox.name, strlen(mbox.name) + 1);
	bool collected = true;
	if (mbox.highestmodseq > v->modseq) {
		rc = collect(s, v, NULL, 0);
		/* A failed collect may leave part of a batch pending: apply
		 * nothing until a complete one (it re-reads the batch). */
		collected = rc == STORE_OK;
		if (rc == STORE_OK && v->keywords->count < STORE_KEYWORDS_MAX)
			rc = imap_sync_cache_keywords(s->store, v->mailbox_id, v->keywords);
		if (rc != STORE_OK)
			conn_log(s->c, PLOG_WARN, "imap view sync mailbox=%u error=%s",
				 (unsigned)v->mailbox_id, store_strerror(rc));
	}
	s->updates_pending = false;
	if (collected && (rc = view_apply(s, v, allow_expunge, &mbox)) != STORE_OK)
		conn_log(s->c, PLOG_WARN, "imap view sync mailbox=%u error=%s",
			 (unsigned)v->mailbox_id, store_strerror(rc));
	if (v->keywords->count > v->keywords_reported)
		imap_view_flags_announce(s);
	report_flags(s);
	imap_context_recheck(s);
	if (v->urlmech_pending) {
		v->urlmech_pending = false;
		imap_untagged(s, "OK [URLMECH INTERNAL] URLAUTH key reset");
	}
	if (collected && v->npending_expunge == 0 && priv(v)->nnew == 0 && priv(v)->nflags == 0)
		v->modseq_told = v->modseq;
	else if (s->qresync && v->npending_expunge && !allow_expunge)
		/* RFC 7162 3.2: FETCH MODSEQ data may have gone out while
		 * VANISHED with lower MODSEQs waits; the client must not take
		 * those as its point of resync. */
		imap_untagged(s, "OK [HIGHESTMODSEQ %llu] Expunges held back",
			      (unsigned long long)v->modseq_told);
	return 0;
}

int imap_view_absorb(struct imap_session *s, const struct store_flag_result *res, size_t n)
{
	struct imap_view *v = s->view;
	if (!v)
		return STORE_ERR_NOTFOUND;
	struct own_change *own = n ? malloc(n * sizeof(*own)) : NULL;
	size_t nown = 0;
	if (n && !own)
		return STORE_ERR_TEMP;
	for (size_t i = 0; i < n; i++)
		if (res[i].status == STORE_FLAG_CHANGED)
			own[nown++] = (struct own_change){res[i].msg.uid, res[i].msg.modseq};
	if (nown > 1)
		qsort(own, nown, sizeof(*own), own_cmp);
	int rc = collect(s, v, own, nown);
	/* The session's own flag changes move its contexts too. */
	if (rc == STORE_OK && nown && v->contexts) {
		uint32_t *uids = malloc(nown * sizeof(*uids));
		for (size_t i = 0; uids && i < nown; i++)
			uids[i] = own[i].uid;
		if (uids)
			imap_context_flags(s, uids, nown);
		free(uids);
	}
	free(own);
	/* The STORE or FETCH that absorbs writes its FETCH responses next,
	 * with this table: announce what another session added. */
	if (rc == STORE_OK)
		rc = view_keywords_refresh(s);
	return rc;
}
