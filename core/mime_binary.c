/* core/mime_binary.c: turning a message that holds NUL octets (sent with
 * IMAP's literal8, RFC 3516 4.4) into one that IMAP can serve as text.
 *
 * RFC 9051 4.3.1 and 6.4.5 forbid NUL in a normal literal: binary data
 * "MUST be transfer encoded into a textual form, such as base64" before it
 * reaches a client, and only BINARY[] may send it raw (as literal8).  RFC
 * 3516 4.3 lets the server change the transfer encoding of appended data
 * as long as nothing is lost, which is what Dovecot does: every leaf part
 * whose body holds NUL and has no encoding (7bit, 8bit, binary, or none)
 * is stored base64-encoded, with its Content-Transfer-Encoding field
 * replaced.  BODY[] and BODYSTRUCTURE then describe the same stored bytes,
 * and BINARY[] decodes the part back to the octets the client sent.
 *
 * The other way, for BINARY of a message/rfc822 or multipart part (RFC
 * 3516 4.2, RFC 5524 3.1): the part as it is stored, with every nested
 * base64 or quoted-printable body decoded and its
 * Content-Transfer-Encoding field saying "binary" (mime_binary_unencode),
 * as Dovecot serves it. */
#include "core/mime.h"
#include "core/mime_private.h"

#include <string.h>

#include "core/buf.h"

/* RFC 2045 6.8: at most 76 characters a line. */
#define B64_LINE 76

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_write(const unsigned char *s, size_t n, const char *eol, struct buf *out)
{
	char line[B64_LINE];
	size_t col = 0;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i += 3) {
		unsigned v = (unsigned)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		line[col++] = b64_alphabet[(v >> 18) & 63];
		line[col++] = b64_alphabet[(v >> 12) & 63];
		line[col++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		line[col++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
		if (col == B64_LINE || i + 3 >= n) {
			rc |= buf_append(out, line, col);
			/* The line break before the next boundary (or the end)
			 * is the message's own, outside the body. */
			if (i + 3 < n)
				rc |= buf_puts(out, eol);
			col = 0;
		}
	}
	return rc ? MIME_ERR_NOMEM : MIME_OK;
}

static bool part_needs_encoding(const char *msg, const struct mime_part *p)
{
	if (p->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE))
		return false;
	if (!(p->flags & MIME_PART_NUL) || !memchr(msg + p->body_off, '\0', p->body_len))
		return false;
	/* An already encoded body is not encoded twice (its NULs are the
	 * sender's error and stay, so the caller refuses the message). */
	const struct mime_str *e = &p->encoding;
	return !e->data || mime_ci_eq(e->data, e->len, "7bit") ||
	       mime_ci_eq(e->data, e->len, "8bit") || mime_ci_eq(e->data, e->len, "binary");
}

/* The header of p with its Content-Transfer-Encoding field(s) replaced by
 * one saying cte, in the line ending the header uses. */
static int header_rewrite(const char *hdr, const struct mime_part *p, const char *eol,
			  const char *cte, struct buf *out)
{
	size_t pos = 0, end = 0;
	struct mime_header_field f;
	int rc = 0;
	while (mime_header_next(hdr, p->header_len, &pos, &f) == 1) {
		if (!(f.name_len && mime_ci_eq(f.name, f.name_len, "Content-Transfer-Encoding")))
			rc |= buf_append(out, hdr + f.off, f.len);
		end = pos;
	}
	if (out->len && out->data[out->len - 1] != '\n')
		rc |= buf_puts(out, eol);
	rc |= buf_puts(out, "Content-Transfer-Encoding: ");
	rc |= buf_puts(out, cte);
	rc |= buf_puts(out, eol);
	/* The blank line (or nothing, for a header that had none). */
	rc |= buf_append(out, hdr + end, p->header_len - end);
	if (end == p->header_len)
		rc |= buf_puts(out, eol);
	return rc ? MIME_ERR_NOMEM : MIME_OK;
}

int mime_binary_encode(const char *msg, size_t len, struct buf *out)
{
	if (!memchr(msg, '\0', len))
		return 0;
	struct mime_message *m = NULL;
	if (mime_message_parse(msg, len, NULL, &m) != MIME_OK)
		return MIME_ERR_NOMEM;
	const char *nl = memchr(msg, '\n', len);
	const char *eol = !nl || (nl > msg && nl[-1] == '\r') ? "\r\n" : "\n";
	size_t pos = 0;
	int rc = MIME_OK;
	/* Pre-order visits leaves in the order of their offsets. */
	for (const struct mime_part *p = mime_part_next(m->root, NULL); p && rc == MIME_OK;
	     p = mime_part_next(m->root, p)) {
		if (!part_needs_encoding(msg, p) || p->header_off < pos)
			continue;
		if (buf_append(out, msg + pos, p->header_off - pos) < 0 ||
		    header_rewrite(msg + p->header_off, p, eol, "base64", out) < 0 ||
		    b64_write((const unsigned char *)msg + p->body_off, p->body_len, eol, out) < 0)
			rc = MIME_ERR_NOMEM;
		pos = p->body_off + p->body_len;
	}
	if (rc == MIME_OK && buf_append(out, msg + pos, len - pos) < 0)
		rc = MIME_ERR_NOMEM;
	mime_message_free(&m);
	if (rc != MIME_OK)
		return rc;
	return out->len && memchr(out->data, '\0', out->len) ? MIME_ERR_BINARY : 1;
}

/* A leaf whose body BINARY decodes: base64 or quoted-printable (the
 * identity encodings are served as they are, and an unknown one cannot be
 * undone, so it stays as stored). */
static bool part_is_encoded(const struct mime_part *p)
{
	const struct mime_str *e = &p->encoding;
	if (p->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE) || !e->data)
		return false;
	return mime_ci_eq(e->data, e->len, "base64") ||
	       mime_ci_eq(e->data, e->len, "quoted-printable");
}

bool mime_binary_nested_encoded(const struct mime_part *part)
{
	for (const struct mime_part *p = mime_part_next(part, NULL); p;
	     p = mime_part_next(part, p))
		if (p != part && part_is_encoded(p))
			return true;
	return false;
}

int mime_binary_unencode(const char *data, size_t data_off, size_t len,
			 const struct mime_part *part, struct buf *out)
{
	/* data holds the message's octets [data_off, data_off + len); the
	 * tree's offsets are the message's. */
	if (part->body_off < data_off || part->body_off - data_off > len ||
	    part->body_len > len - (part->body_off - data_off))
		return MIME_ERR_CORRUPT;
	size_t start = part->body_off, end = part->body_off + part->body_len;
	const char *body = data + (start - data_off);
	const char *nl = memchr(body, '\n', part->body_len);
	const char *eol = !nl || (nl > body && nl[-1] == '\r') ? "\r\n" : "\n";
	size_t pos = start;
	int rc = MIME_OK;
	/* Pre-order visits leaves in the order of their offsets; each
	 * decoded leaf replaces its header and body, and the bytes between
	 * (boundaries, prologues, headers of containers) are copied. */
	for (const struct mime_part *p = mime_part_next(part, NULL); p && rc == MIME_OK;
	     p = mime_part_next(part, p)) {
		if (p == part || !part_is_encoded(p) || p->header_off < pos ||
		    p->body_off + p->body_len > end)
			continue;
		const struct mime_str *e = &p->encoding;
		if (buf_append(out, data + (pos - data_off), p->header_off - pos) < 0 ||
		    header_rewrite(data + (p->header_off - data_off), p, eol, "binary", out) < 0 ||
		    mime_cte_decode(e->data, e->len, data + (p->body_off - data_off), p->body_len,
				    out) != MIME_OK)
			rc = MIME_ERR_NOMEM;
		pos = p->body_off + p->body_len;
	}
	if (rc == MIME_OK && buf_append(out, data + (pos - data_off), end - pos) < 0)
		rc = MIME_ERR_NOMEM;
	return rc;
}
