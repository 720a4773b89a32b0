/* imap/imap_fetch_body.c: the values of FETCH's body items (BODY[section],
 * RFC822*, BINARY[section], BINARY.SIZE) and the message structure they are
 * cut from.  A value is either a range of the stored content, streamed in
 * IMAP_STREAM_CHUNK reads as output drains (so a large body is never held
 * whole per client), or a small buffer built here (HEADER.FIELDS, and
 * BINARY of an encoded part, or of a message/multipart part holding one,
 * which must be decoded to be sent); and the
 * PREVIEW text (RFC 8970), made from the start of one part. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/conn.h"
#include "core/log.h"
#include "imap/imap_fetch.h"
#include "imap/imap_session.h"
#include "storage/storage.h"

/* Reads content [off, off + len) into out (appended), a chunk at a time. */
static int fetch_read_range(struct imap_session *s, const struct store_content *c, uint64_t off,
			    uint64_t len, struct buf *out)
{
	if (len > SIZE_MAX - 1 - out->len)
		return STORE_ERR_TEMP;
	char *chunk = malloc(len < IMAP_STREAM_CHUNK ? (size_t)len + 1 : IMAP_STREAM_CHUNK);
	if (!chunk)
		return STORE_ERR_TEMP;
	int rc = STORE_OK;
	uint64_t done = 0;
	while (rc == STORE_OK && done < len) {
		uint64_t left = len - done;
		size_t want = left < IMAP_STREAM_CHUNK ? (size_t)left : IMAP_STREAM_CHUNK;
		size_t got = 0;
		rc = store_content_pread(s->store, c, off + done, chunk, want, &got);
		if (rc == STORE_OK && got == 0)
			rc = STORE_ERR_CORRUPT;   /* shorter than its recorded size */
		if (rc == STORE_OK && buf_append(out, chunk, got) < 0)
			rc = STORE_ERR_TEMP;
		done += got;
	}
	free(chunk);
	return rc;
}

int imap_fetch_preview(struct imap_session *s, const struct store_msg *m,
		       const struct store_content *c, const struct mime_message *mime,
		       struct buf *out)
{
	const struct mime_part *p = mime_preview_part(mime);
	if (!p)
		return STORE_OK;
	uint64_t len = p->body_len < MIME_PREVIEW_READ ? p->body_len : MIME_PREVIEW_READ;
	if (p->body_off > m->size || len > m->size - p->body_off)
		return STORE_ERR_CORRUPT;
	struct buf raw;
	buf_init(&raw, 0);
	int rc = fetch_read_range(s, c, p->body_off, len, &raw);
	if (rc == STORE_OK && mime_preview_text(p, raw.data ? raw.data : "", raw.len,
						len < p->body_len, out) < 0)
		rc = STORE_ERR_TEMP;
	buf_free(&raw);
	return rc;
}

int imap_fetch_structure(struct imap_session *s, const struct store_msg *m,
			 const struct store_content *c, void *data, size_t len,
			 struct mime_message **msg_r)
{
	*msg_r = NULL;
	if (data) {
		int mrc = mime_message_deserialize(data, len, msg_r);
		free(data);
		if (mrc == MIME_OK && (*msg_r)->size == m->size)
			return STORE_OK;
		/* Unreadable (older format, damage) or not this message's:
		 * parse again and replace it. */
		mime_message_free(msg_r);
		conn_log(s->c, PLOG_WARN, "fetch structure unusable uid=%u, reparsing",
			 (unsigned)m->uid);
	}
	int rc;
	/* Delivered without a structure (older deliveries, other writers):
	 * parse it once now and keep it (DESIGN.md: parsed once). */
	struct buf raw, ser;
	buf_init(&raw, 0);
	buf_init(&ser, 0);
	rc = fetch_read_range(s, c, 0, m->size, &raw);
	if (rc == STORE_OK &&
	    mime_message_parse(raw.data ? raw.data : "", raw.len, NULL, msg_r) != MIME_OK)
		rc = STORE_ERR_TEMP;
	if (rc == STORE_OK && mime_message_serialize(*msg_r, &ser) == MIME_OK) {
		/* Kept only when no lock is in the way: the loop does not
		 * wait for one (issue 11 point 1), and a later FETCH parses
		 * again and tries again. */
		bool was = store_thread_nowait(true);
		int src = store_content_structure_set(s->store, m->content_id, ser.data, ser.len);
		store_thread_nowait(was);
		if (src == STORE_ERR_BUSY)
			conn_log(s->c, PLOG_DEBUG, "fetch structure not saved uid=%u: store busy",
				 (unsigned)m->uid);
		else if (src != STORE_OK)
			conn_log(s->c, PLOG_WARN, "fetch structure not saved uid=%u error=\"%s\"",
				 (unsigned)m->uid, store_strerror(src));
	}
	buf_free(&raw);
	buf_free(&ser);
	if (rc != STORE_OK)
		mime_message_free(msg_r);
	return rc;
}

int imap_fetch_stream_pump(struct imap_session *s, struct imap_fetch_stream *st)
{
	if (!st->chunk && st->pos < st->end && !(st->chunk = malloc(IMAP_STREAM_CHUNK)))
		return STORE_ERR_TEMP;
	while (st->pos < st->end) {
		if (imap_output_full(s))
			return 1;
		uint64_t left = st->end - st->pos;
		size_t want = left < IMAP_STREAM_CHUNK ? (size_t)left : IMAP_STREAM_CHUNK;
		size_t got = 0;
		int rc = store_content_pread(s->store, &st->content, st->pos, st->chunk, want, &got);
		if (rc != STORE_OK)
			return rc;
		if (got == 0)
			return STORE_ERR_CORRUPT;
		imap_write(s, st->chunk, got);
		st->pos += got;
	}
	return 0;
}

/* The body of a part without its transfer encoding (RFC 3516 4.3). */
static int binary_decode(struct imap_session *s, const struct store_content *c,
			 const struct imap_fetch_loc *loc, struct buf *out)
{
	struct buf raw;
	buf_init(&raw, 0);
	int rc = fetch_read_range(s, c, loc->off, loc->len, &raw);
	const struct mime_str *e = &loc->part->encoding;
	if (rc == STORE_OK &&
	    mime_cte_decode(e->data, e->len, raw.data ? raw.data : "", raw.len, out) != MIME_OK)
		rc = STORE_ERR_TEMP;
	buf_free(&raw);
	return rc;
}

/* BINARY of a message/rfc822 or multipart part: its body with every
 * nested encoded part decoded (RFC 3516 4.2: the section's content without
 * transfer encoding, which for a message is its parts' content). */
static int binary_unencode(struct imap_session *s, const struct store_content *c,
			   const struct imap_fetch_loc *loc, struct buf *out)
{
	struct buf raw;
	buf_init(&raw, 0);
	int rc = fetch_read_range(s, c, loc->off, loc->len, &raw);
	if (rc == STORE_OK) {
		int mrc = mime_binary_unencode(raw.data ? raw.data : "", (size_t)loc->off, raw.len,
					       loc->part, out);
		rc = mrc == MIME_OK ? STORE_OK : mrc == MIME_ERR_CORRUPT ? STORE_ERR_CORRUPT
									: STORE_ERR_TEMP;
	}
	buf_free(&raw);
	return rc;
}

/* Whether a BINARY value of loc is the stored bytes as they are: no
 * encoding to undo (7bit, 8bit, binary), or a multipart/message body
 * with no encoded part inside. */
static bool binary_identity(const struct imap_fetch_loc *loc)
{
	const struct mime_part *p = loc->part;
	if (!p)
		return true;
	if (p->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE))
		return !mime_binary_nested_encoded(p);
	const struct mime_str *e = &p->encoding;
	if (!e->data)
		return true;
	return !((e->len == 6 && strncasecmp(e->data, "base64", 6) == 0) ||
		 (e->len == 16 && strncasecmp(e->data, "quoted-printable", 16) == 0));
}

/* Partial ranges (RFC 3501 6.4.5 <start.count>) on a value of total
 * octets, or BINARY.SIZE's number. */
static int value_finish(const struct imap_fetch_att *att, struct imap_fetch_value *v,
			uint64_t total)
{
	if (att->item == IMAP_FETCH_BINARY_SIZE) {
		v->kind = IMAP_VALUE_SIZE;
		v->size = total;
		return STORE_OK;
	}
	uint64_t start, len;
	imap_fetch_partial(total, att->partial, att->offset, att->count, &start, &len);
	v->size = len;
	if (v->kind == IMAP_VALUE_MEM) {
		if (start > 0)
			buf_consume(&v->mem, (size_t)start);
		v->mem.len = (size_t)len;
	} else {
		v->off += start;
	}
	return STORE_OK;
}

int imap_fetch_body_value(struct imap_session *s, const struct store_msg *m,
			  const struct store_content *c, const struct mime_message *mime,
			  const struct imap_fetch_att *att, struct imap_fetch_value *v)
{
	static const struct imap_section whole = { 0 };
	static const struct imap_section header = { .text = IMAP_SECTION_HEADER };
	static const struct imap_section text = { .text = IMAP_SECTION_TEXT };
	const struct imap_section *sec = &att->section;
	switch (att->item) {
	case IMAP_FETCH_RFC822:
		sec = &whole;
		break;
	case IMAP_FETCH_RFC822_HEADER:
		sec = &header;
		break;
	case IMAP_FETCH_RFC822_TEXT:
		sec = &text;
		break;
	default:
		break;
	}
	v->kind = IMAP_VALUE_NIL;
	v->literal8 = false;
	v->size = 0;
	buf_reset(&v->mem);
	struct imap_fetch_loc loc;
	imap_fetch_locate(mime, m->size, sec, &loc);
	if (loc.kind == IMAP_LOC_NIL)
		return STORE_OK;
	bool binary = att->item == IMAP_FETCH_BINARY || att->item == IMAP_FETCH_BINARY_SIZE;
	if (binary && sec->nparts > 0 && loc.part &&
	    !(loc.part->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE)) &&
	    !imap_fetch_cte_known(&loc.part->encoding))
		return IMAP_FETCH_ERR_UNKNOWN_CTE;

	uint64_t total;
	if (loc.kind == IMAP_LOC_FILTER) {
		struct buf hdr;
		buf_init(&hdr, 0);
		int rc = fetch_read_range(s, c, loc.off, loc.len, &hdr);
		if (rc == STORE_OK &&
		    imap_fetch_header_filter(hdr.data ? hdr.data : "", hdr.len, sec->fields,
					     sec->nfields,
					     sec->text == IMAP_SECTION_HEADER_FIELDS_NOT, &v->mem) < 0)
			rc = STORE_ERR_TEMP;
		buf_free(&hdr);
		if (rc != STORE_OK)
			return rc;
		v->kind = IMAP_VALUE_MEM;
		total = v->mem.len;
	} else if (binary && sec->nparts > 0 && !binary_identity(&loc)) {
		int rc = (loc.part->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE))
				 ? binary_unencode(s, c, &loc, &v->mem)
				 : binary_decode(s, c, &loc, &v->mem);
		if (rc != STORE_OK)
			return rc;
		v->kind = IMAP_VALUE_MEM;
		total = v->mem.len;
		/* RFC 3516 4.3: a literal8 only when the data holds NUL. */
		v->literal8 = v->mem.len > 0 && memchr(v->mem.data, '\0', v->mem.len) != NULL;
	} else {
		v->kind = IMAP_VALUE_STREAM;
		v->off = loc.off;
		total = loc.len;
		v->literal8 = binary && loc.part && (loc.part->flags & MIME_PART_NUL);
	}
	return value_finish(att, v, total);
}

/* The value of a body item on the message's own header alone: the
 * HEADER, HEADER.FIELDS(.NOT) and RFC822.HEADER items, which
 * imap_fetch_att_head_only accepts. */
int imap_fetch_head_value(const char *hdr, size_t len, const struct imap_fetch_att *att,
			  struct imap_fetch_value *v)
{
	const struct imap_section *sec = &att->section;
	v->kind = IMAP_VALUE_MEM;
	v->literal8 = false;
	v->size = 0;
	buf_reset(&v->mem);
	int rc;
	if (att->item == IMAP_FETCH_BODY_SECTION && sec->text != IMAP_SECTION_HEADER)
		rc = imap_fetch_header_filter(hdr, len, sec->fields, sec->nfields,
					      sec->text == IMAP_SECTION_HEADER_FIELDS_NOT, &v->mem);
	else
		rc = buf_append(&v->mem, hdr, len);
	if (rc < 0)
		return STORE_ERR_TEMP;
	return value_finish(att, v, v->mem.len);
}
