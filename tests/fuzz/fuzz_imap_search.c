/* libFuzzer target for IMAP SEARCH evaluation (imap/imap_search_eval.c) on
 * a fuzzed message and a fuzzed search program.
 *
 * Input: 16 bytes of store record and mailbox facts (flags, sequence
 * number, UID, internal date, MODSEQ, keyword bits, "*" values, \Recent
 * range), then the program as one command line ("x SEARCH " is put in
 * front; literals {n} take their bytes from what follows), then the
 * message.  The program is evaluated the way imap_cmd_search.c does it:
 * first on the record alone, then with the header block only or the whole
 * message and its MIME structure, as imap_search_need() asks.  Besides "no
 * crash, no sanitizer report":
 *   - the two-pass answer equals the answer with everything loaded at once
 *     (a pass that decides early, or a header read alone, never decides
 *     differently);
 *   - with everything loaded the answer is YES or NO, and NOT inverts it;
 *   - a tree that needs nothing but the record never answers UNKNOWN. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mime.h"
#include "imap/imap_parse.h"
#include "imap/imap_search.h"
#include "storage/storage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) { fprintf(stderr, "property violated: %s\n", #x); abort(); } } while (0)

#define FACTS 16

/* Reads "x SEARCH <line>" plus its literals from data; the command, or NULL. */
static struct imap_command *read_program(const uint8_t *data, size_t size, size_t *used_r)
{
	struct imap_parse_limits lim;
	imap_parse_limits_default(&lim);
	struct imap_parser *p = imap_parser_new(&lim);
	if (!p)
		return NULL;
	size_t pos = 0;
	bool first = true;
	struct imap_command *cmd = NULL;
	while (pos <= size) {
		const uint8_t *lf = memchr(data + pos, '\n', size - pos);
		size_t end = lf ? (size_t)(lf - data) : size;
		size_t len = end - pos;
		if (len > 0 && data[pos + len - 1] == '\r')
			len--;
		enum imap_parse_status st;
		if (first) {
			char *line = malloc(len + 9);
			if (!line)
				break;
			memcpy(line, "x SEARCH ", 9);
			memcpy(line + 9, data + pos, len);
			st = imap_parser_feed_line(p, line, len + 9);
			free(line);
			first = false;
		} else {
			st = imap_parser_feed_line(p, (const char *)data + pos, len);
		}
		pos = lf ? end + 1 : size + 1;
		if (st == IMAP_PARSE_NEED_LITERAL) {
			uint64_t n = imap_parser_literal(p)->size;
			if (pos > size || n > size - pos)
				break;
			size_t got = 0;
			st = imap_parser_feed_literal(p, data + pos, (size_t)n, &got);
			pos += got;
			if (st == IMAP_PARSE_NEED_LINE)
				continue;
		}
		if (st == IMAP_PARSE_DONE)
			cmd = imap_parser_take(p);
		break;
	}
	imap_parser_free(&p);
	*used_r = pos > size ? size : pos;
	return cmd;
}

static void load(struct imap_search_msg *m, const char *msg, size_t len,
		 const struct mime_message *mime, enum imap_search_need need)
{
	imap_search_msg_reset(m);
	m->have_content = true;
	m->data = msg;
	if (need == IMAP_SEARCH_NEED_HEADER) {
		/* what the command reads: up to the blank line, or everything */
		size_t hdr = imap_search_header_end(msg, len);
		m->len = hdr ? hdr : len;
		m->header_len = m->len;
	} else {
		m->len = len;
		m->mime = mime;
		m->header_len = mime->root->header_len <= len ? mime->root->header_len : len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < FACTS)
		return 0;
	const uint8_t *f = data;
	size_t used;
	struct imap_command *cmd = read_program(data + FACTS, size - FACTS, &used);
	if (!cmd)
		return 0;
	struct imap_search *search = NULL;
	const char *err;
	if (imap_search_parse(cmd->args, cmd->nargs, &search, &err) < 0) {
		imap_command_free(&cmd);
		return 0;
	}
	size_t len = size - FACTS - used;
	char *msg = malloc(len ? len : 1);   /* exact size: ASan sees overreads */
	struct mime_message *mime = NULL;
	if (!msg)
		goto out;
	memcpy(msg, data + FACTS + used, len);
	if (mime_message_parse(msg, len, NULL, &mime) != MIME_OK)
		goto out;

	struct store_keywords kw = {.count = 3};
	strcpy(kw.name[0], "$Junk");
	strcpy(kw.name[1], "$label1");
	strcpy(kw.name[2], "Work");
	uint32_t saved[3] = {2, 5, 9};
	struct imap_recent_range rr = { .lo = f[2], .hi = f[2] + (uint32_t)f[3] };
	struct imap_recent recent = { .r = &rr, .count = 1, .cap = 1 };
	struct imap_search_env env = {
		.nmsgs = 1u + f[0], .max_uid = 1u + f[1] * 3u,
		.recent = &recent,
		.saved = saved, .nsaved = f[4] % 4, .keywords = (f[4] & 4) ? NULL : &kw,
	};
	struct imap_search_msg m, whole;
	memset(&m, 0, sizeof(m));
	memset(&whole, 0, sizeof(whole));
	m.rec.uid = 1u + (uint32_t)f[5] * 2u;
	m.seq = 1u + f[6] % env.nmsgs;
	m.rec.flags = f[7] & 0x3f;   /* the six STORE_F_ bits */
	m.rec.keywords = f[8];
	m.rec.internaldate = (int64_t)((uint32_t)f[9] << 24 | (uint32_t)f[10] << 16 |
				       (uint32_t)f[11] << 8 | f[12]);
	m.rec.modseq = (uint64_t)f[13] << 8 | f[14];
	m.rec.size = len;
	m.rec.content_id = f[15];
	whole.rec = m.rec;
	whole.seq = m.seq;

	/* as the command does: the record first, content only if needed */
	enum imap_search_need need = imap_search_need(&search->root);
	enum imap_search_result r = imap_search_eval(&env, &search->root, &m);
	if (need == IMAP_SEARCH_NEED_RECORD)
		CHECK(r != IMAP_SEARCH_UNKNOWN);
	if (r == IMAP_SEARCH_UNKNOWN) {
		CHECK(need != IMAP_SEARCH_NEED_RECORD);
		load(&m, msg, len, mime, need);
		r = imap_search_eval(&env, &search->root, &m);
	}
	CHECK(r == IMAP_SEARCH_YES || r == IMAP_SEARCH_NO || r == IMAP_SEARCH_ERROR);

	/* everything at once */
	load(&whole, msg, len, mime, IMAP_SEARCH_NEED_BODY);
	enum imap_search_result rw = imap_search_eval(&env, &search->root, &whole);
	CHECK(rw == IMAP_SEARCH_YES || rw == IMAP_SEARCH_NO || rw == IMAP_SEARCH_ERROR);
	if (r != IMAP_SEARCH_ERROR && rw != IMAP_SEARCH_ERROR)
		CHECK(r == rw);

	struct imap_search_key not_ = {.type = IMAP_SK_NOT, .children = &search->root, .count = 1};
	enum imap_search_result rn = imap_search_eval(&env, &not_, &whole);
	if (rw != IMAP_SEARCH_ERROR && rn != IMAP_SEARCH_ERROR)
		CHECK(rn == (rw == IMAP_SEARCH_YES ? IMAP_SEARCH_NO : IMAP_SEARCH_YES));
	(void)imap_search_uses_modseq(&search->root);
	imap_search_msg_clear(&m);
	imap_search_msg_clear(&whole);
out:
	mime_message_free(&mime);
	free(msg);
	imap_search_free(&search);
	imap_command_free(&cmd);
	return 0;
}
