/* core/mime_preview.c: the preview text of a message (RFC 8970, IMAP
 * PREVIEW): which part it comes from, and the text made from the first
 * bytes of that part: transfer-decoded, converted to UTF-8 where the
 * charset allows (mime_decode.c), HTML reduced to its text, whitespace
 * runs made one space, at most MIME_PREVIEW_CHARS characters.
 *
 * Pure and bounded: the caller reads at most MIME_PREVIEW_READ octets of
 * the part's body, so a preview costs the same for a 1 KiB or a 50 MiB
 * message; a preview is made on demand (FETCH), not stored. */
#include "core/mime.h"
#include "core/mime_private.h"

#include <stdint.h>
#include <string.h>

#include "core/buf.h"

/* Inside an attached message (message/rfc822) a text part is that
 * message's, not this one's. */
static bool in_attached_message(const struct mime_part *root, const struct mime_part *p)
{
	for (const struct mime_part *a = p->parent; a && a != root; a = a->parent)
		if (a->flags & MIME_PART_MESSAGE)
			return true;
	return p != root && p->parent && (p->parent->flags & MIME_PART_MESSAGE);
}

static bool is_attachment(const struct mime_part *p)
{
	return p->disposition.data && mime_ci_eq(p->disposition.data, p->disposition.len, "attachment");
}

const struct mime_part *mime_preview_part(const struct mime_message *msg)
{
	/* RFC 8970 3.1 leaves the algorithm to the server: the first
	 * text/plain body that is not an attachment, else the first
	 * text/html one. */
	const struct mime_part *root = msg->root, *html = NULL;
	for (const struct mime_part *p = mime_part_next(root, NULL); p; p = mime_part_next(root, p)) {
		if (p->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE))
			continue;
		if (in_attached_message(root, p) || is_attachment(p))
			continue;
		if (mime_part_is(p, "text", "plain"))
			return p;
		if (!html && mime_part_is(p, "text", "html"))
			html = p;
	}
	return html;
}

/* ---- the text ---- */

struct preview {
	struct buf *out;
	size_t chars;        /* characters written */
	bool space;          /* a space is owed before the next character */
	bool full;
	int rc;
};

static void put_space(struct preview *pv)
{
	if (pv->chars > 0)
		pv->space = true;   /* leading whitespace is dropped */
}

/* One character (its UTF-8 bytes). */
static void put_char(struct preview *pv, const char *s, size_t n)
{
	if (pv->full || pv->rc)
		return;
	if (pv->space) {
		if (pv->chars + 1 >= MIME_PREVIEW_CHARS) {
			pv->full = true;
			return;
		}
		pv->rc |= buf_putc(pv->out, ' ');
		pv->chars++;
		pv->space = false;
	}
	pv->rc |= buf_append(pv->out, s, n);
	if (++pv->chars >= MIME_PREVIEW_CHARS)
		pv->full = true;
}

/* Length of the valid UTF-8 sequence at s[0..n) (RFC 3629), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	if (s[0] < 0x80)
		return 1;
	size_t len;
	uint32_t min;
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		len = 2;
		min = 0x80;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		len = 3;
		min = 0x800;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		len = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	uint32_t cp = s[0] & (0x7F >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/* Text: controls and whitespace (U+00A0 too) become a space; octets that
 * are no UTF-8 (a charset we cannot convert, a cut character) are
 * dropped, so the preview is always valid UTF-8. */
static void put_text(struct preview *pv, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n && !pv->full;) {
		if (u[i] < 0x20 || u[i] == 0x7F || u[i] == ' ') {
			put_space(pv);
			i++;
			continue;
		}
		size_t len = utf8_len(u + i, n - i);
		if (len == 0) {
			i++;
			continue;
		}
		if (len == 2 && u[i] == 0xC2 && u[i + 1] == 0xA0)
			put_space(pv);
		else
			put_char(pv, s + i, len);
		i += len;
	}
}

static bool ci_prefix(const char *s, size_t n, const char *word)
{
	size_t w = strlen(word);
	if (n < w)
		return false;
	for (size_t i = 0; i < w; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != word[i])
			return false;
	}
	return true;
}

/* The end of "</name ...>" from s[i], or n. */
static size_t skip_element(const char *s, size_t n, size_t i, const char *name)
{
	for (; i + 1 < n; i++)
		if (s[i] == '<' && s[i + 1] == '/' && ci_prefix(s + i + 2, n - i - 2, name)) {
			const char *gt = memchr(s + i, '>', n - i);
			return gt ? (size_t)(gt - s) + 1 : n;
		}
	return n;
}

/* "&name;" or "&#n;" at s[i]: the character into pv, and the length used;
 * 0 when it is not one we know (the '&' is then text). */
static size_t put_entity(struct preview *pv, const char *s, size_t n, size_t i)
{
	static const struct {
		const char *name;
		const char *text;
	} named[] = {
		{ "amp;", "&" }, { "lt;", "<" }, { "gt;", ">" }, { "quot;", "\"" },
		{ "apos;", "'" }, { "nbsp;", " " },
	};
	const char *e = s + i + 1;
	size_t left = n - i - 1;
	for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++)
		if (ci_prefix(e, left, named[k].name)) {
			put_text(pv, named[k].text, strlen(named[k].text));
			return 1 + strlen(named[k].name);
		}
	if (left < 3 || e[0] != '#')
		return 0;
	bool hex = e[1] == 'x' || e[1] == 'X';
	uint32_t cp = 0;
	size_t j = hex ? 2 : 1, digits = 0;
	for (; j < left && digits < 7; j++, digits++) {
		char c = e[j];
		int v = c >= '0' && c <= '9' ? c - '0'
			: hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
			: hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (v < 0)
			break;
		cp = cp * (hex ? 16 : 10) + (uint32_t)v;
	}
	if (digits == 0 || j >= left || e[j] != ';')
		return 0;
	char u[4];
	size_t len;
	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
		return j + 2;   /* no character: dropped */
	} else if (cp < 0x80) {
		u[0] = (char)cp;
		len = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		len = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		len = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		len = 4;
	}
	put_text(pv, u, len);
	return j + 2;
}

/* HTML to its text: tags are dropped (a space for each, so that "a<br>b"
 * stays two words), comments, <head>, <style> and <script> with their
 * content, and the common entities decoded. */
static void put_html(struct preview *pv, const char *s, size_t n)
{
	size_t i = 0, run = 0;
	while (i < n && !pv->full) {
		if (s[i] != '<' && s[i] != '&') {
			i++;
			continue;
		}
		put_text(pv, s + run, i - run);
		if (s[i] == '&') {
			size_t used = put_entity(pv, s, n, i);
			if (used == 0) {
				put_text(pv, "&", 1);
				used = 1;
			}
			i += used;
		} else if (ci_prefix(s + i, n - i, "<!--")) {
			const char *end = NULL;
			for (size_t j = i + 4; j + 2 < n && !end; j++)
				if (s[j] == '-' && s[j + 1] == '-' && s[j + 2] == '>')
					end = s + j + 3;
			i = end ? (size_t)(end - s) : n;
		} else {
			static const char *const hidden[] = { "head", "style", "script", "title" };
			size_t skip = 0;
			for (size_t k = 0; k < sizeof(hidden) / sizeof(hidden[0]) && !skip; k++) {
				size_t w = strlen(hidden[k]);
				if (ci_prefix(s + i + 1, n - i - 1, hidden[k]) && i + 1 + w < n &&
				    (s[i + 1 + w] == '>' || s[i + 1 + w] == ' ' || s[i + 1 + w] == '\t' ||
				     s[i + 1 + w] == '\r' || s[i + 1 + w] == '\n' || s[i + 1 + w] == '/'))
					skip = skip_element(s, n, i + 1, hidden[k]);
			}
			if (skip) {
				i = skip;
			} else {
				const char *gt = memchr(s + i, '>', n - i);
				i = gt ? (size_t)(gt - s) + 1 : n;
			}
			put_space(pv);
		}
		run = i;
	}
	if (run < i && !pv->full)
		put_text(pv, s + run, i - run);
}

int mime_preview_text(const struct mime_part *part, const char *body, size_t len, bool cut,
		      struct buf *out)
{
	/* A body cut short may end inside an encoded quantum or an "=XX"
	 * escape: keep only whole lines of an encoded body. */
	const struct mime_str *enc = &part->encoding;
	if (cut && enc->data && (mime_ci_eq(enc->data, enc->len, "base64") ||
				 mime_ci_eq(enc->data, enc->len, "quoted-printable"))) {
		while (len > 0 && body[len - 1] != '\n')
			len--;
	}
	struct mime_part view = *part;
	view.body_off = 0;
	view.body_len = len;
	struct buf text;
	buf_init(&text, 0);
	int rc = mime_part_decode(body, len, &view, &text);
	if (rc < 0) {
		buf_free(&text);
		return rc == MIME_ERR_NOMEM ? MIME_ERR_NOMEM : 0;
	}
	struct preview pv = { .out = out };
	if (mime_part_is(part, "text", "html"))
		put_html(&pv, text.data ? text.data : "", text.len);
	else
		put_text(&pv, text.data ? text.data : "", text.len);
	buf_free(&text);
	return pv.rc ? MIME_ERR_NOMEM : 0;
}
