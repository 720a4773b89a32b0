/* core/auth.h: password hashing and the login policy shared by SMTP, POP3
 * and IMAP.  Front-ends never look at password hashes themselves. */
#ifndef POSTINO_AUTH_H
#define POSTINO_AUTH_H

#include <stddef.h>

struct conn;
struct store_user;

/* yescrypt via libcrypt, with a fresh random salt.  0 or -1. */
int auth_hash_password(const char *password, char *out, size_t outlen);
/* Constant-time verification of password against a crypt(3) hash. 1/0. */
int auth_verify_password(const char *password, const char *hash);

enum auth_result { AUTH_OK = 0, AUTH_FAIL = 1, AUTH_TEMPFAIL = 2 };

/* Check a user name and password for connection c; logs auth ok/fail.  In
 * sandbox mode any password is accepted and a missing user is created.
 * On AUTH_OK, *user_r is filled. */
enum auth_result auth_login(struct conn *c, const char *username, const char *password,
			    struct store_user *user_r);

#endif
