/* httpd: serves the api over HTTP/1.1 with libmicrohttpd (epoll, a thread
 * pool, keep-alive), logging each request as a JSON line. */
#ifndef CHAT_HTTPD_H
#define CHAT_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include "dir/api.h"

struct httpd_config {
	int listen_fd;		/* a bound, listening socket; httpd owns it */
	unsigned threads;
	unsigned max_conns;
	unsigned idle_timeout;	/* seconds */
	size_t max_body;
	bool quiet;		/* no line per request */
};

struct httpd;

struct httpd *httpd_start(struct api *api, const struct httpd_config *cfg,
    char *err, size_t errlen);
/* Stops accepting, lets the requests under way finish for up to
 * grace_ms, then closes every connection and frees h. */
void httpd_stop(struct httpd *h, int grace_ms);

#endif
