/* tests/bench/bench_disk.c: bytes on disk per byte delivered (issue 11
 * point 6).
 *
 * Delivers N messages straight through the storage API (store_deliver, one
 * recipient, one transaction each, a log flush every 100 as group commit
 * would do) into a fresh data directory, checkpoints, closes the store and
 * prints the size of every database file and of the log against the bytes
 * delivered.  Before closing it reads every message back in 64 KiB steps
 * (as a streamed RETR does) and prints the read rate.  Not part of tests/run: see tests/bench/README.md.
 *
 *   bench_disk DIR fixed N SIZE     N messages of SIZE bytes
 *   bench_disk DIR mix N [SEED]     N messages from 1 KiB to 1 MiB (below) */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "storage/storage.h"

/* xorshift64*: deterministic, so runs before and after a change compare. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* A mix shaped like a mailbox: mostly small text mail, some with
 * attachments.  Sizes are uniform inside each band. */
static size_t mix_size(uint64_t *s)
{
	static const struct {
		unsigned percent;
		size_t lo, hi;
	} bands[] = {
		{50, 1024, 8192},
		{30, 8192, 65536},
		{15, 65536, 262144},
		{5, 262144, 1048576},
	};
	unsigned p = (unsigned)(rng_next(s) % 100), acc = 0;
	for (size_t i = 0; i < sizeof(bands) / sizeof(bands[0]); i++) {
		acc += bands[i].percent;
		if (p < acc)
			return bands[i].lo + (size_t)(rng_next(s) % (bands[i].hi - bands[i].lo + 1));
	}
	return 4096;
}

/* Mail-like text (header lines, then body lines of printable ASCII), so a
 * compressor sees something closer to real mail than random bytes. */
static void fill_message(uint8_t *p, size_t len, uint64_t *s)
{
	static const char *words[] = {"the", "message", "server", "mail", "of", "and",
				      "delivery", "postino", "to", "Received:", "from",
				      "by", "with", "ESMTP", "id", "for", "a", "is"};
	size_t col = 0;
	for (size_t i = 0; i < len;) {
		const char *w = words[rng_next(s) % (sizeof(words) / sizeof(words[0]))];
		size_t wl = strlen(w);
		if (col + wl + 1 > 72) {
			p[i++] = '\r';
			if (i < len)
				p[i++] = '\n';
			col = 0;
			continue;
		}
		for (size_t j = 0; j < wl && i < len; j++)
			p[i++] = (uint8_t)w[j];
		if (i < len)
			p[i++] = ' ';
		col += wl + 1;
	}
}

static uint64_t file_size(const char *dir, const char *name)
{
	char path[4096];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void report(const char *dir, uint64_t delivered)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	uint64_t dbs = 0, logs = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		uint64_t sz = file_size(dir, e->d_name);
		if (n > 3 && strcmp(e->d_name + n - 3, ".db") == 0) {
			dbs += sz;
			printf("  %-20s %12" PRIu64 " bytes  %6.3fx\n", e->d_name, sz,
			       (double)sz / (double)delivered);
		} else if (strncmp(e->d_name, "log.", 4) == 0) {
			logs += sz;
		}
	}
	closedir(d);
	printf("  %-20s %12" PRIu64 " bytes  %6.3fx\n", "all .db files", dbs,
	       (double)dbs / (double)delivered);
	printf("  %-20s %12" PRIu64 " bytes  %6.3fx (after checkpoint and log removal)\n",
	       "log files", logs, (double)logs / (double)delivered);
}

int main(int argc, char **argv)
{
	if (argc < 4 || (strcmp(argv[2], "fixed") == 0 && argc < 5)) {
		fprintf(stderr, "usage: %s DIR fixed N SIZE | DIR mix N [SEED]\n", argv[0]);
		return 2;
	}
	const char *dir = argv[1];
	bool mix = strcmp(argv[2], "mix") == 0;
	unsigned long n = strtoul(argv[3], NULL, 10);
	size_t fixed = mix ? 0 : strtoul(argv[4], NULL, 10);
	uint64_t seed = mix && argc > 4 ? strtoull(argv[4], NULL, 10) : 0x9e3779b97f4a7c15ull;
	struct store *s;
	if (store_open(dir, &(struct store_options){0}, &s) != STORE_OK) {
		fprintf(stderr, "cannot open store in %s\n", dir);
		return 1;
	}
	if (store_user_add(s, "bench@example.org", "", NULL) != STORE_OK) {
		fprintf(stderr, "cannot add user\n");
		return 1;
	}
	uint8_t *buf = malloc(1048576);
	if (!buf)
		return 1;
	uint64_t delivered = 0, *ids = calloc(n ? n : 1, sizeof(*ids));
	if (!ids)
		return 1;
	const char *rcpt[] = {"bench@example.org"};
	for (unsigned long i = 0; i < n; i++) {
		size_t len = mix ? mix_size(&seed) : fixed;
		if (len > 1048576)
			len = 1048576;
		fill_message(buf, len, &seed);
		int res[1];
		struct store_delivery dl = {.recipients = rcpt, .nrecipients = 1, .data = buf,
					    .len = len};
		if (store_deliver(s, &dl, res, &ids[i]) != STORE_OK) {
			fprintf(stderr, "delivery %lu failed\n", i);
			return 1;
		}
		delivered += len;
		if (i % 100 == 99 && store_sync(s) != STORE_OK)
			return 1;
		if (i % 20000 == 19999)
			(void)store_checkpoint(s);
	}
	if (store_sync(s) != STORE_OK || store_checkpoint(s) != STORE_OK)
		return 1;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned long i = 0; i < n; i++) {
		uint64_t pos = 0;
		size_t got;
		do {
			if (store_content_read(s, ids[i], pos, buf, 65536, &got) != STORE_OK)
				return 1;
			pos += got;
		} while (got > 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	store_close(&s);
	free(buf);
	free(ids);
	printf("%lu messages, %" PRIu64 " bytes delivered (%.1f KiB average)\n", n, delivered,
	       (double)delivered / (double)n / 1024.0);
	printf("read back in 64 KiB steps: %.0f MB/s (%.1f s, cache warm)\n",
	       (double)delivered / secs / 1e6, secs);
	report(dir, delivered);
	return 0;
}
