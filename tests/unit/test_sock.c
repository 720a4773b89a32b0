/* tests/unit/test_sock.c: core/sock.c on real sockets: an accepted TCP
 * socket over IPv4 and IPv6 loopback comes out non-blocking, close-on-exec
 * and with TCP_NODELAY read back from the kernel; a Unix socket (no Nagle)
 * is accepted too; a descriptor that is not a socket is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/sock.h"

/* A connected pair over loopback: *srv_r is the accepted side.  -1 when
 * the family is not available here (no IPv6 loopback). */
static int tcp_pair(int family, int *cli_r, int *srv_r)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		len = sizeof(*s6);
	}
	int l = socket(family, SOCK_STREAM, 0);
	if (l < 0)
		return -1;
	if (bind(l, (struct sockaddr *)&ss, len) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&ss, &len) < 0) {
		close(l);
		return -1;
	}
	int c = socket(family, SOCK_STREAM, 0);
	assert_true(c >= 0);
	assert_int_equal(connect(c, (struct sockaddr *)&ss, len), 0);
	int s = accept(l, NULL, NULL);
	assert_true(s >= 0);
	close(l);
	*cli_r = c;
	*srv_r = s;
	return 0;
}

static int get_nodelay(int fd)
{
	int v = -1;
	socklen_t len = sizeof(v);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
	return v;
}

static void check_tcp(int family)
{
	int c, s;
	if (tcp_pair(family, &c, &s) < 0) {
		skip();
		return;
	}
	/* Accepted sockets start with Nagle on: the option is ours to set. */
	assert_int_equal(get_nodelay(s), 0);
	char err[128] = "";
	assert_int_equal(sock_setup_stream(s, err, sizeof(err)), 0);
	assert_int_not_equal(get_nodelay(s), 0);
	assert_true(fcntl(s, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(s, F_GETFD) & FD_CLOEXEC);
	close(c);
	close(s);
}

static void test_tcp_ipv4(void **state)
{
	(void)state;
	check_tcp(AF_INET);
}

static void test_tcp_ipv6(void **state)
{
	(void)state;
	check_tcp(AF_INET6);
}

static void test_unix_socket(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	char err[128] = "";
	assert_int_equal(sock_setup_stream(sv[0], err, sizeof(err)), 0);
	assert_true(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
	close(sv[0]);
	close(sv[1]);
}

static void test_not_a_socket(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	char err[128] = "";
	assert_int_equal(sock_setup_stream(p[0], err, sizeof(err)), -1);
	assert_non_null(strstr(err, "getsockname"));
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_ipv4),
		cmocka_unit_test(test_tcp_ipv6),
		cmocka_unit_test(test_unix_socket),
		cmocka_unit_test(test_not_a_socket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
