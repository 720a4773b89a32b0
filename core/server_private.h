/* core/server_private.h: what conn.c and server.c share; not for front-ends. */
#ifndef POSTINO_SERVER_PRIVATE_H
#define POSTINO_SERVER_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "core/inbox.h"
#include "core/loop_poll.h"
#include "core/server.h"

struct evconnlistener;
struct conn;
struct proto_ops;

struct listener {
	struct server *srv;
	struct evconnlistener *evl;
	evutil_socket_t fd;        /* bound, not yet listening (evl == NULL) */
	unsigned port;             /* the bound port (for port 0: the one chosen) */
	const struct proto_ops *ops;
	unsigned flags;
	char kind[16];
};

/* Connections per peer address, for max_connections_per_ip (every loop's;
 * count under server_priv.mu). */
struct ip_count {
	struct ip_count *next;
	unsigned count;
	atomic_bool stressed;          /* count is near max_connections_per_ip */
	char addr[64];
};

#define IP_BUCKETS 1024

/* One event loop (core/loop.h).  Everything but the inbox items' flags is
 * touched only by the loop's own thread. */
struct zstream_deflater;

struct loop {
	struct server *srv;
	unsigned index;
	struct event_base *base;
	struct inbox *inbox;
	pthread_t thread;
	bool threaded;                 /* has a thread of its own (index > 0) */
	struct conn *conns;            /* this loop's connections, newest first */
	struct conn *conns_tail;       /* the oldest */
	unsigned nconns;               /* closing ones included, until freed */
	struct event *grace_timer;
	struct inbox_item shutdown_item, close_now_item, rearm_item;
	atomic_bool rearm_posted;
	atomic_bool close_now_posted;   /* close_now_item is posted at most once */
	atomic_uint nuntrusted;        /* connections an eviction may close */
	struct inbox_item evict_item;
	unsigned evict_requests;       /* under server_priv.mu, with evict_posted */
	bool evict_posted;
	/* The loop's one deflater, shared by its compressed connections a
	 * batch at a time (core/conn_deflate.c); made at first use. */
	struct zstream_deflater *deflater;
	struct loop_poll poll;         /* how long it polls before it sleeps */
};

struct server_priv {
	struct listener *listeners;
	size_t nlisteners;
	struct loop *loops;
	unsigned nloops;
	unsigned next_loop;            /* round robin of accepted connections (loop 0) */
	/* Counts over every loop, for the connection limits and stress mode. */
	pthread_mutex_t mu;
	unsigned nconns;               /* closing ones included, until freed */
	unsigned nevicting;            /* evicted ones still closing */
	atomic_bool stressed;          /* nconns is near max_connections */
	struct ip_count *ips[IP_BUCKETS];
	/* srv->tls is swapped by SIGHUP on loop 0 while other loops make SSL
	 * objects from it. */
	pthread_mutex_t tls_mu;
	struct event *sigterm, *sigint, *sighup;
	void *queue;                   /* smtp_queue_service's, on loop 0 */
};

/* conn.c */
/* On the listening loop: hands the new socket to the next loop. */
void conn_accept(struct listener *l, int fd, const struct sockaddr *sa, int salen);
void conn_shutdown_all(struct loop *lp);
void conn_close_all_now(struct loop *lp, const char *reason);
/* server.c: called by conn.c when one of lp's connections is gone. */
void server_conn_gone(struct loop *lp);
/* An SSL object from the current TLS context; NULL without TLS. */
SSL *server_ssl_new(struct server *srv);
bool server_has_tls(struct server *srv);

#endif
