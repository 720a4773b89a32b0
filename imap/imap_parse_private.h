/* imap/imap_parse_private.h: character classes and small helpers shared by
 * the imap_parse_*.c files.  Not part of the public API. */
#ifndef POSTINO_IMAP_PARSE_PRIVATE_H
#define POSTINO_IMAP_PARSE_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap_parse.h"

/* RFC 3501 9: atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
 * quoted-specials / resp-specials; CHAR is 7-bit. */
static inline bool imap_is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	switch (c) {
	case '(': case ')': case '{': case '%': case '*': case '"': case '\\': case ']':
		return false;
	default:
		return true;
	}
}

/* ASTRING-CHAR = ATOM-CHAR / resp-specials */
static inline bool imap_is_astring_char(unsigned char c)
{
	return c == ']' || imap_is_atom_char(c);
}

/* tag = 1*<any ASTRING-CHAR except "+"> */
static inline bool imap_is_tag_char(unsigned char c)
{
	return c != '+' && imap_is_astring_char(c);
}

/* list-char = ATOM-CHAR / list-wildcards / resp-specials */
static inline bool imap_is_list_char(unsigned char c)
{
	return c == '%' || c == '*' || imap_is_astring_char(c);
}

static inline bool imap_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline char imap_upper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* s[0..len) equals the upper-case keyword `upper`, ignoring ASCII case. */
bool imap_word_eq(const char *s, size_t len, const char *upper);

/* Parse 1*DIGIT in s[0..len) into *v_r; -1 if empty, not all digits or
 * above max.  nz refuses 0 and a leading zero (nz-number = digit-nz *DIGIT). */
int imap_parse_uint(const char *s, size_t len, uint64_t max, bool nz, uint64_t *v_r);

/* Largest mod-sequence-value (RFC 7162 7: 63-bit). */
#define IMAP_MODSEQ_MAX UINT64_C(9223372036854775807)

#endif
