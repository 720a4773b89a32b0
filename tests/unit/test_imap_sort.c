/* tests/unit/test_imap_sort.c: the pure parts of SORT and THREAD: base
 * subject extraction (RFC 5256 2.1) on the tricky subjects, sent dates
 * (2.2), Message-ID normalization (3), header to keys, the comparison
 * under a sort program, both threading algorithms step by step (dummies,
 * loops, duplicate ids, subject merging) and the THREAD response's shape,
 * a 100,000-message reply chain included (no recursion). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_parse.h"
#include "imap/imap_sort.h"

/* ---- base subject ---- */

static void check_base(const char *subject, const char *want, bool want_reply)
{
	struct buf b;
	buf_init(&b, 0);
	bool reply = !want_reply;
	assert_int_equal(imap_sort_base_subject(subject, strlen(subject), &b, &reply), 0);
	buf_putc(&b, '\0');
	if (strcmp(b.data, want) != 0)
		fail_msg("base subject of \"%s\": \"%s\", want \"%s\"", subject, b.data, want);
	if (reply != want_reply)
		fail_msg("reply of \"%s\": %d, want %d", subject, reply, want_reply);
	buf_free(&b);
}

static void test_base_subject(void **state)
{
	(void)state;
	check_base("hello", "hello", false);
	check_base("Re: hello", "hello", true);
	check_base("RE: Re: re:hello", "hello", true);
	check_base("re : hello", "hello", true);
	check_base("Fwd: hello", "hello", true);
	check_base("FW: hello", "hello", true);
	check_base("Fw [2]: hello", "hello", true);
	check_base("Re[3]: hello", "hello", true);
	check_base("[list] Re: hello", "hello", true);
	check_base("[a] [b] Re: [c] Fwd: hello", "hello", true);
	/* (4): a leading blob goes only when something is left. */
	check_base("[PATCH] fix it", "fix it", false);
	check_base("[PATCH]", "[PATCH]", false);
	check_base("[a][b]", "[b]", false);
	check_base("[a] [b]  ", "[b]", false);
	/* (2): "(fwd)" trailers and white space, repeatedly. */
	check_base("hello (fwd)", "hello", true);
	check_base("hello (FWD) (fwd)  ", "hello", true);
	check_base("hello(fwd)", "hello", true);
	/* (6): [fwd: ...] and back to (2). */
	check_base("[fwd: hello]", "hello", true);
	check_base("[Fwd: Re: hello (fwd)]", "hello", true);
	check_base("Re: [fwd: [list] Re: hi]", "hi", true);
	check_base("[fwd: [fwd: deep]]", "deep", true);
	check_base("[fwd: open", "[fwd: open", false);
	/* (1): white space. */
	check_base("  multiple   spaces\there  ", "multiple spaces here", false);
	check_base("folded\r\n line", "folded line", false);
	/* RFC 2047 first, then the rules. */
	check_base("=?UTF-8?Q?Re:_caf=C3=A9?=", "caf\xc3\xa9", true);
	check_base("Re: =?ISO-8859-1?Q?caf=E9?= (fwd)", "caf\xc3\xa9", true);
	/* Not leaders. */
	check_base("Reply to this", "Reply to this", false);
	check_base("Fwd", "Fwd", false);
	check_base("Rex: a", "Rex: a", false);
	check_base("re", "re", false);
	/* Nothing left. */
	check_base("Re:", "", true);
	check_base("Re: Fwd: ", "", true);
	check_base("", "", false);
	check_base("   ", "", false);
	check_base("(fwd)", "", true);
}

static void test_casemap(void **state)
{
	(void)state;
	char s[] = "Hello, World! \xc3\xa9z";
	imap_sort_casemap(s, strlen(s));
	assert_string_equal(s, "HELLO, WORLD! \xc3\xa9Z");
}

/* ---- dates ---- */

static int64_t date_of(const char *s)
{
	int64_t t = -12345;
	if (imap_sort_date_parse(s, strlen(s), &t) < 0)
		return -1;
	return t;
}

static void test_date(void **state)
{
	(void)state;
	/* RFC 5256 2.2's own example. */
	assert_int_equal(date_of("31 Dec 2000 16:01:33 -0800"),
			 date_of("1 Jan 2001 00:01:33 +0000"));
	assert_int_equal(date_of("1 Jan 2001 00:01:33 +0000"), 978307293);
	assert_int_equal(date_of("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
	assert_int_equal(date_of("Mon, 2 Mar 2026 23:30:00 PST"),
			 date_of("3 Mar 2026 07:30:00 +0000"));
	assert_int_equal(date_of("Mon, 2 Mar 2026 23:30 EDT (comment)"),
			 date_of("3 Mar 2026 03:30:00 +0000"));
	/* Two-digit years (RFC 5322 4.3). */
	assert_int_equal(date_of("1 Jan 99 00:00:00 +0000"), date_of("1 Jan 1999 00:00:00 +0000"));
	assert_int_equal(date_of("1 Jan 01 00:00:00 +0000"), date_of("1 Jan 2001 00:00:00 +0000"));
	/* A bad zone is UTC, a bad time 00:00:00. */
	assert_int_equal(date_of("1 Jan 2001 10:00:00 XYZ"), date_of("1 Jan 2001 10:00:00 +0000"));
	assert_int_equal(date_of("1 Jan 2001 10:00:00 +99"), date_of("1 Jan 2001 10:00:00 +0000"));
	assert_int_equal(date_of("1 Jan 2001 99:00"), date_of("1 Jan 2001 00:00:00 +0000"));
	assert_int_equal(date_of("1 Jan 2001"), date_of("1 Jan 2001 00:00:00 +0000"));
	/* Minutes and seconds are two digits, a year at least two. */
	assert_int_equal(date_of("1 Jan 2001 10:5:00 +0100"), date_of("1 Jan 2001 00:00:00 +0000"));
	assert_int_equal(date_of("1 Jan 2001 10:05:7 +0100"), date_of("1 Jan 2001 00:00:00 +0000"));
	assert_int_equal(date_of("1 Jan 2001 9:05:07 +0000"), date_of("1 Jan 2001 09:05:07 +0000"));
	assert_int_equal(date_of("1 Jan 5 10:00:00 +0000"), -1);
	/* No date at all. */
	assert_int_equal(date_of("yesterday"), -1);
	assert_int_equal(date_of("31 Feb 2001 00:00:00 +0000"), -1);
	assert_int_equal(date_of(""), -1);
}

/* ---- message ids ---- */

static void check_ids(const char *field, const char *want)
{
	struct buf b, all;
	buf_init(&b, 0);
	buf_init(&all, 0);
	size_t pos = 0;
	int rc;
	while ((rc = imap_sort_msgid_next(field, strlen(field), &pos, &b)) == 1) {
		buf_putc(&b, '\0');
		if (all.len)
			buf_putc(&all, ' ');
		buf_puts(&all, b.data);
		buf_reset(&b);
	}
	assert_int_equal(rc, 0);
	buf_putc(&all, '\0');
	if (strcmp(all.data, want) != 0)
		fail_msg("ids of \"%s\": \"%s\", want \"%s\"", field, all.data, want);
	buf_free(&b);
	buf_free(&all);
}

static void test_msgid(void **state)
{
	(void)state;
	/* RFC 5256 3: quoting does not make another id. */
	check_ids("<\"01KF8JCEOCBS0045PS\"@xxx.yyy.com>", "01KF8JCEOCBS0045PS@xxx.yyy.com");
	check_ids("<01KF8JCEOCBS0045PS@xxx.yyy.com>", "01KF8JCEOCBS0045PS@xxx.yyy.com");
	check_ids(" <a@b>\r\n\t<c@d> <e@f>", "a@b c@d e@f");
	check_ids("<a@b> (a comment <x@y>) \"quoted <q@r>\" <c@d>", "a@b c@d");
	check_ids("<a (c) @ b>", "a@b");
	/* Not ids. */
	check_ids("<nobrackets", "");
	check_ids("<no-at-sign> <@b> <a@> <a@b@c>", "");
	check_ids("<broken <a@b>", "a@b");
	check_ids("someone@example.com (Someone) <x@y>", "x@y");
	check_ids("", "");
	/* Case is kept: ids compare case-sensitively (RFC 5256 3). */
	check_ids("<A@B>", "A@B");
}

/* ---- a message from a header ---- */

struct fix {
	struct buf pool, scratch;
	struct imap_sort_msg m[64];
	size_t n;
};

static void add_msg(struct fix *f, const char *hdr, int64_t arrival)
{
	struct imap_sort_msg *m = &f->m[f->n];
	memset(m, 0, sizeof(*m));
	m->seq = (uint32_t)(f->n + 1);
	m->num = m->seq;
	m->arrival = arrival;
	m->size = 100 + f->n;
	assert_int_equal(imap_sort_msg_fill(m, 0xffff, hdr, strlen(hdr), &f->pool, &f->scratch), 0);
	f->n++;
}

static void fix_init(struct fix *f)
{
	memset(f, 0, sizeof(*f));
	buf_init(&f->pool, 0);
	buf_init(&f->scratch, 0);
	assert_int_equal(imap_sort_pool_init(&f->pool), 0);
}

static void fix_free(struct fix *f)
{
	buf_free(&f->pool);
	buf_free(&f->scratch);
}

static const char *S(const struct fix *f, uint32_t off)
{
	return f->pool.data + off;
}

static void test_fill(void **state)
{
	(void)state;
	struct fix f;
	fix_init(&f);
	add_msg(&f,
		"From: \"Zed Q. Public\" <Zed@Example.COM>\r\n"
		"To: undisclosed:;, =?UTF-8?Q?J=C3=B6rg?= <jorg@example.org>, b@example.org\r\n"
		"Cc: <cc@example.net> (Comment Name)\r\n"
		"Subject: Re: [list] Hello (fwd)\r\n"
		"Date: 31 Dec 2000 16:01:33 -0800\r\n"
		"Message-ID: <\"id1\"@host>\r\n"
		"References: <r1@h> <r2@h>\r\n"
		"In-Reply-To: <ignored@h>\r\n"
		"\r\n", 5);
	const struct imap_sort_msg *m = &f.m[0];
	assert_string_equal(S(&f, m->str[IMAP_SORT_S_SUBJECT]), "HELLO");
	assert_true(m->reply);
	assert_string_equal(S(&f, m->str[IMAP_SORT_S_FROM]), "ZED");
	/* A group's start is the first address, its name the addr-mailbox
	 * (as ENVELOPE lists it; Dovecot and imaptest's sort-addresses). */
	assert_string_equal(S(&f, m->str[IMAP_SORT_S_TO]), "UNDISCLOSED");
	assert_string_equal(S(&f, m->str[IMAP_SORT_S_CC]), "CC");
	assert_string_equal(S(&f, m->str[IMAP_SORT_S_DISPLAYFROM]), "ZED Q. PUBLIC");
	assert_string_equal(S(&f, m->str[IMAP_SORT_S_DISPLAYTO]), "UNDISCLOSED");
	assert_int_equal(m->date, 978307293);
	assert_string_equal(S(&f, m->msgid), "id1@host");
	assert_int_equal(m->nrefs, 2);
	assert_string_equal(S(&f, m->refs), "r1@h");
	assert_string_equal(S(&f, m->refs + 5), "r2@h");

	/* A mailbox first: its local part, its decoded display name. */
	add_msg(&f, "To: =?UTF-8?Q?J=C3=B6rg?= <jorg@example.org>, undisclosed:;\r\n\r\n", 6);
	assert_string_equal(S(&f, f.m[1].str[IMAP_SORT_S_TO]), "JORG");
	assert_string_equal(S(&f, f.m[1].str[IMAP_SORT_S_DISPLAYTO]), "J\xc3\xb6RG");
	f.n--;

	/* Nothing there: empty keys, the arrival date, In-Reply-To's first
	 * id as the only reference. */
	add_msg(&f, "Date: garbage\r\nIn-Reply-To: <p@h> <q@h>\r\nFrom: bare@example.com\r\n\r\n", 7);
	m = &f.m[1];
	assert_int_equal(m->str[IMAP_SORT_S_SUBJECT], IMAP_SORT_EMPTY);
	assert_int_equal(m->str[IMAP_SORT_S_TO], IMAP_SORT_EMPTY);
	assert_false(m->reply);
	assert_int_equal(m->date, 7);
	assert_int_equal(m->msgid, IMAP_SORT_NONE);
	assert_int_equal(m->nrefs, 1);
	assert_string_equal(S(&f, m->refs), "p@h");
	/* RFC 5957: no display name, the addr-spec. */
	assert_string_equal(S(&f, m->str[IMAP_SORT_S_DISPLAYFROM]), "BARE@EXAMPLE.COM");
	assert_string_equal(S(&f, m->str[IMAP_SORT_S_FROM]), "BARE");
	fix_free(&f);
}

static void test_many_refs(void **state)
{
	(void)state;
	struct fix f;
	fix_init(&f);
	struct buf h;
	buf_init(&h, 0);
	buf_puts(&h, "References:");
	for (int i = 0; i < 1000; i++)
		buf_printf(&h, " <r%d@h>", i);
	buf_puts(&h, "\r\n\r\n");
	buf_putc(&h, '\0');
	add_msg(&f, h.data, 0);
	/* The last IMAP_THREAD_MAX_REFS, nearest the message, are kept. */
	assert_int_equal(f.m[0].nrefs, IMAP_THREAD_MAX_REFS);
	char want[32];
	snprintf(want, sizeof(want), "r%d@h", 1000 - IMAP_THREAD_MAX_REFS);
	assert_string_equal(S(&f, f.m[0].refs), want);
	const char *r = S(&f, f.m[0].refs);
	for (uint32_t k = 1; k < f.m[0].nrefs; k++)
		r += strlen(r) + 1;
	assert_string_equal(r, "r999@h");
	buf_free(&h);
	fix_free(&f);
}

/* ---- sorting ---- */

static void check_order(struct fix *f, const struct imap_sort_crit *crit, size_t ncrit,
			const char *want)
{
	struct imap_sort_msg v[64];
	memcpy(v, f->m, f->n * sizeof(v[0]));
	assert_int_equal(imap_sort_run(v, f->n, crit, ncrit, f->pool.data), 0);
	char got[256] = "";
	for (size_t i = 0; i < f->n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%u", i ? " " : "",
			 (unsigned)v[i].num);
	if (strcmp(got, want) != 0)
		fail_msg("order \"%s\", want \"%s\"", got, want);
}

static void test_sort(void **state)
{
	(void)state;
	struct fix f;
	fix_init(&f);
	add_msg(&f, "Subject: b\r\nDate: 1 Jan 2001 00:00:03 +0000\r\nFrom: x@h\r\n\r\n", 40);
	add_msg(&f, "Subject: Re: a\r\nDate: 1 Jan 2001 00:00:01 +0000\r\nTo: y@h\r\n\r\n", 30);
	add_msg(&f, "Subject: A\r\nDate: 1 Jan 2001 00:00:02 +0000\r\nFrom: a@h\r\n\r\n", 20);
	add_msg(&f, "Date: 1 Jan 2001 00:00:01 +0000\r\n\r\n", 10);
	add_msg(&f, "Subject: [x] B\r\nDate: 1 Jan 2001 00:00:00 +0000\r\n\r\n", 10);
	const struct imap_sort_crit subj[] = { { IMAP_SORT_SUBJECT, false } };
	const struct imap_sort_crit subj_rdate[] = { { IMAP_SORT_SUBJECT, false },
						     { IMAP_SORT_DATE, true } };
	const struct imap_sort_crit rsubj[] = { { IMAP_SORT_SUBJECT, true } };
	const struct imap_sort_crit arrival[] = { { IMAP_SORT_ARRIVAL, false } };
	const struct imap_sort_crit size_r[] = { { IMAP_SORT_SIZE, true } };
	const struct imap_sort_crit date[] = { { IMAP_SORT_DATE, false } };
	const struct imap_sort_crit from[] = { { IMAP_SORT_FROM, false } };
	/* The empty subject first; ties by sequence number. */
	check_order(&f, subj, 1, "4 2 3 1 5");
	check_order(&f, subj_rdate, 2, "4 3 2 1 5");
	/* REVERSE does not turn the implicit sequence-number order. */
	check_order(&f, rsubj, 1, "1 5 2 3 4");
	check_order(&f, arrival, 1, "4 5 3 2 1");
	check_order(&f, date, 1, "5 2 4 3 1");
	check_order(&f, from, 1, "2 4 5 3 1");
	check_order(&f, size_r, 1, "5 4 3 2 1");
	fix_free(&f);
}

/* ---- threading ---- */

static void check_thread(struct fix *f, enum imap_thread_alg alg, const char *want)
{
	struct buf out;
	buf_init(&out, 0);
	assert_int_equal(imap_thread_run(alg, f->m, f->n, f->pool.data, &out), 0);
	buf_putc(&out, '\0');
	if (strcmp(out.data, want) != 0)
		fail_msg("thread \"%s\", want \"%s\"", out.data, want);
	buf_free(&out);
}

/* A message with the given subject, id, references and a date of `t`
 * seconds. */
static void add_t(struct fix *f, const char *subject, const char *id, const char *refs, int t)
{
	char h[1024];
	snprintf(h, sizeof(h), "Subject: %s\r\nDate: 1 Jan 2001 00:%02d:%02d +0000\r\n%s%s%s%s%s%s\r\n",
		 subject, t / 60, t % 60, id ? "Message-ID: " : "", id ? id : "", id ? "\r\n" : "",
		 refs ? "References: " : "", refs ? refs : "", refs ? "\r\n" : "");
	add_msg(f, h, 0);
}

static void test_ordered_subject(void **state)
{
	(void)state;
	struct fix f;
	fix_init(&f);
	add_t(&f, "b", NULL, NULL, 10);
	add_t(&f, "a", NULL, NULL, 20);
	add_t(&f, "Re: b", NULL, NULL, 30);
	add_t(&f, "b", NULL, NULL, 40);
	add_t(&f, "Fwd: a", NULL, NULL, 5);
	add_t(&f, "c", NULL, NULL, 50);
	/* RFC 5256 3: children of the first, no grandchildren; threads by
	 * their first message's date. */
	check_thread(&f, IMAP_THREAD_ORDEREDSUBJECT, "(5 2)(1 (3)(4))(6)");
	fix_free(&f);

	fix_init(&f);
	check_thread(&f, IMAP_THREAD_ORDEREDSUBJECT, "");
	check_thread(&f, IMAP_THREAD_REFERENCES, "");
	fix_free(&f);
}

static void test_references(void **state)
{
	(void)state;
	struct fix f;

	/* A chain, siblings. */
	fix_init(&f);
	add_t(&f, "s1", "<a@h>", NULL, 1);
	add_t(&f, "s2", "<b@h>", "<a@h>", 2);
	add_t(&f, "s3", "<c@h>", "<a@h> <b@h>", 3);
	add_t(&f, "s4", "<d@h>", "<a@h>", 4);
	check_thread(&f, IMAP_THREAD_REFERENCES, "(1 (2 3)(4))");
	fix_free(&f);

	/* RFC 5256 4's example shape, "(3 6 (4 23)(44 7 96))". */
	fix_init(&f);
	add_t(&f, "other", "<m2@h>", NULL, 2);
	add_t(&f, "t", "<m3@h>", NULL, 3);
	add_t(&f, "t", "<m6@h>", "<m3@h>", 6);
	add_t(&f, "t", "<m4@h>", "<m3@h> <m6@h>", 4);
	add_t(&f, "t", "<m23@h>", "<m3@h> <m6@h> <m4@h>", 23);
	add_t(&f, "t", "<m44@h>", "<m3@h> <m6@h>", 44);
	add_t(&f, "t", "<m7@h>", "<m3@h> <m6@h> <m44@h>", 7);
	add_t(&f, "t", "<m96@h>", "<m3@h> <m6@h> <m44@h> <m7@h>", 96);
	static const unsigned nums[] = { 2, 3, 6, 4, 23, 44, 7, 96 };
	for (size_t i = 0; i < f.n; i++)
		f.m[i].num = nums[i];
	check_thread(&f, IMAP_THREAD_REFERENCES, "(2)(3 6 (4 23)(44 7 96))");
	fix_free(&f);

	/* A missing parent: a dummy kept under the root when it has two
	 * children ("((3)(5))" of RFC 5256 4), dropped with one. */
	fix_init(&f);
	add_t(&f, "x", "<a@h>", "<gone@h>", 1);
	add_t(&f, "y", "<b@h>", "<gone@h>", 2);
	add_t(&f, "z", "<c@h>", "<gone2@h>", 3);
	check_thread(&f, IMAP_THREAD_REFERENCES, "((1)(2))(3)");
	fix_free(&f);

	/* A missing parent below a missing parent: the inner dummy is spliced
	 * into the outer one, which stays under the root with three children
	 * (found by fuzz_imap_sort: the spliced dummy kept a stale child list
	 * that step 6 then sorted, cutting the outer list). */
	fix_init(&f);
	add_t(&f, "m", "<x@h>", "<a@h> <c@h>", 2);
	add_t(&f, "m", "<y@h>", "<a@h> <c@h>", 3);
	add_t(&f, "m", "<z@h>", "<a@h> <c@h>", 1);
	check_thread(&f, IMAP_THREAD_REFERENCES, "((3)(1)(2))");
	fix_free(&f);

	/* Dummies in the middle are spliced out: b's parent is the missing
	 * m, whose parent is a. */
	fix_init(&f);
	add_t(&f, "p", "<a@h>", NULL, 1);
	add_t(&f, "q", "<b@h>", "<a@h> <m@h>", 2);
	add_t(&f, "r", "<c@h>", "<a@h> <m@h>", 3);
	check_thread(&f, IMAP_THREAD_REFERENCES, "(1 (2)(3))");
	fix_free(&f);

	/* A loop: a says b is its parent, b says a is; the second link is
	 * not made. */
	fix_init(&f);
	add_t(&f, "l1", "<a@h>", "<b@h>", 1);
	add_t(&f, "l2", "<b@h>", "<a@h>", 2);
	add_t(&f, "l3", "<c@h>", "<c@h>", 3);
	check_thread(&f, IMAP_THREAD_REFERENCES, "(2 1)(3)");
	fix_free(&f);

	/* Duplicate ids: only the first message has it. */
	fix_init(&f);
	add_t(&f, "d1", "<a@h>", NULL, 1);
	add_t(&f, "d2", "<a@h>", NULL, 2);
	add_t(&f, "d3", "<c@h>", "<a@h>", 3);
	check_thread(&f, IMAP_THREAD_REFERENCES, "(1 3)(2)");
	fix_free(&f);

	/* A truncated References: the message's parent is its last
	 * reference even when an earlier message linked it elsewhere. */
	fix_init(&f);
	add_t(&f, "u", "<x@h>", "<a@h> <b@h>", 1);   /* b a dummy under dummy a */
	add_t(&f, "v", "<b@h>", "<y@h>", 2);         /* b: now under dummy y */
	check_thread(&f, IMAP_THREAD_REFERENCES, "(2 1)");
	fix_free(&f);
}

static void test_references_subjects(void **state)
{
	(void)state;
	struct fix f;

	/* (5) a reply by subject goes under the original. */
	fix_init(&f);
	add_t(&f, "hello", "<a@h>", NULL, 1);
	add_t(&f, "Re: hello", "<b@h>", NULL, 2);
	add_t(&f, "other", "<c@h>", NULL, 3);
	check_thread(&f, IMAP_THREAD_REFERENCES, "(1 2)(3)");
	fix_free(&f);

	/* Even when the reply is older: the table keeps the non-reply. */
	fix_init(&f);
	add_t(&f, "Re: hello", "<b@h>", NULL, 1);
	add_t(&f, "hello", "<a@h>", NULL, 2);
	check_thread(&f, IMAP_THREAD_REFERENCES, "(2 1)");
	fix_free(&f);

	/* Two originals with one subject: a new dummy over both. */
	fix_init(&f);
	add_t(&f, "hi", "<a@h>", NULL, 1);
	add_t(&f, "HI", "<b@h>", NULL, 2);
	add_t(&f, "[fwd: hi]", "<c@h>", NULL, 3);
	check_thread(&f, IMAP_THREAD_REFERENCES, "((1)(2)(3))");
	fix_free(&f);

	/* A dummy root takes the others of its subject as children. */
	fix_init(&f);
	add_t(&f, "topic", "<a@h>", "<gone@h>", 1);
	add_t(&f, "Re: topic", "<b@h>", "<gone@h>", 2);
	add_t(&f, "topic", "<c@h>", NULL, 3);
	check_thread(&f, IMAP_THREAD_REFERENCES, "((1)(2)(3))");
	fix_free(&f);

	/* Empty subjects are never gathered. */
	fix_init(&f);
	add_t(&f, "", "<a@h>", NULL, 1);
	add_t(&f, "Re:", "<b@h>", NULL, 2);
	check_thread(&f, IMAP_THREAD_REFERENCES, "(1)(2)");
	fix_free(&f);
}

static void test_long_chain(void **state)
{
	(void)state;
	/* 100,000 messages, each the reply to the one before: no recursion
	 * (this would overflow a worker thread's stack otherwise). */
	const size_t n = 100000;
	struct imap_sort_msg *m = calloc(n, sizeof(*m));
	struct buf pool, out;
	buf_init(&pool, 0);
	buf_init(&out, 0);
	assert_non_null(m);
	assert_int_equal(imap_sort_pool_init(&pool), 0);
	uint32_t subj = (uint32_t)pool.len;
	buf_puts(&pool, "S");
	buf_putc(&pool, '\0');
	for (size_t i = 0; i < n; i++) {
		m[i].seq = m[i].num = (uint32_t)(i + 1);
		m[i].date = (int64_t)i;
		m[i].str[IMAP_SORT_S_SUBJECT] = subj;
		m[i].msgid = (uint32_t)pool.len;
		buf_printf(&pool, "m%zu@h", i);
		buf_putc(&pool, '\0');
		if (i > 0) {
			m[i].refs = m[i - 1].msgid;
			m[i].nrefs = 1;
		}
	}
	assert_int_equal(imap_thread_run(IMAP_THREAD_REFERENCES, m, n, pool.data, &out), 0);
	buf_putc(&out, '\0');
	assert_memory_equal(out.data, "(1 2 3 ", 7);
	assert_string_equal(out.data + out.len - 1 - 14, " 99999 100000)");
	buf_reset(&out);
	assert_int_equal(imap_thread_run(IMAP_THREAD_ORDEREDSUBJECT, m, n, pool.data, &out), 0);
	buf_putc(&out, '\0');
	assert_memory_equal(out.data, "(1 (2)(3)", 9);
	free(m);
	buf_free(&pool);
	buf_free(&out);
}

/* ---- parsing ---- */

static void test_parse(void **state)
{
	(void)state;
	/* Built with the command reader, as the session does. */
	static const struct {
		const char *line;
		bool thread, ok;
	} cases[] = {
		{ "a SORT (SUBJECT) UTF-8 ALL", false, true },
		{ "a SORT (REVERSE DATE ARRIVAL CC FROM SIZE TO) US-ASCII SINCE 1-Feb-1994", false, true },
		{ "a SORT (DISPLAYFROM REVERSE DISPLAYTO) \"UTF-8\" ALL", false, true },
		{ "a SORT RETURN (MIN MAX COUNT ALL) (SUBJECT) UTF-8 ALL", false, true },
		{ "a SORT RETURN () (SUBJECT) UTF-8 ALL", false, true },
		{ "a SORT RETURN (SAVE) (SUBJECT) UTF-8 ALL", false, false },
		{ "a SORT RETURN (PARTIAL 1:10 COUNT UPDATE CONTEXT) (DATE) UTF-8 ALL", false, true },
		{ "a SORT RETURN (PARTIAL 20:10) (DATE) UTF-8 ALL", false, true },
		{ "a SORT RETURN (PARTIAL 1:10 ALL) (DATE) UTF-8 ALL", false, false },
		{ "a SORT RETURN (PARTIAL 1:2 PARTIAL 3:4) (DATE) UTF-8 ALL", false, false },
		{ "a SORT RETURN (PARTIAL) (DATE) UTF-8 ALL", false, false },
		{ "a SORT RETURN (PARTIAL 1:*) (DATE) UTF-8 ALL", false, false },
		{ "a SORT RETURN (PARTIAL 1:2,4) (DATE) UTF-8 ALL", false, false },
		{ "a SORT RETURN (PARTIAL 0:2) (DATE) UTF-8 ALL", false, false },
		{ "a SORT () UTF-8 ALL", false, false },
		{ "a SORT (REVERSE) UTF-8 ALL", false, false },
		{ "a SORT (REVERSE REVERSE DATE) UTF-8 ALL", false, false },
		{ "a SORT (BOGUS) UTF-8 ALL", false, false },
		{ "a SORT SUBJECT UTF-8 ALL", false, false },
		{ "a SORT (SUBJECT) UTF-8", false, false },
		{ "a SORT (SUBJECT)", false, false },
		{ "a SORT (SUBJECT) (UTF-8) ALL", false, false },
		{ "a SORT (SUBJECT) UTF-8 BOGUS", false, false },
		{ "a SORT", false, false },
		{ "a SORT (DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE "
		  "DATE DATE DATE) UTF-8 ALL", false, false },
		{ "a THREAD REFERENCES UTF-8 ALL", true, true },
		{ "a THREAD orderedsubject us-ascii SINCE 5-MAR-2000", true, true },
		{ "a THREAD BOGUS UTF-8 ALL", true, false },
		{ "a THREAD REFERENCES UTF-8", true, false },
		{ "a THREAD REFERENCES", true, false },
		{ "a THREAD", true, false },
		{ "a THREAD (REFERENCES) UTF-8 ALL", true, false },
	};
	struct imap_parse_limits lim;
	imap_parse_limits_default(&lim);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_parser *p = imap_parser_new(&lim);
		assert_non_null(p);
		assert_int_equal(imap_parser_feed_line(p, cases[i].line, strlen(cases[i].line)),
				 IMAP_PARSE_DONE);
		struct imap_command *c = imap_parser_take(p);
		assert_non_null(c);
		struct imap_sort_program prog;
		const char *err = NULL;
		int rc = cases[i].thread ? imap_thread_parse(c->args, c->nargs, &prog, &err)
					 : imap_sort_parse(c->args, c->nargs, true, &prog, &err);
		if ((rc == 0) != cases[i].ok)
			fail_msg("\"%s\": rc %d (%s)", cases[i].line, rc, err ? err : "");
		if (rc < 0)
			assert_non_null(err);
		imap_sort_program_clear(&prog);
		imap_command_free(&c);
		imap_parser_free(&p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_subject),
		cmocka_unit_test(test_casemap),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_msgid),
		cmocka_unit_test(test_fill),
		cmocka_unit_test(test_many_refs),
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_ordered_subject),
		cmocka_unit_test(test_references),
		cmocka_unit_test(test_references_subjects),
		cmocka_unit_test(test_long_chain),
		cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
