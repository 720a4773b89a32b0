/* core/dns.h: an asynchronous stub resolver on a libevent loop, for
 * outbound mail: where to deliver for a domain (MX, RFC 5321 5.1) and the
 * addresses of one host (a smarthost).
 *
 * Our own, not libevent's evdns: evdns (2.1) resolves only A, AAAA and PTR
 * and has no MX query.  Nothing here blocks: queries go over non-blocking
 * UDP sockets watched by the loop, with a timeout and retries rotating
 * through the nameservers, and over TCP when an answer comes back
 * truncated (RFC 7766).  It asks recursive servers (dns.nameservers, or
 * /etc/resolv.conf) and follows CNAMEs itself, with a bound.
 *
 * One resolver per event loop, used only on that loop's thread.  Every
 * request answers through its callback exactly once, never from inside the
 * dns_resolve_* call itself (the answer is deferred to the loop), unless it
 * is cancelled first.  Memory is bounded per request: at most
 * DNS_MAX_MX_HOSTS MX hosts are looked up (the most preferred), and at most
 * DNS_MAX_TARGETS addresses are returned. */
#ifndef POSTINO_DNS_H
#define POSTINO_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct config;

#define DNS_MAX_TARGETS 20
#define DNS_MAX_MX_HOSTS 10
/* CNAMEs followed for one name, in answers and across queries together. */
#define DNS_MAX_CNAME 8

struct dns_resolver;
struct dns_query;

enum dns_status {
	DNS_OK,
	DNS_TEMP,     /* timeout, SERVFAIL, network: retry later */
	DNS_NXDOMAIN, /* no such domain: bounce */
	DNS_NULLMX,   /* RFC 7505: the domain takes no mail: bounce */
	DNS_NOHOST,   /* exists but no MX and no A/AAAA, or MX hosts all without
		       * addresses, or a CNAME loop: bounce */
};

struct dns_target {
	char host[256];                /* the MX host (or the domain, implicit MX; or the host) */
	uint16_t pref;                 /* MX preference; 0 for an implicit MX and a host */
	struct sockaddr_storage addr;  /* port: 0 for MX results, the given port for a host */
	socklen_t addrlen;
};

/* The answer: st, and for DNS_OK the n targets to try in order (n >= 1);
 * text is one human line explaining a failure ("" for DNS_OK).  t and text
 * are valid only during the call. */
typedef void dns_mx_cb(void *arg, enum dns_status st, const struct dns_target *t, size_t n,
		       const char *text);

/* A resolver on base, with cfg's dns settings; with no dns.nameservers it
 * reads /etc/resolv.conf here (127.0.0.1 if it names none).  NULL on
 * allocation failure. */
struct dns_resolver *dns_resolver_new(struct event_base *base, const struct config *cfg);
/* Cancels pending requests without calling back.  Not from inside a
 * callback of this resolver. */
void dns_resolver_free(struct dns_resolver *r);

/* The addresses to try for mail to `domain`, in order (RFC 5321 5.1): MX
 * hosts by preference, random order among equal preferences, each host's
 * addresses (IPv6 then IPv4, or IPv4 first with dns.prefer = "ipv4"); no
 * MX at all -> the domain's own A/AAAA as an implicit MX with preference 0;
 * a single MX "." (RFC 7505) -> DNS_NULLMX.  An MX host whose lookups fail
 * temporarily is skipped if others have addresses; all failing temporarily
 * -> DNS_TEMP.  An address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]",
 * RFC 5321 4.1.3) is its own target, without DNS.  NULL only on allocation
 * failure (no callback then). */
struct dns_query *dns_resolve_mx(struct dns_resolver *r, const char *domain, dns_mx_cb *cb,
				 void *arg);
/* Same shape for one host name (A/AAAA only, no MX): "host", "[host]", an
 * IP address or an address literal; port is written into the addresses. */
struct dns_query *dns_resolve_host(struct dns_resolver *r, const char *host, uint16_t port,
				   dns_mx_cb *cb, void *arg);
/* No callback after this; q is gone.  Inside q's own callback it does
 * nothing (q is freed when the callback returns). */
void dns_query_cancel(struct dns_query *q);

/* "ok", "temp", "nxdomain", "nullmx", "nohost". */
const char *dns_status_name(enum dns_status st);

#endif
