/* Unit tests for core/spool.c: what is written comes back mapped, byte for
 * byte; an empty spool maps to ""; a small input stays in memory (no file,
 * no directory), a larger one moves to a file that is anonymous (nothing in
 * the directory); a write past the file-size limit is an error (-EFBIG), as
 * a full disk would be, not a crash; a caller may allow more in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/spool.h"

static char dir[] = "/tmp/postino-spool-test-XXXXXX";

static size_t entries(const char *path)
{
	DIR *d = opendir(path);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_write_map(void **state)
{
	struct spool *sp;
	assert_int_equal(spool_open(dir, &sp), 0);
	char sub[512];
	snprintf(sub, sizeof(sub), "%s/spool", dir);
	struct stat st;

	const char *data;
	size_t len;
	assert_int_equal(spool_map(sp, &data, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(data, "");
	spool_free(&sp);
	assert_null(sp);

	/* Small: in memory, in pieces, no file (no directory either). */
	assert_int_equal(spool_open(dir, &sp), 0);
	assert_int_equal(spool_write(sp, "Subject: hi\r\n", 13), 0);
	assert_int_equal(spool_write(sp, "\r\nbody\r\n", 8), 0);
	assert_int_equal(spool_map(sp, &data, &len), 0);
	assert_int_equal(len, 21);
	assert_memory_equal(data, "Subject: hi\r\n\r\nbody\r\n", 21);
	assert_int_not_equal(stat(sub, &st), 0);
	spool_free(&sp);

	assert_int_equal(spool_open(dir, &sp), 0);
	char block[10000];
	for (size_t i = 0; i < 300; i++) {
		memset(block, 'a' + (int)(i % 26), sizeof(block));
		assert_int_equal(spool_write(sp, block, sizeof(block)), 0);
	}
	assert_int_equal(spool_size(sp), 300 * sizeof(block));
	/* Past the memory limit the content moved to an anonymous file. */
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(entries(sub), 0);
	assert_int_equal(spool_map(sp, &data, &len), 0);
	assert_int_equal(len, 300 * sizeof(block));
	for (size_t i = 0; i < 300; i++) {
		assert_int_equal(data[i * sizeof(block)], 'a' + (int)(i % 26));
		assert_int_equal(data[i * sizeof(block) + 17], 'a' + (int)(i % 26));
	}
	spool_free(&sp);
	spool_free(&sp);   /* a second free is harmless */
}

static void test_write_past_limit(void **state)
{
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = 65536;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	struct spool *sp;
	assert_int_equal(spool_open(dir, &sp), 0);
	char block[50000];
	memset(block, 'x', sizeof(block));
	assert_int_equal(spool_write(sp, block, sizeof(block)), 0);
	assert_int_equal(spool_write(sp, block, sizeof(block)), -EFBIG);
	spool_free(&sp);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
}

/* The directory is needed only once the input outgrows memory: then the
 * write fails, with the error, and the spool is still freed cleanly. */
static void test_unusable_dir(void **state)
{
	struct spool *sp = NULL;
	assert_int_equal(spool_open("/nonexistent/postino/dir", &sp), 0);
	assert_int_equal(spool_write(sp, "small", 5), 0);
	char block[50000];
	memset(block, 'x', sizeof(block));
	assert_int_equal(spool_write(sp, block, sizeof(block)), -ENOENT);
	spool_free(&sp);
	assert_null(sp);
}

/* spool_mem_allow: the caller may let a spool grow in memory past the
 * default (it accounts for the memory); past the new limit it becomes a
 * file all the same, and a file never goes back to memory. */
static void test_mem_allow(void **state)
{
	struct spool *sp = NULL;
	assert_int_equal(spool_open("/nonexistent/postino/dir", &sp), 0);
	char block[50000];
	memset(block, 'y', sizeof(block));
	spool_mem_allow(sp, 3 * sizeof(block));
	spool_mem_allow(sp, 10);   /* never lowers it */
	for (int i = 0; i < 3; i++)
		assert_int_equal(spool_write(sp, block, sizeof(block)), 0);
	assert_true(spool_in_memory(sp));   /* no file: its directory is not there */
	const char *data;
	size_t len;
	assert_int_equal(spool_map(sp, &data, &len), 0);
	assert_int_equal(len, 3 * sizeof(block));
	assert_int_equal(data[len - 1], 'y');
	assert_int_equal(spool_write(sp, "z", 1), -ENOENT);   /* one octet past: a file */
	spool_free(&sp);

	assert_int_equal(spool_open(dir, &sp), 0);
	spool_mem_allow(sp, sizeof(block));
	assert_int_equal(spool_write(sp, block, sizeof(block)), 0);
	assert_int_equal(spool_write(sp, "z", 1), 0);
	assert_false(spool_in_memory(sp));
	spool_mem_allow(sp, 4 * sizeof(block));
	assert_false(spool_in_memory(sp));
	assert_int_equal(spool_write(sp, block, sizeof(block)), 0);
	assert_int_equal(spool_map(sp, &data, &len), 0);
	assert_int_equal(len, 2 * sizeof(block) + 1);
	assert_int_equal(data[sizeof(block)], 'z');
	spool_free(&sp);
	(void)state;
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_map),
		cmocka_unit_test(test_write_past_limit),
		cmocka_unit_test(test_unusable_dir),
		cmocka_unit_test(test_mem_allow),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char sub[512];
	snprintf(sub, sizeof(sub), "%s/spool", dir);
	rmdir(sub);
	rmdir(dir);
	return rc;
}
