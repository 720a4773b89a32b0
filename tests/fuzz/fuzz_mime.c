/* libFuzzer target for the MIME parser (core/mime*.c).  The input is parsed
 * as a message (with the default limits and with tiny ones, so the limit
 * paths run too), and also fed to the deserializer as if it were a stored
 * tree.  Besides "no crash, no sanitizer report" it checks what must hold
 * for any input:
 *   - every part lies inside its parent, in order, inside the message;
 *   - the limits hold (parts, nesting);
 *   - serialize -> deserialize -> serialize gives the same bytes and the
 *     same IMAP output, and a decoded tree obeys the same bounds;
 *   - ENVELOPE, BODY and BODYSTRUCTURE are well-formed IMAP data
 *     (balanced lists of NIL, numbers, quoted strings and literals, no NUL,
 *     nothing 8-bit or CR/LF outside literals);
 *   - the decoders and the search helper run on every part, and
 *     mime_binary_unencode on every message/multipart part's body;
 *   - mime_binary_encode leaves no NUL when it succeeds, and the address
 *     text of SEARCH is written for any input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "property violated: %s\n", what);
		abort();
	}
}

/* RFC 3501 9: the subset of response syntax the writers produce. */
static void check_imap_data(const char *s, size_t len)
{
	size_t i = 0;
	long depth = 0;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ') {
			i++;
		} else if (c == '(') {
			depth++;
			i++;
		} else if (c == ')') {
			check(--depth >= 0, "parenthesis balance");
			i++;
		} else if (c == '"') {
			for (i++; i < len && s[i] != '"'; i++) {
				unsigned char q = (unsigned char)s[i];
				check(q != '\r' && q != '\n' && q != 0 && q < 0x80, "quoted-string octet");
				check(q != '\\', "quoted-string without escapes");
			}
			check(i < len, "quoted-string closed");
			i++;
		} else if (c == '{') {
			size_t n = 0;
			for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
				n = n * 10 + (size_t)(s[i] - '0');
			check(i + 3 <= len && s[i] == '}' && s[i + 1] == '\r' && s[i + 2] == '\n', "literal");
			i += 3;
			check(n <= len - i, "literal length");
			check(memchr(s + i, '\0', n) == NULL, "no NUL in literal");
			i += n;
		} else if (c == 'N') {
			check(len - i >= 3 && memcmp(s + i, "NIL", 3) == 0, "NIL");
			i += 3;
		} else {
			check(c >= '0' && c <= '9', "number");
			while (i < len && s[i] >= '0' && s[i] <= '9')
				i++;
		}
	}
	check(depth == 0, "lists closed");
}

static size_t check_tree(const struct mime_part *p, size_t lo, size_t hi, unsigned depth,
			 unsigned *max_depth)
{
	check(p->header_off >= lo && p->header_off <= hi, "header inside parent");
	check(p->header_len <= hi - p->header_off, "header length");
	check(p->body_off == p->header_off + p->header_len, "body follows header");
	check(p->body_len <= hi - p->body_off, "body inside parent");
	check(p->type.data && p->subtype.data && p->encoding.data, "type and encoding present");
	if (depth > *max_depth)
		*max_depth = depth;
	size_t count = 1, pos = p->body_off, kids = 0;
	for (const struct mime_part *c = p->children; c; c = c->next) {
		check(c->parent == p, "parent link");
		count += check_tree(c, pos, p->body_off + p->body_len, depth + 1, max_depth);
		pos = c->body_off + c->body_len;
		kids++;
	}
	check(kids == p->nchildren, "child count");
	if (p->flags & MIME_PART_MULTIPART)
		check(kids >= 1 && mime_part_is(p, "multipart", NULL), "multipart has parts");
	else if (p->flags & MIME_PART_MESSAGE)
		check(kids == 1 && p->children->envelope && p->children->header_off == p->body_off,
		      "message has one embedded message");
	else
		check(kids == 0, "leaf has no parts");
	return count;
}

static void write_all(const struct mime_message *m, struct buf *out)
{
	buf_reset(out);
	check(mime_envelope_write(m->root->envelope, out) == 0, "envelope written");
	check_imap_data(out->data, out->len);
	for (unsigned f = 0; f < 4; f++) {
		size_t start = out->len;
		check(mime_bodystructure_write(m->root, f, out) == 0, "bodystructure written");
		check_imap_data(out->data + start, out->len - start);
	}
}

static void exercise_parts(const char *msg, size_t len, const struct mime_message *m)
{
	struct buf b;
	buf_init(&b, 0);
	for (const struct mime_part *p = mime_part_next(m->root, NULL); p;
	     p = mime_part_next(m->root, p)) {
		buf_reset(&b);
		check(mime_part_decode(msg, len, p, &b) == 0, "part decodes");
		/* BINARY of a message/multipart part, from a window holding
		 * just its body: no read outside it. */
		if (p->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE)) {
			buf_reset(&b);
			check(mime_binary_unencode(msg + p->body_off, p->body_off, p->body_len, p,
						   &b) == MIME_OK, "unencode");
			check(mime_binary_nested_encoded(p) || (b.len == p->body_len &&
				  (b.len == 0 || memcmp(b.data, msg + p->body_off, b.len) == 0)),
			      "unencode without encoded parts is the identity");
		}
		(void)mime_search_ci(b.data ? b.data : "", b.len, "\xc3\xa9T\xc3\x89", 5);
		buf_reset(&b);
		check(mime_part_filename(p, &b) >= 0, "filename");
		buf_reset(&b);
		check(mime_header_decode(msg + p->header_off, p->header_len, &b) == 0, "header decodes");
		size_t pos = 0;
		struct mime_header_field f;
		while (mime_header_next(msg + p->header_off, p->header_len, &pos, &f) > 0) {
			check(f.off + f.len <= p->header_len && f.len > 0, "field inside header");
			check(f.value >= msg + p->header_off + f.off &&
			      f.value + f.value_len <= msg + p->header_off + f.off + f.len, "value inside field");
		}
	}
	/* Section lookups from the first octets. */
	uint32_t sect[4];
	for (size_t i = 0; i < 4; i++)
		sect[i] = len > i ? (uint32_t)(unsigned char)msg[i] % 5 : 1;
	for (size_t n = 0; n <= 4; n++)
		(void)mime_part_find(m->root, sect, n);
	buf_free(&b);
}

static void fuzz_parse(const char *msg, size_t len, const struct mime_limits *lim)
{
	struct mime_message *m = NULL;
	if (mime_message_parse(msg, len, lim, &m) != MIME_OK)
		return;   /* out of memory only */
	check(m->size == len && m->root->header_off == 0 && m->root->envelope, "root");
	/* FETCH's header-only read (imap_cmd_fetch.c) cuts the header with
	 * mime_header_end from the message's first octets: the same cut. */
	size_t hpos = 0;
	bool hfound = mime_header_end(msg, len, &hpos);
	check((hfound ? hpos : len) == m->root->header_len, "mime_header_end");
	unsigned depth = 0;
	size_t parts = check_tree(m->root, 0, len, 0, &depth);
	check(parts == m->nparts, "part count");
	unsigned max_parts = lim && lim->max_parts ? lim->max_parts : 10000;
	unsigned max_depth = lim && lim->max_depth ? lim->max_depth : 50;
	check(parts <= max_parts, "max_parts");
	check(depth <= max_depth + 1, "max_depth");

	struct buf s1, s2, w1, w2;
	buf_init(&s1, 0);
	buf_init(&s2, 0);
	buf_init(&w1, 0);
	buf_init(&w2, 0);
	check(mime_message_serialize(m, &s1) == 0, "serialize");
	struct mime_message *m2 = NULL;
	check(mime_message_deserialize(s1.data, s1.len, &m2) == MIME_OK, "deserialize own output");
	check(mime_message_serialize(m2, &s2) == 0, "serialize again");
	check(s1.len == s2.len && memcmp(s1.data, s2.data, s1.len) == 0, "round trip");
	write_all(m, &w1);
	write_all(m2, &w2);
	check(w1.len == w2.len && memcmp(w1.data, w2.data, w1.len) == 0, "same IMAP output");
	exercise_parts(msg, len, m);
	mime_message_free(&m2);
	mime_message_free(&m);
	buf_free(&s1);
	buf_free(&s2);
	buf_free(&w1);
	buf_free(&w2);
}

static void fuzz_deserialize(const uint8_t *data, size_t size)
{
	/* Give random input a valid header now and then, so the fuzzer gets
	 * past the magic. */
	uint8_t *copy = malloc(size + 5);
	if (!copy)
		return;
	memcpy(copy, "PMIM\1", 5);
	memcpy(copy + 5, data, size);
	for (int pass = 0; pass < 2; pass++) {
		struct mime_message *m = NULL;
		int rc = pass ? mime_message_deserialize(copy, size + 5, &m)
			      : mime_message_deserialize(data, size, &m);
		if (rc != MIME_OK) {
			check(m == NULL, "no tree on error");
			continue;
		}
		unsigned depth = 0;
		check(check_tree(m->root, 0, m->size, 0, &depth) == m->nparts, "decoded part count");
		struct buf w;
		buf_init(&w, 0);
		write_all(m, &w);
		buf_free(&w);
		mime_message_free(&m);
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	static const struct mime_limits tiny = {
		.max_depth = 4, .max_parts = 12, .max_header_lines = 20,
		.max_addresses = 5, .max_params = 3,
	};
	fuzz_parse(s, size, NULL);
	fuzz_parse(s, size, &tiny);
	fuzz_deserialize(data, size);
	struct buf b;
	buf_init(&b, 0);
	check(mime_header_decode(s, size, &b) == 0, "header text decodes");
	buf_reset(&b);
	/* RFC 9051 6.4.5: a rewritten message holds no NUL, and holds none
	 * that was not there; an untouched one is left alone. */
	int brc = mime_binary_encode(s, size, &b);
	check(brc == 0 || brc == 1 || brc == MIME_ERR_BINARY, "binary encode result");
	check(brc != 1 || !memchr(b.data, '\0', b.len), "binary encode leaves no NUL");
	check(brc != 0 || (!memchr(s, '\0', size) && b.len == 0), "binary encode of text");
	buf_reset(&b);
	struct buf a;
	buf_init(&a, 0);
	check(mime_address_list_text(s, size, &a) == 0, "address text");
	buf_free(&a);
	buf_free(&b);
	return 0;
}
