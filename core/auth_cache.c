/* core/auth_cache.c: verified credentials, so that a returning client's
 * login does not pay for yescrypt again (issue 11 point 2; Dovecot's auth
 * cache does the same).
 *
 * An entry says "this password was verified against this stored hash".  Its
 * key is an HMAC-SHA-256, under a random key made at start, of the user's
 * address and the password; beside it is a digest of the stored hash it was
 * checked against.  A hit needs all three to match, and the entry to be
 * younger than the TTL.  So the cache never holds a password or a fast
 * unsalted hash of one, and needs no invalidation message: `postino user
 * passwd` (from any process) changes the stored hash, so old entries stop
 * matching, and `user del` makes the user lookup that comes first fail.
 * Only successes are cached: a wrong password always goes through the full
 * hash and the failure delay.
 *
 * Bounded: a fixed table of 4-way sets; a new entry replaces an expired or
 * the oldest one of its set.  One mutex: lookups are rare next to the
 * yescrypt they save, and may come from several threads. */
#include "core/auth_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define AUTH_CACHE_WAYS 4

struct auth_cache_entry {
	uint8_t key[32];      /* HMAC(secret, address NUL password) */
	uint8_t stored[16];   /* SHA-256(stored hash), first half */
	int64_t expires;      /* monotonic seconds; 0: empty */
	int64_t added;
};

struct auth_cache {
	pthread_mutex_t mu;
	uint8_t secret[32];
	EVP_MAC *mac;                 /* HMAC, fetched once */
	unsigned ttl;
	size_t nsets;
	int64_t (*now)(void);
	struct auth_cache_entry *e;   /* nsets * AUTH_CACHE_WAYS */
};

static int64_t auth_cache_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

struct auth_cache *auth_cache_new(size_t entries, unsigned ttl_s)
{
	if (entries == 0 || ttl_s == 0)
		return NULL;
	struct auth_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->nsets = (entries + AUTH_CACHE_WAYS - 1) / AUTH_CACHE_WAYS;
	c->e = calloc(c->nsets * AUTH_CACHE_WAYS, sizeof(*c->e));
	c->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!c->e || !c->mac || RAND_bytes(c->secret, sizeof(c->secret)) != 1) {
		EVP_MAC_free(c->mac);
		free(c->e);
		free(c);
		return NULL;
	}
	c->ttl = ttl_s;
	c->now = auth_cache_clock;
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

void auth_cache_free(struct auth_cache **cp)
{
	struct auth_cache *c = *cp;
	if (!c)
		return;
	*cp = NULL;
	pthread_mutex_destroy(&c->mu);
	OPENSSL_cleanse(c->e, c->nsets * AUTH_CACHE_WAYS * sizeof(*c->e));
	OPENSSL_cleanse(c->secret, sizeof(c->secret));
	EVP_MAC_free(c->mac);
	free(c->e);
	free(c);
}

void auth_cache_set_clock(struct auth_cache *c, int64_t (*now)(void))
{
	c->now = now ? now : auth_cache_clock;
}

/* The entry's key and the digest of the stored hash; false on failure. */
static bool auth_cache_digest(const struct auth_cache *c, const char *address,
			      const char *password, const char *stored_hash,
			      uint8_t key[32], uint8_t stored[16])
{
	bool ok = false;
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(c->mac);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	size_t outl = 0;
	if (ctx && EVP_MAC_init(ctx, c->secret, sizeof(c->secret), params) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)address, strlen(address) + 1) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)password, strlen(password)) == 1 &&
	    EVP_MAC_final(ctx, key, &outl, 32) == 1 && outl == 32) {
		uint8_t full[SHA256_DIGEST_LENGTH];
		SHA256((const unsigned char *)stored_hash, strlen(stored_hash), full);
		memcpy(stored, full, 16);
		ok = true;
	}
	EVP_MAC_CTX_free(ctx);
	return ok;
}

static struct auth_cache_entry *auth_cache_set(struct auth_cache *c, const uint8_t key[32])
{
	uint64_t h;
	memcpy(&h, key, sizeof(h));
	return &c->e[(h % c->nsets) * AUTH_CACHE_WAYS];
}

bool auth_cache_hit(struct auth_cache *c, const char *address, const char *password,
		    const char *stored_hash)
{
	if (!c || !stored_hash || !stored_hash[0])
		return false;
	uint8_t key[32], stored[16];
	if (!auth_cache_digest(c, address, password, stored_hash, key, stored))
		return false;
	bool hit = false;
	pthread_mutex_lock(&c->mu);
	int64_t now = c->now();
	struct auth_cache_entry *set = auth_cache_set(c, key);
	for (int i = 0; i < AUTH_CACHE_WAYS; i++) {
		struct auth_cache_entry *e = &set[i];
		if (e->expires == 0 || CRYPTO_memcmp(e->key, key, sizeof(key)) != 0)
			continue;
		if (e->expires > now && CRYPTO_memcmp(e->stored, stored, sizeof(stored)) == 0)
			hit = true;
		else
			memset(e, 0, sizeof(*e));   /* expired, or the password changed */
		break;
	}
	pthread_mutex_unlock(&c->mu);
	OPENSSL_cleanse(key, sizeof(key));
	return hit;
}

void auth_cache_add(struct auth_cache *c, const char *address, const char *password,
		    const char *stored_hash)
{
	if (!c || !stored_hash || !stored_hash[0])
		return;
	uint8_t key[32], stored[16];
	if (!auth_cache_digest(c, address, password, stored_hash, key, stored))
		return;
	pthread_mutex_lock(&c->mu);
	int64_t now = c->now();
	struct auth_cache_entry *set = auth_cache_set(c, key), *slot = NULL;
	for (int i = 0; i < AUTH_CACHE_WAYS && !slot; i++)
		if (set[i].expires != 0 && CRYPTO_memcmp(set[i].key, key, sizeof(key)) == 0)
			slot = &set[i];
	for (int i = 0; i < AUTH_CACHE_WAYS && !slot; i++)
		if (set[i].expires <= now)   /* empty (0) or expired */
			slot = &set[i];
	if (!slot) {
		slot = &set[0];
		for (int i = 1; i < AUTH_CACHE_WAYS; i++)
			if (set[i].added < slot->added)
				slot = &set[i];
	}
	memcpy(slot->key, key, sizeof(key));
	memcpy(slot->stored, stored, sizeof(stored));
	slot->added = now;
	slot->expires = now + (int64_t)c->ttl;
	pthread_mutex_unlock(&c->mu);
	OPENSSL_cleanse(key, sizeof(key));
}

size_t auth_cache_count(struct auth_cache *c)
{
	if (!c)
		return 0;
	size_t n = 0;
	pthread_mutex_lock(&c->mu);
	int64_t now = c->now();
	for (size_t i = 0; i < c->nsets * AUTH_CACHE_WAYS; i++)
		n += c->e[i].expires > now;
	pthread_mutex_unlock(&c->mu);
	return n;
}
