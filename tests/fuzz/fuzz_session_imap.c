/* libFuzzer target: the IMAP front-end (imap/) driven through its
 * proto_ops on a fake connection (session_harness.h), over a real store.
 *
 * Input: an option byte (fuzz_session_opts), a byte whose low bit puts a
 * LOGIN of the fixture user and SELECT INBOX in front (the selected state
 * from the first mutated byte on), then the client's bytes, cut into reads
 * at FUZZ_READ_BREAK; literals are read as core reads them (conn_read_raw).
 * Besides "no crash, no sanitizer report, no leak, no hang": the output is
 * a sequence of response lines (RFC 9051 7: "* ", "+ " or a tag, CRLF at
 * the end) whose literals {n} / ~{n} hold exactly n octets, and the first
 * line is "* OK", "* PREAUTH" or "* BYE". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/session_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LOGIN "a LOGIN " FUZZ_USER " " FUZZ_PASSWORD "\r\nb SELECT INBOX\r\n"

/* The length of a literal announced at the end of line[0..len), or -1. */
static long literal_at_end(const char *line, size_t len)
{
	if (len < 3 || line[len - 1] != '}')
		return -1;
	size_t i = len - 1;
	long n = 0, mul = 1;
	while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9' && mul < 100000000000L) {
		n += (line[i - 1] - '0') * mul;
		mul *= 10;
		i--;
	}
	if (i == 0 || i == len - 1 || line[i - 1] != '{')
		return -1;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct buf out;
	buf_init(&out, 0);
	fuzz_session_run(&imap_proto_ops, (data[1] & 1) ? LOGIN : NULL, data + 2, size - 2, data[0],
			 &out);
	const char *o = out.data ? out.data : "";
	fuzz_session_check(out.len >= 4 && (memcmp(o, "* OK", 4) == 0 || memcmp(o, "* PREAUTH", 9) == 0 ||
			       memcmp(o, "* BYE", 5) == 0), "greeting", &out);
	size_t pos = 0;
	bool line_start = true;
	while (pos < out.len) {
		const char *lf = memchr(o + pos, '\n', out.len - pos);
		if (!lf)
			break;   /* the kept output may end mid-line */
		size_t l = (size_t)(lf - o) - pos;
		fuzz_session_check(l >= 1 && o[pos + l - 1] == '\r', "line ends in CRLF", &out);
		if (line_start) {
			fuzz_session_check(l >= 3 && o[pos] != ' ' && memchr(o + pos, ' ', l - 1) != NULL,
			      "a response starts with *, + or a tag", &out);
		}
		for (size_t i = pos; i < pos + l - 1; i++)
			fuzz_session_check(o[i] != '\r' && o[i] != '\0', "no CR or NUL outside a literal", &out);
		long n = literal_at_end(o + pos, l - 1);
		pos += l + 1;
		if (n >= 0) {
			if ((size_t)n > out.len - pos)
				break;
			pos += (size_t)n;
			line_start = false;   /* the response goes on after the literal */
		} else {
			line_start = true;
		}
	}
	buf_free(&out);
	return 0;
}
