/* core/privdrop.c: leaving root (see core/privdrop.h). */
#include "core/privdrop.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"

int privdrop_resolve(struct config *cfg, bool warn, char *err, size_t errlen)
{
	if (geteuid() != 0)
		return 0;
	if (!cfg->run_user[0]) {
		snprintf(cfg->run_user, sizeof(cfg->run_user), "%s", PRIVDROP_FALLBACK_USER);
		if (warn)
			fprintf(stderr, "postino: started as root with no `user` configured: running as "
			"%s (set user = \"...\" in the config)\n", PRIVDROP_FALLBACK_USER);
	}
	struct passwd *pw = getpwnam(cfg->run_user);
	if (!pw) {
		snprintf(err, errlen, "user '%s' does not exist", cfg->run_user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errlen, "refusing to run as root: set `user` to an unprivileged account");
		return -1;
	}
	if (cfg->run_group[0]) {
		struct group *gr = getgrnam(cfg->run_group);
		if (!gr) {
			snprintf(err, errlen, "group '%s' does not exist", cfg->run_group);
			return -1;
		}
		if (gr->gr_gid == 0) {
			snprintf(err, errlen, "refusing to run with group root");
			return -1;
		}
	}
	return 0;
}

/* Hand a root-owned path to the service account. */
static int give(const char *path, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) < 0 || S_ISLNK(st.st_mode) || st.st_uid != 0)
		return 0;  /* gone, a link (never followed), or already someone's */
	if (chown(path, uid, gid) < 0) {
		snprintf(err, errlen, "cannot chown %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The data directory and what lies directly in it (Berkeley DB keeps its
 * databases, logs and region files there; tls/ holds the generated pair). */
static int give_data_dir(const char *dir, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create data_dir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (give(dir, uid, gid, err, errlen) < 0)
		return -1;
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "cannot read data_dir %s: %s", dir, strerror(errno));
		return -1;
	}
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char path[PATH_MAX];
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		rc = give(path, uid, gid, err, errlen);
	}
	closedir(d);
	return rc;
}

int privdrop_drop(const struct config *cfg, char *err, size_t errlen)
{
	if (geteuid() != 0)
		return 0;
	struct passwd *pw = getpwnam(cfg->run_user);
	if (!pw || pw->pw_uid == 0) {
		snprintf(err, errlen, "refusing to run as root: no unprivileged `user` to become");
		return -1;
	}
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	if (cfg->run_group[0]) {
		struct group *gr = getgrnam(cfg->run_group);
		if (!gr || gr->gr_gid == 0) {
			snprintf(err, errlen, "group '%s' is not usable", cfg->run_group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (give_data_dir(cfg->data_dir, uid, gid, err, errlen) < 0)
		return -1;
	/* Supplementary groups first (they need root), then the gid, the uid
	 * last: after setuid nothing else can be changed. */
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		snprintf(err, errlen, "cannot become %s: %s", cfg->run_user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 || geteuid() == 0 || getuid() != uid || getegid() != gid ||
	    getgid() != gid) {
		snprintf(err, errlen, "dropping privileges to %s did not stick", cfg->run_user);
		return -1;
	}
#if defined(__SANITIZE_ADDRESS__)
	/* LeakSanitizer stops the world with ptrace, which a process made
	 * non-dumpable by setuid cannot do to itself.  Sanitizer builds only. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
	return 0;
}
