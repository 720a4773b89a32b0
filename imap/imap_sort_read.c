/* imap/imap_sort_read.c: one message against a search program, for SORT
 * and THREAD (imap_cmd_sort.c) and for the live updates of CONTEXT
 * (imap_context.c): the keys on the store record first; then only the
 * header, read in chunks up to its blank line, for the header keys and the
 * sort and thread data; the whole message and its stored structure only
 * when a BODY or TEXT key needs them. */
#include <stdlib.h>
#include <string.h>

#include "core/mime.h"
#include "imap/imap_context.h"
#include "imap/imap_session.h"

#define READ_HEADER_CHUNK (16 * 1024)

void imap_sort_reader_clear(struct imap_sort_reader *r)
{
	imap_search_msg_clear(&r->smsg);
	buf_free(&r->content);
	buf_free(&r->scratch);
	free(r->chunk);
	r->chunk = NULL;
	mime_message_free(&r->mime);
}

void imap_sort_reader_trim(struct imap_sort_reader *r)
{
	if (r->content.cap > 4 * READ_HEADER_CHUNK)
		buf_free(&r->content);
	mime_message_free(&r->mime);
}

static void smsg_set(struct imap_sort_reader *r, const struct store_msg *m, uint32_t seq,
		     size_t header_len)
{
	imap_search_msg_reset(&r->smsg);
	r->smsg.rec = *m;
	r->smsg.seq = seq;
	r->smsg.have_content = true;
	r->smsg.data = r->content.data ? r->content.data : "";
	r->smsg.len = r->content.len;
	r->smsg.header_len = header_len;
	r->smsg.mime = r->mime;
}

/* The header into content (no blank line: all of it is header, RFC 5322
 * 3.5); its length in *hdr_r. */
static int header_load(struct imap_sort_reader *r, struct store *st, const struct store_msg *m,
		       size_t *hdr_r)
{
	buf_reset(&r->content);
	mime_message_free(&r->mime);
	if (!r->chunk && !(r->chunk = malloc(IMAP_STREAM_CHUNK)))
		return STORE_ERR_TEMP;
	size_t hdr = 0;
	for (;;) {
		size_t got = 0;
		int rc = store_content_read(st, m->content_id, r->content.len, r->chunk,
					    READ_HEADER_CHUNK, &got);
		if (rc != STORE_OK)
			return rc;
		if (got == 0)
			break;
		if (buf_append(&r->content, r->chunk, got) < 0)
			return STORE_ERR_TEMP;
		if ((hdr = imap_search_header_end(r->content.data, r->content.len)) != 0)
			break;
	}
	*hdr_r = hdr ? hdr : r->content.len;
	return STORE_OK;
}

/* The rest of the message and its structure (stored, else parsed). */
static int body_load(struct imap_sort_reader *r, struct store *st, const struct store_msg *m)
{
	for (;;) {
		size_t got = 0;
		int rc = store_content_read(st, m->content_id, r->content.len, r->chunk,
					    IMAP_STREAM_CHUNK, &got);
		if (rc != STORE_OK)
			return rc;
		if (got == 0)
			break;
		if (buf_append(&r->content, r->chunk, got) < 0)
			return STORE_ERR_TEMP;
	}
	void *sd = NULL;
	size_t sd_len = 0;
	int rc = store_content_structure(st, m->content_id, &sd, &sd_len);
	if (rc == STORE_OK) {
		if (mime_message_deserialize(sd, sd_len, &r->mime) != MIME_OK ||
		    r->mime->size != r->content.len)
			mime_message_free(&r->mime);
		free(sd);
	} else if (rc != STORE_ERR_NOTFOUND) {
		return rc;
	}
	if (!r->mime && mime_message_parse(r->content.data ? r->content.data : "", r->content.len,
					   NULL, &r->mime) != MIME_OK)
		return STORE_ERR_TEMP;
	return STORE_OK;
}

int imap_sort_read(struct imap_sort_reader *r, struct store *st,
		   const struct imap_search_env *env, const struct imap_search_key *root,
		   unsigned want, const struct store_msg *m, uint32_t seq, bool *match_r,
		   struct imap_sort_msg *out, struct buf *pool)
{
	*match_r = false;
	imap_search_msg_reset(&r->smsg);
	r->smsg.rec = *m;
	r->smsg.seq = seq;
	enum imap_search_result res = imap_search_eval(env, root, &r->smsg);
	if (res == IMAP_SEARCH_NO)
		return STORE_OK;
	size_t hdr = 0;
	if (want || res == IMAP_SEARCH_UNKNOWN) {
		int rc = header_load(r, st, m, &hdr);
		if (rc != STORE_OK)
			return rc;
		if (res == IMAP_SEARCH_UNKNOWN) {
			smsg_set(r, m, seq, hdr);
			res = imap_search_eval(env, root, &r->smsg);
		}
		if (res == IMAP_SEARCH_UNKNOWN) {
			if ((rc = body_load(r, st, m)) != STORE_OK)
				return rc;
			size_t h = r->mime->root->header_len <= r->content.len
					   ? r->mime->root->header_len : r->content.len;
			smsg_set(r, m, seq, h);
			res = imap_search_eval(env, root, &r->smsg);
		}
	}
	if (res == IMAP_SEARCH_ERROR)
		return STORE_ERR_TEMP;
	if (res != IMAP_SEARCH_YES)
		return STORE_OK;
	*match_r = true;
	memset(out, 0, sizeof(*out));
	out->seq = seq;
	out->num = seq;
	out->arrival = out->date = m->internaldate;
	out->size = m->size;
	out->msgid = IMAP_SORT_NONE;
	if (want && imap_sort_msg_fill(out, want, r->content.data ? r->content.data : "", hdr, pool,
				       &r->scratch) < 0)
		return STORE_ERR_TEMP;
	return STORE_OK;
}
