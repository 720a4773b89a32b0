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
	STORE_ERR_NOSPACE = -9,  /* the disk is full, or below storage.min_free_space */
	STORE_ERR_BUSY = -10,    /* store_thread_nowait: a lock was held; nothing changed */
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
	/* New mail (deliveries, APPEND, COPY/MOVE) is refused with
	 * STORE_ERR_NOSPACE while the file system holding the store has less
	 * than this free, so that flag changes, expunges and the log always
	 * find room.  0: refuse only on a real ENOSPC. */
	uint64_t min_free_bytes;
};

/* Where the store's own messages go (Berkeley DB errors, recovery notices):
 * stderr until the daemon routes them to its log (syslog too). */
enum store_log_level { STORE_LOG_ERROR, STORE_LOG_WARN, STORE_LOG_INFO };
typedef void store_log_fn(enum store_log_level level, const char *msg);
void store_log_set(store_log_fn *fn);

/* Called once on the store's watchdog thread when the store has had no
 * transaction for STORE_IDLE_SECONDS after it had some: the moment a load
 * has ended.  The daemon gives free heap pages back to the kernel there
 * (issue 11 point 7).  Process-wide, like store_log_set; NULL: none. */
#define STORE_IDLE_SECONDS 5
typedef void store_idle_fn(void);
void store_idle_hook_set(store_idle_fn *fn);

/* While on, transactions this thread starts do not wait for a lock that
 * another transaction holds, nor retry and back off: they end at once with
 * STORE_ERR_BUSY, having changed nothing.  An event loop turns it on around
 * a call it can hand to the worker pool (core/workpool.h), so that Berkeley
 * DB's lock waits and back-off happen on a worker, not on the loop.  Reads
 * run without a transaction (store_content_pread, store_msg_get) still
 * wait.  Returns the previous setting, to restore. */
bool store_thread_nowait(bool on);
/* Moves on each time the environment is reopened after a panic.  The
 * recovery that goes with it drops what was committed but not flushed
 * (deliveries not yet acknowledged, with the ids they took: the next
 * commits take those ids again), so what a caller read before, an id
 * above all, may name something else after: read it again. */
uint64_t store_generation(struct store *store);

/* Creates the directory and environment when missing.  Runs recovery when the
 * previous user of the environment died (DB_REGISTER|DB_RECOVER), so a
 * restart after kill -9 needs nothing else. */
int store_open(const char *dir, const struct store_options *opts, struct store **store_r);
void store_close(struct store **store);

/* STORE_ERR_NOSPACE if `bytes` more of new mail would take the file system
 * below min_free_bytes (or a write has just failed with ENOSPC), else
 * STORE_OK.  Cheap (no system call): the watchdog thread measures the free
 * space five times a second, so writes resume by themselves once space is
 * freed.  Front-ends call it before taking a message (SMTP MAIL SIZE=) and
 * to tell a failed flush caused by a full disk from another failure. */
int store_space_check(struct store *store, uint64_t bytes);

/* Make every transaction committed so far durable (one log flush).  Thread
 * safe; blocks for the flush. */
int store_sync(struct store *store);
/* Benchmarking aid, for `postino serve --bench-no-flush` only (see
 * tests/bench/README.md): from now on store_sync() succeeds without
 * flushing, in every store of the process, so that a benchmark can measure
 * what the flush costs.  Acknowledged mail is then NOT durable. */
void store_bench_no_flush(void);
/* Checkpoint and remove log files no longer needed; called periodically. */
int store_checkpoint(struct store *store);

struct store_stats {
	uint64_t log_flushes;    /* Berkeley DB st_scount: log syncs to disk */
	uint64_t log_writes;     /* st_wcount */
	uint64_t log_bytes;      /* bytes written to the log */
	/* Lock contention between transactions (every loop's, every process's):
	 * conflicts that waited, deadlocks broken (each a retried transaction),
	 * lock timeouts. */
	uint64_t lock_waits, deadlocks, lock_timeouts;
	uint64_t users, messages, contents;
};
int store_stats_get(struct store *store, struct store_stats *stats_r);

/* ---- users ---- */

/* SCRAM-SHA-256 credentials (RFC 5802 3), kept beside the password hash:
 * never the password, only what a server needs to check a proof. */
#define STORE_SCRAM_SALT_MAX 64
#define STORE_SCRAM_KEY_LEN 32
struct store_scram {
	uint8_t salt[STORE_SCRAM_SALT_MAX];
	uint32_t salt_len;
	uint32_t iterations;
	uint8_t stored_key[STORE_SCRAM_KEY_LEN];
	uint8_t server_key[STORE_SCRAM_KEY_LEN];
};
struct store_user {
	uint32_t id;
	char address[STORE_ADDRESS_MAX + 1];
	char pwhash[STORE_PWHASH_MAX + 1];   /* crypt(3) string; "" = no password */
	int64_t created;                      /* unix time */
	struct store_scram scram;             /* salt_len 0: none */
};

/* Creates the user with INBOX and the special-use folders Sent, Drafts,
 * Trash, Junk, Archive.  STORE_ERR_EXISTS if present. */
int store_user_add(struct store *store, const char *address, const char *pwhash,
		   struct store_user *user_r);
/* The same with SCRAM keys (NULL: none), in one transaction. */
int store_user_add_credentials(struct store *store, const char *address, const char *pwhash,
			       const struct store_scram *scram, struct store_user *user_r);
int store_user_get(struct store *store, const char *address, struct store_user *user_r);
int store_user_get_by_id(struct store *store, uint32_t id, struct store_user *user_r);
/* Sets the password hash and the SCRAM keys together (scram NULL: none;
 * old keys never outlive the password they came from). */
int store_user_set_password(struct store *store, const char *address, const char *pwhash);
int store_user_set_credentials(struct store *store, const char *address, const char *pwhash,
			       const struct store_scram *scram);
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
	bool subscribed;       /* filled from the subscriptions table */
	uint32_t deleted;      /* messages with \Deleted (RFC 9051 STATUS DELETED) */
	/* RFC 3501 2.3.1.2: UIDs from first_recent_uid up to uidnext are
	 * \Recent: delivered since the last session claimed them. */
	uint32_t first_recent_uid;
};

int store_mailbox_get(struct store *store, uint32_t user_id, const char *name,
		      struct store_mailbox *mbox_r);
int store_mailbox_get_by_id(struct store *store, uint32_t mailbox_id,
			    struct store_mailbox *mbox_r);
int store_mailbox_list(struct store *store, uint32_t user_id,
		       int (*cb)(void *arg, const struct store_mailbox *mbox), void *arg);
/* The hierarchy delimiter (IMAP's, RFC 9051 5.1.1).  CREATE and RENAME
 * refuse (STORE_ERR_INVALID) names with control characters, "%" or "*",
 * a leading "#", "~" or "/", empty, "." or ".." components. */
#define STORE_HIERARCHY_SEP '/'
int store_mailbox_create(struct store *store, uint32_t user_id, const char *name,
			 uint32_t special_use, struct store_mailbox *mbox_r);
/* Removes the mailbox with its messages (content released) and change
 * records.  STORE_ERR_PERM for INBOX (RFC 3501 6.3.4), _NOTFOUND if absent.
 * Mailboxes below it in the hierarchy stay (RFC 9051 6.3.4). */
int store_mailbox_delete(struct store *store, uint32_t user_id, const char *name);
/* RFC 3501 6.3.5: renames `from` to `to` and every mailbox whose name starts
 * with from + sep to the same name under `to`, in one transaction; ids,
 * UIDVALIDITY and messages are kept.  Renaming INBOX instead moves all its
 * messages (with their UIDs, flags and dates) into a new mailbox `to` and
 * leaves INBOX empty; its inferiors are not renamed.  STORE_ERR_EXISTS when
 * `to` or any new child name exists, _NOTFOUND when `from` is absent,
 * _INVALID when `to` is below `from` or is INBOX. */
int store_mailbox_rename(struct store *store, uint32_t user_id, const char *from, const char *to,
			 char sep);

/* Subscriptions (RFC 3501 6.3.6) are names, kept apart from mailboxes: a
 * subscription outlives the mailbox it names (RFC 9051 6.3.7).  Subscribing
 * twice, or unsubscribing a name not subscribed, is STORE_OK. */
int store_subscription_set(struct store *store, uint32_t user_id, const char *name, bool subscribed);
/* Subscribed names in name order. */
int store_subscription_list(struct store *store, uint32_t user_id,
			    int (*cb)(void *arg, const char *name), void *arg);

/* RFC 3501 2.3.1.2: the session that selects a mailbox read-write claims
 * its \Recent messages.  *first_recent_r gets the previous
 * first_recent_uid: for the claiming session UIDs from it up to
 * mbox_r->uidnext are recent; the stored first_recent_uid becomes uidnext
 * and the recent count 0.  Does not change MODSEQ.  *claimed_r gets the
 * recent count before the claim (the messages now \Recent for the claiming
 * session, so that it need not count them).  mbox_r gets the mailbox after
 * the claim.  Output pointers may be NULL. */
int store_mailbox_claim_recent(struct store *store, uint32_t mailbox_id, uint32_t *first_recent_r,
			       uint32_t *claimed_r, struct store_mailbox *mbox_r);

/* ---- keywords (RFC 3501 2.3.2 flag-keyword) ----
 * Each mailbox has a table of up to STORE_KEYWORDS_MAX keyword names; a
 * message's keywords are a bit mask over that table (bit i = entry i).
 * Names are atoms, compared case-insensitively, stored as first given. */
#define STORE_KEYWORDS_MAX 64
#define STORE_KEYWORD_LEN_MAX 100
struct store_keywords {
	size_t count;
	char name[STORE_KEYWORDS_MAX][STORE_KEYWORD_LEN_MAX + 1];
};
int store_keywords_get(struct store *store, uint32_t mailbox_id, struct store_keywords *kw_r);
/* The entry of name in kw (matched case-insensitively), or -1.  No store
 * access: entries are never removed, so an entry a table read once holds
 * keeps its bit for as long as the mailbox exists. */
int store_keywords_find(const struct store_keywords *kw, const char *name, size_t len);
/* The mask for names[0..n), adding names not yet in the table.
 * STORE_ERR_NOQUOTA when the table would exceed STORE_KEYWORDS_MAX,
 * _INVALID for an empty or too long name.  kw_r (may be NULL) gets the table
 * afterwards. */
int store_keywords_intern(struct store *store, uint32_t mailbox_id, const char *const *names,
			  size_t n, uint64_t *mask_r, struct store_keywords *kw_r);

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
	uint64_t keywords;      /* bits over the mailbox's keyword table */
	int64_t savedate;       /* unix time it was saved into this mailbox (RFC 8514:
	                         * delivery, APPEND, COPY, MOVE); 0 when unknown
	                         * (saved before message records v3) */
};

/* Messages of a mailbox in UID order. */
int store_msg_list(struct store *store, uint32_t mailbox_id,
		   int (*cb)(void *arg, const struct store_msg *msg), void *arg);
/* Messages with lo <= uid <= hi, in UID order (batched transactions, like
 * store_msg_list). */
int store_msg_list_range(struct store *store, uint32_t mailbox_id, uint32_t lo, uint32_t hi,
			 int (*cb)(void *arg, const struct store_msg *msg), void *arg);
/* Every UID of the mailbox, ascending, in a malloc'd array (*uids_r NULL
 * when empty).  Reads keys only, in bulk: what loading an IMAP view's
 * sequence numbers costs. */
int store_msg_uids(struct store *store, uint32_t mailbox_id, uint32_t **uids_r, size_t *n_r);
/* The last (highest) up to `max` UIDs of the mailbox that are <= below,
 * ascending, into uids[] (room for max); *n_r gets how many.  Costs what
 * it returns, whatever the mailbox size (a cursor walking back from
 * `below`). */
int store_msg_uids_last(struct store *store, uint32_t mailbox_id, uint32_t below, size_t max,
			uint32_t *uids, size_t *n_r);
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
	/* A recipient made a user (without a password) if it has none, as
	 * autocreate does for every one: smtp.postmaster's mailbox, when its
	 * first mail's RCPT could not make it without waiting.  NULL = none. */
	const char *create;
	/* The message's MIME structure (core/mime.h serialized form), stored
	 * beside the content; NULL/0 = none (computed later by the reader). */
	const void *structure;
	size_t structure_len;
	/* Outbound (submission): recipients that are not ours, queued in the
	 * same transaction with `sender` ("" = the null reverse-path) as one
	 * queue entry holding the same content.  NULL/0 = none. */
	const char *sender;
	const char *const *remote_recipients;
	size_t nremote;
	/* RFC 3461 DSN parameters of the queued recipients (all optional):
	 * ENVID and RET of the message, NOTIFY (STORE_NOTIFY_* bits) and
	 * ORCPT ("rfc822;user@example.org", decoded) of each remote recipient. */
	const char *envid;
	uint8_t ret;                 /* STORE_RET_* */
	const uint8_t *remote_notify;
	const char *const *remote_orcpt;
	uint32_t queue_flags;        /* STORE_QF_* */
	/* A local address that gets the message instead when it reaches no
	 * mailbox of `recipients` and queues nothing (a notice whose local
	 * recipient is gone or full goes to postmaster), in the same
	 * transaction.  NULL = none.  results[] still tell what became of
	 * each recipient; the delivery counts as done when the fallback got
	 * it. */
	const char *fallback;
};
int store_deliver(struct store *store, const struct store_delivery *d, int *results,
		  uint64_t *content_id_r);
/* n deliveries at once, each as store_deliver(d[i], results[i]) with its
 * return in rc_r[i], in as few transactions as the batch needs
 * (STORE_DELIVER_MANY_MAX messages or STORE_DELIVER_MANY_BYTES each, in
 * order).  For a worker holding several sessions' messages: one
 * transaction takes each page's lock once for all of them and commits
 * once, where separate ones, run side by side, mostly waited for each
 * other's page locks.  A failure that is not one delivery's own (a full
 * disk, a damaged record) rolls back the shared transaction; its
 * deliveries are then stored one by one, so none fails for another. */
#define STORE_DELIVER_MANY_MAX 16
#define STORE_DELIVER_MANY_BYTES (1024u * 1024)
void store_deliver_many(struct store *store, const struct store_delivery *const *d,
			int *const *results, int *rc_r, size_t n);

/* Remove these UIDs from the mailbox in one transaction (missing UIDs are
 * skipped), updating counters and MODSEQ and releasing content no longer
 * referenced.  *removed_r (may be NULL) gets the number removed. */
int store_expunge(struct store *store, uint32_t mailbox_id, const uint32_t *uids,
		  size_t nuids, size_t *removed_r);
/* The same for IMAP's EXPUNGE (RFC 3501 6.4.3): of these UIDs (found
 * \Deleted by an earlier read), only those still \Deleted in the
 * transaction go; another session may have taken the flag off since. */
int store_expunge_deleted(struct store *store, uint32_t mailbox_id, const uint32_t *uids,
			  size_t nuids, size_t *removed_r);

/* Set, add or remove flags on one message; bumps MODSEQ and counters. */
enum store_flag_op { STORE_FLAGS_SET, STORE_FLAGS_ADD, STORE_FLAGS_REMOVE };
int store_msg_flags(struct store *store, uint32_t mailbox_id, uint32_t uid,
		    enum store_flag_op op, uint32_t flags, struct store_msg *msg_r);

/* STORE over many messages (RFC 3501 6.4.6, RFC 7162 3.1.3).  uids are
 * ascending.  Applied in transactions of up to a few hundred messages (a
 * STORE is not atomic across its set).  STORE_F_RECENT cannot be changed
 * this way.  A message whose flags and keywords end up as they were keeps
 * its MODSEQ (RFC 7162 3.1.3).  res[i] tells what happened to uids[i]. */
struct store_flag_change {
	enum store_flag_op op;
	uint32_t flags;              /* enum store_flag bits, STORE_F_RECENT excluded */
	uint64_t keywords;           /* mask over the mailbox's keyword table */
	bool unchangedsince;         /* RFC 7162 3.1.3: UNCHANGEDSINCE given */
	uint64_t unchangedsince_modseq;
};
enum store_flag_status {
	STORE_FLAG_CHANGED,          /* msg has the new flags and MODSEQ */
	STORE_FLAG_UNCHANGED,        /* nothing to do; msg as it is */
	STORE_FLAG_MODIFIED,         /* MODSEQ > UNCHANGEDSINCE: left alone */
	STORE_FLAG_GONE,             /* no such UID (expunged meanwhile) */
};
struct store_flag_result {
	enum store_flag_status status;
	struct store_msg msg;
};
/* store_msgs_flags changes at most this many messages per transaction (a
 * STORE is not atomic across its set, RFC 3501 6.4.6): fewer is one
 * transaction, all or nothing. */
#define STORE_FLAGS_TXN_MAX 256
int store_msgs_flags(struct store *store, uint32_t mailbox_id, const uint32_t *uids, size_t n,
		     const struct store_flag_change *change, struct store_flag_result *res);

/* APPEND (RFC 3501 6.3.11, MULTIAPPEND RFC 3502): all messages in one
 * transaction, each with its own content, structure, flags, keywords (mask
 * over the mailbox's table, see store_keywords_intern) and internal date
 * (0 = now); \Recent is added.  uids_r[i] gets message i's UID and
 * *uidvalidity_r the mailbox's (for APPENDUID, RFC 4315 3). */
struct store_append_msg {
	const void *data;
	size_t len;
	const void *structure;       /* as in store_delivery; may be NULL */
	size_t structure_len;
	uint32_t flags;
	uint64_t keywords;
	int64_t internaldate;
};
int store_append(struct store *store, uint32_t mailbox_id, const struct store_append_msg *msgs,
		 size_t n, uint32_t *uids_r, uint32_t *uidvalidity_r);

/* REPLACE (RFC 8508 3.4): msg is appended to dst_mailbox_id (as by
 * store_append: \Recent added, internal date 0 = now) and old_uid is
 * expunged from src_mailbox_id, in one transaction: both or neither.
 * STORE_ERR_NOTFOUND when old_uid (or either mailbox) no longer exists.
 * *uid_r gets the new message's UID, *uidvalidity_r the destination's. */
int store_replace(struct store *store, uint32_t src_mailbox_id, uint32_t old_uid,
		  uint32_t dst_mailbox_id, const struct store_append_msg *msg, uint32_t *uid_r,
		  uint32_t *uidvalidity_r);

/* COPY (RFC 3501 6.4.7) and MOVE (RFC 6851) in one transaction.  uids
 * ascending; missing ones are skipped (dst_uids_r[i] = 0).  Copies share
 * the content (reference counted), keep flags, internal date and keywords
 * (by name: added to the destination's table as needed) and get \Recent
 * and new UIDs in the destination; dst_uids_r[i] gets the new UID of
 * uids[i] (for COPYUID, RFC 4315 3), *uidvalidity_r the destination's.
 * `move` also expunges the originals in the same transaction.  Copying a
 * mailbox into itself is allowed.  STORE_ERR_NOQUOTA when the destination's
 * keyword table would overflow. */
int store_msgs_copy(struct store *store, uint32_t src_mailbox_id, const uint32_t *uids, size_t n,
		    uint32_t dst_mailbox_id, bool move, uint32_t *dst_uids_r,
		    uint32_t *uidvalidity_r);

/* Keep a content's bytes readable while they are streamed to a client, even
 * if its last message is expunged meanwhile: the deletion then waits for the
 * last unpin (in this process; a crash leaves an orphan record that
 * store_content_sweep deletes).  Pins nest. */
int store_content_pin(struct store *store, uint64_t content_id);
void store_content_unpin(struct store *store, uint64_t content_id);

/* A content opened for reading: pinned as above, and located, so that its
 * reads need no lookup of its record.  Callers read id and size; the
 * layout is the store's. */
struct store_content {
	uint64_t id;                 /* 0: not open */
	uint64_t size;
	uint32_t layout_big, layout_small, layout_page;
};
/* Pin and locate content_id (one read of its record, no transaction; the
 * pin rule above holds), and with structure_r also
 * read its stored MIME structure (malloc'd; NULL, 0 when none was stored).
 * STORE_ERR_NOTFOUND when the content is gone (its message expunged). */
int store_content_open(struct store *store, uint64_t content_id, struct store_content *c_r,
		       void **structure_r, size_t *structure_len_r);
/* store_content_read of an open content.  STORE_ERR_INVALID if not open. */
int store_content_pread(struct store *store, const struct store_content *c, uint64_t offset,
			void *buf, size_t len, size_t *got_r);
/* Unpin; c is reset (closing a reset one does nothing). */
void store_content_close(struct store *store, struct store_content *c);
/* Under store_thread_nowait (an event loop), the reads of contents
 * (store_content_open, _pread, _heads, _read, _structure) do not wait for
 * a writer's lock on their pages either: STORE_ERR_BUSY when one is held
 * and nothing could be read (a read that got some bytes first returns
 * them, short, and _heads the contents before the held one).  The caller
 * then has a worker wait for the lock with store_content_wait (the same
 * content, offset and length: its record, structure and those chunks,
 * read and dropped) and reads again once it returns. */
int store_content_wait(struct store *store, uint64_t content_id, uint64_t offset, size_t len);
/* The starts of n contents for values built whole before any of them is
 * sent (header fields, RFC 3501 6.4.5), in one read with one cursor: the
 * chunks of content ids[i] in order from its first, each passed to fn with
 * i and its offset, until fn says enough or sizes[i] octets (the content's
 * size, its message's) were passed.  No pin, no lookup of a content's
 * record, no transaction, one btree descent per content: a content
 * deleted before or during the walk is STORE_ERR_NOTFOUND (drop what fn
 * was given of it), never bytes of another content.  fn returns 0 (more
 * of it), 1 (enough of it), 2 (enough: stop the batch here) or -1 (out of
 * memory: STORE_ERR_TEMP).  status_r[i]: STORE_OK (read), _NOTFOUND
 * (gone), _CORRUPT (shorter or longer than sizes[i]), or 1 (not reached:
 * the batch stopped before it).  A retried read starts again at content
 * 0, offset 0. */
typedef int store_heads_fn(void *arg, size_t i, uint64_t off, const void *data, size_t len);
int store_content_heads(struct store *store, const uint64_t *ids, const uint64_t *sizes,
			size_t n, store_heads_fn *fn, void *arg, int *status_r);
/* Finish deletions deferred by pins when the process that held them died.
 * Only the daemon calls it, at start: an admin command runs beside it. */
int store_content_sweep(struct store *store);

/* The MIME structure stored with a content, malloc'd into *data_r.
 * STORE_ERR_NOTFOUND when none was stored. */
int store_content_structure(struct store *store, uint64_t content_id, void **data_r, size_t *len_r);
/* Store (or replace) it afterwards, for content delivered without one. */
int store_content_structure_set(struct store *store, uint64_t content_id, const void *data,
				size_t len);

/* ---- changes (DESIGN.md "changes"; RFC 7162 CONDSTORE/QRESYNC) ----
 * Each message has one change record, at its current MODSEQ (NEW when it
 * arrived, FLAGS after a flag change replaced that); an expunged message
 * leaves an EXPUNGE record.  So "what changed since N" is a range read. */
enum store_change_kind { STORE_CHANGE_NEW = 1, STORE_CHANGE_FLAGS = 2, STORE_CHANGE_EXPUNGE = 3 };
struct store_change {
	uint64_t modseq;
	uint32_t uid;
	enum store_change_kind kind;
};
/* Changes with modseq > since, in MODSEQ order, at most max of them into
 * out; *n_r gets how many.  Fewer than max means there are no more; else
 * call again with since = out[max - 1].modseq. */
int store_changes_since(struct store *store, uint32_t mailbox_id, uint64_t since,
			struct store_change *out, size_t max, size_t *n_r);

/* ---- in-process change feed (DESIGN.md "Sessions see each other") ----
 * fn runs after every committed change to a mailbox (delivery, append,
 * copy, move, flags, expunge, rename, delete, claim of \Recent excluded),
 * once per mailbox and call, on the thread that made the change, after the
 * transaction committed and with no store lock held.  One hook per store;
 * NULL removes it.  Changes made by another process are not announced:
 * sessions also compare HIGHESTMODSEQ. */
typedef void store_notify_fn(void *arg, uint32_t mailbox_id);
void store_set_notify(struct store *store, store_notify_fn *fn, void *arg);

/* The mailbox list feed (RFC 5465 5.4 MailboxName, 5.5 SubscriptionChange):
 * fn runs after each committed CREATE, DELETE, RENAME and (UN)SUBSCRIBE,
 * like the change feed above (the committing thread, no store lock held,
 * one hook per store, NULL removes it).  A RENAME is one call for the name
 * renamed (its inferiors went with it, 5.4: no event of their own), with
 * old_name; renaming INBOX too (5.4: "a new INBOX is assumed").  The
 * strings are valid during the call only. */
enum store_list_kind {
	STORE_LIST_CREATE = 1,
	STORE_LIST_DELETE,
	STORE_LIST_RENAME,
	STORE_LIST_SUBSCRIBE,
	STORE_LIST_UNSUBSCRIBE,
};
struct store_list_change {
	enum store_list_kind kind;
	uint32_t user_id;
	const char *name;            /* the name now (RENAME: the new one) */
	const char *old_name;        /* RENAME only, else NULL */
	bool subscribed;             /* `name` is subscribed after the change */
};
typedef void store_list_notify_fn(void *arg, const struct store_list_change *ch);
void store_set_list_notify(struct store *store, store_list_notify_fn *fn, void *arg);
/* ---- metadata (RFC 5464 annotations; storage_metadata.c) ----
 * Entries of a user's mailbox (mailbox_id) or of the server as the user
 * sees it (mailbox_id 0), keyed by lower-cased entry name ("/private/...",
 * "/shared/...": RFC 5464 3.2, names are case-insensitive).  A value is
 * any octets (NUL included), possibly empty.  Entries go with their
 * mailbox (store_mailbox_delete) and user (store_user_del), follow RENAME
 * (they belong to the mailbox id) and are copied to the new mailbox by a
 * RENAME of INBOX (RFC 5464 4.1). */
#define STORE_METADATA_ENTRY_MAX 255
#define STORE_METADATA_VALUE_MAX (1024 * 1024)   /* whatever the configuration says */
struct store_metadata_limits {
	size_t max_value;            /* octets of one value */
	uint32_t max_entries;        /* entries of one mailbox, or of the server */
	uint32_t max_user_entries;   /* entries of one user, all mailboxes and the server */
};
struct store_metadata_change {
	const char *entry;           /* NUL-terminated, starts with "/" */
	const void *value;           /* NULL: remove the entry (absent: nothing to do) */
	size_t len;
};
/* Applies every change in one transaction, all or nothing.
 * STORE_ERR_NOQUOTA when a new entry would pass max_entries or
 * max_user_entries, _INVALID for a value above max_value or a malformed
 * name, _NOTFOUND when the mailbox (or user) does not exist. */
int store_metadata_set(struct store *store, uint32_t user_id, uint32_t mailbox_id,
		       const struct store_metadata_change *ch, size_t n,
		       const struct store_metadata_limits *lim);
/* cb sees each entry whose name starts with prefix (lower-cased; NULL or
 * "": all), in name order, after the read has committed; a non-zero
 * return stops and is returned. */
typedef int store_metadata_cb(void *arg, const char *entry, const void *value, size_t len);
int store_metadata_list(struct store *store, uint32_t user_id, uint32_t mailbox_id,
			const char *prefix, store_metadata_cb *cb, void *arg);
/* The hook for RFC 5465 MailboxMetadataChange / ServerMetadataChange: fn
 * runs after every store_metadata_set that changed something, on the
 * thread that called it, after the commit and with no store lock held,
 * with the mailbox's name (NULL and mailbox_id 0 for the server's
 * entries) and the names of the entries written or removed (lower-cased,
 * each once, in name order; valid during the call only).  One hook per
 * store; NULL removes it.  DELETE, RENAME and user deletion are announced
 * as mailbox changes (store_set_notify), not here. */
typedef void store_metadata_notify_fn(void *arg, uint32_t user_id, uint32_t mailbox_id,
				      const char *mailbox, const char *const *entries,
				      size_t nentries);
void store_set_metadata_notify(struct store *store, store_metadata_notify_fn *fn, void *arg);

/* ---- outbound queue ----
 * Mail accepted for other servers (authenticated submission, and the
 * delivery status notices postino writes), stored in the same transaction
 * as the local deliveries (store_delivery.remote_*) and holding a
 * reference on the same content.  The queue runner (smtp/smtp_queue.c)
 * records each attempt with store_queue_update: recipients leave the entry
 * once delivered or bounced, the entry goes with its last recipient. */
#define STORE_QUEUE_ERROR_MAX 255
#define STORE_QUEUE_REPLY_MAX 511
#define STORE_ENVID_MAX 100          /* RFC 3461 4.4 */
#define STORE_ORCPT_MAX 500          /* RFC 3461 4.2 */
enum {
	STORE_NOTIFY_NEVER = 1,      /* RFC 3461 4.1 */
	STORE_NOTIFY_SUCCESS = 2,
	STORE_NOTIFY_FAILURE = 4,
	STORE_NOTIFY_DELAY = 8,
};
enum { STORE_RET_NONE = 0, STORE_RET_FULL = 1, STORE_RET_HDRS = 2 };
enum {
	STORE_QF_DELAY_SENT = 1,     /* the delay notice went out */
	STORE_QF_8BIT = 2,           /* BODY=8BITMIME */
	STORE_QF_UTF8 = 4,           /* SMTPUTF8 */
	STORE_QF_NOTICE = 8,         /* a notice we wrote: never answered by another */
	STORE_QF_SUBMITTED = 16,     /* submitted by a local user: signed (DKIM) */
	STORE_QF_BOUNCE = 32,        /* the operator asked: bounce, do not send */
};
struct store_queue_rcpt {
	char *orcpt;                 /* malloc'd, NULL = none */
	uint8_t notify;              /* STORE_NOTIFY_* bits, 0 = not given */
	uint16_t code;               /* the last attempt's reply code, 0 = none yet */
	char status[16];             /* its enhanced status code, or "" */
	char *reply;                 /* its text (malloc'd), NULL = none */
};
struct store_queue_entry {
	uint64_t id;
	int64_t created;                 /* unix time */
	char sender[STORE_ADDRESS_MAX + 1];   /* "" = the null reverse-path */
	char **recipients;               /* malloc'd; store_queue_entry_clear frees */
	struct store_queue_rcpt *rcpt;   /* per recipient, same order */
	size_t nrecipients;
	uint64_t content_id;
	uint64_t size;
	uint32_t attempts;
	int64_t next_attempt;            /* unix time */
	uint32_t flags;                  /* STORE_QF_* */
	uint8_t ret;                     /* STORE_RET_* */
	char envid[STORE_ENVID_MAX + 1];
	char last_error[STORE_QUEUE_ERROR_MAX + 1];
};
void store_queue_entry_clear(struct store_queue_entry *e);
/* cb sees each entry in id order (the entry is cleared after cb returns);
 * a non-zero return stops and is returned. */
int store_queue_list(struct store *store,
		     int (*cb)(void *arg, const struct store_queue_entry *e), void *arg);
int store_queue_get(struct store *store, uint64_t id, struct store_queue_entry *e_r);
/* Removes the entry and releases its content reference; _NOTFOUND. */
int store_queue_remove(struct store *store, uint64_t id);
/* Sets next_attempt of one entry (id != 0) or of all to `when` and adds
 * flags_set (STORE_QF_*); *n_r gets the number changed.  `postino queue
 * flush` and `queue bounce`. */
int store_queue_reschedule(struct store *store, uint64_t id, int64_t when, uint32_t flags_set,
			   size_t *n_r);
/* A counter every reschedule bumps: the daemon polls it to act on
 * another process's flush or bounce at once. */
int store_queue_generation(struct store *store, uint64_t *gen_r);

/* One attempt's outcome, recorded in one transaction. */
struct store_queue_result {
	const char *address;         /* a recipient of the entry (exactly as listed) */
	bool done;                   /* delivered or bounced: it leaves the entry */
	uint16_t code;
	const char *status;          /* enhanced status or NULL */
	const char *reply;           /* NULL = keep the previous one */
};
struct store_queue_update {
	const struct store_queue_result *results;
	size_t nresults;
	uint32_t attempts;
	int64_t next_attempt;
	const char *last_error;      /* NULL = keep */
	uint32_t flags_set;          /* STORE_QF_* to add */
	/* Notices (RFC 3464 DSNs) stored in the same transaction, so that a
	 * bounce exists exactly when its recipient left the queue.  Each is
	 * a delivery like store_deliver's (local recipients and/or remote
	 * ones queued, its fallback included). */
	const struct store_delivery *notices;
	size_t nnotices;
};
/* STORE_ERR_NOTFOUND if the entry is gone (deleted by an operator
 * meanwhile); *removed_r (may be NULL) is true when its last recipient
 * left and the entry went with it. */
int store_queue_update(struct store *store, uint64_t id, const struct store_queue_update *u,
		       bool *removed_r);
int store_queue_count(struct store *store, uint64_t *n_r);

/* ---- URLAUTH mailbox access keys (RFC 4467 3; storage_urlauth.c) ----
 * One secret key per (user, mailbox id), 32 random octets made when first
 * needed and kept like any record (durable once the log is flushed).  A
 * key never leaves the store: callers get the HMAC-SHA1 of a URL rump
 * under it, which is the INTERNAL mechanism's token (RFC 4467 7). */
#define STORE_URLAUTH_MAC_LEN 20
/* The HMAC-SHA1 of data[0..len) under the key of (user_id, mailbox_id).
 * With create, a missing key is made first (*created_r true: a write, so
 * the caller waits for the log flush before it hands out the token);
 * without, STORE_ERR_NOTFOUND when there is none. */
int store_urlauth_mac(struct store *store, uint32_t user_id, uint32_t mailbox_id, bool create,
		      const void *data, size_t len, uint8_t mac_r[STORE_URLAUTH_MAC_LEN],
		      bool *created_r);
/* RESETKEY (RFC 4467 4): drops the key of (user_id, mailbox_id), or with
 * mailbox_id 0 every key of the user, so that every URL they authorised
 * fails; a new key is made at the next use. */
int store_urlauth_reset(struct store *store, uint32_t user_id, uint32_t mailbox_id);

#endif
