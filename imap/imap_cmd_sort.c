/* imap/imap_cmd_sort.c: SORT, UID SORT, THREAD and UID THREAD (RFC 5256),
 * SORT=DISPLAY keys (RFC 5957), ESORT results (RFC 5267 3) and the
 * CONDSTORE MODSEQ result (RFC 7162 3.1.5).
 *
 * Three stages:
 *   gather  the view's messages in windows of SORT_WINDOW records, as
 *           SEARCH visits them: the search keys on the record first, then
 *           only the header of each message is read (in chunks up to its
 *           blank line) for the keys and for the sort and thread data, and
 *           the whole message only when a BODY/TEXT key needs it
 *           (imap_sort_read.c).  What is kept per match is a struct
 *           imap_sort_msg and its key strings in one pool.  The loop is
 *           given back on the work budget (imap_cmd_yield_due) between
 *           messages.
 *   work    the sort or the threading: on the worker pool when there are
 *           many messages (the loop only waits), in place when few.
 *   write   the untagged response, in pieces when output fills; with
 *           RETURN (UPDATE) the result then becomes a context
 *           (imap_context.c, RFC 5267 4.3). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/mime.h"
#include "imap/imap_context.h"
#include "imap/imap_search.h"
#include "imap/imap_session.h"
#include "imap/imap_store_call.h"
#include "imap/imap_sort.h"
#include "imap/imap_view.h"
#include "imap/imap_window.h"
#include "storage/storage.h"

#define SORT_WINDOW 500
#define SORT_LINE_FLUSH (16 * 1024)
/* Below this many matches the work is done in place: a pool round trip
 * costs more than sorting them. */
#define SORT_JOB_MIN 2000

enum sort_stage {
	STAGE_START,
	STAGE_GATHER,
	STAGE_WORK,      /* a job on the worker pool */
	STAGE_WRITE,
};

struct sort_ctx {
	bool thread;
	struct imap_sort_program prog;
	struct imap_search_env env;
	unsigned want;               /* enum imap_sort_want */
	bool want_modseq;
	uint64_t max_modseq;

	size_t i, end;               /* view indexes still to visit */
	size_t win_lo, win_n, win_k;
	bool win_loaded;
	struct store_msg win[SORT_WINDOW];
	bool found[SORT_WINDOW];

	struct imap_sort_reader rd;

	struct imap_sort_msg *msgs;  /* the matches, then sorted */
	size_t n, cap;
	struct buf pool;

	struct buf out;              /* THREAD's lists, or the line being written */
	size_t out_off;
	size_t wk;                   /* SORT: next message to write */
	bool line_started;
	int work_rc;
};

struct sort_job {
	struct imap_job job;
	bool thread;
	enum imap_thread_alg alg;
	struct imap_sort_crit crit[IMAP_SORT_MAX_CRITERIA];
	size_t ncrit;
	struct imap_sort_msg *msgs;
	size_t n;
	struct buf pool, out;
	int rc;
};

static void sort_ctx_free(void *p)
{
	struct sort_ctx *x = p;
	if (!x)
		return;
	imap_sort_program_clear(&x->prog);
	imap_sort_reader_clear(&x->rd);
	free(x->msgs);
	buf_free(&x->pool);
	buf_free(&x->out);
	free(x);
}

/* ---- gather ---- */

static int window_load(struct imap_session *s, struct sort_ctx *x)
{
	const struct imap_view *v = s->view;
	x->win_lo = x->i;
	x->win_n = x->end - x->i < SORT_WINDOW ? x->end - x->i : SORT_WINDOW;
	return imap_window_load(s, v->mailbox_id, v->uids + x->win_lo, x->win_n, x->win, x->found);
}

#define GATHER_YIELD 1
#define GATHER_WAIT 2    /* a worker waits for a lock: the message again */

/* One message of the window: 0, GATHER_WAIT, or a store error. */
static int gather_one(struct imap_session *s, struct sort_ctx *x, size_t k)
{
	const struct store_msg *m = &x->win[k];
	size_t idx = x->win_lo + k;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 256;
		struct imap_sort_msg *p = realloc(x->msgs, cap * sizeof(*p));
		if (!p)
			return STORE_ERR_TEMP;
		x->msgs = p;
		x->cap = cap;
	}
	bool match = false;
	/* Without waiting for a lock on the loop (issue 11 point 1): a writer
	 * of the message's pages has a worker wait for them, and the message
	 * is read again (waiting, when the pool could not take it).  Its reads
	 * come before anything is kept of it. */
	bool was = store_thread_nowait(true);
	int rc = imap_sort_read(&x->rd, s->store, &x->env, &x->prog.root, x->want, m,
				(uint32_t)(idx + 1), &match, &x->msgs[x->n], &x->pool);
	store_thread_nowait(was);
	if (rc == STORE_ERR_BUSY) {
		if (imap_content_wait(s->cmd, m->content_id, 0, m->size) == 2)
			return GATHER_WAIT;
		rc = imap_sort_read(&x->rd, s->store, &x->env, &x->prog.root, x->want, m,
				    (uint32_t)(idx + 1), &match, &x->msgs[x->n], &x->pool);
	}
	if (rc == STORE_ERR_NOTFOUND)
		return STORE_OK;
	if (rc != STORE_OK || !match)
		return rc;
	x->msgs[x->n].num = s->cmd->uid ? m->uid : (uint32_t)(idx + 1);
	if (m->modseq > x->max_modseq)
		x->max_modseq = m->modseq;
	x->n++;
	return STORE_OK;
}

static int gather_window(struct imap_session *s, struct sort_ctx *x)
{
	if (!x->win_loaded) {
		int rc = window_load(s, x);
		if (rc != STORE_OK)
			return rc;
		x->win_loaded = true;
		x->win_k = 0;
	}
	size_t start_k = x->win_k;
	for (; x->win_k < x->win_n; x->win_k++) {
		if (!x->found[x->win_k])
			continue;
		/* Each message reads its header: let the loop's other sessions
		 * in between, after at least one message per slice. */
		if (x->win_k > start_k && imap_cmd_yield_due(s))
			return GATHER_YIELD;
		int rc = gather_one(s, x, x->win_k);
		if (rc != STORE_OK)
			return rc;
	}
	imap_sort_reader_trim(&x->rd);
	x->i = x->win_lo + x->win_n;
	x->win_loaded = false;
	return STORE_OK;
}

/* ---- work ---- */

static int work_do(bool thread, enum imap_thread_alg alg, const struct imap_sort_crit *crit,
		   size_t ncrit, struct imap_sort_msg *msgs, size_t n, const char *pool,
		   struct buf *out)
{
	if (thread)
		return imap_thread_run(alg, msgs, n, pool, out);
	return imap_sort_run(msgs, n, crit, ncrit, pool);
}

static void job_run(struct imap_job *j)
{
	struct sort_job *w = (struct sort_job *)j;
	w->rc = work_do(w->thread, w->alg, w->crit, w->ncrit, w->msgs, w->n,
			w->pool.data, &w->out);
}

static void job_discard(struct imap_job *j)
{
	struct sort_job *w = (struct sort_job *)j;
	free(w->msgs);
	buf_free(&w->pool);
	buf_free(&w->out);
	free(w);
}

static void job_finish(struct imap_job *j, bool ran)
{
	struct sort_job *w = (struct sort_job *)j;
	struct sort_ctx *x = j->cmd->ctx;
	x->msgs = w->msgs;
	x->pool = w->pool;
	x->out = w->out;
	x->work_rc = ran ? w->rc : -1;
	free(w);
}

/* Hands the matches to the pool: 0 (wait for it), or -1 to work in place. */
static int work_submit(struct imap_cmd *cmd, struct sort_ctx *x)
{
	struct sort_job *w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	w->job.run = job_run;
	w->job.finish = job_finish;
	w->job.discard = job_discard;
	w->thread = x->thread;
	w->alg = x->prog.alg;
	memcpy(w->crit, x->prog.crit, sizeof(w->crit));
	w->ncrit = x->prog.ncrit;
	w->msgs = x->msgs;
	w->n = x->n;
	w->pool = x->pool;
	w->out = x->out;
	if (imap_cmd_job_submit(cmd, &w->job) < 0) {
		free(w);
		return -1;
	}
	x->msgs = NULL;
	x->cap = 0;
	buf_init(&x->pool, 0);
	buf_init(&x->out, 0);
	return 0;
}

/* ---- write ---- */

/* RFC 5267 4.4: "PARTIAL (lo:hi set)" of the results lo..hi in sort
 * order, or NIL when there are none there. */
static int partial_write(struct buf *b, const struct imap_sort_msg *msgs, size_t n, uint32_t lo,
			 uint32_t hi)
{
	int rc = buf_printf(b, " PARTIAL (%u:%u ", (unsigned)lo, (unsigned)hi);
	if (lo > n)
		return rc | buf_puts(b, "NIL)");
	size_t end = hi < n ? hi : n;
	uint32_t *v = malloc((end - lo + 1) * sizeof(*v));
	if (!v)
		return -1;
	for (size_t i = lo - 1; i < end; i++)
		v[i - (lo - 1)] = msgs[i].num;
	rc |= imap_search_set_write(b, v, end - lo + 1);
	free(v);
	return rc | buf_putc(b, ')');
}

static int esort_write(struct imap_cmd *cmd, struct sort_ctx *x)
{
	struct buf *b = &x->out;
	buf_reset(b);
	int rc = buf_puts(b, "* ESEARCH (TAG ");
	rc |= imap_write_string(b, cmd->pc->tag, cmd->pc->tag_len);
	rc |= buf_putc(b, ')');
	if (cmd->uid)
		rc |= buf_puts(b, " UID");
	/* RFC 5267 3.1: MIN and MAX are the first and last in sort order. */
	unsigned ret = x->prog.ret;
	if (x->n && (ret & IMAP_SEARCH_RET_MIN))
		rc |= buf_printf(b, " MIN %u", (unsigned)x->msgs[0].num);
	if (x->n && (ret & IMAP_SEARCH_RET_MAX))
		rc |= buf_printf(b, " MAX %u", (unsigned)x->msgs[x->n - 1].num);
	if (ret & IMAP_SEARCH_RET_COUNT)
		rc |= buf_printf(b, " COUNT %zu", x->n);
	if (x->n && (ret & IMAP_SEARCH_RET_ALL)) {
		/* RFC 5267 3.2: in sort order; a range only where numbers
		 * ascend by one. */
		uint32_t *v = malloc(x->n * sizeof(*v));
		if (!v)
			return -1;
		for (size_t i = 0; i < x->n; i++)
			v[i] = x->msgs[i].num;
		rc |= buf_puts(b, " ALL ");
		rc |= imap_search_set_write(b, v, x->n);
		free(v);
	}
	if (ret & IMAP_SEARCH_RET_PARTIAL)
		rc |= partial_write(b, x->msgs, x->n, x->prog.partial_lo, x->prog.partial_hi);
	if (x->want_modseq && x->n)
		rc |= buf_printf(b, " MODSEQ %llu", (unsigned long long)x->max_modseq);
	rc |= buf_puts(b, "\r\n");
	if (rc)
		return -1;
	imap_write_buf(cmd->s, b);
	buf_reset(b);
	return 0;
}

/* The SORT or THREAD response: 0 when written, 1 while output is full
 * (call again when it drains), -1 when out of memory. */
static int response_write(struct imap_cmd *cmd, struct sort_ctx *x)
{
	struct imap_session *s = cmd->s;
	if (x->thread) {
		/* thread-data = "THREAD" [SP 1*thread-list] */
		if (!x->line_started) {
			imap_printf(s, "* THREAD%s", x->out.len ? " " : "");
			x->line_started = true;
		}
		while (x->out_off < x->out.len) {
			if (imap_output_full(s))
				return 1;
			size_t n = x->out.len - x->out_off;
			if (n > IMAP_STREAM_CHUNK)
				n = IMAP_STREAM_CHUNK;
			imap_write(s, x->out.data + x->out_off, n);
			x->out_off += n;
		}
		imap_write(s, "\r\n", 2);
		return 0;
	}
	if (x->prog.has_return) {
		if (esort_write(cmd, x) < 0)
			return -1;
		return 0;
	}
	if (!x->line_started) {
		buf_reset(&x->out);
		buf_puts(&x->out, "* SORT");
		x->line_started = true;
	}
	while (x->wk < x->n) {
		if (buf_printf(&x->out, " %u", (unsigned)x->msgs[x->wk++].num) < 0)
			return -1;
		if (x->out.len >= SORT_LINE_FLUSH) {
			imap_write_buf(s, &x->out);
			buf_reset(&x->out);
			if (imap_output_full(s))
				return 1;
		}
	}
	/* RFC 7162 3.1.5: with a MODSEQ key, the highest MODSEQ found. */
	if (x->want_modseq && x->n)
		buf_printf(&x->out, " (MODSEQ %llu)", (unsigned long long)x->max_modseq);
	buf_puts(&x->out, "\r\n");
	imap_write_buf(s, &x->out);
	buf_reset(&x->out);
	return 0;
}

/* ---- the command ---- */

static unsigned want_of(const struct sort_ctx *x)
{
	if (x->thread)
		return IMAP_SORT_W_SUBJECT | IMAP_SORT_W_DATE |
		       (x->prog.alg == IMAP_THREAD_REFERENCES ? IMAP_SORT_W_REFS : 0);
	unsigned w = 0;
	for (size_t i = 0; i < x->prog.ncrit; i++) {
		switch (x->prog.crit[i].key) {
		case IMAP_SORT_ARRIVAL:
		case IMAP_SORT_SIZE:
			break;
		case IMAP_SORT_DATE:
			w |= IMAP_SORT_W_DATE;
			break;
		case IMAP_SORT_SUBJECT:
			w |= IMAP_SORT_W_SUBJECT;
			break;
		case IMAP_SORT_FROM:
			w |= IMAP_SORT_W_FROM;
			break;
		case IMAP_SORT_TO:
			w |= IMAP_SORT_W_TO;
			break;
		case IMAP_SORT_CC:
			w |= IMAP_SORT_W_CC;
			break;
		case IMAP_SORT_DISPLAYFROM:
			w |= IMAP_SORT_W_DISPLAYFROM;
			break;
		case IMAP_SORT_DISPLAYTO:
			w |= IMAP_SORT_W_DISPLAYTO;
			break;
		}
	}
	return w;
}

static const char *cmd_name(const struct imap_cmd *cmd, const struct sort_ctx *x)
{
	if (x && x->thread)
		return cmd->uid ? "UID THREAD" : "THREAD";
	return cmd->uid ? "UID SORT" : "SORT";
}

/* Parses and sets up cmd->ctx: 0, or -1 when the reply is written. */
static int sort_start(struct imap_cmd *cmd, bool thread)
{
	struct imap_session *s = cmd->s;
	struct imap_view *v = s->view;
	struct sort_ctx *x = calloc(1, sizeof(*x));
	if (!x) {
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, thread ? "THREAD" : "SORT");
		return -1;
	}
	cmd->ctx = x;
	cmd->ctx_free = sort_ctx_free;
	x->thread = thread;
	const char *err = NULL;
	int prc = thread ? imap_thread_parse(cmd->pc->args, cmd->pc->nargs, &x->prog, &err)
			 : imap_sort_parse(cmd->pc->args, cmd->pc->nargs, true, &x->prog, &err);
	if (prc < 0) {
		imap_cmd_bad(cmd, "%s", err ? err : "Invalid arguments");
		return -1;
	}
	/* RFC 5267 4.3: UPDATE with the tag of a live context is BAD. */
	if ((x->prog.ret & IMAP_SEARCH_RET_UPDATE) &&
	    imap_context_tag_used(s, cmd->pc->tag, cmd->pc->tag_len)) {
		imap_cmd_bad(cmd, "Tag reuse");
		return -1;
	}
	/* RFC 5256 3: US-ASCII and UTF-8 are the charsets; others are NO
	 * [BADCHARSET] with the list (RFC 3501 7.1). */
	if (strcasecmp(x->prog.charset.s, "UTF-8") != 0 &&
	    strcasecmp(x->prog.charset.s, "US-ASCII") != 0) {
		imap_cmd_no(cmd, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
		return -1;
	}
	x->want = want_of(x);
	x->want_modseq = !thread && imap_search_uses_modseq(&x->prog.root);
	if (x->want_modseq)
		imap_session_condstore_enable(s);
	if (imap_sort_pool_init(&x->pool) < 0) {
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, cmd_name(cmd, x));
		return -1;
	}
	int lrc = imap_view_uids_load(s);
	if (lrc != STORE_OK) {
		imap_cmd_store_error(cmd, lrc, cmd_name(cmd, x));
		return -1;
	}
	imap_view_search_env(v, &x->env);
	x->i = 0;
	x->end = v->count;
	return 0;
}

static enum imap_cmd_rc sort_fail(struct imap_cmd *cmd, struct sort_ctx *x, int rc)
{
	if (x->line_started)
		imap_write(cmd->s, "\r\n", 2);
	x->line_started = false;
	imap_cmd_store_error(cmd, rc, cmd_name(cmd, x));
	return IMAP_CMD_DONE;
}

static enum imap_cmd_rc sort_or_thread(struct imap_cmd *cmd, bool thread)
{
	struct imap_session *s = cmd->s;
	if (cmd->stage == STAGE_START) {
		if (sort_start(cmd, thread) < 0)
			return IMAP_CMD_DONE;
		cmd->stage = STAGE_GATHER;
	}
	struct sort_ctx *x = cmd->ctx;
	if (cmd->job)
		return IMAP_CMD_WAIT;   /* a lock wait or the sort: not done yet */
	if (cmd->stage == STAGE_GATHER) {
		bool progressed = false;
		while (x->i < x->end) {
			if (!x->win_loaded && progressed && imap_cmd_yield_due(s))
				return IMAP_CMD_AGAIN;
			progressed = true;
			int rc = gather_window(s, x);
			if (rc == GATHER_YIELD)
				return IMAP_CMD_AGAIN;
			if (rc == GATHER_WAIT)
				return IMAP_CMD_WAIT;
			if (rc != STORE_OK)
				return sort_fail(cmd, x, rc);
		}
		/* The reader's buffers are not needed any more. */
		imap_sort_reader_clear(&x->rd);
		cmd->stage = STAGE_WORK;
		if (x->n >= SORT_JOB_MIN && work_submit(cmd, x) == 0)
			return IMAP_CMD_WAIT;
		x->work_rc = work_do(x->thread, x->prog.alg, x->prog.crit, x->prog.ncrit, x->msgs,
				     x->n, x->pool.data, &x->out);
	}
	if (cmd->stage == STAGE_WORK) {
		if (x->work_rc < 0)
			return sort_fail(cmd, x, STORE_ERR_TEMP);
		cmd->stage = STAGE_WRITE;
	}
	int rc = response_write(cmd, x);
	if (rc < 0)
		return sort_fail(cmd, x, STORE_ERR_TEMP);
	if (rc > 0)
		return IMAP_CMD_AGAIN;
	if (x->prog.ret & IMAP_SEARCH_RET_UPDATE) {
		struct imap_context_spec spec = {
			.root = &x->prog.root, .uid = cmd->uid, .sort = true,
			.crit = x->prog.crit, .ncrit = x->prog.ncrit, .want = x->want,
		};
		if (imap_context_start(cmd, &spec, NULL, x->n, &x->msgs, &x->pool) == 0) {
			imap_cmd_ok(cmd, "%s completed, will notify", cmd_name(cmd, x));
			return IMAP_CMD_DONE;
		}
	}
	imap_cmd_ok(cmd, "%s completed", cmd_name(cmd, x));
	return IMAP_CMD_DONE;
}

enum imap_cmd_rc imap_cmd_sort(struct imap_cmd *cmd)
{
	return sort_or_thread(cmd, false);
}

enum imap_cmd_rc imap_cmd_thread(struct imap_cmd *cmd)
{
	return sort_or_thread(cmd, true);
}
