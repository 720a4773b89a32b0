/* core/content_wait.c: see content_wait.h. */
#include <stddef.h>

#include "core/content_wait.h"
#include "storage/storage.h"

static void content_wait_run(struct work *w)
{
	struct content_wait *j = (struct content_wait *)w;
	size_t len = j->len < SIZE_MAX ? (size_t)j->len : SIZE_MAX;
	(void)store_content_wait(j->store, j->content_id, j->offset, len);
}

int content_wait_submit(struct content_wait *j, struct workpool *wp, struct loop *l,
			struct store *store, uint64_t content_id, uint64_t offset, uint64_t len,
			void (*done)(struct work *w))
{
	if (!wp)
		return -1;
	j->store = store;
	j->content_id = content_id;
	j->offset = offset;
	j->len = len;
	j->w.run = content_wait_run;
	j->w.done = done;
	return workpool_submit(wp, l, &j->w);
}
