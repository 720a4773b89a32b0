# tests/integration/dnsd.py: a small authoritative DNS server for the tests,
# standard library only, on 127.0.0.1 with one free port for UDP and TCP
# (RFC 1035 4.2; TCP with the 2-byte length prefix).  Answers come from a
# Python dict that tests may change at any time:
#
#   zone = {
#       "example.test": {"MX": [(10, "mx1.example.test"), (20, "mx2.example.test")]},
#       "mx1.example.test": {"A": ["127.0.0.2"], "AAAA": ["::1"]},
#       "alias.example.test": {"CNAME": "mx1.example.test"},
#       "nomail.example.test": {"MX": [(0, ".")]},          # null MX, RFC 7505
#   }
#
# A name not in the zone is NXDOMAIN; a name without the asked type is
# NODATA.  CNAMEs are followed inside the zone (at most 16) as a recursive
# server would, unless chase_cnames is False.  Knobs, sets of names:
# servfail (answer SERVFAIL), timeout (never answer), truncate (UDP answers
# carry TC and no records, so the client must ask over TCP); and
# formerr_edns (FORMERR to any query with EDNS0, like a pre-EDNS server).  Answers larger
# than the client's EDNS0 size (512 without EDNS0) are truncated over UDP on
# their own.  queries is the log: (name, type, "udp"|"tcp") per question.
import socket
import struct
import threading

TYPES = {1: "A", 5: "CNAME", 15: "MX", 28: "AAAA"}
CODES = {v: k for k, v in TYPES.items()}


def _norm(name):
    return name.rstrip(".").lower() if name != "." else "."


class DnsServer:
    def __init__(self, zone=None):
        self.zone = zone if zone is not None else {}
        self.servfail = set()
        self.timeout = set()
        self.truncate = set()
        self.chase_cnames = True
        self.formerr_edns = False   # answer FORMERR to queries with EDNS0, as old servers do
        self.queries = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self.udp = self.tcp = None
        self.port = None

    # -- life ------------------------------------------------------------------
    def start(self):
        for _ in range(50):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                udp.close()
                tcp.close()
                continue
            tcp.listen(16)
            self.udp, self.tcp, self.port = udp, tcp, port
            break
        else:
            raise RuntimeError("no free port for UDP and TCP together")
        self.udp.settimeout(0.1)
        self.tcp.settimeout(0.1)
        for fn in (self._serve_udp, self._serve_tcp):
            t = threading.Thread(target=fn, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(5)
        for s in (self.udp, self.tcp):
            if s is not None:
                s.close()

    def nameserver(self):
        """The dns.nameservers entry that points at this server."""
        return f"127.0.0.1:{self.port}"

    def asked(self, name=None, qtype=None, transport=None):
        with self._lock:
            return [q for q in self.queries
                    if (name is None or q[0] == _norm(name)) and (qtype is None or q[1] == qtype)
                    and (transport is None or q[2] == transport)]

    # -- serving -----------------------------------------------------------------
    def _serve_udp(self):
        while not self._stop.is_set():
            try:
                data, peer = self.udp.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            out = self._answer(data, "udp")
            if out is not None:
                try:
                    self.udp.sendto(out, peer)
                except OSError:
                    pass

    def _serve_tcp(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve_conn, args=(conn,), daemon=True)
            t.start()

    def _serve_conn(self, conn):
        conn.settimeout(5)
        try:
            while True:
                hdr = self._recv_exact(conn, 2)
                if not hdr:
                    return
                msg = self._recv_exact(conn, struct.unpack("!H", hdr)[0])
                if msg is None:
                    return
                out = self._answer(msg, "tcp")
                if out is None:
                    continue
                conn.sendall(struct.pack("!H", len(out)) + out)
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def _recv_exact(conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    # -- messages ----------------------------------------------------------------
    def _answer(self, data, transport):
        try:
            qid, flags, qd, _an, _ns, ar = struct.unpack("!6H", data[:12])
            labels, off = [], 12
            while data[off]:
                ln = data[off]
                labels.append(data[off + 1:off + 1 + ln].decode("ascii"))
                off += 1 + ln
            off += 1
            qtype, qclass = struct.unpack("!HH", data[off:off + 4])
            question = data[12:off + 4]
            off += 4
            udp_size, edns = 512, False
            if ar and data[off] == 0 and struct.unpack("!H", data[off + 1:off + 3])[0] == 41:
                udp_size = max(512, struct.unpack("!H", data[off + 3:off + 5])[0])
                edns = True
        except (IndexError, struct.error, UnicodeDecodeError):
            return None
        qname = _norm(".".join(labels))
        tname = TYPES.get(qtype, str(qtype))
        with self._lock:
            self.queries.append((qname, tname, transport))
        if qname in self.timeout:
            return None
        rd = flags & 0x0100
        rcode, records = 0, []
        if edns and self.formerr_edns:
            rcode = 1
        elif qname in self.servfail:
            rcode = 2
        elif transport == "udp" and qname in self.truncate:
            return self._message(qid, rd | 0x0200, 0, question, [], qname)
        else:
            rcode, records = self._lookup(qname, tname)
        out = self._message(qid, rd, rcode, question, records, qname)
        if transport == "udp" and len(out) > udp_size:
            out = self._message(qid, rd | 0x0200, rcode, question, [], qname)
        return out

    def _lookup(self, qname, tname):
        records, cur = [], qname
        for _ in range(16):
            entry = self.zone.get(cur)
            if entry is None:
                return 3, records   # RFC 6604: the rcode is the last name's
            if tname in entry:
                for v in entry[tname]:
                    records.append((cur, tname, v))
                return 0, records
            if "CNAME" in entry:
                target = entry["CNAME"]
                target = target[0] if isinstance(target, (list, tuple)) else target
                records.append((cur, "CNAME", target))
                if not self.chase_cnames:
                    return 0, records
                cur = _norm(target)
                continue
            return 0, records
        return 0, records

    def _message(self, qid, extra_flags, rcode, question, records, qname):
        # QR, AA, RA; RD and TC as given.
        flags = 0x8000 | 0x0400 | 0x0080 | extra_flags | rcode
        out = bytearray(struct.pack("!6H", qid, flags, 1, len(records), 0, 0))
        out += question
        names = {qname: 12}   # compression: suffix -> offset (RFC 1035 4.1.4)
        for owner, tname, value in records:
            out += self._name(owner, names, len(out))
            out += struct.pack("!HHI", CODES[tname], 1, 300)
            if tname == "A":
                rdata = socket.inet_pton(socket.AF_INET, value)
            elif tname == "AAAA":
                rdata = socket.inet_pton(socket.AF_INET6, value)
            elif tname == "MX":
                pref, host = value
                rdata = struct.pack("!H", pref) + self._name(host, names, len(out) + 4)
            else:
                rdata = self._name(value, names, len(out) + 2)
            out += struct.pack("!H", len(rdata)) + rdata
        return bytes(out)

    @staticmethod
    def _name(name, names, at):
        name = _norm(name)
        if name == ".":
            return b"\0"
        labels = name.split(".")
        out = b""
        for i in range(len(labels)):
            suffix = ".".join(labels[i:])
            if suffix in names:
                return out + struct.pack("!H", 0xC000 | names[suffix])
            if at + len(out) < 0x3FFF:
                names[suffix] = at + len(out)
            lab = labels[i].encode("ascii")
            out += bytes([len(lab)]) + lab
        return out + b"\0"
