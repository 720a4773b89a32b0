/* core/spool.c: anonymous spool files for large input (see core/spool.h). */
#include "core/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct spool {
	int fd;
	size_t size;
	void *map;
	size_t map_len;
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
	int fd = spool_create(dir);
	if (fd < 0 && errno == ENOENT) {
		/* Made here, as the service user, not at start (possibly as root). */
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
		fd = spool_create(dir);
	}
	if (fd < 0)
		return -errno;
	struct spool *sp = calloc(1, sizeof(*sp));
	if (!sp) {
		close(fd);
		return -ENOMEM;
	}
	sp->fd = fd;
	*sp_r = sp;
	return 0;
}

int spool_write(struct spool *sp, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(sp->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		sp->size += (size_t)n;
	}
	return 0;
}

size_t spool_size(const struct spool *sp)
{
	return sp->size;
}

int spool_map(struct spool *sp, const char **data_r, size_t *len_r)
{
	*data_r = "";
	*len_r = 0;
	if (sp->size == 0)
		return 0;   /* mmap refuses a zero length */
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
	close(sp->fd);
	free(sp);
	*spp = NULL;
}
