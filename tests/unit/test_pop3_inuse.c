/* Unit tests for pop3/pop3_inuse.c: the process-wide maildrop registry
 * behind POP3's -ERR [IN-USE] (RFC 2449 8.1.2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pop3/pop3_inuse.h"

static void test_acquire_release(void **state)
{
	struct pop3_inuse a = {0}, b = {0};
	assert_false(pop3_inuse_held(7));
	assert_true(pop3_inuse_acquire(&a, 7));
	assert_true(pop3_inuse_held(7));
	/* a second session for the same maildrop is refused */
	assert_false(pop3_inuse_acquire(&b, 7));
	assert_false(b.held);
	/* an entry already holding cannot take a second maildrop */
	assert_false(pop3_inuse_acquire(&a, 8));
	assert_false(pop3_inuse_held(8));
	/* another maildrop is independent */
	assert_true(pop3_inuse_acquire(&b, 8));
	pop3_inuse_release(&a);
	assert_false(pop3_inuse_held(7));
	assert_true(pop3_inuse_held(8));
	/* releasing twice, or an entry that holds nothing, is harmless */
	pop3_inuse_release(&a);
	struct pop3_inuse idle = {0};
	pop3_inuse_release(&idle);
	assert_true(pop3_inuse_held(8));
	/* and the maildrop can be taken again */
	assert_true(pop3_inuse_acquire(&a, 7));
	pop3_inuse_release(&a);
	pop3_inuse_release(&b);
	assert_false(pop3_inuse_held(8));
}

/* A held maildrop moves to another entry without a moment free; moving
 * from an entry that holds nothing does nothing. */
static void test_move(void **state)
{
	(void)state;
	struct pop3_inuse a = {0}, b = {0}, c = {0}, other = {0};
	assert_true(pop3_inuse_acquire(&a, 77));
	assert_true(pop3_inuse_acquire(&other, 78));   /* same bucket list, maybe */
	pop3_inuse_move(&b, &a);
	assert_false(a.held);
	assert_true(b.held);
	assert_true(pop3_inuse_held(77));
	assert_false(pop3_inuse_acquire(&c, 77));
	pop3_inuse_release(&a);                        /* holds nothing now */
	assert_true(pop3_inuse_held(77));
	pop3_inuse_move(&c, &a);                       /* nothing to move */
	assert_false(c.held);
	pop3_inuse_release(&b);
	assert_false(pop3_inuse_held(77));
	assert_true(pop3_inuse_held(78));
	assert_true(pop3_inuse_acquire(&c, 77));
	pop3_inuse_release(&c);
	pop3_inuse_release(&other);
}

static void test_many(void **state)
{
	/* Many entries sharing buckets, released in an interleaved order. */
	enum { N = 5000 };
	static struct pop3_inuse e[N], dup;
	for (uint32_t i = 0; i < N; i++)
		assert_true(pop3_inuse_acquire(&e[i], i * 256u));   /* same low bits */
	for (uint32_t i = 0; i < N; i++) {
		assert_true(pop3_inuse_held(i * 256u));
		assert_false(pop3_inuse_acquire(&dup, i * 256u));
		assert_false(pop3_inuse_held(i * 256u + 1));
	}
	for (uint32_t i = 0; i < N; i += 2)
		pop3_inuse_release(&e[i]);
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(pop3_inuse_held(i * 256u), i % 2 == 1);
	for (uint32_t i = 1; i < N; i += 2)
		pop3_inuse_release(&e[i]);
	for (uint32_t i = 0; i < N; i++)
		assert_false(pop3_inuse_held(i * 256u));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acquire_release),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_move),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
