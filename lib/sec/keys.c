/* keys: the user's key pair and pinned peer keys, in small files of a
 * fixed layout under CHAT_HOME/keys. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sec/keys.h"
#include "core/valid.h"

#define KEY_FILE_MAX 512	/* bytes of a key file, at most */
#define PIN_LINE_MAX 256

void
key_b64(const unsigned char pk[crypto_sign_PUBLICKEYBYTES], char *out)
{
	sodium_bin2base64(out, KEY_B64_LEN + 1, pk, crypto_sign_PUBLICKEYBYTES,
	    sodium_base64_VARIANT_ORIGINAL);
}

bool
key_parse(const char *b64, unsigned char pk[crypto_sign_PUBLICKEYBYTES])
{
	size_t got;

	return b64 != NULL && strlen(b64) == KEY_B64_LEN &&
	    sodium_base642bin(pk, crypto_sign_PUBLICKEYBYTES, b64, KEY_B64_LEN,
	    NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
	    got == crypto_sign_PUBLICKEYBYTES;
}

void
key_fingerprint(const unsigned char pk[crypto_sign_PUBLICKEYBYTES],
    char *out)
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, pk, crypto_sign_PUBLICKEYBYTES);
	memcpy(out, "SHA256:", 7);
	sodium_bin2base64(out + 7, KEY_FPR_LEN - 7 + 1, h, sizeof(h),
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

char *
key_path(const char *home, const char *user, const char *suffix)
{
	size_t n = strlen(home) + strlen(user) + strlen(suffix) + 8;
	char *p = malloc(n), *u;

	if (p == NULL)
		return NULL;
	snprintf(p, n, "%s/keys/%s%s", home, user, suffix);
	for (u = p + strlen(home) + 6; *u != '\0' && u < p + n; u++)
		*u = (char)tolower((unsigned char)*u);
	return p;
}

void
key_wipe(struct keypair *kp)
{
	sodium_memzero(kp->sk, sizeof(kp->sk));
}

/* HOME, then HOME/keys (0700). */
static enum key_status
make_dirs(const char *home, char *err, size_t errlen)
{
	size_t n = strlen(home) + 8;
	char *d = malloc(n);
	char *p;

	if (d == NULL) {
		snprintf(err, errlen, "out of memory");
		return KEY_IO;
	}
	snprintf(d, n, "%s", home);
	for (p = d + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(d, 0700) != 0 && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(d, 0700) != 0 && errno != EEXIST)
		goto fail;
	snprintf(d, n, "%s/keys", home);
	if (mkdir(d, 0700) != 0 && errno != EEXIST)
		goto fail;
	free(d);
	return KEY_OK;
fail:
	snprintf(err, errlen, "%s: %s", d, strerror(errno));
	free(d);
	return KEY_IO;
}

static enum key_status
read_key(const char *path, struct keypair *kp, char *err, size_t errlen)
{
	char buf[KEY_FILE_MAX + 1], *line, *save = NULL;
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], seed[crypto_sign_SEEDBYTES];
	unsigned char check[crypto_sign_SECRETKEYBYTES];
	enum key_status res = KEY_BAD;
	struct stat sb;
	ssize_t n;
	size_t got;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno == ENOENT)
			return KEY_NONE;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return KEY_IO;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return KEY_BAD;
	}
	if ((sb.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: permissions %04o are too open: others"
		    " may read the secret key (chmod 600 it)", path,
		    (unsigned)(sb.st_mode & 07777));
		close(fd);
		return KEY_OPEN;
	}
	n = read(fd, buf, KEY_FILE_MAX + 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return KEY_IO;
	}
	if (n > KEY_FILE_MAX)
		goto bad;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		if (sodium_base642bin(kp->sk, sizeof(kp->sk), line, strlen(line),
		    NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
		    got != sizeof(kp->sk))
			break;
		/* The public half is the secret's tail: check that it is the
		 * seed's, so a damaged file is not taken for a key. */
		crypto_sign_ed25519_sk_to_seed(seed, kp->sk);
		crypto_sign_seed_keypair(pk, check, seed);
		sodium_memzero(seed, sizeof(seed));
		sodium_memzero(check, sizeof(check));
		if (sodium_memcmp(pk, kp->sk + 32, sizeof(pk)) != 0)
			break;
		memcpy(kp->pk, pk, sizeof(pk));
		res = KEY_OK;
		break;
	}
	sodium_memzero(buf, sizeof(buf));
	if (res == KEY_OK)
		return res;
	key_wipe(kp);
bad:
	snprintf(err, errlen, "%s: not a chat secret key file", path);
	return KEY_BAD;
}

/* Writes kp to a new temporary file beside path; its name in tmp. */
static enum key_status
write_temp(const char *path, const char *user, const struct keypair *kp,
    char *tmp, size_t tmplen, char *err, size_t errlen)
{
	char b64[sodium_base64_ENCODED_LEN(crypto_sign_SECRETKEYBYTES,
	    sodium_base64_VARIANT_ORIGINAL)];
	FILE *f;
	int fd, ok;

	snprintf(tmp, tmplen, "%s.XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return KEY_IO;
	}
	if (fchmod(fd, 0600) != 0 || (f = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return KEY_IO;
	}
	sodium_bin2base64(b64, sizeof(b64), kp->sk, sizeof(kp->sk),
	    sodium_base64_VARIANT_ORIGINAL);
	ok = fprintf(f, "# chat secret key of %s: keep it to yourself\n%s\n",
	    user, b64) > 0;
	sodium_memzero(b64, sizeof(b64));
	ok = fflush(f) == 0 && ok && fsync(fileno(f)) == 0;
	if (fclose(f) != 0 || !ok) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		unlink(tmp);
		return KEY_IO;
	}
	return KEY_OK;
}

enum key_status
key_load(const char *home, const char *user, bool create,
    struct keypair *kp, char *err, size_t errlen)
{
	char *path = key_path(home, user, ".key");
	char tmp[4096];
	enum key_status res;

	if (path == NULL) {
		snprintf(err, errlen, "out of memory");
		return KEY_IO;
	}
	res = read_key(path, kp, err, errlen);
	if (res != KEY_NONE || !create) {
		if (res == KEY_NONE)
			snprintf(err, errlen, "%s: no key", path);
		goto end;
	}
	if ((res = make_dirs(home, err, errlen)) != KEY_OK)
		goto end;
	crypto_sign_keypair(kp->pk, kp->sk);
	if ((res = write_temp(path, user, kp, tmp, sizeof(tmp), err,
	    errlen)) != KEY_OK)
		goto end;
	/* link() fails where another process made the key first: use it. */
	if (link(tmp, path) == 0)
		res = KEY_CREATED;
	else if (errno == EEXIST)
		res = read_key(path, kp, err, errlen);
	else {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		res = KEY_IO;
	}
	unlink(tmp);
end:
	if (res != KEY_OK && res != KEY_CREATED)
		key_wipe(kp);
	free(path);
	return res;
}

enum key_status
key_replace(const char *home, const char *user, const struct keypair *kp,
    char *err, size_t errlen)
{
	char *path = key_path(home, user, ".key");
	char *old = key_path(home, user, ".key.old");
	char tmp[4096];
	enum key_status res = KEY_IO;

	if (path == NULL || old == NULL) {
		snprintf(err, errlen, "out of memory");
		goto end;
	}
	if ((res = make_dirs(home, err, errlen)) != KEY_OK ||
	    (res = write_temp(path, user, kp, tmp, sizeof(tmp), err,
	    errlen)) != KEY_OK)
		goto end;
	if ((unlink(old) != 0 && errno != ENOENT) ||
	    (link(path, old) != 0 && errno != ENOENT) ||
	    rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		res = KEY_IO;
	}
end:
	free(path);
	free(old);
	return res;
}

/* --- pins --- */

/* Splits a pin line "PEER KEY" in place; false for a comment, a blank
 * line or (with *bad set) a line that is no pin. */
static bool
pin_line(char *line, char **peer, unsigned char *pk, bool *bad)
{
	char *p = line, *k, *e;

	*bad = false;
	line[strcspn(line, "\r\n")] = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#')
		return false;
	k = p + strcspn(p, " \t");
	if (*k != '\0')
		*k++ = '\0';
	while (*k == ' ' || *k == '\t')
		k++;
	e = k + strcspn(k, " \t");
	*e = '\0';
	if (!valid_username(p) || !key_parse(k, pk)) {
		*bad = true;
		return false;
	}
	*peer = p;
	return true;
}

enum pin_status
pin_each(const char *path, pin_fn fn, void *arg)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	char *line = NULL, *peer;
	enum pin_status res = PIN_OK;
	size_t cap = 0;
	FILE *f;
	bool bad;

	if ((f = fopen(path, "re")) == NULL)
		return errno == ENOENT ? PIN_OK : PIN_IO;
	while (getline(&line, &cap, f) > 0) {
		if (strlen(line) > PIN_LINE_MAX) {
			res = PIN_BAD;
			break;
		}
		if (pin_line(line, &peer, pk, &bad)) {
			if (fn(arg, peer, pk) != 0)
				break;
		} else if (bad) {
			res = PIN_BAD;
			break;
		}
	}
	if (ferror(f))
		res = PIN_IO;
	free(line);
	fclose(f);
	return res;
}

struct pin_find {
	const char *peer;
	unsigned char *pk;
	bool found;
};

static int
pin_match(void *arg, const char *peer,
    const unsigned char pk[crypto_sign_PUBLICKEYBYTES])
{
	struct pin_find *pf = arg;

	if (strcasecmp(peer, pf->peer) != 0)
		return 0;
	memcpy(pf->pk, pk, crypto_sign_PUBLICKEYBYTES);
	pf->found = true;
	return 1;
}

enum pin_status
pin_get(const char *path, const char *peer,
    unsigned char pk[crypto_sign_PUBLICKEYBYTES])
{
	struct pin_find pf = { .peer = peer, .pk = pk };
	enum pin_status res = pin_each(path, pin_match, &pf);

	if (res == PIN_OK && !pf.found)
		res = PIN_NONE;
	return res;
}

enum pin_status
pin_put(const char *path, const char *peer, const unsigned char *pk)
{
	unsigned char k[crypto_sign_PUBLICKEYBYTES];
	char *line = NULL, *copy = NULL, *name, tmp[4096], b64[KEY_B64_LEN + 1];
	enum pin_status res = PIN_IO;
	bool done = false, had = false, bad;
	size_t cap = 0;
	FILE *in, *out = NULL;
	int fd;

	if ((in = fopen(path, "re")) == NULL && errno != ENOENT)
		return PIN_IO;
	if (in == NULL && pk == NULL)
		return PIN_NONE;	/* no file: nothing to forget */
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0 || (out = fdopen(fd, "w")) == NULL) {
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		goto end;
	}
	if (pk != NULL)
		key_b64(pk, b64);
	while (in != NULL && getline(&line, &cap, in) > 0) {
		free(copy);
		if ((copy = strdup(line)) == NULL)
			goto fail;
		if (pin_line(copy, &name, k, &bad) && strcasecmp(name, peer) == 0) {
			had = true;
			if (pk != NULL && !done && fprintf(out, "%s %s\n", peer,
			    b64) < 0)
				goto fail;
			done = true;
			continue;
		}
		if (fputs(line, out) == EOF)
			goto fail;
		if (line[strlen(line) - 1] != '\n' && fputc('\n', out) == EOF)
			goto fail;
	}
	if (in != NULL && ferror(in))
		goto fail;
	if (pk != NULL && !done && fprintf(out, "%s %s\n", peer, b64) < 0)
		goto fail;
	if (fflush(out) != 0 || fsync(fileno(out)) != 0)
		goto fail;
	if (fclose(out) != 0) {
		out = NULL;
		goto fail;
	}
	out = NULL;
	if (rename(tmp, path) != 0)
		goto fail;
	res = pk == NULL && !had ? PIN_NONE : PIN_OK;
	goto end;
fail:
	if (out != NULL)
		fclose(out);
	unlink(tmp);
end:
	free(line);
	free(copy);
	if (in != NULL)
		fclose(in);
	return res;
}
