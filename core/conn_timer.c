/* core/conn_timer.c: a connection's clocks.  The idle timer restarts at
 * every whole line; the deadline runs from accept to the session's trusted
 * state (a login; on SMTP port 25 the first accepted MAIL) and never
 * restarts, so a client trickling commands cannot hold a slot for hours.
 * Stress mode (Postfix's stress-adaptive `smtpd_timeout = ${stress?10}{300}`)
 * shortens both for sessions not logged in while the server, or one peer
 * address, nears its connection limit, and re-arms the timers already
 * running.  At max_connections the oldest session not yet trusted is
 * evicted so that a newcomer is served (docs/architecture.md says why). */
#include <time.h>

#include <event2/event.h>

#include "core/config.h"
#include "core/conn_private.h"
#include "core/log.h"
#include "core/proto.h"
#include "core/loop.h"
#include "core/server_private.h"

/* How long a suspended session (the server is working for it, not waiting
 * for the client) may run past its deadline before it is looked at again. */
#define DEADLINE_RECHECK_S 1

uint64_t conn_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool conn_stressed(const struct conn *c)
{
	struct server_priv *p = c->srv->priv;
	/* Written under server_priv.mu by whichever loop changed a count. */
	return atomic_load_explicit(&p->stressed, memory_order_relaxed) ||
	       (c->ipc && atomic_load_explicit(&c->ipc->stressed, memory_order_relaxed));
}

/* The idle timeout in force now, in seconds. */
static unsigned conn_idle_seconds(const struct conn *c)
{
	const struct config *cfg = c->srv->cfg;
	unsigned t = c->timeout ? c->timeout : cfg->idle_timeout;
	/* A logged-in user keeps the protocol's timer (RFC 9051 5.4 wants at
	 * least 30 minutes for IMAP); anonymous sessions, SMTP port 25 ones
	 * included, are what a flood is made of. */
	if (c->trust != CONN_TRUST_LOGIN && conn_stressed(c) && t > cfg->stress_idle_timeout)
		t = cfg->stress_idle_timeout;
	return t;
}

/* The deadline in force now, in seconds from accept; 0 = none. */
static unsigned conn_deadline_seconds(const struct conn *c)
{
	unsigned d = c->deadline;
	if (d && conn_stressed(c) && d > c->srv->cfg->stress_login_timeout)
		d = c->srv->cfg->stress_login_timeout;
	return d;
}

/* Arm ev to fire `seconds` after `since` (at once when that is past). */
static void timer_arm_at(struct event *ev, uint64_t since, unsigned seconds)
{
	uint64_t due = since + (uint64_t)seconds * 1000u;
	uint64_t now = conn_now_ms();
	uint64_t left = due > now ? due - now : 0;
	struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
	event_add(ev, &tv);
}

/* Say the protocol's farewell (core/proto.h on_timeout) and close. */
static void conn_expire(struct conn *c, enum conn_expiry why, const char *reason)
{
	c->in_callback = true;
	if (c->ops->on_timeout)
		c->ops->on_timeout(c->sess, why);
	c->in_callback = false;
	conn_close(c, reason);
}

static void idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	if (c->closing)
		return;
	if (c->suspended && conn_output_pending(c) == 0) {
		/* Waiting on the store (a log flush), not on the client.  A client
		 * that stopped reading a response is timed out like an idle one. */
		conn_timer_idle_restart(c);
		return;
	}
	conn_log(c, PLOG_INFO, "timeout seconds=%u%s", conn_idle_seconds(c),
		 conn_stressed(c) ? " stress=yes" : "");
	conn_expire(c, CONN_EXPIRY_IDLE, "timeout");
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	if (c->closing || !c->deadline)
		return;
	if (c->suspended && conn_output_pending(c) == 0) {
		/* A command is being worked on (a login's password check, say):
		 * its answer may be the login itself.  Look again shortly. */
		struct timeval tv = {DEADLINE_RECHECK_S, 0};
		event_add(c->deadline_timer, &tv);
		return;
	}
	bool mail = (c->l->flags & LISTEN_TRUST_MAIL) != 0;
	conn_log(c, PLOG_INFO, "%s deadline seconds=%u%s", mail ? "mail" : "login",
		 conn_deadline_seconds(c), conn_stressed(c) ? " stress=yes" : "");
	conn_expire(c, CONN_EXPIRY_DEADLINE, mail ? "mail deadline" : "login deadline");
}

int conn_timers_new(struct conn *c)
{
	c->timer = evtimer_new(c->loop->base, idle_cb, c);
	c->deadline_timer = evtimer_new(c->loop->base, deadline_cb, c);
	return c->timer && c->deadline_timer ? 0 : -1;
}

void conn_timers_free(struct conn *c)
{
	if (c->timer)
		event_free(c->timer);
	if (c->deadline_timer)
		event_free(c->deadline_timer);
	c->timer = c->deadline_timer = NULL;
}

void conn_timers_start(struct conn *c)
{
	const struct config *cfg = c->srv->cfg;
	c->started_ms = conn_now_ms();
	c->deadline = (c->l->flags & LISTEN_TRUST_MAIL) ? cfg->mail_timeout : cfg->login_timeout;
	if (c->deadline)
		timer_arm_at(c->deadline_timer, c->started_ms, conn_deadline_seconds(c));
	conn_timer_idle_restart(c);
}

void conn_timer_idle_restart(struct conn *c)
{
	c->idle_since_ms = conn_now_ms();
	timer_arm_at(c->timer, c->idle_since_ms, conn_idle_seconds(c));
}

void conn_timers_stop(struct conn *c)
{
	event_del(c->timer);
	event_del(c->deadline_timer);
}

/* The timeouts changed under a running session (stress on or off, trust
 * gained): both timers keep their start and take the new length. */
static void conn_timers_rearm(struct conn *c)
{
	if (c->closing)
		return;
	timer_arm_at(c->timer, c->idle_since_ms, conn_idle_seconds(c));
	if (c->deadline)
		timer_arm_at(c->deadline_timer, c->started_ms, conn_deadline_seconds(c));
}

void conn_trust_set(struct conn *c, enum conn_trust trust)
{
	if (trust <= c->trust)
		return;
	c->trust = trust;
	conn_untrusted_leave(c);
	bool trusted = trust == CONN_TRUST_LOGIN || (c->l->flags & LISTEN_TRUST_MAIL);
	if (trusted && c->deadline) {
		c->deadline = 0;
		event_del(c->deadline_timer);
	}
	conn_timers_rearm(c);
}

/* Stress begins at threshold percent of a limit and ends ten points
 * lower, so a count hovering at the boundary does not flap (and re-arm
 * every connection at each accept). */
static bool stress_next(bool now, unsigned count, unsigned limit, unsigned pct)
{
	unsigned long long n = (unsigned long long)count * 100;
	if (!now)
		return count > 0 && n >= (unsigned long long)limit * pct;
	unsigned off = pct > 10 ? pct - 10 : 0;
	return count > 0 && n >= (unsigned long long)limit * off;
}

/* Posted to the other loops when stress mode changed: their sessions take
 * the new timeouts (each recomputes its own from the flags). */
static void conn_rearm_loop_cb(struct inbox_item *it)
{
	struct loop *lp = (struct loop *)((char *)it - offsetof(struct loop, rearm_item));
	atomic_store(&lp->rearm_posted, false);
	for (struct conn *c = lp->conns; c; c = c->next)
		conn_timers_rearm(c);
}

void conn_stress_update(struct loop *lp, struct ip_count *ipc)
{
	struct server *srv = lp->srv;
	struct server_priv *p = srv->priv;
	const struct config *cfg = srv->cfg;
	unsigned pct = cfg->stress_threshold;
	bool was = atomic_load(&p->stressed);
	bool ip_was = ipc && atomic_load(&ipc->stressed);
	bool global = stress_next(was, p->nconns, cfg->max_connections, pct);
	bool ip = ipc && stress_next(ip_was, ipc->count, cfg->max_connections_per_ip, pct);
	bool global_changed = global != was;
	bool ip_changed = ipc && ip != ip_was;
	if (!global_changed && !ip_changed)
		return;
	if (global_changed) {
		atomic_store(&p->stressed, global);
		if (global)
			log_warn("stress on connections=%u max_connections=%u login_timeout=%u "
				 "idle_timeout=%u", p->nconns, cfg->max_connections,
				 cfg->stress_login_timeout, cfg->stress_idle_timeout);
		else
			log_warn("stress off connections=%u max_connections=%u", p->nconns,
				 cfg->max_connections);
	}
	if (ip_changed) {
		atomic_store(&ipc->stressed, ip);
		log_info("stress %s peer=%s connections=%u max_connections_per_ip=%u",
			 ip ? "on" : "off", ipc->addr, ipc->count, cfg->max_connections_per_ip);
	}
	for (struct conn *c = lp->conns; c; c = c->next)
		if (global_changed || c->ipc == ipc)
			conn_timers_rearm(c);
	/* The address's other sessions, or all of them, may be on any loop. */
	for (unsigned i = 0; i < p->nloops; i++) {
		struct loop *o = &p->loops[i];
		if (o != lp && !atomic_exchange(&o->rearm_posted, true))
			loop_post(o, &o->rearm_item, conn_rearm_loop_cb);
	}
}

/* ---- eviction across loops ---- */

void conn_untrusted_enter(struct conn *c)
{
	c->untrusted_counted = true;
	atomic_fetch_add(&c->loop->nuntrusted, 1);
}

void conn_untrusted_leave(struct conn *c)
{
	if (!c->untrusted_counted)
		return;
	c->untrusted_counted = false;
	atomic_fetch_sub(&c->loop->nuntrusted, 1);
}

/* Closes lp's oldest connection not yet trusted (its eviction was counted
 * in nevicting by whoever asked).  false when lp has none any more. */
static bool conn_evict_one(struct loop *lp)
{
	struct server *srv = lp->srv;
	struct server_priv *p = srv->priv;
	for (struct conn *c = lp->conns_tail; c; c = c->prev) {
		if (c->closing || c->trust != CONN_TRUST_NONE)
			continue;
		pthread_mutex_lock(&p->mu);
		unsigned n = p->nconns;
		pthread_mutex_unlock(&p->mu);
		c->evicted = true;
		conn_log(c, PLOG_INFO, "evicted age_ms=%llu connections=%u max_connections=%u",
			 (unsigned long long)(conn_now_ms() - c->started_ms), n,
			 srv->cfg->max_connections);
		conn_expire(c, CONN_EXPIRY_EVICTED, "evicted");
		return true;
	}
	return false;
}

/* On a loop asked by another one: the evictions it was asked for. */
static void conn_evict_cb(struct inbox_item *it)
{
	struct loop *lp = (struct loop *)((char *)it - offsetof(struct loop, evict_item));
	struct server_priv *p = lp->srv->priv;
	pthread_mutex_lock(&p->mu);
	unsigned n = lp->evict_requests;
	lp->evict_requests = 0;
	lp->evict_posted = false;
	pthread_mutex_unlock(&p->mu);
	while (n--) {
		if (conn_evict_one(lp))
			continue;
		/* Logged in meanwhile: nothing to close, give the count back. */
		pthread_mutex_lock(&p->mu);
		p->nevicting--;
		pthread_mutex_unlock(&p->mu);
	}
}

bool conn_evict_oldest(struct loop *lp)
{
	struct server *srv = lp->srv;
	struct server_priv *p = srv->priv;
	/* An evicted connection holds its fd until its farewell is out: bound
	 * how many may be closing at once, or a connect flood could take the
	 * process past max_connections by any amount. */
	if (p->nevicting > srv->cfg->max_connections / 10)
		return false;
	/* This loop's own oldest first; else the loop with the most sessions
	 * not logged in (connections are dealt to the loops in turn, so their
	 * ages are alike), which closes its oldest when it gets the request. */
	struct loop *victim = atomic_load(&lp->nuntrusted) ? lp : NULL;
	unsigned most = 0;
	for (unsigned i = 0; !victim && i < p->nloops; i++) {
		unsigned n = atomic_load(&p->loops[i].nuntrusted);
		if (n > most) {
			most = n;
			victim = &p->loops[i];
		}
	}
	if (!victim)
		return false;
	p->nevicting++;
	if (victim == lp) {
		pthread_mutex_unlock(&p->mu);
		bool done = conn_evict_one(lp);
		pthread_mutex_lock(&p->mu);
		if (done)
			return true;
		p->nevicting--;
		return false;
	}
	victim->evict_requests++;
	if (!victim->evict_posted) {
		victim->evict_posted = true;
		loop_post(victim, &victim->evict_item, conn_evict_cb);
	}
	return true;
}
