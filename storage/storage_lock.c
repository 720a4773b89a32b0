/* storage/storage_lock.c: who else has the environment open, decided before
 * Berkeley DB is asked to open it.
 *
 * Why: DB_REGISTER detects that a process died while it had the environment
 * open.  With DB_FAILCHK, Berkeley DB 5.3 then first *attaches to the dead
 * process's regions* and runs failchk (env/env_register.c, __envreg_add).
 * Attaching takes region mutexes (mpool, mutex and thread regions); a process
 * killed while holding one of them (kill -9 inside __memp_alloc or
 * __txn_begin) leaves it locked forever, and the new process waits on it
 * forever: the hang of issue 10 point 1.  Without DB_FAILCHK the registry
 * panics the old regions, removes them without taking any mutex
 * (__env_remove_env sets DB_ENV_NOLOCKING) and runs normal recovery from the
 * log: certain, and nothing acknowledged is lost, because an acknowledgement
 * always follows a log flush.
 *
 * But full recovery under a live process throws away that process's
 * committed-but-unflushed transactions and rewinds counters it has already
 * shown to clients (UIDNEXT), so it must run only when nobody else uses the
 * environment.  Two flock(2) files in the data directory tell:
 *   store.lock       every process holds it shared while its environment
 *                    handle is open (flock locks die with the process, and
 *                    belong to the open file, so a reopen in this process
 *                    can let go of its own first);
 *   store-open.lock  held exclusively around each open, so that the check
 *                    "nobody holds store.lock" and the open that relies on
 *                    it are one step.
 * Alone, we open with DB_REGISTER|DB_RECOVER; with company, with DB_FAILCHK
 * as well, so that a dead admin command does not force recovery under the
 * running daemon (whose watchdog has normally cleaned up after it already). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "storage/storage_private.h"

/* dir/name in path (4096 bytes); false when it does not fit. */
static bool store_path(char *path, const char *dir, const char *name)
{
	return (size_t)snprintf(path, 4096, "%s/%s", dir, name) < 4096;
}

static int store_lock_file(const char *dir, const char *name)
{
	char path[4096];
	if (!store_path(path, dir, name))
		return -1;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		store_log(STORE_LOG_ERROR, "open %s: %s", path, strerror(errno));
	return fd;
}

static int store_flock(int fd, int op)
{
	int rc;
	while ((rc = flock(fd, op)) < 0 && errno == EINTR)
		;
	return rc;
}

int store_open_lock(struct store *s, int *open_fd_r, bool *alone_r)
{
	*open_fd_r = -1;
	*alone_r = false;
	int ofd = store_lock_file(s->dir, "store-open.lock");
	if (ofd < 0)
		return STORE_ERR_TEMP;
	if (store_flock(ofd, LOCK_EX) < 0) {
		store_log(STORE_LOG_ERROR, "lock store-open.lock: %s", strerror(errno));
		close(ofd);
		return STORE_ERR_TEMP;
	}
	if (s->users_fd < 0) {
		s->users_fd = store_lock_file(s->dir, "store.lock");
		if (s->users_fd < 0) {
			close(ofd);
			return STORE_ERR_TEMP;
		}
	} else {
		/* A reopen: our own shared lock must not count as company. */
		(void)store_flock(s->users_fd, LOCK_UN);
	}
	*alone_r = store_flock(s->users_fd, LOCK_EX | LOCK_NB) == 0;
	/* Alone, removing the registry makes DB_REGISTER recover even when
	 * the last user closed cleanly: the regions are then always made
	 * afresh, fully allocated, by store_region_map (storage_region.c). */
	char reg[4096];
	if (*alone_r && store_path(reg, s->dir, "__db.register") && unlink(reg) < 0 &&
	    errno != ENOENT)
		store_log(STORE_LOG_WARN, "unlink %s: %s", reg, strerror(errno));
	*open_fd_r = ofd;
	return STORE_OK;
}

void store_open_unlock(struct store *s, int open_fd)
{
	/* Converting our exclusive lock (or taking a new shared one) cannot
	 * block: other holders only ever hold it shared outside an open, and
	 * we still hold store-open.lock. */
	if (s->users_fd >= 0 && store_flock(s->users_fd, LOCK_SH) < 0)
		store_log(STORE_LOG_WARN, "lock store.lock: %s", strerror(errno));
	if (open_fd >= 0)
		close(open_fd);
}

bool store_close_lock(struct store *s, int *open_fd_r)
{
	/* Openers take store-open.lock first and decide whether they are
	 * alone under it: holding it for our close, no opener can see us gone
	 * before we are (flock's conversion below may drop our shared lock
	 * for a moment when it fails).  Every user holds store.lock shared
	 * while it is open, so ours becomes exclusive only when nobody else
	 * holds it. */
	*open_fd_r = store_lock_file(s->dir, "store-open.lock");
	if (*open_fd_r >= 0 && store_flock(*open_fd_r, LOCK_EX) < 0) {
		close(*open_fd_r);
		*open_fd_r = -1;
	}
	if (*open_fd_r < 0)
		return false;   /* not knowing: as if shared (the safe side) */
	bool alone = s->users_fd >= 0 && store_flock(s->users_fd, LOCK_EX | LOCK_NB) == 0;
	if (!alone && s->users_fd >= 0)
		(void)store_flock(s->users_fd, LOCK_SH);   /* cannot block: see open_unlock */
	return alone;
}

void store_close_unlock(int open_fd)
{
	if (open_fd >= 0)
		close(open_fd);
}

void store_users_release(struct store *s)
{
	if (s->users_fd >= 0)
		close(s->users_fd);
	s->users_fd = -1;
}
