/* libFuzzer target: the SMTP front-end (smtp/) driven through its
 * proto_ops on a fake connection (session_harness.h), over a real store.
 *
 * Input: an option byte (peer, TLS, listener, how the connection ends,
 * sandbox or strict configuration: fuzz_session_opts), a byte whose low bit
 * puts "EHLO" and a successful AUTH PLAIN in front (post-authentication
 * states from the first mutated byte on), then the client's bytes, cut
 * into reads at FUZZ_READ_BREAK.  Besides "no crash, no sanitizer report,
 * no leak, no hang": every line the server writes is a reply line
 * (RFC 5321 4.2: three digits, then space or hyphen) ending in CRLF, the
 * first one is 220 (or 421/554 refusing), and no log-flush waiter outlives
 * the session. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/session_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* base64("\0alice@example.org\0secret") */
#define LOGIN "EHLO client.example.net\r\nAUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==\r\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct buf out;
	buf_init(&out, 0);
	fuzz_session_run(&smtp_proto_ops, (data[1] & 1) ? LOGIN : NULL, data + 2, size - 2, data[0],
			 &out);
	const char *o = out.data ? out.data : "";
	fuzz_session_check(out.len >= 6 && (memcmp(o, "220", 3) == 0 || memcmp(o, "421", 3) == 0 ||
			       memcmp(o, "554", 3) == 0), "greeting", &out);
	/* every line: ddd SP/- text CRLF (the kept output may end mid-line) */
	size_t pos = 0;
	while (pos < out.len) {
		const char *lf = memchr(o + pos, '\n', out.len - pos);
		if (!lf)
			break;
		size_t l = (size_t)(lf - o) - pos;
		fuzz_session_check(l >= 5 && o[pos + l - 1] == '\r', "line ends in CRLF", &out);
		fuzz_session_check(o[pos] >= '2' && o[pos] <= '5' && o[pos + 1] >= '0' && o[pos + 1] <= '9' &&
		      o[pos + 2] >= '0' && o[pos + 2] <= '9' && (o[pos + 3] == ' ' || o[pos + 3] == '-'),
		      "reply code", &out);
		for (size_t i = pos; i < pos + l - 1; i++)
			fuzz_session_check(o[i] != '\r' && o[i] != '\0', "no CR or NUL inside a reply", &out);
		pos += l + 1;
	}
	buf_free(&out);
	return 0;
}
