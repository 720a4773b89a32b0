/* tests/bench/bench_fill.c: fill a user's INBOX with N small messages
 * straight through the storage API, for the SELECT and idle-session figures
 * at sizes SMTP cannot reach in a bench run (a million messages).
 *
 *   bench_fill DIR ADDRESS N [SIZE]
 *
 * Messages of SIZE bytes (default 200), appended 1,000 per transaction
 * (store_append, as a MULTIAPPEND does), then a log flush and a
 * checkpoint.  The server may run meanwhile (the environment is shared);
 * the user must exist.  Prints messages/s.  Not part of tests/run: see
 * tests/bench/README.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/storage.h"

#define BATCH 1000

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: bench_fill DIR ADDRESS N [SIZE]\n");
		return 2;
	}
	long n = atol(argv[3]);
	size_t size = argc > 4 ? (size_t)atol(argv[4]) : 200;
	if (n < 0 || size < 64 || size > 1 << 20) {
		fprintf(stderr, "bench_fill: bad N or SIZE\n");
		return 2;
	}
	struct store *st = NULL;
	int rc = store_open(argv[1], NULL, &st);
	if (rc != STORE_OK) {
		fprintf(stderr, "bench_fill: open %s: %s\n", argv[1], store_strerror(rc));
		return 1;
	}
	struct store_user u;
	struct store_mailbox mb;
	if ((rc = store_user_get(st, argv[2], &u)) != STORE_OK ||
	    (rc = store_mailbox_get(st, u.id, "INBOX", &mb)) != STORE_OK) {
		fprintf(stderr, "bench_fill: %s INBOX: %s\n", argv[2], store_strerror(rc));
		store_close(&st);
		return 1;
	}
	char *text = malloc((size_t)BATCH * size);
	struct store_append_msg *msgs = calloc(BATCH, sizeof(*msgs));
	uint32_t *uids = calloc(BATCH, sizeof(*uids));
	if (!text || !msgs || !uids)
		return 1;
	double t0 = now();
	for (long done = 0; done < n && rc == STORE_OK;) {
		size_t k = n - done < BATCH ? (size_t)(n - done) : BATCH;
		for (size_t i = 0; i < k; i++) {
			char *m = text + i * size;
			int h = snprintf(m, size, "Subject: fill %ld\r\nMessage-ID: <%ld@fill>\r\n\r\n",
					 done + (long)i, done + (long)i);
			memset(m + h, 'x', size - (size_t)h - 2);
			memcpy(m + size - 2, "\r\n", 2);
			msgs[i] = (struct store_append_msg){ .data = m, .len = size };
		}
		uint32_t uidv;
		rc = store_append(st, mb.id, msgs, k, uids, &uidv);
		done += (long)k;
	}
	if (rc == STORE_OK)
		rc = store_sync(st);
	if (rc == STORE_OK)
		rc = store_checkpoint(st);
	double dt = now() - t0;
	if (rc != STORE_OK)
		fprintf(stderr, "bench_fill: %s\n", store_strerror(rc));
	else
		printf("filled=%ld seconds=%.2f msgs_per_s=%.0f\n", n, dt, dt > 0 ? n / dt : 0);
	free(text);
	free(msgs);
	free(uids);
	store_close(&st);
	return rc == STORE_OK ? 0 : 1;
}
