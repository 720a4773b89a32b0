/* tests/unit/test_imap_url.c: the IMAP URL parser (imap/imap_url.h):
 * RFC 5092's forms (absolute, server-relative, mailbox-relative), the
 * examples of RFC 4469 and RFC 4467, sections, partial ranges, URLAUTH
 * parts and the rump, and malformed URLs; every prefix and every one-byte
 * change of the valid ones parses or fails cleanly (ASan in tests/run
 * --sanitize). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "imap/imap_url.h"

static int parse(const char *s, struct imap_url *u)
{
	const char *err = NULL;
	int rc = imap_url_parse(s, strlen(s), u, &err);
	if (rc < 0)
		assert_non_null(err);
	return rc;
}

static void test_rfc4469_examples(void **state)
{
	(void)state;
	struct imap_url u;
	/* RFC 4469 appendix A */
	assert_int_equal(parse("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER", &u), 0);
	assert_int_equal(u.form, IMAP_URL_SERVER);
	assert_string_equal(u.mailbox, "Drafts");
	assert_true(u.has_uidvalidity);
	assert_int_equal(u.uidvalidity, 385759045);
	assert_int_equal(u.uid, 20);
	assert_true(u.has_section);
	assert_int_equal(u.section.nparts, 0);
	assert_int_equal(u.section.text, IMAP_SECTION_HEADER);
	assert_int_equal(u.access, IMAP_URL_ACCESS_NONE);
	imap_url_clear(&u);

	assert_int_equal(parse("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME", &u), 0);
	assert_int_equal(u.section.nparts, 1);
	assert_int_equal(u.section.parts[0], 1);
	assert_int_equal(u.section.text, IMAP_SECTION_MIME);
	imap_url_clear(&u);

	assert_int_equal(parse("/INBOX;UIDVALIDITY=785799047/;UID=113330/;section=1.5.9", &u), 0);
	assert_int_equal(u.section.nparts, 3);
	assert_int_equal(u.section.parts[2], 9);
	assert_int_equal(u.section.text, IMAP_SECTION_NONE);
	imap_url_clear(&u);
}

static void test_rfc4467_examples(void **state)
{
	(void)state;
	struct imap_url u;
	const char *rump = "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred";
	assert_int_equal(parse(rump, &u), 0);
	assert_int_equal(u.form, IMAP_URL_ABSOLUTE);
	assert_string_equal(u.user, "joe");
	assert_string_equal(u.host, "example.com");
	assert_string_equal(u.mailbox, "INBOX");
	assert_false(u.has_uidvalidity);
	assert_int_equal(u.uid, 20);
	assert_int_equal(u.section.nparts, 2);
	assert_int_equal(u.access, IMAP_URL_ACCESS_SUBMIT);
	assert_string_equal(u.access_user, "fred");
	assert_int_equal(u.rump_len, strlen(rump));
	assert_null(u.mechanism);
	imap_url_clear(&u);

	const char *full = "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred"
			   ":internal:91354a473744909de610943775f92038";
	assert_int_equal(parse(full, &u), 0);
	assert_int_equal(u.rump_len, strlen(rump));
	assert_string_equal(u.mechanism, "internal");
	assert_string_equal(u.token, "91354a473744909de610943775f92038");
	imap_url_clear(&u);

	assert_int_equal(parse("imap://joe@example.com/INBOX/;uid=20;expire=2026-12-31T23:59:59Z"
			       ";urlauth=anonymous", &u), 0);
	assert_true(u.has_expire);
	assert_int_equal(u.expire, 1798761599);
	assert_int_equal(u.access, IMAP_URL_ACCESS_ANONYMOUS);
	imap_url_clear(&u);
	assert_int_equal(parse("imap://joe@example.com/INBOX/;uid=20;expire=2027-01-01T01:00:00.5+01:00"
			       ";urlauth=authuser", &u), 0);
	assert_int_equal(u.expire, 1798761600);
	assert_int_equal(u.access, IMAP_URL_ACCESS_AUTHUSER);
	imap_url_clear(&u);
}

static void test_forms(void **state)
{
	(void)state;
	struct imap_url u;
	assert_int_equal(parse(";UID=3/;PARTIAL=0.100", &u), 0);
	assert_int_equal(u.form, IMAP_URL_MAILBOX);
	assert_null(u.mailbox);
	assert_int_equal(u.uid, 3);
	assert_true(u.has_partial && u.partial_has_len);
	assert_int_equal(u.partial_off, 0);
	assert_int_equal(u.partial_len, 100);
	imap_url_clear(&u);

	assert_int_equal(parse("/a%20b/c%C3%BC/;uid=7/;partial=100000", &u), 0);
	assert_string_equal(u.mailbox, "a b/c\xc3\xbc");
	assert_true(u.has_partial);
	assert_false(u.partial_has_len);
	assert_int_equal(u.partial_off, 100000);
	imap_url_clear(&u);

	assert_int_equal(parse("IMAP://u%40example.org;AUTH=*@Mail.Example.ORG:143/INBOX/;UID=1", &u), 0);
	assert_string_equal(u.user, "u@example.org");
	assert_string_equal(u.host, "mail.example.org");
	imap_url_clear(&u);

	assert_int_equal(parse("//host/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(SUBJECT%20FROM)", &u), 0);
	assert_int_equal(u.section.text, IMAP_SECTION_HEADER_FIELDS);
	assert_int_equal(u.section.nfields, 2);
	assert_string_equal(u.section.fields[0].s, "SUBJECT");
	assert_string_equal(u.section.fields[1].s, "FROM");
	imap_url_clear(&u);

	assert_int_equal(parse("/INBOX/;UID=1/;SECTION=2.HEADER.FIELDS.NOT%20(X)", &u), 0);
	assert_int_equal(u.section.text, IMAP_SECTION_HEADER_FIELDS_NOT);
	assert_int_equal(u.section.nparts, 1);
	imap_url_clear(&u);

	assert_int_equal(parse("/INBOX/;UID=1/;SECTION=text", &u), 0);
	assert_int_equal(u.section.text, IMAP_SECTION_TEXT);
	imap_url_clear(&u);
}

static void test_bad(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "INBOX", "/", "/INBOX", "/INBOX/", "/INBOX;UIDVALIDITY=1", "/;UID=1",
		"/INBOX/;UID=0", "/INBOX/;UID=4294967296", "/INBOX/;UID=01", "/INBOX/;UID=x",
		"/INBOX;UIDVALIDITY=0/;UID=1", "/INBOX/;UID=1/", "/INBOX/;UID=1/;SECTION=",
		"/INBOX/;UID=1/;SECTION=0", "/INBOX/;UID=1/;SECTION=MIME", "/INBOX/;UID=1/;SECTION=1.",
		"/INBOX/;UID=1/;SECTION=HEADERX", "/INBOX/;UID=1/;SECTION=HEADER.FIELDS",
		"/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20()", "/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(A%20%20B)",
		"/INBOX/;UID=1/;PARTIAL=1.0", "/INBOX/;UID=1/;PARTIAL=.5", "/INBOX/;UID=1/;PARTIAL=",
		"/INBOX/;UID=1/;PARTIAL=1/;SECTION=1", "/INBOX/;UID=1;FOO=1", "/IN%2", "/IN%zzBOX/;UID=1",
		"/IN%00BOX/;UID=1", "/IN BOX/;UID=1", "/INBOX/;UID=1;URLAUTH=", "/INBOX/;UID=1;URLAUTH=root",
		"/INBOX/;UID=1;URLAUTH=user+", "/INBOX/;UID=1;EXPIRE=2026-01-01T00:00:00Z",
		"/INBOX/;UID=1;EXPIRE=2026-02-30T00:00:00Z;URLAUTH=anonymous",
		"/INBOX/;UID=1;EXPIRE=tomorrow;URLAUTH=anonymous",
		"/INBOX/;UID=1;URLAUTH=anonymous:internal", "/INBOX/;UID=1;URLAUTH=anonymous:internal:abc",
		"/INBOX/;UID=1;URLAUTH=anonymous::91354a473744909de610943775f92038",
		"/INBOX/;UID=1;URLAUTH=anonymous:internal:91354a473744909de610943775f9203g",
		"imap://", "imap:///INBOX/;UID=1", "imap://@host/INBOX/;UID=1", "imap://host:99999/INBOX/;UID=1",
		"imap://host:x/INBOX/;UID=1", "imap://[::1/INBOX/;UID=1", "imap://host", "imap://host/",
		"http://host/INBOX/;UID=1", "imap://u;AUTH@host/INBOX/;UID=1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imap_url u;
		if (parse(bad[i], &u) == 0)
			fail_msg("accepted: %s", bad[i]);
		/* cleared on failure */
		assert_null(u.mailbox);
		assert_null(u.section.parts);
	}
	struct imap_url u;
	char *long_url = malloc(IMAP_URL_MAX + 20);
	assert_non_null(long_url);
	memset(long_url, 'a', IMAP_URL_MAX + 19);
	memcpy(long_url, "/", 1);
	memcpy(long_url + IMAP_URL_MAX + 10, "/;UID=1", 8);
	assert_int_equal(parse(long_url, &u), -1);
	free(long_url);
}

/* Every prefix and every single-byte change of valid URLs: no crash, no
 * leak, and a failure leaves nothing to free. */
static void test_mutations(void **state)
{
	(void)state;
	static const char *const good[] = {
		("imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred"
		 ":internal:91354a473744909de610943775f92038"),
		"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER.FIELDS%20(A%20B)/;PARTIAL=1.2",
		"imap://u;AUTH=*@h:1/a/;UID=1;EXPIRE=2026-01-01T00:00:00+05:30;URLAUTH=user+x",
	};
	static const char subst[] = { '/', ';', '=', '%', '.', ':', '+', '0', 'x', ' ', '(', 0 };
	for (size_t g = 0; g < sizeof(good) / sizeof(good[0]); g++) {
		size_t n = strlen(good[g]);
		char *buf = malloc(n + 1);
		assert_non_null(buf);
		for (size_t len = 0; len <= n; len++) {
			struct imap_url u;
			const char *err;
			if (imap_url_parse(good[g], len, &u, &err) == 0)
				imap_url_clear(&u);
		}
		for (size_t i = 0; i < n; i++) {
			for (size_t k = 0; k < sizeof(subst); k++) {
				memcpy(buf, good[g], n + 1);
				buf[i] = subst[k];
				struct imap_url u;
				const char *err;
				if (imap_url_parse(buf, n, &u, &err) == 0)
					imap_url_clear(&u);
			}
		}
		free(buf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4469_examples),
		cmocka_unit_test(test_rfc4467_examples),
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_mutations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
