/* smtp/smtp_dkim_canon.c: relaxed header and body canonicalization for
 * DKIM (RFC 6376 3.4.2, 3.4.4), incremental over chunks of any size.  Each
 * reader keeps only the state a chunk boundary can cut: a pending CR, a
 * pending run of WSP, and the count of empty lines not yet known to be
 * inside the body rather than at its end. */
#include "smtp/smtp_dkim_canon.h"

#include <string.h>
#include <strings.h>

static bool is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* ---- body ---- */

static void body_flush(struct smtp_dkim_body *b)
{
	if (b->olen) {
		b->out(b->arg, b->obuf, b->olen);
		b->olen = 0;
	}
}

static void body_emit(struct smtp_dkim_body *b, const char *p, size_t n)
{
	if (b->olen + n > sizeof(b->obuf))
		body_flush(b);
	memcpy(b->obuf + b->olen, p, n);
	b->olen += n;
}

/* A run of bytes none of which is WSP or a line end.  Empty lines held
 * back are inside the body after all, and a WSP run before it becomes one
 * SP (leading runs too: 3.4.4 removes only WSP at the end of a line). */
static void body_content(struct smtp_dkim_body *b, const char *p, size_t n)
{
	for (; b->empty_lines; b->empty_lines--)
		body_emit(b, "\r\n", 2);
	if (b->wsp) {
		body_emit(b, " ", 1);
		b->wsp = false;
	}
	if (b->olen + n > sizeof(b->obuf)) {
		body_flush(b);
		if (n > sizeof(b->obuf)) {
			b->out(b->arg, p, n);
			b->content = true;
			return;
		}
	}
	memcpy(b->obuf + b->olen, p, n);
	b->olen += n;
	b->content = true;
}

static bool is_plain(unsigned char c)
{
	return c != ' ' && c != '\t' && c != '\r' && c != '\n';
}

/* End of a line: its trailing WSP is dropped; an empty line (or one of only
 * WSP) waits, since empty lines at the end of the body are ignored. */
static void body_line_end(struct smtp_dkim_body *b)
{
	b->wsp = false;
	if (b->content) {
		body_emit(b, "\r\n", 2);
		b->content = false;
	} else {
		b->empty_lines++;
	}
}

void smtp_dkim_body_init(struct smtp_dkim_body *b, smtp_dkim_out_fn out, void *arg)
{
	memset(b, 0, sizeof(*b));
	b->out = out;
	b->arg = arg;
}

void smtp_dkim_body_update(struct smtp_dkim_body *b, const void *p, size_t n)
{
	const char *s = p;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (b->cr) {
			b->cr = false;
			if (c == '\n') {
				body_line_end(b);
				continue;
			}
			body_content(b, "\r", 1); /* a bare CR is an ordinary byte */
		}
		if (c == '\r') {
			b->cr = true;
		} else if (c == '\n') {
			body_line_end(b);
		} else if (is_wsp(c)) {
			b->wsp = true;
		} else {
			/* Most of a body is runs of ordinary bytes: copied whole. */
			size_t j = i + 1;
			while (j < n && is_plain((unsigned char)s[j]))
				j++;
			body_content(b, s + i, j - i);
			i = j - 1;
		}
	}
}

void smtp_dkim_body_finish(struct smtp_dkim_body *b)
{
	if (b->cr) {
		b->cr = false;
		body_content(b, "\r", 1);
	}
	/* A last line without its CRLF gets one (3.4.4); held-back empty lines
	 * and a trailing WSP run are dropped. */
	if (b->content)
		body_line_end(b);
	b->empty_lines = 0;
	b->wsp = false;
	body_flush(b);
}

/* ---- header section ---- */

void smtp_dkim_headers_init(struct smtp_dkim_headers *h, const char *const *names,
			    unsigned nnames, size_t max_kept)
{
	memset(h, 0, sizeof(*h));
	h->names = names;
	h->nnames = nnames;
	buf_init(&h->kept, max_kept);
}

void smtp_dkim_headers_free(struct smtp_dkim_headers *h)
{
	buf_free(&h->kept);
}

static int field_close(struct smtp_dkim_headers *h)
{
	/* A field whose name never ended (no colon) is not a field. */
	if (h->open && h->keep && !h->in_name) {
		if (h->nfields == SMTP_DKIM_FIELDS_MAX)
			return -1;
		h->fields[h->nfields++] = (struct smtp_dkim_field){
			.name = h->field_name, .off = h->field_off, .len = h->kept.len - h->field_off};
	}
	h->open = false;
	return 0;
}

static int name_end(struct smtp_dkim_headers *h)
{
	h->in_name = false;
	size_t n = h->name_len;
	if (n > SMTP_DKIM_NAME_MAX)
		return 0; /* longer than any name we sign */
	while (n && is_wsp((unsigned char)h->name_buf[n - 1]))
		n--; /* obsolete "Name :" syntax (RFC 5322 4.5) */
	for (unsigned j = 0; j < h->nnames; j++) {
		if (strlen(h->names[j]) == n && strncasecmp(h->names[j], h->name_buf, n) == 0) {
			h->keep = true;
			h->field_name = j;
			h->field_off = h->kept.len;
			if (buf_append(&h->kept, h->name_buf, n) < 0 || buf_putc(&h->kept, ':') < 0)
				return -1;
			return 0;
		}
	}
	return 0;
}

/* A byte of a header line other than its line end. */
static int header_byte(struct smtp_dkim_headers *h, unsigned char c)
{
	if (h->line_len++ == 0 && !(is_wsp(c) && h->open)) {
		/* Not a continuation line: a new field starts.  (A continuation
		 * joins the open field with its line end removed: the unfolding
		 * of 3.4.2, done here so nothing is kept of it.) */
		if (field_close(h) < 0)
			return -1;
		h->open = true;
		h->in_name = true;
		h->keep = false;
		h->name_len = 0;
	}
	if (h->in_name) {
		if (c == ':')
			return name_end(h);
		if (h->name_len < SMTP_DKIM_NAME_MAX)
			h->name_buf[h->name_len] = (char)c;
		if (h->name_len <= SMTP_DKIM_NAME_MAX)
			h->name_len++;
		return 0;
	}
	return h->keep ? buf_putc(&h->kept, (char)c) : 0;
}

/* 1 when the line just ended was the empty line ending the section. */
static int header_line_end(struct smtp_dkim_headers *h)
{
	if (h->line_len == 0) {
		h->done = true;
		return field_close(h) < 0 ? -1 : 1;
	}
	h->line_len = 0;
	return 0;
}

int smtp_dkim_headers_push(struct smtp_dkim_headers *h, const void *p, size_t n,
			   size_t *used_r)
{
	const unsigned char *s = p;
	*used_r = 0;
	if (h->done)
		return 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		int rc = 0;
		if (h->cr) {
			h->cr = false;
			if (c == '\n') {
				rc = header_line_end(h);
				if (rc != 0) {
					*used_r = i + 1;
					return rc;
				}
				continue;
			}
			if (header_byte(h, '\r') < 0)
				return -1;
		}
		if (c == '\r') {
			h->cr = true;
		} else if (c == '\n') {
			rc = header_line_end(h);
		} else if (header_byte(h, c) < 0) {
			return -1;
		}
		if (rc != 0) {
			*used_r = i + 1;
			return rc;
		}
	}
	*used_r = n;
	return 0;
}

int smtp_dkim_headers_end(struct smtp_dkim_headers *h)
{
	if (h->done)
		return 0;
	if (h->cr) {
		h->cr = false;
		if (header_byte(h, '\r') < 0)
			return -1;
	}
	h->done = true;
	return field_close(h);
}

int smtp_dkim_header_canon(const char *field, size_t len, bool crlf, struct buf *out)
{
	const char *colon = memchr(field, ':', len);
	if (!colon)
		return -1;
	size_t nlen = (size_t)(colon - field);
	while (nlen && (is_wsp((unsigned char)field[nlen - 1]) || field[nlen - 1] == '\r' ||
			field[nlen - 1] == '\n'))
		nlen--;
	for (size_t i = 0; i < nlen; i++) {
		char c = field[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (buf_putc(out, c) < 0)
			return -1;
	}
	if (buf_putc(out, ':') < 0)
		return -1;
	/* The value: folds removed, WSP runs as one SP, none leading (after the
	 * colon) or trailing. */
	bool wsp = false, any = false;
	for (const char *p = colon + 1; p < field + len; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\n' || (c == '\r' && p + 1 < field + len && p[1] == '\n'))
			continue;
		if (is_wsp(c)) {
			wsp = true;
			continue;
		}
		if (wsp && any && buf_putc(out, ' ') < 0)
			return -1;
		wsp = false;
		any = true;
		if (buf_putc(out, (char)c) < 0)
			return -1;
	}
	if (crlf && buf_append(out, "\r\n", 2) < 0)
		return -1;
	return 0;
}
