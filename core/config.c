/* core/config.c: reads the configuration with libconfig, validates every
 * setting (unknown names are errors, so a typo never silently falls back to
 * a default) and reports problems as "FILE:LINE: problem". */
#include "core/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/proto.h"

struct cfg_ctx {
	const char *file;
	char *err;
	size_t errlen;
};

static int cfg_fail(struct cfg_ctx *x, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int cfg_fail(struct cfg_ctx *x, const config_setting_t *s, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(x->err, x->errlen, "%s:%d: %s", x->file, s ? config_setting_source_line(s) : 0, msg);
	return -1;
}

static void defaults(struct config *cfg)
{
	/* Everything but the tables at the end, which are read only up to
	 * their counts (config.h): clearing them would dirty ~43 pages. */
	memset(cfg, 0, offsetof(struct config, local_domains));
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "./postino-data");
	snprintf(cfg->hostname, sizeof(cfg->hostname), "localhost");
	snprintf(cfg->log_target, sizeof(cfg->log_target), "stderr");
	snprintf(cfg->log_level, sizeof(cfg->log_level), "info");
	snprintf(cfg->tls_ciphers, sizeof(cfg->tls_ciphers),
		 "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20");
	snprintf(cfg->tls_ciphersuites, sizeof(cfg->tls_ciphersuites),
		 "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256");
	snprintf(cfg->tls_min_version, sizeof(cfg->tls_min_version), "TLSv1.2");
	cfg->plaintext_auth = CONFIG_PLAINTEXT_TLS_OR_LOOPBACK;
	cfg->auth_failure_delay = 1000;
	cfg->auth_failure_delay_max = 15000;
	cfg->auth_cache_size = 10000;
	cfg->auth_cache_ttl = 3600;
	cfg->max_errors = 10;
	cfg->max_junk_commands = 100;
	cfg->max_connections = 1000;
	cfg->loop_poll_us = 200;
	cfg->max_connections_per_ip = 50;
	cfg->max_line = 4096;
	cfg->input_budget = 128u * 1024 * 1024;
	cfg->idle_timeout = 600;
	cfg->login_timeout = 60;
	cfg->mail_timeout = 300;
	cfg->stress_threshold = 80;
	cfg->stress_login_timeout = 20;
	cfg->stress_idle_timeout = 10;
	cfg->shutdown_grace = 30;
	cfg->smtp_max_message_size = 25u * 1024 * 1024;
	cfg->smtp_max_recipients = 100;
	cfg->smtp_dkim_sign = true;
	cfg->smtp_timeout = 300;
	cfg->smtp_data_timeout = 600;
	cfg->pop3_timeout = 600;
	cfg->imap_timeout = 1800;
	cfg->imap_max_message_size = 64 * 1024 * 1024;
	cfg->imap_metadata_max_size = 16 * 1024;
	cfg->imap_metadata_max_entries = 100;
	cfg->imap_metadata_max_user_entries = 1000;
	cfg->cache_bytes = 64u * 1024 * 1024;
	cfg->min_free_bytes = 64u * 1024 * 1024;
	cfg->checkpoint_interval = 60;
	/* Postfix's defaults: minimal_backoff_time 300s, maximal_backoff_time
	 * 4000s, maximal_queue_lifetime 5d, delay_warning_time 4h. */
	cfg->queue_min_backoff = 300;
	cfg->queue_max_backoff = 3600;
	cfg->queue_lifetime = 5 * 86400;
	cfg->queue_delay_warning = 4 * 3600;
	cfg->queue_scan_interval = 60;
	cfg->outbound_port = 25;
	cfg->outbound_tls = CONFIG_TLS_MAY;
	cfg->outbound_max_connections = 100;
	cfg->outbound_destination_limit = 20;
	cfg->outbound_return_max = 1024 * 1024;
	cfg->dns_timeout_ms = 2000;
	cfg->dns_attempts = 3;
}

/* Copy a string setting into dst; error when it is not a string or too long. */
static int get_str(struct cfg_ctx *x, const config_setting_t *s, char *dst, size_t dstlen)
{
	const char *v = config_setting_get_string(s);
	if (!v)
		return cfg_fail(x, s, "'%s' must be a string", config_setting_name(s));
	if (strlen(v) >= dstlen)
		return cfg_fail(x, s, "'%s' is too long (at most %zu bytes)", config_setting_name(s),
				dstlen - 1);
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int get_uint(struct cfg_ctx *x, const config_setting_t *s, unsigned long long min,
		    unsigned long long max, unsigned long long *v_r)
{
	int t = config_setting_type(s);
	long long v = 0;
	if (t == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (t == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else
		return cfg_fail(x, s, "'%s' must be an integer", config_setting_name(s));
	if (v < 0 || (unsigned long long)v < min || (unsigned long long)v > max)
		return cfg_fail(x, s, "'%s' must be between %llu and %llu", config_setting_name(s),
				min, max);
	*v_r = (unsigned long long)v;
	return 0;
}

static int get_unsigned(struct cfg_ctx *x, const config_setting_t *s, unsigned min, unsigned max,
			unsigned *dst)
{
	unsigned long long v = 0;
	if (get_uint(x, s, min, max, &v) < 0)
		return -1;
	*dst = (unsigned)v;
	return 0;
}

static int get_size(struct cfg_ctx *x, const config_setting_t *s, size_t min, size_t max,
		    size_t *dst)
{
	unsigned long long v = 0;
	if (get_uint(x, s, min, max, &v) < 0)
		return -1;
	*dst = (size_t)v;
	return 0;
}

static int get_bool(struct cfg_ctx *x, const config_setting_t *s, bool *dst)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return cfg_fail(x, s, "'%s' must be true or false", config_setting_name(s));
	*dst = config_setting_get_bool(s) != 0;
	return 0;
}

static int expect_group(struct cfg_ctx *x, const config_setting_t *s)
{
	if (!config_setting_is_group(s))
		return cfg_fail(x, s, "'%s' must be a group { ... }", config_setting_name(s));
	return 0;
}

static int unknown(struct cfg_ctx *x, const config_setting_t *s, const char *where)
{
	return cfg_fail(x, s, "unknown setting '%s'%s%s", config_setting_name(s),
			where ? " in " : "", where ? where : "");
}

int config_parse_listen(const char *spec, struct config_listener *l, char *err, size_t errlen)
{
	memset(l, 0, sizeof(*l));
	const char *eq = strchr(spec, '=');
	if (!eq || eq == spec || (size_t)(eq - spec) >= sizeof(l->kind)) {
		snprintf(err, errlen, "'%s': expected KIND=ADDRESS:PORT", spec);
		return -1;
	}
	memcpy(l->kind, spec, (size_t)(eq - spec));
	unsigned flags;
	if (!proto_lookup(l->kind, &flags)) {
		snprintf(err, errlen, "'%s': unknown listener kind '%s' (one of %s)", spec, l->kind,
			 proto_kinds());
		return -1;
	}
	const char *addr = eq + 1, *colon, *aend;
	if (*addr == '[') {
		aend = strchr(addr, ']');
		if (!aend || aend[1] != ':') {
			snprintf(err, errlen, "'%s': expected [IPV6]:PORT", spec);
			return -1;
		}
		colon = aend + 1;
		addr++;
	} else {
		colon = strrchr(addr, ':');
		aend = colon;
		if (!colon || strchr(addr, ':') != colon) {
			snprintf(err, errlen, "'%s': expected ADDRESS:PORT", spec);
			return -1;
		}
	}
	size_t alen = (size_t)(aend - addr);
	if (alen == 0 || alen >= sizeof(l->address)) {
		snprintf(err, errlen, "'%s': bad address", spec);
		return -1;
	}
	memcpy(l->address, addr, alen);
	const char *p = colon + 1;
	char *end;
	if (!isdigit((unsigned char)*p)) {
		snprintf(err, errlen, "'%s': bad port", spec);
		return -1;
	}
	unsigned long port = strtoul(p, &end, 10);
	if (*end || port > 65535) {
		snprintf(err, errlen, "'%s': bad port", spec);
		return -1;
	}
	l->port = (unsigned)port;
	return 0;
}

int config_parse_nameserver(const char *spec, struct config_nameserver *ns, char *err,
			    size_t errlen)
{
	memset(ns, 0, sizeof(*ns));
	char host[INET6_ADDRSTRLEN + 1];
	const char *port = NULL, *h = spec;
	size_t hl;
	if (*spec == '[') {
		const char *close = strchr(spec, ']');
		if (!close || (close[1] && close[1] != ':')) {
			snprintf(err, errlen, "'%s': expected [IPV6] or [IPV6]:PORT", spec);
			return -1;
		}
		h = spec + 1;
		hl = (size_t)(close - h);
		port = close[1] ? close + 2 : NULL;
	} else {
		const char *colon = strchr(spec, ':');
		/* One colon: IPv4:PORT; more: a bare IPv6 address. */
		if (colon && !strchr(colon + 1, ':')) {
			hl = (size_t)(colon - spec);
			port = colon + 1;
		} else {
			hl = strlen(spec);
		}
	}
	if (hl == 0 || hl >= sizeof(host)) {
		snprintf(err, errlen, "'%s': bad address", spec);
		return -1;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	unsigned long pn = 53;
	if (port) {
		char *end;
		if (!isdigit((unsigned char)*port) || (pn = strtoul(port, &end, 10), *end) ||
		    pn == 0 || pn > 65535) {
			snprintf(err, errlen, "'%s': bad port", spec);
			return -1;
		}
	}
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ns->addr;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ns->addr;
	if (*spec != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)pn);
		ns->addrlen = sizeof(*v4);
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)pn);
		ns->addrlen = sizeof(*v6);
	} else {
		snprintf(err, errlen, "'%s': not an IP address (a name would need DNS to find DNS)",
			 spec);
		return -1;
	}
	return 0;
}

static int load_listeners(struct cfg_ctx *x, struct config *cfg, const config_setting_t *list)
{
	if (!config_setting_is_list(list) && !config_setting_is_array(list))
		return cfg_fail(x, list, "'listeners' must be a list ( { ... }, ... )");
	int n = config_setting_length(list);
	if (n > CONFIG_MAX_LISTENERS)
		return cfg_fail(x, list, "too many listeners (at most %d)", CONFIG_MAX_LISTENERS);
	cfg->nlisteners = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		if (!config_setting_is_group(g))
			return cfg_fail(x, g, "each listener must be a group { kind=...; address=...; port=...; }");
		struct config_listener *l = &cfg->listeners[cfg->nlisteners];
		memset(l, 0, sizeof(*l));
		bool have_kind = false, have_port = false;
		snprintf(l->address, sizeof(l->address), "127.0.0.1");
		for (int j = 0; j < config_setting_length(g); j++) {
			const config_setting_t *s = config_setting_get_elem(g, (unsigned)j);
			const char *name = config_setting_name(s);
			if (strcmp(name, "kind") == 0) {
				if (get_str(x, s, l->kind, sizeof(l->kind)) < 0)
					return -1;
				unsigned flags;
				if (!proto_lookup(l->kind, &flags))
					return cfg_fail(x, s, "unknown listener kind '%s' (one of %s)",
							l->kind, proto_kinds());
				have_kind = true;
			} else if (strcmp(name, "address") == 0) {
				if (get_str(x, s, l->address, sizeof(l->address)) < 0)
					return -1;
			} else if (strcmp(name, "port") == 0) {
				if (get_unsigned(x, s, 0, 65535, &l->port) < 0)
					return -1;
				have_port = true;
			} else {
				return unknown(x, s, "a listener");
			}
		}
		if (!have_kind || !have_port)
			return cfg_fail(x, g, "a listener needs 'kind' and 'port'");
		cfg->nlisteners++;
	}
	return 0;
}

static int load_log(struct cfg_ctx *x, struct config *cfg, const config_setting_t *g)
{
	if (expect_group(x, g) < 0)
		return -1;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		if (strcmp(name, "target") == 0) {
			if (get_str(x, s, cfg->log_target, sizeof(cfg->log_target)) < 0)
				return -1;
			if (strcmp(cfg->log_target, "stderr") && strcmp(cfg->log_target, "syslog"))
				return cfg_fail(x, s, "log target must be \"stderr\" or \"syslog\"");
		} else if (strcmp(name, "level") == 0) {
			enum log_level lv;
			if (get_str(x, s, cfg->log_level, sizeof(cfg->log_level)) < 0)
				return -1;
			if (log_level_parse(cfg->log_level, &lv) < 0)
				return cfg_fail(x, s, "log level must be error, warn, info or debug");
		} else {
			return unknown(x, s, "log");
		}
	}
	return 0;
}

static int load_tls(struct cfg_ctx *x, struct config *cfg, const config_setting_t *g)
{
	if (expect_group(x, g) < 0)
		return -1;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		int rc;
		if (strcmp(name, "certificate") == 0)
			rc = get_str(x, s, cfg->tls_cert, sizeof(cfg->tls_cert));
		else if (strcmp(name, "key") == 0)
			rc = get_str(x, s, cfg->tls_key, sizeof(cfg->tls_key));
		else if (strcmp(name, "ciphers") == 0)
			rc = get_str(x, s, cfg->tls_ciphers, sizeof(cfg->tls_ciphers));
		else if (strcmp(name, "ciphersuites") == 0)
			rc = get_str(x, s, cfg->tls_ciphersuites, sizeof(cfg->tls_ciphersuites));
		else if (strcmp(name, "min_version") == 0) {
			rc = get_str(x, s, cfg->tls_min_version, sizeof(cfg->tls_min_version));
			/* RFC 8996: TLS 1.0 and 1.1 are gone; RFC 8314 4.1. */
			if (rc == 0 && strcmp(cfg->tls_min_version, "TLSv1.2") &&
			    strcmp(cfg->tls_min_version, "TLSv1.3"))
				rc = cfg_fail(x, s, "tls min_version must be \"TLSv1.2\" or \"TLSv1.3\"");
		}
		else
			rc = unknown(x, s, "tls");
		if (rc < 0)
			return -1;
	}
	if ((cfg->tls_cert[0] != '\0') != (cfg->tls_key[0] != '\0'))
		return cfg_fail(x, g, "tls needs both 'certificate' and 'key', or neither");
	return 0;
}

static int load_limits(struct cfg_ctx *x, struct config *cfg, const config_setting_t *g)
{
	if (expect_group(x, g) < 0)
		return -1;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		int rc;
		if (strcmp(name, "max_connections") == 0)
			rc = get_unsigned(x, s, 1, 1000000, &cfg->max_connections);
		else if (strcmp(name, "max_connections_per_ip") == 0)
			rc = get_unsigned(x, s, 1, 1000000, &cfg->max_connections_per_ip);
		else if (strcmp(name, "max_line") == 0)
			rc = get_size(x, s, 512, 1024 * 1024, &cfg->max_line);
		else if (strcmp(name, "login_timeout") == 0)
			rc = get_unsigned(x, s, 1, 86400, &cfg->login_timeout);
		else if (strcmp(name, "idle_timeout") == 0)
			rc = get_unsigned(x, s, 1, 86400, &cfg->idle_timeout);
		else if (strcmp(name, "mail_timeout") == 0)
			rc = get_unsigned(x, s, 1, 86400, &cfg->mail_timeout);
		else if (strcmp(name, "stress_threshold") == 0)
			rc = get_unsigned(x, s, 1, 100, &cfg->stress_threshold);
		else if (strcmp(name, "stress_login_timeout") == 0)
			rc = get_unsigned(x, s, 1, 86400, &cfg->stress_login_timeout);
		else if (strcmp(name, "stress_idle_timeout") == 0)
			rc = get_unsigned(x, s, 1, 86400, &cfg->stress_idle_timeout);
		else if (strcmp(name, "shutdown_grace") == 0)
			rc = get_unsigned(x, s, 0, 3600, &cfg->shutdown_grace);
		else if (strcmp(name, "max_errors") == 0)
			rc = get_unsigned(x, s, 1, 1000, &cfg->max_errors);
		else if (strcmp(name, "max_junk_commands") == 0)
			rc = get_unsigned(x, s, 1, 100000, &cfg->max_junk_commands);
		else if (strcmp(name, "input_budget") == 0)
			rc = get_size(x, s, 1024 * 1024, (size_t)1 << 40, &cfg->input_budget);
		else
			rc = unknown(x, s, "limits");
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int load_domains(struct cfg_ctx *x, struct config *cfg, const config_setting_t *a)
{
	if (!config_setting_is_array(a) && !config_setting_is_list(a))
		return cfg_fail(x, a, "'local_domains' must be an array [ \"example.org\", ... ]");
	int n = config_setting_length(a);
	if (n > CONFIG_MAX_DOMAINS)
		return cfg_fail(x, a, "too many local_domains (at most %d)", CONFIG_MAX_DOMAINS);
	cfg->nlocal_domains = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(a, (unsigned)i);
		const char *v = config_setting_get_string(s);
		if (!v || !*v || strlen(v) >= sizeof(cfg->local_domains[0]))
			return cfg_fail(x, s, "each local domain must be a non-empty string of at most 255 bytes");
		snprintf(cfg->local_domains[cfg->nlocal_domains++], sizeof(cfg->local_domains[0]), "%s", v);
	}
	return 0;
}

/* smtp.allowed_senders = ( { user = "a@x"; addresses = [ "b@x", "@y" ]; }, ... ) */
static int load_sender_rules(struct cfg_ctx *x, struct config *cfg, const config_setting_t *l)
{
	if (!config_setting_is_list(l))
		return cfg_fail(x, l, "'allowed_senders' must be a list of groups "
			       "( { user = \"...\"; addresses = [ ... ]; } )");
	cfg->nsender_rules = 0;
	for (int i = 0; i < config_setting_length(l); i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		if (expect_group(x, g) < 0)
			return -1;
		const char *user = NULL;
		const config_setting_t *addrs = NULL;
		for (int j = 0; j < config_setting_length(g); j++) {
			const config_setting_t *s = config_setting_get_elem(g, (unsigned)j);
			const char *name = config_setting_name(s);
			if (strcmp(name, "user") == 0) {
				user = config_setting_get_string(s);
				if (!user || !strchr(user, '@') || strlen(user) > 320)
					return cfg_fail(x, s, "'user' must be an address");
			} else if (strcmp(name, "addresses") == 0) {
				if (!config_setting_is_array(s))
					return cfg_fail(x, s, "'addresses' must be an array of strings");
				addrs = s;
			} else {
				return unknown(x, s, "allowed_senders");
			}
		}
		if (!user || !addrs)
			return cfg_fail(x, g, "each allowed_senders entry needs 'user' and 'addresses'");
		for (int j = 0; j < config_setting_length(addrs); j++) {
			const config_setting_t *s = config_setting_get_elem(addrs, (unsigned)j);
			const char *a = config_setting_get_string(s);
			if (!a || !strchr(a, '@') || strlen(a) > 320)
				return cfg_fail(x, s, "each address must be \"local@domain\" or \"@domain\"");
			if (cfg->nsender_rules == CONFIG_MAX_SENDER_RULES)
				return cfg_fail(x, s, "too many allowed_senders addresses (at most %d)",
						CONFIG_MAX_SENDER_RULES);
			struct config_sender_rule *r = &cfg->sender_rules[cfg->nsender_rules++];
			snprintf(r->user, sizeof(r->user), "%s", user);
			snprintf(r->address, sizeof(r->address), "%s", a);
		}
	}
	return 0;
}

/* smtp.forbid_bare_newline, named and valued as Postfix 3.9's
 * smtpd_forbid_bare_newline so that its documentation applies.  Postfix's
 * "no" (a bare LF may end the data) is the SMTP smuggling hole
 * (CVE-2023-51764): postino does not offer it. */
static int load_bare_newline(struct cfg_ctx *x, struct config *cfg, const config_setting_t *s)
{
	char v[32];
	if (get_str(x, s, v, sizeof(v)) < 0)
		return -1;
	if (strcasecmp(v, "normalize") == 0 || strcasecmp(v, "yes") == 0)
		cfg->smtp_reject_bare_newline = false;
	else if (strcasecmp(v, "reject") == 0)
		cfg->smtp_reject_bare_newline = true;
	else if (strcasecmp(v, "no") == 0)
		return cfg_fail(x, s, "smtp forbid_bare_newline = \"no\" is not supported: only "
			       "<CR><LF>.<CR><LF> ends a message (SMTP smuggling); use \"normalize\" "
			       "or \"reject\"");
	else
		return cfg_fail(x, s, "smtp forbid_bare_newline must be \"normalize\" or \"reject\"");
	return 0;
}

static int load_smtp(struct cfg_ctx *x, struct config *cfg, const config_setting_t *g)
{
	if (expect_group(x, g) < 0)
		return -1;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		int rc;
		if (strcmp(name, "local_domains") == 0)
			rc = load_domains(x, cfg, s);
		else if (strcmp(name, "allowed_senders") == 0)
			rc = load_sender_rules(x, cfg, s);
		else if (strcmp(name, "max_message_size") == 0)
			rc = get_size(x, s, 1024, (size_t)2 * 1024 * 1024 * 1024, &cfg->smtp_max_message_size);
		else if (strcmp(name, "max_recipients") == 0)
			rc = get_unsigned(x, s, 1, 100000, &cfg->smtp_max_recipients);
		else if (strcmp(name, "timeout") == 0)
			rc = get_unsigned(x, s, 1, 86400, &cfg->smtp_timeout);
		else if (strcmp(name, "data_timeout") == 0)
			rc = get_unsigned(x, s, 1, 86400, &cfg->smtp_data_timeout);
		else if (strcmp(name, "forbid_bare_newline") == 0)
			rc = load_bare_newline(x, cfg, s);
		else if (strcmp(name, "postmaster") == 0)
			rc = get_str(x, s, cfg->smtp_postmaster, sizeof(cfg->smtp_postmaster));
		else if (strcmp(name, "dkim_sign") == 0)
			rc = get_bool(x, s, &cfg->smtp_dkim_sign);
		else
			rc = unknown(x, s, "smtp");
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int load_pop3(struct cfg_ctx *x, struct config *cfg, const config_setting_t *g)
{
	if (expect_group(x, g) < 0)
		return -1;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		if (strcmp(config_setting_name(s), "timeout") == 0) {
			if (get_unsigned(x, s, 1, 86400, &cfg->pop3_timeout) < 0)
				return -1;
		} else {
			return unknown(x, s, "pop3");
		}
	}
	return 0;
}

/* imap.literal: which non-synchronizing literal extension to announce.
 * RFC 7888 5: a server "MUST NOT advertise both" LITERAL+ and LITERAL-, and
 * may let a configuration option choose. */
static int load_imap_literal(struct cfg_ctx *x, struct config *cfg, const config_setting_t *s)
{
	char v[16];
	if (get_str(x, s, v, sizeof(v)) < 0)
		return -1;
	if (strcmp(v, "plus") == 0)
		cfg->imap_literal_minus = false;
	else if (strcmp(v, "minus") == 0)
		cfg->imap_literal_minus = true;
	else
		return cfg_fail(x, s, "imap literal must be \"plus\" or \"minus\"");
	return 0;
}

/* RFC 5464 3.2.1.1: /shared/admin "MUST be a URI": a scheme (RFC 3986 3.1,
 * ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )), a colon and something
 * after it, with no space or control character. */
static int load_imap_metadata_admin(struct cfg_ctx *x, struct config *cfg,
				    const config_setting_t *s)
{
	char *v = cfg->imap_metadata_admin;
	if (get_str(x, s, v, sizeof(cfg->imap_metadata_admin)) < 0)
		return -1;
	if (!v[0])
		return 0;
	size_t i = 0;
	while (isalnum((unsigned char)v[i]) || (i > 0 && v[i] && strchr("+-.", v[i])))
		i++;
	bool ok = i > 0 && isalpha((unsigned char)v[0]) && v[i] == ':' && v[i + 1];
	for (const char *c = v; ok && *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			ok = false;
	if (!ok)
		return cfg_fail(x, s, "'metadata_admin' must be a URI (mailto:..., tel:...)");
	return 0;
}

static int load_imap(struct cfg_ctx *x, struct config *cfg, const config_setting_t *g)
{
	if (expect_group(x, g) < 0)
		return -1;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		int rc;
		/* RFC 3501 5.4 / RFC 9051 5.4: the autologout timer is at least
		 * 30 minutes. */
		if (strcmp(name, "timeout") == 0)
			rc = get_unsigned(x, s, 1800, 86400, &cfg->imap_timeout);
		else if (strcmp(name, "max_message_size") == 0)
			rc = get_size(x, s, 1024, (size_t)2 * 1024 * 1024 * 1024,
				      &cfg->imap_max_message_size);
		else if (strcmp(name, "literal") == 0)
			rc = load_imap_literal(x, cfg, s);
		/* RFC 5464 4.1: a server must take values of 1024 octets and
		 * 10 entries per mailbox; a value is one literal, at most 64
		 * KiB after login (core/session_limits.c). */
		else if (strcmp(name, "metadata_max_size") == 0)
			rc = get_size(x, s, 1024, 64 * 1024, &cfg->imap_metadata_max_size);
		else if (strcmp(name, "metadata_max_entries") == 0)
			rc = get_unsigned(x, s, 10, 100000, &cfg->imap_metadata_max_entries);
		else if (strcmp(name, "metadata_max_user_entries") == 0)
			rc = get_unsigned(x, s, 10, 1000000, &cfg->imap_metadata_max_user_entries);
		else if (strcmp(name, "metadata_admin") == 0)
			rc = load_imap_metadata_admin(x, cfg, s);
		else
			rc = unknown(x, s, "imap");
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int load_dns(struct cfg_ctx *x, struct config *cfg, const config_setting_t *g)
{
	if (expect_group(x, g) < 0)
		return -1;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		int rc = 0;
		if (strcmp(name, "nameservers") == 0) {
			if (!config_setting_is_array(s) && !config_setting_is_list(s))
				return cfg_fail(x, s, "'nameservers' must be an array [ \"IP\", \"IP:PORT\", ... ]");
			int n = config_setting_length(s);
			if (n > CONFIG_MAX_NAMESERVERS)
				return cfg_fail(x, s, "too many nameservers (at most %d)",
						CONFIG_MAX_NAMESERVERS);
			cfg->dns_nnameservers = 0;
			for (int j = 0; j < n; j++) {
				const config_setting_t *e = config_setting_get_elem(s, (unsigned)j);
				const char *v = config_setting_get_string(e);
				char why[200];
				if (!v)
					return cfg_fail(x, e, "each nameserver must be a string");
				if (config_parse_nameserver(v, &cfg->dns_nameservers[j], why,
							    sizeof(why)) < 0)
					return cfg_fail(x, e, "dns nameservers: %s", why);
				cfg->dns_nnameservers++;
			}
		} else if (strcmp(name, "timeout") == 0) {
			rc = get_unsigned(x, s, 10, 60000, &cfg->dns_timeout_ms);
		} else if (strcmp(name, "attempts") == 0) {
			rc = get_unsigned(x, s, 1, 10, &cfg->dns_attempts);
		} else if (strcmp(name, "prefer") == 0) {
			char v[16];
			rc = get_str(x, s, v, sizeof(v));
			if (rc == 0 && strcmp(v, "ipv6") == 0)
				cfg->dns_prefer_ipv4 = false;
			else if (rc == 0 && strcmp(v, "ipv4") == 0)
				cfg->dns_prefer_ipv4 = true;
			else if (rc == 0)
				rc = cfg_fail(x, s, "dns prefer must be \"ipv6\" or \"ipv4\"");
		} else {
			rc = unknown(x, s, "dns");
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int load_storage(struct cfg_ctx *x, struct config *cfg, const config_setting_t *g)
{
	if (expect_group(x, g) < 0)
		return -1;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		int rc;
		if (strcmp(name, "cache_size") == 0)
			rc = get_size(x, s, 1024 * 1024, (size_t)64 * 1024 * 1024 * 1024, &cfg->cache_bytes);
		else if (strcmp(name, "min_free_space") == 0) {
			size_t v = 0;
			rc = get_size(x, s, 0, (size_t)1 << 50, &v);
			cfg->min_free_bytes = v;
		} else if (strcmp(name, "checkpoint_interval") == 0)
			rc = get_unsigned(x, s, 1, 86400, &cfg->checkpoint_interval);
		else
			rc = unknown(x, s, "storage");
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int load_queue(struct cfg_ctx *x, struct config *cfg, const config_setting_t *g)
{
	if (expect_group(x, g) < 0)
		return -1;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		int rc;
		if (strcmp(name, "min_backoff") == 0)
			rc = get_unsigned(x, s, 1, 86400, &cfg->queue_min_backoff);
		else if (strcmp(name, "max_backoff") == 0)
			rc = get_unsigned(x, s, 1, 7 * 86400, &cfg->queue_max_backoff);
		else if (strcmp(name, "lifetime") == 0)
			rc = get_unsigned(x, s, 1, 100 * 86400, &cfg->queue_lifetime);
		else if (strcmp(name, "delay_warning") == 0)
			rc = get_unsigned(x, s, 0, 100 * 86400, &cfg->queue_delay_warning);
		else if (strcmp(name, "scan_interval") == 0)
			rc = get_unsigned(x, s, 1, 3600, &cfg->queue_scan_interval);
		else
			rc = unknown(x, s, "queue");
		if (rc < 0)
			return -1;
	}
	if (cfg->queue_max_backoff < cfg->queue_min_backoff)
		return cfg_fail(x, g, "queue max_backoff must be at least min_backoff");
	return 0;
}

int config_parse_relay(const char *spec, struct config_relay *r)
{
	memset(r, 0, sizeof(*r));
	const char *host = spec, *end;
	if (*spec == '[') {
		host = spec + 1;
		end = strchr(host, ']');
		if (!end)
			return -1;
		r->mx = false;
	} else {
		end = strrchr(spec, ':');
		if (!end)
			end = spec + strlen(spec);
		r->mx = true;
	}
	size_t n = (size_t)(end - host);
	if (n == 0 || n >= sizeof(r->host))
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = host[i];
		if (!(isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_' ||
		      (!r->mx && c == ':')))
			return -1;
	}
	memcpy(r->host, host, n);
	r->host[n] = '\0';
	const char *rest = end + (*spec == '[' ? 1 : 0);
	if (*rest == '\0')
		return 0;
	if (*rest != ':' || !rest[1])
		return -1;
	char *e;
	unsigned long port = strtoul(rest + 1, &e, 10);
	if (*e || port == 0 || port > 65535)
		return -1;
	r->port = (unsigned)port;
	return 0;
}

static int get_tls_policy(struct cfg_ctx *x, const config_setting_t *s, int *dst)
{
	char v[16];
	if (get_str(x, s, v, sizeof(v)) < 0)
		return -1;
	static const char *const names[] = {"none", "may", "encrypt", "verify"};
	for (int i = 0; i < 4; i++) {
		if (strcmp(v, names[i]) == 0) {
			*dst = i;
			return 0;
		}
	}
	return cfg_fail(x, s, "'%s' must be \"none\", \"may\", \"encrypt\" or \"verify\"",
			config_setting_name(s));
}

static int get_relay(struct cfg_ctx *x, const config_setting_t *s, struct config_relay *r)
{
	char v[300];
	if (get_str(x, s, v, sizeof(v)) < 0)
		return -1;
	if (!v[0]) {
		memset(r, 0, sizeof(*r));   /* "" = no relay */
		return 0;
	}
	if (config_parse_relay(v, r) < 0)
		return cfg_fail(x, s, "'%s' must be \"[host]:port\", \"host:port\" or \"host\"",
				config_setting_name(s));
	return 0;
}

static int load_route(struct cfg_ctx *x, struct config *cfg, const config_setting_t *g)
{
	if (expect_group(x, g) < 0)
		return -1;
	if (cfg->nroutes == CONFIG_MAX_ROUTES)
		return cfg_fail(x, g, "more than %d outbound routes", CONFIG_MAX_ROUTES);
	struct config_route *r = &cfg->routes[cfg->nroutes];
	memset(r, 0, sizeof(*r));
	r->tls = -1;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		int rc;
		if (strcmp(name, "domain") == 0)
			rc = get_str(x, s, r->domain, sizeof(r->domain));
		else if (strcmp(name, "relay") == 0)
			rc = get_relay(x, s, &r->relay);
		else if (strcmp(name, "tls") == 0)
			rc = get_tls_policy(x, s, &r->tls);
		else
			rc = unknown(x, s, "an outbound route");
		if (rc < 0)
			return -1;
	}
	if (!r->domain[0])
		return cfg_fail(x, g, "an outbound route needs a domain");
	cfg->nroutes++;
	return 0;
}

static int load_outbound(struct cfg_ctx *x, struct config *cfg, const config_setting_t *g)
{
	if (expect_group(x, g) < 0)
		return -1;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		int rc;
		if (strcmp(name, "relay") == 0) {
			rc = get_relay(x, s, &cfg->relay);
		} else if (strcmp(name, "tls_ca_file") == 0) {
			rc = get_str(x, s, cfg->outbound_tls_ca_file, sizeof(cfg->outbound_tls_ca_file));
		} else if (strcmp(name, "relay_user") == 0) {
			rc = get_str(x, s, cfg->relay_user, sizeof(cfg->relay_user));
		} else if (strcmp(name, "relay_password") == 0) {
			rc = get_str(x, s, cfg->relay_password, sizeof(cfg->relay_password));
		} else if (strcmp(name, "port") == 0) {
			rc = get_unsigned(x, s, 1, 65535, &cfg->outbound_port);
		} else if (strcmp(name, "tls") == 0) {
			int v = 0;
			rc = get_tls_policy(x, s, &v);
			cfg->outbound_tls = (enum config_tls_policy)v;
		} else if (strcmp(name, "helo") == 0) {
			rc = get_str(x, s, cfg->outbound_helo, sizeof(cfg->outbound_helo));
		} else if (strcmp(name, "bind_ipv4") == 0) {
			rc = get_str(x, s, cfg->outbound_bind4, sizeof(cfg->outbound_bind4));
		} else if (strcmp(name, "bind_ipv6") == 0) {
			rc = get_str(x, s, cfg->outbound_bind6, sizeof(cfg->outbound_bind6));
		} else if (strcmp(name, "max_connections") == 0) {
			rc = get_unsigned(x, s, 1, 10000, &cfg->outbound_max_connections);
		} else if (strcmp(name, "destination_limit") == 0) {
			rc = get_unsigned(x, s, 1, 1000, &cfg->outbound_destination_limit);
		} else if (strcmp(name, "timeout") == 0) {
			rc = get_unsigned(x, s, 0, 3600, &cfg->outbound_timeout);
		} else if (strcmp(name, "return_max") == 0) {
			rc = get_size(x, s, 0, (size_t)1 << 30, &cfg->outbound_return_max);
		} else if (strcmp(name, "routes") == 0) {
			if (!config_setting_is_list(s))
				return cfg_fail(x, s, "'routes' must be a list ( { ... }, ... )");
			rc = 0;
			for (int j = 0; j < config_setting_length(s) && rc == 0; j++)
				rc = load_route(x, cfg, config_setting_get_elem(s, (unsigned)j));
		} else {
			rc = unknown(x, s, "outbound");
		}
		if (rc < 0)
			return -1;
	}
	if (cfg->relay_user[0] && !cfg->relay.host[0])
		return cfg_fail(x, g, "outbound relay_user needs outbound relay");
	return 0;
}

const struct config_route *config_route_find(const struct config *cfg, const char *domain)
{
	size_t dl = strlen(domain);
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const char *d = cfg->routes[i].domain;
		size_t n = strlen(d);
		if (d[0] == '.') {
			if (dl > n && strcasecmp(domain + dl - n, d) == 0)
				return &cfg->routes[i];
		} else if (strcasecmp(domain, d) == 0) {
			return &cfg->routes[i];
		}
	}
	return NULL;
}

static int load_auth(struct cfg_ctx *x, struct config *cfg, const config_setting_t *g)
{
	if (expect_group(x, g) < 0)
		return -1;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		int rc;
		if (strcmp(name, "plaintext") == 0) {
			char v[32];
			rc = get_str(x, s, v, sizeof(v));
			if (rc == 0 && strcmp(v, "tls-or-loopback") == 0)
				cfg->plaintext_auth = CONFIG_PLAINTEXT_TLS_OR_LOOPBACK;
			else if (rc == 0 && strcmp(v, "tls") == 0)
				cfg->plaintext_auth = CONFIG_PLAINTEXT_TLS;
			else if (rc == 0 && strcmp(v, "always") == 0)
				cfg->plaintext_auth = CONFIG_PLAINTEXT_ALWAYS;
			else if (rc == 0)
				rc = cfg_fail(x, s, "auth plaintext must be \"tls-or-loopback\", \"tls\" "
					      "or \"always\"");
		} else if (strcmp(name, "failure_delay") == 0) {
			rc = get_unsigned(x, s, 0, 60000, &cfg->auth_failure_delay);
		} else if (strcmp(name, "failure_delay_max") == 0) {
			rc = get_unsigned(x, s, 0, 600000, &cfg->auth_failure_delay_max);
		} else if (strcmp(name, "cache_size") == 0) {
			rc = get_unsigned(x, s, 0, 10000000, &cfg->auth_cache_size);
		} else if (strcmp(name, "cache_ttl") == 0) {
			rc = get_unsigned(x, s, 0, 7 * 86400, &cfg->auth_cache_ttl);
		} else {
			rc = unknown(x, s, "auth");
		}
		if (rc < 0)
			return -1;
	}
	if (cfg->auth_failure_delay_max < cfg->auth_failure_delay)
		return cfg_fail(x, g, "auth failure_delay_max must be at least failure_delay");
	return 0;
}

/* smtp.postmaster: RFC 5321 4.5.1 mail for "postmaster" is delivered here,
 * so it must be a mailbox of ours (a remote one would make every stranger's
 * postmaster mail a relay).  Unset, it is postmaster@hostname. */
static int check_postmaster(struct cfg_ctx *x, struct config *cfg, const config_setting_t *root)
{
	char *pm = cfg->smtp_postmaster;
	if (!pm[0]) {
		snprintf(pm, sizeof(cfg->smtp_postmaster), "postmaster@%s", cfg->hostname);
		return 0;
	}
	/* Checked here, once local_domains is known, but reported at its line. */
	const config_setting_t *s = config_setting_lookup((config_setting_t *)root, "smtp.postmaster");
	if (!s)
		s = root;
	const char *at = strchr(pm, '@');
	bool ok = at && at != pm && at[1] && !strchr(at + 1, '@') && at - pm <= 64;
	for (const char *p = pm; ok && *p; p++)
		ok = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f && *p != '<' && *p != '>';
	if (!ok)
		return cfg_fail(x, s, "smtp postmaster must be an address \"local@domain\"");
	if (strcasecmp(at + 1, cfg->hostname) != 0 && !config_domain_is_local(cfg, at + 1))
		return cfg_fail(x, s, "smtp postmaster \"%s\" must be in 'hostname' or one of "
			       "smtp local_domains", pm);
	return 0;
}

static int load_root(struct cfg_ctx *x, struct config *cfg, const config_setting_t *root)
{
	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(s);
		int rc;
		if (strcmp(name, "data_dir") == 0)
			rc = get_str(x, s, cfg->data_dir, sizeof(cfg->data_dir));
		else if (strcmp(name, "hostname") == 0)
			rc = get_str(x, s, cfg->hostname, sizeof(cfg->hostname));
		else if (strcmp(name, "user") == 0)
			rc = get_str(x, s, cfg->run_user, sizeof(cfg->run_user));
		else if (strcmp(name, "group") == 0)
			rc = get_str(x, s, cfg->run_group, sizeof(cfg->run_group));
		else if (strcmp(name, "auth") == 0)
			rc = load_auth(x, cfg, s);
		else if (strcmp(name, "queue") == 0)
			rc = load_queue(x, cfg, s);
		else if (strcmp(name, "outbound") == 0)
			rc = load_outbound(x, cfg, s);
		else if (strcmp(name, "sandbox") == 0)
			rc = get_bool(x, s, &cfg->sandbox);
		else if (strcmp(name, "loops") == 0)
			rc = get_unsigned(x, s, 0, CONFIG_MAX_LOOPS, &cfg->loops);
		else if (strcmp(name, "workers") == 0)
			rc = get_unsigned(x, s, 0, CONFIG_MAX_WORKERS, &cfg->workers);
		else if (strcmp(name, "loop_poll_us") == 0)
			rc = get_unsigned(x, s, 0, CONFIG_MAX_LOOP_POLL_US, &cfg->loop_poll_us);
		else if (strcmp(name, "log") == 0)
			rc = load_log(x, cfg, s);
		else if (strcmp(name, "listeners") == 0)
			rc = load_listeners(x, cfg, s);
		else if (strcmp(name, "tls") == 0)
			rc = load_tls(x, cfg, s);
		else if (strcmp(name, "limits") == 0)
			rc = load_limits(x, cfg, s);
		else if (strcmp(name, "smtp") == 0)
			rc = load_smtp(x, cfg, s);
		else if (strcmp(name, "pop3") == 0)
			rc = load_pop3(x, cfg, s);
		else if (strcmp(name, "imap") == 0)
			rc = load_imap(x, cfg, s);
		else if (strcmp(name, "storage") == 0)
			rc = load_storage(x, cfg, s);
		else if (strcmp(name, "dns") == 0)
			rc = load_dns(x, cfg, s);
		else
			rc = unknown(x, s, NULL);
		if (rc < 0)
			return -1;
	}
	if (!cfg->data_dir[0])
		return cfg_fail(x, root, "'data_dir' must not be empty");
	for (const char *p = cfg->hostname; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
			return cfg_fail(x, root, "'hostname' may contain only letters, digits, '.' and '-'");
	if (!cfg->hostname[0])
		return cfg_fail(x, root, "'hostname' must not be empty");
	return check_postmaster(x, cfg, root);
}

/* Both entry points: parse with libconfig (from the file, or from text),
 * then validate every setting. */
static int config_load_from(struct config *cfg, const char *path, const char *text,
			    const char *name, char *err, size_t errlen)
{
	defaults(cfg);
	struct cfg_ctx x = {name, err, errlen};
	snprintf(cfg->source, sizeof(cfg->source), "%s", x.file);
	config_t lc;
	config_init(&lc);
	int ok = path ? config_read_file(&lc, path) : config_read_string(&lc, text);
	if (ok != CONFIG_TRUE) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s: cannot read the file", x.file);
		else
			snprintf(err, errlen, "%s:%d: %s", x.file, config_error_line(&lc),
				 config_error_text(&lc));
		config_destroy(&lc);
		return -1;
	}
	int rc = load_root(&x, cfg, config_root_setting(&lc));
	config_destroy(&lc);
	return rc;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	if (path)
		return config_load_from(cfg, path, NULL, path, err, errlen);
	return config_load_from(cfg, NULL, config_embedded_default, "(embedded default)", err,
				errlen);
}

int config_load_string(struct config *cfg, const char *text, const char *name, char *err,
		       size_t errlen)
{
	return config_load_from(cfg, NULL, text, name, err, errlen);
}

int config_domain_is_local(const struct config *cfg, const char *domain)
{
	for (size_t i = 0; i < cfg->nlocal_domains; i++)
		if (strcasecmp(cfg->local_domains[i], domain) == 0)
			return 1;
	return 0;
}

int config_sender_allowed(const struct config *cfg, const char *user, const char *address)
{
	if (strcasecmp(user, address) == 0)
		return 1;
	const char *at = strrchr(address, '@');
	for (size_t i = 0; i < cfg->nsender_rules; i++) {
		const struct config_sender_rule *r = &cfg->sender_rules[i];
		if (strcasecmp(r->user, user) != 0)
			continue;
		if (r->address[0] == '@' ? (at && strcasecmp(r->address, at) == 0)
					 : strcasecmp(r->address, address) == 0)
			return 1;
	}
	return 0;
}
