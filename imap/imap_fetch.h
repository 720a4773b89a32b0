/* imap/imap_fetch.h: private to FETCH (imap_cmd_fetch.c, imap_fetch_body.c,
 * imap_fetch_part.c, imap_fetch_item.c) and NOTIFY's unsolicited FETCH
 * (imap_notify_fetch.c).
 *
 * imap_fetch_part.c is pure (core/mime.h and core/buf.h only) so that the
 * section arithmetic is unit-tested without a store: where a section lies in
 * a message, partial ranges, HEADER.FIELDS filtering, BINARY's transfer
 * encodings and the INTERNALDATE format.  imap_fetch_body.c reads the
 * message's structure and body bytes from the store and writes one body
 * item, streaming large ones. */
#ifndef POSTINO_IMAP_FETCH_H
#define POSTINO_IMAP_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "core/mime.h"
#include "imap/imap_parse.h"
#include "storage/storage.h"

struct buf;
struct imap_cmd;
struct imap_session;
struct store_msg;

/* ---- imap_fetch_part.c (pure) ---- */

enum imap_fetch_loc_kind {
	IMAP_LOC_NIL,        /* no such part: the item's value is NIL */
	IMAP_LOC_RANGE,      /* bytes [off, off + len) of the message */
	IMAP_LOC_FILTER,     /* HEADER.FIELDS(.NOT): filter the header at [off, off + len) */
};

struct imap_fetch_loc {
	enum imap_fetch_loc_kind kind;
	uint64_t off, len;
	const struct mime_part *part;   /* the part named (BINARY: its CTE) */
};

/* Where BODY[section] of a message lies (RFC 3501 6.4.5, RFC 9051 6.4.5).
 * msg may be NULL only for BODY[] (no parts, no text), which is the whole
 * message of `size` octets. */
void imap_fetch_locate(const struct mime_message *msg, uint64_t size,
		       const struct imap_section *sec, struct imap_fetch_loc *loc_r);

/* RFC 3501 6.4.5 partial: the octets of [0, total) that <off.count> names
 * (none when off is past the end). */
void imap_fetch_partial(uint64_t total, bool partial, uint64_t off, uint64_t count,
			uint64_t *start_r, uint64_t *len_r);

/* HEADER.FIELDS (not_ false) or HEADER.FIELDS.NOT (true): the fields of the
 * header block hdr[0..len) whose names are (not) in fields, in their order,
 * followed by the blank line (RFC 3501 6.4.5: the subset still ends the
 * header).  Names compare case-insensitively.  0 or -1 (out full). */
int imap_fetch_header_filter(const char *hdr, size_t len, const struct imap_string *fields,
			     size_t nfields, bool not_, struct buf *out);

/* RFC 3516 4.3: whether a Content-Transfer-Encoding can be undone (absent,
 * 7bit, 8bit, binary, base64, quoted-printable). */
bool imap_fetch_cte_known(const struct mime_str *encoding);

/* RFC 3501 9 date-time: "dd-Mon-yyyy hh:mm:ss +0000" (day space-padded)
 * with the quotes, in UTC. */
int imap_fetch_internaldate_write(struct buf *out, int64_t t);

/* Whether att needs the message's structure (everything but BODY[],
 * RFC822 and the non-body items). */
bool imap_fetch_att_needs_structure(const struct imap_fetch_att *att);
/* False when att is BINARY(.SIZE) of a part whose transfer encoding cannot
 * be undone (RFC 3516 4.3: the FETCH fails with NO [UNKNOWN-CTE]). */
bool imap_fetch_binary_ok(const struct mime_message *msg, uint64_t size,
			  const struct imap_fetch_att *att);

/* ---- imap_fetch_body.c ---- */

/* The MIME structure of message m, whose content c is open: the stored
 * one (data, len, read by store_content_open; taken over and freed here),
 * or, when there is none or it does not fit, parsed now from the content
 * and stored for next time (DESIGN.md: parsed once).  Store errors as
 * they are. */
int imap_fetch_structure(struct imap_session *s, const struct store_msg *m,
			 const struct store_content *c, void *data, size_t len,
			 struct mime_message **msg_r);

/* A literal being streamed from the store: [pos, end) of an open content. */
struct imap_fetch_stream {
	struct store_content content;   /* a copy; the FETCH holds the pin */
	uint64_t pos, end;
	char *chunk;                /* IMAP_STREAM_CHUNK bytes, allocated once */
};

/* Write the first part of the literal ({n}CRLF is already out): returns 1
 * when more is owed (call again once output drains), 0 when complete, or a
 * store error. */
int imap_fetch_stream_pump(struct imap_session *s, struct imap_fetch_stream *st);

/* A body item's value (imap_fetch_body_value). */
enum imap_fetch_value_kind {
	IMAP_VALUE_NIL,
	IMAP_VALUE_MEM,      /* mem holds the octets */
	IMAP_VALUE_STREAM,   /* content [off, off + size) */
	IMAP_VALUE_SIZE,     /* BINARY.SIZE: size is the number */
};
struct imap_fetch_value {
	enum imap_fetch_value_kind kind;
	struct buf mem;             /* reused across items; buf_free when done */
	uint64_t off, size;
	bool literal8;              /* RFC 3516 4.3: data with NUL goes as ~{n} */
};
/* RFC 3516 4.3: BINARY of a part whose transfer encoding is unknown. */
#define IMAP_FETCH_ERR_UNKNOWN_CTE (-100)

/* The value of a body item (BODY[...], RFC822, RFC822.HEADER, RFC822.TEXT,
 * BINARY[...], BINARY.SIZE[...]) of message m, content c (open), with
 * structure mime (NULL
 * only when the item is BODY[]/RFC822).  Partial ranges are applied.
 * STORE_OK, a store error, or IMAP_FETCH_ERR_UNKNOWN_CTE. */
int imap_fetch_body_value(struct imap_session *s, const struct store_msg *m,
			  const struct store_content *c, const struct mime_message *mime,
			  const struct imap_fetch_att *att, struct imap_fetch_value *v);

/* Whether att's value is cut from the message's own header alone
 * (BODY[HEADER], BODY[HEADER.FIELDS (...)], .NOT, RFC822.HEADER), so that
 * reading the start of the content up to its empty line is enough: no
 * structure, no open (imap_cmd_fetch.c). */
bool imap_fetch_att_head_only(const struct imap_fetch_att *att);
/* Such an item's value from the header hdr[0, len) (the message's bytes
 * up to mime_header_end), partial range applied.  STORE_OK or
 * STORE_ERR_TEMP. */
int imap_fetch_head_value(const char *hdr, size_t len, const struct imap_fetch_att *att,
			  struct imap_fetch_value *v);

/* The headers of a FETCH window, for a FETCH whose body items are all
 * head-only (imap_fetch_heads.c).  IMAP_FETCH_HEADS_N: the most entries
 * of a window. */
#define IMAP_FETCH_HEADS_N 256
#define IMAP_FETCH_HEAD_MAX (64u * 1024)      /* longer: read the usual way */
#define IMAP_FETCH_HEADS_BATCH (256u * 1024)  /* octets read per batch */
enum imap_fetch_head_state {
	IMAP_HEAD_UNREAD = 0, IMAP_HEAD_PARTIAL, IMAP_HEAD_OK, IMAP_HEAD_LONG, IMAP_HEAD_GONE,
	IMAP_HEAD_ERROR
};
struct imap_fetch_head {
	uint64_t start;              /* in data */
	size_t len, scan;
	int state;                   /* enum imap_fetch_head_state */
	int rc;                      /* IMAP_HEAD_ERROR's store error */
};
struct imap_fetch_heads {
	struct buf data;
	size_t n;
	struct imap_fetch_head e[IMAP_FETCH_HEADS_N];
};
/* A new window of n entries (at most IMAP_FETCH_HEADS_N). */
void imap_fetch_heads_reset(struct imap_fetch_heads *h, size_t n);
void imap_fetch_heads_free(struct imap_fetch_heads *h);
/* The header of window entry k (win[k], found[k]), reading a batch from k
 * on when it is not read yet.  IMAP_HEAD_OK with *hdr_r, *len_r (valid
 * until the next call); IMAP_HEAD_GONE (expunged: its content is gone);
 * IMAP_HEAD_LONG (read it the usual way); or a store error (< 0). */
int imap_fetch_heads_get(struct store *store, struct imap_fetch_heads *h,
			 const struct store_msg *win, const bool *found, size_t k,
			 const char **hdr_r, size_t *len_r);

/* ---- imap_fetch_item.c ---- */

/* Appends "NAME value" for an item taken from the record m and the
 * structure mime (ENVELOPE, BODY, BODYSTRUCTURE need it; the others take
 * NULL): FLAGS, INTERNALDATE, RFC822.SIZE, ENVELOPE, BODY, BODYSTRUCTURE,
 * UID, MODSEQ, EMAILID, THREADID, SAVEDATE.  0, or -1 when out of memory
 * or for any other item (the caller writes those). */
int imap_fetch_item_write(struct imap_session *s, const struct store_msg *m,
			  const struct mime_message *mime, const struct imap_fetch_att *a,
			  struct buf *b);
/* "{n}" CRLF, or "~{n}" CRLF for a literal8 (RFC 3516 4.3).  0 or -1. */
int imap_fetch_literal_head_write(struct buf *b, bool literal8, uint64_t n);

/* PREVIEW (RFC 8970): the preview text of message m (content c, open)
 * with structure mime,
 * UTF-8, appended to out (nothing when the message has no text part).
 * Made on demand from at most MIME_PREVIEW_READ octets of one part, so it
 * costs the same for any message size (core/mime_preview.c).  STORE_OK or
 * a store error. */
int imap_fetch_preview(struct imap_session *s, const struct store_msg *m,
		       const struct store_content *c, const struct mime_message *mime,
		       struct buf *out);
#endif
