/* storage/storage_content.c: message content, stored once per delivery.
 *
 * Owns content_meta (content id -> reference count, size, chunk count) and
 * content_data ((content id, chunk number) -> bytes).  A delivery to several
 * mailboxes writes the bytes once with one reference per message record;
 * expunge drops references and the last one deletes the chunks.  Content is
 * split into chunks (big ones on overflow pages, small ones for the tail on
 * leaf pages: the layout in storage_private.h, recorded per content in its
 * meta record) so that a partial read (POP3 TOP, IMAP BODY[]<partial>,
 * streamed RETR) fetches only the chunks, and with DB_DBT_PARTIAL only the
 * part of each chunk, that it needs.
 *
 * Also owns structure (content id -> the MIME structure computed at
 * delivery or APPEND, core/mime.h serialized form): stored beside the
 * content, deleted with it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_private.h"

static size_t content_key(uint8_t *key, uint64_t content_id)
{
	store_be64_put(key, content_id);
	return 8;
}

static size_t chunk_key(uint8_t *key, uint64_t content_id, uint32_t chunk)
{
	store_be64_put(key, content_id);
	store_be32_put(key + 8, chunk);
	return 12;
}

static int meta_read(struct store *s, DB_TXN *txn, uint64_t content_id,
		     struct store_content_meta *c_r, uint32_t flags)
{
	uint8_t key[8], buf[32];
	size_t len;
	int rc = store_db_get(s, txn, SDB_CONTENT_META, key, content_key(key, content_id), buf,
			      sizeof(buf), &len, flags);
	if (rc != STORE_OK)
		return rc;
	return store_content_meta_decode(buf, len, c_r);
}

static int meta_write(struct store *s, DB_TXN *txn, uint64_t content_id,
		      const struct store_content_meta *c)
{
	uint8_t key[8], buf[32];
	size_t len = store_content_meta_encode(c, buf, sizeof(buf));
	return store_db_put(s, txn, SDB_CONTENT_META, key, content_key(key, content_id), buf, len,
			    0);
}

int store_content_put(struct store *s, DB_TXN *txn, const void *data, size_t len,
		      uint32_t refcount, uint64_t *content_id_r)
{
	struct store_content_meta c = {.refcount = refcount, .size = len,
				       .big = STORE_CHUNK_BIG, .small = STORE_CHUNK_SMALL,
				       .page = STORE_CHUNK_PAGE};
	uint64_t nchunks = store_content_chunks(&c);
	if (nchunks > UINT32_MAX)
		return STORE_ERR_INVALID;
	c.chunks = (uint32_t)nchunks;
	uint64_t id;
	int rc = store_meta_next(s, txn, STORE_META_NEXT_CONTENT, &id);
	if (rc != STORE_OK)
		return rc;
	const uint8_t *p = data;
	for (size_t off = 0; off < len;) {
		uint32_t chunk, coff, clen;
		store_content_locate(&c, off, &chunk, &coff, &clen);
		uint8_t key[12];
		if ((rc = store_db_put(s, txn, SDB_CONTENT_DATA, key, chunk_key(key, id, chunk),
				       p + off, clen, 0)) != STORE_OK)
			return rc;
		off += clen;
	}
	if ((rc = meta_write(s, txn, id, &c)) != STORE_OK ||
	    (rc = store_meta_add(s, txn, STORE_META_CONTENTS, 1)) != STORE_OK)
		return rc;
	*content_id_r = id;
	return STORE_OK;
}

/* ---- pins ----
 * A FETCH or RETR streams a body in steps, each its own read; if another
 * session expunges the message's last copy meanwhile, the bytes must still
 * be there for the rest of the literal whose length is already sent.  A pin
 * (in this process's memory) defers the deletion to the unpin.  The orphan
 * record (SDB_META "orphan:" be64 id) makes the deletion survive a crash:
 * store_content_sweep finishes it at the next start. */
#define ORPHAN_PREFIX "orphan:"
#define ORPHAN_PREFIX_LEN 7
#define ORPHAN_KEY_LEN (ORPHAN_PREFIX_LEN + 8)
/* Deletions waiting for the watchdog (store_content_unpin), at most: each
 * is a content expunged while it was being read, then read to the end
 * while a writer held its pages. */
#define STORE_ORPHANS_MAX 4096

static size_t orphan_key(uint8_t *key, uint64_t content_id)
{
	memcpy(key, ORPHAN_PREFIX, ORPHAN_PREFIX_LEN);
	store_be64_put(key + ORPHAN_PREFIX_LEN, content_id);
	return ORPHAN_KEY_LEN;
}

static int content_destroy(struct store *s, DB_TXN *txn, uint64_t content_id,
			   const struct store_content_meta *cm);

/* Whether content_id is pinned here; if so, the last unpin is told to
 * look for the orphan record the caller is about to leave (or has left),
 * so that an unpin of content nobody deleted costs no transaction. */
bool store_content_pinned(struct store *s, uint64_t content_id)
{
	bool found = false;
	pthread_mutex_lock(&s->pin_mu);
	for (size_t i = 0; i < s->npins && !found; i++) {
		if (s->pins[i].content_id == content_id && s->pins[i].count > 0) {
			s->pins[i].orphaned = true;
			found = true;
		}
	}
	pthread_mutex_unlock(&s->pin_mu);
	return found;
}

/* Marks this thread's transaction holds (store_content_doom). */
static _Thread_local unsigned tl_doomed;

/* Adds a pin or a doom mark; the caller holds pin_mu. */
static int pin_slot(struct store *s, size_t *i_r)
{
	if (s->npins == s->pins_cap) {
		size_t ncap = s->pins_cap ? s->pins_cap * 2 : 16;
		struct store_pin *n = ncap < SIZE_MAX / sizeof(*n) ?
			realloc(s->pins, ncap * sizeof(*n)) : NULL;
		if (!n)
			return STORE_ERR_TEMP;
		s->pins = n;
		s->pins_cap = ncap;
	}
	*i_r = s->npins++;
	return STORE_OK;
}

bool store_content_doom(struct store *s, uint64_t content_id)
{
	bool pinned = false;
	pthread_mutex_lock(&s->pin_mu);
	size_t i = 0;
	while (i < s->npins && s->pins[i].content_id != content_id)
		i++;
	if (i < s->npins && s->pins[i].count > 0) {
		s->pins[i].orphaned = true;
		pinned = true;
	} else if (i < s->npins) {
		/* A mark left by a deleter whose transaction has ended but not
		 * yet lifted it (an abort: txn_run lifts marks after the
		 * abort): this deletion's now, lifted at this one's end. */
		if (!pthread_equal(s->pins[i].owner, pthread_self())) {
			s->pins[i].owner = pthread_self();
			tl_doomed++;
		}
	} else if (pin_slot(s, &i) == STORE_OK) {
		s->pins[i] = (struct store_pin){.content_id = content_id, .doomed = true,
						.owner = pthread_self()};
		tl_doomed++;
	} else {
		/* No room for the mark: answer pinned, so that the content
		 * waits for the sweep rather than going under a reader. */
		pinned = true;
	}
	pthread_mutex_unlock(&s->pin_mu);
	return pinned;
}

void store_content_doom_end(struct store *s)
{
	if (tl_doomed == 0)
		return;
	pthread_t self = pthread_self();
	pthread_mutex_lock(&s->pin_mu);
	for (size_t i = s->npins; i-- > 0;)
		if (s->pins[i].doomed && pthread_equal(s->pins[i].owner, self))
			s->pins[i] = s->pins[--s->npins];
	pthread_mutex_unlock(&s->pin_mu);
	tl_doomed = 0;
}

/* Pin the content in memory, without looking at the database.  A content
 * whose deletion is under way (a doom mark) is gone for the reader. */
static int pin_add(struct store *s, uint64_t content_id)
{
	int rc = STORE_OK;
	pthread_mutex_lock(&s->pin_mu);
	size_t i = 0;
	while (i < s->npins && s->pins[i].content_id != content_id)
		i++;
	if (i < s->npins && s->pins[i].doomed) {
		rc = STORE_ERR_NOTFOUND;
	} else if (i < s->npins) {
		s->pins[i].count++;
	} else if ((rc = pin_slot(s, &i)) == STORE_OK) {
		s->pins[i] = (struct store_pin){.content_id = content_id, .count = 1};
	}
	pthread_mutex_unlock(&s->pin_mu);
	return rc;
}

/* Drop one pin; true when it was the last and a deleter was deferred by
 * it (the orphan record may exist: orphan_fn looks). */
static bool pin_drop(struct store *s, uint64_t content_id)
{
	bool last = false;
	pthread_mutex_lock(&s->pin_mu);
	for (size_t i = 0; i < s->npins; i++) {
		if (s->pins[i].content_id != content_id)
			continue;
		if (--s->pins[i].count == 0) {
			last = s->pins[i].orphaned;
			s->pins[i] = s->pins[--s->npins];
		}
		break;
	}
	pthread_mutex_unlock(&s->pin_mu);
	return last;
}

struct open_arg {
	uint64_t content_id;
	struct store_content_meta meta;
	bool want_structure;
	void *structure;
	size_t structure_len;
};

static int open_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct open_arg *a = arg;
	free(a->structure);   /* from an attempt that was retried */
	a->structure = NULL;
	a->structure_len = 0;
	int rc = meta_read(s, txn, a->content_id, &a->meta, 0);
	if (rc != STORE_OK || !a->want_structure)
		return rc;
	uint8_t key[8];
	DBT k, v;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = key;
	k.size = (u_int32_t)content_key(key, a->content_id);
	v.flags = DB_DBT_MALLOC;
	rc = store_bdb_err(s, s->db[SDB_STRUCTURE]->get(s->db[SDB_STRUCTURE], txn, &k, &v, 0));
	if (rc == STORE_ERR_NOTFOUND)
		return STORE_OK;   /* delivered without one: the caller parses */
	if (rc != STORE_OK)
		return rc;
	a->structure = v.data;
	a->structure_len = v.size;
	return STORE_OK;
}

/* The pin and the deletion meet in the pin table (pin_mu).  Every
 * deletion (store_content_release, orphan_fn) write-locks the content's
 * meta record, so that deleters take turns, and then asks
 * store_content_doom, which either finds a pin (the bytes stay until the
 * unpin) or marks the content doomed until the deleter's transaction has
 * ended.  A pin is refused while the mark is there, and a pin taken
 * before it is what the deleter finds.  So a reader that has its pin
 * reads a content that stays, or finds the records gone (the deleter
 * committed).  The record is read without a transaction, and also waits
 * for the deleter's lock on its page (storage_env.c); the marks make the
 * pin hold without that wait, should the record ever be read in a
 * snapshot.  A deleter that aborts lifts its mark too; a pin refused
 * meanwhile saw a content that an expunge was taking away (and the expunge
 * is retried).  With the record comes what a reader needs
 * next: the layout, then the structure, so opening a content for a FETCH
 * is two lookups and no transaction. */
int store_content_open(struct store *s, uint64_t content_id, struct store_content *c_r,
		       void **structure_r, size_t *structure_len_r)
{
	memset(c_r, 0, sizeof(*c_r));
	if (structure_r) {
		*structure_r = NULL;
		*structure_len_r = 0;
	}
	int rc = pin_add(s, content_id);
	if (rc != STORE_OK)
		return rc;
	struct open_arg a = {.content_id = content_id, .want_structure = structure_r != NULL};
	rc = store_content_run(s, open_fn, &a);
	if (rc != STORE_OK) {
		free(a.structure);
		store_content_unpin(s, content_id);
		return rc;
	}
	c_r->id = content_id;
	c_r->size = a.meta.size;
	c_r->layout_big = a.meta.big;
	c_r->layout_small = a.meta.small;
	c_r->layout_page = a.meta.page;
	if (structure_r) {
		*structure_r = a.structure;
		*structure_len_r = a.structure_len;
	}
	return STORE_OK;
}

void store_content_close(struct store *s, struct store_content *c)
{
	if (c->id != 0)
		store_content_unpin(s, c->id);
	memset(c, 0, sizeof(*c));
}

int store_content_pin(struct store *s, uint64_t content_id)
{
	struct store_content c;
	return store_content_open(s, content_id, &c, NULL, NULL);
}

struct orphan_arg {
	uint64_t content_id;
};

/* Delete the content if its deletion was deferred (refcount 0). */
static int orphan_fn(struct store *s, DB_TXN *txn, void *arg)
{
	const struct orphan_arg *a = arg;
	/* The meta record first, locked: a deleter that found this content
	 * pinned holds that lock from its question until its commit, so
	 * its orphan record is visible here once the lock is ours.  Looking
	 * for the orphan record first could miss one about to be written,
	 * and the content would wait for the next start's sweep. */
	struct store_content_meta c;
	int rc = meta_read(s, txn, a->content_id, &c, DB_RMW);
	if (rc != STORE_OK && rc != STORE_ERR_NOTFOUND)
		return rc;
	bool have_meta = rc == STORE_OK;
	uint8_t okey[ORPHAN_KEY_LEN];
	size_t oklen = orphan_key(okey, a->content_id);
	rc = store_db_exists(s, txn, SDB_META, okey, oklen);
	if (rc != STORE_OK)
		return rc == STORE_ERR_NOTFOUND ? STORE_OK : rc;
	/* Pinned again since the last unpin (store_content_pin: the record
	 * is locked before the question): that pin's unpin finishes it. */
	if (have_meta && store_content_doom(s, a->content_id))
		return STORE_OK;
	if (have_meta && c.refcount == 0 &&
	    (rc = content_destroy(s, txn, a->content_id, &c)) != STORE_OK)
		return rc;
	return store_db_del(s, txn, SDB_META, okey, oklen);
}

/* orphan_fn without waiting for a lock: STORE_ERR_BUSY when one is
 * held. */
static int orphan_nowait(struct store *s, uint64_t content_id)
{
	struct orphan_arg a = {.content_id = content_id};
	bool was = store_thread_nowait(true);
	int rc = store_txn_run(s, orphan_fn, &a);
	store_thread_nowait(was);
	return rc;
}

/* Remembers a deletion for the watchdog; false when there is no room. */
static bool orphan_queue(struct store *s, uint64_t content_id)
{
	bool ok = true;
	pthread_mutex_lock(&s->pin_mu);
	if (s->norphans == s->orphans_cap) {
		size_t ncap = s->orphans_cap ? s->orphans_cap * 2 : 16;
		uint64_t *n = ncap <= STORE_ORPHANS_MAX ? realloc(s->orphans, ncap * sizeof(*n))
							: NULL;
		if (n) {
			s->orphans = n;
			s->orphans_cap = ncap;
		}
	}
	bool queued = false;
	for (size_t i = 0; i < s->norphans && !queued; i++)
		queued = s->orphans[i] == content_id;
	if (queued)
		;   /* once is enough */
	else if (s->norphans < s->orphans_cap)
		s->orphans[s->norphans++] = content_id;
	else
		ok = false;
	pthread_mutex_unlock(&s->pin_mu);
	return ok;
}

/* The last unpin of a content whose deletion it deferred finishes the
 * deletion.  It runs where the stream ended, an event loop as a rule, so
 * it never waits for a lock there (issue 11 point 1): the meta record and
 * the chunks' pages may be a delivery's until its commit.  Then the
 * watchdog tries again at its next tick (store_content_orphans_retry),
 * and so on until no lock is in the way.  Another failure, or a full
 * queue, leaves the orphan record for the next start's
 * store_content_sweep. */
void store_content_unpin(struct store *s, uint64_t content_id)
{
	/* Only when a deleter was deferred by this pin (store_content_pinned
	 * marked it) is there an orphan record to look for. */
	if (!pin_drop(s, content_id))
		return;
	if (orphan_nowait(s, content_id) != STORE_ERR_BUSY)
		return;
	atomic_fetch_add(&s->orphans_deferred, 1);
	if (!orphan_queue(s, content_id))
		store_log(STORE_LOG_WARN, "content %llu: deletion left for the next start",
			  (unsigned long long)content_id);
}

/* Deletions the watchdog makes per tick, at most: each may be a large
 * message's every chunk, and the tick's lock expiry and failchk wait for
 * them (the rest waits for the next tick). */
#define STORE_ORPHANS_PER_TICK 8

void store_content_orphans_retry(struct store *s)
{
	for (unsigned done = 0; done < STORE_ORPHANS_PER_TICK; done++) {
		pthread_mutex_lock(&s->pin_mu);
		uint64_t id = 0;
		if (s->norphans > 0) {
			id = s->orphans[0];
			memmove(s->orphans, s->orphans + 1, --s->norphans * sizeof(*s->orphans));
		}
		pthread_mutex_unlock(&s->pin_mu);
		if (id == 0)
			return;
		if (orphan_nowait(s, id) == STORE_ERR_BUSY) {
			if (!orphan_queue(s, id))
				store_log(STORE_LOG_WARN,
					  "content %llu: deletion left for the next start",
					  (unsigned long long)id);
			return;   /* still held: the next tick */
		}
	}
}

struct sweep_arg {
	bool found;
};

/* Finish the first orphan, if any. */
static int sweep_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct sweep_arg *a = arg;
	a->found = false;
	uint8_t key[ORPHAN_KEY_LEN];
	size_t klen = ORPHAN_PREFIX_LEN;
	memcpy(key, ORPHAN_PREFIX, ORPHAN_PREFIX_LEN);
	uint8_t val[8];
	size_t vlen;
	DBC *cur;
	int rc = store_cursor_open(s, txn, SDB_META, &cur);
	if (rc != STORE_OK)
		return rc;
	rc = store_cursor_get(s, cur, key, sizeof(key), &klen, val, sizeof(val), &vlen,
			      DB_SET_RANGE);
	rc = store_cursor_close(s, cur, rc);
	if (rc == STORE_ERR_NOTFOUND)
		return STORE_OK;
	if (rc != STORE_OK)
		return rc;
	if (klen != ORPHAN_KEY_LEN || memcmp(key, ORPHAN_PREFIX, ORPHAN_PREFIX_LEN) != 0)
		return STORE_OK;
	struct orphan_arg o = {.content_id = store_be64_get(key + ORPHAN_PREFIX_LEN)};
	if (store_content_pinned(s, o.content_id))
		return STORE_OK;   /* still being read here: its unpin finishes it */
	a->found = true;
	return orphan_fn(s, txn, &o);
}

int store_content_sweep(struct store *s)
{
	struct sweep_arg a;
	int rc;
	do
		rc = store_txn_run(s, sweep_fn, &a);
	while (rc == STORE_OK && a.found);
	return rc;
}

int store_content_release(struct store *s, DB_TXN *txn, uint64_t content_id)
{
	struct store_content_meta c;
	int rc = meta_read(s, txn, content_id, &c, DB_RMW);
	if (rc == STORE_ERR_NOTFOUND)
		return STORE_OK;   /* nothing left to release; let the expunge proceed */
	if (rc != STORE_OK)
		return rc;
	if (c.refcount > 1) {
		c.refcount--;
		return meta_write(s, txn, content_id, &c);
	}
	if (store_content_doom(s, content_id)) {
		/* Someone is streaming it: keep the bytes, unreferenced, until
		 * store_content_unpin; the orphan record finishes the job at the
		 * next start if this process dies first. */
		c.refcount = 0;
		if ((rc = meta_write(s, txn, content_id, &c)) != STORE_OK)
			return rc;
		uint8_t okey[ORPHAN_KEY_LEN];
		uint8_t zero[8] = {0};
		return store_db_put(s, txn, SDB_META, okey, orphan_key(okey, content_id), zero,
				    sizeof(zero), 0);
	}
	return content_destroy(s, txn, content_id, &c);
}

/* The last reference is gone: the chunks, the record and the structure. */
static int content_destroy(struct store *s, DB_TXN *txn, uint64_t content_id,
			   const struct store_content_meta *cm)
{
	struct store_content_meta c = *cm;
	int rc;
	for (uint32_t i = 0; i < c.chunks; i++) {
		uint8_t key[12];
		rc = store_db_del(s, txn, SDB_CONTENT_DATA, key, chunk_key(key, content_id, i));
		if (rc != STORE_OK && rc != STORE_ERR_NOTFOUND)
			return rc;
	}
	uint8_t key[8];
	if ((rc = store_db_del(s, txn, SDB_CONTENT_META, key, content_key(key, content_id))) !=
	    STORE_OK)
		return rc;
	rc = store_db_del(s, txn, SDB_STRUCTURE, key, content_key(key, content_id));
	if (rc != STORE_OK && rc != STORE_ERR_NOTFOUND)
		return rc;
	return store_meta_add(s, txn, STORE_META_CONTENTS, -1);
}

int store_content_ref(struct store *s, DB_TXN *txn, uint64_t content_id)
{
	struct store_content_meta c;
	int rc = meta_read(s, txn, content_id, &c, DB_RMW);
	if (rc == STORE_ERR_NOTFOUND)
		return STORE_ERR_CORRUPT;   /* a message points at missing content */
	if (rc != STORE_OK)
		return rc;
	if (c.refcount == UINT32_MAX)
		return STORE_ERR_NOQUOTA;
	c.refcount++;
	return meta_write(s, txn, content_id, &c);
}

/* ---- structure ---- */

int store_structure_put(struct store *s, DB_TXN *txn, uint64_t content_id, const void *data,
			size_t len)
{
	if (len == 0 || len > UINT32_MAX)
		return STORE_ERR_INVALID;
	uint8_t key[8];
	return store_db_put(s, txn, SDB_STRUCTURE, key, content_key(key, content_id), data, len, 0);
}

struct structure_arg {
	uint64_t content_id;
	const void *data;
	size_t len;
	void *out;
	size_t out_len;
};

static int structure_get_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct structure_arg *a = arg;
	free(a->out);   /* from an attempt that was retried */
	a->out = NULL;
	uint8_t key[8];
	DBT k, v;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = key;
	k.size = (u_int32_t)content_key(key, a->content_id);
	v.flags = DB_DBT_MALLOC;
	int rc = store_bdb_err(s, s->db[SDB_STRUCTURE]->get(s->db[SDB_STRUCTURE], txn, &k, &v, 0));
	if (rc != STORE_OK)
		return rc;
	a->out = v.data;
	a->out_len = v.size;
	return STORE_OK;
}

int store_content_structure(struct store *s, uint64_t content_id, void **data_r, size_t *len_r)
{
	*data_r = NULL;
	*len_r = 0;
	struct structure_arg a = {.content_id = content_id};
	int rc = store_content_run(s, structure_get_fn, &a);
	if (rc != STORE_OK) {
		free(a.out);
		return rc;
	}
	*data_r = a.out;
	*len_r = a.out_len;
	return STORE_OK;
}

static int structure_set_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct structure_arg *a = arg;
	struct store_content_meta c;
	int rc = meta_read(s, txn, a->content_id, &c, DB_RMW);
	if (rc != STORE_OK)
		return rc;
	return store_structure_put(s, txn, a->content_id, a->data, a->len);
}

int store_content_structure_set(struct store *s, uint64_t content_id, const void *data,
				size_t len)
{
	if (!data || len == 0)
		return STORE_ERR_INVALID;
	struct structure_arg a = {.content_id = content_id, .data = data, .len = len};
	return store_txn_run(s, structure_set_fn, &a);
}

struct read_arg {
	uint64_t content_id, offset;
	struct store_content_meta meta;   /* from store_content_open */
	uint8_t *buf;
	size_t len;
	size_t got;
};

/* Chunk `chunk` of content_id into v: found with DB_SET, or expected as
 * the cursor's next record (DB_NEXT: no descent of the btree per chunk)
 * or its current one (DB_CURRENT).  STORE_ERR_NOTFOUND when it is not
 * there. */
static int chunk_step(struct store *s, DBC *cur, uint64_t content_id, uint32_t chunk,
		      u_int32_t how, DBT *v)
{
	uint8_t expect[12], key[12];
	size_t klen = chunk_key(expect, content_id, chunk);
	memcpy(key, expect, klen);
	DBT k;
	memset(&k, 0, sizeof(k));
	k.data = key;
	k.size = (u_int32_t)klen;
	k.ulen = sizeof(key);
	k.flags = DB_DBT_USERMEM;
	int rc = store_bdb_err(s, cur->get(cur, &k, v, how));
	if (rc == STORE_OK && (k.size != klen || memcmp(key, expect, klen) != 0))
		rc = STORE_ERR_NOTFOUND;
	return rc;
}

/* Chunks at most this long live on leaf pages (a quarter page: longer
 * items go to overflow pages of their own, see STORE_CHUNK_SMALL). */
#define CHUNK_LEAF_MAX ((STORE_CONTENT_PAGESIZE - 26u) / 4u - 10u)

/* From *pos, the leaf-page chunks that follow one another, with one bulk
 * get (DB_MULTIPLE_KEY): a 4 KiB message is five SMALL chunks, and a
 * cursor step for each (page pinned, latched, released) was most of the
 * cost of reading it.  The buffer, one page, holds any leaf item, and
 * never an overflow item (a middle or BIG chunk fills a page or more),
 * so the run stops where the leaf chunks end.  Records of the next
 * contents that came along are ignored.  1, having taken nothing, when
 * the database's pages are larger than the buffer (a store made with
 * other pages): the caller reads the chunk the other way. */
static int read_leaf_run(struct store *s, DBC *cur, struct read_arg *a, size_t want,
			 uint64_t *pos)
{
	const struct store_content_meta *c = &a->meta;
	uint32_t bulk[STORE_CONTENT_PAGESIZE / sizeof(uint32_t)];
	uint32_t chunk, coff, clen;
	store_content_locate(c, *pos, &chunk, &coff, &clen);
	uint8_t key[12], expect[12];
	size_t klen = chunk_key(key, a->content_id, chunk);
	DBT k, v;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = key;
	k.size = (u_int32_t)klen;
	k.ulen = sizeof(key);
	k.flags = DB_DBT_USERMEM;
	v.data = bulk;
	v.ulen = sizeof(bulk);
	v.flags = DB_DBT_USERMEM;
	int brc = cur->get(cur, &k, &v, DB_SET | DB_MULTIPLE_KEY);
	if (brc == DB_BUFFER_SMALL || brc == EINVAL)
		return 1;
	int rc = store_bdb_err(s, brc);
	if (rc == STORE_ERR_NOTFOUND)
		return STORE_ERR_CORRUPT;   /* the meta record promised it */
	if (rc != STORE_OK)
		return rc;
	void *p;
	DB_MULTIPLE_INIT(p, &v);
	while (a->got < want) {
		void *kd, *dd;
		u_int32_t kl, dl;
		DB_MULTIPLE_KEY_NEXT(p, &v, kd, kl, dd, dl);
		if (!p)
			break;   /* the buffer is done: the caller asks again */
		store_content_locate(c, *pos, &chunk, &coff, &clen);
		if (clen > CHUNK_LEAF_MAX)
			break;
		size_t elen = chunk_key(expect, a->content_id, chunk);
		/* the chunk the meta record promised, right after the last */
		if (kl != elen || memcmp(kd, expect, elen) != 0 || dl != clen)
			return STORE_ERR_CORRUPT;
		size_t take = clen - coff;
		if (take > want - a->got)
			take = want - a->got;
		memcpy(a->buf + a->got, (const uint8_t *)dd + coff, take);
		a->got += take;
		*pos += take;
	}
	return STORE_OK;
}

static int read_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct read_arg *a = arg;
	a->got = 0;
	int rc;
	const struct store_content_meta *c = &a->meta;
	if (a->offset >= c->size)
		return STORE_OK;
	uint64_t avail = c->size - a->offset;
	size_t want = avail < a->len ? (size_t)avail : a->len;
	uint64_t pos = a->offset;
	/* One cursor walks the chunks in key order: the first is found with
	 * DB_SET, each next one with DB_NEXT, without descending the btree
	 * again for every (often 997-byte) chunk. */
	DBC *cur;
	if ((rc = store_cursor_open(s, txn, SDB_CONTENT_DATA, &cur)) != STORE_OK)
		return rc;
	bool first = true, bulk = true;
	while (rc == STORE_OK && a->got < want) {
		uint32_t chunk, coff, clen;
		store_content_locate(c, pos, &chunk, &coff, &clen);
		if (clen <= CHUNK_LEAF_MAX && bulk) {
			size_t before = a->got;
			rc = read_leaf_run(s, cur, a, want, &pos);
			first = true;   /* where the bulk get left the cursor: unsaid */
			if (rc == 1) {
				bulk = false;   /* this store's pages: chunk by chunk */
				rc = STORE_OK;
			} else if (rc == STORE_OK && a->got == before) {
				rc = STORE_ERR_CORRUPT;   /* not even the chunk asked for */
			}
			continue;
		}
		size_t take = clen - coff;
		if (take > want - a->got)
			take = want - a->got;
		DBT v;
		memset(&v, 0, sizeof(v));
		v.data = a->buf + a->got;
		v.ulen = (u_int32_t)take;
		v.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL;
		v.doff = coff;
		v.dlen = (u_int32_t)take;
		rc = chunk_step(s, cur, a->content_id, chunk, first ? DB_SET : DB_NEXT, &v);
		first = false;
		/* the meta record promised this chunk, right after the last */
		if (rc == STORE_ERR_NOTFOUND)
			rc = STORE_ERR_CORRUPT;
		else if (rc == STORE_OK && v.size != take)
			rc = STORE_ERR_CORRUPT;   /* chunk shorter than its place implies */
		if (rc != STORE_OK)
			break;
		a->got += take;
		pos += take;
	}
	/* Not waiting for a writer's lock (store_thread_nowait): what was
	 * read before it is a short read, and the caller asks again for the
	 * rest; nothing read is STORE_ERR_BUSY (storage_env.c). */
	if (rc == STORE_ERR_RETRY && a->got > 0 && store_thread_is_nowait())
		rc = STORE_OK;
	return store_cursor_close(s, cur, rc);
}

struct head_arg {
	const uint64_t *ids, *sizes;
	size_t n;
	store_heads_fn *fn;
	void *fn_arg;
	int *status;
	void *chunk;                 /* DB_DBT_REALLOC buffer, kept across retries */
	u_int32_t chunk_cap;
};

/* The leaf items of one bulk get (DB_MULTIPLE_KEY), read in key order:
 * the heads of contents stored one after another are on the same pages,
 * so one get serves several of them, where a get per chunk (a descent of
 * the btree, a page pinned, latched and released, a copy of the cursor)
 * was most of the cost of a header FETCH. */
struct bulk {
	uint32_t buf[STORE_CONTENT_PAGESIZE / sizeof(uint32_t)];
	DBT v;
	void *p;                     /* position in buf; NULL when spent */
	void *kd, *dd;               /* the item looked at, not yet taken */
	u_int32_t kl, dl;
	bool have;
};

/* The chunk whose key is want (12 bytes) from what the last bulk get
 * brought: 1 with its bytes in *d, *dl; 0 when the buffer does not hold
 * it (spent, or it starts past want: the caller gets again). */
static int bulk_take(struct bulk *b, const uint8_t *want, void **d, u_int32_t *dl)
{
	for (;;) {
		if (!b->have) {
			if (!b->p)
				return 0;
			DB_MULTIPLE_KEY_NEXT(b->p, &b->v, b->kd, b->kl, b->dd, b->dl);
			if (!b->p)
				return 0;
			b->have = true;
		}
		int c = memcmp(b->kd, want, b->kl < 12 ? b->kl : 12);
		if (c == 0 && b->kl != 12)
			c = b->kl < 12 ? -1 : 1;
		if (c > 0)
			return 0;   /* a key past it: gone, or never brought */
		b->have = false;
		if (c == 0) {
			*d = b->dd;
			*dl = b->dl;
			return 1;
		}
	}
}

/* Chunk (content_id, chunk) into *d, *dl: from the bulk buffer, else a
 * bulk get from its key (a miss there is NOTFOUND), else, for an item
 * larger than the buffer (an overflow chunk), a get of its own into the
 * caller's DB_DBT_REALLOC buffer *chunk. */
static int head_chunk(struct store *s, DBC *cur, struct bulk *b, struct head_arg *a,
		      uint64_t content_id, uint32_t chunk, void **d, u_int32_t *dl)
{
	uint8_t want[12];
	chunk_key(want, content_id, chunk);
	if (bulk_take(b, want, d, dl))
		return STORE_OK;
	uint8_t key[12];
	memcpy(key, want, sizeof(key));
	DBT k;
	memset(&k, 0, sizeof(k));
	k.data = key;
	k.size = sizeof(key);
	k.ulen = sizeof(key);
	k.flags = DB_DBT_USERMEM;
	memset(&b->v, 0, sizeof(b->v));
	b->v.data = b->buf;
	b->v.ulen = sizeof(b->buf);
	b->v.flags = DB_DBT_USERMEM;
	b->p = NULL;
	b->have = false;
	int brc = cur->get(cur, &k, &b->v, DB_SET | DB_MULTIPLE_KEY);
	if (brc == 0) {
		DB_MULTIPLE_INIT(b->p, &b->v);
		if (bulk_take(b, want, d, dl))
			return STORE_OK;
		b->p = NULL;
		return STORE_ERR_CORRUPT;   /* DB_SET found it: it must come first */
	}
	if (brc != DB_BUFFER_SMALL)
		return store_bdb_err(s, brc);
	DBT v;
	memset(&v, 0, sizeof(v));
	v.data = a->chunk;
	v.size = a->chunk_cap;
	v.flags = DB_DBT_REALLOC;
	int rc = chunk_step(s, cur, content_id, chunk, DB_SET, &v);
	if (v.data) {
		a->chunk = v.data;
		if (v.size > a->chunk_cap)
			a->chunk_cap = v.size;
	}
	*d = v.data;
	*dl = v.size;
	return rc;
}

/* Content ids are never reused and a content's chunks are only ever
 * deleted all together, so a walk that finds the chunks it expects has
 * read this content's bytes; a deletion that comes first or in between
 * shows as a missing key.  The bytes a bulk get brought are committed
 * ones (its page was read under the page's lock), and stay what they were
 * (contents are never rewritten), so later contents of the batch may be
 * taken from them. */
static int head_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct head_arg *a = arg;
	DBC *cur;
	int rc = store_cursor_open(s, txn, SDB_CONTENT_DATA, &cur);
	if (rc != STORE_OK)
		return rc;
	struct bulk *b = malloc(sizeof(*b));
	if (!b)
		return store_cursor_close(s, cur, STORE_ERR_TEMP);
	b->p = NULL;
	b->have = false;
	for (size_t i = 0; i < a->n; i++)
		a->status[i] = 1;   /* not reached */
	bool stop = false;
	for (size_t i = 0; i < a->n && !stop && rc == STORE_OK; i++) {
		uint64_t off = 0;
		int st = STORE_OK;
		for (uint32_t chunk = 0; st == STORE_OK && off < a->sizes[i]; chunk++) {
			void *d = NULL;
			u_int32_t dl = 0;
			/* NOTFOUND: deleted before or under the walk. */
			st = head_chunk(s, cur, b, a, a->ids[i], chunk, &d, &dl);
			if (st != STORE_OK)
				break;
			if (dl == 0 || dl > a->sizes[i] - off) {
				st = STORE_ERR_CORRUPT;   /* not the size its message records */
				break;
			}
			int frc = a->fn(a->fn_arg, i, off, d, dl);
			off += dl;
			if (frc < 0)
				rc = STORE_ERR_TEMP;
			else if (frc == 2)
				stop = true;
			if (frc != 0)
				break;
		}
		if (st == STORE_ERR_NOTFOUND || st == STORE_ERR_CORRUPT)
			a->status[i] = st;
		else if (st == STORE_ERR_RETRY && i > 0 && store_thread_is_nowait())
			stop = true;   /* a held lock, not waited for: the rest later */
		else if (st != STORE_OK)
			rc = st;   /* a lock conflict, a panic: the whole read fails */
		else
			a->status[i] = STORE_OK;
	}
	free(b);
	return store_cursor_close(s, cur, rc);
}

int store_content_heads(struct store *s, const uint64_t *ids, const uint64_t *sizes, size_t n,
			store_heads_fn *fn, void *arg, int *status_r)
{
	struct head_arg a = {.ids = ids, .sizes = sizes, .n = n, .fn = fn, .fn_arg = arg,
			     .status = status_r};
	int rc = n ? store_content_run(s, head_fn, &a) : STORE_OK;
	free(a.chunk);
	return rc;
}

static int read_run(struct store *s, struct read_arg *a, size_t *got_r)
{
	*got_r = 0;
	if (a->len == 0)
		return STORE_OK;
	if (!a->buf)
		return STORE_ERR_INVALID;
	/* An open content is pinned and its bytes never change: its chunks
	 * need no transaction. */
	int rc = store_content_run(s, read_fn, a);
	if (rc == STORE_OK)
		*got_r = a->got;
	return rc;
}

struct wait_arg {
	uint64_t content_id;
	uint32_t first, last;        /* the chunks to touch */
};

/* Steps through chunks first..last taking none of their bytes (a partial
 * get of length 0: a leaf item's page is locked and read, an overflow
 * chunk's own pages are not), so each leaf page a reader found held is
 * waited for, and nothing more is read. */
static int wait_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct wait_arg *a = arg;
	DBC *cur;
	int rc = store_cursor_open(s, txn, SDB_CONTENT_DATA, &cur);
	if (rc != STORE_OK)
		return rc;
	for (uint32_t chunk = a->first; rc == STORE_OK && chunk <= a->last; chunk++) {
		uint8_t none;
		DBT v;
		memset(&v, 0, sizeof(v));
		v.data = &none;
		v.ulen = sizeof(none);
		v.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL;
		rc = chunk_step(s, cur, a->content_id, chunk, chunk == a->first ? DB_SET : DB_NEXT,
				&v);
	}
	return store_cursor_close(s, cur, rc);
}

int store_content_wait(struct store *s, uint64_t content_id, uint64_t offset, size_t len)
{
	struct store_content c;
	void *structure;
	size_t slen;
	int rc = store_content_open(s, content_id, &c, &structure, &slen);
	if (rc != STORE_OK)
		return rc;
	free(structure);
	if (len && offset < c.size) {
		struct store_content_meta m = {.size = c.size, .big = c.layout_big,
					       .small = c.layout_small, .page = c.layout_page};
		uint64_t end = len < c.size - offset ? offset + len : c.size;
		struct wait_arg a = {.content_id = content_id};
		uint32_t coff, clen;
		store_content_locate(&m, offset, &a.first, &coff, &clen);
		store_content_locate(&m, end - 1, &a.last, &coff, &clen);
		rc = store_content_run(s, wait_fn, &a);
		if (rc == STORE_ERR_NOTFOUND)
			rc = STORE_ERR_CORRUPT;   /* the meta record promised them */
	}
	store_content_close(s, &c);
	return rc;
}

int store_content_read(struct store *s, uint64_t content_id, uint64_t offset, void *buf,
		       size_t len, size_t *got_r)
{
	/* Pinned for the read, so that a deletion cannot come between the
	 * record and the chunks (store_content_open). */
	*got_r = 0;
	struct store_content c;
	int rc = store_content_open(s, content_id, &c, NULL, NULL);
	if (rc != STORE_OK)
		return rc;
	rc = store_content_pread(s, &c, offset, buf, len, got_r);
	store_content_close(s, &c);
	return rc;
}

int store_content_pread(struct store *s, const struct store_content *c, uint64_t offset,
			void *buf, size_t len, size_t *got_r)
{
	if (c->id == 0)
		return STORE_ERR_INVALID;
	struct read_arg a = {.content_id = c->id, .offset = offset, .buf = buf, .len = len,
			     .meta = {.size = c->size, .big = c->layout_big,
				      .small = c->layout_small, .page = c->layout_page}};
	a.meta.chunks = (uint32_t)store_content_chunks(&a.meta);
	return read_run(s, &a, got_r);
}
