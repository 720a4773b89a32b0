/* core/conn.c: one client connection: the bufferevent (plain or OpenSSL),
 * the line and raw readers with their limits, STARTTLS in place, per-IP
 * and global accounting, and the single path by which a connection ends
 * (conn_free_now -> proto_ops.session_free, exactly once).  Its timers
 * (idle, login deadline, stress) are conn_timer.c's; its compression
 * layer (COMPRESS) conn_deflate.c's.
 *
 * A connection lives on one loop (c->loop) for its whole life and is only
 * ever touched by that loop's thread; the counts over every loop (global,
 * per address) are server_priv's, under its mutex. */
#include "core/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/conn_private.h"
#include "core/loop.h"
#include "core/loop_poll.h"
#include "core/session_limits.h"
#include "core/proto.h"
#include "core/server_private.h"
#include "core/sock.h"
#include "core/tls.h"

#define RAW_CHUNK (64 * 1024)
#define STREAM_PULLUP (64 * 1024)  /* stream mode: made contiguous when the front is not */
#define READ_CHUNK (64 * 1024)              /* most one plaintext read takes */
#define LOW_WATER (64 * 1024)               /* on_drain fires at or below this much unsent output */
#define CLOSE_FLUSH_LIMIT_MS 10000   /* give a closing peer this long to take our last reply */
#define INFLATE_SLICE (1024 * 1024)  /* most input one pass inflates before other connections' turn */


static void conn_process(struct conn *c);
static void conn_install_callbacks(struct conn *c);
static void conn_schedule(struct conn *c);
static void conn_process_input(struct conn *c);
static void conn_try_finish_close(struct conn *c);
static void conn_direct_read_update(struct conn *c);
static void conn_direct_stop(struct conn *c);
static size_t conn_read_high(const struct conn *c);

/* Never nested: draining the input of an OpenSSL bufferevent below its
 * read watermark can make libevent read, and call our read callback, from
 * inside the evbuffer_remove of the loop below; a nested run would hand the
 * front-end lines out of order or overwrite the line it is working on.  The
 * outer run takes whatever arrived meanwhile. */
static void conn_process(struct conn *c)
{
	if (c->processing) {
		c->process_again = true;
		return;
	}
	c->processing = true;
	do {
		c->process_again = false;
		conn_process_input(c);
	} while (c->process_again && !c->closing);
	c->processing = false;
	/* The close may free c: only here, after the last look at it. */
	if (c->closing)
		conn_try_finish_close(c);
}

/* The hash chain a peer address lives in (djb2). */
static struct ip_count **ip_bucket(struct server_priv *p, const char *addr)
{
	uint32_t h = 5381;
	for (const char *a = addr; *a; a++)
		h = h * 33 + (unsigned char)*a;
	return &p->ips[h % IP_BUCKETS];
}

/* Unlink and free a per-IP counter no connection uses any more. */
static void ip_forget_unused(struct server_priv *p, struct ip_count *ipc)
{
	if (!ipc || ipc->count)
		return;
	struct ip_count **pp = ip_bucket(p, ipc->addr);
	while (*pp && *pp != ipc)
		pp = &(*pp)->next;
	if (*pp)
		*pp = ipc->next;
	free(ipc);
}

/* Gives back a connection's place in the counts (under p->mu). */
static void conn_slot_release(struct server_priv *p, struct ip_count *ipc, bool evicted)
{
	p->nconns--;
	if (evicted)
		p->nevicting--;
	if (ipc)
		ipc->count--;
}

static void conn_free_now(struct conn *c)
{
	struct server *srv = c->srv;
	struct server_priv *p = srv->priv;
	struct loop *lp = c->loop;
	if (!c->session_freed) {
		c->session_freed = true;
		if (c->sess && c->ops->session_free)
			c->ops->session_free(c->sess, c->reason[0] ? c->reason : "closed");
		c->sess = NULL;
	}
	log_info("session=%s %s disconnected reason=%s", c->id, c->l->kind,
		 c->reason[0] ? c->reason : "closed");
	if (c->prev)
		c->prev->next = c->next;
	else
		lp->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		lp->conns_tail = c->prev;
	lp->nconns--;
	conn_untrusted_leave(c);
	pthread_mutex_lock(&p->mu);
	conn_slot_release(p, c->ipc, c->evicted);
	conn_stress_update(lp, c->ipc);
	ip_forget_unused(p, c->ipc);
	pthread_mutex_unlock(&p->mu);
	/* libevent may free the buffers later (finalizers): the watches must
	 * not outlive c. */
	for (unsigned i = 0; i < c->nwatch; i++)
		evbuffer_remove_cb_entry(c->out_watched[i], c->out_watch[i]);
	conn_direct_stop(c);   /* before the socket closes under its read event */
	conn_deflate_free(c);
	if (c->bev)
		bufferevent_free(c->bev);
	conn_timers_free(c);
	event_free(c->deferred);
	event_free(c->drained);
	if (c->hold_timer)
		event_free(c->hold_timer);
	buf_free(&c->line);
	free(c);
	server_conn_gone(lp);
}

static void set_reason(struct conn *c, const char *reason)
{
	if (!c->reason[0])
		snprintf(c->reason, sizeof(c->reason), "%s", reason);
}

/* Output still queued anywhere below us (compression layer, TLS filter
 * and its socket). */
static size_t conn_unsent(const struct conn *c)
{
	size_t n = conn_deflate_unsent(c) + evbuffer_get_length(bufferevent_get_output(c->bev));
	struct bufferevent *under = bufferevent_get_underlying(c->bev);
	if (under)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

/* A close was asked for: free once the output is flushed, or after a limit. */
static void conn_try_finish_close(struct conn *c)
{
	if (c->in_callback)
		return;
	/* A held reply goes out first; the hold's end calls us again. */
	if (c->held && c->close_waited_ms < CLOSE_FLUSH_LIMIT_MS)
		return;
	if (conn_unsent(c) == 0 || c->close_waited_ms >= CLOSE_FLUSH_LIMIT_MS) {
		conn_free_now(c);
		return;
	}
	struct timeval tv = {0, 50 * 1000};
	c->close_waited_ms += 50;
	event_add(c->deferred, &tv);
}

void conn_close(struct conn *c, const char *reason)
{
	set_reason(c, reason);
	if (c->closing)
		return;
	c->closing = true;
	conn_untrusted_leave(c);
	bufferevent_disable(c->bev, EV_READ);
	conn_direct_read_update(c);
	conn_timers_stop(c);
	conn_schedule(c);
}

bool conn_is_failed(const struct conn *c)
{
	return c->closing && c->close_waited_ms >= CLOSE_FLUSH_LIMIT_MS;
}

void conn_fail(struct conn *c, const char *reason)
{
	/* The peer is gone or the stream broke: nothing more can be sent.  The
	 * free is deferred like every other close, so a session never sees its
	 * own state vanish in the middle of one of its functions. */
	set_reason(c, reason);
	c->closing = true;
	conn_untrusted_leave(c);
	c->close_waited_ms = CLOSE_FLUSH_LIMIT_MS;
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	conn_direct_read_update(c);
	conn_timers_stop(c);
	conn_schedule(c);
}

static void deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (c->closing)
		conn_try_finish_close(c);
	else
		conn_process(c);
}

static void conn_schedule(struct conn *c)
{
	struct timeval tv = {0, 0};
	event_add(c->deferred, &tv);
}

/* After STARTTLS: drop pipelined plaintext and put a TLS filter on top. */
static void conn_upgrade_tls(struct conn *c)
{
	c->starttls_pending = false;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t dropped = evbuffer_get_length(in);
	evbuffer_drain(in, dropped);
	if (dropped)
		conn_log(c, PLOG_WARN, "starttls discarded pipelined plaintext bytes=%zu", dropped);
	/* From here on the filter drives the socket's bufferevent (it enables
	 * its reading and writing itself); queued plaintext (the go-ahead)
	 * stays first in the socket's output buffer. */
	conn_direct_stop(c);
	SSL *ssl = server_ssl_new(c->srv);
	if (!ssl) {
		conn_fail(c, "tls setup failed");
		return;
	}
	struct bufferevent *f = bufferevent_openssl_filter_new(
		c->loop->base, c->bev, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (!f) {
		SSL_free(ssl);
		conn_fail(c, "tls setup failed");
		return;
	}
	c->bev = f;
	c->tls = true;
	c->line.len = 0;
	c->discarding = false;
	bufferevent_openssl_set_allow_dirty_shutdown(f, 1);
	conn_install_callbacks(c);
}

/* Hand complete lines (or raw bytes) to the session until it suspends,
 * closes or the input runs dry. */
static void conn_process_input(struct conn *c)
{
	size_t inflated = 0;
	/* The idle timer restarts once per batch of whole lines, not per line:
	 * the lines of one read arrived together, and a 100 KiB DATA is some
	 * 1,300 lines, each a clock read and a timer re-add (9% of a
	 * delivery's CPU).  It restarts before the first line is handed over,
	 * so a session that changes its timeout or suspends sees it as
	 * before. */
	bool restarted = false;
	while (!c->closing && !c->suspended && !c->held && !c->starttls_pending) {
		if (c->z) {
			/* A bomb inflates one slice per turn of the loop, so
			 * discarding its gigabyte line cannot hold the loop. */
			if (inflated >= INFLATE_SLICE) {
				conn_schedule(c);
				break;
			}
			size_t made;
			if (conn_deflate_fill(c, conn_read_high(c), &made) < 0) {
				conn_close(c, "compress error");
				break;
			}
			inflated += made;
		}
		/* The session may have turned compression on in the last line. */
		struct evbuffer *in = conn_input(c);
		size_t avail = evbuffer_get_length(in);
		if (avail == 0)
			break;
		if (c->raw_remaining) {
			char chunk[RAW_CHUNK];
			size_t n = avail < c->raw_remaining ? avail : c->raw_remaining;
			if (n > sizeof(chunk))
				n = sizeof(chunk);
			evbuffer_remove(in, chunk, n);
			c->raw_remaining -= n;
			c->in_callback = true;
			c->ops->on_raw(c->sess, chunk, n, c->raw_remaining == 0);
			c->in_callback = false;
			continue;
		}
		if (c->streaming) {
			/* The first contiguous run of what is buffered, read in
			 * place; drained once the session has taken it.  (An
			 * empty chain in front, which libevent may leave, is
			 * made contiguous with what follows instead.) */
			struct evbuffer_iovec v;
			if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0) {
				size_t n = avail < STREAM_PULLUP ? avail : STREAM_PULLUP;
				v.iov_base = evbuffer_pullup(in, (ev_ssize_t)n);
				v.iov_len = n;
				if (!v.iov_base)
					break;
			}
			if (!restarted) {
				conn_timer_idle_restart(c);
				restarted = true;
			}
			c->in_callback = true;
			size_t used = c->ops->on_stream(c->sess, v.iov_base, v.iov_len);
			c->in_callback = false;
			if (used > v.iov_len)
				used = v.iov_len;
			evbuffer_drain(in, used);
			if (used == 0 && c->streaming)
				break;   /* (never: a session in stream mode takes all) */
			continue;
		}
		struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
		if (eol.pos < 0) {
			/* No LF yet.  Allow one extra byte for a CR that may precede it. */
			if (avail > c->max_line + 1) {
				if (!c->discarding) {
					c->discarding = true;
					char head[PROTO_LINE_HEAD];
					ev_ssize_t hn = evbuffer_copyout(in, head, sizeof(head));
					c->in_callback = true;
					if (c->ops->on_line_too_long)
						c->ops->on_line_too_long(c->sess, head,
									 hn > 0 ? (size_t)hn : 0);
					c->in_callback = false;
				}
				evbuffer_drain(in, avail);
				/* Compressed: more of the line may be waiting
				 * below, inflated once there is room. */
				if (c->z)
					continue;
			}
			break;
		}
		size_t len = (size_t)eol.pos; /* bytes before the LF */
		if (c->discarding) {
			evbuffer_drain(in, len + 1);
			c->discarding = false;
			continue;
		}
		const unsigned char *raw = evbuffer_pullup(in, (ev_ssize_t)len + 1);
		bool crlf = len > 0 && raw[len - 1] == '\r';
		size_t linelen = crlf ? len - 1 : len;
		if (linelen > c->max_line) {
			char head[PROTO_LINE_HEAD];
			size_t hn = linelen < sizeof(head) ? linelen : sizeof(head);
			memcpy(head, raw, hn);
			evbuffer_drain(in, len + 1);
			c->in_callback = true;
			if (c->ops->on_line_too_long)
				c->ops->on_line_too_long(c->sess, head, hn);
			c->in_callback = false;
			continue;
		}
		buf_reset(&c->line);
		if (buf_append(&c->line, raw, linelen) < 0) {
			conn_fail(c, "out of memory");
			return;
		}
		evbuffer_drain(in, len + 1);
		if (!restarted) {
			conn_timer_idle_restart(c);
			restarted = true;
		}
		c->in_callback = true;
		c->ops->on_line(c->sess, c->line.data, linelen, crlf);
		c->in_callback = false;
	}
	if (c->starttls_pending && !c->closing)
		conn_upgrade_tls(c);
	conn_direct_read_update(c);   /* below the high-water mark again: read on */
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	loop_poll_note();   /* input arrived: a wait of the loop's ends */
	conn_process(arg);
}

/* ---- plaintext I/O ----
 * On a plaintext socket conn reads and writes the bufferevent's two
 * evbuffers itself, with an event of its own for reading and a write at the
 * end of each batch of replies.  libevent 2.1's socket bufferevent costs
 * more per command: it reads at most 4096 bytes per wake-up and asks
 * FIONREAD before each read, and it adds its write event when a reply is
 * queued and deletes it once written, an epoll_ctl each (per 4 KiB
 * delivery: 8 epoll_ctl, 5 ioctl, 5 readv, 10 epoll_wait; see
 * tests/bench/README.md).  The bufferevent keeps its buffers, watermark
 * and event callback, so TLS (which stacks a filter on it at STARTTLS and
 * then drives it) and every byte counter work as before.  Its write event
 * is enabled only while the socket has refused part of a batch. */

/* Input is read up to this much buffered (docs/architecture.md: input is
 * bounded while a session is suspended). */
static size_t conn_read_high(const struct conn *c)
{
	return c->read_ahead + c->max_line;
}

/* Read while the input is below its high-water mark and the connection
 * is open; otherwise leave the socket alone, so a client pipelining during
 * a flush waits in its own socket buffer.  Changes the epoll set only when
 * that answer changes, not per command. */
static void conn_direct_read_update(struct conn *c)
{
	if (!c->rd)
		return;
	bool want = !c->closing &&
		    evbuffer_get_length(bufferevent_get_input(c->bev)) < conn_read_high(c);
	if (want == c->reading)
		return;
	c->reading = want;
	if (want)
		event_add(c->rd, NULL);
	else
		event_del(c->rd);
}

/* Reads into a buffer on the stack and appends what came: reserving
 * READ_CHUNK in the evbuffer itself would make every connection that holds
 * a partial line keep a 64 KiB chunk (a slow or hostile client would cost
 * 16 times what it did); the copy is cheap beside the system call. */
static void conn_direct_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)what;
	loop_poll_note();   /* input arrived: a wait of the loop's ends */
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t have = evbuffer_get_length(in), high = conn_read_high(c);
	char chunk[READ_CHUNK];
	size_t want = have < high ? high - have : 0;
	if (want > sizeof(chunk))
		want = sizeof(chunk);
	if (want == 0) {
		conn_direct_read_update(c);
		return;
	}
	ssize_t n = read(fd, chunk, want);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_fail(c, errno == ECONNRESET ? "peer reset" : "io error");
		return;
	}
	if (n == 0) {
		conn_fail(c, c->closing ? "closed" : "peer closed");
		return;
	}
	/* The bufferevent keeps the end of its input frozen except while it
	 * reads into it; so do we. */
	evbuffer_unfreeze(in, 0);
	int rc = evbuffer_add(in, chunk, (size_t)n);
	evbuffer_freeze(in, 0);
	if (rc < 0) {
		conn_fail(c, "out of memory");
		return;
	}
	/* c may be gone when this returns; conn_process_input ends by
	 * updating the read event. */
	conn_process(c);
}

/* Output was queued: write all of it in one call once the current callback
 * is done (event_active, so every reply of the batch goes in the same
 * writev).  What the socket refuses is left to the bufferevent's write
 * event; conn_output_cb turns that off again once it is all out. */
static void conn_direct_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	if (c->held || (c->closing && c->close_waited_ms >= CLOSE_FLUSH_LIMIT_MS))
		return;   /* the hold's end flushes; a failed peer takes nothing */
	if (bufferevent_get_enabled(c->bev) & EV_WRITE)
		return;   /* libevent is already writing what the socket refused */
	struct evbuffer *out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) == 0)
		return;
	/* The bufferevent keeps the start of its output frozen except while
	 * it writes from it; so do we. */
	evbuffer_unfreeze(out, 1);
	int n = evbuffer_write(out, bufferevent_getfd(c->bev));
	int err = errno;
	evbuffer_freeze(out, 1);
	if (n < 0 && err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
		conn_fail(c, err == ECONNRESET || err == EPIPE ? "peer reset" : "io error");
		return;
	}
	if (evbuffer_get_length(out) > 0)
		bufferevent_enable(c->bev, EV_WRITE);
}

/* Plaintext I/O on: at accept.  Returns -1 when out of memory. */
static int conn_direct_start(struct conn *c)
{
	struct event_base *base = bufferevent_get_base(c->bev);
	c->rd = event_new(base, bufferevent_getfd(c->bev), EV_READ | EV_PERSIST,
			  conn_direct_read_cb, c);
	c->flush = event_new(base, -1, 0, conn_direct_flush_cb, c);
	if (!c->rd || !c->flush) {
		conn_direct_stop(c);
		return -1;
	}
	/* A socket bufferevent starts with writing enabled. */
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	conn_direct_read_update(c);
	return 0;
}

/* Plaintext I/O off: at STARTTLS (the filter drives the socket from then
 * on) and at free. */
static void conn_direct_stop(struct conn *c)
{
	if (c->rd)
		event_free(c->rd);
	if (c->flush)
		event_free(c->flush);
	c->rd = c->flush = NULL;
	c->reading = false;
}

/* Output left user space: bytes were taken from one of the output buffers
 * (the socket's, or the TLS filter's, whose bytes move on into the socket's
 * buffer as records).  The rule is the same for every stack: once the bytes
 * still unsent in all layers together are at most LOW_WATER, the session
 * hears it (drained_cb).  A bufferevent's own write callback cannot serve:
 * the filter's fires when it hands its bytes down to the socket's buffer,
 * not when the socket takes them, so a front-end stopped at its high-water
 * mark was never resumed after STARTTLS.  Runs inside libevent's buffer
 * code, so it only schedules. */
static void conn_output_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;
	if (c->flush) {
		/* Plaintext: a reply was queued, or libevent wrote out what
		 * the socket had refused (its write event goes off again). */
		if (info->n_added > 0)
			event_active(c->flush, EV_WRITE, 1);
		else if (evbuffer_get_length(buf) == 0 &&
			 (bufferevent_get_enabled(c->bev) & EV_WRITE))
			bufferevent_disable(c->bev, EV_WRITE);
	}
	if (info->n_deleted > 0 && conn_unsent(c) <= LOW_WATER)
		event_active(c->drained, EV_WRITE, 0);
}

static void drained_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	if (c->closing) {
		/* The last reply is out: finish the close now, not at the next
		 * 50 ms look (every QUIT would otherwise wait for it). */
		if (!c->held && conn_unsent(c) == 0)
			conn_schedule(c);
		return;
	}
	if (!c->ops->on_drain || conn_unsent(c) > LOW_WATER)
		return;   /* refilled since the event was scheduled */
	c->in_callback = true;
	c->ops->on_drain(c->sess);
	c->in_callback = false;
	if (c->closing)
		conn_try_finish_close(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_EOF) {
		conn_fail(c, c->closing ? "closed" : "peer closed");
	} else if (what & BEV_EVENT_ERROR) {
		unsigned long e = bufferevent_get_openssl_error(bev);
		if (e) {
			char msg[128];
			ERR_error_string_n(e, msg, sizeof(msg));
			conn_log(c, PLOG_INFO, "tls error=\"%s\"", msg);
			conn_fail(c, "tls error");
		} else {
			int err = EVUTIL_SOCKET_ERROR();
			conn_fail(c, err == ECONNRESET ? "peer reset" : "io error");
		}
	}
}

static void conn_watch_output(struct conn *c, struct evbuffer *out)
{
	if (c->nwatch >= sizeof(c->out_watch) / sizeof(c->out_watch[0]))
		return;
	struct evbuffer_cb_entry *e = evbuffer_add_cb(out, conn_output_cb, c);
	if (!e) {
		conn_fail(c, "out of memory");
		return;
	}
	c->out_watch[c->nwatch] = e;
	c->out_watched[c->nwatch++] = out;
}

static void conn_install_callbacks(struct conn *c)
{
	/* No write callback: output progress is watched on the buffers. */
	bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
	conn_watch_output(c, bufferevent_get_output(c->bev));
	/* Stop reading from a client that sends while its session is suspended
	 * (waiting for a log flush): input is bounded, not buffered forever. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, conn_read_high(c));
	if (c->tls) {
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	} else if (conn_direct_start(c) < 0) {
		conn_fail(c, "out of memory");
	}
}

static struct ip_count *ip_get(struct server_priv *p, const char *addr)
{
	struct ip_count **pp = ip_bucket(p, addr);
	for (struct ip_count *i = *pp; i; i = i->next)
		if (strcmp(i->addr, addr) == 0)
			return i;
	struct ip_count *i = calloc(1, sizeof(*i));
	if (!i)
		return NULL;
	snprintf(i->addr, sizeof(i->addr), "%s", addr);
	i->next = *pp;
	*pp = i;
	return i;
}

static void sockaddr_text(const struct sockaddr *sa, char *out, size_t outlen, unsigned *port_r,
			  bool *loopback_r)
{
	out[0] = '\0';
	*port_r = 0;
	*loopback_r = false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, out, (socklen_t)outlen);
		*port_r = ntohs(s4->sin_port);
		*loopback_r = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		*port_r = ntohs(s6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out, (socklen_t)outlen);
			*loopback_r = s6->sin6_addr.s6_addr[12] == 127;
		} else {
			inet_ntop(AF_INET6, &s6->sin6_addr, out, (socklen_t)outlen);
			*loopback_r = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
		}
	}
}

/* Over a connection limit: log, send the protocol's busy line when the
 * connection is plaintext (a TLS client would only see garbage), close. */
static void refuse_busy(const struct listener *l, int fd, const char *peer, const char *limit,
			unsigned value)
{
	log_warn("%s refused peer=%s reason=%s limit=%u", l->kind, peer, limit, value);
	if (l->ops->busy_reply && !(l->flags & LISTEN_IMPLICIT_TLS))
		(void)!write(fd, l->ops->busy_reply, strlen(l->ops->busy_reply));
	close(fd);
}

/* The bufferevent for a connection's socket (TLS from the first byte when
 * ssl is given).  Every socket a conn is built on comes through here, so
 * each gets the same options (sock_setup_stream: TCP_NODELAY among them);
 * an outbound client would pass BUFFEREVENT_SSL_CONNECTING.  Consumes fd
 * and ssl: on failure both are closed and NULL is returned. */
static struct bufferevent *conn_bev_new(struct loop *lp, int fd, SSL *ssl,
					enum bufferevent_ssl_state state)
{
	char err[128];
	struct bufferevent *bev;
	if (sock_setup_stream(fd, err, sizeof(err)) < 0) {
		log_warn("connection socket setup failed error=\"%s\"", err);
		if (ssl)
			SSL_free(ssl);
		close(fd);
		return NULL;
	}
	if (ssl) {
		/* With BEV_OPT_CLOSE_ON_FREE libevent frees ssl when this fails. */
		bev = bufferevent_openssl_socket_new(lp->base, fd, ssl, state,
						     BEV_OPT_CLOSE_ON_FREE);
		if (bev)
			bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	} else {
		bev = bufferevent_socket_new(lp->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!bev)
		close(fd);
	return bev;
}

/* Takes a place in the counts for a connection from ipc's address, or
 * refuses it (false, *limit_r says which limit).  At max_connections the
 * oldest session of this loop that has not logged in makes room, if there
 * is one; evicted ones still closing do not count (docs/architecture.md,
 * "Slow clients").  Eviction stays within the loop: a session belongs to
 * its loop's thread, and new connections are spread evenly over the
 * loops, so each loop holds its share of the not-logged-in ones. */
static bool conn_slot_take(struct loop *lp, struct ip_count *ipc, const char **limit_r)
{
	struct server_priv *p = lp->srv->priv;
	const struct config *cfg = lp->srv->cfg;
	if (ipc->count >= cfg->max_connections_per_ip) {
		*limit_r = "max_connections_per_ip";
		return false;
	}
	bool full = p->nconns - p->nevicting >= cfg->max_connections;
	/* Counted before the eviction, which may drop p->mu: ipc cannot be
	 * forgotten meanwhile. */
	ipc->count++;
	p->nconns++;
	if (full) {
		bool made_room = conn_evict_oldest(lp);
		if (!made_room) {
			conn_slot_release(p, ipc, false);
			*limit_r = "max_connections";
			return false;
		}
	}
	return true;
}

/* A socket handed from the listening loop to the loop that will own it. */
struct conn_handoff {
	struct inbox_item item;
	struct loop *lp;
	struct listener *l;
	int fd;
	struct sockaddr_storage sa;
};

static void conn_accept_on(struct loop *lp, struct listener *l, int fd,
			   const struct sockaddr *sa)
{
	struct server *srv = lp->srv;
	struct server_priv *p = srv->priv;
	const struct config *cfg = srv->cfg;
	char peer[64];
	unsigned port;
	bool loopback;
	sockaddr_text(sa, peer, sizeof(peer), &port, &loopback);

	if (atomic_load(&srv->shutting_down)) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&p->mu);
	struct ip_count *ipc = ip_get(p, peer);
	const char *limit = NULL;
	bool admitted = ipc && conn_slot_take(lp, ipc, &limit);
	if (!admitted && ipc)
		ip_forget_unused(p, ipc);
	pthread_mutex_unlock(&p->mu);
	if (!admitted) {
		if (limit)
			refuse_busy(l, fd, peer, limit,
				    strcmp(limit, "max_connections") == 0
					    ? cfg->max_connections
					    : cfg->max_connections_per_ip);
		else
			close(fd);
		return;
	}

	struct conn *c = calloc(1, sizeof(*c));
	SSL *ssl = NULL;
	if (!c)
		goto fail_fd;
	c->srv = srv;
	c->loop = lp;
	c->l = l;
	c->ops = l->ops;
	/* Every connection starts unauthenticated: small read-ahead until
	 * its session says otherwise (conn_set_limits). */
	c->max_line = cfg->max_line;
	c->read_ahead = LIMITS_PREAUTH_READ_AHEAD;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->peer_port = port;
	c->loopback = loopback;
	buf_init(&c->line, 0);
	unsigned char rnd[8];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(c->id + 2 * i, 3, "%02x", rnd[i]);
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);
	if (getsockname(fd, (struct sockaddr *)&local, &llen) == 0) {
		unsigned lport;
		bool lloop;
		sockaddr_text((struct sockaddr *)&local, c->local, sizeof(c->local), &lport, &lloop);
	}

	if (l->flags & LISTEN_IMPLICIT_TLS) {
		ssl = server_ssl_new(srv);
		if (!ssl)
			goto fail_fd;
		c->tls = true;
	}
	c->bev = conn_bev_new(lp, fd, ssl, BUFFEREVENT_SSL_ACCEPTING);
	if (!c->bev)   /* fd and ssl consumed by conn_bev_new */
		goto fail;
	int timers = conn_timers_new(c);
	c->deferred = evtimer_new(lp->base, deferred_cb, c);
	c->drained = event_new(lp->base, -1, 0, drained_cb, c);
	if (timers < 0 || !c->deferred || !c->drained) {
		bufferevent_free(c->bev);
		conn_timers_free(c);
		if (c->deferred)
			event_free(c->deferred);
		if (c->drained)
			event_free(c->drained);
		goto fail;
	}
	c->ipc = ipc;
	c->next = lp->conns;
	if (lp->conns)
		lp->conns->prev = c;
	else
		lp->conns_tail = c;
	lp->conns = c;
	lp->nconns++;
	conn_untrusted_enter(c);

	log_info("session=%s %s connected peer=%s port=%u tls=%s loop=%u", c->id, l->kind,
		 c->peer, c->peer_port, c->tls ? "yes" : "no", lp->index);
	conn_install_callbacks(c);
	conn_timers_start(c);
	pthread_mutex_lock(&p->mu);
	conn_stress_update(lp, ipc);
	pthread_mutex_unlock(&p->mu);
	c->in_callback = true;
	c->sess = c->ops->session_new(c);
	c->in_callback = false;
	if (!c->sess) {
		c->session_freed = true;
		conn_close(c, "session refused");
	}
	if (c->closing)
		conn_schedule(c);
	return;

fail_fd:
	close(fd);
	if (ssl)
		SSL_free(ssl);
fail:
	free(c);
	pthread_mutex_lock(&p->mu);
	conn_slot_release(p, ipc, false);
	ip_forget_unused(p, ipc);
	pthread_mutex_unlock(&p->mu);
}

static void conn_handoff_cb(struct inbox_item *it)
{
	struct conn_handoff *h = (struct conn_handoff *)it;
	conn_accept_on(h->lp, h->l, h->fd, (const struct sockaddr *)&h->sa);
	free(h);
}

void conn_accept(struct listener *l, int fd, const struct sockaddr *sa, int salen)
{
	struct server_priv *p = l->srv->priv;
	/* Round robin: the loops get connections in turn, so long-lived
	 * sessions spread evenly (and predictably: the k-th connection goes
	 * to loop k mod N). */
	struct loop *lp = &p->loops[p->next_loop++ % p->nloops];
	if (lp->index == 0) {
		conn_accept_on(lp, l, fd, sa);
		return;
	}
	struct conn_handoff *h = malloc(sizeof(*h));
	if (!h || salen < 0 || (size_t)salen > sizeof(h->sa)) {
		free(h);
		close(fd);
		return;
	}
	h->lp = lp;
	h->l = l;
	h->fd = fd;
	memset(&h->sa, 0, sizeof(h->sa));
	memcpy(&h->sa, sa, (size_t)salen);
	loop_post(lp, &h->item, conn_handoff_cb);
}

/* ---- the API front-ends use ---- */

void conn_write(struct conn *c, const void *data, size_t len)
{
	if (c->closing && c->session_freed)
		return;
	if (evbuffer_add(conn_output(c), data, len) < 0)
		conn_fail(c, "out of memory");
}

void conn_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct evbuffer *out = conn_output(c);
	/* bufferevent_write_buffer would copy; format straight into the output. */
	if (evbuffer_add_vprintf(out, fmt, ap) < 0)
		conn_fail(c, "out of memory");
	va_end(ap);
}

void conn_yield(struct conn *c)
{
	/* A zero timeout, not event_active: libevent runs timers after the
	 * next poll, so every other ready connection of this loop gets its
	 * turn first; drained_cb then calls on_drain. */
	static const struct timeval now = {0, 0};
	event_add(c->drained, &now);
}

size_t conn_output_pending(const struct conn *c)
{
	return conn_unsent(c);
}

int conn_starttls(struct conn *c)
{
	/* TLS goes below compression, never above it (RFC 4978 3). */
	if (c->tls || c->z || !server_has_tls(c->srv))
		return -1;
	c->starttls_pending = true;
	if (!c->in_callback)
		conn_schedule(c);
	return 0;
}

bool conn_is_tls(const struct conn *c)
{
	return c->tls;
}

int conn_compress_start(struct conn *c)
{
	if (c->z || c->starttls_pending || c->closing)
		return -1;
	/* Nothing else to do: the go-ahead is already in the output below,
	 * and the input still there (what the client sent after its
	 * command) is the start of its compressed stream, which the line
	 * reader now takes through the inflater. */
	return conn_deflate_start(c);
}

bool conn_is_compressed(const struct conn *c)
{
	return c->z != NULL;
}

bool conn_tls_available(const struct conn *c)
{
	return server_has_tls(c->srv);
}

void conn_suspend(struct conn *c)
{
	c->suspended = true;
}

void conn_resume(struct conn *c)
{
	if (!c->suspended)
		return;
	c->suspended = false;
	conn_timer_idle_restart(c);
	/* Process the lines that waited in this same pass of the loop, not
	 * through conn_schedule's zero timeout, which costs one more
	 * epoll_wait per resume (every delivery resumes once, after its
	 * log flush).  Closing keeps the zero timeout: it gives the socket
	 * a pass to take the last bytes (a TLS alert) before the free. */
	if (!c->closing)
		event_active(c->deferred, EV_TIMEOUT, 1);
}

static void hold_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	c->held = false;
	if (c->closing && c->close_waited_ms >= CLOSE_FLUSH_LIMIT_MS) {
		conn_try_finish_close(c);  /* the peer is gone: nothing to send */
		return;
	}
	if (c->flush)
		event_active(c->flush, EV_WRITE, 1);   /* plaintext: conn writes */
	else
		bufferevent_enable(c->bev, EV_WRITE);
	conn_timer_idle_restart(c);
	conn_schedule(c);  /* lines that arrived meanwhile, or the close */
}

void conn_hold(struct conn *c, unsigned ms)
{
	if (ms == 0 || (c->closing && c->close_waited_ms >= CLOSE_FLUSH_LIMIT_MS))
		return;
	if (!c->hold_timer) {
		c->hold_timer = evtimer_new(c->loop->base, hold_cb, c);
		if (!c->hold_timer)
			return;  /* out of memory: answer at once rather than never */
	}
	struct timeval now, add = {ms / 1000, (ms % 1000) * 1000}, until;
	event_base_gettimeofday_cached(c->loop->base, &now);
	evutil_timeradd(&now, &add, &until);
	if (c->held && evutil_timercmp(&until, &c->hold_until, <))
		return;  /* an earlier, longer hold already covers it */
	c->held = true;
	c->hold_until = until;
	/* Bytes written from now on wait in the output buffer. */
	bufferevent_disable(c->bev, EV_WRITE);
	event_add(c->hold_timer, &add);
}

void conn_set_max_line(struct conn *c, size_t max)
{
	c->max_line = max ? max : c->srv->cfg->max_line;
	bufferevent_setwatermark(c->bev, EV_READ, 0, conn_read_high(c));
	conn_direct_read_update(c);
}

void conn_set_limits(struct conn *c, const struct limits *lim)
{
	c->read_ahead = lim->read_ahead;
	conn_set_max_line(c, lim->max_line);
}

void conn_read_raw(struct conn *c, size_t n)
{
	c->raw_remaining = n;
}

void conn_read_stream(struct conn *c, bool on)
{
	c->streaming = on && c->ops->on_stream;
}

void conn_set_timeout(struct conn *c, unsigned seconds)
{
	c->timeout = seconds;
	if (!c->closing)
		conn_timer_idle_restart(c);
}

const char *conn_id(const struct conn *c)
{
	return c->id;
}

const char *conn_peer_addr(const struct conn *c)
{
	return c->peer;
}

unsigned conn_peer_port(const struct conn *c)
{
	return c->peer_port;
}

const char *conn_local_addr(const struct conn *c)
{
	return c->local;
}

bool conn_peer_is_loopback(const struct conn *c)
{
	return c->loopback;
}

unsigned conn_listener_flags(const struct conn *c)
{
	return c->l->flags;
}

struct server *conn_server(const struct conn *c)
{
	return c->srv;
}

struct loop *conn_loop(const struct conn *c)
{
	return c->loop;
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
	log_msg(level, "session=%s %s %s", c->id, c->l->kind, msg);
}

/* ---- shutdown ---- */

void conn_shutdown_all(struct loop *lp)
{
	struct conn *next;
	for (struct conn *c = lp->conns; c; c = next) {
		next = c->next;
		if (c->closing)
			continue;
		c->in_callback = true;
		if (c->ops->on_shutdown)
			c->ops->on_shutdown(c->sess);
		else
			conn_close(c, "shutdown");
		c->in_callback = false;
		if (c->closing)
			conn_schedule(c);
	}
}

void conn_close_all_now(struct loop *lp, const char *reason)
{
	while (lp->conns) {
		struct conn *c = lp->conns;
		set_reason(c, reason);
		conn_free_now(c);
	}
}
