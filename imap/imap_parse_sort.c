/* imap/imap_parse_sort.c: the arguments of SORT and THREAD (RFC 5256 5),
 * with ESORT's return options (RFC 5267 3.1) and SORT=DISPLAY's keys
 * (RFC 5957 4).  The search keys are SEARCH's (imap_parse_search.c). */
#include <string.h>

#include "imap/imap_parse.h"
#include "imap/imap_parse_private.h"
#include "imap/imap_sort.h"

static const struct {
	const char *name;
	enum imap_sort_key key;
	bool display;
} sort_keys[] = {
	{ "ARRIVAL", IMAP_SORT_ARRIVAL, false },
	{ "CC", IMAP_SORT_CC, false },
	{ "DATE", IMAP_SORT_DATE, false },
	{ "FROM", IMAP_SORT_FROM, false },
	{ "SIZE", IMAP_SORT_SIZE, false },
	{ "SUBJECT", IMAP_SORT_SUBJECT, false },
	{ "TO", IMAP_SORT_TO, false },
	{ "DISPLAYFROM", IMAP_SORT_DISPLAYFROM, true },
	{ "DISPLAYTO", IMAP_SORT_DISPLAYTO, true },
};

/* ESORT takes ESEARCH's options; SAVE (RFC 5182) is SEARCH's only. */
static const struct {
	const char *name;
	unsigned bit;
} returns[] = {
	{ "MIN", IMAP_SEARCH_RET_MIN },
	{ "MAX", IMAP_SEARCH_RET_MAX },
	{ "ALL", IMAP_SEARCH_RET_ALL },
	{ "COUNT", IMAP_SEARCH_RET_COUNT },
	{ "CONTEXT", IMAP_SEARCH_RET_CONTEXT },
	{ "UPDATE", IMAP_SEARCH_RET_UPDATE },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

void imap_sort_program_clear(struct imap_sort_program *p)
{
	imap_search_key_clear(&p->root);
	memset(p, 0, sizeof(*p));
}

/* search-criteria = charset 1*(SP search-key) */
static int criteria(const struct imap_arg *args, size_t count, struct imap_sort_program *p,
		    const char **error_r)
{
	if (count == 0) {
		*error_r = "Missing charset";
		return -1;
	}
	if (args[0].type != IMAP_ARG_ATOM && args[0].type != IMAP_ARG_QUOTED) {
		*error_r = "Charset must be an atom or a quoted string";
		return -1;
	}
	if (imap_arg_astring(&args[0], &p->charset, error_r) < 0)
		return -1;
	if (count < 2) {
		*error_r = "Missing search criteria";
		return -1;
	}
	return imap_search_keys_parse(args + 1, count - 1, &p->root, error_r);
}

int imap_sort_parse(const struct imap_arg *args, size_t count, bool display,
		    struct imap_sort_program *p, const char **error_r)
{
	memset(p, 0, sizeof(*p));
	size_t i = 0;
	if (count > 0 && imap_arg_is_word(&args[0], "RETURN")) {
		if (count < 2 || args[1].type != IMAP_ARG_LIST) {
			*error_r = "RETURN needs a list of options";
			return -1;
		}
		p->has_return = true;
		for (size_t k = 0; k < args[1].count; k++) {
			if (imap_arg_is_word(&args[1].list[k], "PARTIAL")) {
				/* RFC 5267 4.4: one PARTIAL, never with ALL. */
				if ((p->ret & IMAP_SEARCH_RET_PARTIAL) || k + 1 == args[1].count) {
					*error_r = "PARTIAL needs one range";
					return -1;
				}
				if (imap_partial_parse(&args[1].list[++k], &p->partial_lo,
						       &p->partial_hi, error_r) < 0)
					return -1;
				p->ret |= IMAP_SEARCH_RET_PARTIAL;
				continue;
			}
			size_t r;
			for (r = 0; r < N(returns); r++)
				if (imap_arg_is_word(&args[1].list[k], returns[r].name))
					break;
			if (r == N(returns)) {
				*error_r = "Unknown SORT return option";
				return -1;
			}
			p->ret |= returns[r].bit;
		}
		/* RFC 5267 3.3: an empty list gives ALL. */
		if (args[1].count == 0)
			p->ret = IMAP_SEARCH_RET_ALL;
		if ((p->ret & IMAP_SEARCH_RET_PARTIAL) && (p->ret & IMAP_SEARCH_RET_ALL)) {
			*error_r = "PARTIAL and ALL cannot be used together";
			return -1;
		}
		i = 2;
	}
	if (i >= count || args[i].type != IMAP_ARG_LIST) {
		*error_r = "SORT needs a list of sort criteria";
		return -1;
	}
	const struct imap_arg *list = &args[i];
	if (list->count == 0) {
		*error_r = "Empty sort criteria";
		return -1;
	}
	for (size_t k = 0; k < list->count; k++) {
		bool reverse = false;
		if (imap_arg_is_word(&list->list[k], "REVERSE")) {
			reverse = true;
			if (++k == list->count) {
				*error_r = "REVERSE needs a sort key";
				return -1;
			}
		}
		size_t s;
		for (s = 0; s < N(sort_keys); s++)
			if ((display || !sort_keys[s].display) &&
			    imap_arg_is_word(&list->list[k], sort_keys[s].name))
				break;
		if (s == N(sort_keys)) {
			*error_r = "Unknown sort key";
			return -1;
		}
		if (p->ncrit == IMAP_SORT_MAX_CRITERIA) {
			*error_r = "Too many sort criteria";
			return -1;
		}
		p->crit[p->ncrit++] = (struct imap_sort_crit){ sort_keys[s].key, reverse };
	}
	return criteria(args + i + 1, count - i - 1, p, error_r);
}

int imap_thread_parse(const struct imap_arg *args, size_t count, struct imap_sort_program *p,
		      const char **error_r)
{
	memset(p, 0, sizeof(*p));
	if (count == 0 || args[0].type != IMAP_ARG_ATOM) {
		*error_r = "THREAD needs a threading algorithm";
		return -1;
	}
	if (imap_arg_is_word(&args[0], "ORDEREDSUBJECT")) {
		p->alg = IMAP_THREAD_ORDEREDSUBJECT;
	} else if (imap_arg_is_word(&args[0], "REFERENCES")) {
		p->alg = IMAP_THREAD_REFERENCES;
	} else {
		*error_r = "Unknown threading algorithm";
		return -1;
	}
	return criteria(args + 1, count - 1, p, error_r);
}
