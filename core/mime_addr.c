/* core/mime_addr.c: RFC 5322 3.4 address lists, turned into the address
 * structures of IMAP's ENVELOPE (RFC 3501 7.4.2): display name, source
 * route, mailbox (local-part) and host, with groups as start and end
 * markers.  Obsolete forms (RFC 5322 4.4: routes, dotted phrases, CFWS
 * around dots, empty list elements) are accepted.
 *
 * Real headers are often broken, so the parser guesses the way a reader
 * would: an unterminated quote is ignored, an unterminated comment runs to
 * the end (as in RFC 2045 fields), a missing '>' ends at the next ',', "John Doe john@example.org" is a name and an
 * address, a word with no '@' is a mailbox on a missing host, and junk
 * after an address is skipped to the next ','.  A comment stands in for a
 * missing display name ("john@example.org (John Doe)").  It never fails
 * except for lack of memory. */
#include "core/mime.h"
#include "core/mime_private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

enum tok_kind { T_END, T_ATOM, T_QSTR, T_DLIT, T_COMMENT, T_SPECIAL };

struct tok {
	enum tok_kind kind;
	char c;             /* T_SPECIAL */
	size_t off, len;    /* in the input; T_QSTR with its quotes, T_COMMENT without parens */
	bool ws;            /* white space or a comment came before it */
};

/* Words of one address kept for its display name or local part; a longer
 * phrase keeps its first words. */
#define PHRASE_MAX 256

struct aparser {
	const char *s;
	size_t len, pos;
	/* A quote or '[' at or after these has no closer: if none follows
	 * position i, none follows any later one either, and remembering
	 * that keeps the lexer linear on input like "\"\"\"\"". */
	size_t no_quote_from, no_bracket_from;
	bool after_comment;
	struct tok cur;
	struct mime_arena *arena;
	struct buf tmp;
	struct mime_address *v;
	size_t n, cap;
	unsigned max;
	struct tok phrase[PHRASE_MAX];
	size_t nphrase;
	struct tok comment;   /* the first comment of the current address */
	bool has_comment;
};

/* The end of the comment opening at pos (just after its ')'), or 0. */
static size_t comment_end(const char *s, size_t len, size_t pos)
{
	unsigned depth = 0;
	for (size_t i = pos; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '(')
			depth++;
		else if (s[i] == ')' && --depth == 0)
			return i + 1;
	}
	return 0;
}

static size_t quoted_end(const char *s, size_t len, size_t pos, char close)
{
	for (size_t i = pos + 1; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == close)
			return i + 1;
	}
	return 0;
}

static bool atom_stop(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
	       (c != '\0' && strchr("()\"<>@,;:.[", c) != NULL);
}

static void lex_next(struct aparser *p)
{
	bool ws = p->after_comment;
	p->after_comment = false;
	struct tok *t = &p->cur;
	while (p->pos < p->len) {
		size_t i = p->pos, end;
		char c = p->s[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			ws = true;
			p->pos++;
			continue;
		}
		t->ws = ws;
		if (c == '(') {
			/* An unterminated comment runs to the end. */
			end = comment_end(p->s, p->len, i);
			t->kind = T_COMMENT;
			t->off = i + 1;
			t->len = end ? end - 1 - (i + 1) : p->len - (i + 1);
			p->pos = end ? end : p->len;
			p->after_comment = true;
			return;
		}
		if (c == '"') {
			end = i >= p->no_quote_from ? 0 : quoted_end(p->s, p->len, i, '"');
			if (end == 0) {
				if (i < p->no_quote_from)
					p->no_quote_from = i;
				p->pos++;   /* a stray '"' */
				continue;
			}
			t->kind = T_QSTR;
			t->off = i;
			t->len = end - i;
			p->pos = end;
			return;
		}
		end = c == '[' && i < p->no_bracket_from ? quoted_end(p->s, p->len, i, ']') : 0;
		if (c == '[' && end == 0 && i < p->no_bracket_from)
			p->no_bracket_from = i;
		if (end) {
			t->kind = T_DLIT;
			t->off = i;
			t->len = end - i;
			p->pos = end;
			return;
		}
		if (c != '[' && c != '\0' && strchr("<>@,;:.", c)) {
			t->kind = T_SPECIAL;
			t->c = c;
			t->off = i;
			t->len = 1;
			p->pos++;
			return;
		}
		end = i + 1;   /* an atom; a stray '[' starts one */
		while (end < p->len && !atom_stop(p->s[end]))
			end++;
		t->kind = T_ATOM;
		t->off = i;
		t->len = end - i;
		p->pos = end;
		return;
	}
	t->kind = T_END;
	t->ws = ws;
	t->off = p->len;
	t->len = 0;
}

static bool is_sp(const struct aparser *p, char c)
{
	return p->cur.kind == T_SPECIAL && p->cur.c == c;
}

static bool is_word(const struct tok *t)
{
	return t->kind == T_ATOM || t->kind == T_QSTR;
}

static bool is_dot(const struct tok *t)
{
	return t->kind == T_SPECIAL && t->c == '.';
}

/* Reads the next token, keeping the first comment of the address. */
static void next(struct aparser *p)
{
	lex_next(p);
	while (p->cur.kind == T_COMMENT) {
		if (!p->has_comment) {
			p->comment = p->cur;
			p->has_comment = true;
		}
		lex_next(p);
	}
}

/* Display text of phrase[a..b): words with single spaces where the input
 * had white space, quoted strings unquoted. */
static int phrase_text(struct aparser *p, size_t a, size_t b, struct mime_str *out)
{
	buf_reset(&p->tmp);
	for (size_t i = a; i < b; i++) {
		const struct tok *t = &p->phrase[i];
		if (i > a && t->ws && buf_putc(&p->tmp, ' ') < 0)
			return -1;
		const char *s = p->s + t->off;
		if (t->kind != T_QSTR) {
			if (buf_append(&p->tmp, s, t->len) < 0)
				return -1;
			continue;
		}
		for (size_t k = 1; k + 1 < t->len; k++) {
			if (s[k] == '\\' && k + 2 < t->len)
				k++;
			if (buf_putc(&p->tmp, s[k]) < 0)
				return -1;
		}
	}
	return mime_str_set(p->arena, out, p->tmp.data ? p->tmp.data : "", p->tmp.len);
}

/* A local part as written (quoted strings keep their quotes), without the
 * white space and comments the obsolete syntax allows around dots. */
static int local_text(struct aparser *p, size_t a, size_t b, struct mime_str *out)
{
	buf_reset(&p->tmp);
	for (size_t i = a; i < b; i++)
		if (buf_append(&p->tmp, p->s + p->phrase[i].off, p->phrase[i].len) < 0)
			return -1;
	return mime_str_set(p->arena, out, p->tmp.data ? p->tmp.data : "", p->tmp.len);
}

/* A domain: dot-atom, domain literal or obsolete CFWS-separated atoms. */
static int domain_text(struct aparser *p, struct buf *b)
{
	bool want_word = true;
	for (;;) {
		if ((p->cur.kind == T_ATOM || p->cur.kind == T_DLIT) && want_word) {
			if (buf_append(b, p->s + p->cur.off, p->cur.len) < 0)
				return -1;
			want_word = false;
		} else if (is_sp(p, '.')) {
			if (buf_putc(b, '.') < 0)
				return -1;
			want_word = true;
		} else {
			return 0;
		}
		next(p);
	}
}

static int push(struct aparser *p, const struct mime_address *a)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct mime_address *v = realloc(p->v, cap * sizeof(*v));
		if (!v)
			return -1;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = *a;
	return 0;
}

static bool full(const struct aparser *p)
{
	return p->n >= p->max;
}

static int set_cstr(struct aparser *p, struct mime_str *dst, const char *s)
{
	return mime_str_set(p->arena, dst, s, strlen(s));
}

/* The display name from phrase[0..k); "" <a@b> has none. */
static int phrase_name(struct aparser *p, size_t k, struct mime_str *out)
{
	if (k > 0 && phrase_text(p, 0, k, out) < 0)
		return -1;
	if (out->data && out->len == 0)
		out->data = NULL;
	return 0;
}

/* Without a display name, the address's first comment stands in. */
static int comment_name(struct aparser *p, struct mime_str *out)
{
	if (p->has_comment) {
		const char *s = p->s + p->comment.off;
		size_t n = p->comment.len;
		while (n > 0 && mime_is_wsp((unsigned char)*s)) {
			s++;
			n--;
		}
		while (n > 0 && mime_is_wsp((unsigned char)s[n - 1]))
			n--;
		if (n > 0 && mime_str_set(p->arena, out, s, n) < 0)
			return -1;
	}
	return 0;
}

static void skip_junk(struct aparser *p)
{
	while (p->cur.kind != T_END && !is_sp(p, ',') && !is_sp(p, ';'))
		next(p);
}

/* "<" [route ":"] [local-part] ["@" domain] ">", with phrase[0..nphrase)
 * as the display name. */
static int angle_addr(struct aparser *p, struct mime_address *a)
{
	if (phrase_name(p, p->nphrase, &a->name) < 0)
		return -1;
	next(p);
	struct buf route;
	buf_init(&route, 0);
	int rc = -1;
	bool route_ok = false;
	if (is_sp(p, '@')) {
		/* RFC 5322 4.4 obs-route: "@a,@b:" */
		while (is_sp(p, '@') || is_sp(p, ',')) {
			if (is_sp(p, ',')) {
				next(p);
				continue;
			}
			next(p);
			if ((route.len && buf_putc(&route, ',') < 0) || buf_putc(&route, '@') < 0 ||
			    domain_text(p, &route) < 0)
				goto out;
		}
		if (is_sp(p, ':')) {
			next(p);
			route_ok = true;
		}
	}
	p->nphrase = 0;
	while ((is_word(&p->cur) || is_sp(p, '.')) && p->nphrase < PHRASE_MAX) {
		p->phrase[p->nphrase++] = p->cur;
		next(p);
	}
	if (local_text(p, 0, p->nphrase, &a->mailbox) < 0)
		goto out;
	bool at = false;
	if (is_sp(p, '@')) {
		at = true;
		next(p);
		buf_reset(&p->tmp);
		if (domain_text(p, &p->tmp) < 0)
			goto out;
		if (p->tmp.len && mime_str_set(p->arena, &a->host, p->tmp.data, p->tmp.len) < 0)
			goto out;
	} else if (route.len && !route_ok) {
		/* "<@example.org>": a domain with no local part. */
		if (mime_str_set(p->arena, &a->host, route.data + 1, route.len - 1) < 0)
			goto out;
		route.len = 0;
	}
	if (!a->host.data &&
	    set_cstr(p, &a->host, at || a->mailbox.len ? MIME_MISSING_HOST : "") < 0)
		goto out;
	if (route_ok && route.len && mime_str_set(p->arena, &a->route, route.data, route.len) < 0)
		goto out;
	while (p->cur.kind != T_END && !is_sp(p, '>') && !is_sp(p, ',') && !is_sp(p, ';'))
		next(p);
	if (is_sp(p, '>'))
		next(p);
	rc = 0;
out:
	buf_free(&route);
	return rc;
}

/* addr-spec whose local part ends phrase[]; words before it are taken as
 * a display name ("John Doe john@example.org"). */
static int addr_spec(struct aparser *p, struct mime_address *a)
{
	size_t j = p->nphrase;
	bool right_is_word = false;
	while (j > 0) {
		const struct tok *t = &p->phrase[j - 1];
		if (is_dot(t)) {
			right_is_word = false;
		} else if (is_word(t) && !right_is_word) {
			right_is_word = true;
		} else {
			break;
		}
		j--;
	}
	if (phrase_name(p, j, &a->name) < 0 || local_text(p, j, p->nphrase, &a->mailbox) < 0)
		return -1;
	next(p);   /* '@' */
	buf_reset(&p->tmp);
	if (domain_text(p, &p->tmp) < 0)
		return -1;
	if (p->tmp.len)
		return mime_str_set(p->arena, &a->host, p->tmp.data, p->tmp.len);
	return set_cstr(p, &a->host, MIME_MISSING_HOST);
}

static int parse_list(struct aparser *p, bool in_group);

static int parse_group(struct aparser *p)
{
	struct mime_address start, end;
	memset(&start, 0, sizeof(start));
	memset(&end, 0, sizeof(end));
	if (phrase_text(p, 0, p->nphrase, &start.mailbox) < 0)
		return -1;
	next(p);   /* ':' */
	bool emitted = !full(p);
	if (emitted && push(p, &start) < 0)
		return -1;
	if (parse_list(p, true) < 0)
		return -1;
	/* The end marker even past the limit: a group must close. */
	if (emitted && push(p, &end) < 0)
		return -1;
	if (is_sp(p, ';'))
		next(p);
	return 0;
}

static int parse_one(struct aparser *p, bool in_group)
{
	p->nphrase = 0;
	while (is_word(&p->cur) || p->cur.kind == T_DLIT || is_sp(p, '.')) {
		if (p->nphrase < PHRASE_MAX)
			p->phrase[p->nphrase++] = p->cur;
		next(p);
	}
	if (is_sp(p, ':') && !in_group) {
		if (parse_group(p) < 0)
			return -1;
		skip_junk(p);
		p->has_comment = false;
		return 0;
	}
	struct mime_address a;
	memset(&a, 0, sizeof(a));
	bool have = true;
	if (is_sp(p, '<')) {
		if (angle_addr(p, &a) < 0)
			return -1;
	} else if (is_sp(p, '@')) {
		if (addr_spec(p, &a) < 0)
			return -1;
	} else if (p->nphrase > 0) {
		/* No '@' at all: a local mailbox name. */
		if (phrase_text(p, 0, p->nphrase, &a.mailbox) < 0 ||
		    set_cstr(p, &a.host, MIME_MISSING_HOST) < 0)
			return -1;
	} else {
		have = false;
		next(p);   /* a stray '>' or ':' */
	}
	skip_junk(p);   /* and catch a trailing comment */
	int rc = 0;
	if (have && !full(p)) {
		if (!a.name.data && comment_name(p, &a.name) < 0)
			return -1;
		rc = push(p, &a);
	}
	/* Comments from here on belong to the next address. */
	p->has_comment = false;
	return rc;
}

static int parse_list(struct aparser *p, bool in_group)
{
	while (p->cur.kind != T_END) {
		if (is_sp(p, ',')) {
			next(p);
		} else if (is_sp(p, ';')) {
			if (in_group)
				return 0;
			next(p);
		} else if (parse_one(p, in_group) < 0) {
			return -1;
		}
	}
	return 0;
}

int mime_address_list_parse(struct mime_arena *arena, const char *s, size_t len, unsigned max,
			    struct mime_address_list *list_r)
{
	list_r->addrs = NULL;
	list_r->count = 0;
	struct aparser *p = calloc(1, sizeof(*p));
	if (!p)
		return -1;
	p->s = s ? s : "";
	p->len = s ? len : 0;
	p->no_quote_from = p->no_bracket_from = SIZE_MAX;
	p->arena = arena;
	p->max = max;
	buf_init(&p->tmp, 0);
	int rc = -1;
	next(p);
	if (parse_list(p, false) < 0)
		goto out;
	if (p->n) {
		list_r->addrs = mime_arena_array(arena, p->n, sizeof(*p->v));
		if (!list_r->addrs)
			goto out;
		memcpy(list_r->addrs, p->v, p->n * sizeof(*p->v));
		list_r->count = p->n;
	}
	rc = 0;
out:
	buf_free(&p->tmp);
	free(p->v);
	free(p);
	return rc;
}
