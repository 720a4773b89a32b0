/* storage/storage.h: the one message-store API every front-end calls.
 *
 * Owns users, mailboxes, messages, flags, UIDs, UIDVALIDITY, MODSEQ and the
 * per-mailbox counters, kept in a transactional Berkeley DB environment under
 * one directory.  No Berkeley DB type appears here; errors are protocol
 * neutral and each front-end maps them to its own replies.
 *
 * Durability contract: every mutating call is one transaction, committed
 * *without* a synchronous log flush.  A caller that must promise durability
 * (SMTP 250, IMAP OK after APPEND, POP3 +OK after QUIT) calls store_sync()
 * -- usually from core's group-commit thread (core/durable.h), so that one
 * flush covers every transaction committed before it.
 *
 * Threads: a struct store may be used from several threads (the environment
 * is opened DB_THREAD); several processes may open the same directory at
 * once (the daemon and the admin commands).
 *
 * Addresses are compared case-insensitively: the store lower-cases ASCII
 * before using an address as a key, and returns the stored (lower-case) form.
 * Mailbox names are case-sensitive, except that "INBOX" matches in any case.
 */
#ifndef POSTINO_STORAGE_H
#define POSTINO_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum store_err {
	STORE_OK = 0,
	STORE_ERR_TEMP = -1,     /* I/O, deadlock retries exhausted, out of memory */
	STORE_ERR_NOTFOUND = -2,
	STORE_ERR_EXISTS = -3,
	STORE_ERR_NOQUOTA = -4,
	STORE_ERR_INUSE = -5,
	STORE_ERR_PERM = -6,     /* not allowed (e.g. delete INBOX) */
	STORE_ERR_INVALID = -7,  /* malformed argument (bad name, too long) */
	STORE_ERR_CORRUPT = -8,  /* a record that does not decode */
};
const char *store_strerror(int err);

#define STORE_ADDRESS_MAX 320   /* 64 local + @ + 255 domain */
#define STORE_MAILBOX_NAME_MAX 1000
#define STORE_PWHASH_MAX 255

struct store;

struct store_options {
	size_t cache_bytes;      /* 0: default (64 MiB) */
	unsigned lock_timeout_ms;/* 0: default */
	bool read_only_admin;    /* reserved */
};

/* Creates the directory and environment when missing.  Runs recovery when the
 * previous user of the environment died (DB_REGISTER|DB_RECOVER), so a
 * restart after kill -9 needs nothing else. */
int store_open(const char *dir, const struct store_options *opts, struct store **store_r);
void store_close(struct store **store);

/* Make every transaction committed so far durable (one log flush).  Thread
 * safe; blocks for the flush. */
int store_sync(struct store *store);
/* Checkpoint and remove log files no longer needed; called periodically. */
int store_checkpoint(struct store *store);

struct store_stats {
	uint64_t log_flushes;    /* Berkeley DB st_scount: log syncs to disk */
	uint64_t log_writes;     /* st_wcount */
	uint64_t log_bytes;      /* bytes written to the log */
	uint64_t users, messages, contents;
};
int store_stats_get(struct store *store, struct store_stats *stats_r);

/* ---- users ---- */
struct store_user {
	uint32_t id;
	char address[STORE_ADDRESS_MAX + 1];
	char pwhash[STORE_PWHASH_MAX + 1];   /* crypt(3) string; "" = no password */
	int64_t created;                      /* unix time */
};

/* Creates the user with INBOX and the special-use folders Sent, Drafts,
 * Trash, Junk, Archive.  STORE_ERR_EXISTS if present. */
int store_user_add(struct store *store, const char *address, const char *pwhash,
		   struct store_user *user_r);
int store_user_get(struct store *store, const char *address, struct store_user *user_r);
int store_user_get_by_id(struct store *store, uint32_t id, struct store_user *user_r);
int store_user_set_password(struct store *store, const char *address, const char *pwhash);
/* Removes the user, every mailbox and message, releasing shared content. */
int store_user_del(struct store *store, const char *address);
/* Calls cb for each user in address order; a non-zero return stops and is
 * returned. */
int store_user_list(struct store *store,
		    int (*cb)(void *arg, const struct store_user *user), void *arg);
/* 1 when some user's address is in `domain` (case-insensitive), 0 if not. */
int store_domain_has_users(struct store *store, const char *domain);

/* ---- mailboxes ---- */
enum store_special_use {
	STORE_SU_NONE = 0,
	STORE_SU_SENT = 1 << 0,
	STORE_SU_DRAFTS = 1 << 1,
	STORE_SU_TRASH = 1 << 2,
	STORE_SU_JUNK = 1 << 3,
	STORE_SU_ARCHIVE = 1 << 4,
	STORE_SU_ALL = 1 << 5,
	STORE_SU_FLAGGED = 1 << 6,
};

struct store_mailbox {
	uint32_t id;
	uint32_t user_id;
	char name[STORE_MAILBOX_NAME_MAX + 1];
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t messages;     /* EXISTS */
	uint32_t unseen;       /* messages without \Seen */
	uint32_t recent;       /* messages with \Recent not yet claimed */
	uint64_t size;         /* sum of message sizes */
	uint32_t special_use;  /* enum store_special_use bits */
	bool subscribed;
};

int store_mailbox_get(struct store *store, uint32_t user_id, const char *name,
		      struct store_mailbox *mbox_r);
int store_mailbox_get_by_id(struct store *store, uint32_t mailbox_id,
			    struct store_mailbox *mbox_r);
int store_mailbox_list(struct store *store, uint32_t user_id,
		       int (*cb)(void *arg, const struct store_mailbox *mbox), void *arg);
int store_mailbox_create(struct store *store, uint32_t user_id, const char *name,
			 uint32_t special_use, struct store_mailbox *mbox_r);

/* ---- messages ---- */
enum store_flag {
	STORE_F_SEEN = 1 << 0,
	STORE_F_ANSWERED = 1 << 1,
	STORE_F_FLAGGED = 1 << 2,
	STORE_F_DELETED = 1 << 3,
	STORE_F_DRAFT = 1 << 4,
	STORE_F_RECENT = 1 << 5,
};

struct store_msg {
	uint32_t uid;
	uint64_t content_id;
	uint64_t size;          /* octets, CRLF line ends as stored */
	uint32_t flags;         /* enum store_flag bits */
	int64_t internaldate;   /* unix time */
	uint64_t modseq;
};

/* Messages of a mailbox in UID order. */
int store_msg_list(struct store *store, uint32_t mailbox_id,
		   int (*cb)(void *arg, const struct store_msg *msg), void *arg);
int store_msg_get(struct store *store, uint32_t mailbox_id, uint32_t uid,
		  struct store_msg *msg_r);

/* Read up to len bytes of a message's content starting at offset.  *got_r is
 * 0 at the end.  Content is stored in chunks, so a read touches only the
 * pages it needs (POP3 TOP, IMAP partial FETCH, streamed RETR). */
int store_content_read(struct store *store, uint64_t content_id, uint64_t offset,
		       void *buf, size_t len, size_t *got_r);

/* Delivery: store `data` once and add it to mailbox `mailbox` of each
 * recipient, all in one transaction.  results[i] receives STORE_OK or an
 * error for recipient i (STORE_ERR_NOTFOUND for an unknown user); recipients
 * that fail do not prevent delivery to the others.  When `autocreate` is set
 * (sandbox mode) unknown users are created with no password.  Returns
 * STORE_OK when at least one recipient got the message, the first error
 * otherwise.  *content_id_r (may be NULL) receives the content key. */
struct store_delivery {
	const char *const *recipients;
	size_t nrecipients;
	const char *mailbox;         /* NULL = "INBOX" */
	const void *data;
	size_t len;
	int64_t internaldate;        /* 0 = now */
	uint32_t flags;              /* initial flags; STORE_F_RECENT is always added */
	bool autocreate;
};
int store_deliver(struct store *store, const struct store_delivery *d, int *results,
		  uint64_t *content_id_r);

/* Remove these UIDs from the mailbox in one transaction (missing UIDs are
 * skipped), updating counters and MODSEQ and releasing content no longer
 * referenced.  *removed_r (may be NULL) gets the number removed. */
int store_expunge(struct store *store, uint32_t mailbox_id, const uint32_t *uids,
		  size_t nuids, size_t *removed_r);

/* Set, add or remove flags on one message; bumps MODSEQ and counters. */
enum store_flag_op { STORE_FLAGS_SET, STORE_FLAGS_ADD, STORE_FLAGS_REMOVE };
int store_msg_flags(struct store *store, uint32_t mailbox_id, uint32_t uid,
		    enum store_flag_op op, uint32_t flags, struct store_msg *msg_r);

#endif
