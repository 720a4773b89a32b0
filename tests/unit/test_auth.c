/* Unit tests for core/auth.c: password hashing and the login name to
 * address mapping (sandbox bare names). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>
#include <stdio.h>
#include <string.h>

#include "core/auth.h"
#include "core/config.h"
#include "core/proto.h"
#include "core/sasl.h"
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

/* crypt(3) of pw with setting, or fail. */
static void make_hash(const char *pw, const char *setting, char *out, size_t len)
{
	struct crypt_data cd;
	memset(&cd, 0, sizeof(cd));
	const char *h = crypt_rn(pw, setting, &cd, sizeof(cd));
	assert_non_null(h);
	assert_true(h[0] != '*' && strlen(h) < len);
	strcpy(out, h);
}

/* The cost is part of a stored hash: one from a damaged or foreign record
 * must not hold the event loop for seconds (fuzz_auth_records found that a
 * yescrypt N of 2^18, bcrypt cost 16 or a million SHA-crypt rounds did). */
static void test_costly_hash_refused(void **state)
{
	static const char *const costly[] = {
		"$y$jBT$Yx0eu6yYzb/Jk8Q1z7E3N/",      /* yescrypt N = 2^14 */
		"$y$j9U$Yx0eu6yYzb/Jk8Q1z7E3N/",      /* r = 33 */
		"$6$rounds=100001$abcdefgh",
		"$2b$11$abcdefghijklmnopqrstuu",
	};
	static const char *const fine[] = {
		"$y$jAT$Yx0eu6yYzb/Jk8Q1z7E3N/",      /* N = 2^13 */
		"$6$rounds=5000$abcdefgh",
		"$6$abcdefgh",
		"$5$abcdefgh",
		"$2b$05$abcdefghijklmnopqrstuu",
	};
	char h[STORE_PWHASH_MAX + 1];
	for (size_t i = 0; i < sizeof(costly) / sizeof(costly[0]); i++) {
		make_hash("pw", costly[i], h, sizeof(h));
		assert_false(auth_verify_password("pw", h));
	}
	for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
		make_hash("pw", fine[i], h, sizeof(h));
		assert_true(auth_verify_password("pw", h));
		assert_false(auth_verify_password("pW", h));
	}
	/* legacy schemes we never write, and cost fields out of shape */
	make_hash("pw", "$1$abcdefgh", h, sizeof(h));
	assert_false(auth_verify_password("pw", h));
	assert_false(auth_verify_password("pw", "$6$rounds=99999999999999999999$abc$x"));
	assert_false(auth_verify_password("pw", "$y$j9T"));
	assert_false(auth_verify_password("pw", "$2b$"));
}

/* RFC 5802 7: i= is a posit-number; keys whose count no client could use
 * (a damaged record: fuzz_auth_records saw "i=0") count as no keys. */
static void test_scram_keys_from_user(void **state)
{
	struct store_user u;
	struct sasl_scram_keys k;
	memset(&u, 0, sizeof(u));
	assert_int_equal(auth_scram_keys_from_user(&u, &k), 1);   /* no keys */
	u.scram.salt_len = 16;
	u.scram.iterations = 4096;
	memset(u.scram.stored_key, 7, sizeof(u.scram.stored_key));
	assert_int_equal(auth_scram_keys_from_user(&u, &k), 0);
	assert_int_equal(k.iterations, 4096);
	assert_int_equal(k.salt_len, 16);
	assert_memory_equal(k.stored_key, u.scram.stored_key, sizeof(k.stored_key));
	u.scram.iterations = 0;
	assert_int_equal(auth_scram_keys_from_user(&u, &k), 1);
	u.scram.iterations = SASL_SCRAM_ITERATIONS_MAX + 1;
	assert_int_equal(auth_scram_keys_from_user(&u, &k), 1);
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
		cmocka_unit_test(test_costly_hash_refused),
		cmocka_unit_test(test_scram_keys_from_user),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
