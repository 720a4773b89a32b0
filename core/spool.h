/* core/spool.h: a spool file for one large input (an SMTP DATA body) in
 * DATA_DIR/spool/, so that a message arrives in bounded chunks instead of
 * being held whole in memory.
 *
 * The file is anonymous (O_TMPFILE, or created and unlinked at once), mode
 * 0600: nothing is left behind by a crash, so nothing needs cleaning at
 * start.  When the input is complete, spool_map() maps it read-only: the
 * store and the MIME parser read the message from file-backed pages, which
 * the kernel can reclaim (page cache), not from a heap copy.
 *
 * A small input (at most 32 KiB, written at once at its end, as SMTP does
 * for a message shorter than its 64 KiB chunk) never becomes a file: it is
 * kept in memory and spool_map() returns that; the caller may allow more
 * (spool_mem_allow) when it accounts for the memory.  The file, and the
 * spool directory, are made at the first write that does not fit. */
#ifndef POSTINO_SPOOL_H
#define POSTINO_SPOOL_H

#include <stdbool.h>
#include <stddef.h>

struct spool;

/* What a spool keeps in memory unless allowed more (spool.c says why). */
#define SPOOL_MEM_MAX (32 * 1024)

/* A new empty spool; its file, if it needs one, goes under data_dir/spool
 * (created if missing).  0, or -errno. */
int spool_open(const char *data_dir, struct spool **sp_r);
/* Append; 0, or -errno (-ENOSPC, -EDQUOT, -EFBIG: the disk is full). */
int spool_write(struct spool *sp, const void *data, size_t len);
size_t spool_size(const struct spool *sp);
/* While the content is still in memory: let it grow there up to max
 * octets (never lowers the limit).  Memory the caller has accounted for
 * (SMTP: its input budget). */
void spool_mem_allow(struct spool *sp, size_t max);
bool spool_in_memory(const struct spool *sp);
/* Map everything written, read-only; valid until spool_free.  An empty
 * spool maps to "".  0, or -errno. */
int spool_map(struct spool *sp, const char **data_r, size_t *len_r);
/* Unmap, close; the file's space goes back to the disk. */
void spool_free(struct spool **sp);

#endif
