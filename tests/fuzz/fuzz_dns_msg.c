/* libFuzzer target for the DNS message reader (core/dns_msg.c).  The input
 * is a response; its own id and question are what it is checked against,
 * so the answers are read whatever the bytes.  Besides "no crash, no
 * sanitizer report" it checks what the resolver relies on:
 *   - every name read is NUL-terminated, at most 253 bytes (or "."), with
 *     no empty label, and can be sent again as a query (reader and writer
 *     agree on what a name is);
 *   - no more records are read than the header counts, and a reader that
 *     reported an error or the end stays there. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dns_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "property violated: %s\n", what);
		abort();
	}
}

static void check_name(const char *name)
{
	size_t l = strnlen(name, DNS_NAME_MAX);
	check(l < DNS_NAME_MAX, "name NUL-terminated");
	if (strcmp(name, ".") == 0)
		return;
	check(l > 0 && l <= 253, "name length");
	check(name[0] != '.' && name[l - 1] != '.' && !strstr(name, ".."), "no empty label");
	uint8_t q[DNS_MSG_QUERY_MAX];
	size_t qlen;
	check(dns_msg_query_build(q, sizeof(q), 1, name, DNS_TYPE_A, true, &qlen) == 0,
	      "a name read can be asked");
	struct dns_msg m;
	/* The query parses as far as its question: it is no response. */
	check(dns_msg_parse(&m, q, qlen, 1, name, DNS_TYPE_A) == DNS_MSG_NOT_RESPONSE,
	      "a query is not a response");
}

/* The input as a domain from an SMTPUTF8 address: its A-label form is
 * ASCII, NUL-terminated inside the buffer, or refused. */
static void check_to_ascii(const uint8_t *data, size_t size)
{
	char in[300], out[256];
	size_t n = size < sizeof(in) - 1 ? size : sizeof(in) - 1;
	memcpy(in, data, n);
	in[n] = '\0';
	if (dns_name_to_ascii(in, out, sizeof(out)) != 0)
		return;
	size_t l = strnlen(out, sizeof(out));
	check(l < sizeof(out), "A-label form not terminated");
	for (size_t i = 0; i < l; i++)
		check((unsigned char)out[i] < 0x80, "A-label form not ASCII");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char qname[DNS_NAME_MAX];
	size_t next;
	check_to_ascii(data, size);
	if (size < 12 || dns_msg_name_read(data, size, 12, qname, &next) != DNS_MSG_OK)
		return 0;
	check_name(qname);
	if (next + 4 > size)
		return 0;
	uint16_t id = (uint16_t)(data[0] << 8 | data[1]);
	uint16_t qtype = (uint16_t)(data[next] << 8 | data[next + 1]);
	struct dns_msg m;
	if (dns_msg_parse(&m, data, size, id, qname, qtype) != DNS_MSG_OK)
		return 0;
	struct dns_rr rr;
	unsigned n = 0;
	int rc;
	while ((rc = dns_msg_next_answer(&m, &rr)) == 1) {
		n++;
		check_name(rr.name);
		if (rr.type == DNS_TYPE_MX || rr.type == DNS_TYPE_CNAME)
			check_name(rr.target);
		check(m.pos <= size, "position inside the message");
	}
	check(n <= m.ancount, "no more records than counted");
	if (rc == 0)
		check(dns_msg_next_answer(&m, &rr) == 0, "the end stays the end");
	return 0;
}
