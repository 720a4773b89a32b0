/* smtp/smtp_addr.c: envelope address helpers (smtp_addr.h). */
#include "smtp/smtp_addr.h"

#include <string.h>

const char *smtp_addr_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at ? at + 1 : "";
}
