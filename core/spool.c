/* core/spool.c: spooled input, in memory while small, else in an anonymous
 * file (see core/spool.h). */
#include "core/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A message up to SPOOL_MEM_MAX (spool.h) stays in memory and never
 * becomes a file, unless the caller allows more (spool_mem_allow, for
 * memory it accounts for).  Creating an O_TMPFILE on ext4 (inode
 * allocation, then eviction at close) with its mmap cost a third of the
 * server's CPU per 4 KiB delivery (perf, issue 11 point 4). */

struct spool {
	int fd;                 /* -1 while the content is in mem */
	size_t size;
	size_t mem_max;         /* in mem up to this (SPOOL_MEM_MAX, or allowed) */
	char *mem;
	void *map;
	size_t map_len;
	char *dir;              /* data_dir/spool, for the file when it is needed */
};

static int spool_create(const char *dir)
{
#ifdef O_TMPFILE
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
#endif
	/* No O_TMPFILE on this file system: create, then unlink at once. */
	char path[4096];
	if ((size_t)snprintf(path, sizeof(path), "%s/spool.XXXXXX", dir) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd2 = mkostemp(path, O_CLOEXEC);
	if (fd2 >= 0)
		unlink(path);
	return fd2;
}

int spool_open(const char *data_dir, struct spool **sp_r)
{
	*sp_r = NULL;
	char dir[4096];
	if ((size_t)snprintf(dir, sizeof(dir), "%s/spool", data_dir) >= sizeof(dir))
		return -ENAMETOOLONG;
	struct spool *sp = calloc(1, sizeof(*sp));
	if (!sp || !(sp->dir = strdup(dir))) {
		free(sp);
		return -ENOMEM;
	}
	sp->fd = -1;
	sp->mem_max = SPOOL_MEM_MAX;
	*sp_r = sp;
	return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The content outgrew memory: move it to an anonymous file. */
static int spool_to_file(struct spool *sp)
{
	int fd = spool_create(sp->dir);
	if (fd < 0 && errno == ENOENT) {
		/* Made here, as the service user, not at start (possibly as root). */
		if (mkdir(sp->dir, 0700) < 0 && errno != EEXIST)
			return -errno;
		fd = spool_create(sp->dir);
	}
	if (fd < 0)
		return -errno;
	int rc = write_all(fd, sp->mem, sp->size);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	sp->fd = fd;
	free(sp->mem);
	sp->mem = NULL;
	return 0;
}

int spool_write(struct spool *sp, const void *data, size_t len)
{
	if (sp->fd < 0 && len <= sp->mem_max - sp->size) {
		char *m = realloc(sp->mem, sp->size + len ? sp->size + len : 1);
		if (!m)
			return -ENOMEM;
		memcpy(m + sp->size, data, len);
		sp->mem = m;
		sp->size += len;
		return 0;
	}
	if (sp->fd < 0) {
		int rc = spool_to_file(sp);
		if (rc < 0)
			return rc;
	}
	int rc = write_all(sp->fd, data, len);
	if (rc == 0)
		sp->size += len;
	return rc;
}

size_t spool_size(const struct spool *sp)
{
	return sp->size;
}

void spool_mem_allow(struct spool *sp, size_t max)
{
	if (sp->fd < 0 && max > sp->mem_max)
		sp->mem_max = max;
}

bool spool_in_memory(const struct spool *sp)
{
	return sp->fd < 0;
}

int spool_map(struct spool *sp, const char **data_r, size_t *len_r)
{
	*data_r = "";
	*len_r = 0;
	if (sp->size == 0)
		return 0;   /* mmap refuses a zero length */
	if (sp->fd < 0) {
		*data_r = sp->mem;
		*len_r = sp->size;
		return 0;
	}
	if (!sp->map) {
		void *m = mmap(NULL, sp->size, PROT_READ, MAP_SHARED, sp->fd, 0);
		if (m == MAP_FAILED)
			return -errno;
		/* Read once, front to back (MIME structure, then the store). */
		(void)madvise(m, sp->size, MADV_SEQUENTIAL);
		sp->map = m;
		sp->map_len = sp->size;
	}
	*data_r = sp->map;
	*len_r = sp->map_len;
	return 0;
}

void spool_free(struct spool **spp)
{
	struct spool *sp = *spp;
	if (!sp)
		return;
	if (sp->map)
		munmap(sp->map, sp->map_len);
	if (sp->fd >= 0)
		close(sp->fd);
	free(sp->mem);
	free(sp->dir);
	free(sp);
	*spp = NULL;
}
