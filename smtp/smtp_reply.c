/* smtp/smtp_reply.c: SMTP replies as a client reads them (RFC 5321 4.2),
 * and the EHLO keywords inside one.  Pure code over a byte buffer. */
#include "smtp/smtp_reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void smtp_reply_init(struct smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->text, SMTP_REPLY_BYTES_MAX + SMTP_REPLY_LINES_MAX);
}

void smtp_reply_free(struct smtp_reply *r)
{
	buf_free(&r->text);
}

static void reply_restart(struct smtp_reply *r)
{
	r->code = 0;
	r->status[0] = '\0';
	r->nlines = 0;
	r->total = 0;
	r->err[0] = '\0';
	r->done = false;
	buf_reset(&r->text);
}

static enum smtp_reply_rc reply_fail(struct smtp_reply *r, const char *why)
{
	snprintf(r->err, sizeof(r->err), "%s", why);
	return SMTP_REPLY_ERROR;
}

/* Length of an RFC 3463 status "class.subject.detail" at p (class 2, 4 or
 * 5, subject and detail 1-3 digits), followed by a space or the end; 0 if
 * there is none. */
static size_t status_len(const char *p, size_t n)
{
	if (n < 5 || (p[0] != '2' && p[0] != '4' && p[0] != '5') || p[1] != '.')
		return 0;
	size_t i = 2;
	for (int part = 0; part < 2; part++) {
		size_t start = i;
		while (i < n && i - start < 4 && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == start || i - start > 3)
			return 0;
		if (part == 0) {
			if (i >= n || p[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < n && p[i] != ' ')
		return 0;
	return i;
}

/* One line without its end of line: check it and add it to r.  1 when it
 * was the last line of the reply, 0 when more follow, -1 on error. */
static int reply_line_add(struct smtp_reply *r, const char *line, size_t n)
{
	if (memchr(line, '\0', n)) {
		reply_fail(r, "NUL byte in a reply line");
		return -1;
	}
	if (n < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' ||
	    line[2] < '0' || line[2] > '9' || (n > 3 && line[3] != ' ' && line[3] != '-')) {
		reply_fail(r, "malformed reply line (no reply code)");
		return -1;
	}
	int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (r->nlines > 0 && code != r->code) {
		reply_fail(r, "reply code changes inside a multi-line reply");
		return -1;
	}
	if (r->nlines >= SMTP_REPLY_LINES_MAX) {
		reply_fail(r, "reply has too many lines");
		return -1;
	}
	r->code = code;
	bool last = n == 3 || line[3] == ' ';
	const char *t = n > 4 ? line + 4 : "";
	size_t tn = n > 4 ? n - 4 : 0;
	size_t sl = status_len(t, tn);
	/* A status whose class differs from the code's is not one (RFC 3463 2:
	 * the class must match); it stays in the text. */
	if (sl > 0 && t[0] == line[0] && sl < sizeof(r->status)) {
		if (r->nlines == 0) {
			memcpy(r->status, t, sl);
			r->status[sl] = '\0';
		}
		/* Servers repeat the status on every line; drop the repeats. */
		if (r->nlines == 0 || (strlen(r->status) == sl && memcmp(r->status, t, sl) == 0)) {
			t += sl;
			tn -= sl;
			while (tn > 0 && *t == ' ') {
				t++;
				tn--;
			}
		}
	}
	if (buf_append(&r->text, t, tn) < 0 || buf_putc(&r->text, '\0') < 0) {
		reply_fail(r, "reply too long");
		return -1;
	}
	r->nlines++;
	return last ? 1 : 0;
}

enum smtp_reply_rc smtp_reply_parse(struct smtp_reply *r, const char *data, size_t len,
				    size_t *consumed_r)
{
	if (r->done)
		reply_restart(r);
	size_t pos = 0;
	*consumed_r = 0;
	while (pos < len) {
		size_t avail = len - pos;
		size_t look = avail < SMTP_REPLY_LINE_MAX + 2 ? avail : SMTP_REPLY_LINE_MAX + 2;
		const char *nl = memchr(data + pos, '\n', look);
		if (!nl) {
			if (avail > SMTP_REPLY_LINE_MAX + 1)
				return reply_fail(r, "reply line too long");
			return SMTP_REPLY_MORE;
		}
		size_t linelen = (size_t)(nl - (data + pos));
		size_t eol = 1;
		/* A bare LF ends a line too: be liberal in what we accept. */
		if (linelen > 0 && data[pos + linelen - 1] == '\r') {
			linelen--;
			eol = 2;
		}
		if (linelen > SMTP_REPLY_LINE_MAX)
			return reply_fail(r, "reply line too long");
		if (r->total + linelen + eol > SMTP_REPLY_BYTES_MAX)
			return reply_fail(r, "reply too long");
		r->total += linelen + eol;
		int last = reply_line_add(r, data + pos, linelen);
		if (last < 0)
			return SMTP_REPLY_ERROR;
		pos += linelen + eol;
		*consumed_r = pos;
		if (last) {
			r->done = true;
			return SMTP_REPLY_DONE;
		}
	}
	return SMTP_REPLY_MORE;
}

const char *smtp_reply_line(const struct smtp_reply *r, size_t i)
{
	if (i >= r->nlines)
		return NULL;
	const char *p = r->text.data;
	while (i-- > 0)
		p += strlen(p) + 1;
	return p;
}

void smtp_reply_text_oneline(const struct smtp_reply *r, char *out, size_t outlen)
{
	size_t o = 0;
	if (outlen == 0)
		return;
	for (size_t i = 0; i < r->nlines && o + 1 < outlen; i++) {
		const char *p = smtp_reply_line(r, i);
		if (i > 0 && o + 1 < outlen && *p)
			out[o++] = ' ';
		for (; *p && o + 1 < outlen; p++) {
			unsigned char ch = (unsigned char)*p;
			out[o++] = ch < 0x20 || ch >= 0x7f ? '?' : (char)ch;
		}
	}
	out[o] = '\0';
}

/* Does the line start with keyword kw as a whole word?  Then *params_r
 * points after it (and its separating spaces). */
static bool keyword_is(const char *line, const char *kw, const char **params_r)
{
	size_t n = strlen(kw);
	if (strncasecmp(line, kw, n) != 0 || (line[n] != '\0' && line[n] != ' '))
		return false;
	const char *p = line + n;
	while (*p == ' ')
		p++;
	*params_r = p;
	return true;
}

static void auth_mechs_parse(const char *p, struct smtp_ehlo *e)
{
	while (*p) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ");
		if (n == 5 && strncasecmp(p, "PLAIN", 5) == 0)
			e->auth |= SMTP_AUTH_PLAIN;
		else if (n == 5 && strncasecmp(p, "LOGIN", 5) == 0)
			e->auth |= SMTP_AUTH_LOGIN;
		p += n;
	}
}

void smtp_ehlo_parse(const struct smtp_reply *r, struct smtp_ehlo *e_r)
{
	static const struct {
		const char *kw;
		unsigned bit;
	} simple[] = {
		{ "PIPELINING", SMTP_EXT_PIPELINING },
		{ "8BITMIME", SMTP_EXT_8BITMIME },
		{ "SMTPUTF8", SMTP_EXT_SMTPUTF8 },
		{ "STARTTLS", SMTP_EXT_STARTTLS },
		{ "DSN", SMTP_EXT_DSN },
		{ "CHUNKING", SMTP_EXT_CHUNKING },
		{ "ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCEDSTATUSCODES },
	};
	memset(e_r, 0, sizeof(*e_r));
	for (size_t i = 1; i < r->nlines; i++) {
		const char *line = smtp_reply_line(r, i);
		const char *params;
		if (keyword_is(line, "SIZE", &params)) {
			/* RFC 1870 4: SIZE with no number or 0 means no fixed limit. */
			e_r->ext |= SMTP_EXT_SIZE;
			char *end;
			unsigned long long v = 0;
			if (*params >= '0' && *params <= '9')
				v = strtoull(params, &end, 10);
			e_r->size_max = v;
			continue;
		}
		if (keyword_is(line, "AUTH", &params)) {
			e_r->ext |= SMTP_EXT_AUTH;
			auth_mechs_parse(params, e_r);
			continue;
		}
		for (size_t k = 0; k < sizeof(simple) / sizeof(simple[0]); k++)
			if (keyword_is(line, simple[k].kw, &params))
				e_r->ext |= simple[k].bit;
	}
}
