/* Private to the configuration code: the table and the checks it uses. */
#ifndef WSIP_CORE_CONFIG_INT_H
#define WSIP_CORE_CONFIG_INT_H

#include <stddef.h>

#include "wsip/config.h"

extern const struct wsip_config_directive wsip__config_table[];
extern const size_t wsip__config_count;

/* A host as written in a URI: a name (letters, digits, '-', '.'), an IPv4
 * address, or an IPv6 reference in brackets when brackets is true (else a
 * bare IPv6 address). NULL if fine, else why. */
const char *wsip__config_host_check(const char *s, size_t n, bool brackets,
                                    enum wsip_host_type *type);

#endif
