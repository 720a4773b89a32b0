/* imap/imap_cmd_search.c: SEARCH and UID SEARCH (RFC 3501 6.4.4, RFC 9051
 * 6.4.4), with ESEARCH results (RFC 4731 RETURN MIN MAX ALL COUNT; always
 * for an IMAP4rev2 session, RFC 9051 7.3.4), SEARCHRES (RFC 5182 SAVE and
 * "$") and CONDSTORE (RFC 7162 3.1.5 MODSEQ key and result).
 *
 * The view's messages (narrowed to the top-level sequence or UID sets, if
 * any) are visited in windows of SEARCH_WINDOW: one store_msg_list_range()
 * read of their records, evaluation on the record alone, and only for the
 * messages where that cannot decide, one read of the header or of the
 * whole message (imap_search.h).  Memory is one window of records and one
 * message's content.  A rev1 "* SEARCH" line is written as it grows; the
 * handler returns IMAP_CMD_AGAIN between windows when output is full.
 *
 * Messages expunged by someone else but not yet reported to this session
 * are still in the view; their record is gone, so they match nothing. */
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/mime.h"
#include "imap/imap_context.h"
#include "imap/imap_search.h"
#include "imap/imap_session.h"
#include "imap/imap_store_call.h"
#include "imap/imap_view.h"
#include "imap/imap_window.h"
#include "storage/storage.h"

#define SEARCH_WINDOW 500
/* Flush the growing "* SEARCH" line at this size. */
#define SEARCH_LINE_FLUSH (16 * 1024)
/* Header bytes read per step when only the header is needed. */
#define SEARCH_HEADER_CHUNK (16 * 1024)

struct search_ctx {
	struct imap_search *search;
	struct imap_search_env env;
	enum imap_search_need need;
	unsigned ret;                /* enum imap_search_return */
	bool esearch;                /* answer with ESEARCH */
	bool want_modseq;            /* RFC 7162 3.1.5 */
	bool keep_hits;              /* ALL or SAVE: remember the matches */

	size_t i, end;               /* view indexes still to visit */
	size_t win_lo, win_n;
	size_t win_k;                /* next record of the loaded window to look at */
	bool win_loaded;
	struct store_msg win[SEARCH_WINDOW];
	bool found[SEARCH_WINDOW];

	struct imap_search_msg msg;
	struct buf content;
	char *chunk;                 /* IMAP_STREAM_CHUNK read buffer */
	struct mime_message *mime;

	bool line_started;           /* rev1: "* SEARCH" is out */
	struct buf line;
	uint32_t *hits;              /* view indexes of matches, ascending */
	size_t nhits, hcap;
	size_t count;
	size_t first, last;          /* view indexes of the first and last match */
	uint64_t max_modseq;         /* over every match */
	uint64_t first_modseq, last_modseq; /* of the first and last match */
};

static void search_ctx_free(void *p)
{
	struct search_ctx *x = p;
	if (!x)
		return;
	imap_search_free(&x->search);
	imap_search_msg_clear(&x->msg);
	buf_free(&x->content);
	free(x->chunk);
	mime_message_free(&x->mime);
	buf_free(&x->line);
	free(x->hits);
	free(x);
}

/* A top-level sequence or UID set bounds the messages to visit: every
 * match must be inside it (the program is an AND of its keys). */
static int search_narrow(const struct imap_view *v, const struct search_ctx *x,
			 const struct imap_search_key *k, size_t *lo_r, size_t *hi_r)
{
	size_t lo = 0, hi = 0;
	if (k->set->saved) {
		if (x->env.nsaved == 0) {
			*lo_r = *hi_r = 0;
			return 0;
		}
		lo = imap_view_lower(v, x->env.saved[0]);
		hi = imap_view_lower(v, x->env.saved[x->env.nsaved - 1]) + 1;
	} else {
		bool uid = k->type == IMAP_SK_UID;
		struct imap_seqset *norm = NULL;
		if (imap_seqset_normalize(k->set, uid ? x->env.max_uid : x->env.nmsgs, &norm) < 0)
			return -1;
		if (norm->count == 0) {
			imap_seqset_free(&norm);
			*lo_r = *hi_r = 0;
			return 0;
		}
		uint32_t a = norm->ranges[0].lo, b = norm->ranges[norm->count - 1].hi;
		imap_seqset_free(&norm);
		if (uid) {
			lo = imap_view_lower(v, a);
			hi = b == UINT32_MAX ? v->count : imap_view_lower(v, b + 1);
		} else {
			lo = a > 0 ? a - 1 : 0;
			hi = b;
		}
	}
	if (hi > v->count)
		hi = v->count;
	if (lo > hi)
		lo = hi;
	if (lo > *lo_r)
		*lo_r = lo;
	if (hi < *hi_r)
		*hi_r = hi;
	if (*lo_r > *hi_r)
		*lo_r = *hi_r;
	return 0;
}

static int search_window_load(struct imap_session *s, struct search_ctx *x)
{
	const struct imap_view *v = s->view;
	x->win_lo = x->i;
	x->win_n = x->end - x->i < SEARCH_WINDOW ? x->end - x->i : SEARCH_WINDOW;
	return imap_window_load(s, v->mailbox_id, v->uids + x->win_lo, x->win_n, x->win, x->found);
}

/* Reads what the keys need of message m into x->msg: the header alone
 * (in chunks, until the blank line) or the whole message.  Store errors
 * as they are (NOTFOUND: expunged meanwhile). */
static int search_load_content(struct imap_session *s, struct search_ctx *x,
			       const struct store_msg *m)
{
	buf_reset(&x->content);
	mime_message_free(&x->mime);
	if (!x->chunk && !(x->chunk = malloc(IMAP_STREAM_CHUNK)))
		return STORE_ERR_TEMP;
	bool whole = x->need == IMAP_SEARCH_NEED_BODY;
	size_t hdr = 0;
	for (;;) {
		size_t got = 0;
		int rc = store_content_read(s->store, m->content_id, x->content.len, x->chunk,
					    whole ? IMAP_STREAM_CHUNK : SEARCH_HEADER_CHUNK, &got);
		if (rc != STORE_OK)
			return rc;
		if (got == 0)
			break;
		if (buf_append(&x->content, x->chunk, got) < 0)
			return STORE_ERR_TEMP;
		if (!whole && (hdr = imap_search_header_end(x->content.data, x->content.len)) != 0)
			break;
	}
	imap_search_msg_reset(&x->msg);
	x->msg.have_content = true;
	x->msg.data = x->content.data ? x->content.data : "";
	x->msg.len = x->content.len;
	if (!whole) {
		/* No blank line: the whole message is header (RFC 5322 3.5). */
		x->msg.header_len = hdr ? hdr : x->content.len;
		return STORE_OK;
	}
	/* The structure stored at delivery, else parsed now. */
	void *st = NULL;
	size_t st_len = 0;
	int rc = store_content_structure(s->store, m->content_id, &st, &st_len);
	if (rc == STORE_OK) {
		if (mime_message_deserialize(st, st_len, &x->mime) != MIME_OK ||
		    x->mime->size != x->content.len)
			mime_message_free(&x->mime);
		free(st);
	} else if (rc != STORE_ERR_NOTFOUND) {
		return rc;
	}
	if (!x->mime && mime_message_parse(x->msg.data, x->msg.len, NULL, &x->mime) != MIME_OK)
		return STORE_ERR_TEMP;
	x->msg.mime = x->mime;
	x->msg.header_len = x->mime->root->header_len <= x->msg.len ? x->mime->root->header_len
								     : x->msg.len;
	return STORE_OK;
}

static int search_hit(struct imap_session *s, struct search_ctx *x, size_t idx,
		      const struct store_msg *m)
{
	uint32_t num = s->cmd->uid ? s->view->uids[idx] : (uint32_t)(idx + 1);
	if (x->count == 0) {
		x->first = idx;
		x->first_modseq = m->modseq;
	}
	x->last = idx;
	x->last_modseq = m->modseq;
	x->count++;
	if (m->modseq > x->max_modseq)
		x->max_modseq = m->modseq;
	if (x->keep_hits) {
		if (x->nhits == x->hcap) {
			size_t cap = x->hcap ? x->hcap * 2 : 256;
			uint32_t *p = realloc(x->hits, cap * sizeof(*p));
			if (!p)
				return -1;
			x->hits = p;
			x->hcap = cap;
		}
		x->hits[x->nhits++] = (uint32_t)idx;
	}
	if (x->esearch)
		return 0;
	if (buf_printf(&x->line, " %u", (unsigned)num) < 0)
		return -1;
	if (x->line.len >= SEARCH_LINE_FLUSH) {
		imap_write(s, x->line.data, x->line.len);
		buf_reset(&x->line);
	}
	return 0;
}

/* search_window: the command's slice is spent in the middle of a window. */
#define SEARCH_YIELD 1
/* search_window: a worker waits for a writer's lock on a message's pages
 * (imap_content_wait); the window is kept and that message read again. */
#define SEARCH_WAIT 2

/* One window: records, then content where needed.  0, SEARCH_YIELD (the
 * window is kept and resumed where it stopped), or a store error. */
static int search_window(struct imap_cmd *cmd, struct search_ctx *x)
{
	struct imap_session *s = cmd->s;
	int rc;
	if (!x->win_loaded) {
		rc = search_window_load(s, x);
		if (rc != STORE_OK)
			return rc;
		x->win_loaded = true;
		x->win_k = 0;
	}
	size_t start_k = x->win_k;
	for (; x->win_k < x->win_n; x->win_k++) {
		size_t k = x->win_k;
		if (!x->found[k])
			continue;
		/* Reading content is what takes time: a body SEARCH of large
		 * messages lets the loop's other sessions in between (after at
		 * least one message, so every slice makes progress). */
		if (k > start_k && imap_cmd_yield_due(s))
			return SEARCH_YIELD;
		size_t idx = x->win_lo + k;
		imap_search_msg_reset(&x->msg);
		x->msg.rec = x->win[k];
		x->msg.seq = (uint32_t)(idx + 1);
		enum imap_search_result r = imap_search_eval(&x->env, &x->search->root, &x->msg);
		if (r == IMAP_SEARCH_UNKNOWN) {
			/* Without waiting for a lock on the loop (issue 11
			 * point 1): a writer of the message's pages has a
			 * worker wait for them, and the message is read again
			 * (waiting, when the pool could not take it). */
			bool was = store_thread_nowait(true);
			rc = search_load_content(s, x, &x->win[k]);
			store_thread_nowait(was);
			if (rc == STORE_ERR_BUSY) {
				if (imap_content_wait(cmd, x->win[k].content_id, 0, x->win[k].size) == 2)
					return SEARCH_WAIT;
				rc = search_load_content(s, x, &x->win[k]);
			}
			if (rc == STORE_ERR_NOTFOUND)
				continue;
			if (rc != STORE_OK)
				return rc;
			r = imap_search_eval(&x->env, &x->search->root, &x->msg);
		}
		if (r == IMAP_SEARCH_ERROR)
			return STORE_ERR_TEMP;
		if (r == IMAP_SEARCH_YES && search_hit(s, x, idx, &x->win[k]) < 0)
			return STORE_ERR_TEMP;
	}
	/* Do not keep a large message's bytes across windows. */
	if (x->content.cap > 4 * SEARCH_HEADER_CHUNK)
		buf_free(&x->content);
	mime_message_free(&x->mime);
	x->i = x->win_lo + x->win_n;
	x->win_loaded = false;
	return STORE_OK;
}

/* RFC 5182 2.1 / RFC 9051 6.4.4.1: what "$" holds after this SEARCH. */
static int search_save(struct imap_session *s, struct search_ctx *x, bool failed)
{
	struct imap_view *v = s->view;
	free(v->saved);
	v->saved = NULL;
	v->nsaved = 0;
	if (failed || x->count == 0)
		return 0;
	bool all = (x->ret & (IMAP_SEARCH_RET_ALL | IMAP_SEARCH_RET_COUNT)) ||
		   !(x->ret & (IMAP_SEARCH_RET_MIN | IMAP_SEARCH_RET_MAX));
	size_t n = all ? x->nhits : 2;
	uint32_t *u = malloc(n * sizeof(*u));
	if (!u)
		return -1;
	if (all) {
		for (size_t i = 0; i < x->nhits; i++)
			u[i] = v->uids[x->hits[i]];
	} else {
		/* SAVE MIN / MAX: only the message(s) returned. */
		n = 0;
		if (x->ret & IMAP_SEARCH_RET_MIN)
			u[n++] = v->uids[x->first];
		if ((x->ret & IMAP_SEARCH_RET_MAX) && (n == 0 || x->last != x->first))
			u[n++] = v->uids[x->last];
	}
	v->saved = u;
	v->nsaved = n;
	return 0;
}

/* RFC 4731 3.2: the MODSEQ result is that of the message(s) returned:
 * MIN or MAX alone names one message, MIN and MAX two; ALL or COUNT (or
 * no MIN/MAX at all) stand for every match. */
static uint64_t search_esearch_modseq(const struct search_ctx *x)
{
	unsigned minmax = x->ret & (IMAP_SEARCH_RET_MIN | IMAP_SEARCH_RET_MAX);
	if ((x->ret & (IMAP_SEARCH_RET_ALL | IMAP_SEARCH_RET_COUNT)) || minmax == 0)
		return x->max_modseq;
	if (minmax == IMAP_SEARCH_RET_MIN)
		return x->first_modseq;
	if (minmax == IMAP_SEARCH_RET_MAX)
		return x->last_modseq;
	return x->first_modseq > x->last_modseq ? x->first_modseq : x->last_modseq;
}

static int search_esearch_write(struct imap_cmd *cmd, struct search_ctx *x)
{
	struct imap_session *s = cmd->s;
	const struct imap_view *v = s->view;
	/* RFC 9051 6.4.4.1 example 7 of RFC 5182: SAVE alone returns nothing. */
	if ((x->ret & ~(unsigned)IMAP_SEARCH_RET_SAVE) == 0)
		return 0;
	struct buf *b = &x->line;
	buf_reset(b);
	int rc = buf_puts(b, "* ESEARCH (TAG ");
	rc |= imap_write_string(b, cmd->pc->tag, cmd->pc->tag_len);
	rc |= buf_putc(b, ')');
	if (cmd->uid)
		rc |= buf_puts(b, " UID");
#define NUM(idx) (cmd->uid ? v->uids[idx] : (uint32_t)((idx) + 1))
	if (x->count && (x->ret & IMAP_SEARCH_RET_MIN))
		rc |= buf_printf(b, " MIN %u", (unsigned)NUM(x->first));
	if (x->count && (x->ret & IMAP_SEARCH_RET_MAX))
		rc |= buf_printf(b, " MAX %u", (unsigned)NUM(x->last));
	/* RFC 4731 3.1: COUNT is returned even when it is 0. */
	if (x->ret & IMAP_SEARCH_RET_COUNT)
		rc |= buf_printf(b, " COUNT %zu", x->count);
	if (x->count && (x->ret & IMAP_SEARCH_RET_ALL)) {
		rc |= buf_puts(b, " ALL ");
		/* The set, compact: runs of consecutive numbers as a:b. */
		for (size_t i = 0; i < x->nhits && rc == 0;) {
			size_t j = i;
			while (j + 1 < x->nhits && NUM(x->hits[j + 1]) == NUM(x->hits[j]) + 1)
				j++;
			if (i > 0)
				rc |= buf_putc(b, ',');
			if (j > i)
				rc |= buf_printf(b, "%u:%u", (unsigned)NUM(x->hits[i]),
						 (unsigned)NUM(x->hits[j]));
			else
				rc |= buf_printf(b, "%u", (unsigned)NUM(x->hits[i]));
			i = j + 1;
		}
	}
	/* RFC 5267 4.4: the results lo..hi, in mailbox order. */
	if (x->ret & IMAP_SEARCH_RET_PARTIAL) {
		uint32_t lo = x->search->partial_lo, hi = x->search->partial_hi;
		rc |= buf_printf(b, " PARTIAL (%u:%u ", (unsigned)lo, (unsigned)hi);
		if (lo > x->nhits) {
			rc |= buf_puts(b, "NIL");
		} else {
			size_t end = hi < x->nhits ? hi : x->nhits;
			uint32_t *nums = malloc((end - lo + 1) * sizeof(*nums));
			if (!nums)
				return -1;
			for (size_t i = lo - 1; i < end; i++)
				nums[i - (lo - 1)] = NUM(x->hits[i]);
			rc |= imap_search_set_write(b, nums, end - lo + 1);
			free(nums);
		}
		rc |= buf_putc(b, ')');
	}
#undef NUM
	/* RFC 7162 3.1.10, RFC 4731 3.2: the MODSEQ of what is returned. */
	if (x->want_modseq && x->count)
		rc |= buf_printf(b, " MODSEQ %llu",
				 (unsigned long long)search_esearch_modseq(x));
	rc |= buf_puts(b, "\r\n");
	if (rc)
		return -1;
	imap_write_buf(s, b);
	buf_reset(b);
	return 0;
}

/* Ends the rev1 line (also after a failure, so that the NO that follows
 * starts a line of its own). */
static void search_line_finish(struct imap_session *s, struct search_ctx *x, bool ok)
{
	if (!x->line_started)
		return;
	if (ok && x->want_modseq && x->count)
		buf_printf(&x->line, " (MODSEQ %llu)", (unsigned long long)x->max_modseq);
	buf_puts(&x->line, "\r\n");
	imap_write_buf(s, &x->line);
	buf_reset(&x->line);
	x->line_started = false;
}

static enum imap_cmd_rc search_fail(struct imap_cmd *cmd, struct search_ctx *x, int rc)
{
	struct imap_session *s = cmd->s;
	search_line_finish(s, x, false);
	if (x->ret & IMAP_SEARCH_RET_SAVE)
		search_save(s, x, true);
	imap_cmd_store_error(cmd, rc, "SEARCH");
	return IMAP_CMD_DONE;
}

/* Some key names messages by number ("$" names saved UIDs). */
static bool keys_use_seqs(const struct imap_search_key *k)
{
	if (k->type == IMAP_SK_SEQSET && k->set && !k->set->saved)
		return true;
	for (size_t i = 0; i < k->count; i++)
		if (keys_use_seqs(&k->children[i]))
			return true;
	return false;
}

/* Parses and sets up cmd->ctx: 0, or -1 when the reply is written. */
static int search_start(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct imap_view *v = s->view;
	const char *err = NULL;
	struct imap_search *search = NULL;
	if (imap_search_parse(cmd->pc->args, cmd->pc->nargs, &search, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err ? err : "Invalid SEARCH arguments");
		return -1;
	}
	/* RFC 7162 3.2.10.2: no VANISHED during a UID SEARCH whose criteria
	 * hold message numbers (RFC 9051 7.5.1 still allows EXPUNGE, whose
	 * numbers the client applies after the criteria). */
	if (cmd->uid && s->qresync && keys_use_seqs(&search->root))
		cmd->allow_expunge = false;
	bool save = search->has_return && (search->ret & IMAP_SEARCH_RET_SAVE);
	/* RFC 3501 6.4.4: an unsupported charset is NO [BADCHARSET] with the
	 * ones we support.  Strings arrive as UTF-8 (or ASCII, its subset). */
	if (search->charset.s && strcasecmp(search->charset.s, "UTF-8") != 0 &&
	    strcasecmp(search->charset.s, "US-ASCII") != 0) {
		imap_search_free(&search);
		if (save) {
			free(v->saved);
			v->saved = NULL;
			v->nsaved = 0;
		}
		imap_cmd_no(cmd, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
		return -1;
	}
	/* RFC 5267 4.3: UPDATE with the tag of a live context is BAD. */
	if (search->has_return && (search->ret & IMAP_SEARCH_RET_UPDATE) &&
	    imap_context_tag_used(s, cmd->pc->tag, cmd->pc->tag_len)) {
		imap_search_free(&search);
		imap_cmd_bad(cmd, "Tag reuse");
		return -1;
	}
	struct search_ctx *x = calloc(1, sizeof(*x));
	if (!x) {
		imap_search_free(&search);
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, "SEARCH");
		return -1;
	}
	cmd->ctx = x;
	cmd->ctx_free = search_ctx_free;
	x->search = search;
	x->need = imap_search_need(&search->root);
	x->esearch = search->has_return || s->rev2;
	/* RFC 9051 6.4.4: a rev2 SEARCH without RETURN is RETURN (ALL). */
	x->ret = search->has_return ? search->ret : (s->rev2 ? IMAP_SEARCH_RET_ALL : 0);
	x->keep_hits = x->esearch && (x->ret & (IMAP_SEARCH_RET_ALL | IMAP_SEARCH_RET_SAVE |
						 IMAP_SEARCH_RET_PARTIAL | IMAP_SEARCH_RET_UPDATE));
	x->want_modseq = imap_search_uses_modseq(&search->root);
	/* RFC 7162 3.1: the MODSEQ search key turns CONDSTORE on. */
	if (x->want_modseq)
		imap_session_condstore_enable(s);

	int lrc = imap_view_uids_load(s);
	if (lrc != STORE_OK) {
		search_fail(cmd, x, lrc);
		return -1;
	}
	imap_view_search_env(v, &x->env);

	x->i = 0;
	x->end = v->count;
	for (size_t k = 0; k < search->root.count; k++) {
		const struct imap_search_key *c = &search->root.children[k];
		if ((c->type == IMAP_SK_UID || c->type == IMAP_SK_SEQSET) && c->set &&
		    search_narrow(v, x, c, &x->i, &x->end) < 0) {
			search_fail(cmd, x, STORE_ERR_TEMP);
			return -1;
		}
	}
	if (!x->esearch) {
		buf_puts(&x->line, "* SEARCH");
		x->line_started = true;
	}
	cmd->stage = 1;
	return 0;
}

/* RFC 5267 4.3: keep the result up to date (imap_context.c).  0, or -1
 * with NOUPDATE written. */
static int search_update_start(struct imap_cmd *cmd, struct search_ctx *x)
{
	const struct imap_view *v = cmd->s->view;
	uint32_t *uids = malloc((x->nhits ? x->nhits : 1) * sizeof(*uids));
	if (!uids)
		return -1;
	for (size_t i = 0; i < x->nhits; i++)
		uids[i] = v->uids[x->hits[i]];
	struct imap_context_spec spec = { .root = &x->search->root, .uid = cmd->uid };
	int rc = imap_context_start(cmd, &spec, uids, x->nhits, NULL, NULL);
	free(uids);
	return rc;
}

enum imap_cmd_rc imap_cmd_search(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	if (cmd->stage == 0) {
		if (search_start(cmd) < 0)
			return IMAP_CMD_DONE;
	}
	struct search_ctx *x = cmd->ctx;
	if (cmd->job)
		return IMAP_CMD_WAIT;   /* a lock wait: not done yet */
	bool progressed = false;
	while (x->i < x->end) {
		if (!x->win_loaded && (imap_output_full(s) || (progressed && imap_cmd_yield_due(s))))
			return IMAP_CMD_AGAIN;
		progressed = true;
		int rc = search_window(cmd, x);
		if (rc == SEARCH_YIELD)
			return IMAP_CMD_AGAIN;
		if (rc == SEARCH_WAIT)
			return IMAP_CMD_WAIT;
		if (rc != STORE_OK)
			return search_fail(cmd, x, rc);
	}
	if (x->esearch && search_esearch_write(cmd, x) < 0)
		return search_fail(cmd, x, STORE_ERR_TEMP);
	search_line_finish(s, x, true);
	if ((x->ret & IMAP_SEARCH_RET_SAVE) && search_save(s, x, false) < 0)
		return search_fail(cmd, x, STORE_ERR_TEMP);
	if (x->esearch && (x->ret & IMAP_SEARCH_RET_UPDATE) && search_update_start(cmd, x) == 0) {
		imap_cmd_ok(cmd, "%sSEARCH completed, will notify", cmd->uid ? "UID " : "");
		return IMAP_CMD_DONE;
	}
	imap_cmd_ok(cmd, "%sSEARCH completed", cmd->uid ? "UID " : "");
	return IMAP_CMD_DONE;
}
