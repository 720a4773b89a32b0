/* smtp/smtp_addr.h: small helpers over envelope addresses as the store
 * keeps them (paths without <>), shared by the queue runner and the
 * notices. */
#ifndef POSTINO_SMTP_ADDR_H
#define POSTINO_SMTP_ADDR_H

/* The domain: what follows the last '@' (RFC 5321 4.1.2: a quoted local
 * part may hold '@'), "" when there is none.  A pointer into addr. */
const char *smtp_addr_domain(const char *addr);

#endif
