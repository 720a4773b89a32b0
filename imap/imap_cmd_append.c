/* imap/imap_cmd_append.c: APPEND (RFC 3501 6.3.11, RFC 9051 6.3.12) with
 * MULTIAPPEND (RFC 3502), APPENDUID (RFC 4315 3), APPENDLIMIT (RFC 7889)
 * and literal8 message data (RFC 3516 4.4).
 *
 * The parser has read every literal already; this file checks sizes,
 * interns keywords in the target mailbox's table (usually not the
 * selected mailbox), computes each message's MIME structure once (stored
 * beside the content, core/mime.h) and adds all messages in one store
 * transaction, so a MULTIAPPEND is all or nothing (RFC 3502 3).  A message
 * sent with NUL octets (literal8) is stored with those parts base64-encoded
 * (mime_binary_encode, RFC 3516 4.3), so that BODY[] never carries a NUL
 * (RFC 9051 6.4.5) while BINARY[] still gives the octets sent.  The OK
 * waits for the log flush.  When the target is the selected mailbox the
 * EXISTS comes from imap_cmd_ok()'s view sync. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/mime.h"
#include "imap/imap_append.h"
#include "imap/imap_session.h"
#include "storage/storage.h"

struct append_ctx {
	struct buf code;             /* "[APPENDUID v uids] " */
};

static void append_ctx_free(void *p)
{
	struct append_ctx *x = p;
	if (!x)
		return;
	buf_free(&x->code);
	free(x);
}

static uint32_t store_flags(unsigned sys)
{
	uint32_t f = 0;
	if (sys & IMAP_FLAG_SEEN)
		f |= STORE_F_SEEN;
	if (sys & IMAP_FLAG_ANSWERED)
		f |= STORE_F_ANSWERED;
	if (sys & IMAP_FLAG_FLAGGED)
		f |= STORE_F_FLAGGED;
	if (sys & IMAP_FLAG_DELETED)
		f |= STORE_F_DELETED;
	if (sys & IMAP_FLAG_DRAFT)
		f |= STORE_F_DRAFT;
	return f;
}

/* RFC 4315 3: "APPENDUID uidvalidity uid-set"; one transaction gives
 * ascending UIDs, written as ranges. */
int imap_appenduid_write(struct buf *out, uint32_t uidvalidity, const uint32_t *uids, size_t n)
{
	int rc = buf_printf(out, "[APPENDUID %" PRIu32 " ", uidvalidity);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		rc |= buf_printf(out, "%s%" PRIu32, i ? "," : "", uids[i]);
		if (j > i)
			rc |= buf_printf(out, ":%" PRIu32, uids[j]);
		i = j + 1;
	}
	rc |= buf_puts(out, "] ");
	if (rc)
		buf_reset(out);
	return rc;
}

int imap_append_msg_prepare(struct imap_cmd *cmd, uint32_t mailbox_id,
			    const struct imap_append_msg *am, struct store_append_msg *m,
			    struct buf *structure, struct buf *encoded)
{
	struct imap_session *s = cmd->s;
	const char *what = cmd->def->name;
	m->data = am->data;
	m->len = am->len;
	m->flags = store_flags(am->flags.sys);
	m->internaldate = am->has_date ? (int64_t)am->date : 0;
	if (am->flags.nkeywords) {
		const char **names = calloc(am->flags.nkeywords, sizeof(*names));
		if (!names) {
			imap_cmd_store_error(cmd, STORE_ERR_TEMP, what);
			return -1;
		}
		for (size_t k = 0; k < am->flags.nkeywords; k++)
			names[k] = am->flags.keywords[k].s;
		int rc = store_keywords_intern(s->store, mailbox_id, names, am->flags.nkeywords,
					       &m->keywords, NULL);
		free(names);
		if (rc == STORE_ERR_NOQUOTA) {
			imap_cmd_no(cmd, "[LIMIT] Too many keywords in this mailbox");
			return -1;
		}
		if (rc != STORE_OK) {
			imap_cmd_store_error(cmd, rc, what);
			return -1;
		}
	}
	int brc = mime_binary_encode(am->data, am->len, encoded);
	if (brc == MIME_ERR_BINARY) {
		/* RFC 3516 4.4: binary content that cannot be stored. */
		imap_cmd_no(cmd, "[UNKNOWN-CTE] NUL octets outside an unencoded body part");
		return -1;
	}
	if (brc < 0) {
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, what);
		return -1;
	}
	if (brc == 1) {
		m->data = encoded->data;
		m->len = encoded->len;
	}
	/* Out of memory only loses the stored structure: FETCH computes it
	 * later. */
	if (mime_structure_build(m->data, m->len, structure) == 0) {
		m->structure = structure->data;
		m->structure_len = structure->len;
	}
	return 0;
}

static enum imap_cmd_rc append_finish(struct imap_cmd *cmd)
{
	struct append_ctx *x = cmd->ctx;
	if (!cmd->durable_ok) {
		imap_cmd_not_durable(cmd, "APPEND");
		return IMAP_CMD_DONE;
	}
	imap_cmd_ok(cmd, "%sAPPEND completed", x && x->code.len ? x->code.data : "");
	return IMAP_CMD_DONE;
}

enum imap_cmd_rc imap_cmd_append(struct imap_cmd *cmd)
{
	if (cmd->stage == 1)
		return append_finish(cmd);
	struct imap_session *s = cmd->s;
	struct imap_append *ap = NULL;
	struct store_append_msg *msgs = NULL;
	struct buf *structs = NULL;
	struct buf *encoded = NULL;      /* NUL-free forms (mime_binary_encode) */
	uint32_t *uids = NULL;
	size_t nstructs = 0;
	struct buf name;
	buf_init(&name, 0);
	const char *err = NULL;
	if (imap_append_parse(cmd->pc->args, cmd->pc->nargs, &ap, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err ? err : "Invalid APPEND arguments");
		goto out;
	}
	if (imap_mailbox_arg(cmd, &cmd->pc->args[0], &name) < 0)
		goto out;
	size_t limit = s->cfg->imap_max_message_size;
	for (size_t i = 0; i < ap->nmsgs; i++) {
		/* RFC 7889 4: over APPENDLIMIT is [TOOBIG] (RFC 4469 7). */
		if (limit && ap->msgs[i].len > limit) {
			imap_cmd_no(cmd, "[TOOBIG] Message larger than APPENDLIMIT=%zu", limit);
			goto out;
		}
	}
	struct store_mailbox mb;
	int rc = store_mailbox_get(s->store, s->user.id, name.data ? name.data : "", &mb);
	if (rc == STORE_ERR_NOTFOUND) {
		/* RFC 3501 6.3.11: the client may CREATE and retry. */
		imap_cmd_no(cmd, "[TRYCREATE] Mailbox does not exist");
		goto out;
	}
	if (rc != STORE_OK) {
		imap_cmd_store_error(cmd, rc, "APPEND");
		goto out;
	}
	msgs = calloc(ap->nmsgs, sizeof(*msgs));
	structs = calloc(ap->nmsgs, sizeof(*structs));
	encoded = calloc(ap->nmsgs, sizeof(*encoded));
	uids = calloc(ap->nmsgs, sizeof(*uids));
	if (!msgs || !structs || !encoded || !uids) {
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, "APPEND");
		goto out;
	}
	for (size_t i = 0; i < ap->nmsgs; i++) {
		buf_init(&structs[i], 0);
		buf_init(&encoded[i], 0);
		nstructs++;
		if (imap_append_msg_prepare(cmd, mb.id, &ap->msgs[i], &msgs[i], &structs[i],
					    &encoded[i]) < 0)
			goto out;
	}
	uint32_t uidvalidity = 0;
	rc = store_append(s->store, mb.id, msgs, ap->nmsgs, uids, &uidvalidity);
	if (rc != STORE_OK) {
		if (rc == STORE_ERR_NOQUOTA)
			imap_cmd_no(cmd, "[OVERQUOTA] Mailbox is full");
		else
			imap_cmd_store_error(cmd, rc, "APPEND");
		goto out;
	}
	struct append_ctx *x = calloc(1, sizeof(*x));
	if (x) {
		buf_init(&x->code, 0);
		imap_appenduid_write(&x->code, uidvalidity, uids, ap->nmsgs);
		cmd->ctx = x;
		cmd->ctx_free = append_ctx_free;
	}
	/* x NULL: appended all the same; only APPENDUID is lost. */
	cmd->stage = 1;
	for (size_t i = 0; i < nstructs; i++) {
		buf_free(&structs[i]);
		buf_free(&encoded[i]);
	}
	free(structs);
	free(encoded);
	free(msgs);
	free(uids);
	imap_append_free(&ap);
	buf_free(&name);
	return imap_cmd_wait_durable(cmd);
out:
	for (size_t i = 0; i < nstructs; i++) {
		buf_free(&structs[i]);
		buf_free(&encoded[i]);
	}
	free(structs);
	free(encoded);
	free(msgs);
	free(uids);
	imap_append_free(&ap);
	buf_free(&name);
	return IMAP_CMD_DONE;
}
