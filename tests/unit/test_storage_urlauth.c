/* tests/unit/test_storage_urlauth.c: the URLAUTH mailbox access keys
 * (storage/storage_urlauth.c, RFC 4467 3): made on demand, per user and
 * mailbox, stable until RESETKEY, gone for good after it, kept across a
 * reopen of the store, never made for a mailbox that is not the user's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"
#include "tests/unit/store_fixture.h"

struct fx {
	char dir[STORE_FIXTURE_DIR_MAX];
	struct store *s;
	struct store_user u, v;
	struct store_mailbox inbox, sent, vinbox;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	if (store_fixture_open(f->dir, "urlauth", &f->s) < 0 ||
	    store_user_add(f->s, "u@example.org", "", &f->u) != STORE_OK ||
	    store_user_add(f->s, "v@example.org", "", &f->v) != STORE_OK ||
	    store_mailbox_get(f->s, f->u.id, "INBOX", &f->inbox) != STORE_OK ||
	    store_mailbox_get(f->s, f->u.id, "Sent", &f->sent) != STORE_OK ||
	    store_mailbox_get(f->s, f->v.id, "INBOX", &f->vinbox) != STORE_OK)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	store_fixture_close(f->dir, &f->s);
	free(f);
	return 0;
}

static int mac(struct fx *f, uint32_t user, uint32_t mbox, bool create, const char *data,
	       uint8_t out[STORE_URLAUTH_MAC_LEN], bool *created)
{
	return store_urlauth_mac(f->s, user, mbox, create, data, strlen(data), out, created);
}

static void test_keys(void **state)
{
	struct fx *f = *state;
	uint8_t a[STORE_URLAUTH_MAC_LEN], b[STORE_URLAUTH_MAC_LEN], c[STORE_URLAUTH_MAC_LEN];
	bool created = true;
	/* None until asked for with create. */
	assert_int_equal(mac(f, f->u.id, f->inbox.id, false, "x", a, &created), STORE_ERR_NOTFOUND);
	assert_int_equal(mac(f, f->u.id, f->inbox.id, true, "x", a, &created), STORE_OK);
	assert_true(created);
	assert_int_equal(mac(f, f->u.id, f->inbox.id, false, "x", b, &created), STORE_OK);
	assert_false(created);
	assert_memory_equal(a, b, sizeof(a));
	/* Another rump, another MAC; another mailbox, another key. */
	assert_int_equal(mac(f, f->u.id, f->inbox.id, false, "y", b, NULL), STORE_OK);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(mac(f, f->u.id, f->sent.id, true, "x", c, NULL), STORE_OK);
	assert_memory_not_equal(a, c, sizeof(a));
	/* Not for another user's mailbox, nor one that does not exist. */
	assert_int_equal(mac(f, f->u.id, f->vinbox.id, true, "x", b, NULL), STORE_ERR_NOTFOUND);
	assert_int_equal(mac(f, f->u.id, 999999, true, "x", b, NULL), STORE_ERR_NOTFOUND);
	assert_int_equal(mac(f, f->v.id, f->vinbox.id, true, "x", b, NULL), STORE_OK);

	/* Kept across a reopen. */
	assert_int_equal(store_sync(f->s), STORE_OK);
	store_close(&f->s);
	assert_int_equal(store_open(f->dir, NULL, &f->s), STORE_OK);
	assert_int_equal(mac(f, f->u.id, f->inbox.id, false, "x", b, NULL), STORE_OK);
	assert_memory_equal(a, b, sizeof(a));

	/* RESETKEY of one mailbox: that key only; a new one differs. */
	assert_int_equal(store_urlauth_reset(f->s, f->u.id, f->inbox.id), STORE_OK);
	assert_int_equal(mac(f, f->u.id, f->inbox.id, false, "x", b, NULL), STORE_ERR_NOTFOUND);
	assert_int_equal(mac(f, f->u.id, f->sent.id, false, "x", b, NULL), STORE_OK);
	assert_memory_equal(b, c, sizeof(c));
	assert_int_equal(mac(f, f->u.id, f->inbox.id, true, "x", b, NULL), STORE_OK);
	assert_memory_not_equal(a, b, sizeof(a));
	/* RESETKEY of all: every key of the user, nobody else's. */
	assert_int_equal(store_urlauth_reset(f->s, f->u.id, 0), STORE_OK);
	assert_int_equal(mac(f, f->u.id, f->inbox.id, false, "x", b, NULL), STORE_ERR_NOTFOUND);
	assert_int_equal(mac(f, f->u.id, f->sent.id, false, "x", b, NULL), STORE_ERR_NOTFOUND);
	assert_int_equal(mac(f, f->v.id, f->vinbox.id, false, "x", b, NULL), STORE_OK);
	assert_int_equal(store_urlauth_reset(f->s, f->u.id, 0), STORE_OK);
	assert_int_equal(store_urlauth_reset(f->s, 0, 0), STORE_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
