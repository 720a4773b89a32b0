# tests/integration/test_tcp_nodelay.py: every connection socket of the
# running server has TCP_NODELAY (issue 10, point 6), on each listener kind
# and still after STARTTLS/STLS.  Without it, the short last segment of a
# reply waits for the client's delayed ACK (tests/bench/bench_latency.py
# shows the 40 ms); a timing test would be flaky, so this reads the option
# back from the server's own socket instead: pidfd_getfd(2) (Linux 5.6)
# duplicates the server's descriptor into this process (allowed because we
# started the server), and getsockopt on the duplicate reads the very socket
# the server writes to.  The server socket is the one whose peer address is
# our client's local address.
import ctypes
import errno
import os
import socket

import pytest

from helpers import Conn, ImapConn

SYS_PIDFD_GETFD = 438    # the same number on every Linux architecture
_libc = ctypes.CDLL(None, use_errno=True)


def server_nodelay(srv, client_sock):
    """TCP_NODELAY of the server-side socket connected to client_sock."""
    want = client_sock.getsockname()
    pid = srv.proc.pid
    pidfd = os.pidfd_open(pid)
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                    continue
            except FileNotFoundError:
                continue
            fd = _libc.syscall(SYS_PIDFD_GETFD, pidfd, int(name), 0)
            if fd < 0:
                err = ctypes.get_errno()
                if err in (errno.ENOSYS, errno.EPERM):
                    pytest.skip(f"pidfd_getfd unavailable here: {os.strerror(err)}")
                continue
            s = socket.socket(fileno=fd)    # our duplicate; closing it leaves the server's
            try:
                if s.type == socket.SOCK_STREAM and s.getpeername() == want:
                    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            except OSError:
                pass                        # listeners and other sockets: no peer
            finally:
                s.close()
    finally:
        os.close(pidfd)
    raise AssertionError(f"no server socket connected to {want}")


@pytest.mark.parametrize("kind", ["smtp", "smtps", "pop3", "pop3s", "imap", "imaps"])
def test_accepted_sockets_have_nodelay(imap_server, kind):
    c = Conn.connect(imap_server.ports[kind], tls=kind.endswith("s"))
    c.readline()            # the greeting: the server has set the connection up
    assert server_nodelay(imap_server, c.sock) != 0, f"{kind}: TCP_NODELAY is off"
    c.close()


def test_nodelay_after_starttls(imap_server):
    c = imap_server.smtp()
    assert c.smtp_cmd("STARTTLS").code == 220
    c.starttls()
    assert c.smtp_cmd("EHLO client.example.org").code == 250
    assert server_nodelay(imap_server, c.sock) != 0
    c.close()

    c = imap_server.pop3()
    c.pop3_ok("STLS")
    c.starttls()
    c.pop3_ok("CAPA")
    assert server_nodelay(imap_server, c.sock) != 0
    c.close()

    c = ImapConn.connect(imap_server.ports["imap"])
    c.read_greeting()
    assert c.cmd("STARTTLS").status == "OK"
    c.starttls()
    assert c.cmd("NOOP").status == "OK"
    assert server_nodelay(imap_server, c.sock) != 0
    c.close()
