/* Unit tests for smtp/smtp_dkim_canon.c and smtp/smtp_dkim.c: the relaxed
 * canonicalization of RFC 6376 3.4.5's example, body edge cases (empty,
 * only CRLFs, no final CRLF, trailing WSP lines, bare LF), every split of a
 * message into two chunks and byte by byte giving the same output, the
 * header section reader (folding, unkept huge fields, the bound), and the
 * signer: the same signatures whatever the read sizes, one per key, the
 * header folded under 78 characters, NOKEY and ETOOBIG. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "smtp/smtp_dkim.h"
#include "smtp/smtp_dkim_canon.h"

#define L(s) (s), (sizeof(s) - 1)

static void collect_out(void *arg, const void *p, size_t n)
{
	assert_int_equal(buf_append(arg, p, n), 0);
}

/* The relaxed body of s, fed in pieces of at most `step` bytes (0: the
 * split point `cut` instead). */
static void body_canon(const char *s, size_t n, size_t step, size_t cut, struct buf *out)
{
	struct smtp_dkim_body b;
	buf_init(out, 0);
	smtp_dkim_body_init(&b, collect_out, out);
	if (step) {
		for (size_t i = 0; i < n; i += step)
			smtp_dkim_body_update(&b, s + i, n - i < step ? n - i : step);
	} else {
		smtp_dkim_body_update(&b, s, cut);
		smtp_dkim_body_update(&b, s + cut, n - cut);
	}
	smtp_dkim_body_finish(&b);
}

/* Checks every two-chunk split and byte by byte against `want`. */
static void body_check(const char *s, size_t n, const char *want)
{
	struct buf out;
	for (size_t cut = 0; cut <= n; cut++) {
		body_canon(s, n, 0, cut, &out);
		assert_int_equal(out.len, strlen(want));
		assert_memory_equal(out.len ? out.data : "", want, out.len);
		buf_free(&out);
	}
	body_canon(s, n, 1, 0, &out);
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.len ? out.data : "", want, out.len);
	buf_free(&out);
}

static const char *const names_ab[] = {"a", "b"};

/* RFC 6376 3.4.5, relaxed/relaxed. */
static void test_rfc6376_example(void **state)
{
	const char msg[] = "A: X\r\n"
			   "B : Y\t\r\n"
			   "\tZ  \r\n"
			   "\r\n"
			   " C \r\n"
			   "D \t E\r\n"
			   "\r\n"
			   "\r\n";
	for (size_t step = 1; step <= sizeof(msg); step++) {
		struct smtp_dkim_headers h;
		smtp_dkim_headers_init(&h, names_ab, 2, 1024);
		size_t off = 0, used = 0;
		int rc = 0;
		while (rc == 0 && off < sizeof(msg) - 1) {
			size_t n = sizeof(msg) - 1 - off < step ? sizeof(msg) - 1 - off : step;
			rc = smtp_dkim_headers_push(&h, msg + off, n, &used);
			off += used;
		}
		assert_int_equal(rc, 1);
		assert_int_equal(off, strlen("A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n"));
		assert_int_equal(h.nfields, 2);
		struct buf c;
		buf_init(&c, 0);
		for (unsigned i = 0; i < h.nfields; i++)
			assert_int_equal(smtp_dkim_header_canon(h.kept.data + h.fields[i].off,
								h.fields[i].len, true, &c), 0);
		assert_string_equal(c.data, "a:X\r\nb:Y Z\r\n");
		buf_free(&c);
		smtp_dkim_headers_free(&h);
	}
	body_check(L(" C \r\nD \t E\r\n\r\n\r\n"), " C\r\nD E\r\n");
}

static void test_body_edges(void **state)
{
	body_check(L(""), "");
	body_check(L("\r\n"), "");
	body_check(L("\r\n\r\n\r\n"), "");
	body_check(L(" \t\r\n  \r\n"), ""); /* lines of only WSP are empty lines */
	body_check(L("x"), "x\r\n");
	body_check(L("x  \t"), "x\r\n");
	body_check(L("x\r\n\r\n \r\ny\r\n\r\n"), "x\r\n\r\n\r\ny\r\n");
	body_check(L("a \t  b\r\n"), "a b\r\n"); /* a WSP run cut anywhere */
	body_check(L("a\nb\n\n"), "a\r\nb\r\n"); /* bare LF as CRLF */
	body_check(L("a\rb\r\n"), "a\rb\r\n");   /* a bare CR is a byte */
	body_check(L("a\r"), "a\r\r\n");
	body_check(L("\t lead\r\n"), " lead\r\n");
}

static void test_header_canon(void **state)
{
	struct buf c;
	buf_init(&c, 0);
	assert_int_equal(smtp_dkim_header_canon(L("SUBJect \t:  a \t b\r\n\t c  "), true, &c), 0);
	assert_string_equal(c.data, "subject:a b c\r\n");
	buf_reset(&c);
	assert_int_equal(smtp_dkim_header_canon(L("To:"), false, &c), 0);
	assert_string_equal(c.data, "to:");
	assert_int_equal(smtp_dkim_header_canon(L("no colon"), true, &c), -1);
	buf_free(&c);
}

static const char *const names_from_to[] = {"from", "to"};

static void test_headers_reader(void **state)
{
	/* An unkept field of 1 MB passes with a 64-byte bound; kept fields,
	 * a second From, folding, a line without colon, no body at all. */
	size_t big = 1 << 20;
	struct buf m;
	buf_init(&m, 0);
	buf_puts(&m, "Received: ");
	for (size_t i = 0; i < big; i++)
		buf_putc(&m, i % 70 == 69 ? '\n' : (i % 70 == 0 ? ' ' : 'r'));
	buf_puts(&m, "\r\nFrom: a@x\r\nnot a field\r\nTO:\r\n  b@y\nfrom: c@z");
	struct smtp_dkim_headers h;
	smtp_dkim_headers_init(&h, names_from_to, 2, 64);
	size_t used = 0;
	for (size_t off = 0; off < m.len; off += 4093) {
		size_t n = m.len - off < 4093 ? m.len - off : 4093;
		assert_int_equal(smtp_dkim_headers_push(&h, m.data + off, n, &used), 0);
		assert_int_equal(used, n);
	}
	assert_int_equal(smtp_dkim_headers_end(&h), 0);
	assert_int_equal(h.nfields, 3);
	struct buf c;
	buf_init(&c, 0);
	for (unsigned i = 0; i < h.nfields; i++)
		smtp_dkim_header_canon(h.kept.data + h.fields[i].off, h.fields[i].len, true, &c);
	assert_string_equal(c.data, "from:a@x\r\nto:b@y\r\nfrom:c@z\r\n");
	assert_int_equal(h.fields[0].name, 0);
	assert_int_equal(h.fields[1].name, 1);
	buf_free(&c);
	smtp_dkim_headers_free(&h);

	/* A kept field past the bound is an error, not growth. */
	smtp_dkim_headers_init(&h, names_from_to, 2, 64);
	buf_reset(&m);
	buf_puts(&m, "To: ");
	for (int i = 0; i < 100; i++)
		buf_puts(&m, "x");
	assert_int_equal(smtp_dkim_headers_push(&h, m.data, m.len, &used), -1);
	smtp_dkim_headers_free(&h);
	buf_free(&m);
}

/* ---- the signer ---- */

struct mem_src {
	const char *p;
	size_t n, step;
	unsigned calls;
	bool fail;
};

static int mem_read(void *arg, uint64_t off, void *buf, size_t cap, size_t *got)
{
	struct mem_src *s = arg;
	s->calls++;
	if (s->fail)
		return -1;
	size_t n = off >= s->n ? 0 : s->n - (size_t)off;
	if (n > cap)
		n = cap;
	if (n > s->step)
		n = s->step;
	memcpy(buf, s->p + off, n);
	*got = n;
	return 0;
}

static char tmpdir[64];

static void key_make(const char *file, int id)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(id, NULL);
	EVP_PKEY *pk = NULL;
	assert_non_null(c);
	assert_int_equal(EVP_PKEY_keygen_init(c), 1);
	if (id == EVP_PKEY_RSA)
		assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(c, 2048), 1);
	assert_int_equal(EVP_PKEY_keygen(c, &pk), 1);
	char path[256];
	snprintf(path, sizeof(path), "%s/dkim/%s", tmpdir, file);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_int_equal(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(c);
}

static int keys_setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_smtp_dkim.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	char d[128];
	snprintf(d, sizeof(d), "%s/dkim", tmpdir);
	assert_int_equal(mkdir(d, 0700), 0);
	key_make("example.org.s1.key", EVP_PKEY_RSA);
	key_make("example.org.e1.key", EVP_PKEY_ED25519);
	struct smtp_dkim_keys *k = NULL;
	char err[256];
	assert_int_equal(smtp_dkim_keys_load(tmpdir, &k, err, sizeof(err)), 0);
	*state = k;
	return 0;
}

static int keys_teardown(void **state)
{
	struct smtp_dkim_keys *k = *state;
	smtp_dkim_keys_free(&k);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd);
}

static const char message[] = "Received: from x by y; Sun, 6 Dec 2026 06:00:00 +0000\r\n"
			      "From: Alice <alice@example.org>\r\n"
			      "To: bob@example.net,\r\n  carol@example.net\r\n"
			      "Subject:   a   subject  \r\n"
			      "Date: Sun, 6 Dec 2026 06:00:00 +0000\r\n"
			      "\r\n"
			      "line one  \r\n"
			      "\t\tindented\r\n"
			      "\r\n"
			      "\r\n";

static void test_sign_chunk_independent(void **state)
{
	struct smtp_dkim_keys *k = *state;
	assert_int_equal(smtp_dkim_keys_count(k, "EXAMPLE.org"), 2);
	struct buf first;
	buf_init(&first, 0);
	struct mem_src s = {message, sizeof(message) - 1, 1 << 20, 0, false};
	assert_int_equal(smtp_dkim_sign(k, "example.org", 1796500000, mem_read, &s, &first),
			 SMTP_DKIM_OK);
	/* Two signatures, each ending in CRLF, every line under 78. */
	const char *p = first.data;
	unsigned sigs = 0;
	while (*p) {
		const char *e = strstr(p, "\r\n");
		assert_non_null(e);
		assert_true(e - p < 78);
		if (strncmp(p, "DKIM-Signature:", 15) == 0)
			sigs++;
		p = e + 2;
	}
	assert_int_equal(sigs, 2);
	assert_non_null(strstr(first.data, "a=ed25519-sha256;"));
	assert_non_null(strstr(first.data, "a=rsa-sha256;"));
	assert_non_null(strstr(first.data, "h=from:from:to:subject:date;"));
	assert_non_null(strstr(first.data, "t=1796500000;"));
	for (size_t step = 1; step < sizeof(message); step += (step < 80 ? 1 : 37)) {
		struct buf again;
		buf_init(&again, 0);
		s = (struct mem_src){message, sizeof(message) - 1, step, 0, false};
		assert_int_equal(smtp_dkim_sign(k, "example.org", 1796500000, mem_read, &s, &again),
				 SMTP_DKIM_OK);
		assert_string_equal(again.data, first.data);
		buf_free(&again);
	}
	buf_free(&first);
}

static void test_sign_errors(void **state)
{
	struct smtp_dkim_keys *k = *state;
	struct buf out;
	buf_init(&out, 0);
	struct mem_src s = {message, sizeof(message) - 1, 100, 0, false};
	assert_int_equal(smtp_dkim_sign(k, "example.net", 1, mem_read, &s, &out), SMTP_DKIM_NOKEY);
	assert_int_equal(s.calls, 0);
	assert_int_equal(smtp_dkim_sign(NULL, "example.org", 1, mem_read, &s, &out),
			 SMTP_DKIM_NOKEY);
	s.fail = true;
	assert_int_equal(smtp_dkim_sign(k, "example.org", 1, mem_read, &s, &out), SMTP_DKIM_EREAD);
	assert_int_equal(out.len, 0);
	/* A signed field larger than the bound: an error, nothing appended. */
	struct buf m;
	buf_init(&m, 0);
	buf_puts(&m, "From: a@example.org\r\nSubject: ");
	for (int i = 0; i < 300 * 1024; i++)
		buf_putc(&m, i % 60 == 59 ? '\n' : (i % 60 == 0 ? ' ' : 'x'));
	buf_puts(&m, "\r\n\r\nbody\r\n");
	s = (struct mem_src){m.data, m.len, 1 << 20, 0, false};
	assert_int_equal(smtp_dkim_sign(k, "example.org", 1, mem_read, &s, &out),
			 SMTP_DKIM_ETOOBIG);
	assert_int_equal(out.len, 0);
	buf_free(&m);
	buf_free(&out);
}

static void test_keys_load_refuses(void **state)
{
	/* A key others may read, and a badly named file, fail the load. */
	char path[256], err[512];
	struct smtp_dkim_keys *k = NULL;
	snprintf(path, sizeof(path), "%s/dkim/example.org.e1.key", tmpdir);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(smtp_dkim_keys_load(tmpdir, &k, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "chmod 600"));
	assert_null(k);
	assert_int_equal(chmod(path, 0600), 0);
	snprintf(path, sizeof(path), "%s/dkim/nodomain.key", tmpdir);
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(smtp_dkim_keys_load(tmpdir, &k, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "DOMAIN.SELECTOR.key"));
	unlink(path);
	assert_int_equal(smtp_dkim_keys_load(tmpdir, &k, err, sizeof(err)), 0);
	assert_int_equal(smtp_dkim_keys_count(k, "example.org"), 2);
	smtp_dkim_keys_free(&k);
	assert_null(k);
	/* No dkim directory: no keys, no error. */
	assert_int_equal(smtp_dkim_keys_load("/nonexistent-postino", &k, err, sizeof(err)), 0);
	assert_int_equal(smtp_dkim_keys_count(k, "example.org"), 0);
	smtp_dkim_keys_free(&k);
}

int main(void)
{
	const struct CMUnitTest canon[] = {
		cmocka_unit_test(test_rfc6376_example),
		cmocka_unit_test(test_body_edges),
		cmocka_unit_test(test_header_canon),
		cmocka_unit_test(test_headers_reader),
	};
	const struct CMUnitTest sign[] = {
		cmocka_unit_test(test_sign_chunk_independent),
		cmocka_unit_test(test_sign_errors),
		cmocka_unit_test(test_keys_load_refuses),
	};
	int rc = cmocka_run_group_tests(canon, NULL, NULL);
	return rc | cmocka_run_group_tests(sign, keys_setup, keys_teardown);
}
