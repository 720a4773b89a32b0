/* libFuzzer target for imap_parse_lib.
 *
 * The first input byte picks the reader's configuration (LITERAL+/-,
 * BINARY, tight or default limits) and the literal chunk size; the rest is
 * the client's byte stream.  It is cut into lines at LF (a preceding CR is
 * dropped), literal bytes are taken from the stream as the reader asks,
 * and every completed command is run through each typed parser.  The same
 * bytes also go through the string helpers, with round-trip properties
 * checked (a violation aborts, which libFuzzer reports):
 *   - imap_write_astring() output parses back to the same bytes;
 *   - modified UTF-7 that decodes re-encodes to the identical spelling;
 *   - UTF-8 encoded to modified UTF-7 decodes back. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_parse.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static void typed_parsers(const struct imap_command *cmd)
{
	const struct imap_arg *a = cmd->args;
	size_t n = cmd->nargs;
	const char *err;

	struct imap_fetch *f = NULL;
	if (imap_fetch_parse(a, n, cmd->uid, &f, &err) == 0) {
		struct buf b;
		buf_init(&b, 0);
		for (size_t i = 0; i < f->natts; i++)
			CHECK(imap_fetch_att_write_name(&b, &f->atts[i]) == 0);
		buf_free(&b);
		struct imap_seqset *norm = NULL;
		if (imap_seqset_normalize(f->set, 1000, &norm) == 0) {
			struct imap_seq_iter it;
			uint32_t v, prev = 0;
			imap_seq_iter_init(&it, norm);
			for (int k = 0; k < 256 && imap_seq_iter_next(&it, &v); k++) {
				CHECK(v > prev); /* ascending, no duplicates */
				CHECK(imap_seqset_contains(f->set, v, 1000));
				prev = v;
			}
			imap_seqset_free(&norm);
		}
		(void)imap_seqset_highest(f->set);
		imap_fetch_free(&f);
	}
	CHECK(f == NULL);

	struct imap_store *st = NULL;
	if (imap_store_parse(a, n, &st, &err) == 0)
		imap_store_free(&st);
	struct imap_search *se = NULL;
	if (imap_search_parse(a, n, &se, &err) == 0)
		imap_search_free(&se);
	struct imap_append *ap = NULL;
	if (imap_append_parse(a, n, &ap, &err) == 0)
		imap_append_free(&ap);
	struct imap_list *li = NULL;
	if (imap_list_parse(a, n, false, &li, &err) == 0)
		imap_list_free(&li);
	if (imap_list_parse(a, n, true, &li, &err) == 0)
		imap_list_free(&li);
	struct imap_select *sel = NULL;
	if (imap_select_parse(a, n, &sel, &err) == 0)
		imap_select_free(&sel);
	struct imap_string mb, u;
	unsigned items;
	(void)imap_status_parse(a, n, &mb, &items, &err);
	struct imap_seqset *set = NULL;
	if (imap_copy_parse(a, n, &set, &mb, &err) == 0)
		imap_seqset_free(&set);
	imap_seqset_free(&set);
	struct imap_string *caps = NULL;
	size_t ncaps;
	if (imap_enable_parse(a, n, &caps, &ncaps, &err) == 0)
		free(caps);
	struct imap_id id;
	if (imap_id_parse(a, n, &id, &err) == 0)
		imap_id_clear(&id);
	struct imap_authenticate au;
	(void)imap_authenticate_parse(a, n, &au, &err);
	(void)imap_login_parse(a, n, &mb, &u, &err);
	struct imap_search_key root;
	if (imap_search_keys_parse(a, n, &root, &err) == 0)
		imap_search_key_clear(&root);
	struct imap_flags fl;
	if (n > 0 && imap_flags_parse(a, n, &fl, &err) == 0)
		imap_flags_clear(&fl);
	struct imap_getmetadata gm;
	if (imap_getmetadata_parse(a, n, &gm, &err) == 0)
		imap_getmetadata_clear(&gm);
	struct imap_setmetadata sm;
	if (imap_setmetadata_parse(a, n, &sm, &err) == 0)
		imap_setmetadata_clear(&sm);

	/* every single argument through the single-value helpers */
	for (size_t i = 0; i < n; i++) {
		struct imap_fetch_att att;
		if (imap_fetch_att_parse(&a[i], &att, &err) == 0)
			imap_fetch_att_clear(&att);
		struct imap_date d;
		if (imap_arg_date(&a[i], &d, &err) == 0)
			(void)imap_date_to_time(&d);
		uint64_t v;
		(void)imap_arg_number(&a[i], UINT64_MAX, false, &v, &err);
		(void)imap_arg_mailbox(&a[i], &mb, &err);
		(void)imap_arg_list_mailbox(&a[i], &mb, &err);
		(void)imap_arg_nstring(&a[i], &mb, &err);
		(void)imap_arg_atom(&a[i], &mb, &err);
		if (imap_arg_seqset(&a[i], IMAP_SEQ_ALLOW_SAVED, &set, &err) == 0)
			imap_seqset_free(&set);
		if (a[i].type == IMAP_ARG_LIST)
			(void)imap_status_items_parse(&a[i], &items, &err);
	}
}

static void drive_reader(const uint8_t *data, size_t size, uint8_t cfg)
{
	struct imap_parse_limits lim;
	imap_parse_limits_default(&lim);
	lim.nonsync = (enum imap_nonsync_mode)(cfg % 3);
	lim.literal8 = cfg & 4;
	if (cfg & 8) { /* tight limits reach every limit path */
		lim.max_line = 64;
		lim.max_literal = 32;
		lim.max_append = 48;
		lim.max_append_total = 64;
		lim.max_command = 256;
		lim.max_depth = 4;
		lim.max_tokens = 24;
		lim.max_discard = 40;
		lim.max_metadata_value = 16; /* RFC 5464 4.3's refusal, also dropped */
	}
	size_t chunk = 1 + ((cfg >> 4) & 7) * 5;
	struct imap_parser *p = imap_parser_new(&lim);
	if (!p)
		return;
	size_t pos = 0;
	while (pos < size) {
		const uint8_t *lf = memchr(data + pos, '\n', size - pos);
		size_t end = lf ? (size_t)(lf - data) : size;
		size_t len = end - pos;
		if (len > 0 && data[pos + len - 1] == '\r')
			len--;
		enum imap_parse_status st = imap_parser_feed_line(p, (const char *)data + pos, len);
		pos = lf ? end + 1 : size;
		while (st == IMAP_PARSE_NEED_LITERAL) {
			uint64_t left = imap_parser_literal(p)->size;
			st = IMAP_PARSE_NEED_LINE;
			while (left > 0 && pos < size && st != IMAP_PARSE_ERROR) {
				size_t take = chunk;
				if (take > left)
					take = (size_t)left;
				if (take > size - pos)
					take = size - pos;
				size_t used = 0;
				st = imap_parser_feed_literal(p, data + pos, take, &used);
				CHECK(used <= take);
				pos += used;
				left -= used;
			}
			if (left > 0 && st != IMAP_PARSE_ERROR)
				goto out; /* the input ran out mid-literal */
		}
		if (st == IMAP_PARSE_DONE) {
			struct imap_command *cmd = imap_parser_take(p);
			CHECK(cmd != NULL);
			CHECK(cmd->name != NULL && cmd->tag_len > 0);
			typed_parsers(cmd);
			imap_command_free(&cmd);
		} else if (st == IMAP_PARSE_ERROR) {
			const struct imap_parse_error *e = imap_parser_error(p);
			CHECK(e->msg != NULL);
			CHECK(!e->tag_known || e->tag_len > 0);
			/* a refused value ends its command: a tagged NO */
			CHECK(!e->metadata_maxsize || (e->tag_known && e->recovery == IMAP_RECOVER_NONE));
			if (e->recovery == IMAP_RECOVER_CLOSE)
				break;
		}
	}
out:
	imap_parser_free(&p);
}

static void string_helpers(const char *s, size_t len)
{
	const char *err;
	struct imap_seqset *set = NULL;
	if (imap_seqset_parse(s, len, IMAP_SEQ_ALLOW_SAVED, &set, &err) == 0)
		imap_seqset_free(&set);
	struct imap_date d;
	(void)imap_date_parse(s, len, &d, &err);
	time_t t;
	int zone;
	(void)imap_datetime_parse(s, len, &t, &zone, &err);
	(void)imap_base64_valid(s, len);
	(void)imap_mailbox_is_inbox(s, len);

	struct buf a, b;
	buf_init(&a, 0);
	buf_init(&b, 0);
	(void)imap_mailbox_normalize(&a, s, len, '/');
	buf_reset(&a);
	(void)imap_mailbox_decode(&a, s, len, true, &err);
	buf_reset(&a);
	(void)imap_mailbox_decode(&a, s, len, false, &err);
	buf_reset(&a);
	if (imap_mutf7_decode(&a, s, len, &err) == 0) {
		/* canonical: the decoded name re-encodes to the same spelling */
		CHECK(imap_mutf7_encode(&b, a.data ? a.data : "", a.len) == 0);
		CHECK(b.len == len && (len == 0 || memcmp(b.data, s, len) == 0));
	}
	buf_reset(&a);
	buf_reset(&b);
	if (imap_utf8_valid(s, len) && !memchr(s, '\0', len)) {
		CHECK(imap_mutf7_encode(&a, s, len) == 0);
		CHECK(imap_mutf7_decode(&b, a.data, a.len, &err) == 0);
		CHECK(b.len == len && (len == 0 || memcmp(b.data, s, len) == 0));
	}
	buf_reset(&a);
	/* what we write, the reader reads back unchanged */
	if (!memchr(s, '\0', len)) {
		buf_puts(&a, "T X ");
		CHECK(imap_write_astring(&a, s, len) == 0);
		buf_puts(&a, " ");
		CHECK(imap_write_nstring(&a, s, len) == 0);
		struct imap_parse_limits lim;
		imap_parse_limits_default(&lim);
		lim.max_line = lim.max_command = lim.max_literal = 1 << 20;
		struct imap_parser *p = imap_parser_new(&lim);
		const char *line = a.data;
		size_t rest = a.len;
		enum imap_parse_status st = IMAP_PARSE_NEED_LINE;
		/* the written text has CRLF only after literal announcements */
		while (st != IMAP_PARSE_DONE) {
			const char *crlf = memmem(line, rest, "\r\n", 2);
			size_t ll = crlf ? (size_t)(crlf - line) : rest;
			st = imap_parser_feed_line(p, line, ll);
			CHECK(st == IMAP_PARSE_DONE || st == IMAP_PARSE_NEED_LITERAL);
			line += ll + (crlf ? 2 : 0);
			rest -= ll + (crlf ? 2 : 0);
			if (st == IMAP_PARSE_NEED_LITERAL) {
				size_t n = (size_t)imap_parser_literal(p)->size;
				CHECK(n <= rest);
				CHECK(imap_parser_feed_literal(p, line, n, NULL) == IMAP_PARSE_NEED_LINE);
				line += n;
				rest -= n;
			}
		}
		struct imap_command *cmd = imap_parser_take(p);
		struct imap_string out;
		CHECK(cmd->nargs == 2);
		for (size_t i = 0; i < 2; i++) {
			CHECK(imap_arg_astring(&cmd->args[i], &out, &err) == 0);
			CHECK(out.len == len && (len == 0 || memcmp(out.s, s, len) == 0));
		}
		imap_command_free(&cmd);
		imap_parser_free(&p);
	}
	buf_free(&a);
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	drive_reader(data + 1, size - 1, data[0]);
	string_helpers((const char *)data + 1, size - 1);
	return 0;
}
