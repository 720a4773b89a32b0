/* imap/imap_cmd_compress.c: COMPRESS (RFC 4978): DEFLATE, through core's
 * compression layer (conn_compress_start). */
#include <strings.h>

#include "core/conn.h"
#include "imap/imap_session.h"

enum imap_cmd_rc imap_cmd_compress(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	const struct imap_arg *a = cmd->pc->args;
	/* RFC 4978 5: compress = "COMPRESS" SP algorithm; algorithm is an
	 * atom, and "DEFLATE" the only one (BAD for any other, 3). */
	if (cmd->pc->nargs != 1 || a->type != IMAP_ARG_ATOM) {
		imap_cmd_bad(cmd, "COMPRESS takes one mechanism: DEFLATE");
		return IMAP_CMD_DONE;
	}
	if (strcasecmp(a->str, "DEFLATE") != 0) {
		imap_cmd_bad(cmd, "Unknown compression mechanism");
		return IMAP_CMD_DONE;
	}
	/* RFC 4978 3 allows BAD for a second COMPRESS, and requires NO
	 * [COMPRESSIONACTIVE] when the mechanism is active at another layer;
	 * the code tells the client why, as its example does (and Dovecot). */
	if (conn_is_compressed(s->c)) {
		imap_cmd_no(cmd, "[COMPRESSIONACTIVE] DEFLATE active via COMPRESS");
		return IMAP_CMD_DONE;
	}
	/* The OK goes out uncompressed; compression starts right after its
	 * CRLF, in both directions (RFC 4978 3). */
	imap_cmd_ok(cmd, "DEFLATE active");
	if (!s->closing && conn_compress_start(s->c) < 0)
		imap_session_close(s, NULL, "compress failed");
	return IMAP_CMD_DONE;
}
