/* punch: TCP hole punching by simultaneous open. Both peers connect to
 * each other at once from the ports their NATs mapped for the directory
 * (SO_REUSEADDR and SO_REUSEPORT, so a listener or a STUN query shares
 * the port): each side's SYN opens its own NAT for the other's, and when
 * the two cross the kernel joins them into one connection. */
#ifndef CHAT_PUNCH_H
#define CHAT_PUNCH_H

#include <stddef.h>
#include <stdint.h>

#include "net/netaddr.h"

#define PUNCH_MAX 8		/* targets tried at once, at most */
#define PUNCH_RETRY_MS 100	/* a refused target is tried again after */

struct punch_target {
	char host[NETADDR_HOSTLEN];	/* a numeric address */
	int port;
};

/* A TCP socket bound to local_port on the wildcard address of family,
 * shared (SO_REUSEADDR, SO_REUSEPORT), non-blocking; -1 with err said. */
int punch_socket(int family, int local_port, char *err, size_t errlen);

/* Connects from local_port to each of the n targets at once, again
 * every PUNCH_RETRY_MS after a target refuses, until one connection is
 * made or timeout_ms passes: its descriptor (non-blocking, Nagle off)
 * and *which target it reached; or -1 with err said. */
int punch_connect(const struct punch_target *t, size_t n, int local_port,
    int64_t timeout_ms, size_t *which, char *err, size_t errlen);

#endif
