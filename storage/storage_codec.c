/* storage/storage_codec.c: record and key encoding, and the normalisation of
 * addresses and mailbox names before they become keys.
 *
 * Records are written field by field, big-endian, after a version byte, so
 * the files do not depend on the compiler's struct layout or the host's byte
 * order.  Decoders check every length and return STORE_ERR_CORRUPT instead of
 * reading past the end of a record. */
#include <string.h>
#include <strings.h>

#include "storage/storage_private.h"

/* ---- primitive encoders ---- */

void store_enc_init(struct store_enc *e, void *buf, size_t cap)
{
	e->buf = buf;
	e->cap = cap;
	e->len = 0;
	e->overflow = false;
}

static uint8_t *enc_room(struct store_enc *e, size_t n)
{
	if (e->overflow || n > e->cap - e->len) {
		e->overflow = true;
		return NULL;
	}
	uint8_t *p = e->buf + e->len;
	e->len += n;
	return p;
}

void store_enc_u8(struct store_enc *e, uint8_t v)
{
	uint8_t *p = enc_room(e, 1);
	if (p)
		p[0] = v;
}

void store_enc_u16(struct store_enc *e, uint16_t v)
{
	uint8_t *p = enc_room(e, 2);
	if (p) {
		p[0] = (uint8_t)(v >> 8);
		p[1] = (uint8_t)v;
	}
}

void store_enc_u32(struct store_enc *e, uint32_t v)
{
	uint8_t *p = enc_room(e, 4);
	if (p)
		store_be32_put(p, v);
}

void store_enc_u64(struct store_enc *e, uint64_t v)
{
	uint8_t *p = enc_room(e, 8);
	if (p)
		store_be64_put(p, v);
}

void store_enc_bytes(struct store_enc *e, const void *src, size_t n)
{
	uint8_t *p = enc_room(e, n);
	if (p && n > 0)
		memcpy(p, src, n);
}

/* ---- primitive decoders ---- */

void store_dec_init(struct store_dec *d, const void *p, size_t len)
{
	d->p = p;
	d->len = len;
	d->pos = 0;
	d->bad = false;
}

const uint8_t *store_dec_bytes(struct store_dec *d, size_t n)
{
	if (d->bad || n > d->len - d->pos) {
		d->bad = true;
		return NULL;
	}
	const uint8_t *p = d->p + d->pos;
	d->pos += n;
	return p;
}

uint8_t store_dec_u8(struct store_dec *d)
{
	const uint8_t *p = store_dec_bytes(d, 1);
	return p ? p[0] : 0;
}

uint16_t store_dec_u16(struct store_dec *d)
{
	const uint8_t *p = store_dec_bytes(d, 2);
	return p ? (uint16_t)((p[0] << 8) | p[1]) : 0;
}

uint32_t store_dec_u32(struct store_dec *d)
{
	const uint8_t *p = store_dec_bytes(d, 4);
	return p ? store_be32_get(p) : 0;
}

uint64_t store_dec_u64(struct store_dec *d)
{
	const uint8_t *p = store_dec_bytes(d, 8);
	return p ? store_be64_get(p) : 0;
}

int store_dec_finish(const struct store_dec *d)
{
	return d->bad || d->pos != d->len ? STORE_ERR_CORRUPT : STORE_OK;
}

void store_be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void store_be64_put(uint8_t *p, uint64_t v)
{
	store_be32_put(p, (uint32_t)(v >> 32));
	store_be32_put(p + 4, (uint32_t)v);
}

uint32_t store_be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t store_be64_get(const uint8_t *p)
{
	return (uint64_t)store_be32_get(p) << 32 | store_be32_get(p + 4);
}

/* Decodes a u16-length-prefixed string into out (cap includes the NUL). */
static void dec_string(struct store_dec *d, char *out, size_t cap)
{
	uint16_t n = store_dec_u16(d);
	const uint8_t *p = store_dec_bytes(d, n);
	if (!p || n >= cap || memchr(p, '\0', n)) {
		d->bad = true;
		out[0] = '\0';
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

static void enc_string(struct store_enc *e, const char *s)
{
	size_t n = strlen(s);
	if (n > UINT16_MAX) {
		e->overflow = true;
		return;
	}
	store_enc_u16(e, (uint16_t)n);
	store_enc_bytes(e, s, n);
}

static size_t enc_result(const struct store_enc *e)
{
	return e->overflow ? 0 : e->len;
}

/* ---- records ---- */

/* user: version | id | created | address | pwhash [| scram], where scram
 * (absent in records written before SCRAM) is iterations u32 | salt_len u8
 * | salt | stored_key | server_key. */
size_t store_user_encode(const struct store_user *u, uint8_t *buf, size_t cap)
{
	struct store_enc e;
	store_enc_init(&e, buf, cap);
	store_enc_u8(&e, STORE_REC_VERSION);
	store_enc_u32(&e, u->id);
	store_enc_u64(&e, (uint64_t)u->created);
	enc_string(&e, u->address);
	enc_string(&e, u->pwhash);
	if (u->scram.salt_len > 0 && u->scram.salt_len <= STORE_SCRAM_SALT_MAX) {
		store_enc_u32(&e, u->scram.iterations);
		store_enc_u8(&e, (uint8_t)u->scram.salt_len);
		store_enc_bytes(&e, u->scram.salt, u->scram.salt_len);
		store_enc_bytes(&e, u->scram.stored_key, STORE_SCRAM_KEY_LEN);
		store_enc_bytes(&e, u->scram.server_key, STORE_SCRAM_KEY_LEN);
	}
	return enc_result(&e);
}

int store_user_decode(const void *p, size_t len, struct store_user *u_r)
{
	struct store_dec d;
	store_dec_init(&d, p, len);
	memset(u_r, 0, sizeof(*u_r));
	if (store_dec_u8(&d) != STORE_REC_VERSION)
		return STORE_ERR_CORRUPT;
	u_r->id = store_dec_u32(&d);
	u_r->created = (int64_t)store_dec_u64(&d);
	dec_string(&d, u_r->address, sizeof(u_r->address));
	dec_string(&d, u_r->pwhash, sizeof(u_r->pwhash));
	if (!d.bad && d.pos < d.len) {
		u_r->scram.iterations = store_dec_u32(&d);
		size_t sl = store_dec_u8(&d);
		if (sl == 0 || sl > STORE_SCRAM_SALT_MAX)
			return STORE_ERR_CORRUPT;
		const uint8_t *b = store_dec_bytes(&d, sl);
		const uint8_t *k1 = store_dec_bytes(&d, STORE_SCRAM_KEY_LEN);
		const uint8_t *k2 = store_dec_bytes(&d, STORE_SCRAM_KEY_LEN);
		if (!b || !k1 || !k2)
			return STORE_ERR_CORRUPT;
		u_r->scram.salt_len = (uint32_t)sl;
		memcpy(u_r->scram.salt, b, sl);
		memcpy(u_r->scram.stored_key, k1, STORE_SCRAM_KEY_LEN);
		memcpy(u_r->scram.server_key, k2, STORE_SCRAM_KEY_LEN);
	}
	return store_dec_finish(&d);
}

/* mailbox: version | user_id | uidvalidity | uidnext | highestmodseq |
 * messages | unseen | recent | size | special_use | subscribed |
 * (v2:) deleted | first_recent_uid | name.  The subscribed byte is legacy:
 * subscriptions live in their own database. */
size_t store_mbox_encode(const struct store_mailbox *m, uint8_t *buf, size_t cap)
{
	struct store_enc e;
	store_enc_init(&e, buf, cap);
	store_enc_u8(&e, STORE_REC_VERSION_2);
	store_enc_u32(&e, m->user_id);
	store_enc_u32(&e, m->uidvalidity);
	store_enc_u32(&e, m->uidnext);
	store_enc_u64(&e, m->highestmodseq);
	store_enc_u32(&e, m->messages);
	store_enc_u32(&e, m->unseen);
	store_enc_u32(&e, m->recent);
	store_enc_u64(&e, m->size);
	store_enc_u32(&e, m->special_use);
	store_enc_u8(&e, m->subscribed ? 1 : 0);
	store_enc_u32(&e, m->deleted);
	store_enc_u32(&e, m->first_recent_uid);
	enc_string(&e, m->name);
	return enc_result(&e);
}

int store_mbox_decode(uint32_t id, const void *p, size_t len, struct store_mailbox *m_r)
{
	struct store_dec d;
	store_dec_init(&d, p, len);
	memset(m_r, 0, sizeof(*m_r));
	uint8_t version = store_dec_u8(&d);
	if (version != STORE_REC_VERSION && version != STORE_REC_VERSION_2)
		return STORE_ERR_CORRUPT;
	m_r->id = id;
	m_r->user_id = store_dec_u32(&d);
	m_r->uidvalidity = store_dec_u32(&d);
	m_r->uidnext = store_dec_u32(&d);
	m_r->highestmodseq = store_dec_u64(&d);
	m_r->messages = store_dec_u32(&d);
	m_r->unseen = store_dec_u32(&d);
	m_r->recent = store_dec_u32(&d);
	m_r->size = store_dec_u64(&d);
	m_r->special_use = store_dec_u32(&d);
	uint8_t sub = store_dec_u8(&d);
	if (sub > 1)
		return STORE_ERR_CORRUPT;
	m_r->subscribed = sub == 1;
	if (version == STORE_REC_VERSION_2) {
		m_r->deleted = store_dec_u32(&d);
		m_r->first_recent_uid = store_dec_u32(&d);
	} else {
		/* v1 (issue 2): no \Deleted count; nothing claimed yet. */
		m_r->first_recent_uid = 1;
	}
	dec_string(&d, m_r->name, sizeof(m_r->name));
	return store_dec_finish(&d);
}

/* message: version | content_id | size | flags | internaldate | modseq |
 * v1: keyword count (always 0) / v2, v3: keyword mask (be64) | v3: savedate. */
size_t store_msg_encode(const struct store_msg *m, uint8_t *buf, size_t cap)
{
	struct store_enc e;
	store_enc_init(&e, buf, cap);
	store_enc_u8(&e, STORE_REC_VERSION_3);
	store_enc_u64(&e, m->content_id);
	store_enc_u64(&e, m->size);
	store_enc_u32(&e, m->flags);
	store_enc_u64(&e, (uint64_t)m->internaldate);
	store_enc_u64(&e, m->modseq);
	store_enc_u64(&e, m->keywords);
	store_enc_u64(&e, (uint64_t)m->savedate);
	return enc_result(&e);
}

int store_msg_decode(uint32_t uid, const void *p, size_t len, struct store_msg *m_r)
{
	struct store_dec d;
	store_dec_init(&d, p, len);
	memset(m_r, 0, sizeof(*m_r));
	uint8_t version = store_dec_u8(&d);
	if (version != STORE_REC_VERSION && version != STORE_REC_VERSION_2 &&
	    version != STORE_REC_VERSION_3)
		return STORE_ERR_CORRUPT;
	m_r->uid = uid;
	m_r->content_id = store_dec_u64(&d);
	m_r->size = store_dec_u64(&d);
	m_r->flags = store_dec_u32(&d);
	m_r->internaldate = (int64_t)store_dec_u64(&d);
	m_r->modseq = store_dec_u64(&d);
	if (version != STORE_REC_VERSION)
		m_r->keywords = store_dec_u64(&d);
	else if (store_dec_u16(&d) != 0) /* v1 never wrote keywords */
		return STORE_ERR_CORRUPT;
	if (version == STORE_REC_VERSION_3)
		m_r->savedate = (int64_t)store_dec_u64(&d);
	if ((m_r->flags & ~(uint32_t)STORE_F_ALL) != 0)
		return STORE_ERR_CORRUPT;
	return store_dec_finish(&d);
}

/* content: version | refcount | size | chunks, then (v2) big | small, the
 * chunk sizes of its layout, and (v3) page, the unit of its middle chunk.
 * v1 had one chunk size, 65,432 bytes. */
size_t store_content_meta_encode(const struct store_content_meta *c, uint8_t *buf, size_t cap)
{
	struct store_enc e;
	store_enc_init(&e, buf, cap);
	store_enc_u8(&e, c->page ? STORE_REC_VERSION_3 : STORE_REC_VERSION_2);
	store_enc_u32(&e, c->refcount);
	store_enc_u64(&e, c->size);
	store_enc_u32(&e, c->chunks);
	store_enc_u32(&e, c->big);
	store_enc_u32(&e, c->small);
	if (c->page)
		store_enc_u32(&e, c->page);
	return enc_result(&e);
}

int store_content_meta_decode(const void *p, size_t len, struct store_content_meta *c_r)
{
	struct store_dec d;
	store_dec_init(&d, p, len);
	memset(c_r, 0, sizeof(*c_r));
	uint8_t version = store_dec_u8(&d);
	if (version != STORE_REC_VERSION && version != STORE_REC_VERSION_2 &&
	    version != STORE_REC_VERSION_3)
		return STORE_ERR_CORRUPT;
	c_r->refcount = store_dec_u32(&d);
	c_r->size = store_dec_u64(&d);
	c_r->chunks = store_dec_u32(&d);
	if (version >= STORE_REC_VERSION_2) {
		c_r->big = store_dec_u32(&d);
		c_r->small = store_dec_u32(&d);
	} else {
		c_r->big = c_r->small = STORE_CHUNK_V1;
	}
	if (version == STORE_REC_VERSION_3)
		c_r->page = store_dec_u32(&d);
	int rc = store_dec_finish(&d);
	if (rc != STORE_OK)
		return rc;
	/* The layout must be usable and the chunk count match the size, or
	 * reads would run off the end. */
	if (c_r->small == 0 || c_r->big < c_r->small ||
	    (version == STORE_REC_VERSION_3 && (c_r->page < c_r->small || c_r->page > c_r->big)))
		return STORE_ERR_CORRUPT;
	return store_content_chunks(c_r) == c_r->chunks ? STORE_OK : STORE_ERR_CORRUPT;
}

/* The layout's parts for c->size bytes: nbig BIG chunks, a middle chunk of
 * *mid_r bytes (0: none) and *rest_r bytes in SMALL chunks. */
static uint64_t content_parts(const struct store_content_meta *c, uint64_t *mid_r,
			      uint64_t *rest_r)
{
	uint64_t nbig = c->size / c->big, tail = c->size % c->big;
	*mid_r = c->page ? tail - tail % c->page : 0;
	*rest_r = tail - *mid_r;
	return nbig;
}

uint64_t store_content_chunks(const struct store_content_meta *c)
{
	uint64_t mid, rest, nbig = content_parts(c, &mid, &rest);
	return nbig + (mid != 0) + rest / c->small + (rest % c->small != 0);
}

/* Byte pos of a run of SMALL chunks of n bytes that starts at chunk
 * number first. */
static void locate_small(const struct store_content_meta *c, uint64_t pos, uint64_t n,
			 uint64_t first, uint32_t *chunk_r, uint32_t *off_r, uint32_t *len_r)
{
	uint64_t start = pos - pos % c->small;
	*chunk_r = (uint32_t)(first + pos / c->small);
	*off_r = (uint32_t)(pos % c->small);
	*len_r = (uint32_t)(n - start < c->small ? n - start : c->small);
}

void store_content_locate(const struct store_content_meta *c, uint64_t pos, uint32_t *chunk_r,
			  uint32_t *off_r, uint32_t *len_r)
{
	uint64_t mid, rest, nbig = content_parts(c, &mid, &rest);
	if (c->page) {
		/* v3: the SMALL chunks first, so that a content's first bytes,
		 * where its header is, come in a small chunk (a header-only
		 * FETCH reads from the start up to the header's end), then
		 * the middle chunk, then the BIG ones. */
		uint64_t nsmall = rest / c->small + (rest % c->small != 0);
		if (pos < rest) {
			locate_small(c, pos, rest, 0, chunk_r, off_r, len_r);
		} else if (pos < rest + mid) {
			*chunk_r = (uint32_t)nsmall;
			*off_r = (uint32_t)(pos - rest);
			*len_r = (uint32_t)mid;
		} else {
			uint64_t t = pos - rest - mid;
			*chunk_r = (uint32_t)(nsmall + (mid != 0) + t / c->big);
			*off_r = (uint32_t)(t % c->big);
			*len_r = c->big;
		}
		return;
	}
	/* v1, v2: the BIG chunks first, then the SMALL ones. */
	if (pos < nbig * c->big) {
		*chunk_r = (uint32_t)(pos / c->big);
		*off_r = (uint32_t)(pos % c->big);
		*len_r = c->big;
		return;
	}
	locate_small(c, pos - nbig * c->big, rest, nbig, chunk_r, off_r, len_r);
}

/* change: version | uid | kind */
size_t store_change_encode(uint32_t uid, enum store_change_kind kind, uint8_t *buf, size_t cap)
{
	struct store_enc e;
	store_enc_init(&e, buf, cap);
	store_enc_u8(&e, STORE_REC_VERSION);
	store_enc_u32(&e, uid);
	store_enc_u8(&e, (uint8_t)kind);
	return enc_result(&e);
}

int store_change_decode(const void *p, size_t len, uint32_t *uid_r, enum store_change_kind *kind_r)
{
	struct store_dec d;
	store_dec_init(&d, p, len);
	if (store_dec_u8(&d) != STORE_REC_VERSION)
		return STORE_ERR_CORRUPT;
	*uid_r = store_dec_u32(&d);
	uint8_t k = store_dec_u8(&d);
	if (k < STORE_CHANGE_NEW || k > STORE_CHANGE_EXPUNGE)
		return STORE_ERR_CORRUPT;
	*kind_r = (enum store_change_kind)k;
	return store_dec_finish(&d);
}

/* counter (meta values, domain user counts): version | u64 */
size_t store_counter_encode(uint64_t v, uint8_t *buf, size_t cap)
{
	struct store_enc e;
	store_enc_init(&e, buf, cap);
	store_enc_u8(&e, STORE_REC_VERSION);
	store_enc_u64(&e, v);
	return enc_result(&e);
}

int store_counter_decode(const void *p, size_t len, uint64_t *v_r)
{
	struct store_dec d;
	store_dec_init(&d, p, len);
	if (store_dec_u8(&d) != STORE_REC_VERSION)
		return STORE_ERR_CORRUPT;
	*v_r = store_dec_u64(&d);
	return store_dec_finish(&d);
}

/* ---- normalisation ---- */

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Bytes that never belong in an address key: controls (which include CR,
 * LF and NUL), space and DEL.  Octets >= 0x80 pass, for SMTPUTF8 (RFC 6531). */
static bool address_byte_ok(unsigned char c)
{
	return c > 0x20 && c != 0x7f;
}

int store_address_normalize(const char *address, char *out, size_t *len_r)
{
	if (!address)
		return STORE_ERR_INVALID;
	size_t n = strnlen(address, STORE_ADDRESS_MAX + 1);
	if (n == 0 || n > STORE_ADDRESS_MAX)
		return STORE_ERR_INVALID;
	size_t at = n, ats = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)address[i];
		if (!address_byte_ok(c))
			return STORE_ERR_INVALID;
		if (c == '@') {
			ats++;
			at = i;
		}
		out[i] = ascii_lower((char)c);
	}
	/* RFC 5321 4.1.2: Mailbox = Local-part "@" ( Domain / address-literal );
	 * both sides must be non-empty. */
	if (ats != 1 || at == 0 || at == n - 1)
		return STORE_ERR_INVALID;
	out[n] = '\0';
	*len_r = n;
	return STORE_OK;
}

int store_domain_normalize(const char *domain, char *out, size_t *len_r)
{
	if (!domain)
		return STORE_ERR_INVALID;
	size_t n = strnlen(domain, STORE_ADDRESS_MAX + 1);
	if (n == 0 || n > STORE_ADDRESS_MAX)
		return STORE_ERR_INVALID;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)domain[i];
		if (!address_byte_ok(c) || c == '@')
			return STORE_ERR_INVALID;
		out[i] = ascii_lower((char)c);
	}
	out[n] = '\0';
	*len_r = n;
	return STORE_OK;
}

int store_mailbox_name_normalize(const char *name, char *out, size_t *len_r)
{
	if (!name)
		return STORE_ERR_INVALID;
	size_t n = strnlen(name, STORE_MAILBOX_NAME_MAX + 1);
	if (n == 0 || n > STORE_MAILBOX_NAME_MAX)
		return STORE_ERR_INVALID;
	if (memchr(name, '\r', n) || memchr(name, '\n', n))
		return STORE_ERR_INVALID;
	/* RFC 3501 5.1: "The case-insensitive mailbox name INBOX is a special
	 * name reserved to mean 'the primary mailbox for this user'". */
	if (strcasecmp(name, "INBOX") == 0) {
		memcpy(out, "INBOX", 6);
		*len_r = 5;
		return STORE_OK;
	}
	memcpy(out, name, n);
	out[n] = '\0';
	*len_r = n;
	return STORE_OK;
}

int store_mailbox_name_creatable(const char *name, size_t len, char sep)
{
	/* What a new mailbox may be called, on top of normalization: no
	 * control characters; no "%" or "*", which LIST could not tell from
	 * wildcards (RFC 9051 5.1); nothing that looks like another namespace
	 * ("#shared", "~user", RFC 2342) or a path ("/x", "a//b", "x/", ".",
	 * ".."), so a name never even seems to lead to another user. */
	if (len == 0 || name[0] == '#' || name[0] == '~' || name[0] == sep || name[len - 1] == sep)
		return STORE_ERR_INVALID;
	size_t comp = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || name[i] == sep) {
			size_t cl = i - comp;
			if (cl == 0 || (cl == 1 && name[comp] == '.') ||
			    (cl == 2 && name[comp] == '.' && name[comp + 1] == '.'))
				return STORE_ERR_INVALID;
			comp = i + 1;
			continue;
		}
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f || c == '%' || c == '*')
			return STORE_ERR_INVALID;
	}
	return STORE_OK;
}
