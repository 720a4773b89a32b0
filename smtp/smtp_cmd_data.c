/* smtp/smtp_cmd_data.c: DATA (RFC 5321 4.1.1.4) and delivery, for DATA
 * and BDAT (smtp_cmd_bdat.c) alike.  The message
 * is read through the pure machine in smtp_data.c, which hands the body in
 * bounded chunks to a spool file (core/spool.h: never held whole in
 * memory); at its end the spool is mapped read-only and stored for every
 * recipient in one store transaction, and acknowledged with 250 only once
 * the group-commit thread reports that transaction's log flushed to disk
 * (core/durable.h).  Until then input is suspended, so commands the client
 * pipelined after the message wait their turn. */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/mime.h"
#include "core/proto.h"
#include "core/server.h"
#include "core/session_limits.h"
#include "core/spool.h"
#include "core/workpool.h"
#include "storage/storage.h"
#include "smtp/smtp_notice.h"
#include "smtp/smtp_queue.h"
#include "smtp/smtp_session.h"

/* Before the 354 (or the first chunk): the memory the body's chunk buffer
 * will hold, and the spool file it goes to.  0, or -1 with the reply to
 * give in *reply_r. */
static int data_prepare(struct smtp_session *s, const char **reply_r)
{
	size_t need = SMTP_DATA_CHUNK + SMTP_DATA_MAX_LINE;
	if (!limits_budget_take(s->srv, need)) {
		/* RFC 3463 4.3.2: the system is not accepting messages right
		 * now; RFC 5321 4.2.5: 451 asks the client to try later. */
		conn_log(s->c, PLOG_WARN, "data refused: input budget spent used=%zu",
			 limits_budget_used(s->srv));
		*reply_r = "451 4.3.2 Server busy: too much input in progress, try again later";
		return -1;
	}
	s->budget_held = need;
	s->spool_err = 0;
	int rc = spool_open(s->cfg->data_dir, &s->spool);
	if (rc < 0) {
		limits_budget_give(s->srv, s->budget_held);
		s->budget_held = 0;
		conn_log(s->c, PLOG_ERROR, "spool open failed error=\"%s\"", strerror(-rc));
		if (rc == -ENOSPC || rc == -EDQUOT)
			*reply_r = "452 4.3.1 Error: insufficient system storage, try again later";
		else
			*reply_r = "451 4.3.0 Error: cannot spool the message, try again later";
		return -1;
	}
	return 0;
}

int smtp_message_begin(struct smtp_session *s, const char **reply_r)
{
	if (data_prepare(s, reply_r) < 0)
		return -1;
	struct buf trace;
	buf_init(&trace, 0);
	s->ntx++;
	snprintf(s->msg_id, sizeof(s->msg_id), "%s.%u", conn_id(s->c), s->ntx);
	/* RFC 3848: ESMTPS over TLS, ESMTPA after AUTH, ESMTPSA both; with
	 * SMTPUTF8, RFC 6531 4.3's UTF8SMTP, UTF8SMTPS, UTF8SMTPA, UTF8SMTPSA. */
	bool tls = conn_is_tls(s->c);
	const char *proto = !s->esmtp ? "SMTP"
			    : s->smtputf8 ? (tls ? (s->authed ? "UTF8SMTPSA" : "UTF8SMTPS")
						 : (s->authed ? "UTF8SMTPA" : "UTF8SMTP"))
			    : tls ? (s->authed ? "ESMTPSA" : "ESMTPS")
				  : (s->authed ? "ESMTPA" : "ESMTP");
	struct smtp_trace t = {
		.reverse_path = s->sender,
		.helo = s->helo,
		.peer_addr = conn_peer_addr(s->c),
		.hostname = s->cfg->hostname,
		.protocol = proto,
		.id = s->msg_id,
		.for_rcpt = s->rcpt_list.n + s->remote_list.n != 1 ? NULL : s->rcpt_list.n ? s->rcpt_list.addr[0] : s->remote_list.addr[0],
		.when = time(NULL),
	};
	if (smtp_trace_format(&trace, &t) < 0 ||
	    smtp_data_start(&s->data, trace.data, trace.len) < 0) {
		buf_free(&trace);
		smtp_session_reset_tx(s);
		*reply_r = "451 4.3.0 Error: out of memory, try again later";
		return -1;
	}
	buf_free(&trace);
	/* RFC 6409 8.2, 8.3: a submission server may complete the message
	 * with the Date and Message-ID a client left out; a relay (port 25
	 * without AUTH) must not touch it.  An authenticated session on any
	 * port is a submission: its mail is flagged so in the queue too. */
	if (s->authed || (conn_listener_flags(s->c) & LISTEN_SUBMISSION)) {
		char mid[SMTP_DATA_ADD_MSGID_MAX + 1], date[64];
		/* The session id is 64 random bits, the count makes it unique
		 * within the session, the time across restarts. */
		int n = snprintf(mid, sizeof(mid), "<%lld.%s@%s>", (long long)t.when, s->msg_id,
				 s->cfg->hostname);
		smtp_date_format(t.when, date, sizeof(date));
		smtp_data_add_missing(&s->data, n > 0 && (size_t)n < sizeof(mid) ? mid : NULL, date);
	}
	return 0;
}

void smtp_cmd_data(struct smtp_session *s, const char *arg, size_t len)
{
	const char *refusal;
	if (smtp_message_begin(s, &refusal) < 0) {
		smtp_reply(s, "%s", refusal);
		return;
	}
	s->state = SMTP_S_DATA;
	conn_set_max_line(s->c, SMTP_DATA_MAX_LINE);
	/* RFC 5321 4.5.3.2.5-6: a longer timeout while the message comes. */
	conn_set_timeout(s->c, s->cfg->smtp_data_timeout);
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	/* The message's lines are split here, in place (smtp_data_feed),
	 * not by core's line reader one copy and drain at a time. */
	conn_read_stream(s->c, true);
}

/* Back to command mode, transaction over (RFC 5321 4.1.1.4: whatever the
 * reply, the next command starts afresh). */
static void data_phase_end(struct smtp_session *s)
{
	smtp_session_limits_apply(s);
	conn_set_timeout(s->c, s->cfg->smtp_timeout);
	s->state = SMTP_S_GREETED;
	smtp_session_reset_tx(s);
}

static void flush_done(struct durable_waiter *w, bool ok)
{
	struct smtp_session *s = w->arg;
	if (ok) {
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", s->msg_id);
		const char *mid = smtp_data_message_id(&s->data);
		conn_log(s->c, PLOG_INFO, "delivered id=%s message-id=%s size=%zu rcpts=%zu queued=%zu",
			 s->msg_id, mid[0] ? mid : "none", s->delivered_size, s->delivered_rcpts,
			 s->remote_list.n);
		/* Durable now: the queue runner may carry it onward. */
		if (s->remote_list.n > 0)
			smtp_queue_kick();
	} else {
		/* The transaction is committed but we cannot promise it survives a
		 * crash: a temporary failure makes the client retry, at worst
		 * giving a duplicate (RFC 5321 6.1 prefers that to a loss). */
		if (store_space_check(s->srv->store, 0) == STORE_ERR_NOSPACE)
			smtp_reply(s, "452 4.3.1 Error: insufficient system storage");
		else
			smtp_reply(s, "451 4.3.0 Error: could not commit the message to disk, "
				      "try again later");
		conn_log(s->c, PLOG_ERROR, "delivery flush failed id=%s", s->msg_id);
	}
	data_phase_end(s);
	conn_resume(s->c);
	smtp_session_close_if_shutdown(s);
}

_Static_assert((int)SMTP_RET_FULL == (int)STORE_RET_FULL &&
		       (int)SMTP_RET_HDRS == (int)STORE_RET_HDRS &&
		       (int)SMTP_NOTIFY_NEVER == (int)STORE_NOTIFY_NEVER &&
		       (int)SMTP_NOTIFY_SUCCESS == (int)STORE_NOTIFY_SUCCESS &&
		       (int)SMTP_NOTIFY_FAILURE == (int)STORE_NOTIFY_FAILURE &&
		       (int)SMTP_NOTIFY_DELAY == (int)STORE_NOTIFY_DELAY,
	       "RFC 3461 values pass from the parser to the store as they are");

struct mem_src {
	const char *p;
	size_t len;
};

static int mem_read(void *arg, uint64_t off, void *buf, size_t cap, size_t *got)
{
	const struct mem_src *m = arg;
	size_t n = off < m->len ? m->len - (size_t)off : 0;
	if (n > cap)
		n = cap;
	memcpy(buf, m->p + off, n);
	*got = n;
	return 0;
}

/* RFC 3463 for a store error met after the 250 was promised. */
static const char *local_status(int rc, int *code_r)
{
	switch (rc) {
	case STORE_ERR_NOQUOTA: *code_r = 552; return "5.2.2";
	case STORE_ERR_NOTFOUND: *code_r = 550; return "5.1.1";
	case STORE_ERR_NOSPACE: *code_r = 452; return "4.3.1";
	default: *code_r = 451; return "4.3.0";
	}
}

/* The final delivery's notices (RFC 3461 5.2.2, 6): a failure notice for
 * the local recipients that did not get the message although the 250
 * covers the transaction (their RCPT was accepted, their mailbox refused
 * it), and a success notice for those whose NOTIFY asked.  Stored before
 * the flush the 250 waits for, so they are as durable as the message. */
static void local_notices(struct smtp_session *s, const char *msg, size_t len,
			  const int *results)
{
	const struct smtp_rcpt_list *l = &s->rcpt_list;
	struct smtp_dsn_rcpt *r[2] = {calloc(l->n + 1, sizeof(**r)), calloc(l->n + 1, sizeof(**r))};
	char (*diag)[96] = calloc(l->n + 1, sizeof(*diag));
	size_t n[2] = {0, 0};
	int64_t now = (int64_t)time(NULL);
	if (!r[0] || !r[1] || !diag)
		goto out;
	for (size_t i = 0; i < l->n; i++) {
		unsigned notify = l->notify[i];
		bool never = notify & SMTP_NOTIFY_NEVER;
		if (results[i] != STORE_OK && !never && (!notify || (notify & SMTP_NOTIFY_FAILURE))) {
			int code;
			const char *st = local_status(results[i], &code);
			snprintf(diag[i], sizeof(diag[i]), "%d %s %s", code, st,
				 store_strerror(results[i]));
			r[0][n[0]++] = (struct smtp_dsn_rcpt){
				.address = l->addr[i], .orcpt = l->orcpt[i], .action = SMTP_DSN_FAILED,
				.status = st, .diagnostic = diag[i], .last_attempt = now};
		} else if (results[i] == STORE_OK && (notify & SMTP_NOTIFY_SUCCESS) && s->sender[0]) {
			r[1][n[1]++] = (struct smtp_dsn_rcpt){
				.address = l->addr[i], .orcpt = l->orcpt[i],
				.action = SMTP_DSN_DELIVERED, .status = "2.0.0", .last_attempt = now};
		}
	}
	struct mem_src src = {msg, len};
	for (int k = 0; k < 2; k++) {
		if (n[k] == 0)
			continue;
		struct smtp_dsn d = {
			.envid = s->envid[0] ? s->envid : NULL, .arrival = now, .now = now,
			.ret = s->ret == SMTP_RET_FULL ? SMTP_DSN_RETURN_FULL
			       : s->ret == SMTP_RET_HDRS ? SMTP_DSN_RETURN_HDRS
							 : SMTP_DSN_RETURN_DEFAULT,
			.full_max = s->cfg->outbound_return_max, .rcpts = r[k], .nrcpts = n[k],
			.read = mem_read, .read_arg = &src, .size = len,
			.unique = ((uint64_t)now << 24) ^ ((uint64_t)s->ntx << 8) ^ (uint64_t)k ^
				  (uint64_t)(uintptr_t)s,
			.utf8 = s->smtputf8,
		};
		struct smtp_notice nt;
		if (smtp_notice_build(&nt, s->cfg, s->srv->store, s->sender, &d) != 0) {
			conn_log(s->c, PLOG_ERROR, "notice not written id=%s", s->msg_id);
			continue;
		}
		int res[1];
		int rc = store_deliver(s->srv->store, &nt.d, res, NULL);
		conn_log(s->c, rc == STORE_OK ? PLOG_INFO : PLOG_ERROR,
			 "notice id=%s kind=%s to=<%s> rcpts=%zu%s", s->msg_id,
			 k == 0 ? "failure" : "success", nt.to_addr, n[k],
			 rc == STORE_OK ? "" : " error=not-stored");
		if (rc == STORE_OK && nt.d.nremote)
			smtp_queue_kick();
		smtp_notice_free(&nt);
	}
out:
	free(r[0]);
	free(r[1]);
	free(diag);
}

/* d's MIME structure, built into b: computed once here and kept beside
 * the content, so that IMAP FETCH/SEARCH never reparse the message (out
 * of memory only costs that, the reader computes it later).
 * structure_drop undoes it after the store.  Any thread. */
static void structure_attach(struct store_delivery *d, struct buf *b)
{
	buf_init(b, 0);
	if (mime_structure_build(d->data, d->len, b) == 0) {
		d->structure = b->data;
		d->structure_len = b->len;
	}
}

static void structure_drop(struct store_delivery *d, struct buf *b)
{
	d->structure = NULL;
	d->structure_len = 0;
	buf_free(b);
}

/* Store d, with its structure. */
static int deliver_store(struct store *store, struct store_delivery *d, int *results)
{
	struct buf structure;
	structure_attach(d, &structure);
	int rc = store_deliver(store, d, results, NULL);
	structure_drop(d, &structure);
	return rc;
}

/* After the store: the log lines, the notices, and the reply (250 once
 * the log flush holding it returns).  Frees results and the spool. */
static void deliver_finish(struct smtp_session *s, const char *msg, size_t len, int *results,
			   int rc)
{
	size_t ok = 0;
	for (size_t i = 0; i < s->rcpt_list.n; i++) {
		if (results[i] == STORE_OK)
			ok++;
		else
			conn_log(s->c, PLOG_WARN, "delivery failed id=%s to=<%s> error=\"%s\"", s->msg_id,
				 s->rcpt_list.addr[i], store_strerror(results[i]));
	}
	if (rc == STORE_OK && (ok > 0 || s->remote_list.n > 0))
		local_notices(s, msg, len, results);
	spool_free(&s->spool);
	free(results);
	if (rc != STORE_OK || (ok == 0 && s->remote_list.n == 0)) {
		if (rc == STORE_OK)
			rc = STORE_ERR_TEMP;
		conn_log(s->c, PLOG_WARN, "delivery failed id=%s error=\"%s\"", s->msg_id,
			 store_strerror(rc));
		if (rc == STORE_ERR_NOQUOTA)
			smtp_reply(s, "552 5.2.2 Error: mailbox full");
		else if (rc == STORE_ERR_NOTFOUND)
			smtp_reply(s, "550 5.1.1 Error: recipient no longer exists");
		else if (rc == STORE_ERR_NOSPACE)   /* RFC 3463 3.4: X.3.1 mail system full */
			smtp_reply(s, "452 4.3.1 Error: insufficient system storage");
		else
			smtp_reply(s, "451 4.3.0 Error: temporary storage failure, try again later");
		data_phase_end(s);
		conn_resume(s->c);
		smtp_session_close_if_shutdown(s);
		return;
	}
	s->delivered_rcpts = ok + s->remote_list.n;
	s->delivered_size = len;
	/* No 250 before the log holding the transaction is on disk. */
	s->state = SMTP_S_FLUSH;
	conn_suspend(s->c);
	durable_wait(s->srv, &s->waiter, flush_done, s);
}

/* Messages of at least this size (and any that finds the store busy) are
 * stored by a worker (core/workpool.h) while the session waits: the MIME structure of a large message, the
 * write of its content, and Berkeley DB's retries with their back-off held
 * the loop, and every other session on it, for milliseconds.  Below it the
 * hand-off between threads costs more than it saves. */
#define DELIVER_POOL_MIN (256 * 1024)

/* Deliveries being stored by workers now, every loop's.  While there is
 * one, a small message goes to the pool too.  Berkeley DB locks B-tree
 * pages, not records, and every delivery writes the same few pages (the
 * mailbox records, the newest contents and their index, the counters), so
 * a try in place beside a worker's delivery nearly always met its locks:
 * at 32 sessions three in four were rolled back after part of their
 * writes and stored by a worker all the same.  With the pool idle (one
 * session, or light traffic) the try in place saves the hand-off. */
static _Atomic unsigned deliveries_on_workers;

/* A delivery on the worker pool.  It owns everything run reads (the
 * mapped spool, the recipient lists, copies of the sender and ENVID), so
 * that a session that goes away meanwhile (smtp_deliver_detach) leaves it
 * nothing dangling; done gives them back to a session still there. */
struct smtp_deliver_job {
	struct work w;
	struct smtp_session *s;        /* NULL once the session has gone */
	struct store *store;
	struct spool *spool;
	struct smtp_rcpt_list rcpt, remote;
	char *sender, *envid, *create;
	const char *msg;
	size_t len;
	struct store_delivery d;
	int *results;
	int rc;
	/* The input budget the session held for this message (an in-memory
	 * spool is in it), held by the job while it owns the spool. */
	struct server *srv;
	size_t budget;
};

static void deliver_job_free(struct smtp_deliver_job *j)
{
	if (j->budget)
		limits_budget_give(j->srv, j->budget);
	spool_free(&j->spool);
	smtp_rcpt_list_free(&j->rcpt);
	smtp_rcpt_list_free(&j->remote);
	free(j->sender);
	free(j->envid);
	free(j->create);
	free(j->results);
	free(j);
}

static void deliver_job_run(struct work *w)
{
	struct smtp_deliver_job *j = (struct smtp_deliver_job *)w;
	j->rc = deliver_store(j->store, &j->d, j->results);
	atomic_fetch_sub_explicit(&deliveries_on_workers, 1, memory_order_relaxed);
}

/* The deliveries that queued for a worker together (core/workpool.h), in
 * as few store transactions as store_deliver_many needs; each message's
 * MIME structure is built first, outside them. */
static void deliver_job_run_batch(struct work **ws, size_t n)
{
	const struct store_delivery *d[WORKPOOL_BATCH_MAX] = {0};
	int *results[WORKPOOL_BATCH_MAX] = {0};
	int rc[WORKPOOL_BATCH_MAX];
	struct buf structure[WORKPOOL_BATCH_MAX];
	struct smtp_deliver_job *j0 = (struct smtp_deliver_job *)ws[0];
	for (size_t i = 0; i < n; i++) {
		struct smtp_deliver_job *j = (struct smtp_deliver_job *)ws[i];
		structure_attach(&j->d, &structure[i]);
		d[i] = &j->d;
		results[i] = j->results;
	}
	store_deliver_many(j0->store, d, results, rc, n);
	for (size_t i = 0; i < n; i++) {
		struct smtp_deliver_job *j = (struct smtp_deliver_job *)ws[i];
		j->rc = rc[i];
		structure_drop(&j->d, &structure[i]);
	}
	atomic_fetch_sub_explicit(&deliveries_on_workers, (unsigned)n, memory_order_relaxed);
}

static void deliver_job_done(struct work *w)
{
	struct smtp_deliver_job *j = (struct smtp_deliver_job *)w;
	struct smtp_session *s = j->s;
	if (!w->ran)   /* the pool stopped first: run never counted it out */
		atomic_fetch_sub_explicit(&deliveries_on_workers, 1, memory_order_relaxed);
	if (!s) {
		/* Committed or not, nobody is left to tell; a committed one is
		 * made durable by the next flush, as for a session that goes
		 * away while waiting for its flush.  Its remote recipients are
		 * queued: the runner may look now.  No notices for its failed
		 * local recipients: the client had no 250 and sends the whole
		 * message again, when they are answered (or noticed) anew. */
		if (j->rc == STORE_OK && w->ran && j->remote.n > 0)
			smtp_queue_kick();
		deliver_job_free(j);
		return;
	}
	s->deliver_job = NULL;
	s->spool = j->spool;
	s->rcpt_list = j->rcpt;
	s->remote_list = j->remote;
	s->budget_held += j->budget;
	j->budget = 0;
	j->spool = NULL;
	memset(&j->rcpt, 0, sizeof(j->rcpt));
	memset(&j->remote, 0, sizeof(j->remote));
	int *results = j->results;
	j->results = NULL;
	int rc = j->rc;
	if (!w->ran) {
		/* The pool stopped (shutdown) before a worker took it:
		 * nothing was stored. */
		rc = STORE_ERR_TEMP;
		for (size_t i = 0; i < s->rcpt_list.n; i++)
			results[i] = STORE_ERR_TEMP;
	}
	const char *msg = j->msg;
	size_t len = j->len;
	deliver_job_free(j);
	deliver_finish(s, msg, len, results, rc);
}

void smtp_deliver_detach(struct smtp_session *s)
{
	/* session_free logs "disconnected before the delivery reply". */
	if (!s->deliver_job)
		return;
	s->deliver_job->s = NULL;
	s->deliver_job = NULL;
}

/* Hand the store of d to the pool.  0: the job owns the spool and lists
 * now and deliver_job_done finishes; -1: nothing changed, store inline. */
static int deliver_submit(struct smtp_session *s, const struct store_delivery *d,
			  const char *msg, size_t len, int *results)
{
	struct smtp_deliver_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -1;
	j->sender = strdup(s->sender);
	j->envid = d->envid ? strdup(d->envid) : NULL;
	j->create = d->create ? strdup(d->create) : NULL;
	if (!j->sender || (d->envid && !j->envid) || (d->create && !j->create)) {
		free(j->sender);
		free(j->envid);
		free(j->create);
		free(j);
		return -1;
	}
	j->s = s;
	j->store = s->srv->store;
	j->msg = msg;
	j->len = len;
	j->results = results;
	j->d = *d;
	j->d.sender = j->sender;
	j->d.envid = j->envid;
	j->d.create = j->create;
	/* The lists' arrays stay where they are (d points into them); only
	 * their ownership moves, before the worker can start. */
	j->spool = s->spool;
	j->rcpt = s->rcpt_list;
	j->remote = s->remote_list;
	j->srv = s->srv;
	j->budget = s->budget_held;
	j->w.run = deliver_job_run;
	/* A large message gains nothing from company (its content is the
	 * work), and a batch keeps every member's spool mapped until the
	 * last is stored: 40 of 6 MiB would hold 240 MiB at once. */
	j->w.run_batch = len < DELIVER_POOL_MIN ? deliver_job_run_batch : NULL;
	j->w.done = deliver_job_done;
	s->spool = NULL;
	s->budget_held = 0;
	s->spool_budget = 0;
	memset(&s->rcpt_list, 0, sizeof(s->rcpt_list));
	memset(&s->remote_list, 0, sizeof(s->remote_list));
	atomic_fetch_add_explicit(&deliveries_on_workers, 1, memory_order_relaxed);
	if (workpool_submit(s->srv->workpool, conn_loop(s->c), &j->w) < 0) {
		atomic_fetch_sub_explicit(&deliveries_on_workers, 1, memory_order_relaxed);
		s->spool = j->spool;
		s->rcpt_list = j->rcpt;
		s->remote_list = j->remote;
		s->budget_held = j->budget;
		free(j->sender);
		free(j->envid);
		free(j->create);
		free(j);
		return -1;
	}
	s->deliver_job = j;
	s->state = SMTP_S_FLUSH;   /* waiting, as for the flush */
	conn_suspend(s->c);
	return 0;
}

static void deliver(struct smtp_session *s)
{
	/* The whole message is in the spool now (the sink has had every
	 * byte).  A large one is mapped read-only, file-backed page cache the
	 * kernel can reclaim, not a heap copy; a small one never left memory
	 * (core/spool.h).  Released before the flush wait. */
	size_t len;
	const char *msg;
	int mrc = spool_map(s->spool, &msg, &len);
	int *results = mrc < 0 ? NULL : calloc(s->rcpt_list.n ? s->rcpt_list.n : 1, sizeof(*results));
	if (mrc < 0)
		conn_log(s->c, PLOG_ERROR, "spool map failed id=%s error=\"%s\"", s->msg_id,
			 strerror(-mrc));
	if (!results) {
		smtp_reply(s, "451 4.3.0 Error: %s, try again later",
			   mrc < 0 ? "cannot read the spooled message" : "out of memory");
		data_phase_end(s);
		return;
	}
	struct store_delivery d = {
		.recipients = (const char *const *)s->rcpt_list.addr,
		.nrecipients = s->rcpt_list.n,
		.mailbox = "INBOX",
		.data = msg,
		.len = len,
		.autocreate = s->cfg->sandbox,
		.create = s->create_postmaster ? s->cfg->smtp_postmaster : NULL,
		.sender = s->sender,
		.remote_recipients = (const char *const *)s->remote_list.addr,
		.nremote = s->remote_list.n,
		.queue_flags = (s->authed ? STORE_QF_SUBMITTED : 0) |
			       (s->body_8bit ? STORE_QF_8BIT : 0) |
			       (s->smtputf8 ? STORE_QF_UTF8 : 0),
		.envid = s->envid[0] ? s->envid : NULL,
		.ret = s->ret,   /* SMTP_RET_* and STORE_RET_* are the same numbers */
		.remote_notify = s->remote_list.notify,
		.remote_orcpt = (const char *const *)s->remote_list.orcpt,
	};
	/* A full pool (or no memory for the job) stores it here instead. */
	/* A small one only while the queue is at most half full: the pool
	 * also runs logins and other sessions' lock waits, which a queue
	 * full of deliveries would refuse. */
	if (s->srv->workpool &&
	    (len >= DELIVER_POOL_MIN ||
	     (atomic_load_explicit(&deliveries_on_workers, memory_order_relaxed) > 0 &&
	      workpool_queued(s->srv->workpool) < WORKPOOL_QUEUE_MAX / 2)) &&
	    deliver_submit(s, &d, msg, len, results) == 0)
		return;
	/* In place, a small message does not wait for a lock another
	 * transaction holds (nor retry and back off): a busy store hands it
	 * to a worker, which may wait (issue 11: no lock back-off on a loop). */
	bool was = store_thread_nowait(s->srv->workpool != NULL);
	int rc = deliver_store(s->srv->store, &d, results);
	store_thread_nowait(was);
	if (rc == STORE_ERR_BUSY) {
		conn_log(s->c, PLOG_DEBUG, "store busy id=%s: stored by a worker", s->msg_id);
		memset(results, 0, (s->rcpt_list.n ? s->rcpt_list.n : 1) * sizeof(*results));
		if (deliver_submit(s, &d, msg, len, results) == 0)
			return;
		rc = deliver_store(s->srv->store, &d, results);   /* a full pool: wait here */
	}
	deliver_finish(s, msg, len, results, rc);
}

static void refuse(struct smtp_session *s)
{
	enum smtp_data_err err = smtp_data_error(&s->data);
	bool ambiguous = smtp_data_end_ambiguous(&s->data);
	conn_log(s->c, PLOG_INFO, "message refused id=%s reason=\"%s\" size=%" PRIu64, s->msg_id,
		 smtp_data_error_str(err), smtp_data_size(&s->data));
	switch (err) {
	case SMTP_DATA_ERR_SIZE:
		smtp_reply(s, "552 5.3.4 Error: message size exceeds fixed maximum message size");
		break;
	case SMTP_DATA_ERR_LINE:
		/* RFC 5321 4.5.3.1.9: "500 Line too long". */
		smtp_reply(s, "500 5.5.2 Line too long");
		break;
	case SMTP_DATA_ERR_NUL:
		smtp_reply(s, "554 5.6.0 Error: message contains NUL bytes");
		break;
	case SMTP_DATA_ERR_LOOP:
		/* RFC 5321 6.3 */
		smtp_reply(s, "554 5.4.6 Error: too many hops, mail loop?");
		break;
	case SMTP_DATA_ERR_BARE_LF:
	case SMTP_DATA_ERR_BARE_CR:
		/* smtp.forbid_bare_newline = "reject", in Postfix 3.9's words.
		 * The end of data was a real CRLF "." CRLF, so the session goes on. */
		smtp_reply(s, "550 5.5.2 %s Error: %s", s->cfg->hostname, smtp_data_error_str(err));
		break;
	case SMTP_DATA_ERR_SINK:
		/* The spool's disk is full (or the write failed): RFC 3463 4.3.1
		 * "mail system full", RFC 5321 4.2.5 452: try again later. */
		if (s->spool_err == ENOSPC || s->spool_err == EDQUOT || s->spool_err == EFBIG)
			smtp_reply(s, "452 4.3.1 Error: insufficient system storage, try again later");
		else
			smtp_reply(s, "451 4.3.0 Error: could not spool the message, try again later");
		break;
	default:
		smtp_reply(s, "451 4.3.0 Error: out of memory, try again later");
		break;
	}
	data_phase_end(s);
	if (ambiguous) {
		/* The "." right after an over-long line might have followed a bare
		 * LF inside it; if so, what comes next is message text smuggled as
		 * commands.  We cannot tell, so we take no more commands. */
		smtp_reply(s, "421 4.5.0 %s Error: unclear end of data, closing connection",
			   s->cfg->hostname);
		conn_close(s->c, "ambiguous end of data");
		return;
	}
	smtp_session_close_if_shutdown(s);
}

void smtp_message_end(struct smtp_session *s, enum smtp_data_rc rc)
{
	if (rc == SMTP_DATA_DONE)
		deliver(s);
	else
		refuse(s);
}

size_t smtp_data_phase_stream(struct smtp_session *s, const char *data, size_t len)
{
	size_t used = 0;
	enum smtp_data_rc rc = smtp_data_feed(&s->data, data, len, &used);
	if (rc != SMTP_DATA_MORE) {
		/* What follows the "." line is commands (RFC 2920 pipelining). */
		conn_read_stream(s->c, false);
		smtp_message_end(s, rc);
	}
	return used;
}

void smtp_data_phase_line(struct smtp_session *s, const char *line, size_t len, bool crlf)
{
	enum smtp_data_rc rc = smtp_data_line(&s->data, line, len, crlf);
	if (rc != SMTP_DATA_MORE)
		smtp_message_end(s, rc);
}

void smtp_data_phase_too_long(struct smtp_session *s)
{
	smtp_data_line_too_long(&s->data);
}
