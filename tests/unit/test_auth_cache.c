/* tests/unit/test_auth_cache.c: the verified-credential cache
 * (core/auth_cache.c): hits only for the same address, password and stored
 * hash within the TTL; bounded; a changed password never hits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "core/auth_cache.h"

static int64_t fake_now;
static int64_t fake_clock(void)
{
	return fake_now;
}

static struct auth_cache *mk(size_t n, unsigned ttl)
{
	struct auth_cache *c = auth_cache_new(n, ttl);
	assert_non_null(c);
	fake_now = 1000;
	auth_cache_set_clock(c, fake_clock);
	return c;
}

static void test_hit_needs_all_three(void **state)
{
	(void)state;
	struct auth_cache *c = mk(64, 60);
	const char *h1 = "$y$j9T$salt$hash1", *h2 = "$y$j9T$salt$hash2";
	assert_false(auth_cache_hit(c, "a@x", "pw", h1));
	auth_cache_add(c, "a@x", "pw", h1);
	assert_true(auth_cache_hit(c, "a@x", "pw", h1));
	assert_false(auth_cache_hit(c, "a@x", "pW", h1));     /* other password */
	assert_false(auth_cache_hit(c, "b@x", "pw", h1));     /* other user */
	assert_false(auth_cache_hit(c, "a@x", "pw", ""));     /* no hash */
	/* A user and password that concatenate alike are still two keys. */
	auth_cache_add(c, "a@x", "", h1);
	assert_false(auth_cache_hit(c, "a@", "x", h1));
	/* `user passwd`: the stored hash changed, the entry is dropped. */
	assert_false(auth_cache_hit(c, "a@x", "pw", h2));
	assert_false(auth_cache_hit(c, "a@x", "pw", h1));
	auth_cache_free(&c);
	assert_null(c);
}

static void test_expiry(void **state)
{
	(void)state;
	struct auth_cache *c = mk(64, 60);
	auth_cache_add(c, "a@x", "pw", "$y$h");
	fake_now += 59;
	assert_true(auth_cache_hit(c, "a@x", "pw", "$y$h"));
	fake_now += 1;
	assert_false(auth_cache_hit(c, "a@x", "pw", "$y$h"));
	assert_int_equal(auth_cache_count(c), 0);
	auth_cache_free(&c);
}

static void test_bounded(void **state)
{
	(void)state;
	struct auth_cache *c = mk(16, 3600);
	char user[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(user, sizeof(user), "u%d@x", i);
		auth_cache_add(c, user, "pw", "$y$h");
		fake_now++;
	}
	assert_true(auth_cache_count(c) <= 16);
	assert_true(auth_cache_count(c) > 0);
	/* the newest is there */
	assert_true(auth_cache_hit(c, "u999@x", "pw", "$y$h"));
	/* re-adding the same key does not take a second slot */
	size_t n = auth_cache_count(c);
	auth_cache_add(c, "u999@x", "pw", "$y$h");
	assert_int_equal(auth_cache_count(c), n);
	auth_cache_free(&c);
}

static void test_disabled(void **state)
{
	(void)state;
	assert_null(auth_cache_new(0, 60));
	assert_null(auth_cache_new(10, 0));
	auth_cache_add(NULL, "a@x", "pw", "$y$h");
	assert_false(auth_cache_hit(NULL, "a@x", "pw", "$y$h"));
	assert_int_equal(auth_cache_count(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_needs_all_three),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_disabled),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
