/* smtp/smtp_dkim_keys.c: the DKIM key set: loading DATA/dkim/, checking
 * each key file, and the set in force in the daemon, which SIGHUP replaces
 * while signatures made with the previous set finish (a set is reference-
 * counted and immutable). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/config.h"
#include "smtp/smtp_dkim.h"
#include "smtp/smtp_dkim_private.h"

void smtp_dkim_keys_free(struct smtp_dkim_keys **keys)
{
	if (!*keys)
		return;
	if (atomic_fetch_sub(&(*keys)->refs, 1) != 1) {
		*keys = NULL; /* another holder still signs with it */
		return;
	}
	for (size_t i = 0; i < (*keys)->n; i++)
		EVP_PKEY_free((*keys)->v[i].pkey);
	free((*keys)->v);
	free(*keys);
	*keys = NULL;
}

bool smtp_dkim_name_split(const char *file, char *domain, size_t dlen, char *selector,
			  size_t slen)
{
	size_t n = strlen(file);
	if (n < 5 || strcmp(file + n - 4, ".key") != 0)
		return false;
	n -= 4;
	const char *dot = NULL;
	for (size_t i = 0; i < n; i++)
		if (file[i] == '.')
			dot = file + i;
	if (!dot || dot == file)
		return false;
	size_t dl = (size_t)(dot - file), sl = n - dl - 1;
	if (dl >= dlen || sl >= slen)
		return false;
	memcpy(domain, file, dl);
	domain[dl] = '\0';
	memcpy(selector, dot + 1, sl);
	selector[sl] = '\0';
	return smtp_dkim_domain_valid(domain) && smtp_dkim_selector_valid(selector);
}

bool smtp_dkim_selector_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

bool smtp_dkim_domain_valid(const char *d)
{
	size_t n = strlen(d), label = 0;
	if (n == 0 || n > 253 || d[0] == '.' || d[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (d[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)d[i]) || d[i] == '-') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

int smtp_dkim_key_read(const char *path, EVP_PKEY **pkey_r, char *err, size_t errlen)
{
	struct stat st;
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		fclose(f);
		return -1;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "%s: a private key others can read (chmod 600 it)", path);
		fclose(f);
		return -1;
	}
	EVP_PKEY *pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!pk) {
		snprintf(err, errlen, "%s: not a PEM private key", path);
		return -1;
	}
	int id = EVP_PKEY_get_base_id(pk);
	if (id == EVP_PKEY_RSA && EVP_PKEY_get_bits(pk) < 1024) {
		/* RFC 8301 3.2: verifiers reject RSA keys under 1024 bits. */
		snprintf(err, errlen, "%s: RSA key of %d bits (at least 1024)", path,
			 EVP_PKEY_get_bits(pk));
		EVP_PKEY_free(pk);
		return -1;
	}
	if (id != EVP_PKEY_RSA && id != EVP_PKEY_ED25519) {
		snprintf(err, errlen, "%s: neither an RSA nor an Ed25519 key", path);
		EVP_PKEY_free(pk);
		return -1;
	}
	*pkey_r = pk;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	const struct smtp_dkim_key *x = a, *y = b;
	int c = strcasecmp(x->domain, y->domain);
	return c ? c : strcmp(x->selector, y->selector);
}

int smtp_dkim_keys_load(const char *data_dir, struct smtp_dkim_keys **keys_r, char *err,
			size_t errlen)
{
	*keys_r = NULL;
	struct smtp_dkim_keys *k = calloc(1, sizeof(*k));
	if (!k) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	atomic_init(&k->refs, 1);
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/dkim", data_dir);
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT) {
			*keys_r = k;
			return 0;
		}
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		free(k);
		return -1;
	}
	size_t cap = 0;
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t nl = strlen(e->d_name);
		if (e->d_name[0] == '.' || nl < 4 || strcmp(e->d_name + nl - 4, ".key") != 0)
			continue;
		struct smtp_dkim_key key = {0};
		if (!smtp_dkim_name_split(e->d_name, key.domain, sizeof(key.domain), key.selector,
					  sizeof(key.selector))) {
			snprintf(err, errlen, "%s/%s: not named DOMAIN.SELECTOR.key", dir, e->d_name);
			rc = -1;
			break;
		}
		char path[1400];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (smtp_dkim_key_read(path, &key.pkey, err, errlen) < 0) {
			rc = -1;
			break;
		}
		if (k->n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct smtp_dkim_key *nv = realloc(k->v, ncap * sizeof(*nv));
			if (!nv) {
				EVP_PKEY_free(key.pkey);
				snprintf(err, errlen, "out of memory");
				rc = -1;
				break;
			}
			k->v = nv;
			cap = ncap;
		}
		k->v[k->n++] = key;
	}
	closedir(d);
	if (rc < 0) {
		smtp_dkim_keys_free(&k);
		return -1;
	}
	/* Directory order is the file system's: sort, so the signatures of a
	 * domain always come in the same order. */
	if (k->n)
		qsort(k->v, k->n, sizeof(k->v[0]), key_cmp);
	*keys_r = k;
	return 0;
}

size_t smtp_dkim_keys_count(const struct smtp_dkim_keys *keys, const char *domain)
{
	size_t n = 0;
	for (size_t i = 0; keys && i < keys->n; i++)
		if (!domain || strcasecmp(keys->v[i].domain, domain) == 0)
			n++;
	return n;
}

/* ---- the set in force in the daemon ---- */

static pthread_mutex_t active_mu = PTHREAD_MUTEX_INITIALIZER;
static struct smtp_dkim_keys *active; /* NULL: signing off, or not loaded */

int smtp_dkim_active_load(const struct config *cfg, size_t *nkeys_r, char *err, size_t errlen)
{
	struct smtp_dkim_keys *fresh = NULL;
	*nkeys_r = 0;
	if (cfg->smtp_dkim_sign) {
		if (smtp_dkim_keys_load(cfg->data_dir, &fresh, err, errlen) < 0)
			return -1;
		*nkeys_r = fresh->n;
	}
	pthread_mutex_lock(&active_mu);
	struct smtp_dkim_keys *old = active;
	active = fresh;
	pthread_mutex_unlock(&active_mu);
	smtp_dkim_keys_free(&old);
	return 0;
}

struct smtp_dkim_keys *smtp_dkim_active_get(void)
{
	pthread_mutex_lock(&active_mu);
	struct smtp_dkim_keys *k = active;
	if (k)
		atomic_fetch_add(&k->refs, 1);
	pthread_mutex_unlock(&active_mu);
	return k;
}

void smtp_dkim_active_clear(void)
{
	pthread_mutex_lock(&active_mu);
	struct smtp_dkim_keys *old = active;
	active = NULL;
	pthread_mutex_unlock(&active_mu);
	smtp_dkim_keys_free(&old);
}
