/* smtp/smtp_dkim.h: DKIM signing of outgoing mail (RFC 6376) with the
 * domain's keys from DATA/dkim/: rsa-sha256 and ed25519-sha256 (RFC 8463),
 * relaxed/relaxed, one signature per key of the domain.  Also the
 * `postino dkim keygen|list` command.
 *
 * Key files: DATA/dkim/DOMAIN.SELECTOR.key, a PEM private key (RSA of at
 * least 1024 bits, or Ed25519), mode 0600 (a key others can read is
 * refused).  The selector is one DNS label (letters, digits, '-'), so the
 * file name splits at its last dot. */
#ifndef POSTINO_SMTP_DKIM_H
#define POSTINO_SMTP_DKIM_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"

struct config;

enum smtp_dkim_rc {
	SMTP_DKIM_OK = 0,
	SMTP_DKIM_NOKEY = 1,   /* no key for that domain: send unsigned */
	SMTP_DKIM_EREAD = -1,  /* the read callback failed */
	SMTP_DKIM_ETOOBIG = -2, /* the signed header fields exceed 256 KiB (or 256 fields) */
	SMTP_DKIM_ECRYPTO = -3, /* OpenSSL failed (out of memory) */
};

/* The keys of every domain, immutable once loaded: any thread may sign
 * with them at once. */
struct smtp_dkim_keys;

/* Loads every DATA/dkim/DOMAIN.SELECTOR.key.  No directory means no keys
 * (not an error).  A file that is not a usable key fails the whole load with a
 * one-line reason in err, so a broken key is noticed at start instead of
 * mail silently going out unsigned.  0 or -1. */
int smtp_dkim_keys_load(const char *data_dir, struct smtp_dkim_keys **keys_r, char *err,
			size_t errlen);
/* Drops this holder's reference (the set is freed with the last) and
 * clears *keys. */
void smtp_dkim_keys_free(struct smtp_dkim_keys **keys);
/* How many keys `domain` (case-insensitive) has, or the set holds in all
 * (domain NULL); 0 for none or NULL keys. */
size_t smtp_dkim_keys_count(const struct smtp_dkim_keys *keys, const char *domain);

/* The set the daemon signs with.  smtp_dkim_active_load reads DATA/dkim/
 * (none when smtp.dkim_sign is false) and puts it in force, at start and on
 * SIGHUP; on failure the set in force stays.  smtp_dkim_active_get gives
 * the set in force, referenced (NULL: no signing), to be released with
 * smtp_dkim_keys_free after signing; a reload meanwhile does not free it
 * under its holder.  Any thread. */
int smtp_dkim_active_load(const struct config *cfg, size_t *nkeys_r, char *err, size_t errlen);
struct smtp_dkim_keys *smtp_dkim_active_get(void);
/* At exit: drops the set in force. */
void smtp_dkim_active_clear(void);

/* Reads the message from byte `off` into buf (at most cap bytes); *got 0 at
 * its end.  0, or -1 on error. */
typedef int (*smtp_dkim_read_fn)(void *arg, uint64_t off, void *buf, size_t cap, size_t *got);

/* Signs the message read through `read` (in chunks; never held whole) with
 * each key of `domain`, timestamp t= `now`.  On SMTP_DKIM_OK, appends to
 * header_r the DKIM-Signature field(s), each folded under 78 characters
 * and ending in CRLF, to be put before the message as it is sent.  `read`
 * must give exactly the bytes that follow them on the wire (offset 0 is
 * the first byte after the signatures: no Return-Path, no dot-stuffing;
 * a bare LF counts as CRLF, as the client sends it).  On any other result
 * header_r is unchanged: NOKEY reads nothing, the errors mean "send it
 * unsigned or retry", the caller's choice.  The caller picks `domain`
 * (the From: domain of mail its local users submitted). */
int smtp_dkim_sign(const struct smtp_dkim_keys *keys, const char *domain, time_t now,
		   smtp_dkim_read_fn read, void *arg, struct buf *header_r);

/* `postino dkim keygen DOMAIN [SELECTOR] [--type rsa|ed25519]` and
 * `postino dkim list`: argv[0] is "dkim".  type is "rsa", "ed25519" or
 * NULL (rsa).  Returns the exit status. */
int smtp_dkim_admin(const struct config *cfg, const char *type, int argc, char **argv);

#endif
