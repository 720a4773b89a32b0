/* core/throttle.h: recent authentication failures per peer address and per
 * user name, behind the login delay that grows with each one (core/auth.h).
 *
 * A bounded table: at most `max_entries` keys, the one whose last failure
 * is oldest evicted first, so an attacker who invents names or addresses
 * cannot make it grow -- at worst he evicts an entry, which only makes
 * somebody's next delay shorter.  A key with no failure for `forget`
 * seconds starts from zero again.  Keys are identified by a keyed hash
 * (SipHash-2-4 with a random per-table key), so a client cannot choose
 * names that pile up in one bucket.
 *
 * Single-threaded (the event loop) and free of I/O: the clock is passed
 * in (seconds, any monotonic origin), so tests can move it. */
#ifndef POSTINO_THROTTLE_H
#define POSTINO_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The server's table: enough for a busy server's failing users and
 * addresses, bounded at a few megabytes. */
#define THROTTLE_MAX_ENTRIES 65536
/* 15 minutes without a failure and a key is forgotten. */
#define THROTTLE_FORGET 900
/* Text form of an address or "a.b.c.d/n" prefix key, NUL included. */
#define THROTTLE_IP_KEY_MAX 64

struct throttle;

/* Kinds keep an address and a user name of the same spelling apart. */
enum throttle_kind { THROTTLE_IP = 1, THROTTLE_USER = 2 };

/* NULL when out of memory.  max_entries 0 means THROTTLE_MAX_ENTRIES. */
struct throttle *throttle_new(size_t max_entries, unsigned forget_seconds);
void throttle_free(struct throttle **t);

/* Count one failure for key (ASCII case-insensitive); returns the count
 * now (at least 1). */
unsigned throttle_fail(struct throttle *t, enum throttle_kind kind, const char *key, time_t now);
/* Recent failures for key: 0 when none, or forgotten. */
unsigned throttle_count(struct throttle *t, enum throttle_kind kind, const char *key, time_t now);
void throttle_clear(struct throttle *t, enum throttle_kind kind, const char *key);
/* Keys held (expired ones may linger until evicted). */
size_t throttle_size(struct throttle *t);

/* The login policy on top (core/auth.c).  `ip` is the peer's key from
 * throttle_ip_key, or NULL when the peer does not count per address (a
 * loopback proxy speaks for many users); `user` as the client gave it.
 * A failure counts for both and returns max(ip count, user count), the n
 * of the delay; a success forgets the user's failures, not the address's. */
unsigned throttle_login_failed(struct throttle *t, const char *ip, const char *user, time_t now);
unsigned throttle_login_failures(struct throttle *t, const char *ip, const char *user, time_t now);
void throttle_login_ok(struct throttle *t, const char *user);

/* The key an address counts under: IPv4 (and IPv4-mapped IPv6) as is, IPv6
 * by its /64 prefix ("2001:db8:1:2::/64"), since one host is given a whole
 * /64 to pick addresses from.  Anything unparsable is used verbatim
 * (truncated).  Writes at most outlen bytes, NUL-terminated. */
void throttle_ip_key(const char *addr, char *out, size_t outlen);

/* min(max_ms, base_ms * 2^(n-1)) for n failures; 0 for none. */
unsigned throttle_delay_ms(unsigned n, unsigned base_ms, unsigned max_ms);

#endif
