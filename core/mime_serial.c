/* core/mime_serial.c: the binary form of a parsed tree that the store keeps
 * beside the message, so FETCH and SEARCH never reparse it.
 *
 * Format, version 1 (integers are unsigned LEB128 varints; a string is a
 * varint n, 0 for absent, else n - 1 octets):
 *   "PMIM" version(1 octet) size nparts part
 *   part     = flags header_off header_len body_len body_lines
 *              type subtype nparams *param id description encoding md5
 *              location disposition ndisp *param nlang *string
 *              has_envelope(1 octet) [envelope] nchildren *part
 *   param    = name value charset language
 *   envelope = date subject in_reply_to message_id
 *              6 * (count *(name route mailbox host))
 *              (from sender reply-to to cc bcc)
 * body_off is header_off + header_len and is not stored.
 *
 * Decoding trusts nothing: every length is checked against what is left,
 * counts are bounded by the bytes that must follow them before anything is
 * allocated, and every part's range must lie inside its parent's body (and
 * the message size), in order, so that the IMAP layer can read BODY[n] at
 * the offsets without further checks. */
#include "core/mime.h"
#include "core/mime_private.h"

#include <stdint.h>
#include <string.h>

#include "core/buf.h"

#define MAGIC "PMIM"
#define MAGIC_LEN 4
#define VERSION 1

static const unsigned KNOWN_FLAGS =
	MIME_PART_MULTIPART | MIME_PART_MESSAGE | MIME_PART_DEFAULT_TYPE |
	MIME_PART_NO_BLANK_LINE | MIME_PART_OPAQUE | MIME_PART_NO_CLOSE | MIME_PART_TRUNCATED |
	MIME_PART_8BIT | MIME_PART_NUL | MIME_PART_HEADER_LIMIT;

/* ------------------------------------------------------------------ */
/* writing                                                             */

static int put_varint(struct buf *out, uint64_t v)
{
	unsigned char b[10];
	size_t n = 0;
	do {
		unsigned char c = v & 0x7F;
		v >>= 7;
		b[n++] = v ? (unsigned char)(c | 0x80) : c;
	} while (v);
	return buf_append(out, b, n);
}

static int put_str(struct buf *out, const struct mime_str *s)
{
	if (!s->data)
		return put_varint(out, 0);
	if (put_varint(out, (uint64_t)s->len + 1) < 0)
		return -1;
	return buf_append(out, s->data, s->len);
}

static int put_params(struct buf *out, const struct mime_param *p, size_t n)
{
	if (put_varint(out, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (put_str(out, &p[i].name) < 0 || put_str(out, &p[i].value) < 0 ||
		    put_str(out, &p[i].charset) < 0 || put_str(out, &p[i].language) < 0)
			return -1;
	return 0;
}

static int put_envelope(struct buf *out, const struct mime_envelope *e)
{
	const struct mime_address_list *lists[] = {&e->from, &e->sender, &e->reply_to,
						   &e->to, &e->cc, &e->bcc};
	if (put_str(out, &e->date) < 0 || put_str(out, &e->subject) < 0 ||
	    put_str(out, &e->in_reply_to) < 0 || put_str(out, &e->message_id) < 0)
		return -1;
	for (size_t i = 0; i < 6; i++) {
		const struct mime_address_list *l = lists[i];
		if (put_varint(out, l->count) < 0)
			return -1;
		for (size_t k = 0; k < l->count; k++) {
			const struct mime_address *a = &l->addrs[k];
			if (put_str(out, &a->name) < 0 || put_str(out, &a->route) < 0 ||
			    put_str(out, &a->mailbox) < 0 || put_str(out, &a->host) < 0)
				return -1;
		}
	}
	return 0;
}

static int put_part(struct buf *out, const struct mime_part *p)
{
	if (put_varint(out, p->flags) < 0 || put_varint(out, p->header_off) < 0 ||
	    put_varint(out, p->header_len) < 0 || put_varint(out, p->body_len) < 0 ||
	    put_varint(out, p->body_lines) < 0 || put_str(out, &p->type) < 0 ||
	    put_str(out, &p->subtype) < 0 || put_params(out, p->params, p->nparams) < 0 ||
	    put_str(out, &p->id) < 0 || put_str(out, &p->description) < 0 ||
	    put_str(out, &p->encoding) < 0 || put_str(out, &p->md5) < 0 ||
	    put_str(out, &p->location) < 0 || put_str(out, &p->disposition) < 0 ||
	    put_params(out, p->disp_params, p->ndisp_params) < 0 ||
	    put_varint(out, p->nlanguages) < 0)
		return -1;
	for (size_t i = 0; i < p->nlanguages; i++)
		if (put_str(out, &p->languages[i]) < 0)
			return -1;
	if (buf_putc(out, p->envelope ? 1 : 0) < 0 ||
	    (p->envelope && put_envelope(out, p->envelope) < 0))
		return -1;
	if (put_varint(out, p->nchildren) < 0)
		return -1;
	for (const struct mime_part *c = p->children; c; c = c->next)
		if (put_part(out, c) < 0)
			return -1;
	return 0;
}

int mime_message_serialize(const struct mime_message *msg, struct buf *out)
{
	size_t start = out->len;
	if (buf_append(out, MAGIC, MAGIC_LEN) < 0 || buf_putc(out, VERSION) < 0 ||
	    put_varint(out, msg->size) < 0 || put_varint(out, msg->nparts) < 0 ||
	    put_part(out, msg->root) < 0) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		return MIME_ERR_NOMEM;
	}
	return MIME_OK;
}

/* ------------------------------------------------------------------ */
/* reading                                                             */

struct reader {
	const unsigned char *p;
	size_t len, pos;
	int err;                 /* the first error; later reads do nothing */
	struct mime_arena *arena;
	size_t size;             /* the message size every range must fit */
	size_t nparts;
};

static void fail(struct reader *r, int err)
{
	if (!r->err)
		r->err = err;
}

static uint64_t get_varint(struct reader *r)
{
	uint64_t v = 0;
	for (unsigned shift = 0; !r->err; shift += 7) {
		if (r->pos >= r->len || shift > 63) {
			fail(r, MIME_ERR_CORRUPT);
			break;
		}
		unsigned char c = r->p[r->pos++];
		if (shift == 63 && (c & 0x7E)) {
			fail(r, MIME_ERR_CORRUPT);   /* over 64 bits */
			break;
		}
		v |= (uint64_t)(c & 0x7F) << shift;
		if (!(c & 0x80))
			return v;
	}
	return 0;
}

static size_t get_size(struct reader *r)
{
	uint64_t v = get_varint(r);
	if (v > SIZE_MAX) {
		fail(r, MIME_ERR_CORRUPT);
		return 0;
	}
	return (size_t)v;
}

/* A count of elements each at least min octets long. */
static size_t get_count(struct reader *r, size_t min)
{
	size_t n = get_size(r);
	if (!r->err && n > (r->len - r->pos) / min) {
		fail(r, MIME_ERR_CORRUPT);
		return 0;
	}
	return r->err ? 0 : n;
}

static void get_str(struct reader *r, struct mime_str *s)
{
	s->data = NULL;
	s->len = 0;
	size_t n = get_size(r);
	if (r->err || n == 0)
		return;
	n--;
	if (n > r->len - r->pos) {
		fail(r, MIME_ERR_CORRUPT);
		return;
	}
	if (mime_str_set(r->arena, s, (const char *)r->p + r->pos, n) < 0)
		fail(r, MIME_ERR_NOMEM);
	r->pos += n;
}

static void get_params(struct reader *r, struct mime_param **params_r, size_t *n_r)
{
	size_t n = get_count(r, 4);
	*params_r = NULL;
	*n_r = 0;
	if (r->err || n == 0)
		return;
	struct mime_param *p = mime_arena_array(r->arena, n, sizeof(*p));
	if (!p) {
		fail(r, MIME_ERR_NOMEM);
		return;
	}
	for (size_t i = 0; i < n && !r->err; i++) {
		get_str(r, &p[i].name);
		get_str(r, &p[i].value);
		get_str(r, &p[i].charset);
		get_str(r, &p[i].language);
		if (!r->err && (!p[i].name.data || !p[i].value.data))
			fail(r, MIME_ERR_CORRUPT);
	}
	*params_r = p;
	*n_r = n;
}

static struct mime_envelope *get_envelope(struct reader *r)
{
	struct mime_envelope *e = mime_arena_alloc(r->arena, sizeof(*e));
	if (!e) {
		fail(r, MIME_ERR_NOMEM);
		return NULL;
	}
	struct mime_address_list *lists[] = {&e->from, &e->sender, &e->reply_to,
					     &e->to, &e->cc, &e->bcc};
	get_str(r, &e->date);
	get_str(r, &e->subject);
	get_str(r, &e->in_reply_to);
	get_str(r, &e->message_id);
	for (size_t i = 0; i < 6 && !r->err; i++) {
		size_t n = get_count(r, 4);
		if (r->err || n == 0)
			continue;
		struct mime_address *a = mime_arena_array(r->arena, n, sizeof(*a));
		if (!a) {
			fail(r, MIME_ERR_NOMEM);
			break;
		}
		for (size_t k = 0; k < n && !r->err; k++) {
			get_str(r, &a[k].name);
			get_str(r, &a[k].route);
			get_str(r, &a[k].mailbox);
			get_str(r, &a[k].host);
		}
		lists[i]->addrs = a;
		lists[i]->count = n;
	}
	return e;
}

/* A part that must lie within [lo, hi). */
static struct mime_part *get_part(struct reader *r, struct mime_part *parent, unsigned depth,
				  size_t lo, size_t hi)
{
	/* Each level of the parser's tree is a multipart or a message and
	 * its embedded root. */
	if (depth > 2 * MIME_DEPTH_MAX + 2) {
		fail(r, MIME_ERR_CORRUPT);
		return NULL;
	}
	struct mime_part *p = mime_arena_alloc(r->arena, sizeof(*p));
	if (!p) {
		fail(r, MIME_ERR_NOMEM);
		return NULL;
	}
	r->nparts++;
	p->parent = parent;
	uint64_t flags = get_varint(r);
	p->header_off = get_size(r);
	p->header_len = get_size(r);
	p->body_len = get_size(r);
	p->body_lines = get_size(r);
	if (r->err)
		return NULL;
	if (flags & ~(uint64_t)KNOWN_FLAGS || p->header_off < lo || p->header_off > hi ||
	    p->header_len > hi - p->header_off) {
		fail(r, MIME_ERR_CORRUPT);
		return NULL;
	}
	p->flags = (unsigned)flags;
	p->body_off = p->header_off + p->header_len;
	if (p->body_len > hi - p->body_off) {
		fail(r, MIME_ERR_CORRUPT);
		return NULL;
	}
	get_str(r, &p->type);
	get_str(r, &p->subtype);
	get_params(r, &p->params, &p->nparams);
	get_str(r, &p->id);
	get_str(r, &p->description);
	get_str(r, &p->encoding);
	get_str(r, &p->md5);
	get_str(r, &p->location);
	get_str(r, &p->disposition);
	get_params(r, &p->disp_params, &p->ndisp_params);
	size_t nlang = get_count(r, 1);
	if (!r->err && nlang) {
		p->languages = mime_arena_array(r->arena, nlang, sizeof(*p->languages));
		if (!p->languages)
			fail(r, MIME_ERR_NOMEM);
		for (size_t i = 0; i < nlang && !r->err; i++) {
			get_str(r, &p->languages[i]);
			if (!r->err && !p->languages[i].data)
				fail(r, MIME_ERR_CORRUPT);
		}
		p->nlanguages = nlang;
	}
	if (r->err)
		return NULL;
	if (!p->type.data || !p->subtype.data || !p->encoding.data || r->pos >= r->len ||
	    r->p[r->pos] > 1) {
		fail(r, MIME_ERR_CORRUPT);
		return NULL;
	}
	if (r->p[r->pos++] == 1)
		p->envelope = get_envelope(r);
	size_t nchildren = get_count(r, 16);
	if (r->err)
		return NULL;
	bool multipart = p->flags & MIME_PART_MULTIPART, message = p->flags & MIME_PART_MESSAGE;
	/* The writers rely on these: a MESSAGE/RFC822 always has an envelope
	 * and a body, a multipart always has parts. */
	bool is_msg_type = mime_part_is(p, "message", "rfc822") || mime_part_is(p, "message", "global");
	if ((multipart && message) || (multipart && nchildren == 0) ||
	    (message && nchildren != 1) || (!multipart && !message && nchildren != 0) ||
	    multipart != mime_part_is(p, "multipart", NULL) || message != is_msg_type) {
		fail(r, MIME_ERR_CORRUPT);
		return NULL;
	}
	size_t body_end = p->body_off + p->body_len, pos = p->body_off;
	struct mime_part *last = NULL;
	for (size_t i = 0; i < nchildren; i++) {
		struct mime_part *c = get_part(r, p, depth + 1, pos, body_end);
		if (!c)
			return NULL;
		if (message && (c->header_off != p->body_off || !c->envelope)) {
			fail(r, MIME_ERR_CORRUPT);
			return NULL;
		}
		if (last)
			last->next = c;
		else
			p->children = c;
		last = c;
		p->nchildren++;
		pos = c->body_off + c->body_len;   /* siblings in order */
	}
	return p;
}

int mime_message_deserialize(const void *data, size_t len, struct mime_message **msg_r)
{
	*msg_r = NULL;
	struct reader r;
	memset(&r, 0, sizeof(r));
	r.p = data;
	r.len = data ? len : 0;
	if (r.len < MAGIC_LEN + 1 || memcmp(r.p, MAGIC, MAGIC_LEN) != 0)
		return MIME_ERR_CORRUPT;
	if (r.p[MAGIC_LEN] != VERSION)
		return MIME_ERR_VERSION;
	r.pos = MAGIC_LEN + 1;
	r.arena = mime_arena_new();
	struct mime_message *m = r.arena ? mime_arena_alloc(r.arena, sizeof(*m)) : NULL;
	if (!m) {
		mime_arena_free(&r.arena);
		return MIME_ERR_NOMEM;
	}
	m->size = get_size(&r);
	size_t nparts = get_size(&r);
	r.size = m->size;
	if (!r.err)
		m->root = get_part(&r, NULL, 0, 0, m->size);
	if (!r.err && (!m->root || m->root->header_off != 0 || !m->root->envelope ||
		       r.nparts != nparts || r.pos != r.len))
		fail(&r, MIME_ERR_CORRUPT);
	if (r.err) {
		mime_arena_free(&r.arena);
		return r.err;
	}
	m->nparts = nparts;
	m->arena = r.arena;
	*msg_r = m;
	return MIME_OK;
}

/* ------------------------------------------------------------------ */
/* parse + serialize in one step (SMTP delivery, IMAP APPEND)          */

int mime_structure_build(const char *msg, size_t len, struct buf *out)
{
	struct mime_message *m = NULL;
	int rc = mime_message_parse(msg, len, NULL, &m);
	if (rc != MIME_OK)
		return MIME_ERR_NOMEM;
	rc = mime_message_serialize(m, out);
	mime_message_free(&m);
	return rc == MIME_OK ? MIME_OK : MIME_ERR_NOMEM;
}
