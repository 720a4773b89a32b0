/* core/proto.c: the listener kinds and the front-end serving each. */
#include "core/proto.h"

#include <string.h>

static const struct {
	const char *kind;
	const struct proto_ops *ops;
	unsigned flags;
} kinds[] = {
	{"smtp", &smtp_proto_ops, LISTEN_TRUST_MAIL},
	{"submission", &smtp_proto_ops, LISTEN_SUBMISSION},
	{"smtps", &smtp_proto_ops, LISTEN_SUBMISSION | LISTEN_IMPLICIT_TLS},
	{"pop3", &pop3_proto_ops, 0},
	{"pop3s", &pop3_proto_ops, LISTEN_IMPLICIT_TLS},
	{"imap", &imap_proto_ops, 0},
	{"imaps", &imap_proto_ops, LISTEN_IMPLICIT_TLS},
};

const struct proto_ops *proto_lookup(const char *kind, unsigned *flags_r)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(kinds[i].kind, kind) == 0) {
			*flags_r = kinds[i].flags;
			return kinds[i].ops;
		}
	}
	return NULL;
}

const char *proto_kinds(void)
{
	return "smtp, submission, smtps, pop3, pop3s, imap, imaps";
}
