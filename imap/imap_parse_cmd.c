/* imap/imap_parse_cmd.c: typed arguments of the mailbox and session
 * commands: STORE, APPEND (MULTIAPPEND, BINARY, UTF8), STATUS, LIST/LSUB
 * (LIST-EXTENDED, LIST-STATUS, SPECIAL-USE), SELECT/EXAMINE (CONDSTORE,
 * QRESYNC), COPY/MOVE, ENABLE, ID, AUTHENTICATE (SASL-IR) and LOGIN.
 * Option names are tables; unknown options are refused, as RFC 4466 2.1,
 * RFC 5258 3 and RFC 7162 require. */
#include "imap/imap_parse.h"
#include "imap/imap_parse_private.h"

#include <stdlib.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct opt {
	const char *name;
	unsigned bit;
};

static const struct opt *opt_find(const struct opt *table, size_t n, const struct imap_arg *a)
{
	for (size_t i = 0; i < n; i++)
		if (imap_arg_is_word(a, table[i].name))
			return &table[i];
	return NULL;
}

/* ---- STORE: RFC 3501 6.4.6, RFC 4466 2.5, RFC 7162 3.1.3 ---- */

void imap_store_free(struct imap_store **sp)
{
	if (!*sp)
		return;
	imap_seqset_free(&(*sp)->set);
	imap_flags_clear(&(*sp)->flags);
	free(*sp);
	*sp = NULL;
}

static int store_modifiers(const struct imap_arg *list, struct imap_store *s, const char **error_r)
{
	if (list->count == 0) {
		*error_r = "Empty STORE modifier list";
		return -1;
	}
	for (size_t i = 0; i < list->count; i++) {
		if (!imap_arg_is_word(&list->list[i], "UNCHANGEDSINCE")) {
			*error_r = "Unknown STORE modifier";
			return -1;
		}
		/* "Only a single UNCHANGEDSINCE may be specified" (RFC 7162 7) */
		if (s->unchangedsince) {
			*error_r = "UNCHANGEDSINCE given twice";
			return -1;
		}
		if (i + 1 == list->count) {
			*error_r = "UNCHANGEDSINCE needs a mod-sequence";
			return -1;
		}
		/* mod-sequence-valzer: 0 is allowed */
		if (imap_arg_number(&list->list[++i], IMAP_MODSEQ_MAX, false, &s->unchangedsince_modseq,
		                    error_r) < 0)
			return -1;
		s->unchangedsince = true;
	}
	return 0;
}

int imap_store_parse(const struct imap_arg *args, size_t count, struct imap_store **store_r,
                     const char **error_r)
{
	*store_r = NULL;
	struct imap_store *s = calloc(1, sizeof(*s));
	if (!s) {
		*error_r = "Out of memory";
		return -1;
	}
	size_t i = 1;
	if (count < 3) {
		*error_r = "STORE needs a sequence set, a data item and flags";
		goto fail;
	}
	if (imap_arg_seqset(&args[0], IMAP_SEQ_ALLOW_SAVED, &s->set, error_r) < 0)
		goto fail;
	if (args[1].type == IMAP_ARG_LIST) {
		if (store_modifiers(&args[1], s, error_r) < 0)
			goto fail;
		i = 2;
	}
	/* store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag))) */
	const struct imap_arg *item = &args[i];
	if (item->type != IMAP_ARG_ATOM) {
		*error_r = "Unknown STORE data item";
		goto fail;
	}
	const char *w = item->str;
	size_t wl = item->len;
	s->op = IMAP_STORE_SET;
	if (wl > 0 && (w[0] == '+' || w[0] == '-')) {
		s->op = w[0] == '+' ? IMAP_STORE_ADD : IMAP_STORE_REMOVE;
		w++;
		wl--;
	}
	if (imap_word_eq(w, wl, "FLAGS.SILENT")) {
		s->silent = true;
	} else if (!imap_word_eq(w, wl, "FLAGS")) {
		*error_r = "Unknown STORE data item";
		goto fail;
	}
	if (i + 1 >= count) {
		*error_r = "STORE needs flags";
		goto fail;
	}
	if (imap_flags_parse(&args[i + 1], count - i - 1, &s->flags, error_r) < 0)
		goto fail;
	*store_r = s;
	return 0;
fail:
	imap_store_free(&s);
	return -1;
}

/* ---- APPEND: RFC 3501 6.3.11, RFC 4466 2.7 and 3, RFC 3502, RFC 6855 4 ---- */

void imap_append_free(struct imap_append **ap)
{
	struct imap_append *a = *ap;
	if (!a)
		return;
	for (size_t i = 0; i < a->nmsgs; i++) {
		imap_flags_clear(&a->msgs[i].flags);
		free(a->msgs[i].cat);
	}
	free(a->msgs);
	free(a);
	*ap = NULL;
}

/* RFC 4469 5: "CATENATE" SP "(" cat-part *(SP cat-part) ")";
 * cat-part = text-literal / url; text-literal = "TEXT" SP literal (or
 * literal8, 4); url = "URL" SP astring. */
static int catenate_parse(const struct imap_arg *list, struct imap_append_msg *m,
			  const char **error_r)
{
	if (list->count == 0 || list->count % 2) {
		*error_r = "CATENATE needs a parenthesized list of parts";
		return -1;
	}
	m->cat = calloc(list->count / 2, sizeof(*m->cat));
	if (!m->cat) {
		*error_r = "Out of memory";
		return -1;
	}
	for (size_t k = 0; k < list->count; k += 2) {
		const struct imap_arg *v = &list->list[k + 1];
		struct imap_cat_part *part = &m->cat[m->ncat];
		if (imap_arg_is_word(&list->list[k], "TEXT")) {
			if (v->type != IMAP_ARG_LITERAL && v->type != IMAP_ARG_LITERAL8) {
				*error_r = "CATENATE TEXT needs a literal";
				return -1;
			}
			part->literal8 = v->type == IMAP_ARG_LITERAL8;
			m->binary |= part->literal8;
		} else if (imap_arg_is_word(&list->list[k], "URL")) {
			struct imap_string u;
			if (imap_arg_astring(v, &u, error_r) < 0)
				return -1;
			part->url = true;
		} else {
			*error_r = "CATENATE parts are TEXT or URL";
			return -1;
		}
		part->data = v->str;
		part->len = v->len;
		m->ncat++;
	}
	return 0;
}

/* append-message = append-opts SP append-data; starts at args[*ip]. */
static int append_message(const struct imap_arg *args, size_t count, size_t *ip, struct imap_append_msg *m,
                          const char **error_r)
{
	size_t i = *ip;
	if (args[i].type == IMAP_ARG_LIST) {
		if (imap_flags_parse(&args[i], 1, &m->flags, error_r) < 0)
			return -1;
		i++;
	}
	if (i < count && args[i].type == IMAP_ARG_QUOTED) {
		if (imap_datetime_parse(args[i].str, args[i].len, &m->date, &m->zone, error_r) < 0)
			return -1;
		m->has_date = true;
		i++;
	}
	if (i >= count) {
		*error_r = "APPEND needs a message literal";
		return -1;
	}
	const struct imap_arg *d = &args[i];
	if (imap_arg_is_word(d, "CATENATE")) {
		if (i + 1 >= count || args[i + 1].type != IMAP_ARG_LIST)
			goto cat_bad;
		if (catenate_parse(&args[i + 1], m, error_r) < 0)
			return -1;
		*ip = i + 2;
		return 0;
	}
	if (imap_arg_is_word(d, "UTF8")) {
		/* utf8-literal = "UTF8" SP "(" literal8 ")" */
		if (i + 1 >= count || args[i + 1].type != IMAP_ARG_LIST || args[i + 1].count != 1 ||
		    args[i + 1].list[0].type != IMAP_ARG_LITERAL8) {
			*error_r = "UTF8 needs a parenthesized literal8";
			return -1;
		}
		d = &args[i + 1].list[0];
		m->utf8 = true;
		i++;
	} else if (d->type == IMAP_ARG_ATOM) {
		*error_r = "Unknown APPEND extension";
		return -1;
	} else if (d->type != IMAP_ARG_LITERAL && d->type != IMAP_ARG_LITERAL8) {
		*error_r = "APPEND needs a message literal";
		return -1;
	}
	m->data = d->str;
	m->len = d->len;
	m->binary = d->type == IMAP_ARG_LITERAL8;
	*ip = i + 1;
	return 0;
cat_bad:
	*error_r = "CATENATE needs a parenthesized list of parts";
	return -1;
}

int imap_append_parse(const struct imap_arg *args, size_t count, struct imap_append **append_r,
                      const char **error_r)
{
	*append_r = NULL;
	if (count < 2) {
		*error_r = "APPEND needs a mailbox and a message";
		return -1;
	}
	struct imap_append *a = calloc(1, sizeof(*a));
	if (a)
		a->msgs = calloc(count - 1, sizeof(*a->msgs));
	if (!a || !a->msgs) {
		free(a);
		*error_r = "Out of memory";
		return -1;
	}
	if (imap_arg_mailbox(&args[0], &a->mailbox, error_r) < 0)
		goto fail;
	size_t i = 1;
	while (i < count) {
		if (append_message(args, count, &i, &a->msgs[a->nmsgs++], error_r) < 0)
			goto fail;
	}
	*append_r = a;
	return 0;
fail:
	imap_append_free(&a);
	return -1;
}

/* ---- REPLACE: RFC 8508 5 ---- */

void imap_replace_clear(struct imap_replace *r)
{
	imap_flags_clear(&r->msg.flags);
	free(r->msg.cat);
	memset(r, 0, sizeof(*r));
}

int imap_replace_parse(const struct imap_arg *args, size_t count, struct imap_replace *replace_r,
                       const char **error_r)
{
	memset(replace_r, 0, sizeof(*replace_r));
	if (count < 3) {
		*error_r = "REPLACE needs a message number, a mailbox and a message";
		return -1;
	}
	/* seq-number = nz-number / "*" (RFC 3501 9) */
	uint64_t n;
	if (args[0].type == IMAP_ARG_ATOM && args[0].len == 1 && args[0].str[0] == '*')
		replace_r->star = true;
	else if (imap_arg_number(&args[0], UINT32_MAX, true, &n, error_r) < 0)
		return -1;
	else
		replace_r->number = (uint32_t)n;
	if (imap_arg_mailbox(&args[1], &replace_r->mailbox, error_r) < 0)
		return -1;
	size_t i = 2;
	if (append_message(args, count, &i, &replace_r->msg, error_r) < 0 || i != count) {
		if (i != count && i > 2)
			*error_r = "REPLACE takes one message";
		imap_replace_clear(replace_r);
		return -1;
	}
	return 0;
}

/* ---- STATUS: RFC 3501 6.3.10, RFC 9051 6.3.11 ---- */

static const struct opt status_items[] = {
	{ "MESSAGES", IMAP_STATUS_MESSAGES },
	{ "UIDNEXT", IMAP_STATUS_UIDNEXT },
	{ "UIDVALIDITY", IMAP_STATUS_UIDVALIDITY },
	{ "UNSEEN", IMAP_STATUS_UNSEEN },
	{ "RECENT", IMAP_STATUS_RECENT },
	{ "SIZE", IMAP_STATUS_SIZE },
	{ "HIGHESTMODSEQ", IMAP_STATUS_HIGHESTMODSEQ },
	{ "DELETED", IMAP_STATUS_DELETED },
	{ "APPENDLIMIT", IMAP_STATUS_APPENDLIMIT },
	{ "MAILBOXID", IMAP_STATUS_MAILBOXID },
};

int imap_status_items_parse(const struct imap_arg *list, unsigned *items_r, const char **error_r)
{
	*items_r = 0;
	if (list->type != IMAP_ARG_LIST || list->count == 0) {
		*error_r = "Expected a list of status items";
		return -1;
	}
	for (size_t i = 0; i < list->count; i++) {
		const struct opt *o = opt_find(status_items, N(status_items), &list->list[i]);
		if (!o) {
			*error_r = "Unknown status item";
			return -1;
		}
		*items_r |= o->bit;
	}
	return 0;
}

int imap_status_parse(const struct imap_arg *args, size_t count, struct imap_string *mailbox_r,
                      unsigned *items_r, const char **error_r)
{
	if (count != 2) {
		*error_r = "STATUS needs a mailbox and a list of items";
		return -1;
	}
	if (imap_arg_mailbox(&args[0], mailbox_r, error_r) < 0)
		return -1;
	return imap_status_items_parse(&args[1], items_r, error_r);
}

/* ---- LIST: RFC 3501 6.3.8, RFC 5258 3 and 6, RFC 5819, RFC 6154 ---- */

static const struct opt list_select[] = {
	{ "SUBSCRIBED", IMAP_LIST_SEL_SUBSCRIBED },
	{ "REMOTE", IMAP_LIST_SEL_REMOTE },
	{ "RECURSIVEMATCH", IMAP_LIST_SEL_RECURSIVEMATCH },
	{ "SPECIAL-USE", IMAP_LIST_SEL_SPECIAL_USE },
};

static const struct opt list_return[] = {
	{ "SUBSCRIBED", IMAP_LIST_RET_SUBSCRIBED },
	{ "CHILDREN", IMAP_LIST_RET_CHILDREN },
	{ "SPECIAL-USE", IMAP_LIST_RET_SPECIAL_USE },
	{ "STATUS", IMAP_LIST_RET_STATUS },
};

void imap_list_free(struct imap_list **lp)
{
	if (!*lp)
		return;
	free((*lp)->patterns);
	free(*lp);
	*lp = NULL;
}

static int list_select_opts(const struct imap_arg *list, struct imap_list *l, const char **error_r)
{
	for (size_t i = 0; i < list->count; i++) {
		const struct opt *o = opt_find(list_select, N(list_select), &list->list[i]);
		if (!o) {
			*error_r = "Unknown LIST selection option";
			return -1;
		}
		l->select |= o->bit;
	}
	/* RFC 5258 3: RECURSIVEMATCH "MUST NOT occur as the only selection
	 * option (or only with REMOTE)". */
	if ((l->select & IMAP_LIST_SEL_RECURSIVEMATCH) &&
	    !(l->select & ~(unsigned)(IMAP_LIST_SEL_RECURSIVEMATCH | IMAP_LIST_SEL_REMOTE))) {
		*error_r = "RECURSIVEMATCH needs another selection option";
		return -1;
	}
	return 0;
}

static int list_return_opts(const struct imap_arg *list, struct imap_list *l, const char **error_r)
{
	if (list->type != IMAP_ARG_LIST) {
		*error_r = "RETURN needs a list of options";
		return -1;
	}
	for (size_t i = 0; i < list->count; i++) {
		const struct opt *o = opt_find(list_return, N(list_return), &list->list[i]);
		if (!o) {
			*error_r = "Unknown LIST return option";
			return -1;
		}
		l->ret |= o->bit;
		if (o->bit == IMAP_LIST_RET_STATUS) {
			/* status-option = "STATUS" SP "(" status-att *(SP status-att) ")" */
			if (i + 1 == list->count ||
			    imap_status_items_parse(&list->list[i + 1], &l->status_items, error_r) < 0) {
				if (i + 1 == list->count)
					*error_r = "STATUS return option needs a list of items";
				return -1;
			}
			i++;
		}
	}
	return 0;
}

int imap_list_parse(const struct imap_arg *args, size_t count, bool lsub, struct imap_list **list_r,
                    const char **error_r)
{
	*list_r = NULL;
	struct imap_list *l = calloc(1, sizeof(*l));
	if (!l) {
		*error_r = "Out of memory";
		return -1;
	}
	size_t i = 0;
	if (!lsub && count > 0 && args[0].type == IMAP_ARG_LIST) {
		l->extended = true;
		if (list_select_opts(&args[0], l, error_r) < 0)
			goto fail;
		i = 1;
	}
	if (count < i + 2) {
		*error_r = "LIST needs a reference and a mailbox pattern";
		goto fail;
	}
	if (imap_arg_astring(&args[i], &l->reference, error_r) < 0)
		goto fail;
	/* mbox-or-pat = list-mailbox / patterns */
	const struct imap_arg *pat = &args[i + 1];
	const struct imap_arg *pats = pat;
	size_t npats = 1;
	if (pat->type == IMAP_ARG_LIST && !lsub) {
		if (pat->count == 0) {
			*error_r = "Empty list of mailbox patterns";
			goto fail;
		}
		l->extended = true;
		pats = pat->list;
		npats = pat->count;
	}
	l->patterns = calloc(npats, sizeof(*l->patterns));
	if (!l->patterns) {
		*error_r = "Out of memory";
		goto fail;
	}
	for (size_t k = 0; k < npats; k++) {
		if (imap_arg_list_mailbox(&pats[k], &l->patterns[l->npatterns], error_r) < 0)
			goto fail;
		l->npatterns++;
	}
	i += 2;
	if (i < count && !lsub && imap_arg_is_word(&args[i], "RETURN")) {
		l->extended = true;
		if (i + 1 == count) {
			*error_r = "RETURN needs a list of options";
			goto fail;
		}
		if (list_return_opts(&args[i + 1], l, error_r) < 0)
			goto fail;
		i += 2;
	}
	if (i != count) {
		*error_r = lsub ? "Too many LSUB arguments" : "Too many LIST arguments";
		goto fail;
	}
	*list_r = l;
	return 0;
fail:
	imap_list_free(&l);
	return -1;
}

/* ---- SELECT / EXAMINE: RFC 4466 2.1, RFC 7162 3.1.8 and 3.2.5 ---- */

void imap_select_free(struct imap_select **sp)
{
	struct imap_select *s = *sp;
	if (!s)
		return;
	imap_seqset_free(&s->known_uids);
	imap_seqset_free(&s->known_seqs);
	imap_seqset_free(&s->known_seq_uids);
	free(s);
	*sp = NULL;
}

/* Numbers in a set without "*", or -1 when its ranges are not strictly
 * ascending (RFC 7162 3.2.5.2: both sets of seq-match-data "MUST be
 * provided in ascending order", since their elements pair up in order). */
static int64_t seqset_ascending_size(const struct imap_seqset *set)
{
	int64_t n = 0;
	for (size_t i = 0; i < set->count; i++) {
		const struct imap_seq_range *r = &set->ranges[i];
		if (i > 0 && r->lo <= set->ranges[i - 1].hi)
			return -1;
		n += (int64_t)r->hi - r->lo + 1;
	}
	return n;
}

/* "QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids]
 * [SP seq-match-data] ")"; "*" is not allowed in any of the sets. */
static int qresync(const struct imap_arg *list, struct imap_select *s, const char **error_r)
{
	if (list->type != IMAP_ARG_LIST || list->count < 2 || list->count > 4) {
		*error_r = "QRESYNC needs (uidvalidity modseq [known-uids] [seq-match-data])";
		return -1;
	}
	const struct imap_arg *a = list->list;
	uint64_t v;
	if (imap_arg_number(&a[0], UINT32_MAX, true, &v, error_r) < 0)
		return -1;
	s->uidvalidity = (uint32_t)v;
	if (imap_arg_number(&a[1], IMAP_MODSEQ_MAX, false, &s->modseq, error_r) < 0)
		return -1;
	if (s->modseq == 0) {
		*error_r = "QRESYNC mod-sequence must be non-zero";
		return -1;
	}
	size_t i = 2;
	if (i < list->count && a[i].type != IMAP_ARG_LIST) {
		if (imap_arg_seqset(&a[i], IMAP_SEQ_NO_STAR, &s->known_uids, error_r) < 0)
			return -1;
		i++;
	}
	if (i < list->count) {
		/* seq-match-data = "(" known-sequence-set SP known-uid-set ")" */
		const struct imap_arg *m = &a[i];
		if (m->type != IMAP_ARG_LIST || m->count != 2) {
			*error_r = "QRESYNC seq-match-data needs two sequence sets";
			return -1;
		}
		if (imap_arg_seqset(&m->list[0], IMAP_SEQ_NO_STAR, &s->known_seqs, error_r) < 0 ||
		    imap_arg_seqset(&m->list[1], IMAP_SEQ_NO_STAR, &s->known_seq_uids, error_r) < 0)
			return -1;
		int64_t nseq = seqset_ascending_size(s->known_seqs);
		int64_t nuid = seqset_ascending_size(s->known_seq_uids);
		if (nseq < 0 || nuid < 0) {
			*error_r = "QRESYNC seq-match-data must be in ascending order";
			return -1;
		}
		if (nseq != nuid) {
			*error_r = "QRESYNC seq-match-data sets differ in size";
			return -1;
		}
		i++;
	}
	if (i != list->count) {
		*error_r = "Unexpected QRESYNC argument";
		return -1;
	}
	s->qresync = true;
	return 0;
}

int imap_select_parse(const struct imap_arg *args, size_t count, struct imap_select **select_r,
                      const char **error_r)
{
	*select_r = NULL;
	if (count < 1 || count > 2) {
		*error_r = count < 1 ? "SELECT needs a mailbox" : "Too many SELECT arguments";
		return -1;
	}
	struct imap_select *s = calloc(1, sizeof(*s));
	if (!s) {
		*error_r = "Out of memory";
		return -1;
	}
	if (imap_arg_mailbox(&args[0], &s->mailbox, error_r) < 0)
		goto fail;
	if (count == 2) {
		const struct imap_arg *params = &args[1];
		/* select-params = SP "(" select-param *(SP select-param) ")" */
		if (params->type != IMAP_ARG_LIST || params->count == 0) {
			*error_r = "Expected a list of SELECT parameters";
			goto fail;
		}
		for (size_t i = 0; i < params->count; i++) {
			const struct imap_arg *p = &params->list[i];
			if (imap_arg_is_word(p, "CONDSTORE") && !s->condstore) {
				s->condstore = true;
			} else if (imap_arg_is_word(p, "QRESYNC") && !s->qresync) {
				if (i + 1 == params->count) {
					*error_r = "QRESYNC needs (uidvalidity modseq [known-uids] [seq-match-data])";
					goto fail;
				}
				if (qresync(&params->list[++i], s, error_r) < 0)
					goto fail;
			} else {
				*error_r = imap_arg_is_word(p, "CONDSTORE") || imap_arg_is_word(p, "QRESYNC")
				                   ? "SELECT parameter given twice"
				                   : "Unknown SELECT parameter";
				goto fail;
			}
		}
	}
	*select_r = s;
	return 0;
fail:
	imap_select_free(&s);
	return -1;
}

/* ---- COPY / MOVE: RFC 3501 6.4.7, RFC 6851 ---- */

int imap_copy_parse(const struct imap_arg *args, size_t count, struct imap_seqset **set_r,
                    struct imap_string *mailbox_r, const char **error_r)
{
	*set_r = NULL;
	if (count != 2) {
		*error_r = "Expected a sequence set and a mailbox";
		return -1;
	}
	if (imap_arg_mailbox(&args[1], mailbox_r, error_r) < 0)
		return -1;
	return imap_arg_seqset(&args[0], IMAP_SEQ_ALLOW_SAVED, set_r, error_r);
}

/* ---- CREATE: RFC 4466 2.2 create-params, RFC 6154 6 USE ---- */

static const struct {
	const char *name;            /* upper case, without the "\\" */
	unsigned bit;
} use_attrs[] = {
	{ "ALL", IMAP_USE_ALL },
	{ "ARCHIVE", IMAP_USE_ARCHIVE },
	{ "DRAFTS", IMAP_USE_DRAFTS },
	{ "FLAGGED", IMAP_USE_FLAGGED },
	{ "JUNK", IMAP_USE_JUNK },
	{ "SENT", IMAP_USE_SENT },
	{ "TRASH", IMAP_USE_TRASH },
};

static int use_attr_list(const struct imap_arg *a, unsigned *use_r, const char **error_r)
{
	if (a->type != IMAP_ARG_LIST) {
		*error_r = "USE needs a list of special-use attributes";
		return -1;
	}
	for (size_t i = 0; i < a->count; i++) {
		const struct imap_arg *u = &a->list[i];
		/* use-attr-ext = "\\" atom */
		if (u->type != IMAP_ARG_ATOM || u->len < 2 || u->str[0] != '\\') {
			*error_r = "Expected a special-use attribute";
			return -1;
		}
		for (size_t k = 1; k < u->len; k++)
			if (!imap_is_atom_char((unsigned char)u->str[k])) {
				*error_r = "Invalid special-use attribute";
				return -1;
			}
		unsigned bit = IMAP_USE_OTHER;
		for (size_t k = 0; k < sizeof(use_attrs) / sizeof(use_attrs[0]); k++)
			if (imap_word_eq(u->str + 1, u->len - 1, use_attrs[k].name))
				bit = use_attrs[k].bit;
		*use_r |= bit;
	}
	return 0;
}

int imap_create_parse(const struct imap_arg *args, size_t count, struct imap_create *create_r,
                      const char **error_r)
{
	memset(create_r, 0, sizeof(*create_r));
	if (count == 0) {
		*error_r = "Missing mailbox name";
		return -1;
	}
	if (count > 2) {
		*error_r = "CREATE takes a mailbox name and parameters";
		return -1;
	}
	create_r->mailbox = &args[0];
	if (count == 1)
		return 0;
	const struct imap_arg *p = &args[1];
	if (p->type != IMAP_ARG_LIST || p->count == 0) {
		*error_r = "Expected a list of CREATE parameters";
		return -1;
	}
	for (size_t i = 0; i < p->count; i++) {
		/* RFC 4466 2.1: unknown parameters are a BAD. */
		if (!imap_arg_is_word(&p->list[i], "USE")) {
			*error_r = "Unknown CREATE parameter";
			return -1;
		}
		if (create_r->has_use) {
			*error_r = "USE given twice";
			return -1;
		}
		if (++i == p->count) {
			*error_r = "USE needs a list of special-use attributes";
			return -1;
		}
		create_r->has_use = true;
		if (use_attr_list(&p->list[i], &create_r->use, error_r) < 0)
			return -1;
	}
	return 0;
}

/* ---- ENABLE: RFC 5161 4 ---- */

int imap_enable_parse(const struct imap_arg *args, size_t count, struct imap_string **caps_r,
                      size_t *ncaps_r, const char **error_r)
{
	*caps_r = NULL;
	*ncaps_r = 0;
	if (count == 0) {
		*error_r = "ENABLE needs at least one capability";
		return -1;
	}
	struct imap_string *caps = calloc(count, sizeof(*caps));
	if (!caps) {
		*error_r = "Out of memory";
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		/* capability = ("AUTH=" auth-type) / atom */
		if (imap_arg_atom(&args[i], &caps[i], error_r) < 0) {
			free(caps);
			return -1;
		}
	}
	*caps_r = caps;
	*ncaps_r = count;
	return 0;
}

/* ---- ID: RFC 2971 3.1 and 3.3 ---- */

#define ID_MAX_PAIRS 30
#define ID_MAX_FIELD 30
#define ID_MAX_VALUE 1024

void imap_id_clear(struct imap_id *id)
{
	free(id->fields);
	free(id->values);
	memset(id, 0, sizeof(*id));
}

int imap_id_parse(const struct imap_arg *args, size_t count, struct imap_id *id_r, const char **error_r)
{
	memset(id_r, 0, sizeof(*id_r));
	if (count != 1) {
		*error_r = "ID needs a parameter list or NIL";
		return -1;
	}
	if (args[0].type == IMAP_ARG_NIL)
		return 0;
	const struct imap_arg *l = &args[0];
	if (l->type != IMAP_ARG_LIST || l->count % 2 != 0) {
		*error_r = "ID needs NIL or a list of field/value pairs";
		return -1;
	}
	size_t n = l->count / 2;
	if (n > ID_MAX_PAIRS) {
		*error_r = "ID allows at most 30 field/value pairs";
		return -1;
	}
	if (n == 0)
		return 0;
	id_r->fields = calloc(n, sizeof(*id_r->fields));
	id_r->values = calloc(n, sizeof(*id_r->values));
	if (!id_r->fields || !id_r->values) {
		imap_id_clear(id_r);
		*error_r = "Out of memory";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (imap_arg_string(&l->list[2 * i], &id_r->fields[i], error_r) < 0 ||
		    imap_arg_nstring(&l->list[2 * i + 1], &id_r->values[i], error_r) < 0)
			goto fail;
		if (id_r->fields[i].len > ID_MAX_FIELD) {
			*error_r = "ID field longer than 30 octets";
			goto fail;
		}
		if (id_r->values[i].len > ID_MAX_VALUE) {
			*error_r = "ID value longer than 1024 octets";
			goto fail;
		}
		id_r->npairs++;
	}
	return 0;
fail:
	imap_id_clear(id_r);
	return -1;
}

/* ---- AUTHENTICATE: RFC 9051 6.2.2, RFC 4959; LOGIN: RFC 9051 6.2.3 ---- */

static bool is_b64(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || imap_is_digit(c) || c == '+' || c == '/';
}

bool imap_base64_valid(const char *s, size_t len)
{
	/* base64 = *(4base64-char) [base64-terminal] */
	if (len % 4 != 0)
		return false;
	size_t pad = 0;
	if (len >= 1 && s[len - 1] == '=')
		pad = (len >= 2 && s[len - 2] == '=') ? 2 : 1;
	for (size_t i = 0; i < len - pad; i++)
		if (!is_b64((unsigned char)s[i]))
			return false;
	return true;
}

/* RFC 4422 3.1: sasl-mech = 1*20mech-char, mech-char = UPPER-ALPHA /
 * DIGIT / HYPHEN / UNDERSCORE (IMAP atoms being case-insensitive, lower
 * case is accepted too). */
static bool mech_ok(const char *s, size_t len)
{
	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)imap_upper(s[i]);
		if (!((c >= 'A' && c <= 'Z') || imap_is_digit(c) || c == '-' || c == '_'))
			return false;
	}
	return true;
}

int imap_authenticate_parse(const struct imap_arg *args, size_t count, struct imap_authenticate *auth_r,
                            const char **error_r)
{
	memset(auth_r, 0, sizeof(*auth_r));
	if (count < 1 || count > 2) {
		*error_r = count < 1 ? "AUTHENTICATE needs a mechanism" : "Too many AUTHENTICATE arguments";
		return -1;
	}
	if (imap_arg_atom(&args[0], &auth_r->mech, error_r) < 0)
		return -1;
	if (!mech_ok(auth_r->mech.s, auth_r->mech.len)) {
		*error_r = "Invalid SASL mechanism name";
		return -1;
	}
	if (count == 2) {
		/* initial-resp = (base64 / "=") */
		const struct imap_arg *ir = &args[1];
		if (ir->type != IMAP_ARG_ATOM && ir->type != IMAP_ARG_NUMBER) {
			*error_r = "Invalid initial response";
			return -1;
		}
		auth_r->has_ir = true;
		if (ir->len == 1 && ir->str[0] == '=') {
			auth_r->ir = (struct imap_string){ ir->str, 0 };
		} else if (imap_base64_valid(ir->str, ir->len)) {
			auth_r->ir = (struct imap_string){ ir->str, ir->len };
		} else {
			*error_r = "Initial response is not base64";
			return -1;
		}
	}
	return 0;
}

int imap_login_parse(const struct imap_arg *args, size_t count, struct imap_string *user_r,
                     struct imap_string *pass_r, const char **error_r)
{
	if (count != 2) {
		*error_r = "LOGIN needs a user name and a password";
		return -1;
	}
	if (imap_arg_astring(&args[0], user_r, error_r) < 0 || imap_arg_astring(&args[1], pass_r, error_r) < 0)
		return -1;
	return 0;
}
