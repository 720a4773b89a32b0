/* core/auth_cache.h: verified credentials (core/auth_cache.c). */
#ifndef POSTINO_AUTH_CACHE_H
#define POSTINO_AUTH_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct auth_cache;

/* About `entries` entries, each good for ttl_s seconds; NULL when either is
 * 0 (no cache: every auth_cache_* call accepts NULL) or out of memory. */
struct auth_cache *auth_cache_new(size_t entries, unsigned ttl_s);
void auth_cache_free(struct auth_cache **c);
/* Tests: a clock in seconds (NULL: CLOCK_MONOTONIC). */
void auth_cache_set_clock(struct auth_cache *c, int64_t (*now)(void));

/* Was `password` verified for `address` against exactly `stored_hash`,
 * less than the TTL ago? */
bool auth_cache_hit(struct auth_cache *c, const char *address, const char *password,
		    const char *stored_hash);
/* Remember a successful verification. */
void auth_cache_add(struct auth_cache *c, const char *address, const char *password,
		    const char *stored_hash);
/* Live entries (tests, statistics). */
size_t auth_cache_count(struct auth_cache *c);

#endif
