/* core/queue_poke.c: the FIFO that wakes the queue runner after an admin
 * command changed the queue (see queue_poke.h). */
#include "core/queue_poke.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

static int poke_path(const char *data_dir, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", data_dir, QUEUE_POKE_FIFO);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int queue_poke_open(const char *data_dir)
{
	char path[1024];
	if (poke_path(data_dir, path, sizeof(path)) < 0)
		return -1;
	if (mkfifo(path, 0600) < 0 && errno != EEXIST) {
		log_warn("queue poke fifo not made path=%s error=\"%s\"", path, strerror(errno));
		return -1;
	}
	/* O_NOFOLLOW: only the FIFO itself, never where a link points. */
	int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		log_warn("queue poke fifo not opened path=%s error=\"%s\"", path,
			 fd < 0 ? strerror(errno) : "not a FIFO");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

void queue_poke_drain(int fd)
{
	char buf[256];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

void queue_poke_send(const char *data_dir)
{
	char path[1024];
	if (poke_path(data_dir, path, sizeof(path)) < 0)
		return;
	/* ENXIO: no reader, the daemon is not running; ENOENT: never run. */
	int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
		(void)!write(fd, "f", 1);   /* full (EAGAIN): a wake-up is pending anyway */
	close(fd);
}
