/* imap/imap_context.c: updating search and sort contexts (RFC 5267 4.3,
 * CONTEXT=SEARCH and CONTEXT=SORT): what a SEARCH or SORT with RETURN
 * (UPDATE) keeps, and the ESEARCH ADDTO / REMOVEFROM responses the view's
 * changes turn into (see imap_context.h).
 *
 * Positions: a SEARCH context answers with position 0 and sets in mailbox
 * order (4.3.3, 4.3.4: the shortest form); a SORT context with the
 * position each message takes or took in the sort order, pair by pair in
 * the order the client applies them.  Numbers are UIDs for the UID forms,
 * else sequence numbers: before the EXPUNGE responses for a removal, after
 * EXISTS for an arrival, so they are valid when the client reads them. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/conn.h"
#include "core/content_wait.h"
#include "core/log.h"
#include "core/server.h"
#include "imap/imap_context.h"
#include "imap/imap_session.h"
#include "imap/imap_view.h"

struct imap_context {
	struct imap_context *next;
	char *tag;
	size_t tag_len;
	bool uid, sort;
	struct imap_search_key root;   /* a copy; strings in `strings` */
	char *strings;
	struct imap_sort_crit crit[IMAP_SORT_MAX_CRITERIA];
	size_t ncrit;
	unsigned want;
	uint32_t *uids;                /* the result, ascending UIDs */
	size_t n, cap;
	struct imap_sort_msg *msgs;    /* SORT: the result in sort order; seq is the UID */
	size_t nm, mcap;
	struct buf pool;
};

/* ---- the program's copy ---- */

static size_t strings_size(const struct imap_search_key *k)
{
	size_t n = (k->str.s ? k->str.len + 1 : 0) + (k->str2.s ? k->str2.len + 1 : 0);
	for (size_t i = 0; i < k->count; i++)
		n += strings_size(&k->children[i]);
	return n;
}

static int str_copy(struct imap_string *dst, const struct imap_string *src, char **at)
{
	if (!src->s) {
		*dst = (struct imap_string){ NULL, 0 };
		return 0;
	}
	memcpy(*at, src->s, src->len);
	(*at)[src->len] = '\0';
	*dst = (struct imap_string){ *at, src->len };
	*at += src->len + 1;
	return 0;
}

static int key_copy(struct imap_search_key *dst, const struct imap_search_key *src, char **at)
{
	*dst = *src;
	dst->set = NULL;
	dst->children = NULL;
	dst->count = 0;
	str_copy(&dst->str, &src->str, at);
	str_copy(&dst->str2, &src->str2, at);
	if (src->set) {
		/* Only UID sets reach here (imap_context_program_ok). */
		struct imap_seqset *set = calloc(1, sizeof(*set));
		if (!set)
			return -1;
		*set = *src->set;
		set->ranges = NULL;
		dst->set = set;
		if (src->set->count) {
			set->ranges = malloc(src->set->count * sizeof(*set->ranges));
			if (!set->ranges)
				return -1;
			memcpy(set->ranges, src->set->ranges, src->set->count * sizeof(*set->ranges));
		}
	}
	if (src->count) {
		dst->children = calloc(src->count, sizeof(*dst->children));
		if (!dst->children)
			return -1;
		for (size_t i = 0; i < src->count; i++) {
			dst->count++;
			if (key_copy(&dst->children[i], &src->children[i], at) < 0)
				return -1;
		}
	}
	return 0;
}

bool imap_context_program_ok(const struct imap_search_key *k)
{
	if (k->type == IMAP_SK_SEQSET || (k->set && k->set->saved))
		return false;
	for (size_t i = 0; i < k->count; i++)
		if (!imap_context_program_ok(&k->children[i]))
			return false;
	return true;
}

/* ---- life ---- */

static void context_free(struct imap_context *c)
{
	imap_search_key_clear(&c->root);
	free(c->strings);
	free(c->tag);
	free(c->uids);
	free(c->msgs);
	buf_free(&c->pool);
	free(c);
}

static void later_end(struct imap_view *v);

void imap_context_view_end(struct imap_view *v)
{
	while (v->contexts) {
		struct imap_context *c = v->contexts;
		v->contexts = c->next;
		context_free(c);
	}
	later_end(v);
}

static struct imap_context **find(struct imap_session *s, const char *tag, size_t len)
{
	if (!s->view)
		return NULL;
	for (struct imap_context **p = &s->view->contexts; *p; p = &(*p)->next)
		if ((*p)->tag_len == len && memcmp((*p)->tag, tag, len) == 0)
			return p;
	return NULL;
}

bool imap_context_tag_used(struct imap_session *s, const char *tag, size_t len)
{
	return find(s, tag, len) != NULL;
}

bool imap_context_cancel(struct imap_session *s, const char *tag, size_t len)
{
	struct imap_context **p = find(s, tag, len);
	if (!p)
		return false;
	struct imap_context *c = *p;
	*p = c->next;
	context_free(c);
	return true;
}

static void noupdate(struct imap_cmd *cmd, const char *why)
{
	struct buf b;
	buf_init(&b, 0);
	int rc = buf_puts(&b, "* NO [NOUPDATE ");
	rc |= imap_write_string(&b, cmd->pc->tag, cmd->pc->tag_len);
	rc |= buf_printf(&b, "] %s\r\n", why);
	if (rc == 0)
		imap_write_buf(cmd->s, &b);
	buf_free(&b);
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int imap_context_start(struct imap_cmd *cmd, const struct imap_context_spec *spec,
		       const uint32_t *uids, size_t n, struct imap_sort_msg **msgs,
		       struct buf *pool)
{
	struct imap_session *s = cmd->s;
	struct imap_view *v = s->view;
	size_t count = 0;
	for (struct imap_context *c = v->contexts; c; c = c->next)
		count++;
	/* RFC 5267 4.3.1: refused updates are an untagged NO [NOUPDATE];
	 * the other return options are still honoured. */
	if (count >= IMAP_CONTEXT_MAX) {
		noupdate(cmd, "Too many contexts");
		return -1;
	}
	if (!imap_context_program_ok(spec->root)) {
		noupdate(cmd, "Message sequence numbers and $ cannot be kept up to date");
		return -1;
	}
	struct imap_context *c = calloc(1, sizeof(*c));
	size_t ssize = strings_size(spec->root);
	char *at = NULL;
	if (!c)
		goto nomem;
	buf_init(&c->pool, 0);
	c->uid = spec->uid;
	c->sort = spec->sort;
	c->want = spec->want;
	c->ncrit = spec->ncrit;
	if (spec->ncrit)
		memcpy(c->crit, spec->crit, spec->ncrit * sizeof(*c->crit));
	if (!(c->tag = malloc(cmd->pc->tag_len + 1)) || (ssize && !(c->strings = malloc(ssize))))
		goto nomem;
	memcpy(c->tag, cmd->pc->tag, cmd->pc->tag_len);
	c->tag[cmd->pc->tag_len] = '\0';
	c->tag_len = cmd->pc->tag_len;
	at = c->strings;
	if (key_copy(&c->root, spec->root, &at) < 0)
		goto nomem;
	c->cap = n ? n : 16;
	if (!(c->uids = malloc(c->cap * sizeof(*c->uids))))
		goto nomem;
	if (spec->sort) {
		/* The sort's matches: seq becomes the UID, which orders the
		 * same way and stays right when messages are expunged. */
		c->msgs = *msgs;
		c->nm = c->mcap = n;
		*msgs = NULL;
		c->pool = *pool;
		buf_init(pool, 0);
		for (size_t i = 0; i < n; i++) {
			c->msgs[i].seq = v->uids[c->msgs[i].seq - 1];
			c->uids[i] = c->msgs[i].seq;
		}
		qsort(c->uids, n, sizeof(*c->uids), u32_cmp);
	} else {
		memcpy(c->uids, uids, n * sizeof(*uids));
	}
	c->n = n;
	c->next = v->contexts;
	v->contexts = c;
	return 0;
nomem:
	if (c)
		context_free(c);
	noupdate(cmd, "Out of memory");
	return -1;
}

/* ---- updates ---- */

static size_t lower(const uint32_t *a, size_t n, uint32_t x)
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

static bool member(const struct imap_context *c, uint32_t uid)
{
	size_t i = lower(c->uids, c->n, uid);
	return i < c->n && c->uids[i] == uid;
}

static int member_add(struct imap_context *c, uint32_t uid)
{
	if (c->n == c->cap) {
		size_t cap = c->cap * 2;
		uint32_t *p = realloc(c->uids, cap * sizeof(*p));
		if (!p)
			return -1;
		c->uids = p;
		c->cap = cap;
	}
	size_t i = lower(c->uids, c->n, uid);
	memmove(c->uids + i + 1, c->uids + i, (c->n - i) * sizeof(*c->uids));
	c->uids[i] = uid;
	c->n++;
	return 0;
}

static void member_del(struct imap_context *c, uint32_t uid)
{
	size_t i = lower(c->uids, c->n, uid);
	if (i < c->n && c->uids[i] == uid) {
		memmove(c->uids + i, c->uids + i + 1, (c->n - i - 1) * sizeof(*c->uids));
		c->n--;
	}
}

/* SORT: the position (0-based) of uid in the sort order, by its keys. */
static size_t sort_find(const struct imap_context *c, uint32_t uid)
{
	for (size_t i = 0; i < c->nm; i++)
		if (c->msgs[i].seq == uid)
			return i;
	return c->nm;
}

static void sort_del(struct imap_context *c, size_t i)
{
	memmove(c->msgs + i, c->msgs + i + 1, (c->nm - i - 1) * sizeof(*c->msgs));
	c->nm--;
}

static int sort_add(struct imap_context *c, const struct imap_sort_msg *m, size_t *pos_r)
{
	if (c->nm == c->mcap) {
		size_t cap = c->mcap ? c->mcap * 2 : 16;
		struct imap_sort_msg *p = realloc(c->msgs, cap * sizeof(*p));
		if (!p)
			return -1;
		c->msgs = p;
		c->mcap = cap;
	}
	size_t lo = 0, hi = c->nm;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (imap_sort_compare(&c->msgs[mid], m, c->crit, c->ncrit, c->pool.data) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(c->msgs + lo + 1, c->msgs + lo, (c->nm - lo) * sizeof(*c->msgs));
	c->msgs[lo] = *m;
	c->nm++;
	*pos_r = lo;
	return 0;
}

/* One ESEARCH response being built for a context. */
struct update {
	struct buf b;
	bool open;           /* an ADDTO/REMOVEFROM list is open */
	bool adding;
	uint32_t *nums;      /* SEARCH: the numbers of the open list */
	size_t nn, ncap;
};

static int num_of(struct imap_session *s, const struct imap_context *c, uint32_t uid,
		  uint32_t *num_r)
{
	*num_r = c->uid ? uid : imap_view_seq(s->view, uid);
	return *num_r ? 0 : -1;
}

static int update_close(struct update *u)
{
	int rc = 0;
	if (u->open && u->nn) {
		rc |= imap_search_set_write(&u->b, u->nums, u->nn);
		u->nn = 0;
	}
	if (u->open)
		rc |= buf_putc(&u->b, ')');
	u->open = false;
	return rc;
}

/* Adds one change: SEARCH gathers numbers under position 0, SORT writes
 * "pos num" pairs. */
static int update_add(struct imap_session *s, const struct imap_context *c, struct update *u,
		      bool adding, size_t pos, uint32_t num)
{
	int rc = 0;
	if (u->b.len == 0) {
		rc |= buf_puts(&u->b, "* ESEARCH (TAG ");
		rc |= imap_write_string(&u->b, c->tag, c->tag_len);
		rc |= buf_putc(&u->b, ')');
		if (c->uid)
			rc |= buf_puts(&u->b, " UID");
	}
	if (u->open && u->adding != adding)
		rc |= update_close(u);
	if (!u->open) {
		rc |= buf_puts(&u->b, adding ? " ADDTO (" : " REMOVEFROM (");
		if (!c->sort)
			rc |= buf_puts(&u->b, "0 ");
		u->open = true;
		u->adding = adding;
	} else if (c->sort) {
		rc |= buf_putc(&u->b, ' ');
	}
	if (c->sort)
		return rc | buf_printf(&u->b, "%zu %u", pos + 1, (unsigned)num);
	(void)s;
	if (u->nn == u->ncap) {
		size_t cap = u->ncap ? u->ncap * 2 : 16;
		uint32_t *p = realloc(u->nums, cap * sizeof(*p));
		if (!p)
			return -1;
		u->nums = p;
		u->ncap = cap;
	}
	u->nums[u->nn++] = num;
	return rc;
}

static void update_send(struct imap_session *s, struct update *u)
{
	if (u->b.len && update_close(u) == 0 && buf_puts(&u->b, "\r\n") == 0)
		imap_write_buf(s, &u->b);
	buf_reset(&u->b);
	u->nn = 0;
	u->open = false;
}

static void update_free(struct update *u)
{
	buf_free(&u->b);
	free(u->nums);
}

static bool needs_seqs(const struct imap_view *v)
{
	for (const struct imap_context *c = v->contexts; c; c = c->next)
		if (!c->uid)
			return true;
	return false;
}

void imap_context_expunged(struct imap_session *s, const uint32_t *uids, size_t n)
{
	struct imap_view *v = s->view;
	if (!v || !v->contexts || n == 0)
		return;
	struct update u = { 0 };
	buf_init(&u.b, 0);
	for (struct imap_context *c = v->contexts; c; c = c->next) {
		for (size_t i = 0; i < n; i++) {
			if (!member(c, uids[i]))
				continue;
			uint32_t num;
			if (num_of(s, c, uids[i], &num) < 0)
				continue;
			size_t pos = 0;
			if (c->sort) {
				pos = sort_find(c, uids[i]);
				if (pos < c->nm)
					sort_del(c, pos);
			}
			member_del(c, uids[i]);
			update_add(s, c, &u, false, pos, num);
		}
		update_send(s, &u);
	}
	update_free(&u);
}

/* ---- a read that would wait for a writer's lock ----
 * The changed messages are often the newest, whose pages the next delivery
 * writes until its commit, so their reads do not wait for a lock on the
 * loop (issue 11 point 1).  A message that finds one held is kept in the
 * view's `later` list, and a worker waits for its pages
 * (store_content_wait).  When it is back, the session hears of it as of a
 * change (imap_session_notify), so that its next sync (at once in IDLE or
 * with NOTIFY, else at the next command's completion) reads the kept
 * messages again (imap_context_recheck): RFC 5267 4.3.2 lets ADDTO and
 * REMOVEFROM come at any time.  A message is evaluated as it is then, and
 * an update is the difference from what the context holds, so a message
 * read twice, or gone meanwhile, tells nothing twice; an expunge still
 * tells its REMOVEFROM before the EXPUNGE (imap_context_expunged).  A pool
 * that cannot take the wait: waited for in place, as before. */
struct context_wait {
	struct content_wait cw;       /* first */
	struct imap_session *s;       /* NULL once the view is gone */
	struct imap_view *v;
};

struct imap_context_later {
	uint32_t *uids;               /* ascending */
	size_t n, cap;
	struct context_wait *wait;    /* on a worker, or NULL */
};

static void later_end(struct imap_view *v)
{
	struct imap_context_later *l = v->contexts_later;
	if (!l)
		return;
	if (l->wait) {
		l->wait->s = NULL;
		l->wait->v = NULL;
	}
	free(l->uids);
	free(l);
	v->contexts_later = NULL;
}

static void context_wait_done(struct work *w)
{
	struct context_wait *j = (struct context_wait *)w;
	if (j->v) {
		j->v->contexts_later->wait = NULL;
		imap_session_notify(j->s);   /* its sync reads them again */
	}
	free(j);
}

/* Keeps rec for a later read and has a worker wait for its pages (unless
 * one already waits): true, or false when neither can be done (the caller
 * reads waiting). */
static bool later_add(struct imap_session *s, const struct store_msg *rec)
{
	struct imap_view *v = s->view;
	if (!s->srv->workpool)
		return false;
	struct imap_context_later *l = v->contexts_later;
	if (!l && !(l = v->contexts_later = calloc(1, sizeof(*l))))
		return false;
	size_t at = lower(l->uids, l->n, rec->uid);
	bool added = false;
	if (at == l->n || l->uids[at] != rec->uid) {
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 16;
			uint32_t *p = realloc(l->uids, cap * sizeof(*p));
			if (!p)
				return false;
			l->uids = p;
			l->cap = cap;
		}
		memmove(l->uids + at + 1, l->uids + at, (l->n - at) * sizeof(*l->uids));
		l->uids[at] = rec->uid;
		l->n++;
		added = true;
	}
	if (l->wait)
		return true;   /* it comes back, and all the kept ones are read */
	struct context_wait *j = calloc(1, sizeof(*j));
	if (j) {
		j->s = s;
		j->v = v;
		if (content_wait_submit(&j->cw, s->srv->workpool, conn_loop(s->c), s->store,
					rec->content_id, 0, rec->size, context_wait_done) == 0) {
			l->wait = j;
			conn_log(s->c, PLOG_DEBUG,
				 "store busy: a context's update waits on a worker uid=%u",
				 (unsigned)rec->uid);
			return true;
		}
		free(j);
	}
	if (added)
		memmove(l->uids + at, l->uids + at + 1, (--l->n - at) * sizeof(*l->uids));
	return false;
}

/* Evaluates message rec for context c: 1 match (with keys in *m when
 * `keys`), 0 not, -1 gone or unreadable (no change is told), -2 a writer's
 * lock held on its pages (only with `nowait`). */
static int evaluate(struct imap_session *s, struct imap_context *c, struct imap_sort_reader *r,
		    const struct store_msg *rec, bool keys, bool nowait, struct imap_sort_msg *m)
{
	const struct imap_view *v = s->view;
	struct imap_search_env env = {
		.nmsgs = (uint32_t)v->count,
		.max_uid = v->uid_hi,
		.recent = &v->recent,
		.keywords = v->keywords,
		.now = (int64_t)time(NULL),   /* RFC 5032 OLDER/YOUNGER */
	};
	uint32_t seq = v->snap ? imap_view_seq(v, rec->uid) : 0;
	bool match = false;
	bool was = store_thread_nowait(nowait);
	int rc = imap_sort_read(r, s->store, &env, &c->root, keys ? c->want : 0, rec, seq, &match,
				m, &c->pool);
	store_thread_nowait(was);
	if (rc == STORE_ERR_BUSY && nowait)
		return -2;
	if (rc != STORE_OK)
		return -1;
	m->seq = rec->uid;
	return match;
}

static void changed(struct imap_session *s, const uint32_t *uids, size_t n, bool arrivals)
{
	struct imap_view *v = s->view;
	if (!v || !v->contexts || n == 0)
		return;
	if (needs_seqs(v) && imap_view_uids_load(s) != STORE_OK)
		return;
	struct imap_sort_reader r;
	memset(&r, 0, sizeof(r));
	struct update u = { 0 };
	buf_init(&u.b, 0);
	for (struct imap_context *c = v->contexts; c; c = c->next) {
		for (size_t i = 0; i < n; i++) {
			struct store_msg rec;
			if (store_msg_get(s->store, v->mailbox_id, uids[i], &rec) != STORE_OK)
				continue;   /* expunged meanwhile: its EXPUNGE tells */
			struct imap_sort_msg m;
			/* Keys only for a message that joins a SORT context, so a
			 * flag change that moves nothing adds nothing to the pool. */
			bool was = !arrivals && member(c, uids[i]);
			bool keys = c->sort && !was;
			int match = evaluate(s, c, &r, &rec, keys, s->srv->workpool != NULL, &m);
			if (match == -2 && later_add(s, &rec))
				continue;   /* read again when a worker has waited */
			if (match == -2)
				match = evaluate(s, c, &r, &rec, keys, false, &m);
			uint32_t num;
			if (match < 0 || match == was || num_of(s, c, uids[i], &num) < 0)
				continue;
			size_t pos = 0;
			if (match) {
				if (member_add(c, uids[i]) < 0 || (c->sort && sort_add(c, &m, &pos) < 0))
					continue;
			} else {
				if (c->sort) {
					pos = sort_find(c, uids[i]);
					if (pos < c->nm)
						sort_del(c, pos);
				}
				member_del(c, uids[i]);
			}
			update_add(s, c, &u, match == 1, pos, num);
		}
		update_send(s, &u);
		imap_sort_reader_trim(&r);
	}
	update_free(&u);
	imap_sort_reader_clear(&r);
}

void imap_context_arrived(struct imap_session *s, const uint32_t *uids, size_t n)
{
	changed(s, uids, n, true);
}

void imap_context_flags(struct imap_session *s, const uint32_t *uids, size_t n)
{
	changed(s, uids, n, false);
}

void imap_context_recheck(struct imap_session *s)
{
	struct imap_view *v = s->view;
	struct imap_context_later *l = v ? v->contexts_later : NULL;
	if (!l || l->wait || l->n == 0)
		return;
	if (v->contexts && needs_seqs(v) && imap_view_uids_load(s) != STORE_OK)
		return;   /* kept for the next sync */
	/* Taken first: the ones still held are kept again (none of them, with
	 * no context left). */
	uint32_t *uids = l->uids;
	size_t n = l->n;
	l->uids = NULL;
	l->n = l->cap = 0;
	changed(s, uids, n, false);
	free(uids);
}
