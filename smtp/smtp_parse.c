/* smtp/smtp_parse.c: the pure SMTP command parsers (see smtp_parse.h): the
 * verb table, RFC 5321 4.1.2 paths (Dot-string and Quoted-string local
 * parts, domains, address literals, source routes) and the ESMTP parameter
 * table for MAIL FROM.  No I/O; every input is a length-carrying buffer that
 * may hold NUL bytes. */
#include "smtp/smtp_parse.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

const char *smtp_perr_str(enum smtp_perr err)
{
	switch (err) {
	case SMTP_P_OK: return "ok";
	case SMTP_P_EMPTY: return "empty command";
	case SMTP_P_BAD_CHAR: return "control character in command";
	case SMTP_P_UNKNOWN_VERB: return "unknown command";
	case SMTP_P_SYNTAX: return "syntax error";
	case SMTP_P_PATH_SYNTAX: return "bad address syntax";
	case SMTP_P_PATH_8BIT: return "non-ASCII address not permitted";
	case SMTP_P_PATH_UTF8: return "address is not valid UTF-8";
	case SMTP_P_LOCAL_TOO_LONG: return "local part too long";
	case SMTP_P_DOMAIN_TOO_LONG: return "domain too long";
	case SMTP_P_PATH_TOO_LONG: return "path too long";
	case SMTP_P_NULL_PATH: return "null path not allowed here";
	case SMTP_P_PARAM_SYNTAX: return "bad parameter syntax";
	case SMTP_P_PARAM_UNKNOWN: return "parameter not recognized";
	case SMTP_P_PARAM_DUP: return "duplicate parameter";
	case SMTP_P_PARAM_VALUE: return "bad parameter value";
	case SMTP_P_BARE_LF: return "bare <LF> received";
	case SMTP_P_BARE_CR: return "bare <CR> received";
	}
	return "error";
}

/* ---- command line ---- */

static const char *const verb_names[SMTP_VERB_COUNT] = {
	[SMTP_VERB_UNKNOWN] = "",
	[SMTP_VERB_HELO] = "HELO",
	[SMTP_VERB_EHLO] = "EHLO",
	[SMTP_VERB_MAIL] = "MAIL",
	[SMTP_VERB_RCPT] = "RCPT",
	[SMTP_VERB_DATA] = "DATA",
	[SMTP_VERB_BDAT] = "BDAT",
	[SMTP_VERB_RSET] = "RSET",
	[SMTP_VERB_NOOP] = "NOOP",
	[SMTP_VERB_QUIT] = "QUIT",
	[SMTP_VERB_VRFY] = "VRFY",
	[SMTP_VERB_EXPN] = "EXPN",
	[SMTP_VERB_HELP] = "HELP",
	[SMTP_VERB_STARTTLS] = "STARTTLS",
	[SMTP_VERB_AUTH] = "AUTH",
};

const char *smtp_verb_name(enum smtp_verb verb)
{
	if ((unsigned)verb >= SMTP_VERB_COUNT)
		return "";
	return verb_names[verb];
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

enum smtp_perr smtp_parse_line_end(const char *line, size_t len, bool crlf)
{
	if (!crlf)
		return SMTP_P_BARE_LF;
	if (memchr(line, '\r', len))
		return SMTP_P_BARE_CR;
	return SMTP_P_OK;
}

enum smtp_perr smtp_parse_command(const char *line, size_t len, struct smtp_cmdline *cmd_r)
{
	memset(cmd_r, 0, sizeof(*cmd_r));
	if (len == 0)
		return SMTP_P_EMPTY;
	/* RFC 5321 4.1.1: commands are ASCII text; a NUL or control byte is
	 * never part of a valid command (HTAB is tolerated as a blank). */
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return SMTP_P_BAD_CHAR;
	}
	size_t i = 0;
	while (i < len && !is_blank(line[i]))
		i++;
	cmd_r->verb_text = line;
	cmd_r->verb_len = i;
	size_t a = i;
	while (a < len && is_blank(line[a]))
		a++;
	size_t end = len;
	while (end > a && is_blank(line[end - 1]))
		end--;
	cmd_r->arg = line + a;
	cmd_r->arg_len = end - a;
	for (int v = SMTP_VERB_UNKNOWN + 1; v < SMTP_VERB_COUNT; v++) {
		/* RFC 5321 2.4: verbs are case-insensitive. */
		if (strlen(verb_names[v]) == i && strncasecmp(verb_names[v], line, i) == 0) {
			cmd_r->verb = (enum smtp_verb)v;
			return SMTP_P_OK;
		}
	}
	return SMTP_P_UNKNOWN_VERB;
}

/* ---- paths ---- */

static bool is_alpha(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_digit(unsigned char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_letdig(unsigned char ch)
{
	return is_alpha(ch) || is_digit(ch);
}

/* RFC 5322 3.2.3 atext, which RFC 5321 4.1.2 uses for Atom. */
static bool is_atext(unsigned char ch)
{
	return is_letdig(ch) || (ch != 0 && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL);
}

/* RFC 5321 4.1.3 dcontent: printable US-ASCII except "[", "\", "]". */
static bool is_dcontent(unsigned char ch)
{
	return (ch >= 33 && ch <= 90) || (ch >= 94 && ch <= 126);
}

size_t smtp_utf8_char(const char *str, size_t len)
{
	/* RFC 3629 4 (UTF8-2, UTF8-3, UTF8-4): the second byte's range is what
	 * excludes overlong forms (C0, C1, E0 80-9F, F0 80-8F), surrogates
	 * (ED A0-BF) and code points past U+10FFFF (F4 90-, F5-). */
	const unsigned char *s = (const unsigned char *)str;
	if (len == 0 || s[0] < 0x80)
		return 0;
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	/* The C1 controls U+0080..U+009F: no more welcome than C0 ones. */
	if (c == 0xc2 && s[1] <= 0x9f)
		return 0;
	return n;
}

/* How many octets of UTF8-non-ascii start at s (0: none, or not valid
 * UTF-8); *bad_r is set for an octet >= 0x80 that is not valid UTF-8. */
static size_t utf8_at(const char *s, size_t len, bool *bad_r)
{
	if (len == 0 || (unsigned char)s[0] < 0x80)
		return 0;
	size_t n = smtp_utf8_char(s, len);
	if (n == 0)
		*bad_r = true;
	return n;
}

/* Domain = sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str]
 * (RFC 5321 4.1.2); labels are at most 63 octets (RFC 1035 2.3.4). */
static enum smtp_perr scan_domain(const char *s, size_t len, bool *utf8_r, size_t *used_r)
{
	/* RFC 6531 3.3: sub-domain =/ U-label, so a label may also hold
	 * UTF-8 (checked strictly; IDNA's finer rules are the registry's). */
	size_t i = 0;
	bool bad = false;
	for (;;) {
		size_t start = i, u;
		if (i < len && (u = utf8_at(s + i, len - i, &bad)) > 0) {
			*utf8_r = true;
			i += u;
		} else if (i >= len || !is_letdig((unsigned char)s[i])) {
			return bad ? SMTP_P_PATH_UTF8 : SMTP_P_PATH_SYNTAX;
		}
		for (;;) {
			if (i < len && (is_letdig((unsigned char)s[i]) || s[i] == '-')) {
				i++;
			} else if (i < len && (u = utf8_at(s + i, len - i, &bad)) > 0) {
				*utf8_r = true;
				i += u;
			} else {
				break;
			}
		}
		if (bad)
			return SMTP_P_PATH_UTF8;
		if (s[i - 1] == '-' || i - start > 63)
			return SMTP_P_PATH_SYNTAX;
		if (i < len && s[i] == '.') {
			i++;
			continue;
		}
		break;
	}
	*used_r = i;
	return SMTP_P_OK;
}

/* IPv4-address-literal = Snum 3("." Snum), Snum = 1*3DIGIT (0..255). */
static bool ipv4_literal_valid(const char *s, size_t len)
{
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
		unsigned v = 0;
		size_t nd = 0;
		while (i < len && is_digit((unsigned char)s[i]) && nd < 3) {
			v = v * 10 + (unsigned)(s[i] - '0');
			i++;
			nd++;
		}
		if (nd == 0 || v > 255)
			return false;
	}
	return i == len;
}

/* address-literal = "[" ( IPv4 / IPv6 / General-address-literal ) "]"
 * (RFC 5321 4.1.3).  s[0] is '['. */
static enum smtp_perr scan_literal(const char *s, size_t len, size_t *used_r)
{
	size_t i = 1;
	while (i < len && is_dcontent((unsigned char)s[i]))
		i++;
	if (i >= len || s[i] != ']' || i == 1)
		return SMTP_P_PATH_SYNTAX;
	const char *in = s + 1;
	size_t n = i - 1;
	*used_r = i + 1;
	if (ipv4_literal_valid(in, n))
		return SMTP_P_OK;
	if (n > 5 && strncasecmp(in, "IPv6:", 5) == 0) {
		char tmp[64];
		unsigned char addr[16];
		if (n - 5 >= sizeof(tmp))
			return SMTP_P_PATH_SYNTAX;
		memcpy(tmp, in + 5, n - 5);
		tmp[n - 5] = '\0';
		return inet_pton(AF_INET6, tmp, addr) == 1 ? SMTP_P_OK : SMTP_P_PATH_SYNTAX;
	}
	/* General-address-literal = Standardized-tag ":" 1*dcontent, the tag
	 * an Ldh-str.  Nothing is registered besides IPv6, but it is syntax. */
	size_t t = 0;
	while (t < n && (is_letdig((unsigned char)in[t]) || in[t] == '-'))
		t++;
	if (t == 0 || t >= n - 1 || in[t] != ':' || in[t - 1] == '-' ||
	    !is_letdig((unsigned char)in[0]))
		return SMTP_P_PATH_SYNTAX;
	return SMTP_P_OK;
}

/* Local part content that is a valid Dot-string needs no quotes
 * (RFC 5321 4.1.2: "all quoted forms MUST be treated as equivalent"). */
static bool is_dot_string(const char *s, size_t len)
{
	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (s[i - 1] == '.')
				return false;
		} else if (!is_atext((unsigned char)s[i]) && (unsigned char)s[i] < 0x80) {
			/* octets >= 0x80 were checked as UTF-8 (RFC 6531 3.3 atext) */
			return false;
		}
	}
	return true;
}

static void path_build_address(struct smtp_path *p)
{
	size_t n = 0;
	char *out = p->address;
	if (is_dot_string(p->local, p->local_len)) {
		memcpy(out, p->local, p->local_len);
		n = p->local_len;
	} else {
		/* Canonical Quoted-string: only '"' and '\' are escaped, which
		 * the client had to escape too, so this is never longer than
		 * what was sent (<= SMTP_LOCAL_MAX). */
		out[n++] = '"';
		for (size_t i = 0; i < p->local_len; i++) {
			if (p->local[i] == '"' || p->local[i] == '\\')
				out[n++] = '\\';
			out[n++] = p->local[i];
		}
		out[n++] = '"';
	}
	out[n++] = '@';
	memcpy(out + n, p->domain, p->domain_len);
	n += p->domain_len;
	out[n] = '\0';
	p->address_len = n;
}

static void local_put(struct smtp_path *p, char ch)
{
	if (p->local_len < SMTP_LOCAL_MAX)
		p->local[p->local_len] = ch;
	p->local_len++;
}

enum smtp_perr smtp_parse_path(const char *s, size_t len, bool reverse, struct smtp_path *path_r,
			       size_t *used_r)
{
	struct smtp_path *p = path_r;
	memset(p, 0, sizeof(*p));
	*used_r = 0;
	if (len == 0 || s[0] != '<')
		return SMTP_P_SYNTAX;
	size_t i = 1;
	if (i < len && s[i] == '>') {
		/* RFC 5321 4.1.1.2: the null reverse-path, for bounces. */
		if (!reverse)
			return SMTP_P_NULL_PATH;
		p->null = true;
		*used_r = 2;
		return SMTP_P_OK;
	}
	if (i < len && s[i] == '@') {
		/* A-d-l ":" -- RFC 5321 4.1.1.3 and appendix C: accept the
		 * source route syntactically, then ignore it. */
		for (;;) {
			if (i >= len || s[i] != '@')
				return SMTP_P_PATH_SYNTAX;
			i++;
			size_t dl;
			enum smtp_perr drc = scan_domain(s + i, len - i, &p->utf8, &dl);
			if (drc != SMTP_P_OK)
				return drc;
			i += dl;
			if (i < len && s[i] == ',') {
				i++;
				continue;
			}
			if (i < len && s[i] == ':') {
				i++;
				break;
			}
			return SMTP_P_PATH_SYNTAX;
		}
		p->routed = true;
	}

	size_t lstart = i;
	if (i < len && s[i] == '"') {
		/* Quoted-string: qtextSMTP = %d32-33 / %d35-91 / %d93-126 and
		 * quoted-pairSMTP = "\" %d32-126 (RFC 5321 4.1.2). */
		p->quoted = true;
		i++;
		for (;;) {
			if (i >= len)
				return SMTP_P_PATH_SYNTAX;
			unsigned char ch = (unsigned char)s[i];
			if (ch == '"') {
				i++;
				break;
			}
			size_t u;
			bool bad = false;
			if ((u = utf8_at(s + i, len - i, &bad)) > 0) {
				/* RFC 6531 3.3: qtextSMTP =/ UTF8-non-ascii */
				p->utf8 = true;
				for (size_t k = 0; k < u; k++)
					local_put(p, s[i++]);
				continue;
			}
			if (bad)
				return SMTP_P_PATH_UTF8;
			if (ch == '\\') {
				if (i + 1 >= len)
					return SMTP_P_PATH_SYNTAX;
				ch = (unsigned char)s[i + 1];
				i += 2;
			} else {
				i++;
			}
			if (ch < 32 || ch > 126)
				return SMTP_P_PATH_SYNTAX;
			local_put(p, (char)ch);
		}
	} else {
		/* Dot-string = Atom *("." Atom) */
		for (;;) {
			size_t a = i, u;
			bool bad = false;
			for (;;) {
				if (i < len && is_atext((unsigned char)s[i])) {
					local_put(p, s[i++]);
				} else if ((u = utf8_at(s + i, len - i, &bad)) > 0) {
					/* RFC 6531 3.3: atext =/ UTF8-non-ascii */
					p->utf8 = true;
					for (size_t k = 0; k < u; k++)
						local_put(p, s[i++]);
				} else {
					break;
				}
			}
			if (bad)
				return SMTP_P_PATH_UTF8;
			if (i == a)
				return SMTP_P_PATH_SYNTAX;
			if (i < len && s[i] == '.') {
				local_put(p, s[i++]);
				continue;
			}
			break;
		}
	}
	size_t local_raw = i - lstart;

	if (i < len && s[i] == '>' && !reverse && !p->routed && !p->quoted &&
	    local_raw == 10 && strncasecmp(s + lstart, "postmaster", 10) == 0) {
		/* RFC 5321 4.1.1.3: "<Postmaster>" without a domain. */
		p->postmaster = true;
		memcpy(p->local, "Postmaster", 10);
		p->local[10] = '\0';
		memcpy(p->address, "Postmaster", 11);
		p->address_len = 10;
		*used_r = i + 1;
		return SMTP_P_OK;
	}
	if (i >= len || s[i] != '@')
		return SMTP_P_PATH_SYNTAX;
	i++;
	size_t dstart = i, dl;
	enum smtp_perr rc;
	if (i < len && s[i] == '[') {
		rc = scan_literal(s + i, len - i, &dl);
		p->domain_literal = true;
	} else {
		rc = scan_domain(s + i, len - i, &p->utf8, &dl);
	}
	if (rc != SMTP_P_OK)
		return rc;
	i += dl;
	if (i >= len || s[i] != '>')
		return SMTP_P_PATH_SYNTAX;
	i++;

	if (local_raw > SMTP_LOCAL_MAX)
		return SMTP_P_LOCAL_TOO_LONG;
	if (dl > SMTP_DOMAIN_MAX)
		return SMTP_P_DOMAIN_TOO_LONG;
	if (i > SMTP_PATH_MAX)
		return SMTP_P_PATH_TOO_LONG;
	p->local[p->local_len] = '\0';
	memcpy(p->domain, s + dstart, dl);
	p->domain[dl] = '\0';
	p->domain_len = dl;
	/* Relay tricks (user%other@us, host!user@us, "user@other"@us): we
	 * never route on the local part, and refusing them here keeps us
	 * from being an open relay for anything behind us that would. */
	for (size_t k = 0; k < p->local_len; k++)
		if (p->local[k] == '%' || p->local[k] == '!' || p->local[k] == '@')
			p->route_chars = true;
	path_build_address(p);
	*used_r = i;
	return SMTP_P_OK;
}

/* ---- ESMTP parameters (RFC 5321 4.1.2 Mail-parameters) ---- */

static enum smtp_perr param_size(struct smtp_mail_args *m, const char *v, size_t n)
{
	/* RFC 1870 6: size-value ::= 1*20DIGIT.  A value too big for 64 bits
	 * is still a syntactically valid, absurdly large size. */
	if (n == 0 || n > 20)
		return SMTP_P_PARAM_VALUE;
	uint64_t size = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit((unsigned char)v[i]))
			return SMTP_P_PARAM_VALUE;
		unsigned d = (unsigned)(v[i] - '0');
		if (size > (UINT64_MAX - d) / 10)
			size = UINT64_MAX;
		else
			size = size * 10 + d;
	}
	m->has_size = true;
	m->size = size;
	return SMTP_P_OK;
}

static enum smtp_perr param_body(struct smtp_mail_args *m, const char *v, size_t n)
{
	/* RFC 1652 3: BODY=7BIT / BODY=8BITMIME. */
	if (n == 4 && strncasecmp(v, "7BIT", 4) == 0)
		m->body = SMTP_BODY_7BIT;
	else if (n == 8 && strncasecmp(v, "8BITMIME", 8) == 0)
		m->body = SMTP_BODY_8BITMIME;
	else
		return SMTP_P_PARAM_VALUE;
	return SMTP_P_OK;
}

static bool is_hex_upper(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F');
}

static enum smtp_perr param_auth(struct smtp_mail_args *m, const char *v, size_t n)
{
	/* RFC 4954 5: AUTH=<> or AUTH=xtext (RFC 3461 4: "+" HEXCHAR HEXCHAR
	 * or a printable ASCII character other than "+" and "=").  The value
	 * only says who the message came from upstream; we accept it and do
	 * not pass it on (we relay to nobody who would use it). */
	if (n == 2 && v[0] == '<' && v[1] == '>') {
		m->has_auth = true;
		return SMTP_P_OK;
	}
	if (n == 0)
		return SMTP_P_PARAM_VALUE;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];
		if (ch == '+') {
			if (n - i < 3)
				return SMTP_P_PARAM_VALUE;
			if (!is_hex_upper((unsigned char)v[i + 1]) || !is_hex_upper((unsigned char)v[i + 2]))
				return SMTP_P_PARAM_VALUE;
			i += 2;
		} else if (ch < 33 || ch > 126 || ch == '=') {
			return SMTP_P_PARAM_VALUE;
		}
	}
	m->has_auth = true;
	return SMTP_P_OK;
}

/* RFC 3461 4: xtext decoded into out (cap bytes with the NUL); the value
 * must be non-empty, well formed, and decode to printable ASCII. */
static enum smtp_perr xtext_decode(const char *v, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	if (n == 0)
		return SMTP_P_PARAM_VALUE;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];
		if (ch == '+') {
			if (n - i < 3 || !is_hex_upper((unsigned char)v[i + 1]) ||
			    !is_hex_upper((unsigned char)v[i + 2]))
				return SMTP_P_PARAM_VALUE;
			unsigned hi = (unsigned)(v[i + 1] <= '9' ? v[i + 1] - '0' : v[i + 1] - 'A' + 10);
			unsigned lo = (unsigned)(v[i + 2] <= '9' ? v[i + 2] - '0' : v[i + 2] - 'A' + 10);
			ch = (unsigned char)(hi * 16 + lo);
			i += 2;
			/* Decoded controls would reach our DSNs' fields. */
			if (ch < 32 || ch > 126)
				return SMTP_P_PARAM_VALUE;
		} else if (ch < 33 || ch > 126 || ch == '=') {
			return SMTP_P_PARAM_VALUE;
		}
		if (o + 1 >= cap)
			return SMTP_P_PARAM_VALUE;
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	return SMTP_P_OK;
}

static enum smtp_perr param_ret(void *t, const char *v, size_t n)
{
	/* RFC 3461 4.3: RET=FULL / RET=HDRS. */
	struct smtp_mail_args *m = t;
	if (n == 4 && strncasecmp(v, "FULL", 4) == 0)
		m->ret = SMTP_RET_FULL;
	else if (n == 4 && strncasecmp(v, "HDRS", 4) == 0)
		m->ret = SMTP_RET_HDRS;
	else
		return SMTP_P_PARAM_VALUE;
	return SMTP_P_OK;
}

static enum smtp_perr param_envid(void *t, const char *v, size_t n)
{
	/* RFC 3461 4.4: at most 100 characters (the xtext as sent). */
	struct smtp_mail_args *m = t;
	if (n > SMTP_ENVID_MAX)
		return SMTP_P_PARAM_VALUE;
	return xtext_decode(v, n, m->envid, sizeof(m->envid));
}

static enum smtp_perr param_notify(void *t, const char *v, size_t n)
{
	/* RFC 3461 4.1: "NEVER" alone, or a list of SUCCESS, FAILURE, DELAY. */
	struct smtp_rcpt_args *r = t;
	unsigned bits = 0;
	size_t i = 0;
	while (i <= n) {
		size_t k = i;
		while (i < n && v[i] != ',')
			i++;
		size_t w = i - k;
		unsigned bit;
		if (w == 5 && strncasecmp(v + k, "NEVER", 5) == 0)
			bit = SMTP_NOTIFY_NEVER;
		else if (w == 7 && strncasecmp(v + k, "SUCCESS", 7) == 0)
			bit = SMTP_NOTIFY_SUCCESS;
		else if (w == 7 && strncasecmp(v + k, "FAILURE", 7) == 0)
			bit = SMTP_NOTIFY_FAILURE;
		else if (w == 5 && strncasecmp(v + k, "DELAY", 5) == 0)
			bit = SMTP_NOTIFY_DELAY;
		else
			return SMTP_P_PARAM_VALUE;
		if (bits & bit)
			return SMTP_P_PARAM_VALUE;
		bits |= bit;
		i++;
	}
	if ((bits & SMTP_NOTIFY_NEVER) && bits != SMTP_NOTIFY_NEVER)
		return SMTP_P_PARAM_VALUE;
	r->notify = bits;
	return SMTP_P_OK;
}

static enum smtp_perr param_orcpt(void *t, const char *v, size_t n)
{
	/* RFC 3461 4.2: addr-type ";" xtext, at most 500 characters; the
	 * addr-type is an atom ("rfc822", "utf-8"...). */
	struct smtp_rcpt_args *r = t;
	const char *semi = memchr(v, ';', n);
	if (n > SMTP_ORCPT_MAX || !semi || semi == v)
		return SMTP_P_PARAM_VALUE;
	for (const char *p = v; p < semi; p++)
		if (!is_letdig((unsigned char)*p) && *p != '-')
			return SMTP_P_PARAM_VALUE;
	size_t tl = (size_t)(semi - v) + 1;
	memcpy(r->orcpt, v, tl);
	return xtext_decode(semi + 1, n - tl, r->orcpt + tl, sizeof(r->orcpt) - tl);
}

static enum smtp_perr param_size_t(void *t, const char *v, size_t n)
{
	return param_size(t, v, n);
}

static enum smtp_perr param_body_t(void *t, const char *v, size_t n)
{
	return param_body(t, v, n);
}

static enum smtp_perr param_auth_t(void *t, const char *v, size_t n)
{
	return param_auth(t, v, n);
}

static enum smtp_perr param_smtputf8(void *t, const char *v, size_t n)
{
	(void)v;
	(void)n;
	((struct smtp_mail_args *)t)->smtputf8 = true;
	return SMTP_P_OK;
}

struct param_def {
	const char *name;
	enum smtp_perr (*fn)(void *target, const char *v, size_t n);
	bool flag;      /* a keyword without "=value" */
};

/* MAIL FROM parameters we implement. */
static const struct param_def mail_params[] = {
	{"SIZE", param_size_t, false},
	{"BODY", param_body_t, false},
	{"AUTH", param_auth_t, false},
	{"RET", param_ret, false},
	{"ENVID", param_envid, false},
	{"SMTPUTF8", param_smtputf8, true},   /* RFC 6531 3.4 */
};
#define NMAIL_PARAMS (sizeof(mail_params) / sizeof(mail_params[0]))

/* RCPT TO parameters (RFC 3461 4.1, 4.2). */
static const struct param_def rcpt_params[] = {
	{"NOTIFY", param_notify, false},
	{"ORCPT", param_orcpt, false},
};
#define NRCPT_PARAMS (sizeof(rcpt_params) / sizeof(rcpt_params[0]))

/* esmtp-value = 1*(%d33-60 / %d62-126) */
static bool is_esmtp_value_char(unsigned char ch)
{
	return (ch >= 33 && ch <= 60) || (ch >= 62 && ch <= 126);
}

/* s is what follows the path; defs/ndefs the command's parameters,
 * written into target. */
static enum smtp_perr parse_params(const char *s, size_t len, const struct param_def *defs,
				   size_t ndefs, void *target)
{
	unsigned seen = 0;
	size_t i = 0;
	if (len > 0 && !is_blank(s[0]))
		return SMTP_P_SYNTAX;
	while (i < len) {
		while (i < len && is_blank(s[i]))
			i++;
		if (i >= len)
			break;
		/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
		size_t k = i;
		if (!is_letdig((unsigned char)s[i]))
			return SMTP_P_PARAM_SYNTAX;
		while (i < len && (is_letdig((unsigned char)s[i]) || s[i] == '-'))
			i++;
		size_t klen = i - k;
		const char *v = NULL;
		size_t vlen = 0;
		bool has_value = false;
		if (i < len && s[i] == '=') {
			has_value = true;
			i++;
			v = s + i;
			while (i < len && is_esmtp_value_char((unsigned char)s[i]))
				i++;
			vlen = (size_t)(s + i - v);
			if (vlen == 0)
				return SMTP_P_PARAM_SYNTAX;
		}
		if (i < len && !is_blank(s[i]))
			return SMTP_P_PARAM_SYNTAX;
		size_t d;
		for (d = 0; d < ndefs; d++)
			if (strlen(defs[d].name) == klen && strncasecmp(defs[d].name, s + k, klen) == 0)
				break;
		/* RFC 5321 4.1.1.11: 555 for a parameter we do not know. */
		if (d == ndefs)
			return SMTP_P_PARAM_UNKNOWN;
		if (seen & (1u << d))
			return SMTP_P_PARAM_DUP;
		seen |= 1u << d;
		if (has_value == defs[d].flag)
			return SMTP_P_PARAM_VALUE;
		enum smtp_perr rc = defs[d].fn(target, v, vlen);
		if (rc != SMTP_P_OK)
			return rc;
	}
	return SMTP_P_OK;
}

/* "FROM:" or "TO:" then an optional blank, then the path. */
static enum smtp_perr parse_path_arg(const char *arg, size_t len, const char *prefix, bool reverse,
				     struct smtp_path *path_r, size_t *used_r)
{
	size_t plen = strlen(prefix);
	if (len < plen || strncasecmp(arg, prefix, plen) != 0)
		return SMTP_P_SYNTAX;
	size_t i = plen;
	/* "MAIL FROM: <a@b>" is not RFC 5321 syntax, but enough clients send
	 * it that refusing it only loses mail; one blank is tolerated. */
	if (i < len && arg[i] == ' ')
		i++;
	if (i >= len || arg[i] != '<')
		return SMTP_P_SYNTAX;
	size_t used;
	enum smtp_perr rc = smtp_parse_path(arg + i, len - i, reverse, path_r, &used);
	if (rc != SMTP_P_OK)
		return rc;
	*used_r = i + used;
	return SMTP_P_OK;
}

enum smtp_perr smtp_parse_mail(const char *arg, size_t len, struct smtp_mail_args *mail_r)
{
	memset(mail_r, 0, sizeof(*mail_r));
	size_t used;
	enum smtp_perr rc = parse_path_arg(arg, len, "FROM:", true, &mail_r->path, &used);
	if (rc != SMTP_P_OK)
		return rc;
	rc = parse_params(arg + used, len - used, mail_params, NMAIL_PARAMS, mail_r);
	if (rc != SMTP_P_OK)
		return rc;
	/* RFC 6531 3.5: a UTF-8 reverse-path only with SMTPUTF8. */
	return mail_r->path.utf8 && !mail_r->smtputf8 ? SMTP_P_PATH_8BIT : SMTP_P_OK;
}

enum smtp_perr smtp_parse_rcpt(const char *arg, size_t len, struct smtp_rcpt_args *rcpt_r)
{
	memset(rcpt_r, 0, sizeof(*rcpt_r));
	size_t used;
	enum smtp_perr rc = parse_path_arg(arg, len, "TO:", false, &rcpt_r->path, &used);
	if (rc != SMTP_P_OK)
		return rc;
	return parse_params(arg + used, len - used, rcpt_params, NRCPT_PARAMS, rcpt_r);
}

enum smtp_perr smtp_parse_bdat(const char *arg, size_t len, uint64_t *size_r, bool *last_r)
{
	/* RFC 3030 4: bdat-cmd = "BDAT" SP chunk-size [SP end-marker],
	 * chunk-size = 1*DIGIT, end-marker = "LAST".  Like RFC 1870's SIZE we
	 * take at most 20 digits, and a value that fits in 64 bits. */
	size_t i = 0;
	uint64_t size = 0;
	while (i < len && is_digit((unsigned char)arg[i])) {
		unsigned d = (unsigned)(arg[i] - '0');
		if (i == 20 || size > (UINT64_MAX - d) / 10)
			return SMTP_P_PARAM_VALUE;
		size = size * 10 + d;
		i++;
	}
	if (i == 0)
		return SMTP_P_PARAM_VALUE;
	bool last = false;
	if (i < len) {
		if (!is_blank(arg[i]))
			return SMTP_P_PARAM_VALUE;
		while (i < len && is_blank(arg[i]))
			i++;
		if (len - i != 4 || strncasecmp(arg + i, "LAST", 4) != 0)
			return SMTP_P_SYNTAX;
		last = true;
	}
	*size_r = size;
	*last_r = last;
	return SMTP_P_OK;
}

int smtp_helo_valid(const char *arg, size_t len)
{
	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)arg[i];
		if (!is_letdig(ch) && (ch == 0 || !strchr("-._:[]", ch)))
			return 0;
	}
	return 1;
}
