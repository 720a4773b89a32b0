/* tests/tools/smtp_send.c: a test driver for smtp/smtp_client: one client
 * on its own event_base, one message sent --reuse times over one
 * connection, every event and per-recipient result printed, one per line:
 *   ready tls=TLSv1.3 cipher=...
 *   rcpt ADDRESS CODE STATUS|- REPLY
 *   done|failed|refused code=N status=S permanent=0|1 msg_refused=0|1 tls_failed=0|1 text=...
 *   shutdown freed=N       (clients still in QUIT when the loop ended)
 * Exit status 0 whatever the server did (the test reads the lines); 2 on a
 * usage or local error.  Not installed. */
#include <arpa/inet.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/tls.h"
#include "smtp/smtp_client.h"

#define MAX_RCPTS 64

struct run {
	struct smtp_client *client;
	struct smtp_client_msg msg;
	int reuse, sent;
	bool in_txn;
	int fd;                  /* --file, or -1 for the built-in message */
	struct event_base *base;
	/* --no-linger: stop the loop right after closing, as a daemon shutting
	 * down does; smtp_client_shutdown then frees the client still in QUIT. */
	bool stop_early;
	const char *text;        /* the built-in message */
};

static int content_read(void *arg, uint64_t off, void *buf, size_t cap, size_t *got)
{
	struct run *r = arg;
	if (r->fd < 0) {
		size_t n = strlen(r->text);
		if (off >= n) {
			*got = 0;
			return 0;
		}
		*got = n - off < cap ? n - off : cap;
		memcpy(buf, r->text + off, *got);
		return 0;
	}
	ssize_t n = pread(r->fd, buf, cap, (off_t)off);
	if (n < 0)
		return -1;
	*got = (size_t)n;
	return 0;
}

static void print_info(const char *ev, const struct smtp_client_info *i)
{
	printf("%s code=%d status=%s permanent=%d msg_refused=%d tls_failed=%d text=%s\n", ev,
	       i->code, i->status[0] ? i->status : "-", i->permanent, i->msg_refused,
	       i->tls_failed, i->text);
}

static void print_rcpts(const struct smtp_client_msg *m)
{
	for (size_t i = 0; i < m->nrcpts; i++) {
		const struct smtp_client_rcpt *rc = &m->rcpts[i];
		/* One line per recipient, whatever the address holds. */
		char addr[600];
		snprintf(addr, sizeof(addr), "%s", rc->address);
		for (char *p = addr; *p; p++)
			if ((unsigned char)*p < 0x21 || *p == 0x7f)
				*p = '?';
		printf("rcpt %s %d %s %s\n", addr, rc->code, rc->status[0] ? rc->status : "-",
		       rc->reply);
	}
}

static void finish(struct run *r)
{
	smtp_client_close(r->client);
	if (r->stop_early)
		event_base_loopbreak(r->base);
}

static void next_or_close(struct run *r)
{
	if (r->sent < r->reuse) {
		struct smtp_client_info info;
		r->sent++;
		if (smtp_client_send(r->client, &r->msg, &info) < 0) {
			print_info("refused", &info);
			print_rcpts(&r->msg);
			finish(r);
			return;
		}
		r->in_txn = true;
		return;
	}
	finish(r);
}

static void on_event(void *arg, enum smtp_client_event ev, const struct smtp_client_info *info)
{
	struct run *r = arg;
	switch (ev) {
	case SMTP_CLIENT_READY:
		printf("ready tls=%s cipher=%s\n", info->tls_version ? info->tls_version : "none",
		       info->tls_cipher ? info->tls_cipher : "none");
		next_or_close(r);
		break;
	case SMTP_CLIENT_DONE:
		r->in_txn = false;
		print_rcpts(&r->msg);
		print_info("done", info);
		next_or_close(r);
		break;
	case SMTP_CLIENT_FAILED:
		if (r->in_txn)
			print_rcpts(&r->msg);
		print_info("failed", info);
		finish(r);
		break;
	}
	fflush(stdout);
}

static int parse_server(const char *s, struct sockaddr_storage *ss, socklen_t *len_r,
			char *host, size_t hostlen)
{
	const char *colon = strrchr(s, ':');
	if (!colon)
		return -1;
	int port = atoi(colon + 1);
	size_t hl = (size_t)(colon - s);
	if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl >= hostlen)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len_r = sizeof(*a4);
	} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len_r = sizeof(*a6);
	} else {
		return -1;
	}
	return 0;
}

static unsigned notify_parse(const char *s)
{
	unsigned n = 0;
	if (strstr(s, "NEVER"))
		n |= SMTP_NOTIFY_NEVER;
	if (strstr(s, "SUCCESS"))
		n |= SMTP_NOTIFY_SUCCESS;
	if (strstr(s, "FAILURE"))
		n |= SMTP_NOTIFY_FAILURE;
	if (strstr(s, "DELAY"))
		n |= SMTP_NOTIFY_DELAY;
	return n;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: smtp_send --server HOST:PORT --from A --to B [--to C ...]\n"
		"  [--tls none|may|encrypt|verify] [--ca FILE] [--auth USER:PASS] [--file MSG]\n"
		"  [--reuse N] [--host NAME] [--helo NAME] [--timeout MS] [--bind ADDR]\n"
		"  [--notify LIST] [--orcpt] [--ret FULL|HDRS] [--envid ID] [--8bit] [--utf8]\n"
		"  [--size N] [--no-linger]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct run r = { .reuse = 1, .fd = -1 };
	struct smtp_client_config cfg = { .helo = "client.test", .tls = SMTP_TLS_MAY };
	/* A server that drops the connection in DATA (test_drop_in_data) must
	 * give the client a write error, as in the daemon (core/server.c),
	 * not kill it with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	static struct smtp_client_rcpt rcpts[MAX_RCPTS];
	static char orcpts[MAX_RCPTS][600];
	const char *server = NULL, *ca = NULL, *file = NULL, *host = NULL, *bind_addr = NULL;
	char *auth = NULL;
	long long size = -1;
	unsigned notify = 0;
	bool orcpt = false;
	bool stop_early = false;
	r.msg.sender = NULL;
	r.msg.rcpts = rcpts;
	r.text = "From: a@client.test\r\nTo: b@server.test\r\nSubject: test\r\n\r\nhello\r\n";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = true;
		if (strcmp(a, "--server") == 0 && v)
			server = v;
		else if (strcmp(a, "--from") == 0 && v)
			r.msg.sender = v;
		else if (strcmp(a, "--to") == 0 && v && r.msg.nrcpts < MAX_RCPTS)
			rcpts[r.msg.nrcpts++].address = v;
		else if (strcmp(a, "--tls") == 0 && v) {
			if (strcmp(v, "none") == 0)
				cfg.tls = SMTP_TLS_NONE;
			else if (strcmp(v, "may") == 0)
				cfg.tls = SMTP_TLS_MAY;
			else if (strcmp(v, "encrypt") == 0)
				cfg.tls = SMTP_TLS_ENCRYPT;
			else if (strcmp(v, "verify") == 0)
				cfg.tls = SMTP_TLS_VERIFY;
			else
				usage();
		} else if (strcmp(a, "--ca") == 0 && v)
			ca = v;
		else if (strcmp(a, "--auth") == 0 && v)
			auth = strdup(v);
		else if (strcmp(a, "--file") == 0 && v)
			file = v;
		else if (strcmp(a, "--reuse") == 0 && v)
			r.reuse = atoi(v);
		else if (strcmp(a, "--host") == 0 && v)
			host = v;
		else if (strcmp(a, "--helo") == 0 && v)
			cfg.helo = v;
		else if (strcmp(a, "--timeout") == 0 && v)
			cfg.timeout_scale_ms = (unsigned)atoi(v);
		else if (strcmp(a, "--bind") == 0 && v)
			bind_addr = v;
		else if (strcmp(a, "--notify") == 0 && v)
			notify = notify_parse(v);
		else if (strcmp(a, "--ret") == 0 && v)
			r.msg.ret = strcmp(v, "FULL") == 0 ? 1 : 2;
		else if (strcmp(a, "--envid") == 0 && v)
			r.msg.envid = v;
		else if (strcmp(a, "--size") == 0 && v)
			size = atoll(v);
		else {
			takes = false;
			if (strcmp(a, "--orcpt") == 0)
				orcpt = true;
			else if (strcmp(a, "--8bit") == 0)
				r.msg.eightbit = true;
			else if (strcmp(a, "--utf8") == 0)
				r.msg.utf8 = true;
			else if (strcmp(a, "--no-linger") == 0)
				stop_early = true;
			else
				usage();
		}
		if (takes)
			i++;
	}
	if (!server || !r.msg.sender || r.msg.nrcpts == 0)
		usage();
	for (size_t i = 0; i < r.msg.nrcpts; i++) {
		rcpts[i].notify = notify;
		if (orcpt) {
			snprintf(orcpts[i], sizeof(orcpts[i]), "rfc822;%s", rcpts[i].address);
			rcpts[i].orcpt = orcpts[i];
		}
	}
	struct sockaddr_storage ss, bs;
	socklen_t sslen, bslen;
	char srvhost[256], bindhost[256];
	if (parse_server(server, &ss, &sslen, srvhost, sizeof(srvhost)) < 0)
		usage();
	if (bind_addr) {
		char tmp[300];
		snprintf(tmp, sizeof(tmp), "%s:0", bind_addr);
		if (parse_server(tmp, &bs, &bslen, bindhost, sizeof(bindhost)) < 0)
			usage();
		if (bs.ss_family == AF_INET) {
			cfg.bind4 = (struct sockaddr *)&bs;
			cfg.bind4_len = bslen;
		} else {
			cfg.bind6 = (struct sockaddr *)&bs;
			cfg.bind6_len = bslen;
		}
	}
	if (auth) {
		char *colon = strchr(auth, ':');
		if (!colon)
			usage();
		*colon = '\0';
		cfg.auth_user = auth;
		cfg.auth_pass = colon + 1;
	}
	uint64_t content_size;
	if (file) {
		r.fd = open(file, O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (r.fd < 0 || fstat(r.fd, &st) < 0) {
			perror(file);
			return 2;
		}
		content_size = (uint64_t)st.st_size;
	} else {
		content_size = strlen(r.text);
	}
	r.msg.size = size >= 0 ? (uint64_t)size : content_size;
	r.msg.read = content_read;
	r.msg.read_arg = &r;

	struct tls_client_ctx *tctx = NULL;
	char err[512];
	if (tls_client_ctx_create(ca, &tctx, err, sizeof(err)) < 0) {
		fprintf(stderr, "smtp_send: %s\n", err);
		return 2;
	}
	cfg.tls_ctx = tctx;
	struct event_base *base = event_base_new();
	r.client = smtp_client_open(base, &cfg, host ? host : srvhost, (struct sockaddr *)&ss,
				    sslen, on_event, &r);
	if (!r.client) {
		fprintf(stderr, "smtp_send: out of memory\n");
		return 2;
	}
	r.base = base;
	r.stop_early = stop_early;
	event_base_dispatch(base);
	printf("shutdown freed=%zu\n", smtp_client_shutdown(base));
	event_base_free(base);
	tls_client_ctx_free(&tctx);
	if (r.fd >= 0)
		close(r.fd);
	free(auth);
	return 0;
}
