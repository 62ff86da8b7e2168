/* Unit tests for sec/keys: the key file (made once, 0600, refused when
 * others may read it or when it is not a key) and the pins file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sec/keys.h"

struct fixture {
	char home[64];
	char path[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || sodium_init() < 0)
		return -1;
	snprintf(f->home, sizeof(f->home), "/tmp/test-keys.XXXXXX");
	if (mkdtemp(f->home) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->home);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void
made_once_and_kept_private(void **state)
{
	struct fixture *f = *state;
	struct keypair a, b;
	struct stat sb;
	char err[256], *path, dir[128];

	assert_int_equal(key_load(f->home, "Alice", false, &a, err,
	    sizeof(err)), KEY_NONE);
	assert_int_equal(key_load(f->home, "Alice", true, &a, err,
	    sizeof(err)), KEY_CREATED);
	assert_int_equal(key_load(f->home, "alice", true, &b, err,
	    sizeof(err)), KEY_OK);
	assert_memory_equal(a.pk, b.pk, sizeof(a.pk));
	assert_memory_equal(a.sk, b.sk, sizeof(a.sk));
	path = key_path(f->home, "ALICE", ".key");
	assert_non_null(path);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(dir, sizeof(dir), "%s/keys", f->home);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);

	/* readable by the group or others: refused, as ssh refuses */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(key_load(f->home, "alice", true, &b, err,
	    sizeof(err)), KEY_OPEN);
	assert_non_null(strstr(err, "too open"));
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(key_load(f->home, "alice", true, &b, err,
	    sizeof(err)), KEY_OPEN);
	assert_int_equal(chmod(path, 0600), 0);

	/* replaced: the new key in force, the old one kept beside it */
	crypto_sign_keypair(b.pk, b.sk);
	assert_int_equal(key_replace(f->home, "alice", &b, err, sizeof(err)),
	    KEY_OK);
	assert_int_equal(key_load(f->home, "alice", false, &a, err,
	    sizeof(err)), KEY_OK);
	assert_memory_equal(a.pk, b.pk, sizeof(a.pk));
	free(path);
	path = key_path(f->home, "alice", ".key.old");
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	free(path);
}

static void
bad_key_files_refused(void **state)
{
	struct fixture *f = *state;
	struct keypair kp, other;
	char err[256], *path, b64[128];

	assert_int_equal(key_load(f->home, "bob", true, &kp, err, sizeof(err)),
	    KEY_CREATED);
	path = key_path(f->home, "bob", ".key");
	write_file(path, "# chat secret key\nnot base64 at all\n", 0600);
	assert_int_equal(key_load(f->home, "bob", true, &kp, err, sizeof(err)),
	    KEY_BAD);
	write_file(path, "", 0600);
	assert_int_equal(key_load(f->home, "bob", true, &kp, err, sizeof(err)),
	    KEY_BAD);
	/* a secret key whose public half is another key's */
	crypto_sign_keypair(kp.pk, kp.sk);
	crypto_sign_keypair(other.pk, other.sk);
	memcpy(kp.sk + 32, other.pk, 32);
	sodium_bin2base64(b64, sizeof(b64), kp.sk, sizeof(kp.sk),
	    sodium_base64_VARIANT_ORIGINAL);
	write_file(path, b64, 0600);
	assert_int_equal(key_load(f->home, "bob", true, &kp, err, sizeof(err)),
	    KEY_BAD);
	free(path);
}

static int
count(void *arg, const char *peer, const unsigned char *pk)
{
	(void)peer;
	(void)pk;
	(*(int *)arg)++;
	return 0;
}

static void
pins_set_replace_forget(void **state)
{
	struct fixture *f = *state;
	unsigned char k1[32], k2[32], got[32];
	char b64[KEY_B64_LEN + 1], text[512], *p;
	FILE *fp;
	size_t n;
	int c = 0;

	snprintf(f->path, sizeof(f->path), "%s/pins", f->home);
	randombytes_buf(k1, sizeof(k1));
	randombytes_buf(k2, sizeof(k2));
	assert_int_equal(pin_get(f->path, "bob", got), PIN_NONE);
	assert_int_equal(pin_each(f->path, count, &c), PIN_OK);
	assert_int_equal(c, 0);
	key_b64(k1, b64);
	snprintf(text, sizeof(text), "# my pins\ncarol %s\n", b64);
	write_file(f->path, text, 0600);
	assert_int_equal(pin_put(f->path, "Bob", k1), PIN_OK);
	assert_int_equal(pin_get(f->path, "BOB", got), PIN_OK);
	assert_memory_equal(got, k1, 32);
	assert_int_equal(pin_put(f->path, "bob", k2), PIN_OK);
	assert_int_equal(pin_get(f->path, "bob", got), PIN_OK);
	assert_memory_equal(got, k2, 32);
	assert_int_equal(pin_each(f->path, count, &c), PIN_OK);
	assert_int_equal(c, 2);
	/* a person's comment and the other pin stay as they were */
	fp = fopen(f->path, "r");
	assert_non_null(fp);
	n = fread(text, 1, sizeof(text) - 1, fp);
	text[n] = '\0';
	fclose(fp);
	assert_int_equal(strncmp(text, "# my pins\ncarol ", 16), 0);
	assert_int_equal(pin_put(f->path, "bob", NULL), PIN_OK);
	assert_int_equal(pin_put(f->path, "bob", NULL), PIN_NONE);
	assert_int_equal(pin_get(f->path, "bob", got), PIN_NONE);
	assert_int_equal(pin_get(f->path, "carol", got), PIN_OK);
	assert_memory_equal(got, k1, 32);
	/* a line that is no pin is reported, and chat-key can still fix
	 * the file around it */
	fp = fopen(f->path, "a");
	assert_non_null(fp);
	fputs("dave not-a-key\n", fp);
	fclose(fp);
	assert_int_equal(pin_get(f->path, "dave", got), PIN_BAD);
	assert_int_equal(pin_put(f->path, "erin", k2), PIN_OK);
	p = strstr(text, "carol");
	assert_non_null(p);
}

static void
keys_and_fingerprints(void **state)
{
	unsigned char pk[32] = { 0 }, back[32];
	char b64[KEY_B64_LEN + 1], fpr[KEY_FPR_LEN + 1];

	(void)state;
	key_b64(pk, b64);
	assert_string_equal(b64, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
	assert_true(key_parse(b64, back));
	assert_false(key_parse("AAAA", back));
	assert_false(key_parse(NULL, back));
	assert_false(key_parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
	    back));
	/* ssh's form: SHA256 of the key, base64 without padding; this is
	 * sha256 of 32 zero bytes */
	key_fingerprint(pk, fpr);
	assert_string_equal(fpr,
	    "SHA256:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(made_once_and_kept_private,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(bad_key_files_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(pins_set_replace_forget,
		    setup, teardown),
		cmocka_unit_test(keys_and_fingerprints),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
