/* storage/storage_env.c: the Berkeley DB environment behind a struct store.
 *
 * Owns opening (with automatic recovery), closing, the transaction runner
 * (bounded retries on deadlock and lock timeout), group-commit support
 * (store_sync), checkpoints, statistics, the meta counters and the watchdog
 * thread that keeps a dead process from wedging the others and tells the
 * daemon when the store falls idle (store_idle_hook_set).
 *
 * Everything is configured through the API; no DB_CONFIG file is read or
 * written.
 *
 * Several processes share the environment (the daemon and `postino user
 * ...`).  DB_REGISTER tells the opener whether a previous user died.  An
 * opener that is alone (storage_lock.c) then runs full recovery, which never
 * waits on the dead process's mutexes; one that has company adds DB_FAILCHK,
 * which first tries to clean up after the dead process (release its locks,
 * abort its transaction) so that the live ones are not recovered under.  The
 * watchdog also runs failchk every second, so the daemon cleans up a dead
 * admin process itself.  If recovery does happen under a live process its
 * handles fail with DB_RUNRECOVERY; the store then reopens the environment
 * once and retries.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/storage_private.h"

#define STORE_DEFAULT_LOCK_TIMEOUT_MS 5000u
#define STORE_THREAD_COUNT 128           /* thread slots for failchk */
#define STORE_WATCHDOG_TICK_MS 200
#define STORE_FAILCHK_TICKS 5            /* failchk every 5 ticks = 1 s */

/* Records are read past a writer's locks, so that a read on an event loop
 * does not wait for a transaction (issue 11 point 1): the databases of
 * records (MVCC) are DB_MULTIVERSION and read in snapshot transactions
 * (store_read_run).  A writer changes a copy of each page it writes; a
 * snapshot reads the versions committed when it first read a page and
 * takes no page locks.
 *
 * The contents (content_meta, content_data, structure) are not, and are
 * read without a transaction (store_content_run), each read waiting for a
 * writer's lock on its page:
 *   - multiversion chunk pages cost half the POP3 RETR and FETCH rate
 *     (measured: buffer allocation in a full cache);
 *   - multiversion meta and structure records were dropped after a
 *     FETCH "corrupt record" in imaptest's stress; that run also had an
 *     IMAP view bug since fixed (a held \Recent claim lost UIDs, which
 *     makes the UID load answer STORE_ERR_CORRUPT), and with it fixed
 *     three runs with them multiversion were clean: to be measured and
 *     made so (they would spare FETCH's open a writer's lock);
 *   - DB_READ_UNCOMMITTED is unsafe: a dirty reader follows overflow
 *     pages that an uncommitted deletion has freed and another write
 *     reuses. */
#define MVCC DB_MULTIVERSION

static const struct {
	const char *file;
	uint32_t pagesize;   /* 0: Berkeley DB's default */
	uint32_t flags;      /* MVCC or 0, see above */
} store_db_files[SDB_COUNT] = {
	[SDB_USERS] = {"users.db", 0, MVCC},
	[SDB_USERS_BY_ID] = {"users_by_id.db", 0, MVCC},
	[SDB_DOMAINS] = {"domains.db", 0, MVCC},
	[SDB_MAILBOXES] = {"mailboxes.db", 0, MVCC},
	[SDB_MAILBOX_INFO] = {"mailbox_info.db", 0, MVCC},
	[SDB_MESSAGES] = {"messages.db", 0, MVCC},
	[SDB_CHANGES] = {"changes.db", 0, MVCC},
	[SDB_CONTENT_META] = {"content_meta.db", 0, 0},   /* see above */
	[SDB_CONTENT_DATA] = {"content_data.db", STORE_CONTENT_PAGESIZE, 0},
	[SDB_META] = {"meta.db", 0, MVCC},
	[SDB_SUBSCRIPTIONS] = {"subscriptions.db", 0, MVCC},
	[SDB_KEYWORDS] = {"keywords.db", 0, MVCC},
	[SDB_STRUCTURE] = {"structure.db", 0, 0},       /* see above */
	[SDB_QUEUE] = {"queue.db", 0, MVCC},
	[SDB_URLAUTH] = {"urlauth.db", 0, MVCC},
	[SDB_METADATA] = {"metadata.db", 0, MVCC},
};

const char *store_strerror(int err)
{
	switch (err) {
	case STORE_OK: return "success";
	case STORE_ERR_TEMP: return "temporary storage failure";
	case STORE_ERR_NOTFOUND: return "not found";
	case STORE_ERR_EXISTS: return "already exists";
	case STORE_ERR_NOQUOTA: return "over quota";
	case STORE_ERR_INUSE: return "in use";
	case STORE_ERR_PERM: return "not permitted";
	case STORE_ERR_INVALID: return "invalid argument";
	case STORE_ERR_CORRUPT: return "corrupt record";
	case STORE_ERR_NOSPACE: return "not enough disk space";
	case STORE_ERR_BUSY: return "busy";
	default: return "unknown storage error";
	}
}

static _Thread_local bool tl_nowait;

bool store_thread_nowait(bool on)
{
	bool was = tl_nowait;
	tl_nowait = on;
	return was;
}

bool store_thread_is_nowait(void)
{
	return tl_nowait;
}

int store_bdb_err(struct store *s, int rc)
{
	switch (rc) {
	case 0:
		return STORE_OK;
	case DB_NOTFOUND:
	case DB_KEYEMPTY:
		return STORE_ERR_NOTFOUND;
	case DB_KEYEXIST:
		return STORE_ERR_EXISTS;
	case DB_LOCK_NOTGRANTED:
		/* A lock wait timed out: perhaps its holder died.  Let the
		 * watchdog check now rather than at its next round.  Not for
		 * a transaction that would not wait (store_thread_nowait):
		 * a held lock is all that says. */
		if (s && !tl_nowait)
			atomic_store(&s->want_failchk, true);
		return STORE_ERR_RETRY;
	case DB_LOCK_DEADLOCK:
		return STORE_ERR_RETRY;
	case DB_RUNRECOVERY:
		return STORE_ERR_PANIC;
	case DB_BUFFER_SMALL:
	case DB_VERIFY_BAD:
		return STORE_ERR_CORRUPT;
	case ENOSPC:
	case EDQUOT:
		if (s)
			store_space_exhausted(s);
		return STORE_ERR_NOSPACE;
	default:
		return STORE_ERR_TEMP;
	}
}

static void store_log_stderr(enum store_log_level level, const char *msg)
{
	(void)level;
	fprintf(stderr, "postino: storage: %s\n", msg);
}

static _Atomic(store_log_fn *) store_log_hook = store_log_stderr;

void store_log_set(store_log_fn *fn)
{
	atomic_store(&store_log_hook, fn ? fn : store_log_stderr);
}

void store_log(enum store_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	atomic_load(&store_log_hook)(level, msg);
}

static _Atomic(store_idle_fn *) store_idle_hook;

void store_idle_hook_set(store_idle_fn *fn)
{
	atomic_store(&store_idle_hook, fn);
}

static void store_bdb_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	store_log(STORE_LOG_ERROR, "%s", msg);
}

static void store_bdb_msgcall(const DB_ENV *env, const char *msg)
{
	(void)env;
	/* failchk reports every mutex of a dead process, hundreds of lines
	 * that say nothing the "Freeing ... for process" lines do not. */
	if (strncmp(msg, "BDB2017 ", 8) == 0)
		return;
	store_log(STORE_LOG_INFO, "%s", msg);
}

/* failchk asks whether the owner of a lock or transaction still runs.  Our
 * own threads always outlive the store handle (it is closed before they
 * exit); another process is alive while kill(pid, 0) finds it. */
static int store_isalive(DB_ENV *env, pid_t pid, db_threadid_t tid, u_int32_t flags)
{
	(void)env;
	(void)tid;
	(void)flags;
	if (pid == getpid())
		return 1;
	if (kill(pid, 0) == 0)
		return 1;
	return errno == EPERM;
}

static int store_mkdirs(const char *dir)
{
	char *p = strdup(dir);
	if (!p)
		return STORE_ERR_TEMP;
	int rc = STORE_OK;
	for (char *q = p + 1; ; q++) {
		if (*q != '/' && *q != '\0')
			continue;
		char save = *q;
		*q = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			store_log(STORE_LOG_ERROR, "mkdir %s: %s", p, strerror(errno));
			rc = STORE_ERR_TEMP;
			break;
		}
		*q = save;
		if (save == '\0')
			break;
	}
	free(p);
	return rc;
}

/* ---- kept read transactions ----
 * A content read that must not wait for a lock (store_content_run on a
 * thread under store_thread_nowait: an event loop) needs a transaction,
 * DB_TXN_NOWAIT, to be told of a held lock at once instead of waiting in
 * its queue; a read without one (the other threads') cannot be.  A
 * transaction per read cost a quarter of FETCH's rate (its begin and
 * commit, in the shared regions), so each such thread keeps one across
 * its reads, in readers[] (readers_mu).  Read-committed (degree 2), it
 * holds no lock between reads, writes nothing and has no snapshot, so it
 * keeps no log and no page version in place however long it lives.  It
 * is dropped on any error (a held lock included: rarely) and begun again
 * at the next read; every one ends when the handles close (store_close,
 * a reopen, each holding the store alone).  A thread remembers its slot
 * by the store's serial and generation, so that one of a closed store or
 * an older environment is never used. */
static _Thread_local struct {
	uint64_t serial, gen;
	int slot;
} tl_reader;

static void readers_end(struct store *s)
{
	pthread_mutex_lock(&s->readers_mu);
	for (int i = 0; i < STORE_READERS_MAX; i++) {
		if (s->readers[i])
			(void)s->readers[i]->commit(s->readers[i], DB_TXN_NOSYNC);
		s->readers[i] = NULL;
		s->reader_used[i] = false;
	}
	pthread_mutex_unlock(&s->readers_mu);
}

/* The calling thread's kept transaction (store_enter held, generation
 * gen); NULL when there is no slot left or none could begin. */
static DB_TXN *reader_txn(struct store *s, uint64_t gen)
{
	if (tl_reader.serial != s->serial || tl_reader.gen != gen) {
		/* None yet, or one of another store or environment (ended
		 * with it): a slot of this one. */
		int slot = -1;
		pthread_mutex_lock(&s->readers_mu);
		for (int i = 0; i < STORE_READERS_MAX && slot < 0; i++)
			if (!s->reader_used[i])
				slot = i;
		if (slot >= 0)
			s->reader_used[slot] = true;
		pthread_mutex_unlock(&s->readers_mu);
		if (slot < 0)
			return NULL;
		tl_reader.serial = s->serial;
		tl_reader.gen = gen;
		tl_reader.slot = slot;
	}
	DB_TXN **t = &s->readers[tl_reader.slot];
	if (!*t && s->env->txn_begin(s->env, NULL, t, DB_TXN_NOWAIT | DB_READ_COMMITTED) != 0)
		*t = NULL;
	return *t;
}

/* Ends the calling thread's kept transaction after a failed read. */
static void reader_drop(struct store *s)
{
	DB_TXN **t = &s->readers[tl_reader.slot];
	if (*t)
		(void)(*t)->abort(*t);
	*t = NULL;
}

/* Closes whatever handles are open; safe on a panicked environment. */
static void store_handles_close(struct store *s)
{
	/* Closing a handle writes out every dirty page of its file in the
	 * shared cache, the daemon's too: for an admin command beside a
	 * running daemon (`postino queue flush`) that was 0.1 to 1.4 s of
	 * pwrite and fdatasync.  Every write here is transactional and the
	 * log is flushed before (store_close), so a process that shares the
	 * environment skips it (DB_NOSYNC: the pages stay in the shared
	 * cache, the daemon's checkpoints write them, recovery would redo
	 * them from the log).  The last one out (store_close sets shared
	 * then) checkpoints and syncs, so the database files of a stopped
	 * server are whole. */
	u_int32_t close_flags = s->shared ? DB_NOSYNC : 0;
	readers_end(s);
	for (int i = 0; i < SDB_COUNT; i++) {
		if (s->db[i])
			(void)s->db[i]->close(s->db[i], close_flags);
		s->db[i] = NULL;
	}
	if (s->env)
		(void)s->env->close(s->env, 0);
	s->env = NULL;
}

static int store_handles_open(struct store *s)
{
	DB_ENV *env;
	int rc = db_env_create(&env, 0);
	if (rc != 0)
		return STORE_ERR_TEMP;
	s->env = env;
	env->set_errcall(env, store_bdb_errcall);
	env->set_msgcall(env, store_bdb_msgcall);

	uint64_t lock_us = (uint64_t)(s->opts.lock_timeout_ms ? s->opts.lock_timeout_ms
							      : STORE_DEFAULT_LOCK_TIMEOUT_MS) * 1000u;
	if (lock_us > UINT32_MAX)
		lock_us = UINT32_MAX;
	if ((rc = store_env_size(env, s->opts.cache_bytes)) != 0 ||
	    (rc = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0 ||
	    /* Run the deadlock detector whenever a lock request blocks. */
	    (rc = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0 ||
	    (rc = env->set_timeout(env, (db_timeout_t)lock_us, DB_SET_LOCK_TIMEOUT)) != 0 ||
	    (rc = env->set_flags(env, DB_TIME_NOTGRANTED, 1)) != 0 ||
	    /* Commits do not flush; store_sync() does, for many at once. */
	    (rc = env->set_flags(env, DB_TXN_NOSYNC, 1)) != 0 ||
	    (rc = env->set_thread_count(env, STORE_THREAD_COUNT)) != 0 ||
	    (rc = env->set_isalive(env, store_isalive)) != 0) {
		store_log(STORE_LOG_ERROR, "configure: %s", db_strerror(rc));
		store_handles_close(s);
		return STORE_ERR_TEMP;
	}
	int open_fd;
	bool alone;
	if (store_open_lock(s, &open_fd, &alone) != STORE_OK) {
		store_handles_close(s);
		return STORE_ERR_TEMP;
	}
	/* Alone: recover (store_open_lock removed the registry so that it
	 * does), never failchk: see storage_lock.c for why that can hang. */
	u_int32_t flags = DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL |
			  DB_THREAD | DB_REGISTER | DB_RECOVER | (alone ? 0 : DB_FAILCHK);
	rc = env->open(env, s->dir, flags, 0600);
	store_open_unlock(s, open_fd);
	s->shared = !alone;
	if (rc != 0) {
		store_log(STORE_LOG_ERROR, "open environment %s: %s", s->dir, db_strerror(rc));
		store_handles_close(s);
		return STORE_ERR_TEMP;
	}
	for (int i = 0; i < SDB_COUNT; i++) {
		DB *db;
		if ((rc = db_create(&db, env, 0)) != 0)
			break;
		s->db[i] = db;
		uint32_t pagesize = store_db_files[i].pagesize;
		if (!pagesize && store_db_files[i].flags == MVCC)
			pagesize = STORE_RECORD_PAGESIZE;   /* for storage_sizing.c's bound */
		if (pagesize && (rc = db->set_pagesize(db, pagesize)) != 0)
			break;
		if ((rc = db->open(db, NULL, store_db_files[i].file, NULL, DB_BTREE,
				   DB_CREATE | DB_THREAD | DB_AUTO_COMMIT | store_db_files[i].flags,
				   0600)) != 0)
			break;
	}
	if (rc != 0) {
		store_log(STORE_LOG_ERROR, "open databases in %s: %s", s->dir, db_strerror(rc));
		store_handles_close(s);
		return STORE_ERR_TEMP;
	}
	return STORE_OK;
}

/* Replaces a panicked environment (generation gen) with a fresh one.  Only
 * the first thread to notice does the work. */
static void store_reopen(struct store *s, uint64_t gen)
{
	pthread_rwlock_wrlock(&s->rw);
	if (s->generation == gen) {
		store_log(STORE_LOG_WARN, "environment needs recovery, reopening %s", s->dir);
		store_handles_close(s);
		(void)store_handles_open(s);
		s->generation++;
	}
	pthread_rwlock_unlock(&s->rw);
}

uint64_t store_generation(struct store *s)
{
	pthread_rwlock_rdlock(&s->rw);
	uint64_t gen = s->generation;
	pthread_rwlock_unlock(&s->rw);
	return gen;
}

/* Takes the handle lock for reading; *gen_r gets the environment generation
 * to pass to store_reopen on DB_RUNRECOVERY. */
static int store_enter(struct store *s, uint64_t *gen_r)
{
	pthread_rwlock_rdlock(&s->rw);
	if (s->env) {
		*gen_r = s->generation;
		return STORE_OK;
	}
	/* An earlier reopen failed: try again. */
	uint64_t gen = s->generation;
	pthread_rwlock_unlock(&s->rw);
	store_reopen(s, gen);
	pthread_rwlock_rdlock(&s->rw);
	if (s->env) {
		*gen_r = s->generation;
		return STORE_OK;
	}
	pthread_rwlock_unlock(&s->rw);
	return STORE_ERR_TEMP;
}

static void store_leave(struct store *s)
{
	pthread_rwlock_unlock(&s->rw);
}

/* Random back-off before a retry, so that two transactions that deadlocked
 * do not collide again in lock step. */
static void store_backoff(unsigned attempt)
{
	static _Thread_local uint32_t seed;
	if (seed == 0)
		seed = (uint32_t)getpid() * 2654435761u ^ (uint32_t)time(NULL) ^
		       (uint32_t)(uintptr_t)&seed;
	seed ^= seed << 13;
	seed ^= seed >> 17;
	seed ^= seed << 5;
	unsigned cap_us = 1000u << (attempt < 6 ? attempt : 6);   /* 1 .. 64 ms */
	struct timespec ts = {0, (long)(seed % cap_us + 100) * 1000L};
	nanosleep(&ts, NULL);
}

/* How txn_run runs fn: in a transaction that may write, or in a snapshot
 * transaction that only reads. */
enum run_kind { RUN_WRITE, RUN_SNAPSHOT, RUN_NONE };

/* count: whether the transaction is activity for the idle detection
 * (store_watchdog_main); a poll that runs every second is not. */
static int txn_run(struct store *s, store_txn_fn *fn, void *arg, bool count, enum run_kind kind)
{
	unsigned reopens = 0;
	for (unsigned attempt = 0;; attempt++) {
		uint64_t gen;
		int rc = store_enter(s, &gen);
		if (rc != STORE_OK)
			return rc;
		if (count)
			atomic_fetch_add_explicit(&s->txn_count, 1, memory_order_relaxed);
		DB_TXN *txn = NULL;
		/* A snapshot transaction takes no page locks on the
		 * multiversion databases: it reads the versions committed when
		 * it first read a page, whatever a writer holds. */
		uint32_t tflags = 0;
		if (kind == RUN_SNAPSHOT)
			tflags = DB_TXN_SNAPSHOT;
		else if (tl_nowait)
			tflags = DB_TXN_NOWAIT;
		if (kind == RUN_NONE)
			rc = fn(s, NULL, arg);
		else if ((rc = store_bdb_err(s, s->env->txn_begin(s->env, NULL, &txn, tflags))) ==
			 STORE_OK) {
			rc = fn(s, txn, arg);
			if (rc == STORE_OK)
				rc = store_bdb_err(s, txn->commit(txn, DB_TXN_NOSYNC));
			else
				(void)txn->abort(txn);
		}
		store_content_doom_end(s);
		store_leave(s);
		if (rc == STORE_ERR_RETRY && kind == RUN_WRITE && tl_nowait)
			return STORE_ERR_BUSY;   /* the caller hands it to a worker */
		if (rc == STORE_ERR_RETRY && attempt + 1 < STORE_TXN_ATTEMPTS) {
			store_backoff(attempt);
			continue;
		}
		if (rc == STORE_ERR_PANIC && reopens++ < 2) {
			store_reopen(s, gen);
			continue;
		}
		if (rc == STORE_ERR_RETRY || rc == STORE_ERR_PANIC)
			return STORE_ERR_TEMP;
		return rc;
	}
}

int store_txn_run(struct store *s, store_txn_fn *fn, void *arg)
{
	return txn_run(s, fn, arg, true, RUN_WRITE);
}

int store_txn_run_quiet(struct store *s, store_txn_fn *fn, void *arg)
{
	return txn_run(s, fn, arg, false, RUN_WRITE);
}

int store_read_run(struct store *s, store_txn_fn *fn, void *arg)
{
	return txn_run(s, fn, arg, true, RUN_SNAPSHOT);
}

int store_read_run_quiet(struct store *s, store_txn_fn *fn, void *arg)
{
	return txn_run(s, fn, arg, false, RUN_SNAPSHOT);
}

/* A content read on a thread that does not wait: in the thread's kept
 * transaction, STORE_ERR_BUSY at once when a writer holds a page it
 * needs (the caller hands the read to a worker). */
static int content_nowait_run(struct store *s, store_txn_fn *fn, void *arg)
{
	for (unsigned reopens = 0;; reopens++) {
		uint64_t gen;
		int rc = store_enter(s, &gen);
		if (rc != STORE_OK)
			return rc;
		atomic_fetch_add_explicit(&s->txn_count, 1, memory_order_relaxed);
		DB_TXN *txn = reader_txn(s, gen);
		if (txn) {
			rc = fn(s, txn, arg);
			if (rc != STORE_OK && rc != STORE_ERR_NOTFOUND)
				reader_drop(s);
		} else if ((rc = store_bdb_err(s, s->env->txn_begin(s->env, NULL, &txn,
								      DB_TXN_NOWAIT |
								      DB_READ_COMMITTED))) == STORE_OK) {
			rc = fn(s, txn, arg);
			(void)txn->commit(txn, DB_TXN_NOSYNC);
		}
		store_leave(s);
		if (rc == STORE_ERR_RETRY)
			return STORE_ERR_BUSY;
		if (rc != STORE_ERR_PANIC)
			return rc;
		if (reopens == 2)
			return STORE_ERR_TEMP;
		store_reopen(s, gen);   /* as txn_run: a new environment, once more */
	}
}

int store_content_run(struct store *s, store_txn_fn *fn, void *arg)
{
	if (tl_nowait)
		return content_nowait_run(s, fn, arg);
	return txn_run(s, fn, arg, true, RUN_NONE);
}

/* ---- database wrappers ---- */

int store_db_get(struct store *s, DB_TXN *txn, enum store_db which, const void *key,
		 size_t klen, void *buf, size_t cap, size_t *len_r, uint32_t flags)
{
	DBT k, v;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *)key;
	k.size = (u_int32_t)klen;
	v.data = buf;
	v.ulen = (u_int32_t)cap;
	v.flags = DB_DBT_USERMEM;
	int rc = store_bdb_err(s, s->db[which]->get(s->db[which], txn, &k, &v, flags));
	if (rc == STORE_OK && len_r)
		*len_r = v.size;
	return rc;
}

int store_db_put(struct store *s, DB_TXN *txn, enum store_db which, const void *key,
		 size_t klen, const void *val, size_t vlen, uint32_t flags)
{
	int rc = store_space_check_write(s);
	if (rc != STORE_OK)
		return rc;
	DBT k, v;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *)key;
	k.size = (u_int32_t)klen;
	v.data = (void *)val;
	v.size = (u_int32_t)vlen;
	return store_bdb_err(s, s->db[which]->put(s->db[which], txn, &k, &v, flags));
}

int store_db_del(struct store *s, DB_TXN *txn, enum store_db which, const void *key,
		 size_t klen)
{
	int rc = store_space_check_write(s);
	if (rc != STORE_OK)
		return rc;
	DBT k;
	memset(&k, 0, sizeof(k));
	k.data = (void *)key;
	k.size = (u_int32_t)klen;
	return store_bdb_err(s, s->db[which]->del(s->db[which], txn, &k, 0));
}

int store_db_exists(struct store *s, DB_TXN *txn, enum store_db which, const void *key,
		    size_t klen)
{
	DBT k;
	memset(&k, 0, sizeof(k));
	k.data = (void *)key;
	k.size = (u_int32_t)klen;
	return store_bdb_err(s, s->db[which]->exists(s->db[which], txn, &k, 0));
}

int store_cursor_open(struct store *s, DB_TXN *txn, enum store_db which, DBC **c_r)
{
	return store_bdb_err(s, s->db[which]->cursor(s->db[which], txn, c_r, 0));
}

int store_cursor_get(struct store *s, DBC *c, void *kbuf, size_t kcap, size_t *klen_io,
		     void *vbuf, size_t vcap, size_t *vlen_r, uint32_t flags)
{
	DBT k, v;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = kbuf;
	k.ulen = (u_int32_t)kcap;
	k.size = (u_int32_t)*klen_io;
	k.flags = DB_DBT_USERMEM;
	v.data = vbuf;
	v.ulen = (u_int32_t)vcap;
	v.flags = DB_DBT_USERMEM;
	int rc = store_bdb_err(s, c->get(c, &k, &v, flags));
	if (rc == STORE_OK) {
		*klen_io = k.size;
		if (vlen_r)
			*vlen_r = v.size;
	}
	return rc;
}

int store_cursor_put_current(struct store *s, DBC *c, const void *val, size_t vlen)
{
	DBT k, v;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	v.data = (void *)val;
	v.size = (u_int32_t)vlen;
	return store_bdb_err(s, c->put(c, &k, &v, DB_CURRENT));
}

int store_cursor_del(struct store *s, DBC *c)
{
	return store_bdb_err(s, c->del(c, 0));
}

int store_cursor_close(struct store *s, DBC *c, int rc)
{
	int crc = store_bdb_err(s, c->close(c));
	return rc != STORE_OK ? rc : crc;
}

/* ---- meta counters ---- */

int store_meta_get(struct store *s, DB_TXN *txn, const char *name, uint64_t *val_r,
		   uint32_t flags)
{
	uint8_t buf[16];
	size_t len;
	int rc = store_db_get(s, txn, SDB_META, name, strlen(name), buf, sizeof(buf), &len, flags);
	if (rc == STORE_ERR_NOTFOUND) {
		*val_r = 0;
		return STORE_OK;
	}
	if (rc != STORE_OK)
		return rc;
	return store_counter_decode(buf, len, val_r);
}

int store_meta_set(struct store *s, DB_TXN *txn, const char *name, uint64_t val)
{
	uint8_t buf[16];
	size_t len = store_counter_encode(val, buf, sizeof(buf));
	return store_db_put(s, txn, SDB_META, name, strlen(name), buf, len, 0);
}

int store_meta_add(struct store *s, DB_TXN *txn, const char *name, int64_t delta)
{
	uint64_t v;
	int rc = store_meta_get(s, txn, name, &v, DB_RMW);
	if (rc != STORE_OK)
		return rc;
	if (delta < 0)
		v = (uint64_t)-delta > v ? 0 : v - (uint64_t)-delta;
	else
		v += (uint64_t)delta;
	return store_meta_set(s, txn, name, v);
}

int store_meta_next(struct store *s, DB_TXN *txn, const char *name, uint64_t *val_r)
{
	uint64_t v;
	int rc = store_meta_get(s, txn, name, &v, DB_RMW);
	if (rc != STORE_OK)
		return rc;
	if (v == UINT64_MAX)
		return STORE_ERR_TEMP;
	*val_r = v + 1;
	return store_meta_set(s, txn, name, v + 1);
}

/* ---- watchdog ---- */

static void *store_watchdog_main(void *arg)
{
	struct store *s = arg;
	unsigned ticks = 0;
	/* Idle detection: ticks since the transaction count last moved, and
	 * whether it moved since the hook last ran. */
	uint64_t seen_txns = atomic_load(&s->txn_count);
	unsigned idle_ticks = 0;
	bool busy = false;
	pthread_mutex_lock(&s->wd_mu);
	while (!s->wd_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += STORE_WATCHDOG_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&s->wd_cv, &s->wd_mu, &ts);
		if (s->wd_stop)
			break;
		pthread_mutex_unlock(&s->wd_mu);

		ticks++;
		store_space_refresh(s);
		store_content_orphans_retry(s);
		uint64_t txns = atomic_load_explicit(&s->txn_count, memory_order_relaxed);
		if (txns != seen_txns) {
			seen_txns = txns;
			idle_ticks = 0;
			busy = true;
		} else if (busy && ++idle_ticks >=
				   STORE_IDLE_SECONDS * 1000 / STORE_WATCHDOG_TICK_MS) {
			busy = false;
			store_regions_release();
			store_idle_fn *idle = atomic_load(&store_idle_hook);
			if (idle)
				idle();
		}
		bool check = atomic_exchange(&s->want_failchk, false) ||
			     ticks % STORE_FAILCHK_TICKS == 0;
		uint64_t gen = 0;
		bool panic = false;
		pthread_rwlock_rdlock(&s->rw);
		if (s->env) {
			gen = s->generation;
			/* Lock timeouts are only noticed when the detector
			 * runs; without this a wait on a lock whose holder is
			 * gone would never end. */
			int rc = s->env->lock_detect(s->env, 0, DB_LOCK_EXPIRE, NULL);
			if (rc == 0 && check)
				rc = s->env->failchk(s->env, 0);
			/* failchk may report EBUSY after aborting a dead
			 * process's transaction (Berkeley DB 5.3 destroys a
			 * mutex the dead process still held); the locks are
			 * released all the same, so only a panic matters. */
			panic = rc == DB_RUNRECOVERY;
		}
		pthread_rwlock_unlock(&s->rw);
		if (panic)
			store_reopen(s, gen);
		pthread_mutex_lock(&s->wd_mu);
	}
	pthread_mutex_unlock(&s->wd_mu);
	return NULL;
}

/* ---- open / close ---- */

int store_open(const char *dir, const struct store_options *opts, struct store **store_r)
{
	*store_r = NULL;
	if (!dir || !*dir)
		return STORE_ERR_INVALID;
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return STORE_ERR_TEMP;
	if (opts)
		s->opts = *opts;
	s->users_fd = -1;
	s->dir = strdup(dir);
	if (!s->dir) {
		free(s);
		return STORE_ERR_TEMP;
	}
	/* Writers first: a reopen must not starve behind a stream of users. */
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->rw, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&s->wd_mu, NULL);
	pthread_mutex_init(&s->notify_mu, NULL);
	pthread_mutex_init(&s->pin_mu, NULL);
	pthread_mutex_init(&s->readers_mu, NULL);
	static _Atomic uint64_t serials;
	s->serial = atomic_fetch_add(&serials, 1) + 1;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wd_cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&s->want_failchk, false);
	atomic_init(&s->txn_count, 0);
	atomic_init(&s->synced_generation, 0);
	atomic_init(&s->space_free, UINT64_MAX);

	store_region_setup();
	int rc = store_mkdirs(dir);
	if (rc == STORE_OK) {
		store_space_refresh(s);
		rc = store_handles_open(s);
	}
	if (rc == STORE_OK) {
		if (pthread_create(&s->watchdog, NULL, store_watchdog_main, s) == 0) {
			s->watchdog_running = true;
			(void)pthread_setname_np(s->watchdog, "store-watchdog");
		} else {
			rc = STORE_ERR_TEMP;
		}
	}
	if (rc != STORE_OK) {
		store_close(&s);
		return rc;
	}
	*store_r = s;
	return STORE_OK;
}

void store_close(struct store **sp)
{
	struct store *s = *sp;
	if (!s)
		return;
	*sp = NULL;
	if (s->watchdog_running) {
		pthread_mutex_lock(&s->wd_mu);
		s->wd_stop = true;
		pthread_cond_signal(&s->wd_cv);
		pthread_mutex_unlock(&s->wd_mu);
		pthread_join(s->watchdog, NULL);
	}
	/* A clean shutdown keeps every committed transaction. */
	int open_fd = -1;
	if (s->env) {
		int frc = s->env->log_flush(s->env, NULL);
		if (frc != 0)
			store_log(STORE_LOG_ERROR, "log flush at close: %s", db_strerror(frc));
		/* The last one out (whatever it was at open) writes every
		 * page, so the files of a stopped server are whole. */
		s->shared = !store_close_lock(s, &open_fd);
		if (!s->shared && (frc = s->env->txn_checkpoint(s->env, 0, 0, 0)) != 0)
			store_log(STORE_LOG_WARN, "checkpoint at close: %s", db_strerror(frc));
	}
	store_handles_close(s);
	store_users_release(s);
	store_close_unlock(open_fd);
	pthread_cond_destroy(&s->wd_cv);
	pthread_mutex_destroy(&s->wd_mu);
	pthread_mutex_destroy(&s->notify_mu);
	pthread_mutex_destroy(&s->pin_mu);
	pthread_mutex_destroy(&s->readers_mu);
	free(s->pins);
	free(s->orphans);
	pthread_rwlock_destroy(&s->rw);
	free(s->dir);
	free(s);
}

/* ---- change feed ---- */

void store_set_notify(struct store *s, store_notify_fn *fn, void *arg)
{
	pthread_mutex_lock(&s->notify_mu);
	s->notify_fn = fn;
	s->notify_arg = arg;
	pthread_mutex_unlock(&s->notify_mu);
}

/* The hook runs on the caller's thread after store_txn_run returned, so no
 * store lock (s->rw, Berkeley DB locks) is held: the hook may call the store.
 * SMTP, POP3 and IMAP call the store from core's event-loop threads (one
 * per core) and from its worker pool (a large STORE or COPY), so the hook
 * runs on any of them: any thread that changes a mailbox runs the hook
 * itself, so a hook must be thread safe (imap_notify.c's is).  A call already under way may still run after
 * store_set_notify(NULL) returns. */
void store_notify(struct store *s, const uint32_t *ids, size_t n)
{
	pthread_mutex_lock(&s->notify_mu);
	store_notify_fn *fn = s->notify_fn;
	void *arg = s->notify_arg;
	pthread_mutex_unlock(&s->notify_mu);
	if (!fn)
		return;
	for (size_t i = 0; i < n; i++) {
		if (ids[i] == 0)
			continue;
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = ids[j] == ids[i];
		if (!seen)
			fn(arg, ids[i]);
	}
}

void store_set_list_notify(struct store *s, store_list_notify_fn *fn, void *arg)
{
	pthread_mutex_lock(&s->notify_mu);
	s->list_notify_fn = fn;
	s->list_notify_arg = arg;
	pthread_mutex_unlock(&s->notify_mu);
}

struct subscribed_arg {
	uint32_t user_id;
	const char *name;
	int sub;
};

static int subscribed_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct subscribed_arg *a = arg;
	a->sub = store_subscribed_txn(s, txn, a->user_id, a->name, strlen(a->name));
	return a->sub < 0 ? a->sub : STORE_OK;
}

void store_list_notify(struct store *s, enum store_list_kind kind, uint32_t user_id,
		       const char *name, const char *old_name)
{
	pthread_mutex_lock(&s->notify_mu);
	store_list_notify_fn *fn = s->list_notify_fn;
	void *arg = s->list_notify_arg;
	pthread_mutex_unlock(&s->notify_mu);
	if (!fn)
		return;
	/* Read after the commit, like the hook's own reads: a subscription
	 * outlives its mailbox (RFC 9051 6.3.7), so a deleted name may still
	 * be subscribed. */
	struct subscribed_arg sa = {.user_id = user_id, .name = name};
	int rc = store_read_run(s, subscribed_fn, &sa);
	struct store_list_change ch = {
		.kind = kind, .user_id = user_id, .name = name, .old_name = old_name,
		.subscribed = rc == STORE_OK && sa.sub == 1,
	};
	fn(arg, &ch);
}

/* ---- durability, checkpoints, statistics ---- */

/* Process-wide and one-way: set before the daemon opens its store, never
 * by a configuration file (storage.h). */
static atomic_bool bench_no_flush;

void store_bench_no_flush(void)
{
	atomic_store(&bench_no_flush, true);
}

int store_sync(struct store *s)
{
	uint64_t gen;
	int rc = store_enter(s, &gen);
	if (rc != STORE_OK)
		return rc;
	/* One flush of the log makes every transaction committed so far
	 * durable: this is the group commit. */
	if (!atomic_load(&bench_no_flush)) {
		rc = store_bdb_err(s, s->env->log_flush(s->env, NULL));
	} else if (!atomic_exchange(&s->bench_warned, true)) {
		store_log(STORE_LOG_WARN, "log flush skipped (--bench-no-flush): acknowledged "
			  "mail is NOT durable; a benchmarking aid, never for real mail");
	}
	store_leave(s);
	if (rc == STORE_ERR_PANIC) {
		/* Someone recovered the environment under us: commits not yet
		 * flushed are gone, so this sync must not report success. */
		store_reopen(s, gen);
		return STORE_ERR_TEMP;
	}
	if (rc != STORE_OK)
		return STORE_ERR_TEMP;
	/* The first flush after a reopen fails too, for the callers whose
	 * transactions committed in the environment that was lost. */
	if (atomic_exchange(&s->synced_generation, gen) != gen)
		return STORE_ERR_TEMP;
	return STORE_OK;
}

int store_checkpoint(struct store *s)
{
	uint64_t gen;
	int rc = store_enter(s, &gen);
	if (rc != STORE_OK)
		return rc;
	rc = store_bdb_err(s, s->env->txn_checkpoint(s->env, 0, 0, 0));
	if (rc == STORE_OK) {
		/* DB_LOG_AUTO_REMOVE also removes them; asking here makes the
		 * removal happen right after the checkpoint that allows it. */
		rc = store_bdb_err(s, s->env->log_archive(s->env, NULL, DB_ARCH_REMOVE));
	}
	store_leave(s);
	if (rc == STORE_ERR_PANIC)
		store_reopen(s, gen);
	return rc == STORE_OK ? STORE_OK : STORE_ERR_TEMP;
}

static int stats_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct store_stats *st = arg;
	int rc = store_meta_get(s, txn, STORE_META_USERS, &st->users, 0);
	if (rc == STORE_OK)
		rc = store_meta_get(s, txn, STORE_META_MESSAGES, &st->messages, 0);
	if (rc == STORE_OK)
		rc = store_meta_get(s, txn, STORE_META_CONTENTS, &st->contents, 0);
	return rc;
}

int store_stats_get(struct store *s, struct store_stats *stats_r)
{
	memset(stats_r, 0, sizeof(*stats_r));
	uint64_t gen;
	int rc = store_enter(s, &gen);
	if (rc != STORE_OK)
		return rc;
	DB_LOG_STAT *ls = NULL;
	rc = store_bdb_err(s, s->env->log_stat(s->env, &ls, 0));
	if (rc == STORE_OK) {
		stats_r->log_flushes = ls->st_scount;
		stats_r->log_writes = ls->st_wcount;
		stats_r->log_bytes = (uint64_t)ls->st_w_mbytes * (1024 * 1024) + ls->st_w_bytes;
		free(ls);
	}
	DB_LOCK_STAT *lk = NULL;
	if (rc == STORE_OK)
		rc = store_bdb_err(s, s->env->lock_stat(s->env, &lk, 0));
	if (rc == STORE_OK) {
		stats_r->lock_waits = lk->st_lock_wait;
		stats_r->deadlocks = lk->st_ndeadlocks;
		stats_r->lock_timeouts = lk->st_nlocktimeouts;
		free(lk);
	}
	store_leave(s);
	if (rc == STORE_ERR_PANIC)
		store_reopen(s, gen);
	if (rc != STORE_OK)
		return STORE_ERR_TEMP;
	struct store_stats counts = {0};
	rc = store_read_run(s, stats_txn, &counts);
	stats_r->users = counts.users;
	stats_r->messages = counts.messages;
	stats_r->contents = counts.contents;
	return rc;
}
