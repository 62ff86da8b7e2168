/* candidates: the addresses a peer registers for NAT traversal (its host
 * address and, learnt by STUN from its own port, its server-reflexive
 * one), as the JSON array POST /register takes (chat-protocol(7)). */
#ifndef CHAT_CANDIDATES_H
#define CHAT_CANDIDATES_H

#include <jansson.h>

#include "net/stun_client.h"

/* host_ip (NULL: none) at port as a "host" candidate; then, when stun is
 * not NULL, the address stun->host maps stun->local_port to, as
 * "srflx". A STUN query that fails within its time box only leaves the
 * srflx candidate out. NULL when out of memory; the caller decrefs. */
json_t *candidates_gather(const char *host_ip, int port,
    const struct stun_query *stun);

#endif
