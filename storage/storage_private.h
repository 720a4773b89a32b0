/* storage/storage_private.h: what the storage_*.c files share and nobody
 * else sees: the store handle, the database list, the transaction runner,
 * record/key encoding, argument normalisation, the counter and change-record
 * helpers and the notify hook.
 *
 * Every record is encoded field by field (big-endian, leading version byte);
 * no struct is ever copied into a database.  Integer keys are big-endian so
 * the btree orders them numerically. */
#ifndef POSTINO_STORAGE_PRIVATE_H
#define POSTINO_STORAGE_PRIVATE_H

#include <db.h>
#include <pthread.h>
#include <stdatomic.h>

#include "storage/storage.h"

/* Private results, never returned to callers: store_txn_run turns them into
 * a retry or STORE_ERR_TEMP. */
#define STORE_ERR_RETRY (-100)  /* DB_LOCK_DEADLOCK / DB_LOCK_NOTGRANTED */
#define STORE_ERR_PANIC (-101)  /* DB_RUNRECOVERY: the environment must be reopened */

#define STORE_REC_VERSION 1
/* Mailbox and message records gained fields for IMAP (issue 3): mailbox
 * v2 adds deleted and first_recent_uid, message v2 the keyword mask.  The
 * decoders still read v1. */
#define STORE_REC_VERSION_2 2
/* Message v3 adds the save date (RFC 8514); v1 and v2 read with 0. */
#define STORE_REC_VERSION_3 3
/* Content layout (docs/architecture.md, "Content on disk").  content_data
 * has 16 KiB pages.  Berkeley DB moves an item larger than a quarter page
 * (4,079 bytes here: (16384 - 26) / 4 - 10) to overflow pages of its own,
 * whole pages, so a 4 KiB message used to take 16 KiB.  A content is
 * therefore cut into BIG chunks (exactly four overflow pages each, nothing
 * wasted) while at least BIG bytes remain, and the rest into SMALL chunks,
 * which stay on the leaf pages: SMALL is the largest size of which sixteen
 * key/data pairs (12-byte key, 2-byte index and 3-byte header per item, 4-byte
 * aligned) fill a page, so runs of them pack without a gap, and leaf pages
 * fill to the brim because keys only grow (Berkeley DB splits an append at
 * the end of the tree by moving just the new item).  The meta record holds
 * both sizes, so contents written with an older layout (v1: 65,432-byte
 * chunks only) are read with theirs. */
#define STORE_CONTENT_PAGESIZE 16384u
/* Page size of the multiversion databases made from now on (existing files
 * keep theirs; the file system's block size, 4 KiB on ext4 and xfs). */
#define STORE_RECORD_PAGESIZE 4096u
/* Bytes an overflow page holds (its header is 26 bytes).  Since meta v3
 * the part past the BIG chunks first gives one chunk of as many whole
 * overflow pages as it fills (one to three), and only the rest, less than
 * a page, goes into SMALL chunks: SMALL chunks fill leaf pages, and a leaf
 * page that fills is split, which logs the page's image, so a tail of
 * SMALL chunks was logged about twice (a 100 KiB message logged 151 KB).
 * The middle chunk wastes nothing on disk either.  v3 also puts the SMALL
 * chunks first (struct store_content_meta). */
#define STORE_CHUNK_PAGE (STORE_CONTENT_PAGESIZE - 26u)
#define STORE_CHUNK_BIG (4u * STORE_CHUNK_PAGE)
#define STORE_CHUNK_SMALL ((((STORE_CONTENT_PAGESIZE - 26u) / 16u - 20u) & ~3u) - 3u)
#define STORE_CHUNK_V1 65432u
#define STORE_TXN_ATTEMPTS 20    /* tries per transaction on deadlock/timeout */
#define STORE_LIST_BATCH 256     /* records per transaction when listing */

/* Valid bits of the public enums. */
#define STORE_F_ALL (STORE_F_SEEN | STORE_F_ANSWERED | STORE_F_FLAGGED | STORE_F_DELETED | \
		     STORE_F_DRAFT | STORE_F_RECENT)
#define STORE_SU_VALID (STORE_SU_SENT | STORE_SU_DRAFTS | STORE_SU_TRASH | STORE_SU_JUNK | \
			STORE_SU_ARCHIVE | STORE_SU_ALL | STORE_SU_FLAGGED)

enum store_db {
	SDB_USERS,         /* lower-case address -> user record */
	SDB_USERS_BY_ID,   /* be32 user id -> address */
	SDB_DOMAINS,       /* lower-case domain -> number of users */
	SDB_MAILBOXES,     /* be32 user id | name -> be32 mailbox id */
	SDB_MAILBOX_INFO,  /* be32 mailbox id -> mailbox record */
	SDB_MESSAGES,      /* be32 mailbox id | be32 uid -> message record */
	SDB_CHANGES,       /* be32 mailbox id | be64 modseq -> change record */
	SDB_CONTENT_META,  /* be64 content id -> content record */
	SDB_CONTENT_DATA,  /* be64 content id | be32 chunk -> bytes */
	SDB_META,          /* counter name -> be64 value */
	SDB_SUBSCRIPTIONS, /* be32 user id | name -> (empty) */
	SDB_KEYWORDS,      /* be32 mailbox id -> keyword table record */
	SDB_STRUCTURE,     /* be64 content id -> MIME structure bytes */
	SDB_QUEUE,         /* be64 queue id -> outbound queue record */
	SDB_URLAUTH,       /* be32 user id | be32 mailbox id -> mailbox access key
	                    * (RFC 4467 3, storage_urlauth.c) */
	SDB_METADATA,      /* be32 user id | be32 mailbox id | entry -> value (RFC 5464) */
	SDB_COUNT
};

/* Threads with a kept read transaction (struct store readers) at most:
 * the event loops; others read with a transaction each. */
#define STORE_READERS_MAX 64

struct store {
	/* env and db[] are replaced when a panicked environment is reopened:
	 * every use holds `rw` for reading, the reopen holds it for writing. */
	pthread_rwlock_t rw;
	DB_ENV *env;
	DB *db[SDB_COUNT];
	uint64_t generation;       /* bumped by each reopen */
	/* Generation of the last successful store_sync: a flush in a newer
	 * generation cannot vouch for commits made before the reopen (the
	 * recovery that forced it dropped whatever was not yet flushed). */
	_Atomic uint64_t synced_generation;
	atomic_bool bench_warned;      /* store_sync warned once of --bench-no-flush */
	char *dir;
	struct store_options opts;
	int users_fd;              /* store.lock, shared while open (storage_lock.c) */

	/* Watchdog thread: expires lock waits and runs failchk so that a
	 * process that died holding locks does not wedge the others. */
	pthread_t watchdog;
	bool watchdog_running;
	pthread_mutex_t wd_mu;
	pthread_cond_t wd_cv;
	bool wd_stop;
	atomic_bool want_failchk;
	/* Transactions run so far (store_txn_run), read by the watchdog to
	 * tell when the store falls idle (store_idle_hook_set). */
	_Atomic uint64_t txn_count;
	/* storage_space.c: free bytes of the file system, measured by the
	 * watchdog (UINT64_MAX until measured); a write failing with ENOSPC
	 * zeroes it until the next measurement. */
	_Atomic uint64_t space_free;

	/* store_set_notify: read and written under notify_mu, called with
	 * no lock held (see store_notify). */
	/* Contents being streamed (storage_content.c pins). */
	pthread_mutex_t pin_mu;
	struct store_pin {
		uint64_t content_id;
		unsigned count;
		/* A deleter found it pinned and left an orphan record
		 * (store_content_pinned): the last unpin must finish it. */
		bool orphaned;
		/* count 0: not a pin but a deletion under way in the
		 * transaction of thread `owner` (store_content_doom). */
		bool doomed;
		pthread_t owner;
	} *pins;
	size_t npins, pins_cap;
	/* Content reads of threads that do not wait for locks (an event
	 * loop's: store_content_run under store_thread_nowait), each a
	 * transaction of the thread's kept across reads (storage_env.c
	 * reader_txn); ended when the handles close. */
	pthread_mutex_t readers_mu;
	DB_TXN *readers[STORE_READERS_MAX];
	bool reader_used[STORE_READERS_MAX];
	uint64_t serial;             /* this store among those a process opens */
	/* Deletions a last unpin could not finish without waiting for a
	 * lock (store_content_unpin): the watchdog tries them again, under
	 * pin_mu too. */
	uint64_t *orphans;
	size_t norphans, orphans_cap;
	_Atomic uint64_t orphans_deferred;   /* unpins that left one (tests) */

	bool shared;                 /* another process had the environment open at ours */
	pthread_mutex_t notify_mu;
	store_notify_fn *notify_fn;
	void *notify_arg;
	store_list_notify_fn *list_notify_fn;   /* store_set_list_notify, same lock */
	void *list_notify_arg;
	store_metadata_notify_fn *metadata_notify_fn;   /* under notify_mu too */
	void *metadata_notify_arg;
};

/* ---- storage_lock.c ---- */
/* Serialises opens and tells whether any other process has the environment
 * open (*alone_r; alone, the registry is removed so that the open
 * recovers); *open_fd_r goes to store_open_unlock after the open. */
int store_open_lock(struct store *s, int *open_fd_r, bool *alone_r);
void store_open_unlock(struct store *s, int open_fd);
/* At close: takes store-open.lock (so that no open decides meanwhile) and
 * says whether no other process has the environment open now.  Release
 * with store_close_unlock once the handles and store.lock are closed. */
bool store_close_lock(struct store *s, int *open_fd_r);
void store_close_unlock(int open_fd);
void store_users_release(struct store *s);

/* ---- storage_region.c ---- */
/* Installs the region mapper that allocates region files fully (once per
 * process; before the first environment is opened). */
void store_region_setup(void);
/* Unmaps every region page from the process (storage_region.c says why). */
void store_regions_release(void);

/* ---- storage_sizing.c ---- */
/* Sets the sizes of the regions (cache, mutexes, locks, log buffer) on an
 * environment not yet opened; a Berkeley DB error code. */
int store_env_size(DB_ENV *env, size_t cache_bytes);

/* ---- storage_space.c ---- */
/* Measures the free space of the store's file system (statvfs). */
void store_space_refresh(struct store *s);
/* Marks the disk full after a write failed with ENOSPC. */
void store_space_exhausted(struct store *s);
/* STORE_ERR_NOSPACE when the disk is full: checked by every write before it
 * changes anything, so a transaction is refused whole instead of being
 * committed in memory and then failing to reach the disk. */
int store_space_check_write(struct store *s);

/* ---- storage_env.c ---- */
void store_log(enum store_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

typedef int store_txn_fn(struct store *s, DB_TXN *txn, void *arg);
/* store_expunge's writes inside txn (storage_msg.c), for commands that
 * expunge as part of a larger change (store_replace). */
int store_expunge_txn(struct store *s, DB_TXN *txn, uint32_t mailbox_id, const uint32_t *uids,
		      size_t nuids, size_t *removed_r);
/* Runs fn in a fresh transaction, committing (DB_TXN_NOSYNC) when it returns
 * STORE_OK and aborting otherwise; retries on deadlock and lock timeout.  fn
 * must be restartable: it runs again from the start on every attempt. */
int store_txn_run(struct store *s, store_txn_fn *fn, void *arg);
/* The same, not counted as activity for the idle hook (a periodic poll). */
int store_txn_run_quiet(struct store *s, store_txn_fn *fn, void *arg);
/* Runs fn, which only reads records (not the contents), in a snapshot
 * transaction (DB_TXN_SNAPSHOT): it sees what was committed when it first
 * read a page, takes no page locks and so never waits for a writer, on a
 * loop or anywhere (issue 11 point 1; storage_env.c).  fn must not
 * write. */
int store_read_run(struct store *s, store_txn_fn *fn, void *arg);
/* The same, not counted as activity for the idle hook (a periodic poll). */
int store_read_run_quiet(struct store *s, store_txn_fn *fn, void *arg);
/* Runs fn with txn NULL, with the same retries: for reads of contents
 * (not multiversion: storage_env.c), each of which takes its page lock for
 * that read only.  fn must not write. */
int store_content_run(struct store *s, store_txn_fn *fn, void *arg);
/* Maps a Berkeley DB return code to a store result; a lock timeout also
 * asks the watchdog for a failchk (s may be NULL). */
int store_bdb_err(struct store *s, int rc);

/* Thin wrappers over DB->get/put/del that map errors.  get copies the value
 * into buf (cap bytes); a larger record is STORE_ERR_CORRUPT. */
int store_db_get(struct store *s, DB_TXN *txn, enum store_db which, const void *key,
		 size_t klen, void *buf, size_t cap, size_t *len_r, uint32_t flags);
int store_db_put(struct store *s, DB_TXN *txn, enum store_db which, const void *key,
		 size_t klen, const void *val, size_t vlen, uint32_t flags);
int store_db_del(struct store *s, DB_TXN *txn, enum store_db which, const void *key,
		 size_t klen);
/* STORE_OK when the key is present, STORE_ERR_NOTFOUND when not. */
int store_db_exists(struct store *s, DB_TXN *txn, enum store_db which, const void *key,
		    size_t klen);
int store_cursor_open(struct store *s, DB_TXN *txn, enum store_db which, DBC **c_r);
/* DBC->get into caller buffers.  *klen_io is the length of the key in kbuf
 * on input (for DB_SET_RANGE) and of the key found on output. */
int store_cursor_get(struct store *s, DBC *c, void *kbuf, size_t kcap, size_t *klen_io,
		     void *vbuf, size_t vcap, size_t *vlen_r, uint32_t flags);
/* Replaces the value of the record under the cursor (DBC->put with
 * DB_CURRENT): the cursor stays where it is, so a walk can rewrite the
 * records it reads in one pass. */
int store_cursor_put_current(struct store *s, DBC *c, const void *val, size_t vlen);
/* Deletes the record the cursor is on; the cursor stays there, and
 * DB_NEXT goes on from it. */
int store_cursor_del(struct store *s, DBC *c);
/* Closes the cursor; returns rc, or the close error when rc was STORE_OK. */
int store_cursor_close(struct store *s, DBC *c, int rc);

/* meta counters */
#define STORE_META_NEXT_USER "next_user_id"
#define STORE_META_NEXT_MAILBOX "next_mailbox_id"
#define STORE_META_NEXT_CONTENT "next_content_id"
#define STORE_META_LAST_UIDVALIDITY "last_uidvalidity"
#define STORE_META_USERS "count_users"
#define STORE_META_MESSAGES "count_messages"
#define STORE_META_CONTENTS "count_contents"
int store_meta_get(struct store *s, DB_TXN *txn, const char *name, uint64_t *val_r,
		   uint32_t flags);
int store_meta_set(struct store *s, DB_TXN *txn, const char *name, uint64_t val);
/* Adds delta (may be negative), clamping at 0. */
int store_meta_add(struct store *s, DB_TXN *txn, const char *name, int64_t delta);
/* Returns the counter's next value (starting at 1) and advances it. */
int store_meta_next(struct store *s, DB_TXN *txn, const char *name, uint64_t *val_r);

/* ---- storage_codec.c ---- */
struct store_enc {
	uint8_t *buf;
	size_t cap, len;
	bool overflow;
};
void store_enc_init(struct store_enc *e, void *buf, size_t cap);
void store_enc_u8(struct store_enc *e, uint8_t v);
void store_enc_u16(struct store_enc *e, uint16_t v);
void store_enc_u32(struct store_enc *e, uint32_t v);
void store_enc_u64(struct store_enc *e, uint64_t v);
void store_enc_bytes(struct store_enc *e, const void *p, size_t n);

struct store_dec {
	const uint8_t *p;
	size_t len, pos;
	bool bad;
};
void store_dec_init(struct store_dec *d, const void *p, size_t len);
uint8_t store_dec_u8(struct store_dec *d);
uint16_t store_dec_u16(struct store_dec *d);
uint32_t store_dec_u32(struct store_dec *d);
uint64_t store_dec_u64(struct store_dec *d);
const uint8_t *store_dec_bytes(struct store_dec *d, size_t n);
/* STORE_OK when every byte was consumed and nothing ran past the end. */
int store_dec_finish(const struct store_dec *d);

void store_be32_put(uint8_t *p, uint32_t v);
void store_be64_put(uint8_t *p, uint64_t v);
uint32_t store_be32_get(const uint8_t *p);
uint64_t store_be64_get(const uint8_t *p);

/* Largest encoded records, for stack buffers. */
#define STORE_USER_REC_MAX (1 + 4 + 8 + 2 + STORE_ADDRESS_MAX + 2 + STORE_PWHASH_MAX + \
			    4 + 1 + STORE_SCRAM_SALT_MAX + 2 * STORE_SCRAM_KEY_LEN)
#define STORE_MBOX_REC_MAX (1 + 4 * 6 + 8 + 4 + 8 + 4 + 1 + 4 + 4 + 2 + STORE_MAILBOX_NAME_MAX)
#define STORE_MSG_REC_MAX 64
#define STORE_MBOX_KEY_MAX (4 + STORE_MAILBOX_NAME_MAX)

size_t store_user_encode(const struct store_user *u, uint8_t *buf, size_t cap);
int store_user_decode(const void *p, size_t len, struct store_user *u_r);
size_t store_mbox_encode(const struct store_mailbox *m, uint8_t *buf, size_t cap);
int store_mbox_decode(uint32_t id, const void *p, size_t len, struct store_mailbox *m_r);
size_t store_msg_encode(const struct store_msg *m, uint8_t *buf, size_t cap);
int store_msg_decode(uint32_t uid, const void *p, size_t len, struct store_msg *m_r);

struct store_content_meta {
	uint32_t refcount;
	uint64_t size;
	uint32_t chunks;
	/* Layout (v1, v2): chunks of `big` bytes while at least that much
	 * remains, then chunks of `small` bytes (the last may be shorter).
	 * v3 (page != 0) cuts the same tail into one chunk of the whole
	 * multiples of `page` it holds, if any, and `small` chunks for the
	 * rest, and puts the small chunks first: the content's first bytes
	 * (its header) are in a small chunk, then comes the middle chunk,
	 * then the big ones. */
	uint32_t big, small, page;
};
/* Where byte `pos` (< c->size) lives: chunk number, offset in it, and the
 * chunk's length.  Pure arithmetic on the layout (storage_codec.c). */
void store_content_locate(const struct store_content_meta *c, uint64_t pos, uint32_t *chunk_r,
			  uint32_t *off_r, uint32_t *len_r);
/* Number of chunks a content of c->size bytes takes with c's layout. */
uint64_t store_content_chunks(const struct store_content_meta *c);
bool store_content_pinned(struct store *s, uint64_t content_id);
/* A deleter's question, asked with the content's meta record locked
 * (DB_RMW): true when the content is pinned here, as store_content_pinned.
 * False: nothing may pin it until the caller's transaction has ended
 * (store_content_doom_end), so that the pin does not depend on a reader
 * waiting for the deletion's lock (storage_content.c). */
bool store_content_doom(struct store *s, uint64_t content_id);
/* Whether this thread runs under store_thread_nowait. */
bool store_thread_is_nowait(void);
/* The watchdog's turn at the deletions that last unpins left
 * (store_content_unpin); never waits for a lock. */
void store_content_orphans_retry(struct store *s);
/* Called by txn_run after every attempt, committed or not: lifts the
 * calling thread's store_content_doom marks. */
void store_content_doom_end(struct store *s);
size_t store_content_meta_encode(const struct store_content_meta *c, uint8_t *buf, size_t cap);
int store_content_meta_decode(const void *p, size_t len, struct store_content_meta *c_r);

size_t store_change_encode(uint32_t uid, enum store_change_kind kind, uint8_t *buf, size_t cap);
int store_change_decode(const void *p, size_t len, uint32_t *uid_r, enum store_change_kind *kind_r);

size_t store_counter_encode(uint64_t v, uint8_t *buf, size_t cap);
int store_counter_decode(const void *p, size_t len, uint64_t *v_r);

/* The decoders that live beside their database's code (storage_keyword.c,
 * storage_queue.c); here so that tests/fuzz can feed them damaged records. */
int store_keywords_decode(const void *p, size_t len, struct store_keywords *kw_r);
/* On STORE_OK the entry holds malloc'd recipients (store_queue_entry_clear);
 * on an error nothing is left to free. */
int store_queue_decode(uint64_t id, const void *p, size_t len, struct store_queue_entry *e);

/* Lower-cases and validates an address into out (STORE_ADDRESS_MAX + 1
 * bytes); *len_r gets its length.  STORE_ERR_INVALID when malformed. */
int store_address_normalize(const char *address, char *out, size_t *len_r);
/* Lower-cases and validates a domain (no '@'). */
int store_domain_normalize(const char *domain, char *out, size_t *len_r);
/* Validates a mailbox name; "INBOX" in any case becomes "INBOX". */
int store_mailbox_name_normalize(const char *name, char *out, size_t *len_r);

/* ---- storage_mailbox.c ---- */
/* Creates a mailbox for user_id inside txn; name already normalised. */
int store_mailbox_create_txn(struct store *s, DB_TXN *txn, uint32_t user_id, const char *name,
			     size_t name_len, uint32_t special_use, bool subscribed,
			     struct store_mailbox *mbox_r);
/* Creates INBOX and the special-use folders. */
int store_mailbox_create_defaults(struct store *s, DB_TXN *txn, uint32_t user_id);
int store_mailbox_lookup_txn(struct store *s, DB_TXN *txn, uint32_t user_id, const char *name,
			     size_t name_len, uint32_t *id_r);
int store_mbox_read(struct store *s, DB_TXN *txn, uint32_t mailbox_id, struct store_mailbox *m_r,
		    uint32_t flags);
int store_mbox_write(struct store *s, DB_TXN *txn, const struct store_mailbox *m);
/* Sets m->subscribed from the subscriptions database. */
int store_mbox_fill_subscribed(struct store *s, DB_TXN *txn, struct store_mailbox *m);
/* Removes every message, change record and the mailbox itself. */
int store_mailbox_remove_txn(struct store *s, DB_TXN *txn, uint32_t mailbox_id);

/* ---- storage_user.c ---- */
/* Creates a user inside txn (address already normalised). */
int store_user_add_txn(struct store *s, DB_TXN *txn, const char *address, size_t address_len,
		       const char *pwhash, struct store_user *user_r);
int store_user_read(struct store *s, DB_TXN *txn, const char *address, size_t address_len,
		    struct store_user *u_r, uint32_t flags);

/* ---- storage_msg.c ---- */
/* The keys of a message record (8 bytes) and of a change record (12),
 * big-endian so that they sort by mailbox, then UID or MODSEQ; the
 * length is returned. */
size_t store_msg_key(uint8_t *key, uint32_t mailbox_id, uint32_t uid);
size_t store_change_key(uint8_t *key, uint32_t mailbox_id, uint64_t modseq);
int store_msg_read(struct store *s, DB_TXN *txn, uint32_t mailbox_id, uint32_t uid,
		   struct store_msg *m_r, uint32_t flags);
int store_change_put(struct store *s, DB_TXN *txn, uint32_t mailbox_id, uint64_t modseq,
		     uint32_t uid, enum store_change_kind kind);
int store_change_del(struct store *s, DB_TXN *txn, uint32_t mailbox_id, uint64_t modseq);

/* Stores a message record (DB_NOOVERWRITE or 0 in flags). */
int store_msg_write(struct store *s, DB_TXN *txn, uint32_t mailbox_id, const struct store_msg *m,
		    uint32_t flags);
int store_msg_delete(struct store *s, DB_TXN *txn, uint32_t mailbox_id, uint32_t uid);
/* Keeps the mailbox counters right when a message with these flags and UID
 * arrives (+1) or leaves (-1). */
void store_mbox_count(struct store_mailbox *m, const struct store_msg *msg, int dir);
/* Calls the store_set_notify hook for each distinct id of ids[0..n); with
 * no store lock held, after the commit. */
void store_notify(struct store *s, const uint32_t *ids, size_t n);
/* Calls the store_set_list_notify hook, after the commit. */
void store_list_notify(struct store *s, enum store_list_kind kind, uint32_t user_id,
		       const char *name, const char *old_name);

/* ---- storage_keyword.c ---- */
int store_keywords_read(struct store *s, DB_TXN *txn, uint32_t mailbox_id,
			struct store_keywords *kw_r, uint32_t flags);
int store_keywords_write(struct store *s, DB_TXN *txn, uint32_t mailbox_id,
			 const struct store_keywords *kw);
/* Index of name in kw, adding it (not written) when absent; -1 when full
 * (STORE_ERR_NOQUOTA) or invalid name (STORE_ERR_INVALID) in *err_r. */
int store_keywords_add(struct store_keywords *kw, const char *name, size_t len, int *err_r);
int store_keywords_del(struct store *s, DB_TXN *txn, uint32_t mailbox_id);

/* ---- storage_mailbox_ops.c ---- */
/* 1 when user_id subscribes name, 0 when not. */
int store_subscribed_txn(struct store *s, DB_TXN *txn, uint32_t user_id, const char *name,
			 size_t name_len);
int store_subscription_put_txn(struct store *s, DB_TXN *txn, uint32_t user_id, const char *name,
			       size_t name_len, bool subscribed);
/* Removes every subscription of a user. */
int store_subscriptions_del_user(struct store *s, DB_TXN *txn, uint32_t user_id);

/* STORE_OK when a normalized name may be given to a new mailbox (CREATE,
 * RENAME's target): see storage_codec.c. */
int store_mailbox_name_creatable(const char *name, size_t len, char sep);

/* ---- storage_msg.c: delivery in steps ---- */
struct store_deliver_ctx {
	const struct store_delivery *d;
	int *results;
	char (*addr)[STORE_ADDRESS_MAX + 1];  /* normalised recipients */
	size_t *addr_len;
	size_t *first;            /* index of the first equal recipient */
	char mbox_name[STORE_MAILBOX_NAME_MAX + 1];
	size_t mbox_len;
	struct store_mailbox *targets;
	size_t *target_rcpt;      /* recipient index of each target */
	int64_t internaldate;
	int64_t now;              /* the save date (RFC 8514) */
	uint32_t flags;
	uint64_t content_id;
	size_t ntargets;
	bool queued;
	char fb_addr[STORE_ADDRESS_MAX + 1];  /* d->fallback normalised; fb_len 0 = none */
	size_t fb_len;
	bool used_fallback;       /* the message went to the fallback */
};
/* Checks and normalises d; on STORE_OK the ctx must be freed. */
int store_deliver_prepare(const struct store_delivery *d, int *results,
			  struct store_deliver_ctx *a);
/* The delivery's writes inside txn (may run again on a retry). */
int store_deliver_txn(struct store *s, DB_TXN *txn, struct store_deliver_ctx *a);
/* After the commit: notifies, folds duplicates' results; STORE_OK when
 * someone got it (as store_deliver). */
int store_deliver_finish(struct store *s, struct store_deliver_ctx *a, uint64_t *content_id_r);
void store_deliver_ctx_free(struct store_deliver_ctx *a);

/* ---- storage_queue.c ---- */
/* A queue entry for the remote recipients of d, holding one (already
 * counted) reference on content_id. */
int store_queue_put_txn(struct store *s, DB_TXN *txn, const struct store_delivery *d,
			uint64_t content_id);

/* ---- storage_metadata.c ---- */
/* Removes a mailbox's entries (DELETE), every entry of a user (user del). */
int store_metadata_del_txn(struct store *s, DB_TXN *txn, uint32_t user_id, uint32_t mailbox_id);
int store_metadata_del_user_txn(struct store *s, DB_TXN *txn, uint32_t user_id);
/* Copies a mailbox's entries to a mailbox with a higher id (RENAME INBOX,
 * RFC 5464 4.1). */
int store_metadata_copy_txn(struct store *s, DB_TXN *txn, uint32_t user_id, uint32_t from_id,
			    uint32_t to_id);

/* ---- storage_content.c ---- */
/* One more reference to an existing content. */
int store_content_ref(struct store *s, DB_TXN *txn, uint64_t content_id);
int store_structure_put(struct store *s, DB_TXN *txn, uint64_t content_id, const void *data,
			size_t len);
/* Stores data as a new content with the given reference count. */
int store_content_put(struct store *s, DB_TXN *txn, const void *data, size_t len,
		      uint32_t refcount, uint64_t *content_id_r);
/* Drops one reference; deletes the content when none remain. */
int store_content_release(struct store *s, DB_TXN *txn, uint64_t content_id);

#endif
