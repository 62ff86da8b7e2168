/* stun_client: asks a STUN server which address and port a local port
 * maps to, over UDP (with RFC 8489's retransmissions) or TCP. */
#ifndef CHAT_STUN_CLIENT_H
#define CHAT_STUN_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/netaddr.h"

#define STUN_PORT 3478

struct stun_query {
	const char *host;	/* the server */
	int port;
	int local_port;		/* 0: any; else bound with SO_REUSEADDR and
				 * SO_REUSEPORT, so a listener may share it */
	bool tcp;
	int64_t timeout_ms;	/* the whole query, at most */
};

struct stun_mapped {
	char ip[NETADDR_HOSTLEN];	/* as the server saw us */
	int port;
	int local_port;			/* the port we sent from */
};

enum stun_query_status {
	STUNQ_OK = 0,
	STUNQ_UNREACHABLE,	/* no answer in time, refused, no such host,
				 * or the local port cannot be had */
	STUNQ_PROTOCOL		/* an answer we cannot use: an error, no
				 * mapped address, not STUN */
};

/* Splits "HOST", "HOST:PORT", "[V6]", "[V6]:PORT" or a bare IPv6 literal;
 * the port is def_port when not given. 0, or -1 when malformed. */
int stun_server_split(const char *s, int def_port, char host[NETADDR_HOSTLEN],
    int *port);

enum stun_query_status stun_query(const struct stun_query *q,
    struct stun_mapped *out, char *err, size_t errlen);

#endif
