/* tests/bench/bench_fill.c: fill a user's INBOX with N small messages
 * straight through the storage API, for the SELECT and idle-session figures
 * at sizes SMTP cannot reach in a bench run (a million messages).
 *
 *   bench_fill DIR ADDRESS N [SIZE [threads]]
 *
 * Messages of SIZE bytes (default 200), appended 1,000 per transaction
 * (store_append, as a MULTIAPPEND does), then a log flush and a
 * checkpoint.  The server may run meanwhile (the environment is shared);
 * the user must exist.  Prints messages/s.  Not part of tests/run: see
 * tests/bench/README.md.
 *
 * With "threads", each message has the header a mailing list gives it
 * (for the SORT and THREAD figures, bench_sort_thread.py): From, To, Cc
 * spread over 1,000 people, Date over a year in several zones, Message-ID,
 * and threads of ten: the first message of each has a subject of its own,
 * the others "Re:" it with References to every earlier one; SIZE is then
 * the least size (the header may make a message longer). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/storage.h"

#define BATCH 1000
/* The longest header of the "threads" mode. */
#define HEADER_MAX 1024

/* A mailing-list header for message i of n (see above); its length. */
static int thread_header(char *m, size_t cap, long i, long n)
{
	static const char *const zones[] = { "+0000", "-0800", "+0100", "+0530", "-0500" };
	long t = i / 10, k = i % 10;
	long who = (i * 7919) % 1000, to = (i * 104729) % 1000;
	/* Dates spread over a year, not in arrival order. */
	long secs = (i * 2654435761L) % (365L * 86400);
	int h = snprintf(m, cap,
			 "From: Person %ld <p%ld@example.org>\r\nTo: p%ld@example.org\r\n"
			 "Cc: list%ld@example.org\r\n"
			 "Subject: %stopic %ld of the bench\r\n"
			 "Date: %ld Jan 2025 %02ld:%02ld:%02ld %s\r\n"
			 "Message-ID: <%ld@fill>\r\n",
			 who, who, to, i % 7, k ? "Re: " : "", (t * 7919) % (n / 10 + 1),
			 1 + secs / 86400 % 28, secs / 3600 % 24, secs / 60 % 60, secs % 60,
			 zones[i % 5], i);
	if (k) {
		h += snprintf(m + h, cap - (size_t)h, "References:");
		for (long r = t * 10; r < i; r++)
			h += snprintf(m + h, cap - (size_t)h, " <%ld@fill>", r);
		h += snprintf(m + h, cap - (size_t)h, "\r\n");
	}
	h += snprintf(m + h, cap - (size_t)h, "\r\n");
	return h;
}

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
	bool threads = argc > 5 && strcmp(argv[5], "threads") == 0;
	/* Room for the longest header and the body after it. */
	size_t slot = threads ? size + HEADER_MAX : size;
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
	char *text = malloc((size_t)BATCH * slot);
	struct store_append_msg *msgs = calloc(BATCH, sizeof(*msgs));
	uint32_t *uids = calloc(BATCH, sizeof(*uids));
	if (!text || !msgs || !uids)
		return 1;
	double t0 = now();
	for (long done = 0; done < n && rc == STORE_OK;) {
		size_t k = n - done < BATCH ? (size_t)(n - done) : BATCH;
		for (size_t i = 0; i < k; i++) {
			char *m = text + i * slot;
			int h;
			size_t len = size;
			if (threads) {
				h = thread_header(m, HEADER_MAX, done + (long)i, n);
				if ((size_t)h + 8 > len)
					len = (size_t)h + 8;
			} else {
				h = snprintf(m, size, "Subject: fill %ld\r\nMessage-ID: <%ld@fill>\r\n\r\n",
					     done + (long)i, done + (long)i);
			}
			memset(m + h, 'x', len - (size_t)h - 2);
			memcpy(m + len - 2, "\r\n", 2);
			msgs[i] = (struct store_append_msg){ .data = m, .len = len };
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
