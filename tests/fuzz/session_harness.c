/* tests/fuzz/session_harness.c: the store, configurations and per-input
 * fixture behind the session fuzzers (session_harness.h).
 *
 * The store lives in a temporary directory for the life of the process
 * (removed at exit).  Two configurations: sandbox (any password logs in,
 * any recipient gets a mailbox: post-authentication states are one line
 * away) and strict (the fixture's password, relaying refused).  Both
 * have no login delays, small limits and login failures that cost no
 * time beyond the password hash.  Before every input the fixture user is
 * created with three messages (one plain, one multipart, one forwarding a
 * message, so FETCH and SEARCH have structure to walk) and afterwards every
 * user and queue entry is removed, so inputs do not see each other. */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/auth.h"
#include "core/config.h"
#include "core/log.h"
#include "core/sasl.h"
#include "core/server.h"
#include "core/throttle.h"
#include "storage/storage.h"
#include "tests/fuzz/session_harness.h"

static char dir[64];
static struct config cfg_sandbox, cfg_strict;
static struct server srv;
static char pwhash[STORE_PWHASH_MAX + 1];
static struct store_scram scram;

static const char *const fixture_msgs[] = {
	"From: Bob <bob@example.net>\r\nTo: alice@example.org\r\nSubject: hello\r\n"
	"Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <1@example.net>\r\n\r\n"
	"Hello Alice.\r\n.leading dot\r\n",

	"From: =?UTF-8?B?SsO2cmc=?= <jorg@example.org>\r\nTo: alice@example.org\r\n"
	"Subject: =?ISO-8859-1?Q?caf=E9?=\r\nMIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\n"
	"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
	"Gr=C3=BC=C3=9Fe=\r\n!\r\n--b1\r\nContent-Type: application/octet-stream\r\n"
	"Content-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgc=\r\n--b1--\r\n",

	"From: carol@example.com\r\nTo: alice@example.org\r\nSubject: Fwd: minutes\r\n"
	"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
	"Content-Type: text/plain\r\n\r\nsee below\r\n--o\r\nContent-Type: message/rfc822\r\n\r\n"
	"From: dave@example.com\r\nSubject: minutes\r\n\r\nbudget approved\r\n--o--\r\n",
};

static const char conf_common[] =
	"hostname = \"mx.example.org\";\n"
	"log = { level = \"error\"; };\n"
	"auth = { plaintext = \"tls-or-loopback\"; failure_delay = 0; failure_delay_max = 0; };\n"
	"limits = { max_line = 1024; max_errors = 8; max_junk_commands = 24; };\n"
	"smtp = { local_domains = [ \"example.org\", \"localhost\" ]; max_message_size = 65536;\n"
	"  max_recipients = 8;\n"
	"  allowed_senders = ( { user = \"alice@example.org\"; addresses = [ \"@example.com\" ]; } ); };\n"
	"imap = { max_message_size = 65536; };\n"
	"storage = { cache_size = 4194304; };\n";

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void cleanup(void)
{
	store_close(&srv.store);
	throttle_free(&srv.throttle);
	if (dir[0])
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int load(struct config *cfg, bool sandbox)
{
	char text[2048], err[600];
	snprintf(text, sizeof(text), "data_dir = \"%s\";\nsandbox = %s;\n%s", dir,
		 sandbox ? "true" : "false", conf_common);
	if (config_load_string(cfg, text, "fuzz.conf", err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz config: %s\n", err);
		return -1;
	}
	return 0;
}

int fuzz_session_init(void)
{
	log_set_level(PLOG_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/postino-fuzz-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	atexit(cleanup);
	if (load(&cfg_sandbox, true) < 0 || load(&cfg_strict, false) < 0)
		return -1;
	struct store_options so = {.cache_bytes = cfg_strict.cache_bytes};
	if (store_open(dir, &so, &srv.store) != STORE_OK)
		return -1;
	srv.throttle = throttle_new(1024, THROTTLE_FORGET);
	/* once: hashing and PBKDF2 cost far more than an input should */
	struct sasl_scram_keys k;
	if (auth_hash_password(FUZZ_PASSWORD, pwhash, sizeof(pwhash)) < 0 ||
	    sasl_scram_keys_make(FUZZ_PASSWORD, 4096, &k) < 0)
		return -1;
	memcpy(scram.salt, k.salt, k.salt_len);
	scram.salt_len = (uint32_t)k.salt_len;
	scram.iterations = k.iterations;
	memcpy(scram.stored_key, k.stored_key, sizeof(scram.stored_key));
	memcpy(scram.server_key, k.server_key, sizeof(scram.server_key));
	return 0;
}

void fuzz_session_opts(uint8_t b, struct fuzz_conn_opts *o, bool *sandbox_r)
{
	memset(o, 0, sizeof(*o));
	o->loopback = !(b & 1);
	o->tls_available = b & 2;
	o->implicit_tls = (b & 0x0c) == 0x0c;
	o->submission = b & 0x10;
	o->flush_fails = (b & 0x60) == 0x60;
	o->slow_reader = (b & 0x60) == 0x20;
	o->end = (enum fuzz_end)(((b >> 2) & 3) % 3);
	*sandbox_r = !(b & 0x80);
}

static void fixture_make(void)
{
	struct store_user u;
	if (store_user_add_credentials(srv.store, FUZZ_USER, pwhash, &scram, &u) != STORE_OK)
		abort();
	const char *rcpt[] = {FUZZ_USER};
	for (size_t i = 0; i < sizeof(fixture_msgs) / sizeof(fixture_msgs[0]); i++) {
		int res = 0;
		struct store_delivery d = {
			.recipients = rcpt, .nrecipients = 1,
			.mailbox = i == 2 ? "Archive" : NULL,
			.data = fixture_msgs[i], .len = strlen(fixture_msgs[i]),
			.internaldate = 1772445600 + (int64_t)i * 3600,
			.flags = i == 0 ? STORE_F_SEEN : 0,
		};
		if (store_deliver(srv.store, &d, &res, NULL) != STORE_OK || res != STORE_OK)
			abort();
	}
}

struct names {
	char (*addr)[STORE_ADDRESS_MAX + 1];
	size_t n, cap;
	uint64_t *ids;
	size_t nids, capids;
};

static int user_cb(void *arg, const struct store_user *u)
{
	struct names *x = arg;
	if (x->n == x->cap) {
		x->cap = x->cap ? 2 * x->cap : 8;
		x->addr = realloc(x->addr, x->cap * sizeof(*x->addr));
		if (!x->addr)
			abort();
	}
	memcpy(x->addr[x->n++], u->address, sizeof(u->address));
	return 0;
}

static int queue_cb(void *arg, const struct store_queue_entry *e)
{
	struct names *x = arg;
	if (x->nids == x->capids) {
		x->capids = x->capids ? 2 * x->capids : 8;
		x->ids = realloc(x->ids, x->capids * sizeof(*x->ids));
		if (!x->ids)
			abort();
	}
	x->ids[x->nids++] = e->id;
	return 0;
}

static void fixture_clear(void)
{
	struct names x;
	memset(&x, 0, sizeof(x));
	if (store_user_list(srv.store, user_cb, &x) != STORE_OK ||
	    store_queue_list(srv.store, queue_cb, &x) != STORE_OK)
		abort();
	for (size_t i = 0; i < x.n; i++)
		if (store_user_del(srv.store, x.addr[i]) != STORE_OK)
			abort();
	for (size_t i = 0; i < x.nids; i++)
		if (store_queue_remove(srv.store, x.ids[i]) != STORE_OK)
			abort();
	free(x.addr);
	free(x.ids);
}

void fuzz_session_run(const struct proto_ops *ops, const char *prefix, const uint8_t *data,
		      size_t size, uint8_t optbyte, struct buf *out)
{
	struct fuzz_conn_opts o;
	bool sandbox;
	fuzz_session_opts(optbyte, &o, &sandbox);
	srv.cfg = sandbox ? &cfg_sandbox : &cfg_strict;
	fixture_make();
	fake_conn_run(ops, &srv, &o, prefix, data, size, out);
	fixture_clear();
	/* FUZZ_SESSION_PRINT=1 fuzz_session_x FILE shows the conversation */
	if (getenv("FUZZ_SESSION_PRINT")) {
		fputs("---- server wrote:\n", stderr);
		fwrite(out->data ? out->data : "", 1, out->len, stderr);
		fputs("\n----\n", stderr);
	}
}

void fuzz_session_check(int cond, const char *what, const struct buf *out)
{
	if (!cond) {
		fprintf(stderr, "property violated: %s\noutput:\n%.*s\n", what,
			(int)(out->len < 4000 ? out->len : 4000), out->data ? out->data : "");
		abort();
	}
}

/* Every session target starts the same way (libFuzzer calls this once,
 * before the first input). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (fuzz_session_init() < 0) {
		fprintf(stderr, "fuzz_session_init failed\n");
		exit(1);
	}
	return 0;
}
