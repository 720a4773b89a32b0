/* tests/unit/test_imap_list.c: the LIST pattern matcher (imap/imap_list.h,
 * RFC 3501 6.3.8): "*" crosses the hierarchy delimiter, "%" does not. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "imap/imap_list.h"

static int m(const char *pat, const char *name)
{
	return imap_list_match(pat, strlen(pat), name, strlen(name), '/');
}

static void test_literal(void **state)
{
	(void)state;
	assert_int_equal(m("INBOX", "INBOX"), 1);
	assert_int_equal(m("INBOX", "INBOX/a"), 0);
	assert_int_equal(m("INBOX/a", "INBOX"), 0);
	assert_int_equal(m("inbox", "INBOX"), 0);   /* folding is the caller's job */
	assert_int_equal(m("", ""), 1);
	assert_int_equal(m("", "a"), 0);
	assert_int_equal(m("a", ""), 0);
}

static void test_star(void **state)
{
	(void)state;
	assert_int_equal(m("*", ""), 1);
	assert_int_equal(m("*", "a"), 1);
	assert_int_equal(m("*", "a/b/c"), 1);
	assert_int_equal(m("a/*", "a/b/c"), 1);
	assert_int_equal(m("a/*", "a"), 0);
	assert_int_equal(m("a*", "a"), 1);
	assert_int_equal(m("a*", "ab/c"), 1);
	assert_int_equal(m("*c", "a/b/c"), 1);
	assert_int_equal(m("*c", "a/b/cd"), 0);
	assert_int_equal(m("*b*", "a/b/c"), 1);
	assert_int_equal(m("**", "x/y"), 1);
}

static void test_percent(void **state)
{
	(void)state;
	assert_int_equal(m("%", "a"), 1);
	assert_int_equal(m("%", ""), 1);
	assert_int_equal(m("%", "a/b"), 0);
	assert_int_equal(m("a/%", "a/b"), 1);
	assert_int_equal(m("a/%", "a/b/c"), 0);
	assert_int_equal(m("%/%", "a/b"), 1);
	assert_int_equal(m("%/%", "a"), 0);
	assert_int_equal(m("a%", "abc"), 1);
	assert_int_equal(m("a%", "ab/c"), 0);
	assert_int_equal(m("%c", "abc"), 1);
	assert_int_equal(m("%/*", "a/b/c"), 1);
	assert_int_equal(m("%*", "a/b"), 1);
	/* the delimiter is a parameter */
	assert_int_equal(imap_list_match("%", 1, "a.b", 3, '.'), 0);
	assert_int_equal(imap_list_match("%", 1, "a/b", 3, '.'), 1);
}

/* Many stars against a long name that almost matches: must stay fast
 * (O(p * n), no exponential backtracking). */
static void test_pathological(void **state)
{
	(void)state;
	char name[1001];
	memset(name, 'a', 1000);
	name[1000] = '\0';
	char pat[201];
	for (size_t i = 0; i < 100; i++) {
		pat[2 * i] = '*';
		pat[2 * i + 1] = 'a';
	}
	pat[200] = '\0';
	assert_int_equal(m(pat, name), 1);
	pat[199] = 'b';
	assert_int_equal(m(pat, name), 0);
	for (size_t i = 0; i < 100; i++)
		pat[2 * i] = '%';
	pat[199] = 'a';
	assert_int_equal(m(pat, name), 1);
	name[500] = '/';
	assert_int_equal(m(pat, name), 0);
}

/* Binary names: bytes >= 0x80 (UTF-8) match themselves. */
static void test_utf8(void **state)
{
	(void)state;
	assert_int_equal(m("Entw\xc3\xbcrfe", "Entw\xc3\xbcrfe"), 1);
	assert_int_equal(m("Entw%", "Entw\xc3\xbcrfe"), 1);
	assert_int_equal(m("*\xc3\xbc*", "a/\xc3\xbc/b"), 1);
	assert_int_equal(m("%\xc3\xbc%", "a/\xc3\xbc/b"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal),
		cmocka_unit_test(test_star),
		cmocka_unit_test(test_percent),
		cmocka_unit_test(test_pathological),
		cmocka_unit_test(test_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
