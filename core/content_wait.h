/* core/content_wait.h: a worker's wait for a writer's lock on a content's
 * pages, for a read on a loop that found one held under
 * store_thread_nowait (issue 11 point 1): store_content_wait of the same
 * content, offset and length on the worker pool, then the owner's done on
 * the loop that submitted it, which reads again.  The owner embeds it
 * first in its own job (its done casts back) and owns the memory. */
#ifndef POSTINO_CORE_CONTENT_WAIT_H
#define POSTINO_CORE_CONTENT_WAIT_H

#include <stdint.h>

#include "core/workpool.h"

struct store;

struct content_wait {
	struct work w;               /* first */
	struct store *store;
	uint64_t content_id, offset;
	uint64_t len;
};

/* Fills j's wait and submits it to wp for loop l, done(&j->w) to follow
 * there: 0, or -1 when wp is NULL, full or stopping (nothing will run). */
int content_wait_submit(struct content_wait *j, struct workpool *wp, struct loop *l,
			struct store *store, uint64_t content_id, uint64_t offset, uint64_t len,
			void (*done)(struct work *w));

#endif
