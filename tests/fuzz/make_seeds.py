#!/usr/bin/env python3
"""tests/fuzz/make_seeds.py: writes the seed corpora of the fuzz targets
whose inputs are binary or assembled (records, facts + program + message),
so each seed is explained here rather than only stored.  Run from the
repository root; it rewrites tests/fuzz/corpus/<target>/seed-* files it
owns and leaves other files (regression inputs) alone."""
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
MIME = os.path.join(ROOT, "tests", "unit", "mime_corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def s16(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">H", len(b)) + b


def mime(name):
    with open(os.path.join(MIME, name), "rb") as f:
        return f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# ---- storage records (storage/storage_codec.c layouts) ----
HASH = "$y$j9T$Yx0eu6yYzb/Jk8Q1z7E3N/$7a2bIu6nvR2V7mR6nAq2Vv8uIo9tQp1rCPm2V1a8h45"


def user_rec(address, pwhash, scram=None):
    r = b"\x01" + struct.pack(">IQ", 7, 1767225600) + s16(address) + s16(pwhash)
    if scram:
        it, salt = scram
        r += struct.pack(">IB", it, len(salt)) + salt + b"\x11" * 32 + b"\x22" * 32
    return r


def mbox_rec(version, name):
    r = bytes([version]) + struct.pack(">IIIQIIIQIB", 7, 1767225600, 5, 9, 4, 1, 2, 4000, 1, 1)
    if version == 2:
        r += struct.pack(">II", 1, 3)
    return r + s16(name)


def msg_rec(version):
    r = bytes([version]) + struct.pack(">QQIQQ", 42, 1234, 1 | 4, 1767225600, 17)
    if version == 1:
        return r + b"\x00\x00"
    r += struct.pack(">Q", 5)                                   # keyword mask
    return r + (struct.pack(">Q", 1767225700) if version == 3 else b"")   # v3: save date


def queue_rec():
    r = b"\x01" + struct.pack(">QQQIQ", 1767225600, 42, 1234, 2, 1767229200) + s16("a@example.org")
    r += struct.pack(">I", 2) + s16("b@example.net") + s16("c@example.com")
    return r + s16("451 4.4.1 connection refused")


def storage_codec():
    k = lambda kind, key=1: bytes([kind]) + struct.pack(">I", key)
    write("storage_codec", "user", k(0) + user_rec("alice@example.org", HASH))
    write("storage_codec", "user-scram",
          k(0) + user_rec("alice@example.org", HASH, (4096, bytes(range(16)))))
    write("storage_codec", "user-nopw", k(0) + user_rec("bob@example.org", ""))
    write("storage_codec", "mbox-v1", k(1, 3) + mbox_rec(1, "INBOX"))
    write("storage_codec", "mbox-v2", k(1, 4) + mbox_rec(2, "Archive/2025"))
    write("storage_codec", "msg-v1", k(2, 9) + msg_rec(1))
    write("storage_codec", "msg-v2", k(2, 9) + msg_rec(2))
    write("storage_codec", "msg-v3", k(2, 9) + msg_rec(3))
    chunk = 4 * (16384 - 26)
    write("storage_codec", "content", k(3) + b"\x01" + struct.pack(">IQI", 2, chunk + 10, 2))
    write("storage_codec", "content-empty", k(3) + b"\x01" + struct.pack(">IQI", 1, 0, 0))
    for kind in (1, 2, 3):
        write("storage_codec", "change-%d" % kind, k(4) + b"\x01" + struct.pack(">IB", 9, kind))
    write("storage_codec", "counter", k(5) + b"\x01" + struct.pack(">Q", 12345))
    kw = b"\x01\x03" + b"".join(bytes([len(n)]) + n for n in (b"$Junk", b"$label1", b"Work"))
    write("storage_codec", "keywords", k(6) + kw)
    write("storage_codec", "queue", k(7, 5) + queue_rec())
    write("storage_codec", "names-address", k(8) + b"Alice.Smith@Example.ORG")
    write("storage_codec", "names-mailbox", k(8) + b"inbox")
    write("storage_codec", "names-path", k(8) + b"Work/../Projects")


# ---- stored credentials: record length, record, password, SCRAM lines ----
def auth_records():
    def inp(rec, lines):
        return struct.pack(">H", len(rec)) + rec + lines
    first = b"n,,n=alice@example.org,r=fyko+d2lbbFgONRv9qkxdawL"
    final = b"c=biws,r=fyko+d2lbbFgONRv9qkxdawLAAAAAAAAAAAAAAAAAAAAAAAAAAAA,p=" + b"A" * 43 + b"="
    rec = user_rec("alice@example.org", HASH, (4096, bytes(range(16))))
    write("auth_records", "scram", inp(rec, b"secret\n" + first + b"\n" + final))
    write("auth_records", "sha512crypt",
          inp(user_rec("bob@example.org", "$6$rounds=5000$abcdefgh$" + "x" * 86), b"secret\n"))
    write("auth_records", "bcrypt",
          inp(user_rec("bob@example.org", "$2b$04$" + "a" * 53), b"pw\n"))
    write("auth_records", "nopw", inp(user_rec("carol@example.org", ""), b"\n" + first))
    write("auth_records", "authzid",
          inp(rec, b"x\nn,a=bob@example.org,n=alice@example.org,r=abc\nc=biws,r=abc,p=AAAA"))


# ---- SEARCH: 16 bytes of facts, program line, message ----
FACTS = bytes([9, 20, 3, 10, 2, 3, 4, 0x05, 0x02, 0x69, 0x55, 0xb4, 0x00, 0x00, 0x32, 1])
PROGRAMS = [
    "ALL",
    "SEEN FLAGGED NOT DELETED",
    "OR FROM alice SUBJECT meeting",
    "HEADER Message-ID <fwd@example.com>",
    "BODY budget",
    "TEXT \"next meeting\"",
    "SENTSINCE 1-Mar-2025 SENTBEFORE 1-Apr-2026",
    "SINCE 1-Jan-2026 LARGER 100 SMALLER 100000",
    "UID 1:* 2,4:7 $",
    "KEYWORD $label1 UNKEYWORD $Junk MODSEQ 10",
    "CHARSET UTF-8 SUBJECT {5}\ncaf\u00e9",
    "RETURN (MIN MAX COUNT) (OR NEW RECENT) NOT (OLD ANSWERED)",
    "CC team TO peggy BCC nobody",
]


def imap_search():
    msgs = ["06-forward-rfc822.eml", "03-rfc2047.eml", "17-qp-base64.eml", "18-header-only.eml",
            "14-bare-lf.eml", "01-simple.eml", "05-alternative-related.eml"]
    for i, prog in enumerate(PROGRAMS):
        m = mime(msgs[i % len(msgs)])
        write("imap_search", "%02d" % i, FACTS + prog.encode("utf-8") + b"\n" + m)


# ---- FETCH sections: attribute line, message ----
SECTIONS = [
    "(BODY[] BODY.PEEK[HEADER] RFC822.SIZE)",
    "(BODY[1] BODY[2.MIME] BODY[2.HEADER] BODY[2.TEXT])",
    "(BODY[HEADER.FIELDS (From Subject)]<0.20> BODY[HEADER.FIELDS.NOT (Received)])",
    "(BINARY[1] BINARY.SIZE[2] BINARY.PEEK[2.1]<3.9>)",
    "(RFC822 RFC822.HEADER RFC822.TEXT)",
    "(BODY[2.1.2]<10.1000> BODY[TEXT]<4294967296.5>)",
    "BODY.PEEK[1.HEADER.FIELDS (Content-Type)]",
]


def imap_fetch_section():
    msgs = ["06-forward-rfc822.eml", "17-qp-base64.eml", "07-digest.eml", "12-8bit-binary.eml",
            "05-alternative-related.eml", "08-missing-close.eml", "04-rfc2231.eml"]
    for i, sec in enumerate(SECTIONS):
        write("imap_fetch_section", "%02d" % i, sec.encode() + b"\r\n" + mime(msgs[i]))


def config():
    with open(os.path.join(ROOT, "etc", "postino.conf"), "rb") as f:
        write("config", "default", f.read())
    write("config", "minimal", 'hostname = "mx.example.org";\ndata_dir = "/var/lib/postino";\n')
    write("config", "listen", 'imap=[::1]:143\nlisteners = ( { kind = "imaps"; address = "::1"; port = 993; } );\n')
    write("config", "senders",
          'smtp = { local_domains = [ "example.org", "example.net" ];\n'
          '  allowed_senders = ( { user = "alice@example.org"; addresses = [ "sales@example.org", "@example.net" ]; } ); };\n'
          'auth = { plaintext = "tls"; failure_delay = 0; failure_delay_max = 0; };\n')
    write("config", "errors", 'limits = { max_line = 0; };\nbogus = 1;\n')
    write("config", "types", 'sandbox = "yes";\nstorage = { cache_size = 1L; checkpoint_interval = 1.5; };\n')


# ---- sessions: option byte, login byte, client bytes ----
# Option byte (session_harness.c fuzz_session_opts): bit 0 remote peer,
# bit 1 STARTTLS available, bits 2-3 how it ends (0b11: implicit TLS),
# bit 4 submission, bits 5-6: 01 slow reader (every write fills the output
# queue), 11 flushes fail; bit 7 strict config.
LOOP, TLS, TIMEOUT, SHUTDOWN, SUBMIT, FAILFLUSH, STRICT = 0, 2, 4, 8, 0x10, 0x60, 0x80
SLOW = 0x20
REMOTE = 1
BRK = b"\xff\xfe"
MSG = (b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\n"
       b"body line\r\n..dot stuffed\r\n")


def session(proto, name, opt, login, text):
    if isinstance(text, str):
        text = text.encode()
    write("session_" + proto, name, bytes([opt, login]) + text)


def sessions():
    session("smtp", "basic", LOOP, 0,
            b"EHLO client.example.net\r\nMAIL FROM:<bob@example.net> SIZE=100\r\n"
            b"RCPT TO:<alice@example.org>\r\nRCPT TO:<nobody@elsewhere.test>\r\nDATA\r\n"
            + MSG + b".\r\nRSET\r\nVRFY alice\r\nNOOP\r\nHELP\r\nQUIT\r\n")
    session("smtp", "pipelined", LOOP | STRICT, 0,
            b"EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n" + MSG
            + b".\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<postmaster>\r\nBDAT\r\nQUIT\r\n")
    session("smtp", "submission", SUBMIT, 1,
            b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<carol@example.com>\r\n"
            b"RCPT TO:<alice@example.org>\r\nDATA\r\n" + MSG + b".\r\nQUIT\r\n")
    session("smtp", "starttls", REMOTE | TLS | STRICT, 0,
            b"EHLO x\r\nAUTH PLAIN\r\nSTARTTLS\r\nMAIL FROM:<smuggled@x>\r\n" + BRK
            + b"EHLO x\r\nAUTH LOGIN\r\nYWxpY2VAZXhhbXBsZS5vcmc=\r\nc2VjcmV0\r\nQUIT\r\n")
    session("smtp", "scram", LOOP | STRICT, 0,
            b"EHLO x\r\nAUTH SCRAM-SHA-256 bixuPWFsaWNlQGV4YW1wbGUub3JnLHI9YWJjZGVm\r\n"
            b"Yz1iaXdzLHI9YWJjZGVmLHA9QUFBQQ==\r\n*\r\nQUIT\r\n")
    session("smtp", "bare-lf", LOOP | TIMEOUT, 0,
            b"HELO x\nMAIL FROM:<a@example.org>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n"
            b"line\n.\nmore\r\n.\r\n" + b"x" * 1100 + b"\r\nNOOP\r\n")
    session("smtp", "flush-fails", LOOP | FAILFLUSH, 0,
            b"EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n" + MSG
            + b".\r\nQUIT\r\n")
    session("smtp", "shutdown", LOOP | SHUTDOWN, 0,
            b"EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n" + MSG + b".\r\n")

    session("pop3", "transaction", LOOP, 1,
            "STAT\r\nLIST\r\nLIST 2\r\nUIDL\r\nRETR 1\r\nTOP 2 3\r\nDELE 1\r\nRETR 1\r\n"
            "RSET\r\nNOOP\r\nDELE 2\r\nQUIT\r\n")
    session("pop3", "auth", REMOTE | TLS | STRICT, 0,
            b"CAPA\r\nUSER alice@example.org\r\nSTLS\r\nPASS x\r\n" + BRK
            + b"CAPA\r\nUSER alice@example.org\r\nPASS wrong\r\nUSER alice@example.org\r\n"
            b"PASS secret\r\nSTAT\r\nQUIT\r\n")
    session("pop3", "sasl", LOOP | STRICT, 0,
            "AUTH\r\nAUTH PLAIN\r\nAGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==\r\nLIST\r\nTOP 1 0\r\nQUIT\r\n")
    session("pop3", "junk", LOOP | TIMEOUT, 0,
            "APOP alice@example.org 0123456789abcdef0123456789abcdef\r\nXYZZY\r\nRETR 1\r\n"
            + "x" * 1100 + "\r\nUSER\r\nPASS\r\n")
    session("pop3", "inuse", LOOP | FAILFLUSH, 1, "DELE 1\r\nDELE 2\r\nQUIT\r\n")

    session("imap", "browse", LOOP, 1,
            "c FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE BODYSTRUCTURE INTERNALDATE)\r\n"
            "d FETCH 2 (BODY.PEEK[1.MIME] BODY[2]<0.10> BINARY[1] BINARY.SIZE[2] BODY[HEADER.FIELDS (From)])\r\n"
            "e UID SEARCH OR SUBJECT caf\u00e9 BODY budget\r\nf SEARCH RETURN (MIN COUNT) UNSEEN\r\n"
            "g STORE 1 +FLAGS (\\Deleted $Work)\r\nh UID STORE 2 FLAGS.SILENT (\\Seen)\r\n"
            "i COPY 1:2 Archive\r\nj MOVE 1 Trash\r\nk EXPUNGE\r\nl CLOSE\r\nm LOGOUT\r\n")
    session("imap", "mailboxes", LOOP, 1,
            "c LIST \"\" *\r\nd CREATE Work/2026\r\ne RENAME Work Projects\r\n"
            "f STATUS Projects (MESSAGES UIDNEXT UNSEEN SIZE)\r\ng SUBSCRIBE Projects\r\n"
            "h LSUB \"\" *\r\ni DELETE Projects/2026\r\nj EXAMINE Archive\r\n"
            "k FETCH 1 BODY[2.1.HEADER]\r\nl UNSELECT\r\nm NAMESPACE\r\nn LOGOUT\r\n")
    session("imap", "append", LOOP, 1,
            b"c APPEND INBOX (\\Seen) {" + str(len(MSG)).encode() + b"}\r\n" + MSG + b"\r\n"
            b"d APPEND Drafts {5+}\r\nhello\r\ne NOOP\r\nf IDLE\r\nDONE\r\n"
            b"g ENABLE CONDSTORE QRESYNC\r\nh FETCH 1:* (MODSEQ) (CHANGEDSINCE 1)\r\ni LOGOUT\r\n")
    session("imap", "preauth", REMOTE | TLS | STRICT, 0,
            b"a CAPABILITY\r\nb LOGIN alice@example.org secret\r\nc ID (\"name\" \"fuzz\")\r\n"
            b"d STARTTLS\r\ne NOOP\r\n" + BRK + b"f LOGIN alice@example.org wrong\r\n"
            b"g AUTHENTICATE PLAIN\r\nAGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==\r\nh SELECT INBOX\r\n"
            b"i LOGOUT\r\n")
    session("imap", "literals", LOOP | TIMEOUT, 0,
            b"a LOGIN {17}\r\nalice@example.org {6}\r\nsecret\r\nb SELECT {5}\r\nINBOX\r\n"
            b"c SEARCH CHARSET UTF-8 TEXT {4}\r\nbody\r\nd FETCH * BODY[]<5.5>\r\n"
            b"e APPEND INBOX ~{3}\r\na\x00b\r\n" + b"x" * 1100 + b"\r\n")
    session("imap", "extensions", LOOP, 1,
            b"c FETCH 1:* (SAVEDATE EMAILID THREADID PREVIEW (LAZY))\r\n"
            b"d SEARCH YOUNGER 3600 SAVEDSINCE 1-Jan-2020 NOT EMAILID M1\r\n"
            b"e CREATE Sent2 (USE (\\Sent))\r\nf STATUS Sent2 (MAILBOXID)\r\n"
            b"g REPLACE 1 Drafts (\\Draft) {5+}\r\nhello\r\n"
            b"h UID REPLACE * INBOX {3+}\r\nbye\r\ni UNAUTHENTICATE\r\n"
            b"j LOGIN alice@example.org secret\r\nk LOGOUT\r\n")
    session("imap", "flush-fails", LOOP | FAILFLUSH, 1,
            "c STORE 1:* +FLAGS (\\Flagged)\r\nd EXPUNGE\r\ne CREATE x\r\nf LOGOUT\r\n")
    session("imap", "shutdown", LOOP | SHUTDOWN, 1, "c IDLE\r\n")
    session("imap", "slow-reader", LOOP | SLOW, 1,
            "c FETCH 1:* (BODY[] BINARY[2] BODYSTRUCTURE)\r\nd UID FETCH 1:* RFC822\r\n"
            "e SEARCH TEXT hello\r\nf LIST \"\" *\r\ng LOGOUT\r\n")
    session("pop3", "slow-reader", LOOP | SLOW, 1, "LIST\r\nUIDL\r\nRETR 2\r\nTOP 3 1\r\nQUIT\r\n")
    session("smtp", "slow-reader", LOOP | SLOW, 0,
            b"EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n" + MSG + b".\r\nQUIT\r\n")


def dns_msg():
    """Responses as the test DNS server (tests/integration/dnsd.py) writes
    them, compression included, plus a pointer loop and a truncated one."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    from dnsd import DnsServer, CODES
    zone = {
        "example.org": {"MX": [(10, "mx1.example.org"), (20, "mx2.other.net"), (0, ".")]},
        "mx1.example.org": {"A": ["192.0.2.1", "192.0.2.2"], "AAAA": ["2001:db8::1"]},
        "alias.example.org": {"CNAME": "mx1.example.org"},
    }
    srv = DnsServer(zone)

    def response(qid, name, qtype, rcode=None, flags=0):
        q = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
        q += struct.pack(">HH", CODES[qtype], 1)
        rc, records = srv._lookup(name, qtype)
        return srv._message(qid, flags, rc if rcode is None else rcode, q, records, name)

    write("dns_msg", "mx", response(0x1234, "example.org", "MX"))
    write("dns_msg", "a", response(0x0001, "mx1.example.org", "A"))
    write("dns_msg", "aaaa", response(0x0002, "mx1.example.org", "AAAA"))
    write("dns_msg", "cname", response(0x0003, "alias.example.org", "A"))
    write("dns_msg", "nxdomain", response(0x0004, "nx.example.org", "MX"))
    write("dns_msg", "servfail-tc", response(0x0005, "example.org", "MX", rcode=2, flags=0x0200))
    loop = bytearray(response(0x0006, "example.org", "MX"))
    loop[29:31] = b"\xc0\x1d"  # the first answer's owner points at itself
    write("dns_msg", "pointer-loop", bytes(loop))
    return 0


def zstream():
    """What a client sends after COMPRESS: raw deflate (RFC 1951), sync-
    flushed after each command as RFC 4978 clients do; a bomb of one line;
    a stream ended by a final block with a byte after it."""
    import zlib

    def deflate(*cmds, level=6, finish=False):
        z = zlib.compressobj(level, zlib.DEFLATED, -15)
        out = b"".join(z.compress(c) + z.flush(zlib.Z_SYNC_FLUSH) for c in cmds)
        return out + (z.flush(zlib.Z_FINISH) if finish else b"")

    write("zstream", "commands", deflate(b"a1 SELECT INBOX\r\n", b"a2 FETCH 1:* (FLAGS)\r\n",
                                          b"a3 IDLE\r\n", b"DONE\r\n"))
    write("zstream", "stored", deflate(b"a1 NOOP\r\n", level=0))
    write("zstream", "bomb", deflate(b"a1 NOOP " + b"a" * 2000000 + b"\r\n", level=9))
    write("zstream", "final-then-more", deflate(b"a1 LOGOUT\r\n", finish=True) + b"x")


def main():
    zstream()
    sessions()
    dns_msg()
    storage_codec()
    auth_records()
    imap_search()
    imap_fetch_section()
    config()
    return 0


if __name__ == "__main__":
    sys.exit(main())
