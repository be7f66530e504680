import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/**
 * The complete Phase 1 schema: user-gateway.md §6, control-plane.md §8 and the DECISIONS.md additions.
 * Every table has a gen_random_uuid() id (system_settings: its key), created_at/updated_at (kept by a trigger),
 * an index on every foreign key, and CHECKs on the status vocabularies.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  yield* sql`
    CREATE FUNCTION cynode_set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.updated_at := now();
      RETURN NEW;
    END
    $$`

  // --- Identity (user-gateway.md §3, §6) ---
  yield* sql`
    CREATE TABLE users (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      handle text NOT NULL,
      email text,
      is_active boolean NOT NULL DEFAULT true,
      external_source text,
      external_id text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT users_handle_key UNIQUE (handle),
      CONSTRAINT users_email_key UNIQUE (email),
      CONSTRAINT users_handle_identifier CHECK (handle ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' AND position('..' IN handle) = 0)
    )`

  yield* sql`
    CREATE TABLE password_credentials (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      password_hash bytea NOT NULL,
      hash_alg text NOT NULL DEFAULT 'argon2id',
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT password_credentials_user_id_key UNIQUE (user_id)
    )`

  yield* sql`
    CREATE TABLE refresh_sessions (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      refresh_token_hash bytea NOT NULL,
      refresh_token_kid text,
      is_active boolean NOT NULL DEFAULT true,
      expires_at timestamptz NOT NULL,
      last_used_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`CREATE INDEX refresh_sessions_user_id_idx ON refresh_sessions (user_id)`
  yield* sql`CREATE INDEX refresh_sessions_active_expires_idx ON refresh_sessions (is_active, expires_at)`

  // No CHECK on event_type: a new audit event must never make an insert (and so the audit line) fail.
  yield* sql`
    CREATE TABLE auth_audit_log (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      event_type text NOT NULL,
      user_id uuid REFERENCES users (id) ON DELETE SET NULL,
      subject_handle text,
      success boolean NOT NULL,
      ip_address inet,
      user_agent text,
      reason text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`CREATE INDEX auth_audit_log_user_id_idx ON auth_audit_log (user_id)`
  yield* sql`CREATE INDEX auth_audit_log_created_at_idx ON auth_audit_log (created_at)`

  // --- Nodes (control-plane.md §4–§8) ---
  yield* sql`
    CREATE TABLE nodes (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      node_slug text NOT NULL,
      status text NOT NULL DEFAULT 'registered',
      capability_hash text,
      config_version text,
      issued_config_version text,
      issued_config_hash text,
      issued_inference boolean,
      worker_api_target_url text,
      worker_api_bearer_token text,
      config_ack_at timestamptz,
      config_ack_status text,
      config_ack_error text,
      node_jwt_id text,
      last_seen_at timestamptz,
      last_capability_at timestamptz,
      metadata jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT nodes_node_slug_key UNIQUE (node_slug),
      CONSTRAINT nodes_node_slug_identifier CHECK (node_slug ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' AND position('..' IN node_slug) = 0),
      CONSTRAINT nodes_status_check CHECK (status IN ('registered', 'active', 'inactive', 'drained')),
      CONSTRAINT nodes_config_ack_status_check CHECK (config_ack_status IN ('applied', 'failed'))
    )`

  // One row per node: the latest snapshot, replaced on each report (its hash is nodes.capability_hash).
  yield* sql`
    CREATE TABLE node_capabilities (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      node_id uuid NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
      reported_at timestamptz NOT NULL DEFAULT now(),
      capability_snapshot jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT node_capabilities_node_id_key UNIQUE (node_id)
    )`

  // Every ack received, including those answered 409 (DECISIONS.md "Config acks").
  yield* sql`
    CREATE TABLE node_config_acks (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      node_id uuid NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
      config_version text NOT NULL,
      status text NOT NULL,
      ack_at timestamptz NOT NULL DEFAULT now(),
      received_at timestamptz NOT NULL DEFAULT now(),
      error_type text,
      error_message text,
      error_details jsonb,
      effective_config_hash text,
      managed_services_status jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT node_config_acks_status_check CHECK (status IN ('applied', 'failed'))
    )`
  yield* sql`CREATE INDEX node_config_acks_node_id_idx ON node_config_acks (node_id, received_at)`

  // --- Tasks and jobs (user-gateway.md §4–§5, control-plane.md §9) ---
  yield* sql`
    CREATE TABLE tasks (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      created_by uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      project_id uuid,
      status text NOT NULL DEFAULT 'pending',
      closed boolean NOT NULL DEFAULT false,
      prompt text NOT NULL,
      acceptance_criteria jsonb,
      summary text NOT NULL,
      metadata jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT tasks_created_by_summary_key UNIQUE (created_by, summary),
      CONSTRAINT tasks_status_check CHECK (status IN ('pending', 'running', 'completed', 'failed', 'canceled', 'superseded')),
      CONSTRAINT tasks_closed_iff_terminal CHECK (closed = (status IN ('completed', 'failed', 'canceled', 'superseded')))
    )`
  // The unique (created_by, summary) index also serves the created_by foreign key; this one serves listing.
  yield* sql`CREATE INDEX tasks_created_by_listing_idx ON tasks (created_by, created_at DESC, id DESC)`
  yield* sql`CREATE INDEX tasks_status_idx ON tasks (status)`

  yield* sql`
    CREATE TABLE jobs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
      node_id uuid REFERENCES nodes (id) ON DELETE SET NULL,
      status text NOT NULL DEFAULT 'queued',
      payload jsonb NOT NULL,
      result jsonb,
      lease_id uuid,
      lease_expires_at timestamptz,
      started_at timestamptz,
      ended_at timestamptz,
      attempts integer NOT NULL DEFAULT 0,
      not_before timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT jobs_status_check CHECK (status IN ('queued', 'running', 'completed', 'failed', 'canceled')),
      CONSTRAINT jobs_payload_object CHECK (jsonb_typeof(payload) = 'object'),
      CONSTRAINT jobs_attempts_non_negative CHECK (attempts >= 0)
    )`
  yield* sql`CREATE INDEX jobs_task_id_idx ON jobs (task_id, created_at)`
  yield* sql`CREATE INDEX jobs_node_id_idx ON jobs (node_id)`
  yield* sql`CREATE INDEX jobs_status_idx ON jobs (status)`
  // The dispatcher's claim: oldest queued job first.
  yield* sql`CREATE INDEX jobs_claim_idx ON jobs (created_at, id) WHERE status = 'queued'`
  // Reconciliation: running jobs (and canceled ones not yet ended) whose lease has lapsed.
  yield* sql`CREATE INDEX jobs_lease_idx ON jobs (status, lease_expires_at) WHERE status IN ('running', 'canceled')`

  yield* sql`
    CREATE TABLE system_settings (
      key text PRIMARY KEY,
      value jsonb NOT NULL,
      value_type text NOT NULL,
      version integer NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      updated_by text
    )`

  for (
    const table of [
      "users",
      "password_credentials",
      "refresh_sessions",
      "auth_audit_log",
      "nodes",
      "node_capabilities",
      "node_config_acks",
      "tasks",
      "jobs",
      "system_settings"
    ]
  ) {
    yield* sql`
      CREATE TRIGGER ${sql(`${table}_set_updated_at`)} BEFORE UPDATE ON ${sql(table)}
      FOR EACH ROW EXECUTE FUNCTION cynode_set_updated_at()`
  }

  // --- Wake-ups (control-plane.md §8–§9): payloads are ids only; listeners read the rows. ---
  // The dispatcher LISTENs on cynode_jobs: a job became claimable (queued) or must be stopped (canceled).
  yield* sql`
    CREATE FUNCTION cynode_notify_job() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.status IN ('queued', 'canceled') AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status) THEN
        PERFORM pg_notify('cynode_jobs', NEW.id::text);
      END IF;
      RETURN NULL;
    END
    $$`
  yield* sql`
    CREATE TRIGGER jobs_notify AFTER INSERT OR UPDATE OF status ON jobs
    FOR EACH ROW EXECUTE FUNCTION cynode_notify_job()`

  // The gateway LISTENs on cynode_tasks: a task reached a terminal status.
  yield* sql`
    CREATE FUNCTION cynode_notify_task() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.closed AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status) THEN
        PERFORM pg_notify('cynode_tasks', NEW.id::text);
      END IF;
      RETURN NULL;
    END
    $$`
  yield* sql`
    CREATE TRIGGER tasks_notify AFTER INSERT OR UPDATE OF status ON tasks
    FOR EACH ROW EXECUTE FUNCTION cynode_notify_task()`
})
