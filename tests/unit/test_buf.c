/* Unit tests for core/buf.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/buf.h"

static void test_append_and_terminate(void **state)
{
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(buf_append(&b, "ab\0c", 4), 0);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "ab\0c", 4);
	assert_int_equal(b.data[4], '\0');
	assert_int_equal(buf_putc(&b, 'x'), 0);
	assert_int_equal(buf_puts(&b, "yz"), 0);
	assert_int_equal(b.len, 7);
	assert_memory_equal(b.data, "ab\0cxyz", 8);
	buf_free(&b);
	assert_null(b.data);
}

static void test_max_refuses_whole_append(void **state)
{
	struct buf b;
	buf_init(&b, 10);
	assert_int_equal(buf_append(&b, "12345678", 8), 0);
	assert_int_equal(buf_append(&b, "abc", 3), -1);
	assert_int_equal(b.len, 8); /* nothing partial was added */
	assert_int_equal(buf_append(&b, "ab", 2), 0);
	assert_int_equal(b.len, 10);
	assert_int_equal(buf_putc(&b, 'z'), -1);
	assert_int_equal(buf_printf(&b, "%d", 1), -1);
	buf_free(&b);
}

static void test_overflow_sizes(void **state)
{
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(buf_append(&b, "a", 1), 0);
	assert_int_equal(buf_append(&b, "a", SIZE_MAX), -1);
	assert_int_equal(buf_append(&b, "a", SIZE_MAX - 1), -1);
	assert_int_equal(b.len, 1);
	buf_free(&b);
}

static void test_printf_grows(void **state)
{
	struct buf b;
	buf_init(&b, 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(buf_printf(&b, "%04d,", i), 0);
	assert_int_equal(b.len, 5000);
	assert_memory_equal(b.data + 4995, "0999,", 5);
	assert_int_equal(strlen(b.data), 5000);
	buf_free(&b);
}

/* printf into existing room: a line that fits, one that does not (the
 * truncated first pass must leave nothing behind), and max respected even
 * when the room is there. */
static void test_printf_room_and_max(void **state)
{
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(buf_puts(&b, "ab"), 0);          /* cap 64 now */
	assert_int_equal(buf_printf(&b, "<%d>", 42), 0);
	assert_string_equal(b.data, "ab<42>");
	assert_int_equal(buf_printf(&b, "%0100d", 7), 0);  /* past the room */
	assert_int_equal(b.len, 106);
	assert_int_equal(strlen(b.data), 106);
	assert_int_equal(b.data[105], '7');
	buf_free(&b);

	buf_init(&b, 8);
	assert_int_equal(buf_puts(&b, "abc"), 0);         /* cap 64 > max */
	assert_int_equal(buf_printf(&b, "%s", "123456"), -1);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "abc");
	assert_int_equal(buf_printf(&b, "%s", "12345"), 0);
	assert_string_equal(b.data, "abc12345");
	buf_free(&b);
}

static void test_put_u64(void **state)
{
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(buf_put_u64(&b, 0), 0);
	assert_int_equal(buf_putc(&b, ' '), 0);
	assert_int_equal(buf_put_u64(&b, 1234567890123ull), 0);
	assert_int_equal(buf_putc(&b, ' '), 0);
	assert_int_equal(buf_put_u64(&b, UINT64_MAX), 0);
	assert_string_equal(b.data, "0 1234567890123 18446744073709551615");
	buf_free(&b);
}

static void test_consume_and_reset(void **state)
{
	struct buf b;
	buf_init(&b, 0);
	buf_puts(&b, "hello world");
	buf_consume(&b, 6);
	assert_string_equal(b.data, "world");
	buf_consume(&b, 100);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_puts(&b, "again");
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_free(&b);
	buf_reset(&b); /* on a freed buffer: no crash */
	buf_consume(&b, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_terminate),
		cmocka_unit_test(test_max_refuses_whole_append),
		cmocka_unit_test(test_overflow_sizes),
		cmocka_unit_test(test_printf_grows),
		cmocka_unit_test(test_printf_room_and_max),
		cmocka_unit_test(test_put_u64),
		cmocka_unit_test(test_consume_and_reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
