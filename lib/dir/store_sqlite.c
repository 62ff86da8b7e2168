/* store_sqlite: the SQLite backend of store.h. One writer connection behind a
 * mutex (writes serialize in SQLite anyway; this spares busy-waiting) and
 * a pool of reader connections; every statement prepared once per
 * connection. WAL mode: readers never wait for the writer. */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dir/store_backend.h"
#include "core/util.h"

#define APP_ID 0x43484154	/* "CHAT" */
#define BUSY_MS 5000
#define STORE_HEAP_LIMIT (8 << 20)

/* Schema steps: migrations[v] takes a database from version v to v + 1.
 * Version 1 is the seed design's tables; a fresh file runs every step. */
static const char *const migrations[] = {
	"CREATE TABLE peers ("
	"  id INTEGER PRIMARY KEY,"
	"  username TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	"  ip TEXT NOT NULL,"
	"  port INTEGER NOT NULL);"
	"CREATE TABLE friendships ("
	"  owner INTEGER NOT NULL REFERENCES peers(id),"
	"  friend INTEGER NOT NULL REFERENCES peers(id),"
	"  PRIMARY KEY (owner, friend)) WITHOUT ROWID;"
	"CREATE TABLE messages ("
	"  id INTEGER PRIMARY KEY,"
	"  sender INTEGER NOT NULL REFERENCES peers(id),"
	"  receiver INTEGER NOT NULL REFERENCES peers(id),"
	"  content TEXT NOT NULL);",

	"ALTER TABLE peers ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE peers ADD COLUMN logged_out INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE messages ADD COLUMN uid TEXT;"
	"ALTER TABLE messages ADD COLUMN ts INTEGER NOT NULL DEFAULT 0;"
	"UPDATE messages SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL;"
	"CREATE UNIQUE INDEX messages_uid ON messages(uid);"
	"CREATE INDEX messages_pair ON messages"
	"  (min(sender, receiver), max(sender, receiver), id);"
	"CREATE INDEX messages_inbox ON messages(receiver, id);"
	"INSERT OR IGNORE INTO friendships(owner, friend)"
	"  SELECT friend, owner FROM friendships;",

	/* identity: the Ed25519 public key a name is bound to, or NULL */
	"ALTER TABLE peers ADD COLUMN key TEXT;",

	/* NAT traversal: the addresses a peer claims, a JSON array */
	"ALTER TABLE peers ADD COLUMN candidates TEXT;",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

enum stmt {
	ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
	ST_PEER_ID, ST_PEER_IDS, ST_PEER_GET, ST_PEER_INSERT, ST_PEER_UPDATE,
	ST_PEER_KEY, ST_SET_KEY, ST_RELEASE,
	ST_LOGOUT,
	ST_PEERS, ST_PEERS_ONLINE,
	ST_FRIEND_ADD, ST_FRIENDS,
	ST_MSG_INSERT, ST_MSG_INSERT8, ST_MSG_INSERT32, ST_MSG_BY_UID,
	ST_MSG_LAST,
	ST_CONV, ST_INBOX, ST_CONV_FLOOR, ST_INBOX_FLOOR,
	ST_HEALTH,
	ST_COUNT
};

#define PEER_COLS "username, ip, port, last_seen, logged_out, key, candidates"
#define MSG_SELECT \
	"SELECT m.id, m.uid, s.username, r.username, m.content, m.ts" \
	" FROM messages m CROSS JOIN peers s ON s.id = m.sender" \
	" CROSS JOIN peers r ON r.id = m.receiver"
#define PAIR "min(m.sender, m.receiver) = ?1 AND max(m.sender, m.receiver) = ?2"
/* Messages are stored up to 32 rows a statement: a statement's own cost
 * (cursors opened on the table and its three indexes, and closed again)
 * is then shared by its rows. */
#define MSG_INSERT(rows) "INSERT INTO messages(uid, sender, receiver," \
	" content, ts) VALUES " rows " ON CONFLICT(uid) DO NOTHING"
#define ROW "(?, ?, ?, ?, ?)"
#define ROWS2 ROW ", " ROW
#define ROWS4 ROWS2 ", " ROWS2
#define ROWS8 ROWS4 ", " ROWS4
#define ROWS16 ROWS8 ", " ROWS8
#define ROWS32 ROWS16 ", " ROWS16
#define ROW_PARAMS 5

static const char *const sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_PEER_ID] = "SELECT id FROM peers WHERE username = ?1",
	[ST_PEER_IDS] = "SELECT (SELECT id FROM peers WHERE username = ?1),"
	    " (SELECT id FROM peers WHERE username = ?2)",
	[ST_PEER_GET] = "SELECT " PEER_COLS " FROM peers WHERE username = ?1",
	[ST_PEER_INSERT] = "INSERT INTO peers(username, ip, port, last_seen,"
	    " logged_out, key, candidates) VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)",
	[ST_PEER_UPDATE] = "UPDATE peers SET ip = ?2, port = ?3, last_seen = ?4,"
	    " logged_out = 0, key = coalesce(key, ?5), candidates = ?6"
	    " WHERE id = ?1",
	[ST_PEER_KEY] = "SELECT id, key FROM peers WHERE username = ?1",
	[ST_SET_KEY] = "UPDATE peers SET key = ?3 WHERE username = ?1"
	    " AND key = ?2",
	[ST_RELEASE] = "UPDATE peers SET key = NULL WHERE username = ?1",
	[ST_LOGOUT] = "UPDATE peers SET logged_out = 1 WHERE username = ?1",
	[ST_PEERS] = "SELECT " PEER_COLS " FROM peers WHERE username > ?1"
	    " ORDER BY username LIMIT ?2",
	[ST_PEERS_ONLINE] = "SELECT " PEER_COLS " FROM peers WHERE username > ?1"
	    " AND logged_out = 0 AND last_seen >= ?3 ORDER BY username LIMIT ?2",
	[ST_FRIEND_ADD] = "INSERT OR IGNORE INTO friendships(owner, friend)"
	    " VALUES (?1, ?2)",
	[ST_FRIENDS] = "SELECT p.username, p.ip, p.port, p.last_seen,"
	    " p.logged_out, p.key, p.candidates FROM friendships f CROSS JOIN peers p"
	    " ON p.id = f.friend WHERE f.owner = ?1 AND p.username > ?2"
	    " ORDER BY p.username LIMIT ?3",
	[ST_MSG_INSERT] = MSG_INSERT(ROW),
	[ST_MSG_INSERT8] = MSG_INSERT(ROWS8),
	[ST_MSG_INSERT32] = MSG_INSERT(ROWS32),
	[ST_MSG_BY_UID] = "SELECT id, ts FROM messages WHERE uid = ?1",
	[ST_MSG_LAST] = "SELECT max(id) FROM messages",
	[ST_CONV] = MSG_SELECT " WHERE " PAIR " AND m.id > ?3"
	    " ORDER BY m.id LIMIT ?4",
	[ST_INBOX] = MSG_SELECT " WHERE m.receiver = ?1 AND m.id > ?2"
	    " ORDER BY m.id LIMIT ?3",
	[ST_CONV_FLOOR] = "SELECT m.id FROM messages m WHERE " PAIR
	    " AND m.id > ?3 ORDER BY m.id DESC LIMIT 1 OFFSET ?4",
	[ST_INBOX_FLOOR] = "SELECT m.id FROM messages m WHERE m.receiver = ?1"
	    " AND m.id > ?2 ORDER BY m.id DESC LIMIT 1 OFFSET ?3",
	[ST_HEALTH] = "SELECT count(*) FROM sqlite_schema",
};

/* A request to store messages, waiting for the group commit that takes
 * it along. */
struct job {
	struct store_new_message *msgs;
	int64_t *peers;		/* sender and receiver ids, two a message */
	size_t n;
	int64_t now;
	size_t bad;
	enum store_status res;
	struct job *next;
	/* its thread sleeps here, woken alone */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;		/* written: the result is in res */
	bool wake;		/* the thread should try to lead */
};

struct conn {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	struct conn *next;
};

struct sq_store {
	struct store base;
	char *path;
	bool sync_full;
	pthread_mutex_t pool_mu;
	struct conn *pool;		/* idle readers */
	pthread_mutex_t write_mu;
	struct conn *writer;
	/* group commit: jobs wait here while a leader writes them */
	pthread_mutex_t job_mu;
	struct job *jobs, **jobs_tail;
	size_t njobs;			/* jobs waiting */
	bool leading;
	bool lead_waiting;		/* a leader waits on lead_cv for more */
	pthread_cond_t lead_cv;		/* CLOCK_MONOTONIC */
	int64_t last_lead_us;		/* when the last group began */
	size_t last_group;		/* and how many jobs it took */
	/* checkpoints run here, off the request path */
	pthread_t ckpt_thread;
	bool ckpt_running, ckpt_stop, ckpt_wanted;
	/* set by the checkpointer: the writer finishes its copy */
	atomic_bool ckpt_finish;
	pthread_mutex_t ckpt_mu;
	pthread_cond_t ckpt_cv;
	/* told of every message committed (store_watch) */
	store_event_fn watch_fn;
	void *watch_arg;
};

static enum store_status
status_of(sqlite3 *db, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return STORE_OK;
	case SQLITE_FULL:
		return STORE_FULL;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return STORE_BUSY;
	case SQLITE_NOTADB:
		return STORE_NOT_OURS;
	case SQLITE_CORRUPT:
		return STORE_CORRUPT;
	case SQLITE_IOERR:
		if (db != NULL && sqlite3_system_errno(db) == ENOSPC)
			return STORE_FULL;
		return STORE_FAILED;
	default:
		return STORE_FAILED;
	}
}

int
store_schema_version(void)
{
	return SCHEMA_VERSION;
}

static void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(c->st[i]);
	sqlite3_close(c->db);
	free(c);
}

static struct conn *
conn_open(struct sq_store *s)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (sqlite3_open_v2(s->path, &c->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(c->db, BUSY_MS) != SQLITE_OK ||
	    sqlite3_exec(c->db, s->sync_full ? "PRAGMA synchronous=FULL" :
	    "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
		conn_free(c);
		return NULL;
	}
	sqlite3_extended_result_codes(c->db, 1);
	return c;
}

/* Statements are prepared on first use and kept for the connection's life. */
static sqlite3_stmt *
stmt(struct conn *c, enum stmt which)
{
	sqlite3_stmt *st = c->st[which];

	if (st == NULL) {
		if (sqlite3_prepare_v3(c->db, sql[which], -1,
		    SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
			return NULL;
		c->st[which] = st;
	}
	return st;
}

static void
done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static struct conn *
reader_get(struct sq_store *s)
{
	struct conn *c;

	pthread_mutex_lock(&s->pool_mu);
	c = s->pool;
	if (c != NULL)
		s->pool = c->next;
	pthread_mutex_unlock(&s->pool_mu);
	return c != NULL ? c : conn_open(s);
}

static void
reader_put(struct sq_store *s, struct conn *c)
{
	pthread_mutex_lock(&s->pool_mu);
	c->next = s->pool;
	s->pool = c;
	pthread_mutex_unlock(&s->pool_mu);
}

static enum store_status
step_simple(struct conn *c, enum stmt which)
{
	sqlite3_stmt *st = stmt(c, which);
	int rc;

	if (st == NULL)
		return STORE_FAILED;
	rc = sqlite3_step(st);
	done(st);
	return rc == SQLITE_DONE ? STORE_OK : status_of(c->db, rc);
}

static enum store_status
writer_begin(struct sq_store *s, struct conn **out)
{
	enum store_status st;

	pthread_mutex_lock(&s->write_mu);
	if (atomic_load(&s->ckpt_finish)) {
		(void)sqlite3_wal_checkpoint_v2(s->writer->db, NULL,
		    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		atomic_store(&s->ckpt_finish, false);
	}
	st = step_simple(s->writer, ST_BEGIN);
	if (st != STORE_OK) {
		pthread_mutex_unlock(&s->write_mu);
		return st;
	}
	*out = s->writer;
	return STORE_OK;
}

/* Commits when st is STORE_OK, else rolls back; returns the outcome. */
static enum store_status
writer_end(struct sq_store *s, enum store_status st)
{
	struct conn *c = s->writer;

	if (st == STORE_OK)
		st = step_simple(c, ST_COMMIT);
	if (st != STORE_OK && !sqlite3_get_autocommit(c->db))
		(void)step_simple(c, ST_ROLLBACK);
	pthread_mutex_unlock(&s->write_mu);
	return st;
}

/* --- opening and migrating --- */

static int
pragma_int(sqlite3 *db, const char *q, int64_t *out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, q, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

static enum store_status
check_and_migrate(sqlite3 *db, char *err, size_t errlen)
{
	int64_t app = 0, ver = 0, objects = 0, peers = 0;
	int rc;
	char *msg = NULL;

	if ((rc = pragma_int(db, "PRAGMA application_id", &app)) != SQLITE_OK ||
	    (rc = pragma_int(db, "PRAGMA user_version", &ver)) != SQLITE_OK ||
	    (rc = pragma_int(db, "SELECT count(*) FROM sqlite_schema",
	    &objects)) != SQLITE_OK ||
	    (rc = pragma_int(db, "SELECT count(*) FROM sqlite_schema WHERE"
	    " type = 'table' AND name = 'peers'", &peers)) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		return status_of(db, rc);
	}
	if (app != APP_ID && !(app == 0 && objects == 0 && ver == 0) &&
	    !(app == 0 && ver == 1 && peers == 1)) {
		snprintf(err, errlen, "not a chat-dird database (application_id"
		    " %lld, user_version %lld)", (long long)app, (long long)ver);
		return STORE_NOT_OURS;
	}
	if (ver > SCHEMA_VERSION) {
		snprintf(err, errlen, "schema version %lld is newer than this"
		    " program's %d", (long long)ver, SCHEMA_VERSION);
		return STORE_TOO_NEW;
	}
	if (objects > 0) {
		sqlite3_stmt *st;
		const unsigned char *res = NULL;

		rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st,
		    NULL);
		if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
			res = sqlite3_column_text(st, 0);
		if (res == NULL || strcmp((const char *)res, "ok") != 0) {
			snprintf(err, errlen, "integrity check failed: %s",
			    res != NULL ? (const char *)res : sqlite3_errmsg(db));
			sqlite3_finalize(st);
			return STORE_CORRUPT;
		}
		sqlite3_finalize(st);
	}
	/* Only now, knowing the file is ours, may it be written. */
	if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, &msg) !=
	    SQLITE_OK)
		goto fail;
	if (ver == SCHEMA_VERSION && app == APP_ID)
		return STORE_OK;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	for (int64_t v = ver; v < SCHEMA_VERSION; v++)
		if (sqlite3_exec(db, migrations[v], NULL, NULL, &msg) !=
		    SQLITE_OK)
			goto rollback;
	{
		char q[96];
		snprintf(q, sizeof(q), "PRAGMA user_version=%d;"
		    "PRAGMA application_id=%d", SCHEMA_VERSION, APP_ID);
		if (sqlite3_exec(db, q, NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK)
			goto rollback;
	}
	return STORE_OK;
rollback:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
fail:
	snprintf(err, errlen, "migration: %s", msg != NULL ? msg :
	    sqlite3_errmsg(db));
	sqlite3_free(msg);
	return status_of(db, sqlite3_errcode(db)) == STORE_FULL ? STORE_FULL :
	    STORE_FAILED;
}

/* Copies the WAL into the database in two passes: the first here,
 * alongside the writer; the second by the writer itself before its next
 * transaction, copying the little written in the meantime. The second pass
 * is what lets the WAL start afresh: SQLite rewinds it only when a write
 * transaction begins on a wholly copied WAL, and a writer that is never
 * idle always begins while the first pass is still copying. Without it the
 * WAL grows without end under steady writes. */
static void
checkpoint(struct sq_store *s, struct conn *c)
{
	int log = 0, done = 0;

	/* The writer has yet to finish the last one; two checkpoints at
	 * once would make one of them fail. */
	if (atomic_load(&s->ckpt_finish))
		return;
	if (sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
	    &log, &done) == SQLITE_OK && log > 0)
		atomic_store(&s->ckpt_finish, true);
}

/* The checkpointer: copies the WAL into the database when the writer says
 * it has grown, and once a second, so that no request waits for it. */
static void *
ckpt_main(void *arg)
{
	struct sq_store *s = arg;
	struct conn *c = conn_open(s);

	pthread_mutex_lock(&s->ckpt_mu);
	while (!s->ckpt_stop) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		if (!s->ckpt_wanted)
			pthread_cond_timedwait(&s->ckpt_cv, &s->ckpt_mu, &until);
		s->ckpt_wanted = false;
		if (s->ckpt_stop || c == NULL)
			continue;
		pthread_mutex_unlock(&s->ckpt_mu);
		checkpoint(s, c);
		pthread_mutex_lock(&s->ckpt_mu);
	}
	pthread_mutex_unlock(&s->ckpt_mu);
	conn_free(c);
	return NULL;
}

#define CKPT_PAGES 1000

static int
wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct sq_store *s = arg;

	(void)db;
	(void)name;
	if (pages >= CKPT_PAGES) {
		pthread_mutex_lock(&s->ckpt_mu);
		s->ckpt_wanted = true;
		pthread_cond_signal(&s->ckpt_cv);
		pthread_mutex_unlock(&s->ckpt_mu);
	}
	return SQLITE_OK;
}

/* Each INSERT of a group's transaction keeps a statement journal, so that
 * it can be undone alone: a page that an earlier statement changed is
 * copied there before this one changes it again. SQLite keeps such a
 * journal in memory only up to 64 KiB and then writes it to a temporary
 * file, a write for each copy: with up to 4 MiB in memory, no statement
 * does file I/O for it. */
#define SUBJOURNAL_IN_MEMORY (4 << 20)

static void
configure_sqlite(void)
{
	/* Fails (harmlessly) only when SQLite was set up before us. */
	(void)sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL,
	    SUBJOURNAL_IN_MEMORY);
}

static void sq_close(struct store *base);

static enum store_status
sq_open(const struct store_opts *opts, struct store **out, char *err,
    size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct sq_store *s;
	enum store_status st;

	snprintf(err, errlen, "out of memory");
	/* All connections' page caches together stay within this; the
	 * operating system caches the file besides. */
	(void)pthread_once(&once, configure_sqlite);
	sqlite3_soft_heap_limit64(STORE_HEAP_LIMIT);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return STORE_FAILED;
	s->base.be = &store_sqlite_backend;
	if ((s->path = strdup(opts->path)) == NULL) {
		free(s);
		return STORE_FAILED;
	}
	s->sync_full = opts->sync_full;
	pthread_mutex_init(&s->pool_mu, NULL);
	pthread_mutex_init(&s->write_mu, NULL);
	pthread_mutex_init(&s->job_mu, NULL);
	s->jobs_tail = &s->jobs;
	if (cond_init_mono(&s->lead_cv) != 0) {
		free(s->path);
		free(s);
		return STORE_FAILED;
	}
	pthread_mutex_init(&s->ckpt_mu, NULL);
	pthread_cond_init(&s->ckpt_cv, NULL);

	if ((s->writer = calloc(1, sizeof(*s->writer))) == NULL) {
		st = STORE_FAILED;
		goto fail;
	}
	if (sqlite3_open_v2(s->path, &s->writer->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", s->writer->db != NULL ?
		    sqlite3_errmsg(s->writer->db) : "out of memory");
		st = STORE_IO;
		goto fail;
	}
	sqlite3_extended_result_codes(s->writer->db, 1);
	sqlite3_busy_timeout(s->writer->db, BUSY_MS);
	st = check_and_migrate(s->writer->db, err, errlen);
	if (st != STORE_OK)
		goto fail;
	if (sqlite3_exec(s->writer->db, s->sync_full ?
	    "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", NULL,
	    NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(s->writer->db));
		st = STORE_FAILED;
		goto fail;
	}
	/* Checkpoints move to their own thread. */
	sqlite3_wal_autocheckpoint(s->writer->db, 0);
	(void)sqlite3_exec(s->writer->db, "PRAGMA journal_size_limit=67108864",
	    NULL, NULL, NULL);
	sqlite3_wal_hook(s->writer->db, wal_hook, s);
	if (pthread_create(&s->ckpt_thread, NULL, ckpt_main, s) != 0) {
		snprintf(err, errlen, "cannot start the checkpoint thread");
		st = STORE_FAILED;
		goto fail;
	}
	s->ckpt_running = true;
	*out = &s->base;
	return STORE_OK;
fail:
	sq_close(&s->base);
	return st;
}

static void
sq_close(struct store *base)
{
	struct sq_store *s = (struct sq_store *)base;
	struct conn *c, *next;

	if (s == NULL)
		return;
	if (s->ckpt_running) {
		pthread_mutex_lock(&s->ckpt_mu);
		s->ckpt_stop = true;
		pthread_cond_signal(&s->ckpt_cv);
		pthread_mutex_unlock(&s->ckpt_mu);
		pthread_join(s->ckpt_thread, NULL);
	}
	for (c = s->pool; c != NULL; c = next) {
		next = c->next;
		conn_free(c);
	}
	/* The writer goes last: closing the last connection checkpoints. */
	conn_free(s->writer);
	pthread_mutex_destroy(&s->pool_mu);
	pthread_mutex_destroy(&s->write_mu);
	pthread_mutex_destroy(&s->job_mu);
	pthread_cond_destroy(&s->lead_cv);
	pthread_mutex_destroy(&s->ckpt_mu);
	pthread_cond_destroy(&s->ckpt_cv);
	free(s->path);
	free(s);
}

static enum store_status
sq_health(struct store *base)
{
	struct sq_store *s = (struct sq_store *)base;
	struct conn *c = reader_get(s);
	sqlite3_stmt *st;
	enum store_status res = STORE_FAILED;
	int rc;

	if (c == NULL)
		return STORE_FAILED;
	if ((st = stmt(c, ST_HEALTH)) != NULL) {
		rc = sqlite3_step(st);
		res = rc == SQLITE_ROW ? STORE_OK : status_of(c->db, rc);
		done(st);
	}
	reader_put(s, c);
	return res;
}

/* --- peers --- */

static void
peer_from_row(sqlite3_stmt *st, struct store_peer *p)
{
	const unsigned char *u = sqlite3_column_text(st, 0);
	const unsigned char *ip = sqlite3_column_text(st, 1);
	const unsigned char *k;

	snprintf(p->username, sizeof(p->username), "%s",
	    u != NULL ? (const char *)u : "");
	snprintf(p->ip, sizeof(p->ip), "%s", ip != NULL ? (const char *)ip : "");
	p->port = sqlite3_column_int(st, 2);
	p->last_seen = sqlite3_column_int64(st, 3);
	p->logged_out = sqlite3_column_int(st, 4) != 0;
	k = sqlite3_column_text(st, 5);
	snprintf(p->key, sizeof(p->key), "%s", k != NULL ? (const char *)k : "");
	k = sqlite3_column_text(st, 6);
	snprintf(p->candidates, sizeof(p->candidates), "%s",
	    k != NULL ? (const char *)k : "");
}

/* The row id of a peer, or 0 when there is none. */
static enum store_status
peer_id(struct conn *c, const char *username, int64_t *id)
{
	sqlite3_stmt *st = stmt(c, ST_PEER_ID);
	int rc;

	if (st == NULL)
		return STORE_FAILED;
	sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return status_of(c->db, rc);
	return STORE_OK;
}

/* The row id of a peer (0: none), and whether a request carrying key
 * (NULL: none) may register it: the name is new, or has no key yet, or
 * has this key. */
static enum store_status
peer_key(struct conn *c, const char *username, int64_t *id, const char *key)
{
	sqlite3_stmt *st = stmt(c, ST_PEER_KEY);
	enum store_status res = STORE_OK;
	const unsigned char *k;
	int rc;

	if (st == NULL)
		return STORE_FAILED;
	sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*id = 0;
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		k = sqlite3_column_text(st, 1);
		if (k != NULL && (key == NULL || strcmp((const char *)k, key) != 0))
			res = STORE_KEY_MISMATCH;
	} else if (rc != SQLITE_DONE)
		res = status_of(c->db, rc);
	done(st);
	return res;
}

static enum store_status
peer_get(struct conn *c, const char *username, struct store_peer *out)
{
	sqlite3_stmt *st = stmt(c, ST_PEER_GET);
	enum store_status res;
	int rc;

	if (st == NULL)
		return STORE_FAILED;
	sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		peer_from_row(st, out);
		res = STORE_OK;
	} else
		res = rc == SQLITE_DONE ? STORE_NOT_FOUND : status_of(c->db, rc);
	done(st);
	return res;
}

static enum store_status
sq_register(struct store *base, const char *username, const char *ip,
    int port, const char *key, const char *candidates, int64_t now,
    struct store_peer *out, bool *created)
{
	struct sq_store *s = (struct sq_store *)base;
	struct conn *c;
	sqlite3_stmt *st;
	enum store_status res;
	int64_t id;
	int rc;

	if (key != NULL && key[0] == '\0')
		key = NULL;
	if (candidates != NULL && candidates[0] == '\0')
		candidates = NULL;
	if ((res = writer_begin(s, &c)) != STORE_OK)
		return res;
	if ((res = peer_key(c, username, &id, key)) != STORE_OK)
		goto end;
	*created = id == 0;
	st = stmt(c, id == 0 ? ST_PEER_INSERT : ST_PEER_UPDATE);
	if (st == NULL) {
		res = STORE_FAILED;
		goto end;
	}
	if (id == 0)
		sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, ip, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, port);
	sqlite3_bind_int64(st, 4, now);
	if (key != NULL)
		sqlite3_bind_text(st, 5, key, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	if (candidates != NULL)
		sqlite3_bind_text(st, 6, candidates, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	rc = sqlite3_step(st);
	done(st);
	if (rc != SQLITE_DONE) {
		res = status_of(c->db, rc);
		goto end;
	}
	res = peer_get(c, username, out);
end:
	if (res == STORE_KEY_MISMATCH) {
		(void)writer_end(s, STORE_OK);	/* nothing was changed */
		return res;
	}
	return writer_end(s, res);
}

/* One statement that changes at most one peer row by name, in a write
 * transaction of its own: STORE_NOT_FOUND when it changed none and the
 * name is unknown, `none` when it changed none and the name is known. */
static enum store_status
peer_change(struct sq_store *s, enum stmt which, const char *username,
    const char *a, const char *b, enum store_status none)
{
	struct conn *c;
	sqlite3_stmt *st;
	enum store_status res;
	int64_t id;
	int rc;

	if ((res = writer_begin(s, &c)) != STORE_OK)
		return res;
	if ((st = stmt(c, which)) == NULL) {
		res = STORE_FAILED;
		goto end;
	}
	sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC);
	if (a != NULL)
		sqlite3_bind_text(st, 2, a, -1, SQLITE_STATIC);
	if (b != NULL)
		sqlite3_bind_text(st, 3, b, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	done(st);
	if (rc != SQLITE_DONE)
		res = status_of(c->db, rc);
	else if (sqlite3_changes(c->db) == 0 &&
	    (res = peer_id(c, username, &id)) == STORE_OK)
		res = id == 0 ? STORE_NOT_FOUND : none;
end:
	if (res == STORE_NOT_FOUND || res == STORE_KEY_MISMATCH) {
		(void)writer_end(s, STORE_OK);	/* nothing was changed */
		return res;
	}
	return writer_end(s, res);
}

static enum store_status
sq_set_key(struct store *base, const char *username, const char *old_key,
    const char *new_key)
{
	return peer_change((struct sq_store *)base, ST_SET_KEY, username, old_key, new_key,
	    STORE_KEY_MISMATCH);
}

static enum store_status
sq_release(struct store *base, const char *username)
{
	return peer_change((struct sq_store *)base, ST_RELEASE, username, NULL, NULL, STORE_OK);
}

static enum store_status
sq_peer_get(struct store *base, const char *username, struct store_peer *out)
{
	struct sq_store *s = (struct sq_store *)base;
	struct conn *c = reader_get(s);
	enum store_status res;

	if (c == NULL)
		return STORE_FAILED;
	res = peer_get(c, username, out);
	reader_put(s, c);
	return res;
}

static enum store_status
sq_logout(struct store *base, const char *username)
{
	return peer_change((struct sq_store *)base, ST_LOGOUT, username, NULL,
	    NULL, STORE_OK);
}

static enum store_status
each_peer(struct conn *c, sqlite3_stmt *st, store_peer_fn fn, void *arg)
{
	struct store_peer p;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		peer_from_row(st, &p);
		if (fn(arg, &p) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	done(st);
	return rc == SQLITE_DONE ? STORE_OK : status_of(c->db, rc);
}

static enum store_status
sq_peers(struct store *base, const char *after, int64_t limit,
    int64_t online_since, store_peer_fn fn, void *arg)
{
	struct sq_store *s = (struct sq_store *)base;
	struct conn *c = reader_get(s);
	sqlite3_stmt *st;
	enum store_status res = STORE_FAILED;

	if (c == NULL)
		return STORE_FAILED;
	st = stmt(c, online_since > 0 ? ST_PEERS_ONLINE : ST_PEERS);
	if (st != NULL) {
		sqlite3_bind_text(st, 1, after != NULL ? after : "", -1,
		    SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, limit);
		if (online_since > 0)
			sqlite3_bind_int64(st, 3, online_since);
		res = each_peer(c, st, fn, arg);
	}
	reader_put(s, c);
	return res;
}

/* --- friendships --- */

static enum store_status
friend_insert(struct conn *c, int64_t a, int64_t b, bool *created)
{
	sqlite3_stmt *st = stmt(c, ST_FRIEND_ADD);
	int rc;

	if (st == NULL)
		return STORE_FAILED;
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	rc = sqlite3_step(st);
	done(st);
	if (rc != SQLITE_DONE)
		return status_of(c->db, rc);
	if (sqlite3_changes(c->db) > 0)
		*created = true;
	return STORE_OK;
}

static enum store_status
sq_friend_add(struct store *base, const char *user1, const char *user2,
    bool *created)
{
	struct sq_store *s = (struct sq_store *)base;
	struct conn *c;
	enum store_status res;
	int64_t a, b;

	*created = false;
	if ((res = writer_begin(s, &c)) != STORE_OK)
		return res;
	if ((res = peer_id(c, user1, &a)) != STORE_OK ||
	    (res = peer_id(c, user2, &b)) != STORE_OK)
		goto end;
	if (a == 0 || b == 0)
		res = STORE_NOT_FOUND;
	else if (a == b)
		res = STORE_SAME_USER;
	else if ((res = friend_insert(c, a, b, created)) == STORE_OK)
		res = friend_insert(c, b, a, created);
end:
	return writer_end(s, res);
}

static enum store_status
sq_friends(struct store *base, const char *username, const char *after,
    int64_t limit, store_peer_fn fn, void *arg)
{
	struct sq_store *s = (struct sq_store *)base;
	struct conn *c = reader_get(s);
	sqlite3_stmt *st;
	enum store_status res;
	int64_t id;

	if (c == NULL)
		return STORE_FAILED;
	if ((res = peer_id(c, username, &id)) != STORE_OK)
		goto end;
	if (id == 0) {
		res = STORE_NOT_FOUND;
		goto end;
	}
	if ((st = stmt(c, ST_FRIENDS)) == NULL) {
		res = STORE_FAILED;
		goto end;
	}
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, after != NULL ? after : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, limit);
	res = each_peer(c, st, fn, arg);
end:
	reader_put(s, c);
	return res;
}

/* --- messages --- */

/* Looks up the sender and receiver of every message, both in one
 * statement; a batch mostly repeats one pair, which is looked up once.
 * ids gets two a message. */
static enum store_status
resolve_peers(struct conn *c, const struct store_new_message *msgs,
    size_t n, int64_t *ids, size_t *bad)
{
	sqlite3_stmt *st = stmt(c, ST_PEER_IDS);
	const struct store_new_message *last = NULL;
	int64_t from = 0, to = 0;

	if (st == NULL)
		return STORE_FAILED;
	for (size_t i = 0; i < n; i++) {
		const struct store_new_message *m = &msgs[i];

		if (last == NULL || strcasecmp(last->sender, m->sender) != 0 ||
		    strcasecmp(last->receiver, m->receiver) != 0) {
			int rc;

			sqlite3_bind_text(st, 1, m->sender, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, m->receiver, -1,
			    SQLITE_STATIC);
			rc = sqlite3_step(st);
			from = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
			to = rc == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
			done(st);
			if (rc != SQLITE_ROW)
				return rc == SQLITE_DONE ? STORE_FAILED :
				    status_of(c->db, rc);
			last = m;
		}
		if (from == 0 || to == 0) {
			*bad = i;
			return STORE_NOT_FOUND;
		}
		ids[2 * i] = from;
		ids[2 * i + 1] = to;
	}
	return STORE_OK;
}

/* A message's uid: the client's, or a fresh one. */
static void
uid_fill(struct store_new_message *m)
{
	if (m->uid == NULL) {
		uid_new(m->uid_made);
	} else {
		/* Checked by valid_uid: at most UID_MAX bytes. */
		size_t ulen = strnlen(m->uid, sizeof(m->uid_made) - 1);

		memcpy(m->uid_made, m->uid, ulen);
		m->uid_made[ulen] = '\0';
	}
}

/* Rows gathered from a group's jobs, for one INSERT at a time: as many
 * as ST_MSG_INSERT32 takes. */
#define CHUNK_MAX 32

struct row {
	struct store_new_message *m;
	int64_t from, to, ts;
};

struct chunk {
	struct row rows[CHUNK_MAX];
	size_t n;
};

static enum store_status
last_id(struct conn *c, int64_t *id)
{
	sqlite3_stmt *st = stmt(c, ST_MSG_LAST);
	int rc;

	if (st == NULL)
		return STORE_FAILED;
	rc = sqlite3_step(st);
	*id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	done(st);
	return rc == SQLITE_ROW ? STORE_OK : status_of(c->db, rc);
}

/* The ids of rows whose INSERT skipped some of them: a uid stored
 * before, or twice among the rows, answers with its first copy. Rows
 * with ids above prev are new; the first of them with each id was made
 * here. */
static enum store_status
rows_look_up(struct conn *c, struct row *w, size_t r, int64_t prev,
    int changes)
{
	sqlite3_stmt *st = stmt(c, ST_MSG_BY_UID);

	if (st == NULL)
		return STORE_FAILED;
	for (size_t i = 0; i < r; i++) {
		struct store_new_message *m = w[i].m;
		int rc;

		sqlite3_bind_text(st, 1, m->uid_made, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			m->id = sqlite3_column_int64(st, 0);
			m->ts = sqlite3_column_int64(st, 1);
		}
		done(st);
		if (rc != SQLITE_ROW)
			return rc == SQLITE_DONE ? STORE_FAILED :
			    status_of(c->db, rc);
		m->created = changes > 0 && m->id > prev;
		for (size_t k = 0; k < i && m->created; k++)
			if (w[k].m->id == m->id)
				m->created = false;
	}
	return STORE_OK;
}

/* Inserts r rows (1, 8 or 32) in one statement and fills in their ids.
 * SQLite gives a new row the largest id plus one, so when all r rows went
 * in and the last id is r past the largest before, they hold the r ids
 * after it in order; anything else (a uid stored before, or ids at their
 * end) is looked up row by row. */
static enum store_status
rows_insert(struct conn *c, struct row *w, size_t r)
{
	sqlite3_stmt *st = stmt(c, r == CHUNK_MAX ? ST_MSG_INSERT32 :
	    r == 8 ? ST_MSG_INSERT8 : ST_MSG_INSERT);
	enum store_status res;
	int64_t prev = 0, last;
	int rc, changes;

	if (st == NULL)
		return STORE_FAILED;
	if (r > 1 && (res = last_id(c, &prev)) != STORE_OK)
		return res;
	for (size_t i = 0; i < r; i++) {
		int p = (int)i * ROW_PARAMS;

		sqlite3_bind_text(st, p + 1, w[i].m->uid_made, -1,
		    SQLITE_STATIC);
		sqlite3_bind_int64(st, p + 2, w[i].from);
		sqlite3_bind_int64(st, p + 3, w[i].to);
		sqlite3_bind_text(st, p + 4, w[i].m->content,
		    (int)w[i].m->content_len, SQLITE_STATIC);
		sqlite3_bind_int64(st, p + 5, w[i].ts);
	}
	rc = sqlite3_step(st);
	done(st);
	if (rc != SQLITE_DONE)
		return status_of(c->db, rc);
	changes = sqlite3_changes(c->db);
	last = sqlite3_last_insert_rowid(c->db);
	if (r == 1 && changes == 1)
		prev = last - 1;
	else if (changes != (int)r || prev > INT64_MAX - (int64_t)r ||
	    last != prev + (int64_t)r)
		return rows_look_up(c, w, r, prev, changes);
	for (size_t i = 0; i < r; i++) {
		w[i].m->id = prev + 1 + (int64_t)i;
		w[i].m->ts = w[i].ts;
		w[i].m->created = true;
	}
	return STORE_OK;
}

static enum store_status
chunk_flush(struct conn *c, struct chunk *ch)
{
	enum store_status res = STORE_OK;
	size_t off = 0;

	while (off < ch->n && res == STORE_OK) {
		size_t left = ch->n - off;
		size_t r = left >= CHUNK_MAX ? CHUNK_MAX : left >= 8 ? 8 : 1;

		res = rows_insert(c, ch->rows + off, r);
		off += r;
	}
	ch->n = 0;
	return res;
}

/* Writes a group of jobs in one transaction, their messages in order.
 * A job naming an unknown peer is found out before any of its messages
 * is written, and left out; a storage failure fails the whole group. */
static void
group_commit(struct sq_store *s, struct job *group)
{
	struct chunk ch = { .n = 0 };
	enum store_status res;
	struct conn *c;
	struct job *j;

	if ((res = writer_begin(s, &c)) == STORE_OK) {
		for (j = group; j != NULL && res == STORE_OK; j = j->next) {
			j->res = resolve_peers(c, j->msgs, j->n, j->peers,
			    &j->bad);
			if (j->res == STORE_NOT_FOUND)
				continue;
			if ((res = j->res) != STORE_OK)
				break;
			for (size_t i = 0; i < j->n && res == STORE_OK; i++) {
				ch.rows[ch.n++] = (struct row){ &j->msgs[i],
				    j->peers[2 * i], j->peers[2 * i + 1],
				    j->now };
				if (ch.n == CHUNK_MAX)
					res = chunk_flush(c, &ch);
			}
		}
		if (res == STORE_OK)
			res = chunk_flush(c, &ch);
		res = writer_end(s, res);
	}
	for (j = group; j != NULL; j = j->next)
		if (res != STORE_OK || j->res != STORE_NOT_FOUND)
			j->res = res;
}

/* Many small writes at once: a commit would take only the one or two
 * jobs that arrived during the commit before it, and pay a transaction
 * (WAL frames, file locks) for each. So when the last group took more than
 * two jobs and began under GROUP_BUSY_US ago, a new leader first waits, up
 * to GROUP_WAIT_US, for GROUP_MIN jobs to queue. One or two writers, whose
 * groups hold no more, never wait. */
#define GROUP_BUSY_US 2000
#define GROUP_WAIT_US 100
#define GROUP_MIN 8

static int64_t
mono_us(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000 + t->tv_nsec / 1000;
}

/* With job_mu held, as the leader. */
static void
await_more(struct sq_store *s)
{
	struct timespec now, until;
	bool busy;

	clock_gettime(CLOCK_MONOTONIC, &now);
	busy = s->last_group > 2 &&
	    mono_us(&now) - s->last_lead_us < GROUP_BUSY_US;
	s->last_lead_us = mono_us(&now);
	if (!busy || s->njobs >= GROUP_MIN)
		return;
	until = now;
	until.tv_nsec += GROUP_WAIT_US * 1000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	s->lead_waiting = true;
	while (s->njobs < GROUP_MIN && pthread_cond_timedwait(&s->lead_cv,
	    &s->job_mu, &until) == 0)
		;
	s->lead_waiting = false;
}

/* Wakes a job's thread: its job is written (done), or it is to try to
 * lead the next group. Once the job's mutex is let go, its thread may
 * return and the job be gone: nothing of it is touched after. */
static void
job_wake(struct job *j, bool done)
{
	pthread_mutex_lock(&j->mu);
	if (done)
		j->done = true;
	else
		j->wake = true;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

/* Sleeps until the job is done (true) or its thread is told to try to
 * lead (false). */
static bool
job_sleep(struct job *j)
{
	bool done;

	pthread_mutex_lock(&j->mu);
	while (!j->done && !j->wake)
		pthread_cond_wait(&j->cv, &j->mu);
	done = j->done;
	j->wake = false;
	pthread_mutex_unlock(&j->mu);
	return done;
}

/* Tells the watcher of the messages a group committed, before their
 * writers are woken: an answered write has been announced. */
static void
publish(struct sq_store *s, struct job *group)
{
	if (s->watch_fn == NULL)
		return;
	for (struct job *j = group; j != NULL; j = j->next)
		for (size_t i = 0; j->res == STORE_OK && i < j->n; i++)
			if (j->msgs[i].created)
				s->watch_fn(s->watch_arg, &(struct store_event){
				    .kind = STORE_EV_MESSAGE,
				    .id = j->msgs[i].id,
				    .from = j->msgs[i].sender,
				    .to = j->msgs[i].receiver });
}

static enum store_status
sq_watch(struct store *base, store_event_fn fn, void *arg)
{
	struct sq_store *s = (struct sq_store *)base;

	s->watch_fn = fn;
	s->watch_arg = arg;
	return STORE_OK;
}

/* One daemon per file: its own watcher is every watcher there is. */
static enum store_status
sq_publish(struct store *base, const char *user, const char *json)
{
	struct sq_store *s = (struct sq_store *)base;

	if (s->watch_fn != NULL)
		s->watch_fn(s->watch_arg, &(struct store_event){
		    .kind = STORE_EV_PUBLISHED, .user = user, .json = json });
	return STORE_OK;
}

/* The uids are made first, outside the write lock. Then group commit: a
 * job that finds no leader leads, writing every job waiting then (see
 * await_more); the others sleep, each on its own condition and mutex, and
 * the leader wakes only those it wrote, and then the first one still
 * waiting, to lead the next group. (A broadcast would wake every waiter
 * after every group, most of them only to sleep again; and a waiter woken
 * while the leader held the queue's mutex would only block on it.) A
 * job's done and wake are guarded by its own mutex; the queue, leading
 * and the counts by job_mu, taken first when both are. */
static enum store_status
sq_messages_create(struct store *base, struct store_new_message *msgs,
    size_t n, int64_t now, size_t *bad)
{
	struct sq_store *s = (struct sq_store *)base;
	int64_t *peers = calloc(n, 2 * sizeof(*peers));
	struct job job = { .msgs = msgs, .peers = peers, .n = n, .now = now,
	    .res = STORE_OK, .mu = PTHREAD_MUTEX_INITIALIZER,
	    .cv = PTHREAD_COND_INITIALIZER };
	struct job *group, *j, *next;
	bool kick;

	*bad = 0;
	if (peers == NULL)
		return STORE_FAILED;
	for (size_t i = 0; i < n; i++)
		uid_fill(&msgs[i]);
	pthread_mutex_lock(&s->job_mu);
	*s->jobs_tail = &job;
	s->jobs_tail = &job.next;
	kick = ++s->njobs >= GROUP_MIN && s->lead_waiting;
	while (s->leading) {
		pthread_mutex_unlock(&s->job_mu);
		if (kick)
			pthread_cond_signal(&s->lead_cv);
		kick = false;
		if (job_sleep(&job))
			goto done;
		/* Told to lead; unless another leader took this job since. */
		pthread_mutex_lock(&s->job_mu);
		pthread_mutex_lock(&job.mu);
		if (job.done) {
			pthread_mutex_unlock(&job.mu);
			pthread_mutex_unlock(&s->job_mu);
			goto done;
		}
		pthread_mutex_unlock(&job.mu);
	}
	/* Lead: take every job waiting, this one among them. */
	s->leading = true;
	await_more(s);
	group = s->jobs;
	s->last_group = s->njobs;
	s->jobs = NULL;
	s->jobs_tail = &s->jobs;
	s->njobs = 0;
	pthread_mutex_unlock(&s->job_mu);
	group_commit(s, group);
	publish(s, group);
	for (j = group; j != NULL; j = next) {
		next = j->next;
		if (j != &job)
			job_wake(j, true);
	}
	pthread_mutex_lock(&s->job_mu);
	s->leading = false;
	if (s->jobs != NULL)
		job_wake(s->jobs, false);
	pthread_mutex_unlock(&s->job_mu);
done:
	pthread_cond_destroy(&job.cv);
	pthread_mutex_destroy(&job.mu);
	free(peers);
	*bad = job.bad;
	return job.res;
}

static enum store_status
pair_ids(struct conn *c, const char *peer1, const char *peer2, int64_t *a,
    int64_t *b)
{
	enum store_status res;

	if ((res = peer_id(c, peer1, a)) != STORE_OK)
		return res;
	*b = 0;
	if (peer2 != NULL && (res = peer_id(c, peer2, b)) != STORE_OK)
		return res;
	if (*a == 0 || (peer2 != NULL && *b == 0))
		return STORE_NOT_FOUND;
	if (peer2 != NULL && *a > *b) {
		int64_t t = *a;
		*a = *b;
		*b = t;
	}
	return STORE_OK;
}

/* Resolves the peers, picks conv (peer2 given) or inbox, and binds the
 * pair or the receiver, then after, then n: the parameters every message
 * query takes in that order. */
static enum store_status
message_query(struct conn *c, const char *peer1, const char *peer2,
    enum stmt conv, enum stmt inbox, int64_t after, int64_t n,
    sqlite3_stmt **out)
{
	enum store_status res;
	sqlite3_stmt *st;
	int64_t a, b;
	int k = 1;

	if ((res = pair_ids(c, peer1, peer2, &a, &b)) != STORE_OK)
		return res;
	if ((st = stmt(c, peer2 != NULL ? conv : inbox)) == NULL)
		return STORE_FAILED;
	sqlite3_bind_int64(st, k++, a);
	if (peer2 != NULL)
		sqlite3_bind_int64(st, k++, b);
	sqlite3_bind_int64(st, k++, after);
	sqlite3_bind_int64(st, k, n);
	*out = st;
	return STORE_OK;
}

static enum store_status
sq_messages(struct store *base, const char *peer1, const char *peer2,
    int64_t after, int64_t limit, store_message_fn fn, void *arg)
{
	struct sq_store *s = (struct sq_store *)base;
	struct conn *c = reader_get(s);
	sqlite3_stmt *st;
	enum store_status res;
	int rc;

	if (c == NULL)
		return STORE_FAILED;
	if ((res = message_query(c, peer1, peer2, ST_CONV, ST_INBOX, after,
	    limit, &st)) != STORE_OK)
		goto end;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_message m = {
			.id = sqlite3_column_int64(st, 0),
			.uid = (const char *)sqlite3_column_text(st, 1),
			.from = (const char *)sqlite3_column_text(st, 2),
			.to = (const char *)sqlite3_column_text(st, 3),
			.content = (const char *)sqlite3_column_text(st, 4),
			.content_len = (size_t)sqlite3_column_bytes(st, 4),
			.ts = sqlite3_column_int64(st, 5),
		};
		if (m.uid == NULL || m.from == NULL || m.to == NULL ||
		    m.content == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		if (fn(arg, &m) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	done(st);
	res = rc == SQLITE_DONE ? STORE_OK : status_of(c->db, rc);
end:
	reader_put(s, c);
	return res;
}

static enum store_status
sq_messages_floor(struct store *base, const char *peer1, const char *peer2,
    int64_t after, int64_t last, int64_t *floor)
{
	struct sq_store *s = (struct sq_store *)base;
	struct conn *c = reader_get(s);
	sqlite3_stmt *st;
	enum store_status res;
	int rc;

	*floor = after;
	if (c == NULL)
		return STORE_FAILED;
	/* OFFSET last - 1 from the newest: the oldest message kept. */
	if ((res = message_query(c, peer1, peer2, ST_CONV_FLOOR,
	    ST_INBOX_FLOOR, after, last - 1, &st)) != STORE_OK)
		goto end;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*floor = sqlite3_column_int64(st, 0) - 1;
	done(st);
	res = rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK :
	    status_of(c->db, rc);
end:
	reader_put(s, c);
	return res;
}

static bool
sq_plan(struct store *base, const char *query, char *out, size_t len)
{
	struct sq_store *s = (struct sq_store *)base;
	static const struct { const char *name; enum stmt st; } named[] = {
		{ "conversation", ST_CONV }, { "inbox", ST_INBOX },
		{ "peers", ST_PEERS }, { "friends", ST_FRIENDS },
		{ "peer", ST_PEER_GET }, { "conversation-last", ST_CONV_FLOOR },
		{ "inbox-last", ST_INBOX_FLOOR },
	};
	struct conn *c;
	sqlite3_stmt *st;
	char q[1024];
	size_t used = 0;
	bool found = false;

	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		if (strcmp(named[i].name, query) != 0)
			continue;
		snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql[named[i].st]);
		found = true;
	}
	if (!found || len == 0 || (c = reader_get(s)) == NULL)
		return false;
	out[0] = '\0';
	if (sqlite3_prepare_v2(c->db, q, -1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const unsigned char *d = sqlite3_column_text(st, 3);
			int n = snprintf(out + used, len - used, "%s\n",
			    d != NULL ? (const char *)d : "");
			if (n < 0 || (size_t)n >= len - used)
				break;
			used += (size_t)n;
		}
		sqlite3_finalize(st);
	}
	reader_put(s, c);
	return true;
}

const struct store_backend store_sqlite_backend = {
	.open = sq_open,
	.close = sq_close,
	.health = sq_health,
	.reg = sq_register,
	.set_key = sq_set_key,
	.release = sq_release,
	.peer_get = sq_peer_get,
	.logout = sq_logout,
	.peers = sq_peers,
	.friend_add = sq_friend_add,
	.friends = sq_friends,
	.messages_create = sq_messages_create,
	.messages = sq_messages,
	.messages_floor = sq_messages_floor,
	.plan = sq_plan,
	.watch = sq_watch,
	.publish = sq_publish,
};
