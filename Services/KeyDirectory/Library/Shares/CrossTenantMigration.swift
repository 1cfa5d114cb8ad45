import CoffreCore

/// Migration 4 of the `keydir` schema: sharing across tenants, for tenants
/// that allow it.
///
/// Shares stay inside a tenant unless both tenants opted in
/// (`cross_tenant_shares`, set by the operator in accounts' admin API and
/// learned here from `tenant.created` / `tenant.updated`). The rule lives in
/// row-level security, next to tenant isolation, rather than in the queries:
///
/// - `tenants` lists what the directory knows of each tenant (id, slug, the
///   flag). It names tenants, nothing of their users, so it has no RLS. A
///   tenant the directory never heard of (the built-in default one until an
///   operator changes it) counts as closed.
/// - `accounts` gets a second, SELECT-only policy: a caller from an open
///   tenant sees the directory rows of accounts of other open tenants (their
///   keys and, for `GET /v1/keys/lookup?tenant=`, their emails). Writes stay
///   under tenant isolation alone.
/// - `shares.recipient_tenant_id`: the recipient's tenant (NULL on rows from
///   before this migration, all same-tenant). A second policy lets the
///   recipient's tenant read, accept and decline the share; the row itself
///   belongs to the owner's tenant.
enum CrossTenantMigration {
    static let migration = Migration(4, "cross-tenant shares", sql: """
        CREATE TABLE tenants (
            id uuid PRIMARY KEY,
            slug text NOT NULL UNIQUE,
            cross_tenant_shares boolean NOT NULL DEFAULT false,
            -- The time of the event that set this row (a late event loses).
            updated_at timestamptz NOT NULL
        );

        CREATE POLICY cross_tenant_directory ON keydir.accounts FOR SELECT USING (
            EXISTS (SELECT 1 FROM keydir.tenants t WHERE t.id = accounts.tenant_id AND t.cross_tenant_shares)
            AND EXISTS (SELECT 1 FROM keydir.tenants c
                        WHERE c.id = NULLIF(current_setting('coffre.tenant_id', true), '')::uuid AND c.cross_tenant_shares));

        ALTER TABLE shares ADD COLUMN recipient_tenant_id uuid;
        CREATE POLICY cross_tenant_recipient ON keydir.shares
            USING (recipient_tenant_id = NULLIF(current_setting('coffre.tenant_id', true), '')::uuid)
            WITH CHECK (recipient_tenant_id = NULLIF(current_setting('coffre.tenant_id', true), '')::uuid);
        """)
}
