namespace GruService.Api.Storage.Postgres;

/// <summary>
/// The database schema as an ordered list of migrations; schema_version records which have run. A migration is
/// never edited once released: a change is a new entry at the end.
/// </summary>
internal static class PostgresSchema
{
    /// <summary>The advisory lock replicas take while migrating ("GRUSCHEM" in ASCII).</summary>
    public const long MigrationLockKey = 0x4752555343484540;

    /// <summary>Notified (payload: the model's name) when a model's versions or its active version change.</summary>
    public const string ModelChangesChannel = "gru_model_changes";

    /// <summary>Notified when a training job is queued.</summary>
    public const string JobQueuedChannel = "gru_job_queued";

    /// <summary>Notified (payload: the job's id) when a running job is asked to stop.</summary>
    public const string JobCancelChannel = "gru_job_cancel";

    public static readonly IReadOnlyList<string> Migrations =
    [
        """
        -- Model files: one row per version, the file itself in content. last_version numbers versions without
        -- reuse while the model exists; locking the model's row serialises uploads from several replicas.
        CREATE TABLE models (
            name text PRIMARY KEY,
            active_version integer,
            last_version integer NOT NULL DEFAULT 0);
        CREATE TABLE model_versions (
            name text NOT NULL REFERENCES models (name) ON DELETE CASCADE,
            version integer NOT NULL,
            created_at timestamptz NOT NULL,
            sha256 text NOT NULL,
            size_bytes bigint NOT NULL,
            content bytea NOT NULL,
            PRIMARY KEY (name, version));
        -- Weights do not compress; EXTERNAL skips the attempt.
        ALTER TABLE model_versions ALTER COLUMN content SET STORAGE EXTERNAL;

        -- Bumped in the transaction of every change to models, so a replica that missed a notification sees that
        -- something changed by polling one row.
        CREATE TABLE model_changes (
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            counter bigint NOT NULL);
        INSERT INTO model_changes (counter) VALUES (0);

        -- Datasets: the record as JSON, each stored file split into chunks. An upload inserts its chunks and then
        -- its record in one transaction, so the foreign key is checked at commit.
        CREATE TABLE datasets (
            id text PRIMARY KEY,
            created_at timestamptz NOT NULL,
            record text NOT NULL);
        CREATE TABLE dataset_chunks (
            dataset_id text NOT NULL REFERENCES datasets (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
            file text NOT NULL,
            chunk integer NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (dataset_id, file, chunk));
        ALTER TABLE dataset_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

        -- Training jobs are also the queue: a worker claims the oldest queued job, or a running one whose lease
        -- expired, with FOR UPDATE SKIP LOCKED, and keeps its lease alive with heartbeats.
        CREATE TABLE training_jobs (
            id text PRIMARY KEY,
            status text NOT NULL,
            created_at timestamptz NOT NULL,
            record text NOT NULL,
            lease_owner text,
            lease_expires_at timestamptz,
            cancel_requested boolean NOT NULL DEFAULT false);
        CREATE INDEX training_jobs_unfinished ON training_jobs (created_at, id) WHERE status IN ('queued', 'running');
        CREATE INDEX training_jobs_by_status ON training_jobs (status, created_at);
        CREATE TABLE training_checkpoints (
            job_id text PRIMARY KEY REFERENCES training_jobs (id) ON DELETE CASCADE,
            completed_epochs integer NOT NULL,
            saved_at timestamptz NOT NULL,
            data bytea NOT NULL);
        ALTER TABLE training_checkpoints ALTER COLUMN data SET STORAGE EXTERNAL;
        """,
        """
        -- Every version of a model has one task. The model's row records it, and the statement that numbers a new
        -- version refuses one of another task, so replicas racing to store versions of different tasks under one
        -- name cannot both succeed. NULL: not known; the next version stored sets it.
        ALTER TABLE models ADD COLUMN task text CHECK (task IN ('forecast', 'classify'));

        -- Models stored before: the task their active version's config names (else their newest version's), read
        -- from the safetensors header, an 8-byte little-endian length and then JSON whose __metadata__.config is the
        -- config as a JSON string. Only the header is fetched (substring of EXTERNAL storage reads just those
        -- chunks). A version whose header cannot be read leaves its model's task NULL rather than stop the migration.
        DO $$
        DECLARE
            chosen record;
            prefix bytea;
            header_length bigint;
        BEGIN
            FOR chosen IN
                SELECT DISTINCT ON (m.name) m.name, v.version
                FROM models m JOIN model_versions v ON v.name = m.name
                ORDER BY m.name, v.version = m.active_version DESC, v.version DESC
            LOOP
                BEGIN
                    SELECT substring(content FROM 1 FOR 8) INTO prefix FROM model_versions WHERE name = chosen.name AND version = chosen.version;
                    header_length := 0;
                    FOR i IN REVERSE 7..0 LOOP
                        header_length := header_length * 256 + get_byte(prefix, i);
                    END LOOP;
                    UPDATE models SET task = (convert_from(substring(v.content FROM 9 FOR header_length::integer), 'UTF8')::jsonb
                            -> '__metadata__' ->> 'config')::jsonb ->> 'task'
                        FROM model_versions v
                        WHERE models.name = chosen.name AND v.name = chosen.name AND v.version = chosen.version;
                EXCEPTION WHEN others THEN
                    NULL;
                END;
            END LOOP;
        END
        $$;
        """,
        """
        -- The job list pages newest first, by (created_at, id), with or without a status: each page reads its rows
        -- from one of these indexes. The status index on (status, created_at) is superseded by the second.
        CREATE INDEX training_jobs_newest ON training_jobs (created_at, id);
        CREATE INDEX training_jobs_by_status_newest ON training_jobs (status, created_at, id);
        DROP INDEX training_jobs_by_status;
        """,
    ];
}
