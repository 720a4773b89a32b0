/* imap/imap_parse_write.c: the response side of strings.  Any byte string
 * (except one holding NUL) is written in the cheapest form a client must
 * parse back to the same bytes: atom, quoted string or literal (RFC 3501
 * 4.1-4.3, 9 astring/string/nstring). */
#include "imap/imap_parse.h"
#include "imap/imap_parse_private.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"

/* Longer text goes as a literal, as RFC 2683 3.2.1.5 recommends to
 * clients ("use literals instead of long quoted strings"). */
#define QUOTED_MAX 1024

static bool quotable(const char *s, size_t len)
{
	if (len > QUOTED_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		/* QUOTED-CHAR: TEXT-CHAR (7-bit, no CR/LF); IMAP4rev1 clients do
		 * not accept 8-bit quoted strings, so those become literals. */
		if (c == '\r' || c == '\n' || c >= 0x80)
			return false;
	}
	return true;
}

int imap_write_string(struct buf *out, const char *s, size_t len)
{
	if (memchr(s, '\0', len))
		return -1;
	if (!quotable(s, len))
		return buf_printf(out, "{%zu}\r\n", len) < 0 ? -1 : buf_append(out, s, len);
	int rc = buf_putc(out, '"');
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			rc |= buf_append(out, s + run, i - run);
			rc |= buf_putc(out, '\\');
			run = i;
		}
	}
	rc |= buf_append(out, s + run, len - run);
	rc |= buf_putc(out, '"');
	return rc ? -1 : 0;
}

int imap_write_astring(struct buf *out, const char *s, size_t len)
{
	bool atom = len > 0 && len <= QUOTED_MAX && !imap_word_eq(s, len, "NIL");
	for (size_t i = 0; atom && i < len; i++)
		atom = imap_is_atom_char((unsigned char)s[i]);
	if (atom)
		return buf_append(out, s, len);
	return imap_write_string(out, s, len);
}

int imap_write_nstring(struct buf *out, const char *s, size_t len)
{
	if (!s)
		return buf_puts(out, "NIL");
	return imap_write_string(out, s, len);
}

size_t imap_write_uidset(struct buf *out, const uint32_t *uids, size_t n, size_t max_len)
{
	size_t i = 0, start = out->len;
	while (i < n) {
		size_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		char r[24];
		int len = j > i ? snprintf(r, sizeof(r), "%s%u:%u", i ? "," : "", (unsigned)uids[i],
					   (unsigned)uids[j])
				: snprintf(r, sizeof(r), "%s%u", i ? "," : "", (unsigned)uids[i]);
		if (i > 0 && out->len - start + (size_t)len > max_len)
			break;
		if (buf_append(out, r, (size_t)len) < 0)
			return 0;
		i = j + 1;
	}
	return i;
}
