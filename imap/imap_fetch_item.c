/* imap/imap_fetch_item.c: the FETCH items whose value comes from the
 * message record and its stored MIME structure (FLAGS, INTERNALDATE,
 * RFC822.SIZE, ENVELOPE, BODY, BODYSTRUCTURE, UID, MODSEQ, EMAILID,
 * THREADID, SAVEDATE), and the head of a literal.  One writer for both
 * places that send FETCH data: the FETCH command (imap_cmd_fetch.c) and
 * NOTIFY's unsolicited FETCH for new messages (imap_notify_fetch.c, RFC
 * 5465 5.2), so the two cannot drift apart. */
#include "core/buf.h"
#include "core/mime.h"
#include "imap/imap_fetch.h"
#include "imap/imap_objectid.h"
#include "imap/imap_session.h"
#include "imap/imap_view.h"

int imap_fetch_item_write(struct imap_session *s, const struct store_msg *m,
			  const struct mime_message *mime, const struct imap_fetch_att *a,
			  struct buf *b)
{
	/* IMAP4rev2 describes message/global like message/rfc822
	 * (core/mime.h, MIME_WRITE_GLOBAL). */
	unsigned wflags = s->rev2 ? MIME_WRITE_GLOBAL : 0;
	switch (a->item) {
	case IMAP_FETCH_FLAGS:
		return buf_puts(b, "FLAGS ") | imap_view_flags_write(s->view, b, m);
	case IMAP_FETCH_INTERNALDATE:
		return buf_puts(b, "INTERNALDATE ") | imap_fetch_internaldate_write(b, m->internaldate);
	case IMAP_FETCH_RFC822_SIZE:
		return buf_puts(b, "RFC822.SIZE ") | buf_put_u64(b, m->size);
	case IMAP_FETCH_ENVELOPE:
		return buf_puts(b, "ENVELOPE ") | mime_envelope_write(mime->root->envelope, b);
	case IMAP_FETCH_BODY:
		return buf_puts(b, "BODY ") | mime_bodystructure_write(mime->root, wflags, b);
	case IMAP_FETCH_BODYSTRUCTURE:
		return buf_puts(b, "BODYSTRUCTURE ") |
		       mime_bodystructure_write(mime->root, wflags | MIME_WRITE_EXTENDED, b);
	case IMAP_FETCH_UID:
		return buf_puts(b, "UID ") | buf_put_u64(b, m->uid);
	case IMAP_FETCH_MODSEQ:
		return buf_printf(b, "MODSEQ (%llu)", (unsigned long long)m->modseq);
	case IMAP_FETCH_EMAILID: {
		char id[IMAP_OBJECTID_MAX];
		imap_objectid_email(id, m->content_id);
		return buf_printf(b, "EMAILID (%s)", id);
	}
	case IMAP_FETCH_THREADID:
		return buf_puts(b, "THREADID NIL");   /* RFC 8474 5.2: not computed */
	case IMAP_FETCH_SAVEDATE:
		/* RFC 8514 4.2: NIL where there is no save date (a message
		 * stored before message records v3). */
		if (!m->savedate)
			return buf_puts(b, "SAVEDATE NIL");
		return buf_puts(b, "SAVEDATE ") | imap_fetch_internaldate_write(b, m->savedate);
	default:
		return -1;
	}
}

int imap_fetch_literal_head_write(struct buf *b, bool literal8, uint64_t n)
{
	return (literal8 ? buf_puts(b, "~{") : buf_putc(b, '{')) | buf_put_u64(b, n) |
	       buf_puts(b, "}\r\n");
}
