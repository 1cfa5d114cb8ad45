import CoffreCore

/// Migration 3 of the `keydir` schema: sealed shares and share links.
///
/// `shares` holds the owner's signed parcels as received (the server only
/// checks them, never opens them). `links` counts downloads in the row that
/// the claim's conditional UPDATE touches, so N concurrent claims of a link
/// limited to N downloads succeed exactly N times. Anonymous link reads come
/// without a tenant: `link_tenants` maps a link id to its tenant (ids only,
/// no row-level security, like ingest's `upload_expiry`), and everything else
/// is read inside that tenant.
enum SharesMigration {
    static let migration = Migration(3, "shares and links", sql: """
        CREATE TABLE shares (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL,
            owner_account_id uuid NOT NULL,
            recipient_account_id uuid NOT NULL,
            node_id uuid NOT NULL,
            kind text NOT NULL CHECK (kind IN ('file', 'folder')),
            -- The parcels' JSON array as the owner sent it (sealed keys and signatures).
            parcels bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            accepted_at timestamptz,
            UNIQUE (node_id, recipient_account_id)
        );
        CREATE INDEX shares_owner ON shares (owner_account_id, created_at);
        CREATE INDEX shares_recipient ON shares (recipient_account_id, created_at);

        CREATE TABLE links (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL,
            owner_account_id uuid NOT NULL,
            node_id uuid NOT NULL,
            expires_at timestamptz,
            max_downloads bigint CHECK (max_downloads IS NULL OR max_downloads >= 1),
            downloads bigint NOT NULL DEFAULT 0,
            revoked_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            CHECK (downloads >= 0 AND (max_downloads IS NULL OR downloads <= max_downloads))
        );
        CREATE INDEX links_owner ON links (owner_account_id, created_at);

        -- Cross-tenant lookup of anonymous link requests (no RLS: ids only).
        CREATE TABLE link_tenants (
            link_id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL
        );

        DO $rls$
        DECLARE t text;
        BEGIN
            FOREACH t IN ARRAY ARRAY['shares', 'links'] LOOP
                EXECUTE format('ALTER TABLE keydir.%I ENABLE ROW LEVEL SECURITY', t);
                EXECUTE format('ALTER TABLE keydir.%I FORCE ROW LEVEL SECURITY', t);
                EXECUTE format($p$CREATE POLICY tenant_isolation ON keydir.%I
                    USING (tenant_id = NULLIF(current_setting('coffre.tenant_id', true), '')::uuid)
                    WITH CHECK (tenant_id = NULLIF(current_setting('coffre.tenant_id', true), '')::uuid)$p$, t);
            END LOOP;
        END
        $rls$;
        """)
}
