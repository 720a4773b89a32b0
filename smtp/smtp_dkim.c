/* smtp/smtp_dkim.c: the DKIM signer (RFC 6376 5); the keys it signs with
 * are smtp_dkim_keys.c's.  The message streams through smtp_dkim_canon.c once: the fields
 * to sign are kept, the body is hashed as it goes; then each key of the
 * domain signs its own DKIM-Signature header over the same fields.
 *
 * Why here and not in core/ with the MIME parser: signing needs none of the
 * MIME structure (only raw header fields and the body's bytes), it is done
 * only for outbound mail, which smtp/ owns, and it is a pure function of
 * the message bytes and a key, called by the queue runner. */
#include "smtp/smtp_dkim.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "smtp/smtp_dkim_canon.h"
#include "smtp/smtp_dkim_private.h"

/* The fields we sign (RFC 6376 5.4.1's list of those that carry the
 * message's meaning).  Every instance present is signed; "from" once more
 * than it occurs (oversigning, common practice): a verifier then fails the
 * signature if anyone adds a From field, which 5.4.2 explains. */
static const char *const sign_names[] = {
	"from", "to", "cc", "subject", "date", "message-id", "reply-to", "in-reply-to",
	"references", "mime-version", "content-type", "content-transfer-encoding", "sender",
};
#define NSIGN_NAMES (sizeof(sign_names) / sizeof(sign_names[0]))

#define KEPT_MAX (256 * 1024)
#define FOLD_COL 76 /* lines stay under 78 characters with their CRLF */

/* ---- the signature header ---- */

struct fold {
	struct buf *b;
	size_t col;
	int err;
};

/* Appends s; first a fold (CRLF TAB) if it would pass FOLD_COL, else a
 * space when `space`.  Folds go only where RFC 6376 3.5 allows FWS. */
static void fold_put(struct fold *f, const char *s, size_t n, bool space)
{
	if (f->col + (space ? 1 : 0) + n > FOLD_COL) {
		f->err |= buf_append(f->b, "\r\n\t", 3);
		f->col = 1;
	} else if (space) {
		f->err |= buf_putc(f->b, ' ');
		f->col++;
	}
	f->err |= buf_append(f->b, s, n);
	f->col += n;
}

/* A tag that a base64 value follows ("bh=", "b="): placed where at least
 * a stretch of its value still fits on the line, so the value starts right
 * after the "=" with no FWS: what a verifier strips of b= is then exactly
 * what was appended after signing. */
static void fold_tag(struct fold *f, const char *tag)
{
	size_t tl = strlen(tag);
	if (f->col + 1 + tl + 8 > FOLD_COL) {
		f->err |= buf_append(f->b, "\r\n\t", 3);
		f->col = 1;
		fold_put(f, tag, tl, false);
	} else {
		fold_put(f, tag, tl, true);
	}
}

/* A base64 value, folded wherever a line is full (3.5: base64string allows
 * FWS between any two characters). */
static void fold_b64(struct fold *f, const char *v)
{
	size_t n = strlen(v);
	while (n) {
		size_t room = f->col < FOLD_COL ? FOLD_COL - f->col : 0;
		if (room == 0) {
			f->err |= buf_append(f->b, "\r\n\t", 3);
			f->col = 1;
			continue;
		}
		size_t take = n < room ? n : room;
		f->err |= buf_append(f->b, v, take);
		f->col += take;
		v += take;
		n -= take;
	}
}

static int b64(const unsigned char *p, size_t n, char *out, size_t cap)
{
	if (cap < 4 * ((n + 2) / 3) + 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return 0;
}

/* The body hash: canonicalized output goes straight into SHA-256. */
static void body_hash_out(void *arg, const void *p, size_t n)
{
	EVP_DigestUpdate(arg, p, n);
}

struct signed_fields {
	struct buf data;   /* canonical fields, each with CRLF, in h= order */
	unsigned h_count[NSIGN_NAMES];
};

/* Every kept instance of each name, the last first (5.4.2: a verifier
 * takes instances from the bottom up), then the extra "from". */
static int fields_gather(const struct smtp_dkim_headers *h, struct signed_fields *s)
{
	for (unsigned j = 0; j < NSIGN_NAMES; j++) {
		for (unsigned i = h->nfields; i-- > 0;) {
			const struct smtp_dkim_field *fl = &h->fields[i];
			if (fl->name != j)
				continue;
			if (smtp_dkim_header_canon(h->kept.data + fl->off, fl->len, true, &s->data) < 0)
				return -1;
			s->h_count[j]++;
		}
	}
	s->h_count[0]++; /* "from" oversigned */
	return 0;
}

/* Builds, hashes and signs one DKIM-Signature with key k; appends it. */
static int sign_one(const struct smtp_dkim_key *k, time_t now, const char *bh,
		    const struct signed_fields *s, struct buf *out)
{
	bool ed = EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_ED25519;
	struct buf hdr;
	buf_init(&hdr, 0);
	struct fold f = {.b = &hdr, .col = 0};
	char t[300];
	fold_put(&f, "DKIM-Signature:", 15, false);
	fold_put(&f, "v=1;", 4, true);
	snprintf(t, sizeof(t), "a=%s;", ed ? "ed25519-sha256" : "rsa-sha256");
	fold_put(&f, t, strlen(t), true);
	fold_put(&f, "c=relaxed/relaxed;", 18, true);
	snprintf(t, sizeof(t), "d=%s;", k->domain);
	fold_put(&f, t, strlen(t), true);
	snprintf(t, sizeof(t), "s=%s;", k->selector);
	fold_put(&f, t, strlen(t), true);
	snprintf(t, sizeof(t), "t=%lld;", (long long)now);
	fold_put(&f, t, strlen(t), true);
	/* h=: folds only around the colons (3.5 sig-h-tag). */
	bool first = true;
	for (unsigned j = 0; j < NSIGN_NAMES; j++) {
		for (unsigned i = 0; i < s->h_count[j]; i++) {
			snprintf(t, sizeof(t), "%s%s", first ? "h=" : ":", sign_names[j]);
			fold_put(&f, t, strlen(t), first);
			first = false;
		}
	}
	fold_put(&f, ";", 1, false);
	fold_tag(&f, "bh=");
	fold_b64(&f, bh);
	fold_put(&f, ";", 1, false);
	/* b= last and empty: this is what is signed (3.7); the value is then
	 * appended after it, which a verifier removes again. */
	fold_tag(&f, "b=");

	int rc = SMTP_DKIM_ECRYPTO;
	struct buf canon;
	buf_init(&canon, 0);
	unsigned char hh[EVP_MAX_MD_SIZE], sig[1024];
	unsigned hl = 0;
	size_t sl = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	char sig64[1400];
	if (f.err || !md || smtp_dkim_header_canon(hdr.data, hdr.len, false, &canon) < 0)
		goto out;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, s->data.data ? s->data.data : "", s->data.len) != 1 ||
	    EVP_DigestUpdate(md, canon.data, canon.len) != 1 ||
	    EVP_DigestFinal_ex(md, hh, &hl) != 1)
		goto out;
	if (ed) {
		/* RFC 8463 3: PureEdDSA over the SHA-256 hash of the header
		 * data, not over the data itself. */
		if (EVP_MD_CTX_reset(md) != 1 ||
		    EVP_DigestSignInit(md, NULL, NULL, NULL, k->pkey) != 1 ||
		    EVP_DigestSign(md, sig, &sl, hh, hl) != 1)
			goto out;
	} else {
		/* RSASSA-PKCS1-v1_5 with SHA-256 (RFC 6376 3.3.1). */
		pc = EVP_PKEY_CTX_new(k->pkey, NULL);
		if (!pc || EVP_PKEY_sign_init(pc) != 1 ||
		    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) != 1 ||
		    EVP_PKEY_sign(pc, sig, &sl, hh, hl) != 1)
			goto out;
	}
	if (b64(sig, sl, sig64, sizeof(sig64)) < 0)
		goto out;
	fold_b64(&f, sig64);
	f.err |= buf_append(&hdr, "\r\n", 2);
	if (!f.err && buf_append(out, hdr.data, hdr.len) == 0)
		rc = SMTP_DKIM_OK;
out:
	EVP_PKEY_CTX_free(pc);
	EVP_MD_CTX_free(md);
	buf_free(&canon);
	buf_free(&hdr);
	return rc;
}

int smtp_dkim_sign(const struct smtp_dkim_keys *keys, const char *domain, time_t now,
		   smtp_dkim_read_fn read, void *arg, struct buf *header_r)
{
	if (smtp_dkim_keys_count(keys, domain) == 0)
		return SMTP_DKIM_NOKEY;
	int rc = SMTP_DKIM_ECRYPTO;
	size_t start = header_r->len; /* all signatures or none */
	struct smtp_dkim_headers *h = malloc(sizeof(*h));
	struct smtp_dkim_body *body = malloc(sizeof(*body));
	char *chunk = malloc(16384);
	EVP_MD_CTX *bmd = EVP_MD_CTX_new();
	struct signed_fields s = {0};
	buf_init(&s.data, 0);
	if (!h || !body || !chunk || !bmd) {
		free(h);
		h = NULL;
		goto out;
	}
	smtp_dkim_headers_init(h, sign_names, NSIGN_NAMES, KEPT_MAX);
	smtp_dkim_body_init(body, body_hash_out, bmd);
	if (EVP_DigestInit_ex(bmd, EVP_sha256(), NULL) != 1)
		goto out;
	uint64_t off = 0;
	for (;;) {
		size_t got = 0, used = 0;
		if (read(arg, off, chunk, 16384, &got) != 0 || got > 16384) {
			rc = SMTP_DKIM_EREAD;
			goto out;
		}
		if (got == 0)
			break;
		off += got;
		if (smtp_dkim_headers_push(h, chunk, got, &used) < 0) {
			rc = SMTP_DKIM_ETOOBIG;
			goto out;
		}
		smtp_dkim_body_update(body, chunk + used, got - used);
	}
	if (smtp_dkim_headers_end(h) < 0) {
		rc = SMTP_DKIM_ETOOBIG;
		goto out;
	}
	smtp_dkim_body_finish(body);
	unsigned char bh[EVP_MAX_MD_SIZE];
	unsigned bl = 0;
	char bh64[64];
	if (EVP_DigestFinal_ex(bmd, bh, &bl) != 1 || b64(bh, bl, bh64, sizeof(bh64)) < 0)
		goto out;
	if (fields_gather(h, &s) < 0) {
		rc = SMTP_DKIM_ETOOBIG;
		goto out;
	}
	for (size_t i = 0; i < keys->n; i++) {
		if (strcasecmp(keys->v[i].domain, domain) != 0)
			continue;
		rc = sign_one(&keys->v[i], now, bh64, &s, header_r);
		if (rc != SMTP_DKIM_OK)
			goto out;
	}
	rc = SMTP_DKIM_OK;
out:
	if (rc != SMTP_DKIM_OK && header_r->len > start) {
		header_r->len = start;
		header_r->data[start] = '\0';
	}
	if (h)
		smtp_dkim_headers_free(h);
	free(h);
	free(body);
	free(chunk);
	EVP_MD_CTX_free(bmd);
	buf_free(&s.data);
	return rc;
}
