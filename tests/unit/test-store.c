/* Unit tests for lib/store: the SQLite backend on a real file in a fresh
 * temporary folder: peers, friendships, messages, atomic batches, and
 * query plans that use an index, never a scan. */
#include <pthread.h>
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
#include <sodium.h>
#include <sqlite3.h>

#include "dir/store.h"

struct fixture {
	char dir[64];
	char path[96];
	struct store *s;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store_opts o = { 0 };
	char err[256];

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-store.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/dir.db", f->dir);
	o.path = f->path;
	if (store_open(&o, &f->s, err, sizeof(err)) != STORE_OK) {
		fprintf(stderr, "store_open: %s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char p[128];

	store_close(f->s);
	unlink(f->path);
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
reg(struct store *s, const char *name)
{
	struct store_peer p;
	bool created;

	assert_int_equal(store_register(s, name, "127.0.0.1", 5000, NULL, NULL, 1000,
	    &p, &created), STORE_OK);
}

static void
register_is_case_insensitive(void **state)
{
	struct fixture *f = *state;
	struct store_peer p;
	bool created = false;

	assert_int_equal(store_register(f->s, "Alice", "10.0.0.1", 1, NULL, NULL, 5,
	    &p, &created), STORE_OK);
	assert_true(created);
	assert_int_equal(store_register(f->s, "ALICE", "::1", 2, NULL, NULL, 6,
	    &p, &created), STORE_OK);
	assert_false(created);
	assert_string_equal(p.username, "Alice");	/* first spelling kept */
	assert_string_equal(p.ip, "::1");
	assert_int_equal(p.port, 2);
	assert_int_equal(p.last_seen, 6);
	assert_int_equal(store_peer_get(f->s, "alice", &p), STORE_OK);
	assert_int_equal(store_peer_get(f->s, "nobody", &p), STORE_NOT_FOUND);
	assert_int_equal(store_logout(f->s, "aLiCe"), STORE_OK);
	assert_int_equal(store_peer_get(f->s, "alice", &p), STORE_OK);
	assert_true(p.logged_out);
	assert_int_equal(store_logout(f->s, "nobody"), STORE_NOT_FOUND);
}

/* Candidates are kept as given, replaced by each register, cleared by
 * one without them, and listed with the peer. */
static void
candidates_are_replaced(void **state)
{
	struct fixture *f = *state;
	struct store_peer p;
	bool created;
	char big[STORE_CANDIDATES_MAX + 2];
	const char *c1 = "[{\"ip\":\"10.0.0.1\",\"port\":1,\"type\":\"host\"}]";

	assert_int_equal(store_register(f->s, "alice", "10.0.0.1", 1, NULL, c1,
	    5, &p, &created), STORE_OK);
	assert_string_equal(p.candidates, c1);
	assert_int_equal(store_peer_get(f->s, "alice", &p), STORE_OK);
	assert_string_equal(p.candidates, c1);
	assert_int_equal(store_register(f->s, "alice", "10.0.0.1", 1, NULL, NULL,
	    6, &p, &created), STORE_OK);
	assert_string_equal(p.candidates, "");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(store_register(f->s, "alice", "10.0.0.1", 1, NULL, big,
	    7, &p, &created), STORE_FAILED);
}

struct names {
	char got[8][USERNAME_MAX + 1];
	int n;
};

static int
collect_peer(void *arg, const struct store_peer *p)
{
	struct names *nm = arg;

	if (nm->n < 8)
		snprintf(nm->got[nm->n], sizeof(nm->got[0]), "%s", p->username);
	nm->n++;
	return 0;
}

/* A name is bound to the first key it registers with; after that only
 * that key updates it, and nothing changes on a refusal. */
static void
keys_bind_on_first_use(void **state)
{
	struct fixture *f = *state;
	struct store_peer p;
	bool created = false;

	assert_int_equal(store_register(f->s, "alice", "10.0.0.1", 1, NULL, NULL, 5,
	    &p, &created), STORE_OK);
	assert_string_equal(p.key, "");
	/* an unkeyed name is bound by its first keyed registration */
	assert_int_equal(store_register(f->s, "alice", "10.0.0.2", 2, "KA", NULL, 6,
	    &p, &created), STORE_OK);
	assert_false(created);
	assert_string_equal(p.key, "KA");
	assert_int_equal(store_register(f->s, "Alice", "10.0.0.3", 3, "KB", NULL, 7,
	    &p, &created), STORE_KEY_MISMATCH);
	assert_int_equal(store_register(f->s, "alice", "10.0.0.4", 4, NULL, NULL, 8,
	    &p, &created), STORE_KEY_MISMATCH);
	assert_int_equal(store_register(f->s, "alice", "10.0.0.5", 5, "", NULL, 9,
	    &p, &created), STORE_KEY_MISMATCH);
	assert_int_equal(store_peer_get(f->s, "alice", &p), STORE_OK);
	assert_string_equal(p.ip, "10.0.0.2");
	assert_int_equal(p.port, 2);
	assert_int_equal(p.last_seen, 6);
	assert_int_equal(store_register(f->s, "alice", "10.0.0.6", 6, "KA", NULL, 10,
	    &p, &created), STORE_OK);
	assert_int_equal(p.port, 6);
	/* a new name with a key */
	assert_int_equal(store_register(f->s, "bob", "10.0.0.7", 7, "KB", NULL, 11,
	    &p, &created), STORE_OK);
	assert_true(created);
	assert_string_equal(p.key, "KB");

	/* rotation needs the key in force */
	assert_int_equal(store_set_key(f->s, "alice", "KB", "KC"),
	    STORE_KEY_MISMATCH);
	assert_int_equal(store_set_key(f->s, "nobody", "KA", "KC"),
	    STORE_NOT_FOUND);
	assert_int_equal(store_set_key(f->s, "ALICE", "KA", "KC"), STORE_OK);
	assert_int_equal(store_peer_get(f->s, "alice", &p), STORE_OK);
	assert_string_equal(p.key, "KC");
	assert_int_equal(store_register(f->s, "alice", "10.0.0.8", 8, "KA", NULL, 12,
	    &p, &created), STORE_KEY_MISMATCH);

	/* the operator's release leaves the row, without its key */
	assert_int_equal(store_release(f->s, "nobody"), STORE_NOT_FOUND);
	assert_int_equal(store_release(f->s, "alice"), STORE_OK);
	assert_int_equal(store_peer_get(f->s, "alice", &p), STORE_OK);
	assert_string_equal(p.key, "");
	assert_int_equal(p.port, 6);
	assert_int_equal(store_register(f->s, "alice", "10.0.0.9", 9, "KD", NULL, 13,
	    &p, &created), STORE_OK);
	assert_string_equal(p.key, "KD");
}

static void
peers_page_in_name_order(void **state)
{
	struct fixture *f = *state;
	struct names nm = { .n = 0 };

	reg(f->s, "carol");
	reg(f->s, "Bob");
	reg(f->s, "alice");
	assert_int_equal(store_peers(f->s, NULL, -1, 0, collect_peer, &nm),
	    STORE_OK);
	assert_int_equal(nm.n, 3);
	assert_string_equal(nm.got[0], "alice");
	assert_string_equal(nm.got[1], "Bob");
	assert_string_equal(nm.got[2], "carol");
	nm.n = 0;
	assert_int_equal(store_peers(f->s, "BOB", 5, 0, collect_peer, &nm),
	    STORE_OK);
	assert_int_equal(nm.n, 1);
	assert_string_equal(nm.got[0], "carol");
	/* online_since later than everyone's last_seen: nobody online */
	nm.n = 0;
	assert_int_equal(store_peers(f->s, NULL, -1, 2000, collect_peer, &nm),
	    STORE_OK);
	assert_int_equal(nm.n, 0);
}

static void
friendship_is_mutual_and_idempotent(void **state)
{
	struct fixture *f = *state;
	struct names nm = { .n = 0 };
	bool created = false;

	reg(f->s, "alice");
	reg(f->s, "bob");
	assert_int_equal(store_friend_add(f->s, "alice", "bob", &created),
	    STORE_OK);
	assert_true(created);
	assert_int_equal(store_friend_add(f->s, "BOB", "alice", &created),
	    STORE_OK);
	assert_false(created);
	assert_int_equal(store_friend_add(f->s, "alice", "ALICE", &created),
	    STORE_SAME_USER);
	assert_int_equal(store_friend_add(f->s, "alice", "zed", &created),
	    STORE_NOT_FOUND);
	assert_int_equal(store_friends(f->s, "bob", NULL, -1, collect_peer,
	    &nm), STORE_OK);
	assert_int_equal(nm.n, 1);
	assert_string_equal(nm.got[0], "alice");
	assert_int_equal(store_friends(f->s, "zed", NULL, -1, collect_peer,
	    &nm), STORE_NOT_FOUND);
}

struct ids {
	int64_t id[16];
	char text[16][16];
	int n;
};

static int
collect_msg(void *arg, const struct store_message *m)
{
	struct ids *x = arg;

	if (x->n < 16) {
		x->id[x->n] = m->id;
		snprintf(x->text[x->n], sizeof(x->text[0]), "%.*s",
		    (int)m->content_len, m->content);
	}
	x->n++;
	return 0;
}

static struct store_new_message
msg(const char *from, const char *to, const char *text, const char *uid)
{
	struct store_new_message m = { 0 };

	m.sender = from;
	m.receiver = to;
	m.content = text;
	m.content_len = strlen(text);
	m.uid = uid;
	return m;
}

static void
messages_uid_and_batches(void **state)
{
	struct fixture *f = *state;
	struct store_new_message m[3];
	struct ids x = { .n = 0 };
	size_t bad = 99;
	int64_t first;

	reg(f->s, "alice");
	reg(f->s, "bob");
	reg(f->s, "carol");
	m[0] = msg("alice", "bob", "one", "u1");
	assert_int_equal(store_messages_create(f->s, m, 1, 10, &bad), STORE_OK);
	assert_true(m[0].created);
	first = m[0].id;
	m[0] = msg("alice", "bob", "again", "u1");
	assert_int_equal(store_messages_create(f->s, m, 1, 11, &bad), STORE_OK);
	assert_false(m[0].created);
	assert_int_equal(m[0].id, first);
	assert_int_equal(m[0].ts, 10);

	/* One unknown receiver: the batch stores nothing. */
	m[0] = msg("bob", "alice", "two", NULL);
	m[1] = msg("alice", "zed", "lost", NULL);
	assert_int_equal(store_messages_create(f->s, m, 2, 12, &bad),
	    STORE_NOT_FOUND);
	assert_int_equal(bad, 1);
	assert_int_equal(store_messages(f->s, "alice", "bob", 0, -1,
	    collect_msg, &x), STORE_OK);
	assert_int_equal(x.n, 1);

	m[0] = msg("bob", "alice", "two", NULL);
	m[1] = msg("alice", "bob", "three", NULL);
	m[2] = msg("carol", "bob", "other", NULL);
	assert_int_equal(store_messages_create(f->s, m, 3, 13, &bad), STORE_OK);
	assert_int_equal(strlen(m[0].uid_made), 32);
	x.n = 0;
	assert_int_equal(store_messages(f->s, "BOB", "alice", 0, -1,
	    collect_msg, &x), STORE_OK);
	assert_int_equal(x.n, 3);
	assert_string_equal(x.text[0], "one");
	assert_string_equal(x.text[1], "two");
	assert_string_equal(x.text[2], "three");
	x.n = 0;
	assert_int_equal(store_messages(f->s, "alice", "bob", first, 1,
	    collect_msg, &x), STORE_OK);
	assert_int_equal(x.n, 1);
	assert_string_equal(x.text[0], "two");
	x.n = 0;	/* bob's inbox: from alice and carol */
	assert_int_equal(store_messages(f->s, "bob", NULL, 0, -1, collect_msg,
	    &x), STORE_OK);
	assert_int_equal(x.n, 3);
	assert_string_equal(x.text[2], "other");
	assert_int_equal(store_messages(f->s, "zed", NULL, 0, -1, collect_msg,
	    &x), STORE_NOT_FOUND);
}

/* A conversation read back whole: ids and texts in order. */
enum { BIG = 77 };

struct convo {
	int64_t id[BIG + 8];
	char text[BIG + 8][16];
	int n;
};

static int
collect_all(void *arg, const struct store_message *m)
{
	struct convo *c = arg;

	if (c->n < BIG + 8) {
		c->id[c->n] = m->id;
		snprintf(c->text[c->n], sizeof(c->text[0]), "%.*s",
		    (int)m->content_len, m->content);
	}
	c->n++;
	return 0;
}

/* A batch of 77 is written 32, 32, 8 and five single rows at a time: every
 * message comes back in order, with its id and its text, both ways. */
static void
large_batches_keep_order(void **state)
{
	struct fixture *f = *state;
	static struct store_new_message m[BIG];
	static char text[BIG][16], uid[BIG][16];
	static struct convo c;
	size_t bad;

	reg(f->s, "alice");
	reg(f->s, "bob");
	for (int i = 0; i < BIG; i++) {
		snprintf(text[i], sizeof(text[i]), "m%d", i);
		snprintf(uid[i], sizeof(uid[i]), "big-%d", i);
		m[i] = i % 3 == 0 ? msg("bob", "alice", text[i], uid[i]) :
		    msg("alice", "BOB", text[i], i % 2 ? uid[i] : NULL);
	}
	assert_int_equal(store_messages_create(f->s, m, BIG, 42, &bad),
	    STORE_OK);
	for (int i = 0; i < BIG; i++) {
		assert_true(m[i].created);
		assert_int_equal(m[i].ts, 42);
		if (i > 0)
			assert_true(m[i].id > m[i - 1].id);
	}
	c.n = 0;
	assert_int_equal(store_messages(f->s, "bob", "alice", 0, -1,
	    collect_all, &c), STORE_OK);
	assert_int_equal(c.n, BIG);
	for (int i = 0; i < BIG; i++) {
		assert_int_equal(c.id[i], m[i].id);
		assert_string_equal(c.text[i], text[i]);
	}
}

/* uids stored before, and uids twice in one batch (in one statement's
 * rows, and in two statements'), answer with their first copy, which
 * alone counts as created. */
static void
batch_repeats_answer_first_copies(void **state)
{
	struct fixture *f = *state;
	enum { OLD = 3, N = 45 };
	struct store_new_message old[OLD], m[N];
	static char text[N][16], uid[N][16];
	static struct convo c;
	size_t bad;
	int fresh = 0;

	reg(f->s, "alice");
	reg(f->s, "bob");
	for (int i = 0; i < OLD; i++) {
		snprintf(uid[i], sizeof(uid[i]), "old-%d", i);
		old[i] = msg("alice", "bob", "before", uid[i]);
		assert_int_equal(store_messages_create(f->s, &old[i], 1, 7,
		    &bad), STORE_OK);
	}
	for (int i = 0; i < N; i++) {
		snprintf(text[i], sizeof(text[i]), "n%d", i);
		snprintf(uid[i], sizeof(uid[i]), "new-%d", i);
		m[i] = msg("bob", "alice", text[i], uid[i]);
	}
	m[1].uid = "old-2";	/* stored before */
	m[5].uid = "new-0";	/* twice, in the first 32 */
	m[36].uid = "old-0";	/* stored before, in the second statement */
	m[40].uid = "new-2";	/* twice, 38 rows apart */
	assert_int_equal(store_messages_create(f->s, m, N, 9, &bad),
	    STORE_OK);
	assert_int_equal(m[1].id, old[2].id);
	assert_int_equal(m[36].id, old[0].id);
	assert_int_equal(m[1].ts, 7);
	assert_int_equal(m[5].id, m[0].id);
	assert_int_equal(m[40].id, m[2].id);
	for (int i = 0; i < N; i++) {
		bool repeat = i == 1 || i == 5 || i == 36 || i == 40;

		assert_int_equal(m[i].created, !repeat);
		if (repeat)
			continue;
		assert_int_equal(m[i].ts, 9);
		assert_true(m[i].id > old[OLD - 1].id);
		fresh++;
	}
	c.n = 0;
	assert_int_equal(store_messages(f->s, "alice", "bob", 0, -1,
	    collect_all, &c), STORE_OK);
	assert_int_equal(c.n, OLD + fresh);
	assert_string_equal(c.text[OLD], "n0");
	assert_string_equal(c.text[OLD + 1], "n2");
	assert_string_equal(c.text[c.n - 1], "n44");
}

static void
floor_keeps_the_newest(void **state)
{
	struct fixture *f = *state;
	struct store_new_message m[5];
	struct ids x = { .n = 0 };
	size_t bad;
	int64_t floor = -1;
	const char *t[5] = { "a", "b", "c", "d", "e" };

	reg(f->s, "alice");
	reg(f->s, "bob");
	for (int i = 0; i < 5; i++)
		m[i] = msg("alice", "bob", t[i], NULL);
	assert_int_equal(store_messages_create(f->s, m, 5, 1, &bad), STORE_OK);
	assert_int_equal(store_messages_floor(f->s, "alice", "bob", 0, 2,
	    &floor), STORE_OK);
	assert_int_equal(store_messages(f->s, "alice", "bob", floor, -1,
	    collect_msg, &x), STORE_OK);
	assert_int_equal(x.n, 2);
	assert_string_equal(x.text[0], "d");
	assert_string_equal(x.text[1], "e");
	/* more asked than there are: all of them */
	assert_int_equal(store_messages_floor(f->s, "bob", NULL, 0, 50,
	    &floor), STORE_OK);
	assert_int_equal(floor, 0);
}

static void
queries_use_indexes(void **state)
{
	struct fixture *f = *state;
	const char *names[] = { "conversation", "inbox", "peers", "friends",
	    "peer", "conversation-last", "inbox-last" };
	char plan[1024];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_true(store_plan(f->s, names[i], plan, sizeof(plan)));
		/* Every table is searched through an index: "SEARCH ...",
		 * never "SCAN <table>". */
		if (strstr(plan, "SCAN ") != NULL)
			fail_msg("%s scans: %s", names[i], plan);
		/* Only a user's friends are sorted after the search: a
		 * short list. */
		if (strcmp(names[i], "friends") != 0 &&
		    strstr(plan, "TEMP B-TREE") != NULL)
			fail_msg("%s sorts: %s", names[i], plan);
	}
	assert_true(store_plan(f->s, "conversation", plan, sizeof(plan)));
	assert_non_null(strstr(plan, "messages_pair"));
	assert_true(store_plan(f->s, "inbox", plan, sizeof(plan)));
	assert_non_null(strstr(plan, "messages_inbox"));
	assert_false(store_plan(f->s, "nonsense", plan, sizeof(plan)));
}

static void
refuses_files_not_ours(void **state)
{
	struct fixture *f = *state;
	struct store_opts o = { 0 };
	struct store *s = NULL;
	char path[128], err[256], before[64], after[64];
	FILE *fp;
	sqlite3 *db;

	/* Plain text: untouched. */
	snprintf(path, sizeof(path), "%s/text.db", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	memset(before, 'x', sizeof(before));
	fwrite(before, 1, sizeof(before), fp);
	fclose(fp);
	o.path = path;
	assert_int_equal(store_open(&o, &s, err, sizeof(err)), STORE_NOT_OURS);
	fp = fopen(path, "r");
	assert_int_equal(fread(after, 1, sizeof(after), fp), sizeof(after));
	fclose(fp);
	assert_memory_equal(before, after, sizeof(before));
	unlink(path);

	/* Someone else's SQLite database. */
	snprintf(path, sizeof(path), "%s/other.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(&o, &s, err, sizeof(err)), STORE_NOT_OURS);
	unlink(path);

	/* Ours, but from a newer version. */
	snprintf(path, sizeof(path), "%s/new.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA application_id=1128808788;"
	    "PRAGMA user_version=99; CREATE TABLE peers(x)", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(&o, &s, err, sizeof(err)), STORE_TOO_NEW);
	unlink(path);

	/* A folder that does not exist. */
	o.path = "/nonexistent-folder/x.db";
	assert_int_equal(store_open(&o, &s, err, sizeof(err)), STORE_IO);
}

/* A writer that is never idle must not grow the WAL without end: the
 * checkpointer holds it off long enough for SQLite to rewind the WAL. */
static void
wal_stays_bounded_under_constant_writes(void **state)
{
	struct fixture *f = *state;
	enum { BATCH = 200, BATCHES = 300 };
	static struct store_new_message m[BATCH];
	static char uid[BATCH][33];
	unsigned char raw[16];
	char wal[128];
	off_t most = 0;
	size_t bad;
	struct stat sb;

	reg(f->s, "alice");
	reg(f->s, "bob");
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	for (int b = 0; b < BATCHES; b++) {
		/* Random throughout, unlike the uids the store makes: each
		 * batch dirties pages all over the uid index. */
		for (int i = 0; i < BATCH; i++) {
			randombytes_buf(raw, sizeof(raw));
			sodium_bin2hex(uid[i], sizeof(uid[i]), raw, sizeof(raw));
			m[i] = msg("alice", "bob", "a message of some length,"
			    " about as long as a short line of chat", uid[i]);
		}
		assert_int_equal(store_messages_create(f->s, m, BATCH, b,
		    &bad), STORE_OK);
		assert_int_equal(stat(wal, &sb), 0);
		if (sb.st_size > most)
			most = sb.st_size;
	}
	/* 60,000 messages under random uids write about 200 MB of WAL
	 * frames; rewound, the WAL never holds more than a few MB. */
	assert_true(most < (32 << 20));
}

/* Writers at once share commits and every one of them comes back with
 * its message stored: none is lost, none left waiting, ids all distinct.
 * Half the writers also send, every fourth time, a batch naming an
 * unknown peer: it stores nothing, and leaves the rest of its group be. */
enum { WRITERS = 12, EACH = 300 };

struct writer_arg {
	struct store *s;
	int64_t ids[EACH];
	int n, failed, odd;
};

static void *
writer_thread(void *p)
{
	struct writer_arg *w = p;
	size_t bad;

	for (int i = 0; i < EACH; i++) {
		struct store_new_message m = msg("alice", "bob", "hello", NULL);
		struct store_new_message lost[3] = {
			msg("bob", "alice", "lost", NULL),
			msg("bob", "nobody", "lost", NULL),
			msg("alice", "bob", "lost", NULL),
		};

		if (w->odd && i % 4 == 0) {
			if (store_messages_create(w->s, lost, 3, i, &bad) !=
			    STORE_NOT_FOUND || bad != 1)
				w->failed++;
			continue;
		}
		if (store_messages_create(w->s, &m, 1, i, &bad) != STORE_OK ||
		    !m.created)
			w->failed++;
		w->ids[w->n++] = m.id;
	}
	return NULL;
}

static int
count_msg(void *arg, const struct store_message *m)
{
	(void)m;
	(*(int *)arg)++;
	return 0;
}

static int
cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void
concurrent_writers_share_commits(void **state)
{
	struct fixture *f = *state;
	static struct writer_arg w[WRITERS];
	static int64_t all[WRITERS * EACH];
	pthread_t t[WRITERS];
	int stored = 0, n = 0;

	reg(f->s, "alice");
	reg(f->s, "bob");
	for (int i = 0; i < WRITERS; i++) {
		w[i].s = f->s;
		w[i].n = w[i].failed = 0;
		w[i].odd = i % 2;
		assert_int_equal(pthread_create(&t[i], NULL, writer_thread,
		    &w[i]), 0);
	}
	for (int i = 0; i < WRITERS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].failed, 0);
		memcpy(all + n, w[i].ids, (size_t)w[i].n * sizeof(all[0]));
		n += w[i].n;
	}
	assert_int_equal(n, WRITERS * EACH - WRITERS / 2 * (EACH / 4));
	qsort(all, (size_t)n, sizeof(all[0]), cmp_id);
	for (int i = 1; i < n; i++)
		assert_true(all[i] > all[i - 1]);
	assert_int_equal(store_messages(f->s, "alice", "bob", 0, -1,
	    count_msg, &stored), STORE_OK);
	assert_int_equal(stored, n);
}

/* What a watcher heard: the count of each kind, the last of each. */
struct heard {
	int messages, published, nulls;
	int64_t id;
	char from[USERNAME_MAX + 1], to[USERNAME_MAX + 1];
	char user[USERNAME_MAX + 1];
	char json[STORE_PUBLISH_MAX + 1];
};

static void
hear(void *arg, const struct store_event *ev)
{
	struct heard *h = arg;

	if (ev == NULL) {
		h->nulls++;
	} else if (ev->kind == STORE_EV_PUBLISHED) {
		h->published++;
		snprintf(h->user, sizeof(h->user), "%s", ev->user);
		snprintf(h->json, sizeof(h->json), "%s", ev->json);
	} else {
		h->messages++;
		h->id = ev->id;
		snprintf(h->from, sizeof(h->from), "%s", ev->from);
		snprintf(h->to, sizeof(h->to), "%s", ev->to);
	}
}

/* One daemon per file: a published event is heard at once, from the
 * publishing call, by the one watcher; a bad one is refused. */
static void
publish_is_heard_at_once(void **state)
{
	struct fixture *f = *state;
	static char big[STORE_PUBLISH_MAX + 1];
	const char *relay = "{\"type\":\"relay\",\"from\":\"alice\"}";
	struct heard h = { 0 };
	struct store_new_message m = { .sender = "alice", .receiver = "bob",
	    .content = "hi", .content_len = 2 };
	size_t bad;

	/* no watcher yet: published to no one */
	assert_int_equal(store_publish(f->s, "bob", "{}"), STORE_OK);
	assert_int_equal(store_watch(f->s, hear, &h), STORE_OK);
	assert_int_equal(store_publish(f->s, "Bob", relay), STORE_OK);
	assert_int_equal(h.published, 1);
	assert_string_equal(h.user, "Bob");
	assert_string_equal(h.json, relay);
	assert_int_equal(h.messages, 0);
	/* a message is a message event */
	reg(f->s, "alice");
	reg(f->s, "bob");
	assert_int_equal(store_messages_create(f->s, &m, 1, 5, &bad),
	    STORE_OK);
	assert_int_equal(h.messages, 1);
	assert_int_equal(h.id, m.id);
	assert_string_equal(h.from, "alice");
	assert_string_equal(h.to, "bob");
	assert_int_equal(h.published, 1);
	/* refused: a bad name, a second line, a payload over the limit */
	assert_int_equal(store_publish(f->s, "-bob", "{}"), STORE_INVALID);
	assert_int_equal(store_publish(f->s, "bob", "{\n}"), STORE_INVALID);
	memset(big, 'x', STORE_PUBLISH_MAX - 3);
	assert_int_equal(store_publish(f->s, "bob", big), STORE_INVALID);
	assert_int_equal(h.published, 1);
	big[STORE_PUBLISH_MAX - 4] = '\0';
	assert_int_equal(store_publish(f->s, "bob", big), STORE_OK);
	assert_int_equal(h.published, 2);
	assert_int_equal(strlen(h.json), STORE_PUBLISH_MAX - 4);
	assert_int_equal(h.nulls, 0);
}

static void
migrates_a_seed_database(void **state)
{
	struct fixture *f = *state;
	struct store_opts o = { 0 };
	struct store *s = NULL;
	struct store_peer p;
	struct ids x = { .n = 0 };
	struct names nm = { .n = 0 };
	char path[128], err[256];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/seed.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	    "CREATE TABLE peers (id INTEGER PRIMARY KEY, username TEXT NOT NULL"
	    " UNIQUE COLLATE NOCASE, ip TEXT NOT NULL, port INTEGER NOT NULL);"
	    "CREATE TABLE friendships (owner INTEGER NOT NULL, friend INTEGER"
	    " NOT NULL, PRIMARY KEY (owner, friend)) WITHOUT ROWID;"
	    "CREATE TABLE messages (id INTEGER PRIMARY KEY, sender INTEGER NOT"
	    " NULL, receiver INTEGER NOT NULL, content TEXT NOT NULL);"
	    "INSERT INTO peers VALUES (1, 'alice', '127.0.0.1', 5000),"
	    " (2, 'bob', '127.0.0.1', 5001);"
	    "INSERT INTO friendships VALUES (1, 2);"
	    "INSERT INTO messages VALUES (1, 1, 2, 'old hello');"
	    "PRAGMA user_version=1;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	o.path = path;
	assert_int_equal(store_open(&o, &s, err, sizeof(err)), STORE_OK);
	assert_int_equal(store_peer_get(s, "bob", &p), STORE_OK);
	assert_int_equal(p.port, 5001);
	assert_string_equal(p.candidates, "");
	assert_int_equal(store_messages(s, "alice", "bob", 0, -1, collect_msg,
	    &x), STORE_OK);
	assert_int_equal(x.n, 1);
	assert_string_equal(x.text[0], "old hello");
	/* the seed's one-way friendship is mutual now */
	assert_int_equal(store_friends(s, "bob", NULL, -1, collect_peer, &nm),
	    STORE_OK);
	assert_int_equal(nm.n, 1);
	store_close(s);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	{
		sqlite3_stmt *st;
		assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version",
		    -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(st, 0),
		    store_schema_version());
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(register_is_case_insensitive,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(keys_bind_on_first_use,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(candidates_are_replaced,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(peers_page_in_name_order,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    friendship_is_mutual_and_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(messages_uid_and_batches,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(large_batches_keep_order,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    batch_repeats_answer_first_copies, setup, teardown),
		cmocka_unit_test_setup_teardown(floor_keeps_the_newest,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(queries_use_indexes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_files_not_ours,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(migrates_a_seed_database,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    wal_stays_bounded_under_constant_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    concurrent_writers_share_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(publish_is_heard_at_once,
		    setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
