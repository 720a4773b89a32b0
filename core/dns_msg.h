/* core/dns_msg.h: DNS messages as bytes, with no I/O: building a query and
 * reading a response (RFC 1035 4.1; MX RFC 1035 3.3.9; AAAA RFC 3596;
 * EDNS0 RFC 6891).  The resolver (core/dns.c) sends and receives; this file
 * only encodes and checks, so the unit tests and the fuzzer drive it alone.
 *
 * Reading is an iterator over the answer section: bounded memory whatever
 * the message holds (an answer of 100 MX records is 100 calls, not an
 * array).  Names are decompressed with a hard bound on pointer jumps and
 * on length, and every read is checked against the message's end. */
#ifndef POSTINO_DNS_MSG_H
#define POSTINO_DNS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	DNS_TYPE_A = 1,
	DNS_TYPE_CNAME = 5,
	DNS_TYPE_MX = 15,
	DNS_TYPE_AAAA = 28,
	DNS_TYPE_OPT = 41,
};

/* RFC 1035 4.1.1 RCODE values we tell apart. */
enum {
	DNS_RCODE_NOERROR = 0,
	DNS_RCODE_FORMERR = 1,
	DNS_RCODE_SERVFAIL = 2,
	DNS_RCODE_NXDOMAIN = 3,
	DNS_RCODE_NOTIMP = 4,
	DNS_RCODE_REFUSED = 5,
};

/* A name in presentation form: labels joined by '.', no trailing dot, the
 * root as ".".  RFC 1035 2.3.4: at most 255 bytes on the wire, so at most
 * 253 here. */
#define DNS_NAME_MAX 256
/* The EDNS0 UDP payload size we announce (the 2020 DNS flag day value:
 * no IP fragmentation on common paths). */
#define DNS_MSG_UDP_MAX 1232
/* A query: header, one question of at most 255 name bytes, the OPT record. */
#define DNS_MSG_QUERY_MAX 512
/* Compression pointers followed while reading one name.  A name has at most
 * 127 labels, so a well-formed message never needs more. */
#define DNS_MSG_MAX_JUMPS 128

/* Build a query for (name, qtype, class IN) with id and RD set, plus an
 * EDNS0 OPT record when edns (RFC 6891 6.1.2).  name is presentation form,
 * a trailing dot allowed.  Returns 0 and the length in *len_r, or -1 when
 * the name is not a valid host-style name or buf is too small. */
int dns_msg_query_build(uint8_t *buf, size_t cap, uint16_t id, const char *name,
			uint16_t qtype, bool edns, size_t *len_r);

/* One answer record.  The owner is always decoded; the data only for the
 * types below (others leave it empty). */
struct dns_rr {
	char name[DNS_NAME_MAX];
	uint16_t type;
	uint32_t ttl;
	uint16_t pref;                 /* MX */
	char target[DNS_NAME_MAX];     /* MX exchange, CNAME target */
	uint8_t addr[16];              /* A (4 bytes), AAAA (16) */
};

/* A response being read.  Fill with dns_msg_parse, then call
 * dns_msg_next_answer until it returns 0. */
struct dns_msg {
	const uint8_t *p;
	size_t len;
	size_t pos;          /* next answer record */
	uint16_t id;
	uint8_t rcode;
	bool tc;             /* truncated: ask again over TCP (RFC 7766) */
	bool aa;
	unsigned ancount;
	unsigned an_read;
};

enum dns_msg_err {
	DNS_MSG_OK = 0,
	DNS_MSG_SHORT = -1,      /* shorter than a header, or a record past the end */
	DNS_MSG_NOT_RESPONSE = -2, /* QR clear, or not a standard query */
	DNS_MSG_ID = -3,         /* another query's id */
	DNS_MSG_QUESTION = -4,   /* not exactly our question */
	DNS_MSG_BAD_NAME = -5,   /* pointer loop, too long, bad label */
};

/* Check a response's header and question against what was asked (id,
 * name case-insensitively, type, class IN), and set up the answer iterator.
 * A truncated response (m->tc) whose question is intact is accepted. */
enum dns_msg_err dns_msg_parse(struct dns_msg *m, const uint8_t *p, size_t len, uint16_t id,
			       const char *qname, uint16_t qtype);
/* The next answer record into *rr_r: 1, or 0 at the end, or a negative
 * enum dns_msg_err for a malformed record (the rest is then unreadable). */
int dns_msg_next_answer(struct dns_msg *m, struct dns_rr *rr_r);

/* Read the (possibly compressed) name at off into out (DNS_NAME_MAX bytes);
 * *next_r is the offset after it in the record.  Labels may hold letters,
 * digits and any printable ASCII but '.', '\\' and space; anything else is
 * DNS_MSG_BAD_NAME, as are pointers that do not go strictly backwards
 * (no loops) and names over 255 wire bytes. */
enum dns_msg_err dns_msg_name_read(const uint8_t *p, size_t len, size_t off, char *out,
				   size_t *next_r);

/* 1 when a and b are the same name: ASCII case-insensitive, a trailing dot
 * ignored. */
int dns_name_equal(const char *a, const char *b);
/* A domain with UTF-8 labels (RFC 6531 U-labels) as DNS asks for it:
 * each non-ASCII label as "xn--" Punycode (RFC 3492, RFC 5890 A-label)
 * of its code points (ASCII letters in it lowercased); ASCII labels are
 * left as they are (DNS ignores their case).  No IDNA2008 mapping (Unicode case folding,
 * NFC): a label must come as it is registered.  0, or -1 when malformed
 * UTF-8 or too long. */
int dns_name_to_ascii(const char *name, char *out, size_t cap);
/* Short text for an RCODE ("SERVFAIL", "rcode 9"); buf for unknown ones. */
const char *dns_rcode_name(unsigned rcode, char *buf, size_t buflen);

#endif
