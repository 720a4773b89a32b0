/* imap/imap_url.c: the IMAP URL parser (imap_url.h).  RFC 5092 3 and 7
 * (imapurl, irelative-ref, imailbox-ref, iuid, isection, ipartial),
 * RFC 5550 (PARTIAL in URLs) and RFC 4467 2 and 9 (iurlauth, expire,
 * access, mechanism and token).  Pure: no store, no session. */
#include "imap/imap_url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct cur {
	const char *s;
	size_t len, pos;
};

static bool at_end(const struct cur *c)
{
	return c->pos >= c->len;
}

/* The parameter name at the cursor: ";NAME=" (case-insensitive). */
static bool take_param(struct cur *c, const char *name)
{
	size_t n = strlen(name);
	if (c->len - c->pos < n + 2 || c->s[c->pos] != ';' ||
	    strncasecmp(c->s + c->pos + 1, name, n) != 0 || c->s[c->pos + 1 + n] != '=')
		return false;
	c->pos += n + 2;
	return true;
}

/* A value runs to the next ';' or '/' (neither is allowed unencoded in
 * any value this parser takes). */
static size_t value_len(const struct cur *c)
{
	size_t i = c->pos;
	while (i < c->len && c->s[i] != ';' && c->s[i] != '/')
		i++;
	return i - c->pos;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)tolower((unsigned char)ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* RFC 3986 2.1 percent-decoding of s[0..len) into a new string; NULL
 * (with *error_r) for a bad escape, a NUL octet or no memory. */
static char *pct_decode(const char *s, size_t len, const char **error_r)
{
	char *out = malloc(len + 1);
	if (!out) {
		*error_r = "Out of memory";
		return NULL;
	}
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (len - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) {
			*error_r = "Invalid percent-encoding in URL";
			free(out);
			return NULL;
		}
		int v = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
		if (v == 0) {
			*error_r = "NUL in URL";
			free(out);
			return NULL;
		}
		out[o++] = (char)v;
		i += 2;
	}
	out[o] = '\0';
	return out;
}

/* nz-number (RFC 3501 9), or number when zero_ok, up to max. */
static bool num_parse(const char *s, size_t len, bool zero_ok, uint64_t max, uint64_t *v_r)
{
	if (len == 0 || len > 20 || (s[0] == '0' && len > 1))
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (v == 0 && !zero_ok)
		return false;
	*v_r = v;
	return true;
}

static bool take_number(struct cur *c, bool zero_ok, uint64_t max, uint64_t *v_r)
{
	size_t n = value_len(c);
	if (!num_parse(c->s + c->pos, n, zero_ok, max, v_r))
		return false;
	c->pos += n;
	return true;
}

/* RFC 3339 5.6 date-time: full-date "T" full-time, with an optional
 * fraction and "Z" or an offset. */
static bool datetime_parse(const char *s, size_t len, int64_t *t_r)
{
	int y, mo, d, h, mi, sec;
	char tz[16];
	if (len < 20 || len > 40)
		return false;
	char tmp[48];
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	for (size_t i = 0; i < len; i++)
		tmp[i] = (char)toupper((unsigned char)tmp[i]);
	int n = 0;
	if (sscanf(tmp, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
		return false;
	for (int i = 0; i < 19; i++)
		if ((i == 4 || i == 7) ? tmp[i] != '-' : i == 10 ? tmp[i] != 'T' :
		    (i == 13 || i == 16) ? tmp[i] != ':' : !isdigit((unsigned char)tmp[i]))
			return false;
	size_t p = 19;
	if (tmp[p] == '.') {
		p++;
		size_t f = p;
		while (p < len && isdigit((unsigned char)tmp[p]))
			p++;
		if (p == f)
			return false;
	}
	long off = 0;
	if (len - p == 1 && tmp[p] == 'Z') {
		off = 0;
	} else if (len - p == 6 && (tmp[p] == '+' || tmp[p] == '-') && isdigit((unsigned char)tmp[p + 1]) &&
		   isdigit((unsigned char)tmp[p + 2]) && tmp[p + 3] == ':' &&
		   isdigit((unsigned char)tmp[p + 4]) && isdigit((unsigned char)tmp[p + 5])) {
		memcpy(tz, tmp + p + 1, 5);
		int oh = (tz[0] - '0') * 10 + (tz[1] - '0'), om = (tz[3] - '0') * 10 + (tz[4] - '0');
		if (oh > 23 || om > 59)
			return false;
		off = (long)(oh * 60 + om) * 60 * (tmp[p] == '-' ? -1 : 1);
	} else {
		return false;
	}
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
		return false;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo == 2 && d == 29 && !leap)
		return false;
	/* Days from the civil date (H. Hinnant's algorithm): no timegm, no
	 * TZ dependence. */
	int yy = y - (mo <= 2);
	int era = (yy >= 0 ? yy : yy - 399) / 400;
	int yoe = yy - era * 400;
	int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	int64_t days = (int64_t)era * 146097 + doe - 719468;
	*t_r = days * 86400 + h * 3600 + mi * 60 + (sec > 59 ? 59 : sec) - off;
	return true;
}

static const struct {
	const char *name;
	enum imap_section_text text;
} texts[] = {
	{ "HEADER.FIELDS.NOT", IMAP_SECTION_HEADER_FIELDS_NOT },
	{ "HEADER.FIELDS", IMAP_SECTION_HEADER_FIELDS },
	{ "HEADER", IMAP_SECTION_HEADER },
	{ "TEXT", IMAP_SECTION_TEXT },
	{ "MIME", IMAP_SECTION_MIME },
};

/* header-list = "(" header-fld-name *(SP header-fld-name) ")", names as
 * atoms (RFC 3501 9), splitting s in place. */
static bool header_list(char *s, struct imap_section *sec)
{
	size_t len = strlen(s);
	if (len < 3 || s[0] != '(' || s[len - 1] != ')')
		return false;
	s[len - 1] = '\0';
	s++;
	size_t cap = 1;
	for (char *q = s; *q; q++)
		if (*q == ' ')
			cap++;
	if (cap > 1000)
		return false;
	sec->fields = calloc(cap, sizeof(*sec->fields));
	if (!sec->fields)
		return false;
	char *save = NULL;
	for (char *tok = strtok_r(s, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		for (char *q = tok; *q; q++)
			if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f || strchr("(){%*\"\\]", *q))
				return false;
		sec->fields[sec->nfields].s = tok;
		sec->fields[sec->nfields].len = strlen(tok);
		sec->nfields++;
	}
	/* A space anywhere but between two names (two in a row, or at the
	 * ends) left fewer names than gaps. */
	return sec->nfields == cap;
}

/* enc-section (RFC 5092 9): section-text / (section-part ["." section-text]),
 * decoded into url->section_mem. */
static bool section_parse(struct imap_url *url, const char *s, size_t len, const char **error_r)
{
	char *t = pct_decode(s, len, error_r);
	if (!t)
		return false;
	url->section_mem = t;
	struct imap_section *sec = &url->section;
	char *p = t;
	size_t cap = 0;
	bool after_dot = false;   /* a part number and "." were taken */
	while (isdigit((unsigned char)*p)) {
		char *e = p;
		while (isdigit((unsigned char)*e))
			e++;
		uint64_t v;
		if (!num_parse(p, (size_t)(e - p), false, UINT32_MAX, &v))
			goto bad;
		if (sec->nparts == cap) {
			cap = cap ? cap * 2 : 4;
			if (cap > 256)
				goto bad;
			uint32_t *np = realloc(sec->parts, cap * sizeof(*np));
			if (!np)
				goto bad;
			sec->parts = np;
		}
		sec->parts[sec->nparts++] = (uint32_t)v;
		p = e;
		if (*p != '.')
			break;
		p++;
		after_dot = !isdigit((unsigned char)*p);
		if (after_dot)
			break;   /* "." section-text */
	}
	if (*p == '\0' && sec->nparts > 0 && !after_dot)
		return true;
	if (*p == '\0' || (sec->nparts > 0 && !after_dot))
		goto bad;
	for (size_t k = 0; k < sizeof(texts) / sizeof(texts[0]); k++) {
		size_t n = strlen(texts[k].name);
		if (strncasecmp(p, texts[k].name, n) != 0)
			continue;
		char *rest = p + n;
		if (texts[k].text == IMAP_SECTION_HEADER_FIELDS ||
		    texts[k].text == IMAP_SECTION_HEADER_FIELDS_NOT) {
			if (*rest != ' ' || !header_list(rest + 1, sec))
				goto bad;
		} else if (*rest != '\0') {
			continue;   /* HEADERX, HEADER.FIELDSX: try the others */
		}
		/* RFC 3501 9: MIME only after a part number. */
		if (texts[k].text == IMAP_SECTION_MIME && sec->nparts == 0)
			goto bad;
		sec->text = texts[k].text;
		return true;
	}
bad:
	*error_r = "Invalid section in URL";
	return false;
}

/* access (RFC 4467 9) and an optional ":" mechanism ":" token. */
static bool urlauth_parse(struct imap_url *url, struct cur *c, const char **error_r)
{
	size_t start = c->pos, n = value_len(c);
	const char *v = c->s + start;
	const char *colon = memchr(v, ':', n);
	size_t alen = colon ? (size_t)(colon - v) : n;
	*error_r = "Invalid URLAUTH access identifier";
	if (alen == 8 && strncasecmp(v, "authuser", 8) == 0) {
		url->access = IMAP_URL_ACCESS_AUTHUSER;
	} else if (alen == 9 && strncasecmp(v, "anonymous", 9) == 0) {
		url->access = IMAP_URL_ACCESS_ANONYMOUS;
	} else if (alen > 5 && strncasecmp(v, "user+", 5) == 0) {
		url->access = IMAP_URL_ACCESS_USER;
		if (!(url->access_user = pct_decode(v + 5, alen - 5, error_r)))
			return false;
	} else if (alen > 7 && strncasecmp(v, "submit+", 7) == 0) {
		url->access = IMAP_URL_ACCESS_SUBMIT;
		if (!(url->access_user = pct_decode(v + 7, alen - 7, error_r)))
			return false;
	} else {
		return false;
	}
	url->rump_len = start + alen;
	if (colon) {
		/* iua-verifier = ":" uauth-mechanism ":" enc-urlauth */
		const char *m = colon + 1, *end = v + n;
		const char *c2 = memchr(m, ':', (size_t)(end - m));
		*error_r = "Invalid URLAUTH verifier";
		if (!c2 || c2 == m)
			return false;
		for (const char *q = m; q < c2; q++)
			if (!isalnum((unsigned char)*q) && *q != '-' && *q != '.')
				return false;
		size_t tl = (size_t)(end - c2 - 1);
		if (tl < 32)
			return false;
		for (const char *q = c2 + 1; q < end; q++)
			if (!isxdigit((unsigned char)*q))
				return false;
		url->mechanism = strndup(m, (size_t)(c2 - m));
		url->token = strndup(c2 + 1, tl);
		if (!url->mechanism || !url->token) {
			*error_r = "Out of memory";
			return false;
		}
	}
	c->pos += n;
	return true;
}

/* partial-range = number ["." nz-number] (RFC 5092 9), after ";PARTIAL=". */
static bool partial_parse(struct imap_url *url, struct cur *c, const char **error_r)
{
	size_t n = value_len(c);
	const char *p = c->s + c->pos;
	const char *dot = memchr(p, '.', n);
	size_t ol = dot ? (size_t)(dot - p) : n;
	if (!num_parse(p, ol, true, UINT32_MAX, &url->partial_off) ||
	    (dot && !num_parse(dot + 1, n - ol - 1, false, UINT32_MAX, &url->partial_len))) {
		*error_r = "Invalid PARTIAL in URL";
		return false;
	}
	url->has_partial = true;
	url->partial_has_len = dot != NULL;
	c->pos += n;
	return true;
}

/* iserver (RFC 5092 3.2): [iuserinfo "@"] host [":" port], up to '/'. */
static bool server_parse(struct imap_url *url, struct cur *c, const char **error_r)
{
	size_t start = c->pos;
	while (c->pos < c->len && c->s[c->pos] != '/')
		c->pos++;
	const char *a = c->s + start;
	size_t alen = c->pos - start;
	const char *at = memchr(a, '@', alen);
	*error_r = "Invalid server in URL";
	if (at) {
		size_t ulen = (size_t)(at - a);
		/* iuserinfo = enc-user [iauth] / [enc-user] iauth */
		const char *semi = memchr(a, ';', ulen);
		size_t nlen = semi ? (size_t)(semi - a) : ulen;
		if (semi && (ulen - nlen < 7 || strncasecmp(semi, ";AUTH=", 6) != 0))
			return false;
		if (nlen == 0 && !semi)
			return false;
		if (nlen && !(url->user = pct_decode(a, nlen, error_r)))
			return false;
		alen -= ulen + 1;
		a = at + 1;
	}
	if (alen == 0)
		return false;
	const char *hend = a + alen;
	if (a[0] == '[') {
		const char *rb = memchr(a, ']', alen);
		if (!rb)
			return false;
		hend = rb + 1;
	} else {
		const char *colon = memchr(a, ':', alen);
		if (colon)
			hend = colon;
	}
	if (hend == a)
		return false;
	if (hend < a + alen) {
		uint64_t port;
		if (*hend != ':' || !num_parse(hend + 1, (size_t)(a + alen - hend - 1), true, 65535, &port))
			return false;
	}
	for (const char *q = a; q < hend; q++)
		if (*q == '@' || *q == ';')
			return false;
	if (!(url->host = pct_decode(a, (size_t)(hend - a), error_r)))
		return false;
	for (char *q = url->host; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	return true;
}

/* The characters a URL may hold at all (RFC 3986 2: printable US-ASCII
 * without space, quote, angle brackets, backslash and the like). */
static bool url_chars_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch <= ' ' || ch >= 0x7f || strchr("\"<>\\^`{|}", ch))
			return false;
	}
	return true;
}

int imap_url_parse(const char *s, size_t len, struct imap_url *url_r, const char **error_r)
{
	memset(url_r, 0, sizeof(*url_r));
	struct imap_url *url = url_r;
	struct cur c = { s, len, 0 };
	const char *err = "Invalid IMAP URL";
	if (len == 0 || len > IMAP_URL_MAX || !url_chars_ok(s, len))
		goto bad;
	if (len > 7 && strncasecmp(s, "imap://", 7) == 0) {
		url->form = IMAP_URL_ABSOLUTE;
		c.pos = 7;
	} else if (len > 2 && s[0] == '/' && s[1] == '/') {
		url->form = IMAP_URL_ABSOLUTE;   /* inetwork-path (RFC 5092 7) */
		c.pos = 2;
	} else if (s[0] == '/') {
		url->form = IMAP_URL_SERVER;
	} else if (s[0] == ';') {
		url->form = IMAP_URL_MAILBOX;
	} else {
		goto bad;
	}
	if (url->form == IMAP_URL_ABSOLUTE && !server_parse(url, &c, &err))
		goto bad;
	if (url->form != IMAP_URL_MAILBOX) {
		/* "/" imailbox-ref */
		if (at_end(&c) || s[c.pos] != '/') {
			err = "URL names no message";
			goto bad;
		}
		c.pos++;
		size_t start = c.pos;
		while (c.pos < len && s[c.pos] != ';')
			c.pos++;
		size_t mlen = c.pos - start;
		bool slash = mlen > 0 && s[start + mlen - 1] == '/';
		if (slash)
			mlen--;
		if (mlen == 0) {
			err = at_end(&c) ? "URL names no message" : "URL names no mailbox";
			goto bad;
		}
		if (!(url->mailbox = pct_decode(s + start, mlen, &err)))
			goto bad;
		if (!slash) {
			uint64_t v;
			if (!take_param(&c, "UIDVALIDITY") || !take_number(&c, false, UINT32_MAX, &v)) {
				err = at_end(&c) ? "URL names no message" : "Invalid UIDVALIDITY in URL";
				goto bad;
			}
			url->has_uidvalidity = true;
			url->uidvalidity = (uint32_t)v;
			if (at_end(&c) || s[c.pos] != '/') {
				err = "URL names no message";
				goto bad;
			}
			c.pos++;
		}
	}
	uint64_t v;
	if (!take_param(&c, "UID") || !take_number(&c, false, UINT32_MAX, &v)) {
		err = "URL names no message (;UID=)";
		goto bad;
	}
	url->uid = (uint32_t)v;
	/* ["/" isection-only] ["/" ipartial-only], each after a "/". */
	bool partial_next = false;
	if (!at_end(&c) && s[c.pos] == '/') {
		c.pos++;
		if (take_param(&c, "SECTION")) {
			size_t n = value_len(&c);
			if (!section_parse(url, s + c.pos, n, &err))
				goto bad;
			url->has_section = true;
			c.pos += n;
			if (!at_end(&c) && s[c.pos] == '/') {
				c.pos++;
				partial_next = true;
			}
		} else {
			partial_next = true;
		}
		if (partial_next && !take_param(&c, "PARTIAL")) {
			err = "Invalid IMAP URL";
			goto bad;
		}
	}
	if (partial_next && !partial_parse(url, &c, &err))
		goto bad;
	if (take_param(&c, "EXPIRE")) {
		size_t n = value_len(&c);
		if (!datetime_parse(s + c.pos, n, &url->expire)) {
			err = "Invalid EXPIRE in URL";
			goto bad;
		}
		url->has_expire = true;
		c.pos += n;
		if (at_end(&c)) {
			err = "EXPIRE without URLAUTH in URL";
			goto bad;
		}
	}
	if (take_param(&c, "URLAUTH") && !urlauth_parse(url, &c, &err))
		goto bad;
	if (!at_end(&c)) {
		err = "Invalid IMAP URL";
		goto bad;
	}
	return 0;
bad:
	imap_url_clear(url);
	*error_r = err;
	return -1;
}

void imap_url_clear(struct imap_url *url)
{
	free(url->user);
	free(url->host);
	free(url->mailbox);
	free(url->section.parts);
	free(url->section.fields);
	free(url->section_mem);
	free(url->access_user);
	free(url->mechanism);
	free(url->token);
	memset(url, 0, sizeof(*url));
}
