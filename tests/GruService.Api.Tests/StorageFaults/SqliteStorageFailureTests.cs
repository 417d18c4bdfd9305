using GruService.Api.Models;
using GruService.Api.Training;
using Microsoft.Data.Sqlite;

namespace GruService.Api.Tests.StorageFaults;

/// <summary>What SQLite reports when the storage root fails is a storage failure (507 or 503), not a 500.</summary>
public class SqliteStorageFailureTests
{
    [Theory]
    [InlineData(13, true)] // SQLITE_FULL
    [InlineData(13 | (1 << 8), true)] // an extended code of SQLITE_FULL keeps its primary code in the low byte
    [InlineData(8, false)] // SQLITE_READONLY
    [InlineData(8 | (3 << 8), false)] // SQLITE_READONLY_ROLLBACK
    [InlineData(10, false)] // SQLITE_IOERR
    [InlineData(10 | (3 << 8), false)] // SQLITE_IOERR_WRITE
    [InlineData(14, false)] // SQLITE_CANTOPEN
    [InlineData(5, false)] // SQLITE_BUSY, after the busy timeout
    public void StorageErrors_BecomeStorageUnavailable_FullOnlyWhenTheDiskIsFull(int code, bool full)
    {
        StorageUnavailableException? failure = SqliteJobStore.AsStorageFailure(new SqliteException("SQLite Error", code));

        Assert.NotNull(failure);
        Assert.Equal(full, failure.Full);
        Assert.Equal(full, StorageFailure.IsDiskFull(failure));
    }

    [Theory]
    [InlineData(1)] // SQLITE_ERROR: a bad statement is a bug
    [InlineData(19)] // SQLITE_CONSTRAINT
    [InlineData(11)] // SQLITE_CORRUPT: not something a retry mends
    public void OtherErrors_AreNotStorageFailures(int code) =>
        Assert.Null(SqliteJobStore.AsStorageFailure(new SqliteException("SQLite Error", code)));
}
