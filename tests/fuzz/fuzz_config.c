/* libFuzzer target for the configuration reader (core/config.c): the input
 * is libconfig text, read with config_load_string() and validated setting
 * by setting.  Besides "no crash, no sanitizer report", a configuration
 * that loads obeys what the rest of the daemon assumes of it: a non-empty
 * data_dir and a hostname of letters, digits, '.' and '-', listeners and
 * lists within their arrays, known listener kinds, a failure delay cap not
 * below the first delay.  The first line also goes through the --listen
 * parser.  Inputs with "@include" are skipped: an include is file I/O the
 * administrator asks for, not parsing, and would let the fuzzer read
 * /dev/zero. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Only the kind table is needed (proto_lookup); the front-ends are not
 * linked in. */
const struct proto_ops smtp_proto_ops = {.name = "smtp"};
const struct proto_ops pop3_proto_ops = {.name = "pop3"};
const struct proto_ops imap_proto_ops = {.name = "imap"};

/* libconfig 1.5 (Debian 12) leaks its string buffer when a syntax error
 * comes inside a string token (strbuf_append, freed only by a successful
 * parse; fixed upstream in 1.7).  The daemon exits on such an error, so
 * the leak is harmless there; here it would stop every run at once. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "property violated: %s\n", what);
		abort();
	}
}

static void check_loaded(const struct config *cfg)
{
	check(cfg->data_dir[0] != '\0', "data_dir set");
	check(cfg->hostname[0] != '\0', "hostname set");
	for (const char *p = cfg->hostname; *p; p++)
		check((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-', "hostname characters");
	check(cfg->nlisteners <= CONFIG_MAX_LISTENERS, "listener count");
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		unsigned flags;
		check(proto_lookup(cfg->listeners[i].kind, &flags) != NULL, "listener kind known");
		check(cfg->listeners[i].port <= 65535, "port range");
	}
	check(cfg->nlocal_domains <= CONFIG_MAX_DOMAINS, "domain count");
	check(cfg->nsender_rules <= CONFIG_MAX_SENDER_RULES, "sender rule count");
	check(cfg->auth_failure_delay_max >= cfg->auth_failure_delay, "delay cap");
	check(cfg->max_line > 0, "max_line");
	for (size_t i = 0; i < cfg->nlocal_domains; i++)
		check(config_domain_is_local(cfg, cfg->local_domains[i]) == 1, "listed domain is local");
	for (size_t i = 0; i < cfg->nsender_rules; i++)
		check(config_sender_allowed(cfg, cfg->sender_rules[i].user,
					    cfg->sender_rules[i].address[0] == '@'
						    ? "x" : cfg->sender_rules[i].address) >= 0,
		      "sender rule");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	/* the first line as a --listen argument */
	char *nl = strchr(text, '\n');
	size_t first = nl ? (size_t)(nl - text) : strlen(text);
	if (first < 512) {
		char spec[512];
		memcpy(spec, text, first);
		spec[first] = '\0';
		struct config_listener l;
		char err[256];
		if (config_parse_listen(spec, &l, err, sizeof(err)) == 0) {
			unsigned flags;
			check(proto_lookup(l.kind, &flags) != NULL, "--listen kind known");
		} else {
			check(err[0] != '\0', "--listen error has a message");
		}
	}

	if (!memmem(data, size, "@include", 8)) {
		struct config *cfg = malloc(sizeof(*cfg));
		char err[600];
		if (cfg) {
			err[0] = '\0';
			if (config_load_string(cfg, text, "fuzz.conf", err, sizeof(err)) == 0)
				check_loaded(cfg);
			else
				check(strncmp(err, "fuzz.conf:", 10) == 0, "error names the file");
			free(cfg);
		}
	}
	free(text);
	return 0;
}
