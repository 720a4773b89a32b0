/* imap/imap_cmd_catenate.c: CATENATE (RFC 4469), the message data of
 * APPEND (also MULTIAPPEND, RFC 4469 6) and REPLACE (RFC 8508 5 takes
 * APPEND's append-message with its extensions) put together from TEXT
 * literals and the octets of IMAP URLs (imap_url.h, imap_url_access.h).
 *
 * Each URL is resolved as the session's own access allows it, or through
 * URLAUTH (RFC 4469 5); its octets are exactly FETCH BODY.PEEK[section]
 * <partial>, so the stored message is byte for byte the parts in order
 * (unless a TEXT literal8 brings NUL octets, which APPEND then encodes as
 * for any literal8 message, RFC 3516 4.3).  The first bad URL fails the
 * whole command with NO [BADURL url] (RFC 4469 5), a result over
 * APPENDLIMIT with NO [TOOBIG]; nothing is stored then. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "imap/imap_append.h"
#include "imap/imap_session.h"
#include "imap/imap_store_call.h"
#include "imap/imap_url.h"
#include "imap/imap_url_access.h"

/* Parts in one command: far more than a client composing a message needs
 * (RFC 4469 gives no limit), few enough that a command's work is bounded
 * beyond its literals (each URL costs a few store reads). */
#define CATENATE_MAX_PARTS 1000

/* "[BADURL url]" (RFC 4469 5, errata 4046: the URL as it came, bare).
 * url-resp-text cannot hold "]" or CR/LF: such octets are written
 * percent-encoded, which still names the same URL. */
static void catenate_badurl(struct imap_cmd *cmd, const struct imap_cat_part *part)
{
	struct buf b;
	buf_init(&b, 0);
	for (size_t i = 0; i < part->len; i++) {
		unsigned char ch = (unsigned char)part->data[i];
		if (ch == ']' || ch == '\r' || ch == '\n' || ch == 0 || ch >= 0xff)
			buf_printf(&b, "%%%02X", ch);
		else
			buf_putc(&b, (char)ch);
	}
	if (b.len == 0)
		buf_puts(&b, "%20");   /* 1*url-resp-text: an empty URL still shows */
	imap_cmd_no(cmd, "[BADURL %s] CATENATE URL names no message this session may read",
		    b.data ? b.data : "");
	buf_free(&b);
}

/* The octets of one URL part appended to out (max in all).  0, -1 after
 * the tagged NO, or 1 when a worker waits for the message's pages (a
 * writer held them: the loop does not wait, issue 11 point 1). */
static int catenate_url(struct imap_cmd *cmd, const struct imap_cat_part *part, uint64_t max,
			struct buf *out)
{
	struct imap_session *s = cmd->s;
	struct imap_url url;
	const char *err;
	if (imap_url_parse(part->data, part->len, &url, &err) < 0) {
		/* RFC 4469 5: a URL that is no valid IMAP URL is a bad URL,
		 * not bad syntax (the astring parsed). */
		catenate_badurl(cmd, part);
		return -1;
	}
	struct imap_url_target t;
	bool too_big = false;
	int rc = imap_url_resolve(s, part->data, part->len, &url, false, &t);
	if (rc == STORE_OK) {
		bool was = store_thread_nowait(true);
		rc = imap_url_read(s, &url, &t, false, max, out, &too_big, NULL, NULL, NULL);
		store_thread_nowait(was);
		if (rc == STORE_ERR_BUSY &&
		    imap_content_wait(cmd, t.msg.content_id, 0, t.msg.size) == 2) {
			imap_url_clear(&url);
			return 1;
		}
		if (rc == STORE_ERR_BUSY)   /* waited here: the pool was full */
			rc = imap_url_read(s, &url, &t, false, max, out, &too_big, NULL, NULL,
					   NULL);
	}
	imap_url_clear(&url);
	if (rc == IMAP_URL_BADURL) {
		catenate_badurl(cmd, part);
		return -1;
	}
	if (rc != STORE_OK) {
		imap_cmd_store_error(cmd, rc, cmd->def->name);
		return -1;
	}
	if (too_big) {
		imap_cmd_no(cmd, "[TOOBIG] CATENATE result larger than APPENDLIMIT=%" PRIu64, max);
		return -1;
	}
	return 0;
}

int imap_catenate_build(struct imap_cmd *cmd, struct imap_append_msg *msgs, size_t n,
			struct buf *bufs)
{
	struct imap_session *s = cmd->s;
	size_t limit = s->cfg->imap_max_message_size;
	/* RFC 4469 5 [TOOBIG]: each result within APPENDLIMIT (RFC 7889),
	 * and all of one command within what the reader takes for it. */
	uint64_t max = limit ? limit : s->limits.max_append;
	if (!max)
		max = 64u * 1024 * 1024;
	uint64_t total_left = s->limits.max_append_total ? s->limits.max_append_total : max;
	size_t parts = 0;
	for (size_t i = 0; i < n; i++)
		parts += msgs[i].ncat;
	if (parts > CATENATE_MAX_PARTS) {
		imap_cmd_no(cmd, "[LIMIT] More than %d CATENATE parts", CATENATE_MAX_PARTS);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct imap_append_msg *m = &msgs[i];
		if (!m->cat)
			continue;
		uint64_t cap = max < total_left ? max : total_left;
		struct buf *b = &bufs[i];
		for (size_t k = 0; k < m->ncat; k++) {
			const struct imap_cat_part *part = &m->cat[k];
			if (part->url) {
				int rc = catenate_url(cmd, part, cap, b);
				if (rc != 0)
					return rc;
				continue;
			}
			if (part->len > cap || b->len > cap - part->len) {
				imap_cmd_no(cmd, "[TOOBIG] CATENATE result larger than APPENDLIMIT=%" PRIu64,
					    max);
				return -1;
			}
			if (buf_append(b, part->data, part->len) < 0) {
				imap_cmd_store_error(cmd, STORE_ERR_TEMP, cmd->def->name);
				return -1;
			}
		}
		m->data = b->data ? b->data : "";
		m->len = b->len;
		total_left -= b->len;
	}
	return 0;
}
