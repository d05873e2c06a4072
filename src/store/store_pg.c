/* store_pg: the PostgreSQL store engine (libpq), for several synchub nodes sharing one queue. Implements store.h
 * through store__pg_engine with the SQLite engine's contracts. This file holds the schema, the shared database handle
 * (listener thread, idle pool, connect) and the engine table, whose functions live in store_pg_<concern>.c (jobs,
 * effects, audit, ops, metrics; statements, connections and transactions in _sql.c), next to store_sqlite_<concern>.c.
 * Not here: choosing the engine (store.c), the config keys (core/cfg.c), scheduling policy (flows/, queue/).
 *
 * How the single-node guarantees survive several nodes:
 * - Ordering-key heads ("ready", see store.h) change only under a transaction-scoped advisory lock on the key
 *   (lock_keys), taken before any row of that key is touched and, when a transaction needs several keys, in one
 *   global order (byte order of the key), so nodes never deadlock on them. A unique partial index (jobs_head) makes
 *   "at most one head per key" a constraint of the database, not only of this code.
 * - Claims take the most urgent head with FOR UPDATE SKIP LOCKED, so nodes never wait on each other's claims;
 *   the one-statement claim (Q_CLAIM) leases the job and opens its attempt at once.
 * - A head's "ready" flag is only cleared from a job that is not RUNNING (synchub_refresh_head), so a concurrent
 *   claim always wins over a newer event moving the head: a key never has two jobs running.
 * - Enqueue is INSERT … ON CONFLICT (id) DO NOTHING in one transaction (all or nothing); the id's unique index is
 *   the dedupe across nodes.
 * - Commits that make jobs claimable NOTIFY synchub_jobs; one listener thread per process wakes local waiters.
 * Connection loss: the next call on the store_t redials (with backoff between failed dials) and reports
 * store.unavailable until it succeeds; the server rolls back whatever was in flight, and a claimed job whose
 * result could not be written runs again once its lease expires (store_reap_expired on any node). */
#define _GNU_SOURCE
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "store/store.h"
#include "store/store_engine.h"
#include "store/store_pg.h"

/* synchub_finish's middle (migrations 2 and 6): with the job's row in j, lock its key when its head moves and
 * record the outcome while the lease still holds; false when it does not. */
#define PG_FINISH_ONE_SQL \
    "  IF NOT FOUND THEN RETURN false; END IF;" \
    "  IF p_to IN (3, 4) THEN PERFORM pg_advisory_xact_lock(hashtextextended(j.okey, 0)); END IF;" \
    "  UPDATE jobs SET state = p_to, ready = CASE WHEN p_to IN (3, 4) THEN false ELSE ready END, run_at = p_run_at," \
    "   lease_until = NULL, updated_at = p_now, finished_at = CASE WHEN p_to IN (3, 4) THEN p_now END," \
    "   err_class = p_cls, err_code = p_code, err_message = p_msg, err_record = p_rec, err_hint = p_hint," \
    "   err_retry_safe = p_safe" \
    "   WHERE rid = j.rid AND state = 1 AND lease_token = p_token;" \
    "  IF NOT FOUND THEN RETURN false; END IF;"

/* The body both synchub_finish_many (migration 6) and synchub_finish_round (migration 8) open with: lock the keys
 * whose head moves (advisory, in key order), record every outcome whose lease still holds and its attempt's one row,
 * and start reading each such key's current and next head. One text for both, so they cannot drift apart. */
#define PG_FINISH_OUTCOMES_SQL \
    "  FOR k IN SELECT DISTINCT x.k COLLATE \"C\" FROM unnest(p_keys, p_to) AS x(k, st) WHERE x.st IN (3, 4)" \
    "   ORDER BY 1 LOOP" \
    "   PERFORM pg_advisory_xact_lock(hashtextextended(k, 0));" \
    "  END LOOP;" \
    "  WITH x AS (SELECT * FROM unnest(p_ids, p_tokens, p_to, p_run_at, p_cls, p_code, p_msg, p_rec, p_hint, p_safe)" \
    "    WITH ORDINALITY AS x(id, tok, st, run_at, cls, code, msg, rec, hint, safe, i))," \
    "   u AS (UPDATE jobs j SET state = x.st, ready = CASE WHEN x.st IN (3, 4) THEN false ELSE j.ready END," \
    "    run_at = x.run_at, lease_until = NULL, updated_at = p_now," \
    "    finished_at = CASE WHEN x.st IN (3, 4) THEN p_now END," \
    "    err_class = CASE WHEN x.st = 3 THEN 0 ELSE x.cls END, err_code = CASE WHEN x.st <> 3 THEN x.code END," \
    "    err_message = CASE WHEN x.st <> 3 THEN x.msg END, err_record = CASE WHEN x.st <> 3 THEN x.rec END," \
    "    err_hint = CASE WHEN x.st <> 3 THEN x.hint END, err_retry_safe = CASE WHEN x.st <> 3 THEN x.safe END" \
    "    FROM x WHERE j.id = x.id AND j.state + 0 = 1 AND j.lease_token = x.tok" \
    "    RETURNING x.i, j.rid, j.okey, j.attempts, x.st, j.started_at, j.worker)," \
    "   a AS (INSERT INTO attempts AS t(job_rid, n, started_at, finished_at, outcome, worker, err_class, err_code," \
    "    err_message, err_record, err_hint, err_retry_safe, note)" \
    "    SELECT u.rid, u.attempts, coalesce(u.started_at, p_now), p_now, p_outcome[u.i], u.worker, p_cls[u.i]," \
    "    p_code[u.i], p_msg[u.i], p_rec[u.i], p_hint[u.i], p_safe[u.i], p_note[u.i] FROM u" \
    "    ON CONFLICT (job_rid, n) DO UPDATE SET finished_at = excluded.finished_at," \
    "    outcome = excluded.outcome, err_class = excluded.err_class, err_code = excluded.err_code," \
    "    err_message = excluded.err_message, err_record = excluded.err_record, err_hint = excluded.err_hint," \
    "    err_retry_safe = excluded.err_retry_safe, note = excluded.note)" \
    "  SELECT array_agg(u.i::int), array_agg(DISTINCT u.okey) FILTER (WHERE u.st IN (3, 4)) INTO held, keys FROM u;" \
    "  IF keys IS NOT NULL THEN" \
    "   SELECT array_agg(s.cur) FILTER (WHERE s.cur IS NOT NULL AND s.cur_state <> 1" \
    " AND s.cur IS DISTINCT FROM s.best)," \
    "    array_agg(s.best) FILTER (WHERE s.cur IS NOT NULL AND s.cur_state <> 1 AND s.cur IS DISTINCT FROM s.best)," \
    "    array_agg(s.best) FILTER (WHERE s.cur IS NULL AND s.best IS NOT NULL)" \
    "    INTO clear, after, best" \
    "    FROM (SELECT c.rid AS cur, c.state AS cur_state, b.rid AS best FROM unnest(keys) AS q(okey)"

/* synchub_finish_many's end (migrations 5 and 6): each moved key's current head and its earliest live job, the
 * current head cleared when another job is now earlier, the new heads made ready, the workers told. */
#define PG_FINISH_MANY_HEADS_SQL \
    "     LEFT JOIN jobs c ON c.okey = q.okey AND c.ready" \
    "     LEFT JOIN LATERAL (SELECT rid FROM jobs WHERE okey = q.okey AND state IN (0, 1, 2)" \
    "      ORDER BY event_time, rid LIMIT 1) b ON true) s;" \
    /* Cleared before any job is made ready: jobs_head allows one ready job per key at every row. */ \
    "   IF clear IS NOT NULL THEN" \
    "    WITH c AS (UPDATE jobs SET ready = false WHERE rid = ANY(clear) AND state <> 1 RETURNING rid)" \
    "    SELECT coalesce(best, '{}') || coalesce(array_agg(p.nxt), '{}') INTO best" \
    "     FROM unnest(clear, after) AS p(cur, nxt) JOIN c ON c.rid = p.cur WHERE p.nxt IS NOT NULL;" \
    "   END IF;" \
    "   IF cardinality(best) > 0 THEN" \
    "    UPDATE jobs SET ready = true WHERE rid = ANY(best);" \
    "    GET DIAGNOSTICS moved = ROW_COUNT;" \
    "    IF moved > 0 THEN PERFORM pg_notify('" PG_CHANNEL "', ''); END IF;" \
    "   END IF;" \
    "  END IF;" \
    "  RETURN QUERY SELECT unnest(held);" \
    " END $$;"

/* Versioned migrations: the schema_version table holds the number of entries applied. Append, never edit. The
 * first entry is SQLite's first five in one (a new engine starts at the schema SQLite reached). */
static const char *const migrations[] = {
    /* 1: jobs, attempts, meta, links, effects, audit, and the two functions the SQL above relies on */
    "CREATE TABLE jobs("
    "  rid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  id text COLLATE \"C\" NOT NULL UNIQUE,"
    "  kind text NOT NULL,"
    "  okey text COLLATE \"C\" NOT NULL,"
    "  priority integer NOT NULL DEFAULT 0,"
    "  state smallint NOT NULL,"
    "  ready boolean NOT NULL DEFAULT false,"    /* the head of its ordering key (see store.h) */
    "  attempts integer NOT NULL DEFAULT 0,"
    "  max_attempts integer NOT NULL,"
    "  budget integer NOT NULL,"
    "  lease_ms bigint NOT NULL,"
    "  event_time bigint NOT NULL,"
    "  run_at bigint NOT NULL,"
    "  lease_until bigint,"
    "  lease_token bigint NOT NULL DEFAULT 0,"
    "  created_at bigint NOT NULL,"
    "  updated_at bigint NOT NULL,"
    "  finished_at bigint,"
    "  source text NOT NULL,"
    "  correlation_id text COLLATE \"C\","
    "  meta text,"
    "  payload text NOT NULL,"
    "  err_class integer NOT NULL DEFAULT 0, err_code text, err_message text, err_record text, err_hint text,"
    "  err_retry_safe integer);"
    /* Claims read only claimable heads: the index holds one entry per live key, whatever the number of done rows.
     */
    "CREATE INDEX jobs_claim ON jobs(priority DESC, run_at) WHERE ready AND state IN (0, 2);"
    "CREATE UNIQUE INDEX jobs_head ON jobs(okey) WHERE ready;"
    "CREATE INDEX jobs_key ON jobs(okey, event_time, rid) WHERE state IN (0, 1, 2);"
    "CREATE INDEX jobs_lease ON jobs(lease_until) WHERE state = 1;"
    "CREATE INDEX jobs_finished ON jobs(updated_at) WHERE state IN (3, 5);"   /* prune walks only finished rows */
    "CREATE INDEX jobs_state ON jobs(state, updated_at);"
    "CREATE INDEX jobs_corr ON jobs(correlation_id);"
    "CREATE TABLE attempts("
    "  job_rid bigint NOT NULL, n integer NOT NULL, started_at bigint NOT NULL, finished_at bigint,"
    "  outcome text NOT NULL, worker text, err_class integer NOT NULL DEFAULT 0, err_code text,"
    "  err_message text, err_record text, err_hint text, err_retry_safe integer, note text,"
    "  PRIMARY KEY(job_rid, n));"
    "CREATE INDEX attempts_retry ON attempts(finished_at) WHERE outcome = 'retry';"
    "CREATE TABLE meta(key text COLLATE \"C\" PRIMARY KEY, value text);"
    "CREATE TABLE links("
    "  system text NOT NULL, shop text NOT NULL, type text NOT NULL, external_id text COLLATE \"C\" NOT NULL,"
    "  odoo_model text NOT NULL, odoo_id bigint NOT NULL, version bigint NOT NULL DEFAULT 0, state text,"
    "  extra text, updated_at bigint NOT NULL,"
    "  PRIMARY KEY(system, shop, type, external_id));"
    "CREATE INDEX links_odoo ON links(odoo_model, odoo_id);"
    "CREATE TABLE effects("
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at bigint NOT NULL, job_id text, correlation_id text,"
    "  shop text NOT NULL DEFAULT '', subject text NOT NULL, system text NOT NULL, action text NOT NULL,"
    "  target text, external_id text, detail text);"
    "CREATE INDEX effects_subject ON effects(shop, subject, at);"
    "CREATE INDEX effects_job ON effects(job_id);"
    "CREATE INDEX effects_at ON effects(at);"
    "CREATE TABLE audit("
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at bigint NOT NULL, actor text NOT NULL,"
    "  action text NOT NULL, target text NOT NULL, detail text);"
    "CREATE INDEX audit_at ON audit(at);"
    /* JSON text that may not be JSON (a hand-enqueued payload): NULL instead of failing the whole query. */
    "CREATE FUNCTION synchub_jsonb(t text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$"
    " BEGIN RETURN t::jsonb; EXCEPTION WHEN others THEN RETURN NULL; END $$;"
    /* Re-establish "exactly one ready job per live key" (SQLite's refresh_head) in one round trip; the caller holds
     * the key's advisory lock. Never clears a RUNNING head: a claim that committed meanwhile keeps its key.
     * Returns true when it made a job the head (a worker may have something new to claim). */
    "CREATE FUNCTION synchub_refresh_head(k text) RETURNS boolean LANGUAGE plpgsql AS $$"
    " DECLARE cur bigint; cur_state smallint; best bigint;"
    " BEGIN"
    "  SELECT rid, state INTO cur, cur_state FROM jobs WHERE okey = k AND ready;"
    "  IF cur_state = 1 THEN RETURN false; END IF;"
    "  SELECT rid INTO best FROM jobs WHERE okey = k AND state IN (0, 1, 2) ORDER BY event_time, rid LIMIT 1;"
    "  IF best IS NOT DISTINCT FROM cur THEN RETURN false; END IF;"
    "  IF cur IS NOT NULL THEN"
    "   UPDATE jobs SET ready = false WHERE rid = cur AND state <> 1;"
    "   IF NOT FOUND THEN RETURN false; END IF;"
    "  END IF;"
    "  IF best IS NULL THEN RETURN false; END IF;"
    "  UPDATE jobs SET ready = true WHERE rid = best;"
    "  RETURN true;"
    " END $$;",
    /* 2: enqueue and finish as one round trip each (the ack path and every worker's commit pay per round trip).
     * Both take the key's advisory lock before touching its rows, as lock_keys does; an enqueue batch calls
     * synchub_enqueue in key order, so its locks are still taken in one global order. */
    "CREATE FUNCTION synchub_enqueue(p_id text, p_kind text, p_okey text, p_priority int, p_max int, p_lease bigint,"
    "  p_event bigint, p_now bigint, p_source text, p_corr text, p_meta text, p_payload text)"
    " RETURNS boolean LANGUAGE plpgsql AS $$"
    " DECLARE m jsonb;"
    " BEGIN"
    "  PERFORM pg_advisory_xact_lock(hashtextextended(p_okey, 0));"
    "  INSERT INTO jobs(id, kind, okey, priority, state, ready, attempts, max_attempts, budget, lease_ms, event_time,"
    "   run_at, created_at, updated_at, source, correlation_id, meta, payload)"
    "   VALUES(p_id, p_kind, p_okey, p_priority, 0, false, 0, p_max, p_max, p_lease, p_event, p_now, p_now, p_now,"
    "   p_source, p_corr, p_meta, p_payload) ON CONFLICT (id) DO NOTHING;"
    "  IF NOT FOUND THEN"
    /* A redelivery of a webhook already stored: counted in the stored job's meta (see store_sqlite.c). */
    "   IF p_source = 'shopify' THEN"
    "    SELECT synchub_jsonb(meta) INTO m FROM jobs WHERE id = p_id;"
    "    IF jsonb_typeof(m) = 'object' THEN"
    "     UPDATE jobs SET meta = jsonb_set(jsonb_set(m, '{duplicates}',"
    "      to_jsonb(coalesce((m->>'duplicates')::bigint, 0) + 1)), '{last_duplicate_at}',"
    "      coalesce(synchub_jsonb(p_meta)->'received_at', 'null'::jsonb))::text WHERE id = p_id;"
    "    END IF;"
    "   END IF;"
    "   RETURN false;"
    "  END IF;"
    "  IF synchub_refresh_head(p_okey) THEN PERFORM pg_notify('" PG_CHANNEL "', ''); END IF;"
    "  RETURN true;"
    " END $$;"
    /* The end of an attempt held under p_token: false when the lease was lost (nothing written). A DONE or DEAD
     * job moves its key's head; a RETRY stays the head. The job row keeps no error when DONE. */
    "CREATE FUNCTION synchub_finish(p_id text, p_token bigint, p_to int, p_run_at bigint, p_now bigint,"
    "  p_cls int, p_code text, p_msg text, p_rec text, p_hint text, p_safe int,"
    "  a_cls int, a_code text, a_msg text, a_rec text, a_hint text, a_safe int, p_outcome text, p_note text)"
    " RETURNS boolean LANGUAGE plpgsql AS $$"
    " DECLARE j record;"
    " BEGIN"
    "  SELECT rid, okey, attempts INTO j FROM jobs WHERE id = p_id AND state = 1 AND lease_token = p_token;"
    PG_FINISH_ONE_SQL
    "  UPDATE attempts SET finished_at = p_now, outcome = p_outcome, err_class = a_cls, err_code = a_code,"
    "   err_message = a_msg, err_record = a_rec, err_hint = a_hint, err_retry_safe = a_safe, note = p_note"
    "   WHERE job_rid = j.rid AND n = j.attempts;"
    "  IF p_to IN (3, 4) AND synchub_refresh_head(j.okey) THEN PERFORM pg_notify('" PG_CHANNEL "', ''); END IF;"
    "  RETURN true;"
    " END $$;",
    /* 3: vacuum the queue tables early. Every claim and finish leaves a dead row version (and a dead entry in the
     * claim index); with the default 20 % threshold a table of millions of done rows would let hundreds of
     * thousands of them pile up before autovacuum runs, and the claim index would bloat with them. */
    "ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02,"
    " autovacuum_vacuum_insert_scale_factor = 0.02);"
    "ALTER TABLE attempts SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02);",
    /* 4: the dashboard's activity chart (store_activity) reads the attempts that ended in the last hours: a range
     * of this index instead of every attempt of the retention period (SQLite's migration 6). Partial, so opening
     * an attempt (finished_at NULL) on the claim path does not touch it; only closing one does. */
    "CREATE INDEX attempts_finished ON attempts(finished_at, outcome, err_class) WHERE finished_at IS NOT NULL;",
    /* 5: a worker pool's whole batch of outcomes in one call and a few statements (synchub_finish costs a PL/pgSQL
     * call and four to six statements per job). Element i of every array is outcome i; the error fields are the
     * attempt's, and the job row keeps them unless DONE. Returns the 1-based positions of the outcomes whose lease
     * was still held (the others wrote nothing). Same order of work as synchub_finish: the DONE/DEAD keys' advisory
     * locks first, in byte order (p_keys are the jobs' ordering keys, so the lock precedes any row of the key), then
     * the lease-token checked UPDATE, the attempts, and each moved key's head once, then one notify.
     * The head refresh is synchub_refresh_head for all keys at once: a key whose ready job is RUNNING keeps it; a
     * ready job that is not the oldest live one is cleared (unless a claim made it RUNNING meanwhile: then the key
     * is left as it is); the oldest live job becomes the head. synchub_finish stays for nodes not yet upgraded.
     * "state + 0 = 1" keeps the indexes on state (jobs_state, jobs_lease) out of the jobs UPDATE's plan: statistics
     * taken while few jobs ran estimate one RUNNING row, and the planner then scanned every running job once per
     * outcome (500 outcomes among 500 running: 97 ms instead of 11). The outcomes must drive it, through the id. */
    "CREATE FUNCTION synchub_finish_many(p_ids text[], p_tokens bigint[], p_to int[], p_run_at bigint[],"
    "  p_keys text[], p_now bigint, p_cls int[], p_code text[], p_msg text[], p_rec text[], p_hint text[],"
    "  p_safe int[], p_outcome text[], p_note text[])"
    " RETURNS SETOF int LANGUAGE plpgsql AS $$"
    " DECLARE k text; held int[]; keys text[]; clear bigint[]; after bigint[]; best bigint[]; moved bigint;"
    " BEGIN"
    "  FOR k IN SELECT DISTINCT x.k COLLATE \"C\" FROM unnest(p_keys, p_to) AS x(k, st) WHERE x.st IN (3, 4)"
    "   ORDER BY 1 LOOP"
    "   PERFORM pg_advisory_xact_lock(hashtextextended(k, 0));"
    "  END LOOP;"
    "  WITH x AS (SELECT * FROM unnest(p_ids, p_tokens, p_to, p_run_at, p_cls, p_code, p_msg, p_rec, p_hint, p_safe)"
    "    WITH ORDINALITY AS x(id, tok, st, run_at, cls, code, msg, rec, hint, safe, i)),"
    "   u AS (UPDATE jobs j SET state = x.st, ready = CASE WHEN x.st IN (3, 4) THEN false ELSE j.ready END,"
    "    run_at = x.run_at, lease_until = NULL, updated_at = p_now,"
    "    finished_at = CASE WHEN x.st IN (3, 4) THEN p_now END,"
    "    err_class = CASE WHEN x.st = 3 THEN 0 ELSE x.cls END, err_code = CASE WHEN x.st <> 3 THEN x.code END,"
    "    err_message = CASE WHEN x.st <> 3 THEN x.msg END, err_record = CASE WHEN x.st <> 3 THEN x.rec END,"
    "    err_hint = CASE WHEN x.st <> 3 THEN x.hint END, err_retry_safe = CASE WHEN x.st <> 3 THEN x.safe END"
    "    FROM x WHERE j.id = x.id AND j.state + 0 = 1 AND j.lease_token = x.tok"
    "    RETURNING x.i, j.rid, j.okey, j.attempts, x.st),"
    "   a AS (UPDATE attempts t SET finished_at = p_now, outcome = p_outcome[u.i], err_class = p_cls[u.i],"
    "    err_code = p_code[u.i], err_message = p_msg[u.i], err_record = p_rec[u.i], err_hint = p_hint[u.i],"
    "    err_retry_safe = p_safe[u.i], note = p_note[u.i]"
    "    FROM u WHERE t.job_rid = u.rid AND t.n = u.attempts)"
    "  SELECT array_agg(u.i::int), array_agg(DISTINCT u.okey) FILTER (WHERE u.st IN (3, 4)) INTO held, keys FROM u;"
    "  IF keys IS NOT NULL THEN"
    "   SELECT array_agg(s.cur) FILTER (WHERE s.cur IS NOT NULL AND s.cur_state <> 1 AND s.cur IS DISTINCT FROM s.best),"
    "    array_agg(s.best) FILTER (WHERE s.cur IS NOT NULL AND s.cur_state <> 1 AND s.cur IS DISTINCT FROM s.best),"
    "    array_agg(s.best) FILTER (WHERE s.cur IS NULL AND s.best IS NOT NULL)"
    "    INTO clear, after, best"
    "    FROM (SELECT c.rid AS cur, c.state AS cur_state, b.rid AS best FROM unnest(keys) AS q(okey)"
    PG_FINISH_MANY_HEADS_SQL,
    /* 6: fewer index entries and row versions per job (issue 18). Every claim, finish and head move writes a new
     * version of the job row (none can be HOT: each changes state or ready, which the partial indexes test), and
     * each version gets an entry in every index that covers it. jobs_state (state, updated_at) covered every
     * version of every job; what read it now reads narrower partial indexes: live jobs through jobs_key (its
     * predicate is state IN (0, 1, 2)), done and discarded ones through jobs_finished, dead ones through the new
     * jobs_dead. And an attempt is written once, when it ends, instead of opened at the claim and updated at the
     * end: while it runs, the job row carries its start and worker (started_at, worker, written by the claim that
     * rewrites the row anyway) and Q_ATTEMPTS shows it from there. Attempts opened by an older node keep their row
     * and are closed in place (the upserts below). */
    "DROP INDEX jobs_state;"
    "CREATE INDEX jobs_dead ON jobs(updated_at) WHERE state = 4;"
    "ALTER TABLE jobs ADD COLUMN started_at bigint, ADD COLUMN worker text;"
    "CREATE OR REPLACE FUNCTION synchub_finish(p_id text, p_token bigint, p_to int, p_run_at bigint, p_now bigint,"
    "  p_cls int, p_code text, p_msg text, p_rec text, p_hint text, p_safe int,"
    "  a_cls int, a_code text, a_msg text, a_rec text, a_hint text, a_safe int, p_outcome text, p_note text)"
    " RETURNS boolean LANGUAGE plpgsql AS $$"
    " DECLARE j record;"
    " BEGIN"
    "  SELECT rid, okey, attempts, started_at, worker INTO j FROM jobs"
    "   WHERE id = p_id AND state = 1 AND lease_token = p_token;"
    PG_FINISH_ONE_SQL
    "  INSERT INTO attempts AS t(job_rid, n, started_at, finished_at, outcome, worker, err_class, err_code,"
    "   err_message, err_record, err_hint, err_retry_safe, note)"
    "   VALUES(j.rid, j.attempts, coalesce(j.started_at, p_now), p_now, p_outcome, j.worker, a_cls, a_code, a_msg,"
    "   a_rec, a_hint, a_safe, p_note) ON CONFLICT (job_rid, n) DO UPDATE SET finished_at = excluded.finished_at,"
    "    outcome = excluded.outcome, err_class = excluded.err_class, err_code = excluded.err_code,"
    "    err_message = excluded.err_message, err_record = excluded.err_record, err_hint = excluded.err_hint,"
    "    err_retry_safe = excluded.err_retry_safe, note = excluded.note;"
    "  IF p_to IN (3, 4) AND synchub_refresh_head(j.okey) THEN PERFORM pg_notify('" PG_CHANNEL "', ''); END IF;"
    "  RETURN true;"
    " END $$;"
    "CREATE OR REPLACE FUNCTION synchub_finish_many(p_ids text[], p_tokens bigint[], p_to int[], p_run_at bigint[],"
    "  p_keys text[], p_now bigint, p_cls int[], p_code text[], p_msg text[], p_rec text[], p_hint text[],"
    "  p_safe int[], p_outcome text[], p_note text[])"
    " RETURNS SETOF int LANGUAGE plpgsql AS $$"
    " DECLARE k text; held int[]; keys text[]; clear bigint[]; after bigint[]; best bigint[]; moved bigint;"
    " BEGIN"
    PG_FINISH_OUTCOMES_SQL
    PG_FINISH_MANY_HEADS_SQL,
    /* 7: jobs_corr as a hash index. Every version of a job row gets an entry in it (see 6), and correlation ids
     * are long, distinct texts that are only ever looked up by equality (store_jobs_by, store_jobs_query): a hash
     * entry costs one hash and no text comparisons down a B-tree (about 10 % of the server's CPU per drained job,
     * bench_queue). */
    "DROP INDEX jobs_corr;"
    "CREATE INDEX jobs_corr ON jobs USING hash (correlation_id);",
    /* 8: synchub_finish_many handing the keys it moves to the claim that follows in the same round (Q_CLAIM_MANY):
     * a key's next job, made its head when the job before it ended, was written twice — ready, then claimed —
     * each a new row version with an entry in six indexes. When the pool claims too (p_want > 0), the new heads
     * that this claim would take anyway — among the p_want most urgent of them and the ready heads, by priority
     * then run_at, as Q_CLAIM_MANY orders — are made heads and leased in one UPDATE, with the claim's token
     * (p_ctoken + rid), time and worker; their rids go to Q_CLAIM_MANY through the transaction-local setting
     * synchub.handed, and it claims only what is left of p_want and returns them with its own. The other new heads
     * are made ready as before. The successors' keys are locked (advisory) by this transaction and were not ready
     * before this UPDATE, so no other claim could take them meanwhile. synchub_finish_many stays for older nodes.
     * Two plans are pinned, as "state + 0" does in migration 5: each key's current head is read through jobs_head
     * (LATERAL with LIMIT 1, which jobs_head allows and which keeps it from being flattened into a join: a generic
     * plan hash-joined the keys against a scan of the whole table, done rows included), and the
     * new heads through their rids ("state + 0": jobs_key's predicate would add a scan of every live job). */
    "CREATE FUNCTION synchub_finish_round(p_ids text[], p_tokens bigint[], p_to int[], p_run_at bigint[],"
    "  p_keys text[], p_now bigint, p_cls int[], p_code text[], p_msg text[], p_rec text[], p_hint text[],"
    "  p_safe int[], p_outcome text[], p_note text[], p_want int, p_ctoken bigint, p_worker text)"
    " RETURNS SETOF int LANGUAGE plpgsql AS $$"
    " DECLARE k text; held int[]; keys text[]; clear bigint[]; after bigint[]; best bigint[]; moved bigint;"
    "  handed bigint[];"
    " BEGIN"
    PG_FINISH_OUTCOMES_SQL
    "     LEFT JOIN LATERAL (SELECT rid, state FROM jobs WHERE okey = q.okey AND ready LIMIT 1) c ON true"
    "     LEFT JOIN LATERAL (SELECT rid FROM jobs WHERE okey = q.okey AND state IN (0, 1, 2)"
    "      ORDER BY event_time, rid LIMIT 1) b ON true) s;"
    /* Cleared before any job is made ready: jobs_head allows one ready job per key at every row. */
    "   IF clear IS NOT NULL THEN"
    "    WITH c AS (UPDATE jobs SET ready = false WHERE rid = ANY(clear) AND state <> 1 RETURNING rid)"
    "    SELECT coalesce(best, '{}') || coalesce(array_agg(p.nxt), '{}') INTO best"
    "     FROM unnest(clear, after) AS p(cur, nxt) JOIN c ON c.rid = p.cur WHERE p.nxt IS NOT NULL;"
    "   END IF;"
    "   IF cardinality(best) > 0 AND p_want > 0 THEN"
    "    SELECT array_agg(c.rid) FILTER (WHERE c.rid IS NOT NULL) INTO handed FROM"
    "     (SELECT * FROM (SELECT rid, priority, run_at FROM jobs"
    "        WHERE rid = ANY(best) AND state + 0 IN (0, 2) AND run_at <= p_now"
    "       UNION ALL (SELECT NULL, priority, run_at FROM jobs WHERE ready AND state IN (0, 2)"
    "        AND run_at <= p_now ORDER BY priority DESC, run_at LIMIT p_want)) u"
    "      ORDER BY priority DESC, run_at, rid NULLS LAST LIMIT p_want) c;"
    "   END IF;"
    "   IF cardinality(handed) > 0 THEN"
    "    UPDATE jobs j SET ready = true, state = 1, attempts = j.attempts + 1, lease_until = p_now + j.lease_ms,"
    "     lease_token = p_ctoken + j.rid, updated_at = p_now, started_at = p_now, worker = p_worker"
    "     WHERE rid = ANY(handed);"
    "    PERFORM set_config('synchub.handed', handed::text, true);"
    "   END IF;"
    "   IF cardinality(best) > coalesce(cardinality(handed), 0) THEN"
    "    UPDATE jobs SET ready = true WHERE rid = ANY(best) AND NOT rid = ANY(coalesce(handed, '{}'));"
    "    GET DIAGNOSTICS moved = ROW_COUNT;"
    "    IF moved > 0 THEN PERFORM pg_notify('" PG_CHANNEL "', ''); END IF;"
    "   END IF;"
    "  END IF;"
    "  RETURN QUERY SELECT unnest(held);"
    " END $$;",
};

/* ---- database ---------------------------------------------------------------------------------------------- */

static int migrate(pg_t *s, err_t *err)
{
    /* Nodes starting together migrate one at a time: the session lock is held across the version check and the
     * steps, and released before returning. */
    pg_args_t lk = {0};
    store__pg_a_int(&lk, PG_MIGRATE_LOCK);
    PGresult *l = store__pg_run_sql(s, "SELECT pg_advisory_lock($1::bigint)", &lk, err, "lock the schema");
    if (!l)
        return -1;
    PQclear(l);
    int rc = -1;
    int latest = (int)(sizeof(migrations) / sizeof(migrations[0]));
    PGresult *r = NULL;
    if (store__pg_exec_plain(s, "CREATE TABLE IF NOT EXISTS schema_version(version integer NOT NULL)", err) < 0)
        goto out;
    if (!(r = store__pg_run_sql(s, "SELECT coalesce(max(version), 0) FROM schema_version", NULL, err, "read schema version")))
        goto out;
    int version = (int)store__pg_cell_int(r, 0, 0);
    PQclear(r);
    if (version > latest) {
        err_set(err, ERR_CONFIGURATION, "store.version",
                "store %s has schema version %d, newer than this synchub understands (%d)", s->db->label, version,
                latest);
        goto out;
    }
    for (int v = version; v < latest; v++) {
        pg_args_t a = {0};
        store__pg_a_int(&a, v + 1);
        if (store__pg_begin(s, err) < 0)
            goto out;
        /* A multi-statement string needs the simple protocol (no parameters); the migrations carry no data. */
        PGresult *m = PQexec(s->conn, migrations[v]);
        bool ok = PQresultStatus(m) == PGRES_COMMAND_OK;
        if (!ok)
            store__pg_fail(s, m, err, "migrate the schema");
        PQclear(m);
        if (!ok || !(r = store__pg_run_sql(s, "INSERT INTO schema_version(version) VALUES($1::int)", &a, err, "migrate"))) {
            store__pg_rollback(s);
            goto out;
        }
        PQclear(r);
        if (store__pg_commit(s, err) < 0)
            goto out;
    }
    rc = 0;
out:
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK) {
        PGresult *u = PQexecParams(s->conn, "SELECT pg_advisory_unlock($1::bigint)", lk.n, NULL, lk.v, NULL, NULL, 0);
        PQclear(u);
    }
    return rc;
}

static void pg_db_close(store_db_t *h)
{
    pg_db_t *db = PGDB(h);
    pthread_mutex_lock(&db->wake_mu);
    bool joining = db->listening;
    db->stopping = true;
    pthread_mutex_unlock(&db->wake_mu);
    if (joining)
        pthread_join(db->listener, NULL);
    for (int i = 0; i < db->nidle; i++) {
        PQfinish(db->idle[i]->conn);
        free(db->idle[i]);
    }
    pthread_mutex_destroy(&db->pool_mu);
    pthread_mutex_destroy(&db->wake_mu);
    pthread_cond_destroy(&db->wake_cv);
    free(db->url);
    if (db->password) {
        explicit_bzero(db->password, strlen(db->password));
        free(db->password);
    }
    free(db->label);
    free(db);
}

static store_t *pg_connect(store_db_t *h, bool durable, int64_t busy_timeout_ms, err_t *err);
static void pg_disconnect(store_t *h);

store_db_t *store__pg_open(const char *url, const char *password, int64_t busy_timeout_ms, err_t *err)
{
    pg_db_t *db = calloc(1, sizeof(*db));
    if (!db) {
        err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
        return NULL;
    }
    db->eng = &store__pg_engine;
    pthread_mutex_init(&db->pool_mu, NULL);
    pthread_mutex_init(&db->wake_mu, NULL);
    pthread_cond_init(&db->wake_cv, NULL);
    db->url = strdup(url);
    db->password = password && *password ? strdup(password) : NULL;
    db->label = store__pg_redact(url);
    db->busy_timeout_ms = busy_timeout_ms > 0 ? busy_timeout_ms : 5000;
    if (!db->url || !db->label || (password && *password && !db->password)) {
        err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
        pg_db_close((store_db_t *)db);
        return NULL;
    }
    store_t *s = pg_connect((store_db_t *)db, true, 0, err);
    if (!s) {
        pg_db_close((store_db_t *)db);
        return NULL;
    }
    int rc = migrate(PG(s), err);
    pg_disconnect(s);
    if (rc < 0) {
        pg_db_close((store_db_t *)db);
        return NULL;
    }
    return (store_db_t *)db;
}

/* No size cap on PostgreSQL: the database's size is the DBA's (a full disk still answers 503: store.full). */
static void pg_db_set_max_size(store_db_t *h, int64_t bytes)
{
    (void)h;
    (void)bytes;
}

static void pg_db_notify(store_db_t *h, int njobs)
{
    store__pg_wake_local(PGDB(h), njobs != 1);
}

/* The listener: LISTEN on its own connection and turn every notification into a local wake-up of all waiters
 * (another node's commit may have made several jobs claimable). While the connection is down it redials with
 * backoff; after a reconnect it wakes everyone once, since notifications sent meanwhile are lost. */
static void *listener_main(void *arg)
{
    pg_db_t *db = arg;
    PGconn *c = NULL;
    int64_t backoff = 100;
    /* its own name, not the one it inherits from whichever thread waited first (a dispatcher, a worker) */
    pthread_setname_np(pthread_self(), "pg-listen");
    for (;;) {
        pthread_mutex_lock(&db->wake_mu);
        bool stop = db->stopping;
        pthread_mutex_unlock(&db->wake_mu);
        if (stop)
            break;
        if (!c || PQstatus(c) != CONNECTION_OK) {
            PQfinish(c);
            err_t err;
            c = store__pg_dial(db, PG_DIAL_BACKOFF_MAX_MS, &err);
            PGresult *r = c ? PQexec(c, "LISTEN " PG_CHANNEL) : NULL;
            bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
            if (!ok) {
                PQfinish(c);
                c = NULL;
                for (int64_t slept = 0; slept < backoff; slept += 100) {
                    struct timespec ts = {0, 100000000L};
                    nanosleep(&ts, NULL);
                }
                backoff = backoff * 2 > PG_DIAL_BACKOFF_MAX_MS ? PG_DIAL_BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            backoff = 100;
            store__pg_wake_local(db, true);
        }
        struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        if (!PQconsumeInput(c))
            continue; /* broken: redialled above */
        bool got = false;
        PGnotify *n;
        while ((n = PQnotifies(c))) {
            got = true;
            PQfreemem(n);
        }
        if (got)
            store__pg_wake_local(db, true);
    }
    PQfinish(c);
    return NULL;
}

static void pg_db_wait(store_db_t *h, uint64_t *seen, int64_t timeout_ms)
{
    pg_db_t *db = PGDB(h);
    struct timespec ts;
    clock_deadline(timeout_ms, &ts);
    pthread_mutex_lock(&db->wake_mu);
    /* Started by the first waiter: only processes that work jobs pay for a listening connection. */
    if (!db->listening && !db->stopping && pthread_create(&db->listener, NULL, listener_main, db) == 0)
        db->listening = true;
    while (db->wake_gen == *seen) {
        if (pthread_cond_timedwait(&db->wake_cv, &db->wake_mu, &ts) == ETIMEDOUT)
            break;
    }
    *seen = db->wake_gen;
    pthread_mutex_unlock(&db->wake_mu);
}

static const char *pg_db_path(const store_db_t *h)
{
    return ((const pg_db_t *)h)->label;
}

/* The pool: store_disconnect keeps a healthy connection (with its prepared statements and session settings) for
 * the next store_connect with the same settings, so short-lived store_t's (/readyz, the housekeeping of a CLI
 * command) do not pay a login each. A pooled connection is used by one store_t at a time, like any other. Not
 * pooled: a connection that broke, sits in a transaction, or holds a leadership (its session lock must go with
 * it, so that another node can take over). */
static pg_t *pool_take(pg_db_t *db, bool durable, int64_t busy_ms)
{
    pg_t *s = NULL;
    pthread_mutex_lock(&db->pool_mu);
    for (int i = db->nidle - 1; i >= 0 && !s; i--) {
        if (db->idle[i]->durable == durable && db->idle[i]->busy_ms == busy_ms) {
            s = db->idle[i];
            db->idle[i] = db->idle[--db->nidle];
        }
    }
    pthread_mutex_unlock(&db->pool_mu);
    return s;
}

static bool pool_give(pg_t *s)
{
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK || PQtransactionStatus(s->conn) != PQTRANS_IDLE || s->leader)
        return false;
    pg_db_t *db = s->db;
    pthread_mutex_lock(&db->pool_mu);
    bool kept = db->nidle < PG_POOL_IDLE;
    if (kept)
        db->idle[db->nidle++] = s;
    pthread_mutex_unlock(&db->pool_mu);
    return kept;
}

static store_t *pg_connect(store_db_t *h, bool durable, int64_t busy_timeout_ms, err_t *err)
{
    pg_db_t *db = PGDB(h);
    pg_t *pooled = pool_take(db, durable, busy_timeout_ms > 0 ? busy_timeout_ms : db->busy_timeout_ms);
    if (pooled)
        return (store_t *)pooled;
    pg_t *s = calloc(1, sizeof(*s));
    if (!s) {
        err_set(err, ERR_INTERNAL, "store.oom", "out of memory");
        return NULL;
    }
    s->eng = &store__pg_engine;
    s->db = db;
    s->durable = durable;
    s->busy_ms = busy_timeout_ms > 0 ? busy_timeout_ms : db->busy_timeout_ms;
    s->rng = crypto_random_u64();
    if (store__pg_ensure(s, err) < 0) {
        if (err && strcmp(err->code, "store.open") == 0)
            err->cls = ERR_CONFIGURATION; /* at start-up a refused login is the operator's to fix */
        free(s);
        return NULL;
    }
    return (store_t *)s;
}

static void pg_disconnect(store_t *h)
{
    pg_t *s = PG(h);
    store__pg_rollback(s);
    if (pool_give(s))
        return;
    PQfinish(s->conn);
    free(s);
}

/* The server checkpoints by itself. */
static int pg_checkpoint(store_t *h, err_t *err)
{
    (void)h;
    (void)err;
    return 0;
}

/* ---- reading ----------------------------------------------------------------------------------------------- */

static int pg_probe_write(store_t *h, err_t *err)
{
    pg_t *s = PG(h);
    if (store__pg_ensure(s, err) < 0)
        return -1;
    PGresult *r = store__pg_run_sql(s,
                          "INSERT INTO meta(key, value) VALUES('ready_probe', extract(epoch FROM now())::bigint::text)"
                          " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                          NULL, err, "probe write");
    PQclear(r);
    return r ? 0 : -1;
}

static int pg_leader_try(store_t *h, const char *name, bool *leader, err_t *err)
{
    pg_t *s = PG(h);
    *leader = false;
    if (store__pg_ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    store__pg_a_str(&a, name);
    if (s->leader && strcmp(s->leader_name, name) == 0) {
        /* Still held while the session lives: prove the session does. */
        PGresult *r = store__pg_run_sql(s, "SELECT 1", NULL, err, "check leadership");
        PQclear(r);
        if (!r) {
            s->leader = false;
            return -1;
        }
        *leader = true;
        return 0;
    }
    /* Advisory locks are per database: the schema in the key keeps installations in other schemas apart. */
    PGresult *r = store__pg_run_sql(s,
                          "SELECT pg_try_advisory_lock("
                          " hashtextextended('leader:' || current_schema() || ':' || $1::text, 0))",
                          &a, err, "take leadership");
    if (!r)
        return -1;
    s->leader = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (s->leader)
        snprintf(s->leader_name, sizeof(s->leader_name), "%s", name);
    *leader = s->leader;
    return 0;
}

static int pg_key_live(store_t *h, const char *ordering_key, int64_t *n, err_t *err)
{
    pg_t *s = PG(h);
    *n = 0;
    if (store__pg_ensure(s, err) < 0)
        return -1;
    pg_args_t a = {0};
    store__pg_a_str(&a, ordering_key);
    PGresult *r = store__pg_run(s, Q_KEY_LIVE, &a, err, "count live jobs");
    if (!r)
        return -1;
    *n = store__pg_cell_int(r, 0, 0);
    PQclear(r);
    return 0;
}

/* ---- the operator surface: audit, dashboard queries, queue figures (store.h's last blocks) ------------------ */

/* ---- the engine table -------------------------------------------------------------------------------------- */

/* A commit returns once the server has flushed its WAL (durable connections run synchronous_commit on): there is
 * nothing to defer, and nothing left to sync. */
static int pg_defer_sync(store_t *s)
{
    (void)s;
    return 0;
}

static int pg_sync(store_t *s, err_t *err)
{
    (void)s;
    (void)err;
    return 0;
}

const store_engine_t store__pg_engine = {
    .name = "postgres",
    .db_close = pg_db_close,
    .db_set_max_size = pg_db_set_max_size,
    .db_notify = pg_db_notify,
    .db_wait = pg_db_wait,
    .db_path = pg_db_path,
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .checkpoint = pg_checkpoint,
    .enqueue = store__pg_enqueue,
    .claim = store__pg_claim,
    .finish_claim = store__pg_finish_claim,
    .finish_batch = store__pg_finish_batch,
    .renew_lease = store__pg_renew_lease,
    .reap_expired = store__pg_reap_expired,
    .prune = store__pg_prune,
    .operate = store__pg_operate,
    .retry_dead = store__pg_retry_dead,
    .job_get = store__pg_job_get,
    .attempts = store__pg_attempts,
    .list = store__pg_list,
    .stats = store__pg_stats,
    .probe_write = pg_probe_write,
    .link_get = store__pg_link_get,
    .link_put = store__pg_link_put,
    .link_forget = store__pg_link_forget,
    .links_put = store__pg_links_put,
    .links_each = store__pg_links_each,
    .link_find = store__pg_link_find,
    .cursor_get = store__pg_cursor_get,
    .cursor_put = store__pg_cursor_put,
    .key_live = pg_key_live,
    .effects_add = store__pg_effects_add,
    .effects_list = store__pg_effects_list,
    .effects_prune = store__pg_effects_prune,
    .jobs_by = store__pg_jobs_by,
    .job_by_payload = store__pg_job_by_payload,
    .link_by_extra = store__pg_link_by_extra,
    .leader_try = pg_leader_try,
    .audit_add = store__pg_audit_add,
    .audit_list = store__pg_audit_list,
    .operate_as = store__pg_operate_as,
    .bulk_as = store__pg_bulk_as,
    .failures = store__pg_failures,
    .activity = store__pg_activity,
    .jobs_query = store__pg_jobs_query,
    .queue_depth = store__pg_queue_depth,
    .effects_by_target = store__pg_effects_by_target,
    .pause = store__pg_pause,
    .resume = store__pg_resume,
    .unclaim = store__pg_unclaim,
    .defer_sync = pg_defer_sync,
    .sync = pg_sync,
};
