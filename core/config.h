/* core/config.h: the configuration, read with libconfig from a file or from
 * the embedded default (etc/postino.conf compiled into the binary), then
 * overridden by command-line flags. */
#ifndef POSTINO_CONFIG_H
#define POSTINO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CONFIG_MAX_LISTENERS 32
#define CONFIG_MAX_LOOPS 256
#define CONFIG_MAX_WORKERS 256
#define CONFIG_MAX_LOOP_POLL_US 1000
#define CONFIG_MAX_DOMAINS 64
#define CONFIG_MAX_SENDER_RULES 256
#define CONFIG_MAX_ROUTES 64
#define CONFIG_MAX_NAMESERVERS 8

/* auth.plaintext: where plaintext mechanisms (PLAIN, LOGIN, USER/PASS, IMAP
 * LOGIN) are allowed without TLS. */
enum config_plaintext {
	CONFIG_PLAINTEXT_TLS_OR_LOOPBACK = 0, /* default: TLS, or a loopback peer */
	CONFIG_PLAINTEXT_TLS,                 /* only over TLS, even on loopback */
	CONFIG_PLAINTEXT_ALWAYS,              /* anywhere (trusted networks only!) */
};

/* smtp.allowed_senders: an authenticated user may also use these envelope
 * senders; `address` is a full address or "@domain" for a whole domain. */
struct config_sender_rule {
	char user[321];
	char address[321];
};

/* outbound.tls, and each route's tls: what a connection to another
 * server requires (smtp/smtp_client.h). */
enum config_tls_policy {
	CONFIG_TLS_NONE = 0,      /* never STARTTLS */
	CONFIG_TLS_MAY,           /* STARTTLS when offered, plaintext otherwise */
	CONFIG_TLS_ENCRYPT,       /* STARTTLS required, certificate not checked */
	CONFIG_TLS_VERIFY,        /* STARTTLS required, certificate for the MX name */
};

/* outbound.relay and outbound.routes: where mail goes instead of the
 * recipient domain's MX.  "[host]:port" is that host's addresses; "host"
 * or "host:port" without brackets looks up host's MX first (as Postfix). */
struct config_relay {
	char host[256];           /* "" = no relay: the recipient domain's MX */
	unsigned port;            /* 0 = outbound.port */
	bool mx;                  /* false when bracketed */
};

/* outbound.routes: a transport table entry: mail for `domain` (exact, or
 * every subdomain when it starts with ".") goes to `relay` with `tls`. */
struct config_route {
	char domain[256];
	struct config_relay relay;   /* host "" = the domain's own MX */
	int tls;                     /* enum config_tls_policy, -1 = outbound.tls */
};

/* dns.nameservers: one server the resolver (core/dns.h) asks. */
struct config_nameserver {
	struct sockaddr_storage addr;  /* port included (53 unless given) */
	socklen_t addrlen;
};

struct config_listener {
	char kind[16];        /* smtp, submission, smtps, pop3, pop3s, imap, imaps */
	char address[64];
	unsigned port;
};

struct config {
	char source[512];             /* file name, or "(embedded default)" */
	char data_dir[512];
	char run_user[64];            /* started as root: drop to this user ... */
	char run_group[64];           /* ... and group ("" = the user's group) */
	char hostname[256];           /* our name in greetings and Received: */
	bool sandbox;

	char log_target[16];          /* stderr | syslog */
	char log_level[16];           /* error | warn | info | debug */

	struct config_listener listeners[CONFIG_MAX_LISTENERS];
	size_t nlisteners;

	char tls_cert[512];           /* "" = generate self-signed into data_dir */
	char tls_key[512];
	char tls_ciphers[512];        /* TLS 1.2 cipher list (OpenSSL syntax) */
	char tls_ciphersuites[512];   /* TLS 1.3 suites */
	char tls_min_version[16];     /* "TLSv1.2" or "TLSv1.3" */

	/* outbound (the SMTP client) */
	char outbound_tls_ca_file[512];   /* "" = the system trust store */

	/* auth */
	enum config_plaintext plaintext_auth;
	unsigned auth_failure_delay;      /* ms before the first failure's reply */
	unsigned auth_failure_delay_max;  /* ms, the cap as failures accumulate */
	unsigned auth_cache_size;         /* verified credentials kept (0: none) */
	unsigned auth_cache_ttl;          /* seconds each is good for */

	/* core limits */
	unsigned max_connections;
	unsigned max_connections_per_ip;
	size_t max_line;              /* command line length, terminator excluded */
	unsigned idle_timeout;        /* seconds, after authentication */
	unsigned login_timeout;       /* seconds from connect to login (hard deadline) */
	unsigned mail_timeout;        /* seconds from connect to the first MAIL (SMTP port 25) */
	unsigned stress_threshold;    /* percent of a connection limit that means stress */
	unsigned stress_login_timeout; /* login/mail deadline under stress */
	unsigned stress_idle_timeout; /* idle timeout under stress, until logged in */
	unsigned loops;               /* event-loop threads; 0 = one per core (core/loop.h) */
	unsigned workers;             /* worker-pool threads; 0 = one per core (core/workpool.h) */
	unsigned loop_poll_us;        /* a loop's longest poll before it sleeps (core/loop_poll.h) */
	unsigned shutdown_grace;      /* seconds to let deliveries finish */
	unsigned max_errors;          /* protocol errors before a session is closed */
	unsigned max_junk_commands;   /* commands without progress before closing */
	size_t input_budget;          /* large input held in memory, all sessions (core/session_limits.h) */

	/* smtp */
	size_t smtp_max_message_size;
	unsigned smtp_max_recipients;
	bool smtp_dkim_sign;          /* sign outgoing mail with DATA/dkim keys */
	unsigned smtp_timeout;        /* RFC 5321 4.5.3.2: 5 minutes per command */
	unsigned smtp_data_timeout;   /* 10 minutes for DATA */
	bool smtp_reject_bare_newline; /* smtp.forbid_bare_newline = "reject" (else "normalize") */
	char smtp_postmaster[321];    /* the mailbox postmaster mail goes to; never "" after
				       * config_load (default "postmaster@" hostname) */
	size_t nlocal_domains;        /* entries of local_domains (below) */
	size_t nsender_rules;         /* entries of sender_rules (below) */

	/* pop3 */
	unsigned pop3_timeout;        /* RFC 1939 3: at least 10 minutes */
	/* imap */
	unsigned imap_timeout;        /* RFC 9051 5.4: at least 30 minutes */
	size_t imap_max_message_size; /* APPEND literal limit (APPENDLIMIT, RFC 7889) */
	bool imap_literal_minus;      /* imap.literal = "minus": LITERAL- instead of
				       * LITERAL+ (RFC 7888 5: never both) */
	/* METADATA (RFC 5464 4.1: at least 1024 octets and 10 entries). */
	size_t imap_metadata_max_size;        /* one value, octets */
	unsigned imap_metadata_max_entries;   /* of one mailbox, or of the server */
	unsigned imap_metadata_max_user_entries; /* of one user, all together */
	char imap_metadata_admin[256];        /* /shared/admin (a URI); "" = mailto:
					       * smtp.postmaster */

	/* dns (core/dns.h) */
	struct config_nameserver dns_nameservers[CONFIG_MAX_NAMESERVERS];
	size_t dns_nnameservers;      /* 0: the nameserver lines of /etc/resolv.conf */
	unsigned dns_timeout_ms;      /* per try */
	unsigned dns_attempts;        /* tries over UDP, rotating through the servers */
	bool dns_prefer_ipv4;         /* a mail host's IPv4 addresses before its IPv6 ones */

	/* storage */
	size_t cache_bytes;
	uint64_t min_free_bytes;     /* storage.min_free_space */
	unsigned checkpoint_interval; /* seconds */

	/* queue: retries (RFC 5321 4.5.4.1: at least 30 minutes between
	 * tries is the RFC's advice; Postfix starts at 5 minutes) */
	unsigned queue_min_backoff;   /* seconds before the first retry */
	unsigned queue_max_backoff;   /* the doubling stops here */
	unsigned queue_lifetime;      /* seconds before a message is bounced (5 days) */
	unsigned queue_delay_warning; /* seconds before a delay notice (0: never) */
	unsigned queue_scan_interval; /* seconds between looks at the queue */

	/* outbound: the SMTP client */
	struct config_relay relay;    /* outbound.relay */
	char relay_user[321];         /* AUTH to the relay ("" = none) */
	char relay_password[256];
	unsigned outbound_port;       /* 25 (tests use another) */
	enum config_tls_policy outbound_tls;
	char outbound_helo[256];      /* "" = hostname */
	char outbound_bind4[64];      /* source address ("" = any) */
	char outbound_bind6[64];
	unsigned outbound_max_connections;   /* all destinations together */
	unsigned outbound_destination_limit; /* connections per destination */
	unsigned outbound_timeout;    /* 0 = RFC 5321 4.5.3.2's; else a cap in seconds */
	size_t outbound_return_max;   /* a bounce returns the whole message up to this */
	size_t nroutes;

	/* The large tables come last and are valid only up to their
	 * counts: config_load leaves the rest as it was, so the 170 KB of a
	 * static struct config stay untouched pages (issue 11 point 7). */
	char local_domains[CONFIG_MAX_DOMAINS][256];
	struct config_sender_rule sender_rules[CONFIG_MAX_SENDER_RULES];
	struct config_route routes[CONFIG_MAX_ROUTES];
};

/* Load from `path`, or the embedded default when path is NULL.  On error
 * writes "FILE:LINE: problem" into err and returns -1. */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);
/* The same from libconfig text (NUL-terminated); `name` stands for the file
 * name in errors and in cfg->source.  Used by the fuzzer and tests. */
int config_load_string(struct config *cfg, const char *text, const char *name, char *err,
		       size_t errlen);
/* Parse "kind=addr:port" ("[::1]:port" for IPv6) into a listener. */
int config_parse_listen(const char *spec, struct config_listener *l_r, char *err, size_t errlen);
/* Parse "IP", "IP:PORT", "[IPv6]" or "[IPv6]:PORT" (a bare IPv6 address
 * too) into a nameserver; the port defaults to 53. */
int config_parse_nameserver(const char *spec, struct config_nameserver *ns_r, char *err,
			    size_t errlen);
/* 1 when domain is listed in local_domains (case-insensitive). */
int config_domain_is_local(const struct config *cfg, const char *domain);
/* 1 when authenticated `user` may use envelope sender `address`: its own
 * address, or one smtp.allowed_senders grants it (case-insensitive). */
int config_sender_allowed(const struct config *cfg, const char *user, const char *address);

/* The route for a recipient domain: the first outbound.routes entry that
 * matches, else NULL (outbound.relay or the MX). */
const struct config_route *config_route_find(const struct config *cfg, const char *domain);
/* Parse "[host]:port", "host:port" or "host" into r. -1 if malformed. */
int config_parse_relay(const char *spec, struct config_relay *r);

extern const char config_embedded_default[];

#endif
