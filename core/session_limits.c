/* core/session_limits.c: limits by session state, and the input budget (see
 * core/session_limits.h). */
#include "core/session_limits.h"

#include "core/config.h"
#include "core/server.h"

void limits_get(const struct config *cfg, enum limits_state st, struct limits *r)
{
	if (st == LIMITS_PREAUTH) {
		*r = (struct limits){
			.max_line = cfg->max_line < LIMITS_PREAUTH_LINE ? cfg->max_line
									  : LIMITS_PREAUTH_LINE,
			.max_literal = LIMITS_PREAUTH_LITERAL,
			.max_command = LIMITS_PREAUTH_COMMAND,
			/* Nobody may APPEND before logging in (RFC 9051 6.3.12 is an
			 * authenticated-state command): its literal is refused
			 * before a byte of it is buffered. */
			.max_imap_message = 0,
			.max_imap_metadata = 0,
			.max_smtp_message = cfg->smtp_max_message_size,
			.read_ahead = LIMITS_PREAUTH_READ_AHEAD,
		};
		return;
	}
	*r = (struct limits){
		.max_line = cfg->max_line,
		.max_literal = 64 * 1024,
		.max_command = 256 * 1024,
		.max_imap_message = cfg->imap_max_message_size,
		.max_imap_metadata = cfg->imap_metadata_max_size,
		.max_smtp_message = cfg->smtp_max_message_size,
		.read_ahead = LIMITS_AUTHED_READ_AHEAD,
	};
}

/* Every loop takes from one budget: compare-and-swap, so two loops never
 * both take the last bytes. */
bool limits_budget_take(struct server *srv, size_t n)
{
	size_t max = srv->cfg->input_budget;
	size_t used = atomic_load(&srv->input_used);
	do {
		if (n > max || used > max - n)
			return false;
	} while (!atomic_compare_exchange_weak(&srv->input_used, &used, used + n));
	return true;
}

void limits_budget_give(struct server *srv, size_t n)
{
	size_t used = atomic_load(&srv->input_used);
	while (!atomic_compare_exchange_weak(&srv->input_used, &used, n > used ? 0 : used - n))
		;
}

size_t limits_budget_used(const struct server *srv)
{
	return srv->input_used;
}
