/* core/admin_dns.c: `postino dns mx DOMAIN` and `postino dns host NAME
 * [PORT]`: run the outbound resolver (core/dns.h) once, on an event base
 * of its own, and print what delivery would try, in order, or why there is
 * nothing to try.  For operators checking a domain, and for the tests. */
#include "core/admin.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/dns.h"

struct admin_dns_result {
	bool done;
	int rc;
};

static void admin_dns_print(void *arg, enum dns_status st, const struct dns_target *t, size_t n,
			    const char *text)
{
	struct admin_dns_result *res = arg;
	res->done = true;
	if (st != DNS_OK) {
		printf("%s: %s\n", dns_status_name(st), text);
		/* EX_TEMPFAIL for a temporary failure, as sendmail's tools. */
		res->rc = st == DNS_TEMP ? 75 : 1;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char a[INET6_ADDRSTRLEN] = "?";
		unsigned port;
		if (t[i].addr.ss_family == AF_INET6) {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&t[i].addr;
			inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
			port = ntohs(s6->sin6_port);
		} else {
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)&t[i].addr;
			inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
			port = ntohs(s4->sin_port);
		}
		printf("pref=%u host=%s address=%s", t[i].pref, t[i].host, a);
		if (port)
			printf(" port=%u", port);
		printf("\n");
	}
	res->rc = 0;
}

static int admin_dns_usage(void)
{
	fprintf(stderr, "usage: postino dns mx DOMAIN | postino dns host NAME [PORT]\n");
	return 2;
}

int admin_dns(const struct config *cfg, int argc, char **argv)
{
	bool mx = argc == 3 && strcmp(argv[1], "mx") == 0;
	bool host = (argc == 3 || argc == 4) && strcmp(argv[1], "host") == 0;
	if (!mx && !host)
		return admin_dns_usage();
	unsigned long port = 25;
	if (host && argc == 4) {
		char *end;
		port = strtoul(argv[3], &end, 10);
		if (!*argv[3] || *end || port == 0 || port > 65535)
			return admin_dns_usage();
	}
	struct event_base *base = event_base_new();
	struct dns_resolver *r = base ? dns_resolver_new(base, cfg) : NULL;
	if (!r) {
		fprintf(stderr, "postino: out of memory\n");
		if (base)
			event_base_free(base);
		return 1;
	}
	struct admin_dns_result res = {false, 1};
	struct dns_query *q = mx ? dns_resolve_mx(r, argv[2], admin_dns_print, &res)
				 : dns_resolve_host(r, argv[2], (uint16_t)port, admin_dns_print, &res);
	if (q)
		event_base_dispatch(base);
	if (!res.done)
		fprintf(stderr, "postino: the resolver stopped without an answer\n");
	dns_resolver_free(r);
	event_base_free(base);
	return res.rc;
}
