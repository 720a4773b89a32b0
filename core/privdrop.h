/* core/privdrop.h: started as root, postino gives up root before it
 * touches the store (issue 4 point 7): the daemon after binding its ports
 * and loading its TLS files, the admin commands at once.  It then runs as
 * the configured `user` (and `group`), or as "nobody" when none is set,
 * and never as root. */
#ifndef POSTINO_PRIVDROP_H
#define POSTINO_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>

struct config;

/* Settle who we will run as (euid 0 only): an empty cfg->run_user
 * becomes PRIVDROP_FALLBACK_USER (with a warning on stderr if `warn`).  Refuses
 * (-1, message in err) a target that is root or does not exist.  Not root:
 * 0 and nothing changes. */
#define PRIVDROP_FALLBACK_USER "nobody"
int privdrop_resolve(struct config *cfg, bool warn, char *err, size_t errlen);

/* Become cfg->run_user/run_group: the data directory (created if missing)
 * and the root-owned files directly in it are handed over first, then
 * supplementary groups, gid, uid; checked afterwards, root cannot come
 * back.  Not root: 0, nothing done.  -1 with err on any failure. */
int privdrop_drop(const struct config *cfg, char *err, size_t errlen);

#endif
