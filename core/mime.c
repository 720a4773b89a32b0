/* core/mime.c: the MIME structure parser (see mime.h): finds each part's
 * header and body in the message, follows multipart boundaries (RFC 2046
 * 5.1.1) and embedded messages (RFC 2046 5.2.1), enforces the limits, and
 * answers section lookups (RFC 3501 6.4.5).  It also owns the arena a tree
 * lives in.  Field interpretation is in mime_header.c.
 *
 * The parser walks the message once, line by line.  A stack holds the
 * boundaries of the multiparts being read; every part ends at the first
 * line that starts a delimiter of any of them (the longest matching
 * boundary wins, so a boundary that is a prefix of another's does not
 * steal its lines), or at the end of the data.  A multipart whose own
 * delimiter never comes is ended by an outer one: missing close delimiters
 * cost nothing.  Each line is examined by one level only, so the work is
 * O(size * depth) at worst, with depth bounded by the limits. */
#include "core/mime.h"
#include "core/mime_private.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* arena                                                               */

#define ARENA_BLOCK 4096

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	max_align_t data[];
};

struct mime_arena {
	struct arena_block *head;
};

struct mime_arena *mime_arena_new(void)
{
	return calloc(1, sizeof(struct mime_arena));
}

void mime_arena_free(struct mime_arena **arena)
{
	if (!*arena)
		return;
	struct arena_block *b = (*arena)->head;
	while (b) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
	free(*arena);
	*arena = NULL;
}

void *mime_arena_alloc(struct mime_arena *arena, size_t size)
{
	const size_t align = alignof(max_align_t);
	if (size > SIZE_MAX - align)
		return NULL;
	size = (size + align - 1) / align * align;
	if (size == 0)
		size = align;
	struct arena_block *b = arena->head;
	if (!b || b->cap - b->used < size) {
		size_t cap = size > ARENA_BLOCK ? size : ARENA_BLOCK;
		if (cap > SIZE_MAX - sizeof(*b))
			return NULL;
		struct arena_block *nb = malloc(sizeof(*nb) + cap);
		if (!nb)
			return NULL;
		nb->used = 0;
		nb->cap = cap;
		/* A big allocation gets its own block behind the current one,
		 * so the rest of the current block stays usable. */
		if (b && size > ARENA_BLOCK) {
			nb->next = b->next;
			b->next = nb;
		} else {
			nb->next = b;
			arena->head = nb;
		}
		b = nb;
	}
	void *p = (char *)b->data + b->used;
	b->used += size;
	memset(p, 0, size);
	return p;
}

void *mime_arena_array(struct mime_arena *arena, size_t n, size_t size)
{
	if (n == 0)
		return NULL;
	if (size && n > SIZE_MAX / size)
		return NULL;
	return mime_arena_alloc(arena, n * size);
}

int mime_str_set(struct mime_arena *arena, struct mime_str *dst, const char *s, size_t len)
{
	if (len == SIZE_MAX)
		return -1;
	char *p = mime_arena_alloc(arena, len + 1);
	if (!p)
		return -1;
	if (len)
		memcpy(p, s, len);
	p[len] = '\0';
	dst->data = p;
	dst->len = len;
	return 0;
}

int mime_str_set_lower(struct mime_arena *arena, struct mime_str *dst, const char *s, size_t len)
{
	if (mime_str_set(arena, dst, s, len) < 0)
		return -1;
	char *p = (char *)dst->data;
	for (size_t i = 0; i < len; i++)
		p[i] = (char)mime_lower((unsigned char)p[i]);
	return 0;
}

bool mime_ci_eq(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);
	if (n != len)
		return false;
	for (size_t i = 0; i < n; i++)
		if (mime_lower((unsigned char)s[i]) != mime_lower((unsigned char)lit[i]))
			return false;
	return true;
}

int mime_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ------------------------------------------------------------------ */
/* the structure parser                                                */

struct boundary {
	const char *s;
	size_t len;
};

struct parser {
	const char *m;
	size_t len;
	struct mime_limits lim;
	struct mime_arena *arena;
	size_t nparts;
	struct boundary *bounds;   /* the open multiparts, outermost first */
	size_t nbounds;
};

/* One line: m[start..end) is its content, next is just after its LF (or
 * the end of the data).  A CR counts as part of the line break only right
 * before the LF. */
struct line {
	size_t start, end, next;
};

/* How a part ended. */
struct part_end {
	size_t end;        /* the part's content ends here */
	size_t next;       /* just after the delimiter line */
	size_t line_end;   /* end of the delimiter line's content */
	int level;         /* index in bounds of the delimiter; -1: end of data */
	bool close;        /* a close delimiter ("--b--") */
};

static void line_at(const struct parser *p, size_t pos, struct line *l)
{
	l->start = pos;
	const char *nl = memchr(p->m + pos, '\n', p->len - pos);
	if (!nl) {
		l->end = l->next = p->len;
		return;
	}
	size_t i = (size_t)(nl - p->m);
	l->next = i + 1;
	l->end = i > pos && p->m[i - 1] == '\r' ? i - 1 : i;
}

bool mime_header_end(const char *msg, size_t len, size_t *pos_io)
{
	size_t pos = *pos_io;
	while (pos < len) {
		const char *nl = memchr(msg + pos, '\n', len - pos);
		if (!nl)
			break;
		size_t i = (size_t)(nl - msg);
		/* empty: nothing, or only the CR of a CRLF (as line_at) */
		if (i == pos || (i == pos + 1 && msg[pos] == '\r')) {
			*pos_io = i + 1;
			return true;
		}
		pos = i + 1;
	}
	*pos_io = pos;
	return false;
}

/* Back over the line break that ends just before pos: it belongs to the
 * delimiter line that starts at pos (RFC 2046 5.1.1), but never take
 * anything before floor. */
static size_t cut_line_break(const struct parser *p, size_t pos, size_t floor)
{
	if (pos > floor && p->m[pos - 1] == '\n') {
		pos--;
		if (pos > floor && p->m[pos - 1] == '\r')
			pos--;
	}
	return pos;
}

/* The level of the boundary a line is a delimiter of, or -1.  RFC 2046
 * 5.1.1: the boundary need only appear in its entirety after the leading
 * "--"; what follows is transport padding (or "--" for the close).  Of
 * several matching boundaries the longest wins, then the innermost. */
static int boundary_match(const struct parser *p, const struct line *l, bool *close_r)
{
	size_t n = l->end - l->start;
	const char *s = p->m + l->start;
	if (p->nbounds == 0 || n < 3 || s[0] != '-' || s[1] != '-')
		return -1;
	int best = -1;
	size_t best_len = 0;
	for (size_t i = p->nbounds; i-- > 0;) {
		size_t bl = p->bounds[i].len;
		if (bl > n - 2 || (best >= 0 && bl <= best_len))
			continue;
		if (memcmp(s + 2, p->bounds[i].s, bl) == 0) {
			best = (int)i;
			best_len = bl;
		}
	}
	if (best >= 0)
		*close_r = n - 2 - best_len >= 2 && s[2 + best_len] == '-' && s[3 + best_len] == '-';
	return best;
}

/* Reads lines from pos until a delimiter of any open multipart. */
static void scan_to_boundary(const struct parser *p, size_t pos, size_t floor, struct part_end *e)
{
	struct line l;
	while (p->nbounds > 0 && pos < p->len) {
		line_at(p, pos, &l);
		bool close = false;
		int level = boundary_match(p, &l, &close);
		if (level >= 0) {
			e->end = cut_line_break(p, pos, floor);
			e->next = l.next;
			e->line_end = l.end;
			e->level = level;
			e->close = close;
			return;
		}
		pos = l.next;
	}
	e->end = e->next = e->line_end = p->len;
	e->level = -1;
	e->close = false;
}

static struct mime_part *part_new(struct parser *p, struct mime_part *parent)
{
	struct mime_part *part = mime_arena_alloc(p->arena, sizeof(*part));
	if (!part)
		return NULL;
	part->parent = parent;
	p->nparts++;
	return part;
}

static void part_add_child(struct mime_part *parent, struct mime_part *child,
			   struct mime_part **last)
{
	if (*last)
		(*last)->next = child;
	else
		parent->children = child;
	*last = child;
	parent->nchildren++;
}

/* Exactly the bytes of v that are zero, as their high bits (no carries
 * between bytes, unlike the classic "has a zero byte" test). */
static uint64_t zero_bytes(uint64_t v)
{
	const uint64_t low7 = 0x7f7f7f7f7f7f7f7full;
	return ~(((v & low7) + low7) | v | low7);
}

/* Lines, 8-bit and NUL octets of a non-multipart body, eight bytes at a
 * time: this runs over every delivered body, and a loop with a branch per
 * byte was a tenth of a 100 KiB delivery's CPU. */
static void body_stats(const struct parser *p, struct mime_part *part)
{
	const unsigned char *s = (const unsigned char *)p->m + part->body_off;
	size_t n = part->body_len, lines = 0, i = 0;
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t any = 0, nuls = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, s + i, 8);
		any |= v;
		nuls |= zero_bytes(v);
		/* One bit per newline, at each byte's top: summed by a multiply
		 * (no popcount instruction in the baseline x86-64). */
		lines += (size_t)(((zero_bytes(v ^ ('\n' * ones)) >> 7) * ones) >> 56);
	}
	bool high = (any & highs) != 0, nul = nuls != 0;
	for (; i < n; i++) {
		unsigned char c = s[i];
		if (c == '\n')
			lines++;
		else if (c >= 0x80)
			high = true;
		else if (c == 0)
			nul = true;
	}
	/* An unterminated last line is a line too. */
	if (n > 0 && s[n - 1] != '\n')
		lines++;
	part->body_lines = lines;
	if (high)
		part->flags |= MIME_PART_8BIT;
	if (nul)
		part->flags |= MIME_PART_NUL;
}

static bool encoding_is_identity(const struct mime_part *part)
{
	const struct mime_str *e = &part->encoding;
	return !e->data || mime_ci_eq(e->data, e->len, "7bit") || mime_ci_eq(e->data, e->len, "8bit") ||
	       mime_ci_eq(e->data, e->len, "binary");
}

static struct mime_part *parse_entity(struct parser *p, struct mime_part *parent, size_t start,
				      unsigned depth, unsigned ctx, struct part_end *e);

/* A part we do not look into: its body runs to the next delimiter. */
static void parse_leaf(struct parser *p, struct mime_part *part, struct part_end *e)
{
	scan_to_boundary(p, part->body_off, part->body_off, e);
}

static int make_opaque(struct parser *p, struct mime_part *part, const char *type,
		       const char *subtype)
{
	part->flags |= MIME_PART_OPAQUE;
	part->flags &= ~(unsigned)(MIME_PART_MULTIPART | MIME_PART_MESSAGE);
	return mime_part_retype(p->arena, part, type, subtype);
}

static int parse_multipart(struct parser *p, struct mime_part *part, unsigned depth,
			   struct part_end *e)
{
	const struct mime_param *bp = mime_param_find(part->params, part->nparams, "boundary");
	if (!bp || bp->value.len == 0) {
		/* Nothing to split on: the body is one text (the brief's and
		 * common practice; RFC 2046 gives no rule). */
		parse_leaf(p, part, e);
		return make_opaque(p, part, "text", "plain");
	}
	if (depth >= p->lim.max_depth || p->nparts >= p->lim.max_parts) {
		parse_leaf(p, part, e);
		return make_opaque(p, part, "application", "octet-stream");
	}
	size_t level = p->nbounds;
	p->bounds[p->nbounds].s = bp->value.data;
	p->bounds[p->nbounds].len = bp->value.len;
	p->nbounds++;

	unsigned child_ctx = mime_part_is(part, "multipart", "digest") ? MIME_CTX_DIGEST : 0;
	struct mime_part *last = NULL;
	bool closed = false, truncated = false;
	struct part_end se;
	/* The preamble: everything before the first delimiter. */
	scan_to_boundary(p, part->body_off, part->body_off, &se);
	while (se.level == (int)level) {
		if (se.close) {
			closed = true;
			break;
		}
		if (p->nparts >= p->lim.max_parts) {
			truncated = true;
			break;
		}
		struct mime_part *child = parse_entity(p, part, se.next, depth + 1, child_ctx, &se);
		if (!child) {
			p->nbounds--;
			return -1;
		}
		part_add_child(part, child, &last);
	}
	p->nbounds--;
	if (closed || truncated) {
		/* The epilogue runs to an outer delimiter.  The close line's own
		 * line break belongs to that delimiter when no epilogue text
		 * comes between them. */
		size_t floor = closed ? se.line_end : se.next;
		scan_to_boundary(p, se.next, floor, &se);
	} else {
		part->flags |= MIME_PART_NO_CLOSE;
	}
	if (truncated)
		part->flags |= MIME_PART_TRUNCATED;
	*e = se;
	if (part->nchildren == 0) {
		/* The boundary never started a part (absent, only in the
		 * preamble's text, or only a close line): show the body. */
		part->flags &= ~(unsigned)(MIME_PART_NO_CLOSE | MIME_PART_TRUNCATED);
		return make_opaque(p, part, "text", "plain");
	}
	part->flags |= MIME_PART_MULTIPART;
	return 0;
}

static int parse_message(struct parser *p, struct mime_part *part, unsigned depth,
			 bool empty_body, struct part_end *e)
{
	if (!encoding_is_identity(part) || depth >= p->lim.max_depth ||
	    p->nparts >= p->lim.max_parts) {
		/* RFC 2046 5.2.1 forbids encoding message/rfc822; an encoded one
		 * (or one past a limit) is shown as what it is to us: data. */
		parse_leaf(p, part, e);
		return make_opaque(p, part, "application", "octet-stream");
	}
	struct mime_part *child;
	if (empty_body) {
		/* The header was ended by a delimiter or the end of data: the
		 * embedded message is empty, but it is still a message. */
		parse_leaf(p, part, e);
		child = part_new(p, part);
		if (!child)
			return -1;
		child->header_off = child->body_off = part->body_off;
		child->flags |= MIME_PART_NO_BLANK_LINE;
		if (mime_part_header_parse(p->arena, &p->lim, "", 0, MIME_CTX_MESSAGE, child) < 0)
			return -1;
	} else {
		child = parse_entity(p, part, part->body_off, depth + 1, MIME_CTX_MESSAGE, e);
		if (!child)
			return -1;
	}
	part->children = child;
	part->nchildren = 1;
	part->flags |= MIME_PART_MESSAGE;
	return 0;
}

/* Parses the entity (header and body) starting at start; e tells where
 * and how it ended. */
static struct mime_part *parse_entity(struct parser *p, struct mime_part *parent, size_t start,
				      unsigned depth, unsigned ctx, struct part_end *e)
{
	struct mime_part *part = part_new(p, parent);
	if (!part)
		return NULL;
	part->header_off = start;

	/* The header ends at an empty line, at a delimiter line (a part with
	 * no blank line and no body), or at the end of the data. */
	size_t pos = start, hdr_end = 0;
	bool blank = false, by_delimiter = false;
	struct line l;
	while (pos < p->len) {
		line_at(p, pos, &l);
		if (l.end == l.start) {
			pos = l.next;
			blank = true;
			break;
		}
		bool close = false;
		int level = boundary_match(p, &l, &close);
		if (level >= 0) {
			hdr_end = cut_line_break(p, pos, start);
			by_delimiter = true;
			e->end = hdr_end;
			e->next = l.next;
			e->line_end = l.end;
			e->level = level;
			e->close = close;
			break;
		}
		pos = l.next;
	}
	if (!by_delimiter)
		hdr_end = pos;
	if (!blank)
		part->flags |= MIME_PART_NO_BLANK_LINE;
	part->header_len = hdr_end - start;
	part->body_off = hdr_end;
	if (mime_part_header_parse(p->arena, &p->lim, p->m + start, part->header_len, ctx, part) < 0)
		return NULL;

	bool empty_body = !blank;
	int rc = 0;
	if (mime_part_is(part, "multipart", NULL)) {
		if (empty_body) {
			if (!by_delimiter)
				scan_to_boundary(p, p->len, p->len, e);
			rc = make_opaque(p, part, "text", "plain");
		} else {
			rc = parse_multipart(p, part, depth, e);
		}
	} else if (mime_part_is(part, "message", "rfc822") || mime_part_is(part, "message", "global")) {
		if (by_delimiter) {
			/* The delimiter that ends this part is already found;
			 * keep it, whatever parse_message looks at. */
			struct part_end keep = *e;
			rc = parse_message(p, part, depth, true, e);
			*e = keep;
		} else {
			rc = parse_message(p, part, depth, empty_body, e);
		}
	} else if (!by_delimiter) {
		parse_leaf(p, part, e);
	}
	if (rc < 0)
		return NULL;
	part->body_len = e->end - part->body_off;
	if (!(part->flags & MIME_PART_MULTIPART))
		body_stats(p, part);
	return part;
}

static void limits_set(const struct mime_limits *in, struct mime_limits *out)
{
	static const struct mime_limits none;
	if (!in)
		in = &none;
	out->max_depth = in->max_depth ? in->max_depth : MIME_DEFAULT_DEPTH;
	if (out->max_depth > MIME_DEPTH_MAX)
		out->max_depth = MIME_DEPTH_MAX;
	out->max_parts = in->max_parts ? in->max_parts : MIME_DEFAULT_PARTS;
	out->max_header_lines = in->max_header_lines ? in->max_header_lines
						     : MIME_DEFAULT_HEADER_LINES;
	out->max_addresses = in->max_addresses ? in->max_addresses : MIME_DEFAULT_ADDRESSES;
	out->max_params = in->max_params ? in->max_params : MIME_DEFAULT_PARAMS;
}

int mime_message_parse(const char *msg, size_t len, const struct mime_limits *lim,
		       struct mime_message **msg_r)
{
	*msg_r = NULL;
	struct parser p;
	memset(&p, 0, sizeof(p));
	p.m = msg ? msg : "";
	p.len = msg ? len : 0;
	limits_set(lim, &p.lim);
	p.arena = mime_arena_new();
	/* One boundary per multipart level: depth bounds the stack. */
	p.bounds = calloc(p.lim.max_depth + 1, sizeof(*p.bounds));
	struct mime_message *m = p.arena ? mime_arena_alloc(p.arena, sizeof(*m)) : NULL;
	if (!m || !p.bounds) {
		free(p.bounds);
		mime_arena_free(&p.arena);
		return MIME_ERR_NOMEM;
	}
	struct part_end e;
	m->root = parse_entity(&p, NULL, 0, 0, MIME_CTX_MESSAGE, &e);
	free(p.bounds);
	if (!m->root) {
		mime_arena_free(&p.arena);
		return MIME_ERR_NOMEM;
	}
	m->size = p.len;
	m->nparts = p.nparts;
	m->arena = p.arena;
	*msg_r = m;
	return MIME_OK;
}

void mime_message_free(struct mime_message **msg)
{
	if (!*msg)
		return;
	struct mime_arena *a = (*msg)->arena;   /* the message lives in it */
	mime_arena_free(&a);
	*msg = NULL;
}

/* ------------------------------------------------------------------ */
/* navigation                                                          */

bool mime_part_is(const struct mime_part *part, const char *type, const char *subtype)
{
	if (type && (!part->type.data || !mime_ci_eq(part->type.data, part->type.len, type)))
		return false;
	if (subtype && (!part->subtype.data || !mime_ci_eq(part->subtype.data, part->subtype.len, subtype)))
		return false;
	return true;
}

const struct mime_part *mime_part_message(const struct mime_part *part)
{
	return part && (part->flags & MIME_PART_MESSAGE) ? part->children : NULL;
}

static const struct mime_part *nth_child(const struct mime_part *part, uint32_t n)
{
	if (n == 0)
		return NULL;
	const struct mime_part *c = part->children;
	for (uint32_t i = 1; c && i < n; i++)
		c = c->next;
	return c;
}

const struct mime_part *mime_part_find(const struct mime_part *root, const uint32_t *section,
				       size_t n)
{
	/* `msg` is the message whose parts the next number counts. */
	const struct mime_part *msg = root, *cur = root;
	for (size_t i = 0; i < n; i++) {
		if (i > 0) {
			if (cur->flags & MIME_PART_MESSAGE)
				msg = cur->children;
			else if (cur->flags & MIME_PART_MULTIPART)
				msg = NULL;
			else
				return NULL;
		}
		if (msg && (msg->flags & MIME_PART_MULTIPART))
			cur = nth_child(msg, section[i]);
		else if (msg)
			cur = section[i] == 1 ? msg : NULL;   /* only part 1 */
		else
			cur = nth_child(cur, section[i]);
		if (!cur)
			return NULL;
	}
	return cur;
}

const struct mime_part *mime_part_next(const struct mime_part *root, const struct mime_part *p)
{
	if (!p)
		return root;
	if (p->children)
		return p->children;
	while (p && p != root) {
		if (p->next)
			return p->next;
		p = p->parent;
	}
	return NULL;
}
