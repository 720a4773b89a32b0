/* libFuzzer target for the pure POP3 pieces (pop3/pop3_parse.c and
 * pop3/pop3_stuff.c).  Besides "no crash, no sanitizer report" it checks
 * properties that must hold for any input:
 *   - a parsed command has arguments inside the line, within the limits of
 *     its verb's grammar, free of control bytes, with numbers in range;
 *   - the stuffing machine gives the same output whether the message comes
 *     whole, one byte at a time or in uneven chunks through a small output
 *     buffer, and that output is a well-formed multi-line body: every LF
 *     after a CR, no line that is a lone ".", ending in CRLF "." CRLF. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pop3/pop3_parse.h"
#include "pop3/pop3_stuff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "property violated: %s\n", what);
		abort();
	}
}

static void fuzz_command(const char *line, size_t len)
{
	struct pop3_cmd c;
	enum pop3_perr rc = pop3_parse_command(line, len, &c);
	check(c.nargs <= POP3_MAX_ARGS, "nargs");
	check((unsigned)c.verb < POP3_VERB_COUNT, "verb");
	if (rc == POP3_P_UNKNOWN || rc == POP3_P_EMPTY)
		check(c.verb == POP3_VERB_UNKNOWN, "unknown verb");
	if (rc != POP3_P_OK)
		return;
	const struct pop3_verb_syntax *syn = &pop3_verb_syntax[c.verb];
	check(c.verb != POP3_VERB_UNKNOWN, "ok has a verb");
	check(c.nargs >= syn->min_args && c.nargs <= syn->max_args, "arity");
	for (unsigned i = 0; i < c.nargs; i++) {
		check(c.arg[i] >= line && c.arg[i] + c.arg_len[i] <= line + len, "arg inside line");
		check(c.arg_len[i] >= 1 && c.arg_len[i] <= POP3_ARG_MAX, "arg length");
		for (size_t j = 0; j < c.arg_len[i]; j++) {
			unsigned char ch = (unsigned char)c.arg[i][j];
			check(ch >= 0x20 && ch != 0x7f, "no control byte");
			check(ch != ' ' || syn->rest_of_line, "space only in rest-of-line");
		}
		if (syn->kind[i] != POP3_ARG_STRING) {
			check(c.num[i] <= POP3_NUM_MAX, "number range");
			check(syn->kind[i] != POP3_ARG_MSGNUM || c.num[i] >= 1, "message number >= 1");
		}
	}
}

struct out {
	char *data;
	size_t len;
};

/* Run the machine with the given chunk size and output capacity. */
static struct out run_stuff(const char *in, size_t len, bool top, uint32_t lines, size_t chunk,
			    size_t cap)
{
	struct pop3_stuff st;
	pop3_stuff_init(&st, top, lines);
	struct out o;
	o.data = malloc(2 * len + POP3_STUFF_FINISH_MAX);
	check(o.data != NULL, "malloc");
	o.len = 0;
	char *buf = malloc(cap);
	check(buf != NULL, "malloc");
	size_t pos = 0;
	while (pos < len && !pop3_stuff_done(&st)) {
		size_t n = len - pos < chunk ? len - pos : chunk;
		size_t used = 0;
		while (used < n && !pop3_stuff_done(&st)) {
			size_t olen;
			size_t u = pop3_stuff_feed(&st, in + pos + used, n - used, buf, cap, &olen);
			check(olen <= cap, "output within capacity");
			check(u > 0 || pop3_stuff_done(&st), "progress");
			memcpy(o.data + o.len, buf, olen);
			o.len += olen;
			used += u;
		}
		pos += n;
	}
	o.len += pop3_stuff_finish(&st, o.data + o.len);
	free(buf);
	return o;
}

static void fuzz_stuff(const uint8_t *data, size_t size)
{
	if (size < 3)
		return;
	bool top = data[0] & 1;
	uint32_t lines = data[0] >> 1;
	size_t chunk = 1 + data[1] % 17;
	size_t cap = POP3_STUFF_EXPANSION + data[2] % 9;
	const char *in = (const char *)data + 3;
	size_t len = size - 3;

	struct out whole = run_stuff(in, len, top, lines, len ? len : 1, 2 * len + 2);
	struct out bytes = run_stuff(in, len, top, lines, 1, POP3_STUFF_EXPANSION);
	struct out odd = run_stuff(in, len, top, lines, chunk, cap);
	check(whole.len == bytes.len && memcmp(whole.data, bytes.data, whole.len) == 0,
	      "byte-at-a-time equals whole");
	check(whole.len == odd.len && memcmp(whole.data, odd.data, whole.len) == 0,
	      "chunked equals whole");

	const char *o = whole.data;
	size_t n = whole.len;
	check(n >= 3 && memcmp(o + n - 3, ".\r\n", 3) == 0, "ends with .CRLF");
	check(n == 3 || (n >= 5 && memcmp(o + n - 5, "\r\n.\r\n", 5) == 0), "CRLF before .CRLF");
	for (size_t i = 0; i < n; i++)
		if (o[i] == '\n')
			check(i > 0 && o[i - 1] == '\r', "LF only after CR");
	/* No line before the terminator is a lone "." (it would end the
	 * response early). */
	size_t start = 0;
	for (size_t i = 0; i + 3 < n; i++) {
		if (o[i] != '\n')
			continue;
		check(!(i - start == 2 && o[start] == '.' && o[start + 1] == '\r'), "lone dot line");
		start = i + 1;
	}
	/* Without TOP every input byte is in the output. */
	if (!top)
		check(n >= len + 3, "nothing dropped");
	free(whole.data);
	free(bytes.data);
	free(odd.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The command parser gets the input as one line, the way core hands
	 * it over (it may hold NUL bytes and CRs); the stuffer gets it as a
	 * stored message, with three bytes of settings in front. */
	char *line = malloc(size ? size : 1);
	if (!line)
		return 0;
	memcpy(line, data, size);
	fuzz_command(line, size);
	free(line);
	fuzz_stuff(data, size);
	return 0;
}
