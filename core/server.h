/* core/server.h: the daemon's shared state, reachable from any connection
 * through conn_server().  Front-ends read `cfg` and call `store`; they never
 * touch the event base directly. */
#ifndef POSTINO_SERVER_H
#define POSTINO_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct store;
struct event_base;
struct throttle;
struct auth_cache;

struct server {
	const struct config *cfg;
	struct store *store;
	struct event_base *base;
	struct tls_ctx *tls;           /* NULL when TLS could not be set up */
	struct durable *durable;       /* group commit */
	struct throttle *throttle;     /* recent login failures (core/throttle.h) */
	struct auth_cache *auth_cache; /* verified credentials (core/auth_cache.h) */
	size_t input_used;             /* input budget in use (core/session_limits.h) */
	bool shutting_down;
	void *priv;                    /* core/server.c internals */
};

/* Run the daemon until SIGTERM/SIGINT; returns the exit status. */
int server_run(const struct config *cfg);

#endif
