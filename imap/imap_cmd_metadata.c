/* imap/imap_cmd_metadata.c: GETMETADATA and SETMETADATA (RFC 5464 METADATA
 * and METADATA-SERVER), over the store's annotation records
 * (storage/storage_metadata.c).
 *
 * The mailbox "" is the server.  Entries are per user: a "/shared" entry
 * of a mailbox is the mailbox owner's (mailboxes are not shared), and
 * "/shared" server entries are kept per user too (as Dovecot does), so no
 * user can write what another reads (RFC 5464 3.3 lets a server restrict
 * server annotations).  Two entries are computed, not stored, and
 * read-only: the server's /shared/admin (imap.metadata_admin, else
 * mailto: smtp.postmaster; RFC 5464 3.2.1.1) and a mailbox's
 * /private/specialuse (its special-use attributes as LIST shows them,
 * RFC 6154 4, which lets a server refuse changes through METADATA; CREATE
 * (USE ...) sets them).
 *
 * Unsolicited METADATA responses go only to NOTIFY clients that ask
 * (RFC 5465 5.6, 5.7; imap_notify_meta.c), so ENABLE METADATA changes
 * nothing (RFC 5464 4.1 makes them optional). */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "imap/imap_session.h"
#include "imap/imap_store_call.h"
#include "storage/storage.h"

/* A METADATA response is closed and another begun past this many octets,
 * so the output can drain between them (4.4 allows any grouping). */
#define METADATA_RESPONSE_SPLIT (64 * 1024)

struct meta_item {
	char *entry;
	void *value;        /* NULL: NIL */
	size_t len;
};

struct meta_get {
	struct buf mailbox;         /* the response's mailbox, as written */
	struct meta_item *items;
	size_t n, cap, next;
	uint64_t longest;           /* 4.2.1: the largest value MAXSIZE left out */
	/* the request being gathered */
	const char *want;
	size_t want_len;
	enum imap_metadata_depth depth;
	bool has_maxsize;
	uint64_t maxsize;
	bool want_found;
	int err;
};

static void meta_get_free(void *p)
{
	struct meta_get *g = p;
	for (size_t i = 0; i < g->n; i++) {
		free(g->items[i].entry);
		free(g->items[i].value);
	}
	free(g->items);
	buf_free(&g->mailbox);
	free(g);
}

static void lower(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
}

/* RFC 5464 4.2.2: the entry asked for, and below it to the depth asked. */
static bool meta_matches(const struct meta_get *g, const char *name, size_t len)
{
	if (len == g->want_len)
		return memcmp(name, g->want, len) == 0;
	if (g->depth == IMAP_METADATA_DEPTH_0 || len < g->want_len + 2 ||
	    memcmp(name, g->want, g->want_len) != 0 || name[g->want_len] != '/')
		return false;
	return g->depth == IMAP_METADATA_DEPTH_INFINITY ||
	       !memchr(name + g->want_len + 1, '/', len - g->want_len - 1);
}

/* Adds one answer (value NULL: NIL), once per name, leaving out values
 * above MAXSIZE (NIL is no value, so never left out). */
static int meta_add(struct meta_get *g, const char *name, const void *value, size_t len)
{
	size_t nlen = strlen(name);
	if (nlen == g->want_len)
		g->want_found = true;
	for (size_t i = 0; i < g->n; i++)
		if (strcmp(g->items[i].entry, name) == 0)
			return 0;
	if (value && g->has_maxsize && len > g->maxsize) {
		if (len > g->longest)
			g->longest = len;
		return 0;
	}
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 8;
		struct meta_item *p = realloc(g->items, cap * sizeof(*p));
		if (!p)
			return -1;
		g->items = p;
		g->cap = cap;
	}
	struct meta_item *it = &g->items[g->n];
	it->entry = strdup(name);
	it->value = value ? malloc(len ? len : 1) : NULL;
	if (!it->entry || (value && !it->value)) {
		free(it->entry);
		free(it->value);
		return -1;
	}
	if (len)
		memcpy(it->value, value, len);
	it->len = len;
	g->n++;
	return 0;
}

static int meta_stored_cb(void *arg, const char *entry, const void *value, size_t len)
{
	struct meta_get *g = arg;
	if (!meta_matches(g, entry, strlen(entry)))
		return 0;
	if (meta_add(g, entry, value, len) < 0) {
		g->err = STORE_ERR_TEMP;
		return STORE_ERR_TEMP;
	}
	return 0;
}

/* RFC 6154 4: the attributes "presented the same way they would be
 * presented in the LIST command response" (imap_cmd_list.c's order). */
static void meta_specialuse(uint32_t su, struct buf *out)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} attrs[] = {
		{STORE_SU_ALL, "\\All"},       {STORE_SU_ARCHIVE, "\\Archive"},
		{STORE_SU_DRAFTS, "\\Drafts"}, {STORE_SU_FLAGGED, "\\Flagged"},
		{STORE_SU_JUNK, "\\Junk"},     {STORE_SU_SENT, "\\Sent"},
		{STORE_SU_TRASH, "\\Trash"},
	};
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		if (su & attrs[i].bit) {
			if (out->len)
				buf_putc(out, ' ');
			buf_puts(out, attrs[i].name);
		}
	}
}

/* The computed entries of this mailbox (0: the server). */
static int meta_computed(struct imap_session *s, struct meta_get *g, uint32_t mailbox_id,
			 uint32_t special_use)
{
	struct buf v;
	buf_init(&v, 0);
	const char *name;
	if (mailbox_id == 0) {
		name = "/shared/admin";
		if (s->cfg->imap_metadata_admin[0])
			buf_puts(&v, s->cfg->imap_metadata_admin);
		else
			buf_printf(&v, "mailto:%s", s->cfg->smtp_postmaster);
	} else {
		name = "/private/specialuse";
		meta_specialuse(special_use, &v);
	}
	int rc = 0;
	if (v.len && meta_matches(g, name, strlen(name)))
		rc = meta_add(g, name, v.data, v.len);
	buf_free(&v);
	return rc;
}

static bool meta_readonly(uint32_t mailbox_id, const char *entry, size_t len)
{
	const char *ro = mailbox_id == 0 ? "/shared/admin" : "/private/specialuse";
	return len == strlen(ro) && memcmp(entry, ro, len) == 0;
}

/* Resolves the mailbox argument: "" is the server (id 0).  On failure the
 * reply is written and -1 returned. */
static int meta_mailbox(struct imap_cmd *cmd, const struct imap_arg *arg, uint32_t *id_r,
			uint32_t *special_use_r, struct buf *wire)
{
	struct imap_session *s = cmd->s;
	*id_r = 0;
	*special_use_r = 0;
	if ((arg->type == IMAP_ARG_QUOTED || arg->type == IMAP_ARG_LITERAL) && arg->len == 0) {
		buf_puts(wire, "\"\"");
		return 0;
	}
	/* RFC 5464 3.3: only a mailbox LIST would show; a missing one is NO
	 * ([NONEXISTENT], RFC 5530; TRYCREATE is for APPEND and COPY). */
	struct store_mailbox mb;
	if (imap_mailbox_arg_get(cmd, arg, IMAP_MAILBOX_NONEXISTENT, cmd->def->name, &mb) < 0)
		return -1;
	*id_r = mb.id;
	*special_use_r = mb.special_use;
	if (imap_mailbox_write(s, wire, mb.name) < 0) {
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, cmd->def->name);
		return -1;
	}
	return 0;
}

/* One value: NIL, a string, or literal8 when it holds NUL (5: value =
 * nstring / literal8). */
static int meta_write_value(struct buf *out, const struct meta_item *it)
{
	if (!it->value)
		return buf_puts(out, "NIL");
	if (memchr(it->value, '\0', it->len)) {
		if (buf_printf(out, "~{%zu}\r\n", it->len) < 0)
			return -1;
		return buf_append(out, it->value, it->len);
	}
	return imap_write_string(out, it->value, it->len);
}

static enum imap_cmd_rc meta_get_write(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct meta_get *g = cmd->ctx;
	while (g->next < g->n) {
		if (imap_output_full(s))
			return IMAP_CMD_AGAIN;
		struct buf out;
		buf_init(&out, 0);
		int rc = buf_puts(&out, "* METADATA ");
		rc |= buf_append(&out, g->mailbox.data, g->mailbox.len);
		rc |= buf_puts(&out, " (");
		for (bool first = true; g->next < g->n && out.len < METADATA_RESPONSE_SPLIT;
		     first = false) {
			const struct meta_item *it = &g->items[g->next++];
			if (!first)
				rc |= buf_putc(&out, ' ');
			rc |= imap_write_astring(&out, it->entry, strlen(it->entry));
			rc |= buf_putc(&out, ' ');
			rc |= meta_write_value(&out, it);
		}
		rc |= buf_puts(&out, ")\r\n");
		if (rc == 0)
			imap_write_buf(s, &out);
		buf_free(&out);
		if (rc) {
			imap_cmd_store_error(cmd, STORE_ERR_TEMP, "GETMETADATA");
			return IMAP_CMD_DONE;
		}
	}
	/* RFC 5464 4.2.1. */
	if (g->longest)
		imap_cmd_ok(cmd, "[METADATA LONGENTRIES %llu] GETMETADATA completed",
			    (unsigned long long)g->longest);
	else
		imap_cmd_ok(cmd, "GETMETADATA completed");
	return IMAP_CMD_DONE;
}

enum imap_cmd_rc imap_cmd_getmetadata(struct imap_cmd *cmd)
{
	if (cmd->stage == 1)
		return meta_get_write(cmd);
	struct imap_session *s = cmd->s;
	struct imap_getmetadata req;
	const char *err = NULL;
	if (imap_getmetadata_parse(cmd->pc->args, cmd->pc->nargs, &req, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err ? err : "Invalid GETMETADATA arguments");
		return IMAP_CMD_DONE;
	}
	struct meta_get *g = calloc(1, sizeof(*g));
	if (!g) {
		imap_getmetadata_clear(&req);
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, "GETMETADATA");
		return IMAP_CMD_DONE;
	}
	buf_init(&g->mailbox, 0);
	cmd->ctx = g;
	cmd->ctx_free = meta_get_free;
	uint32_t mailbox_id, special_use;
	if (meta_mailbox(cmd, req.mailbox, &mailbox_id, &special_use, &g->mailbox) < 0) {
		imap_getmetadata_clear(&req);
		return IMAP_CMD_DONE;
	}
	g->depth = req.depth;
	g->has_maxsize = req.has_maxsize;
	g->maxsize = req.maxsize;
	int rc = STORE_OK;
	char want[IMAP_METADATA_ENTRY_MAX + 1];
	for (size_t i = 0; i < req.nentries && rc == STORE_OK; i++) {
		memcpy(want, req.entries[i].s, req.entries[i].len);
		want[req.entries[i].len] = '\0';
		lower(want, req.entries[i].len);
		g->want = want;
		g->want_len = req.entries[i].len;
		g->want_found = false;
		size_t before = g->n;
		uint64_t longest = g->longest;
		g->longest = 0;
		rc = store_metadata_list(s->store, s->user.id, mailbox_id, want, meta_stored_cb, g);
		if (rc == STORE_OK && meta_computed(s, g, mailbox_id, special_use) < 0)
			rc = STORE_ERR_TEMP;
		/* An entry asked for that has no value is NIL, so every request
		 * gets its METADATA response (4.2: "required"); with DEPTH, only
		 * when nothing below it answered either (4.2.2's example lists
		 * the children alone), and not when MAXSIZE left a value out. */
		if (rc == STORE_OK && !g->want_found && g->n == before && !g->longest &&
		    meta_add(g, want, NULL, 0) < 0)
			rc = STORE_ERR_TEMP;
		if (longest > g->longest)
			g->longest = longest;
	}
	imap_getmetadata_clear(&req);
	if (rc != STORE_OK) {
		imap_cmd_store_error(cmd, g->err ? g->err : rc, "GETMETADATA");
		return IMAP_CMD_DONE;
	}
	cmd->stage = 1;
	return meta_get_write(cmd);
}

/* ---- SETMETADATA ---- */

/* The store's part and what it reads (the values point into the command's
 * literals), owned here: a worker may still have it when the command goes
 * (imap_store_call.h). */
struct setmeta_call {
	struct imap_store_call c;    /* first */
	struct imap_setmetadata req;
	struct store_metadata_change *ch;
	char (*names)[IMAP_METADATA_ENTRY_MAX + 1];
	uint32_t user_id, mailbox_id;
	struct store_metadata_limits lim;
};

static void setmeta_call_free(struct imap_store_call *c)
{
	struct setmeta_call *x = (struct setmeta_call *)c;
	free(x->ch);
	free(x->names);
	imap_setmetadata_clear(&x->req);
	free(x);
}

static int setmeta_call(struct imap_store_call *c)
{
	struct setmeta_call *x = (struct setmeta_call *)c;
	return store_metadata_set(c->store, x->user_id, x->mailbox_id, x->ch, x->req.n, &x->lim);
}

/* The store's part is done: the NO, or the wait for the flush.  Frees x. */
static enum imap_cmd_rc setmeta_answer(struct imap_cmd *cmd, struct setmeta_call *x)
{
	int rc = x->c.rc;
	setmeta_call_free(&x->c);
	if (rc == STORE_ERR_NOQUOTA) {
		imap_cmd_no(cmd, "[METADATA TOOMANY] Too many entries");
		return IMAP_CMD_DONE;
	}
	if (rc != STORE_OK) {
		imap_cmd_store_error(cmd, rc, "SETMETADATA");
		return IMAP_CMD_DONE;
	}
	/* Like the other changes, the OK promises the change is on disk. */
	cmd->stage = 1;
	return imap_cmd_wait_durable(cmd);
}

enum imap_cmd_rc imap_cmd_setmetadata(struct imap_cmd *cmd)
{
	if (cmd->stage == 1) {
		if (!cmd->durable_ok)
			imap_cmd_not_durable(cmd, "SETMETADATA");
		else
			imap_cmd_ok(cmd, "SETMETADATA completed");
		return IMAP_CMD_DONE;
	}
	if (cmd->stage == 2) {
		if (cmd->job)
			return IMAP_CMD_WAIT;   /* not done yet (a stray resume) */
		return setmeta_answer(cmd, (struct setmeta_call *)imap_store_call_take(cmd));
	}
	struct imap_session *s = cmd->s;
	struct setmeta_call *x = calloc(1, sizeof(*x));
	if (!x) {
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, "SETMETADATA");
		return IMAP_CMD_DONE;
	}
	struct imap_setmetadata *req = &x->req;
	const char *err = NULL;
	if (imap_setmetadata_parse(cmd->pc->args, cmd->pc->nargs, req, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err ? err : "Invalid SETMETADATA arguments");
		free(x);
		return IMAP_CMD_DONE;
	}
	struct buf wire;
	buf_init(&wire, 0);
	uint32_t mailbox_id, special_use;
	if (meta_mailbox(cmd, req->mailbox, &mailbox_id, &special_use, &wire) < 0)
		goto out;
	x->ch = calloc(req->n, sizeof(*x->ch));
	x->names = calloc(req->n, sizeof(*x->names));
	if (!x->ch || !x->names) {
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, "SETMETADATA");
		goto out;
	}
	/* RFC 5464 4.3: a NO changes nothing, so every check comes first. */
	for (size_t i = 0; i < req->n; i++) {
		const struct imap_metadata_value *v = &req->values[i];
		memcpy(x->names[i], v->entry.s, v->entry.len);
		x->names[i][v->entry.len] = '\0';
		lower(x->names[i], v->entry.len);
		if (meta_readonly(mailbox_id, x->names[i], v->entry.len)) {
			imap_cmd_no(cmd, "[CANNOT] %s is read-only", x->names[i]);
			goto out;
		}
		if (v->value.s && v->value.len > s->cfg->imap_metadata_max_size) {
			imap_cmd_no(cmd, "[METADATA MAXSIZE %zu] Value too large",
				    s->cfg->imap_metadata_max_size);
			goto out;
		}
		x->ch[i].entry = x->names[i];
		x->ch[i].value = v->value.s;
		x->ch[i].len = v->value.len;
	}
	x->lim = (struct store_metadata_limits){
		.max_value = s->cfg->imap_metadata_max_size,
		.max_entries = s->cfg->imap_metadata_max_entries,
		.max_user_entries = s->cfg->imap_metadata_max_user_entries,
	};
	buf_free(&wire);
	x->user_id = s->user.id;
	x->mailbox_id = mailbox_id;
	x->c.store = s->store;
	x->c.call = setmeta_call;
	x->c.free = setmeta_call_free;
	x->c.reads_command = true;
	if (imap_store_call_run(cmd, &x->c, 2) == IMAP_CMD_WAIT)
		return IMAP_CMD_WAIT;
	return setmeta_answer(cmd, x);
out:
	buf_free(&wire);
	setmeta_call_free(&x->c);
	return IMAP_CMD_DONE;
}
