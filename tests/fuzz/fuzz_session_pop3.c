/* libFuzzer target: the POP3 front-end (pop3/) driven through its
 * proto_ops on a fake connection (session_harness.h), over a real store.
 *
 * Input: an option byte (fuzz_session_opts), a byte whose low bit puts
 * USER/PASS for the fixture user in front (TRANSACTION state from the
 * first mutated byte on), then the client's bytes, cut into reads at
 * FUZZ_READ_BREAK.  Besides "no crash, no sanitizer report, no leak, no
 * hang": the greeting is +OK, every line ends in CRLF (RFC 1939 3: no bare
 * LF, even inside a message: the fixture and SMTP store CRLF only), every
 * status line is +OK or -ERR, and a multi-line response ends with ".". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/session_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LOGIN "USER " FUZZ_USER "\r\nPASS " FUZZ_PASSWORD "\r\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct buf out;
	buf_init(&out, 0);
	fuzz_session_run(&pop3_proto_ops, (data[1] & 1) ? LOGIN : NULL, data + 2, size - 2, data[0],
			 &out);
	const char *o = out.data ? out.data : "";
	fuzz_session_check(out.len >= 5 && memcmp(o, "+OK", 3) == 0, "greeting", &out);
	for (size_t i = 0; i < out.len; i++)
		if (o[i] == '\n')
			fuzz_session_check(i > 0 && o[i - 1] == '\r', "no bare LF", &out);
	buf_free(&out);
	return 0;
}
