/* core/admin.h: the administrative subcommands (user, mailbox, stats). */
#ifndef POSTINO_ADMIN_H
#define POSTINO_ADMIN_H

struct config;

/* argv[0] is the subcommand ("user", "mailbox", "stats"); options already
 * consumed by main.  Returns the process exit status. */
int admin_user(const struct config *cfg, int argc, char **argv);
int admin_mailbox(const struct config *cfg, int argc, char **argv);
int admin_stats(const struct config *cfg, int argc, char **argv);
/* queue list | queue del ID: the outbound queue. */
int admin_queue(const struct config *cfg, int argc, char **argv);
/* dns mx DOMAIN | dns host NAME [PORT]: the outbound resolver's answer
 * (core/admin_dns.c); needs no store. */
int admin_dns(const struct config *cfg, int argc, char **argv);

#endif
