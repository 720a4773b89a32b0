/* tests/tools/dkim_sign.c: signs a message file with the DKIM keys of a
 * data directory through smtp_dkim_sign, the queue runner's entry point,
 * and prints the signed message (the DKIM-Signature fields, then the file).
 * For tests/integration/test_dkim.py, which verifies the result with an
 * independent verifier.
 *
 * usage: dkim_sign DATA_DIR DOMAIN FILE [CHUNK [TIME]]
 *   CHUNK: the most bytes one read returns (default 16384), so tests can cut
 *   the message anywhere; TIME: the t= timestamp (default now).
 * Exit 0 signed, 3 no key for DOMAIN, 1 any other failure. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp/smtp_dkim.h"

struct src {
	int fd;
	size_t chunk;
};

static int src_read(void *arg, uint64_t off, void *buf, size_t cap, size_t *got)
{
	struct src *s = arg;
	size_t want = cap < s->chunk ? cap : s->chunk;
	ssize_t n = pread(s->fd, buf, want, (off_t)off);
	if (n < 0)
		return -1;
	*got = (size_t)n;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 6) {
		fprintf(stderr, "usage: dkim_sign DATA_DIR DOMAIN FILE [CHUNK [TIME]]\n");
		return 1;
	}
	struct src s = {.fd = open(argv[3], O_RDONLY), .chunk = 16384};
	if (s.fd < 0) {
		fprintf(stderr, "dkim_sign: %s: %s\n", argv[3], strerror(errno));
		return 1;
	}
	if (argc >= 5)
		s.chunk = strtoul(argv[4], NULL, 10);
	time_t now = argc >= 6 ? (time_t)strtoll(argv[5], NULL, 10) : time(NULL);
	if (s.chunk == 0)
		s.chunk = 1;
	struct smtp_dkim_keys *keys = NULL;
	char err[1600];
	if (smtp_dkim_keys_load(argv[1], &keys, err, sizeof(err)) < 0) {
		fprintf(stderr, "dkim_sign: %s\n", err);
		return 1;
	}
	struct buf hdr;
	buf_init(&hdr, 0);
	int rc = smtp_dkim_sign(keys, argv[2], now, src_read, &s, &hdr);
	int status = 0;
	if (rc == SMTP_DKIM_NOKEY) {
		fprintf(stderr, "dkim_sign: no key for %s\n", argv[2]);
		status = 3;
	} else if (rc != SMTP_DKIM_OK) {
		fprintf(stderr, "dkim_sign: signing failed (%d)\n", rc);
		status = 1;
	} else {
		fwrite(hdr.data, 1, hdr.len, stdout);
		char b[65536];
		ssize_t n;
		off_t off = 0;
		while ((n = pread(s.fd, b, sizeof(b), off)) > 0) {
			fwrite(b, 1, (size_t)n, stdout);
			off += n;
		}
	}
	buf_free(&hdr);
	smtp_dkim_keys_free(&keys);
	close(s.fd);
	return status;
}
