/* tests/unit/test_loop_poll.c: an event loop's poll window (core/
 * loop_poll.c): shut at start and when off, opened by short idle spells,
 * doubled up to the maximum, halved and shut by long ones, left alone by
 * spells the window covered; and the first-event mark. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/loop_poll.h"

#define US 1000u

static void test_off(void **state)
{
	(void)state;
	struct loop_poll p;
	loop_poll_init(&p, 0);
	assert_int_equal(p.max_ns, 0);
	for (int i = 0; i < 8; i++)
		loop_poll_adjust(&p, 5 * US);
	assert_int_equal(p.window_ns, 0);   /* never opens */
}

static void test_short_spells_open_and_grow(void **state)
{
	(void)state;
	struct loop_poll p;
	loop_poll_init(&p, 50);
	assert_int_equal(p.window_ns, 0);
	/* A client 20 us away: a quarter of the maximum first, then double
	 * while the spells outlast the window, then the window covers them. */
	loop_poll_adjust(&p, 20 * US);
	assert_int_equal(p.window_ns, 12500);
	loop_poll_adjust(&p, 20 * US);
	assert_int_equal(p.window_ns, 25000);
	loop_poll_adjust(&p, 20 * US);
	assert_int_equal(p.window_ns, 25000);
	/* Spells up to the maximum take it to the maximum, not past. */
	loop_poll_adjust(&p, 49 * US);
	assert_int_equal(p.window_ns, 50000);
	loop_poll_adjust(&p, 50 * US);
	assert_int_equal(p.window_ns, 50000);
}

static void test_long_spells_shut(void **state)
{
	(void)state;
	struct loop_poll p;
	loop_poll_init(&p, 50);
	loop_poll_adjust(&p, 40 * US);
	loop_poll_adjust(&p, 40 * US);
	loop_poll_adjust(&p, 40 * US);
	assert_int_equal(p.window_ns, 50000);
	/* A client 2 ms away: each wait outlasts the maximum. */
	loop_poll_adjust(&p, 2000 * US);
	assert_int_equal(p.window_ns, 25000);
	loop_poll_adjust(&p, 2000 * US);
	assert_int_equal(p.window_ns, 12500);
	loop_poll_adjust(&p, 2000 * US);
	assert_int_equal(p.window_ns, 6250);
	loop_poll_adjust(&p, 2000 * US);
	assert_int_equal(p.window_ns, 0);
	/* Shut, it stays shut while the spells stay long. */
	for (int i = 0; i < 8; i++)
		loop_poll_adjust(&p, 51 * US);
	assert_int_equal(p.window_ns, 0);
	/* One spell a full window would have caught opens it again. */
	loop_poll_adjust(&p, 50 * US);
	assert_int_equal(p.window_ns, 12500);
}

static void test_caught_spell_changes_nothing(void **state)
{
	(void)state;
	struct loop_poll p;
	loop_poll_init(&p, 100);
	loop_poll_adjust(&p, 60 * US);
	assert_int_equal(p.window_ns, 25000);
	loop_poll_adjust(&p, 25 * US);   /* the poll caught it at its end */
	loop_poll_adjust(&p, 1 * US);
	loop_poll_adjust(&p, 0);
	assert_int_equal(p.window_ns, 25000);
}

static void test_first_event_mark(void **state)
{
	(void)state;
	loop_poll_note();   /* before any wait: not a wait's end */
	loop_poll_arm();
	assert_int_equal(loop_poll_first_ns(), 0);
	uint64_t before = loop_poll_now_ns();
	loop_poll_note();
	uint64_t first = loop_poll_first_ns();
	assert_true(first >= before);
	assert_true(first <= loop_poll_now_ns());
	loop_poll_note();   /* later events keep the first one's time */
	assert_int_equal(loop_poll_first_ns(), first);
	loop_poll_arm();
	assert_int_equal(loop_poll_first_ns(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_short_spells_open_and_grow),
		cmocka_unit_test(test_long_spells_shut),
		cmocka_unit_test(test_caught_spell_changes_nothing),
		cmocka_unit_test(test_first_event_mark),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
