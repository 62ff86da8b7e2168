/* seen: the uids a listener printed and its inbox cursor, on disk. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "peer/seen.h"
#include "core/util.h"
#include "core/valid.h"

struct key {
	uint64_t a, b;		/* {0, 0}: an empty slot */
};

struct seen {
	char *dir;
	char *path;		/* dir/seen */
	int fd;			/* path, O_APPEND */
	struct key *slots;
	size_t cap;		/* a power of two */
	size_t count;
	char *staged;		/* "uid\n..." for the next commit */
	size_t slen, scap;
	int64_t cursor;
};

/* 128 bits for a uid: the bits themselves for the 32 hex digits a chat
 * sender makes, a hash of it for any other form. */
static struct key
key_of(const char *uid)
{
	unsigned char raw[16];
	size_t n = strlen(uid), used = 0;
	struct key k;

	if (n != 32 || sodium_hex2bin(raw, sizeof(raw), uid, n, NULL, &used,
	    NULL) != 0 || used != 16 || strspn(uid, "0123456789abcdef") != 32)
		crypto_generichash(raw, sizeof(raw), (const unsigned char *)uid,
		    n, NULL, 0);
	memcpy(&k.a, raw, 8);
	memcpy(&k.b, raw + 8, 8);
	k.a |= 1;		/* never the empty key */
	return k;
}

static size_t
slot_of(const struct seen *s, struct key k)
{
	/* Mixed, for a uid's bits are not all random: a UUIDv7 starts with
	 * the time and carries fixed version and variant bits. */
	uint64_t h = k.a ^ k.b;
	size_t i;

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	i = (size_t)h & (s->cap - 1);

	while (s->slots[i].a != 0 &&
	    (s->slots[i].a != k.a || s->slots[i].b != k.b))
		i = (i + 1) & (s->cap - 1);
	return i;
}

static int
grow(struct seen *s, size_t cap)
{
	struct key *old = s->slots;
	size_t oldcap = s->cap, i;

	if ((s->slots = calloc(cap, sizeof(*s->slots))) == NULL) {
		s->slots = old;
		return -1;
	}
	s->cap = cap;
	for (i = 0; i < oldcap; i++)
		if (old[i].a != 0)
			s->slots[slot_of(s, old[i])] = old[i];
	free(old);
	return 0;
}

/* Remembers k; 1 new, 0 known, -1 no memory. */
static int
insert(struct seen *s, struct key k)
{
	size_t i;

	if ((s->count + 1) * 2 > s->cap && grow(s, s->cap * 2) != 0)
		return -1;
	i = slot_of(s, k);
	if (s->slots[i].a != 0)
		return 0;
	s->slots[i] = k;
	s->count++;
	return 1;
}

static void
forget_all(struct seen *s)
{
	memset(s->slots, 0, s->cap * sizeof(*s->slots));
	s->count = 0;
}

/* Loads the newest SEEN_KEEP uids of the file (all when fewer); with
 * rewrite, also replaces the file by them. */
static int
load(struct seen *s, bool rewrite, char *err, size_t errlen)
{
	FILE *f;
	char *line = NULL, *tmp = NULL, **ring = NULL;
	size_t cap = 0, total = 0, i, n;
	ssize_t len;
	int rc = -1, fd = -1;

	if ((f = fopen(s->path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", s->path, strerror(errno));
		return -1;
	}
	if ((ring = calloc(SEEN_KEEP, sizeof(*ring))) == NULL)
		goto nomem;
	while ((len = getline(&line, &cap, f)) > 0) {
		if (line[len - 1] != '\n')
			break;		/* a write cut short */
		line[len - 1] = '\0';
		if (!valid_uid(line))
			continue;
		i = total++ % SEEN_KEEP;
		free(ring[i]);
		if ((ring[i] = strdup(line)) == NULL)
			goto nomem;
	}
	forget_all(s);
	n = total < SEEN_KEEP ? total : SEEN_KEEP;
	for (i = total - n; i < total; i++)
		if (insert(s, key_of(ring[i % SEEN_KEEP])) < 0)
			goto nomem;
	if (rewrite) {
		if (asprintf(&tmp, "%s.tmp", s->path) < 0) {
			tmp = NULL;
			goto nomem;
		}
		if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600)) < 0)
			goto ioerr;
		for (i = total - n; i < total; i++) {
			char *u = ring[i % SEEN_KEEP];
			size_t ul = strlen(u);
			u[ul] = '\n';
			if (write(fd, u, ul + 1) != (ssize_t)(ul + 1)) {
				u[ul] = '\0';
				goto ioerr;
			}
			u[ul] = '\0';
		}
		if (close(fd) != 0) {
			fd = -1;
			goto ioerr;
		}
		fd = -1;
		if (rename(tmp, s->path) != 0)
			goto ioerr;
		if (s->fd >= 0)
			close(s->fd);
		if ((s->fd = open(s->path, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0)
			goto ioerr;
	}
	rc = 0;
	goto done;
nomem:
	snprintf(err, errlen, "%s: out of memory", s->path);
	goto done;
ioerr:
	snprintf(err, errlen, "%s: %s", tmp ? tmp : s->path, strerror(errno));
done:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL) {
		if (rc != 0)
			unlink(tmp);
		free(tmp);
	}
	for (i = 0; ring != NULL && i < SEEN_KEEP; i++)
		free(ring[i]);
	free(ring);
	free(line);
	fclose(f);
	return rc;
}

static int
mkdirs(char *dir)
{
	char *p;

	for (p = dir + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	return mkdir(dir, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static int
read_cursor(struct seen *s, char *err, size_t errlen)
{
	char *path, buf[32];
	ssize_t n;
	int fd;

	s->cursor = 0;
	if (asprintf(&path, "%s/cursor", s->dir) < 0) {
		snprintf(err, errlen, "%s: out of memory", s->dir);
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		free(path);
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s/cursor: %s", s->dir, strerror(errno));
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n < 0 ? 0 : n] = '\0';
	if (!parse_int(buf, 0, INT64_MAX, &s->cursor)) {
		snprintf(err, errlen, "%s: not an inbox id", path);
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

struct seen *
seen_open(const char *dir, char *err, size_t errlen)
{
	struct seen *s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", dir);
		return NULL;
	}
	s->fd = -1;
	s->cap = 1024;
	if ((s->dir = strdup(dir)) == NULL ||
	    asprintf(&s->path, "%s/seen", dir) < 0 ||
	    (s->slots = calloc(s->cap, sizeof(*s->slots))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", dir);
		seen_close(s);
		return NULL;
	}
	if (mkdirs(s->dir) != 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		seen_close(s);
		return NULL;
	}
	if (read_cursor(s, err, errlen) != 0 || load(s, false, err,
	    errlen) != 0) {
		seen_close(s);
		return NULL;
	}
	if ((s->fd = open(s->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) < 0) {
		snprintf(err, errlen, "%s: %s", s->path, strerror(errno));
		seen_close(s);
		return NULL;
	}
	return s;
}

void
seen_close(struct seen *s)
{
	if (s == NULL)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->staged);
	free(s->slots);
	free(s->path);
	free(s->dir);
	free(s);
}

bool
seen_has(const struct seen *s, const char *uid)
{
	return s->slots[slot_of(s, key_of(uid))].a != 0;
}

bool
seen_add(struct seen *s, const char *uid)
{
	size_t n = strlen(uid), cap;
	char *p;

	if (s->scap - s->slen < n + 1) {
		cap = s->scap ? s->scap : 4096;
		while (cap - s->slen < n + 1)
			cap *= 2;
		if ((p = realloc(s->staged, cap)) == NULL)
			return false;
		s->staged = p;
		s->scap = cap;
	}
	if (insert(s, key_of(uid)) != 1)
		return false;
	memcpy(s->staged + s->slen, uid, n);
	s->staged[s->slen + n] = '\n';
	s->slen += n + 1;
	return true;
}

int
seen_commit(struct seen *s, char *err, size_t errlen)
{
	ssize_t w;
	size_t off = 0;

	while (off < s->slen) {
		w = write(s->fd, s->staged + off, s->slen - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errlen, "%s: %s", s->path,
			    w < 0 ? strerror(errno) : "short write");
			return -1;
		}
		off += (size_t)w;
	}
	s->slen = 0;
	if (s->scap > 65536) {
		free(s->staged);
		s->staged = NULL;
		s->scap = 0;
	}
	if (s->count >= SEEN_MAX)
		return load(s, true, err, errlen);
	return 0;
}

size_t
seen_count(const struct seen *s)
{
	return s->count;
}

int64_t
seen_cursor(const struct seen *s)
{
	return s->cursor;
}

int
seen_set_cursor(struct seen *s, int64_t id, char *err, size_t errlen)
{
	char *path = NULL, *tmp = NULL, buf[32];
	int fd = -1, n, rc = -1;

	if (id == s->cursor)
		return 0;
	if (asprintf(&path, "%s/cursor", s->dir) < 0 ||
	    asprintf(&tmp, "%s/cursor.tmp", s->dir) < 0) {
		snprintf(err, errlen, "%s: out of memory", s->dir);
		free(path);
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%" PRId64 "\n", id);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0 || write(fd, buf, (size_t)n) != n || close(fd) != 0 ||
	    rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
	} else {
		s->cursor = id;
		rc = 0;
	}
	free(path);
	free(tmp);
	return rc;
}
