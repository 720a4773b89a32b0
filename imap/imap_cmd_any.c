/* imap/imap_cmd_any.c: the commands valid in every state (RFC 9051 6.1):
 * CAPABILITY, NOOP, LOGOUT, and ID (RFC 2971). */
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/log.h"
#include "imap/imap_session.h"

enum imap_cmd_rc imap_cmd_capability(struct imap_cmd *cmd)
{
	if (cmd->pc->nargs) {
		imap_cmd_bad(cmd, "CAPABILITY takes no arguments");
		return IMAP_CMD_DONE;
	}
	struct buf b;
	buf_init(&b, 0);
	buf_puts(&b, "* CAPABILITY ");
	imap_capability_write(cmd->s, &b);
	buf_puts(&b, "\r\n");
	imap_write_buf(cmd->s, &b);
	buf_free(&b);
	imap_cmd_ok(cmd, "CAPABILITY completed");
	return IMAP_CMD_DONE;
}

enum imap_cmd_rc imap_cmd_noop(struct imap_cmd *cmd)
{
	if (cmd->pc->nargs) {
		imap_cmd_bad(cmd, "NOOP takes no arguments");
		return IMAP_CMD_DONE;
	}
	/* RFC 9051 6.1.2: the point of NOOP is the updates imap_cmd_ok sends. */
	imap_cmd_ok(cmd, "NOOP completed");
	return IMAP_CMD_DONE;
}

enum imap_cmd_rc imap_cmd_logout(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	if (cmd->pc->nargs) {
		imap_cmd_bad(cmd, "LOGOUT takes no arguments");
		return IMAP_CMD_DONE;
	}
	/* RFC 9051 6.1.3: BYE first, then the tagged OK, then the close. */
	imap_untagged(s, "BYE Logging out");
	imap_cmd_ok(cmd, "LOGOUT completed");
	s->state = IMAP_S_LOGOUT;
	imap_session_close(s, NULL, "logout");
	return IMAP_CMD_DONE;
}

enum imap_cmd_rc imap_cmd_id(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct imap_id id;
	const char *error = NULL;
	if (imap_id_parse(cmd->pc->args, cmd->pc->nargs, &id, &error) < 0) {
		imap_cmd_bad(cmd, "%s", error);
		return IMAP_CMD_DONE;
	}
	/* RFC 2971 3.1: log what the client says it is (useful when a
	 * client misbehaves); printable ASCII only, so the log stays one line. */
	struct buf b;
	buf_init(&b, 2048);
	for (size_t i = 0; i < id.npairs; i++) {
		const struct imap_string *k = &id.fields[i], *v = &id.values[i];
		buf_putc(&b, ' ');
		for (size_t j = 0; j < k->len && j < 30; j++)
			buf_putc(&b, k->s[j] > ' ' && k->s[j] < 127 && k->s[j] != '=' ? k->s[j] : '_');
		buf_puts(&b, "=\"");
		for (size_t j = 0; v->s && j < v->len && j < 100; j++)
			buf_putc(&b, v->s[j] >= ' ' && v->s[j] < 127 && v->s[j] != '"' ? v->s[j] : '_');
		buf_putc(&b, '"');
	}
	if (b.len)
		conn_log(s->c, PLOG_INFO, "client id%s", b.data);
	buf_free(&b);
	imap_id_clear(&id);
	imap_untagged(s, "ID (\"name\" \"postino\" \"version\" \"%s\")", POSTINO_VERSION);
	imap_cmd_ok(cmd, "ID completed");
	return IMAP_CMD_DONE;
}
