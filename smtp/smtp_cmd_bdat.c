/* smtp/smtp_cmd_bdat.c: BDAT (RFC 3030, CHUNKING).  A chunk's octets are
 * read raw (core's conn_read_raw), with no dot-stuffing and no end line,
 * and go through the same machine and spool as DATA (smtp_data_chunk);
 * after the LAST chunk the message is delivered exactly as after DATA
 * (smtp_message_end: same checks, same 250 after the log flush).
 *
 * RFC 3030 2: the octets of a BDAT are read whatever the reply to it, since
 * the client sends them without waiting (and may pipeline further
 * commands behind them).  So a BDAT out of a transaction, or one whose
 * message cannot be started, still reads its chunk, and drops it. */
#include <inttypes.h>

#include "core/config.h"
#include "core/conn.h"
#include "smtp/smtp_session.h"

/* Read the chunk to drop it; `reply` is written once it is read (RFC 3030
 * 2: "accept and discard the associated message data before sending the
 * appropriate 5XX or 4XX code"), then the session goes back to `resume`. */
static void bdat_discard(struct smtp_session *s, const char *reply, enum smtp_state resume)
{
	s->bdat_discard = true;
	s->bdat_reply = reply;
	s->bdat_resume = resume;
}

/* The whole chunk is in. */
static void bdat_chunk_done(struct smtp_session *s)
{
	bool authed = s->authed;
	conn_set_timeout(s->c, s->cfg->smtp_timeout);
	if (s->bdat_discard) {
		smtp_reply(s, "%s", s->bdat_reply);
		s->bdat_discard = false;
		s->bdat_reply = NULL;
		s->state = s->bdat_resume;
		if (s->bdat_reset)
			smtp_session_reset_tx(s);
	} else {
		enum smtp_data_rc rc = smtp_data_chunk_end(&s->data, s->bdat_last);
		if (rc != SMTP_DATA_MORE) {
			/* Delivered (250 after the flush), or refused; either way
			 * the transaction ends (RFC 3030 2: a failed chunk fails
			 * the whole message). */
			smtp_message_end(s, rc);
			smtp_session_line_done(s, authed);
			return;
		}
		s->state = SMTP_S_CHUNK;
		/* RFC 3030 2: one reply per chunk, saying how much was taken. */
		smtp_reply(s, "250 2.0.0 Ok: %" PRIu64 " octets received", s->bdat_size);
	}
	if (!smtp_session_close_if_shutdown(s))
		smtp_session_line_done(s, authed);
}

void smtp_cmd_bdat(struct smtp_session *s, const char *arg, size_t len)
{
	uint64_t size;
	bool last;
	if (smtp_parse_bdat(arg, len, &size, &last) != SMTP_P_OK) {
		/* Nothing can be read: we do not know how many octets follow. */
		smtp_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		return;
	}
	s->bdat_size = size;
	s->bdat_last = last;
	s->bdat_reset = false;
	enum smtp_state before = s->state;
	switch (before) {
	case SMTP_S_INIT:
		bdat_discard(s, "503 5.5.1 Error: send HELO/EHLO first", before);
		break;
	case SMTP_S_GREETED:
		bdat_discard(s, "503 5.5.1 Error: need MAIL command", before);
		break;
	case SMTP_S_MAIL:
		/* RFC 3030 2: a sequence error (503), whether no RCPT came or
		 * none was accepted (where DATA says 554, RFC 5321 3.3). */
		bdat_discard(s, s->rcpt_refused ? "503 5.5.1 Error: no valid recipients"
						: "503 5.5.1 Error: need RCPT command",
			     before);
		break;
	case SMTP_S_RCPT: {
		const char *refusal;
		if (smtp_message_begin(s, &refusal) < 0) {
			/* Busy or no spool: the message is over (RFC 3030 2). */
			s->bdat_reset = true;
			bdat_discard(s, refusal, before);
		}
		break;
	}
	default:   /* SMTP_S_CHUNK: the next chunk of the message */
		break;
	}
	s->state = SMTP_S_DATA;
	if (size == 0) {
		bdat_chunk_done(s);
		return;
	}
	/* RFC 5321 4.5.3.2.5-6: the data timeout, for the whole chunk (raw
	 * input does not restart the idle timer). */
	conn_set_timeout(s->c, s->cfg->smtp_data_timeout);
	conn_read_raw(s->c, (size_t)size);
}

void smtp_bdat_phase_raw(struct smtp_session *s, const char *data, size_t len, bool last)
{
	/* Past an error the machine drops what it is fed; bytes to discard
	 * never reach it. */
	if (!s->bdat_discard)
		smtp_data_chunk(&s->data, data, len);
	if (last)
		bdat_chunk_done(s);
}
