/* sigreqs: writes N requests for bench/signed, one a line: the
 * Chat-Signature value ("-" for none), a tab, and the body (create) or
 * the target (get). Each signed request is distinct, so the directory's
 * replay cache takes every one: creates by their uid, reads by their
 * time, a millisecond apart going back from now.
 * With "session" the requests are MAC'd in a session the program opens
 * at the directory of CHAT_SERVER.
 * usage: sigreqs HOME USER PEER create|get signed|session|plain N */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/dirclient.h"
#include "core/util.h"
#include "sec/keys.h"
#include "sec/sig.h"

int
main(int argc, char **argv)
{
	char err[512], value[SIG_HEADER_MAX + 1], body[512], target[256];
	struct keypair kp;
	bool create, sign, session;
	char sid[SIG_SID_LEN + 1];
	unsigned char skey[SIG_KEYLEN];
	struct dirclient *dc;
	int64_t now = now_ms(), n;
	long i;

	if (argc != 7 || !parse_int(argv[6], 1, 10000000, &n)) {
		fprintf(stderr, "usage: sigreqs HOME USER PEER create|get"
		    " signed|session|plain N\n");
		return 64;
	}
	create = strcmp(argv[4], "create") == 0;
	session = strcmp(argv[5], "session") == 0;
	sign = session || strcmp(argv[5], "signed") == 0;
	if (sodium_init() < 0 || (sign && key_load(argv[1], argv[2], false, &kp,
	    err, sizeof(err)) != KEY_OK)) {
		fprintf(stderr, "sigreqs: %s\n", err);
		return 1;
	}
	if (session) {
		dc = dc_new(getenv("CHAT_SERVER"), 0, err, sizeof(err));
		if (dc == NULL)
			return 1;
		dc_set_signer(dc, argv[2], kp.sk);
		if (dc_session(dc, sid, skey) != DC_OK) {
			fprintf(stderr, "sigreqs: %s\n", dc_error(dc));
			return 1;
		}
		dc_free(dc);
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
		if (session && !sig_session_header(skey, sid, 2, create ? "POST" :
		    "GET", create ? "/message/create/" : target, argv[2], create ?
		    now : now - i, create ? body : "", create ? strlen(body) : 0,
		    value, sizeof(value)))
			return 1;
		if (sign && !session && !sig_header(kp.sk, create ? "POST" : "GET",
		    create ? "/message/create/" : target, argv[2], create ? now :
		    now - i, create ? body : "", create ? strlen(body) : 0, value,
		    sizeof(value)))
			return 1;
		if (printf("%s\t%s\n", value, create ? body : target) < 0)
			return 74;
	}
	key_wipe(&kp);
	return fflush(stdout) == 0 ? 0 : 74;
}
