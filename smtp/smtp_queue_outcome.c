/* smtp/smtp_queue_outcome.c: what an attempt's answers mean for the queue
 * entry (RFC 5321 4.5.4.1, 6.1; RFC 3461 5.2, 6): delivered and bounced
 * recipients leave it, the others wait with a growing back-off until
 * queue.lifetime, after which they bounce (4.4.7); the sender gets a
 * failure notice, a delay notice once after queue.delay_warning, and a
 * success notice when NOTIFY=SUCCESS asked for one (smtp_dsn.c).  The
 * results and the notices are one transaction (store_queue_update), and
 * every recipient's result is one log line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/server.h"
#include "core/workpool.h"
#include "smtp/smtp_dsn.h"
#include "smtp/smtp_notice.h"
#include "smtp/smtp_queue.h"
#include "smtp/smtp_queue_private.h"

/* Seconds until the next try after `attempts` tries: doubling from the
 * minimum, capped (Postfix's back-off). */
static int64_t backoff(const struct config *cfg, uint32_t attempts)
{
	int64_t d = cfg->queue_min_backoff;
	for (uint32_t i = 1; i < attempts && d < cfg->queue_max_backoff; i++)
		d *= 2;
	return d < cfg->queue_max_backoff ? d : cfg->queue_max_backoff;
}

/* RFC 3461 4.1: without NOTIFY, failures and delays are reported. */
static bool wants(uint8_t notify, uint8_t what)
{
	if (notify == 0)
		return what == STORE_NOTIFY_FAILURE || what == STORE_NOTIFY_DELAY;
	return (notify & STORE_NOTIFY_NEVER) == 0 && (notify & what) != 0;
}

struct notice {
	struct smtp_dsn_rcpt *r;
	size_t n;
	struct smtp_notice out;
	bool built;
};

/* Builds one notice of the rcpts gathered in nt (smtp_notice.c decides
 * where it goes). */
static int notice_build(struct oq_attempt *a, struct notice *nt, int64_t now)
{
	const struct config *cfg = a->q->cfg;
	const struct store_queue_entry *e = &a->e;
	struct smtp_dsn d = {
		.envid = e->envid[0] ? e->envid : NULL, .arrival = e->created, .now = now,
		.retry_until = e->created + cfg->queue_lifetime,
		.ret = e->ret == STORE_RET_FULL ? SMTP_DSN_RETURN_FULL
		       : e->ret == STORE_RET_HDRS ? SMTP_DSN_RETURN_HDRS : SMTP_DSN_RETURN_DEFAULT,
		.full_max = cfg->outbound_return_max, .rcpts = nt->r, .nrcpts = nt->n,
		.read = oq_stored_read, .read_arg = a, .size = e->size,
		.unique = ((uint64_t)now << 20) ^ (e->id << 8) ^ a->q->notices++,
		.utf8 = (e->flags & STORE_QF_UTF8) != 0,
	};
	if (smtp_notice_build(&nt->out, cfg, a->q->store, e->sender, &d) != 0)
		return -1;
	nt->built = true;
	return 0;
}

static enum smtp_dsn_action fate_action(enum oq_fate f, bool relayed)
{
	if (f == OQ_SENT)
		return relayed ? SMTP_DSN_RELAYED : SMTP_DSN_DELIVERED;
	return f == OQ_BOUNCED ? SMTP_DSN_FAILED : SMTP_DSN_DELAYED;
}

static const char *fate_word(enum oq_fate f)
{
	switch (f) {
	case OQ_SENT: return "sent";
	case OQ_BOUNCED: return "bounced";
	default: return "deferred";
	}
}

/* One attempt's outcome on its way to the store: what the transaction
 * writes, owned here (the attempt itself too) until the job's done. */
struct oq_record {
	struct work w;
	struct oq_anchor *anchor;
	struct oq_attempt *a;
	struct store *store;
	struct store_content content;   /* closed after the commit */
	struct store_queue_update u;
	struct store_queue_result *res;
	struct notice nt[3];
	struct store_delivery notices[3];
	char (*diag)[600];
	char last_error[STORE_QUEUE_ERROR_MAX + 1];
	int64_t now;                    /* when the attempt ended */
	int rc;
	bool removed;
};

static void record_free(struct oq_record *r)
{
	free(r->diag);
	for (int k = 0; k < 3; k++) {
		free(r->nt[k].r);
		if (r->nt[k].built)
			smtp_notice_free(&r->nt[k].out);
	}
	free(r->res);
	free(r);
}

/* The transaction, then the content's unpin: when the entry held the
 * last reference (every recipient delivered), that unpin deletes the
 * message's bytes, a transaction that logs every deleted page, the
 * largest single cost of a delivery (about half of the sending loop's
 * time for 100 KiB messages).  On a worker, or in place. */
static void record_run(struct work *w)
{
	struct oq_record *r = (struct oq_record *)w;
	r->rc = store_queue_update(r->store, r->a->e.id, &r->u, &r->removed);
	store_content_close(r->store, &r->content);
}

/* On loop 0 (or in place): log, hold a failure, free.  Each recipient's
 * line comes once its outcome is in the store (or failed to get there),
 * so a log that says "sent" is one `queue list` agrees with. */
static void record_done(struct work *w)
{
	struct oq_record *r = (struct oq_record *)w;
	if (!w->ran)   /* the pool stopped first (shutdown): record it here */
		record_run(w);
	struct oq_attempt *a = r->a;
	const struct store_queue_entry *e = &a->e;
	unsigned long long id = (unsigned long long)a->e.id;
	for (size_t i = 0; i < e->nrecipients; i++) {
		const struct oq_rcpt *rc = &a->rs[i];
		log_info("queue id=%llu rcpt=<%s> relay=%s tls=%s delay=%llds attempts=%u "
			 "dsn=%s status=%s reply=\"%d %.300s\"",
			 id, e->recipients[i], rc->remote_mta[0] ? rc->remote_mta : "none",
			 rc->tls[0] ? rc->tls : "none", (long long)(r->now - e->created),
			 e->attempts + 1, rc->status[0] ? rc->status : "-", fate_word(rc->fate),
			 rc->code, rc->reply);
	}
	struct oq_runner *q = r->anchor ? r->anchor->q : a->q;
	if (r->rc == STORE_ERR_NOTFOUND) {
		log_info("queue id=%llu was removed during its attempt", id);
	} else if (r->rc != STORE_OK) {
		/* Nothing recorded: the entry is tried again as it was (the
		 * one duplicate risk of a failing disk), but not before its
		 * back-off, or a full disk would make a loop of deliveries. */
		log_error("queue cannot record id=%llu error=\"%s\"", id, store_strerror(r->rc));
		if (q)
			oq_hold(q, a->e.id, r->u.next_attempt);
	} else if (r->removed) {
		log_info("queue id=%llu removed", id);
	}
	if (r->rc == STORE_OK && r->u.nnotices > 0)
		smtp_queue_kick();   /* a notice may be queued for another server */
	if (r->anchor && --r->anchor->jobs == 0 && !r->anchor->q)
		free(r->anchor);   /* the runner went first */
	a->q = q;   /* NULL: the runner is gone, nothing to unlink from */
	oq_attempt_free(a);
	record_free(r);
	if (q)
		oq_dispatch_soon(q);   /* the entry may be due again */
}

void oq_attempt_finish(struct oq_attempt *a)
{
	struct oq_runner *q = a->q;
	const struct config *cfg = q->cfg;
	struct store_queue_entry *e = &a->e;
	int64_t now = (int64_t)time(NULL);
	size_t n = e->nrecipients;
	bool expired = now - e->created >= (int64_t)cfg->queue_lifetime;
	bool warn = cfg->queue_delay_warning > 0 && !(e->flags & STORE_QF_DELAY_SENT) &&
		    now - e->created >= (int64_t)cfg->queue_delay_warning;
	struct oq_record *rec = calloc(1, sizeof(*rec));
	struct store_queue_result *res = calloc(n ? n : 1, sizeof(*res));
	char (*diag)[600] = calloc(n ? n : 1, sizeof(*diag));
	/* Notices: failed, delayed, delivered (built in place: a built
	 * notice may point into itself). */
	struct notice *nt = rec ? rec->nt : NULL;
	for (int k = 0; nt && k < 3; k++)
		nt[k].r = calloc(n ? n : 1, sizeof(*nt[k].r));
	if (rec) {
		rec->res = res;
		rec->diag = diag;
	}
	if (!rec || !res || !nt[0].r || !nt[1].r || !nt[2].r || !diag) {
		/* Not recorded: held until a back-off, like a failed commit. */
		log_error("queue out of memory recording id=%llu", (unsigned long long)e->id);
		oq_hold(q, e->id, now + backoff(cfg, e->attempts + 1));
		if (rec)
			record_free(rec);
		else {
			free(diag);
			free(res);
		}
		oq_attempt_free(a);
		return;
	}
	bool any_deferred = false, delay_sent = false;
	char *last_error = rec->last_error;
	for (size_t i = 0; i < n; i++) {
		struct oq_rcpt *r = &a->rs[i];
		if (r->fate == OQ_PENDING)
			r->fate = OQ_DEFERRED;
		if (r->fate == OQ_DEFERRED && (r->code < 400 || r->code >= 500)) {
			/* A deferral is a 4xx whatever we were told (a 5xx
			 * greeting from one MX, a refused AUTH): RFC 3464's
			 * delayed Action goes with a 4.x.x Status. */
			r->code = 451;
			if (r->status[0] && r->status[0] != '4')
				r->status[0] = '4';
		}
		if (r->fate == OQ_DEFERRED && expired) {
			/* RFC 3463 4.4.7: delivery time expired; the last
			 * answer says why. */
			char why[sizeof(r->reply)];
			snprintf(why, sizeof(why), "%s", r->reply);
			snprintf(r->reply, sizeof(r->reply), "message expired after %u days in the queue: %.400s",
				 (unsigned)(cfg->queue_lifetime / 86400), why);
			snprintf(r->status, sizeof(r->status), "4.4.7");
			r->fate = OQ_BOUNCED;
		}
		uint8_t notify = e->rcpt[i].notify;
		res[i] = (struct store_queue_result){
			.address = e->recipients[i], .done = r->fate != OQ_DEFERRED,
			.code = (uint16_t)r->code, .status = r->status, .reply = r->reply,
		};
		int k = -1;
		if (r->fate == OQ_BOUNCED && wants(notify, STORE_NOTIFY_FAILURE))
			k = 0;
		else if (r->fate == OQ_DEFERRED && warn && wants(notify, STORE_NOTIFY_DELAY) &&
			 e->sender[0])
			k = 1;
		else if (r->fate == OQ_SENT && wants(notify, STORE_NOTIFY_SUCCESS) && e->sender[0] &&
			 !r->dsn_passed)
			/* RFC 3461 5.2.2: a server without DSN ends our duty
			 * ("relayed"); one with DSN got NOTIFY and reports. */
			k = 2;
		if (k >= 0) {
			struct smtp_dsn_rcpt *d = &nt[k].r[nt[k].n++];
			*d = (struct smtp_dsn_rcpt){
				.address = e->recipients[i], .orcpt = e->rcpt[i].orcpt,
				.action = fate_action(r->fate, r->remote_mta[0] != '\0'),
				.status = r->status[0] ? r->status : NULL,
				.remote_mta = r->remote_mta[0] ? r->remote_mta : NULL,
				.diagnostic = diag[i], .last_attempt = now,
			};
			/* RFC 3464 2.3.6: the reply as an SMTP reply, code first. */
			snprintf(diag[i], sizeof(diag[i]), "%d %s%s%.500s", r->code, r->status,
				 r->status[0] ? " " : "", r->reply);
			if (k == 1)
				delay_sent = true;
		}
		if (r->fate == OQ_DEFERRED) {
			any_deferred = true;
			snprintf(last_error, sizeof(rec->last_error), "%d %s %.200s", r->code, r->status, r->reply);
		}
	}
	size_t nn = 0;
	for (int k = 0; k < 3; k++) {
		if (nt[k].n == 0)
			continue;
		if (notice_build(a, &nt[k], now) != 0) {
			log_error("queue cannot write a notice id=%llu", (unsigned long long)e->id);
			continue;   /* the outcome is still recorded */
		}
	}
	for (int k = 0; k < 3; k++)
		if (rec->nt[k].built)
			rec->notices[nn++] = rec->nt[k].out.d;
	rec->a = a;
	rec->store = q->store;
	rec->now = now;
	rec->u = (struct store_queue_update){
		.results = res, .nresults = n, .attempts = e->attempts + 1,
		.next_attempt = now + backoff(cfg, e->attempts + 1),
		.last_error = any_deferred ? last_error : NULL,
		.flags_set = delay_sent ? STORE_QF_DELAY_SENT : 0,
		.notices = rec->notices, .nnotices = nn,
	};
	/* Closed by the job after the commit: with the entry's reference
	 * gone, that unpin is what deletes a delivered message's bytes. */
	rec->content = a->content;
	memset(&a->content, 0, sizeof(a->content));
	rec->w.run = record_run;
	rec->w.done = record_done;
	a->recording = true;
	if (!q->stopping && q->srv->workpool) {
		rec->anchor = q->anchor;
		q->anchor->jobs++;
		if (workpool_submit(q->srv->workpool, loop_at(q->srv, 0), &rec->w) == 0)
			return;
		q->anchor->jobs--;
		rec->anchor = NULL;
	}
	/* Shutting down, or a full pool: here and now. */
	rec->w.ran = false;
	record_done(&rec->w);
}
