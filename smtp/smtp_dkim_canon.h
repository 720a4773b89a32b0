/* smtp/smtp_dkim_canon.h: DKIM "relaxed" canonicalization (RFC 6376 3.4.2
 * and 3.4.4) of a message that arrives in chunks of any size: the header
 * fields a signature covers are picked out and kept (bounded), the body is
 * canonicalized as it streams and handed on, never held.  Pure: no I/O and
 * no cryptography (smtp/smtp_dkim.c hashes what comes out), so it is unit-
 * tested byte by byte and fuzzed.
 *
 * Lines end at LF, with a CR right before it dropped, so a message stored
 * with CRLF (as smtp_data.c stores it) and one with bare LF canonicalize
 * alike: both go on the wire as CRLF. */
#ifndef POSTINO_SMTP_DKIM_CANON_H
#define POSTINO_SMTP_DKIM_CANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef void (*smtp_dkim_out_fn)(void *arg, const void *p, size_t n);

/* The body canonicalizer: what it emits is exactly the relaxed body. */
struct smtp_dkim_body {
	smtp_dkim_out_fn out;
	void *arg;
	uint64_t empty_lines; /* empty lines seen and not emitted yet */
	bool wsp;             /* a run of WSP seen and not emitted yet */
	bool cr;              /* a CR seen; a line end if LF follows */
	bool content;         /* the current line has emitted something */
	size_t olen;
	char obuf[2048];      /* output gathered so `out` is called in runs */
};

void smtp_dkim_body_init(struct smtp_dkim_body *b, smtp_dkim_out_fn out, void *arg);
void smtp_dkim_body_update(struct smtp_dkim_body *b, const void *p, size_t n);
/* Ends the body: a last line without its line end gets CRLF, empty lines
 * at the end are dropped (an empty body, or one of only empty lines, is
 * empty: RFC 6376 3.4.4 as corrected by erratum 1384). */
void smtp_dkim_body_finish(struct smtp_dkim_body *b);

/* One kept header field: its name's index in the wanted list, and its
 * bytes in `kept` (name, colon and value, folding line ends removed). */
struct smtp_dkim_field {
	unsigned name;
	size_t off, len;
};

#define SMTP_DKIM_NAME_MAX 64
#define SMTP_DKIM_FIELDS_MAX 256

/* The header section reader.  Fields whose name is not in `names` pass
 * through unstored, whatever their size; kept fields live in `kept`, whose
 * bound (`max`) makes a message with huge signed fields an error rather
 * than unbounded memory. */
struct smtp_dkim_headers {
	const char *const *names; /* lower case */
	unsigned nnames;
	struct buf kept;
	struct smtp_dkim_field fields[SMTP_DKIM_FIELDS_MAX];
	unsigned nfields;
	/* reader state */
	size_t line_len;          /* bytes of the current line so far */
	bool cr;                  /* a CR not yet known to end the line */
	bool open;                /* a field is open (continuation lines join it) */
	bool in_name;             /* still reading the open field's name */
	bool keep;                /* the open field is kept */
	bool done;                /* the empty line was read */
	size_t name_len;
	char name_buf[SMTP_DKIM_NAME_MAX + 1];
	size_t field_off;
	unsigned field_name;
};

void smtp_dkim_headers_init(struct smtp_dkim_headers *h, const char *const *names,
			    unsigned nnames, size_t max_kept);
/* Reads up to n bytes.  *used_r is how many belonged to the header section
 * (the empty line that ends it included); the rest is body.  Returns 1 once
 * the section has ended, 0 when it needs more, -1 when the kept fields
 * would exceed their bound. */
int smtp_dkim_headers_push(struct smtp_dkim_headers *h, const void *p, size_t n,
			   size_t *used_r);
/* The message ended inside the header section (no body): closes the last
 * field.  -1 as above. */
int smtp_dkim_headers_end(struct smtp_dkim_headers *h);
void smtp_dkim_headers_free(struct smtp_dkim_headers *h);

/* Appends the relaxed form of one header field (RFC 6376 3.4.2): name in
 * lower case, folding removed, WSP runs as one SP, no WSP at the end of the
 * value or around the colon, then CRLF when `crlf`.  `field` is "Name:
 * value" as kept above or as written (CRLF WSP folds allowed).  0, or -1
 * when `out` is full or `field` has no colon. */
int smtp_dkim_header_canon(const char *field, size_t len, bool crlf, struct buf *out);

#endif
