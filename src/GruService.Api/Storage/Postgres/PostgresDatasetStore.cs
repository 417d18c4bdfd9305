using System.Security.Cryptography;
using System.Text.Json;
using GruService.Api.Datasets;
using GruService.Api.Models;
using Npgsql;

namespace GruService.Api.Storage.Postgres;

/// <summary>
/// Datasets in PostgreSQL, shared by every replica: the record as JSON in datasets, each stored file in
/// dataset_chunks rows of Storage:Postgres:ChunkBytes. An upload streams its chunks into one transaction that ends
/// by inserting the record, so a dataset is complete or absent; a failed or abandoned upload (or a replica that dies
/// mid-upload) rolls back and leaves nothing. Loading reads one chunk at a time.
/// </summary>
public sealed partial class PostgresDatasetStore(PostgresDatabase database, ILogger<PostgresDatasetStore> logger) : IDatasetStore
{
    private PostgresDatabase Database => database;

    public IDatasetUpload BeginUpload() => new Upload(this, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)));

    public Task<IReadOnlyList<DatasetRecord>> ListAsync(CancellationToken cancellationToken) =>
        database.RunAsync<IReadOnlyList<DatasetRecord>>(async connection =>
        {
            await using var command = new NpgsqlCommand("SELECT record FROM datasets ORDER BY created_at, id COLLATE \"C\"", connection);
            await using NpgsqlDataReader reader = await command.ExecuteReaderAsync(cancellationToken);
            var records = new List<DatasetRecord>();
            while (await reader.ReadAsync(cancellationToken)) records.Add(Deserialize(reader.GetString(0)));
            return records;
        }, cancellationToken);

    public Task<DatasetRecord?> GetAsync(string id, CancellationToken cancellationToken) => database.RunAsync(async connection =>
    {
        await using var command = new NpgsqlCommand("SELECT record FROM datasets WHERE id = $1", connection) { Parameters = { new() { Value = id } } };
        return await command.ExecuteScalarAsync(cancellationToken) is string record ? Deserialize(record) : null;
    }, cancellationToken);

    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        bool existed = await database.RunAsync(async connection =>
        {
            await using var command = new NpgsqlCommand("DELETE FROM datasets WHERE id = $1", connection) { Parameters = { new() { Value = id } } };
            return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
        }, cancellationToken);
        if (existed) LogDeleted(id);
        return existed;
    }

    public async Task<TimeSeriesData> LoadTimeSeriesAsync(string id, CancellationToken cancellationToken) =>
        await StoredDatasetReader.LoadTimeSeriesAsync(StoredDatasetReader.Require(await GetAsync(id, cancellationToken), id, DatasetRecord.TimeSeriesKind),
            (name, token) => ChunkReader.OpenAsync(database, id, name, token), cancellationToken);

    public async Task<SequenceData> LoadSequencesAsync(string id, CancellationToken cancellationToken) =>
        await StoredDatasetReader.LoadSequencesAsync(StoredDatasetReader.Require(await GetAsync(id, cancellationToken), id, DatasetRecord.SequencesKind),
            (name, token) => ChunkReader.OpenAsync(database, id, name, token), cancellationToken);

    private static DatasetRecord Deserialize(string record) =>
        JsonSerializer.Deserialize(record, DatasetStoreJson.Default.DatasetRecord) ?? throw new InvalidDataException("A dataset record is empty.");

    /// <summary>An upload's transaction, opened with its first chunk. Each file keeps its last, partial chunk until the commit.</summary>
    private sealed class Upload(PostgresDatasetStore store, string id) : IDatasetUpload
    {
        private readonly List<ChunkWriter> _files = [];
        private NpgsqlConnection? _connection;
        private NpgsqlTransaction? _transaction;
        private bool _committed;

        public string Id => id;

        public Stream CreateFile(string name)
        {
            var file = new ChunkWriter(this, name, store.Database.Options.ChunkBytes);
            _files.Add(file);
            return file;
        }

        public async Task<DatasetRecord> CommitAsync(DatasetRecord record, CancellationToken cancellationToken)
        {
            try
            {
                // An empty file still gets a chunk, so loading tells it from a missing one.
                foreach (ChunkWriter file in _files)
                    await file.WriteLastChunkAsync(cancellationToken);
                record = record with { Id = id, SizeBytes = _files.Sum(f => f.Length) };
                NpgsqlConnection connection = await ConnectionAsync(cancellationToken);
                await using (var insert = new NpgsqlCommand("INSERT INTO datasets (id, created_at, record) VALUES ($1, $2, $3)", connection, _transaction)
                {
                    Parameters = { new() { Value = id }, new() { Value = record.CreatedAt }, new() { Value = JsonSerializer.Serialize(record, DatasetStoreJson.Default.DatasetRecord) } },
                })
                    await insert.ExecuteNonQueryAsync(cancellationToken);
                await _transaction!.CommitAsync(cancellationToken);
            }
            catch (NpgsqlException e) when (PostgresDatabase.IsOutage(e))
            {
                throw PostgresDatabase.Unavailable(e);
            }
            _committed = true;
            store.LogStored(id, record.Name, record.Format, record.Rows, record.SizeBytes);
            return record;
        }

        public async Task InsertChunkAsync(string file, int chunk, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            try
            {
                NpgsqlConnection connection = await ConnectionAsync(cancellationToken);
                await using var insert = new NpgsqlCommand("INSERT INTO dataset_chunks (dataset_id, file, chunk, data) VALUES ($1, $2, $3, $4)", connection, _transaction)
                {
                    Parameters = { new() { Value = id }, new() { Value = file }, new() { Value = chunk }, new() { Value = data } },
                };
                await insert.ExecuteNonQueryAsync(cancellationToken);
            }
            catch (NpgsqlException e) when (PostgresDatabase.IsOutage(e))
            {
                throw PostgresDatabase.Unavailable(e);
            }
        }

        private async Task<NpgsqlConnection> ConnectionAsync(CancellationToken cancellationToken)
        {
            if (_connection is null)
            {
                _connection = await store.Database.OpenAsync(cancellationToken);
                _transaction = await _connection.BeginTransactionAsync(cancellationToken);
            }
            return _connection;
        }

        public async ValueTask DisposeAsync()
        {
            // Without a commit, disposing the transaction rolls it back: none of the chunks remain.
            try
            {
                if (_transaction is not null) await _transaction.DisposeAsync();
                if (_connection is not null) await _connection.DisposeAsync();
            }
            catch (NpgsqlException e) when (!_committed)
            {
                store.LogRollbackFailed(id, e.Message); // the server rolls back when the session ends
            }
            foreach (ChunkWriter file in _files) file.ReturnBuffer();
        }
    }

    /// <summary>A write-only stream that sends full chunks to the upload's transaction as they fill.</summary>
    private sealed class ChunkWriter(Upload upload, string name, int chunkBytes) : Stream
    {
        private byte[] _buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(chunkBytes);
        private int _used;
        private int _chunks;
        private long _length;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _length;
        public override long Position { get => _length; set => throw new NotSupportedException(); }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        {
            while (data.Length > 0)
            {
                int count = Math.Min(chunkBytes - _used, data.Length);
                data.Span[..count].CopyTo(_buffer.AsSpan(_used));
                _used += count;
                _length += count;
                data = data[count..];
                if (_used == chunkBytes) await SendChunkAsync(cancellationToken);
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        /// <summary>Sends what is left, at the commit; nothing is sent before then for a file shorter than a chunk.</summary>
        public async Task WriteLastChunkAsync(CancellationToken cancellationToken)
        {
            if (_used > 0 || _chunks == 0) await SendChunkAsync(cancellationToken);
        }

        private async Task SendChunkAsync(CancellationToken cancellationToken)
        {
            await upload.InsertChunkAsync(name, _chunks, _buffer.AsMemory(0, _used), cancellationToken);
            _chunks++;
            _used = 0;
        }

        // What is written stays in the upload's transaction until the commit; there is nothing to flush before.
        public override void Flush() { }
        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public void ReturnBuffer()
        {
            if (_buffer.Length == 0) return;
            System.Buffers.ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>A read-only stream over one stored file, fetching a chunk at a time.</summary>
    private sealed class ChunkReader : Stream
    {
        private readonly PostgresDatabase _database;
        private readonly string _id;
        private readonly string _name;
        private readonly int _chunkCount;
        private readonly long _length;
        private byte[] _chunk = [];
        private int _offset;
        private int _nextChunk;
        private long _position;

        private ChunkReader(PostgresDatabase database, string id, string name, int chunkCount, long length)
        {
            (_database, _id, _name, _chunkCount, _length) = (database, id, name, chunkCount, length);
        }

        /// <summary>The file's reader, or null when the dataset has no such file.</summary>
        public static async Task<Stream?> OpenAsync(PostgresDatabase database, string id, string name, CancellationToken cancellationToken)
        {
            (int chunks, long length) = await database.RunAsync(async connection =>
            {
                await using var command = new NpgsqlCommand(
                    "SELECT count(*)::integer, coalesce(sum(octet_length(data)), 0)::bigint FROM dataset_chunks WHERE dataset_id = $1 AND file = $2", connection)
                {
                    Parameters = { new() { Value = id }, new() { Value = name } },
                };
                await using NpgsqlDataReader reader = await command.ExecuteReaderAsync(cancellationToken);
                await reader.ReadAsync(cancellationToken);
                return (reader.GetInt32(0), reader.GetInt64(1));
            }, cancellationToken);
            return chunks == 0 ? null : new ChunkReader(database, id, name, chunks, length);
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => _length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
        {
            while (_offset == _chunk.Length)
            {
                if (_nextChunk == _chunkCount) return 0;
                _chunk = await FetchAsync(_nextChunk, cancellationToken);
                _offset = 0;
                _nextChunk++;
            }
            int count = Math.Min(destination.Length, _chunk.Length - _offset);
            _chunk.AsSpan(_offset, count).CopyTo(destination.Span);
            _offset += count;
            _position += count;
            return count;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        private Task<byte[]> FetchAsync(int chunk, CancellationToken cancellationToken) => _database.RunAsync(async connection =>
        {
            await using var command = new NpgsqlCommand("SELECT data FROM dataset_chunks WHERE dataset_id = $1 AND file = $2 AND chunk = $3", connection)
            {
                Parameters = { new() { Value = _id }, new() { Value = _name }, new() { Value = chunk } },
            };
            return await command.ExecuteScalarAsync(cancellationToken) as byte[]
                ?? throw StoredDatasetReader.Damaged(_id, $"chunk {chunk} of {_name} is missing (was the dataset deleted while it was read?)");
        }, cancellationToken);

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [LoggerMessage(LogLevel.Information, "Stored dataset {DatasetId} ({DatasetName}, {Format}, {Rows} rows, {SizeBytes} bytes)")]
    private partial void LogStored(string datasetId, string datasetName, string format, long rows, long sizeBytes);

    [LoggerMessage(LogLevel.Information, "Deleted dataset {DatasetId}")]
    private partial void LogDeleted(string datasetId);

    [LoggerMessage(LogLevel.Warning, "Could not roll back the abandoned upload of dataset {DatasetId}: {Reason}")]
    private partial void LogRollbackFailed(string datasetId, string reason);
}
