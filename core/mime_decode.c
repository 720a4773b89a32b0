/* core/mime_decode.c: turning message text into something SEARCH can
 * compare: RFC 2047 encoded words in header text, the RFC 2045 6.7/6.8
 * transfer encodings (quoted-printable, base64), and charsets to UTF-8.
 *
 * There is no iconv here on purpose (core_parse_lib stays libc-only):
 * UTF-8 and US-ASCII pass through, ISO-8859-1 and windows-1252 (which
 * mailers use under the ISO-8859-1 label all the time) are converted by
 * table, and any other charset keeps its raw octets, which still matches
 * ASCII search text.  Decoders are lenient: what does not decode is kept
 * as it was, never dropped.  Address fields are also written as their
 * parsed addresses (mime_addr.c), which is how SEARCH FROM finds
 * "<user (comment)@ (comment) domain.org>" as user@domain.org. */
#include "core/mime.h"
#include "core/mime_private.h"

#include <stdint.h>
#include <string.h>

#include "core/buf.h"

/* ------------------------------------------------------------------ */
/* charsets                                                            */

enum charset_id { CS_UNKNOWN, CS_UTF8, CS_LATIN1, CS_CP1252 };

static enum charset_id charset_lookup(const char *s, size_t n)
{
	static const struct {
		const char *name;
		enum charset_id id;
	} names[] = {
		/* US-ASCII is a subset of UTF-8: nothing to convert. */
		{"utf-8", CS_UTF8}, {"utf8", CS_UTF8}, {"us-ascii", CS_UTF8}, {"ascii", CS_UTF8},
		{"ansi_x3.4-1968", CS_UTF8}, {"iso646-us", CS_UTF8}, {"us", CS_UTF8},
		{"iso-8859-1", CS_LATIN1}, {"iso8859-1", CS_LATIN1}, {"iso_8859-1", CS_LATIN1},
		{"iso_8859-1:1987", CS_LATIN1}, {"latin1", CS_LATIN1}, {"latin-1", CS_LATIN1},
		{"l1", CS_LATIN1}, {"cp819", CS_LATIN1}, {"ibm819", CS_LATIN1},
		{"iso-ir-100", CS_LATIN1},
		{"windows-1252", CS_CP1252}, {"cp1252", CS_CP1252}, {"x-cp1252", CS_CP1252},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (mime_ci_eq(s, n, names[i].name))
			return names[i].id;
	return CS_UNKNOWN;
}

/* windows-1252 0x80..0x9F; the five unassigned ones stay C1 controls. */
static const uint16_t cp1252_high[32] = {
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

static int put_utf8(struct buf *out, unsigned cp)
{
	char b[3];
	size_t n;
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else {
		b[0] = (char)(0xE0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	}
	return buf_append(out, b, n);
}

static int convert(enum charset_id id, const char *s, size_t len, struct buf *out)
{
	if (id != CS_LATIN1 && id != CS_CP1252)
		return buf_append(out, s, len);
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x80)
			continue;
		if (buf_append(out, s + run, i - run) < 0)
			return -1;
		unsigned cp = id == CS_CP1252 && c < 0xA0 ? cp1252_high[c - 0x80] : c;
		if (put_utf8(out, cp) < 0)
			return -1;
		run = i + 1;
	}
	return buf_append(out, s + run, len - run);
}

int mime_charset_to_utf8(const char *charset, size_t charset_len, const char *s, size_t len,
			 struct buf *out)
{
	enum charset_id id = charset ? charset_lookup(charset, charset_len) : CS_UNKNOWN;
	if (convert(id, s, len, out) < 0)
		return MIME_ERR_NOMEM;
	return id == CS_UNKNOWN ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* base64 and quoted-printable                                         */

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* strict (RFC 2047 B words): only the alphabet, '=' only at the end;
 * -2 when the text is not base64.  Lenient (bodies): other octets are
 * skipped, and '=' ends a quantum, so concatenated blocks decode too. */
static int b64_decode(const char *s, size_t n, bool strict, struct buf *out)
{
	unsigned char chunk[768];
	size_t k = 0;
	uint32_t acc = 0;
	unsigned have = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int v = b64_value(c);
		if (v < 0) {
			if (c != '=') {
				if (strict)
					return -2;
				continue;
			}
			if (strict)
				for (size_t j = i; j < n; j++)
					if (s[j] != '=')
						return -2;
			if (have >= 2)
				chunk[k++] = (unsigned char)(acc >> (have == 2 ? 4 : 10));
			if (have == 3)
				chunk[k++] = (unsigned char)(acc >> 2);
			acc = 0;
			have = 0;
		} else {
			acc = acc << 6 | (uint32_t)v;
			if (++have == 4) {
				chunk[k++] = (unsigned char)(acc >> 16);
				chunk[k++] = (unsigned char)(acc >> 8);
				chunk[k++] = (unsigned char)acc;
				acc = 0;
				have = 0;
			}
		}
		if (k > sizeof(chunk) - 3) {
			if (buf_append(out, chunk, k) < 0)
				return -1;
			k = 0;
		}
	}
	/* Missing padding at the end is common: decode what is there. */
	if (have >= 2)
		chunk[k++] = (unsigned char)(acc >> (have == 2 ? 4 : 10));
	if (have == 3)
		chunk[k++] = (unsigned char)(acc >> 2);
	return buf_append(out, chunk, k);
}

/* RFC 2045 6.7 for a body: soft line breaks ("=" at the end of a line)
 * vanish, trailing white space on a line is transport padding (rule 3),
 * "=" not followed by two hex digits is kept. */
static int qp_decode(const char *s, size_t n, struct buf *out)
{
	size_t pos = 0;
	while (pos < n) {
		const char *nl = memchr(s + pos, '\n', n - pos);
		size_t next = nl ? (size_t)(nl - s) + 1 : n;
		size_t end = nl ? (size_t)(nl - s) : n;
		size_t brk = end;   /* the line break starts here */
		if (end > pos && s[end - 1] == '\r')
			end = --brk;
		while (end > pos && mime_is_wsp((unsigned char)s[end - 1]))
			end--;
		bool soft = end > pos && s[end - 1] == '=';
		if (soft)
			end--;
		size_t run = pos;
		for (size_t i = pos; i < end; i++) {
			if (s[i] != '=' || end - i < 3)
				continue;
			int hi = mime_hex_value((unsigned char)s[i + 1]);
			int lo = mime_hex_value((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				continue;
			if (buf_append(out, s + run, i - run) < 0 || buf_putc(out, (char)(hi * 16 + lo)) < 0)
				return -1;
			i += 2;
			run = i + 1;
		}
		if (buf_append(out, s + run, end - run) < 0)
			return -1;
		if (!soft && buf_append(out, s + brk, next - brk) < 0)
			return -1;
		pos = next;
	}
	return 0;
}

int mime_cte_decode(const char *encoding, size_t encoding_len, const char *s, size_t len,
		    struct buf *out)
{
	int rc;
	if (encoding && mime_ci_eq(encoding, encoding_len, "base64"))
		rc = b64_decode(s, len, false, out);
	else if (encoding && mime_ci_eq(encoding, encoding_len, "quoted-printable"))
		rc = qp_decode(s, len, out);
	else
		rc = buf_append(out, s, len);
	return rc < 0 ? MIME_ERR_NOMEM : 0;
}

int mime_part_decode(const char *msg, size_t msg_len, const struct mime_part *part,
		     struct buf *out)
{
	if (part->body_off > msg_len || part->body_len > msg_len - part->body_off)
		return MIME_ERR_CORRUPT;
	const char *s = msg + part->body_off;
	size_t n = part->body_len;
	if (part->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE))
		return buf_append(out, s, n) < 0 ? MIME_ERR_NOMEM : 0;
	if (!mime_part_is(part, "text", NULL))
		return mime_cte_decode(part->encoding.data, part->encoding.len, s, n, out);
	struct buf tmp;
	buf_init(&tmp, 0);
	int rc = mime_cte_decode(part->encoding.data, part->encoding.len, s, n, &tmp);
	if (rc == 0) {
		const struct mime_param *cs = mime_param_find(part->params, part->nparams, "charset");
		rc = mime_charset_to_utf8(cs ? cs->value.data : "us-ascii", cs ? cs->value.len : 8,
					  tmp.data ? tmp.data : "", tmp.len, out);
		rc = rc < 0 ? MIME_ERR_NOMEM : 0;
	}
	buf_free(&tmp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* RFC 2047                                                            */

struct eword {
	const char *charset;    /* RFC 2231 5 "*language" removed */
	size_t charset_len;
	char enc;               /* 'B' or 'Q' */
	const char *text;
	size_t text_len;
	size_t end;             /* just after "?=" */
};

/* An encoded-word at s[i] (RFC 2047 2): "=?" charset "?" B|Q "?" text "?=".
 * The 75-octet limit is not enforced: long words are common and
 * unambiguous. */
static bool eword_at(const char *s, size_t n, size_t i, struct eword *w)
{
	if (n - i < 8 || s[i] != '=' || s[i + 1] != '?')
		return false;
	size_t c0 = i + 2, j = c0;
	while (j < n && s[j] != '?' && (unsigned char)s[j] > 0x20 && (unsigned char)s[j] < 0x7f)
		j++;
	if (j == c0 || j + 3 > n || s[j] != '?' || s[j + 2] != '?')
		return false;
	char e = (char)mime_upper((unsigned char)s[j + 1]);
	if (e != 'B' && e != 'Q')
		return false;
	size_t t0 = j + 3, k = t0;
	while (k < n && s[k] != '?' && (unsigned char)s[k] > 0x20 && (unsigned char)s[k] < 0x7f)
		k++;
	if (k + 1 >= n || s[k] != '?' || s[k + 1] != '=')
		return false;
	w->charset = s + c0;
	w->charset_len = j - c0;
	const char *star = memchr(w->charset, '*', w->charset_len);
	if (star)
		w->charset_len = (size_t)(star - w->charset);
	w->enc = e;
	w->text = s + t0;
	w->text_len = k - t0;
	w->end = k + 2;
	return w->charset_len > 0;
}

/* Appends the octets of a word; -2 if its text does not decode. */
static int eword_decode(const struct eword *w, struct buf *out)
{
	if (w->enc == 'B')
		return b64_decode(w->text, w->text_len, true, out);
	size_t start = out->len;
	for (size_t i = 0; i < w->text_len; i++) {
		char c = w->text[i];
		if (c == '_') {
			c = ' ';   /* RFC 2047 4.2 (2) */
		} else if (c == '=') {
			int v = -1;
			if (w->text_len - i >= 3) {
				int hi = mime_hex_value((unsigned char)w->text[i + 1]);
				int lo = mime_hex_value((unsigned char)w->text[i + 2]);
				if (hi >= 0 && lo >= 0)
					v = hi * 16 + lo;
			}
			if (v < 0) {
				out->len = start;
				return -2;
			}
			c = (char)v;
			i += 2;
		}
		if (buf_putc(out, c) < 0)
			return -1;
	}
	return 0;
}

struct decoder {
	struct buf *out;
	struct buf run;            /* octets of adjacent words in one charset */
	const char *cs;
	size_t cs_len;
};

static int run_flush(struct decoder *d)
{
	if (!d->cs)
		return 0;
	int rc = mime_charset_to_utf8(d->cs, d->cs_len, d->run.data ? d->run.data : "", d->run.len,
				      d->out);
	buf_reset(&d->run);
	d->cs = NULL;
	return rc < 0 ? -1 : 0;
}

/* Plain text, unfolded: a line break is dropped, the white space after
 * it kept (RFC 5322 2.2.3). */
static int put_plain(struct buf *out, const char *s, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' || (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')) {
			if (buf_append(out, s + run, i - run) < 0)
				return -1;
			run = i + 1;
		}
	}
	return buf_append(out, s + run, n - run);
}

int mime_header_decode(const char *s, size_t len, struct buf *out)
{
	struct decoder d = {.out = out};
	buf_init(&d.run, 0);
	size_t plain = 0;          /* start of text not yet written */
	bool after_word = false;   /* only white space since the last word */
	int rc = MIME_ERR_NOMEM;
	size_t i = 0;
	while (i < len) {
		struct eword w;
		if (s[i] == '=' && eword_at(s, len, i, &w)) {
			bool same = d.cs && after_word && d.cs_len == w.charset_len;
			for (size_t k = 0; same && k < w.charset_len; k++)
				same = mime_lower((unsigned char)d.cs[k]) ==
				       mime_lower((unsigned char)w.charset[k]);
			/* Decode into a scratch tail first: a malformed word
			 * is plain text. */
			struct buf wb;
			buf_init(&wb, 0);
			int drc = eword_decode(&w, &wb);
			if (drc == -1) {
				buf_free(&wb);
				goto out;
			}
			if (drc == -2) {
				buf_free(&wb);
				i++;
				after_word = false;
				continue;
			}
			/* RFC 2047 6.2: white space between adjacent words
			 * is dropped. */
			if (!after_word) {
				if (run_flush(&d) < 0 || put_plain(out, s + plain, i - plain) < 0) {
					buf_free(&wb);
					goto out;
				}
			} else if (!same && run_flush(&d) < 0) {
				buf_free(&wb);
				goto out;
			}
			if (!d.cs) {
				d.cs = w.charset;
				d.cs_len = w.charset_len;
			}
			int arc = buf_append(&d.run, wb.data ? wb.data : "", wb.len);
			buf_free(&wb);
			if (arc < 0)
				goto out;
			i = plain = w.end;
			after_word = true;
			continue;
		}
		if (after_word && !(mime_is_wsp((unsigned char)s[i]) || s[i] == '\r' || s[i] == '\n'))
			after_word = false;
		if (!after_word && d.cs && run_flush(&d) < 0)
			goto out;
		i++;
	}
	if (run_flush(&d) < 0 || put_plain(out, s + plain, len - plain) < 0)
		goto out;
	rc = 0;
out:
	buf_free(&d.run);
	return rc;
}

/* ------------------------------------------------------------------ */
/* parameters                                                          */

int mime_param_decode(const struct mime_param *param, struct buf *out)
{
	if (param->charset.data)
		return buf_append(out, param->value.data, param->value.len) < 0 ? MIME_ERR_NOMEM : 0;
	return mime_header_decode(param->value.data, param->value.len, out);
}

int mime_part_filename(const struct mime_part *part, struct buf *out)
{
	const struct mime_param *p = mime_param_find(part->disp_params, part->ndisp_params, "filename");
	if (!p)
		p = mime_param_find(part->params, part->nparams, "name");
	if (!p)
		return 0;
	return mime_param_decode(p, out) < 0 ? MIME_ERR_NOMEM : 1;
}

/* ------------------------------------------------------------------ */
/* search                                                              */

/* ASCII letters, and U+00C0..U+00DE (not U+00D7) in UTF-8, whose lower
 * case is the second octet plus 0x20. */
static unsigned char fold_at(const unsigned char *s, size_t i)
{
	unsigned char c = s[i];
	if (c >= 'A' && c <= 'Z')
		return (unsigned char)(c + 32);
	if (c >= 0x80 && c <= 0x9E && c != 0x97 && i > 0 && s[i - 1] == 0xC3)
		return (unsigned char)(c + 0x20);
	return c;
}

bool mime_search_ci(const char *hay, size_t hay_len, const char *needle, size_t needle_len)
{
	if (needle_len == 0)
		return true;
	if (needle_len > hay_len)
		return false;
	const unsigned char *h = (const unsigned char *)hay, *n = (const unsigned char *)needle;
	unsigned char first = fold_at(n, 0);
	for (size_t i = 0; i <= hay_len - needle_len; i++) {
		if (fold_at(h, i) != first)
			continue;
		size_t k = 1;
		while (k < needle_len && fold_at(h, i + k) == fold_at(n, k))
			k++;
		if (k == needle_len)
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* address lists                                                       */

static int address_text_write(const struct mime_address *a, bool *first, struct buf *out)
{
	int rc = 0;
	if (!a->host.data) {
		/* RFC 3501 7.4.2 group markers: "name:" opens, NIL mailbox closes. */
		if (a->mailbox.data) {
			if (!*first)
				rc |= buf_puts(out, ", ");
			if (mime_header_decode(a->mailbox.data, a->mailbox.len, out) < 0)
				return MIME_ERR_NOMEM;
			rc |= buf_putc(out, ':');
			*first = true;
		} else {
			rc |= buf_putc(out, ';');
			*first = false;
		}
		return rc ? MIME_ERR_NOMEM : MIME_OK;
	}
	if (!*first)
		rc |= buf_puts(out, ", ");
	else if (out->len && out->data[out->len - 1] == ':')
		rc |= buf_putc(out, ' ');
	*first = false;
	if (a->name.data && a->name.len) {
		if (mime_header_decode(a->name.data, a->name.len, out) < 0)
			return MIME_ERR_NOMEM;
		rc |= buf_putc(out, ' ');
	}
	rc |= buf_putc(out, '<');
	if (a->route.data && a->route.len) {
		rc |= buf_append(out, a->route.data, a->route.len);
		rc |= buf_putc(out, ':');
	}
	if (a->mailbox.data)
		rc |= buf_append(out, a->mailbox.data, a->mailbox.len);
	/* A missing domain is no text of the message. */
	if (!mime_ci_eq(a->host.data, a->host.len, MIME_MISSING_HOST)) {
		rc |= buf_putc(out, '@');
		rc |= buf_append(out, a->host.data, a->host.len);
	}
	rc |= buf_putc(out, '>');
	return rc ? MIME_ERR_NOMEM : MIME_OK;
}

int mime_address_list_text(const char *value, size_t len, struct buf *out)
{
	struct buf unfolded;
	buf_init(&unfolded, 0);
	struct mime_arena *arena = mime_arena_new();
	struct mime_address_list list;
	int rc = MIME_ERR_NOMEM;
	if (!arena || mime_header_unfold(value, len, &unfolded) < 0 ||
	    mime_address_list_parse(arena, unfolded.data, unfolded.len, MIME_DEFAULT_ADDRESSES,
				    &list) < 0)
		goto out;
	bool first = true;
	rc = MIME_OK;
	for (size_t i = 0; i < list.count && rc == MIME_OK; i++)
		rc = address_text_write(&list.addrs[i], &first, out);
out:
	mime_arena_free(&arena);
	buf_free(&unfolded);
	return rc;
}

int mime_address_first(const char *value, size_t len, struct buf *name, struct buf *mailbox,
		       struct buf *host)
{
	struct buf unfolded;
	buf_init(&unfolded, 0);
	struct mime_arena *arena = mime_arena_new();
	struct mime_address_list list;
	int rc = MIME_ERR_NOMEM;
	/* A few entries: a group marker may come before the first mailbox. */
	if (!arena || mime_header_unfold(value, len, &unfolded) < 0 ||
	    mime_address_list_parse(arena, unfolded.data, unfolded.len, 8, &list) < 0)
		goto out;
	rc = 0;
	for (size_t i = 0; i < list.count; i++) {
		const struct mime_address *a = &list.addrs[i];
		/* A group's start (name, no host) is the first address as
		 * ENVELOPE lists it, its name the addr-mailbox (RFC 3501
		 * 7.4.2); only a group's end (nothing) is passed over. */
		if (!a->host.data && !a->mailbox.data)
			continue;
		int e = 0;
		if (name && a->name.data)
			e |= buf_append(name, a->name.data, a->name.len);
		if (mailbox && a->mailbox.data)
			e |= buf_append(mailbox, a->mailbox.data, a->mailbox.len);
		if (host && !mime_ci_eq(a->host.data, a->host.len, MIME_MISSING_HOST))
			e |= buf_append(host, a->host.data, a->host.len);
		rc = e ? MIME_ERR_NOMEM : 1;
		break;
	}
out:
	mime_arena_free(&arena);
	buf_free(&unfolded);
	return rc;
}
