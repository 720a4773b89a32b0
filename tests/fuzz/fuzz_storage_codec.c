/* libFuzzer target for the storage record codec: every decoder of a record
 * read back from disk (storage/storage_codec.c, and the keyword and queue
 * records decoded in storage_keyword.c and storage_queue.c), as if a
 * damaged or foreign database handed it these bytes.  The first byte picks
 * the record kind (the key part, a mailbox id or UID, comes from the next
 * four), the rest is the record.  Besides "no crash, no sanitizer report":
 *   - a decoded record encodes and decodes back to the same fields;
 *   - a record of the current version is its own encoding, byte for byte
 *     (one spelling per value, so nothing a decoder accepts is ambiguous);
 *   - decoded strings are NUL-free and within their limits, a content
 *     record's chunk count matches its size, a change's kind is known;
 *   - the key normalisers are idempotent and keep their limits.
 * The MIME structure stored beside each content is fuzzed by fuzz_mime. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "property violated: %s\n", what);
		abort();
	}
}

/* The encoder's output equals the input when the input is current. */
static void same_bytes(const uint8_t *in, size_t len, const uint8_t *out, size_t olen,
		       const char *what)
{
	check(olen > 0, what);
	check(olen == len && memcmp(in, out, len) == 0, what);
}

static void fuzz_user(const uint8_t *p, size_t len)
{
	struct store_user u, again;
	if (store_user_decode(p, len, &u) != STORE_OK)
		return;
	check(strlen(u.address) <= STORE_ADDRESS_MAX, "user address limit");
	check(strlen(u.pwhash) <= STORE_PWHASH_MAX, "pwhash limit");
	check(u.scram.salt_len <= STORE_SCRAM_SALT_MAX, "scram salt limit");
	uint8_t buf[STORE_USER_REC_MAX];
	size_t n = store_user_encode(&u, buf, sizeof(buf));
	same_bytes(p, len, buf, n, "user record is its own encoding");
	check(store_user_decode(buf, n, &again) == STORE_OK, "user re-decodes");
	check(memcmp(&u, &again, sizeof(u)) == 0, "user round trip");
}

static void fuzz_mbox(uint32_t id, const uint8_t *p, size_t len)
{
	struct store_mailbox m, again;
	if (store_mbox_decode(id, p, len, &m) != STORE_OK)
		return;
	check(m.id == id, "mailbox id from the key");
	check(strlen(m.name) <= STORE_MAILBOX_NAME_MAX, "mailbox name limit");
	uint8_t buf[STORE_MBOX_REC_MAX];
	size_t n = store_mbox_encode(&m, buf, sizeof(buf));
	check(n > 0, "mailbox encodes");
	if (p[0] == STORE_REC_VERSION_2)
		same_bytes(p, len, buf, n, "mailbox record is its own encoding");
	check(store_mbox_decode(id, buf, n, &again) == STORE_OK, "mailbox re-decodes");
	check(memcmp(&m, &again, sizeof(m)) == 0, "mailbox round trip");
}

static void fuzz_msg(uint32_t uid, const uint8_t *p, size_t len)
{
	struct store_msg m, again;
	if (store_msg_decode(uid, p, len, &m) != STORE_OK)
		return;
	check(m.uid == uid, "uid from the key");
	check((m.flags & ~(uint32_t)STORE_F_ALL) == 0, "known flags only");
	uint8_t buf[STORE_MSG_REC_MAX];
	size_t n = store_msg_encode(&m, buf, sizeof(buf));
	check(n > 0, "message encodes");
	if (p[0] == STORE_REC_VERSION_3)
		same_bytes(p, len, buf, n, "message record is its own encoding");
	check(store_msg_decode(uid, buf, n, &again) == STORE_OK, "message re-decodes");
	check(memcmp(&m, &again, sizeof(m)) == 0, "message round trip");
}

static void fuzz_content(const uint8_t *p, size_t len)
{
	struct store_content_meta c, again;
	if (store_content_meta_decode(p, len, &c) != STORE_OK)
		return;
	/* reads walk `chunks` records for `size` bytes: they must agree, and
	 * every byte must map inside a chunk of the layout */
	check(store_content_chunks(&c) == c.chunks, "chunks match the layout");
	check(c.small > 0 && c.small <= c.big, "layout sizes");
	if (c.size > 0) {
		uint64_t tail = c.size % c.big, rest = c.page ? tail % c.page : tail;
		uint64_t probes[] = {0,		   c.size / 2, c.size - 1, tail, c.size - tail,
				     rest, rest - 1, tail - rest, c.size - rest};
		for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
			if (probes[i] >= c.size)
				continue;
			uint32_t chunk, off, clen;
			store_content_locate(&c, probes[i], &chunk, &off, &clen);
			check(chunk < c.chunks, "byte in a chunk that exists");
			check(off < clen && clen <= c.big, "offset inside the chunk");
		}
	}
	uint8_t buf[64];
	size_t n = store_content_meta_encode(&c, buf, sizeof(buf));
	/* version 1 records are re-encoded as version 2; 2 and 3 as themselves */
	if (p[0] == STORE_REC_VERSION_2 || p[0] == STORE_REC_VERSION_3)
		same_bytes(p, len, buf, n, "content record is its own encoding");
	check(store_content_meta_decode(buf, n, &again) == STORE_OK, "content re-decodes");
	check(memcmp(&c, &again, sizeof(c)) == 0, "content round trip");
}

static void fuzz_change(const uint8_t *p, size_t len)
{
	uint32_t uid;
	enum store_change_kind kind;
	if (store_change_decode(p, len, &uid, &kind) != STORE_OK)
		return;
	check(kind == STORE_CHANGE_NEW || kind == STORE_CHANGE_FLAGS ||
	      kind == STORE_CHANGE_EXPUNGE, "change kind known");
	uint8_t buf[16];
	size_t n = store_change_encode(uid, kind, buf, sizeof(buf));
	same_bytes(p, len, buf, n, "change record is its own encoding");
}

static void fuzz_counter(const uint8_t *p, size_t len)
{
	uint64_t v;
	if (store_counter_decode(p, len, &v) != STORE_OK)
		return;
	uint8_t buf[16];
	size_t n = store_counter_encode(v, buf, sizeof(buf));
	same_bytes(p, len, buf, n, "counter record is its own encoding");
}

static void fuzz_keywords(const uint8_t *p, size_t len)
{
	struct store_keywords kw;
	if (store_keywords_decode(p, len, &kw) != STORE_OK)
		return;
	check(kw.count <= STORE_KEYWORDS_MAX, "keyword count");
	for (size_t i = 0; i < kw.count; i++) {
		size_t l = strlen(kw.name[i]);
		check(l > 0 && l <= STORE_KEYWORD_LEN_MAX, "keyword length");
	}
}

static void fuzz_queue(uint32_t id, const uint8_t *p, size_t len)
{
	struct store_queue_entry e;
	if (store_queue_decode(id, p, len, &e) != STORE_OK)
		return;
	check(e.id == id, "queue id from the key");
	check(e.nrecipients > 0 && e.recipients != NULL, "queue entry has recipients");
	check(strlen(e.sender) <= STORE_ADDRESS_MAX, "sender limit");
	check(strlen(e.last_error) <= STORE_QUEUE_ERROR_MAX, "error limit");
	for (size_t i = 0; i < e.nrecipients; i++)
		check(e.recipients[i] && strlen(e.recipients[i]) <= STORE_ADDRESS_MAX,
		      "recipient limit");
	store_queue_entry_clear(&e);
	check(e.recipients == NULL && e.nrecipients == 0, "queue entry cleared");
}

/* Normalisers: what they accept, normalised again, stays the same. */
static void fuzz_names(const uint8_t *p, size_t len)
{
	char *s = malloc(len + 1);
	if (!s)
		return;
	memcpy(s, p, len);
	s[len] = '\0';
	char a[STORE_MAILBOX_NAME_MAX + 1], b[STORE_MAILBOX_NAME_MAX + 1];
	size_t la, lb;
	if (store_address_normalize(s, a, &la) == STORE_OK) {
		check(la == strlen(a) && la <= STORE_ADDRESS_MAX, "address length");
		check(store_address_normalize(a, b, &lb) == STORE_OK && lb == la &&
		      memcmp(a, b, la) == 0, "address normalisation idempotent");
	}
	if (store_domain_normalize(s, a, &la) == STORE_OK) {
		check(la == strlen(a) && la <= STORE_ADDRESS_MAX && !strchr(a, '@'), "domain");
		check(store_domain_normalize(a, b, &lb) == STORE_OK && lb == la &&
		      memcmp(a, b, la) == 0, "domain normalisation idempotent");
	}
	if (store_mailbox_name_normalize(s, a, &la) == STORE_OK) {
		check(la == strlen(a) && la <= STORE_MAILBOX_NAME_MAX, "mailbox name length");
		check(store_mailbox_name_normalize(a, b, &lb) == STORE_OK && lb == la &&
		      memcmp(a, b, la) == 0, "mailbox name normalisation idempotent");
		(void)store_mailbox_name_creatable(a, la, '/');
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 5)
		return 0;
	uint32_t key = store_be32_get(data + 1);
	const uint8_t *p = data + 5;
	size_t len = size - 5;
	/* Each decoder gets its own copy, exactly len bytes long, so ASan
	 * sees any read past the record's end. */
	uint8_t *rec = malloc(len ? len : 1);
	if (!rec)
		return 0;
	memcpy(rec, p, len);
	switch (data[0] % 9) {
	case 0: fuzz_user(rec, len); break;
	case 1: fuzz_mbox(key, rec, len); break;
	case 2: fuzz_msg(key, rec, len); break;
	case 3: fuzz_content(rec, len); break;
	case 4: fuzz_change(rec, len); break;
	case 5: fuzz_counter(rec, len); break;
	case 6: fuzz_keywords(rec, len); break;
	case 7: fuzz_queue(key, rec, len); break;
	default: fuzz_names(rec, len); break;
	}
	free(rec);
	return 0;
}
