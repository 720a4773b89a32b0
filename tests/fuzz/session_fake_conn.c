/* tests/fuzz/session_fake_conn.c: core/conn.h, the waiters of
 * core/durable.h and the worker pool of core/workpool.h in memory, for the
 * session fuzzers (session_harness.h).
 *
 * The reader follows core/conn.c's conn_process(): LF ends a line (a CR
 * before it is dropped and reported as crlf), a line longer than the
 * maximum is reported once and skipped to its LF, raw mode hands over the
 * bytes asked for, stream mode what has been read, input stops while the session is suspended, held,
 * closing or starting TLS.  What core does with time or the socket happens
 * here at once: a log flush completes after the session's callback
 * returns, so does a worker-pool job (run at submit, done after the
 * callback, as a real loop would run it later), a hold ends, queued output drains (on_drain) whenever it passes
 * core's low-water mark or input runs dry.  Everything runs on one thread,
 * one connection at a time. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/config.h"
#include "core/conn.h"
#include "core/loop.h"
#include "core/durable.h"
#include "core/server.h"
#include "core/session_limits.h"
#include "core/workpool.h"
#include "tests/fuzz/session_harness.h"

#define RAW_CHUNK (64 * 1024)
#define LOW_WATER (64 * 1024)      /* core drains below this: on_drain */
#define OUT_KEEP (512 * 1024)      /* output kept for the target's checks */
#define MAX_ROUNDS 100000          /* a session that never settles is a hang */

struct conn {
	struct server *srv;
	const struct proto_ops *ops;
	void *sess;
	const struct fuzz_conn_opts *o;
	unsigned flags;

	struct buf in;                 /* received, not yet handed over */
	size_t in_pos;
	struct buf line;
	size_t max_line;
	size_t raw_remaining;
	bool streaming;                /* conn_read_stream */
	unsigned timeout;

	struct buf *out;
	size_t pending;                /* written since the last drain */

	bool tls, starttls_pending, suspended, held, discarding, closing;
	bool compressed;   /* conn_compress_start: the fake carries bytes as they are */
	bool yielded;                  /* conn_yield: on_drain at the next turn */
	bool in_callback, session_freed;
	char reason[64];
};

/* The group commit's waiters, in order (durable.c keeps them per server). */
static struct durable_waiter *wait_head, *wait_tail;

static void unlink_waiter(struct durable_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		wait_head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		wait_tail = w->prev;
	w->next = w->prev = NULL;
	w->queued = false;
}

void durable_wait(struct server *srv, struct durable_waiter *w,
		  void (*cb)(struct durable_waiter *w, bool ok), void *arg)
{
	(void)srv;
	if (w->queued)
		unlink_waiter(w);
	w->cb = cb;
	w->arg = arg;
	w->next = NULL;
	w->prev = wait_tail;
	if (wait_tail)
		wait_tail->next = w;
	else
		wait_head = w;
	wait_tail = w;
	w->queued = true;
}

void durable_cancel(struct server *srv, struct durable_waiter *w)
{
	(void)srv;
	if (w->queued)
		unlink_waiter(w);
}

/* One flush covers every waiter queued so far; those queued by their
 * callbacks wait for the next one. */
static bool flush_waiters(bool ok)
{
	struct durable_waiter *last = wait_tail;
	if (!last)
		return false;
	for (;;) {
		struct durable_waiter *w = wait_head;
		bool end = w == last;
		unlink_waiter(w);
		w->cb(w, ok);
		if (end || !wait_head)
			break;
	}
	return true;
}

/* The worker pool: a job runs at once, on this thread (run owns copies of
 * what it reads, so that is the same work), and its done waits, in
 * order, until the session's callback has returned. */
static struct work *work_head, *work_tail;

int workpool_submit(struct workpool *wp, struct loop *l, struct work *w)
{
	(void)wp;
	w->loop = l;
	w->next = NULL;
	w->run(w);
	w->ran = true;
	if (work_tail)
		work_tail->next = w;
	else
		work_head = w;
	work_tail = w;
	return 0;
}

/* Nothing ever waits for a worker here: each job ran at its submit. */
size_t workpool_queued(struct workpool *wp)
{
	(void)wp;
	return 0;
}

/* Runs the dones of every job finished so far; those submitted by a done
 * wait for the next round. */
static bool work_complete_all(void)
{
	struct work *w = work_head;
	if (!w)
		return false;
	work_head = work_tail = NULL;
	while (w) {
		struct work *next = w->next;
		w->next = NULL;
		w->done(w);   /* may free w */
		w = next;
	}
	return true;
}

/* ---- the conn.h API ---- */

static void set_reason(struct conn *c, const char *reason)
{
	if (!c->reason[0])
		snprintf(c->reason, sizeof(c->reason), "%s", reason);
}

void conn_write(struct conn *c, const void *data, size_t len)
{
	if (c->closing && c->session_freed)
		return;
	if (c->out->len < OUT_KEEP)
		buf_append(c->out, data, len < OUT_KEEP - c->out->len ? len : OUT_KEEP - c->out->len);
	c->pending += len;
}

void conn_printf(struct conn *c, const char *fmt, ...)
{
	char small[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		conn_write(c, small, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big)
		abort();
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	conn_write(c, big, (size_t)n);
	free(big);
}

void conn_yield(struct conn *c)
{
	c->yielded = true;
}

size_t conn_output_pending(const struct conn *c)
{
	/* a client that has not read anything yet: the queue is "full" */
	if (c->o->slow_reader && c->pending > 0)
		return c->pending + 1024 * 1024;
	return c->pending;
}

void conn_close(struct conn *c, const char *reason)
{
	set_reason(c, reason);
	c->closing = true;
}

int conn_starttls(struct conn *c)
{
	if (!c->o->tls_available || c->tls)
		return -1;
	c->starttls_pending = true;
	return 0;
}

bool conn_is_tls(const struct conn *c)
{
	return c->tls;
}

int conn_compress_start(struct conn *c)
{
	if (c->compressed)
		return -1;
	c->compressed = true;
	return 0;
}

bool conn_is_compressed(const struct conn *c)
{
	return c->compressed;
}

bool conn_tls_available(const struct conn *c)
{
	return c->o->tls_available;
}

void conn_suspend(struct conn *c)
{
	c->suspended = true;
}

void conn_resume(struct conn *c)
{
	c->suspended = false;
}

void conn_hold(struct conn *c, unsigned ms)
{
	if (ms > 0)
		c->held = true;
}

void conn_set_max_line(struct conn *c, size_t max)
{
	c->max_line = max ? max : c->srv->cfg->max_line;
}

void conn_read_stream(struct conn *c, bool on)
{
	c->streaming = on && c->ops->on_stream;
}

void conn_read_raw(struct conn *c, size_t n)
{
	c->raw_remaining = n;
}

void conn_set_timeout(struct conn *c, unsigned seconds)
{
	c->timeout = seconds;
}

void conn_set_limits(struct conn *c, const struct limits *lim)
{
	conn_set_max_line(c, lim->max_line);
}

void conn_trust_set(struct conn *c, enum conn_trust trust)
{
	/* the deadline it ends takes no time here */
	(void)c;
	(void)trust;
}

const char *conn_id(const struct conn *c)
{
	return "f0220000000000";
}

const char *conn_peer_addr(const struct conn *c)
{
	return c->o->loopback ? "127.0.0.1" : "192.0.2.7";
}

unsigned conn_peer_port(const struct conn *c)
{
	return 50000;
}

const char *conn_local_addr(const struct conn *c)
{
	return "127.0.0.1";
}

bool conn_peer_is_loopback(const struct conn *c)
{
	return c->o->loopback;
}

unsigned conn_listener_flags(const struct conn *c)
{
	return c->flags;
}

struct server *conn_server(const struct conn *c)
{
	return c->srv;
}

/* One loop, the fuzzer's thread: what is posted to it runs at once. */
static char fake_loop_storage;
#define FAKE_LOOP ((struct loop *)&fake_loop_storage)

struct loop *conn_loop(const struct conn *c)
{
	(void)c;
	return FAKE_LOOP;
}

struct loop *loop_current(void)
{
	return FAKE_LOOP;
}

unsigned loop_count(const struct server *srv)
{
	(void)srv;
	return 1;
}

struct loop *loop_at(const struct server *srv, unsigned i)
{
	(void)srv;
	(void)i;
	return FAKE_LOOP;
}

unsigned loop_index(const struct loop *l)
{
	(void)l;
	return 0;
}

/* A base nobody dispatches: a session's timers never fire here, and what
 * they would do happens when the session is freed. */
struct event_base *loop_base(const struct loop *l)
{
	(void)l;
	static struct event_base *base;
	if (!base)
		base = event_base_new();
	return base;
}

void loop_post(struct loop *l, struct inbox_item *item, void (*fn)(struct inbox_item *item))
{
	(void)l;
	item->fn = fn;
	item->next = NULL;
	fn(item);
}

void conn_log(const struct conn *c, enum log_level level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(level, "session=%s %s %s", conn_id(c), c->ops->name, msg);
}

/* ---- the reader (core/conn.c conn_process) ---- */

#define CALL(c, expr) do { (c)->in_callback = true; expr; (c)->in_callback = false; } while (0)

static void process(struct conn *c)
{
	while (!c->closing && !c->suspended && !c->held && !c->starttls_pending) {
		size_t avail = c->in.len - c->in_pos;
		if (avail == 0)
			break;
		const char *p = c->in.data + c->in_pos;
		if (c->raw_remaining) {
			size_t n = avail < c->raw_remaining ? avail : c->raw_remaining;
			if (n > RAW_CHUNK)
				n = RAW_CHUNK;
			/* a copy, so that ASan sees a read past what was given */
			char *chunk = malloc(n);
			if (!chunk)
				abort();
			memcpy(chunk, p, n);
			c->in_pos += n;
			c->raw_remaining -= n;
			CALL(c, c->ops->on_raw(c->sess, chunk, n, c->raw_remaining == 0));
			free(chunk);
			continue;
		}
		if (c->streaming) {
			/* what has been read, in a copy of its exact size (ASan) */
			char *run = malloc(avail);
			if (!run)
				abort();
			memcpy(run, p, avail);
			size_t used = 0;
			CALL(c, used = c->ops->on_stream(c->sess, run, avail));
			free(run);
			if (used > avail || (c->streaming && used < avail))
				abort();   /* the contract of proto_ops.on_stream */
			c->in_pos += used;
			continue;
		}
		const char *lf = memchr(p, '\n', avail);
		if (!lf) {
			if (avail > c->max_line + 1) {
				if (!c->discarding) {
					c->discarding = true;
					if (c->ops->on_line_too_long)
						CALL(c, c->ops->on_line_too_long(
								c->sess, p,
								avail < PROTO_LINE_HEAD ? avail
											: PROTO_LINE_HEAD));
				}
				c->in_pos += avail;
			}
			break;
		}
		size_t len = (size_t)(lf - p);
		if (c->discarding) {
			c->in_pos += len + 1;
			c->discarding = false;
			continue;
		}
		bool crlf = len > 0 && p[len - 1] == '\r';
		size_t linelen = crlf ? len - 1 : len;
		if (linelen > c->max_line) {
			c->in_pos += len + 1;
			if (c->ops->on_line_too_long)
				CALL(c, c->ops->on_line_too_long(
						c->sess, p,
						linelen < PROTO_LINE_HEAD ? linelen : PROTO_LINE_HEAD));
			continue;
		}
		buf_reset(&c->line);
		if (buf_append(&c->line, p, linelen) < 0)
			abort();
		c->in_pos += len + 1;
		CALL(c, c->ops->on_line(c->sess, c->line.data ? c->line.data : "", linelen, crlf));
	}
}

/* Everything that would happen before the next read: flushes, holds
 * ending, output draining, TLS starting, the deferred close. */
static void settle(struct conn *c)
{
	for (int round = 0; round < MAX_ROUNDS; round++) {
		if (c->session_freed)
			return;
		process(c);
		if (c->starttls_pending && !c->closing) {
			/* CVE-2011-0411: what was read with the command goes */
			c->starttls_pending = false;
			c->in_pos = c->in.len;
			c->tls = true;
			c->discarding = false;
			continue;
		}
		if (c->closing)
			return;
		if (flush_waiters(!c->o->flush_fails))
			continue;
		if (work_complete_all())
			continue;
		if (c->held) {
			c->held = false;
			continue;
		}
		if (c->pending > 0 || c->yielded) {
			c->pending = 0;
			c->yielded = false;
			if (c->ops->on_drain)
				CALL(c, c->ops->on_drain(c->sess));
			if (c->pending > 0 || c->yielded || c->closing)
				continue;
		}
		return;
	}
	fprintf(stderr, "session never settles (%d rounds)\n", MAX_ROUNDS);
	abort();
}

static void feed(struct conn *c, const char *data, size_t len)
{
	if (c->session_freed || c->closing)
		return;
	/* keep what is unread (a partial line), drop what was handed over */
	if (c->in_pos > 0) {
		buf_consume(&c->in, c->in_pos);
		c->in_pos = 0;
	}
	if (len > 0 && buf_append(&c->in, data, len) < 0)
		abort();
	settle(c);
}

static void session_end(struct conn *c)
{
	if (c->session_freed)
		return;
	/* as conn_free_now: whatever ended it, the connection is closing and
	 * what session_free writes goes nowhere */
	c->closing = true;
	c->session_freed = true;
	if (c->sess && c->ops->session_free)
		c->ops->session_free(c->sess, c->reason[0] ? c->reason : "closed");
	c->sess = NULL;
	if (wait_head) {
		fprintf(stderr, "a log-flush waiter outlived its session\n");
		abort();
	}
	/* A job of a session that is gone still completes (its done frees
	 * it, seeing the session cancelled it): as the loop would, later. */
	work_complete_all();
}

void fake_conn_run(const struct proto_ops *ops, struct server *srv,
		   const struct fuzz_conn_opts *o, const char *prefix, const uint8_t *data,
		   size_t size, struct buf *out)
{
	struct conn c;
	memset(&c, 0, sizeof(c));
	c.srv = srv;
	c.ops = ops;
	c.o = o;
	c.out = out;
	c.max_line = srv->cfg->max_line;
	c.tls = o->implicit_tls;
	c.flags = (o->implicit_tls ? LISTEN_IMPLICIT_TLS : 0) | (o->submission ? LISTEN_SUBMISSION : 0);
	buf_init(&c.in, 0);
	buf_init(&c.line, 0);

	CALL(&c, c.sess = ops->session_new(&c));
	if (!c.sess) {
		c.session_freed = true;
		conn_close(&c, "session refused");
	}
	settle(&c);
	if (prefix)
		feed(&c, prefix, strlen(prefix));
	const char *p = (const char *)data;
	size_t left = size;
	while (left > 0 && !c.closing) {
		const char *brk = memmem(p, left, FUZZ_READ_BREAK, 2);
		size_t n = brk ? (size_t)(brk - p) : left;
		feed(&c, p, n);
		n += brk ? 2 : 0;
		p += n;
		left -= n;
	}
	if (!c.closing && !c.session_freed) {
		switch (o->end) {
		case FUZZ_END_TIMEOUT:
			if (c.ops->on_timeout)
				CALL(&c, c.ops->on_timeout(c.sess, CONN_EXPIRY_IDLE));
			conn_close(&c, "timeout");
			break;
		case FUZZ_END_SHUTDOWN:
			srv->shutting_down = true;
			if (c.ops->on_shutdown)
				CALL(&c, c.ops->on_shutdown(c.sess));
			else
				conn_close(&c, "shutdown");
			/* a delivery in flight finishes, then the session closes */
			settle(&c);
			break;
		case FUZZ_END_PEER_CLOSE:
			set_reason(&c, "peer closed");
			break;
		}
	}
	session_end(&c);
	srv->shutting_down = false;
	buf_free(&c.in);
	buf_free(&c.line);
}
