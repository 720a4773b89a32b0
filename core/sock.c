/* core/sock.c: socket options for connection sockets.
 *
 * TCP_NODELAY: a reply is written in pieces as it is produced (status line,
 * literal, the rest), and a large one leaves a short last segment.  With
 * Nagle's algorithm on (RFC 896; RFC 1122 4.2.3.4 lets an application turn
 * it off), that segment waits until everything in flight is acknowledged,
 * and the client acknowledges late on purpose (delayed ACK, RFC 1122
 * 4.2.3.2: up to 500 ms, ~40 ms on Linux).  Every reply over a few segments
 * then took 40+ ms instead of well under one (issue 10, point 6).  We
 * never write byte by byte (output is buffered per command), which is the
 * case Nagle exists for, so it only costs us. */
#include "core/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int sock_setup_stream(int fd, char *err, size_t errlen)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		snprintf(err, errlen, "O_NONBLOCK: %s", strerror(errno));
		return -1;
	}
	int fdfl = fcntl(fd, F_GETFD);
	if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0) {
		snprintf(err, errlen, "FD_CLOEXEC: %s", strerror(errno));
		return -1;
	}
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		snprintf(err, errlen, "getsockname: %s", strerror(errno));
		return -1;
	}
	if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
		return 0;   /* a Unix socket has no Nagle */
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
		snprintf(err, errlen, "TCP_NODELAY: %s", strerror(errno));
		return -1;
	}
	return 0;
}
