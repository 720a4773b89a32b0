/* core/dns_lookup.c: one question (a name and a type) asked of the
 * nameservers until it has an answer: over non-blocking UDP with a timeout
 * per try, rotating through the servers, again over TCP when the answer is
 * truncated (RFC 7766 5; RFC 1035 4.2.2 length prefix), and again for the
 * target when an answer ends in a CNAME without data (RFC 1034 3.6.2),
 * at most DNS_MAX_CNAME times.  See dns_private.h. */
#include "core/dns_private.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"

struct dns_lookup {
	struct dns_resolver *r;
	char name[DNS_NAME_MAX];   /* asked now: the original or a CNAME target */
	uint16_t qtype;
	unsigned hops;             /* CNAMEs followed so far */
	unsigned tries;            /* UDP tries of the current name */
	unsigned ns_first;         /* rotation start for this lookup */
	const struct config_nameserver *ns; /* the current try's server */
	uint16_t id;
	uint8_t query[DNS_MSG_QUERY_MAX];
	size_t qlen;
	int fd;
	struct event *io;
	struct event *timer;
	struct bufferevent *tcp;
	bool done;
	bool no_edns;              /* a server answered FORMERR to EDNS0 */
	char why[120];             /* the last try's failure */
	dns_lookup_rr_fn *on_rr;
	dns_lookup_done_fn *on_done;
	void *arg;
};

static const char *qtype_name(uint16_t t)
{
	switch (t) {
	case DNS_TYPE_A:
		return "A";
	case DNS_TYPE_AAAA:
		return "AAAA";
	case DNS_TYPE_MX:
		return "MX";
	default:
		return "?";
	}
}

static void lookup_io_close(struct dns_lookup *lk)
{
	if (lk->io) {
		event_free(lk->io);
		lk->io = NULL;
	}
	if (lk->fd >= 0) {
		close(lk->fd);
		lk->fd = -1;
	}
	if (lk->tcp) {
		bufferevent_free(lk->tcp);
		lk->tcp = NULL;
	}
	evtimer_del(lk->timer);
}

static void lookup_finish(struct dns_lookup *lk, enum dns_lookup_result res)
{
	lookup_io_close(lk);
	lk->done = true;
	log_debug("dns lookup name=%s type=%s result=%d why=\"%s\"", lk->name,
		  qtype_name(lk->qtype), (int)res, res == DNS_LK_TEMP ? lk->why : "");
	lk->on_done(lk->arg, lk, res, lk->why);
}

static void lookup_try(struct dns_lookup *lk);

/* This try failed (why set): the next one, later in this loop turn's
 * events so that nothing recurses. */
static void lookup_try_failed(struct dns_lookup *lk)
{
	lookup_io_close(lk);
	struct timeval now = {0, 0};
	evtimer_add(lk->timer, &now);
}

/* Walk the answer for records of our type owned by the name CNAMEs lead to
 * (RFC 1034 4.3.2: a recursive server returns the chain).  The answer was
 * checked readable by the caller. */
static void lookup_process(struct dns_lookup *lk, const uint8_t *p, size_t len)
{
	char cur[DNS_NAME_MAX];
	snprintf(cur, sizeof(cur), "%s", lk->name);
	for (;;) {
		struct dns_msg m;
		struct dns_rr rr;
		unsigned found = 0;
		char cname[DNS_NAME_MAX] = "";
		dns_msg_parse(&m, p, len, lk->id, lk->name, lk->qtype);
		while (dns_msg_next_answer(&m, &rr) == 1) {
			if (!dns_name_equal(rr.name, cur))
				continue;
			if (rr.type == lk->qtype) {
				lk->on_rr(lk->arg, &rr);
				found++;
			} else if (rr.type == DNS_TYPE_CNAME && !cname[0]) {
				snprintf(cname, sizeof(cname), "%s", rr.target);
			}
		}
		if (found) {
			lookup_finish(lk, DNS_LK_OK);
			return;
		}
		if (!cname[0])
			break;
		if (++lk->hops > DNS_MAX_CNAME) {
			lookup_finish(lk, DNS_LK_LOOP);
			return;
		}
		snprintf(cur, sizeof(cur), "%s", cname);
	}
	if (dns_name_equal(cur, lk->name)) {
		lookup_finish(lk, DNS_LK_NODATA);
		return;
	}
	/* The chain ended at a name the server gave no data for: ask about
	 * that name itself (a server that does not chase CNAMEs). */
	snprintf(lk->name, sizeof(lk->name), "%s", cur);
	lookup_io_close(lk);
	lk->tries = 0;
	lookup_try(lk);
}

static void lookup_tcp_start(struct dns_lookup *lk);

/* A response for this try: 1 when it was ours and has been dealt with, 0
 * when it is to be ignored (another id or question: late or forged). */
static int lookup_response(struct dns_lookup *lk, const uint8_t *p, size_t len, bool over_tcp)
{
	struct dns_msg m;
	enum dns_msg_err e = dns_msg_parse(&m, p, len, lk->id, lk->name, lk->qtype);
	if (e == DNS_MSG_ID || e == DNS_MSG_QUESTION || e == DNS_MSG_NOT_RESPONSE) {
		if (!over_tcp)
			return 0;
		snprintf(lk->why, sizeof(lk->why), "answer over TCP does not match the query");
		lookup_try_failed(lk);
		return 1;
	}
	if (e == DNS_MSG_OK && m.tc && !over_tcp) {
		lookup_tcp_start(lk);
		return 1;
	}
	if (e == DNS_MSG_OK) {
		/* Every record must be readable before any is used. */
		struct dns_rr rr;
		int rc;
		while ((rc = dns_msg_next_answer(&m, &rr)) == 1)
			;
		if (rc < 0)
			e = (enum dns_msg_err)rc;
	}
	if (e != DNS_MSG_OK) {
		snprintf(lk->why, sizeof(lk->why), "malformed answer");
		lookup_try_failed(lk);
		return 1;
	}
	if (m.rcode == DNS_RCODE_NXDOMAIN) {
		lookup_finish(lk, DNS_LK_NXDOMAIN);
		return 1;
	}
	if (m.rcode == DNS_RCODE_FORMERR && !lk->no_edns) {
		/* RFC 6891 7: a server that does not know EDNS0 may answer
		 * FORMERR; the next tries go without the OPT record. */
		lk->no_edns = true;
	}
	if (m.rcode != DNS_RCODE_NOERROR) {
		char b[16];
		snprintf(lk->why, sizeof(lk->why), "failure (%s)", dns_rcode_name(m.rcode, b, sizeof(b)));
		lookup_try_failed(lk);
		return 1;
	}
	lookup_process(lk, p, len);
	return 1;
}

static void lookup_udp_read(evutil_socket_t fd, short what, void *arg)
{
	struct dns_lookup *lk = arg;
	uint8_t buf[4096];
	/* At most 32 datagrams a turn: a flood of forged answers (the socket
	 * is connected, so they must come from the server's address) cannot
	 * hold the loop; the event fires again next turn. */
	for (int i = 0; i < 32; i++) {
		/* MSG_TRUNC: the datagram's real length, so one larger than we
		 * asked for is known to be cut and is asked again over TCP. */
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_TRUNC);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			snprintf(lk->why, sizeof(lk->why), "network error (%s)", strerror(errno));
			lookup_try_failed(lk);
			return;
		}
		if ((size_t)n > sizeof(buf)) {
			lookup_tcp_start(lk);
			return;
		}
		if (lookup_response(lk, buf, (size_t)n, false))
			return;
	}
}

static void lookup_tcp_read(struct bufferevent *bev, void *arg)
{
	struct dns_lookup *lk = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t have = evbuffer_get_length(in);
	uint8_t lenb[2];
	if (have < 2)
		return;
	evbuffer_copyout(in, lenb, 2);
	size_t mlen = (size_t)lenb[0] << 8 | lenb[1];
	if (have < 2 + mlen)
		return;
	/* At most 2 + 65535 bytes: the read watermark stops reading there. */
	uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)(2 + mlen));
	if (!p) {
		snprintf(lk->why, sizeof(lk->why), "out of memory");
		lookup_try_failed(lk);
		return;
	}
	lookup_response(lk, p + 2, mlen, true);
}

static void lookup_tcp_event(struct bufferevent *bev, short what, void *arg)
{
	struct dns_lookup *lk = arg;
	if (what & BEV_EVENT_CONNECTED)
		return;
	snprintf(lk->why, sizeof(lk->why), "TCP %s",
		 (what & BEV_EVENT_EOF) ? "connection closed before the answer"
					: "connection to the nameserver failed");
	lookup_try_failed(lk);
}

/* RFC 7766 5: a truncated UDP answer is asked again over TCP, of the same
 * server, with the 2-byte length prefix of RFC 1035 4.2.2. */
static void lookup_tcp_start(struct dns_lookup *lk)
{
	const struct config_nameserver *ns = lk->ns;
	lookup_io_close(lk);
	lk->tcp = bufferevent_socket_new(lk->r->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!lk->tcp) {
		snprintf(lk->why, sizeof(lk->why), "out of memory");
		lookup_try_failed(lk);
		return;
	}
	bufferevent_setcb(lk->tcp, lookup_tcp_read, NULL, lookup_tcp_event, lk);
	bufferevent_setwatermark(lk->tcp, EV_READ, 0, 2 + 65535);
	uint8_t pre[2] = {(uint8_t)(lk->qlen >> 8), (uint8_t)lk->qlen};
	if (bufferevent_write(lk->tcp, pre, 2) < 0 ||
	    bufferevent_write(lk->tcp, lk->query, lk->qlen) < 0 ||
	    bufferevent_enable(lk->tcp, EV_READ | EV_WRITE) < 0 ||
	    bufferevent_socket_connect(lk->tcp, (const struct sockaddr *)&ns->addr,
				       (int)ns->addrlen) < 0) {
		snprintf(lk->why, sizeof(lk->why), "TCP connection to the nameserver failed");
		lookup_try_failed(lk);
		return;
	}
	struct timeval tv = {lk->r->timeout_ms / 1000, (lk->r->timeout_ms % 1000) * 1000};
	evtimer_add(lk->timer, &tv);
}

/* The next UDP try, or the end when the tries are spent. */
static void lookup_try(struct dns_lookup *lk)
{
	struct dns_resolver *r = lk->r;
	if (lk->tries >= r->attempts) {
		lookup_finish(lk, DNS_LK_TEMP);
		return;
	}
	lk->ns = &r->ns[(lk->ns_first + lk->tries) % r->nns];
	lk->tries++;
	/* A fresh id and a fresh socket (a fresh source port) for each try:
	 * both must match for an answer to count (RFC 5452 4, 9.2). */
	if (getrandom(&lk->id, sizeof(lk->id), 0) != (ssize_t)sizeof(lk->id))
		lk->id = (uint16_t)dns_resolver_random(r);
	if (dns_msg_query_build(lk->query, sizeof(lk->query), lk->id, lk->name, lk->qtype,
				!lk->no_edns, &lk->qlen) < 0) {
		/* A CNAME target is read from the wire under the same rules
		 * a query name is built with, so this is a name we asked to
		 * build: treat it as the answer "no such name". */
		lookup_finish(lk, DNS_LK_NXDOMAIN);
		return;
	}
	lk->fd = socket(lk->ns->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lk->fd < 0 ||
	    connect(lk->fd, (const struct sockaddr *)&lk->ns->addr, lk->ns->addrlen) < 0 ||
	    send(lk->fd, lk->query, lk->qlen, 0) != (ssize_t)lk->qlen) {
		snprintf(lk->why, sizeof(lk->why), "network error (%s)", strerror(errno));
		lookup_try_failed(lk);
		return;
	}
	lk->io = event_new(r->base, lk->fd, EV_READ | EV_PERSIST, lookup_udp_read, lk);
	if (!lk->io || event_add(lk->io, NULL) < 0) {
		snprintf(lk->why, sizeof(lk->why), "out of memory");
		lookup_try_failed(lk);
		return;
	}
	struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
	evtimer_add(lk->timer, &tv);
}

/* The timer: a try's timeout, or the zero delay after a failed try. */
static void lookup_timer(evutil_socket_t fd, short what, void *arg)
{
	struct dns_lookup *lk = arg;
	if (lk->io || lk->tcp) {
		snprintf(lk->why, sizeof(lk->why), "%s", lk->tcp ? "timeout over TCP" : "timeout");
		lookup_io_close(lk);
	}
	lookup_try(lk);
}

struct dns_lookup *dns_lookup_start(struct dns_resolver *r, const char *name, uint16_t qtype,
				    dns_lookup_rr_fn *on_rr, dns_lookup_done_fn *on_done,
				    void *arg)
{
	struct dns_lookup *lk = calloc(1, sizeof(*lk));
	if (!lk)
		return NULL;
	lk->r = r;
	lk->fd = -1;
	snprintf(lk->name, sizeof(lk->name), "%s", name);
	lk->qtype = qtype;
	lk->on_rr = on_rr;
	lk->on_done = on_done;
	lk->arg = arg;
	lk->ns_first = r->next_ns++ % r->nns;
	snprintf(lk->why, sizeof(lk->why), "timeout");
	lk->timer = evtimer_new(r->base, lookup_timer, lk);
	if (!lk->timer) {
		free(lk);
		return NULL;
	}
	/* The first try starts from the loop too, so that on_done can never
	 * run inside this call. */
	struct timeval now = {0, 0};
	evtimer_add(lk->timer, &now);
	return lk;
}

void dns_lookup_free(struct dns_lookup *lk)
{
	if (!lk)
		return;
	lookup_io_close(lk);
	event_free(lk->timer);
	free(lk);
}

const char *dns_lookup_type_name(uint16_t qtype)
{
	return qtype_name(qtype);
}
