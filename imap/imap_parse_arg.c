/* imap/imap_parse_arg.c: typed views of single arguments (astring, string,
 * nstring, atom, number, mailbox, list-mailbox) and flag lists.  These are
 * the building blocks of every command-specific parser. */
#include "imap/imap_parse.h"
#include "imap/imap_parse_private.h"

#include <stdlib.h>
#include <string.h>

static bool is_bare(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_NUMBER || a->type == IMAP_ARG_NIL;
}

static bool all_chars(const char *s, size_t len, bool (*ok)(unsigned char))
{
	for (size_t i = 0; i < len; i++)
		if (!ok((unsigned char)s[i]))
			return false;
	return true;
}

bool imap_arg_is_word(const struct imap_arg *a, const char *upper)
{
	return is_bare(a) && imap_word_eq(a->str, a->len, upper);
}

int imap_arg_string(const struct imap_arg *a, struct imap_string *out_r, const char **error_r)
{
	if (a->type == IMAP_ARG_QUOTED || a->type == IMAP_ARG_LITERAL) {
		out_r->s = a->str;
		out_r->len = a->len;
		return 0;
	}
	*error_r = a->type == IMAP_ARG_LITERAL8 ? "literal8 is not allowed here" : "Expected a string";
	return -1;
}

int imap_arg_astring(const struct imap_arg *a, struct imap_string *out_r, const char **error_r)
{
	if (is_bare(a)) {
		if (!all_chars(a->str, a->len, imap_is_astring_char)) {
			*error_r = "Invalid character in an atom (quote the string)";
			return -1;
		}
		out_r->s = a->str;
		out_r->len = a->len;
		return 0;
	}
	return imap_arg_string(a, out_r, error_r);
}

int imap_arg_nstring(const struct imap_arg *a, struct imap_string *out_r, const char **error_r)
{
	if (a->type == IMAP_ARG_NIL) {
		out_r->s = NULL;
		out_r->len = 0;
		return 0;
	}
	return imap_arg_string(a, out_r, error_r);
}

int imap_arg_atom(const struct imap_arg *a, struct imap_string *out_r, const char **error_r)
{
	if (!is_bare(a)) {
		*error_r = "Expected an atom";
		return -1;
	}
	if (!all_chars(a->str, a->len, imap_is_atom_char)) {
		*error_r = "Invalid character in an atom";
		return -1;
	}
	out_r->s = a->str;
	out_r->len = a->len;
	return 0;
}

int imap_arg_number(const struct imap_arg *a, uint64_t max, bool nz, uint64_t *v_r, const char **error_r)
{
	if (!is_bare(a) || a->len == 0 || !all_chars(a->str, a->len, imap_is_digit)) {
		*error_r = "Expected a number";
		return -1;
	}
	if (nz && a->str[0] == '0') {
		*error_r = "Expected a non-zero number without leading zeros";
		return -1;
	}
	if (imap_parse_uint(a->str, a->len, max, false, v_r) < 0) {
		*error_r = "Number out of range";
		return -1;
	}
	return 0;
}

static bool mailbox_chars_ok(const char *s, size_t len)
{
	/* A pattern with CR or LF could match no name (names never hold
	 * them, see imap_mailbox_decode). */
	return !memchr(s, '\r', len) && !memchr(s, '\n', len);
}

int imap_arg_mailbox(const struct imap_arg *a, struct imap_string *out_r, const char **error_r)
{
	/* Syntax only: a literal may hold CR or LF, and such a name is
	 * refused (NO, not BAD) with the other invalid names by
	 * imap_mailbox_decode's check of control characters. */
	if (imap_arg_astring(a, out_r, error_r) < 0)
		return -1;
	/* RFC 3501 9 mailbox: every case variant of INBOX is INBOX. */
	if (imap_mailbox_is_inbox(out_r->s, out_r->len))
		out_r->s = "INBOX";
	return 0;
}

int imap_arg_list_mailbox(const struct imap_arg *a, struct imap_string *out_r, const char **error_r)
{
	if (is_bare(a)) {
		if (!all_chars(a->str, a->len, imap_is_list_char)) {
			*error_r = "Invalid character in a mailbox pattern";
			return -1;
		}
		out_r->s = a->str;
		out_r->len = a->len;
		return 0;
	}
	if (imap_arg_string(a, out_r, error_r) < 0)
		return -1;
	if (!mailbox_chars_ok(out_r->s, out_r->len)) {
		*error_r = "CR or LF in a mailbox pattern";
		return -1;
	}
	return 0;
}

/* ---- flags: RFC 3501 9 flag, flag-list; RFC 9051 2.3.2 ---- */

static const struct {
	const char *name;
	unsigned bit;
} sysflags[] = {
	{ "\\SEEN", IMAP_FLAG_SEEN },
	{ "\\ANSWERED", IMAP_FLAG_ANSWERED },
	{ "\\FLAGGED", IMAP_FLAG_FLAGGED },
	{ "\\DELETED", IMAP_FLAG_DELETED },
	{ "\\DRAFT", IMAP_FLAG_DRAFT },
};

void imap_flags_clear(struct imap_flags *f)
{
	free(f->keywords);
	f->keywords = NULL;
	f->nkeywords = 0;
	f->sys = 0;
}

static bool keyword_eq(const struct imap_string *a, const char *s, size_t len)
{
	if (a->len != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (imap_upper(a->s[i]) != imap_upper(s[i]))
			return false;
	return true;
}

static int flag_add(struct imap_flags *f, const struct imap_arg *a, size_t max, const char **error_r)
{
	if (!is_bare(a)) {
		*error_r = "Expected a flag";
		return -1;
	}
	if (a->len > 0 && a->str[0] == '\\') {
		for (size_t i = 0; i < sizeof(sysflags) / sizeof(sysflags[0]); i++) {
			if (imap_word_eq(a->str, a->len, sysflags[i].name)) {
				f->sys |= sysflags[i].bit;
				return 0;
			}
		}
		/* RFC 3501 9: flag "Does not include \Recent"; only the server
		 * sets it.  Other flag-extensions are none we implement. */
		*error_r = imap_word_eq(a->str, a->len, "\\RECENT") ? "\\Recent cannot be set by a client"
		                                                   : "Unknown system flag";
		return -1;
	}
	if (a->len == 0 || !all_chars(a->str, a->len, imap_is_atom_char)) {
		*error_r = "Invalid character in a keyword";
		return -1;
	}
	for (size_t i = 0; i < f->nkeywords; i++)
		if (keyword_eq(&f->keywords[i], a->str, a->len))
			return 0;
	if (f->nkeywords >= IMAP_FLAGS_MAX_KEYWORDS) {
		*error_r = "Too many keywords";
		return -1;
	}
	if (!f->keywords) {
		f->keywords = calloc(max < IMAP_FLAGS_MAX_KEYWORDS ? max : IMAP_FLAGS_MAX_KEYWORDS,
		                     sizeof(*f->keywords));
		if (!f->keywords) {
			*error_r = "Out of memory";
			return -1;
		}
	}
	f->keywords[f->nkeywords++] = (struct imap_string){ a->str, a->len };
	return 0;
}

int imap_flags_parse(const struct imap_arg *args, size_t count, struct imap_flags *out_r,
                     const char **error_r)
{
	memset(out_r, 0, sizeof(*out_r));
	if (count == 1 && args[0].type == IMAP_ARG_LIST) {
		/* flag-list = "(" [flag *(SP flag)] ")": may be empty */
		count = args[0].count;
		args = args[0].list;
	} else if (count == 0) {
		*error_r = "Expected a flag";
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		if (flag_add(out_r, &args[i], count, error_r) < 0) {
			imap_flags_clear(out_r);
			return -1;
		}
	}
	return 0;
}
