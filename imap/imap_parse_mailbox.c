/* imap/imap_parse_mailbox.c: mailbox name helpers: INBOX (RFC 3501 5.1),
 * UTF-8 validation (RFC 3629), modified UTF-7 (RFC 3501 5.1.3) both ways,
 * and the check applied to a name before it reaches storage (RFC 6855 3,
 * RFC 9051 5.1). */
#include "imap/imap_parse.h"
#include "imap/imap_parse_private.h"

#include <string.h>

#include "core/buf.h"

bool imap_mailbox_is_inbox(const char *name, size_t len)
{
	return imap_word_eq(name, len, "INBOX");
}

int imap_mailbox_normalize(struct buf *out, const char *name, size_t len, char sep)
{
	if (imap_mailbox_is_inbox(name, len))
		return buf_puts(out, "INBOX");
	if (sep && len > 5 && name[5] == sep && imap_word_eq(name, 5, "INBOX")) {
		if (buf_puts(out, "INBOX") < 0)
			return -1;
		return buf_append(out, name + 5, len - 5);
	}
	return buf_append(out, name, len);
}

/* Decode one UTF-8 sequence at s[*i]; -1 if invalid (RFC 3629 4). */
static int utf8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *cp_r)
{
	unsigned char c = s[*i];
	uint32_t cp, min;
	size_t n;
	if (c < 0x80) {
		*cp_r = c;
		(*i)++;
		return 0;
	} else if (c >= 0xc2 && c <= 0xdf) {
		n = 1;
		cp = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 2;
		cp = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 3;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return -1;
	}
	if (len - *i <= n)
		return -1;
	for (size_t k = 1; k <= n; k++) {
		unsigned char cc = s[*i + k];
		if ((cc & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (cc & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += n + 1;
	*cp_r = cp;
	return 0;
}

bool imap_utf8_valid(const char *s, size_t len)
{
	size_t i = 0;
	uint32_t cp;
	while (i < len)
		if (utf8_next((const unsigned char *)s, len, &i, &cp) < 0)
			return false;
	return true;
}

static int put_utf8(struct buf *out, uint32_t cp)
{
	char b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_append(out, b, n);
}

/* Modified BASE64 (RFC 3501 5.1.3: RFC 2152 with ',' for '/'). */
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_value(unsigned char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

static bool printable(uint32_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

/* One "&...-" run of UTF-16 in modified BASE64, s[0..len) without '&' and
 * '-'.  Non-canonical spellings are refused: leftover bits must be fewer
 * than 6 and zero, and printable ASCII must not be encoded. */
static int mutf7_run(struct buf *out, const char *s, size_t len, const char **error_r)
{
	uint32_t bits = 0, nbits = 0, high = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value((unsigned char)s[i]);
		if (v < 0) {
			*error_r = "Invalid character in modified BASE64";
			return -1;
		}
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t u = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		if (high) {
			if (u < 0xdc00 || u > 0xdfff) {
				*error_r = "Unpaired UTF-16 surrogate in modified UTF-7";
				return -1;
			}
			if (put_utf8(out, 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00)) < 0)
				goto nomem;
			high = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			high = u;
		} else if (u >= 0xdc00 && u <= 0xdfff) {
			*error_r = "Unpaired UTF-16 surrogate in modified UTF-7";
			return -1;
		} else if (printable(u) || u == 0) {
			*error_r = "Modified UTF-7 encodes a printable ASCII character or NUL";
			return -1;
		} else if (put_utf8(out, u) < 0) {
			goto nomem;
		}
	}
	if (high) {
		*error_r = "Unpaired UTF-16 surrogate in modified UTF-7";
		return -1;
	}
	if (nbits >= 6 || bits != 0) {
		*error_r = "Invalid padding in modified BASE64";
		return -1;
	}
	return 0;
nomem:
	*error_r = "Out of memory";
	return -1;
}

int imap_mutf7_decode(struct buf *out, const char *s, size_t len, const char **error_r)
{
	size_t i = 0;
	bool after_run = false;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if (!printable(c)) {
			*error_r = "Invalid character in a modified UTF-7 name";
			return -1;
		}
		if (c != '&') {
			if (buf_putc(out, (char)c) < 0)
				goto nomem;
			i++;
			after_run = false;
			continue;
		}
		if (i + 1 < len && s[i + 1] == '-') {
			if (buf_putc(out, '&') < 0)
				goto nomem;
			i += 2;
			after_run = false;
			continue;
		}
		/* Two runs in a row are one run spelled twice. */
		if (after_run) {
			*error_r = "Adjacent modified BASE64 runs must be merged";
			return -1;
		}
		const char *end = memchr(s + i + 1, '-', len - i - 1);
		if (!end) {
			*error_r = "Unterminated modified BASE64 run";
			return -1;
		}
		size_t rl = (size_t)(end - (s + i + 1));
		if (mutf7_run(out, s + i + 1, rl, error_r) < 0)
			return -1;
		i += rl + 2;
		after_run = true;
	}
	return 0;
nomem:
	*error_r = "Out of memory";
	return -1;
}

/* "&" + modified BASE64 of the UTF-16 units (held big-endian in run) + "-". */
static int flush_run(struct buf *out, struct buf *run)
{
	uint32_t bits = 0, nbits = 0;
	int rc = buf_putc(out, '&');
	for (size_t i = 0; i + 1 < run->len; i += 2) {
		bits = (bits << 16) | ((uint32_t)(unsigned char)run->data[i] << 8) |
		       (unsigned char)run->data[i + 1];
		nbits += 16;
		while (nbits >= 6) {
			nbits -= 6;
			rc |= buf_putc(out, b64[(bits >> nbits) & 0x3f]);
		}
		bits &= (1u << nbits) - 1;
	}
	if (nbits > 0)
		rc |= buf_putc(out, b64[(bits << (6 - nbits)) & 0x3f]);
	rc |= buf_putc(out, '-');
	buf_reset(run);
	return rc ? -1 : 0;
}

static int put_unit(struct buf *run, uint32_t u)
{
	char b[2] = { (char)(u >> 8), (char)(u & 0xff) };
	return buf_append(run, b, 2);
}

int imap_mutf7_encode(struct buf *out, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	struct buf run; /* the pending non-printable characters, as UTF-16 */
	buf_init(&run, 0);
	size_t i = 0;
	int rc = 0;
	while (i < len && rc == 0) {
		uint32_t cp;
		if (utf8_next(u, len, &i, &cp) < 0) {
			rc = -1;
			break;
		}
		if (printable(cp)) {
			if (run.len)
				rc |= flush_run(out, &run);
			rc |= cp == '&' ? buf_puts(out, "&-") : buf_putc(out, (char)cp);
		} else if (cp >= 0x10000) {
			rc |= put_unit(&run, 0xd800 + ((cp - 0x10000) >> 10));
			rc |= put_unit(&run, 0xdc00 + ((cp - 0x10000) & 0x3ff));
		} else {
			rc |= put_unit(&run, cp);
		}
	}
	if (rc == 0 && run.len)
		rc |= flush_run(out, &run);
	buf_free(&run);
	return rc ? -1 : 0;
}

/* RFC 6855 3: no U+0000-001F, U+007F-009F, U+2028 or U+2029. */
static bool name_char_ok(uint32_t cp)
{
	return !(cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029);
}

int imap_mailbox_decode(struct buf *out, const char *s, size_t len, bool utf8, const char **error_r)
{
	if (len == 0) {
		*error_r = "Empty mailbox name";
		return -1;
	}
	size_t start = out->len;
	if (utf8) {
		if (!imap_utf8_valid(s, len)) {
			*error_r = "Mailbox name is not valid UTF-8";
			return -1;
		}
		if (buf_append(out, s, len) < 0) {
			*error_r = "Out of memory";
			return -1;
		}
	} else if (imap_mutf7_decode(out, s, len, error_r) < 0) {
		return -1;
	}
	size_t i = start;
	uint32_t cp;
	while (i < out->len) {
		if (utf8_next((const unsigned char *)out->data, out->len, &i, &cp) < 0 || !name_char_ok(cp)) {
			*error_r = "Control character in a mailbox name";
			return -1;
		}
	}
	return 0;
}
