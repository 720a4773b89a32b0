/* storage/storage_region.c: how Berkeley DB's shared regions are mapped.
 *
 * The regions (cache, locks, log buffer, transactions) are memory-mapped
 * files in the data directory (__db.001...).  Berkeley DB creates and grows
 * them sparsely (os/os_map.c, __db_file_extend writes only the last byte),
 * so the first store to a page of a hole needs a new disk block; on a full
 * file system that store raises SIGBUS and kills the daemon (issue 10 point
 * 2: __env_alloc <- __memp_alloc <- ... <- store_deliver).  No error code
 * can come back from a store instruction, so the only fix at the root is
 * that no hole is ever there: this mapper (db_env_set_func_region_map)
 * allocates every block of a region when the region is created, up to the
 * size it may ever grow to, with posix_fallocate.  A full disk then shows
 * as ENOSPC from the environment open (a clear error, retried later), never
 * as a signal in the middle of a transaction.  Joining an existing region
 * maps the file as its creator sized it.
 *
 * Berkeley DB does not extend a region file itself when a replacement
 * mapper is installed (infop->fhp stays NULL), which is what makes the
 * up-front allocation complete. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/storage_private.h"

/* Mapped regions, for the unmap call, which gets only the address. */
static pthread_mutex_t region_mu = PTHREAD_MUTEX_INITIALIZER;
static struct region_map {
	void *addr;
	size_t len;
} *region_maps;
static size_t region_nmaps, region_cap;

static int region_remember(void *addr, size_t len)
{
	pthread_mutex_lock(&region_mu);
	if (region_nmaps == region_cap) {
		size_t cap = region_cap ? region_cap * 2 : 16;
		struct region_map *m = realloc(region_maps, cap * sizeof(*m));
		if (!m) {
			pthread_mutex_unlock(&region_mu);
			return ENOMEM;
		}
		region_maps = m;
		region_cap = cap;
	}
	region_maps[region_nmaps].addr = addr;
	region_maps[region_nmaps].len = len;
	region_nmaps++;
	pthread_mutex_unlock(&region_mu);
	return 0;
}

static size_t region_forget(void *addr)
{
	size_t len = 0;
	pthread_mutex_lock(&region_mu);
	for (size_t i = 0; i < region_nmaps; i++) {
		if (region_maps[i].addr != addr)
			continue;
		len = region_maps[i].len;
		region_maps[i] = region_maps[--region_nmaps];
		break;
	}
	if (region_nmaps == 0) {
		free(region_maps);
		region_maps = NULL;
		region_cap = 0;
	}
	pthread_mutex_unlock(&region_mu);
	return len;
}

static int store_region_map(DB_ENV *dbenv, char *path, size_t len, int *is_create, void **addr_r)
{
	*addr_r = NULL;
	bool created = false;
	int fd = -1;
	/* With a replacement mapper Berkeley DB asks to create even when it
	 * only wants to look (__env_remove_env, which sets DB_NOLOCKING while
	 * it tears an old environment down): creating a region there would
	 * allocate a whole file only to remove it. */
	u_int32_t envflags = 0;
	if (*is_create && dbenv->get_flags(dbenv, &envflags) == 0 && (envflags & DB_NOLOCKING))
		*is_create = 0;
	if (*is_create) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			created = true;
		else if (errno != EEXIST)
			return errno;
	}
	if (fd < 0 && (fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
		return errno;
	int rc = 0;
	if (created) {
		/* Every block now, or a clean ENOSPC now (see above). */
		rc = posix_fallocate(fd, 0, (off_t)len);
		if (rc != 0) {
			store_log(STORE_LOG_ERROR, "allocate %zu bytes for %s: %s", len, path,
				  strerror(rc));
			close(fd);
			(void)unlink(path);
			return rc;
		}
	} else {
		/* The creator's size is the region's: our own configuration
		 * may compute another (a different cache size in an admin
		 * command's config), and mapping past the end of the file
		 * would fault. */
		struct stat st;
		if (fstat(fd, &st) < 0) {
			rc = errno;
			close(fd);
			return rc;
		}
		if (st.st_size <= 0) {
			close(fd);
			return EAGAIN;   /* still being created: Berkeley DB retries */
		}
		len = (size_t)st.st_size;
	}
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	rc = p == MAP_FAILED ? errno : 0;
	close(fd);
	if (rc != 0)
		return rc;
	if ((rc = region_remember(p, len)) != 0) {
		munmap(p, len);
		return rc;
	}
	*is_create = created;
	*addr_r = p;
	return 0;
}

static int store_region_unmap(DB_ENV *dbenv, void *addr)
{
	(void)dbenv;
	size_t len = region_forget(addr);
	if (len == 0)
		return EINVAL;
	return munmap(addr, len) == 0 ? 0 : errno;
}

/* Once a load has ended (storage_env.c's watchdog: no transaction for
 * STORE_IDLE_SECONDS after some), every region page leaves the process's
 * page tables.  The regions are shared mappings of files, so their
 * contents stay where they are, in the kernel's page cache as pages of
 * the __db.NNN files (written back there when dirty): the next access maps
 * a page again with a minor fault, no I/O, and nothing is lost or
 * reordered under a thread that is using it meanwhile.  What changes is
 * whose memory it is: 50 imaptest clients left 35 MiB of cache pages in
 * the daemon's RSS, kept for good and reclaimed by the kernel only with
 * effort (mapped, recently used), where now they are plain file cache that
 * memory pressure takes first, as Dovecot's index files are once its
 * processes exit (issue 11 point 7). */
void store_regions_release(void)
{
	pthread_mutex_lock(&region_mu);
	for (size_t i = 0; i < region_nmaps; i++)
		(void)madvise(region_maps[i].addr, region_maps[i].len, MADV_DONTNEED);
	pthread_mutex_unlock(&region_mu);
}

static void store_region_install(void)
{
	(void)db_env_set_func_region_map(store_region_map, store_region_unmap);
}

void store_region_setup(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, store_region_install);
}
