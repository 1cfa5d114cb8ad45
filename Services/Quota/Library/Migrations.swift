import CoffreCore

/// The `quota` schema.
///
/// `tenants` holds each tenant's plan (operator data, like accounts'
/// `tenants`, so without row-level security: the sweeper and the
/// reconciliation iterate it). Every account-owned table carries `tenant_id`
/// and a FORCEd row-level-security policy on the `coffre.tenant_id` setting,
/// which each transaction sets (`QuotaStore.withTenant`).
enum QuotaMigrations {
    static let defaultTenantID = "00000000-0000-4000-8000-000000000001"

    /// FORCEd row-level security on `coffre.tenant_id`, as in every Coffre schema.
    static func tenantIsolation(_ table: String) -> String {
        """
        ALTER TABLE \(table) ENABLE ROW LEVEL SECURITY;
        ALTER TABLE \(table) FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON \(table)
            USING (tenant_id = NULLIF(current_setting('coffre.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = NULLIF(current_setting('coffre.tenant_id', true), '')::uuid);
        """
    }

    static var all: [Migration] {
        [
            Outbox.migration(1),
            Migration(2, "plans, ledgers, reservations, transfer buckets", sql: """
                CREATE TABLE tenants (
                    id uuid PRIMARY KEY,
                    storage_limit_bytes bigint NOT NULL CHECK (storage_limit_bytes >= 0),
                    transfer_allowance_bytes bigint NOT NULL CHECK (transfer_allowance_bytes >= 0),
                    -- 'event' once tenant.created was applied; 'default' while only
                    -- the configured defaults are known.
                    source text NOT NULL CHECK (source IN ('event', 'default', 'migration')),
                    updated_at timestamptz NOT NULL DEFAULT now()
                );
                -- The default tenant is created by accounts' migration, with no event.
                INSERT INTO tenants (id, storage_limit_bytes, transfer_allowance_bytes, source)
                VALUES ('\(defaultTenantID)', 50000000000, 10000000000, 'migration');

                CREATE TABLE ledgers (
                    tenant_id uuid NOT NULL,
                    account_id uuid PRIMARY KEY,
                    used bigint NOT NULL DEFAULT 0,
                    reserved bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
                    -- From the tenant's plan; the operator's override wins when set.
                    storage_limit bigint NOT NULL,
                    transfer_allowance bigint NOT NULL,
                    storage_override bigint CHECK (storage_override >= 0),
                    transfer_override bigint CHECK (transfer_override >= 0),
                    transfer_exhausted_until timestamptz,
                    closed_at timestamptz,
                    created_at timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX ledgers_tenant ON ledgers (tenant_id);
                CREATE INDEX ledgers_exhausted ON ledgers (transfer_exhausted_until) WHERE transfer_exhausted_until IS NOT NULL;

                CREATE TABLE reservations (
                    tenant_id uuid NOT NULL,
                    id uuid PRIMARY KEY,
                    account_id uuid NOT NULL,
                    upload_id uuid NOT NULL,
                    bytes bigint NOT NULL CHECK (bytes >= 0),
                    expires_at timestamptz NOT NULL,
                    state text NOT NULL CHECK (state IN ('held', 'committed', 'released', 'expired')),
                    created_at timestamptz NOT NULL DEFAULT now(),
                    settled_at timestamptz,
                    UNIQUE (account_id, upload_id)
                );
                CREATE INDEX reservations_held ON reservations (expires_at) WHERE state = 'held';

                -- Served bytes per account per time bucket: the rolling window is
                -- the sum of the buckets it covers.
                CREATE TABLE transfer_buckets (
                    tenant_id uuid NOT NULL,
                    account_id uuid NOT NULL,
                    bucket_start timestamptz NOT NULL,
                    bytes bigint NOT NULL,
                    PRIMARY KEY (account_id, bucket_start)
                );

                \(["ledgers", "reservations", "transfer_buckets"].map(tenantIsolation).joined(separator: "\n"))
                """),
            // A reservation in one round trip: a 500-request burst spent most
            // of its time in the seven statements (and their round trips)
            // that used to make one reservation. The grant is still the one
            // conditional UPDATE; the ledger is provisioned only when that
            // UPDATE finds no row at all.
            Migration(3, "reserve() in one statement", sql: """
                CREATE FUNCTION reserve(p_tenant uuid, p_account uuid, p_upload uuid, p_id uuid, p_bytes bigint,
                                        p_expires timestamptz, p_default_storage bigint, p_default_transfer bigint)
                RETURNS TABLE (outcome text, reservation_id uuid, reserved_bytes bigint, expires timestamptz, remaining bigint)
                LANGUAGE plpgsql AS $fn$
                DECLARE
                    existing record;
                    left_over bigint;
                    is_closed boolean;
                    granted boolean;
                BEGIN
                    PERFORM set_config('coffre.tenant_id', p_tenant::text, true);
                    -- A retry of the same upload's reservation gets the same answer.
                    SELECT r.id, r.bytes, r.expires_at, r.state INTO existing
                    FROM quota.reservations r WHERE r.account_id = p_account AND r.upload_id = p_upload;
                    IF FOUND THEN
                        SELECT greatest(COALESCE(l.storage_override, l.storage_limit) - l.used - l.reserved, 0) INTO left_over
                        FROM quota.ledgers l WHERE l.account_id = p_account;
                        RETURN QUERY SELECT CASE WHEN existing.state = 'held' AND existing.bytes = p_bytes THEN 'existing'
                                                 ELSE 'conflict:' || existing.state END,
                                            existing.id, existing.bytes, existing.expires_at, COALESCE(left_over, 0);
                        RETURN;
                    END IF;

                    UPDATE quota.ledgers l SET reserved = l.reserved + p_bytes
                    WHERE l.account_id = p_account AND l.closed_at IS NULL
                      AND l.used + l.reserved + p_bytes <= COALESCE(l.storage_override, l.storage_limit)
                    RETURNING COALESCE(l.storage_override, l.storage_limit) - l.used - l.reserved INTO left_over;
                    granted := FOUND;
                    IF NOT granted AND NOT EXISTS (SELECT 1 FROM quota.ledgers l WHERE l.account_id = p_account) THEN
                        INSERT INTO quota.tenants (id, storage_limit_bytes, transfer_allowance_bytes, source)
                        VALUES (p_tenant, p_default_storage, p_default_transfer, 'default') ON CONFLICT (id) DO NOTHING;
                        INSERT INTO quota.ledgers (tenant_id, account_id, storage_limit, transfer_allowance)
                        SELECT t.id, p_account, t.storage_limit_bytes, t.transfer_allowance_bytes FROM quota.tenants t WHERE t.id = p_tenant
                        ON CONFLICT (account_id) DO NOTHING;
                        UPDATE quota.ledgers l SET reserved = l.reserved + p_bytes
                        WHERE l.account_id = p_account AND l.closed_at IS NULL
                          AND l.used + l.reserved + p_bytes <= COALESCE(l.storage_override, l.storage_limit)
                        RETURNING COALESCE(l.storage_override, l.storage_limit) - l.used - l.reserved INTO left_over;
                        granted := FOUND;
                    END IF;

                    IF granted THEN
                        INSERT INTO quota.reservations (tenant_id, id, account_id, upload_id, bytes, expires_at, state)
                        VALUES (p_tenant, p_id, p_account, p_upload, p_bytes, p_expires, 'held');
                        RETURN QUERY SELECT 'granted'::text, p_id, p_bytes, p_expires, left_over;
                    ELSE
                        SELECT greatest(COALESCE(l.storage_override, l.storage_limit) - l.used - l.reserved, 0), l.closed_at IS NOT NULL
                        INTO left_over, is_closed FROM quota.ledgers l WHERE l.account_id = p_account;
                        RETURN QUERY SELECT CASE WHEN COALESCE(is_closed, true) THEN 'closed' ELSE 'refused' END,
                                            NULL::uuid, p_bytes, p_expires, COALESCE(left_over, 0);
                    END IF;
                END
                $fn$;
                """),
            // Anonymous share-link downloads also count per client address:
            // the same bucketed window, and a row per blocked address.
            Migration(4, "per-address transfer window", sql: """
                CREATE TABLE address_transfer_buckets (
                    tenant_id uuid NOT NULL,
                    ip text NOT NULL,
                    bucket_start timestamptz NOT NULL,
                    bytes bigint NOT NULL,
                    PRIMARY KEY (tenant_id, ip, bucket_start)
                );
                CREATE TABLE address_blocks (
                    tenant_id uuid NOT NULL,
                    ip text NOT NULL,
                    exhausted_until timestamptz NOT NULL,
                    PRIMARY KEY (tenant_id, ip)
                );
                \(["address_transfer_buckets", "address_blocks"].map(tenantIsolation).joined(separator: "\n"))
                """),
        ]
    }
}
