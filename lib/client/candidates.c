/* candidates: the host and server-reflexive addresses a peer registers. */
#include <stddef.h>

#include "client/candidates.h"

static int
add(json_t *a, const char *ip, int port, const char *type)
{
	return json_array_append_new(a, json_pack("{s:s, s:i, s:s}", "ip", ip,
	    "port", port, "type", type));
}

json_t *
candidates_gather(const char *host_ip, int port, const struct stun_query *stun)
{
	json_t *a = json_array();
	struct stun_mapped m;
	char err[256];

	if (a == NULL)
		return NULL;
	if (host_ip != NULL && add(a, host_ip, port, "host") != 0)
		goto fail;
	if (stun != NULL && stun_query(stun, &m, err, sizeof(err)) == STUNQ_OK &&
	    add(a, m.ip, m.port, "srflx") != 0)
		goto fail;
	return a;
fail:
	json_decref(a);
	return NULL;
}
