/* imap/imap_cmd_status.c: STATUS (RFC 3501 6.3.10, RFC 9051 6.3.11) with
 * SIZE (RFC 8438), DELETED (RFC 9051), HIGHESTMODSEQ (RFC 7162 3.1.6) and
 * APPENDLIMIT (RFC 7889), MAILBOXID (RFC 8474 4.3); also the "* STATUS" writer LIST-STATUS uses.
 *
 * Every item comes from the mailbox record's counters, so STATUS costs one
 * read whatever the mailbox size.  STATUS of the selected mailbox is
 * allowed (RFC 9051 6.3.11 only discourages it); the counters are the
 * store's, which may be ahead of what the session has been told. */
#include <inttypes.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "imap/imap_objectid.h"
#include "imap/imap_session.h"
#include "imap/imap_status.h"
#include "storage/storage.h"

int imap_status_write(struct imap_session *s, const struct store_mailbox *mb, unsigned items)
{
	struct buf out;
	buf_init(&out, 0);
	int rc = buf_puts(&out, "* STATUS ");
	rc |= imap_mailbox_write(s, &out, mb->name);
	rc |= buf_puts(&out, " (");
	const char *sp = "";
	/* The order of RFC 9051 6.3.11's list; clients find items by name. */
	if (items & IMAP_STATUS_MESSAGES) {
		rc |= buf_printf(&out, "%sMESSAGES %" PRIu32, sp, mb->messages);
		sp = " ";
	}
	if (items & IMAP_STATUS_RECENT) {
		rc |= buf_printf(&out, "%sRECENT %" PRIu32, sp, mb->recent);
		sp = " ";
	}
	if (items & IMAP_STATUS_UIDNEXT) {
		rc |= buf_printf(&out, "%sUIDNEXT %" PRIu32, sp, mb->uidnext);
		sp = " ";
	}
	if (items & IMAP_STATUS_UIDVALIDITY) {
		rc |= buf_printf(&out, "%sUIDVALIDITY %" PRIu32, sp, mb->uidvalidity);
		sp = " ";
	}
	if (items & IMAP_STATUS_UNSEEN) {
		rc |= buf_printf(&out, "%sUNSEEN %" PRIu32, sp, mb->unseen);
		sp = " ";
	}
	if (items & IMAP_STATUS_DELETED) {
		rc |= buf_printf(&out, "%sDELETED %" PRIu32, sp, mb->deleted);
		sp = " ";
	}
	if (items & IMAP_STATUS_SIZE) {
		rc |= buf_printf(&out, "%sSIZE %" PRIu64, sp, mb->size);
		sp = " ";
	}
	if (items & IMAP_STATUS_HIGHESTMODSEQ) {
		/* RFC 7162 3.1: STATUS (HIGHESTMODSEQ) is a CONDSTORE enabling
		 * command. */
		imap_session_condstore_enable(s);
		rc |= buf_printf(&out, "%sHIGHESTMODSEQ %" PRIu64, sp, mb->highestmodseq);
		sp = " ";
	}
	if (items & IMAP_STATUS_MAILBOXID) {
		char id[IMAP_OBJECTID_MAX];
		imap_objectid_mailbox(id, mb->id, mb->uidvalidity);
		rc |= buf_printf(&out, "%sMAILBOXID (%s)", sp, id);
		sp = " ";
	}
	if (items & IMAP_STATUS_APPENDLIMIT) {
		/* RFC 7889 3: one limit for every mailbox. */
		if (s->cfg->imap_max_message_size)
			rc |= buf_printf(&out, "%sAPPENDLIMIT %zu", sp, s->cfg->imap_max_message_size);
		else
			rc |= buf_printf(&out, "%sAPPENDLIMIT NIL", sp);
	}
	rc |= buf_puts(&out, ")\r\n");
	if (rc == 0)
		imap_write_buf(s, &out);
	buf_free(&out);
	return rc ? -1 : 0;
}

enum imap_cmd_rc imap_cmd_status(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct imap_string wire;
	unsigned items = 0;
	const char *err = NULL;
	if (imap_status_parse(cmd->pc->args, cmd->pc->nargs, &wire, &items, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err ? err : "Invalid STATUS arguments");
		return IMAP_CMD_DONE;
	}
	struct store_mailbox mb;
	if (imap_mailbox_arg_get(cmd, &cmd->pc->args[0], IMAP_MAILBOX_NONEXISTENT, "STATUS", &mb) < 0)
		return IMAP_CMD_DONE;
	if (imap_status_write(s, &mb, items) < 0) {
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, "STATUS");
		return IMAP_CMD_DONE;
	}
	imap_cmd_ok(cmd, "STATUS completed");
	return IMAP_CMD_DONE;
}
