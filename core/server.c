/* core/server.c: the daemon: opens the store, sets up TLS, binds the
 * listeners, runs the event loops (one per core, core/loop.h), and shuts
 * down cleanly on SIGTERM or SIGINT, letting deliveries in flight on every
 * loop finish (up to shutdown_grace).
 *
 * Loop 0 runs on the main thread: it owns the listeners and the signals,
 * accepts, and hands each new socket to the loops in turn (conn_accept).
 * Loops 1..N-1 each run on a thread of their own. */
#include "core/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "core/auth_cache.h"
#include "core/config.h"
#include "core/durable.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/privdrop.h"
#include "core/proto.h"
#include "core/server_private.h"
#include "core/throttle.h"
#include "core/tls.h"
#include "core/workpool.h"
#include "core/zstream.h"
#include "storage/storage.h"

static void accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	conn_accept(arg, fd, sa, salen);
}

static void accept_error_cb(struct evconnlistener *evl, void *arg)
{
	struct listener *l = arg;
	int err = EVUTIL_SOCKET_ERROR();
	log_error("%s accept failed error=\"%s\"", l->kind, evutil_socket_error_to_string(err));
	/* EMFILE and friends: the loop would spin; the listener keeps trying
	 * on the next readiness, which is what we want once fds free up. */
}

/* Binds the listener's socket (as root if started so, for ports below 1024)
 * without listening: until listener_start, a client's connect is refused at
 * once instead of waiting in the backlog of a daemon whose store is not open
 * yet (issue 10 point 1). */
static int listener_bind(struct server *srv, struct listener *l, const struct config_listener *cl)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t sslen;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	l->fd = -1;
	if (inet_pton(AF_INET, cl->address, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)cl->port);
		sslen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, cl->address, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)cl->port);
		sslen = sizeof(*s6);
	} else {
		log_error("listener kind=%s address=%s: not an IP address", cl->kind, cl->address);
		return -1;
	}
	l->srv = srv;
	l->ops = proto_lookup(cl->kind, &l->flags);
	snprintf(l->kind, sizeof(l->kind), "%s", cl->kind);
	if ((l->flags & LISTEN_IMPLICIT_TLS) && !srv->tls) {
		log_error("listener kind=%s needs TLS, which is not available", cl->kind);
		return -1;
	}
	int one = 1;
	l->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0 ||
	    setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(l->fd, (struct sockaddr *)&ss, sslen) < 0) {
		log_error("listener kind=%s address=%s port=%u: cannot bind: %s", cl->kind,
			  cl->address, cl->port, strerror(errno));
		if (l->fd >= 0)
			close(l->fd);
		l->fd = -1;
		return -1;
	}
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	l->port = cl->port;
	if (getsockname(l->fd, (struct sockaddr *)&bound, &blen) == 0)
		l->port = ntohs(bound.ss_family == AF_INET
					? ((struct sockaddr_in *)&bound)->sin_port
					: ((struct sockaddr_in6 *)&bound)->sin6_port);
	return 0;
}

/* Starts accepting, once the store is open. */
static int listener_start(struct server *srv, struct listener *l, const struct config_listener *cl)
{
	struct server_priv *p = srv->priv;
	l->evl = evconnlistener_new(p->loops[0].base, accept_cb, l,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
				    512, l->fd);
	if (!l->evl) {
		log_error("listener kind=%s address=%s port=%u: cannot listen: %s", cl->kind,
			  cl->address, l->port, strerror(errno));
		return -1;
	}
	l->fd = -1;   /* owned by evl now */
	evconnlistener_set_error_cb(l->evl, accept_error_cb);
	log_always("listening kind=%s address=%s port=%u", cl->kind, cl->address, l->port);
	return 0;
}

static void listeners_close(struct server *srv)
{
	struct server_priv *p = srv->priv;
	for (size_t i = 0; i < p->nlisteners; i++) {
		if (p->listeners[i].evl)
			evconnlistener_free(p->listeners[i].evl);
		p->listeners[i].evl = NULL;
		if (p->listeners[i].fd >= 0)
			close(p->listeners[i].fd);
		p->listeners[i].fd = -1;
	}
}

/* Each connection is one descriptor (the store, listeners, log and the
 * flush thread take a few dozen more): raise the soft limit to the hard
 * one, which is often 1024 against max_connections = 1000, and say so when
 * even that is too small, rather than fail accept() under load. */
static void server_raise_fd_limit(const struct config *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			log_warn("cannot raise the open files limit from %llu: %s",
				 (unsigned long long)was, strerror(errno));
			rl.rlim_cur = was;
		}
	}
	rlim_t need = (rlim_t)cfg->max_connections + cfg->max_connections / 10 + 64;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		log_warn("open files limit=%llu is below what max_connections=%u needs (about "
			 "%llu): raise it (ulimit -n) or lower max_connections",
			 (unsigned long long)rl.rlim_cur, cfg->max_connections,
			 (unsigned long long)need);
}

/* ---- loops ---- */

static _Thread_local struct loop *current_loop;

struct loop *loop_current(void)
{
	return current_loop;
}

unsigned loop_count(const struct server *srv)
{
	return ((const struct server_priv *)srv->priv)->nloops;
}

struct loop *loop_at(const struct server *srv, unsigned i)
{
	return &((struct server_priv *)srv->priv)->loops[i];
}

unsigned loop_index(const struct loop *l)
{
	return l->index;
}

struct event_base *loop_base(const struct loop *l)
{
	return l->base;
}

void loop_post(struct loop *l, struct inbox_item *item, void (*fn)(struct inbox_item *item))
{
	inbox_post(l->inbox, item, fn);
}

SSL *server_ssl_new(struct server *srv)
{
	struct server_priv *p = srv->priv;
	pthread_mutex_lock(&p->tls_mu);
	SSL *ssl = srv->tls ? tls_ssl_new(srv->tls) : NULL;
	pthread_mutex_unlock(&p->tls_mu);
	return ssl;
}

bool server_has_tls(struct server *srv)
{
	struct server_priv *p = srv->priv;
	pthread_mutex_lock(&p->tls_mu);
	bool has = srv->tls != NULL;
	pthread_mutex_unlock(&p->tls_mu);
	return has;
}

/* A loop stops once the server is shutting down and its last connection is
 * gone; loop 0's return then joins the others (server_run). */
void server_conn_gone(struct loop *lp)
{
	if (atomic_load(&lp->srv->shutting_down) && lp->nconns == 0)
		event_base_loopexit(lp->base, NULL);
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loop *lp = arg;
	log_warn("shutdown grace period over, closing loop=%u connections=%u", lp->index,
		 lp->nconns);
	conn_close_all_now(lp, "shutdown");
	event_base_loopexit(lp->base, NULL);
}

/* Posted to every loop at SIGTERM/SIGINT: each lets its own sessions
 * finish what is in flight, under its own grace timer. */
static void loop_shutdown_cb(struct inbox_item *it)
{
	struct loop *lp = (struct loop *)((char *)it - offsetof(struct loop, shutdown_item));
	if (lp->nconns == 0) {
		event_base_loopexit(lp->base, NULL);
		return;
	}
	conn_shutdown_all(lp);
	struct timeval tv = {lp->srv->cfg->shutdown_grace, 0};
	if (!lp->grace_timer)
		lp->grace_timer = evtimer_new(lp->base, grace_cb, lp);
	if (lp->grace_timer)
		evtimer_add(lp->grace_timer, &tv);
}

/* A second signal, or the end: the loop closes everything now and stops. */
static void loop_close_now_cb(struct inbox_item *it)
{
	struct loop *lp = (struct loop *)((char *)it - offsetof(struct loop, close_now_item));
	conn_close_all_now(lp, "shutdown");
	event_base_loopexit(lp->base, NULL);
}

static void loop_close_now(struct loop *lp)
{
	if (!atomic_exchange(&lp->close_now_posted, true))
		loop_post(lp, &lp->close_now_item, loop_close_now_cb);
}

static server_reload_fn *reload_hook;
/* The front-ends' background service (the SMTP queue runner), given by
 * main.c so that core names no front-end's symbol. */
static const struct proto_service *service;

void server_service_set(const struct proto_service *svc)
{
	service = svc;
}

void server_reload_hook_set(server_reload_fn *fn)
{
	reload_hook = fn;
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	struct server_priv *p = srv->priv;
	if (sig == SIGHUP && reload_hook) {
		char herr[1024];
		if (reload_hook(srv->cfg, false, herr, sizeof(herr)) < 0)
			log_error("reload failed, keeping what was loaded: %s", herr);
	}
	if (sig == SIGHUP) {
		/* Reload the TLS certificate chain and key (the rest of the
		 * config is read only at start).  A new context replaces the old
		 * one only when it passed every check; sessions already on TLS
		 * keep the SSL_CTX they were made from.  Started as root, we run
		 * as cfg->run_user by now, so the files must be readable by it. */
		char rerr[1024];
		struct tls_ctx *fresh = NULL;
		if (tls_ctx_create(srv->cfg, &fresh, rerr, sizeof(rerr)) < 0) {
			log_error("tls reload failed, keeping the current certificate: %s", rerr);
			return;
		}
		char desc[1600];
		tls_ctx_describe(fresh, desc, sizeof(desc));
		/* Built outside the lock (files, key checks); only the swap
		 * holds up the other loops' handshakes. */
		pthread_mutex_lock(&p->tls_mu);
		struct tls_ctx *old = srv->tls;
		srv->tls = fresh;
		pthread_mutex_unlock(&p->tls_mu);
		tls_ctx_free(&old);
		log_always("tls reloaded %s", desc);
		return;
	}
	if (atomic_load(&srv->shutting_down)) {
		log_warn("second signal, stopping now");
		for (unsigned i = 0; i < p->nloops; i++)
			loop_close_now(&p->loops[i]);
		return;
	}
	pthread_mutex_lock(&p->mu);
	unsigned n = p->nconns;
	pthread_mutex_unlock(&p->mu);
	log_info("shutdown signal=%s connections=%u", sig == SIGTERM ? "TERM" : "INT", n);
	atomic_store(&srv->shutting_down, true);
	listeners_close(srv);
	if (p->queue)
		service->stop(p->queue);
	for (unsigned i = 0; i < p->nloops; i++)
		loop_post(&p->loops[i], &p->loops[i].shutdown_item, loop_shutdown_cb);
}

/* Runs lp's events until the loop is told to exit, polling before each
 * sleep (core/loop_poll.h). */
static void loop_run(struct loop *lp)
{
	if (loop_poll_run(lp->base, &lp->poll) < 0)
		log_error("event loop failed loop=%u", lp->index);
}

static void *loop_thread_main(void *arg)
{
	struct loop *lp = arg;
	current_loop = lp;
	/* Signals are loop 0's (the main thread's). */
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	loop_run(lp);
	return NULL;
}

/* 0 = one loop per online CPU. */
static unsigned loops_wanted(const struct config *cfg)
{
	if (cfg->loops)
		return cfg->loops;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > CONFIG_MAX_LOOPS ? CONFIG_MAX_LOOPS : (unsigned)n;
}

static int loops_create(struct server *srv, unsigned n)
{
	struct server_priv *p = srv->priv;
	p->loops = calloc(n, sizeof(*p->loops));
	if (!p->loops)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		struct loop *lp = &p->loops[i];
		lp->srv = srv;
		lp->index = i;
		p->nloops = i + 1;
		lp->base = event_base_new();
		if (!lp->base || !(lp->inbox = inbox_new(lp->base)))
			return -1;
		loop_poll_init(&lp->poll, srv->cfg->loop_poll_us);
	}
	return 0;
}

/* Threads for loops 1..N-1, once the store is open and the flush thread
 * runs.  With threads, the process is multithreaded before it serves. */
static int loops_start(struct server *srv)
{
	struct server_priv *p = srv->priv;
	for (unsigned i = 1; i < p->nloops; i++) {
		struct loop *lp = &p->loops[i];
		if (pthread_create(&lp->thread, NULL, loop_thread_main, lp) != 0) {
			log_error("cannot start event loop thread loop=%u", i);
			return -1;
		}
		lp->threaded = true;
	}
	return 0;
}

/* Joins every loop thread.  After a shutdown signal each one stops by
 * itself once its sessions are done (or its grace is over); on an error
 * before that they are told to stop now.  What a stopped loop still has is
 * closed here, on the main thread, which is safe once its thread is gone. */
static void loops_stop(struct server *srv)
{
	struct server_priv *p = srv->priv;
	bool signalled = atomic_exchange(&srv->shutting_down, true);
	for (unsigned i = 1; i < p->nloops; i++) {
		struct loop *lp = &p->loops[i];
		if (!lp->threaded)
			continue;
		if (!signalled)
			loop_close_now(lp);
		pthread_join(lp->thread, NULL);
		lp->threaded = false;
	}
	for (unsigned i = 0; i < p->nloops; i++)
		conn_close_all_now(&p->loops[i], "shutdown");
}

static void loops_free(struct server *srv)
{
	struct server_priv *p = srv->priv;
	for (unsigned i = 0; i < p->nloops; i++) {
		struct loop *lp = &p->loops[i];
		/* Runs leftovers: a socket handed over too late is closed. */
		inbox_free(&lp->inbox);
		if (lp->grace_timer)
			event_free(lp->grace_timer);
		zstream_deflater_free(&lp->deflater);
		if (lp->base)
			event_base_free(lp->base);
	}
	free(p->loops);
	p->loops = NULL;
	p->nloops = 0;
}

/* The store's own messages (Berkeley DB errors, recovery) join our log, so
 * that log.target = syslog keeps them too (issue 10 point 8). */
static void server_store_log(enum store_log_level level, const char *msg)
{
	enum log_level l = level == STORE_LOG_ERROR ? PLOG_ERROR
			   : level == STORE_LOG_WARN ? PLOG_WARN : PLOG_INFO;
	log_msg(l, "storage: %s", msg);
}

int server_run(const struct config *cfg)
{
	int status = 1;
	char err[512];
	struct server srv;
	struct server_priv priv;
	memset(&srv, 0, sizeof(srv));
	memset(&priv, 0, sizeof(priv));
	srv.cfg = cfg;
	srv.priv = &priv;
	pthread_mutex_init(&priv.mu, NULL);
	pthread_mutex_init(&priv.tls_mu, NULL);

	if (log_setup(cfg->log_target, cfg->log_level) < 0) {
		fprintf(stderr, "postino: %s: bad log settings\n", cfg->source);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	server_raise_fd_limit(cfg);
	/* glibc raises its mmap threshold each time a large block is freed,
	 * so the next large literal or DATA buffer comes from a heap instead
	 * and stays with the loop thread's arena after it is freed.  A fixed
	 * threshold (which also fixes the trim threshold) keeps large input
	 * mapped and returned at once, whichever loop held it. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	/* Setting it also pins the trim threshold at 128 KiB, so freeing a
	 * few chunk buffers at the top of a heap gave the pages back and the
	 * next command faulted them in again (brk and page faults were a
	 * third of a small RETR's CPU).  Free heap is returned when a load
	 * ends instead (store_idle_hook_set: malloc_trim). */
	mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
	/* A write past RLIMIT_FSIZE fails with EFBIG (a spool or store error
	 * the session reports) instead of killing the daemon. */
	signal(SIGXFSZ, SIG_IGN);
	if (mkdir(cfg->data_dir, 0700) < 0 && errno != EEXIST) {
		log_error("cannot create data_dir=%s: %s", cfg->data_dir, strerror(errno));
		return 1;
	}
	if (tls_ctx_create(cfg, &srv.tls, err, sizeof(err)) < 0) {
		log_error("tls setup failed: %s", err);
		goto out;
	}
	if (tls_client_ctx_create(cfg->outbound_tls_ca_file, &srv.tls_client, err, sizeof(err)) < 0)
		log_warn("outbound TLS unavailable: %s", err);
	unsigned nloops = loops_wanted(cfg);
	if (loops_create(&srv, nloops) < 0) {
		log_error("cannot create the event loops loops=%u", nloops);
		goto out;
	}
	priv.listeners = calloc(cfg->nlisteners ? cfg->nlisteners : 1, sizeof(*priv.listeners));
	if (!priv.listeners)
		goto out;
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		priv.nlisteners = i + 1;
		if (listener_bind(&srv, &priv.listeners[i], &cfg->listeners[i]) < 0)
			goto out;
	}
	/* Ports bound and TLS files read: root is no longer needed, and the
	 * store is only ever opened as the service user (issue 4 point 7). */
	if (privdrop_drop(cfg, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto out;
	}
	if (geteuid() == 0) {
		log_error("refusing to run as root");
		goto out;
	}
	if (cfg->run_user[0] && getuid() != 0)
		log_info("running as user=%s uid=%u gid=%u", cfg->run_user, (unsigned)getuid(),
			 (unsigned)getgid());
	if (reload_hook && reload_hook(cfg, true, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto out;
	}
	store_log_set(server_store_log);
	log_info("opening store data_dir=%s", cfg->data_dir);
	struct store_options so = {.cache_bytes = cfg->cache_bytes,
				   .min_free_bytes = cfg->min_free_bytes};
	int rc = store_open(cfg->data_dir, &so, &srv.store);
	if (rc != STORE_OK) {
		log_error("cannot open the store data_dir=%s error=\"%s\"", cfg->data_dir,
			  store_strerror(rc));
		goto out;
	}
	/* Deletions a previous run deferred while it streamed a message and
	 * then died (store_content_pin); a failure only leaves them for later. */
	rc = store_content_sweep(srv.store);
	if (rc != STORE_OK)
		log_warn("content sweep failed error=\"%s\"", store_strerror(rc));
	if (durable_start(&srv) < 0) {
		log_error("cannot start the log flush thread");
		goto out;
	}
	srv.workpool = workpool_new(cfg->workers, WORKPOOL_QUEUE_MAX);
	if (!srv.workpool) {
		log_error("cannot start the worker pool workers=%u", cfg->workers);
		goto out;
	}
	srv.throttle = throttle_new(THROTTLE_MAX_ENTRIES, THROTTLE_FORGET);
	if (!srv.throttle) {
		log_error("out of memory for the login failure table");
		goto out;
	}
	srv.auth_cache = auth_cache_new(cfg->auth_cache_size, cfg->auth_cache_ttl);
	struct event_base *base0 = priv.loops[0].base;
	priv.sigterm = evsignal_new(base0, SIGTERM, signal_cb, &srv);
	priv.sigint = evsignal_new(base0, SIGINT, signal_cb, &srv);
	priv.sighup = evsignal_new(base0, SIGHUP, signal_cb, &srv);
	evsignal_add(priv.sigterm, NULL);
	evsignal_add(priv.sigint, NULL);
	evsignal_add(priv.sighup, NULL);
	if (loops_start(&srv) < 0)
		goto out;
	/* The queue runner (smtp/smtp_queue.c) on loop 0; without it mail
	 * stays queued, which is no reason to refuse to serve. */
	if (service) {
		priv.queue = service->start(&srv, base0);
		if (!priv.queue)
			log_error("the %s service did not start: queued mail waits", service->name);
	}
	/* Only now, with the store open and the flush thread and every loop
	 * running, do clients get in; `ready` follows the last listener. */
	for (size_t i = 0; i < priv.nlisteners; i++)
		if (listener_start(&srv, &priv.listeners[i], &cfg->listeners[i]) < 0)
			goto out;
	if (cfg->sandbox)
		log_warn("SANDBOX MODE: every recipient is accepted and any password logs in; "
			 "never use this on a real server");
	log_always("ready version=" POSTINO_VERSION " config=%s data_dir=%s listeners=%zu "
		   "loops=%u", cfg->source, cfg->data_dir, cfg->nlisteners, priv.nloops);
	current_loop = &priv.loops[0];
	loop_run(&priv.loops[0]);
	status = 0;
out:
	listeners_close(&srv);
	if (priv.queue)
		service->stop(priv.queue);
	if (priv.loops)
		loops_stop(&srv);
	if (priv.queue)
		service->free(priv.queue);
	current_loop = NULL;
	if (status == 0)
		log_info("stopped");
	/* The flush thread ends after the loops (their last sessions may
	 * still have waited on it), and before the inboxes run their
	 * leftovers, so nothing posts to a freed inbox. */
	durable_stop(&srv);
	/* Sessions are gone; a job's done still runs (it frees the job)
	 * from the inboxes, so the pool stops before they are freed. */
	workpool_stop(srv.workpool);
	if (priv.loops)
		loops_free(&srv);
	workpool_free(&srv.workpool);
	durable_free(&srv);
	free(priv.listeners);
	if (priv.sigterm)
		event_free(priv.sigterm);
	if (priv.sigint)
		event_free(priv.sigint);
	if (priv.sighup)
		event_free(priv.sighup);
	for (size_t i = 0; i < IP_BUCKETS; i++) {
		while (priv.ips[i]) {
			struct ip_count *n = priv.ips[i]->next;
			free(priv.ips[i]);
			priv.ips[i] = n;
		}
	}
	tls_ctx_free(&srv.tls);
	tls_client_ctx_free(&srv.tls_client);
	throttle_free(&srv.throttle);
	auth_cache_free(&srv.auth_cache);
	store_close(&srv.store);
	store_log_set(NULL);
	pthread_mutex_destroy(&priv.mu);
	pthread_mutex_destroy(&priv.tls_mu);
	return status;
}
