/* tests/bench/bench_dkim.c: the DKIM signer's cost, run by hand.
 *   ninja -C build tests/bench/bench_dkim && build/tests/bench/bench_dkim
 * Makes an RSA-2048 and an Ed25519 key in a temporary data directory, then
 * prints: signatures per second of a 4 KiB message with each key alone and
 * with both, and the body rate (MB/s) of a 64 MiB message (canonicalizing
 * and hashing; one signature), read from memory in 16 KiB reads. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "smtp/smtp_dkim.h"

struct mem {
	const char *p;
	size_t n;
};

static int mem_read(void *arg, uint64_t off, void *buf, size_t cap, size_t *got)
{
	struct mem *m = arg;
	size_t n = off >= m->n ? 0 : m->n - (size_t)off;
	*got = n < cap ? n : cap;
	memcpy(buf, m->p + off, *got);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void key_make(const char *dir, const char *file, int id)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(id, NULL);
	EVP_PKEY *pk = NULL;
	EVP_PKEY_keygen_init(c);
	if (id == EVP_PKEY_RSA)
		EVP_PKEY_CTX_set_rsa_keygen_bits(c, 2048);
	if (EVP_PKEY_keygen(c, &pk) != 1)
		exit(1);
	char path[512];
	snprintf(path, sizeof(path), "%s/dkim/%s", dir, file);
	FILE *f = fdopen(open(path, O_WRONLY | O_CREAT | O_EXCL, 0600), "w");
	if (!f || PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) != 1)
		exit(1);
	fclose(f);
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(c);
}

static char *message(size_t body)
{
	const char *h = "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\n"
			"Subject: a benchmark\r\nDate: Sun, 06 Dec 2026 06:00:00 +0000\r\n"
			"Message-ID: <1@example.org>\r\n\r\n";
	size_t hl = strlen(h);
	char *m = malloc(hl + body + 1);
	memcpy(m, h, hl);
	for (size_t i = 0; i < body; i++)
		m[hl + i] = i % 72 == 70 ? '\r' : i % 72 == 71 ? '\n' : (i % 9 == 0 ? ' ' : 'a' + i % 26);
	m[hl + body] = '\0';
	return m;
}

static void run(const char *name, const char *dir, const char *domain, size_t body, int n)
{
	struct smtp_dkim_keys *k = NULL;
	char err[512];
	if (smtp_dkim_keys_load(dir, &k, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	char *m = message(body);
	struct mem src = {m, strlen(m)};
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		struct buf out;
		buf_init(&out, 0);
		if (smtp_dkim_sign(k, domain, 1796500000, mem_read, &src, &out) != SMTP_DKIM_OK)
			exit(1);
		buf_free(&out);
	}
	double dt = now_s() - t0;
	if (body >= (1 << 20))
		printf("%-34s %8.1f MB/s\n", name, (double)src.n * n / dt / 1e6);
	else
		printf("%-34s %8.0f messages/s\n", name, n / dt);
	free(m);
	smtp_dkim_keys_free(&k);
}

int main(void)
{
	char dir[] = "/tmp/bench_dkim.XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char d[128];
	snprintf(d, sizeof(d), "%s/dkim", dir);
	mkdir(d, 0700);
	key_make(dir, "rsa.example.s.key", EVP_PKEY_RSA);
	key_make(dir, "ed.example.e.key", EVP_PKEY_ED25519);
	key_make(dir, "both.example.s.key", EVP_PKEY_RSA);
	key_make(dir, "both.example.e.key", EVP_PKEY_ED25519);
	run("4 KiB, rsa-sha256 (2048)", dir, "rsa.example", 4096, 2000);
	run("4 KiB, ed25519-sha256", dir, "ed.example", 4096, 10000);
	run("4 KiB, both signatures", dir, "both.example", 4096, 2000);
	run("64 MiB body, ed25519-sha256", dir, "ed.example", 64 << 20, 3);
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}
