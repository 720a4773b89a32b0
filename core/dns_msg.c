/* core/dns_msg.c: encodes DNS queries and reads responses (RFC 1035 4.1),
 * pure code over byte buffers: see dns_msg.h. */
#include "core/dns_msg.h"

#include <stdio.h>
#include <string.h>

#define HDR 12

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* A label byte we accept in presentation form: printable ASCII without the
 * separator, the escape and space, so a name read back is one token that
 * means one thing. */
static int label_byte_ok(uint8_t c)
{
	return c > 0x20 && c < 0x7f && c != '.' && c != '\\';
}

int dns_msg_query_build(uint8_t *buf, size_t cap, uint16_t id, const char *name,
			uint16_t qtype, bool edns, size_t *len_r)
{
	size_t nlen = strlen(name);
	if (nlen && name[nlen - 1] == '.')
		nlen--;
	/* RFC 1035 2.3.4: 255 wire bytes = labels + length bytes + root. */
	if (nlen == 0 || nlen > 253)
		return -1;
	size_t need = HDR + nlen + 2 + 4 + (edns ? 11 : 0);
	if (cap < need)
		return -1;
	memset(buf, 0, HDR);
	put16(buf, id);
	buf[2] = 0x01; /* RD: recursion desired (we are a stub) */
	put16(buf + 4, 1);           /* QDCOUNT */
	put16(buf + 10, edns ? 1 : 0); /* ARCOUNT */
	uint8_t *o = buf + HDR;
	size_t start = 0;
	for (size_t i = 0; i <= nlen; i++) {
		if (i < nlen && name[i] != '.') {
			if (!label_byte_ok((uint8_t)name[i]))
				return -1;
			continue;
		}
		size_t ll = i - start;
		if (ll == 0 || ll > 63)
			return -1;
		*o++ = (uint8_t)ll;
		memcpy(o, name + start, ll);
		o += ll;
		start = i + 1;
	}
	*o++ = 0;
	put16(o, qtype);
	put16(o + 2, 1); /* class IN */
	o += 4;
	if (edns) {
		/* RFC 6891 6.1.2: root owner, TYPE OPT, CLASS = UDP payload size,
		 * TTL = extended rcode/version/flags (all 0), no options. */
		*o++ = 0;
		put16(o, DNS_TYPE_OPT);
		put16(o + 2, DNS_MSG_UDP_MAX);
		memset(o + 4, 0, 6);
		o += 10;
	}
	*len_r = (size_t)(o - buf);
	return 0;
}

enum dns_msg_err dns_msg_name_read(const uint8_t *p, size_t len, size_t off, char *out,
				   size_t *next_r)
{
	size_t olen = 0, wire = 0, next = 0;
	unsigned jumps = 0;
	bool jumped = false;
	/* Each pointer must go strictly below the start of the name or of the
	 * previous pointer's target: offsets only decrease, so no loop. */
	size_t limit = off;
	for (;;) {
		if (off >= len)
			return DNS_MSG_SHORT;
		uint8_t l = p[off];
		if ((l & 0xc0) == 0xc0) {
			if (off + 1 >= len)
				return DNS_MSG_SHORT;
			size_t to = (size_t)(l & 0x3f) << 8 | p[off + 1];
			/* Strictly backwards and bounded: no loop can form, and
			 * a chain of pointers ends within DNS_MSG_MAX_JUMPS. */
			if (to >= limit || ++jumps > DNS_MSG_MAX_JUMPS)
				return DNS_MSG_BAD_NAME;
			if (!jumped)
				next = off + 2;
			jumped = true;
			limit = to;
			off = to;
			continue;
		}
		if (l & 0xc0) /* 0x40, 0x80: extended label types (RFC 6891 5) */
			return DNS_MSG_BAD_NAME;
		wire += 1u + l;
		if (wire > 255)
			return DNS_MSG_BAD_NAME;
		if (l == 0) {
			if (!jumped)
				next = off + 1;
			break;
		}
		if (off + 1 + l > len)
			return DNS_MSG_SHORT;
		if (olen)
			out[olen++] = '.';
		for (unsigned i = 0; i < l; i++) {
			uint8_t c = p[off + 1 + i];
			if (!label_byte_ok(c))
				return DNS_MSG_BAD_NAME;
			out[olen++] = (char)c;
		}
		off += 1u + l;
	}
	if (olen == 0)
		out[olen++] = '.';
	out[olen] = '\0';
	*next_r = next;
	return DNS_MSG_OK;
}

int dns_name_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 1 && a[la - 1] == '.')
		la--;
	if (lb > 1 && b[lb - 1] == '.')
		lb--;
	if (la != lb)
		return 0;
	for (size_t i = 0; i < la; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y + 32);
		if (x != y)
			return 0;
	}
	return 1;
}

enum dns_msg_err dns_msg_parse(struct dns_msg *m, const uint8_t *p, size_t len, uint16_t id,
			       const char *qname, uint16_t qtype)
{
	memset(m, 0, sizeof(*m));
	if (len < HDR)
		return DNS_MSG_SHORT;
	m->p = p;
	m->len = len;
	m->id = get16(p);
	if (m->id != id)
		return DNS_MSG_ID;
	/* RFC 1035 4.1.1: QR set, OPCODE 0 (standard query). */
	if (!(p[2] & 0x80) || (p[2] & 0x78))
		return DNS_MSG_NOT_RESPONSE;
	m->aa = (p[2] & 0x04) != 0;
	m->tc = (p[2] & 0x02) != 0;
	m->rcode = p[3] & 0x0f;
	if (get16(p + 4) != 1)
		return DNS_MSG_QUESTION;
	m->ancount = get16(p + 6);
	char name[DNS_NAME_MAX];
	size_t off;
	enum dns_msg_err e = dns_msg_name_read(p, len, HDR, name, &off);
	if (e != DNS_MSG_OK)
		return e;
	if (off + 4 > len)
		return DNS_MSG_SHORT;
	if (!dns_name_equal(name, qname) || get16(p + off) != qtype || get16(p + off + 2) != 1)
		return DNS_MSG_QUESTION;
	m->pos = off + 4;
	return DNS_MSG_OK;
}

int dns_msg_next_answer(struct dns_msg *m, struct dns_rr *rr)
{
	if (m->an_read >= m->ancount)
		return 0;
	size_t off;
	enum dns_msg_err e = dns_msg_name_read(m->p, m->len, m->pos, rr->name, &off);
	if (e != DNS_MSG_OK)
		return e;
	if (off + 10 > m->len)
		return DNS_MSG_SHORT;
	const uint8_t *h = m->p + off;
	rr->type = get16(h);
	uint16_t class = get16(h + 2);
	rr->ttl = get32(h + 4);
	size_t rdlen = get16(h + 8);
	size_t rd = off + 10;
	if (rd + rdlen > m->len)
		return DNS_MSG_SHORT;
	rr->pref = 0;
	rr->target[0] = '\0';
	memset(rr->addr, 0, sizeof(rr->addr));
	/* Only class IN data is decoded; another class keeps its type but is
	 * reported as type 0 so nobody uses it as an address. */
	if (class != 1)
		rr->type = 0;
	size_t end;
	switch (rr->type) {
	case DNS_TYPE_A:
		if (rdlen != 4)
			return DNS_MSG_SHORT;
		memcpy(rr->addr, m->p + rd, 4);
		break;
	case DNS_TYPE_AAAA:
		if (rdlen != 16)
			return DNS_MSG_SHORT;
		memcpy(rr->addr, m->p + rd, 16);
		break;
	case DNS_TYPE_MX:
		/* RFC 1035 3.3.9: PREFERENCE, EXCHANGE (a name, may be compressed). */
		if (rdlen < 3)
			return DNS_MSG_SHORT;
		rr->pref = get16(m->p + rd);
		e = dns_msg_name_read(m->p, rd + rdlen, rd + 2, rr->target, &end);
		if (e != DNS_MSG_OK)
			return e;
		if (end != rd + rdlen)
			return DNS_MSG_SHORT;
		break;
	case DNS_TYPE_CNAME:
		e = dns_msg_name_read(m->p, rd + rdlen, rd, rr->target, &end);
		if (e != DNS_MSG_OK)
			return e;
		if (end != rd + rdlen)
			return DNS_MSG_SHORT;
		break;
	default:
		break;
	}
	m->pos = rd + rdlen;
	m->an_read++;
	return 1;
}

const char *dns_rcode_name(unsigned rcode, char *buf, size_t buflen)
{
	static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					    "NOTIMP", "REFUSED"};
	if (rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	snprintf(buf, buflen, "rcode %u", rcode);
	return buf;
}

/* ---- internationalized names (RFC 5890 A-labels, RFC 3492 Punycode) ---- */

/* One UTF-8 sequence at s[*i] (strict: no overlongs, surrogates or values
 * past U+10FFFF); -1 when malformed. */
static long utf8_next(const unsigned char *s, size_t len, size_t *i)
{
	unsigned char c = s[*i];
	long cp;
	size_t n;
	if (c < 0x80) {
		(*i)++;
		return c;
	} else if (c >= 0xc2 && c <= 0xdf) {
		cp = c & 0x1f;
		n = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		cp = c & 0x0f;
		n = 2;
	} else if (c >= 0xf0 && c <= 0xf4) {
		cp = c & 0x07;
		n = 3;
	} else {
		return -1;
	}
	for (size_t k = 1; k <= n; k++) {
		if (*i + k >= len || (s[*i + k] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[*i + k] & 0x3f);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += n + 1;
	return cp;
}

/* RFC 3492 6.1 */
static unsigned long puny_adapt(unsigned long delta, unsigned long numpoints, bool first)
{
	delta = first ? delta / 700 : delta / 2;
	delta += delta / numpoints;
	unsigned long k = 0;
	while (delta > ((36 - 1) * 26) / 2) {
		delta /= 36 - 1;
		k += 36;
	}
	return k + (36 * delta) / (delta + 38);
}

static char puny_digit(unsigned long d)
{
	return (char)(d < 26 ? 'a' + d : '0' + (d - 26));
}

/* RFC 3492 6.3: the code points cp[0..n) into out as "xn--" + Punycode. */
static int puny_encode(const long *cp, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	if (cap < 5)
		return -1;
	memcpy(out, "xn--", 4);
	o = 4;
	size_t b = 0;
	for (size_t j = 0; j < n; j++) {
		if (cp[j] < 0x80) {
			if (o + 1 >= cap)
				return -1;
			out[o++] = (char)cp[j];
			b++;
		}
	}
	size_t h = b;
	if (b > 0) {
		if (o + 1 >= cap)
			return -1;
		out[o++] = '-';
	}
	unsigned long nn = 0x80, delta = 0, bias = 72;
	while (h < n) {
		unsigned long m = 0x10ffff + 1;
		for (size_t j = 0; j < n; j++)
			if ((unsigned long)cp[j] >= nn && (unsigned long)cp[j] < m)
				m = (unsigned long)cp[j];
		if ((m - nn) > (0xffffffffUL - delta) / (h + 1))
			return -1;
		delta += (m - nn) * (h + 1);
		nn = m;
		for (size_t j = 0; j < n; j++) {
			if ((unsigned long)cp[j] < nn && ++delta == 0)
				return -1;
			if ((unsigned long)cp[j] != nn)
				continue;
			unsigned long qv = delta;
			for (unsigned long k = 36;; k += 36) {
				unsigned long t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
				if (qv < t)
					break;
				if (o + 1 >= cap)
					return -1;
				out[o++] = puny_digit(t + (qv - t) % (36 - t));
				qv = (qv - t) / (36 - t);
			}
			if (o + 1 >= cap)
				return -1;
			out[o++] = puny_digit(qv);
			bias = puny_adapt(delta, h + 1, h == b);
			delta = 0;
			h++;
		}
		delta++;
		nn++;
	}
	out[o] = '\0';
	return (int)o;
}

int dns_name_to_ascii(const char *name, char *out, size_t cap)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t len = strlen(name), o = 0;
	long cp[64];
	for (size_t i = 0; i <= len;) {
		/* One label: s[i..e). */
		size_t e = i;
		while (e < len && s[e] != '.')
			e++;
		bool ascii = true;
		for (size_t k = i; k < e; k++)
			if (s[k] >= 0x80)
				ascii = false;
		char label[64];
		int ll;
		if (ascii) {
			if (e - i >= sizeof(label))
				return -1;
			memcpy(label, s + i, e - i);
			ll = (int)(e - i);
		} else {
			size_t n = 0;
			for (size_t k = i; k < e;) {
				long c = utf8_next(s, e, &k);
				if (c < 0 || n == sizeof(cp) / sizeof(cp[0]))
					return -1;
				/* ASCII letters are lowercased; the rest is taken
				 * as sent (no Unicode case folding or NFC here). */
				cp[n++] = c >= 'A' && c <= 'Z' ? c + 32 : c;
			}
			ll = puny_encode(cp, n, label, sizeof(label));
			if (ll < 0)
				return -1;
		}
		if (o + (size_t)ll + 2 > cap)
			return -1;
		memcpy(out + o, label, (size_t)ll);
		o += (size_t)ll;
		if (e < len)
			out[o++] = '.';
		i = e + 1;
		if (e >= len)
			break;
	}
	out[o] = '\0';
	return 0;
}
