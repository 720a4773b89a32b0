/* core/server_private.h: what conn.c and server.c share; not for front-ends. */
#ifndef POSTINO_SERVER_PRIVATE_H
#define POSTINO_SERVER_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

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

/* Connections per peer address, for max_connections_per_ip. */
struct ip_count {
	struct ip_count *next;
	unsigned count;
	bool stressed;                 /* count is near max_connections_per_ip */
	char addr[64];
};

#define IP_BUCKETS 1024

struct server_priv {
	struct listener *listeners;
	size_t nlisteners;
	struct conn *conns;            /* doubly linked list of live connections, newest first */
	struct conn *conns_tail;       /* the oldest */
	unsigned nconns;               /* closing ones included, until freed */
	unsigned nevicting;            /* evicted ones still closing */
	bool stressed;                 /* nconns is near max_connections */
	struct ip_count *ips[IP_BUCKETS];
	struct event *sigterm, *sigint, *sighup;
	struct event *grace_timer;
};

/* conn.c */
void conn_accept(struct listener *l, int fd, const struct sockaddr *sa, int salen);
void conn_shutdown_all(struct server *srv);
void conn_close_all_now(struct server *srv, const char *reason);
/* server.c: called by conn.c when a connection is gone. */
void server_conn_gone(struct server *srv);

#endif
