/* Unit tests for core/auth.c password hashing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/auth.h"
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_and_verify),
		cmocka_unit_test(test_no_or_broken_hash_never_matches),
		cmocka_unit_test(test_short_output_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
