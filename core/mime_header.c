/* core/mime_header.c: header fields.  Iterates the fields of a header block
 * (RFC 5322 2.2, with the obsolete space before the colon, 4.5), unfolds
 * them (2.2.3), and interprets what a part needs: Content-Type with its
 * parameters (RFC 2045 5.1, defaults 5.2; RFC 2046 4.1.2 and 5.1.5),
 * RFC 2231 continuations and charsets, Content-Transfer-Encoding (RFC 2045
 * 6), Content-ID and -Description (7, 8), Content-Disposition (RFC 2183),
 * Content-Language (RFC 3282), Content-Location (RFC 2557), Content-MD5
 * (RFC 1864), and for a message the envelope fields (RFC 3501 7.4.2).
 *
 * Broken input is read the way most mailers meant it: parameters with
 * unquoted spaces or specials run to the next ';', unterminated quotes and
 * comments run to the end, an invalid Content-Type is the default. */
#include "core/mime.h"
#include "core/mime_private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

/* ------------------------------------------------------------------ */
/* fields                                                              */

/* RFC 5322 3.6.8 ftext: printable ASCII except ':'. */
static bool field_name_valid(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 33 || c > 126)
			return false;
	}
	return true;
}

/* Content end and next line start of the line at pos. */
static size_t line_span(const char *s, size_t len, size_t pos, size_t *next_r)
{
	const char *nl = memchr(s + pos, '\n', len - pos);
	if (!nl) {
		*next_r = len;
		return len;
	}
	size_t i = (size_t)(nl - s);
	*next_r = i + 1;
	return i > pos && s[i - 1] == '\r' ? i - 1 : i;
}

int mime_header_next(const char *hdr, size_t len, size_t *pos, struct mime_header_field *f)
{
	size_t p = *pos, next;
	if (p >= len)
		return 0;
	size_t end1 = line_span(hdr, len, p, &next);
	if (end1 == p)
		return 0;   /* the blank line */
	size_t last_end = end1;
	while (next < len && mime_is_wsp((unsigned char)hdr[next]))
		last_end = line_span(hdr, len, next, &next);
	f->off = p;
	f->len = next - p;
	const char *colon = memchr(hdr + p, ':', end1 - p);
	size_t name_len = colon ? (size_t)(colon - (hdr + p)) : 0;
	while (name_len > 0 && mime_is_wsp((unsigned char)hdr[p + name_len - 1]))
		name_len--;
	f->name = hdr + p;
	if (colon && field_name_valid(hdr + p, name_len)) {
		f->name_len = name_len;
		f->value = colon + 1;
		f->value_len = last_end - (size_t)(colon + 1 - hdr);
	} else {
		/* Not a field (a stray line or an orphan continuation): the
		 * caller still sees it, as HEADER.FIELDS.NOT must. */
		f->name_len = 0;
		f->value = hdr + p;
		f->value_len = last_end - p;
	}
	*pos = next;
	return 1;
}

int mime_header_unfold(const char *v, size_t len, struct buf *out)
{
	size_t i = 0;
	while (i < len && (mime_is_wsp((unsigned char)v[i]) || v[i] == '\r' || v[i] == '\n'))
		i++;
	size_t start = out->len;
	size_t run = i;
	for (; i < len; i++) {
		if (v[i] == '\n' || (v[i] == '\r' && i + 1 < len && v[i + 1] == '\n')) {
			if (buf_append(out, v + run, i - run) < 0)
				return MIME_ERR_NOMEM;
			run = i + 1;
		}
	}
	if (buf_append(out, v + run, len - run) < 0)
		return MIME_ERR_NOMEM;
	while (out->len > start && mime_is_wsp((unsigned char)out->data[out->len - 1]))
		out->len--;
	if (out->data)
		out->data[out->len] = '\0';
	return 0;
}

int mime_header_get(const char *hdr, size_t len, const char *name, struct buf *out)
{
	size_t pos = 0;
	struct mime_header_field f;
	while (mime_header_next(hdr, len, &pos, &f) > 0) {
		if (f.name_len && mime_ci_eq(f.name, f.name_len, name))
			return mime_header_unfold(f.value, f.value_len, out) < 0 ? MIME_ERR_NOMEM : 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* RFC 2045 lexical tokens                                             */

struct lex {
	const char *s;
	size_t len, pos;
};

static bool is_tspecial(unsigned char c)
{
	return c != 0 && strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static bool is_token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !is_tspecial(c);
}

static void lex_skip_comment(struct lex *l)
{
	unsigned depth = 0;
	while (l->pos < l->len) {
		char c = l->s[l->pos++];
		if (c == '\\' && l->pos < l->len)
			l->pos++;
		else if (c == '(')
			depth++;
		else if (c == ')' && --depth == 0)
			return;
	}
}

static void lex_skip_cfws(struct lex *l)
{
	while (l->pos < l->len) {
		unsigned char c = (unsigned char)l->s[l->pos];
		if (mime_is_wsp(c) || c == '\r' || c == '\n')
			l->pos++;
		else if (c == '(')
			lex_skip_comment(l);
		else
			return;
	}
}

static size_t lex_token(struct lex *l)
{
	size_t start = l->pos;
	while (l->pos < l->len && is_token_char((unsigned char)l->s[l->pos]))
		l->pos++;
	return l->pos - start;
}

/* Moves to the next ';' outside quotes and comments. */
static void lex_skip_to_semicolon(struct lex *l)
{
	while (l->pos < l->len && l->s[l->pos] != ';') {
		char c = l->s[l->pos];
		if (c == '(') {
			lex_skip_comment(l);
		} else if (c == '"') {
			l->pos++;
			while (l->pos < l->len && l->s[l->pos] != '"') {
				if (l->s[l->pos] == '\\')
					l->pos++;
				l->pos++;
			}
			if (l->pos < l->len)
				l->pos++;
		} else {
			l->pos++;
		}
	}
	if (l->pos > l->len)
		l->pos = l->len;
}

/* A quoted-string at l->pos (the opening quote), unescaped into arena. */
static int lex_quoted(struct lex *l, struct mime_arena *arena, struct mime_str *out)
{
	size_t i = l->pos + 1, n = 0;
	for (; i < l->len && l->s[i] != '"'; i++, n++)
		if (l->s[i] == '\\' && i + 1 < l->len)
			i++;
	char *p = mime_arena_alloc(arena, n + 1);
	if (!p)
		return -1;
	size_t k = 0;
	for (i = l->pos + 1; i < l->len && l->s[i] != '"'; i++) {
		if (l->s[i] == '\\' && i + 1 < l->len)
			i++;
		p[k++] = l->s[i];
	}
	out->data = p;
	out->len = k;
	l->pos = i < l->len ? i + 1 : l->len;   /* unterminated: to the end */
	return 0;
}

/* ------------------------------------------------------------------ */
/* parameters and RFC 2231                                             */

struct raw_param {
	const char *name;   /* as sent, '*' suffixes included */
	size_t name_len;
	struct mime_str value;
	size_t base_len;    /* the name without the RFC 2231 suffix */
	long section;       /* -1: none; continuation number otherwise */
	bool encoded;       /* ends in '*': percent-encoded, maybe with charset */
	bool used;
};

/* RFC 2231 3 and 4: name*, name*N, name*N*. */
static void raw_param_classify(struct raw_param *r)
{
	r->base_len = r->name_len;
	r->section = -1;
	r->encoded = false;
	const char *star = memchr(r->name, '*', r->name_len);
	if (!star || star == r->name)
		return;
	size_t b = (size_t)(star - r->name), rest = r->name_len - b;
	if (rest == 1) {
		r->base_len = b;
		r->encoded = true;
		return;
	}
	size_t i = b + 1;
	long n = 0;
	size_t digits = 0;
	while (i < r->name_len && r->name[i] >= '0' && r->name[i] <= '9' && digits < 6) {
		n = n * 10 + (r->name[i] - '0');
		i++;
		digits++;
	}
	if (digits == 0)
		return;
	if (i == r->name_len) {
		r->base_len = b;
		r->section = n;
	} else if (i + 1 == r->name_len && r->name[i] == '*') {
		r->base_len = b;
		r->section = n;
		r->encoded = true;
	}
}

static int percent_decode(const char *s, size_t n, struct buf *out)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%' || n - i < 3)
			continue;
		int hi = mime_hex_value((unsigned char)s[i + 1]);
		int lo = mime_hex_value((unsigned char)s[i + 2]);
		if (hi < 0 || lo < 0)
			continue;   /* not an escape: kept as it is */
		if (buf_append(out, s + run, i - run) < 0 || buf_putc(out, (char)(hi * 16 + lo)) < 0)
			return -1;
		i += 2;
		run = i + 1;
	}
	return buf_append(out, s + run, n - run);
}

/* Splits charset'language'text (RFC 2231 4).  Without both quotes the
 * whole value is text with an empty charset. */
static void split_extended(const struct mime_str *v, struct mime_str *cs, struct mime_str *lang,
			   struct mime_str *text)
{
	const char *q1 = memchr(v->data, '\'', v->len);
	const char *q2 = q1 ? memchr(q1 + 1, '\'', v->len - (size_t)(q1 + 1 - v->data)) : NULL;
	if (!q2) {
		cs->data = "";
		cs->len = 0;
		lang->data = NULL;
		lang->len = 0;
		*text = *v;
		return;
	}
	cs->data = v->data;
	cs->len = (size_t)(q1 - v->data);
	lang->data = q1 + 1;
	lang->len = (size_t)(q2 - q1 - 1);
	if (lang->len == 0)
		lang->data = NULL;
	text->data = q2 + 1;
	text->len = v->len - (size_t)(q2 + 1 - v->data);
}

static bool same_base(const struct raw_param *a, const struct raw_param *b)
{
	if (a->base_len != b->base_len)
		return false;
	for (size_t i = 0; i < a->base_len; i++)
		if (mime_lower((unsigned char)a->name[i]) != mime_lower((unsigned char)b->name[i]))
			return false;
	return true;
}

static int cmp_section(const void *a, const void *b)
{
	const struct raw_param *const *x = a, *const *y = b;
	if ((*x)->section != (*y)->section)
		return (*x)->section < (*y)->section ? -1 : 1;
	return *x < *y ? -1 : (*x > *y);
}

/* Joins the RFC 2231 parameter raws[first] with its continuations into
 * out, percent-decoding and converting the charset. */
static int param_merge(struct mime_arena *arena, struct raw_param *raws, size_t n, size_t first,
		       struct mime_param *out)
{
	struct raw_param *r0 = &raws[first];
	struct raw_param **segs = calloc(n, sizeof(*segs));
	if (!segs)
		return -1;
	size_t nseg = 0;
	if (r0->section < 0) {
		segs[nseg++] = r0;   /* name*= : one extended value */
		r0->used = true;
	} else {
		for (size_t i = first; i < n; i++) {
			struct raw_param *r = &raws[i];
			if (!r->used && r->section >= 0 && same_base(r, r0)) {
				segs[nseg++] = r;
				r->used = true;
			}
		}
		qsort(segs, nseg, sizeof(*segs), cmp_section);
	}
	struct buf bytes, conv;
	buf_init(&bytes, 0);
	buf_init(&conv, 0);
	int rc = -1;
	struct mime_str cs = {NULL, 0}, lang = {NULL, 0};
	long prev = -1;
	for (size_t i = 0; i < nseg; i++) {
		struct raw_param *r = segs[i];
		if (r->section >= 0 && r->section == prev)
			continue;   /* a repeated section: the first one counts */
		prev = r->section;
		struct mime_str text = r->value;
		if (r->encoded && i == 0 && r->section <= 0)
			split_extended(&r->value, &cs, &lang, &text);
		if (r->encoded ? percent_decode(text.data, text.len, &bytes) < 0
			       : buf_append(&bytes, text.data, text.len) < 0)
			goto out;
	}
	const char *val = bytes.data ? bytes.data : "";
	size_t val_len = bytes.len;
	if (cs.data) {
		int conv_rc = cs.len ? mime_charset_to_utf8(cs.data, cs.len, val, val_len, &conv) : 0;
		if (conv_rc < 0)
			goto out;
		if (conv_rc == 1) {
			val = conv.data ? conv.data : "";
			val_len = conv.len;
			cs.data = "utf-8";
			cs.len = 5;
		}
		if (mime_str_set_lower(arena, &out->charset, cs.data, cs.len) < 0)
			goto out;
		if (lang.data && mime_str_set(arena, &out->language, lang.data, lang.len) < 0)
			goto out;
	}
	if (mime_str_set_lower(arena, &out->name, r0->name, r0->base_len) < 0 ||
	    mime_str_set(arena, &out->value, val, val_len) < 0)
		goto out;
	rc = 0;
out:
	buf_free(&bytes);
	buf_free(&conv);
	free(segs);
	return rc;
}

/* Parameters after the current position: *( ";" attribute "=" value ),
 * RFC 2231 continuations joined.  (The array gets one spare slot so that
 * it is never empty-and-NULL by accident.) */
static int params_parse(struct mime_arena *arena, const struct mime_limits *lim, struct lex *l,
			struct mime_param **params_r, size_t *n_r)
{
	*params_r = NULL;
	*n_r = 0;
	/* Each parameter follows a ';': no more slots than that are needed. */
	size_t semis = 0;
	for (size_t i = l->pos; i < l->len; i++)
		semis += l->s[i] == ';';
	size_t cap = semis < lim->max_params ? semis : lim->max_params, n = 0;
	struct raw_param *raws = calloc(cap ? cap : 1, sizeof(*raws));
	if (!raws)
		return -1;
	while (n < cap) {
		lex_skip_to_semicolon(l);
		if (l->pos >= l->len)
			break;
		l->pos++;
		lex_skip_cfws(l);
		size_t name0 = l->pos, name_len = lex_token(l);
		if (name_len == 0)
			continue;
		lex_skip_cfws(l);
		if (l->pos >= l->len || l->s[l->pos] != '=')
			continue;
		l->pos++;
		lex_skip_cfws(l);
		struct raw_param *r = &raws[n];
		r->name = l->s + name0;
		r->name_len = name_len;
		if (l->pos < l->len && l->s[l->pos] == '"') {
			if (lex_quoted(l, arena, &r->value) < 0)
				goto fail;
		} else {
			size_t v0 = l->pos, vlen = lex_token(l);
			struct lex look = *l;
			lex_skip_cfws(&look);
			if (look.pos < look.len && look.s[look.pos] != ';') {
				/* Unquoted spaces or specials: the value runs to the
				 * next ';' (mailers write name=my file.pdf). */
				const char *semi = memchr(l->s + v0, ';', l->len - v0);
				size_t end = semi ? (size_t)(semi - l->s) : l->len;
				while (end > v0 && mime_is_wsp((unsigned char)l->s[end - 1]))
					end--;
				vlen = end - v0;
				l->pos = end;
			} else {
				l->pos = look.pos;
			}
			if (mime_str_set(arena, &r->value, l->s + v0, vlen) < 0)
				goto fail;
		}
		raw_param_classify(r);
		n++;
	}
	struct mime_param *out = mime_arena_array(arena, n + 1, sizeof(*out));
	if (!out)
		goto fail;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		struct raw_param *r = &raws[i];
		if (r->used)
			continue;
		if (r->section < 0 && !r->encoded) {
			if (mime_str_set_lower(arena, &out[k].name, r->name, r->name_len) < 0)
				goto fail;
			out[k].value = r->value;
			r->used = true;
		} else if (param_merge(arena, raws, n, i, &out[k]) < 0) {
			goto fail;
		}
		k++;
	}
	free(raws);
	*params_r = out;
	*n_r = k;
	return 0;
fail:
	free(raws);
	return -1;
}

const struct mime_param *mime_param_find(const struct mime_param *params, size_t n,
					 const char *name)
{
	const struct mime_param *found = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!mime_ci_eq(params[i].name.data, params[i].name.len, name))
			continue;
		if (params[i].charset.data)
			return &params[i];
		if (!found)
			found = &params[i];
	}
	return found;
}

/* ------------------------------------------------------------------ */
/* Content-* fields                                                    */

static int param_append(struct mime_arena *arena, struct mime_part *part, const char *name,
			const char *value)
{
	/* params_parse leaves room for one; a retyped part may not have it. */
	struct mime_param *p = mime_arena_array(arena, part->nparams + 1, sizeof(*p));
	if (!p)
		return -1;
	if (part->nparams)
		memcpy(p, part->params, part->nparams * sizeof(*p));
	if (mime_str_set(arena, &p[part->nparams].name, name, strlen(name)) < 0 ||
	    mime_str_set(arena, &p[part->nparams].value, value, strlen(value)) < 0)
		return -1;
	part->params = p;
	part->nparams++;
	return 0;
}

/* RFC 2046 4.1.2: text without a charset is US-ASCII. */
static int text_charset_default(struct mime_arena *arena, struct mime_part *part)
{
	if (!mime_part_is(part, "text", NULL) ||
	    mime_param_find(part->params, part->nparams, "charset"))
		return 0;
	return param_append(arena, part, "charset", "US-ASCII");
}

int mime_part_retype(struct mime_arena *arena, struct mime_part *part, const char *type,
		     const char *subtype)
{
	if (mime_str_set(arena, &part->type, type, strlen(type)) < 0 ||
	    mime_str_set(arena, &part->subtype, subtype, strlen(subtype)) < 0)
		return -1;
	return text_charset_default(arena, part);
}

static int parse_content_type(struct mime_arena *arena, const struct mime_limits *lim,
			      const char *s, size_t n, struct mime_part *part)
{
	struct lex l = {s, n, 0};
	lex_skip_cfws(&l);
	size_t t0 = l.pos, tl = lex_token(&l);
	lex_skip_cfws(&l);
	if (tl > 0 && l.pos < n && s[l.pos] == '/') {
		l.pos++;
		lex_skip_cfws(&l);
		size_t s0 = l.pos, sl = lex_token(&l);
		if (sl > 0 && (mime_str_set_lower(arena, &part->type, s + t0, tl) < 0 ||
			       mime_str_set_lower(arena, &part->subtype, s + s0, sl) < 0))
			return -1;
	}
	return params_parse(arena, lim, &l, &part->params, &part->nparams);
}

static int parse_disposition(struct mime_arena *arena, const struct mime_limits *lim,
			     const char *s, size_t n, struct mime_part *part)
{
	struct lex l = {s, n, 0};
	lex_skip_cfws(&l);
	size_t t0 = l.pos, tl = lex_token(&l);
	if (tl == 0)
		return 0;   /* no type: IMAP has no way to show the rest */
	if (mime_str_set_lower(arena, &part->disposition, s + t0, tl) < 0)
		return -1;
	return params_parse(arena, lim, &l, &part->disp_params, &part->ndisp_params);
}

/* RFC 3282: Content-Language is a comma-separated list of tags. */
static int parse_language(struct mime_arena *arena, const struct mime_limits *lim, const char *s,
			  size_t n, struct mime_part *part)
{
	struct lex l = {s, n, 0};
	struct mime_str tags[16];
	size_t count = 0, max = lim->max_params < 16 ? lim->max_params : 16;
	while (l.pos < n && count < max) {
		lex_skip_cfws(&l);
		size_t t0 = l.pos, tl = lex_token(&l);
		if (tl > 0 && mime_str_set(arena, &tags[count++], s + t0, tl) < 0)
			return -1;
		lex_skip_cfws(&l);
		while (l.pos < n && s[l.pos] != ',')
			l.pos++;
		if (l.pos < n)
			l.pos++;
	}
	if (count == 0)
		return 0;
	part->languages = mime_arena_array(arena, count, sizeof(*part->languages));
	if (!part->languages)
		return -1;
	memcpy(part->languages, tags, count * sizeof(*tags));
	part->nlanguages = count;
	return 0;
}

static int parse_encoding(struct mime_arena *arena, const char *s, size_t n, struct mime_part *part)
{
	struct lex l = {s, n, 0};
	lex_skip_cfws(&l);
	size_t t0 = l.pos, tl = lex_token(&l);
	if (tl == 0)
		return 0;
	return mime_str_set_lower(arena, &part->encoding, s + t0, tl);
}

/* ------------------------------------------------------------------ */
/* the header of a part                                                */

enum field_id {
	F_CONTENT_TYPE, F_CONTENT_TRANSFER_ENCODING, F_CONTENT_ID, F_CONTENT_DESCRIPTION,
	F_CONTENT_DISPOSITION, F_CONTENT_LANGUAGE, F_CONTENT_LOCATION, F_CONTENT_MD5,
	F_DATE, F_SUBJECT, F_FROM, F_SENDER, F_REPLY_TO, F_TO, F_CC, F_BCC, F_IN_REPLY_TO,
	F_MESSAGE_ID, F_COUNT,
	F_FIRST_ENVELOPE = F_DATE,
};

static const char *const field_names[F_COUNT] = {
	"Content-Type", "Content-Transfer-Encoding", "Content-ID", "Content-Description",
	"Content-Disposition", "Content-Language", "Content-Location", "Content-MD5",
	"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "In-Reply-To",
	"Message-ID",
};

struct span {
	const char *s;
	size_t len;
	bool present;
};

static size_t count_lines(const char *s, size_t n)
{
	size_t lines = 0;
	const char *p = s, *end = s + n;
	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		lines++;
		p++;
	}
	if (n > 0 && s[n - 1] != '\n')
		lines++;
	return lines;
}

/* The unfolded value of a field into tmp (reset first). */
static int unfold(const struct span *sp, struct buf *tmp)
{
	buf_reset(tmp);
	if (mime_header_unfold(sp->s, sp->len, tmp) < 0)
		return -1;
	if (!tmp->data && buf_append(tmp, "", 0) < 0)
		return -1;
	return 0;
}

static int set_unfolded(struct mime_arena *arena, const struct span *sp, struct buf *tmp,
			struct mime_str *dst)
{
	if (!sp->present)
		return 0;
	if (unfold(sp, tmp) < 0)
		return -1;
	return mime_str_set(arena, dst, tmp->data, tmp->len);
}

static int parse_envelope(struct mime_arena *arena, const struct mime_limits *lim,
			  const struct span *f, struct buf *tmp, struct mime_envelope *env)
{
	struct mime_address_list *lists[] = {&env->from, &env->sender, &env->reply_to, &env->to,
					     &env->cc, &env->bcc};
	static const enum field_id list_ids[] = {F_FROM, F_SENDER, F_REPLY_TO, F_TO, F_CC, F_BCC};
	if (set_unfolded(arena, &f[F_DATE], tmp, &env->date) < 0 ||
	    set_unfolded(arena, &f[F_SUBJECT], tmp, &env->subject) < 0 ||
	    set_unfolded(arena, &f[F_IN_REPLY_TO], tmp, &env->in_reply_to) < 0 ||
	    set_unfolded(arena, &f[F_MESSAGE_ID], tmp, &env->message_id) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		const struct span *sp = &f[list_ids[i]];
		if (!sp->present)
			continue;
		if (unfold(sp, tmp) < 0 ||
		    mime_address_list_parse(arena, tmp->data, tmp->len, lim->max_addresses, lists[i]) < 0)
			return -1;
	}
	return 0;
}

static int header_interpret(struct mime_arena *arena, const struct mime_limits *lim,
			    const struct span *f, unsigned ctx, struct buf *tmp,
			    struct mime_part *part)
{
	if (f[F_CONTENT_TYPE].present &&
	    (unfold(&f[F_CONTENT_TYPE], tmp) < 0 ||
	     parse_content_type(arena, lim, tmp->data, tmp->len, part) < 0))
		return -1;
	if (!part->type.data) {
		/* RFC 2045 5.2: absent or invalid; RFC 2046 5.1.5 in a digest.
		 * Parameters of an invalid field are kept (a charset still
		 * helps). */
		part->flags |= MIME_PART_DEFAULT_TYPE;
		bool digest = ctx & MIME_CTX_DIGEST;
		if (mime_part_retype(arena, part, digest ? "message" : "text",
				     digest ? "rfc822" : "plain") < 0)
			return -1;
	} else if (text_charset_default(arena, part) < 0) {
		return -1;
	}
	if (f[F_CONTENT_TRANSFER_ENCODING].present &&
	    (unfold(&f[F_CONTENT_TRANSFER_ENCODING], tmp) < 0 ||
	     parse_encoding(arena, tmp->data, tmp->len, part) < 0))
		return -1;
	if (!part->encoding.data && mime_str_set(arena, &part->encoding, "7bit", 4) < 0)
		return -1;
	if (set_unfolded(arena, &f[F_CONTENT_ID], tmp, &part->id) < 0 ||
	    set_unfolded(arena, &f[F_CONTENT_DESCRIPTION], tmp, &part->description) < 0 ||
	    set_unfolded(arena, &f[F_CONTENT_MD5], tmp, &part->md5) < 0 ||
	    set_unfolded(arena, &f[F_CONTENT_LOCATION], tmp, &part->location) < 0)
		return -1;
	if (f[F_CONTENT_DISPOSITION].present &&
	    (unfold(&f[F_CONTENT_DISPOSITION], tmp) < 0 ||
	     parse_disposition(arena, lim, tmp->data, tmp->len, part) < 0))
		return -1;
	if (f[F_CONTENT_LANGUAGE].present &&
	    (unfold(&f[F_CONTENT_LANGUAGE], tmp) < 0 ||
	     parse_language(arena, lim, tmp->data, tmp->len, part) < 0))
		return -1;
	if (ctx & MIME_CTX_MESSAGE) {
		part->envelope = mime_arena_alloc(arena, sizeof(*part->envelope));
		if (!part->envelope || parse_envelope(arena, lim, f, tmp, part->envelope) < 0)
			return -1;
	}
	return 0;
}

int mime_part_header_parse(struct mime_arena *arena, const struct mime_limits *lim,
			   const char *hdr, size_t len, unsigned ctx, struct mime_part *part)
{
	struct span f[F_COUNT];
	memset(f, 0, sizeof(f));
	size_t nfields = ctx & MIME_CTX_MESSAGE ? F_COUNT : F_FIRST_ENVELOPE;
	size_t pos = 0, lines = 0;
	struct mime_header_field hf;
	while (mime_header_next(hdr, len, &pos, &hf) > 0) {
		lines += count_lines(hdr + hf.off, hf.len);
		if (lines > lim->max_header_lines) {
			part->flags |= MIME_PART_HEADER_LIMIT;
			break;
		}
		if (hf.name_len == 0)
			continue;
		/* The first occurrence counts, as in most servers. */
		for (size_t i = 0; i < nfields; i++) {
			if (!f[i].present && mime_ci_eq(hf.name, hf.name_len, field_names[i])) {
				f[i].s = hf.value;
				f[i].len = hf.value_len;
				f[i].present = true;
				break;
			}
		}
	}
	struct buf tmp;
	buf_init(&tmp, 0);
	int rc = header_interpret(arena, lim, f, ctx, &tmp, part);
	buf_free(&tmp);
	return rc;
}
