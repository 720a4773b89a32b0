/* imap/imap_qresync.c: QRESYNC (RFC 7162 3.2): VANISHED from the store's
 * change records, the resync of SELECT / EXAMINE (QRESYNC ...), and the
 * tagged OK [HIGHESTMODSEQ] after an expunge (imap_qresync.h).
 *
 * Costs: collecting reads the change records past the client's MODSEQ
 * (the changes, not the mailbox); the FETCH answers of a resync read one
 * message record each, and need sequence numbers, so the view's UID array
 * is loaded when there is at least one (shared with every session in that
 * state, imap_snap.h).  Output goes out in pieces with IMAP_CMD_AGAIN, so a
 * resync after a million changes never sits in the output queue whole. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_qresync.h"
#include "imap/imap_session.h"
#include "imap/imap_view.h"
#include "storage/storage.h"

/* Change records read per store call. */
#define QRESYNC_BATCH 512
/* Octets of uid-set per VANISHED line: RFC 7162 4 asks clients to keep
 * lines near 8192 octets; a server's lines need no limit, but shorter ones
 * let the output queue be checked between them. */
#define VANISHED_LINE 4000

static bool filter_has(const struct imap_uid_filter *f, uint32_t uid)
{
	const uint32_t *a = f->list;
	size_t lo = 0, hi = f->nlist;
	if (f->norm) {
		/* Normalised: ranges sorted, disjoint. */
		const struct imap_seq_range *r = f->norm->ranges;
		lo = 0;
		hi = f->norm->count;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (r[mid].hi < uid)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo < f->norm->count && r[lo].lo <= uid;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->nlist && a[lo] == uid;
}

static int u32_push(uint32_t **a, size_t *n, size_t *cap, uint32_t x)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		uint32_t *p = nc < SIZE_MAX / sizeof(**a) ? realloc(*a, nc * sizeof(**a)) : NULL;
		if (!p)
			return STORE_ERR_TEMP;
		*a = p;
		*cap = nc;
	}
	(*a)[(*n)++] = x;
	return STORE_OK;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Sort and drop duplicates: a UID has one record at a time, but one that
 * changed again between two batches (separate reads) is met twice. */
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

int imap_qresync_collect(struct imap_session *s, uint64_t since, uint64_t until,
			 const struct imap_uid_filter *f, uint32_t uid_hi, struct imap_vanished *van,
			 uint32_t **changed_r, size_t *nchanged_r)
{
	memset(van, 0, sizeof(*van));
	if (changed_r) {
		*changed_r = NULL;
		*nchanged_r = 0;
	}
	struct store_change *ch = malloc(QRESYNC_BATCH * sizeof(*ch));
	if (!ch)
		return STORE_ERR_TEMP;
	size_t vcap = 0, ncap = 0, nchanged = 0;
	uint32_t *changed = NULL;
	int rc;
	for (bool more = true; more;) {
		size_t n = 0;
		rc = store_changes_since(s->store, s->view->mailbox_id, since, ch, QRESYNC_BATCH, &n);
		if (rc != STORE_OK)
			break;
		more = n == QRESYNC_BATCH;
		for (size_t i = 0; i < n && rc == STORE_OK; i++) {
			if (until && ch[i].modseq > until) {
				more = false;
				break;
			}
			if (!filter_has(f, ch[i].uid))
				continue;
			if (ch[i].kind == STORE_CHANGE_EXPUNGE)
				rc = u32_push(&van->uids, &van->n, &vcap, ch[i].uid);
			else if (changed_r && ch[i].uid <= uid_hi)
				rc = u32_push(&changed, &nchanged, &ncap, ch[i].uid);
		}
		if (n > 0)
			since = ch[n - 1].modseq;
		if (rc != STORE_OK)
			break;
	}
	free(ch);
	if (rc != STORE_OK) {
		imap_vanished_free(van);
		free(changed);
		return rc;
	}
	u32_sort_unique(van->uids, &van->n);
	u32_sort_unique(changed, &nchanged);
	if (changed_r) {
		*changed_r = changed;
		*nchanged_r = nchanged;
	}
	return STORE_OK;
}

bool imap_vanished_write(struct imap_session *s, struct imap_vanished *van, bool earlier, bool pause)
{
	struct buf b;
	buf_init(&b, 0);
	while (van->done < van->n) {
		if (pause && imap_output_full(s)) {
			buf_free(&b);
			return false;
		}
		buf_reset(&b);
		buf_puts(&b, earlier ? "* VANISHED (EARLIER) " : "* VANISHED ");
		size_t k = imap_write_uidset(&b, van->uids + van->done, van->n - van->done, VANISHED_LINE);
		if (k == 0 || buf_puts(&b, "\r\n") < 0)
			break;   /* out of memory: the line is dropped, not cut */
		imap_write_buf(s, &b);
		van->done += k;
	}
	buf_free(&b);
	return true;
}

void imap_vanished_free(struct imap_vanished *van)
{
	free(van->uids);
	memset(van, 0, sizeof(*van));
}

/* ---- SELECT / EXAMINE (QRESYNC ...) ---- */

struct select_ctx {
	struct imap_vanished van;
	uint32_t *changed;            /* UIDs to answer with FETCH, ascending */
	size_t nchanged, next;
	char *ok_text;
};

static void select_ctx_free(void *p)
{
	struct select_ctx *x = p;
	imap_vanished_free(&x->van);
	free(x->changed);
	free(x->ok_text);
	free(x);
}

/* RFC 7162 3.2.5.2: the UID up to which the client's pairs of message
 * number and UID match the mailbox, read in order up to the first that
 * does not; 0 when none does.  Stops at the mailbox's end, so a set of
 * four billion pairs costs at most the message count. */
static uint32_t seqmatch_floor(const struct imap_view *v, const struct imap_select *sel)
{
	struct imap_seqset *ns = NULL, *nu = NULL;
	uint32_t floor = 0;
	if (imap_seqset_normalize(sel->known_seqs, 0, &ns) == 0 &&
	    imap_seqset_normalize(sel->known_seq_uids, 0, &nu) == 0) {
		struct imap_seq_iter is, iu;
		imap_seq_iter_init(&is, ns);
		imap_seq_iter_init(&iu, nu);
		uint32_t seq, uid;
		while (imap_seq_iter_next(&is, &seq) && imap_seq_iter_next(&iu, &uid)) {
			if (seq > v->count || v->uids[seq - 1] != uid)
				break;
			floor = uid;
		}
	}
	imap_seqset_free(&ns);
	imap_seqset_free(&nu);
	return floor;
}

enum imap_cmd_rc imap_qresync_select_start(struct imap_cmd *cmd, const struct imap_select *sel,
					   const char *ok_text)
{
	struct imap_session *s = cmd->s;
	struct imap_view *v = s->view;
	struct select_ctx *x = calloc(1, sizeof(*x));
	if (!x || !(x->ok_text = strdup(ok_text))) {
		free(x);
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return IMAP_CMD_DONE;
	}
	cmd->ctx = x;
	cmd->ctx_free = select_ctx_free;
	/* RFC 7162 3.2.5.1: no known-uids means 1:<UIDNEXT - 1>, an empty
	 * set when the mailbox never had a message. */
	struct imap_seqset all = { 0 }, *norm = NULL;
	struct imap_seq_range r = { 1, v->uidnext - 1 };
	if (v->uidnext > 1) {
		all.count = 1;
		all.ranges = &r;
	}
	int rc = STORE_ERR_TEMP;
	if (imap_seqset_normalize(sel->known_uids ? sel->known_uids : &all, 0, &norm) == 0) {
		struct imap_uid_filter f = { .norm = norm };
		/* Up to the view's MODSEQ: what SELECT showed; later changes
		 * are the view's to report, at the next command. */
		rc = sel->modseq < v->modseq
			? imap_qresync_collect(s, sel->modseq, v->modseq, &f, v->uid_hi, &x->van,
					       &x->changed, &x->nchanged)
			: STORE_OK;
	}
	imap_seqset_free(&norm);
	/* FETCH answers carry message numbers; so does the match data. */
	if (rc == STORE_OK && (x->nchanged || (x->van.n && sel->known_seqs)))
		rc = imap_view_uids_load(s);
	if (rc != STORE_OK) {
		/* RFC 9051 6.3.2: a failed SELECT leaves no mailbox selected. */
		imap_view_close(s, &s->view);
		s->state = IMAP_S_AUTH;
		imap_cmd_store_error(cmd, rc, "SELECT");
		return IMAP_CMD_DONE;
	}
	if (x->van.n && sel->known_seqs) {
		uint32_t floor = seqmatch_floor(v, sel);
		size_t k = 0;
		while (k < x->van.n && x->van.uids[k] <= floor)
			k++;
		x->van.done = k;
	}
	return imap_qresync_select_run(cmd);
}

enum imap_cmd_rc imap_qresync_select_run(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct select_ctx *x = cmd->ctx;
	/* RFC 7162 3.2.6: VANISHED (EARLIER) before any FETCH. */
	if (!imap_vanished_write(s, &x->van, true, true))
		return IMAP_CMD_AGAIN;
	struct imap_view *v = s->view;
	struct buf b;
	buf_init(&b, 0);
	while (x->next < x->nchanged) {
		if (imap_cmd_yield_due(s)) {
			buf_free(&b);
			return IMAP_CMD_AGAIN;
		}
		uint32_t uid = x->changed[x->next++];
		struct store_msg m;
		uint32_t seq = imap_view_seq(v, uid);
		/* Gone since SELECT: its VANISHED comes with the next sync. */
		if (!seq || store_msg_get(s->store, v->mailbox_id, uid, &m) != STORE_OK)
			continue;
		buf_reset(&b);
		int rc = buf_printf(&b, "* %u FETCH (UID %u FLAGS ", (unsigned)seq, (unsigned)uid);
		rc |= imap_view_flags_write(v, &b, &m);
		rc |= buf_printf(&b, " MODSEQ (%llu))\r\n", (unsigned long long)m.modseq);
		if (rc == 0)
			imap_write_buf(s, &b);
	}
	buf_free(&b);
	imap_cmd_ok(cmd, "%s", x->ok_text);
	return IMAP_CMD_DONE;
}

/* ---- after an expunge ---- */

void imap_qresync_ok_expunged(struct imap_cmd *cmd, const char *text)
{
	struct imap_session *s = cmd->s;
	if (!s->qresync || !s->view) {
		imap_cmd_ok(cmd, "%s", text);
		return;
	}
	/* The VANISHED first, so that the MODSEQ below covers them. */
	if (imap_view_sync(s, cmd->allow_expunge) < 0 || !s->view)
		return;   /* BYE sent: the mailbox is gone */
	imap_cmd_ok(cmd, "[HIGHESTMODSEQ %llu] %s", (unsigned long long)s->view->modseq_told, text);
}
