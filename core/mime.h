/* core/mime.h: the one MIME message parser (core_parse_lib, pure: libc and
 * core/buf.h only).
 *
 * Delivery and APPEND parse a message once with mime_message_parse(); the
 * tree (part offsets, Content-* fields, the ENVELOPE of the message and of
 * every embedded message/rfc822) is serialized with mime_message_serialize()
 * and stored beside the message, so FETCH and SEARCH never reparse a whole
 * message for its structure.  The IMAP layer then only calls the writers
 * here (ENVELOPE, BODY, BODYSTRUCTURE), looks parts up by section number and
 * reads BODY[n] / BODY[n.MIME] bytes at the recorded offsets.
 *
 * The parser never fails on content: folded headers, RFC 2047 words,
 * RFC 2231 parameters, nested multiparts, message/rfc822, missing or broken
 * boundaries, 8-bit and binary bodies, NUL bytes, bare LF line ends and a
 * missing final newline all give a structure a client can use.  Limits
 * (nesting, parts, header lines) degrade to opaque bodies, never to errors.
 * The only error is running out of memory.
 *
 * Offsets and lengths are octets within the parsed message.  For a part:
 *   header_off .. +header_len   BODY[n.MIME] (or BODY[HEADER] of a message):
 *                               the header fields and the blank line after
 *                               them, when there is one;
 *   body_off .. +body_len       BODY[n] (or BODY[TEXT]); body_off is always
 *                               header_off + header_len.
 * Inside a multipart the line break before a boundary delimiter line belongs
 * to the delimiter (RFC 2046 5.1.1), so it is in neither part.
 *
 * Strings (struct mime_str) are binary safe and also NUL-terminated; a NULL
 * `data` means absent (IMAP NIL), which differs from present but empty.
 * Every string and part belongs to the struct mime_message and lives until
 * mime_message_free(). */
#ifndef POSTINO_MIME_H
#define POSTINO_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct mime_arena;

enum mime_err {
	MIME_OK = 0,
	MIME_ERR_NOMEM = -1,     /* out of memory, or an output buffer's max */
	MIME_ERR_CORRUPT = -2,   /* serialized data that does not decode */
	MIME_ERR_VERSION = -3,   /* serialized by an unknown format version */
	MIME_ERR_BINARY = -4,    /* NUL octets where no transfer encoding can
				  * carry them (a header, an encoded body) */
};

/* Hard ceiling on max_depth, which bounds the parser's recursion. */
#define MIME_DEPTH_MAX 100

/* Zero fields take the defaults in brackets. */
struct mime_limits {
	unsigned max_depth;        /* nested multiparts and embedded messages [50] */
	unsigned max_parts;        /* parts in the whole tree [10000] */
	unsigned max_header_lines; /* lines interpreted per header; the rest is
				    * kept but not looked at [10000] */
	unsigned max_addresses;    /* entries kept per address list [10000] */
	unsigned max_params;       /* parameters kept per Content-Type or
				    * Content-Disposition field [128] */
};

struct mime_str {
	const char *data;          /* NULL: absent */
	size_t len;
};

/* A Content-Type or Content-Disposition parameter.  RFC 2231
 * continuations (name*0, name*1*, ...) are joined into one parameter named
 * after their base.  An extended value (name*= or name*0*=) has `charset`
 * set (possibly empty) and `value` percent-decoded: converted to UTF-8, and
 * `charset` then "utf-8", when the charset is UTF-8, US-ASCII or ISO-8859-1
 * (or windows-1252); left as raw bytes with the charset as sent otherwise.
 * Plain values are unquoted but otherwise as sent, RFC 2047 words included
 * (see mime_param_decode). */
struct mime_param {
	struct mime_str name;      /* lower-cased, without the RFC 2231 '*' suffix */
	struct mime_str value;
	struct mime_str charset;   /* RFC 2231 extended values only */
	struct mime_str language;
};

/* An RFC 3501 7.4.2 address structure.  A group start has host NIL and the
 * group's name in mailbox; a group end has both NIL.  The display name is
 * as sent (RFC 2047 words are left for the client), unquoted and unfolded;
 * when an address has no display name, a comment after it is used.
 * mailbox is the RFC 5322 local-part as written (a quoted-string local
 * part keeps its quotes), host the domain; a missing domain gives
 * ".MISSING-HOST-NAME." so that no mailbox looks like a group marker. */
struct mime_address {
	struct mime_str name, route, mailbox, host;
};

struct mime_address_list {
	struct mime_address *addrs;
	size_t count;              /* 0: the field was absent or empty (NIL) */
};

/* RFC 3501 7.4.2 ENVELOPE, as found in the header: values are unfolded,
 * with surrounding white space removed, otherwise raw.  sender and reply_to
 * are what the header says; the writer applies the RFC's default (from). */
struct mime_envelope {
	struct mime_str date, subject, in_reply_to, message_id;
	struct mime_address_list from, sender, reply_to, to, cc, bcc;
};

enum mime_part_flag {
	MIME_PART_MULTIPART = 1 << 0,   /* children are the body parts */
	MIME_PART_MESSAGE = 1 << 1,     /* message/rfc822 or message/global:
					 * the one child is the embedded message */
	MIME_PART_DEFAULT_TYPE = 1 << 2,/* no usable Content-Type: the RFC 2045
					 * 5.2 (or RFC 2046 5.1.5 digest) default */
	MIME_PART_NO_BLANK_LINE = 1 << 3,/* the header was not ended by an empty line */
	MIME_PART_OPAQUE = 1 << 4,      /* a multipart or message that a limit, a
					 * missing boundary or an encoded
					 * message body kept us from looking
					 * into: typed as a leaf (see below) */
	MIME_PART_NO_CLOSE = 1 << 5,    /* multipart: no close delimiter */
	MIME_PART_TRUNCATED = 1 << 6,   /* multipart: parts after max_parts
					 * were left in the epilogue */
	MIME_PART_8BIT = 1 << 7,        /* leaf body has octets >= 0x80 */
	MIME_PART_NUL = 1 << 8,         /* leaf body has NUL octets */
	MIME_PART_HEADER_LIMIT = 1 << 9,/* header lines past max_header_lines */
};

/* One body part.  type, subtype, parameter names, encoding and disposition
 * are lower-cased (they are case-insensitive, RFC 2045 5.1); other values
 * are unfolded and as sent.
 *
 * Types are normalized so that every consumer sees the same usable tree:
 * a missing or invalid Content-Type is text/plain (message/rfc822 inside
 * multipart/digest); a text type without a charset gets charset=US-ASCII
 * (RFC 2046 4.1.2); a multipart without a boundary, or whose boundary never
 * starts a part, is text/plain; a multipart or message part past a limit, or a
 * message part with an encoded body (forbidden by RFC 2046 5.2.1), is
 * application/octet-stream.  Those get MIME_PART_OPAQUE. */
struct mime_part {
	struct mime_part *parent, *children, *next;
	size_t nchildren;
	unsigned flags;                 /* enum mime_part_flag */

	size_t header_off, header_len;
	size_t body_off, body_len;
	size_t body_lines;              /* lines of the body, an unterminated
					 * last line included (not for multipart) */

	struct mime_str type, subtype;
	struct mime_param *params;
	size_t nparams;
	struct mime_str id, description, encoding, md5, location;
	struct mime_str disposition;    /* absent when no Content-Disposition */
	struct mime_param *disp_params;
	size_t ndisp_params;
	struct mime_str *languages;     /* Content-Language, one per tag */
	size_t nlanguages;

	/* Set on the root part and on each embedded message's root: the
	 * envelope of that message. */
	struct mime_envelope *envelope;
};

struct mime_message {
	struct mime_part *root;         /* the message itself */
	size_t size;                    /* length of the parsed message */
	size_t nparts;
	struct mime_arena *arena;       /* private: owns parts and strings */
};

/* ---- parsing ---- */

/* Parses msg[0..len) (CRLF or bare LF line ends; any octets).  lim may be
 * NULL for the defaults.  MIME_OK, or MIME_ERR_NOMEM. */
int mime_message_parse(const char *msg, size_t len, const struct mime_limits *lim,
		       struct mime_message **msg_r);
void mime_message_free(struct mime_message **msg);
/* Where a message's own header ends, as mime_message_parse finds it
 * (root->header_len: up to and including the first empty line, RFC 5322
 * 2.1), for a reader that holds only the start of the message.  Scans
 * msg[*pos_io, len), *pos_io being a line start (0 at first): true with
 * *pos_io = the header's length once the empty line is in; false with
 * *pos_io = the start of the last, incomplete line, to pass back with
 * more of the message.  At the end of the message, a header without an
 * empty line is the whole message. */
bool mime_header_end(const char *msg, size_t len, size_t *pos_io);

/* ---- serialization (the form stored beside the message) ---- */

/* Appends the versioned binary form of the tree to out. */
int mime_message_serialize(const struct mime_message *msg, struct buf *out);
/* Rebuilds a tree.  Every length is checked against the input and every
 * part's offsets against the recorded message size and the part's parent,
 * so bad input gives MIME_ERR_CORRUPT (or _VERSION), never a read out of
 * bounds.  The caller should still check msg->size against the stored
 * message before reading parts. */
int mime_message_deserialize(const void *data, size_t len, struct mime_message **msg_r);

/* ---- navigation ---- */

/* The part an IMAP section number names (RFC 3501 6.4.5): "1.2.3" is
 * {1, 2, 3}.  n == 0 gives the root.  A non-multipart message has only
 * part 1 (the message itself); the numbers after a message/rfc822 part
 * address its embedded message.  NULL when there is no such part. */
const struct mime_part *mime_part_find(const struct mime_part *root,
				       const uint32_t *section, size_t n);
/* Pre-order walk of the subtree at root: pass NULL first; NULL at the end. */
const struct mime_part *mime_part_next(const struct mime_part *root,
				       const struct mime_part *p);
/* The embedded message of a MIME_PART_MESSAGE part (its header is
 * BODY[n.HEADER], its body BODY[n.TEXT]), or NULL. */
const struct mime_part *mime_part_message(const struct mime_part *part);
bool mime_part_is(const struct mime_part *part, const char *type, const char *subtype);

/* First parameter named `name` (case-insensitive); of two, the RFC 2231
 * extended one wins.  NULL if none. */
const struct mime_param *mime_param_find(const struct mime_param *params, size_t n,
					 const char *name);
/* The parameter's value as UTF-8 when it can be: an extended value as
 * stored, a plain one with RFC 2047 words decoded (mailers put them in
 * filenames).  Appends to out; 0 or MIME_ERR_NOMEM. */
int mime_param_decode(const struct mime_param *param, struct buf *out);
/* Content-Disposition filename, else Content-Type name, decoded as above.
 * 1 if found, 0 if not, MIME_ERR_NOMEM. */
int mime_part_filename(const struct mime_part *part, struct buf *out);

/* ---- header fields (for HEADER.FIELDS and SEARCH HEADER) ---- */

struct mime_header_field {
	const char *name;          /* name_len 0: a line that is no field */
	size_t name_len;
	const char *value;         /* raw: after the colon, folds included, */
	size_t value_len;          /* the final line break excluded */
	size_t off, len;           /* the whole field in the header block,
				    * line breaks included */
};

/* Iterates the fields of the header block hdr[0..len); start with *pos = 0.
 * 1 with a field, 0 at the blank line or the end. */
int mime_header_next(const char *hdr, size_t len, size_t *pos, struct mime_header_field *field_r);
/* Unfolds (RFC 5322 2.2.3) and trims value into out. */
int mime_header_unfold(const char *value, size_t len, struct buf *out);
/* The first field `name`, unfolded, into out: 1, 0 if absent, or
 * MIME_ERR_NOMEM. */
int mime_header_get(const char *hdr, size_t len, const char *name, struct buf *out);

/* ---- decoding for SEARCH ---- */

/* Unfolds header text and decodes RFC 2047 encoded words (B and Q; joined
 * when adjacent) to UTF-8 for UTF-8, US-ASCII, ISO-8859-1 and windows-1252;
 * other charsets are decoded to their raw octets; malformed words stay as
 * they are.  Appends to out. */
int mime_header_decode(const char *s, size_t len, struct buf *out);
/* Appends s converted from charset to UTF-8.  1 when converted (or already
 * UTF-8/ASCII), 0 when the charset is unknown and the raw octets were
 * appended, MIME_ERR_NOMEM. */
int mime_charset_to_utf8(const char *charset, size_t charset_len, const char *s, size_t len,
			 struct buf *out);
/* Undoes a Content-Transfer-Encoding (base64, quoted-printable; others are
 * copied), leniently.  Appends to out. */
int mime_cte_decode(const char *encoding, size_t encoding_len, const char *s, size_t len,
		    struct buf *out);
/* The body of a non-multipart part, transfer-decoded, and for a text type
 * converted to UTF-8 where the charset allows.  msg is the message the tree
 * was parsed from; MIME_ERR_CORRUPT if the part is not inside it. */
int mime_part_decode(const char *msg, size_t msg_len, const struct mime_part *part,
		     struct buf *out);
/* ---- preview text (RFC 8970, core/mime_preview.c) ---- */

/* At most this many characters (RFC 8970 3.1: no more than 256), made
 * from at most MIME_PREVIEW_READ octets of the part's body. */
#define MIME_PREVIEW_CHARS 256
#define MIME_PREVIEW_READ (16 * 1024)
/* The part the preview is made from: the first text/plain body that is no
 * attachment and not inside an attached message, else the first such
 * text/html; NULL when there is none (the preview is then empty). */
const struct mime_part *mime_preview_part(const struct mime_message *msg);
/* Appends the preview text of part made from body[0..len), the start of
 * its body (cut: shorter than the body, MIME_PREVIEW_READ): decoded,
 * UTF-8 (octets a charset we cannot convert leaves invalid are dropped),
 * HTML reduced to its text, controls and whitespace runs one space,
 * trimmed, at most MIME_PREVIEW_CHARS characters.  0 or MIME_ERR_NOMEM. */
int mime_preview_text(const struct mime_part *part, const char *body, size_t len, bool cut,
		      struct buf *out);

/* The addresses of an address-list field value (From, To, Cc, Bcc; raw,
 * folds included), parsed as for ENVELOPE and written one per entry as
 * "name <route:mailbox@host>" with ", " between, the display names
 * RFC 2047-decoded: what SEARCH FROM and the like compare besides the raw
 * text, so that comments, quoting and folding inside an address do not hide
 * it.  Appends to out; 0 or MIME_ERR_NOMEM. */
int mime_address_list_text(const char *value, size_t len, struct buf *out);
/* The first address of an address-list field value (raw, folds
 * included), as ENVELOPE lists it: a mailbox, or a group's start, whose
 * name is then the local part (RFC 3501 7.4.2 group syntax) with no
 * domain.  Its display name (as sent; RFC 2047 words left), local part
 * and domain (empty for a missing domain) are appended to the buffers that
 * are not NULL.  What SORT's FROM/TO/CC and DISPLAYFROM/DISPLAYTO keys
 * need (RFC 5256 3, RFC 5957; Dovecot and imaptest's sort-addresses and
 * sort-display-to order a group by its name).  1 with an address, 0
 * without, MIME_ERR_NOMEM. */
int mime_address_first(const char *value, size_t len, struct buf *name, struct buf *mailbox,
		       struct buf *host);
/* Case-insensitive substring test: ASCII letters, and Latin-1 letters in
 * UTF-8 (U+00C0..U+00DE).  An empty needle matches. */
bool mime_search_ci(const char *hay, size_t hay_len, const char *needle, size_t needle_len);

/* ---- IMAP output (RFC 3501 7.4.2, RFC 9051 7.5.2) ---- */

enum mime_write_flag {
	MIME_WRITE_EXTENDED = 1 << 0,   /* BODYSTRUCTURE: with extension data */
	MIME_WRITE_GLOBAL = 1 << 1,     /* IMAP4rev2: message/global carries an
					 * envelope and body like message/rfc822;
					 * without it message/global is written
					 * as a basic part (IMAP4rev1 grammar) */
};

/* A string as a quoted string, or as a literal when it holds CR, LF, '"',
 * '\', 8-bit octets or is long (RFC 2683 3.2.1.5); NUL octets, which IMAP
 * cannot carry, are dropped.  The nstring form writes NIL for absent. */
int mime_imap_string_write(struct buf *out, const char *s, size_t len);
int mime_imap_nstring_write(struct buf *out, const struct mime_str *s);
/* ENVELOPE's parenthesized list.  env NULL writes an all-NIL envelope. */
int mime_envelope_write(const struct mime_envelope *env, struct buf *out);
/* BODY (flags 0) or BODYSTRUCTURE (MIME_WRITE_EXTENDED) of a part:
 * normally msg->root. */
int mime_bodystructure_write(const struct mime_part *part, unsigned flags, struct buf *out);

/* ---- structure at delivery / APPEND ---- */

/* RFC 3516 4.3 / RFC 9051 6.4.5: a message holding NUL octets (from a
 * literal8 APPEND) rewritten so that only BINARY[] ever sees them: each
 * leaf part whose unencoded body holds NUL is base64-encoded and its
 * Content-Transfer-Encoding field replaced (core/mime_binary.c).  0 when
 * msg holds no NUL (out untouched), 1 with the rewritten message appended
 * to out, MIME_ERR_BINARY when NUL octets would remain (in a header, in an
 * already encoded body), or MIME_ERR_NOMEM. */
int mime_binary_encode(const char *msg, size_t len, struct buf *out);
/* RFC 3516 4.2 / RFC 5524 3.1 BINARY of a message/rfc822 or multipart
 * part: its body (data holds octets [data_off, data_off + len) of the
 * message the tree was parsed from, the part's body among them) with every
 * nested base64 or quoted-printable leaf decoded and its
 * Content-Transfer-Encoding field replaced by "binary"; other leaves (the
 * identity encodings, unknown ones) as stored.  Appended to out.
 * MIME_OK, MIME_ERR_CORRUPT (the body is not inside data), MIME_ERR_NOMEM. */
int mime_binary_unencode(const char *data, size_t data_off, size_t len,
			 const struct mime_part *part, struct buf *out);
/* Whether some part below `part` has a body mime_binary_unencode decodes. */
bool mime_binary_nested_encoded(const struct mime_part *part);

/* Parses msg with the default limits and appends the serialized tree to
 * out (the form store_delivery.structure expects).  Returns 0 or
 * MIME_ERR_NOMEM; a broken message still yields a usable structure. */
int mime_structure_build(const char *msg, size_t len, struct buf *out);

/* ---- core/mime_date.c ---- */

/* The index after the CFWS (white space and nested comments, RFC 5322
 * 3.2.2) at s[i]. */
size_t mime_cfws_end(const char *s, size_t len, size_t i);

/* A Date: field's date-time (RFC 5322 3.3 and the obsolete forms of 4.3). */
struct mime_date {
	int year, month, day;        /* the date as written */
	bool more;                   /* something other than CFWS follows it */
	bool hm;                     /* a time hh:mm (00-23, 00-59) follows */
	bool time;                   /* and it is whole: its seconds (00-60) too */
	int hour, min, sec;          /* with time */
	long zone;                   /* with time: seconds east of UTC, 0 unknown */
};
/* 0 when s starts with a valid date (d_r filled, the time as far as it is
 * valid), -1 otherwise. */
int mime_date_parse(const char *s, size_t len, struct mime_date *d_r);
/* Days from 1970-01-01 to a civil date (proleptic Gregorian). */
int64_t mime_date_days(int year, int month, int day);

#endif
