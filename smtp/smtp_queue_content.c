/* smtp/smtp_queue_content.c: what an attempt sends: the stored message,
 * its DKIM-Signature fields (RFC 6376) in front, and its 7-bit form
 * (smtp_7bit.h) for a server without 8BITMIME (RFC 6152 3).
 *
 * The conversion is planned once per attempt, when first needed, from the
 * MIME structure stored beside the content, and each group reads it
 * through a reader of its own (its own position), so a 20 MiB message
 * costs two reads of the store, not a copy.  A message that will be signed
 * is converted before signing whenever it can be (RFC 6376 5.3: signers
 * SHOULD convert 8-bit content to a transfer encoding before signing, as a
 * conversion further on breaks the signature), and then goes 7-bit to
 * every server. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/content_wait.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/server.h"
#include "core/workpool.h"
#include "core/mime.h"
#include "smtp/smtp_7bit.h"
#include "smtp/smtp_dkim.h"
#include "smtp/smtp_queue_private.h"

/* The header section read to find the From: domain for DKIM. */
#define OQ_HEADER_MAX 65536
/* Content stored without a MIME structure (notices) is parsed in memory
 * when it is at most this much over the returned-message limit: a notice
 * is its text, its report and what it returns. */
#define OQ_PARSE_SLACK (1024 * 1024)

int oq_stored_read(void *arg, uint64_t off, void *buf, size_t cap, size_t *got)
{
	struct oq_attempt *a = arg;
	int rc = store_content_pread(a->store, &a->content, off, buf, cap, got);
	if (rc == STORE_ERR_BUSY) {
		a->busy_off = off;
		a->busy_len = cap;
		return 1;
	}
	return rc == STORE_OK ? 0 : -1;
}

/* The message as sent, after the prefix: converted or as stored. */
static int body_read(struct oq_attempt *a, struct smtp_7bit_reader *rd, uint64_t off, void *buf,
		     size_t cap, size_t *got)
{
	if (rd)
		return smtp_7bit_reader_read(rd, off, buf, cap, got);
	return oq_stored_read(a, off, buf, cap, got);
}

/* ---- a read that would wait for a writer's lock ----
 * The message sent is often the newest content, whose pages the next
 * delivery writes until its commit.  Loop 0 reads it under
 * store_thread_nowait; a lock held answers 1 to the client (nothing
 * read: the 7-bit reader too is as it was), which holds its output while
 * a worker waits for those pages (store_content_wait), and goes on when
 * the worker is back (smtp_client_resume).  The connection's end lets
 * the worker's job go (oq_read_wait_detach).  A pool that cannot take
 * the wait: read here, waiting, as before. */
struct oq_read_wait {
	struct content_wait cw;       /* first */
	struct oq_conn *c;            /* NULL once the connection is gone */
};

static void read_wait_done(struct work *w)
{
	struct oq_read_wait *j = (struct oq_read_wait *)w;
	struct oq_conn *c = j->c;
	free(j);
	if (c) {
		c->read_wait = NULL;
		smtp_client_resume(c->c);
	}
}

void oq_read_wait_detach(struct oq_conn *c)
{
	if (c->read_wait)
		c->read_wait->c = NULL;
	c->read_wait = NULL;
}

static bool read_wait_submit(struct oq_group *g)
{
	struct oq_attempt *a = g->a;
	struct oq_conn *c = g->conn;
	struct oq_read_wait *j = calloc(1, sizeof(*j));
	if (!j)
		return false;
	j->c = c;
	if (content_wait_submit(&j->cw, c->q->srv->workpool, loop_at(c->q->srv, 0), a->store,
				a->e.content_id, a->busy_off, a->busy_len, read_wait_done) < 0) {
		free(j);
		return false;
	}
	c->read_wait = j;
	log_debug("queue id=%llu store busy: its content read waits on a worker",
		  (unsigned long long)a->e.id);
	return true;
}

int oq_content_read(void *arg, uint64_t off, void *buf, size_t cap, size_t *got)
{
	struct oq_group *g = arg;
	struct oq_attempt *a = g->a;
	size_t plen = a->prefix.len;
	if (off < plen) {
		size_t n = plen - (size_t)off < cap ? plen - (size_t)off : cap;
		memcpy(buf, a->prefix.data + off, n);
		*got = n;
		return 0;
	}
	bool pool = g->conn && !g->conn->read_wait && g->conn->q->srv->workpool;
	bool was = store_thread_nowait(pool);
	int rc = body_read(a, g->conv_rd, off - plen, buf, cap, got);
	store_thread_nowait(was);
	if (rc > 0 && read_wait_submit(g))
		return 1;
	if (rc > 0)
		rc = body_read(a, g->conv_rd, off - plen, buf, cap, got);
	return rc;
}

/* What a pass over the stored message reads.  A copy of the attempt's
 * (its store and open content), so that a worker's pass reads nothing of
 * the attempt, which the loop may free meanwhile. */
struct plan_src {
	struct store *store;
	struct store_content content;
	uint64_t content_id, size, id;
	uint64_t parse_max;       /* built in memory up to this size */
};

static void plan_src_of(const struct oq_attempt *a, struct plan_src *src)
{
	*src = (struct plan_src){
		.store = a->store, .content = a->content, .content_id = a->e.content_id,
		.size = a->e.size, .id = a->e.id,
		.parse_max = a->cfg->outbound_return_max + OQ_PARSE_SLACK,
	};
}

static int src_read(void *arg, uint64_t off, void *buf, size_t cap, size_t *got)
{
	const struct plan_src *src = arg;
	return store_content_pread(src->store, &src->content, off, buf, cap, got) == STORE_OK ? 0
											   : -1;
}

/* The stored structure, or one built from the content when it is small
 * enough to hold (content delivered without one). */
static int structure_get(const struct plan_src *src, void **data_r, size_t *len_r)
{
	int rc = store_content_structure(src->store, src->content_id, data_r, len_r);
	if (rc != STORE_ERR_NOTFOUND)
		return rc == STORE_OK ? 0 : -1;
	if (src->size > src->parse_max)
		return 1;
	struct buf msg, st;
	buf_init(&msg, 0);
	buf_init(&st, 0);
	char chunk[16384];
	uint64_t off = 0;
	rc = 0;
	while (rc == 0 && off < src->size) {
		size_t got = 0;
		if (src_read((void *)src, off, chunk, sizeof(chunk), &got) < 0 || got == 0 ||
		    buf_append(&msg, chunk, got) < 0)
			rc = -1;
		off += got;
	}
	if (rc == 0 && mime_structure_build(msg.data ? msg.data : "", msg.len, &st) != 0)
		rc = -1;
	buf_free(&msg);
	if (rc != 0) {
		buf_free(&st);
		return -1;
	}
	*data_r = st.data;
	*len_r = st.len;
	return 0;
}

/* The conversion's plan (a pass over the whole message): SMTP_7BIT_OK
 * with *plan_r, REFUSED with why, or an error. */
static int plan_make(const struct plan_src *src, struct smtp_7bit **plan_r, char *why,
		     size_t why_cap)
{
	void *st = NULL;
	size_t stlen = 0;
	int rc = structure_get(src, &st, &stlen);
	if (rc == 1) {
		snprintf(why, why_cap, "%s", "it has no stored MIME structure to convert by");
		return SMTP_7BIT_REFUSED;
	}
	if (rc < 0)
		return SMTP_7BIT_EREAD;
	rc = smtp_7bit_plan(st, stlen, src->size, src_read, (void *)src, plan_r, why, why_cap);
	free(st);
	return rc;
}

/* The plan's outcome into the attempt: 0 planned, 1 cannot be converted
 * (a->conv_why), -1 a temporary failure (store, memory). */
static int plan_keep(struct oq_attempt *a, int rc, struct smtp_7bit *plan, const char *why,
		     const char *why_needed)
{
	if (rc == SMTP_7BIT_REFUSED) {
		snprintf(a->conv_why, sizeof(a->conv_why), "%s", why);
		a->conv_refused = true;
		log_info("queue id=%llu 8bit not convertible reason=\"%s\"",
			 (unsigned long long)a->e.id, a->conv_why);
		return 1;
	}
	if (rc != SMTP_7BIT_OK)
		return -1;
	a->conv = plan;
	log_info("queue id=%llu converted 8bit to 7bit for=%s parts=%zu size=%llu->%llu",
		 (unsigned long long)a->e.id, why_needed, smtp_7bit_parts(a->conv),
		 (unsigned long long)a->e.size, (unsigned long long)smtp_7bit_size(a->conv));
	return 0;
}

/* Plans the attempt's conversion once, here.  0 planned, 1 cannot be
 * converted (a->conv_why), -1 a temporary failure (store, memory). */
static int attempt_convert(struct oq_attempt *a, const char *why_needed)
{
	if (a->conv)
		return 0;
	if (a->conv_refused)
		return 1;
	struct plan_src src;
	plan_src_of(a, &src);
	struct smtp_7bit *plan = NULL;
	char why[sizeof(a->conv_why)];
	int rc = plan_make(&src, &plan, why, sizeof(why));
	return plan_keep(a, rc, plan, why, why_needed);
}

/* Points the group's message at the converted form. */
static int group_use_7bit(struct oq_group *g)
{
	struct oq_attempt *a = g->a;
	if (!g->conv_rd) {
		g->conv_rd = smtp_7bit_reader_new(a->conv, oq_stored_read, a);
		if (!g->conv_rd)
			return -1;
	}
	g->msg.eightbit = false;
	g->msg.size = smtp_7bit_size(a->conv) + a->prefix.len;
	return 0;
}

/* ---- planning on the worker pool ----
 * The plan is a pass over the whole message (its reads may wait for a
 * writer's lock, and a large message costs its size in CPU), so loop 0
 * has a worker make it (issue 11 point 1).  One job per attempt; the
 * groups that need it meanwhile wait for it (g->plan_wait) on their
 * ready connection and are sent when it is back.  The job reads its own
 * copy of what it needs and opens (pins) the content itself; the
 * attempt's end lets it go (its plan is then dropped). */
struct oq_plan_job {
	struct work w;                /* first */
	struct oq_attempt *a;         /* NULL once the attempt is gone */
	struct plan_src src;
	char why_needed[256];
	int rc;
	struct smtp_7bit *plan;
	char why[200];
};

static void plan_job_run(struct work *w)
{
	struct oq_plan_job *j = (struct oq_plan_job *)w;
	/* Its own open (a pin): the attempt may end, and unpin, first; a
	 * content gone by then fails the plan, which nobody waits for. */
	j->rc = store_content_open(j->src.store, j->src.content_id, &j->src.content, NULL,
				   NULL) == STORE_OK
			? plan_make(&j->src, &j->plan, j->why, sizeof(j->why))
			: SMTP_7BIT_EREAD;
	store_content_close(j->src.store, &j->src.content);
}

static void plan_job_done(struct work *w)
{
	struct oq_plan_job *j = (struct oq_plan_job *)w;
	struct oq_attempt *a = j->a;
	if (!a) {
		smtp_7bit_free(&j->plan);
		free(j);
		return;
	}
	a->plan_job = NULL;
	if (!w->ran)
		j->rc = SMTP_7BIT_EREAD;   /* the pool stopped: deferred */
	if (plan_keep(a, j->rc, j->plan, j->why, j->why_needed) < 0) {
		smtp_7bit_free(&j->plan);
		a->conv_failed = true;
	}
	free(j);
	/* The groups that waited go on (group_send again, which finds the
	 * plan made, refused or failed). */
	for (size_t k = 0; k < a->ngroups; k++) {
		struct oq_group *g = &a->groups[k];
		if (g->plan_wait) {
			g->plan_wait = false;
			oq_group_send(g);
		}
	}
}

static bool plan_submit(struct oq_attempt *a, const char *host)
{
	struct oq_runner *q = a->q;
	if (q->stopping || !q->srv->workpool)
		return false;
	struct oq_plan_job *j = calloc(1, sizeof(*j));
	if (!j)
		return false;
	j->w.run = plan_job_run;
	j->w.done = plan_job_done;
	j->a = a;
	plan_src_of(a, &j->src);
	snprintf(j->why_needed, sizeof(j->why_needed), "%s", host);
	if (workpool_submit(q->srv->workpool, loop_at(q->srv, 0), &j->w) < 0) {
		free(j);
		return false;
	}
	a->plan_job = j;
	return true;
}

int oq_group_convert(struct oq_group *g, const char *host)
{
	struct oq_attempt *a = g->a;
	if (a->conv_failed)
		return -1;
	if (!a->conv && !a->conv_refused && (a->plan_job || plan_submit(a, host))) {
		g->plan_wait = true;
		return 2;
	}
	int rc = attempt_convert(a, host);   /* planned, or in place: no pool */
	if (rc != 0)
		return rc;
	return group_use_7bit(g) == 0 ? 0 : -1;
}

/* The domain of the first address of the From: field, lowercased, or "". */
static void from_domain(const char *hdr, size_t len, char *out, size_t cap)
{
	out[0] = '\0';
	struct buf v;
	buf_init(&v, 0);
	if (mime_header_get(hdr, len, "From", &v) == 1 && v.len > 0) {
		const char *p = v.data, *end = v.data + v.len;
		/* The first address of the list (RFC 5322 3.6.2 allows several). */
		const char *comma = memchr(p, ',', v.len);
		const char *lt = memchr(p, '<', v.len);
		if (comma && (!lt || comma < lt)) {
			end = comma;
			lt = NULL;
		}
		const char *stop = end;
		if (lt) {
			p = lt + 1;
			const char *gt = memchr(p, '>', (size_t)(end - p));
			stop = gt ? gt : end;
		}
		const char *at = NULL;
		for (const char *q = p; q < stop; q++)
			if (*q == '@')
				at = q;
		if (at) {
			size_t n = 0;
			for (const char *q = at + 1; q < stop && n + 1 < cap; q++) {
				char c = *q;
				if (c == ' ' || c == '\t' || c == ',' || c == ';' || c == ')' || c == '(')
					break;
				out[n++] = (char)tolower((unsigned char)c);
			}
			out[n] = '\0';
		}
	}
	buf_free(&v);
}

struct sign_src {
	struct oq_attempt *a;
	struct smtp_7bit_reader *rd;
};

static int sign_read(void *arg, uint64_t off, void *buf, size_t cap, size_t *got)
{
	struct sign_src *s = arg;
	return body_read(s->a, s->rd, off, buf, cap, got);
}

/* The header section (up to its blank line, at most OQ_HEADER_MAX bytes):
 * read a piece at a time, so a large message costs its header, not 64 KiB. */
static size_t header_read(struct oq_attempt *a, char *hdr)
{
	size_t got = 0;
	while (got < OQ_HEADER_MAX) {
		size_t want = OQ_HEADER_MAX - got < 8192 ? OQ_HEADER_MAX - got : 8192;
		size_t n = 0;
		if (oq_stored_read(a, got, hdr + got, want, &n) != 0 || n == 0)
			break;
		size_t from = got > 3 ? got - 3 : 0;
		got += n;
		if (memmem(hdr + from, got - from, "\n\r\n", 3) ||
		    memmem(hdr + from, got - from, "\n\n", 2))
			break;
	}
	return got;
}

void oq_attempt_sign(struct oq_attempt *a, int64_t now)
{
	if (!(a->e.flags & STORE_QF_SUBMITTED) || !a->cfg->smtp_dkim_sign)
		return;
	struct smtp_dkim_keys *k = smtp_dkim_active_get();
	if (!k)
		return;
	char *hdr = smtp_dkim_keys_count(k, NULL) > 0 ? malloc(OQ_HEADER_MAX) : NULL;
	char domain[256];
	domain[0] = '\0';
	if (hdr)
		from_domain(hdr, header_read(a, hdr), domain, sizeof(domain));
	free(hdr);
	if (domain[0] && smtp_dkim_keys_count(k, domain) > 0) {
		struct sign_src src = { a, NULL };
		/* RFC 6376 5.3: sign the 7-bit form, which every server can
		 * take as it is.  SMTPUTF8 mail keeps its own path (its
		 * header is 8-bit anyway); a message that cannot be
		 * converted is signed as it is. */
		if ((a->e.flags & STORE_QF_8BIT) && !(a->e.flags & STORE_QF_UTF8) &&
		    attempt_convert(a, "dkim") == 0)
			src.rd = smtp_7bit_reader_new(a->conv, oq_stored_read, a);
		if (!a->conv || src.rd) {
			int rc = smtp_dkim_sign(k, domain, (time_t)now, sign_read, &src, &a->prefix);
			if (rc != SMTP_DKIM_OK)
				log_warn("queue dkim signing failed id=%llu domain=%s rc=%d",
					 (unsigned long long)a->e.id, domain, rc);
		}
		smtp_7bit_reader_free(&src.rd);
		/* What was signed is what every server gets. */
		a->conv_all = a->conv != NULL;
	}
	smtp_dkim_keys_free(&k);
}

/* Signing on the worker pool: the header read, the 7-bit plan and the
 * signature (an RSA private-key operation, and a pass over the whole
 * message) would otherwise run on loop 0, between the sends of every
 * other connection.  The job owns the attempt until its done; nothing
 * else touches it meanwhile (a->preparing: no group runs yet). */
struct sign_job {
	struct work w;
	struct oq_attempt *a;
	struct oq_anchor *anchor;
	int64_t now;
	void (*cont)(struct oq_attempt *a);
};

static void sign_job_run(struct work *w)
{
	struct sign_job *j = (struct sign_job *)w;
	oq_attempt_sign(j->a, j->now);
}

static void sign_job_done(struct work *w)
{
	struct sign_job *j = (struct sign_job *)w;
	struct oq_attempt *a = j->a;
	struct oq_runner *q = j->anchor->q;
	a->preparing = false;
	if (--j->anchor->jobs == 0 && !q)
		free(j->anchor);   /* the runner went first */
	if (!q || q->stopping) {
		/* Nothing was sent: the entry stays as it is, due. */
		a->q = q;
		oq_attempt_free(a);
	} else if (w->ran) {
		j->cont(a);
	} else {
		oq_attempt_sign(a, j->now);
		j->cont(a);
	}
	free(j);
}

bool oq_attempt_signs(const struct oq_attempt *a)
{
	if (!(a->e.flags & STORE_QF_SUBMITTED) || !a->cfg->smtp_dkim_sign)
		return false;
	struct smtp_dkim_keys *k = smtp_dkim_active_get();
	bool any = smtp_dkim_keys_count(k, NULL) > 0;
	smtp_dkim_keys_free(&k);
	return any;
}

int oq_attempt_sign_submit(struct oq_attempt *a, int64_t now, void (*cont)(struct oq_attempt *a))
{
	struct oq_runner *q = a->q;
	if (q->stopping || !q->srv->workpool)
		return -1;
	struct sign_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -1;
	*j = (struct sign_job){
		.w = {.run = sign_job_run, .done = sign_job_done},
		.a = a, .anchor = q->anchor, .now = now, .cont = cont,
	};
	a->preparing = true;
	if (workpool_submit(q->srv->workpool, loop_at(q->srv, 0), &j->w) < 0) {
		a->preparing = false;
		free(j);
		return -1;
	}
	q->anchor->jobs++;
	return 0;
}

void oq_attempt_content_free(struct oq_attempt *a)
{
	if (a->plan_job)
		a->plan_job->a = NULL;
	a->plan_job = NULL;
	for (size_t j = 0; j < a->ngroups; j++)
		smtp_7bit_reader_free(&a->groups[j].conv_rd);
	smtp_7bit_free(&a->conv);
	buf_free(&a->prefix);
}
