"""tests/integration/smtp_script.py: a scripted SMTP server for testing
postino's outbound client (and the queue runner that drives it).

It listens on 127.0.0.1 (or ::1) on a free port, one thread per
connection, and answers from a script the test gives:

    srv = ScriptServer(ehlo=["PIPELINING", "SIZE 1000", "8BITMIME"],
                       replies={"RCPT": per_rcpt({"bad@x.test": "550 5.1.1 no such user"}),
                                "MAIL": per_conn(["451 4.3.0 later", "250 2.1.0 ok"])},
                       tls="good")
    srv.start(); ...; srv.stop()

A reply is a str ("250 ok"; "250-a\\n250 b" for several lines), bytes
(sent as they are: garbage), Drip(bytes, interval) (one byte at a time),
a tuple of replies sent in turn
((b"250-half a reply\\r\\n", DROP): a close mid-reply), DROP (close the connection), STALL (send
nothing more, hold the connection until stop), ENDLESS (continuation
lines without end until the client hangs up), or a callable
(session, argument) -> one of those.  Keys: greeting, EHLO, HELO, MAIL,
RCPT, DATA (the reply to DATA), DOT (the reply to the final dot), RSET,
QUIT, NOOP, STARTTLS, AUTH.  tls: None (no STARTTLS), "good" (a
certificate for mx.test/localhost/127.0.0.1 signed by the test CA),
"expired", "selfsigned" (not signed by the CA), "fail" (220, then no TLS:
garbage and close).  drop_in_data=True closes the connection after the
first chunk of message content.

It records every session: session.peer (client address), .ehlo, .tls, .auth, .commands (every
line), .chunks (the bytes of each recv, to see pipelining), and
.transactions: [{"mail": line, "rcpts": [lines], "data": unstuffed bytes,
"raw": bytes as received}]."""
import base64
import datetime
import os
import socket
import ssl
import threading

class Drip:
    """Send data one byte at a time, `interval` seconds apart (a server
    that keeps a connection alive without ever finishing a reply)."""

    def __init__(self, data, interval):
        self.data = data
        self.interval = interval


DROP = "DROP"
STALL = "STALL"
ENDLESS = "ENDLESS"

DEFAULT_EHLO = ["PIPELINING", "SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES"]
DEFAULTS = {
    "greeting": "220 mx.test ESMTP script",
    "HELO": "250 mx.test",
    "MAIL": "250 2.1.0 sender ok",
    "RCPT": "250 2.1.5 recipient ok",
    "DATA": "354 go ahead",
    "DOT": "250 2.0.0 queued",
    "RSET": "250 2.0.0 reset",
    "QUIT": "221 2.0.0 bye",
    "NOOP": "250 2.0.0 ok",
    "STARTTLS": "220 2.0.0 ready for TLS",
    "AUTH": "235 2.7.0 authenticated",
}


def per_conn(replies):
    """The i-th connection gets replies[i] (the last one after that)."""
    return lambda sess, arg: replies[min(sess.index, len(replies) - 1)]


def per_rcpt(table, default="250 2.1.5 recipient ok"):
    """RCPT replies by address (the text between < and >)."""
    def pick(sess, arg):
        addr = arg.split("<", 1)[-1].split(">", 1)[0]
        return table.get(addr, default)
    return pick


class Certs:
    """A test CA and server certificates (made once per directory)."""

    def __init__(self, directory):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
        import ipaddress

        os.makedirs(directory, exist_ok=True)
        self.dir = directory
        now = datetime.datetime.now(datetime.timezone.utc)
        day = datetime.timedelta(days=1)

        def name(cn):
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

        def write(path, data):
            with open(path, "wb") as f:
                f.write(data)
            return path

        def key_pem(k):
            return k.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())

        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (x509.CertificateBuilder().subject_name(name("postino test CA"))
              .issuer_name(name("postino test CA")).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now - day).not_valid_after(now + 30 * day)
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                           False, False), critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))
        self.ca = write(os.path.join(directory, "ca.pem"),
                        ca.public_bytes(serialization.Encoding.PEM))

        def leaf(tag, before, after, signer_key, issuer, names=("mx.test", "localhost")):
            k = ec.generate_private_key(ec.SECP256R1())
            san = [x509.DNSName(n) for n in names] + [
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("::1"))]
            c = (x509.CertificateBuilder().subject_name(name(names[0]))
                 .issuer_name(issuer).public_key(k.public_key())
                 .serial_number(x509.random_serial_number())
                 .not_valid_before(before).not_valid_after(after)
                 .add_extension(x509.SubjectAlternativeName(san), critical=False)
                 .sign(signer_key or k, hashes.SHA256()))
            cert = write(os.path.join(directory, tag + ".pem"),
                         c.public_bytes(serialization.Encoding.PEM))
            key = write(os.path.join(directory, tag + ".key"), key_pem(k))
            return cert, key

        self.good = leaf("good", now - day, now + 30 * day, ca_key, ca.subject)
        self.expired = leaf("expired", now - 30 * day, now - day, ca_key, ca.subject)
        self.selfsigned = leaf("selfsigned", now - day, now + 30 * day, None, name("mx.test"))
        self.wrongname = leaf("wrongname", now - day, now + 30 * day, ca_key, ca.subject,
                              names=("other.test",))


class Session:
    def __init__(self, index):
        self.index = index
        self.ehlo = None
        self.tls = False
        self.auth = None
        self.commands = []
        self.chunks = []
        self.transactions = []
        self.closed_by = None
        self.last_reply = ""


class _Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def recv_more(self, sess):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        sess.chunks.append(data)
        self.buf += data

    def line(self, sess):
        while b"\n" not in self.buf:
            if len(self.buf) > 100000:
                raise EOFError
            self.recv_more(sess)
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")


class ScriptServer:
    def __init__(self, ehlo=None, replies=None, tls=None, certs=None, host="127.0.0.1",
                 drop_in_data=False):
        self.ehlo = list(DEFAULT_EHLO if ehlo is None else ehlo)
        self.replies = dict(DEFAULTS)
        self.replies.update(replies or {})
        self.tls = tls
        self.certs = certs
        self.host = host
        self.drop_in_data = drop_in_data
        self.sessions = []
        self.errors = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = []
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]

    @property
    def address(self):
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def start(self):
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        self.sock.close()

    def transactions(self):
        return [t for s in self.sessions for t in s.transactions]

    def _accept(self):
        while not self._stop.is_set():
            try:
                s, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                sess = Session(len(self.sessions))
                sess.peer = s.getpeername()[0]
                self.sessions.append(sess)
            t = threading.Thread(target=self._serve, args=(s, sess), daemon=True)
            t.start()
            self._threads.append(t)

    def _tls_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*getattr(self.certs, self.tls))
        return ctx

    def _reply(self, conn, sess, key, arg=""):
        """Send the reply for key; False when the connection is to end."""
        r = self.replies.get(key)
        while callable(r):
            r = r(sess, arg)
        if isinstance(r, tuple):
            for part in r:
                if not self._send_one(conn, sess, key, part):
                    return False
            return True
        return self._send_one(conn, sess, key, r)

    def _send_one(self, conn, sess, key, r):
        if r is None:
            r = DEFAULTS.get(key, "250 ok")
        sess.last_reply = (r if isinstance(r, str) else
                           r.decode("latin-1") if isinstance(r, bytes) else "")
        if r == DROP:
            sess.closed_by = "drop"
            return False
        if r == STALL:
            sess.closed_by = "stall"
            self._stop.wait(60)
            return False
        if r == ENDLESS:
            sess.closed_by = "endless"
            try:
                for i in range(100000):
                    conn.sock.sendall(b"250-and more and more %d\r\n" % i)
                    if self._stop.is_set():
                        break
            except OSError:
                pass
            return False
        if isinstance(r, Drip):
            for i in range(len(r.data)):
                if self._stop.wait(r.interval):
                    return False
                conn.sock.sendall(r.data[i:i + 1])
            return True
        if isinstance(r, bytes):
            conn.sock.sendall(r)
            return True
        conn.sock.sendall(r.replace("\r\n", "\n").replace("\n", "\r\n").encode() + b"\r\n")
        return True

    def _ehlo_reply(self, name):
        lines = [f"mx.test hello {name}"] + [k for k in self.ehlo
                                              if self.tls or k.upper() != "STARTTLS"]
        if self.tls and "STARTTLS" not in [k.upper() for k in self.ehlo]:
            lines.append("STARTTLS")
        return "\n".join(("250-" if i < len(lines) - 1 else "250 ") + l
                         for i, l in enumerate(lines))

    def _serve(self, s, sess):
        s.settimeout(30)
        conn = _Conn(s)
        try:
            self._session(conn, sess)
        except (EOFError, OSError, ssl.SSLError) as e:
            if sess.closed_by is None:
                sess.closed_by = f"client ({type(e).__name__})"
        finally:
            try:
                conn.sock.close()
            except OSError:
                pass

    def _session(self, conn, sess):
        if not self._reply(conn, sess, "greeting"):
            return
        txn = None
        while not self._stop.is_set():
            line = conn.line(sess)
            sess.commands.append(line)
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                sess.ehlo = arg
                if "EHLO" in self.replies:
                    ok = self._reply(conn, sess, "EHLO", arg)
                else:
                    conn.sock.sendall((self._ehlo_reply(arg).replace("\n", "\r\n") + "\r\n").encode())
                    ok = True
            elif verb == "HELO":
                sess.ehlo = arg
                ok = self._reply(conn, sess, "HELO", arg)
            elif verb == "STARTTLS" and self.tls and not sess.tls:
                ok = self._reply(conn, sess, "STARTTLS", arg)
                if ok and sess.last_reply.startswith("220"):
                    if self.tls == "fail":
                        conn.sock.sendall(b"this is not TLS\r\n" * 4)
                        sess.closed_by = "tls-fail"
                        return
                    conn.sock = self._tls_context().wrap_socket(conn.sock, server_side=True)
                    conn.buf = b""
                    sess.tls = True
            elif verb == "AUTH":
                mech, _, initial = arg.partition(" ")
                if mech.upper() == "PLAIN":
                    if not initial:
                        conn.sock.sendall(b"334 \r\n")
                        initial = conn.line(sess)
                    parts = base64.b64decode(initial).split(b"\0")
                    sess.auth = ("PLAIN", parts[1].decode(), parts[2].decode())
                elif mech.upper() == "LOGIN":
                    conn.sock.sendall(b"334 VXNlcm5hbWU6\r\n")
                    user = base64.b64decode(conn.line(sess)).decode()
                    conn.sock.sendall(b"334 UGFzc3dvcmQ6\r\n")
                    pw = base64.b64decode(conn.line(sess)).decode()
                    sess.auth = ("LOGIN", user, pw)
                ok = self._reply(conn, sess, "AUTH", arg)
            elif verb == "MAIL":
                txn = {"mail": line, "rcpts": [], "data": None, "raw": None}
                sess.transactions.append(txn)
                ok = self._reply(conn, sess, "MAIL", arg)
            elif verb == "RCPT":
                if txn is not None:
                    txn["rcpts"].append(line)
                ok = self._reply(conn, sess, "RCPT", arg)
            elif verb == "DATA":
                ok = self._reply(conn, sess, "DATA", arg)
                if ok and sess.last_reply.startswith("354"):
                    ok = self._data(conn, sess, txn)
                    if ok:
                        ok = self._reply(conn, sess, "DOT", arg)
            elif verb in ("RSET", "QUIT", "NOOP"):
                ok = self._reply(conn, sess, verb, arg)
                if verb == "QUIT":
                    sess.closed_by = sess.closed_by or "quit"
                    return
            else:
                conn.sock.sendall(b"500 5.5.2 unknown command\r\n")
                ok = True
            if not ok:
                return

    def _data(self, conn, sess, txn):
        start = 0
        while True:
            if conn.buf.startswith(b".\r\n"):
                cut = 3
                break
            end = conn.buf.find(b"\r\n.\r\n", start)
            if end != -1:
                cut = end + 5
                break
            if self.drop_in_data and conn.buf:
                sess.closed_by = "drop-in-data"
                return False
            start = max(0, len(conn.buf) - 4)
            conn.recv_more(sess)
        raw, conn.buf = conn.buf[:cut], conn.buf[cut:]
        body = raw[:-3]
        data = b"\r\n".join(l[1:] if l.startswith(b".") else l for l in body.split(b"\r\n"))
        if txn is not None:
            txn["raw"] = raw
            txn["data"] = data
        return True
