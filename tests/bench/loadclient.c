/* tests/bench/loadclient.c: the load client of the benchmarks (issue 11).
 * One process, one epoll loop, many non-blocking sessions, so that reading
 * and delivery figures measure the server and not a Python client.  Modes:
 *   smtp | lmtp   deliver -n messages of -s bytes over -c sessions
 *                 (-P: MAIL, RCPT and DATA in one write, RFC 2920)
 *   pop3          -c sessions (one maildrop each), -n RETR per session,
 *                 -k commands in flight (RFC 2449 PIPELINING style)
 *   imap-body     -n times UID FETCH 1:* (BODY.PEEK[]) per session
 *   imap-header   the same with BODY.PEEK[HEADER.FIELDS (...)]
 *   select        -n SELECTs of -m on one session: first and median time
 *   login         -n IMAP LOGIN+LOGOUT, -c at a time ("%d" in -u becomes
 *                 the login's number: distinct users, cold cache)
 *   idle          -c sessions LOGIN, SELECT, IDLE (-k opening at a time);
 *                 prints "ready ..." and holds them until stdin closes
 * Results are one line of key=value on stdout.  Users and recipients are
 * templates: "%d" becomes the session index (login: the login number).
 * Built by tests/bench/bench_all.py with cc; only libc is needed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum mode { M_SMTP, M_LMTP, M_POP3, M_IMAP_BODY, M_IMAP_HDR, M_SELECT, M_LOGIN, M_IDLE };

enum state {
	S_CONNECT, S_GREET, S_HELO, S_USER, S_PASS, S_STAT, S_LOGIN, S_SELECT,
	S_READY, S_RUN, S_MAIL, S_RCPT, S_DATA, S_BODY, S_IDLE, S_QUIT, S_DONE
};

struct sess {
	int fd, idx;
	enum state st;
	char *in;
	size_t in_len, in_cap, in_off;
	size_t lit_left;             /* IMAP literal bytes still to skip */
	bool lit_cont;               /* the next line continues a response after a literal */
	char *out;
	size_t out_len, out_off, out_cap;
	bool want_out;
	long todo;                   /* operations this session still sends */
	long inflight;               /* POP3 RETRs sent, not finished */
	bool in_multi;               /* inside a POP3 multi-line response */
	long drop, next;             /* POP3 maildrop size, next message */
	unsigned tag;
	double op_start;
	char user[256];
};

static struct {
	enum mode mode;
	const char *host, *user, *pass, *rcpt, *mailbox;
	int port, sessions;
	long count;
	size_t size;
	long inflight;
	bool pipelining;
	double timeout;
} opt = { M_SMTP, "127.0.0.1", "bench%d", "bench", "box%d@localhost", "INBOX",
	  0, 1, 1000, 4096, 1, false, 600 };

static int ep;
static struct sess *sessions;
static char *body;               /* message body template (smtp/lmtp) */
static long ops, msgs, errors, ready, opened, finished, login_next;
static unsigned long long bytes;
static double t0, t_ready, *lat;
static long lat_n;
static bool running;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "loadclient: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* "%d" in tmpl becomes n; nothing else is interpreted (the templates come
 * from the command line and are never a printf format). */
static void templ(char *dst, size_t cap, const char *tmpl, long n)
{
	const char *p = strstr(tmpl, "%d");
	if (!p) {
		snprintf(dst, cap, "%s", tmpl);
		return;
	}
	snprintf(dst, cap, "%.*s%ld%s", (int)(p - tmpl), tmpl, n, p + 2);
}

static void out_reserve(struct sess *s, size_t n)
{
	if (s->out_off && s->out_off == s->out_len)
		s->out_off = s->out_len = 0;
	if (s->out_len + n <= s->out_cap)
		return;
	if (s->out_off) {
		memmove(s->out, s->out + s->out_off, s->out_len - s->out_off);
		s->out_len -= s->out_off;
		s->out_off = 0;
	}
	while (s->out_len + n > s->out_cap)
		s->out_cap = s->out_cap ? s->out_cap * 2 : 4096;
	s->out = realloc(s->out, s->out_cap);
	if (!s->out)
		die("realloc");
}

static void sess_add(struct sess *s, const void *data, size_t len)
{
	out_reserve(s, len);
	memcpy(s->out + s->out_len, data, len);
	s->out_len += len;
}

__attribute__((format(printf, 2, 3)))
static void sess_printf(struct sess *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	sess_add(s, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static void sess_watch(struct sess *s, bool want_out)
{
	struct epoll_event ev = { .events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = s };
	if (want_out != s->want_out && epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev) < 0)
		die("epoll_ctl");
	s->want_out = want_out;
}

static void sess_close(struct sess *s, bool failed);

static void sess_flush(struct sess *s)
{
	while (s->out_off < s->out_len) {
		ssize_t n = write(s->fd, s->out + s->out_off, s->out_len - s->out_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			sess_close(s, true);
			return;
		}
		s->out_off += (size_t)n;
	}
	sess_watch(s, s->out_off < s->out_len);
}

static void sess_open(struct sess *s)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port) };
	if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1) {
		fprintf(stderr, "loadclient: bad IPv4 address %s\n", opt.host);
		exit(2);
	}
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		die("socket");
	int one = 1;
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(s->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)
		die("connect");
	s->st = S_CONNECT;
	s->in_len = s->in_off = s->lit_left = 0;
	s->lit_cont = false;
	s->out_len = s->out_off = 0;
	s->in_multi = false;
	s->inflight = 0;
	s->tag = 0;
	s->want_out = true;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = s };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) < 0)
		die("epoll_ctl add");
	opened++;
}

static void start_session(struct sess *s);

/* Idle: one more session opens as one gets ready (or fails); "ready" is
 * printed once every session has got somewhere. */
static void idle_progress(void)
{
	if (opened < opt.sessions)
		start_session(&sessions[opened]);
	if (ready + errors == opt.sessions && !t_ready) {
		t_ready = now();
		printf("ready sessions=%ld failed=%ld seconds=%.3f\n", ready, errors, t_ready - t0);
		fflush(stdout);
	}
}

static void sess_close(struct sess *s, bool failed)
{
	if (s->fd < 0)
		return;
	if (failed) {
		errors++;
		if (s->in_len > s->in_off)
			fprintf(stderr, "loadclient: session %d failed in state %d: %.*s\n", s->idx,
				s->st, (int)(s->in_len - s->in_off > 200 ? 200 : s->in_len - s->in_off),
				s->in + s->in_off);
		else
			fprintf(stderr, "loadclient: session %d failed in state %d\n", s->idx, s->st);
	}
	epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	s->fd = -1;
	s->st = S_DONE;
	if (opt.mode == M_LOGIN && !failed && login_next < opt.count) {
		start_session(s);
		return;
	}
	finished++;
	if (opt.mode == M_IDLE && failed)
		idle_progress();
}

/* ---- SMTP / LMTP ------------------------------------------------------ */

static void smtp_envelope(struct sess *s)
{
	char rcpt[256];
	templ(rcpt, sizeof rcpt, opt.rcpt, s->idx);
	if (opt.pipelining) {
		sess_printf(s, "MAIL FROM:<bench@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n", rcpt);
	} else if (s->st == S_MAIL) {
		sess_printf(s, "MAIL FROM:<bench@example.org>\r\n");
	} else if (s->st == S_RCPT) {
		sess_printf(s, "RCPT TO:<%s>\r\n", rcpt);
	} else {
		sess_printf(s, "DATA\r\n");
	}
}

static void smtp_message(struct sess *s)
{
	char head[256];
	int n = snprintf(head, sizeof head,
			 "From: <bench@example.org>\r\nTo: <rcpt@example.com>\r\n"
			 "Subject: bench %d.%ld\r\nMessage-ID: <%d.%ld@bench>\r\n\r\n",
			 s->idx, s->todo, s->idx, s->todo);
	size_t blen = opt.size > (size_t)n + 2 ? opt.size - (size_t)n - 2 : 0;
	if (blen && body[blen - 1] == '\r')
		blen--;         /* no bare CR before the final CRLF */
	sess_add(s, head, (size_t)n);
	sess_add(s, body, blen);
	sess_add(s, "\r\n.\r\n", 5);
}

static void smtp_next(struct sess *s)
{
	if (s->todo == 0) {
		sess_printf(s, "QUIT\r\n");
		s->st = S_QUIT;
		return;
	}
	s->st = S_MAIL;
	smtp_envelope(s);
}

static int smtp_line(struct sess *s, const char *l, size_t len)
{
	if (len < 4 || l[3] == '-')
		return 0;        /* continuation of a multi-line reply */
	int code = atoi(l);
	switch (s->st) {
	case S_GREET:
		if (code != 220)
			return -1;
		sess_printf(s, "%s bench.example.org\r\n", opt.mode == M_LMTP ? "LHLO" : "EHLO");
		s->st = S_HELO;
		return 0;
	case S_HELO:
		if (code != 250)
			return -1;
		s->st = S_READY;
		return 1;
	case S_MAIL:
	case S_RCPT:
		if (code != 250)
			return -1;
		s->st++;
		if (!opt.pipelining)
			smtp_envelope(s);
		return 0;
	case S_DATA:
		if (code != 354)
			return -1;
		smtp_message(s);
		s->st = S_BODY;
		return 0;
	case S_BODY:
		if (code != 250)
			return -1;
		ops++;
		msgs++;
		bytes += opt.size;
		s->todo--;
		smtp_next(s);
		return 0;
	case S_QUIT:
		return 2;
	default:
		return -1;
	}
}

/* ---- POP3 --------------------------------------------------------------- */

static void pop3_fill(struct sess *s)
{
	while (s->todo > 0 && s->inflight < opt.inflight) {
		sess_printf(s, "RETR %ld\r\n", s->next);
		s->next = s->next % s->drop + 1;
		s->todo--;
		s->inflight++;
	}
	if (s->todo == 0 && s->inflight == 0) {
		sess_printf(s, "QUIT\r\n");
		s->st = S_QUIT;
	}
}

static int pop3_line(struct sess *s, const char *l, size_t len)
{
	if (s->in_multi) {
		if (len == 3 && l[0] == '.') {
			s->in_multi = false;
			s->inflight--;
			ops++;
			msgs++;
			pop3_fill(s);
		} else {
			bytes += len;
		}
		return 0;
	}
	bool ok = len >= 3 && memcmp(l, "+OK", 3) == 0;
	if (!ok)
		return -1;
	switch (s->st) {
	case S_GREET:
		sess_printf(s, "USER %s\r\n", s->user);
		s->st = S_USER;
		return 0;
	case S_USER:
		sess_printf(s, "PASS %s\r\n", opt.pass);
		s->st = S_PASS;
		return 0;
	case S_PASS:
		sess_printf(s, "STAT\r\n");
		s->st = S_STAT;
		return 0;
	case S_STAT:
		s->drop = strtol(l + 3, NULL, 10);
		if (s->drop <= 0) {
			fprintf(stderr, "loadclient: maildrop of %s is empty\n", s->user);
			return -1;
		}
		s->next = 1;
		s->st = S_READY;
		return 1;
	case S_RUN:
		s->in_multi = true;
		return 0;
	case S_QUIT:
		return 2;
	default:
		return -1;
	}
}

/* ---- IMAP --------------------------------------------------------------- */

static void imap_cmd(struct sess *s, const char *cmd)
{
	s->op_start = now();
	sess_printf(s, "a%u %s\r\n", ++s->tag, cmd);
}

static void imap_run(struct sess *s)
{
	if (opt.mode == M_IMAP_BODY)
		imap_cmd(s, "UID FETCH 1:* (BODY.PEEK[])");
	else if (opt.mode == M_IMAP_HDR)
		imap_cmd(s, "UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])");
	else if (opt.mode == M_SELECT) {
		char c[300];
		snprintf(c, sizeof c, "SELECT \"%s\"", opt.mailbox);
		imap_cmd(s, c);
	}
	s->st = S_RUN;
}

static int imap_line(struct sess *s, const char *l, size_t len)
{
	bool cont = s->lit_cont;
	s->lit_cont = false;
	/* A literal follows: skip its bytes, they are counted as read data;
	 * the line after it still belongs to the same response. */
	if (len >= 3 && l[len - 3] == '}') {
		const char *b = memrchr(l, '{', len);
		if (b) {
			s->lit_left = strtoull(b + 1, NULL, 10);
			s->lit_cont = true;
		}
	}
	if (cont)
		return 0;
	if (l[0] == '*') {
		if (s->st == S_RUN && len > 8 && memmem(l, len, " FETCH (", 8))
			msgs++;
		return 0;
	}
	if (l[0] == '+') {
		if (s->st != S_IDLE)
			return -1;
		s->st = S_READY;
		return 1;
	}
	/* Tagged: we send one command at a time, so this ends it. */
	const char *sp = memchr(l, ' ', len);
	if (!sp || len - (size_t)(sp - l) < 3 || memcmp(sp + 1, "OK", 2) != 0)
		return -1;
	char c[600];
	switch (s->st) {
	case S_LOGIN:
		if (opt.mode == M_LOGIN) {
			ops++;
			if (lat_n < opt.count)
				lat[lat_n++] = now() - s->op_start;
			imap_cmd(s, "LOGOUT");
			s->st = S_QUIT;
			return 0;
		}
		if (opt.mode == M_SELECT) {
			s->st = S_READY;
			return 1;
		}
		snprintf(c, sizeof c, "SELECT \"%s\"", opt.mailbox);
		imap_cmd(s, c);
		s->st = S_SELECT;
		return 0;
	case S_SELECT:
		if (opt.mode == M_IDLE) {
			imap_cmd(s, "IDLE");
			s->st = S_IDLE;
			return 0;
		}
		s->st = S_READY;
		return 1;
	case S_RUN:
		ops++;
		if (lat_n < opt.count)
			lat[lat_n++] = now() - s->op_start;
		if (--s->todo > 0) {
			imap_run(s);
		} else {
			imap_cmd(s, "LOGOUT");
			s->st = S_QUIT;
		}
		return 0;
	case S_QUIT:
		return 2;
	default:
		return -1;
	}
}

static int imap_greeting(struct sess *s, const char *l, size_t len)
{
	if (len < 4 || memcmp(l, "* OK", 4) != 0)
		return -1;
	char c[600];
	snprintf(c, sizeof c, "LOGIN \"%s\" \"%s\"", s->user, opt.pass);
	imap_cmd(s, c);
	s->st = S_LOGIN;
	return 0;
}

/* ---- the loop ------------------------------------------------------------ */

static void start_session(struct sess *s)
{
	if (opt.mode == M_LOGIN)
		templ(s->user, sizeof s->user, opt.user, login_next++);
	else
		templ(s->user, sizeof s->user, opt.user, s->idx);
	s->todo = opt.mode == M_SMTP || opt.mode == M_LMTP ? s->todo : opt.count;
	sess_open(s);
}

static void begin(struct sess *s)
{
	s->st = S_RUN;
	if (opt.mode == M_SMTP || opt.mode == M_LMTP)
		smtp_next(s);
	else if (opt.mode == M_POP3)
		pop3_fill(s);
	else
		imap_run(s);
}

/* A session is ready (logged in, selected): the timed part starts when all are. */
static void on_ready(struct sess *s)
{
	(void)s;
	ready++;
	if (opt.mode == M_IDLE) {
		idle_progress();
		return;
	}
	if (ready < opt.sessions)
		return;
	t0 = now();
	for (int i = 0; i < opt.sessions; i++) {
		if (sessions[i].fd >= 0 && sessions[i].st == S_READY) {
			begin(&sessions[i]);
			sess_flush(&sessions[i]);
		}
	}
}

static int dispatch(struct sess *s, const char *l, size_t len)
{
	if (opt.mode == M_SMTP || opt.mode == M_LMTP)
		return smtp_line(s, l, len);
	if (opt.mode == M_POP3)
		return pop3_line(s, l, len);
	if (s->st == S_GREET)
		return imap_greeting(s, l, len);
	return imap_line(s, l, len);
}

static void sess_input(struct sess *s)
{
	for (;;) {
		if (s->in_cap - s->in_len < 65536) {
			if (s->in_off) {
				memmove(s->in, s->in + s->in_off, s->in_len - s->in_off);
				s->in_len -= s->in_off;
				s->in_off = 0;
			}
			if (s->in_cap - s->in_len < 65536) {
				s->in_cap = s->in_cap ? s->in_cap * 2 : 262144;
				s->in = realloc(s->in, s->in_cap);
				if (!s->in)
					die("realloc");
			}
		}
		ssize_t n = read(s->fd, s->in + s->in_len, s->in_cap - s->in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			sess_close(s, s->st != S_QUIT);
			return;
		}
		s->in_len += (size_t)n;
		while (s->in_off < s->in_len) {
			if (s->lit_left) {
				size_t take = s->in_len - s->in_off;
				if (take > s->lit_left)
					take = s->lit_left;
				s->lit_left -= take;
				s->in_off += take;
				bytes += take;
				continue;
			}
			char *l = s->in + s->in_off;
			char *nl = memchr(l, '\n', s->in_len - s->in_off);
			if (!nl)
				break;
			size_t len = (size_t)(nl - l) + 1;
			s->in_off += len;
			int rc = dispatch(s, l, len);
			if (rc < 0) {
				s->in_off -= len;
				sess_close(s, true);
				return;
			}
			if (rc == 2) {
				sess_close(s, false);
				return;
			}
			if (rc == 1)
				on_ready(s);
		}
		if (s->in_off == s->in_len)
			s->in_off = s->in_len = 0;
		if ((size_t)n < 65536)
			break;
	}
	sess_flush(s);
}

static void sess_event(struct sess *s, unsigned events)
{
	if (s->st == S_CONNECT) {
		int err = 0;
		socklen_t l = sizeof err;
		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			errno = err;
			fprintf(stderr, "loadclient: connect: %s\n", strerror(err));
			sess_close(s, true);
			return;
		}
		s->st = S_GREET;
		sess_watch(s, false);
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		sess_input(s);
	if (s->fd >= 0 && (events & EPOLLOUT))
		sess_flush(s);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadclient MODE -p PORT [-H 127.0.0.1] [-c SESSIONS] [-n COUNT] [-s SIZE]\n"
		"       [-k INFLIGHT] [-P] [-u USER] [-w PASSWORD] [-r RCPT] [-m MAILBOX] [-t SECONDS]\n"
		"MODE: smtp lmtp pop3 imap-body imap-header select login idle\n");
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	static const char *names[] = { "smtp", "lmtp", "pop3", "imap-body", "imap-header",
				       "select", "login", "idle" };
	if (argc < 2)
		usage();
	size_t i;
	for (i = 0; i < sizeof names / sizeof *names; i++)
		if (strcmp(argv[1], names[i]) == 0)
			break;
	if (i == sizeof names / sizeof *names)
		usage();
	opt.mode = (enum mode)i;
	int c;
	optind = 2;
	while ((c = getopt(argc, argv, "H:p:c:n:s:k:Pu:w:r:m:t:")) != -1) {
		switch (c) {
		case 'H': opt.host = optarg; break;
		case 'p': opt.port = atoi(optarg); break;
		case 'c': opt.sessions = atoi(optarg); break;
		case 'n': opt.count = atol(optarg); break;
		case 's': opt.size = strtoul(optarg, NULL, 10); break;
		case 'k': opt.inflight = atol(optarg); break;
		case 'P': opt.pipelining = true; break;
		case 'u': opt.user = optarg; break;
		case 'w': opt.pass = optarg; break;
		case 'r': opt.rcpt = optarg; break;
		case 'm': opt.mailbox = optarg; break;
		case 't': opt.timeout = atof(optarg); break;
		default: usage();
		}
	}
	if (opt.port <= 0 || opt.sessions <= 0 || opt.count <= 0 || opt.inflight <= 0)
		usage();
	if (opt.mode == M_SELECT)
		opt.sessions = 1;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	/* Idle sessions need a descriptor each: take the whole hard limit. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	body = malloc(opt.size + 80);
	const char *line = "The quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnopqrs\r\n";
	for (size_t i = 0; i < opt.size + 80; i++)
		body[i] = line[i % 76];
	lat = calloc((size_t)opt.count, sizeof *lat);
	sessions = calloc((size_t)opt.sessions, sizeof *sessions);
	if (!body || !lat || !sessions)
		die("calloc");
	for (int i = 0; i < opt.sessions; i++) {
		sessions[i].idx = i;
		sessions[i].fd = -1;
		/* SMTP: the messages are shared out over the sessions. */
		sessions[i].todo = opt.count / opt.sessions + (i < opt.count % opt.sessions);
	}
	t0 = now();
	/* Idle sessions open -k at a time, the others all at once. */
	long first = opt.mode == M_IDLE ? opt.inflight : opt.sessions;
	if (first > opt.sessions)
		first = opt.sessions;
	for (int i = 0; i < first; i++)
		start_session(&sessions[i]);
	if (opt.mode == M_IDLE) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
		epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
	}
	running = true;
	double deadline = now() + opt.timeout;
	struct epoll_event evs[256];
	while (running && finished < opt.sessions) {
		int n = epoll_wait(ep, evs, 256, 1000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			if (!evs[i].data.ptr) {
				running = false;        /* stdin closed or written: release */
				break;
			}
			struct sess *s = evs[i].data.ptr;
			if (s->fd >= 0)
				sess_event(s, evs[i].events);
		}
		if (opt.mode != M_IDLE && now() > deadline) {
			fprintf(stderr, "loadclient: timeout after %.0f s\n", opt.timeout);
			errors++;
			break;
		}
	}
	double dt = now() - t0;
	static const char *names[] = { "smtp", "lmtp", "pop3", "imap-body", "imap-header",
				       "select", "login", "idle" };
	printf("mode=%s sessions=%d ops=%ld msgs=%ld bytes=%llu seconds=%.6f ops_per_s=%.1f "
	       "msgs_per_s=%.1f mb_per_s=%.2f errors=%ld",
	       names[opt.mode], opt.sessions, ops, msgs, bytes, dt, ops / dt, msgs / dt,
	       bytes / 1e6 / dt, errors);
	if (lat_n > 0) {
		double first_ms = lat[0] * 1e3;
		qsort(lat, (size_t)lat_n, sizeof *lat, cmp_double);
		printf(" first_ms=%.3f median_ms=%.3f min_ms=%.3f", first_ms,
		       lat[lat_n / 2] * 1e3, lat[0] * 1e3);
	}
	if (opt.mode == M_IDLE)
		printf(" ready=%ld", ready);
	/* The client's own CPU time: far below seconds= means the server, not
	 * this client, set the pace. */
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf(" client_cpu_s=%.3f\n", ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	return errors ? 1 : 0;
}
