/* core/conn_private.h: the connection record, shared by conn.c (the socket,
 * its readers and the close path) and conn_timer.c (idle timer, login
 * deadline, stress mode).  Not for front-ends. */
#ifndef POSTINO_CONN_PRIVATE_H
#define POSTINO_CONN_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include "core/buf.h"
#include "core/conn.h"

struct bufferevent;
struct event;
struct evbuffer;
struct evbuffer_cb_entry;
struct listener;
struct proto_ops;
struct ip_count;
struct conn_deflate;

struct conn {
	struct server *srv;
	struct loop *loop;             /* the one loop (thread) this connection lives on */
	struct listener *l;
	struct bufferevent *bev;       /* top of the stack: TLS filter when active */
	const struct proto_ops *ops;
	void *sess;
	struct conn *next, *prev;      /* newest first; loop.conns_tail is the oldest */
	struct ip_count *ipc;

	char id[CONN_ID_MAX];
	char peer[64];
	char local[64];
	unsigned peer_port;
	bool loopback;

	size_t max_line;
	size_t read_ahead;             /* input buffered beyond one line (core/session_limits.h) */
	size_t raw_remaining;
	bool streaming;                /* conn_read_stream: input goes to on_stream */
	unsigned timeout;              /* seconds; 0 = configured idle timeout */
	struct buf line;               /* the current line handed to on_line */

	struct event *timer;           /* idle timeout */
	uint64_t idle_since_ms;        /* when the idle timer last restarted (monotonic) */
	struct event *deadline_timer;  /* connect -> trusted state; never restarts */
	uint64_t started_ms;           /* accept time (monotonic) */
	unsigned deadline;             /* seconds from accept; 0 = none (or cleared) */
	enum conn_trust trust;
	struct event *deferred;        /* resume processing, or finish closing */
	struct event *drained;         /* unsent output fell to LOW_WATER: on_drain */
	/* Plaintext sockets: conn reads and writes the bufferevent's buffers
	 * itself (conn.c, "plaintext I/O"); NULL once TLS is on. */
	struct event *rd;              /* socket readable (EV_PERSIST) */
	struct event *flush;           /* output was added: write it in this loop pass */
	bool reading;                  /* rd is added (input below its high-water mark) */
	/* Watches on every layer's output buffer (socket, and TLS filter after
	 * STARTTLS); see conn_output_cb in conn.c. */
	struct evbuffer_cb_entry *out_watch[2];
	struct evbuffer *out_watched[2];
	unsigned nwatch;
	unsigned close_waited_ms;

	struct conn_deflate *z;        /* compression layer (conn_deflate.c); NULL when off */

	bool tls;
	bool starttls_pending;
	bool suspended;
	bool held;                     /* conn_hold: no input, output kept back */
	struct event *hold_timer;
	struct timeval hold_until;
	bool discarding;               /* skipping the rest of an over-long line */
	bool closing;
	bool evicted;                  /* closed to make room (counted in server_priv.nevicting) */
	bool untrusted_counted;        /* counted in loop.nuntrusted */
	bool in_callback;
	bool processing;               /* in conn_process (never nested) */
	bool process_again;            /* input arrived during it */
	bool session_freed;
	char reason[64];
};

/* conn.c */
/* The stream broke or the peer is gone: close without sending more. */
void conn_fail(struct conn *c, const char *reason);
/* Closing after conn_fail (or a flush that timed out): output is dropped. */
bool conn_is_failed(const struct conn *c);

/* conn_deflate.c: the compression layer (conn_compress_start). */
int conn_deflate_start(struct conn *c);   /* -1: out of memory (nothing changed) */
void conn_deflate_free(struct conn *c);
/* Where the readers take input and writers put output: the compression
 * layer's buffers when it is on, else the top bufferevent's. */
struct evbuffer *conn_input(const struct conn *c);
struct evbuffer *conn_output(const struct conn *c);
size_t conn_deflate_unsent(const struct conn *c);   /* written, not compressed yet */
/* Inflate what came from below until conn_input holds `high` bytes or
 * nothing more comes out; *produced_r counts what was added.  -1: a
 * corrupt stream (logged) or out of memory. */
int conn_deflate_fill(struct conn *c, size_t high, size_t *produced_r);

/* conn_timer.c */
uint64_t conn_now_ms(void);
int conn_timers_new(struct conn *c);      /* -1: out of memory */
void conn_timers_free(struct conn *c);
/* At accept: the deadline for this listener, and both timers armed. */
void conn_timers_start(struct conn *c);
/* A whole line arrived (or the session resumed): the idle timer restarts. */
void conn_timer_idle_restart(struct conn *c);
void conn_timers_stop(struct conn *c);
/* Connection counts changed (accept, free on lp): enter or leave stress
 * mode, globally and for `ipc`'s address, re-arming the timers it affects
 * on lp and, through their inboxes, on the other loops.  Called with
 * server_priv.mu held. */
void conn_stress_update(struct loop *lp, struct ip_count *ipc);
/* At max_connections, for a connection arriving on lp: close the oldest
 * connection that has not reached its trusted state, to make room, on lp
 * or (through its inbox) on another loop.  false when there is none to
 * close.  Called with server_priv.mu held (dropped meanwhile). */
bool conn_evict_oldest(struct loop *lp);
/* The loop's count of sessions an eviction may pick (trust NONE, not
 * closing): entered at accept, left once. */
void conn_untrusted_enter(struct conn *c);
void conn_untrusted_leave(struct conn *c);

#endif
