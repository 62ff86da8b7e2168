/* chat-key: the user's Ed25519 key and fingerprint, and the peer keys the
 * user has pinned; one JSON line each. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/cli_dirclient.h"
#include "client/dirclient.h"
#include "core/cli.h"
#include "core/exitcodes.h"
#include "core/util.h"
#include "core/valid.h"
#include "sec/keys.h"
#include "sec/sig.h"

#define BODY_MAX (1 << 20)	/* bytes a body to sign may have */

enum { OPT_VERSION = 256, OPT_TIME };

static noreturn void
usage(FILE *f, int status)
{
	fprintf(f, "usage: chat-key [-u name] [-s url]\n"
	    "       chat-key [-u name] pins\n"
	    "       chat-key [-u name] [-s url] pin|replace peer [key]\n"
	    "       chat-key [-u name] forget peer\n"
	    "       chat-key [-u name] [-s url] rotate\n"
	    "       chat-key [-u name] [--time ms] sign method target [file]\n");
	if (status == EX_OK)
		fputs("  -u, --user NAME   whose key (else CHAT_USER)\n"
		    "  -s, --server URL  the directory (else CHAT_SERVER)\n"
		    "      --time MS     sign as of this time (ms since 1970)\n"
		    "  -h, --help        this help\n"
		    "      --version     the version\n", f);
	exit(status);
}

static char *
home_or_die(void)
{
	char *home = cli_home(NULL);

	if (home == NULL)
		cli_die(EX_USAGE, "no CHAT_HOME and no HOME to keep keys in");
	return home;
}

static void
load_or_die(const char *home, const char *user, bool create,
    struct keypair *kp, bool *created)
{
	char err[512];
	enum key_status st = key_load(home, user, create, kp, err, sizeof(err));

	*created = st == KEY_CREATED;
	switch (st) {
	case KEY_OK:
	case KEY_CREATED:
		return;
	case KEY_NONE:
		cli_die(EX_DATAERR, "%s", err);
	case KEY_OPEN:
		cli_die(EX_NOPERM, "%s", err);
	case KEY_BAD:
		cli_die(EX_DATAERR, "%s", err);
	default:
		cli_die(EX_IOERR, "%s", err);
	}
}

/* {"KEYNAME": base64, "fingerprint": ...} and more, printed. */
static void
print_key(json_t *o, const unsigned char *pk)
{
	char b64[KEY_B64_LEN + 1], fpr[KEY_FPR_LEN + 1];

	key_b64(pk, b64);
	key_fingerprint(pk, fpr);
	json_object_set_new(o, "key", json_string(b64));
	json_object_set_new(o, "fingerprint", json_string(fpr));
	cli_print(o);
	json_decref(o);
}

static int
show(const char *home, const char *user)
{
	struct keypair kp;
	bool created;

	load_or_die(home, user, true, &kp, &created);
	key_wipe(&kp);
	print_key(json_pack("{s:s, s:b}", "user", user, "created", created),
	    kp.pk);
	return EX_OK;
}

static int
print_pin(void *arg, const char *peer,
    const unsigned char pk[crypto_sign_PUBLICKEYBYTES])
{
	(void)arg;
	print_key(json_pack("{s:s}", "peer", peer), pk);
	return 0;
}

static int
pins(const char *path)
{
	switch (pin_each(path, print_pin, NULL)) {
	case PIN_OK:
	case PIN_NONE:
		return EX_OK;
	case PIN_BAD:
		cli_die(EX_DATAERR, "%s: a line is not \"PEER KEY\"", path);
	default:
		cli_die(EX_IOERR, "%s: %s", path, strerror(errno));
	}
}

/* The peer's key as the directory has it. */
static void
directory_key(const char *server, const char *user, const char *peer,
    unsigned char pk[crypto_sign_PUBLICKEYBYTES])
{
	struct dirclient *dc = cli_dirclient(server);
	json_t *p = NULL, *k;
	enum dc_status st;

	char err[1024];
	int status = EX_OK;

	cli_sign_as(dc, user);
	if ((st = dc_peerinfo(dc, peer, &p)) == DC_NOT_FOUND) {
		status = EX_NOUSER;
		snprintf(err, sizeof(err), "%s: no such peer", peer);
	} else if (st != DC_OK) {
		status = dc_exit_status(st);
		snprintf(err, sizeof(err), "%s", dc_error(dc));
	} else if (!json_is_string(k = json_object_get(p, "key"))) {
		status = EX_DATAERR;
		snprintf(err, sizeof(err), "%s has no key at the directory", peer);
	} else if (!key_parse(json_string_value(k), pk)) {
		status = EX_PROTOCOL;
		snprintf(err, sizeof(err), "%s: the directory's key is not a key",
		    peer);
	}
	json_decref(p);
	dc_free(dc);
	if (status != EX_OK)
		cli_die(status, "%s", err);
}

static int
pin(const char *path, const char *server, const char *user, char **argv,
    int argc, bool replace)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], old[sizeof(pk)];
	char ofpr[KEY_FPR_LEN + 1], nfpr[KEY_FPR_LEN + 1];
	enum pin_status st;
	bool had;

	if (argc == 2) {
		if (!key_parse(argv[1], pk))
			cli_die(EX_DATAERR, "%s: not an Ed25519 public key in"
			    " base64", argv[1]);
	} else
		directory_key(server, user, argv[0], pk);
	if ((st = pin_get(path, argv[0], old)) != PIN_OK && st != PIN_NONE)
		cli_die(st == PIN_BAD ? EX_DATAERR : EX_IOERR, "%s: cannot read"
		    " the pins", path);
	had = st == PIN_OK;
	if (had && sodium_memcmp(old, pk, sizeof(pk)) != 0 && !replace) {
		key_fingerprint(old, ofpr);
		key_fingerprint(pk, nfpr);
		cli_die(EX_DATAERR, "%s is pinned to %s, not %s: if you know"
		    " why it changed, chat-key replace %s", argv[0], ofpr, nfpr,
		    argv[0]);
	}
	if (pin_put(path, argv[0], pk) != PIN_OK)
		cli_die(EX_IOERR, "%s: cannot write the pins: %s", path,
		    strerror(errno));
	print_key(json_pack("{s:s, s:b}", "peer", argv[0], "replaced", had &&
	    sodium_memcmp(old, pk, sizeof(pk)) != 0), pk);
	return EX_OK;
}

static int
forget(const char *path, const char *peer)
{
	json_t *o;

	switch (pin_put(path, peer, NULL)) {
	case PIN_OK:
		o = json_pack("{s:s, s:b}", "peer", peer, "forgotten", true);
		cli_print(o);
		json_decref(o);
		return EX_OK;
	case PIN_NONE:
		cli_die(EX_NOUSER, "%s: no pin", peer);
	default:
		cli_die(EX_IOERR, "%s: cannot write the pins: %s", path,
		    strerror(errno));
	}
}

/* Which of two keys the directory has for user: 1 the new, 0 the old,
 * -1 neither or no answer. */
static int
key_held(struct dirclient *dc, const char *user, const unsigned char *old,
    const unsigned char *new)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	json_t *p = NULL, *k;
	int held = -1;

	if (dc_peerinfo(dc, user, &p) != DC_OK)
		return -1;
	k = json_object_get(p, "key");
	if (json_is_string(k) && key_parse(json_string_value(k), pk))
		held = sodium_memcmp(pk, new, sizeof(pk)) == 0 ? 1 :
		    sodium_memcmp(pk, old, sizeof(pk)) == 0 ? 0 : -1;
	json_decref(p);
	return held;
}

/* A new key, set at the directory by a request signed with the old one.
 * The new key is written first, the old kept beside it, and put back
 * when the directory refuses or cannot be reached. */
static int
rotate(const char *home, const char *server, const char *user)
{
	struct keypair old, kp;
	struct dirclient *dc;
	enum dc_status st;
	char err[512], ofpr[KEY_FPR_LEN + 1];
	char *path, *back;
	bool created;

	load_or_die(home, user, false, &old, &created);
	crypto_sign_keypair(kp.pk, kp.sk);
	if (key_replace(home, user, &kp, err, sizeof(err)) != KEY_OK)
		cli_die(EX_IOERR, "%s", err);
	dc = cli_dirclient(server);
	dc_set_signer(dc, user, old.sk);
	st = dc_rotate(dc, user, kp.sk);
	key_wipe(&old);
	key_wipe(&kp);
	if (st != DC_OK) {
		char msg[1024];
		int held;

		snprintf(msg, sizeof(msg), "%s", dc_error(dc));
		/* Without an answer the directory may have taken the new
		 * key: keep whichever it holds. */
		held = st == DC_UNAVAILABLE || st == DC_TEMPFAIL ||
		    st == DC_CANCELLED ? key_held(dc, user, old.pk, kp.pk) : 0;
		if (held == 1) {
			dc_free(dc);
			goto done;
		}
		path = key_path(home, user, ".key");
		back = key_path(home, user, ".key.old");
		if (held < 0)
			cli_warn("cannot tell which key the directory has: the new"
			    " one is in %s, the old in %s", path, back);
		else if (path == NULL || back == NULL || rename(back, path) != 0)
			cli_warn("the old key is in %s.old: move it back",
			    path != NULL ? path : "the key file");
		free(path);
		free(back);
		dc_free(dc);
		cli_die(st == DC_NOT_FOUND ? EX_NOUSER : dc_exit_status(st),
		    "%s", msg);
	}
	dc_free(dc);
done:
	key_fingerprint(old.pk, ofpr);
	print_key(json_pack("{s:s, s:s}", "user", user, "old_fingerprint",
	    ofpr), kp.pk);
	return EX_OK;
}

static char *
read_body(const char *file, size_t *len)
{
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
	char *buf = malloc(BODY_MAX + 1);
	size_t n;

	if (f == NULL)
		cli_die(EX_NOINPUT, "%s: %s", file, strerror(errno));
	if (buf == NULL)
		cli_die(EX_SOFTWARE, "out of memory");
	n = fread(buf, 1, BODY_MAX + 1, f);
	if (ferror(f))
		cli_die(EX_IOERR, "%s: %s", file, strerror(errno));
	if (n > BODY_MAX)
		cli_die(EX_DATAERR, "%s: a body is 1 MiB at most", file);
	if (f != stdin)
		fclose(f);
	*len = n;
	return buf;
}

static int
sign(const char *home, const char *user, const char *time_s, char **argv,
    int argc)
{
	char value[SIG_HEADER_MAX + 1], *body = NULL;
	struct keypair kp;
	json_t *o;
	size_t len = 0;
	int64_t ts = now_ms();
	bool created, ok;

	if (time_s != NULL && !parse_int(time_s, 0, INT64_MAX, &ts))
		cli_die(EX_USAGE, "--time: %s: not a time in ms", time_s);
	if (argv[1][0] != '/')
		cli_die(EX_USAGE, "%s: a target is a path from /", argv[1]);
	if (argc == 3)
		body = read_body(argv[2], &len);
	load_or_die(home, user, true, &kp, &created);
	ok = sig_header(kp.sk, argv[0], argv[1], user, ts, body != NULL ?
	    body : "", len, value, sizeof(value));
	key_wipe(&kp);
	free(body);
	if (!ok)
		cli_die(EX_SOFTWARE, "cannot sign");
	o = json_pack("{s:s, s:s}", "header", SIG_HEADER, "value", value);
	cli_print(o);
	json_decref(o);
	return EX_OK;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ "time", required_argument, NULL, OPT_TIME },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char *server = NULL, *user = NULL, *time_s = NULL, *cmd;
	char *home, *path;
	int c, rc;

	cli_init();
	while ((c = getopt_long(argc, argv, "hs:u:", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			server = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case OPT_TIME:
			time_s = optarg;
			break;
		case 'h':
			usage(stdout, EX_OK);
		case OPT_VERSION:
			cli_version();
		default:
			usage(stderr, EX_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	cmd = argc > 0 ? argv[0] : "show";
	if ((user = cli_setting(user, CLI_ENV_USER, NULL)) == NULL) {
		cli_warn("no user: give -u or set CHAT_USER");
		usage(stderr, EX_USAGE);
	}
	if (!valid_username(user))
		cli_die(EX_USAGE, "%s: not a username", user);
	if (sodium_init() < 0)
		cli_die(EX_SOFTWARE, "libsodium: cannot initialise");
	home = home_or_die();
	if ((path = key_path(home, user, ".pins")) == NULL)
		cli_die(EX_SOFTWARE, "out of memory");
	if (argc > 0)
		argc--, argv++;
	if ((strcmp(cmd, "pin") == 0 || strcmp(cmd, "replace") == 0 ||
	    strcmp(cmd, "forget") == 0) && argc > 0 && !valid_username(argv[0]))
		cli_die(EX_USAGE, "%s: not a username", argv[0]);
	if (strcmp(cmd, "show") == 0 && argc == 0)
		rc = show(home, user);
	else if (strcmp(cmd, "pins") == 0 && argc == 0)
		rc = pins(path);
	else if ((strcmp(cmd, "pin") == 0 || strcmp(cmd, "replace") == 0) &&
	    (argc == 1 || argc == 2)) {
		struct keypair kp;
		bool created;

		/* The pins live beside the user's own key. */
		load_or_die(home, user, true, &kp, &created);
		key_wipe(&kp);
		rc = pin(path, server, user, argv, argc, cmd[0] == 'r');
	} else if (strcmp(cmd, "forget") == 0 && argc == 1)
		rc = forget(path, argv[0]);
	else if (strcmp(cmd, "rotate") == 0 && argc == 0)
		rc = rotate(home, server, user);
	else if (strcmp(cmd, "sign") == 0 && (argc == 2 || argc == 3))
		rc = sign(home, user, time_s, argv, argc);
	else {
		cli_warn("%s: unknown command or wrong arguments", cmd);
		usage(stderr, EX_USAGE);
	}
	free(path);
	free(home);
	return rc;
}
