/* Private to src/http. */
#ifndef WSIP_HTTP_INT_H
#define WSIP_HTTP_INT_H

#include "wsip/http.h"

/* wsip_http_error_response() with the Connection header value given: a 426
 * sends "Upgrade, close" because it also sends Upgrade (RFC 7230 sec 6.7). */
void wsip__http_error(struct wsip_sbuf *out, unsigned status, const char *reason, const char *extra,
                      const char *detail, bool head, const char *connection);

#endif
