/* core/admin.c: `postino user|mailbox|stats|queue`.  They open the same Berkeley DB
 * environment as a running daemon (Berkeley DB is built for several
 * processes sharing one), so they work while it runs. */
#include "core/queue_poke.h"
#include "core/admin.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/auth.h"
#include "core/sasl.h"
#include "core/config.h"
#include "storage/storage.h"

static int open_store(const struct config *cfg, struct store **store_r)
{
	struct store_options so = {.cache_bytes = cfg->cache_bytes,
				   .min_free_bytes = cfg->min_free_bytes};
	int rc = store_open(cfg->data_dir, &so, store_r);
	if (rc != STORE_OK) {
		fprintf(stderr, "postino: cannot open the store in %s: %s\n", cfg->data_dir,
			store_strerror(rc));
		return -1;
	}
	return 0;
}

/* One line from fd; with echo off and a prompt when it is a terminal. */
static int read_secret(const char *prompt, char *out, size_t outlen)
{
	bool tty = isatty(STDIN_FILENO);
	struct termios old, quiet;
	if (tty) {
		fprintf(stderr, "%s", prompt);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		}
	}
	char *r = fgets(out, (int)outlen, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (!r)
		return -1;
	size_t n = strlen(out);
	if (n == outlen - 1 && out[n - 1] != '\n')
		return -2; /* too long */
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	return 0;
}

static int get_password(char *pw, size_t pwlen)
{
	int rc = read_secret("Password: ", pw, pwlen);
	if (rc == -2) {
		fprintf(stderr, "postino: password too long (at most %zu bytes)\n", pwlen - 2);
		return -1;
	}
	if (rc < 0 || !pw[0]) {
		fprintf(stderr, "postino: no password given (on stdin or at the prompt)\n");
		return -1;
	}
	if (isatty(STDIN_FILENO)) {
		char again[1024];
		if (read_secret("Again: ", again, sizeof(again)) < 0 || strcmp(again, pw) != 0) {
			OPENSSL_cleanse(again, sizeof(again));
			fprintf(stderr, "postino: the passwords differ\n");
			return -1;
		}
		OPENSSL_cleanse(again, sizeof(again));
	}
	return 0;
}

static int print_user(void *arg, const struct store_user *u)
{
	(void)arg;
	printf("%s\n", u->address);
	return 0;
}

/* Iterations for new SCRAM keys: RFC 7677 4 asks for at least 4096. */
#define ADMIN_SCRAM_ITERATIONS 10000

int admin_user(const struct config *cfg, int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "postino: usage: postino user add|del|passwd ADDRESS | postino user list\n");
		return 2;
	}
	const char *verb = argv[1];
	bool is_list = strcmp(verb, "list") == 0;
	if (!is_list && strcmp(verb, "add") && strcmp(verb, "del") && strcmp(verb, "passwd")) {
		fprintf(stderr, "postino: unknown user command '%s' (add, del, passwd, list)\n", verb);
		return 2;
	}
	if ((is_list && argc != 2) || (!is_list && argc != 3)) {
		fprintf(stderr, "postino: usage: postino user %s%s\n", verb, is_list ? "" : " ADDRESS");
		return 2;
	}
	char pw[1024], hash[STORE_PWHASH_MAX + 1];
	struct store_scram scram;
	memset(&scram, 0, sizeof(scram));
	if (!strcmp(verb, "add") || !strcmp(verb, "passwd")) {
		if (get_password(pw, sizeof(pw)) < 0)
			return 1;
		int hrc = auth_hash_password(pw, hash, sizeof(hash));
		/* SCRAM-SHA-256 keys beside the hash (RFC 5802 3, RFC 7677 4:
		 * at least 4096 iterations). */
		struct sasl_scram_keys k;
		if (hrc == 0 && sasl_scram_keys_make(pw, ADMIN_SCRAM_ITERATIONS, &k) == 0) {
			memcpy(scram.salt, k.salt, k.salt_len);
			scram.salt_len = (uint32_t)k.salt_len;
			scram.iterations = k.iterations;
			memcpy(scram.stored_key, k.stored_key, sizeof(scram.stored_key));
			memcpy(scram.server_key, k.server_key, sizeof(scram.server_key));
		} else {
			hrc = -1;
		}
		OPENSSL_cleanse(&k, sizeof(k));
		OPENSSL_cleanse(pw, sizeof(pw));
		if (hrc < 0) {
			fprintf(stderr, "postino: cannot hash the password\n");
			return 1;
		}
	}
	struct store *store;
	if (open_store(cfg, &store) < 0)
		return 1;
	int rc;
	struct store_user u;
	if (is_list)
		rc = store_user_list(store, print_user, NULL);
	else if (!strcmp(verb, "add")) {
		rc = store_user_add_credentials(store, argv[2], hash, &scram, &u);
	} else if (!strcmp(verb, "passwd")) {
		rc = store_user_set_credentials(store, argv[2], hash, &scram);
	}
	else
		rc = store_user_del(store, argv[2]);
	if (rc == STORE_OK && !is_list)
		rc = store_sync(store);
	store_close(&store);
	if (rc != STORE_OK) {
		const char *why = rc == STORE_ERR_EXISTS     ? "already exists"
				  : rc == STORE_ERR_NOTFOUND ? "no such user"
				  : rc == STORE_ERR_INVALID  ? "not a valid address"
							     : store_strerror(rc);
		fprintf(stderr, "postino: user %s %s: %s\n", verb, is_list ? "" : argv[2], why);
		return 1;
	}
	if (!is_list)
		printf("%s %s\n", !strcmp(verb, "add") ? "added" : !strcmp(verb, "del") ? "deleted" : "password changed for", argv[2]);
	return 0;
}

static int print_mailbox(void *arg, const struct store_mailbox *m)
{
	(void)arg;
	static const char *const su[] = {"\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive",
					 "\\All", "\\Flagged"};
	printf("%s messages=%u unseen=%u size=%llu uidvalidity=%u uidnext=%u", m->name,
	       m->messages, m->unseen, (unsigned long long)m->size, m->uidvalidity, m->uidnext);
	for (size_t i = 0; i < sizeof(su) / sizeof(su[0]); i++)
		if (m->special_use & (1u << i))
			printf(" special-use=%s", su[i]);
	printf("\n");
	return 0;
}

int admin_mailbox(const struct config *cfg, int argc, char **argv)
{
	if (argc != 3 || strcmp(argv[1], "list") != 0) {
		fprintf(stderr, "postino: usage: postino mailbox list ADDRESS\n");
		return 2;
	}
	struct store *store;
	if (open_store(cfg, &store) < 0)
		return 1;
	struct store_user u;
	int rc = store_user_get(store, argv[2], &u);
	if (rc == STORE_OK)
		rc = store_mailbox_list(store, u.id, print_mailbox, NULL);
	store_close(&store);
	if (rc != STORE_OK) {
		fprintf(stderr, "postino: mailbox list %s: %s\n", argv[2],
			rc == STORE_ERR_NOTFOUND ? "no such user" : store_strerror(rc));
		return 1;
	}
	return 0;
}

int admin_stats(const struct config *cfg, int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "postino: usage: postino stats\n");
		return 2;
	}
	struct store *store;
	if (open_store(cfg, &store) < 0)
		return 1;
	struct store_stats st;
	int rc = store_stats_get(store, &st);
	store_close(&store);
	if (rc != STORE_OK) {
		fprintf(stderr, "postino: stats: %s\n", store_strerror(rc));
		return 1;
	}
	printf("log_flushes=%llu\nlog_writes=%llu\nlog_bytes=%llu\nlock_waits=%llu\n"
	       "deadlocks=%llu\nlock_timeouts=%llu\nusers=%llu\nmessages=%llu\ncontents=%llu\n",
	       (unsigned long long)st.log_flushes, (unsigned long long)st.log_writes,
	       (unsigned long long)st.log_bytes, (unsigned long long)st.lock_waits,
	       (unsigned long long)st.deadlocks, (unsigned long long)st.lock_timeouts,
	       (unsigned long long)st.users,
	       (unsigned long long)st.messages, (unsigned long long)st.contents);
	return 0;
}

/* ---- queue ---- */

static void print_time(const char *name, int64_t t)
{
	char when[32];
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(when, sizeof(when), "%lld", (long long)t);
	printf(" %s=%s", name, when);
}

/* One line per entry, then one indented line per recipient with the
 * answer of its last attempt (`postqueue -p` in Postfix). */
static int print_queue_entry(void *arg, const struct store_queue_entry *e)
{
	size_t *n = arg;
	printf("%llu", (unsigned long long)e->id);
	print_time("created", e->created);
	printf(" size=%llu attempts=%u", (unsigned long long)e->size, e->attempts);
	print_time("next", e->next_attempt);
	printf(" from=<%s>", e->sender);
	if (e->envid[0])
		printf(" envid=%s", e->envid);
	if (e->flags & STORE_QF_UTF8)
		printf(" smtputf8");   /* RFC 6531: relayed only to SMTPUTF8 servers */
	if (e->flags & STORE_QF_NOTICE)
		printf(" notice");
	if (e->flags & STORE_QF_BOUNCE)
		printf(" bouncing");
	if (e->last_error[0])
		printf(" last_error=\"%s\"", e->last_error);
	putchar('\n');
	for (size_t i = 0; i < e->nrecipients; i++) {
		const struct store_queue_rcpt *r = &e->rcpt[i];
		printf("    to=<%s> state=%s", e->recipients[i], r->code ? "deferred" : "queued");
		if (r->code)
			printf(" reply=\"%u %s%s%s\"", r->code, r->status, r->status[0] ? " " : "",
			       r->reply ? r->reply : "");
		putchar('\n');
	}
	(*n)++;
	return STORE_OK;
}

int admin_queue(const struct config *cfg, int argc, char **argv)
{
	const char *cmd = argc >= 2 ? argv[1] : "";
	bool list = argc == 2 && !strcmp(cmd, "list");
	bool flush = (argc == 2 || argc == 3) && !strcmp(cmd, "flush");
	bool del = argc == 3 && !strcmp(cmd, "del");
	bool bounce = argc == 3 && !strcmp(cmd, "bounce");
	if (!list && !flush && !del && !bounce) {
		fprintf(stderr, "postino: usage: postino queue list | flush [ID] | bounce ID | del ID\n");
		return 2;
	}
	unsigned long long id = 0;
	if (argc == 3) {
		char *end;
		errno = 0;
		id = strtoull(argv[2], &end, 10);
		if (errno || *end || !argv[2][0] || argv[2][0] == '-' || id == 0) {
			fprintf(stderr, "postino: queue %s: '%s' is not a queue id\n", cmd, argv[2]);
			return 2;
		}
	}
	struct store *store;
	if (open_store(cfg, &store) < 0)
		return 1;
	size_t n = 0;
	int rc;
	if (list)
		rc = store_queue_list(store, print_queue_entry, &n);
	else if (del)
		rc = store_queue_remove(store, id);
	else
		/* Due now, or to be bounced; the running daemon's runner
		 * is poked below (and would notice the queue's generation
		 * change within 200 ms anyway). */
		rc = store_queue_reschedule(store, id, 0, bounce ? STORE_QF_BOUNCE : 0, &n);
	if (rc == STORE_OK && !list)
		rc = store_sync(store);
	store_close(&store);
	/* Flush and bounce: the running daemon's runner scans at once. */
	if (rc == STORE_OK && (flush || bounce))
		queue_poke_send(cfg->data_dir);
	if (rc != STORE_OK) {
		fprintf(stderr, "postino: queue %s: %s\n", cmd,
			rc == STORE_ERR_NOTFOUND ? "no such queue entry" : store_strerror(rc));
		return 1;
	}
	if (list)
		printf("%zu queued\n", n);
	else if (del)
		printf("removed %llu\n", id);
	else if (bounce)
		printf("bouncing %llu\n", id);
	else
		printf("flushing %zu\n", n);
	return 0;
}
