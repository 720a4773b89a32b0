/* Unit tests for smtp/smtp_data.c: the DATA-phase machine (end of data,
 * dot-unstuffing, smuggling forms, bare LF / bare CR under "normalize" and
 * "reject", limits, Message-ID, loop detection), fed whole, byte by byte,
 * split at every position and line by line, through a sink in small chunks
 * (the spool), an exhaustive check over every short mix of CR, LF and ".",
 * and the trace headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smtp/smtp_data.h"

#define L(s) (s), (sizeof(s) - 1)
#define PREFIX "Return-Path: <x@y>\r\n"

struct outcome {
	enum smtp_data_rc rc;
	size_t consumed;
	enum smtp_data_err err;
	bool ambiguous;
	char *msg;            /* content after the prefix, NUL-terminated copy */
	size_t msg_len;
	uint64_t size;
	char msgid[SMTP_DATA_MSGID_MAX + 1];
};

static struct smtp_data_limits lim_default = {
	.max_size = 1 << 20,
	.max_line = 1000,
	.max_received = 100,
};

static struct smtp_data_limits lim_reject = {
	.max_size = 1 << 20,
	.max_line = 1000,
	.max_received = 100,
	.bare = SMTP_BARE_REJECT,
};

static void outcome_free(struct outcome *o)
{
	free(o->msg);
	o->msg = NULL;
}

/* A sink that collects what it is given (the session's spool file). */
struct collect {
	struct buf b;
	size_t calls;
	size_t most;        /* the largest piece */
	bool fail;
};

static int collect_sink(void *arg, const char *data, size_t len)
{
	struct collect *c = arg;
	if (c->fail)
		return -1;
	c->calls++;
	if (len > c->most)
		c->most = len;
	assert_int_equal(buf_append(&c->b, data, len), 0);
	return 0;
}

/* Feed `in` in pieces of `step` bytes (0 = all at once), or, with `cut`
 * non-zero, in two pieces split before byte `cut`; with sink_chunk,
 * through a sink, whose bytes then make the message. */
static struct outcome run_full(const struct smtp_data_limits *lim, const char *in, size_t len,
			       size_t step, size_t cut, size_t sink_chunk)
{
	struct outcome o;
	memset(&o, 0, sizeof(o));
	struct smtp_data d;
	struct collect col = {0};
	buf_init(&col.b, 0);
	smtp_data_init(&d, lim);
	if (sink_chunk)
		smtp_data_set_sink(&d, sink_chunk, collect_sink, &col);
	assert_int_equal(smtp_data_start(&d, L(PREFIX)), 0);
	size_t off = 0;
	o.rc = SMTP_DATA_MORE;
	while (off < len) {
		size_t n = step ? step : len;
		if (cut)
			n = off < cut ? cut - off : len - off;
		if (n > len - off)
			n = len - off;
		size_t used = 0;
		o.rc = smtp_data_feed(&d, in + off, n, &used);
		assert_true(used <= n);
		off += used;
		if (o.rc != SMTP_DATA_MORE)
			break;
		assert_int_equal(used, n);
	}
	o.consumed = off;
	o.err = smtp_data_error(&d);
	o.ambiguous = smtp_data_end_ambiguous(&d);
	o.size = smtp_data_size(&d);
	size_t mlen;
	const char *m = smtp_data_message(&d, &mlen);
	if (sink_chunk && o.rc == SMTP_DATA_DONE) {
		/* Everything went to the sink, in pieces of about the chunk
		 * (plus at most one line, or the prefix), nothing is left behind. */
		assert_int_equal(mlen, 0);
		assert_true(col.most < sink_chunk + lim->max_line + sizeof(PREFIX) + 2);
		m = col.b.data ? col.b.data : "";
		mlen = col.b.len;
	}
	if (o.rc == SMTP_DATA_DONE) {
		assert_true(mlen >= sizeof(PREFIX) - 1);
		assert_memory_equal(m, PREFIX, sizeof(PREFIX) - 1);
		o.msg_len = mlen - (sizeof(PREFIX) - 1);
		o.msg = malloc(o.msg_len + 1);
		memcpy(o.msg, m + sizeof(PREFIX) - 1, o.msg_len);
		o.msg[o.msg_len] = '\0';
		assert_int_equal(o.size, o.msg_len);
	}
	snprintf(o.msgid, sizeof(o.msgid), "%s", smtp_data_message_id(&d));
	smtp_data_clear(&d);
	buf_free(&col.b);
	return o;
}

static struct outcome run(const struct smtp_data_limits *lim, const char *in, size_t len, size_t step)
{
	return run_full(lim, in, len, step, 0, 0);
}

static struct outcome run_cut(const struct smtp_data_limits *lim, const char *in, size_t len,
			      size_t step, size_t cut)
{
	return run_full(lim, in, len, step, cut, 0);
}

static struct outcome run_sink(const struct smtp_data_limits *lim, const char *in, size_t len,
			       size_t step, size_t sink_chunk)
{
	return run_full(lim, in, len, step, 0, sink_chunk);
}

static void outcome_same(const struct outcome *o, const struct outcome *whole);

/* Run whole, byte by byte, in 2- and 7-byte pieces, split in two at every
 * position and through a sink; all must agree. */
static struct outcome run_all(const struct smtp_data_limits *lim, const char *in, size_t len)
{
	struct outcome whole = run(lim, in, len, 0);
	size_t steps[] = {1, 2, 7};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct outcome o = run(lim, in, len, steps[i]);
		outcome_same(&o, &whole);
		outcome_free(&o);
	}
	for (size_t cut = 1; cut < len; cut++) {
		struct outcome o = run_cut(lim, in, len, 0, cut);
		outcome_same(&o, &whole);
		outcome_free(&o);
	}
	/* Through a sink (tiny chunks, so every boundary is crossed) the
	 * outcome and the stored bytes are the same. */
	size_t chunks[] = {1, 5, 64};
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct outcome o = run_sink(lim, in, len, 3, chunks[i]);
		assert_int_equal(o.rc, whole.rc);
		assert_int_equal(o.consumed, whole.consumed);
		assert_int_equal(o.err, whole.err);
		assert_int_equal(o.size, whole.size);
		assert_int_equal(o.msg_len, whole.msg_len);
		if (o.msg_len)
			assert_memory_equal(o.msg, whole.msg, o.msg_len);
		outcome_free(&o);
	}
	return whole;
}

static void outcome_same(const struct outcome *o, const struct outcome *whole)
{
	{
		assert_int_equal(o->rc, whole->rc);
		assert_int_equal(o->consumed, whole->consumed);
		assert_int_equal(o->err, whole->err);
		assert_int_equal(o->ambiguous, whole->ambiguous);
		assert_int_equal(o->size, whole->size);
		assert_int_equal(o->msg_len, whole->msg_len);
		if (o->msg_len)
			assert_memory_equal(o->msg, whole->msg, o->msg_len);
		assert_string_equal(o->msgid, whole->msgid);
	}
}

static void expect_message(const char *in, size_t len, const char *content, size_t content_len)
{
	struct outcome o = run_all(&lim_default, in, len);
	assert_int_equal(o.rc, SMTP_DATA_DONE);
	assert_int_equal(o.err, SMTP_DATA_OK);
	assert_int_equal(o.consumed, len);
	assert_int_equal(o.msg_len, content_len);
	assert_memory_equal(o.msg, content, content_len);
	outcome_free(&o);
}

#define EXPECT(in, out) expect_message(L(in), L(out))

static void test_basic_message(void **state)
{
	EXPECT("Subject: x\r\n\r\nhello\r\n.\r\n", "Subject: x\r\n\r\nhello\r\n");
	EXPECT("a\r\nb\r\n\r\nc\r\n.\r\n", "a\r\nb\r\n\r\nc\r\n");
}

static void test_empty_message(void **state)
{
	/* The DATA command's CRLF counts as the one before the "." */
	EXPECT(".\r\n", "");
	EXPECT("\r\n.\r\n", "\r\n");
}

static void test_dot_unstuffing(void **state)
{
	/* RFC 5321 4.5.2 */
	EXPECT("..a\r\n.b\r\n..\r\n...\r\n.\r\n", ".a\r\nb\r\n.\r\n..\r\n");
	EXPECT("a\r\n..\r\n.\r\n", "a\r\n.\r\n");
	/* only the first period goes */
	EXPECT("x.y\r\n. .\r\n.\r\n", "x.y\r\n .\r\n");
}

static void test_smuggling_lf_dot_lf(void **state)
{
	/* "\n.\n": neither LF is a CRLF, so the "." is content and the
	 * "commands" after it are message text. */
	EXPECT("a\n.\nMAIL FROM:<x@y>\r\nRCPT TO:<v@w>\r\n.\r\n",
	       "a\r\n.\r\nMAIL FROM:<x@y>\r\nRCPT TO:<v@w>\r\n");
}

static void test_smuggling_lf_dot_crlf(void **state)
{
	/* "\n.\r\n": the line before the "." ended in a bare LF */
	EXPECT("a\n.\r\nQUIT\r\n.\r\n", "a\r\n.\r\nQUIT\r\n");
}

static void test_smuggling_crlf_dot_lf(void **state)
{
	/* "\r\n.\n": the "." line itself ends in a bare LF */
	EXPECT("a\r\n.\nQUIT\r\n.\r\n", "a\r\n.\r\nQUIT\r\n");
	/* and right at the start */
	EXPECT(".\nx\r\n.\r\n", ".\r\nx\r\n");
}

static void test_smuggling_cr_dot(void **state)
{
	/* "\r.\r\n": a bare CR is not a line end at all; it is stored as a
	 * space, so nothing downstream can take it for one either */
	EXPECT("a\r.\r\nb\r\n.\r\n", "a .\r\nb\r\n");
	EXPECT("a\r\r\n.\r\n", "a \r\n");
	EXPECT("a\r\n.\r\r\n.\r\n", "a\r\n \r\n");
}

static void test_bare_cr_normalized(void **state)
{
	/* Issue 10.7: a header hidden behind a bare CR stays one header. */
	EXPECT("X-B: b\rX-Injected-CR: yes\r\nSubject: s\r\n\r\nbody\r\rmore\r\n.\r\n",
	       "X-B: b X-Injected-CR: yes\r\nSubject: s\r\n\r\nbody  more\r\n");
	/* a CR right before a bare LF is that LF's CR: a CRLF */
	EXPECT("a\r\nb\r\r\n.\r\n", "a\r\nb \r\n");
	/* a lone CR line, a CR at the start, a stuffed dot behind a CR */
	EXPECT("\r\r\n\ra\r\n.\r\r\n.\r\n", " \r\n a\r\n \r\n");
	/* the size counts the stored octets (a CR becomes one space) */
	struct outcome o = run_all(&lim_default, L("ab\rc\r\n.\r\n"));
	assert_int_equal(o.size, 6);
	outcome_free(&o);
}

/* Under "reject", every bare line end refuses the message, which is still
 * read to its real CRLF "." CRLF end (RFC 5321 gives no earlier way out). */
static void expect_reject(const struct smtp_data_limits *lim, const char *in, size_t len,
			  size_t consumed, enum smtp_data_err err)
{
	struct outcome o = run_all(lim, in, len);
	assert_int_equal(o.rc, SMTP_DATA_ERROR);
	assert_int_equal(o.err, err);
	assert_int_equal(o.consumed, consumed);
	assert_false(o.ambiguous);
	outcome_free(&o);
}

#define REJECT(in, err) expect_reject(&lim_reject, L(in), sizeof(in) - 1, err)

static void test_reject_bare_lf(void **state)
{
	REJECT("a\nb\r\n.\r\n", SMTP_DATA_ERR_BARE_LF);
	REJECT("\n.\r\n.\r\n", SMTP_DATA_ERR_BARE_LF);
	/* the smuggling forms: refused, and the "commands" after them were
	 * message text, read up to the real end */
	REJECT("a\n.\nMAIL FROM:<x@y>\r\n.\r\n", SMTP_DATA_ERR_BARE_LF);
	REJECT("a\r\n.\nQUIT\r\n.\r\n", SMTP_DATA_ERR_BARE_LF);
	REJECT("a\n.\r\nQUIT\r\n.\r\n", SMTP_DATA_ERR_BARE_LF);
	REJECT(".\n.\r\n.\r\n", SMTP_DATA_ERR_BARE_LF);
	/* what follows the end is not consumed */
	static const char in[] = "a\nb\r\n.\r\nQUIT\r\n";
	expect_reject(&lim_reject, L(in), sizeof(in) - 1 - 6, SMTP_DATA_ERR_BARE_LF);
	/* a clean message passes */
	struct outcome o = run_all(&lim_reject, L("a\r\n..b\r\n.\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_DONE);
	assert_string_equal(o.msg, "a\r\n.b\r\n");
	outcome_free(&o);
}

static void test_reject_bare_cr(void **state)
{
	REJECT("X-B: b\rX-Injected-CR: yes\r\n\r\n.\r\n", SMTP_DATA_ERR_BARE_CR);
	REJECT("a\r.\r\nb\r\n.\r\n", SMTP_DATA_ERR_BARE_CR);
	REJECT("a\r\r\n.\r\n", SMTP_DATA_ERR_BARE_CR);
	REJECT("\r\r\n.\r\n", SMTP_DATA_ERR_BARE_CR);
	/* the first problem is the one reported */
	REJECT("a\rb\r\nc\n.\r\n.\r\n", SMTP_DATA_ERR_BARE_CR);
	REJECT("c\nd\re\r\n.\r\n", SMTP_DATA_ERR_BARE_LF);
	struct smtp_data_limits lim = lim_reject;
	lim.max_size = 4;
	static const char big[] = "123456\r\na\rb\r\n.\r\n";
	expect_reject(&lim, L(big), sizeof(big) - 1, SMTP_DATA_ERR_SIZE);
	/* the line API: a bare LF is crlf false */
	struct smtp_data d;
	smtp_data_init(&d, &lim_reject);
	assert_int_equal(smtp_data_start(&d, "", 0), 0);
	assert_int_equal(smtp_data_line(&d, "x", 1, false), SMTP_DATA_MORE);
	assert_int_equal(smtp_data_line(&d, ".", 1, true), SMTP_DATA_MORE);
	assert_int_equal(smtp_data_line(&d, ".", 1, true), SMTP_DATA_ERROR);
	assert_int_equal(smtp_data_error(&d), SMTP_DATA_ERR_BARE_LF);
	smtp_data_clear(&d);
}

/* Every input of up to 8 bytes over {CR, LF, ".", "a"}, then a final
 * CRLF "." CRLF, in both policies:
 * - the data ends exactly at the first CRLF "." CRLF (the DATA command's
 *   CRLF counting as the first CRLF), never at a bare form;
 * - "normalize" stores no CR without LF and no LF without CR;
 * - "reject" refuses the message exactly when a bare CR or LF came first. */
static bool has_bare(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			return true;
		if (s[i] == '\r' && (i + 1 == len || s[i + 1] != '\n'))
			return true;
	}
	return false;
}

static void check_mix(const char *in, size_t len)
{
	char with_cmd[32];
	memcpy(with_cmd, "\r\n", 2);
	memcpy(with_cmd + 2, in, len);
	size_t end = 0;  /* bytes of `in` through the first end of data */
	for (size_t i = 0; i + 5 <= len + 2; i++) {
		if (memcmp(with_cmd + i, "\r\n.\r\n", 5) == 0) {
			end = i + 5 - 2;
			break;
		}
	}
	for (int policy = 0; policy < 2; policy++) {
		const struct smtp_data_limits *lim = policy ? &lim_reject : &lim_default;
		struct outcome o = run(lim, in, len, 0);
		struct outcome b = run(lim, in, len, 1);
		outcome_same(&b, &o);
		outcome_free(&b);
		assert_true(end > 0);
		assert_int_equal(o.consumed, end);
		/* the content as sent: `in` up to the "." CRLF of the end */
		size_t body = end >= 3 ? end - 3 : 0;
		if (policy == 0) {
			assert_int_equal(o.rc, SMTP_DATA_DONE);
			assert_false(has_bare(o.msg, o.msg_len));
		} else if (has_bare(in, body)) {
			assert_int_equal(o.rc, SMTP_DATA_ERROR);
			assert_true(o.err == SMTP_DATA_ERR_BARE_LF || o.err == SMTP_DATA_ERR_BARE_CR);
		} else {
			assert_int_equal(o.rc, SMTP_DATA_DONE);
			/* nothing to normalize: stored as sent, dots unstuffed */
			assert_true(o.msg_len <= body);
		}
		outcome_free(&o);
	}
}

static void test_every_short_mix(void **state)
{
	static const char alphabet[] = {'\r', '\n', '.', 'a'};
	char in[16];
	for (size_t len = 0; len <= 8; len++) {
		size_t total = 1;
		for (size_t i = 0; i < len; i++)
			total *= 4;
		for (size_t n = 0; n < total; n++) {
			size_t v = n;
			for (size_t i = 0; i < len; i++) {
				in[i] = alphabet[v % 4];
				v /= 4;
			}
			memcpy(in + len, "\r\n.\r\n", 5);
			check_mix(in, len + 5);
		}
	}
}

static void test_bare_lf_normalized(void **state)
{
	EXPECT("a\nb\n\r\n.\r\n", "a\r\nb\r\n\r\n");
	EXPECT("line1\nline2\r\n.\r\n", "line1\r\nline2\r\n");
}

static void test_last_line_bare_lf(void **state)
{
	/* A message whose last line lacks its CRLF: the "." after it is not
	 * the end; the real end comes later. */
	struct outcome o = run_all(&lim_default, L("text\n.\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_MORE);
	assert_int_equal(o.consumed, 8);
	outcome_free(&o);
	EXPECT("text\n.\r\n.\r\n", "text\r\n.\r\n");
}

static void test_rest_is_not_consumed(void **state)
{
	static const char in[] = "x\r\n.\r\nQUIT\r\n";
	struct outcome o = run_all(&lim_default, L(in));
	assert_int_equal(o.rc, SMTP_DATA_DONE);
	assert_int_equal(o.consumed, sizeof(in) - 1 - 6);
	assert_string_equal(o.msg, "x\r\n");
	outcome_free(&o);
}

static void test_partial_line_waits(void **state)
{
	struct smtp_data d;
	smtp_data_init(&d, &lim_default);
	assert_int_equal(smtp_data_start(&d, L(PREFIX)), 0);
	size_t used;
	assert_int_equal(smtp_data_feed(&d, L("abc"), &used), SMTP_DATA_MORE);
	assert_int_equal(used, 3);
	assert_int_equal(smtp_data_feed(&d, L("\r"), &used), SMTP_DATA_MORE);
	assert_int_equal(smtp_data_feed(&d, L("\n."), &used), SMTP_DATA_MORE);
	assert_int_equal(smtp_data_feed(&d, L("\r\n"), &used), SMTP_DATA_DONE);
	assert_int_equal(used, 2);
	size_t len;
	const char *m = smtp_data_message(&d, &len);
	assert_int_equal(len, sizeof(PREFIX) - 1 + 5);
	assert_memory_equal(m + sizeof(PREFIX) - 1, "abc\r\n", 5);
	smtp_data_clear(&d);
}

static void test_line_api(void **state)
{
	struct smtp_data d;
	smtp_data_init(&d, &lim_default);
	assert_int_equal(smtp_data_start(&d, "", 0), 0);
	assert_int_equal(smtp_data_line(&d, ".", 1, false), SMTP_DATA_MORE);
	assert_int_equal(smtp_data_line(&d, ".", 1, true), SMTP_DATA_MORE);
	assert_int_equal(smtp_data_line(&d, "..", 2, true), SMTP_DATA_MORE);
	assert_int_equal(smtp_data_line(&d, ".", 1, true), SMTP_DATA_DONE);
	size_t len;
	const char *m = smtp_data_message(&d, &len);
	assert_int_equal(len, 9);
	assert_memory_equal(m, ".\r\n.\r\n.\r\n", 9);

	/* started again, the machine forgets everything */
	assert_int_equal(smtp_data_start(&d, "P", 1), 0);
	assert_int_equal(smtp_data_size(&d), 0);
	assert_int_equal(smtp_data_line(&d, ".", 1, true), SMTP_DATA_DONE);
	m = smtp_data_message(&d, &len);
	assert_int_equal(len, 1);
	assert_int_equal(m[0], 'P');
	smtp_data_clear(&d);
	smtp_data_clear(&d); /* twice is harmless */
}

static void test_size_limit(void **state)
{
	struct smtp_data_limits lim = lim_default;
	lim.max_size = 10;
	struct outcome o = run_all(&lim, L("12345678\r\n.\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_DONE);
	assert_int_equal(o.size, 10);
	outcome_free(&o);

	o = run_all(&lim, L("123456789\r\n.\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_ERROR);
	assert_int_equal(o.err, SMTP_DATA_ERR_SIZE);
	assert_int_equal(o.size, 11);
	assert_int_equal(o.consumed, 14);
	outcome_free(&o);

	/* reading goes on to the real end, and the count with it */
	static const char big[] = "1234\r\n5678\r\nabcdefgh\r\nmore\r\n.\r\nNOOP\r\n";
	o = run_all(&lim, L(big));
	assert_int_equal(o.rc, SMTP_DATA_ERROR);
	assert_int_equal(o.err, SMTP_DATA_ERR_SIZE);
	assert_int_equal(o.consumed, sizeof(big) - 1 - 6);
	assert_int_equal(o.size, 6 + 6 + 10 + 6);
	outcome_free(&o);

	/* the limit counts unstuffed octets with CRLF, a bare LF as CRLF */
	o = run_all(&lim, L("..234567\n.\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_MORE);
	outcome_free(&o);
	o = run_all(&lim, L("..234567\r\n.\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_DONE);
	assert_int_equal(o.size, 9);
	outcome_free(&o);
	lim.max_size = 9;
	o = run_all(&lim, L("1234567\n.\r\n.\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_ERROR);
	assert_int_equal(o.err, SMTP_DATA_ERR_SIZE);
	outcome_free(&o);

	/* 0 = no limit */
	lim.max_size = 0;
	o = run_all(&lim, L("123456789012345678901234567890\r\n.\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_DONE);
	outcome_free(&o);
}

static void test_line_too_long(void **state)
{
	struct smtp_data_limits lim = lim_default;
	lim.max_line = 10;
	/* exactly max_line is fine, with CRLF or a bare LF */
	struct outcome o = run_all(&lim, L("0123456789\r\n0123456789\n\r\n.\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_DONE);
	assert_string_equal(o.msg, "0123456789\r\n0123456789\r\n\r\n");
	outcome_free(&o);

	/* one more is refused at the end, and what follows is still read */
	o = run_all(&lim, L("01234567890\r\nok\r\n.\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_ERROR);
	assert_int_equal(o.err, SMTP_DATA_ERR_LINE);
	assert_false(o.ambiguous);
	assert_int_equal(o.consumed, 20);
	outcome_free(&o);

	/* far longer: discarded to the LF */
	o = run_all(&lim, L("0123456789012345678901234567890123456789\r\nok\r\n.\r\nQUIT\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_ERROR);
	assert_int_equal(o.err, SMTP_DATA_ERR_LINE);
	assert_false(o.ambiguous);
	outcome_free(&o);

	/* a "." right after the long line: the end, but an ambiguous one */
	o = run_all(&lim, L("0123456789012345678901234567890123456789\n.\r\nMAIL FROM:<a@b>\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_ERROR);
	assert_int_equal(o.err, SMTP_DATA_ERR_LINE);
	assert_true(o.ambiguous);
	assert_int_equal(o.consumed, 44);
	outcome_free(&o);

	/* the line API reports the same */
	struct smtp_data d;
	smtp_data_init(&d, &lim_default);
	assert_int_equal(smtp_data_start(&d, "", 0), 0);
	smtp_data_line_too_long(&d);
	assert_int_equal(smtp_data_line(&d, ".", 1, true), SMTP_DATA_ERROR);
	assert_int_equal(smtp_data_error(&d), SMTP_DATA_ERR_LINE);
	assert_true(smtp_data_end_ambiguous(&d));
	smtp_data_clear(&d);
}

static void test_nul_refused(void **state)
{
	struct outcome o = run_all(&lim_default, L("a\0b\r\n.\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_ERROR);
	assert_int_equal(o.err, SMTP_DATA_ERR_NUL);
	outcome_free(&o);
	/* the first error wins */
	struct smtp_data_limits lim = lim_default;
	lim.max_size = 4;
	o = run_all(&lim, L("\0\r\n123456\r\n.\r\n"));
	assert_int_equal(o.err, SMTP_DATA_ERR_NUL);
	outcome_free(&o);
	o = run_all(&lim, L("123456\r\n\0\r\n.\r\n"));
	assert_int_equal(o.err, SMTP_DATA_ERR_SIZE);
	outcome_free(&o);
}

static void test_message_id(void **state)
{
	struct outcome o = run_all(&lim_default,
				   L("Message-ID: <abc.123@example.com>\r\nSubject: x\r\n\r\nb\r\n.\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_DONE);
	assert_string_equal(o.msgid, "<abc.123@example.com>");
	outcome_free(&o);
	/* folded, in another case */
	o = run_all(&lim_default, L("Subject: x\r\nmessage-id:\r\n <f@x.example>\r\n\r\nb\r\n.\r\n"));
	assert_string_equal(o.msgid, "<f@x.example>");
	outcome_free(&o);
	/* only the header section counts */
	o = run_all(&lim_default, L("Subject: x\r\n\r\nMessage-ID: <no@x>\r\n.\r\n"));
	assert_string_equal(o.msgid, "");
	outcome_free(&o);
	o = run_all(&lim_default, L("not a header\r\nMessage-ID: <no@x>\r\n.\r\n"));
	assert_string_equal(o.msgid, "");
	outcome_free(&o);
	/* nothing usable */
	o = run_all(&lim_default, L("Message-ID: none\r\n\r\n.\r\n"));
	assert_string_equal(o.msgid, "");
	outcome_free(&o);
	o = run_all(&lim_default, L("Message-ID: <a b@c>\r\n\r\n.\r\n"));
	assert_string_equal(o.msgid, "");
	outcome_free(&o);
	o = run_all(&lim_default, L("Message-ID: <a\x01@c>\r\n\r\n.\r\n"));
	assert_string_equal(o.msgid, "");
	outcome_free(&o);
	/* the first one wins */
	o = run_all(&lim_default, L("Message-ID: <1@x>\r\nMessage-ID: <2@x>\r\n\r\n.\r\n"));
	assert_string_equal(o.msgid, "<1@x>");
	outcome_free(&o);
}

static void test_received_loop(void **state)
{
	struct smtp_data_limits lim = lim_default;
	lim.max_received = 2;
	struct outcome o = run_all(&lim, L("Received: a\r\nreceived: b\r\n\r\nx\r\n.\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_DONE);
	outcome_free(&o);
	o = run_all(&lim, L("Received: a\r\nReceived: b\r\n c\r\nRECEIVED: d\r\n\r\nx\r\n.\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_ERROR);
	assert_int_equal(o.err, SMTP_DATA_ERR_LOOP);
	outcome_free(&o);
	/* in the body they are text */
	o = run_all(&lim, L("S: 1\r\n\r\nReceived: a\r\nReceived: b\r\nReceived: c\r\n.\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_DONE);
	outcome_free(&o);
}

/* A large message through a sink: memory stays at a chunk, the sink gets
 * every byte; a sink that refuses makes the message an error at its end. */
static void test_sink_bounds_memory(void **state)
{
	struct smtp_data_limits lim = {.max_size = 0, .max_line = 1000};
	struct smtp_data d;
	struct collect col = {0};
	buf_init(&col.b, 0);
	smtp_data_init(&d, &lim);
	smtp_data_set_sink(&d, 4096, collect_sink, &col);
	assert_int_equal(smtp_data_start(&d, L(PREFIX)), 0);
	char line[100];
	memset(line, 'a', sizeof(line));
	for (int i = 0; i < 20000; i++) {
		assert_int_equal(smtp_data_line(&d, line, sizeof(line), true), SMTP_DATA_MORE);
		assert_true(d.msg.cap <= 8192);
	}
	assert_int_equal(smtp_data_line(&d, L("."), true), SMTP_DATA_DONE);
	assert_int_equal(col.b.len, sizeof(PREFIX) - 1 + 20000 * (sizeof(line) + 2));
	assert_int_equal(smtp_data_size(&d), 20000 * (sizeof(line) + 2));
	assert_true(col.calls > 400);

	/* the sink is kept for the next message; now it refuses */
	col.fail = true;
	assert_int_equal(smtp_data_start(&d, L(PREFIX)), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(smtp_data_line(&d, line, sizeof(line), true), SMTP_DATA_MORE);
	assert_int_equal(smtp_data_line(&d, L("."), true), SMTP_DATA_ERROR);
	assert_int_equal(smtp_data_error(&d), SMTP_DATA_ERR_SINK);
	/* a short message refused only at the end, when it is handed over */
	assert_int_equal(smtp_data_start(&d, L(PREFIX)), 0);
	assert_int_equal(smtp_data_line(&d, L("short"), true), SMTP_DATA_MORE);
	assert_int_equal(smtp_data_line(&d, L("."), true), SMTP_DATA_ERROR);
	assert_int_equal(smtp_data_error(&d), SMTP_DATA_ERR_SINK);
	smtp_data_clear(&d);
	buf_free(&col.b);
}

static void test_error_strings(void **state)
{
	for (int e = SMTP_DATA_OK; e <= SMTP_DATA_ERR_SINK; e++)
		assert_true(strlen(smtp_data_error_str((enum smtp_data_err)e)) > 0);
}

/* ---- trace headers ---- */

static void test_date_format(void **state)
{
	char out[64];
	setenv("TZ", "UTC", 1);
	tzset();
	smtp_date_format(0, out, sizeof(out));
	assert_string_equal(out, "Thu, 1 Jan 1970 00:00:00 +0000");
	smtp_date_format(1700000000, out, sizeof(out));
	assert_string_equal(out, "Tue, 14 Nov 2023 22:13:20 +0000");
	/* POSIX TZ: "XYZ-2:30" is 2h30 east of UTC */
	setenv("TZ", "XYZ-2:30", 1);
	tzset();
	smtp_date_format(1700000000, out, sizeof(out));
	assert_string_equal(out, "Wed, 15 Nov 2023 00:43:20 +0230");
	setenv("TZ", "ABC+5", 1);
	tzset();
	smtp_date_format(1700000000, out, sizeof(out));
	assert_string_equal(out, "Tue, 14 Nov 2023 17:13:20 -0500");
	setenv("TZ", "UTC", 1);
	tzset();
}

static void test_trace_headers(void **state)
{
	setenv("TZ", "UTC", 1);
	tzset();
	struct buf b;
	buf_init(&b, 0);
	struct smtp_trace t = {
		.reverse_path = "sender@example.org",
		.helo = "client.example.org",
		.peer_addr = "192.0.2.7",
		.hostname = "mx.example.com",
		.protocol = "ESMTP",
		.id = "abc.1",
		.for_rcpt = "rcpt@example.com",
		.when = 1700000000,
	};
	assert_int_equal(smtp_trace_format(&b, &t), 0);
	assert_string_equal(b.data, "Return-Path: <sender@example.org>\r\n"
				    "Received: from client.example.org ([192.0.2.7])\r\n"
				    "\tby mx.example.com (postino) with ESMTP id abc.1\r\n"
				    "\tfor <rcpt@example.com>; Tue, 14 Nov 2023 22:13:20 +0000\r\n");
	buf_reset(&b);
	t.reverse_path = "";
	t.peer_addr = "2001:db8::1";
	t.protocol = "ESMTPS";
	t.for_rcpt = NULL;
	assert_int_equal(smtp_trace_format(&b, &t), 0);
	assert_string_equal(b.data, "Return-Path: <>\r\n"
				    "Received: from client.example.org ([IPv6:2001:db8::1])\r\n"
				    "\tby mx.example.com (postino) with ESMTPS id abc.1;\r\n"
				    "\tTue, 14 Nov 2023 22:13:20 +0000\r\n");
	buf_free(&b);
	/* a buffer that refuses the bytes is an error, not a truncation */
	buf_init(&b, 20);
	assert_int_equal(smtp_trace_format(&b, &t), -1);
	buf_free(&b);
}

/* ---- BDAT (RFC 3030): raw chunks ---- */

/* Feed `in` as BDAT chunks of `step` bytes (0 = one chunk), the last one
 * LAST, each chunk itself fed in pieces of `piece` bytes (as core hands
 * raw input over), through a sink when sink_chunk.  The content after the
 * prefix goes to *o. */
static struct outcome run_bdat(const struct smtp_data_limits *lim, const char *in, size_t len,
			       size_t step, size_t piece, size_t sink_chunk)
{
	struct outcome o;
	memset(&o, 0, sizeof(o));
	struct smtp_data d;
	struct collect col = {0};
	buf_init(&col.b, 0);
	smtp_data_init(&d, lim);
	if (sink_chunk)
		smtp_data_set_sink(&d, sink_chunk, collect_sink, &col);
	assert_int_equal(smtp_data_start(&d, L(PREFIX)), 0);
	size_t off = 0;
	o.rc = SMTP_DATA_MORE;
	do {
		size_t n = step ? step : len;
		if (n > len - off)
			n = len - off;
		for (size_t p = 0; p < n;) {
			size_t k = piece && piece < n - p ? piece : n - p;
			smtp_data_chunk(&d, in + off + p, k);
			p += k;
		}
		off += n;
		o.rc = smtp_data_chunk_end(&d, off == len);
	} while (o.rc == SMTP_DATA_MORE && off < len);
	o.consumed = off;
	o.err = smtp_data_error(&d);
	o.size = smtp_data_size(&d);
	size_t mlen;
	const char *m = smtp_data_message(&d, &mlen);
	if (sink_chunk && o.rc == SMTP_DATA_DONE) {
		assert_int_equal(mlen, 0);
		m = col.b.data ? col.b.data : "";
		mlen = col.b.len;
	}
	if (o.rc == SMTP_DATA_DONE) {
		assert_memory_equal(m, PREFIX, sizeof(PREFIX) - 1);
		o.msg_len = mlen - (sizeof(PREFIX) - 1);
		o.msg = malloc(o.msg_len + 1);
		memcpy(o.msg, m + sizeof(PREFIX) - 1, o.msg_len);
		o.msg[o.msg_len] = '\0';
		assert_int_equal(o.size, o.msg_len);
	}
	snprintf(o.msgid, sizeof(o.msgid), "%s", smtp_data_message_id(&d));
	smtp_data_clear(&d);
	buf_free(&col.b);
	return o;
}

/* Every chunking (each chunk size, fed byte by byte or whole, with and
 * without a sink) gives the same outcome. */
static struct outcome run_bdat_all(const struct smtp_data_limits *lim, const char *in, size_t len)
{
	struct outcome whole = run_bdat(lim, in, len, 0, 0, 0);
	for (size_t step = 1; step <= len; step++) {
		size_t pieces[] = {0, 1, 3};
		for (size_t i = 0; i < 3; i++) {
			struct outcome o = run_bdat(lim, in, len, step, pieces[i], i == 2 ? 4 : 0);
			assert_int_equal(o.rc, whole.rc);
			assert_int_equal(o.err, whole.err);
			/* A refusal ends the feeding at the chunk that caused it
			 * (the session drops the rest), so only a good message
			 * has its size and Message-ID whatever the chunking. */
			if (o.rc == SMTP_DATA_DONE) {
				assert_int_equal(o.size, whole.size);
				assert_string_equal(o.msgid, whole.msgid);
			}
			assert_int_equal(o.msg_len, whole.msg_len);
			if (o.msg_len)
				assert_memory_equal(o.msg, whole.msg, o.msg_len);
			outcome_free(&o);
		}
	}
	return whole;
}

static void expect_bdat(const char *in, size_t len, const char *content, size_t content_len)
{
	struct outcome o = run_bdat_all(&lim_default, in, len);
	assert_int_equal(o.rc, SMTP_DATA_DONE);
	assert_int_equal(o.msg_len, content_len);
	assert_memory_equal(o.msg, content, content_len);
	outcome_free(&o);
}

#define EXPECT_BDAT(in, out) expect_bdat(L(in), L(out))

static void test_bdat_raw(void **state)
{
	/* no dot-unstuffing, no end line: "." lines are content */
	EXPECT_BDAT("Subject: a\r\n\r\n.\r\n..x\r\n.\r\n", "Subject: a\r\n\r\n.\r\n..x\r\n.\r\n");
	/* an empty message (BDAT 0 LAST) */
	struct outcome o = run_bdat(&lim_default, "", 0, 0, 0, 0);
	assert_int_equal(o.rc, SMTP_DATA_DONE);
	assert_int_equal(o.msg_len, 0);
	outcome_free(&o);
	/* the last line gets its CRLF; a CR alone at the end is that CRLF */
	EXPECT_BDAT("a\r\nb", "a\r\nb\r\n");
	EXPECT_BDAT("a\r\nb\r", "a\r\nb\r\n");
	/* bare LF and CR follow the same policy as in DATA */
	EXPECT_BDAT("a\nb\rc\r\n", "a\r\nb c\r\n");
	o = run_bdat_all(&lim_reject, L("a\nb\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_ERROR);
	assert_int_equal(o.err, SMTP_DATA_ERR_BARE_LF);
	outcome_free(&o);
	/* the Message-ID is noted as in DATA */
	o = run_bdat_all(&lim_default, L("Message-ID:\r\n <a@b>\r\n\r\nx\r\n"));
	assert_string_equal(o.msgid, "<a@b>");
	outcome_free(&o);
	(void)state;
}

static void test_bdat_limits(void **state)
{
	struct smtp_data_limits lim = lim_default;
	lim.max_size = 10;
	struct outcome o = run_bdat_all(&lim, L("12345678\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_DONE);
	outcome_free(&o);
	o = run_bdat_all(&lim, L("123456789\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_ERROR);
	assert_int_equal(o.err, SMTP_DATA_ERR_SIZE);
	outcome_free(&o);
	/* the refusal comes at the end of the chunk that went over, not at LAST */
	struct smtp_data d;
	smtp_data_init(&d, &lim);
	assert_int_equal(smtp_data_start(&d, L(PREFIX)), 0);
	assert_int_equal(smtp_data_chunk(&d, L("1234\r\n")), SMTP_DATA_MORE);
	assert_int_equal(smtp_data_chunk_end(&d, false), SMTP_DATA_MORE);
	assert_int_equal(smtp_data_chunk(&d, L("123456\r\n")), SMTP_DATA_ERROR);
	assert_int_equal(smtp_data_chunk_end(&d, false), SMTP_DATA_ERROR);
	assert_int_equal(smtp_data_error(&d), SMTP_DATA_ERR_SIZE);
	smtp_data_clear(&d);

	lim = lim_default;
	lim.max_line = 4;
	o = run_bdat_all(&lim, L("1234\r\n"));
	assert_int_equal(o.rc, SMTP_DATA_DONE);
	outcome_free(&o);
	o = run_bdat_all(&lim, L("12345\r\nab\r\n"));
	assert_int_equal(o.err, SMTP_DATA_ERR_LINE);
	outcome_free(&o);
	o = run_bdat_all(&lim, L("ab\r\n12345"));
	assert_int_equal(o.err, SMTP_DATA_ERR_LINE);
	outcome_free(&o);
	o = run_bdat_all(&lim_default, L("a\0b\r\n"));
	assert_int_equal(o.err, SMTP_DATA_ERR_NUL);
	outcome_free(&o);
	lim = lim_default;
	lim.max_received = 2;
	o = run_bdat_all(&lim, L("Received: a\r\nReceived: b\r\nReceived: c\r\n\r\n"));
	assert_int_equal(o.err, SMTP_DATA_ERR_LOOP);
	outcome_free(&o);
	(void)state;
}

/* RFC 6409 8.2, 8.3: the fields submission adds when missing. */
static char *run_add_missing(const struct smtp_data_limits *lim, const char *in, size_t len,
			     bool bdat, size_t sink_chunk, enum smtp_data_err *err_r)
{
	struct smtp_data d;
	struct collect col = {0};
	buf_init(&col.b, 0);
	smtp_data_init(&d, lim);
	if (sink_chunk)
		smtp_data_set_sink(&d, sink_chunk, collect_sink, &col);
	assert_int_equal(smtp_data_start(&d, L(PREFIX)), 0);
	smtp_data_add_missing(&d, "<id@host>", "Sun, 6 Dec 2026 06:00:00 +0000");
	enum smtp_data_rc rc;
	if (bdat) {
		smtp_data_chunk(&d, in, len);
		rc = smtp_data_chunk_end(&d, true);
	} else {
		size_t used;
		rc = smtp_data_feed(&d, in, len, &used);
	}
	*err_r = smtp_data_error(&d);
	char *out = NULL;
	if (rc == SMTP_DATA_DONE) {
		size_t mlen;
		const char *m = smtp_data_message(&d, &mlen);
		if (sink_chunk) {
			m = col.b.data;
			mlen = col.b.len;
		}
		assert_true(mlen >= sizeof(PREFIX) - 1);
		assert_int_equal(smtp_data_size(&d), mlen - (sizeof(PREFIX) - 1));
		out = strndup(m + sizeof(PREFIX) - 1, mlen - (sizeof(PREFIX) - 1));
		if (strstr(out, "Message-ID: <id@host>"))
			assert_string_equal(smtp_data_message_id(&d), "<id@host>");
	}
	smtp_data_clear(&d);
	buf_free(&col.b);
	return out;
}

#define MID "Message-ID: <id@host>\r\n"
#define DATE "Date: Sun, 6 Dec 2026 06:00:00 +0000\r\n"

static void expect_added(const char *data_in, const char *bdat_in, const char *want)
{
	enum smtp_data_err err;
	size_t sinks[] = {0, 1, 16};
	for (size_t i = 0; i < 3; i++) {
		char *got = run_add_missing(&lim_default, data_in, strlen(data_in), false, sinks[i], &err);
		assert_non_null(got);
		assert_string_equal(got, want);
		free(got);
		got = run_add_missing(&lim_default, bdat_in, strlen(bdat_in), true, sinks[i], &err);
		assert_non_null(got);
		assert_string_equal(got, want);
		free(got);
	}
}

static void test_add_missing(void **state)
{
	/* neither: both added at the end of the header section */
	expect_added("Subject: a\r\n\r\nbody\r\n.\r\n", "Subject: a\r\n\r\nbody\r\n",
		     "Subject: a\r\n" MID DATE "\r\nbody\r\n");
	/* one of them: only the other; any case of the name counts */
	expect_added("date: x\r\n\r\nb\r\n.\r\n", "date: x\r\n\r\nb\r\n",
		     "date: x\r\n" MID "\r\nb\r\n");
	expect_added("MESSAGE-id: <a@b>\r\n\r\nb\r\n.\r\n", "MESSAGE-id: <a@b>\r\n\r\nb\r\n",
		     "MESSAGE-id: <a@b>\r\n" DATE "\r\nb\r\n");
	/* both: untouched; a folded field is still one field */
	expect_added("Date:\r\n x\r\nMessage-ID:\r\n <a@b>\r\n\r\nb\r\n.\r\n",
		     "Date:\r\n x\r\nMessage-ID:\r\n <a@b>\r\n\r\nb\r\n",
		     "Date:\r\n x\r\nMessage-ID:\r\n <a@b>\r\n\r\nb\r\n");
	/* the fields in the body do not count */
	expect_added("Subject: a\r\n\r\nDate: x\r\n.\r\n", "Subject: a\r\n\r\nDate: x\r\n",
		     "Subject: a\r\n" MID DATE "\r\nDate: x\r\n");
	/* a message with no header section at all, or nothing at all */
	expect_added("not a header\r\n.\r\n", "not a header\r\n", MID DATE "not a header\r\n");
	expect_added(".\r\n", "", MID DATE);
	expect_added("Subject: only\r\n.\r\n", "Subject: only\r\n", "Subject: only\r\n" MID DATE);
	/* the added fields count against the size limit */
	struct smtp_data_limits lim = lim_default;
	static const char in[] = "Subject: a\r\n\r\n.\r\n";
	lim.max_size = 14 + strlen(MID) + strlen(DATE);
	enum smtp_data_err err;
	char *got = run_add_missing(&lim, L(in), false, 0, &err);
	assert_non_null(got);
	free(got);
	lim.max_size--;
	assert_null(run_add_missing(&lim, L(in), false, 0, &err));
	assert_int_equal(err, SMTP_DATA_ERR_SIZE);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_message),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_dot_unstuffing),
		cmocka_unit_test(test_smuggling_lf_dot_lf),
		cmocka_unit_test(test_smuggling_lf_dot_crlf),
		cmocka_unit_test(test_smuggling_crlf_dot_lf),
		cmocka_unit_test(test_smuggling_cr_dot),
		cmocka_unit_test(test_bare_cr_normalized),
		cmocka_unit_test(test_reject_bare_lf),
		cmocka_unit_test(test_reject_bare_cr),
		cmocka_unit_test(test_every_short_mix),
		cmocka_unit_test(test_bare_lf_normalized),
		cmocka_unit_test(test_last_line_bare_lf),
		cmocka_unit_test(test_rest_is_not_consumed),
		cmocka_unit_test(test_partial_line_waits),
		cmocka_unit_test(test_line_api),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_nul_refused),
		cmocka_unit_test(test_message_id),
		cmocka_unit_test(test_received_loop),
		cmocka_unit_test(test_sink_bounds_memory),
		cmocka_unit_test(test_error_strings),
		cmocka_unit_test(test_date_format),
		cmocka_unit_test(test_trace_headers),
		cmocka_unit_test(test_bdat_raw),
		cmocka_unit_test(test_bdat_limits),
		cmocka_unit_test(test_add_missing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
