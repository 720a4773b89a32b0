/* tests/unit/store_fixture.h: a store in a fresh temporary directory, for
 * the storage unit tests (each keeps its own struct fx around these). */
#ifndef POSTINO_TEST_STORE_FIXTURE_H
#define POSTINO_TEST_STORE_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "storage/storage.h"

#define STORE_FIXTURE_DIR_MAX 64

static int store_fixture_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* "/tmp/postino-NAME-XXXXXX" made into dir, and the store opened there.
 * -1 on any failure (for a cmocka setup). */
static inline int store_fixture_open(char dir[STORE_FIXTURE_DIR_MAX], const char *name,
				     struct store **s_r)
{
	snprintf(dir, STORE_FIXTURE_DIR_MAX, "/tmp/postino-%s-XXXXXX", name);
	if (!mkdtemp(dir) || store_open(dir, NULL, s_r) != STORE_OK)
		return -1;
	return 0;
}

/* The store closed and its directory removed. */
static inline void store_fixture_close(const char *dir, struct store **s)
{
	store_close(s);
	nftw(dir, store_fixture_rm, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
