/* imap/imap_qresync.c: QRESYNC (RFC 7162 3.2): VANISHED from the store's
 * change records, the resync of SELECT / EXAMINE (QRESYNC ...), and the
 * tagged OK [HIGHESTMODSEQ] after an expunge (imap_qresync.h).
 *
 * Costs: both the VANISHED (EARLIER) and the FETCH answers of a resync
 * read the change records past the client's MODSEQ (the changes, not the
 * mailbox), QRESYNC_BATCH at a time, and write them as they are read, so
 * memory is one batch and output leaves between batches (IMAP_CMD_AGAIN)
 * however far back the client is.  The FETCH answers read one message
 * record each and carry message numbers, so the view's UID array is
 * loaded at the first one (shared with every session in that state,
 * imap_snap.h); so is it when seq-match-data must be compared.
 *
 * A record of the window that moves while it is read (its message changed
 * again, or was expunged) moves above the view's MODSEQ: the view's next
 * sync reports it, so nothing is lost between the batches. */
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
	size_t lo = 0, hi;
	if (f->norm) {
		/* Normalised: ranges sorted, disjoint. */
		const struct imap_seq_range *r = f->norm->ranges;
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
	hi = f->nlist;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->list[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->nlist && f->list[lo] == uid;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
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

/* ---- VANISHED (EARLIER) from the change records ---- */

/* Sort, drop duplicates and write uids[0..n) as VANISHED (EARLIER). */
static void vanished_flush(struct imap_session *s, uint32_t *uids, size_t n)
{
	if (n == 0)
		return;
	qsort(uids, n, sizeof(*uids), u32_cmp);
	size_t w = 1;
	for (size_t r = 1; r < n; r++)
		if (uids[r] != uids[w - 1])
			uids[w++] = uids[r];
	struct imap_vanished van = { .uids = uids, .n = w };
	imap_vanished_write(s, &van, true, false);   /* bounded: 2 batches */
}

int imap_vanished_scan_run(struct imap_session *s, struct imap_vanished_scan *sc)
{
	if (sc->done)
		return STORE_OK;
	struct store_change *ch = malloc(QRESYNC_BATCH * sizeof(*ch));
	/* UIDs of up to two batches make one response: fewer, longer lines. */
	uint32_t *u = malloc(2 * QRESYNC_BATCH * sizeof(*u));
	if (!ch || !u) {
		free(ch);
		free(u);
		return STORE_ERR_TEMP;
	}
	int rc = STORE_OK;
	size_t k = 0;
	while (!sc->done && !imap_cmd_yield_due(s)) {
		size_t n = 0;
		rc = store_changes_since(s->store, s->view->mailbox_id, sc->since, ch, QRESYNC_BATCH, &n);
		if (rc != STORE_OK)
			break;
		sc->done = n < QRESYNC_BATCH;
		for (size_t i = 0; i < n; i++) {
			if (sc->until && ch[i].modseq > sc->until) {
				sc->done = true;
				break;
			}
			sc->since = ch[i].modseq;
			if (ch[i].kind == STORE_CHANGE_EXPUNGE && ch[i].uid > sc->floor &&
			    filter_has(&sc->f, ch[i].uid))
				u[k++] = ch[i].uid;
		}
		if (k >= QRESYNC_BATCH) {
			vanished_flush(s, u, k);
			k = 0;
		}
	}
	vanished_flush(s, u, k);
	free(ch);
	free(u);
	return rc;
}

void imap_vanished_scan_clear(struct imap_vanished_scan *sc)
{
	imap_seqset_free(&sc->f.norm);
	memset(sc, 0, sizeof(*sc));
}

/* ---- SELECT / EXAMINE (QRESYNC ...) ---- */

struct select_ctx {
	struct imap_vanished_scan van;   /* first; its filter serves FETCH too */
	uint64_t since, until;           /* FETCH: records read up to since */
	bool fetch_done;
	char *ok_text;
};

static void select_ctx_free(void *p)
{
	struct select_ctx *x = p;
	imap_vanished_scan_clear(&x->van);
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

/* A SELECT that cannot finish leaves no mailbox selected (RFC 9051
 * 6.3.2), even after some of its responses. */
static enum imap_cmd_rc select_fail(struct imap_cmd *cmd, int rc)
{
	struct imap_session *s = cmd->s;
	imap_view_close(s, &s->view);
	s->state = IMAP_S_AUTH;
	imap_cmd_store_error(cmd, rc, "SELECT");
	return IMAP_CMD_DONE;
}

enum imap_cmd_rc imap_qresync_select_start(struct imap_cmd *cmd, const struct imap_select *sel,
					   const char *ok_text)
{
	struct imap_session *s = cmd->s;
	struct imap_view *v = s->view;
	struct select_ctx *x = calloc(1, sizeof(*x));
	if (!x || !(x->ok_text = strdup(ok_text))) {
		free(x);
		return select_fail(cmd, STORE_ERR_TEMP);
	}
	cmd->ctx = x;
	cmd->ctx_free = select_ctx_free;
	/* RFC 7162 3.2.5.1: no known-uids means 1:<UIDNEXT - 1>, an empty
	 * set when the mailbox never had a message. */
	struct imap_seqset all = { 0 };
	struct imap_seq_range r = { 1, v->uidnext - 1 };
	if (v->uidnext > 1) {
		all.count = 1;
		all.ranges = &r;
	}
	if (imap_seqset_normalize(sel->known_uids ? sel->known_uids : &all, 0, &x->van.f.norm) < 0)
		return select_fail(cmd, STORE_ERR_TEMP);
	/* Up to the view's MODSEQ: the state SELECT showed; later changes
	 * are the view's to report, at the next command. */
	x->van.since = x->since = sel->modseq;
	x->van.until = x->until = v->modseq;
	x->van.done = x->fetch_done = sel->modseq >= v->modseq;
	if (!x->van.done && sel->known_seqs) {
		int rc = imap_view_uids_load(s);
		if (rc != STORE_OK)
			return select_fail(cmd, rc);
		x->van.floor = seqmatch_floor(v, sel);
	}
	return imap_qresync_select_run(cmd);
}

/* "* n FETCH (UID u FLAGS (...) MODSEQ (m))" for one message changed in
 * the window; nothing when it has gone since (its VANISHED follows with
 * the next sync). */
static int select_fetch_write(struct imap_session *s, uint32_t uid)
{
	struct imap_view *v = s->view;
	int rc = imap_view_uids_load(s);   /* message numbers, once */
	if (rc != STORE_OK)
		return rc;
	struct store_msg m;
	uint32_t seq = imap_view_seq(v, uid);
	if (!seq || store_msg_get(s->store, v->mailbox_id, uid, &m) != STORE_OK)
		return STORE_OK;
	(void)imap_view_keywords_cover(s, m.keywords);   /* FLAGS before it */
	struct buf b;
	buf_init(&b, 0);
	rc = buf_printf(&b, "* %u FETCH (UID %u FLAGS ", (unsigned)seq, (unsigned)uid);
	rc |= imap_view_flags_write(v, &b, &m);
	rc |= buf_printf(&b, " MODSEQ (%llu))\r\n", (unsigned long long)m.modseq);
	if (rc == 0)
		imap_write_buf(s, &b);
	buf_free(&b);
	return STORE_OK;
}

/* The FETCH answers: records of the window that are not expunges, for
 * known UIDs the view has.  Stops (fetch_done unset) when the output
 * queue fills or the slice is spent. */
static int select_fetch_run(struct imap_session *s, struct select_ctx *x)
{
	struct store_change *ch = malloc(QRESYNC_BATCH * sizeof(*ch));
	if (!ch)
		return STORE_ERR_TEMP;
	int rc = STORE_OK;
	bool stop = false;
	while (!x->fetch_done && !stop && !imap_cmd_yield_due(s)) {
		size_t n = 0;
		rc = store_changes_since(s->store, s->view->mailbox_id, x->since, ch, QRESYNC_BATCH, &n);
		if (rc != STORE_OK)
			break;
		x->fetch_done = n < QRESYNC_BATCH;
		for (size_t i = 0; i < n && rc == STORE_OK; i++) {
			if (ch[i].modseq > x->until) {
				x->fetch_done = true;
				break;
			}
			x->since = ch[i].modseq;
			if (ch[i].kind == STORE_CHANGE_EXPUNGE || ch[i].uid > s->view->uid_hi ||
			    !filter_has(&x->van.f, ch[i].uid))
				continue;
			rc = select_fetch_write(s, ch[i].uid);
			if (imap_output_full(s) && i + 1 < n) {
				x->fetch_done = false;   /* the rest of the batch is left */
				stop = true;
				break;
			}
		}
	}
	free(ch);
	return rc;
}

enum imap_cmd_rc imap_qresync_select_run(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct select_ctx *x = cmd->ctx;
	/* RFC 7162 3.2.6: every VANISHED (EARLIER) before any FETCH. */
	int rc = imap_vanished_scan_run(s, &x->van);
	if (rc == STORE_OK && x->van.done)
		rc = select_fetch_run(s, x);
	if (rc != STORE_OK)
		return select_fail(cmd, rc);
	if (!x->van.done || !x->fetch_done)
		return IMAP_CMD_AGAIN;
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
