/* libFuzzer target for the IMAP URL parser (imap/imap_url.c, RFC 5092 and
 * RFC 4467 URLs as CATENATE and URLFETCH take them).  Besides "no crash,
 * no sanitizer report, no leak":
 *   - a failure says why and leaves nothing to free;
 *   - a parsed URL is consistent: the rump lies inside the input and ends
 *     where the verifier (if any) starts, a section's fields exist only for
 *     HEADER.FIELDS(.NOT), part numbers are non-zero, a UID is present;
 *   - parsing is a function of the bytes: the same input parses the same. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) { fprintf(stderr, "property violated: %s\n", #x); abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > IMAP_URL_MAX + 16)
		return 0;
	char *s = malloc(size ? size : 1);   /* exact: ASan sees overreads */
	if (!s)
		return 0;
	memcpy(s, data, size);
	struct imap_url u, again;
	const char *err = NULL;
	int rc = imap_url_parse(s, size, &u, &err);
	if (rc < 0) {
		CHECK(err != NULL);
		CHECK(!u.mailbox && !u.user && !u.section.parts && !u.token);
	} else {
		CHECK(u.uid != 0);
		CHECK(u.rump_len <= size);
		if (u.access == IMAP_URL_ACCESS_NONE)
			CHECK(u.rump_len == 0 && !u.mechanism);
		if (u.mechanism)
			CHECK(u.token && s[u.rump_len] == ':');
		if (u.form == IMAP_URL_MAILBOX)
			CHECK(u.mailbox == NULL);
		else
			CHECK(u.mailbox && u.mailbox[0]);
		for (size_t i = 0; i < u.section.nparts; i++)
			CHECK(u.section.parts[i] != 0);
		if (u.section.nfields)
			CHECK(u.section.text == IMAP_SECTION_HEADER_FIELDS ||
			      u.section.text == IMAP_SECTION_HEADER_FIELDS_NOT);
		CHECK(imap_url_parse(s, size, &again, &err) == 0);
		CHECK(again.uid == u.uid && again.rump_len == u.rump_len &&
		      again.access == u.access && again.section.nparts == u.section.nparts);
		imap_url_clear(&again);
		imap_url_clear(&u);
	}
	free(s);
	return 0;
}
