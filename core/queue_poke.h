/* core/queue_poke.h: the wake-up `postino queue flush|bounce` gives the
 * running daemon's queue runner: a FIFO in the data directory, like
 * Postfix's public/qmgr.  The admin command writes a byte after its
 * reschedule has committed; the runner, which watches the FIFO on its
 * loop, scans at once.  The store's queue generation, polled, stays the
 * fallback (a FIFO that could not be made, another data directory
 * layout), so the poke only makes a flush start sooner. */
#ifndef POSTINO_QUEUE_POKE_H
#define POSTINO_QUEUE_POKE_H

#define QUEUE_POKE_FIFO "queue.fifo"

/* The daemon: make the FIFO in data_dir if it is not there (mode 0600)
 * and open it for reading, non-blocking and close-on-exec (read-write,
 * so that a writer closing never makes it readable for ever at EOF).
 * The descriptor, or -1 (logged). */
int queue_poke_open(const char *data_dir);
/* The daemon: empty what the pokes wrote. */
void queue_poke_drain(int fd);
/* The admin command: one byte to the daemon if one listens; never
 * blocks, and no daemon (or no FIFO) is no error. */
void queue_poke_send(const char *data_dir);

#endif
