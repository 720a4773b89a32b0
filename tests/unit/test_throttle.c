/* tests/unit/test_throttle.c: the failure table behind the login delay
 * (core/throttle.c): counting, forgetting, case, kinds, the bound and its
 * eviction order, the login policy (address and user, loopback as NULL),
 * address keys, the delay curve.  The clock is the tests' own. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/throttle.h"

#define T0 ((time_t)1000000)

static int setup(void **state)
{
	*state = throttle_new(0, THROTTLE_FORGET);
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	struct throttle *t = *state;
	throttle_free(&t);
	assert_null(t);
	return 0;
}

static void test_count_case_kinds(void **state)
{
	struct throttle *t = *state;
	assert_int_equal(throttle_count(t, THROTTLE_USER, "alice@x", T0), 0);
	assert_int_equal(throttle_fail(t, THROTTLE_USER, "alice@x", T0), 1);
	assert_int_equal(throttle_fail(t, THROTTLE_USER, "ALICE@X", T0 + 1), 2);
	assert_int_equal(throttle_fail(t, THROTTLE_USER, "Alice@X", T0 + 2), 3);
	assert_int_equal(throttle_count(t, THROTTLE_USER, "alice@x", T0 + 2), 3);
	/* An address spelled like the user is another key. */
	assert_int_equal(throttle_count(t, THROTTLE_IP, "alice@x", T0 + 2), 0);
	/* A neighbour is another key too. */
	assert_int_equal(throttle_count(t, THROTTLE_USER, "alice@y", T0 + 2), 0);
	assert_int_equal(throttle_count(t, THROTTLE_USER, "alice@x ", T0 + 2), 0);
	assert_int_equal(throttle_size(t), 1);
	throttle_clear(t, THROTTLE_USER, "ALICE@x");
	assert_int_equal(throttle_count(t, THROTTLE_USER, "alice@x", T0 + 3), 0);
	assert_int_equal(throttle_size(t), 0);
	/* Clearing what is not there is harmless. */
	throttle_clear(t, THROTTLE_USER, "nobody");
	assert_int_equal(throttle_fail(t, THROTTLE_USER, "alice@x", T0 + 4), 1);
}

static void test_forget_after_quiet(void **state)
{
	struct throttle *t = *state;
	throttle_fail(t, THROTTLE_IP, "192.0.2.7", T0);
	throttle_fail(t, THROTTLE_IP, "192.0.2.7", T0 + 100);
	/* The quiet period runs from the last failure, not the first. */
	assert_int_equal(throttle_count(t, THROTTLE_IP, "192.0.2.7", T0 + 100 + THROTTLE_FORGET - 1), 2);
	assert_int_equal(throttle_count(t, THROTTLE_IP, "192.0.2.7", T0 + 100 + THROTTLE_FORGET), 0);
	/* Forgotten: it counts afresh. */
	assert_int_equal(throttle_fail(t, THROTTLE_IP, "192.0.2.7", T0 + 100 + THROTTLE_FORGET), 1);
	/* A failure just before the end keeps it alive another period. */
	time_t t1 = T0 + 100 + THROTTLE_FORGET;
	assert_int_equal(throttle_fail(t, THROTTLE_IP, "192.0.2.7", t1 + THROTTLE_FORGET - 1), 2);
	assert_int_equal(throttle_count(t, THROTTLE_IP, "192.0.2.7", t1 + 2 * THROTTLE_FORGET - 2), 2);
	/* A clock that goes backwards never expires anything. */
	assert_int_equal(throttle_count(t, THROTTLE_IP, "192.0.2.7", T0), 2);
}

static void test_expired_are_swept(void **state)
{
	struct throttle *t = *state;
	char name[32];
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "old%d", i);
		throttle_fail(t, THROTTLE_USER, name, T0 + i);
	}
	assert_int_equal(throttle_size(t), 100);
	/* A failure once the first 50 are past their time drops them. */
	throttle_fail(t, THROTTLE_USER, "new", T0 + 49 + THROTTLE_FORGET);
	assert_int_equal(throttle_size(t), 51);
	assert_int_equal(throttle_count(t, THROTTLE_USER, "old49", T0 + 49 + THROTTLE_FORGET), 0);
	assert_int_equal(throttle_count(t, THROTTLE_USER, "old50", T0 + 49 + THROTTLE_FORGET), 1);
}

static void test_bounded_oldest_evicted(void **state)
{
	(void)state;
	struct throttle *t = throttle_new(1000, THROTTLE_FORGET);
	assert_non_null(t);
	/* The victim fails often, early; then a flood of invented names. */
	for (int i = 0; i < 5; i++)
		throttle_fail(t, THROTTLE_USER, "victim", T0);
	char name[32];
	for (int i = 0; i < 998; i++) {
		snprintf(name, sizeof(name), "flood%d", i);
		throttle_fail(t, THROTTLE_USER, name, T0 + 1);
	}
	assert_int_equal(throttle_size(t), 999);
	/* A new failure of the victim makes it the newest again. */
	assert_int_equal(throttle_fail(t, THROTTLE_USER, "victim", T0 + 2), 6);
	for (int i = 998; i < 5000; i++) {
		snprintf(name, sizeof(name), "flood%d", i);
		throttle_fail(t, THROTTLE_USER, name, T0 + 3);
		assert_true(throttle_size(t) <= 1000);
	}
	assert_int_equal(throttle_size(t), 1000);
	/* The oldest went first: the early flood names and then the victim;
	 * the last 1000 are all there. */
	assert_int_equal(throttle_count(t, THROTTLE_USER, "flood0", T0 + 3), 0);
	assert_int_equal(throttle_count(t, THROTTLE_USER, "victim", T0 + 3), 0);
	for (int i = 4000; i < 5000; i++) {
		snprintf(name, sizeof(name), "flood%d", i);
		assert_int_equal(throttle_count(t, THROTTLE_USER, name, T0 + 3), 1);
	}
	throttle_free(&t);
}

static void test_evict_order_follows_last_failure(void **state)
{
	(void)state;
	struct throttle *t = throttle_new(3, THROTTLE_FORGET);
	assert_non_null(t);
	throttle_fail(t, THROTTLE_USER, "a", T0);
	throttle_fail(t, THROTTLE_USER, "b", T0 + 1);
	throttle_fail(t, THROTTLE_USER, "c", T0 + 2);
	throttle_fail(t, THROTTLE_USER, "a", T0 + 3);   /* a is now the newest */
	throttle_fail(t, THROTTLE_USER, "d", T0 + 4);   /* evicts b */
	assert_int_equal(throttle_count(t, THROTTLE_USER, "a", T0 + 4), 2);
	assert_int_equal(throttle_count(t, THROTTLE_USER, "b", T0 + 4), 0);
	assert_int_equal(throttle_count(t, THROTTLE_USER, "c", T0 + 4), 1);
	assert_int_equal(throttle_count(t, THROTTLE_USER, "d", T0 + 4), 1);
	/* Looking at a count does not make it newer: c goes next. */
	throttle_fail(t, THROTTLE_USER, "e", T0 + 5);
	assert_int_equal(throttle_count(t, THROTTLE_USER, "c", T0 + 5), 0);
	assert_int_equal(throttle_count(t, THROTTLE_USER, "a", T0 + 5), 2);
	assert_int_equal(throttle_size(t), 3);
	throttle_free(&t);
}

static void test_login_policy(void **state)
{
	struct throttle *t = *state;
	/* The delay's n is the larger of the address's and the user's. */
	assert_int_equal(throttle_login_failed(t, "192.0.2.1", "bob@x", T0), 1);
	assert_int_equal(throttle_login_failed(t, "192.0.2.1", "carol@x", T0), 2);
	assert_int_equal(throttle_login_failed(t, "192.0.2.1", "dave@x", T0), 3);
	/* From elsewhere, bob's own count decides. */
	assert_int_equal(throttle_login_failures(t, "198.51.100.9", "bob@x", T0), 1);
	assert_int_equal(throttle_login_failures(t, "192.0.2.1", "erin@x", T0), 3);
	assert_int_equal(throttle_login_failed(t, "198.51.100.9", "BOB@x", T0), 2);
	/* Loopback (NULL): only the user counts, the address never does. */
	assert_int_equal(throttle_login_failed(t, NULL, "frank@x", T0), 1);
	assert_int_equal(throttle_login_failed(t, NULL, "frank@x", T0), 2);
	assert_int_equal(throttle_login_failures(t, NULL, "grace@x", T0), 0);
	/* A success forgets the user's failures, not the address's. */
	throttle_login_ok(t, "Dave@X");
	assert_int_equal(throttle_count(t, THROTTLE_USER, "dave@x", T0), 0);
	assert_int_equal(throttle_login_failures(t, "192.0.2.1", "dave@x", T0), 3);
	assert_int_equal(throttle_login_failures(t, NULL, "dave@x", T0), 0);
	/* No name (a SASL exchange that failed before naming anyone): not
	 * counted per user, where all of them would share one count. */
	assert_int_equal(throttle_login_failed(t, NULL, "", T0), 0);
	assert_int_equal(throttle_login_failed(t, NULL, NULL, T0), 0);
	assert_int_equal(throttle_login_failed(t, "203.0.113.5", "", T0), 1);
	assert_int_equal(throttle_count(t, THROTTLE_USER, "", T0), 0);
	throttle_login_ok(t, NULL);
}

static void test_ip_key(void **state)
{
	(void)state;
	char k[THROTTLE_IP_KEY_MAX];
	throttle_ip_key("192.0.2.44", k, sizeof(k));
	assert_string_equal(k, "192.0.2.44");
	/* IPv6: the /64 a host picks its addresses from. */
	throttle_ip_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", k, sizeof(k));
	assert_string_equal(k, "2001:db8:1:2::/64");
	throttle_ip_key("2001:DB8:1:2::1", k, sizeof(k));
	assert_string_equal(k, "2001:db8:1:2::/64");
	throttle_ip_key("2001:db8:1:3::1", k, sizeof(k));
	assert_string_equal(k, "2001:db8:1:3::/64");
	throttle_ip_key("::ffff:198.51.100.7", k, sizeof(k));
	assert_string_equal(k, "198.51.100.7");
	throttle_ip_key("not an address", k, sizeof(k));
	assert_string_equal(k, "not an address");
	char small[5];
	throttle_ip_key("192.0.2.44", small, sizeof(small));
	assert_string_equal(small, "192.");
}

static void test_delay_curve(void **state)
{
	(void)state;
	assert_int_equal(throttle_delay_ms(0, 1000, 15000), 0);
	assert_int_equal(throttle_delay_ms(1, 1000, 15000), 1000);
	assert_int_equal(throttle_delay_ms(2, 1000, 15000), 2000);
	assert_int_equal(throttle_delay_ms(3, 1000, 15000), 4000);
	assert_int_equal(throttle_delay_ms(4, 1000, 15000), 8000);
	assert_int_equal(throttle_delay_ms(5, 1000, 15000), 15000);
	assert_int_equal(throttle_delay_ms(6, 1000, 15000), 15000);
	assert_int_equal(throttle_delay_ms(4000000000u, 1000, 15000), 15000);
	assert_int_equal(throttle_delay_ms(3, 0, 15000), 0);
	assert_int_equal(throttle_delay_ms(1, 200, 1600), 200);
	assert_int_equal(throttle_delay_ms(4, 200, 1600), 1600);
	/* No overflow at the extremes. */
	assert_int_equal(throttle_delay_ms(40, 4000000000u, 4294967295u), 4294967295u);
	assert_int_equal(throttle_delay_ms(1, 4000000000u, 4294967295u), 4000000000u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_count_case_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget_after_quiet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_are_swept, setup, teardown),
		cmocka_unit_test(test_bounded_oldest_evicted),
		cmocka_unit_test(test_evict_order_follows_last_failure),
		cmocka_unit_test_setup_teardown(test_login_policy, setup, teardown),
		cmocka_unit_test(test_ip_key),
		cmocka_unit_test(test_delay_curve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
