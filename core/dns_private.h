/* core/dns_private.h: what core/dns.c (requests: MX and host logic) and
 * core/dns_lookup.c (one name and type asked of the nameservers, CNAMEs
 * followed) share.  Not for use outside those two files. */
#ifndef POSTINO_DNS_PRIVATE_H
#define POSTINO_DNS_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/dns.h"
#include "core/dns_msg.h"

struct dns_resolver {
	struct event_base *base;
	struct config_nameserver ns[CONFIG_MAX_NAMESERVERS];
	size_t nns;
	unsigned timeout_ms;
	unsigned attempts;
	bool prefer_ipv4;
	unsigned next_ns;          /* the server the next lookup starts with */
	uint64_t rng;              /* xorshift state: shuffling, not ids */
	struct dns_query *queries; /* live requests, for dns_resolver_free */
};

/* How one lookup ended. */
enum dns_lookup_result {
	DNS_LK_OK,       /* records of the type (given to on_rr) */
	DNS_LK_NODATA,   /* the name exists, no record of the type */
	DNS_LK_NXDOMAIN,
	DNS_LK_TEMP,     /* every try timed out, failed or got SERVFAIL/REFUSED/garbage */
	DNS_LK_LOOP,     /* more than DNS_MAX_CNAME CNAMEs */
};

struct dns_lookup;
/* Each record of the asked type owned by the name the CNAMEs led to, all
 * before on_done(DNS_LK_OK). */
typedef void dns_lookup_rr_fn(void *arg, const struct dns_rr *rr);
/* Always from a loop callback, never inside dns_lookup_start.  The lookup
 * has finished its I/O; the owner must dns_lookup_free it (here or later).
 * why: for DNS_LK_TEMP what went wrong ("timeout", "failure (SERVFAIL)");
 * it lives in lk, so it is gone once lk is freed. */
typedef void dns_lookup_done_fn(void *arg, struct dns_lookup *lk, enum dns_lookup_result res,
				const char *why);

/* Ask (name, qtype); NULL on allocation failure.  name must be valid (see
 * dns_msg_query_build). */
struct dns_lookup *dns_lookup_start(struct dns_resolver *r, const char *name, uint16_t qtype,
				    dns_lookup_rr_fn *on_rr, dns_lookup_done_fn *on_done,
				    void *arg);
/* Stops a pending lookup (no callback) or frees a finished one. */
void dns_lookup_free(struct dns_lookup *lk);

uint32_t dns_resolver_random(struct dns_resolver *r);
/* "MX", "A", "AAAA". */
const char *dns_lookup_type_name(uint16_t qtype);

#endif
