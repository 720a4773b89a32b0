/* storage/storage_space.c: the free-space reserve (storage.min_free_space)
 * and the full disk.
 *
 * A full disk must refuse politely instead of failing in the middle of
 * Berkeley DB (issue 10 point 2).  The watchdog thread measures the file
 * system with statvfs five times a second.  New mail is refused while it
 * would leave less than the reserve, so that the log, flag changes and
 * expunges still find room; any write is refused, before it changes
 * anything, when less than a small margin is left, so that nothing is
 * committed in memory only to fail at the log flush.  Both lift by
 * themselves, without a restart, once space is freed.  A write that fails
 * with ENOSPC anyway (another program filling the disk faster than we
 * measure) marks the disk full until the next measurement. */
#include <sys/statvfs.h>

#include "storage/storage_private.h"

/* Room a write that adds no message needs: a few log records and pages. */
#define STORE_SPACE_MARGIN (1u << 20)

void store_space_refresh(struct store *s)
{
	struct statvfs vfs;
	if (statvfs(s->dir, &vfs) < 0)
		return;   /* keep the last measurement */
	/* f_bavail: what an unprivileged writer (we never run as root) may
	 * still use. */
	atomic_store(&s->space_free, (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize);
}

void store_space_exhausted(struct store *s)
{
	atomic_store(&s->space_free, 0);
}

static bool store_space_above(struct store *s, uint64_t a, uint64_t b)
{
	uint64_t need = a > UINT64_MAX - b ? UINT64_MAX : a + b;
	return atomic_load(&s->space_free) > need;
}

int store_space_check(struct store *s, uint64_t bytes)
{
	uint64_t reserve = s->opts.min_free_bytes > STORE_SPACE_MARGIN ? s->opts.min_free_bytes
								       : STORE_SPACE_MARGIN;
	return store_space_above(s, reserve, bytes) ? STORE_OK : STORE_ERR_NOSPACE;
}

int store_space_check_write(struct store *s)
{
	return store_space_above(s, STORE_SPACE_MARGIN, 0) ? STORE_OK : STORE_ERR_NOSPACE;
}
