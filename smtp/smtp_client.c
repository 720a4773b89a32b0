/* smtp/smtp_client.c: the connection half of the outbound SMTP client:
 * socket and connect (IPv4, IPv6, source address), the reply reader, the
 * timeouts, the session up to READY (greeting, EHLO or HELO, STARTTLS and
 * the TLS filter, AUTH for smarthosts), every way it fails, QUIT and the
 * one place that frees it.  The transaction itself is smtp_client_txn.c. */
#include "smtp/smtp_client_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "core/sock.h"
#include "core/tls.h"

/* RFC 5321 4.5.3.2 gives no figure for these; 5 minutes like the others. */
#define CL_CMD_TIMEOUT 300
/* Not in the RFC either: Postfix's smtp_connect_timeout. */
#define CL_CONNECT_TIMEOUT 30
/* After QUIT we wait a little for the 221, no longer. */
#define CL_QUIT_TIMEOUT 30
/* Bound on what sits unread in the input buffer: more than a maximal reply
 * line, so a reply can always be parsed, and a cap on a flood. */
#define CL_READ_HIGH (128 * 1024)
#define CL_CRED_MAX 512

static void client_read_cb(struct bufferevent *bev, void *arg);
static void client_write_cb(struct bufferevent *bev, void *arg);
static void client_event_cb(struct bufferevent *bev, short what, void *arg);

/* Clients closed by their user but still saying QUIT, per loop thread
 * (a client lives on one loop), so shutdown can free them. */
static __thread struct smtp_client *lingering;

static void client_free(struct smtp_client *c)
{
	if (c->lingering) {
		if (c->linger_prev)
			c->linger_prev->linger_next = c->linger_next;
		else
			lingering = c->linger_next;
		if (c->linger_next)
			c->linger_next->linger_prev = c->linger_prev;
	}
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->defer)
		event_free(c->defer);
	if (c->deadline)
		event_free(c->deadline);
	smtp_reply_free(&c->reply);
	free(c->accepted);
	free(c->host);
	free(c);
}

static void client_enter(struct smtp_client *c)
{
	c->depth++;
}

/* Every libevent callback ends here: a close asked for inside it frees now. */
static void client_leave(struct smtp_client *c)
{
	if (--c->depth == 0 && c->free_pending)
		client_free(c);
}

static void client_drop_socket(struct smtp_client *c)
{
	if (c->deadline)
		event_del(c->deadline);
	c->deadline_s = 0;
	if (c->bev) {
		bufferevent_free(c->bev);
		c->bev = NULL;
		c->ssl = NULL;
	}
}

void smtp_client_write(struct smtp_client *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
	va_end(ap);
}

static void timeval_set(struct timeval *tv, unsigned s, unsigned cap_ms)
{
	uint64_t ms = (uint64_t)s * 1000;
	if (cap_ms && cap_ms < ms)
		ms = cap_ms;
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

void smtp_client_timeouts(struct smtp_client *c, unsigned read_s, unsigned write_s)
{
	struct timeval r, w;
	timeval_set(&r, read_s, c->cfg->timeout_scale_ms);
	timeval_set(&w, write_s, c->cfg->timeout_scale_ms);
	c->deadline_s = read_s;
	if (read_s)
		evtimer_add(c->deadline, &r);
	else
		event_del(c->deadline);
	bufferevent_set_timeouts(c->bev, NULL, write_s ? &w : NULL);
}

void smtp_client_info_fill(const struct smtp_client *c, struct smtp_client_info *info_r)
{
	info_r->dsn = (c->ehlo.ext & SMTP_EXT_DSN) != 0;
	if (c->tls_on && c->ssl) {
		info_r->tls_version = SSL_get_version(c->ssl);
		info_r->tls_cipher = SSL_get_cipher_name(c->ssl);
	}
}

void smtp_client_emit(struct smtp_client *c, enum smtp_client_event ev,
		      const struct smtp_client_info *info)
{
	if (c->cb && !c->free_pending)
		c->cb(c->arg, ev, info);
}

static void client_vfail(struct smtp_client *c, struct smtp_client_info *info)
{
	smtp_client_info_fill(c, info);
	client_drop_socket(c);
	c->st = CL_DEAD;
	/* Results of the transaction in progress stay in its rcpts: those
	 * whose fate is unknown have code 0. */
	c->msg = NULL;
	smtp_client_emit(c, SMTP_CLIENT_FAILED, info);
}

void smtp_client_fail(struct smtp_client *c, int code, const char *status, bool permanent,
		      const char *fmt, ...)
{
	struct smtp_client_info info;
	memset(&info, 0, sizeof(info));
	info.code = code;
	snprintf(info.status, sizeof(info.status), "%s", status);
	info.permanent = permanent;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(info.text, sizeof(info.text), fmt, ap);
	va_end(ap);
	client_vfail(c, &info);
}

void smtp_client_fail_reply(struct smtp_client *c, bool permanent, const char *what)
{
	struct smtp_client_info info;
	memset(&info, 0, sizeof(info));
	info.code = c->reply.code;
	snprintf(info.status, sizeof(info.status), "%s", c->reply.status);
	info.permanent = permanent;
	char text[400];
	smtp_reply_text_oneline(&c->reply, text, sizeof(text));
	snprintf(info.text, sizeof(info.text), "%s: %s", what, text);
	client_vfail(c, &info);
}

static void client_ready(struct smtp_client *c)
{
	struct smtp_client_info info;
	memset(&info, 0, sizeof(info));
	c->st = CL_IDLE;
	/* Idle: no timer of ours; a server that hangs up is reported. */
	smtp_client_timeouts(c, 0, 0);
	smtp_client_info_fill(c, &info);
	smtp_client_emit(c, SMTP_CLIENT_READY, &info);
}

static void client_ehlo_send(struct smtp_client *c)
{
	smtp_client_write(c, "EHLO %s\r\n", c->cfg->helo ? c->cfg->helo : "localhost");
	c->st = CL_EHLO;
	smtp_client_timeouts(c, CL_CMD_TIMEOUT, CL_CMD_TIMEOUT);
}

static bool b64(const char *s, char *out, size_t outlen)
{
	size_t n = strlen(s);
	if (4 * ((n + 2) / 3) + 1 > outlen)
		return false;
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
	return true;
}

/* RFC 4954 4 allows an initial response; RFC 4616 2: authzid empty. */
static void client_auth_start(struct smtp_client *c)
{
	const char *user = c->cfg->auth_user, *pass = c->cfg->auth_pass ? c->cfg->auth_pass : "";
	if (!c->tls_on) {
		smtp_client_fail(c, 530, "5.7.0", true,
				 "refusing to send credentials without TLS (the server %s STARTTLS)",
				 c->cfg->tls == SMTP_TLS_NONE ? "was not asked for" : "did not accept");
		return;
	}
	if (strlen(user) > CL_CRED_MAX || strlen(pass) > CL_CRED_MAX) {
		smtp_client_fail(c, 535, "5.7.8", true, "AUTH user name or password too long");
		return;
	}
	char out[4 * (2 * CL_CRED_MAX + 3) / 3 + 8];
	if (c->ehlo.auth & SMTP_AUTH_PLAIN) {
		char plain[2 * CL_CRED_MAX + 3];
		size_t ul = strlen(user), pl = strlen(pass);
		plain[0] = '\0';
		memcpy(plain + 1, user, ul);
		plain[1 + ul] = '\0';
		memcpy(plain + 2 + ul, pass, pl);
		size_t n = 2 + ul + pl;
		EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)plain, (int)n);
		OPENSSL_cleanse(plain, sizeof(plain));
		smtp_client_write(c, "AUTH PLAIN %s\r\n", out);
		OPENSSL_cleanse(out, sizeof(out));
		c->st = CL_AUTH_PLAIN;
	} else if (c->ehlo.auth & SMTP_AUTH_LOGIN) {
		smtp_client_write(c, "AUTH LOGIN\r\n");
		c->st = CL_AUTH_LOGIN_USER;
	} else {
		smtp_client_fail(c, 530, "5.7.0", true,
				 "the server offers neither AUTH PLAIN nor AUTH LOGIN");
		return;
	}
	smtp_client_timeouts(c, CL_CMD_TIMEOUT, CL_CMD_TIMEOUT);
}

/* After EHLO/HELO: STARTTLS by policy, then AUTH, then READY. */
static void client_after_ehlo(struct smtp_client *c)
{
	enum smtp_tls_policy pol = c->cfg->tls;
	if (!c->tls_on && pol != SMTP_TLS_NONE && !c->tls_declined) {
		if (c->ehlo.ext & SMTP_EXT_STARTTLS) {
			smtp_client_write(c, "STARTTLS\r\n");
			c->st = CL_STARTTLS;
			smtp_client_timeouts(c, CL_CMD_TIMEOUT, CL_CMD_TIMEOUT);
			return;
		}
		if (pol != SMTP_TLS_MAY) {
			smtp_client_fail(c, 451, "4.7.4", false,
					 "TLS is required (policy %s) but %s does not offer STARTTLS",
					 pol == SMTP_TLS_VERIFY ? "verify" : "encrypt", c->host);
			return;
		}
	}
	if (c->cfg->auth_user) {
		client_auth_start(c);
		return;
	}
	client_ready(c);
}

static void client_tls_start(struct smtp_client *c)
{
	if (!c->cfg->tls_ctx) {
		smtp_client_fail(c, 451, "4.7.5", false, "no client TLS context configured");
		return;
	}
	SSL *ssl = tls_client_ssl_new(c->cfg->tls_ctx, c->host, c->cfg->tls == SMTP_TLS_VERIFY);
	if (!ssl) {
		smtp_client_fail(c, 451, "4.7.5", false, "cannot create a TLS session");
		return;
	}
	/* Whatever the server sent after its 220 was sent in clear and could
	 * have been injected: drop it (the client side of CVE-2011-0411). */
	struct evbuffer *in = bufferevent_get_input(c->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	struct bufferevent *f = bufferevent_openssl_filter_new(
		c->base, c->bev, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (!f) {
		SSL_free(ssl);
		smtp_client_fail(c, 451, "4.7.5", false, "cannot start TLS");
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(f, 1);
	c->bev = f;
	c->ssl = ssl;
	c->st = CL_HANDSHAKE;
	bufferevent_setcb(f, client_read_cb, client_write_cb, client_event_cb, c);
	bufferevent_setwatermark(f, EV_READ, 0, CL_READ_HIGH);
	bufferevent_enable(f, EV_READ | EV_WRITE);
	smtp_client_timeouts(c, CL_CMD_TIMEOUT, CL_CMD_TIMEOUT);
}

static void client_tls_failed(struct smtp_client *c, unsigned long e)
{
	char why[400];
	tls_client_ssl_error(c->ssl, e, why, sizeof(why));
	bool may = c->cfg->tls == SMTP_TLS_MAY;
	struct smtp_client_info info;
	memset(&info, 0, sizeof(info));
	info.code = 451;
	snprintf(info.status, sizeof(info.status), "4.7.5");
	info.tls_failed = may;
	snprintf(info.text, sizeof(info.text), "STARTTLS with %s: %s%s", c->host, why,
		 may ? " (retry without TLS)" : "");
	c->tls_on = false;
	client_vfail(c, &info);
}

/* A whole reply has arrived for the session part. */
static void client_session_reply(struct smtp_client *c)
{
	int code = c->reply.code;
	int cls = code / 100;
	switch (c->st) {
	case CL_GREETING:
		/* RFC 5321 3.1: 554 instead of 220 means no service here. */
		if (cls == 2)
			client_ehlo_send(c);
		else
			smtp_client_fail_reply(c, cls == 5, "greeting");
		break;
	case CL_EHLO:
		if (cls == 2) {
			smtp_ehlo_parse(&c->reply, &c->ehlo);
			client_after_ehlo(c);
		} else if (cls == 5) {
			/* RFC 5321 3.2: an old server; HELO, without extensions. */
			smtp_client_write(c, "HELO %s\r\n",
					  c->cfg->helo ? c->cfg->helo : "localhost");
			c->st = CL_HELO;
			smtp_client_timeouts(c, CL_CMD_TIMEOUT, CL_CMD_TIMEOUT);
		} else {
			smtp_client_fail_reply(c, false, "EHLO");
		}
		break;
	case CL_HELO:
		if (cls == 2) {
			memset(&c->ehlo, 0, sizeof(c->ehlo));
			client_after_ehlo(c);
		} else {
			smtp_client_fail_reply(c, cls == 5, "HELO");
		}
		break;
	case CL_STARTTLS:
		if (cls == 2) {
			client_tls_start(c);
		} else if (c->cfg->tls == SMTP_TLS_MAY) {
			c->tls_declined = true;
			client_after_ehlo(c);
		} else {
			smtp_client_fail_reply(c, false, "STARTTLS refused");
		}
		break;
	case CL_AUTH_LOGIN_USER:
	case CL_AUTH_LOGIN_PASS:
		if (code == 334) {
			char out[4 * (CL_CRED_MAX + 2) / 3 + 8];
			const char *v = c->st == CL_AUTH_LOGIN_USER ? c->cfg->auth_user
								    : c->cfg->auth_pass;
			if (!b64(v ? v : "", out, sizeof(out))) {
				smtp_client_fail(c, 535, "5.7.8", true, "AUTH credentials too long");
				break;
			}
			smtp_client_write(c, "%s\r\n", out);
			OPENSSL_cleanse(out, sizeof(out));
			c->st = c->st == CL_AUTH_LOGIN_USER ? CL_AUTH_LOGIN_PASS : CL_AUTH_LOGIN_DONE;
			break;
		}
		smtp_client_fail_reply(c, cls == 5, "AUTH LOGIN");
		break;
	case CL_AUTH_PLAIN:
	case CL_AUTH_LOGIN_DONE:
		/* RFC 4954 6: 535 is bad credentials; a retry will not fix it. */
		if (cls == 2)
			client_ready(c);
		else
			smtp_client_fail_reply(c, cls == 5, "AUTH");
		break;
	case CL_IDLE:
		/* Nothing was asked: a 421 announcing shutdown, or noise. */
		smtp_client_fail_reply(c, false, code == 421 ? "server closing" : "unexpected reply");
		break;
	default:
		break;
	}
}

static void client_on_reply(struct smtp_client *c)
{
	if (c->st == CL_QUIT) {
		c->free_pending = true;
		client_drop_socket(c);
		return;
	}
	/* RFC 5321 3.8: 421 at any point means the server is closing. */
	if (c->reply.code == 421 && c->st != CL_IDLE) {
		smtp_client_fail_reply(c, false, "server closing");
		return;
	}
	if (c->st >= CL_MAIL && c->st <= CL_RSET)
		smtp_client_txn_reply(c);
	else
		client_session_reply(c);
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;
	client_enter(c);
	struct evbuffer *in = bufferevent_get_input(bev);
	while (c->bev == bev && evbuffer_get_length(in) > 0) {
		size_t len = evbuffer_get_length(in);
		const char *data = (const char *)evbuffer_pullup(in, -1);
		size_t used;
		enum smtp_reply_rc rc = smtp_reply_parse(&c->reply, data, len, &used);
		evbuffer_drain(in, used);
		if (rc == SMTP_REPLY_ERROR) {
			if (c->st == CL_QUIT) {
				c->free_pending = true;
				client_drop_socket(c);
				break;
			}
			smtp_client_fail(c, 451, "4.4.0", false, "malformed reply from %s: %s",
					 c->host, c->reply.err);
			break;
		}
		if (rc == SMTP_REPLY_MORE)
			break;
		client_on_reply(c);
		/* Each reply of a series (pipelined RCPTs, AUTH LOGIN steps)
		 * gets the whole time of its state. */
		if (c->bev == bev && c->deadline_s) {
			struct timeval tv;
			timeval_set(&tv, c->deadline_s, c->cfg->timeout_scale_ms);
			evtimer_add(c->deadline, &tv);
		}
	}
	client_leave(c);
}

void smtp_client_resume(struct smtp_client *c)
{
	client_enter(c);
	if (c->read_held && c->bev && c->st == CL_BODY) {
		c->read_held = false;
		smtp_client_txn_pump(c);
	}
	client_leave(c);
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;
	client_enter(c);
	if (c->bev == bev && c->st == CL_BODY)
		smtp_client_txn_pump(c);
	client_leave(c);
}

static const char *state_what(enum smtp_client_state st)
{
	static const char *const what[] = {
		[CL_CONNECT] = "connecting",
		[CL_GREETING] = "waiting for the greeting",
		[CL_EHLO] = "waiting for the EHLO reply",
		[CL_HELO] = "waiting for the HELO reply",
		[CL_STARTTLS] = "waiting for the STARTTLS reply",
		[CL_HANDSHAKE] = "in the TLS handshake",
		[CL_AUTH_PLAIN] = "in AUTH",
		[CL_AUTH_LOGIN_USER] = "in AUTH",
		[CL_AUTH_LOGIN_PASS] = "in AUTH",
		[CL_AUTH_LOGIN_DONE] = "in AUTH",
		[CL_IDLE] = "while idle",
		[CL_MAIL] = "waiting for the MAIL reply",
		[CL_RCPT] = "waiting for the RCPT reply",
		[CL_DATA] = "waiting for the DATA reply",
		[CL_BODY] = "while sending the message",
		[CL_DOT] = "waiting for the reply to the end of the message",
		[CL_RSET] = "waiting for the RSET reply",
		[CL_QUIT] = "after QUIT",
		[CL_DEAD] = "",
	};
	return what[st];
}

static bool client_mid_reply(struct smtp_client *c)
{
	return (c->reply.nlines > 0 && !c->reply.done) ||
	       (c->bev && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0);
}

static void client_timeout(struct smtp_client *c)
{
	if (c->st == CL_QUIT) {
		c->free_pending = true;
		client_drop_socket(c);
		return;
	}
	smtp_client_fail(c, 451, "4.4.2", false, "timeout %s%s %s %s", state_what(c->st),
			 client_mid_reply(c) ? " (in the middle of a reply)" : "",
			 c->st == CL_CONNECT ? "to" : "from", c->host);
}

static void client_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;
	client_enter(c);
	if (c->bev)
		client_timeout(c);
	client_leave(c);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_client *c = arg;
	client_enter(c);
	if (c->bev != bev)
		goto out;
	if (c->st == CL_QUIT && !(what & BEV_EVENT_CONNECTED)) {
		c->free_pending = true;
		client_drop_socket(c);
		goto out;
	}
	if (what & BEV_EVENT_CONNECTED) {
		if (c->st == CL_CONNECT) {
			c->st = CL_GREETING;
			smtp_client_timeouts(c, CL_CMD_TIMEOUT, CL_CMD_TIMEOUT);
		} else if (c->st == CL_HANDSHAKE) {
			c->tls_on = true;
			client_ehlo_send(c);
		}
		goto out;
	}
	bool mid_reply = client_mid_reply(c);
	if (c->st == CL_HANDSHAKE && (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))) {
		unsigned long e = bufferevent_get_openssl_error(bev);
		while (bufferevent_get_openssl_error(bev))
			;
		client_tls_failed(c, e);
		goto out;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		client_timeout(c);
		goto out;
	}
	if (what & BEV_EVENT_EOF) {
		smtp_client_fail(c, 451, "4.4.2", false, "connection closed by %s %s%s", c->host,
				 state_what(c->st),
				 mid_reply ? " (in the middle of a reply)" : "");
		goto out;
	}
	if (what & BEV_EVENT_ERROR) {
		int err = EVUTIL_SOCKET_ERROR();
		unsigned long e = bufferevent_get_openssl_error(bev);
		char why[256];
		if (e) {
			ERR_error_string_n(e, why, sizeof(why));
			while (bufferevent_get_openssl_error(bev))
				;
		} else {
			snprintf(why, sizeof(why), "%s", err ? strerror(err) : "I/O error");
		}
		smtp_client_fail(c, 451, "4.4.1", false, "connection to %s %s: %s", c->host,
				 c->st == CL_CONNECT ? "failed" : "lost", why);
	}
out:
	client_leave(c);
}

static void client_defer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;
	client_enter(c);
	if (c->st == CL_CONNECT && !c->bev)
		client_vfail(c, &c->open_fail);
	client_leave(c);
}

/* Socket, source address, connect; on failure, fill c->open_fail. */
static int client_connect(struct smtp_client *c, const struct sockaddr *addr, socklen_t addrlen)
{
	const struct smtp_client_config *cfg = c->cfg;
	struct smtp_client_info *f = &c->open_fail;
	f->code = 451;
	snprintf(f->status, sizeof(f->status), "4.4.1");
	int family = addr->sa_family;
	if (family != AF_INET && family != AF_INET6) {
		snprintf(f->text, sizeof(f->text), "address family %d not supported", family);
		return -1;
	}
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(f->text, sizeof(f->text), "socket: %s", strerror(errno));
		return -1;
	}
	char err[200];
	if (sock_setup_stream(fd, err, sizeof(err)) < 0) {
		snprintf(f->text, sizeof(f->text), "socket: %s", err);
		close(fd);
		return -1;
	}
	const struct sockaddr *src = family == AF_INET ? cfg->bind4 : cfg->bind6;
	socklen_t srclen = family == AF_INET ? cfg->bind4_len : cfg->bind6_len;
	if (src && bind(fd, src, srclen) < 0) {
		snprintf(f->text, sizeof(f->text), "cannot bind the source address: %s",
			 strerror(errno));
		close(fd);
		return -1;
	}
	c->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		close(fd);
		snprintf(f->text, sizeof(f->text), "out of memory");
		return -1;
	}
	bufferevent_setcb(c->bev, client_read_cb, client_write_cb, client_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CL_READ_HIGH);
	/* libevent times a connect with the write timeout. */
	smtp_client_timeouts(c, CL_CONNECT_TIMEOUT, CL_CONNECT_TIMEOUT);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->bev, addr, (int)addrlen) < 0) {
		snprintf(f->text, sizeof(f->text), "connection to %s failed: %s", c->host,
			 strerror(errno));
		client_drop_socket(c);
		return -1;
	}
	return 0;
}

struct smtp_client *smtp_client_open(struct event_base *base, const struct smtp_client_config *cfg,
				     const char *host, const struct sockaddr *addr,
				     socklen_t addrlen, smtp_client_fn *cb, void *arg)
{
	struct smtp_client *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->base = base;
	c->cfg = cfg;
	c->cb = cb;
	c->arg = arg;
	c->st = CL_CONNECT;
	smtp_reply_init(&c->reply);
	c->host = strdup(host ? host : "");
	c->defer = evtimer_new(base, client_defer_cb, c);
	c->deadline = evtimer_new(base, client_deadline_cb, c);
	if (!c->host || !c->defer || !c->deadline) {
		client_free(c);
		return NULL;
	}
	if (client_connect(c, addr, addrlen) < 0) {
		/* Reported from the loop, as every other failure is. */
		struct timeval now = { 0, 0 };
		evtimer_add(c->defer, &now);
	}
	return c;
}

void smtp_client_close(struct smtp_client *c)
{
	if (!c)
		return;
	c->cb = NULL;
	if (c->st == CL_QUIT)
		return;
	if (c->st == CL_IDLE && c->bev) {
		/* RFC 5321 4.1.1.10; the 221 (or the close) then frees us. */
		smtp_client_write(c, "QUIT\r\n");
		c->st = CL_QUIT;
		smtp_client_timeouts(c, CL_QUIT_TIMEOUT, CL_QUIT_TIMEOUT);
		c->lingering = true;
		c->linger_prev = NULL;
		c->linger_next = lingering;
		if (lingering)
			lingering->linger_prev = c;
		lingering = c;
		return;
	}
	client_drop_socket(c);
	event_del(c->defer);
	if (c->depth > 0)
		c->free_pending = true;
	else
		client_free(c);
}

size_t smtp_client_shutdown(struct event_base *base)
{
	size_t n = 0;
	struct smtp_client *c = lingering, *next;
	for (; c; c = next) {
		next = c->linger_next;
		if (c->base == base && c->depth == 0) {
			client_free(c);
			n++;
		}
	}
	return n;
}
