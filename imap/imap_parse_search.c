/* imap/imap_parse_search.c: SEARCH programs into a key tree (RFC 3501
 * 6.4.4 and 9 search-key, RFC 9051 6.4.4, RFC 4466 2.6 and RFC 4731 RETURN
 * options, RFC 5182 SAVE and "$", RFC 7162 3.1.5 MODSEQ, RFC 5032
 * OLDER/YOUNGER, RFC 8514 SAVED*, RFC 8474 EMAILID/THREADID).  The keys and
 * the kind of argument each takes are one table. */
#include "imap/imap_parse.h"
#include "imap/imap_parse_private.h"

#include <stdlib.h>
#include <string.h>

enum argkind {
	ARG_NONE,
	ARG_ASTRING,    /* SP astring */
	ARG_DATE,       /* SP date */
	ARG_NUMBER,     /* SP number64 */
	ARG_SEQSET,     /* SP sequence-set */
	ARG_KEYWORD,    /* SP flag-keyword */
	ARG_HEADER,     /* SP header-fld-name SP astring */
	ARG_NOT,        /* SP search-key */
	ARG_OR,         /* SP search-key SP search-key */
	ARG_MODSEQ,     /* [SP entry-name SP entry-type-req] SP mod-sequence-valzer */
	ARG_INTERVAL,   /* SP nz-number (RFC 5032 4: seconds) */
	ARG_OBJECTID,   /* SP objectid (RFC 8474 7) */
};

static const struct {
	const char *name;
	enum imap_search_type type;
	enum argkind arg;
} keys[] = {
	{ "ALL", IMAP_SK_ALL, ARG_NONE },
	{ "ANSWERED", IMAP_SK_ANSWERED, ARG_NONE },
	{ "BCC", IMAP_SK_BCC, ARG_ASTRING },
	{ "BEFORE", IMAP_SK_BEFORE, ARG_DATE },
	{ "BODY", IMAP_SK_BODY, ARG_ASTRING },
	{ "CC", IMAP_SK_CC, ARG_ASTRING },
	{ "DELETED", IMAP_SK_DELETED, ARG_NONE },
	{ "DRAFT", IMAP_SK_DRAFT, ARG_NONE },
	{ "EMAILID", IMAP_SK_EMAILID, ARG_OBJECTID },   /* RFC 8474 6 */
	{ "FLAGGED", IMAP_SK_FLAGGED, ARG_NONE },
	{ "FROM", IMAP_SK_FROM, ARG_ASTRING },
	{ "HEADER", IMAP_SK_HEADER, ARG_HEADER },
	{ "KEYWORD", IMAP_SK_KEYWORD, ARG_KEYWORD },
	{ "LARGER", IMAP_SK_LARGER, ARG_NUMBER },
	{ "MODSEQ", IMAP_SK_MODSEQ, ARG_MODSEQ },
	{ "NEW", IMAP_SK_NEW, ARG_NONE },
	{ "NOT", IMAP_SK_NOT, ARG_NOT },
	{ "OLD", IMAP_SK_OLD, ARG_NONE },
	{ "OLDER", IMAP_SK_OLDER, ARG_INTERVAL },
	{ "ON", IMAP_SK_ON, ARG_DATE },
	{ "OR", IMAP_SK_OR, ARG_OR },
	{ "RECENT", IMAP_SK_RECENT, ARG_NONE },
	{ "SAVEDATESUPPORTED", IMAP_SK_SAVEDATESUPPORTED, ARG_NONE },  /* RFC 8514 4.3 */
	{ "SAVEDBEFORE", IMAP_SK_SAVEDBEFORE, ARG_DATE },
	{ "SAVEDON", IMAP_SK_SAVEDON, ARG_DATE },
	{ "SAVEDSINCE", IMAP_SK_SAVEDSINCE, ARG_DATE },
	{ "SEEN", IMAP_SK_SEEN, ARG_NONE },
	{ "SENTBEFORE", IMAP_SK_SENTBEFORE, ARG_DATE },
	{ "SENTON", IMAP_SK_SENTON, ARG_DATE },
	{ "SENTSINCE", IMAP_SK_SENTSINCE, ARG_DATE },
	{ "SINCE", IMAP_SK_SINCE, ARG_DATE },
	{ "SMALLER", IMAP_SK_SMALLER, ARG_NUMBER },
	{ "SUBJECT", IMAP_SK_SUBJECT, ARG_ASTRING },
	{ "TEXT", IMAP_SK_TEXT, ARG_ASTRING },
	{ "THREADID", IMAP_SK_THREADID, ARG_OBJECTID },
	{ "TO", IMAP_SK_TO, ARG_ASTRING },
	{ "UID", IMAP_SK_UID, ARG_SEQSET },
	{ "UNANSWERED", IMAP_SK_UNANSWERED, ARG_NONE },
	{ "UNDELETED", IMAP_SK_UNDELETED, ARG_NONE },
	{ "UNDRAFT", IMAP_SK_UNDRAFT, ARG_NONE },
	{ "UNFLAGGED", IMAP_SK_UNFLAGGED, ARG_NONE },
	{ "UNKEYWORD", IMAP_SK_UNKEYWORD, ARG_KEYWORD },
	{ "UNSEEN", IMAP_SK_UNSEEN, ARG_NONE },
	{ "YOUNGER", IMAP_SK_YOUNGER, ARG_INTERVAL },
};

/* RFC 4731 3.1 and RFC 5182 2 return options. */
static const struct {
	const char *name;
	unsigned bit;
} returns[] = {
	{ "MIN", IMAP_SEARCH_RET_MIN },
	{ "MAX", IMAP_SEARCH_RET_MAX },
	{ "ALL", IMAP_SEARCH_RET_ALL },
	{ "COUNT", IMAP_SEARCH_RET_COUNT },
	{ "SAVE", IMAP_SEARCH_RET_SAVE },
	{ "CONTEXT", IMAP_SEARCH_RET_CONTEXT },
	{ "UPDATE", IMAP_SEARCH_RET_UPDATE },
};

static const struct {
	const char *name;
	enum imap_modseq_entry type;
} entry_types[] = {
	{ "PRIV", IMAP_MODSEQ_ENTRY_PRIV },
	{ "SHARED", IMAP_MODSEQ_ENTRY_SHARED },
	{ "ALL", IMAP_MODSEQ_ENTRY_ALL },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct cursor {
	const struct imap_arg *args;
	size_t count, i;
	bool uses_saved;
	const char **error_r;
};

void imap_search_key_clear(struct imap_search_key *key)
{
	for (size_t i = 0; i < key->count; i++)
		imap_search_key_clear(&key->children[i]);
	free(key->children);
	imap_seqset_free(&key->set);
	memset(key, 0, sizeof(*key));
}

static const struct imap_arg *next_arg(struct cursor *c, const char *missing)
{
	if (c->i >= c->count) {
		*c->error_r = missing;
		return NULL;
	}
	return &c->args[c->i++];
}

static int parse_key(struct cursor *c, struct imap_search_key *key, unsigned depth);

/* Keys until the cursor's end, into an AND node (at most `max` of them). */
static int parse_and(struct cursor *c, struct imap_search_key *key, unsigned depth)
{
	key->type = IMAP_SK_AND;
	if (c->i >= c->count) {
		*c->error_r = "Missing search key";
		return -1;
	}
	key->children = calloc(c->count - c->i, sizeof(*key->children));
	if (!key->children) {
		*c->error_r = "Out of memory";
		return -1;
	}
	while (c->i < c->count)
		if (parse_key(c, &key->children[key->count++], depth + 1) < 0)
			return -1;
	return 0;
}

static int seqset(struct cursor *c, const struct imap_arg *a, struct imap_search_key *key)
{
	if (imap_arg_seqset(a, IMAP_SEQ_ALLOW_SAVED, &key->set, c->error_r) < 0)
		return -1;
	if (key->set->saved)
		c->uses_saved = true;
	return 0;
}

/* search-modsequence (RFC 7162 7). */
static int modseq(struct cursor *c, struct imap_search_key *key)
{
	const struct imap_arg *a = next_arg(c, "MODSEQ needs a mod-sequence");
	if (!a)
		return -1;
	if (a->type == IMAP_ARG_QUOTED || a->type == IMAP_ARG_LITERAL) {
		/* entry-flag-name = DQUOTE "/flags/" attr-flag DQUOTE */
		if (a->len <= 7 || !imap_word_eq(a->str, 7, "/FLAGS/")) {
			*c->error_r = "Invalid MODSEQ entry name";
			return -1;
		}
		key->str = (struct imap_string){ a->str, a->len };
		const struct imap_arg *t = next_arg(c, "MODSEQ entry name needs a type");
		if (!t)
			return -1;
		size_t k;
		for (k = 0; k < N(entry_types); k++)
			if (imap_arg_is_word(t, entry_types[k].name))
				break;
		if (k == N(entry_types)) {
			*c->error_r = "MODSEQ entry type must be priv, shared or all";
			return -1;
		}
		key->entry_type = entry_types[k].type;
		if (!(a = next_arg(c, "MODSEQ needs a mod-sequence")))
			return -1;
	}
	return imap_arg_number(a, IMAP_MODSEQ_MAX, false, &key->num, c->error_r);
}

/* objectid = 1*255(ALPHA / DIGIT / "_" / "-"), case-sensitive (RFC 8474 7). */
static int objectid(const struct imap_arg *a, struct imap_string *out_r, const char **error_r)
{
	if ((a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NUMBER) || a->len == 0 ||
	    a->len > 255) {
		*error_r = "Invalid object id";
		return -1;
	}
	for (size_t i = 0; i < a->len; i++) {
		unsigned char ch = (unsigned char)a->str[i];
		if (!imap_is_digit(ch) && !((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') && ch != '_' &&
		    ch != '-') {
			*error_r = "Invalid object id";
			return -1;
		}
	}
	*out_r = (struct imap_string){ a->str, a->len };
	return 0;
}

static int parse_key(struct cursor *c, struct imap_search_key *key, unsigned depth)
{
	if (depth > IMAP_SEARCH_MAX_DEPTH) {
		*c->error_r = "Search keys nested too deeply";
		return -1;
	}
	const struct imap_arg *a = next_arg(c, "Missing search key");
	if (!a)
		return -1;
	if (a->type == IMAP_ARG_LIST) {
		/* "(" search-key *(SP search-key) ")" */
		if (a->count == 0) {
			*c->error_r = "Empty parenthesized search key";
			return -1;
		}
		struct cursor sub = { a->list, a->count, 0, false, c->error_r };
		int rc = parse_and(&sub, key, depth);
		c->uses_saved |= sub.uses_saved;
		return rc;
	}
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NUMBER) {
		*c->error_r = "Expected a search key";
		return -1;
	}
	size_t k;
	for (k = 0; k < N(keys); k++)
		if (imap_word_eq(a->str, a->len, keys[k].name))
			break;
	if (k == N(keys)) {
		/* search-key =/ sequence-set */
		unsigned char c0 = (unsigned char)a->str[0];
		if (a->len > 0 && (imap_is_digit(c0) || c0 == '*' || c0 == '$')) {
			key->type = IMAP_SK_SEQSET;
			return seqset(c, a, key);
		}
		*c->error_r = "Unknown search key";
		return -1;
	}
	key->type = keys[k].type;
	const struct imap_arg *v;
	switch (keys[k].arg) {
	case ARG_NONE:
		return 0;
	case ARG_ASTRING:
		if (!(v = next_arg(c, "Search key needs a string")))
			return -1;
		return imap_arg_astring(v, &key->str, c->error_r);
	case ARG_DATE:
		if (!(v = next_arg(c, "Search key needs a date")))
			return -1;
		return imap_arg_date(v, &key->date, c->error_r);
	case ARG_NUMBER:
		if (!(v = next_arg(c, "Search key needs a number")))
			return -1;
		return imap_arg_number(v, IMAP_MODSEQ_MAX, false, &key->num, c->error_r);
	case ARG_SEQSET:
		if (!(v = next_arg(c, "UID needs a sequence set")))
			return -1;
		return seqset(c, v, key);
	case ARG_KEYWORD:
		if (!(v = next_arg(c, "Search key needs a keyword")))
			return -1;
		return imap_arg_atom(v, &key->str, c->error_r);
	case ARG_HEADER:
		if (!(v = next_arg(c, "HEADER needs a field name and a string")))
			return -1;
		if (imap_arg_astring(v, &key->str, c->error_r) < 0)
			return -1;
		if (!(v = next_arg(c, "HEADER needs a field name and a string")))
			return -1;
		return imap_arg_astring(v, &key->str2, c->error_r);
	case ARG_NOT:
	case ARG_OR: {
		size_t n = keys[k].arg == ARG_OR ? 2 : 1;
		key->children = calloc(n, sizeof(*key->children));
		if (!key->children) {
			*c->error_r = "Out of memory";
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			key->count++;
			if (parse_key(c, &key->children[i], depth + 1) < 0)
				return -1;
		}
		return 0;
	}
	case ARG_MODSEQ:
		return modseq(c, key);
	case ARG_OBJECTID:
		if (!(v = next_arg(c, "Search key needs an object id")))
			return -1;
		return objectid(v, &key->str, c->error_r);
	case ARG_INTERVAL:
		/* RFC 5032 4: interval = nz-number (RFC 3501 9: 32 bits). */
		if (!(v = next_arg(c, "Search key needs an interval in seconds")))
			return -1;
		return imap_arg_number(v, UINT32_MAX, true, &key->num, c->error_r);
	}
	return -1;
}

int imap_search_keys_parse(const struct imap_arg *args, size_t count, struct imap_search_key *root_r,
                           const char **error_r)
{
	memset(root_r, 0, sizeof(*root_r));
	struct cursor c = { args, count, 0, false, error_r };
	if (parse_and(&c, root_r, 0) < 0) {
		imap_search_key_clear(root_r);
		return -1;
	}
	return 0;
}

void imap_search_free(struct imap_search **sp)
{
	if (!*sp)
		return;
	imap_search_key_clear(&(*sp)->root);
	free(*sp);
	*sp = NULL;
}

static int return_opts(const struct imap_arg *list, struct imap_search *s, const char **error_r)
{
	if (list->type != IMAP_ARG_LIST) {
		*error_r = "RETURN needs a list of options";
		return -1;
	}
	s->has_return = true;
	for (size_t i = 0; i < list->count; i++) {
		if (imap_arg_is_word(&list->list[i], "PARTIAL")) {
			/* RFC 5267 4.4: one PARTIAL, never with ALL. */
			if ((s->ret & IMAP_SEARCH_RET_PARTIAL) || i + 1 == list->count) {
				*error_r = "PARTIAL needs one range";
				return -1;
			}
			if (imap_partial_parse(&list->list[++i], &s->partial_lo, &s->partial_hi,
					       error_r) < 0)
				return -1;
			s->ret |= IMAP_SEARCH_RET_PARTIAL;
			continue;
		}
		size_t k;
		for (k = 0; k < N(returns); k++)
			if (imap_arg_is_word(&list->list[i], returns[k].name))
				break;
		if (k == N(returns)) {
			*error_r = "Unknown SEARCH return option";
			return -1;
		}
		s->ret |= returns[k].bit;
	}
	/* RFC 4731 3.1: an empty list "is equivalent to" RETURN (ALL). */
	if (list->count == 0)
		s->ret = IMAP_SEARCH_RET_ALL;
	if ((s->ret & IMAP_SEARCH_RET_PARTIAL) && (s->ret & IMAP_SEARCH_RET_ALL)) {
		*error_r = "PARTIAL and ALL cannot be used together";
		return -1;
	}
	return 0;
}

int imap_partial_parse(const struct imap_arg *a, uint32_t *lo_r, uint32_t *hi_r,
		       const char **error_r)
{
	/* partial-range = nz-number ":" nz-number (a sequence-set atom). */
	struct imap_seqset *set = NULL;
	if (imap_arg_seqset(a, 0, &set, error_r) < 0)
		return -1;
	/* One range written with its colon: "1" is a sequence set, not a
	 * partial-range (imaptest's search-partial and sort-partial). */
	bool ok = set->count == 1 && !set->star && a->str && memchr(a->str, ':', a->len);
	if (ok) {
		*lo_r = set->ranges[0].lo;
		*hi_r = set->ranges[0].hi;
	}
	imap_seqset_free(&set);
	if (!ok) {
		*error_r = "PARTIAL needs a range n:m";
		return -1;
	}
	return 0;
}

int imap_search_parse(const struct imap_arg *args, size_t count, struct imap_search **search_r,
                      const char **error_r)
{
	*search_r = NULL;
	struct imap_search *s = calloc(1, sizeof(*s));
	if (!s) {
		*error_r = "Out of memory";
		return -1;
	}
	size_t i = 0;
	/* search = "SEARCH" [search-return-opts] SP search-program */
	if (count > 0 && imap_arg_is_word(&args[0], "RETURN")) {
		if (count < 2) {
			*error_r = "RETURN needs a list of options";
			goto fail;
		}
		if (return_opts(&args[1], s, error_r) < 0)
			goto fail;
		i = 2;
	}
	/* search-program = ["CHARSET" SP charset SP] search-key *(SP search-key) */
	if (i < count && imap_arg_is_word(&args[i], "CHARSET")) {
		if (i + 1 >= count) {
			*error_r = "CHARSET needs a charset name";
			goto fail;
		}
		if (imap_arg_astring(&args[i + 1], &s->charset, error_r) < 0)
			goto fail;
		i += 2;
	}
	if (i >= count) {
		*error_r = "SEARCH needs at least one search key";
		goto fail;
	}
	struct cursor c = { args + i, count - i, 0, false, error_r };
	if (parse_and(&c, &s->root, 0) < 0)
		goto fail;
	s->uses_saved = c.uses_saved;
	*search_r = s;
	return 0;
fail:
	imap_search_free(&s);
	return -1;
}
