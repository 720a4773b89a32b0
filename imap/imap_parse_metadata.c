/* imap/imap_parse_metadata.c: the arguments of GETMETADATA and SETMETADATA
 * (RFC 5464 4.2, 4.3, 5) and the entry-name rules (3.2), pure.
 *
 * Entry names are returned as given; the session lower-cases them (3.2:
 * case-insensitive).  The mailbox argument is left to the session, which
 * decodes names ("" is the server). */
#include "imap/imap_parse.h"
#include "imap/imap_parse_private.h"

#include <stdlib.h>
#include <string.h>

static bool prefix_is(const char *s, size_t len, const char *p)
{
	size_t n = strlen(p);
	if (len < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != p[i])
			return false;
	}
	return len == n || s[n] == '/';
}

static bool same_ci(const char *a, const char *b, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

int imap_metadata_entry_check(const char *s, size_t len, bool to_set, const char **error_r)
{
	if (len > IMAP_METADATA_ENTRY_MAX) {
		*error_r = "Entry name too long";
		return -1;
	}
	if (len == 0 || s[0] != '/') {
		*error_r = "Entry name must start with /private or /shared";
		return -1;
	}
	/* 3.2: no "//", no trailing "/", no "*" or "%", nothing outside
	 * printable ASCII (the RFC names 0x00-0x19 and non-ASCII; the rest of
	 * the controls, 0x1a-0x1f and DEL, are refused alike). */
	size_t components = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '*' || c == '%') {
			*error_r = "Invalid character in an entry name";
			return -1;
		}
		if (c == '/') {
			if (i + 1 == len || s[i + 1] == '/') {
				*error_r = "Empty component in an entry name";
				return -1;
			}
			components++;
		}
	}
	/* 3.2: the first component is the scope. */
	bool priv = prefix_is(s, len, "/private");
	if (!priv && !prefix_is(s, len, "/shared")) {
		*error_r = "Entry name must start with /private or /shared";
		return -1;
	}
	if (!to_set)
		return 0;   /* "/private" alone names the entries below it (DEPTH) */
	/* 3.2: at least 2 components, 4 under the vendor trees. */
	if (components < 2) {
		*error_r = "Entry name needs a name below /private or /shared";
		return -1;
	}
	bool vendor = prefix_is(s, len, priv ? "/private/vendor" : "/shared/vendor");
	if (vendor && components < 4) {
		*error_r = "Vendor entry names need a vendor token and a name";
		return -1;
	}
	return 0;
}

static int entry_arg(const struct imap_arg *a, bool to_set, struct imap_string *out_r,
		     const char **error_r)
{
	if (a->type == IMAP_ARG_LIST || a->type == IMAP_ARG_NIL ||
	    imap_arg_astring(a, out_r, error_r) < 0) {
		if (a->type == IMAP_ARG_LIST || a->type == IMAP_ARG_NIL || !*error_r)
			*error_r = "Entry name expected";
		return -1;
	}
	return imap_metadata_entry_check(out_r->s, out_r->len, to_set, error_r);
}

/* getmetadata-options = "(" getmetadata-option *(SP getmetadata-option) ")" */
static int options_parse(const struct imap_arg *list, struct imap_getmetadata *g,
			 const char **error_r)
{
	bool seen_max = false, seen_depth = false;
	if (list->count == 0) {
		*error_r = "Empty GETMETADATA options";
		return -1;
	}
	for (size_t i = 0; i < list->count; i++) {
		const struct imap_arg *o = &list->list[i];
		if (i + 1 >= list->count) {
			*error_r = "GETMETADATA option needs a value";
			return -1;
		}
		const struct imap_arg *v = &list->list[++i];
		if (imap_arg_is_word(o, "MAXSIZE") && !seen_max) {
			/* 4.2.1 maxsize-opt = "MAXSIZE" SP number */
			if (imap_arg_number(v, UINT32_MAX, false, &g->maxsize, error_r) < 0)
				return -1;
			g->has_maxsize = seen_max = true;
		} else if (imap_arg_is_word(o, "DEPTH") && !seen_depth) {
			/* 4.2.2 scope-opt = "DEPTH" SP ("0" / "1" / "infinity") */
			if (imap_arg_is_word(v, "0"))
				g->depth = IMAP_METADATA_DEPTH_0;
			else if (imap_arg_is_word(v, "1"))
				g->depth = IMAP_METADATA_DEPTH_1;
			else if (imap_arg_is_word(v, "INFINITY"))
				g->depth = IMAP_METADATA_DEPTH_INFINITY;
			else {
				*error_r = "DEPTH must be 0, 1 or infinity";
				return -1;
			}
			seen_depth = true;
		} else {
			*error_r = seen_max || seen_depth ? "Unknown or repeated GETMETADATA option"
							 : "Unknown GETMETADATA option";
			return -1;
		}
	}
	return 0;
}

int imap_getmetadata_parse(const struct imap_arg *args, size_t count,
			   struct imap_getmetadata *get_r, const char **error_r)
{
	memset(get_r, 0, sizeof(*get_r));
	/* getmetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP
	 * entries (5), but the examples of 4.2.1 and 4.2.2 put the options
	 * after the mailbox, and clients follow either; a mailbox is never a
	 * list, so both orders read unambiguously. */
	const struct imap_arg *opts = NULL, *mailbox, *e;
	if (count == 3 && args[0].type == IMAP_ARG_LIST) {
		opts = &args[0];
		mailbox = &args[1];
	} else if (count == 3 && args[1].type == IMAP_ARG_LIST) {
		mailbox = &args[0];
		opts = &args[1];
	} else if (count == 2) {
		mailbox = &args[0];
	} else {
		*error_r = "GETMETADATA takes [options] mailbox entries";
		return -1;
	}
	e = &args[count - 1];
	if (opts && options_parse(opts, get_r, error_r) < 0)
		return -1;
	if (mailbox->type == IMAP_ARG_LIST || mailbox->type == IMAP_ARG_NIL) {
		*error_r = "Mailbox name expected";
		return -1;
	}
	get_r->mailbox = mailbox;
	const struct imap_arg *items = e;
	size_t n = 1;
	if (e->type == IMAP_ARG_LIST) {
		items = e->list;
		n = e->count;
		if (n == 0) {
			*error_r = "Empty entry list";
			return -1;
		}
	}
	get_r->entries = calloc(n, sizeof(*get_r->entries));
	if (!get_r->entries) {
		*error_r = "Out of memory";
		return -1;
	}
	for (size_t k = 0; k < n; k++) {
		if (entry_arg(&items[k], false, &get_r->entries[k], error_r) < 0) {
			imap_getmetadata_clear(get_r);
			return -1;
		}
	}
	get_r->nentries = n;
	return 0;
}

void imap_getmetadata_clear(struct imap_getmetadata *get)
{
	free(get->entries);
	get->entries = NULL;
	get->nentries = 0;
}

int imap_setmetadata_parse(const struct imap_arg *args, size_t count,
			   struct imap_setmetadata *set_r, const char **error_r)
{
	memset(set_r, 0, sizeof(*set_r));
	/* setmetadata = "SETMETADATA" SP mailbox SP entry-values */
	if (count != 2 || args[0].type == IMAP_ARG_LIST || args[1].type != IMAP_ARG_LIST) {
		*error_r = "SETMETADATA takes mailbox (entry value ...)";
		return -1;
	}
	const struct imap_arg *l = &args[1];
	/* entry-values = "(" entry-value *(SP entry-value) ")" */
	if (l->count == 0 || l->count % 2 != 0) {
		*error_r = "SETMETADATA needs entry and value pairs";
		return -1;
	}
	set_r->mailbox = &args[0];
	size_t n = l->count / 2;
	set_r->values = calloc(n, sizeof(*set_r->values));
	if (!set_r->values) {
		*error_r = "Out of memory";
		return -1;
	}
	for (size_t k = 0; k < n; k++) {
		struct imap_metadata_value *mv = &set_r->values[k];
		const struct imap_arg *v = &l->list[2 * k + 1];
		if (entry_arg(&l->list[2 * k], true, &mv->entry, error_r) < 0)
			goto fail;
		/* value = nstring / literal8: NIL removes the entry, "" is an
		 * empty value. */
		if (v->type == IMAP_ARG_LITERAL8) {
			mv->value.s = v->str;
			mv->value.len = v->len;
			mv->binary = true;
		} else if (imap_arg_nstring(v, &mv->value, error_r) < 0) {
			*error_r = "Value must be a string, a literal8 or NIL";
			goto fail;
		}
		/* The same entry twice would make the result depend on order. */
		for (size_t j = 0; j < k; j++) {
			if (set_r->values[j].entry.len == mv->entry.len &&
			    same_ci(set_r->values[j].entry.s, mv->entry.s, mv->entry.len)) {
				*error_r = "Entry given twice";
				goto fail;
			}
		}
	}
	set_r->n = n;
	return 0;
fail:
	imap_setmetadata_clear(set_r);
	return -1;
}

void imap_setmetadata_clear(struct imap_setmetadata *set)
{
	free(set->values);
	set->values = NULL;
	set->n = 0;
}
