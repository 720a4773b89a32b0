/* imap/imap_cmd_list.c: LIST (RFC 3501 6.3.8, RFC 9051 6.3.9) with
 * LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819), SPECIAL-USE (RFC 6154)
 * and CHILDREN (RFC 3348) attributes, and LSUB (RFC 3501 6.3.9).
 *
 * The user's mailboxes and subscriptions are read once into one sorted
 * table, together with every missing parent (a name that exists only as
 * a prefix of others).  Sorting with the delimiter below every other
 * character puts each name's descendants right after it, so \HasChildren
 * and RECURSIVEMATCH need only binary searches.  Responses are then
 * streamed from the table, returning IMAP_CMD_AGAIN while the output queue
 * is full (a user may have many mailboxes). */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_list.h"
#include "imap/imap_session.h"
#include "imap/imap_status.h"
#include "storage/storage.h"

struct entry {
	char *name;
	size_t len;
	uint32_t id;
	uint32_t special_use;
	bool exists;
	bool subscribed;
	bool has_children;       /* an existing mailbox below it */
	bool child_subscribed;   /* a subscribed name below it */
};

struct list_ctx {
	bool lsub;
	struct imap_list *args;
	struct buf *patterns;    /* reference + pattern, decoded, INBOX folded */
	size_t npatterns;
	struct entry *e;
	size_t n, cap;
	size_t next;             /* the entry to write next */
	bool failed;
};

static void list_ctx_free(void *p)
{
	struct list_ctx *x = p;
	if (!x)
		return;
	for (size_t i = 0; i < x->n; i++)
		free(x->e[i].name);
	free(x->e);
	for (size_t i = 0; i < x->npatterns; i++)
		buf_free(&x->patterns[i]);
	free(x->patterns);
	imap_list_free(&x->args);
	free(x);
}

/* strcmp with the delimiter sorting before every other octet, so that
 * "a", "a/b", "a/c", "a-b" come in that order. */
static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	for (size_t i = 0; i < n; i++) {
		unsigned ca = (unsigned char)a[i], cb = (unsigned char)b[i];
		if (ca == cb)
			continue;
		if (ca == (unsigned char)IMAP_HIER_SEP)
			return -1;
		if (cb == (unsigned char)IMAP_HIER_SEP)
			return 1;
		return ca < cb ? -1 : 1;
	}
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int entry_cmp(const void *pa, const void *pb)
{
	const struct entry *a = pa, *b = pb;
	return name_cmp(a->name, a->len, b->name, b->len);
}

static int add(struct list_ctx *x, const char *name, size_t len, const struct store_mailbox *mb,
	       bool subscribed)
{
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 64;
		if (cap > ((size_t)-1) / sizeof(*x->e))
			return -1;
		struct entry *e = realloc(x->e, cap * sizeof(*e));
		if (!e)
			return -1;
		x->e = e;
		x->cap = cap;
	}
	struct entry *e = &x->e[x->n];
	memset(e, 0, sizeof(*e));
	e->name = strndup(name, len);
	if (!e->name)
		return -1;
	e->len = len;
	if (mb) {
		e->exists = true;
		e->id = mb->id;
		e->special_use = mb->special_use;
	}
	e->subscribed = subscribed;
	x->n++;
	return 0;
}

static int on_mailbox(void *arg, const struct store_mailbox *mb)
{
	struct list_ctx *x = arg;
	return add(x, mb->name, strlen(mb->name), mb, false) < 0 ? STORE_ERR_TEMP : 0;
}

static int on_subscription(void *arg, const char *name)
{
	struct list_ctx *x = arg;
	return add(x, name, strlen(name), NULL, true) < 0 ? STORE_ERR_TEMP : 0;
}

static struct entry *find(struct list_ctx *x, const char *name, size_t len)
{
	size_t lo = 0, hi = x->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = name_cmp(x->e[mid].name, x->e[mid].len, name, len);
		if (c == 0)
			return &x->e[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Builds the sorted, merged table with every missing parent. */
static int table_build(struct imap_session *s, struct list_ctx *x)
{
	int rc = store_mailbox_list(s->store, s->user.id, on_mailbox, x);
	if (rc == STORE_OK)
		rc = store_subscription_list(s->store, s->user.id, on_subscription, x);
	if (rc != STORE_OK)
		return rc;
	/* Parents of every name (RFC 3501 6.3.8: levels of hierarchy that are
	 * not mailboxes are returned with \Noselect). */
	size_t base = x->n;
	for (size_t i = 0; i < base; i++)
		for (size_t k = 1; k < x->e[i].len; k++)
			if (x->e[i].name[k] == IMAP_HIER_SEP && add(x, x->e[i].name, k, NULL, false) < 0)
				return STORE_ERR_TEMP;
	qsort(x->e, x->n, sizeof(*x->e), entry_cmp);
	/* Merge duplicates: a mailbox, its subscription, parents. */
	size_t w = 0;
	for (size_t i = 0; i < x->n; i++) {
		if (w > 0 && entry_cmp(&x->e[w - 1], &x->e[i]) == 0) {
			struct entry *d = &x->e[w - 1];
			if (x->e[i].exists) {
				d->exists = true;
				d->id = x->e[i].id;
				d->special_use = x->e[i].special_use;
			}
			d->subscribed |= x->e[i].subscribed;
			free(x->e[i].name);
			continue;
		}
		x->e[w++] = x->e[i];
	}
	x->n = w;
	/* Mark ancestors of existing and of subscribed names. */
	for (size_t i = 0; i < x->n; i++) {
		if (!x->e[i].exists && !x->e[i].subscribed)
			continue;
		for (size_t k = x->e[i].len; k-- > 1;) {
			if (x->e[i].name[k] != IMAP_HIER_SEP)
				continue;
			struct entry *p = find(x, x->e[i].name, k);
			if (!p)
				continue;
			if (x->e[i].exists)
				p->has_children = true;
			if (x->e[i].subscribed)
				p->child_subscribed = true;
		}
	}
	return STORE_OK;
}

/* reference + pattern (RFC 3501 6.3.8: interpreted together), decoded from
 * modified UTF-7 unless UTF8=ACCEPT, INBOX folded. */
static int pattern_build(struct imap_session *s, const struct imap_string *ref,
			 const struct imap_string *pat, struct buf *out, const char **err_r)
{
	struct buf raw, dec;
	buf_init(&raw, 0);
	buf_init(&dec, 0);
	int rc = -1;
	if (buf_append(&raw, ref->s ? ref->s : "", ref->len) < 0 ||
	    buf_append(&raw, pat->s ? pat->s : "", pat->len) < 0)
		goto out;
	if (imap_mailbox_decode(&dec, raw.data, raw.len, s->utf8, err_r) < 0)
		goto out;
	if (imap_mailbox_normalize(out, dec.data ? dec.data : "", dec.len, IMAP_HIER_SEP) < 0)
		goto out;
	if (!out->data && buf_puts(out, "") < 0)
		goto out;
	rc = 0;
out:
	buf_free(&raw);
	buf_free(&dec);
	return rc;
}

static bool ends_with_percent(const struct buf *p)
{
	return p->len > 0 && p->data[p->len - 1] == '%';
}

static bool matches_any(const struct list_ctx *x, const char *name, size_t len)
{
	for (size_t i = 0; i < x->npatterns; i++)
		if (imap_list_match(x->patterns[i].data, x->patterns[i].len, name, len,
				    IMAP_HIER_SEP) > 0)
			return true;
	return false;
}

/* RFC 5258 3 (\NonExistent, condition b) and 3.5: RECURSIVEMATCH returns a
 * parent for a subscribed descendant that the patterns do not match; when
 * every subscribed descendant is listed anyway, the parent's CHILDINFO
 * would be redundant and SHOULD be suppressed.  The table is sorted with
 * the delimiter first, so e's descendants follow it. */
static bool unlisted_subscribed_child(const struct list_ctx *x, const struct entry *e)
{
	for (size_t i = (size_t)(e - x->e) + 1; i < x->n; i++) {
		const struct entry *d = &x->e[i];
		if (d->len <= e->len || memcmp(d->name, e->name, e->len) != 0 ||
		    d->name[e->len] != IMAP_HIER_SEP)
			break;
		if (d->subscribed && !matches_any(x, d->name, d->len))
			return true;
	}
	return false;
}

/* Decides whether entry e is listed; *childinfo_r for RFC 5258 CHILDINFO. */
static bool listed(const struct list_ctx *x, const struct entry *e, bool *childinfo_r)
{
	*childinfo_r = false;
	unsigned sel = x->args->select;
	bool matched = false, matched_pct = false;
	for (size_t i = 0; i < x->npatterns; i++) {
		const struct buf *p = &x->patterns[i];
		int m = imap_list_match(p->data, p->len, e->name, e->len, IMAP_HIER_SEP);
		if (m > 0) {
			matched = true;
			if (ends_with_percent(p))
				matched_pct = true;
		}
	}
	if (!matched)
		return false;
	if (x->lsub) {
		/* RFC 3501 6.3.9: subscribed names; with a trailing "%", also
		 * levels that only have subscribed inferiors (\Noselect). */
		return e->subscribed || (matched_pct && e->child_subscribed);
	}
	if (sel & IMAP_LIST_SEL_SUBSCRIBED) {
		if (e->subscribed) {
			/* RFC 5258 5 example 9: "eps2", subscribed, also says
			 * that a subscribed child of its is not listed. */
			*childinfo_r = (sel & IMAP_LIST_SEL_RECURSIVEMATCH) && e->child_subscribed &&
				       unlisted_subscribed_child(x, e);
			return !(sel & IMAP_LIST_SEL_SPECIAL_USE) || e->special_use;
		}
		/* RFC 5258 3.5 / 4: a parent of matching subscriptions. */
		if ((sel & IMAP_LIST_SEL_RECURSIVEMATCH) && e->child_subscribed &&
		    unlisted_subscribed_child(x, e)) {
			*childinfo_r = true;
			return true;
		}
		return false;
	}
	if (sel & IMAP_LIST_SEL_SPECIAL_USE)
		return e->exists && e->special_use;
	/* Plain LIST: mailboxes, and missing parents of mailboxes. */
	return e->exists || e->has_children;
}

static int attrs_write(const struct list_ctx *x, const struct entry *e, struct buf *out)
{
	unsigned sel = x->args->select, ret = x->args->ret;
	const char *sp = "";
	int rc = buf_putc(out, '(');
#define ATTR(a)                                   \
	do {                                      \
		rc |= buf_puts(out, sp);          \
		rc |= buf_puts(out, a);           \
		sp = " ";                         \
	} while (0)
	if (x->lsub) {
		if (!e->subscribed || !e->exists)
			ATTR("\\Noselect");
	} else if (!e->exists) {
		/* RFC 5258 3: in an extended LIST a name that is no mailbox
		 * is \NonExistent (implies \Noselect); plain LIST keeps
		 * RFC 3501 6.3.8's \Noselect for a missing parent. */
		if (x->args->extended)
			ATTR("\\NonExistent");
		else
			ATTR("\\Noselect");
	}
	if (!x->lsub) {
		/* RFC 3348 / RFC 5258 4: always computed, so always sent. */
		if (e->has_children)
			ATTR("\\HasChildren");
		else if (e->exists)
			ATTR("\\HasNoChildren");
		if (e->subscribed && ((sel & IMAP_LIST_SEL_SUBSCRIBED) || (ret & IMAP_LIST_RET_SUBSCRIBED)))
			ATTR("\\Subscribed");
	}
	/* RFC 6154 2: special-use attributes on every LIST (not LSUB). */
	if (!x->lsub && e->exists) {
		if (e->special_use & STORE_SU_ALL)
			ATTR("\\All");
		if (e->special_use & STORE_SU_ARCHIVE)
			ATTR("\\Archive");
		if (e->special_use & STORE_SU_DRAFTS)
			ATTR("\\Drafts");
		if (e->special_use & STORE_SU_FLAGGED)
			ATTR("\\Flagged");
		if (e->special_use & STORE_SU_JUNK)
			ATTR("\\Junk");
		if (e->special_use & STORE_SU_SENT)
			ATTR("\\Sent");
		if (e->special_use & STORE_SU_TRASH)
			ATTR("\\Trash");
	}
#undef ATTR
	rc |= buf_putc(out, ')');
	return rc;
}

static int entry_write(struct imap_session *s, struct list_ctx *x, const struct entry *e,
		       bool childinfo)
{
	struct buf out;
	buf_init(&out, 0);
	int rc = buf_puts(&out, x->lsub ? "* LSUB " : "* LIST ");
	rc |= attrs_write(x, e, &out);
	rc |= buf_printf(&out, " \"%c\" ", IMAP_HIER_SEP);
	rc |= imap_mailbox_write(s, &out, e->name);
	if (childinfo)
		rc |= buf_puts(&out, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	rc |= buf_puts(&out, "\r\n");
	if (rc == 0)
		imap_write_buf(s, &out);
	buf_free(&out);
	if (rc)
		return -1;
	/* RFC 5819 2: a STATUS after the LIST of each selectable mailbox. */
	if (!x->lsub && e->exists && (x->args->ret & IMAP_LIST_RET_STATUS)) {
		struct store_mailbox mb;
		int src = store_mailbox_get_by_id(s->store, e->id, &mb);
		if (src == STORE_OK)
			return imap_status_write(s, &mb, x->args->status_items);
		/* Deleted meanwhile: RFC 5819 2 lets the STATUS be left out. */
	}
	return 0;
}

static enum imap_cmd_rc list_stream(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct list_ctx *x = cmd->ctx;
	while (x->next < x->n) {
		if (imap_output_full(s))
			return IMAP_CMD_AGAIN;
		const struct entry *e = &x->e[x->next++];
		bool childinfo;
		if (!listed(x, e, &childinfo))
			continue;
		if (entry_write(s, x, e, childinfo) < 0) {
			imap_cmd_store_error(cmd, STORE_ERR_TEMP, x->lsub ? "LSUB" : "LIST");
			return IMAP_CMD_DONE;
		}
	}
	imap_cmd_ok(cmd, "%s completed", x->lsub ? "LSUB" : "LIST");
	return IMAP_CMD_DONE;
}

static enum imap_cmd_rc list_run(struct imap_cmd *cmd, bool lsub)
{
	if (cmd->stage == 1)
		return list_stream(cmd);
	struct imap_session *s = cmd->s;
	struct list_ctx *x = calloc(1, sizeof(*x));
	if (!x) {
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, lsub ? "LSUB" : "LIST");
		return IMAP_CMD_DONE;
	}
	cmd->ctx = x;
	cmd->ctx_free = list_ctx_free;
	x->lsub = lsub;
	const char *err = NULL;
	if (imap_list_parse(cmd->pc->args, cmd->pc->nargs, lsub, &x->args, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err ? err : "Invalid arguments");
		return IMAP_CMD_DONE;
	}
	struct imap_list *a = x->args;
	/* RFC 3501 6.3.8: LIST "" "" (an empty pattern) asks for the
	 * delimiter and the root of the reference. */
	if (!lsub && a->npatterns == 1 && a->patterns[0].len == 0) {
		struct buf out;
		buf_init(&out, 0);
		size_t rootlen = 0;
		const char *ref = a->reference.s ? a->reference.s : "";
		const char *slash = memchr(ref, IMAP_HIER_SEP, a->reference.len);
		if (slash)
			rootlen = (size_t)(slash - ref) + 1;
		int rc = buf_printf(&out, "* LIST (\\Noselect) \"%c\" ", IMAP_HIER_SEP);
		rc |= imap_write_astring(&out, ref, rootlen);
		rc |= buf_puts(&out, "\r\n");
		if (rc == 0)
			imap_write_buf(s, &out);
		buf_free(&out);
		if (rc)
			imap_cmd_store_error(cmd, STORE_ERR_TEMP, "LIST");
		else
			imap_cmd_ok(cmd, "LIST completed");
		return IMAP_CMD_DONE;
	}
	if (a->npatterns) {
		x->patterns = calloc(a->npatterns, sizeof(*x->patterns));
		if (!x->patterns) {
			imap_cmd_store_error(cmd, STORE_ERR_TEMP, "LIST");
			return IMAP_CMD_DONE;
		}
	}
	for (size_t i = 0; i < a->npatterns; i++) {
		struct buf *p = &x->patterns[x->npatterns];
		buf_init(p, 0);
		err = NULL;
		if (pattern_build(s, &a->reference, &a->patterns[i], p, &err) < 0) {
			buf_free(p);
			if (err) {
				/* A well-formed pattern that is no valid modified
				 * UTF-7 (an "&" opening no base64 run): no stored
				 * name can match it, so it adds nothing to the
				 * answer, which is OK (RFC 9051 6.3.9: BAD is for
				 * invalid arguments; Dovecot agrees). */
				continue;
			}
			imap_cmd_store_error(cmd, STORE_ERR_TEMP, "LIST");
			return IMAP_CMD_DONE;
		}
		x->npatterns++;
	}
	int rc = table_build(s, x);
	if (rc != STORE_OK) {
		imap_cmd_store_error(cmd, rc, lsub ? "LSUB" : "LIST");
		return IMAP_CMD_DONE;
	}
	cmd->stage = 1;
	return list_stream(cmd);
}

enum imap_cmd_rc imap_cmd_list(struct imap_cmd *cmd)
{
	return list_run(cmd, false);
}

enum imap_cmd_rc imap_cmd_lsub(struct imap_cmd *cmd)
{
	return list_run(cmd, true);
}
