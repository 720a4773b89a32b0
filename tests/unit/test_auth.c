/* Unit tests for core/auth.c: password hashing and the login name to
 * address mapping (sandbox bare names). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/auth.h"
#include "core/config.h"
#include "core/proto.h"
#include "storage/storage.h"

const struct proto_ops smtp_proto_ops = {.name = "smtp"};
const struct proto_ops pop3_proto_ops = {.name = "pop3"};
const struct proto_ops imap_proto_ops = {.name = "imap"};

static void test_hash_and_verify(void **state)
{
	char h1[STORE_PWHASH_MAX + 1], h2[STORE_PWHASH_MAX + 1];
	assert_int_equal(auth_hash_password("correct horse", h1, sizeof(h1)), 0);
	assert_int_equal(auth_hash_password("correct horse", h2, sizeof(h2)), 0);
	assert_true(strncmp(h1, "$y$", 3) == 0);  /* yescrypt */
	assert_string_not_equal(h1, h2);          /* fresh salt each time */
	assert_null(strstr(h1, "correct"));
	assert_true(auth_verify_password("correct horse", h1));
	assert_true(auth_verify_password("correct horse", h2));
	assert_false(auth_verify_password("correct horsE", h1));
	assert_false(auth_verify_password("", h1));
	assert_false(auth_verify_password("correct horse ", h1));
}

static void test_no_or_broken_hash_never_matches(void **state)
{
	assert_false(auth_verify_password("", ""));
	assert_false(auth_verify_password("x", ""));
	assert_false(auth_verify_password("x", NULL));
	assert_false(auth_verify_password("x", "*"));
	assert_false(auth_verify_password("x", "$y$garbage"));
	assert_false(auth_verify_password("x", "x"));
}

static void test_short_output_refused(void **state)
{
	char small[10];
	assert_int_equal(auth_hash_password("pw", small, sizeof(small)), -1);
}

static void test_user_address(void **state)
{
	struct config cfg;
	char err[600], out[STORE_ADDRESS_MAX + 1];
	assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), 0);
	snprintf(cfg.hostname, sizeof(cfg.hostname), "mx.example");
	/* outside sandbox mode a name is what it is */
	auth_user_address(&cfg, "testuser1", out, sizeof(out));
	assert_string_equal(out, "testuser1");
	cfg.sandbox = true;
	auth_user_address(&cfg, "testuser1", out, sizeof(out));
	assert_string_equal(out, "testuser1@mx.example");
	auth_user_address(&cfg, "First.Last+tag", out, sizeof(out));
	assert_string_equal(out, "First.Last+tag@mx.example");
	auth_user_address(&cfg, "a@b.example", out, sizeof(out));
	assert_string_equal(out, "a@b.example");
	/* not a Dot-string: left alone, so the store refuses it */
	const char *bad[] = {"", ".a", "a.", "a..b", "a b", "a\"b", "a(b)", "a,b", "a\\b",
			     "0123456789012345678901234567890123456789012345678901234567890123x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		auth_user_address(&cfg, bad[i], out, sizeof(out));
		assert_string_equal(out, bad[i]);
	}
	/* 64 octets is the limit (RFC 5321 4.5.3.1.1) */
	char l64[65];
	memset(l64, 'x', 64);
	l64[64] = '\0';
	auth_user_address(&cfg, l64, out, sizeof(out));
	assert_int_equal(strlen(out), 64 + strlen("@mx.example"));
	/* never cut short into another name */
	char small[12];
	auth_user_address(&cfg, "testuser1", small, sizeof(small));
	assert_string_equal(small, "");
	auth_user_address(&cfg, "a@very.long.example", small, sizeof(small));
	assert_string_equal(small, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_and_verify),
		cmocka_unit_test(test_no_or_broken_hash_never_matches),
		cmocka_unit_test(test_short_output_refused),
		cmocka_unit_test(test_user_address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
