/* smtp/smtp_7bit.h: the 8-bit to 7-bit conversion of a MIME message for a
 * server without 8BITMIME (RFC 6152 3, RFC 1652 3: no loss of information,
 * the result valid 7bit MIME).  Pure (smtp_parse_lib): the message comes
 * through a read callback and the MIME structure core's parser stored
 * beside it (core/mime.h serialized form), never whole in memory.
 *
 * What changes: every leaf part whose body is 8bit (declared 8bit or
 * binary, or undeclared/7bit holding octets >= 0x80) is re-encoded as
 * quoted-printable or base64, whichever is shorter (QP for text that is
 * mostly ASCII, base64 for mostly 8-bit text and binary data), and its
 * Content-Transfer-Encoding field replaced; a multipart or message part
 * labelled 8bit/binary is relabelled 7bit (RFC 2046 5.2.1: message/rfc822
 * is never encoded, its content is converted inside); a top-level header
 * without MIME-Version gets one, since the new field means nothing
 * without it (RFC 2045 4).  Everything else (headers, boundaries,
 * preamble, epilogue, 7-bit and encoded bodies) is copied as it is, so it
 * must already be 7-bit: 8-bit header fields cannot be converted, and such
 * a message is refused with a reason (the caller bounces it 5.6.3).
 *
 * Two passes: smtp_7bit_plan reads the message once to check it, choose
 * each part's encoding and compute the exact converted size (for SIZE=
 * and the client's length check); readers then produce the converted
 * bytes in chunks, each with its own position, so several connections and
 * the DKIM signer can read one plan at once. */
#ifndef POSTINO_SMTP_7BIT_H
#define POSTINO_SMTP_7BIT_H

#include <stddef.h>
#include <stdint.h>

struct buf;

enum smtp_7bit_rc {
	SMTP_7BIT_OK = 0,
	SMTP_7BIT_REFUSED = 1,    /* cannot be converted: why_r says why */
	SMTP_7BIT_EREAD = -1,     /* the read callback failed or the message is short */
	SMTP_7BIT_ENOMEM = -2,
	SMTP_7BIT_BUSY = 2,       /* private: the read callback said "not now" */
};

/* Reads bytes [off, off+cap) of the stored message; *got 0 at its end.
 * 0, -1 on error, or 1 when the bytes cannot be had now without waiting
 * (nothing read; the caller is told when to read again): the signature
 * of smtp_client_msg.read.  Planning takes 1 as an error. */
typedef int (*smtp_7bit_read_fn)(void *arg, uint64_t off, void *buf, size_t cap, size_t *got);

struct smtp_7bit;
struct smtp_7bit_reader;

/* Plans the conversion of the `size`-octet message read through read/arg
 * (read once, start to end) whose serialized structure is
 * structure[0..structure_len).  SMTP_7BIT_OK with *plan_r set; REFUSED
 * with the reason in why_r (a structure that does not describe the
 * message counts as a refusal too); or an error. */
int smtp_7bit_plan(const void *structure, size_t structure_len, uint64_t size,
		   smtp_7bit_read_fn read, void *arg, struct smtp_7bit **plan_r, char *why_r,
		   size_t why_cap);
/* The converted message's exact length. */
uint64_t smtp_7bit_size(const struct smtp_7bit *plan);
/* How many parts get a new encoding (0: the message was 7-bit after all,
 * and the converted form is the message as it is, relabelled). */
size_t smtp_7bit_parts(const struct smtp_7bit *plan);
void smtp_7bit_free(struct smtp_7bit **plan);

/* A reader of the converted form, reading the message through read/arg
 * (which must give the same bytes the plan read).  The plan must outlive
 * it.  NULL when memory is short. */
struct smtp_7bit_reader *smtp_7bit_reader_new(const struct smtp_7bit *plan,
					      smtp_7bit_read_fn read, void *arg);
/* A read callback (arg: the reader): converted bytes [off, off+cap).
 * Reading on from where the last read ended costs one pass; a read
 * elsewhere starts again from the top.  -1 on a read error, or when the
 * message no longer matches the plan; 1 (nothing read, the reader as it
 * was) when its own read callback answered 1. */
int smtp_7bit_reader_read(void *reader, uint64_t off, void *buf, size_t cap, size_t *got);
void smtp_7bit_reader_free(struct smtp_7bit_reader **reader);

/* The whole conversion of msg[0..len) in memory, parsed with core's MIME
 * parser (for tests and fuzzing): appends the converted message to out.
 * Returns as smtp_7bit_plan. */
int smtp_7bit_convert(const char *msg, size_t len, struct buf *out, char *why_r,
		      size_t why_cap);

#endif
