/* smtp/smtp_7bit.c: converts an 8-bit MIME message to 7-bit for a server
 * without 8BITMIME (smtp_7bit.h): the plan (which byte ranges are copied,
 * which headers rewritten, which bodies re-encoded) made from the stored
 * MIME structure, the streaming quoted-printable and base64 encoders, the
 * header filter that swaps Content-Transfer-Encoding, and the readers. */
#include "smtp/smtp_7bit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/mime.h"

#define CV_CHUNK 16384
/* Worst output for one input octet is a QP "=XX" plus its share of a soft
 * line break; 4 per octet with room for inserted fields and flushes. */
#define CV_OUT_CAP (4 * CV_CHUNK + 1024)
/* RFC 2045 6.7 (5): encoded lines at most 76 characters, the soft line
 * break's '=' included, so 75 of text. */
#define QP_TEXT_MAX 75
#define B64_LINE 76

enum seg_kind {
	SEG_COPY,     /* copied; must hold no 8-bit octet */
	SEG_HDR,      /* a header rewritten by the filter */
	SEG_BODY,     /* a leaf body re-encoded */
};
/* Where a copied range is, for the refusal's reason. */
enum seg_where { W_HEADER, W_GAP, W_BODY };
enum seg_enc { ENC_NONE, ENC_QP, ENC_B64, ENC_7BIT };

struct seg {
	uint64_t off, len;
	unsigned char kind, where;
	bool drop_cte;        /* HDR: remove Content-Transfer-Encoding fields */
	bool root;            /* HDR: the message's own header (MIME-Version) */
	unsigned char enc;    /* HDR: what to insert; BODY: the chosen encoding */
	size_t body;          /* HDR of a converted leaf: its BODY segment */
	/* Pass one's findings. */
	bool has_mv;          /* HDR: a MIME-Version field is there */
	uint64_t out_len;     /* HDR: without inserts; BODY: the chosen form */
	uint64_t qp_len, b64_len;
	char cte_name[24];    /* COPY in W_BODY: the part's encoding */
};

struct smtp_7bit {
	struct seg *segs;
	size_t nsegs;
	uint64_t size, out_size;
	size_t nconv;
};

/* Output: into buf at n, or counted only (buf NULL). */
struct sink {
	char *buf;
	uint64_t n;
};

static inline void put(struct sink *s, const char *p, size_t n)
{
	if (s->buf)
		memcpy(s->buf + s->n, p, n);
	s->n += n;
}

/* ---- quoted-printable (RFC 2045 6.7) ---- */

struct qp {
	unsigned col;
	char ws;          /* a space or tab not yet written: encoded if a line end follows */
	bool cr;          /* a CR not yet known to start a CRLF */
	bool dash;        /* a '-' at the start of a line, waiting for the next octet */
};

static const char hexd[] = "0123456789ABCDEF";

static void qp_tok(struct qp *q, struct sink *s, const char *t, size_t n)
{
	if (q->col + n > QP_TEXT_MAX) {
		put(s, "=\r\n", 3);
		q->col = 0;
	}
	put(s, t, n);
	q->col += (unsigned)n;
}

static void qp_hex(struct qp *q, struct sink *s, unsigned char c)
{
	char t[3] = { '=', hexd[c >> 4], hexd[c & 15] };
	qp_tok(q, s, t, 3);
}

static void qp_lit(struct qp *q, struct sink *s, unsigned char c)
{
	if (q->col + 1 > QP_TEXT_MAX) {
		put(s, "=\r\n", 3);
		q->col = 0;
	}
	/* RFC 2049 3 (8): a '.' opening a line is encoded, as is the first of
	 * two '-' (no converted line can then look like a MIME boundary
	 * delimiter, whatever the boundary). */
	if (q->col == 0 && c == '.') {
		qp_hex(q, s, c);
		return;
	}
	if (q->col == 0 && c == '-') {
		q->dash = true;
		return;
	}
	char ch = (char)c;
	put(s, &ch, 1);
	q->col++;
}

static void qp_ws_flush(struct qp *q, struct sink *s)
{
	if (q->ws) {
		char ch = q->ws;
		q->ws = 0;
		qp_lit(q, s, (unsigned char)ch);
	}
}

/* A line break of the input: trailing white space must be encoded
 * (RFC 2045 6.7 (3)), and the break is CRLF whatever the input had. */
static void qp_break(struct qp *q, struct sink *s)
{
	if (q->ws) {
		unsigned char c = (unsigned char)q->ws;
		q->ws = 0;
		qp_hex(q, s, c);
	}
	put(s, "\r\n", 2);
	q->col = 0;
}

static void qp_byte(struct qp *q, struct sink *s, unsigned char c)
{
	if (q->dash) {
		q->dash = false;
		if (c == '-') {
			qp_hex(q, s, '-');
		} else {
			put(s, "-", 1);
			q->col = 1;
		}
	}
	if (q->cr) {
		q->cr = false;
		if (c == '\n') {
			qp_break(q, s);
			return;
		}
		qp_ws_flush(q, s);
		qp_hex(q, s, '\r');
	}
	if (c == '\r') {
		q->cr = true;
		return;
	}
	if (c == '\n') {
		qp_break(q, s);
		return;
	}
	qp_ws_flush(q, s);
	if (c == ' ' || c == '\t') {
		q->ws = (char)c;
		return;
	}
	if (c >= 33 && c <= 126 && c != '=')
		qp_lit(q, s, c);
	else
		qp_hex(q, s, c);
}

static void qp_end(struct qp *q, struct sink *s)
{
	if (q->dash) {
		q->dash = false;
		put(s, "-", 1);
		q->col = 1;
	}
	if (q->cr) {
		q->cr = false;
		qp_ws_flush(q, s);
		qp_hex(q, s, '\r');
	}
	if (q->ws) {
		unsigned char c = (unsigned char)q->ws;
		q->ws = 0;
		qp_hex(q, s, c);
	}
}

/* ---- base64 (RFC 2045 6.8) ---- */

struct b64 {
	unsigned char carry[3];
	unsigned n, col;
};

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_group(struct b64 *b, struct sink *s, unsigned n)
{
	/* The break goes before a line, not after the last: the line break
	 * that follows the body is the boundary delimiter's own. */
	if (b->col == B64_LINE) {
		put(s, "\r\n", 2);
		b->col = 0;
	}
	unsigned v = (unsigned)b->carry[0] << 16 | (unsigned)b->carry[1] << 8 | b->carry[2];
	char t[4] = { b64_alphabet[(v >> 18) & 63], b64_alphabet[(v >> 12) & 63],
		      n > 1 ? b64_alphabet[(v >> 6) & 63] : '=', n > 2 ? b64_alphabet[v & 63] : '=' };
	put(s, t, 4);
	b->col += 4;
	b->n = 0;
	memset(b->carry, 0, sizeof(b->carry));
}

static void b64_bytes(struct b64 *b, struct sink *s, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		b->carry[b->n++] = p[i];
		if (b->n == 3)
			b64_group(b, s, 3);
	}
}

static void b64_end(struct b64 *b, struct sink *s)
{
	if (b->n)
		b64_group(b, s, b->n);
}

/* ---- header filter ---- */

struct hf {
	bool line_start, dropping, blank, collecting;
	char name[32];    /* the start of a field line, until its ':' */
	size_t nlen;
};

static bool name_is(const char *s, size_t n, const char *lit)
{
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

static const char *enc_name(unsigned enc)
{
	switch (enc) {
	case ENC_QP: return "quoted-printable";
	case ENC_B64: return "base64";
	default: return "7bit";
	}
}

/* ---- the plan ---- */

struct smtp_7bit_reader {
	struct smtp_7bit *p;      /* written only by the planning pass */
	smtp_7bit_read_fn read;
	void *arg;
	bool planning;            /* pass one: count, check, record */
	size_t seg;
	uint64_t seg_pos, in_off;
	uint64_t seg_start;       /* the sink's count when the segment began */
	struct qp qp;
	struct b64 b64;
	struct sink sq, sb;       /* pass one: the two candidate encodings */
	struct hf hf;
	bool refused;
	char *why;
	size_t why_cap;
	char in[CV_CHUNK];
	char *out;
	size_t out_len, out_pos;
	uint64_t out_off;         /* converted offset of out[out_pos] */
};

static int seg_add(struct smtp_7bit *p, size_t *cap, uint64_t off, uint64_t len,
		   unsigned kind, unsigned where)
{
	if (p->nsegs == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct seg *n = realloc(p->segs, ncap * sizeof(*n));
		if (!n)
			return -1;
		p->segs = n;
		*cap = ncap;
	}
	struct seg *s = &p->segs[p->nsegs++];
	memset(s, 0, sizeof(*s));
	s->off = off;
	s->len = len;
	s->kind = (unsigned char)kind;
	s->where = (unsigned char)where;
	s->body = SIZE_MAX;
	return 0;
}

static bool enc_is(const struct mime_str *e, const char *lit)
{
	return e->data && strlen(lit) == e->len && strncasecmp(e->data, lit, e->len) == 0;
}

/* No encoding at all: absent, 7bit, 8bit or binary (RFC 2045 6.2). */
static bool enc_identity(const struct mime_str *e)
{
	return !e->data || enc_is(e, "7bit") || enc_is(e, "8bit") || enc_is(e, "binary");
}

static int refuse(char *why, size_t cap, const char *fmt, const char *arg)
{
	snprintf(why, cap, fmt, arg);
	return SMTP_7BIT_REFUSED;
}

/* Segments in offset order (a pre-order walk visits parts that way):
 * each part's header, each leaf's body, and the gaps between them
 * (preambles, delimiters, epilogues). */
static int plan_build(struct smtp_7bit *p, const struct mime_message *m, char *why, size_t cap)
{
	size_t segcap = 0;
	uint64_t pos = 0;
	for (const struct mime_part *pt = mime_part_next(m->root, NULL); pt;
	     pt = mime_part_next(m->root, pt)) {
		if (pt->header_off < pos || pt->header_off + pt->header_len != pt->body_off ||
		    pt->body_off + pt->body_len > p->size)
			return refuse(why, cap, "%s", "the stored MIME structure does not match the message");
		if (pt->header_off > pos &&
		    seg_add(p, &segcap, pos, pt->header_off - pos, SEG_COPY, W_GAP) < 0)
			return SMTP_7BIT_ENOMEM;
		bool composite = (pt->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE)) &&
				 !(pt->flags & MIME_PART_OPAQUE);
		bool conv = false, relabel = false;
		const struct mime_str *e = &pt->encoding;
		if (composite) {
			relabel = enc_is(e, "8bit") || enc_is(e, "binary");
		} else if (pt->flags & MIME_PART_OPAQUE) {
			if (pt->flags & MIME_PART_8BIT)
				return refuse(why, cap, "%s",
					      "8-bit octets in a part nested too deeply or too broken to convert");
		} else if (enc_identity(e)) {
			conv = (pt->flags & MIME_PART_8BIT) || enc_is(e, "8bit") || enc_is(e, "binary");
		} else if (pt->flags & MIME_PART_8BIT) {
			return refuse(why, cap, "8-bit octets in a body already encoded as %s", e->data);
		}
		bool root = pt == m->root;
		bool hdr = conv || relabel || root;
		if (seg_add(p, &segcap, pt->header_off, pt->header_len, hdr ? SEG_HDR : SEG_COPY,
			    W_HEADER) < 0)
			return SMTP_7BIT_ENOMEM;
		size_t hi = p->nsegs - 1;
		p->segs[hi].drop_cte = conv || relabel;
		p->segs[hi].root = root;
		p->segs[hi].enc = relabel ? ENC_7BIT : ENC_NONE;
		if (composite) {
			pos = pt->body_off;
			continue;
		}
		if (seg_add(p, &segcap, pt->body_off, pt->body_len, conv ? SEG_BODY : SEG_COPY,
			    W_BODY) < 0)
			return SMTP_7BIT_ENOMEM;
		if (conv) {
			p->segs[hi].body = p->nsegs - 1;
			p->nconv++;
		} else {
			snprintf(p->segs[p->nsegs - 1].cte_name, sizeof(p->segs[0].cte_name), "%.*s",
				 e->data ? (int)e->len : 4, e->data ? e->data : "7bit");
		}
		pos = pt->body_off + pt->body_len;
	}
	if (pos < p->size && seg_add(p, &segcap, pos, p->size - pos, SEG_COPY, W_GAP) < 0)
		return SMTP_7BIT_ENOMEM;
	return SMTP_7BIT_OK;
}

/* ---- the engine: one input chunk at a time through the segments ---- */

static void hf_inserts(struct smtp_7bit_reader *r, const struct seg *sg, struct sink *s)
{
	if (r->planning)
		return;   /* counted once the encodings are chosen */
	if (sg->root && r->p->nconv && !sg->has_mv)
		put(s, "MIME-Version: 1.0\r\n", 19);
	unsigned enc = sg->body != SIZE_MAX ? r->p->segs[sg->body].enc : sg->enc;
	if (enc != ENC_NONE) {
		const char *n = enc_name(enc);
		put(s, "Content-Transfer-Encoding: ", 27);
		put(s, n, strlen(n));
		put(s, "\r\n", 2);
	}
}

static void hf_decide(struct smtp_7bit_reader *r, struct seg *sg, struct sink *s, bool colon)
{
	struct hf *h = &r->hf;
	size_t n = colon ? h->nlen - 1 : 0;
	h->collecting = false;
	h->dropping = colon && sg->drop_cte && name_is(h->name, n, "Content-Transfer-Encoding");
	if (colon && name_is(h->name, n, "MIME-Version") && r->planning)
		sg->has_mv = true;
	if (!h->dropping)
		put(s, h->name, h->nlen);
}

static void hf_bytes(struct smtp_7bit_reader *r, struct seg *sg, struct sink *s,
		     const char *p, size_t n)
{
	struct hf *h = &r->hf;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (h->blank) {
			put(s, p + i, n - i);
			return;
		}
		if (h->line_start) {
			h->line_start = false;
			if (c == '\r' || c == '\n') {
				/* The empty line that ends the header: new fields go
				 * just before it. */
				hf_inserts(r, sg, s);
				h->blank = true;
				put(s, &c, 1);
				continue;
			}
			if (c != ' ' && c != '\t') {
				h->collecting = true;
				h->nlen = 0;
			}
		}
		if (h->collecting) {
			h->name[h->nlen++] = c;
			if (c == ':')
				hf_decide(r, sg, s, true);
			else if (c == '\n' || h->nlen == sizeof(h->name))
				hf_decide(r, sg, s, false);
			if (c == '\n')
				h->line_start = true;
			continue;
		}
		if (!h->dropping)
			put(s, &c, 1);
		if (c == '\n')
			h->line_start = true;
	}
}

static void hf_end(struct smtp_7bit_reader *r, struct seg *sg, struct sink *s)
{
	struct hf *h = &r->hf;
	if (h->collecting)
		hf_decide(r, sg, s, false);
	if (h->blank)
		return;
	/* No empty line (a header that runs to the end of its part): end
	 * the last field's line, then the new fields. */
	if (!h->line_start)
		put(s, "\r\n", 2);
	hf_inserts(r, sg, s);
}

static bool has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return true;
	return false;
}

static void seg_begin(struct smtp_7bit_reader *r, const struct sink *s)
{
	memset(&r->qp, 0, sizeof(r->qp));
	memset(&r->b64, 0, sizeof(r->b64));
	memset(&r->hf, 0, sizeof(r->hf));
	r->hf.line_start = true;
	r->sq.n = r->sb.n = 0;
	r->seg_pos = 0;
	r->seg_start = s->n;
}

static void seg_feed(struct smtp_7bit_reader *r, struct sink *s, const char *p, size_t n)
{
	struct seg *sg = &r->p->segs[r->seg];
	switch (sg->kind) {
	case SEG_COPY:
		if (r->planning && !r->refused && has_8bit(p, n)) {
			r->refused = true;
			if (sg->where == W_HEADER)
				snprintf(r->why, r->why_cap,
					 "8-bit octets in a header section, which cannot be converted to 7-bit");
			else if (sg->where == W_GAP)
				snprintf(r->why, r->why_cap,
					 "8-bit octets in a multipart preamble, delimiter or epilogue");
			else
				snprintf(r->why, r->why_cap,
					 "8-bit octets in a body encoded as %s", sg->cte_name);
		}
		put(s, p, n);
		break;
	case SEG_HDR:
		if (r->planning && !r->refused && has_8bit(p, n)) {
			r->refused = true;
			snprintf(r->why, r->why_cap,
				 "8-bit octets in a header section, which cannot be converted to 7-bit");
		}
		hf_bytes(r, sg, s, p, n);
		break;
	case SEG_BODY:
		if (r->planning) {
			for (size_t i = 0; i < n; i++)
				qp_byte(&r->qp, &r->sq, (unsigned char)p[i]);
			b64_bytes(&r->b64, &r->sb, (const unsigned char *)p, n);
		} else if (sg->enc == ENC_QP) {
			for (size_t i = 0; i < n; i++)
				qp_byte(&r->qp, s, (unsigned char)p[i]);
		} else {
			b64_bytes(&r->b64, s, (const unsigned char *)p, n);
		}
		break;
	}
	r->seg_pos += n;
}

static void seg_end(struct smtp_7bit_reader *r, struct sink *s)
{
	struct seg *sg = &r->p->segs[r->seg];
	if (sg->kind == SEG_HDR) {
		hf_end(r, sg, s);
		if (r->planning)
			sg->out_len = s->n - r->seg_start;
	} else if (sg->kind == SEG_BODY) {
		if (r->planning) {
			qp_end(&r->qp, &r->sq);
			b64_end(&r->b64, &r->sb);
			sg->qp_len = r->sq.n;
			sg->b64_len = r->sb.n;
		} else if (sg->enc == ENC_QP) {
			qp_end(&r->qp, s);
		} else {
			b64_end(&r->b64, s);
		}
	}
}

/* Feeds in[0..n) (the message from r->in_off) through the segments into
 * s, ending every segment that is complete (so a call with n == 0 at the
 * message's end ends the empty ones left). */
static void engine_feed(struct smtp_7bit_reader *r, struct sink *s, const char *in, size_t n)
{
	size_t i = 0;
	for (;;) {
		while (r->seg < r->p->nsegs && r->seg_pos == r->p->segs[r->seg].len) {
			seg_end(r, s);
			r->seg++;
			seg_begin(r, s);
		}
		if (i == n || r->seg == r->p->nsegs)
			break;
		const struct seg *sg = &r->p->segs[r->seg];
		uint64_t left = sg->len - r->seg_pos;
		size_t k = n - i < left ? n - i : (size_t)left;
		seg_feed(r, s, in + i, k);
		i += k;
	}
	r->in_off += n;
}

/* Reads the next input chunk and converts it into s; *end_r at the end
 * of the message.  0, SMTP_7BIT_EREAD, or SMTP_7BIT_BUSY when the read
 * callback said "not now" (nothing read): the read comes before any
 * change of the reader's state, so the step can be made again. */
static int engine_step(struct smtp_7bit_reader *r, struct sink *s, bool *end_r)
{
	*end_r = false;
	uint64_t left = r->p->size - r->in_off;
	if (left == 0) {
		engine_feed(r, s, NULL, 0);
		*end_r = true;
		return 0;
	}
	size_t want = left < CV_CHUNK ? (size_t)left : CV_CHUNK;
	size_t got = 0;
	int rc = r->read(r->arg, r->in_off, r->in, want, &got);
	if (rc > 0 && !r->planning)
		return SMTP_7BIT_BUSY;
	if (rc != 0 || got == 0 || got > want)
		return SMTP_7BIT_EREAD;
	engine_feed(r, s, r->in, got);
	return 0;
}

static void engine_start(struct smtp_7bit_reader *r)
{
	r->seg = 0;
	r->in_off = 0;
	struct sink zero = { NULL, 0 };
	seg_begin(r, &zero);
}

/* ---- public ---- */

static int plan_run(struct smtp_7bit *p, smtp_7bit_read_fn read, void *arg, char *why,
		    size_t why_cap)
{
	struct smtp_7bit_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return SMTP_7BIT_ENOMEM;
	r->p = p;
	r->read = read;
	r->arg = arg;
	r->planning = true;
	r->why = why;
	r->why_cap = why_cap;
	engine_start(r);
	struct sink count = { NULL, 0 };
	bool end = false;
	int rc = 0;
	while (rc == 0 && !end && !r->refused)
		rc = engine_step(r, &count, &end);
	bool refused = r->refused;
	free(r);
	if (rc != 0)
		return rc;
	if (refused)
		return SMTP_7BIT_REFUSED;
	/* The encodings, then the exact size.  QP unless base64 is shorter:
	 * text that is mostly ASCII stays readable, mostly 8-bit text and
	 * binary data take base64's fixed 4/3. */
	p->out_size = 0;
	for (size_t i = 0; i < p->nsegs; i++) {
		struct seg *sg = &p->segs[i];
		if (sg->kind == SEG_BODY) {
			sg->enc = sg->qp_len <= sg->b64_len ? ENC_QP : ENC_B64;
			sg->out_len = sg->enc == ENC_QP ? sg->qp_len : sg->b64_len;
		} else if (sg->kind == SEG_COPY) {
			sg->out_len = sg->len;
		}
	}
	for (size_t i = 0; i < p->nsegs; i++) {
		struct seg *sg = &p->segs[i];
		if (sg->kind == SEG_HDR) {
			if (sg->root && p->nconv && !sg->has_mv)
				sg->out_len += 19;
			unsigned enc = sg->body != SIZE_MAX ? p->segs[sg->body].enc : sg->enc;
			if (enc != ENC_NONE)
				sg->out_len += 27 + strlen(enc_name(enc)) + 2;
		}
		p->out_size += sg->out_len;
	}
	return SMTP_7BIT_OK;
}

int smtp_7bit_plan(const void *structure, size_t structure_len, uint64_t size,
		   smtp_7bit_read_fn read, void *arg, struct smtp_7bit **plan_r, char *why_r,
		   size_t why_cap)
{
	*plan_r = NULL;
	snprintf(why_r, why_cap, "%s", "");
	struct mime_message *m = NULL;
	int mrc = mime_message_deserialize(structure, structure_len, &m);
	if (mrc == MIME_ERR_NOMEM)
		return SMTP_7BIT_ENOMEM;
	if (mrc != MIME_OK || m->size != size) {
		mime_message_free(&m);
		return refuse(why_r, why_cap, "%s", "the stored MIME structure does not match the message");
	}
	struct smtp_7bit *p = calloc(1, sizeof(*p));
	if (!p) {
		mime_message_free(&m);
		return SMTP_7BIT_ENOMEM;
	}
	p->size = size;
	int rc = plan_build(p, m, why_r, why_cap);
	mime_message_free(&m);
	if (rc == SMTP_7BIT_OK)
		rc = plan_run(p, read, arg, why_r, why_cap);
	if (rc != SMTP_7BIT_OK) {
		smtp_7bit_free(&p);
		return rc;
	}
	*plan_r = p;
	return SMTP_7BIT_OK;
}

uint64_t smtp_7bit_size(const struct smtp_7bit *plan)
{
	return plan->out_size;
}

size_t smtp_7bit_parts(const struct smtp_7bit *plan)
{
	return plan->nconv;
}

void smtp_7bit_free(struct smtp_7bit **plan)
{
	if (!*plan)
		return;
	free((*plan)->segs);
	free(*plan);
	*plan = NULL;
}

struct smtp_7bit_reader *smtp_7bit_reader_new(const struct smtp_7bit *plan,
					      smtp_7bit_read_fn read, void *arg)
{
	struct smtp_7bit_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->out = malloc(CV_OUT_CAP);
	if (!r->out) {
		free(r);
		return NULL;
	}
	/* Readers never write the plan: only the planning pass does. */
	r->p = (struct smtp_7bit *)plan;
	r->read = read;
	r->arg = arg;
	engine_start(r);
	return r;
}

int smtp_7bit_reader_read(void *arg, uint64_t off, void *buf, size_t cap, size_t *got)
{
	struct smtp_7bit_reader *r = arg;
	*got = 0;
	if (off < r->out_off) {
		/* Back to the top (a second pass, as DKIM's): start again. */
		engine_start(r);
		r->out_len = r->out_pos = 0;
		r->out_off = 0;
	}
	for (;;) {
		size_t avail = r->out_len - r->out_pos;
		if (off < r->out_off + avail) {
			size_t skip = (size_t)(off - r->out_off);
			r->out_pos += skip;
			r->out_off += skip;
			avail -= skip;
			size_t n = avail < cap ? avail : cap;
			memcpy(buf, r->out + r->out_pos, n);
			r->out_pos += n;
			r->out_off += n;
			*got = n;
			return 0;
		}
		r->out_off += avail;
		r->out_pos = r->out_len = 0;
		if (r->seg == r->p->nsegs && r->in_off == r->p->size) {
			/* The end: exactly the planned size, or the message
			 * changed under us. */
			return r->out_off == r->p->out_size ? 0 : -1;
		}
		struct sink s = { r->out, 0 };
		bool end = false;
		int rc = engine_step(r, &s, &end);
		if (rc == SMTP_7BIT_BUSY)
			return 1;   /* as it was: read here again later */
		if (rc != 0)
			return -1;
		r->out_len = (size_t)s.n;
		if (r->out_off + s.n > r->p->out_size)
			return -1;
	}
}

void smtp_7bit_reader_free(struct smtp_7bit_reader **reader)
{
	if (!*reader)
		return;
	free((*reader)->out);
	free(*reader);
	*reader = NULL;
}

/* ---- in memory ---- */

struct mem_src {
	const char *p;
	size_t len;
};

static int mem_read(void *arg, uint64_t off, void *buf, size_t cap, size_t *got)
{
	const struct mem_src *m = arg;
	if (off > m->len)
		return -1;
	size_t n = m->len - (size_t)off < cap ? m->len - (size_t)off : cap;
	memcpy(buf, m->p + off, n);
	*got = n;
	return 0;
}

int smtp_7bit_convert(const char *msg, size_t len, struct buf *out, char *why_r, size_t why_cap)
{
	struct buf st;
	buf_init(&st, 0);
	if (mime_structure_build(msg, len, &st) != 0) {
		buf_free(&st);
		return SMTP_7BIT_ENOMEM;
	}
	struct mem_src src = { msg, len };
	struct smtp_7bit *p = NULL;
	int rc = smtp_7bit_plan(st.data, st.len, len, mem_read, &src, &p, why_r, why_cap);
	buf_free(&st);
	if (rc != SMTP_7BIT_OK)
		return rc;
	struct smtp_7bit_reader *r = smtp_7bit_reader_new(p, mem_read, &src);
	if (!r) {
		smtp_7bit_free(&p);
		return SMTP_7BIT_ENOMEM;
	}
	char chunk[8192];
	uint64_t off = 0;
	for (;;) {
		size_t got = 0;
		if (smtp_7bit_reader_read(r, off, chunk, sizeof(chunk), &got) != 0) {
			rc = SMTP_7BIT_EREAD;
			break;
		}
		if (got == 0)
			break;
		if (buf_append(out, chunk, got) < 0) {
			rc = SMTP_7BIT_ENOMEM;
			break;
		}
		off += got;
	}
	smtp_7bit_reader_free(&r);
	smtp_7bit_free(&p);
	return rc;
}
