/* core/throttle.c: the failure table behind the login delay (see
 * core/throttle.h): a chained hash table of keyed-hash identities with a
 * list ordered by last failure, oldest first out, and the login policy on
 * top of it. */
#include "core/throttle.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Longer keys are cut here: no user name or address is this long, and
 * two names that agree on their first 512 bytes may share a count. */
#define KEY_MAX 512

struct entry {
	struct entry *hnext;            /* bucket chain */
	struct entry *older, *newer;    /* by last failure */
	uint64_t id;                    /* SipHash of kind and lower-cased key */
	time_t last;                    /* last failure */
	unsigned count;
};

struct throttle {
	/* Every event loop's logins share the table. */
	pthread_mutex_t mu;
	struct entry **buckets;
	size_t mask;                    /* buckets - 1, a power of two minus one */
	size_t n, max;
	unsigned forget;
	struct entry *oldest, *newest;
	uint64_t k0, k1;                /* the hash key */
};

/* ---- SipHash-2-4 (Aumasson and Bernstein, 2012) ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                             \
	do {                                                                 \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);   \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                       \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                       \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);   \
	} while (0)

static uint64_t siphash(uint64_t k0, uint64_t k1, const unsigned char *in, size_t len)
{
	uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
	uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
	size_t whole = len - len % 8;
	for (size_t i = 0; i < whole; i += 8) {
		uint64_t m = 0;
		for (int j = 7; j >= 0; j--)
			m = (m << 8) | in[i + (size_t)j];
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	uint64_t b = (uint64_t)len << 56;
	for (size_t j = 0; j < len % 8; j++)
		b |= (uint64_t)in[whole + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t key_id(const struct throttle *t, enum throttle_kind kind, const char *key)
{
	unsigned char in[1 + KEY_MAX];
	size_t len = 0;
	in[len++] = (unsigned char)kind;
	for (const char *p = key; *p && len < sizeof(in); p++) {
		unsigned char ch = (unsigned char)*p;
		/* ASCII only: the C locale's tolower, whatever the process's. */
		in[len++] = ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch + ('a' - 'A')) : ch;
	}
	return siphash(t->k0, t->k1, in, len);
}

/* ---- the table ---- */

struct throttle *throttle_new(size_t max_entries, unsigned forget_seconds)
{
	if (max_entries == 0)
		max_entries = THROTTLE_MAX_ENTRIES;
	size_t nb = 16;
	while (nb < max_entries && nb <= SIZE_MAX / 2 / sizeof(struct entry *))
		nb *= 2;
	struct throttle *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->buckets = calloc(nb, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->mu, NULL);
	t->mask = nb - 1;
	t->max = max_entries;
	t->forget = forget_seconds;
	uint64_t k[2];
	if (getrandom(k, sizeof(k), 0) != (ssize_t)sizeof(k)) {
		/* No entropy yet (early boot): still a key nobody can read. */
		k[0] = (uint64_t)(uintptr_t)t ^ (uint64_t)time(NULL);
		k[1] = (uint64_t)(uintptr_t)t->buckets * 0x9e3779b97f4a7c15ull;
	}
	t->k0 = k[0];
	t->k1 = k[1];
	return t;
}

static void lru_unlink(struct throttle *t, struct entry *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	e->older = e->newer = NULL;
}

static void lru_push_newest(struct throttle *t, struct entry *e)
{
	e->older = t->newest;
	e->newer = NULL;
	if (t->newest)
		t->newest->newer = e;
	else
		t->oldest = e;
	t->newest = e;
}

static struct entry *find(const struct throttle *t, uint64_t id)
{
	for (struct entry *e = t->buckets[id & t->mask]; e; e = e->hnext)
		if (e->id == id)
			return e;
	return NULL;
}

static void remove_entry(struct throttle *t, struct entry *e)
{
	struct entry **pp = &t->buckets[e->id & t->mask];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	lru_unlink(t, e);
	free(e);
	t->n--;
}

/* A clock that went backwards (only tests move it so) never expires. */
static bool expired(const struct throttle *t, const struct entry *e, time_t now)
{
	return now > e->last && (uint64_t)(now - e->last) >= t->forget;
}

void throttle_free(struct throttle **tp)
{
	struct throttle *t = *tp;
	if (!t)
		return;
	while (t->oldest)
		remove_entry(t, t->oldest);
	free(t->buckets);
	pthread_mutex_destroy(&t->mu);
	free(t);
	*tp = NULL;
}

static unsigned throttle_fail_locked(struct throttle *t, enum throttle_kind kind, const char *key,
				     time_t now)
{
	/* The list is in order of last failure: what is forgotten sits at
	 * the old end, and goes before anything else is looked at. */
	while (t->oldest && expired(t, t->oldest, now))
		remove_entry(t, t->oldest);
	uint64_t id = key_id(t, kind, key);
	struct entry *e = find(t, id);
	if (e && expired(t, e, now)) {
		remove_entry(t, e);
		e = NULL;
	}
	if (!e) {
		if (t->n >= t->max && t->oldest)
			remove_entry(t, t->oldest);
		e = calloc(1, sizeof(*e));
		if (!e)
			return 1;   /* out of memory: this one failure still counts */
		e->id = id;
		e->hnext = t->buckets[id & t->mask];
		t->buckets[id & t->mask] = e;
		t->n++;
	} else {
		lru_unlink(t, e);
	}
	if (e->count < UINT32_MAX)
		e->count++;
	e->last = now;
	lru_push_newest(t, e);
	return e->count;
}

static unsigned throttle_count_locked(struct throttle *t, enum throttle_kind kind,
				      const char *key, time_t now)
{
	struct entry *e = find(t, key_id(t, kind, key));
	if (!e)
		return 0;
	if (expired(t, e, now)) {
		remove_entry(t, e);
		return 0;
	}
	return e->count;
}

unsigned throttle_fail(struct throttle *t, enum throttle_kind kind, const char *key, time_t now)
{
	pthread_mutex_lock(&t->mu);
	unsigned n = throttle_fail_locked(t, kind, key, now);
	pthread_mutex_unlock(&t->mu);
	return n;
}

unsigned throttle_count(struct throttle *t, enum throttle_kind kind, const char *key, time_t now)
{
	pthread_mutex_lock(&t->mu);
	unsigned n = throttle_count_locked(t, kind, key, now);
	pthread_mutex_unlock(&t->mu);
	return n;
}

void throttle_clear(struct throttle *t, enum throttle_kind kind, const char *key)
{
	pthread_mutex_lock(&t->mu);
	struct entry *e = find(t, key_id(t, kind, key));
	if (e)
		remove_entry(t, e);
	pthread_mutex_unlock(&t->mu);
}

size_t throttle_size(struct throttle *t)
{
	pthread_mutex_lock(&t->mu);
	size_t n = t->n;
	pthread_mutex_unlock(&t->mu);
	return n;
}

/* ---- the login policy ---- */

static unsigned max_u(unsigned a, unsigned b)
{
	return a > b ? a : b;
}

unsigned throttle_login_failed(struct throttle *t, const char *ip, const char *user, time_t now)
{
	unsigned n = 0;
	if (ip && ip[0])
		n = throttle_fail(t, THROTTLE_IP, ip, now);
	/* No name yet (a SASL exchange that failed before giving one): all
	 * such failures would share one count and slow strangers down. */
	if (user && user[0])
		n = max_u(n, throttle_fail(t, THROTTLE_USER, user, now));
	return n;
}

unsigned throttle_login_failures(struct throttle *t, const char *ip, const char *user, time_t now)
{
	unsigned n = 0;
	if (ip && ip[0])
		n = throttle_count(t, THROTTLE_IP, ip, now);
	if (user && user[0])
		n = max_u(n, throttle_count(t, THROTTLE_USER, user, now));
	return n;
}

void throttle_login_ok(struct throttle *t, const char *user)
{
	if (user && user[0])
		throttle_clear(t, THROTTLE_USER, user);
}

void throttle_ip_key(const char *addr, char *out, size_t outlen)
{
	if (outlen == 0)
		return;
	struct in6_addr a6;
	char text[INET6_ADDRSTRLEN];
	if (inet_pton(AF_INET6, addr, &a6) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a6)) {
			/* The IPv4 address it carries, as an IPv4 peer would be. */
			if (inet_ntop(AF_INET, &a6.s6_addr[12], text, sizeof(text))) {
				snprintf(out, outlen, "%s", text);
				return;
			}
		} else {
			memset(&a6.s6_addr[8], 0, 8);
			if (inet_ntop(AF_INET6, &a6, text, sizeof(text))) {
				snprintf(out, outlen, "%s/64", text);
				return;
			}
		}
	}
	snprintf(out, outlen, "%s", addr);
}

unsigned throttle_delay_ms(unsigned n, unsigned base_ms, unsigned max_ms)
{
	if (n == 0 || base_ms == 0)
		return 0;
	uint64_t d = base_ms;
	for (unsigned i = 1; i < n && d < max_ms; i++)
		d *= 2;
	return d > max_ms ? max_ms : (unsigned)d;
}
