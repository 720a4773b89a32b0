/* core/sock.h: the options every connection's socket gets before core
 * builds a bufferevent on it (accepted today; an outbound client socket
 * made through core must pass here too). */
#ifndef POSTINO_SOCK_H
#define POSTINO_SOCK_H

#include <stddef.h>

/* Non-blocking, close-on-exec and, for TCP, TCP_NODELAY.  0, or -1 with
 * the reason in err. */
int sock_setup_stream(int fd, char *err, size_t errlen);

#endif
