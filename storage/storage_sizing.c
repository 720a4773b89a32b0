/* storage/storage_sizing.c: how large the Berkeley DB regions are, and how
 * much of them is written (made resident) when the environment is created.
 *
 * The regions are shared file mappings (storage_region.c allocates each
 * file whole on disk), so a page costs memory only once something writes
 * it.  Berkeley DB writes some structures whole at creation, sized from the
 * maxima, not from what is in use; with its defaults and a 64 MiB cache
 * that was 6 MB resident before the first command (issue 11 point 7):
 *
 *   - the mutex region, 3.8 MB: one mutex per possible cache page plus one
 *     per mpool hash bucket (28,769 for 64 MiB), each ~136 bytes, all put
 *     on the free list at creation (mutex/mut_region.c);
 *   - the lock object hash table, 1.7 MB: 16,381 buckets (2/3 of the
 *     maximum lock objects) of 16 bytes plus 88 bytes of statistics each
 *     (lock/lock_region.c);
 *   - the mpool hash table, 0.5 MB: a 64-byte bucket per 2.5 cache
 *     pages of 4 KiB (mp/mp_region.c).
 *
 * The maxima stay what they were; only what is built up front shrinks:
 *
 *   - mutexes: the region starts with what the open needs and grows in
 *     place (Berkeley DB extends the mutex array within the region, half
 *     the current count at a time) up to the count Berkeley DB would have
 *     built at once, so a full cache still has a mutex per page;
 *   - the mpool hash table has a bucket per 2.5 pages of 16 KiB (the
 *     content pages, which fill most of a busy cache) rather than of
 *     4 KiB: 2,053 buckets for 64 MiB, chains of 2 to 8 buffers when the
 *     cache is full;
 *   - the buckets share at most 512 mutexes instead of one each (a
 *     bucket mutex is held for a chain walk; 512 is far more than the
 *     threads that can contend);
 *   - the lock object table has 1,021 buckets: a transaction locks a few
 *     pages, so even a thousand sessions committing at once keep chains
 *     short; only a transaction near the 20,000-object maximum walks ~20.
 *
 * The log buffer (in the environment region) is written only as far as
 * the log grows between two flushes, since a flush starts it again at its
 * beginning (log/log_put.c); its size bounds what a load leaves resident.
 */
#include <unistd.h>

#include "storage/storage_private.h"

#define STORE_DEFAULT_CACHE (64u << 20)
/* One write(2) of the log file each time the buffer fills; with group
 * commit it fills only when more than this is committed between flushes
 * (large messages, many sessions).  See tests/bench/README.md (bench_rss)
 * for the delivery rates measured with 4 MiB and with this. */
#define STORE_LOG_BUFFER (1u << 20)
#define STORE_LOG_FILE_MAX (32u << 20)   /* must be >= 4 x the log buffer */
#define STORE_LOCK_MAX 20000u            /* locks and lock objects */
#define STORE_LOCK_TABLE 1021u           /* lock object hash buckets (prime) */
#define STORE_MP_MUTEXES 512u            /* at most, shared by the mpool hash buckets */
/* Mutexes the open takes besides the mpool bucket ones (in use after
 * opening: ~140 plus lock partitions); more are added as needed. */
#define STORE_MUTEX_SPARE 256u
/* Berkeley DB's own allowance for lockers, transactions and log file ids
 * beyond the initial mutexes (__mutex_region_max: DB_LOCK_DEFAULT_N
 * lockers, twice the running transactions, STORE_TXN_RUNNING, 100: 1,556)
 * and 200 to spare. */
#define STORE_MUTEX_RUNTIME 1756u
/* Transactions running at once: Berkeley DB's default maximum (100) and as
 * many again for the thread slots (STORE_THREAD_COUNT, 128). */
#define STORE_TXN_RUNNING 228u

int store_env_size(DB_ENV *env, size_t cache_bytes)
{
	size_t cache = cache_bytes ? cache_bytes : STORE_DEFAULT_CACHE;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 1)
		cpus = 1;
	/* A hash bucket per 2.5 pages of 16 KiB (Berkeley DB rounds it to a
	 * prime), at most STORE_MP_MUTEXES mutexes for them. */
	size_t buckets = cache / (5 * STORE_CONTENT_PAGESIZE / 2);
	if (buckets < 1)
		buckets = 1;
	u_int32_t mp_mutexes = buckets < STORE_MP_MUTEXES ? (u_int32_t)buckets : STORE_MP_MUTEXES;
	/* The mutex maximum is what Berkeley DB would have built at creation
	 * (mp_region.c, lock_region.c: a mutex per 4 KiB page of cache, the
	 * bucket mutexes, 50 + 17 for the mpool files, ten lock partitions
	 * per processor, 3) plus its runtime allowance, now reached lazily. */
	/* Multiversion databases (storage_env.c): a committed transaction's
	 * record stays in the transaction region, with a mutex of its own,
	 * for as long as a page version it wrote is in the cache
	 * (txn/txn.c __txn_end, txn_region.c __txn_remove_buffer): at most a
	 * transaction per cache buffer, besides those running.  Berkeley DB
	 * makes a cache under 500 MB a quarter larger (mp/mp_method.c), and
	 * the multiversion databases have pages of 4 KiB at least
	 * (STORE_RECORD_PAGESIZE); frozen buffers (mp/mp_mvcc.c) take no
	 * cache page, hence the margin. */
	size_t versions = cache / 4096 * 5 / 4 + cache / 4096 / 8;
	size_t txns = versions + STORE_TXN_RUNNING;
	if (txns > UINT32_MAX)
		txns = UINT32_MAX;
	size_t max = mp_mutexes + cache / 4096 + 50 + 17 + (size_t)cpus * 10 + 3 +
		     STORE_MUTEX_RUNTIME + versions;
	if (max > UINT32_MAX)
		max = UINT32_MAX;
	int rc;
	if ((rc = env->set_cachesize(env, (u_int32_t)(cache >> 30),
				     (u_int32_t)(cache & ((1u << 30) - 1)), 1)) != 0 ||
	    (rc = env->set_mp_tablesize(env, (u_int32_t)buckets)) != 0 ||
	    (rc = env->set_mp_mtxcount(env, mp_mutexes)) != 0 ||
	    (rc = env->mutex_set_init(env, mp_mutexes + STORE_MUTEX_SPARE +
					      (u_int32_t)cpus * 10)) != 0 ||
	    (rc = env->mutex_set_max(env, (u_int32_t)max)) != 0 ||
	    (rc = env->set_tx_max(env, (u_int32_t)txns)) != 0 ||
	    (rc = env->set_lg_bsize(env, STORE_LOG_BUFFER)) != 0 ||
	    (rc = env->set_lg_max(env, STORE_LOG_FILE_MAX)) != 0 ||
	    /* Lock table limits; they also size the environment region, which
	     * store_region_map allocates whole (no set_memory_max). */
	    (rc = env->set_lk_max_locks(env, STORE_LOCK_MAX)) != 0 ||
	    (rc = env->set_lk_max_objects(env, STORE_LOCK_MAX)) != 0 ||
	    (rc = env->set_lk_tablesize(env, STORE_LOCK_TABLE)) != 0)
		return rc;
	return 0;
}
