/* libFuzzer target for the pure SMTP parsers (smtp/smtp_parse.c and
 * smtp/smtp_data.c).  Besides "no crash, no sanitizer report" it checks
 * properties that must hold for any input:
 *   - a parsed address is printable ASCII or strict UTF-8 (RFC 6531; then
 *     flagged utf8), within RFC 5321's limits, and parses back to itself;
 *   - the DATA machine gives the same result whether the input comes whole
 *     or one byte at a time, under either bare-newline policy, and what it
 *     stores has no bare LF and no bare CR. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_data.h"
#include "smtp/smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "property violated: %s\n", what);
		abort();
	}
}

static void check_path(const struct smtp_path *p, bool rcpt)
{
	check(p->address_len == strlen(p->address), "address length");
	check(p->address_len <= SMTP_ADDRESS_MAX, "address limit");
	check(p->local_len <= SMTP_LOCAL_MAX, "local limit");
	check(p->domain_len <= SMTP_DOMAIN_MAX, "domain limit");
	bool utf8 = false;
	for (size_t i = 0; i < p->address_len;) {
		size_t u = smtp_utf8_char(p->address + i, p->address_len - i);
		if (u) {
			utf8 = true;
			i += u;
			continue;
		}
		check(p->address[i] >= 32 && p->address[i] <= 126, "address printable");
		i++;
	}
	check(utf8 == p->utf8 || p->routed, "utf8 flag");
	if (p->null || p->postmaster)
		return;
	/* the canonical form is itself a valid path, giving the same mailbox */
	char again[SMTP_ADDRESS_MAX + 8];
	int n = snprintf(again, sizeof(again), "TO:<%s>", p->address);
	struct smtp_rcpt_args r;
	check(smtp_parse_rcpt(again, (size_t)n, &r) == SMTP_P_OK, "address reparses");
	check(strcmp(r.path.address, p->address) == 0, "address stable");
	check(r.path.route_chars == p->route_chars, "route chars stable");
	check(r.path.utf8 == utf8, "utf8 stable");
	(void)rcpt;
}

static void fuzz_commands(const char *s, size_t len)
{
	struct smtp_cmdline c;
	enum smtp_perr rc = smtp_parse_command(s, len, &c);
	if (rc == SMTP_P_OK) {
		check(c.verb > SMTP_VERB_UNKNOWN && c.verb < SMTP_VERB_COUNT, "verb range");
		check(c.arg >= s && c.arg + c.arg_len <= s + len, "arg inside line");
		check(memchr(c.arg, '\0', c.arg_len) == NULL, "no NUL in arg");
	}
	struct smtp_mail_args m;
	if (smtp_parse_mail(s, len, &m) == SMTP_P_OK)
		check_path(&m.path, false);
	struct smtp_rcpt_args r;
	if (smtp_parse_rcpt(s, len, &r) == SMTP_P_OK) {
		check(!r.path.null, "no null forward path");
		check_path(&r.path, true);
	}
	(void)smtp_helo_valid(s, len);
	uint64_t size;
	bool last;
	if (smtp_parse_bdat(s, len, &size, &last) == SMTP_P_OK)
		check(len > 0 && s[0] >= '0' && s[0] <= '9', "BDAT size starts with a digit");
}

struct result {
	enum smtp_data_rc rc;
	size_t consumed;
	enum smtp_data_err err;
	bool ambiguous;
	uint64_t size;
	size_t len;
	char *msg;
};

/* The reference splitter: core/conn.c's line reader, octet by octet (a
 * line is too long when more than max_line + 1 octets arrive without an
 * LF, or when the whole line exceeds max_line; the rest of a too-long line
 * is dropped up to its LF), handing lines to smtp_data_line.  What
 * smtp_data_feed must do, however it finds the lines. */
static enum smtp_data_rc ref_feed(struct smtp_data *d, const char *s, size_t len,
				  size_t *consumed_r)
{
	static char line[70];
	static size_t n;
	static bool discarding;
	if (!consumed_r) {          /* reset */
		n = 0;
		discarding = false;
		return SMTP_DATA_MORE;
	}
	size_t max_line = d->lim.max_line;
	check(max_line + 2 <= sizeof(line), "reference line buffer");
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (discarding) {
			discarding = ch != '\n';
			continue;
		}
		if (ch != '\n') {
			if (n >= max_line + 1) {
				n = 0;
				discarding = true;
				smtp_data_line_too_long(d);
			} else {
				line[n++] = ch;
			}
			continue;
		}
		size_t k = n;
		bool crlf = k > 0 && line[k - 1] == '\r';
		if (crlf)
			k--;
		n = 0;
		enum smtp_data_rc rc = SMTP_DATA_MORE;
		if (k > max_line)
			smtp_data_line_too_long(d);
		else
			rc = smtp_data_line(d, line, k, crlf);
		if (rc != SMTP_DATA_MORE) {
			*consumed_r = i + 1;
			return rc;
		}
	}
	*consumed_r = len;
	return SMTP_DATA_MORE;
}

/* step 0: smtp_data_feed of all at once; 1..: in pieces of step octets;
 * SIZE_MAX: the reference splitter, all at once. */
static struct result run_data(const char *s, size_t len, size_t step, enum smtp_bare_policy bare)
{
	struct smtp_data_limits lim = {.max_size = 4096, .max_line = 64, .max_received = 5,
				       .bare = bare};
	struct smtp_data d;
	struct result r;
	memset(&r, 0, sizeof(r));
	smtp_data_init(&d, &lim);
	smtp_data_start(&d, "P\r\n", 3);
	size_t off = 0;
	r.rc = SMTP_DATA_MORE;
	bool ref = step == SIZE_MAX;
	if (ref)
		ref_feed(&d, NULL, 0, NULL);
	while (off < len) {
		size_t n = step && !ref ? step : len - off;
		if (n > len - off)
			n = len - off;
		size_t used;
		r.rc = ref ? ref_feed(&d, s + off, n, &used) : smtp_data_feed(&d, s + off, n, &used);
		off += used;
		if (r.rc != SMTP_DATA_MORE)
			break;
	}
	r.consumed = off;
	r.err = smtp_data_error(&d);
	r.ambiguous = smtp_data_end_ambiguous(&d);
	r.size = smtp_data_size(&d);
	const char *msg = smtp_data_message(&d, &r.len);
	if (r.rc == SMTP_DATA_DONE) {
		r.msg = malloc(r.len + 1);
		if (r.msg)
			memcpy(r.msg, msg, r.len);
		check(r.len == 3 + r.size, "size matches the stored content");
		for (size_t i = 0; i < r.len; i++)
			if (msg[i] == '\n')
				check(i > 0 && msg[i - 1] == '\r', "no bare LF stored");
			else if (msg[i] == '\r')
				check(i + 1 < r.len && msg[i + 1] == '\n', "no bare CR stored");
		check(memchr(msg, '\0', r.len) == NULL, "no NUL stored");
		check(r.size <= lim.max_size, "size limit");
	} else {
		check(r.rc == SMTP_DATA_MORE || r.err != SMTP_DATA_OK, "error has a reason");
	}
	(void)smtp_data_message_id(&d);
	smtp_data_clear(&d);
	return r;
}

/* Two runs of the same input end the same way, byte for byte. */
static void check_same(const struct result *a, const struct result *b, const char *what)
{
	char m[64];
#define SAME(field) \
	if (a->field != b->field) { \
		snprintf(m, sizeof(m), "%s: %s", #field, what); \
		check(0, m); \
	}
	SAME(rc);
	SAME(consumed);
	SAME(err);
	SAME(ambiguous);
	SAME(size);
	SAME(len);
#undef SAME
	if (a->msg && b->msg)
		check(memcmp(a->msg, b->msg, a->len) == 0, what);
}

static void fuzz_data(const char *s, size_t len, enum smtp_bare_policy bare)
{
	struct result whole = run_data(s, len, 0, bare);
	struct result bytes = run_data(s, len, 1, bare);
	struct result ref = run_data(s, len, SIZE_MAX, bare);
	check_same(&whole, &ref, "whole vs reference");
	check_same(&whole, &bytes, "whole vs bytes");
	free(ref.msg);
	free(whole.msg);
	free(bytes.msg);
}

/* BDAT (RFC 3030): the input as the LAST chunk, fed whole or in chunks
 * of `step` octets (each its own BDAT); a good message is the same either
 * way, and stored clean. */
static struct result run_bdat(const char *s, size_t len, size_t step, enum smtp_bare_policy bare)
{
	struct smtp_data_limits lim = {.max_size = 4096, .max_line = 64, .max_received = 5,
				       .bare = bare};
	struct smtp_data d;
	struct result r;
	memset(&r, 0, sizeof(r));
	smtp_data_init(&d, &lim);
	smtp_data_start(&d, "P\r\n", 3);
	size_t off = 0;
	do {
		size_t n = step ? step : len - off;
		if (n > len - off)
			n = len - off;
		smtp_data_chunk(&d, s + off, n);
		off += n;
		r.rc = smtp_data_chunk_end(&d, off == len);
	} while (r.rc == SMTP_DATA_MORE);
	r.err = smtp_data_error(&d);
	const char *msg = smtp_data_message(&d, &r.len);
	if (r.rc == SMTP_DATA_DONE) {
		r.size = smtp_data_size(&d);
		r.msg = malloc(r.len + 1);
		if (r.msg)
			memcpy(r.msg, msg, r.len);
		check(r.len == 3 + r.size, "bdat: size matches the stored content");
		for (size_t i = 0; i < r.len; i++)
			if (msg[i] == '\n')
				check(i > 0 && msg[i - 1] == '\r', "bdat: no bare LF stored");
			else if (msg[i] == '\r')
				check(i + 1 < r.len && msg[i + 1] == '\n', "bdat: no bare CR stored");
		check(r.len == 3 || (msg[r.len - 2] == '\r' && msg[r.len - 1] == '\n'),
		      "bdat: ends in CRLF");
	} else {
		check(r.err != SMTP_DATA_OK, "bdat: error has a reason");
	}
	smtp_data_clear(&d);
	return r;
}

static void fuzz_bdat(const char *s, size_t len, enum smtp_bare_policy bare)
{
	struct result whole = run_bdat(s, len, 0, bare);
	size_t steps[] = {1, 7};
	for (size_t i = 0; i < 2; i++) {
		struct result part = run_bdat(s, len, steps[i], bare);
		check(whole.rc == part.rc, "bdat: rc whole vs chunks");
		check(whole.err == part.err, "bdat: err whole vs chunks");
		check(whole.len == part.len, "bdat: len whole vs chunks");
		if (whole.msg && part.msg)
			check(memcmp(whole.msg, part.msg, whole.len) == 0, "bdat: message whole vs chunks");
		free(part.msg);
	}
	free(whole.msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	/* The first line is a command; the whole input is also a DATA phase. */
	const char *nl = memchr(s, '\n', size);
	fuzz_commands(s, nl ? (size_t)(nl - s) : size);
	fuzz_data(s, size, SMTP_BARE_NORMALIZE);
	fuzz_data(s, size, SMTP_BARE_REJECT);
	fuzz_bdat(s, size, SMTP_BARE_NORMALIZE);
	fuzz_bdat(s, size, SMTP_BARE_REJECT);
	return 0;
}
