/* core/mime_private.h: what the files of the MIME parser share and nobody
 * else needs: the arena that owns a tree, small character helpers, and the
 * entry points between the files:
 *   mime.c          arena, the structure parser (lines, boundaries,
 *                   recursion, limits), navigation;
 *   mime_header.c   header fields, Content-* fields, RFC 2231 parameters,
 *                   the envelope fields;
 *   mime_addr.c     RFC 5322 3.4 address lists;
 *   mime_decode.c   RFC 2047 words, charsets, transfer encodings, search;
 *   mime_serial.c   the stored binary form;
 *   mime_imap.c     ENVELOPE, BODY and BODYSTRUCTURE output. */
#ifndef POSTINO_MIME_PRIVATE_H
#define POSTINO_MIME_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/mime.h"

struct buf;

#define MIME_DEFAULT_DEPTH 50
#define MIME_DEFAULT_PARTS 10000
#define MIME_DEFAULT_HEADER_LINES 10000
#define MIME_DEFAULT_ADDRESSES 10000
#define MIME_DEFAULT_PARAMS 128

/* What the host of an address without a domain is written as (the UW IMAP
 * convention clients know); never NIL, which would mean a group marker. */
#define MIME_MISSING_HOST ".MISSING-HOST-NAME."

/* ---- arena: every part and string of one tree, freed at once ---- */
struct mime_arena *mime_arena_new(void);
void mime_arena_free(struct mime_arena **arena);
/* Zeroed memory, aligned for any type; NULL when out of memory. */
void *mime_arena_alloc(struct mime_arena *arena, size_t size);
/* n elements of size, overflow-checked; n == 0 gives NULL without error,
 * so check n before treating NULL as out of memory. */
void *mime_arena_array(struct mime_arena *arena, size_t n, size_t size);
/* A NUL-terminated copy in dst (present even when len is 0); 0 or -1. */
int mime_str_set(struct mime_arena *arena, struct mime_str *dst, const char *s, size_t len);
int mime_str_set_lower(struct mime_arena *arena, struct mime_str *dst, const char *s, size_t len);

/* ---- characters ---- */
static inline bool mime_is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static inline unsigned char mime_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static inline unsigned char mime_upper(unsigned char c)
{
	return c >= 'a' && c <= 'z' ? (unsigned char)(c - 32) : c;
}

/* s[0..len) equals the NUL-terminated lit, ignoring ASCII case. */
bool mime_ci_eq(const char *s, size_t len, const char *lit);
/* -1 if c is no hex digit. */
int mime_hex_value(unsigned char c);

/* ---- mime_header.c ---- */
enum mime_hdr_ctx {
	MIME_CTX_DIGEST = 1 << 0,    /* default type message/rfc822 (RFC 2046 5.1.5) */
	MIME_CTX_MESSAGE = 1 << 1,   /* the header of a message: fill the envelope */
};
/* Interprets hdr[0..len), the header of part: sets its Content-* fields
 * (with the defaults) and, for MIME_CTX_MESSAGE, part->envelope.
 * 0, or -1 when out of memory. */
int mime_part_header_parse(struct mime_arena *arena, const struct mime_limits *lim,
			   const char *hdr, size_t len, unsigned ctx, struct mime_part *part);
/* Rewrites the type of a part that cannot be looked into. */
int mime_part_retype(struct mime_arena *arena, struct mime_part *part, const char *type,
		     const char *subtype);

/* ---- mime_addr.c ---- */
/* Parses an unfolded address-list value into list (strings in arena);
 * at most max entries, a closing group marker aside.  0 or -1. */
int mime_address_list_parse(struct mime_arena *arena, const char *s, size_t len, unsigned max,
			    struct mime_address_list *list_r);

#endif
