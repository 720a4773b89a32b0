/* core/dns.c: the resolver's requests (core/dns.h): where mail for a
 * domain goes (MX, then each MX host's AAAA and A, RFC 5321 5.1) and the
 * addresses of one host; the resolver's nameservers and lifetime.  The
 * questions themselves go out through core/dns_lookup.c. */
#include "core/dns_private.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

/* One name whose addresses we look up: an MX host, the domain itself
 * (implicit MX), or the host of dns_resolve_host. */
struct dns_host {
	struct dns_query *q;
	char name[DNS_NAME_MAX];
	uint16_t pref;
	uint32_t key;                    /* random: the order among equal prefs */
	struct dns_lookup *lk[2];        /* [0] AAAA, [1] A */
	enum dns_lookup_result res[2];
	uint8_t a6[DNS_MAX_TARGETS][16];
	uint8_t a4[DNS_MAX_TARGETS][4];
	unsigned n6, n4;
};

struct dns_query {
	struct dns_resolver *r;
	struct dns_query *prev, *next;
	dns_mx_cb *cb;
	void *arg;
	bool is_mx;
	bool finished;
	bool calling;                    /* inside cb: cancel is a no-op */
	uint16_t port;
	char domain[DNS_NAME_MAX];
	struct dns_lookup *mx_lk;
	bool null_mx;                    /* an MX "." was seen */
	bool implicit;                   /* no MX: the domain is its own host */
	struct dns_host hosts[DNS_MAX_MX_HOSTS];
	size_t nhosts;
	unsigned pending;                /* host lookups still running */
	char temp_why[448];              /* the first temporary failure of a host */
	bool host_loop;
	struct event *done_ev;
	enum dns_status st;
	struct dns_target *targets;
	size_t ntargets;
	char text[512];
};

const char *dns_status_name(enum dns_status st)
{
	switch (st) {
	case DNS_OK:
		return "ok";
	case DNS_TEMP:
		return "temp";
	case DNS_NXDOMAIN:
		return "nxdomain";
	case DNS_NULLMX:
		return "nullmx";
	case DNS_NOHOST:
		return "nohost";
	}
	return "?";
}

uint32_t dns_resolver_random(struct dns_resolver *r)
{
	/* xorshift64*: enough to shuffle equal MX preferences; query ids
	 * come from getrandom (dns_lookup.c). */
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return (uint32_t)((r->rng * 2685821657736338717ULL) >> 32);
}

/* The nameserver lines of /etc/resolv.conf (resolv.conf(5)); scoped
 * link-local addresses ("fe80::1%eth0") are skipped. */
static void resolver_read_resolv_conf(struct dns_resolver *r)
{
	FILE *f = fopen("/etc/resolv.conf", "re");
	if (!f)
		return;
	char line[512];
	while (r->nns < CONFIG_MAX_NAMESERVERS && fgets(line, sizeof(line), f)) {
		char word[16], addr[128], err[200];
		if (sscanf(line, "%15s %127s", word, addr) != 2 || strcmp(word, "nameserver"))
			continue;
		if (config_parse_nameserver(addr, &r->ns[r->nns], err, sizeof(err)) == 0)
			r->nns++;
	}
	fclose(f);
}

struct dns_resolver *dns_resolver_new(struct event_base *base, const struct config *cfg)
{
	struct dns_resolver *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->base = base;
	r->timeout_ms = cfg->dns_timeout_ms;
	r->attempts = cfg->dns_attempts;
	r->prefer_ipv4 = cfg->dns_prefer_ipv4;
	memcpy(r->ns, cfg->dns_nameservers, cfg->dns_nnameservers * sizeof(r->ns[0]));
	r->nns = cfg->dns_nnameservers;
	if (!r->nns)
		resolver_read_resolv_conf(r);
	if (!r->nns) {
		char err[100];
		config_parse_nameserver("127.0.0.1", &r->ns[0], err, sizeof(err));
		r->nns = 1;
	}
	if (getrandom(&r->rng, sizeof(r->rng), 0) != (ssize_t)sizeof(r->rng) || !r->rng)
		r->rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)r;
	return r;
}

static void query_lookups_free(struct dns_query *q)
{
	dns_lookup_free(q->mx_lk);
	q->mx_lk = NULL;
	for (size_t i = 0; i < q->nhosts; i++)
		for (int k = 0; k < 2; k++) {
			dns_lookup_free(q->hosts[i].lk[k]);
			q->hosts[i].lk[k] = NULL;
		}
}

static void query_free(struct dns_query *q)
{
	struct dns_resolver *r = q->r;
	if (q->prev)
		q->prev->next = q->next;
	else
		r->queries = q->next;
	if (q->next)
		q->next->prev = q->prev;
	query_lookups_free(q);
	if (q->done_ev)
		event_free(q->done_ev);
	free(q->targets);
	free(q);
}

static void query_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;
	q->calling = true;
	q->cb(q->arg, q->st, q->targets, q->ntargets, q->text);
	query_free(q);
}

/* The answer is known: stop every lookup and call back from the loop. */
static void query_finish(struct dns_query *q, enum dns_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void query_finish(struct dns_query *q, enum dns_status st, const char *fmt, ...)
{
	if (q->finished)
		return;
	q->finished = true;
	q->st = st;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q->text, sizeof(q->text), fmt, ap);
	va_end(ap);
	query_lookups_free(q);
	if (st != DNS_OK)
		q->ntargets = 0;
	event_active(q->done_ev, EV_TIMEOUT, 1);
}

static int target_add(struct dns_query *q, const char *host, uint16_t pref, int family,
		      const uint8_t *addr)
{
	if (q->ntargets == DNS_MAX_TARGETS)
		return -1;
	struct dns_target *t = &q->targets[q->ntargets++];
	memset(t, 0, sizeof(*t));
	snprintf(t->host, sizeof(t->host), "%s", host);
	t->pref = pref;
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&t->addr;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(q->port);
		memcpy(&s6->sin6_addr, addr, 16);
		t->addrlen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&t->addr;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(q->port);
		memcpy(&s4->sin_addr, addr, 4);
		t->addrlen = sizeof(*s4);
	}
	return 0;
}

/* Every host's lookups are over: the targets in order, or why there are
 * none. */
static void query_assemble(struct dns_query *q)
{
	bool temp = false, nx = true;
	for (size_t i = 0; i < q->nhosts; i++) {
		const struct dns_host *h = &q->hosts[i];
		bool v4first = q->r->prefer_ipv4;
		for (int pass = 0; pass < 2; pass++) {
			if ((pass == 0) != v4first)
				for (unsigned k = 0; k < h->n6; k++)
					target_add(q, h->name, h->pref, AF_INET6, h->a6[k]);
			else
				for (unsigned k = 0; k < h->n4; k++)
					target_add(q, h->name, h->pref, AF_INET, h->a4[k]);
		}
		for (int k = 0; k < 2; k++) {
			temp |= h->res[k] == DNS_LK_TEMP;
			nx &= h->res[k] == DNS_LK_NXDOMAIN;
		}
	}
	if (q->ntargets) {
		query_finish(q, DNS_OK, "%s", "");
		return;
	}
	const char *d = q->domain;
	if (temp)
		query_finish(q, DNS_TEMP, "%s", q->temp_why);
	else if (!q->is_mx && nx)
		query_finish(q, DNS_NXDOMAIN, "host %s does not exist (NXDOMAIN)", d);
	else if (q->host_loop)
		query_finish(q, DNS_NOHOST, "CNAME loop (more than %d CNAMEs) looking up the "
			     "addresses of %s", DNS_MAX_CNAME, q->hosts[0].name);
	else if (!q->is_mx)
		query_finish(q, DNS_NOHOST, "host %s has no A or AAAA records", d);
	else if (q->implicit)
		query_finish(q, DNS_NOHOST, "%s has no MX and no A or AAAA records", d);
	else
		query_finish(q, DNS_NOHOST, "no MX host of %s has an address (%zu looked up)", d,
			     q->nhosts);
}

static void host_rr(void *arg, const struct dns_rr *rr)
{
	struct dns_host *h = arg;
	if (rr->type == DNS_TYPE_AAAA && h->n6 < DNS_MAX_TARGETS)
		memcpy(h->a6[h->n6++], rr->addr, 16);
	else if (rr->type == DNS_TYPE_A && h->n4 < DNS_MAX_TARGETS)
		memcpy(h->a4[h->n4++], rr->addr, 4);
}

static void host_done(void *arg, struct dns_lookup *lk, enum dns_lookup_result res,
		      const char *why)
{
	struct dns_host *h = arg;
	struct dns_query *q = h->q;
	int k = h->lk[0] == lk ? 0 : 1;
	if (res == DNS_LK_TEMP && !q->temp_why[0]) /* why lives in lk */
		snprintf(q->temp_why, sizeof(q->temp_why), "DNS %s looking up %s for %s", why,
			 k == 0 ? "AAAA" : "A", h->name);
	h->res[k] = res;
	h->lk[k] = NULL;
	dns_lookup_free(lk);
	if (res == DNS_LK_LOOP)
		q->host_loop = true;
	if (--q->pending == 0)
		query_assemble(q);
}

static void query_hosts_start(struct dns_query *q)
{
	for (size_t i = 0; i < q->nhosts; i++) {
		struct dns_host *h = &q->hosts[i];
		h->q = q;
		h->res[0] = h->res[1] = DNS_LK_TEMP;
		h->lk[0] = dns_lookup_start(q->r, h->name, DNS_TYPE_AAAA, host_rr, host_done, h);
		h->lk[1] = dns_lookup_start(q->r, h->name, DNS_TYPE_A, host_rr, host_done, h);
		if (!h->lk[0] || !h->lk[1]) {
			query_finish(q, DNS_TEMP, "out of memory looking up %s", h->name);
			return;
		}
		q->pending += 2;
	}
}

/* Keep the DNS_MAX_MX_HOSTS most preferred exchanges, ordered by
 * (preference, random key): an answer of 100 MX records starts at most
 * that many host lookups, and equal preferences come out in random order
 * (RFC 5321 5.1), as does the choice among more equal ones than fit. */
static void mx_rr(void *arg, const struct dns_rr *rr)
{
	struct dns_query *q = arg;
	/* RFC 7505 3: "." as the exchange is the null MX. */
	if (strcmp(rr->target, ".") == 0) {
		q->null_mx = true;
		return;
	}
	for (size_t i = 0; i < q->nhosts; i++)
		if (dns_name_equal(q->hosts[i].name, rr->target)) {
			if (rr->pref >= q->hosts[i].pref)
				return;
			/* the same host again, more preferred: move it */
			memmove(&q->hosts[i], &q->hosts[i + 1], (q->nhosts - i - 1) * sizeof(q->hosts[0]));
			q->nhosts--;
			break;
		}
	uint32_t key = dns_resolver_random(q->r);
	size_t at = q->nhosts;
	while (at > 0 && (q->hosts[at - 1].pref > rr->pref ||
			  (q->hosts[at - 1].pref == rr->pref && q->hosts[at - 1].key > key)))
		at--;
	if (at == DNS_MAX_MX_HOSTS)
		return;
	size_t keep = q->nhosts < DNS_MAX_MX_HOSTS ? q->nhosts : DNS_MAX_MX_HOSTS - 1;
	memmove(&q->hosts[at + 1], &q->hosts[at], (keep - at) * sizeof(q->hosts[0]));
	struct dns_host *h = &q->hosts[at];
	memset(h, 0, sizeof(*h));
	snprintf(h->name, sizeof(h->name), "%s", rr->target);
	h->pref = rr->pref;
	h->key = key;
	q->nhosts = keep + 1;
}

static void mx_done(void *arg, struct dns_lookup *lk, enum dns_lookup_result res,
		    const char *why)
{
	struct dns_query *q = arg;
	const char *d = q->domain;
	q->mx_lk = NULL; /* ours now: query_finish must not free it */
	if (res == DNS_LK_TEMP) /* why lives in lk: used before lk goes */
		query_finish(q, DNS_TEMP, "DNS %s looking up MX for %s", why, d);
	dns_lookup_free(lk);
	switch (res) {
	case DNS_LK_TEMP:
		return;
	case DNS_LK_NXDOMAIN:
		query_finish(q, DNS_NXDOMAIN, "domain %s does not exist (NXDOMAIN)", d);
		return;
	case DNS_LK_LOOP:
		query_finish(q, DNS_NOHOST, "CNAME loop (more than %d CNAMEs) looking up MX for %s",
			     DNS_MAX_CNAME, d);
		return;
	case DNS_LK_NODATA:
		/* RFC 5321 5.1: no MX, the domain is its own implicit MX with
		 * preference 0. */
		q->implicit = true;
		memset(&q->hosts[0], 0, sizeof(q->hosts[0]));
		snprintf(q->hosts[0].name, sizeof(q->hosts[0].name), "%s", d);
		q->nhosts = 1;
		break;
	case DNS_LK_OK:
		/* A null MX among real ones is not a null MX (RFC 7505 3 says it
		 * must stand alone): the real ones are used. */
		if (q->nhosts == 0) {
			query_finish(q, DNS_NULLMX, "null MX: %s accepts no mail (RFC 7505)", d);
			return;
		}
		break;
	}
	query_hosts_start(q);
}

static struct dns_query *query_new(struct dns_resolver *r, const char *name, dns_mx_cb *cb,
				   void *arg)
{
	struct dns_query *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->targets = calloc(DNS_MAX_TARGETS, sizeof(*q->targets));
	q->done_ev = event_new(r->base, -1, 0, query_done_cb, q);
	if (!q->targets || !q->done_ev) {
		free(q->targets);
		if (q->done_ev)
			event_free(q->done_ev);
		free(q);
		return NULL;
	}
	q->r = r;
	q->cb = cb;
	q->arg = arg;
	snprintf(q->domain, sizeof(q->domain), "%s", name);
	q->next = r->queries;
	if (r->queries)
		r->queries->prev = q;
	r->queries = q;
	return q;
}

/* An address literal: "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321
 * 4.1.3), and for a host also a bare address.  1 when s is one (the target
 * added, or the query finished with its error), 0 when it is a name. */
static int query_literal(struct dns_query *q, const char *s, bool bare_ok)
{
	char buf[DNS_NAME_MAX];
	size_t l = strlen(s);
	uint8_t a[16];
	if (s[0] == '[') {
		if (l < 3 || s[l - 1] != ']' || l - 2 >= sizeof(buf)) {
			query_finish(q, DNS_NOHOST, "'%s' is not a valid address literal", s);
			return 1;
		}
		memcpy(buf, s + 1, l - 2);
		buf[l - 2] = '\0';
		if (strncasecmp(buf, "IPv6:", 5) == 0) {
			if (inet_pton(AF_INET6, buf + 5, a) == 1) {
				target_add(q, s, 0, AF_INET6, a);
				query_finish(q, DNS_OK, "%s", "");
				return 1;
			}
		} else if (inet_pton(AF_INET, buf, a) == 1) {
			target_add(q, s, 0, AF_INET, a);
			query_finish(q, DNS_OK, "%s", "");
			return 1;
		} else if (bare_ok && inet_pton(AF_INET6, buf, a) == 1) {
			/* "[::1]:25" as a smarthost spec: IPv6 without the tag. */
			target_add(q, s, 0, AF_INET6, a);
			query_finish(q, DNS_OK, "%s", "");
			return 1;
		}
		if (!bare_ok || strchr(buf, ':')) {
			query_finish(q, DNS_NOHOST, "'%s' is not a valid address literal", s);
			return 1;
		}
		/* "[smtp.example.net]": a name, brackets meaning "no MX". */
		snprintf(q->domain, sizeof(q->domain), "%s", buf);
		return 0;
	}
	if (bare_ok && inet_pton(AF_INET, s, a) == 1) {
		target_add(q, s, 0, AF_INET, a);
		query_finish(q, DNS_OK, "%s", "");
		return 1;
	}
	if (bare_ok && inet_pton(AF_INET6, s, a) == 1) {
		target_add(q, s, 0, AF_INET6, a);
		query_finish(q, DNS_OK, "%s", "");
		return 1;
	}
	return 0;
}

/* 1 when name can be asked (dns_msg_query_build's rules), else the query
 * is finished with a permanent error. */
static int query_name_ok(struct dns_query *q)
{
	uint8_t scratch[DNS_MSG_QUERY_MAX];
	size_t len;
	/* RFC 6531 3.7.5 / RFC 5890: a U-label domain is looked up by its
	 * A-labels. */
	char ascii[sizeof(q->domain)];
	if (dns_name_to_ascii(q->domain, ascii, sizeof(ascii)) == 0)
		memcpy(q->domain, ascii, strlen(ascii) + 1);
	if (dns_msg_query_build(scratch, sizeof(scratch), 0, q->domain, DNS_TYPE_A, false, &len) == 0)
		return 1;
	query_finish(q, DNS_NOHOST, "'%s' is not a valid domain name", q->domain);
	return 0;
}

struct dns_query *dns_resolve_mx(struct dns_resolver *r, const char *domain, dns_mx_cb *cb,
				 void *arg)
{
	struct dns_query *q = query_new(r, domain, cb, arg);
	if (!q)
		return NULL;
	q->is_mx = true;
	if (query_literal(q, domain, false) || !query_name_ok(q))
		return q;
	q->mx_lk = dns_lookup_start(r, q->domain, DNS_TYPE_MX, mx_rr, mx_done, q);
	if (!q->mx_lk)
		query_finish(q, DNS_TEMP, "out of memory looking up MX for %s", q->domain);
	return q;
}

struct dns_query *dns_resolve_host(struct dns_resolver *r, const char *host, uint16_t port,
				   dns_mx_cb *cb, void *arg)
{
	struct dns_query *q = query_new(r, host, cb, arg);
	if (!q)
		return NULL;
	q->port = port;
	if (query_literal(q, host, true) || !query_name_ok(q))
		return q;
	snprintf(q->hosts[0].name, sizeof(q->hosts[0].name), "%s", q->domain);
	q->nhosts = 1;
	query_hosts_start(q);
	return q;
}

void dns_query_cancel(struct dns_query *q)
{
	if (!q || q->calling)
		return;
	query_free(q);
}

void dns_resolver_free(struct dns_resolver *r)
{
	if (!r)
		return;
	while (r->queries)
		query_free(r->queries);
	free(r);
}
