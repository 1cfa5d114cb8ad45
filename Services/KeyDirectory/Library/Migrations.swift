import CoffreCore

/// The `keydir` schema.
///
/// Two kinds of tables:
///
/// - **The log** (`queue`, `entries`, `tree_nodes`, `checkpoints`): one
///   Merkle log per deployment, public by design. A transparency log is only
///   useful if anyone can fetch any entry and any proof, so these tables have
///   no row-level security: the sequencer appends across tenants in one
///   order, and the public routes (`/v1/log/...`) serve proofs and entries by
///   index to anyone. An entry holds only ids and public keys, never an email.
///   Rows still carry `tenant_id`, and the account routes filter on the
///   caller's tenant in the query.
/// - **The directory** (`accounts`): each account's latest keys and its email
///   (lower-cased, for `GET /v1/keys/lookup`). Private per tenant, so FORCEd
///   row-level security on `coffre.tenant_id`, like every Coffre schema; the
///   sequencer writes it tenant by tenant (`setTenant`).
///
/// Migration 3 belongs to shares and links (`Library/Shares`).
enum KeyDirectoryMigrations {
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

    static let log = Migration(2, "key log: queue, entries, tree nodes, checkpoints, directory", sql: """
        -- Entries waiting for the sequencer, and what became of them. A client's
        -- POST /v1/keys waits on its row; account events add rows too. Settled
        -- rows are deleted an hour later (the sequencer's housekeeping).
        CREATE TABLE queue (
            id bigserial PRIMARY KEY,
            tenant_id uuid NOT NULL,
            account_id uuid NOT NULL,
            -- 'client' (POST /v1/keys: version given and signed) or 'directory'
            -- (account events: version assigned when sequenced).
            origin text NOT NULL CHECK (origin IN ('client', 'directory')),
            action text NOT NULL CHECK (action IN ('publish', 'rotate', 'revoke')),
            version bigint CHECK (version >= 1),
            x25519 bytea,
            ed25519 bytea,
            self_signature bytea,
            prev_signature bytea,
            reason text,
            state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sequenced', 'failed')),
            log_index bigint,
            -- A refused entry: the problem the waiting request answers with.
            problem_status int,
            problem_type text,
            problem_detail text,
            created_at timestamptz NOT NULL DEFAULT now(),
            settled_at timestamptz
        );
        CREATE INDEX queue_pending ON queue (id) WHERE state = 'queued';
        CREATE INDEX queue_settled ON queue (settled_at) WHERE state <> 'queued';

        -- The log's leaves: entry i is leaf i. `entry` is the exact leaf bytes.
        CREATE TABLE entries (
            log_index bigint PRIMARY KEY CHECK (log_index >= 0),
            tenant_id uuid NOT NULL,
            account_id uuid NOT NULL,
            version bigint NOT NULL CHECK (version >= 1),
            action text NOT NULL,
            entry bytea NOT NULL,
            leaf_hash bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (account_id, version)
        );
        CREATE INDEX entries_tenant_account ON entries (tenant_id, account_id, version);

        -- The hash of every perfect subtree: level 0 are leaf hashes, node
        -- (level, idx) covers leaves [idx << level, (idx + 1) << level). Any
        -- inclusion or consistency proof, and the sequencer's frontier, is a
        -- handful of these rows.
        CREATE TABLE tree_nodes (
            level smallint NOT NULL CHECK (level >= 0 AND level < 64),
            idx bigint NOT NULL CHECK (idx >= 0),
            hash bytea NOT NULL,
            PRIMARY KEY (level, idx)
        );

        -- Signed checkpoints, one per tree size: a refresh of the same size
        -- (KEYDIR_CHECKPOINT_INTERVAL_MS) replaces its note and time.
        CREATE TABLE checkpoints (
            size bigint PRIMARY KEY CHECK (size >= 0),
            root bytea NOT NULL,
            note text NOT NULL,
            signed_at timestamptz NOT NULL DEFAULT now()
        );

        -- Each account's latest keys (version 0: known from account.created,
        -- nothing sequenced yet) and its email.
        CREATE TABLE accounts (
            tenant_id uuid NOT NULL,
            account_id uuid PRIMARY KEY,
            email text,
            version bigint NOT NULL DEFAULT 0 CHECK (version >= 0),
            latest_index bigint,
            x25519 bytea,
            ed25519 bytea,
            revoked boolean NOT NULL DEFAULT false,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX accounts_email ON accounts (tenant_id, email) WHERE email IS NOT NULL;

        \(tenantIsolation("accounts"))
        """)

    static var all: [Migration] {
        [Outbox.migration(1), log]
    }
}
