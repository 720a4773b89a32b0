/* smtp/smtp_queue.c: the queue runner (RFC 5321 5, 4.5.4): finds queue
 * entries whose next attempt is due, starts an attempt for each (as many
 * as the connections can keep busy), groups each entry's recipients by
 * destination and hands the groups to smtp_queue_group.c, which resolves
 * them and sends over SMTP client connections.  When every group of an
 * entry is over, smtp_queue_outcome.c records the results.  Also the
 * service itself: start, stop, free, and the doorbells (kicks, the
 * queue's generation, the admin commands' FIFO).
 *
 * Runs on loop 0 only; smtp_queue_kick may be called from any loop.
 *
 * Crash safety: a recipient leaves the queue only in the transaction that
 * records its remote 2xx (or its bounce).  A crash between a server's 250
 * and that commit sends the message again at the next start: the one
 * duplicate window, as in Postfix. */
#include <arpa/inet.h>
#include <event2/event.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/inbox.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/proto.h"
#include "core/queue_poke.h"
#include "core/server.h"
#include "core/tls.h"
#include "smtp/smtp_addr.h"
#include "smtp/smtp_queue.h"
#include "smtp/smtp_queue_private.h"

/* Entries tried at once: enough to keep every connection busy. */
#define OQ_ATTEMPTS_PER_CONN 2
/* A kick waits this long (ms) so a burst of submissions costs one scan. */
#define OQ_KICK_DELAY_MS 20

static struct oq_runner *the_runner;     /* loop 0's; NULL when not running */
static struct server *kick_srv;
static atomic_bool kick_posted;
static struct inbox_item kick_item;

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* ---- scanning ---- */

static bool attempt_busy(const struct oq_runner *q, uint64_t id)
{
	for (const struct oq_attempt *a = q->attempts; a; a = a->next)
		if (a->e.id == id)
			return true;
	return false;
}

void oq_hold(struct oq_runner *q, uint64_t id, int64_t until)
{
	for (size_t i = 0; i < q->nholds; i++) {
		if (q->holds[i].id == id) {
			q->holds[i].until = until;
			return;
		}
	}
	if (q->nholds == q->holds_cap) {
		size_t ncap = q->holds_cap ? q->holds_cap * 2 : 16;
		struct oq_hold *n = realloc(q->holds, ncap * sizeof(*n));
		if (!n)
			return;
		q->holds = n;
		q->holds_cap = ncap;
	}
	q->holds[q->nholds++] = (struct oq_hold){.id = id, .until = until};
}

static bool held(struct oq_runner *q, uint64_t id, int64_t now)
{
	for (size_t i = 0; i < q->nholds; i++) {
		if (q->holds[i].id != id)
			continue;
		if (q->holds[i].until > now)
			return true;
		q->holds[i] = q->holds[--q->nholds];
		return false;
	}
	return false;
}

struct scan_ctx {
	struct oq_runner *q;
	int64_t now;
	int64_t next;             /* the earliest next_attempt still ahead */
};

static int scan_cb(void *arg, const struct store_queue_entry *e)
{
	struct scan_ctx *x = arg;
	struct oq_runner *q = x->q;
	if (e->next_attempt > x->now) {
		if (x->next == 0 || e->next_attempt < x->next)
			x->next = e->next_attempt;
		return 0;
	}
	if (attempt_busy(q, e->id) || held(q, e->id, x->now))
		return 0;
	if (q->ndue == q->due_cap) {
		size_t ncap = q->due_cap ? q->due_cap * 2 : 256;
		uint64_t *n = realloc(q->due, ncap * sizeof(*n));
		if (!n)
			return 0;   /* the next scan finds the rest */
		q->due = n;
		q->due_cap = ncap;
	}
	q->due[q->ndue++] = e->id;
	return 0;
}

static void oq_dispatch(struct oq_runner *q);

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A scan in ms, or sooner if one is already due sooner: a stream of
 * kicks must not push the pending scan back for ever. */
static void scan_arm(struct oq_runner *q, int64_t ms)
{
	int64_t due = now_ms() + ms;
	if (evtimer_pending(q->scan_ev, NULL) && q->scan_due <= due)
		return;
	q->scan_due = due;
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(q->scan_ev, &tv);
}

static void scan_run(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct oq_runner *q = arg;
	if (q->stopping)
		return;
	struct scan_ctx x = {.q = q, .now = now_s()};
	q->ndue = q->due_pos = 0;
	/* Holds that have run out (their entries may be gone) go. */
	for (size_t i = 0; i < q->nholds;) {
		if (q->holds[i].until <= x.now)
			q->holds[i] = q->holds[--q->nholds];
		else
			i++;
	}
	int rc = store_queue_list(q->store, scan_cb, &x);
	if (rc != STORE_OK)
		log_warn("queue scan failed error=\"%s\"", store_strerror(rc));
	oq_dispatch(q);
	/* Look again at the next due entry, or at the interval: `postino
	 * queue flush` from another process shows up there. */
	int64_t wait = q->cfg->queue_scan_interval;
	if (x.next && x.next - x.now < wait)
		wait = x.next - x.now;
	if (wait < 1)
		wait = 1;
	scan_arm(q, wait * 1000);   /* not pending now: this is its run */
}

static void kick_run(struct inbox_item *item)
{
	(void)item;
	atomic_store(&kick_posted, false);
	struct oq_runner *q = the_runner;
	if (!q || q->stopping)
		return;
	/* Earlier than the pending scan, unless one is due sooner. */
	scan_arm(q, OQ_KICK_DELAY_MS);
}

/* smtp_queue_kick's work while the runner runs (smtp_queue_kick.c). */
static void queue_kick_post(void)
{
	if (!kick_srv || atomic_exchange(&kick_posted, true))
		return;
	loop_post(loop_at(kick_srv, 0), &kick_item, kick_run);
}

void oq_dispatch_soon(struct oq_runner *q)
{
	if (!q->stopping)
		event_active(q->dispatch_ev, EV_TIMEOUT, 0);
}

/* ---- attempts ---- */

/* Where mail for domain goes: a route's relay, the route's "own MX" (a
 * route without relay), outbound.relay, or the MX (NULL). */
static const struct config_relay *oq_route(const struct config *cfg, const char *domain,
					   const struct config_route **rt_r)
{
	const struct config_route *rt = config_route_find(cfg, domain);
	*rt_r = rt;
	if (rt)
		return rt->relay.host[0] ? &rt->relay : NULL;
	return cfg->relay.host[0] ? &cfg->relay : NULL;
}

/* Splits the entry's recipients by destination (RFC 5321 5: one
 * transaction per server for all its recipients). */
static int attempt_groups(struct oq_attempt *a)
{
	const struct store_queue_entry *e = &a->e;
	const struct config *cfg = a->q->cfg;
	size_t n = e->nrecipients;
	size_t *gi = calloc(n ? n : 1, sizeof(*gi));
	a->groups = calloc(n ? n : 1, sizeof(*a->groups));
	if (!gi || !a->groups) {
		free(gi);
		return -1;
	}
	/* First the groups and their sizes, then exact arrays: an entry of
	 * many recipients in many domains stays linear. */
	for (size_t i = 0; i < n; i++) {
		const char *dom = smtp_addr_domain(e->recipients[i]);
		size_t j = 0;
		while (j < a->ngroups && strcasecmp(a->groups[j].domain, dom) != 0)
			j++;
		struct oq_group *g = &a->groups[j];
		if (j == a->ngroups) {
			a->ngroups++;
			g->a = a;
			snprintf(g->domain, sizeof(g->domain), "%s", dom);
			const struct config_route *rt;
			g->relay = oq_route(cfg, dom, &rt);
			snprintf(g->dest, sizeof(g->dest), "%s", g->relay ? g->relay->host : dom);
			g->tls = (enum smtp_tls_policy)(rt && rt->tls >= 0 ? rt->tls
								   : (int)cfg->outbound_tls);
			g->plain_target = SIZE_MAX;
		}
		gi[i] = j;
		g->n++;
	}
	int rc = 0;
	for (size_t j = 0; j < a->ngroups && rc == 0; j++) {
		struct oq_group *g = &a->groups[j];
		g->idx = calloc(g->n, sizeof(*g->idx));
		g->crcpts = calloc(g->n, sizeof(*g->crcpts));
		if (!g->idx || !g->crcpts)
			rc = -1;
		g->n = 0;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct oq_group *g = &a->groups[gi[i]];
		g->crcpts[g->n].address = e->recipients[i];
		g->crcpts[g->n].orcpt = e->rcpt[i].orcpt;
		g->crcpts[g->n].notify = e->rcpt[i].notify;
		g->idx[g->n++] = i;
	}
	free(gi);
	if (rc != 0)
		return -1;
	for (size_t j = 0; j < a->ngroups; j++) {
		struct oq_group *g = &a->groups[j];
		g->msg = (struct smtp_client_msg){
			.sender = e->sender, .envid = e->envid[0] ? e->envid : NULL, .ret = e->ret,
			.rcpts = g->crcpts, .nrcpts = g->n, .size = e->size,
			.eightbit = (e->flags & STORE_QF_8BIT) != 0,
			.utf8 = (e->flags & STORE_QF_UTF8) != 0,
			.read = oq_content_read, .read_arg = g,
		};
	}
	return 0;
}

void oq_attempt_free(struct oq_attempt *a)
{
	struct oq_runner *q = a->q;
	for (struct oq_attempt **p = q ? &q->attempts : NULL; p && *p; p = &(*p)->next) {
		if (*p == a) {
			*p = a->next;
			break;
		}
	}
	for (size_t j = 0; j < a->ngroups; j++) {
		struct oq_group *g = &a->groups[j];
		if (g->dq)
			dns_query_cancel(g->dq);
		if (g->conn) {
			g->conn->g = NULL;
			oq_conn_free(g->conn);
		}
		free(a->groups[j].idx);
		free(a->groups[j].crcpts);
		free(a->groups[j].targets);
	}
	oq_attempt_content_free(a);
	free(a->groups);
	free(a->rs);
	store_content_close(a->store, &a->content);
	store_queue_entry_clear(&a->e);
	free(a);
}

/* Attempts still sending: those whose outcome is being recorded have
 * given their slot up. */
static size_t attempts_running(const struct oq_runner *q)
{
	size_t n = 0;
	for (const struct oq_attempt *a = q->attempts; a; a = a->next)
		n += !a->recording;
	return n;
}

/* The message as it goes (signed or not): resolve each group. */
static void attempt_send(struct oq_attempt *a)
{
	for (size_t j = 0; j < a->ngroups; j++)
		a->groups[j].msg.size = a->e.size + a->prefix.len;
	for (size_t j = 0; j < a->ngroups; j++)
		oq_group_resolve(&a->groups[j]);
}

static void attempt_start(struct oq_runner *q, uint64_t id)
{
	struct oq_attempt *a = calloc(1, sizeof(*a));
	if (!a)
		return;
	a->q = q;
	a->store = q->store;
	a->cfg = q->cfg;
	a->started = now_s();
	int rc = store_queue_get(q->store, id, &a->e);
	if (rc != STORE_OK) {
		if (rc != STORE_ERR_NOTFOUND)
			log_warn("queue read failed id=%llu error=\"%s\"", (unsigned long long)id,
				 store_strerror(rc));
		free(a);
		return;
	}
	if (a->e.next_attempt > a->started) {   /* rescheduled since the scan */
		store_queue_entry_clear(&a->e);
		free(a);
		return;
	}
	a->next = q->attempts;
	q->attempts = a;
	a->rs = calloc(a->e.nrecipients, sizeof(*a->rs));
	if (!a->rs || attempt_groups(a) < 0) {
		log_error("queue out of memory id=%llu", (unsigned long long)id);
		oq_attempt_free(a);
		return;
	}
	/* The bytes must outlive an operator's `queue del` while they are
	 * sent (store_content_open pins them). */
	rc = store_content_open(q->store, a->e.content_id, &a->content, NULL, NULL);
	if (rc != STORE_OK) {
		for (size_t i = 0; i < a->e.nrecipients; i++) {
			a->rs[i].fate = rc == STORE_ERR_NOTFOUND ? OQ_BOUNCED : OQ_DEFERRED;
			a->rs[i].code = rc == STORE_ERR_NOTFOUND ? 554 : 451;
			snprintf(a->rs[i].status, sizeof(a->rs[i].status), "%s",
				 rc == STORE_ERR_NOTFOUND ? "5.3.0" : "4.3.0");
			snprintf(a->rs[i].reply, sizeof(a->rs[i].reply), "message content %s",
				 rc == STORE_ERR_NOTFOUND ? "missing" : "unreadable");
		}
		a->ngroups_done = a->ngroups;
		a->complete = true;
		event_active(q->finish_ev, EV_TIMEOUT, 0);
		return;
	}
	if (!(a->e.flags & STORE_QF_BOUNCE) && oq_attempt_signs(a)) {
		if (oq_attempt_sign_submit(a, now_s(), attempt_send) == 0)
			return;
		oq_attempt_sign(a, now_s());   /* a full pool: here */
	}
	if (a->e.flags & STORE_QF_BOUNCE) {
		/* `postino queue bounce`: returned unsent. */
		for (size_t i = 0; i < a->e.nrecipients; i++) {
			a->rs[i].fate = OQ_BOUNCED;
			a->rs[i].code = 550;
			snprintf(a->rs[i].status, sizeof(a->rs[i].status), "5.0.0");
			snprintf(a->rs[i].reply, sizeof(a->rs[i].reply),
				 "returned to the sender by the postmaster of %s", q->cfg->hostname);
		}
		a->ngroups_done = a->ngroups;
		a->complete = true;
		event_active(q->finish_ev, EV_TIMEOUT, 0);
		return;
	}
	attempt_send(a);
}

static bool group_waiting(const struct oq_group *g)
{
	return !g->a->complete && !g->done && !g->conn && !g->dq && g->targets;
}

static bool dest_idle(const struct oq_runner *q, const char *dest)
{
	for (const struct oq_conn *c = q->idle; c; c = c->next)
		if (strcasecmp(c->dest, dest) == 0)
			return true;
	return false;
}

/* Groups that waited for a connection slot, then new entries.  Runs
 * after every message, so it must not cost every waiting group's
 * oq_group_try each time: once a group of a destination has waited with
 * no idle connection to that destination left, the others of it would
 * only wait too (its limit is reached), and once none is idle at the
 * global limit, everyone would. */
#define OQ_BLOCKED_MAX 8
static void oq_dispatch(struct oq_runner *q)
{
	if (q->stopping)
		return;
	const char *blocked[OQ_BLOCKED_MAX];
	size_t nblocked = 0;
	for (struct oq_attempt *a = q->attempts; a; a = a->next) {
		for (size_t j = 0; j < a->ngroups; j++) {
			struct oq_group *g = &a->groups[j];
			if (!group_waiting(g))
				continue;
			bool skip = false;
			for (size_t b = 0; b < nblocked && !skip; b++)
				skip = strcasecmp(blocked[b], g->dest) == 0;
			if (skip)
				continue;
			oq_group_try(g);
			if (!group_waiting(g))
				continue;
			if (!q->idle && q->nconns >= q->cfg->outbound_max_connections)
				goto started;   /* nothing is free anywhere */
			if (nblocked < OQ_BLOCKED_MAX && !dest_idle(q, g->dest))
				blocked[nblocked++] = g->dest;
		}
	}
started:;   /* (a label cannot be followed by a declaration in C11) */
	size_t cap = (size_t)q->cfg->outbound_max_connections * OQ_ATTEMPTS_PER_CONN;
	/* Counted once, then by what each start adds (it puts a new
	 * attempt at the head). */
	for (size_t running = attempts_running(q); q->due_pos < q->ndue && running < cap;) {
		const struct oq_attempt *head = q->attempts;
		attempt_start(q, q->due[q->due_pos++]);
		running += q->attempts != head;
	}
}

static void dispatch_run(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	oq_dispatch(arg);
}

static void finish_run(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct oq_runner *q = arg;
	struct oq_attempt *a = q->attempts;
	while (a) {
		struct oq_attempt *next = a->next;
		if (a->complete && !a->recording)
			oq_attempt_finish(a);   /* frees a, now or from its job */
		a = next;
	}
	oq_dispatch(q);
}

/* Another process's `queue flush` or `queue bounce` bumps the queue's
 * generation: look at once rather than at the next scan. */
static void gen_run(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct oq_runner *q = arg;
	uint64_t gen;
	if (!q->stopping && store_queue_generation(q->store, &gen) == STORE_OK && gen != q->gen) {
		q->gen = gen;
		scan_arm(q, 0);
	}
}

/* `postino queue flush|bounce` pokes the FIFO after its commit
 * (core/queue_poke.h): scan now, without waiting for the poll. */
static void poke_run(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct oq_runner *q = arg;
	queue_poke_drain(fd);
	if (!q->stopping) {
		(void)store_queue_generation(q->store, &q->gen);
		scan_arm(q, 0);
	}
}

static void idle_run(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct oq_runner *q = arg;
	int64_t now = now_s();
	struct oq_conn **p = &q->idle;
	while (*p) {
		struct oq_conn *c = *p;
		if (q->stopping || now - c->idle_since >= OQ_IDLE_KEEP) {
			*p = c->next;
			oq_conn_free(c);
		} else {
			p = &c->next;
		}
	}
	if (q->idle) {
		struct timeval tv = {.tv_sec = 1};
		evtimer_add(q->idle_ev, &tv);
	}
}

/* ---- the service ---- */

static int parse_bind(const char *s, int family, struct sockaddr_storage *ss, socklen_t *len)
{
	*len = 0;
	if (!s[0])
		return 0;
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		if (inet_pton(AF_INET, s, &in->sin_addr) != 1)
			return -1;
		*len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, s, &in6->sin6_addr) != 1)
			return -1;
		*len = sizeof(*in6);
	}
	return 0;
}

static void *queue_start(struct server *srv, struct event_base *base)
{
	struct oq_runner *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->poke_fd = -1;
	q->srv = srv;
	q->store = srv->store;
	q->anchor = calloc(1, sizeof(*q->anchor));
	if (!q->anchor) {
		free(q);
		return NULL;
	}
	q->anchor->q = q;
	q->cfg = srv->cfg;
	q->base = base;
	if (parse_bind(q->cfg->outbound_bind4, AF_INET, &q->bind4, &q->bind4_len) < 0 ||
	    parse_bind(q->cfg->outbound_bind6, AF_INET6, &q->bind6, &q->bind6_len) < 0) {
		log_error("outbound bind address is not an IP address");
		free(q->anchor);
		free(q);
		return NULL;
	}
	q->dns = dns_resolver_new(base, q->cfg);
	q->tls = srv->tls_client;   /* core's; read before the privileges went */
	q->scan_ev = evtimer_new(base, scan_run, q);
	q->idle_ev = evtimer_new(base, idle_run, q);
	q->dispatch_ev = event_new(base, -1, 0, dispatch_run, q);
	q->finish_ev = event_new(base, -1, 0, finish_run, q);
	q->gen_ev = event_new(base, -1, EV_PERSIST, gen_run, q);
	(void)store_queue_generation(q->store, &q->gen);
	if (!q->dns || !q->scan_ev || !q->idle_ev || !q->dispatch_ev || !q->finish_ev ||
	    !q->gen_ev) {
		log_error("cannot start the queue runner");
		if (q->dns)
			dns_resolver_free(q->dns);
		if (q->scan_ev)
			event_free(q->scan_ev);
		if (q->idle_ev)
			event_free(q->idle_ev);
		if (q->dispatch_ev)
			event_free(q->dispatch_ev);
		if (q->finish_ev)
			event_free(q->finish_ev);
		if (q->gen_ev)
			event_free(q->gen_ev);
		free(q->anchor);
		free(q);
		return NULL;
	}
	q->poke_fd = queue_poke_open(q->cfg->data_dir);
	if (q->poke_fd >= 0) {
		q->poke_ev = event_new(base, q->poke_fd, EV_READ | EV_PERSIST, poke_run, q);
		if (q->poke_ev)
			event_add(q->poke_ev, NULL);
	}
	the_runner = q;
	kick_srv = srv;
	smtp_queue_kick_set(queue_kick_post);
	scan_arm(q, 0);
	struct timeval second = {.tv_usec = 200 * 1000};
	event_add(q->gen_ev, &second);
	return q;
}

/* Shutdown: no new attempts; connections close, their recipients wait
 * in the queue for the next start. */
static void queue_stop(void *svc)
{
	struct oq_runner *q = svc;
	if (!q)
		return;
	q->stopping = true;
	evtimer_del(q->scan_ev);
	event_del(q->gen_ev);
	if (q->poke_ev)
		event_del(q->poke_ev);
	while (q->idle) {
		struct oq_conn *c = q->idle;
		q->idle = c->next;
		oq_conn_free(c);
	}
	/* Attempts in flight: what is known is recorded (a recipient
	 * whose server said 250 must not be sent again after the restart),
	 * the rest is deferred. */
	struct oq_attempt *a = q->attempts;
	while (a) {
		struct oq_attempt *next = a->next;
		if (a->recording || a->preparing) {   /* its job finishes and frees it */
			a = next;
			continue;
		}
		for (size_t j = 0; j < a->ngroups; j++) {
			struct oq_group *g = &a->groups[j];
			if (g->done)
				continue;
			if (g->dq) {
				dns_query_cancel(g->dq);
				g->dq = NULL;
			}
			if (g->conn) {
				struct oq_conn *c = g->conn;
				g->conn = NULL;
				c->g = NULL;
				oq_conn_free(c);
			}
			oq_group_fail(g, OQ_DEFERRED, 451, "4.3.2", "the mail system is shutting down");
			g->done = true;
		}
		oq_attempt_finish(a);   /* frees a (in place: stopping) */
		a = next;
	}
}

static void queue_free(void *svc)
{
	struct oq_runner *q = svc;
	if (!q)
		return;
	if (!q->stopping)
		queue_stop(q);
	smtp_queue_kick_set(NULL);
	the_runner = NULL;
	kick_srv = NULL;
	/* Outcomes still being recorded: their jobs own their attempts and
	 * finish without the runner (smtp_queue_outcome.c). */
	for (struct oq_attempt *a = q->attempts; a; a = a->next)
		a->q = NULL;
	q->attempts = NULL;
	if (q->anchor->jobs == 0)
		free(q->anchor);
	else
		q->anchor->q = NULL;
	/* Clients still waiting for their QUIT's 221. */
	smtp_client_shutdown(q->base);
	event_free(q->scan_ev);
	event_free(q->idle_ev);
	event_free(q->dispatch_ev);
	event_free(q->finish_ev);
	event_free(q->gen_ev);
	if (q->poke_ev)
		event_free(q->poke_ev);
	if (q->poke_fd >= 0)
		close(q->poke_fd);
	dns_resolver_free(q->dns);
	free(q->due);
	free(q->holds);
	free(q->dests);
	free(q);
}

const struct proto_service smtp_queue_service = {
	.name = "queue",
	.start = queue_start,
	.stop = queue_stop,
	.free = queue_free,
};
