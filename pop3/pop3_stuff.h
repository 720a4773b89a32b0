/* pop3/pop3_stuff.h: the pure output side of a POP3 multi-line response
 * carrying a message (RETR, TOP): byte-stuffing, line ends and the TOP
 * cut-off, as a machine fed the stored message in chunks of any size.
 *
 * RFC 1939 3: a line of a multi-line response that begins with "." gets a
 * second "."; every line ends in CRLF; the response ends with "." CRLF.
 * Messages are stored with CRLF line ends, but the machine does not rely
 * on it: a bare LF becomes CRLF, and a message whose last line lacks its
 * terminator gets one before the final ".", so the client always sees
 * CRLF "." CRLF.  RFC 1939 7 (TOP): the header, the blank line that ends
 * it, then at most n lines of the body.
 *
 * No I/O and no allocation: the caller owns both buffers. */
#ifndef POSTINO_POP3_STUFF_H
#define POSTINO_POP3_STUFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Each input byte produces at most this many output bytes. */
#define POP3_STUFF_EXPANSION 2
/* pop3_stuff_finish writes at most this many bytes ("\r\n" ".\r\n"). */
#define POP3_STUFF_FINISH_MAX 5

struct pop3_stuff {
	bool top;           /* TOP: stop after the header and `lines` body lines */
	uint32_t lines;     /* TOP: body lines still to send */
	bool in_header;     /* no blank line seen yet */
	bool bol;           /* the next byte begins a line */
	bool prev_cr;       /* the last byte sent was a CR */
	unsigned line_bytes;/* bytes in the current line so far, saturating at 2 */
	bool done;          /* TOP's cut-off was reached: the rest is not sent */
	bool finished;      /* pop3_stuff_finish ran */
};

/* Whole message (top=false), or TOP with `lines` body lines. */
void pop3_stuff_init(struct pop3_stuff *st, bool top, uint32_t lines);

/* Transform up to len input bytes into out (capacity out_cap).  Returns
 * how many input bytes were used, which is less than len when out is full
 * (call again with the rest) or when TOP's cut-off was reached (the rest
 * is dropped; pop3_stuff_done turns true).  *out_len_r gets the bytes
 * written.  An out_cap of at least POP3_STUFF_EXPANSION * len always takes
 * the whole input. */
size_t pop3_stuff_feed(struct pop3_stuff *st, const char *in, size_t len, char *out,
		       size_t out_cap, size_t *out_len_r);

/* True once TOP has sent everything it will: stop reading the message. */
bool pop3_stuff_done(const struct pop3_stuff *st);

/* After the last input: the CRLF a last unterminated line needs, then the
 * ".\r\n" that ends the response.  out has room for POP3_STUFF_FINISH_MAX
 * bytes; returns the bytes written (0 when called twice). */
size_t pop3_stuff_finish(struct pop3_stuff *st, char *out);

#endif
