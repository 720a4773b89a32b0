/* imap/imap_cmd_urlauth.c: URLAUTH (RFC 4467) with URLAUTH=BINARY
 * (RFC 5524): GENURLAUTH, RESETKEY and URLFETCH, with the INTERNAL
 * mechanism.
 *
 * A token is the HMAC-SHA1 of the URL's rump (everything up to and
 * including the access identifier, RFC 4467 2.4) under the owner's access
 * key for the mailbox (store_urlauth_mac: the key never leaves the store).
 * So a token is bound to the exact URL text, its EXPIRE and access; a
 * RESETKEY replaces the key and every URL made with the old one fails.
 * Keys are made on first use; a GENURLAUTH that made one, and a RESETKEY,
 * answer only once the log flush holds the change (a token handed out
 * must survive a crash, and so must its revocation). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/mime.h"
#include "imap/imap_session.h"
#include "imap/imap_store_call.h"
#include "imap/imap_url.h"
#include "imap/imap_url_access.h"
#include "storage/storage.h"

/* URLs in one GENURLAUTH or URLFETCH: bounded so that one command's
 * work and response are. */
#define URLAUTH_MAX_URLS 100

static void ctx_buf_free(void *p)
{
	struct buf *b = p;
	buf_free(b);
	free(b);
}

/* RFC 4467 3: INTERNAL is the only mechanism. */
static bool mechanism_known(const struct imap_arg *a)
{
	return (a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_QUOTED) && a->len == 8 &&
	       strncasecmp(a->str, "INTERNAL", 8) == 0;
}

/* A mailbox's access key made on a worker: the first GENURLAUTH of a
 * mailbox writes it, and a loop does not wait for a lock to do so
 * (imap_store_call.h). */
struct urlkey_call {
	struct imap_store_call c;    /* first */
	uint32_t user_id, mailbox_id;
};

static int urlkey_call(struct imap_store_call *c)
{
	struct urlkey_call *x = (struct urlkey_call *)c;
	uint8_t mac[STORE_URLAUTH_MAC_LEN];
	bool created;
	return store_urlauth_mac(c->store, x->user_id, x->mailbox_id, true, "", 0, mac, &created);
}

static void urlkey_call_free(struct imap_store_call *c)
{
	free(c);
}

/* One url-rump of GENURLAUTH appended to out as url-full.  0; -1 after
 * the tagged reply; 1 when its mailbox's key is to be made where a lock
 * may be waited for (*key_mailbox_r). *created_r: a key was made. */
static int genurlauth_one(struct imap_cmd *cmd, const struct imap_arg *ua, struct buf *out,
			  bool *created_r, uint32_t *key_mailbox_r)
{
	struct imap_session *s = cmd->s;
	struct imap_string u;
	const char *err;
	if (imap_arg_astring(ua, &u, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err);
		return -1;
	}
	struct imap_url url;
	if (imap_url_parse(u.s, u.len, &url, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err);
		return -1;
	}
	int ret = -1;
	/* RFC 4467 5: an absolute URL with its access identifier and no
	 * verifier yet. */
	if (url.form != IMAP_URL_ABSOLUTE) {
		imap_cmd_bad(cmd, "GENURLAUTH needs an absolute IMAP URL");
		goto out;
	}
	if (!url.user) {
		/* RFC 4467 2.1: the URL names the user whose key signs it. */
		imap_cmd_bad(cmd, "GENURLAUTH needs a URL with the user");
		goto out;
	}
	if (url.access == IMAP_URL_ACCESS_NONE) {
		imap_cmd_bad(cmd, "Missing access identifier in supplied URL");
		goto out;
	}
	if (url.mechanism) {
		imap_cmd_bad(cmd, "The URL already has a URLAUTH verifier");
		goto out;
	}
	struct store_user owner;
	struct store_mailbox mb;
	int rc = imap_url_owner(s, &url, &owner);
	if (rc == STORE_OK && owner.id != s->user.id)
		rc = IMAP_URL_BADURL;   /* RFC 4467 5: only one's own mail */
	if (rc == STORE_OK)
		rc = store_mailbox_get(s->store, owner.id, url.mailbox, &mb);
	if (rc == STORE_OK && url.has_uidvalidity && url.uidvalidity != mb.uidvalidity)
		rc = IMAP_URL_BADURL;
	if (rc == IMAP_URL_BADURL || rc == STORE_ERR_NOTFOUND || rc == STORE_ERR_INVALID) {
		imap_cmd_no(cmd, "GENURLAUTH: the URL names no mailbox of this user");
		goto out;
	}
	uint8_t mac[STORE_URLAUTH_MAC_LEN];
	bool created = false;
	if (rc == STORE_OK) {
		bool was = store_thread_nowait(true);
		rc = store_urlauth_mac(s->store, s->user.id, mb.id, true, u.s, url.rump_len, mac,
				       &created);
		store_thread_nowait(was);
	}
	if (rc == STORE_ERR_BUSY) {
		*key_mailbox_r = mb.id;
		ret = 1;
		goto out;
	}
	if (rc != STORE_OK) {
		imap_cmd_store_error(cmd, rc, "GENURLAUTH");
		goto out;
	}
	*created_r |= created;
	struct buf full;
	buf_init(&full, 0);
	int wrc = buf_append(&full, u.s, u.len);
	wrc |= buf_puts(&full, ":internal:");
	for (size_t i = 0; i < STORE_URLAUTH_MAC_LEN; i++)
		wrc |= buf_printf(&full, "%02x", mac[i]);
	wrc |= buf_putc(out, ' ');
	wrc |= imap_write_string(out, full.data, full.len);
	buf_free(&full);
	if (wrc) {
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, "GENURLAUTH");
		goto out;
	}
	ret = 0;
out:
	imap_url_clear(&url);
	return ret;
}

/* The key is made (c->rc, c freed here): the command starts over, with
 * the flush to wait for (stage 3). */
static enum imap_cmd_rc genurlauth_keyed(struct imap_cmd *cmd, struct imap_store_call *c)
{
	int rc = c->rc;
	c->free(c);
	if (rc != STORE_OK) {
		imap_cmd_store_error(cmd, rc, "GENURLAUTH");
		return IMAP_CMD_DONE;
	}
	cmd->stage = 3;
	return imap_cmd_genurlauth(cmd);
}

/* A key that the loop could not make without waiting: a worker makes it,
 * and the command starts again (stage 2).  What was answered so far goes. */
static enum imap_cmd_rc genurlauth_key(struct imap_cmd *cmd, uint32_t mailbox_id)
{
	if (cmd->ctx_free && cmd->ctx)
		cmd->ctx_free(cmd->ctx);
	cmd->ctx = NULL;
	cmd->ctx_free = NULL;
	struct urlkey_call *x = calloc(1, sizeof(*x));
	if (!x) {
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, "GENURLAUTH");
		return IMAP_CMD_DONE;
	}
	x->user_id = cmd->s->user.id;
	x->mailbox_id = mailbox_id;
	x->c.store = cmd->s->store;
	x->c.call = urlkey_call;
	x->c.free = urlkey_call_free;
	if (imap_store_call_run(cmd, &x->c, 2) == IMAP_CMD_WAIT)
		return IMAP_CMD_WAIT;
	return genurlauth_keyed(cmd, &x->c);   /* made in place after all */
}

/* GENURLAUTH 1*(SP url-rump SP mechanism) (RFC 4467 5, 9). */
enum imap_cmd_rc imap_cmd_genurlauth(struct imap_cmd *cmd)
{
	struct buf *resp = cmd->ctx;
	if (cmd->stage == 1) {
		if (!cmd->durable_ok) {
			imap_cmd_not_durable(cmd, "GENURLAUTH");
			return IMAP_CMD_DONE;
		}
		imap_write_buf(cmd->s, resp);
		imap_cmd_ok(cmd, "GENURLAUTH completed");
		return IMAP_CMD_DONE;
	}
	if (cmd->stage == 2) {
		if (cmd->job)
			return IMAP_CMD_WAIT;   /* not done yet (a stray resume) */
		return genurlauth_keyed(cmd, imap_store_call_take(cmd));
	}
	bool created = cmd->stage == 3;   /* a key was made (genurlauth_keyed) */
	const struct imap_arg *args = cmd->pc->args;
	size_t n = cmd->pc->nargs;
	if (n == 0 || n % 2) {
		imap_cmd_bad(cmd, "GENURLAUTH needs URL and mechanism pairs");
		return IMAP_CMD_DONE;
	}
	if (n / 2 > URLAUTH_MAX_URLS) {
		imap_cmd_bad(cmd, "[LIMIT] More than %d URLs", URLAUTH_MAX_URLS);
		return IMAP_CMD_DONE;
	}
	for (size_t i = 1; i < n; i += 2) {
		if (!mechanism_known(&args[i])) {
			imap_cmd_bad(cmd, "Unknown URLAUTH mechanism");
			return IMAP_CMD_DONE;
		}
	}
	resp = malloc(sizeof(*resp));
	if (!resp) {
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, "GENURLAUTH");
		return IMAP_CMD_DONE;
	}
	buf_init(resp, 0);
	cmd->ctx = resp;
	cmd->ctx_free = ctx_buf_free;
	buf_puts(resp, "* GENURLAUTH");
	for (size_t i = 0; i < n; i += 2) {
		uint32_t key_mailbox = 0;
		int r = genurlauth_one(cmd, &args[i], resp, &created, &key_mailbox);
		if (r < 0)
			return IMAP_CMD_DONE;
		if (r > 0)
			return genurlauth_key(cmd, key_mailbox);
	}
	if (buf_puts(resp, "\r\n") < 0) {
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, "GENURLAUTH");
		return IMAP_CMD_DONE;
	}
	cmd->stage = 1;
	if (created)
		return imap_cmd_wait_durable(cmd);
	cmd->durable_ok = true;
	return imap_cmd_genurlauth(cmd);
}

static int resetkey_call(struct imap_store_call *c)
{
	struct urlkey_call *x = (struct urlkey_call *)c;
	return store_urlauth_reset(c->store, x->user_id, x->mailbox_id);
}

/* The keys are reset (x->c.rc): told, and the flush waited for.  Frees x. */
static enum imap_cmd_rc resetkey_answer(struct imap_cmd *cmd, struct urlkey_call *x)
{
	int rc = x->c.rc;
	uint32_t mailbox_id = x->mailbox_id;
	free(x);
	if (rc != STORE_OK) {
		imap_cmd_store_error(cmd, rc, "RESETKEY");
		return IMAP_CMD_DONE;
	}
	/* Told at the commit, as the change feed tells of other changes. */
	imap_notify_urlmech(cmd->s, mailbox_id);
	cmd->stage = 1;
	return imap_cmd_wait_durable(cmd);
}

/* RESETKEY [mailbox *(SP mechanism)] (RFC 4467 4, 9). */
enum imap_cmd_rc imap_cmd_resetkey(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	if (cmd->stage == 2) {
		if (cmd->job)
			return IMAP_CMD_WAIT;   /* not done yet (a stray resume) */
		return resetkey_answer(cmd, (struct urlkey_call *)imap_store_call_take(cmd));
	}
	if (cmd->stage == 1) {
		if (!cmd->durable_ok)
			imap_cmd_not_durable(cmd, "RESETKEY");
		else if (cmd->pc->nargs)
			imap_cmd_ok(cmd, "[URLMECH INTERNAL] Key reset");
		else
			imap_cmd_ok(cmd, "All keys removed");
		return IMAP_CMD_DONE;
	}
	uint32_t mailbox_id = 0;
	if (cmd->pc->nargs) {
		for (size_t i = 1; i < cmd->pc->nargs; i++) {
			if (!mechanism_known(&cmd->pc->args[i])) {
				imap_cmd_bad(cmd, "Unknown URLAUTH mechanism");
				return IMAP_CMD_DONE;
			}
		}
		struct store_mailbox mb;
		if (imap_mailbox_arg_get(cmd, &cmd->pc->args[0], IMAP_MAILBOX_NONEXISTENT, "RESETKEY",
					 &mb) < 0)
			return IMAP_CMD_DONE;
		mailbox_id = mb.id;
	}
	struct urlkey_call *x = calloc(1, sizeof(*x));
	if (!x) {
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, "RESETKEY");
		return IMAP_CMD_DONE;
	}
	x->user_id = s->user.id;
	x->mailbox_id = mailbox_id;
	x->c.store = s->store;
	x->c.call = resetkey_call;
	x->c.free = urlkey_call_free;
	if (imap_store_call_run(cmd, &x->c, 2) == IMAP_CMD_WAIT)
		return IMAP_CMD_WAIT;
	return resetkey_answer(cmd, x);
}

/* RFC 5524 3.1 parameters of one URL. */
enum {
	FETCH_BODYPARTSTRUCTURE = 1 << 0,
	FETCH_BINARY = 1 << 1,
	FETCH_BODY = 1 << 2,
};

/* A value as nstring, or as literal8 when it holds NUL (RFC 3516 4.3). */
static int value_write(struct buf *out, const struct buf *v, bool nul)
{
	if (nul)
		return buf_printf(out, "~{%zu}\r\n", v->len) < 0 ? -1
			: buf_append(out, v->data, v->len);
	if (buf_printf(out, "{%zu}\r\n", v->len) < 0)
		return -1;
	return v->len ? buf_append(out, v->data, v->len) : 0;
}

/* RFC 2045 2.7-2.9: the domain of octets sent without transfer encoding. */
static const char *data_domain(const char *d, size_t n)
{
	bool eight = false;
	size_t line = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)d[i];
		if (ch == '\n') {
			line = 0;
			continue;
		}
		if (ch == 0 || ++line > 998)
			return "binary";
		eight |= ch >= 0x80;
	}
	return eight ? "8bit" : "7bit";
}

/* Lines as the MIME parser counts a body's: an unterminated last one too. */
static size_t data_lines(const char *d, size_t n)
{
	size_t lines = 0;
	for (size_t i = 0; i < n; i++)
		lines += d[i] == '\n';
	return lines + (n > 0 && d[n - 1] != '\n');
}

static bool leaf_encoded(const struct mime_part *p)
{
	const struct mime_str *e = &p->encoding;
	return !(p->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE)) && e->data &&
	       ((e->len == 6 && strncasecmp(e->data, "base64", 6) == 0) ||
		(e->len == 16 && strncasecmp(e->data, "quoted-printable", 16) == 0));
}

/* BODYPARTSTRUCTURE of part.  With BINARY data v, it describes the data
 * sent, not the part as stored (RFC 5524 4: the structure given beside
 * BINARY names the "BINARY" encoding and the decoded size): a decoded leaf
 * has its data's domain as encoding, its size and lines; a message/rfc822
 * part whose nested parts were decoded (mime_binary_unencode) has the
 * structure of the message sent.  A multipart's decoded body is described
 * as stored (its header, which names the boundary, is not at hand). */
static int bodypartstructure_write(const struct mime_part *part, const struct buf *v,
				   bool binary, struct buf *out)
{
	const char *d = v->data ? v->data : "";
	bool nested = (part->flags & MIME_PART_MESSAGE) && mime_binary_nested_encoded(part);
	if (!binary || !(leaf_encoded(part) || nested))
		return mime_bodystructure_write(part, MIME_WRITE_EXTENDED, out);
	struct mime_part copy = *part;
	copy.body_len = v->len;
	copy.body_lines = data_lines(d, v->len);
	if (!nested) {
		copy.encoding.data = data_domain(d, v->len);
		copy.encoding.len = strlen(copy.encoding.data);
		return mime_bodystructure_write(&copy, MIME_WRITE_EXTENDED, out);
	}
	struct mime_message *m = NULL;
	if (mime_message_parse(d, v->len, NULL, &m) != MIME_OK)
		return MIME_ERR_NOMEM;
	copy.children = m->root;
	int rc = mime_bodystructure_write(&copy, MIME_WRITE_EXTENDED, out);
	mime_message_free(&m);
	return rc;
}

/* One URL's data (" url value" or " url (meta)...") appended to out.  The
 * values of one command share *budget_io octets: the response is built
 * whole, so a hundred URLs to large messages must not add up unbounded (a
 * URL past the budget gets NIL, as for any URL that cannot be served). */
static int urlfetch_one(struct imap_cmd *cmd, const struct imap_string *u, unsigned params,
			bool extended, uint64_t *budget_io, struct buf *out,
			struct store_msg *busy_r)
{
	struct imap_session *s = cmd->s;
	int rc = buf_putc(out, ' ') | imap_write_string(out, u->s, u->len);
	if (rc)
		return STORE_ERR_TEMP;
	struct imap_url url;
	const char *err;
	struct imap_url_target t;
	struct buf v;
	buf_init(&v, 0);
	struct mime_message *mime = NULL;
	const struct mime_part *part = NULL;
	bool too_big = false, nul = false;
	int r = IMAP_URL_BADURL;
	if (imap_url_parse(u->s, u->len, &url, &err) == 0) {
		r = imap_url_resolve(s, u->s, u->len, &url, true, &t);
		if (r == STORE_OK)
			r = imap_url_read(s, &url, &t, (params & FETCH_BINARY) != 0, *budget_io,
					  &v, &too_big, &nul,
					  (params & FETCH_BODYPARTSTRUCTURE) ? &mime : NULL, &part);
		if (r == STORE_ERR_BUSY)
			*busy_r = t.msg;   /* its pages are a writer's: see imap_cmd_urlfetch */
		imap_url_clear(&url);
	}
	/* RFC 5524 5 url-meta-binary: "On decoding error, NIL should be
	 * used"; the URL itself is good, so its other elements are given. */
	bool binary_nil = r == IMAP_URL_UNKNOWN_CTE && extended;
	if (r == IMAP_URL_UNKNOWN_CTE && !binary_nil)
		r = IMAP_URL_BADURL;
	if (binary_nil)
		r = STORE_OK;
	if (r != STORE_OK && r != IMAP_URL_BADURL) {
		buf_free(&v);
		mime_message_free(&mime);
		return r;
	}
	/* RFC 4467 6: NIL for a URL that fails for any reason. */
	if (r == STORE_OK && !too_big)
		*budget_io -= v.len;
	if (r != STORE_OK || too_big) {
		rc = buf_puts(out, " NIL");
	} else if (!extended) {
		rc = buf_putc(out, ' ') | value_write(out, &v, nul);
	} else {
		/* RFC 5524 5: urldata-ext = url-full url-metadata, url-metadata
		 * = 1*(SP "(" url-metadata-el ")"): each element in its own
		 * parentheses (as in RFC 5524 4's examples and Dovecot since
		 * 2021; imaptest's urlauth-binary of release-2.3 still expects
		 * one list, which imaptest's own later version corrected). */
		if (params & FETCH_BODYPARTSTRUCTURE) {
			rc |= buf_puts(out, " (BODYPARTSTRUCTURE ");
			if (part)
				rc |= bodypartstructure_write(part, &v,
							      (params & FETCH_BINARY) && !binary_nil,
							      out) < 0;
			else
				rc |= buf_puts(out, "NIL");
			rc |= buf_putc(out, ')');
		}
		if (binary_nil)
			rc |= buf_puts(out, " (BINARY NIL)");
		else if (params & (FETCH_BINARY | FETCH_BODY)) {
			rc |= buf_puts(out, (params & FETCH_BINARY) ? " (BINARY " : " (BODY ");
			rc |= value_write(out, &v, nul) | buf_putc(out, ')');
		}
	}
	buf_free(&v);
	mime_message_free(&mime);
	return rc ? STORE_ERR_TEMP : STORE_OK;
}

/* One URLFETCH argument: url-full, or "(" url-full *(SP url-fetch-param)
 * ")" (RFC 5524 3.1: each parameter at most once, not BINARY with BODY).
 * 0, or -1 with *err_r. */
static int urlfetch_arg(const struct imap_arg *a, struct imap_string *u_r, unsigned *params_r,
			const char **err_r)
{
	*params_r = 0;
	if (a->type != IMAP_ARG_LIST)
		return imap_arg_astring(a, u_r, err_r);
	*err_r = "URLFETCH: invalid parenthesized URL and parameters";
	if (a->count == 0 || imap_arg_astring(&a->list[0], u_r, err_r) < 0)
		return -1;
	for (size_t k = 1; k < a->count; k++) {
		const struct imap_arg *w = &a->list[k];
		unsigned p = imap_arg_is_word(w, "BODYPARTSTRUCTURE") ? FETCH_BODYPARTSTRUCTURE
			     : imap_arg_is_word(w, "BINARY")          ? FETCH_BINARY
			     : imap_arg_is_word(w, "BODY")            ? FETCH_BODY
								      : 0;
		if (!p) {
			*err_r = "URLFETCH: unknown parameter (BODYPARTSTRUCTURE, BINARY, BODY)";
			return -1;
		}
		if ((*params_r & p) ||
		    ((*params_r | p) & (FETCH_BINARY | FETCH_BODY)) == (FETCH_BINARY | FETCH_BODY))
			return -1;   /* RFC 5524 3.1: once each, not BINARY with BODY */
		*params_r |= p;
	}
	return 0;
}

/* URLFETCH 1*(SP url-full / SP "(" url-full *(SP url-fetch-param) ")")
 * (RFC 4467 6, 9; RFC 5524 3.1, 5).  The response is built whole (all
 * values together at most APPENDLIMIT octets) before it is written. */
enum imap_cmd_rc imap_cmd_urlfetch(struct imap_cmd *cmd)
{
	const struct imap_arg *args = cmd->pc->args;
	size_t n = cmd->pc->nargs;
	if (n == 0) {
		imap_cmd_bad(cmd, "URLFETCH needs URLs");
		return IMAP_CMD_DONE;
	}
	if (n > URLAUTH_MAX_URLS) {
		imap_cmd_bad(cmd, "[LIMIT] More than %d URLs", URLAUTH_MAX_URLS);
		return IMAP_CMD_DONE;
	}
	/* Arguments first: a syntax error answers BAD before any data. */
	struct imap_string u;
	unsigned params;
	const char *err;
	for (size_t i = 0; i < n; i++) {
		if (urlfetch_arg(&args[i], &u, &params, &err) < 0) {
			imap_cmd_bad(cmd, "%s", err);
			return IMAP_CMD_DONE;
		}
	}
	if (cmd->job)
		return IMAP_CMD_WAIT;   /* a lock wait: not done yet */
	struct buf out;
	buf_init(&out, 0);
	int rc = buf_puts(&out, "* URLFETCH") < 0 ? STORE_ERR_TEMP : STORE_OK;
	/* All values of the command within APPENDLIMIT (what one message may
	 * be here), since the response is built whole. */
	size_t limit = cmd->s->cfg->imap_max_message_size;
	uint64_t budget = limit ? limit : 64u * 1024 * 1024;
	/* The messages are read without waiting for a lock on the loop
	 * (issue 11 point 1): a writer of one's pages has a worker wait for
	 * them, and the command starts over (nothing is out yet); waiting
	 * here, once, when the pool cannot take it. */
	bool was = store_thread_nowait(cmd->stage == 0);
	struct store_msg busy;
	for (size_t i = 0; i < n && rc == STORE_OK; i++) {
		(void)urlfetch_arg(&args[i], &u, &params, &err);
		/* RFC 5524 3: "(url)" without parameters is the plain form. */
		rc = urlfetch_one(cmd, &u, params, args[i].type == IMAP_ARG_LIST && params, &budget,
				  &out, &busy);
	}
	store_thread_nowait(was);
	if (rc == STORE_ERR_BUSY) {
		buf_free(&out);
		if (imap_content_wait(cmd, busy.content_id, 0, busy.size) == 2)
			return IMAP_CMD_WAIT;
		cmd->stage = 1;   /* waited here: read again, waiting */
		return imap_cmd_urlfetch(cmd);
	}
	if (rc == STORE_OK && buf_puts(&out, "\r\n") < 0)
		rc = STORE_ERR_TEMP;
	if (rc != STORE_OK) {
		buf_free(&out);
		imap_cmd_store_error(cmd, rc, "URLFETCH");
		return IMAP_CMD_DONE;
	}
	imap_write_buf(cmd->s, &out);
	buf_free(&out);
	imap_cmd_ok(cmd, "URLFETCH completed");
	return IMAP_CMD_DONE;
}
