/* core/server.h: the daemon's shared state, reachable from any connection
 * through conn_server().  Front-ends read `cfg` and call `store`; they never
 * touch an event base directly.  Every loop thread shares this: what here
 * changes after start is atomic or has its own lock (throttle, auth cache,
 * the store). */
#ifndef POSTINO_SERVER_H
#define POSTINO_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct config;
struct store;
struct event_base;
struct throttle;
struct auth_cache;
struct workpool;

struct server {
	const struct config *cfg;
	struct store *store;
	struct tls_ctx *tls;           /* NULL when TLS could not be set up */
	/* The outbound SMTP client's (outbound.tls_ca_file read before the
	 * privileges go, like the server's files); NULL when unavailable. */
	struct tls_client_ctx *tls_client;
	struct durable *durable;       /* group commit */
	struct throttle *throttle;     /* recent login failures (core/throttle.h) */
	struct auth_cache *auth_cache; /* verified credentials (core/auth_cache.h) */
	struct workpool *workpool;     /* password checks off the loops (core/workpool.h) */
	_Atomic size_t input_used;     /* input budget in use, every loop (core/session_limits.h) */
	atomic_bool shutting_down;
	void *priv;                    /* core/server.c internals */
};

/* What a front-end loads from the data directory beside the TLS files and
 * replaces on SIGHUP (the DKIM keys): called once at start, as the service
 * user, before any listener accepts (-1 stops the start, with err logged),
 * and on every SIGHUP on loop 0 (-1 is logged; the hook keeps what it had).
 * Set by main before server_run, so core names no front-end.  NULL: none. */
typedef int server_reload_fn(const struct config *cfg, bool at_start, char *err, size_t errlen);
void server_reload_hook_set(server_reload_fn *fn);
/* The background service to run on loop 0 (core/proto.h), or none. */
struct proto_service;
void server_service_set(const struct proto_service *svc);

/* Run the daemon until SIGTERM/SIGINT; returns the exit status. */
int server_run(const struct config *cfg);

#endif
