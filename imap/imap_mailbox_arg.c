/* imap/imap_mailbox_arg.c: mailbox names between the wire and the store:
 * a mailbox argument to the store's UTF-8 name (imap_mailbox_arg), a name
 * back to the wire (imap_mailbox_write), and the lookup of a named
 * mailbox with the reply every command gives when it fails
 * (imap_mailbox_get, imap_mailbox_arg_get), so APPEND, COPY, MOVE,
 * REPLACE, STATUS, RESETKEY and GETMETADATA/SETMETADATA answer alike. */
#include <string.h>

#include "core/buf.h"
#include "imap/imap_parse.h"
#include "imap/imap_session.h"
#include "storage/storage.h"

int imap_mailbox_arg(struct imap_cmd *cmd, const struct imap_arg *arg, struct buf *out)
{
	struct imap_session *s = cmd->s;
	buf_reset(out);
	struct imap_string name;
	const char *error = NULL;
	if (!arg || imap_arg_mailbox(arg, &name, &error) < 0) {
		imap_cmd_bad(cmd, "%s", error ? error : "Mailbox name expected");
		return -1;
	}
	struct buf utf8;
	buf_init(&utf8, 0);
	if (imap_mailbox_decode(&utf8, name.s, name.len, s->utf8, &error) < 0) {
		/* The argument was a well-formed string, so the command is
		 * not a client bug (BAD); the name can just never exist:
		 * NO [CANNOT] (RFC 5530 3), for every command that takes a
		 * mailbox name, as Dovecot does. */
		buf_free(&utf8);
		imap_cmd_no(cmd, "[CANNOT] Invalid mailbox name: %s",
			    error ? error : "cannot be decoded");
		return -1;
	}
	size_t len = utf8.len;
	/* RFC 3501 6.3.3: a trailing delimiter names the same mailbox. */
	while (len > 1 && utf8.data[len - 1] == IMAP_HIER_SEP)
		len--;
	int rc = imap_mailbox_normalize(out, utf8.data ? utf8.data : "", len, IMAP_HIER_SEP);
	buf_free(&utf8);
	if (rc < 0) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return -1;
	}
	return 0;
}

int imap_mailbox_write(struct imap_session *s, struct buf *out, const char *name)
{
	size_t len = strlen(name);
	if (s->utf8)
		/* RFC 6855 3: names are UTF-8 on the wire. */
		return imap_write_astring(out, name, len);
	struct buf m;
	buf_init(&m, 0);
	int rc = imap_mutf7_encode(&m, name, len);
	if (rc == 0)
		rc = imap_write_astring(out, m.data ? m.data : "", m.len);
	buf_free(&m);
	return rc;
}

int imap_mailbox_get(struct imap_cmd *cmd, const char *name, enum imap_mailbox_missing missing,
		     const char *what, struct store_mailbox *mb_r)
{
	struct imap_session *s = cmd->s;
	int rc = store_mailbox_get(s->store, s->user.id, name, mb_r);
	if (rc == STORE_OK)
		return 0;
	if (rc == STORE_ERR_NOTFOUND && missing == IMAP_MAILBOX_TRYCREATE)
		/* RFC 3501 6.3.11, 6.4.7 (RFC 9051 7.1): the target of an
		 * APPEND, COPY or MOVE that does not exist; the client may
		 * CREATE it and try again. */
		imap_cmd_no(cmd, "[TRYCREATE] Mailbox does not exist");
	else
		/* [NONEXISTENT] for a missing one (RFC 5530 3). */
		imap_cmd_store_error(cmd, rc, what);
	return -1;
}

int imap_mailbox_arg_get(struct imap_cmd *cmd, const struct imap_arg *arg,
			 enum imap_mailbox_missing missing, const char *what,
			 struct store_mailbox *mb_r)
{
	struct buf name;
	buf_init(&name, 0);
	int rc = imap_mailbox_arg(cmd, arg, &name);
	if (rc == 0)
		rc = imap_mailbox_get(cmd, name.data ? name.data : "", missing, what, mb_r);
	buf_free(&name);
	return rc;
}
