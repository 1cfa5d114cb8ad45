import CoffreCore

/// The `ingest` schema. Tables holding an account's data carry `tenant_id`
/// under a FORCE row-level-security policy on `coffre.tenant_id`, which each
/// request's transaction sets (`IngestStore.withTenant`). Background jobs that
/// must look across tenants (the expiry sweeper, the blob reaper) read only
/// `upload_expiry` and `blob_trash`: ids and times, nothing of an account's
/// content; then they act on each row inside that row's tenant.
enum IngestMigrations {
    static var all: [Migration] {
        [
            Outbox.migration(1),
            Migration(2, "nodes, versions, uploads, grants", sql: """
                CREATE TABLE nodes (
                    id uuid PRIMARY KEY,
                    tenant_id uuid NOT NULL,
                    account_id uuid NOT NULL,
                    parent_id uuid REFERENCES nodes(id) ON DELETE CASCADE,
                    kind text NOT NULL CHECK (kind IN ('file', 'folder')),
                    attributes bytea NOT NULL,
                    wrapped_key bytea NOT NULL,
                    current_version uuid,
                    size bigint NOT NULL DEFAULT 0,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    trashed_at timestamptz
                );
                CREATE INDEX nodes_children ON nodes (account_id, parent_id) WHERE trashed_at IS NULL;
                CREATE INDEX nodes_trash ON nodes (account_id) WHERE trashed_at IS NOT NULL;
                CREATE INDEX nodes_parent ON nodes (parent_id);

                -- One row per stored ciphertext of a file; the blob is named
                -- after the upload that made it (id = upload id).
                CREATE TABLE versions (
                    id uuid PRIMARY KEY,
                    tenant_id uuid NOT NULL,
                    account_id uuid NOT NULL,
                    node_id uuid NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
                    size bigint NOT NULL,
                    blob_key text NOT NULL,
                    reservation_id text,
                    created_at timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX versions_node ON versions (node_id, created_at DESC);

                CREATE TABLE uploads (
                    id uuid PRIMARY KEY,
                    tenant_id uuid NOT NULL,
                    account_id uuid NOT NULL,
                    node_id uuid NOT NULL,
                    parent_id uuid,
                    new_node boolean NOT NULL,
                    attributes bytea,
                    wrapped_key bytea,
                    length bigint NOT NULL CHECK (length >= 0),
                    "offset" bigint NOT NULL DEFAULT 0 CHECK ("offset" >= 0 AND "offset" <= length),
                    store_state text NOT NULL DEFAULT '',
                    reservation_id text,
                    expires_at timestamptz NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    committed_at timestamptz,
                    -- The request writing the upload holds a lease, so two
                    -- PATCHes (on any replica) never write it at once.
                    lease_token uuid,
                    lease_until timestamptz
                );
                CREATE INDEX uploads_account ON uploads (account_id);

                -- Cross-tenant work lists (no RLS: ids and times only).
                CREATE TABLE upload_expiry (
                    upload_id uuid PRIMARY KEY,
                    tenant_id uuid NOT NULL,
                    expires_at timestamptz NOT NULL
                );
                CREATE INDEX upload_expiry_due ON upload_expiry (expires_at);
                CREATE TABLE blob_trash (
                    blob_key text PRIMARY KEY,
                    tenant_id uuid NOT NULL,
                    enqueued_at timestamptz NOT NULL DEFAULT now()
                );

                -- Read access given by the key directory (shares, links).
                CREATE TABLE grants (
                    id uuid PRIMARY KEY,
                    tenant_id uuid NOT NULL,
                    node_id uuid NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
                    owner_account_id uuid NOT NULL,
                    grantee_account_id uuid,
                    link_id uuid,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    CHECK ((grantee_account_id IS NULL) <> (link_id IS NULL))
                );
                CREATE INDEX grants_node ON grants (node_id);

                DO $rls$
                DECLARE t text;
                BEGIN
                    FOREACH t IN ARRAY ARRAY['nodes', 'versions', 'uploads', 'grants'] LOOP
                        EXECUTE format('ALTER TABLE ingest.%I ENABLE ROW LEVEL SECURITY', t);
                        EXECUTE format('ALTER TABLE ingest.%I FORCE ROW LEVEL SECURITY', t);
                        EXECUTE format($p$CREATE POLICY tenant_isolation ON ingest.%I
                            USING (tenant_id = NULLIF(current_setting('coffre.tenant_id', true), '')::uuid)
                            WITH CHECK (tenant_id = NULLIF(current_setting('coffre.tenant_id', true), '')::uuid)$p$, t);
                    END LOOP;
                END
                $rls$;
                """),
            // Quota's verdicts on transfer allowances, kept locally so a
            // download checks a row instead of calling quota per request.
            Migration(3, "transfer blocks", sql: """
                CREATE TABLE transfer_blocks (
                    tenant_id uuid NOT NULL,
                    account_id uuid PRIMARY KEY,
                    until timestamptz NOT NULL
                );
                ALTER TABLE transfer_blocks ENABLE ROW LEVEL SECURITY;
                ALTER TABLE transfer_blocks FORCE ROW LEVEL SECURITY;
                CREATE POLICY tenant_isolation ON transfer_blocks
                    USING (tenant_id = NULLIF(current_setting('coffre.tenant_id', true), '')::uuid)
                    WITH CHECK (tenant_id = NULLIF(current_setting('coffre.tenant_id', true), '')::uuid);
                """),
            // The same verdicts for client addresses downloading share links
            // anonymously (quota's per-address allowance).
            Migration(4, "address blocks", sql: """
                CREATE TABLE address_blocks (
                    tenant_id uuid NOT NULL,
                    ip text NOT NULL,
                    until timestamptz NOT NULL,
                    PRIMARY KEY (tenant_id, ip)
                );
                ALTER TABLE address_blocks ENABLE ROW LEVEL SECURITY;
                ALTER TABLE address_blocks FORCE ROW LEVEL SECURITY;
                CREATE POLICY tenant_isolation ON address_blocks
                    USING (tenant_id = NULLIF(current_setting('coffre.tenant_id', true), '')::uuid)
                    WITH CHECK (tenant_id = NULLIF(current_setting('coffre.tenant_id', true), '')::uuid);
                """),
            // Shares across tenants that allow them: the grant stays in the
            // owner's tenant (`grants`); this maps a grantee to the tenants
            // holding its grants, so a request from the grantee's tenant knows
            // where to look (ids only, no row-level security, like
            // `upload_expiry`).
            Migration(5, "cross-tenant grants", sql: """
                CREATE TABLE foreign_grants (
                    id uuid PRIMARY KEY,
                    owner_tenant_id uuid NOT NULL,
                    grantee_tenant_id uuid NOT NULL,
                    grantee_account_id uuid NOT NULL
                );
                CREATE INDEX foreign_grants_grantee ON foreign_grants (grantee_account_id, grantee_tenant_id);
                """),
        ]
    }
}
