/* sigreqs: writes N requests for bench/signed, one a line: the
 * Chat-Signature value ("-" for none), a tab, and the body (create) or
 * the target (get). Each signed request is distinct, so the directory's
 * replay cache takes every one: creates by their uid, reads by their
 * time, a millisecond apart going back from now.
 * usage: sigreqs HOME USER PEER create|get signed|plain N */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "sec/keys.h"
#include "sec/sig.h"

int
main(int argc, char **argv)
{
	char err[512], value[SIG_HEADER_MAX + 1], body[512], target[256];
	struct keypair kp;
	bool create, sign;
	int64_t now = now_ms(), n;
	long i;

	if (argc != 7 || !parse_int(argv[6], 1, 10000000, &n)) {
		fprintf(stderr, "usage: sigreqs HOME USER PEER create|get"
		    " signed|plain N\n");
		return 64;
	}
	create = strcmp(argv[4], "create") == 0;
	sign = strcmp(argv[5], "signed") == 0;
	if (sodium_init() < 0 || (sign && key_load(argv[1], argv[2], false, &kp,
	    err, sizeof(err)) != KEY_OK)) {
		fprintf(stderr, "sigreqs: %s\n", err);
		return 1;
	}
	snprintf(target, sizeof(target), "/message/get/?peer1=%s&peer2=%s"
	    "&limit=100&after=50000", argv[2], argv[3]);
	for (i = 0; i < n; i++) {
		if (create)
			snprintf(body, sizeof(body), "{\"sender\":\"%s\","
			    "\"receiver\":\"%s\",\"content\":\"bench message %ld"
			    "\",\"uid\":\"sig-%lld-%ld\"}", argv[2], argv[3], i,
			    (long long)now, i);
		strcpy(value, "-");
		if (sign && !sig_header(kp.sk, create ? "POST" : "GET", create ?
		    "/message/create/" : target, argv[2], create ? now : now - i,
		    create ? body : "", create ? strlen(body) : 0, value,
		    sizeof(value)))
			return 1;
		if (printf("%s\t%s\n", value, create ? body : target) < 0)
			return 74;
	}
	key_wipe(&kp);
	return fflush(stdout) == 0 ? 0 : 74;
}
