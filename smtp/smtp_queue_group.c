/* smtp/smtp_queue_group.c: one group's delivery (the recipients of an
 * attempt that share a destination, smtp_queue_private.h): resolving the
 * destination (the relay, or the domain's MX: core/dns.h), trying its
 * servers in order, and carrying the message over an SMTP client
 * connection (smtp/smtp_client.h); and the runner's connections: reusing
 * an idle one to the same server, at most outbound.destination_limit per
 * destination and outbound.max_connections in all, and reading each
 * recipient's answer from a finished transaction.  smtp_queue.c decides
 * which attempts run and when; a group tells it when it is over
 * (group_done) or when a slot is free (oq_dispatch_soon).
 *
 * Runs on loop 0 only, like the runner. */
#include <arpa/inet.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/config.h"
#include "core/dns.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_queue_private.h"

/* ---- connections ---- */

/* Connections, busy or idle, counted against dest's limit: one counter
 * per destination with connections open (at most max_connections of
 * them), kept as connections open and close.  Counting by walking the
 * attempts made every dispatch cost O(attempts x groups). */
static struct oq_dest *dest_find(const struct oq_runner *q, const char *dest)
{
	for (size_t i = 0; i < q->ndests; i++)
		if (strcasecmp(q->dests[i].name, dest) == 0)
			return &q->dests[i];
	return NULL;
}

static size_t dest_conns(const struct oq_runner *q, const char *dest)
{
	const struct oq_dest *d = dest_find(q, dest);
	return d ? d->conns : 0;
}

static int dest_add(struct oq_runner *q, const char *dest)
{
	struct oq_dest *d = dest_find(q, dest);
	if (!d) {
		if (q->ndests == q->dests_cap) {
			size_t ncap = q->dests_cap ? q->dests_cap * 2 : 16;
			struct oq_dest *nd = realloc(q->dests, ncap * sizeof(*nd));
			if (!nd)
				return -1;
			q->dests = nd;
			q->dests_cap = ncap;
		}
		d = &q->dests[q->ndests++];
		snprintf(d->name, sizeof(d->name), "%s", dest);
		d->conns = 0;
	}
	d->conns++;
	return 0;
}

static void dest_drop(struct oq_runner *q, const char *dest)
{
	struct oq_dest *d = dest_find(q, dest);
	if (d && --d->conns == 0)
		*d = q->dests[--q->ndests];
}

void oq_conn_free(struct oq_conn *c)
{
	oq_read_wait_detach(c);
	if (c->c)
		smtp_client_close(c->c);
	c->q->nconns--;
	dest_drop(c->q, c->dest);
	oq_dispatch_soon(c->q);   /* a slot is free */
	free(c);
}

static void idle_remove(struct oq_runner *q, struct oq_conn *c)
{
	for (struct oq_conn **p = &q->idle; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			c->next = NULL;
			return;
		}
	}
}


static bool addr_equal(const struct sockaddr_storage *a, socklen_t alen,
		       const struct sockaddr_storage *b, socklen_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* The group is over: free its slot, and finish the attempt with it. */
static void group_done(struct oq_group *g)
{
	if (g->done)
		return;
	g->done = true;
	if (g->dq) {
		dns_query_cancel(g->dq);
		g->dq = NULL;
	}
	struct oq_attempt *a = g->a;
	if (++a->ngroups_done == a->ngroups) {
		/* Recorded from the loop's top (finish_run), never from
		 * inside a client's or the resolver's callback. */
		a->complete = true;
		event_active(a->q->finish_ev, EV_TIMEOUT, 0);
	}
}

/* Every recipient of g still pending gets this answer. */
void oq_group_fail(struct oq_group *g, enum oq_fate fate, int code, const char *status,
		   const char *text)
{
	for (size_t k = 0; k < g->n; k++) {
		struct oq_rcpt *r = &g->a->rs[g->idx[k]];
		if (r->fate != OQ_PENDING && r->fate != OQ_DEFERRED)
			continue;
		r->fate = fate;
		r->code = code;
		snprintf(r->status, sizeof(r->status), "%s", status);
		/* A longer text is cut to the field; the precision says so
		 * (a release build's -Wformat-truncation saw a 600-byte
		 * reason from group_send). */
		snprintf(r->reply, sizeof(r->reply), "%.*s", (int)sizeof(r->reply) - 1, text);
		snprintf(r->remote_mta, sizeof(r->remote_mta), "%s", g->host);
	}
}

/* A connection is free: give it to a group waiting for its server, or
 * keep it idle for a while. */
static void conn_release(struct oq_runner *q, struct oq_conn *c)
{
	c->g = NULL;
	if (q->stopping) {
		oq_conn_free(c);
		return;
	}
	c->idle_since = (int64_t)time(NULL);
	c->next = q->idle;
	q->idle = c;
	if (!evtimer_pending(q->idle_ev, NULL)) {
		struct timeval tv = {.tv_sec = OQ_IDLE_KEEP};
		evtimer_add(q->idle_ev, &tv);
	}
	/* Groups may have waited for a connection slot. */
	oq_dispatch_soon(q);
}

static void client_cb(void *arg, enum smtp_client_event ev, const struct smtp_client_info *info)
{
	struct oq_conn *c = arg;
	struct oq_runner *q = c->q;
	struct oq_group *g = c->g;
	if (info && info->tls_version)
		snprintf(c->tls_desc, sizeof(c->tls_desc), "%s/%s", info->tls_version,
			 info->tls_cipher ? info->tls_cipher : "?");
	switch (ev) {
	case SMTP_CLIENT_READY:
		if (g)
			oq_group_send(g);
		else
			conn_release(q, c);
		return;
	case SMTP_CLIENT_DONE: {
		if (!g) {
			conn_release(q, c);
			return;
		}
		for (size_t k = 0; k < g->n; k++) {
			struct oq_rcpt *r = &g->a->rs[g->idx[k]];
			const struct smtp_client_rcpt *cr = &g->crcpts[k];
			/* A refused DATA answers the accepted recipients; the
			 * refused ones keep their RCPT reply (smtp_client.h). */
			bool whole = cr->code == 0 && info && info->msg_refused;
			int code = whole ? info->code : cr->code;
			const char *status = whole ? info->status : cr->status;
			const char *text = whole ? info->text : cr->reply;
			if (code == 0) {
				/* No answer for it: the fate is unknown, retry. */
				code = 451;
				status = "4.4.2";
				text = "no answer from the server";
			}
			r->code = code;
			snprintf(r->status, sizeof(r->status), "%s", status);
			snprintf(r->reply, sizeof(r->reply), "%s", text);
			r->dsn_passed = info && info->dsn;
			snprintf(r->remote_mta, sizeof(r->remote_mta), "%s", c->host);
			snprintf(r->tls, sizeof(r->tls), "%s", c->tls_desc);
			r->fate = code >= 200 && code < 300 ? OQ_SENT
				  : code >= 500 && code < 600 ? OQ_BOUNCED : OQ_DEFERRED;
		}
		g->conn = NULL;
		conn_release(q, c);
		group_done(g);
		return;
	}
	case SMTP_CLIENT_FAILED:
		break;
	}
	/* FAILED: this connection is finished. */
	if (!g) {
		idle_remove(q, c);
		oq_conn_free(c);
		return;
	}
	g->conn = NULL;
	g->plan_wait = false;   /* a new connection starts over */
	snprintf(g->last_error, sizeof(g->last_error), "%s", info ? info->text : "connection failed");
	/* Whatever the failed transaction had collected is not final. */
	for (size_t k = 0; k < g->n; k++) {
		struct oq_rcpt *r = &g->a->rs[g->idx[k]];
		if (r->fate == OQ_PENDING) {
			r->fate = OQ_DEFERRED;
			r->code = info && info->code ? info->code : 451;
			snprintf(r->status, sizeof(r->status), "%s",
				 info && info->status[0] ? info->status : "4.4.2");
			snprintf(r->reply, sizeof(r->reply), "%s", g->last_error);
			snprintf(r->remote_mta, sizeof(r->remote_mta), "%s", c->host);
		}
	}
	bool retry_plain = info && info->tls_failed && g->tls == SMTP_TLS_MAY && !g->tls_off;
	oq_conn_free(c);
	if (retry_plain) {
		/* RFC 3207 leaves it to us; Postfix too retries the same
		 * server without TLS when the policy only says "may". */
		g->next_target--;
		g->plain_target = g->next_target;
	}
	oq_group_try(g);
}

void oq_group_send(struct oq_group *g)
{
	struct oq_conn *c = g->conn;
	for (size_t k = 0; k < g->n; k++) {
		struct oq_rcpt *r = &g->a->rs[g->idx[k]];
		r->fate = OQ_PENDING;
		g->crcpts[k].code = 0;
		g->crcpts[k].status[0] = 0;
		g->crcpts[k].reply[0] = 0;
	}
	struct smtp_client_info info;
	memset(&info, 0, sizeof(info));
	/* RFC 6152 3: 8-bit content goes to a server without 8BITMIME only
	 * converted (SMTPUTF8 mail keeps its own rule, RFC 6531 3.2: the
	 * client refuses it with 5.6.7). */
	struct oq_attempt *a = g->a;
	if (a->conv_all ||
	    (g->msg.eightbit && !g->msg.utf8 && !smtp_client_8bitmime(c->c))) {
		int rc = oq_group_convert(g, c->host);
		if (rc == 2)
			return;   /* a worker plans it: called again then */
		if (rc != 0) {
			snprintf(g->host, sizeof(g->host), "%s", c->host);
			char why[600];
			if (rc > 0)
				snprintf(why, sizeof(why),
					 "8-bit content, %s does not offer 8BITMIME, and the message "
					 "cannot be converted to 7-bit: %s", c->host, a->conv_why);
			oq_group_fail(g, rc > 0 ? OQ_BOUNCED : OQ_DEFERRED, rc > 0 ? 554 : 451,
				      rc > 0 ? "5.6.3" : "4.3.0",
				      rc > 0 ? why : "cannot read the message to convert it to 7-bit");
			g->conn = NULL;
			conn_release(a->q, c);
			group_done(g);
			return;
		}
	}
	if (smtp_client_send(c->c, &g->msg, &info) == 0)
		return;
	/* The message needs what this server lacks (SIZE, SMTPUTF8, 8BITMIME):
	 * a permanent answer for every recipient, the connection stays. */
	snprintf(g->host, sizeof(g->host), "%s", c->host);
	oq_group_fail(g, info.permanent ? OQ_BOUNCED : OQ_DEFERRED, info.code ? info.code : 554,
		      info.status[0] ? info.status : "5.3.4", info.text);
	g->conn = NULL;
	conn_release(g->a->q, c);
	group_done(g);
}

static void build_client_config(struct oq_runner *q, const struct oq_group *g,
				struct smtp_client_config *cc)
{
	const struct config *cfg = q->cfg;
	memset(cc, 0, sizeof(*cc));
	cc->helo = cfg->outbound_helo[0] ? cfg->outbound_helo : cfg->hostname;
	cc->bind4 = q->bind4_len ? (const struct sockaddr *)&q->bind4 : NULL;
	cc->bind4_len = q->bind4_len;
	cc->bind6 = q->bind6_len ? (const struct sockaddr *)&q->bind6 : NULL;
	cc->bind6_len = q->bind6_len;
	cc->tls = g->tls_off ? SMTP_TLS_NONE : g->tls;
	cc->tls_ctx = q->tls;
	cc->timeout_scale_ms = cfg->outbound_timeout * 1000;
	/* The relay's credentials go to the relay only (oq_route). */
	if (g->relay == &cfg->relay && cfg->relay_user[0]) {
		cc->auth_user = cfg->relay_user;
		cc->auth_pass = cfg->relay_password;
	}
}

/* Try the group's next server, or give up for this attempt. */
void oq_group_try(struct oq_group *g)
{
	struct oq_runner *q = g->a->q;
	if (q->stopping) {
		oq_group_fail(g, OQ_DEFERRED, 451, "4.3.2", "the mail system is shutting down");
		group_done(g);
		return;
	}
	while (g->next_target < g->ntargets) {
		size_t ti = g->next_target++;
		const struct dns_target *t = &g->targets[ti];
		snprintf(g->host, sizeof(g->host), "%s", t->host);
		/* Plaintext after a failed handshake is for that host only. */
		g->tls_off = g->plain_target == ti;
		/* An idle connection to the same address, policy, destination
		 * (the relay credentials and the verified name go with it). */
		for (struct oq_conn *c = q->idle; c; c = c->next) {
			if (c->g == NULL && c->tls == g->tls && c->tls_off == g->tls_off &&
			    strcasecmp(c->dest, g->dest) == 0 && strcasecmp(c->host, t->host) == 0 &&
			    addr_equal(&c->addr, c->addrlen, &t->addr, t->addrlen)) {
				idle_remove(q, c);
				c->g = g;
				g->conn = c;
				oq_group_send(g);
				return;
			}
		}
		if (dest_conns(q, g->dest) >= q->cfg->outbound_destination_limit) {
			/* Wait for a slot: dispatch tries again when one frees. */
			g->next_target--;
			return;
		}
		if (q->nconns >= q->cfg->outbound_max_connections) {
			/* All slots taken: an idle connection elsewhere gives its
			 * own up rather than keep it for a message that may not
			 * come (the oldest first). */
			struct oq_conn *old = NULL;
			for (struct oq_conn *c = q->idle; c; c = c->next)
				if (!old || c->idle_since <= old->idle_since)
					old = c;
			if (!old) {
				g->next_target--;
				return;
			}
			idle_remove(q, old);
			oq_conn_free(old);
		}
		struct oq_conn *c = calloc(1, sizeof(*c));
		if (!c)
			break;
		c->q = q;
		c->g = g;
		c->tls = g->tls;
		c->tls_off = g->tls_off;
		snprintf(c->host, sizeof(c->host), "%s", t->host);
		snprintf(c->dest, sizeof(c->dest), "%s", g->dest);
		memcpy(&c->addr, &t->addr, t->addrlen);
		c->addrlen = t->addrlen;
		/* The client keeps a pointer to its config: it lives in c. */
		build_client_config(q, g, &c->cc);
		if (dest_add(q, c->dest) < 0) {
			free(c);
			break;
		}
		q->nconns++;
		g->conn = c;
		c->c = smtp_client_open(q->base, &c->cc, t->host, (const struct sockaddr *)&t->addr,
					t->addrlen, client_cb, c);
		if (c->c)
			return;
		g->conn = NULL;
		snprintf(g->last_error, sizeof(g->last_error), "cannot connect to %s", t->host);
		oq_conn_free(c);
	}
	/* Every server tried: the recipients not answered wait for the
	 * next attempt (RFC 5321 4.5.4.1). */
	for (size_t k = 0; k < g->n; k++) {
		struct oq_rcpt *r = &g->a->rs[g->idx[k]];
		if (r->fate == OQ_PENDING) {
			r->fate = OQ_DEFERRED;
			r->code = 451;
			snprintf(r->status, sizeof(r->status), "4.4.1");
			snprintf(r->reply, sizeof(r->reply), "%s",
				 g->last_error[0] ? g->last_error : "no server could be reached");
		}
	}
	group_done(g);
}

/* ---- DNS ---- */

static void dns_cb(void *arg, enum dns_status st, const struct dns_target *t, size_t n,
		   const char *text)
{
	struct oq_group *g = arg;
	g->dq = NULL;
	switch (st) {
	case DNS_OK:
		break;
	case DNS_TEMP:
		oq_group_fail(g, OQ_DEFERRED, 451, "4.4.3", text);
		group_done(g);
		return;
	case DNS_NULLMX:
		/* RFC 7505 4.2: 556 5.1.10 */
		oq_group_fail(g, OQ_BOUNCED, 556, "5.1.10", text);
		group_done(g);
		return;
	case DNS_NXDOMAIN:
		oq_group_fail(g, OQ_BOUNCED, 550, "5.1.2", text);
		group_done(g);
		return;
	default:
		oq_group_fail(g, OQ_BOUNCED, 550, "5.4.4", text);
		group_done(g);
		return;
	}
	g->targets = calloc(n ? n : 1, sizeof(*g->targets));
	if (!g->targets) {
		oq_group_fail(g, OQ_DEFERRED, 451, "4.3.0", "out of memory");
		group_done(g);
		return;
	}
	const struct config *cfg = g->a->q->cfg;
	const struct config_relay *relay = g->relay;
	uint16_t port = (uint16_t)(relay && relay->port ? relay->port : cfg->outbound_port);
	for (size_t i = 0; i < n; i++) {
		g->targets[i] = t[i];
		struct sockaddr_storage *sa = &g->targets[i].addr;
		if (sa->ss_family == AF_INET)
			((struct sockaddr_in *)sa)->sin_port = htons(port);
		else if (sa->ss_family == AF_INET6)
			((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
	}
	g->ntargets = n;
	oq_group_try(g);
}

void oq_group_resolve(struct oq_group *g)
{
	struct oq_runner *q = g->a->q;
	const struct config *cfg = q->cfg;
	const struct config_relay *relay = g->relay;
	if (relay && !relay->mx)
		g->dq = dns_resolve_host(q->dns, relay->host,
					 (uint16_t)(relay->port ? relay->port : cfg->outbound_port),
					 dns_cb, g);
	else
		g->dq = dns_resolve_mx(q->dns, relay ? relay->host : g->domain, dns_cb, g);
	if (!g->dq) {
		oq_group_fail(g, OQ_DEFERRED, 451, "4.3.0", "cannot start a DNS query");
		group_done(g);
	}
}
