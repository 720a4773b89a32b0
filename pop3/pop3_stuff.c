/* pop3/pop3_stuff.c: the byte-stuffing and TOP cut-off machine (see
 * pop3_stuff.h).  Only LF ends a line: a CR right before it is the CR of
 * CRLF, a bare LF gets its CR added, and a CR elsewhere is passed on as
 * data (RFC 5322 2.3 forbids it, but the octets are the stored message's). */
#include "pop3/pop3_stuff.h"

#include <string.h>

void pop3_stuff_init(struct pop3_stuff *st, bool top, uint32_t lines)
{
	memset(st, 0, sizeof(*st));
	st->top = top;
	st->lines = lines;
	st->in_header = true;
	st->bol = true;
}

/* A line ended (its LF was just written). */
static void stuff_end_line(struct pop3_stuff *st)
{
	/* RFC 5322 2.1: the header ends at the first empty line; a line that
	 * held only the CR of its CRLF is that line too. */
	bool blank = st->line_bytes == 0 || (st->line_bytes == 1 && st->prev_cr);
	st->bol = true;
	st->prev_cr = false;
	st->line_bytes = 0;
	if (!st->top)
		return;
	if (st->in_header) {
		if (blank) {
			st->in_header = false;
			if (st->lines == 0)
				st->done = true;
		}
		return;
	}
	if (--st->lines == 0)
		st->done = true;
}

size_t pop3_stuff_feed(struct pop3_stuff *st, const char *in, size_t len, char *out,
		       size_t out_cap, size_t *out_len_r)
{
	size_t i = 0, o = 0;
	while (i < len && !st->done && !st->finished) {
		/* A line end or a stuffed dot needs two output bytes; stop
		 * while there is still room for either. */
		if (out_cap - o < POP3_STUFF_EXPANSION)
			break;
		unsigned char ch = (unsigned char)in[i];
		if (ch == '\n') {
			if (!st->prev_cr)
				out[o++] = '\r';
			out[o++] = '\n';
			i++;
			stuff_end_line(st);
			continue;
		}
		size_t span;
		if (st->bol && ch == '.') {
			/* RFC 1939 3: byte-stuff a line that begins with the
			 * termination octet. */
			out[o++] = '.';
			out[o++] = '.';
			span = 1;
		} else {
			/* The rest of the line up to its LF goes out as it is,
			 * in one copy, as far as there is room: this runs over
			 * every byte RETR sends (a byte loop was 11% of it). */
			const char *nl = memchr(in + i, '\n', len - i);
			span = (nl ? (size_t)(nl - in) : len) - i;
			/* As the byte-at-a-time rule had it: a byte goes out
			 * while two bytes of room are left. */
			if (span > out_cap - o - 1)
				span = out_cap - o - 1;
			memcpy(out + o, in + i, span);
			o += span;
		}
		i += span;
		st->bol = false;
		st->prev_cr = in[i - 1] == '\r';
		st->line_bytes = st->line_bytes + span < 2 ? st->line_bytes + span : 2;
	}
	*out_len_r = o;
	return i;
}

bool pop3_stuff_done(const struct pop3_stuff *st)
{
	return st->done;
}

size_t pop3_stuff_finish(struct pop3_stuff *st, char *out)
{
	if (st->finished)
		return 0;
	st->finished = true;
	size_t o = 0;
	if (!st->bol) {
		/* The stored message lacked its final line end. */
		if (!st->prev_cr)
			out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	return o + 3;
}
