import CoffreCore

/// The `accounts` schema. Every tenant-owned table carries `tenant_id` and a
/// row-level-security policy on the `coffre.tenant_id` setting, which each
/// transaction sets (`AccountsStore.withTenant`). FORCE makes the policies
/// apply to the table owner too, which is the role the service connects as.
enum AccountsMigrations {
    static let defaultTenantID = "00000000-0000-4000-8000-000000000001"

    static var all: [Migration] {
        [
            Outbox.migration(1),
            Migration(2, "tenants, users, sessions", sql: """
                CREATE TABLE tenants (
                    id uuid PRIMARY KEY,
                    slug text NOT NULL UNIQUE,
                    display_name text NOT NULL,
                    storage_limit_bytes bigint NOT NULL CHECK (storage_limit_bytes >= 0),
                    transfer_allowance_bytes bigint NOT NULL CHECK (transfer_allowance_bytes >= 0),
                    rate_limits jsonb NOT NULL DEFAULT '{}',
                    created_at timestamptz NOT NULL DEFAULT now()
                );
                INSERT INTO tenants (id, slug, display_name, storage_limit_bytes, transfer_allowance_bytes)
                VALUES ('\(defaultTenantID)', 'default', 'Default tenant', 50000000000, 10000000000);

                CREATE TABLE users (
                    tenant_id uuid NOT NULL REFERENCES tenants(id),
                    id uuid PRIMARY KEY,
                    email text NOT NULL,
                    salt bytea NOT NULL,
                    kdf_opslimit bigint NOT NULL,
                    kdf_memlimit bigint NOT NULL,
                    verifier bytea NOT NULL,
                    recovery_verifier bytea NOT NULL,
                    public_x25519 bytea NOT NULL,
                    public_ed25519 bytea NOT NULL,
                    self_signature bytea NOT NULL,
                    key_bundle jsonb NOT NULL,
                    totp_secret bytea,
                    totp_pending bytea,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    UNIQUE (tenant_id, email)
                );

                CREATE TABLE sessions (
                    tenant_id uuid NOT NULL,
                    id uuid PRIMARY KEY,
                    account_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    device_name text NOT NULL DEFAULT '',
                    created_at timestamptz NOT NULL DEFAULT now(),
                    last_used_at timestamptz NOT NULL DEFAULT now(),
                    revoked_at timestamptz,
                    revoke_reason text
                );
                CREATE INDEX sessions_account ON sessions (account_id) WHERE revoked_at IS NULL;

                -- Every refresh token ever issued for a session, by hash: presenting
                -- a superseded one is reuse, and revokes the session.
                CREATE TABLE refresh_tokens (
                    hash bytea PRIMARY KEY,
                    tenant_id uuid NOT NULL,
                    session_id uuid NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
                    issued_at timestamptz NOT NULL DEFAULT now(),
                    superseded_at timestamptz
                );

                -- Feed the gateway polls to stop revoked sessions within seconds.
                CREATE TABLE revocations (
                    seq bigserial PRIMARY KEY,
                    session_id uuid NOT NULL,
                    expires_at timestamptz NOT NULL
                );

                ALTER TABLE users ENABLE ROW LEVEL SECURITY;
                ALTER TABLE users FORCE ROW LEVEL SECURITY;
                CREATE POLICY tenant_isolation ON users
                    USING (tenant_id = NULLIF(current_setting('coffre.tenant_id', true), '')::uuid)
                    WITH CHECK (tenant_id = NULLIF(current_setting('coffre.tenant_id', true), '')::uuid);
                ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
                ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
                CREATE POLICY tenant_isolation ON sessions
                    USING (tenant_id = NULLIF(current_setting('coffre.tenant_id', true), '')::uuid)
                    WITH CHECK (tenant_id = NULLIF(current_setting('coffre.tenant_id', true), '')::uuid);
                ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
                ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
                CREATE POLICY tenant_isolation ON refresh_tokens
                    USING (tenant_id = NULLIF(current_setting('coffre.tenant_id', true), '')::uuid)
                    WITH CHECK (tenant_id = NULLIF(current_setting('coffre.tenant_id', true), '')::uuid);
                """),
            // Signup is the launch-day hot path: one round trip instead of six
            // (BEGIN, tenant setting, user row, outbox row, COMMIT). The
            // function sets the row-level-security tenant for its own
            // transaction, so the policies still check the insert.
            Migration(3, "signup in one call", sql: """
                CREATE FUNCTION accounts.signup_user(
                    p_tenant uuid, p_id uuid, p_email text, p_salt bytea, p_ops bigint, p_mem bigint,
                    p_verifier bytea, p_recovery bytea, p_x25519 bytea, p_ed25519 bytea, p_signature bytea, p_bundle jsonb,
                    p_event_id uuid, p_topic text, p_key text, p_payload bytea
                ) RETURNS boolean LANGUAGE plpgsql AS $fn$
                DECLARE
                    inserted uuid;
                BEGIN
                    PERFORM set_config('coffre.tenant_id', p_tenant::text, true);
                    INSERT INTO accounts.users (tenant_id, id, email, salt, kdf_opslimit, kdf_memlimit, verifier, recovery_verifier,
                                                public_x25519, public_ed25519, self_signature, key_bundle)
                    VALUES (p_tenant, p_id, p_email, p_salt, p_ops, p_mem, p_verifier, p_recovery, p_x25519, p_ed25519, p_signature, p_bundle)
                    ON CONFLICT DO NOTHING
                    RETURNING id INTO inserted;
                    IF inserted IS NULL THEN
                        RETURN false;
                    END IF;
                    INSERT INTO accounts.outbox (event_id, topic, key, payload) VALUES (p_event_id, p_topic, p_key, p_payload);
                    RETURN true;
                END
                $fn$;
                """),
            // Whether the tenant's accounts may share with (and receive
            // shares from) accounts of other tenants that allow it too. The
            // key directory enforces it, learning it from tenant events.
            Migration(4, "cross-tenant shares flag", sql: """
                ALTER TABLE accounts.tenants ADD COLUMN cross_tenant_shares boolean NOT NULL DEFAULT false;
                """),
            // Group commit (`SignupCommitter`): the signups waiting while
            // earlier ones are written go in as one statement, over arrays.
            // A row whose email or id is taken is skipped (ON CONFLICT DO
            // NOTHING, also against a row earlier in the same batch) and gets
            // no event; the ids returned are the accounts created.
            Migration(5, "signups in batches", sql: """
                CREATE FUNCTION accounts.signup_users(
                    p_tenant uuid, p_ids uuid[], p_emails text[], p_salts bytea[], p_ops bigint[], p_mem bigint[],
                    p_verifiers bytea[], p_recovery bytea[], p_x25519 bytea[], p_ed25519 bytea[], p_signatures bytea[], p_bundles jsonb[],
                    p_event_ids uuid[], p_topic text, p_payloads bytea[]
                ) RETURNS SETOF uuid LANGUAGE plpgsql AS $fn$
                BEGIN
                    PERFORM set_config('coffre.tenant_id', p_tenant::text, true);
                    RETURN QUERY
                    WITH input AS (
                        SELECT * FROM unnest(p_ids, p_emails, p_salts, p_ops, p_mem, p_verifiers, p_recovery, p_x25519, p_ed25519,
                                             p_signatures, p_bundles, p_event_ids, p_payloads)
                            AS t(id, email, salt, ops, mem, verifier, recovery, x25519, ed25519, signature, bundle, event_id, payload)
                    ), created AS (
                        INSERT INTO accounts.users (tenant_id, id, email, salt, kdf_opslimit, kdf_memlimit, verifier, recovery_verifier,
                                                    public_x25519, public_ed25519, self_signature, key_bundle)
                        SELECT p_tenant, id, email, salt, ops, mem, verifier, recovery, x25519, ed25519, signature, bundle FROM input
                        ON CONFLICT DO NOTHING
                        RETURNING accounts.users.id
                    ), events AS (
                        INSERT INTO accounts.outbox (event_id, topic, key, payload)
                        SELECT input.event_id, p_topic, input.id::text, input.payload FROM input JOIN created ON created.id = input.id
                    )
                    SELECT created.id FROM created;
                END
                $fn$;
                """),
        ]
    }
}
