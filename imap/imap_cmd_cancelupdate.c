/* imap/imap_cmd_cancelupdate.c: CANCELUPDATE (RFC 5267 4.3.5): the
 * updating contexts named by their tags end (imap_context.c). */
#include "imap/imap_context.h"
#include "imap/imap_session.h"

enum imap_cmd_rc imap_cmd_cancelupdate(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	const struct imap_command *pc = cmd->pc;
	/* "CANCELUPDATE" 1*(SP quoted): check every tag before ending any. */
	if (pc->nargs == 0) {
		imap_cmd_bad(cmd, "CANCELUPDATE needs the tags of searching commands");
		return IMAP_CMD_DONE;
	}
	for (size_t i = 0; i < pc->nargs; i++) {
		const struct imap_arg *a = &pc->args[i];
		if (a->type != IMAP_ARG_QUOTED) {
			imap_cmd_bad(cmd, "CANCELUPDATE takes quoted tags");
			return IMAP_CMD_DONE;
		}
		if (!imap_context_tag_used(s, a->str, a->len)) {
			imap_cmd_bad(cmd, "No updating context for that tag");
			return IMAP_CMD_DONE;
		}
	}
	for (size_t i = 0; i < pc->nargs; i++)
		imap_context_cancel(s, pc->args[i].str, pc->args[i].len);
	imap_cmd_ok(cmd, "No further updates");
	return IMAP_CMD_DONE;
}
