/* libFuzzer target for FETCH's BODY[section]<partial> resolution over a
 * fuzzed MIME message (imap/imap_fetch_part.c on core/mime*.c).
 *
 * Input: the first line is a FETCH attribute list ("x FETCH 1 " is put in
 * front; literals {n} are not used), the rest is the message.  Every body
 * item (BODY[...], BODY.PEEK, BINARY[...], BINARY.SIZE, RFC822*) is
 * resolved as imap_fetch_body_value() does (locate, HEADER.FIELDS filter,
 * BINARY decoding, partial), with the bytes taken from memory instead of
 * the store.  Besides "no crash, no sanitizer report":
 *   - a located range lies inside the message, and the structure as stored
 *     (serialized, then read back) locates the same octets;
 *   - a partial range lies inside the value and within <count>;
 *   - a HEADER.FIELDS(.NOT) value ends with the blank line, is no longer
 *     than the header plus that line (and a line break for a last field
 *     without one), and each field in it comes from the header;
 *   - BINARY of a part is refused exactly when its encoding is unknown;
 *   - INTERNALDATE is 28 octets (quotes included) for any time it accepts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mime.h"
#include "imap/imap_fetch.h"
#include "imap/imap_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) { fprintf(stderr, "property violated: %s\n", #x); abort(); } } while (0)

static void check_filtered(const char *hdr, size_t hlen, const struct buf *out)
{
	CHECK(out->len >= 2 && memcmp(out->data + out->len - 2, "\r\n", 2) == 0);
	/* the blank line, and a line break for a last field that lacks one */
	CHECK(out->len <= hlen + 4);
	/* each field's first line is somewhere in the header */
	size_t pos = 0;
	while (pos + 2 < out->len) {
		const char *lf = memchr(out->data + pos, '\n', out->len - pos);
		size_t l = lf ? (size_t)(lf - out->data) - pos + 1 : out->len - pos;
		/* without its line break, which the filter adds when missing */
		size_t text = l;
		while (text > 0 && (out->data[pos + text - 1] == '\n' || out->data[pos + text - 1] == '\r'))
			text--;
		CHECK(memmem(hdr, hlen, out->data + pos, text) != NULL);
		pos += l;
	}
}

static void resolve(const char *msg, size_t len, const struct mime_message *mime,
		    const struct mime_message *stored, const struct imap_fetch_att *att)
{
	static const struct imap_section whole = { 0 };
	static const struct imap_section header = { .text = IMAP_SECTION_HEADER };
	static const struct imap_section text = { .text = IMAP_SECTION_TEXT };
	const struct imap_section *sec = &att->section;
	switch (att->item) {
	case IMAP_FETCH_RFC822: sec = &whole; break;
	case IMAP_FETCH_RFC822_HEADER: sec = &header; break;
	case IMAP_FETCH_RFC822_TEXT: sec = &text; break;
	case IMAP_FETCH_BODY_SECTION: case IMAP_FETCH_BINARY: case IMAP_FETCH_BINARY_SIZE: break;
	default: return;
	}
	struct imap_fetch_loc loc, loc2;
	imap_fetch_locate(mime, len, sec, &loc);
	imap_fetch_locate(stored, len, sec, &loc2);
	CHECK(loc.kind == loc2.kind && loc.off == loc2.off && loc.len == loc2.len);
	if (loc.kind == IMAP_LOC_NIL)
		return;
	CHECK(loc.off <= len && loc.len <= len - loc.off);
	bool binary = att->item == IMAP_FETCH_BINARY || att->item == IMAP_FETCH_BINARY_SIZE;
	bool refused = binary && sec->nparts > 0 && loc.part &&
		       !(loc.part->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE)) &&
		       !imap_fetch_cte_known(&loc.part->encoding);
	CHECK(refused == !imap_fetch_binary_ok(mime, len, att));
	if (refused)
		return;

	struct buf v;
	buf_init(&v, 0);
	uint64_t total;
	if (loc.kind == IMAP_LOC_FILTER) {
		CHECK(imap_fetch_header_filter(msg + loc.off, (size_t)loc.len, sec->fields, sec->nfields,
					       sec->text == IMAP_SECTION_HEADER_FIELDS_NOT, &v) == 0);
		check_filtered(msg + loc.off, (size_t)loc.len, &v);
		total = v.len;
	} else if (binary && sec->nparts > 0 && loc.part &&
		   !(loc.part->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE)) &&
		   loc.part->encoding.data) {
		const struct mime_str *e = &loc.part->encoding;
		CHECK(mime_cte_decode(e->data, e->len, msg + loc.off, (size_t)loc.len, &v) == MIME_OK);
		total = v.len;
	} else {
		total = loc.len;
	}
	uint64_t start, n;
	imap_fetch_partial(total, att->partial, att->offset, att->count, &start, &n);
	CHECK(start <= total && n <= total - start);
	if (att->partial) {
		CHECK(n <= att->count);
		CHECK(att->offset < total ? start == att->offset : n == 0);
	} else {
		CHECK(start == 0 && n == total);
	}
	buf_free(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *lf = memchr(data, '\n', size);
	size_t ll = lf ? (size_t)(lf - data) : size;
	size_t moff = lf ? ll + 1 : size;
	if (ll > 0 && data[ll - 1] == '\r')
		ll--;
	if (ll > 4096 || size - moff > 1 << 20)
		return 0;

	char *line = malloc(ll + 10);
	char *msg = malloc(size - moff ? size - moff : 1);   /* exact: ASan sees overreads */
	struct imap_parser *p = NULL;
	struct imap_command *cmd = NULL;
	struct imap_fetch *f = NULL;
	struct mime_message *mime = NULL, *stored = NULL;
	struct buf ser;
	buf_init(&ser, 0);
	if (!line || !msg)
		goto out;
	memcpy(line, "x FETCH 1 ", 10);
	memcpy(line + 10, data, ll);
	size_t len = size - moff;
	memcpy(msg, data + moff, len);

	/* INTERNALDATE from the first octets */
	int64_t t = 0;
	for (size_t i = 0; i < 8 && i < len; i++)
		t = (int64_t)((uint64_t)t << 8 | (uint8_t)msg[i]);
	struct buf d;
	buf_init(&d, 0);
	if (imap_fetch_internaldate_write(&d, t) == 0)
		CHECK(d.len == 28 && d.data[0] == '"' && d.data[27] == '"');
	buf_free(&d);

	struct imap_parse_limits lim;
	imap_parse_limits_default(&lim);
	if (!(p = imap_parser_new(&lim)) || imap_parser_feed_line(p, line, ll + 10) != IMAP_PARSE_DONE)
		goto out;
	cmd = imap_parser_take(p);
	const char *err;
	if (imap_fetch_parse(cmd->args, cmd->nargs, false, &f, &err) < 0)
		goto out;
	if (mime_message_parse(msg, len, NULL, &mime) != MIME_OK)
		goto out;
	CHECK(mime_message_serialize(mime, &ser) == MIME_OK);
	CHECK(mime_message_deserialize(ser.data, ser.len, &stored) == MIME_OK);
	for (size_t i = 0; i < f->natts; i++) {
		(void)imap_fetch_att_needs_structure(&f->atts[i]);
		resolve(msg, len, mime, stored, &f->atts[i]);
	}
out:
	mime_message_free(&stored);
	mime_message_free(&mime);
	buf_free(&ser);
	imap_fetch_free(&f);
	imap_command_free(&cmd);
	imap_parser_free(&p);
	free(line);
	free(msg);
	return 0;
}
