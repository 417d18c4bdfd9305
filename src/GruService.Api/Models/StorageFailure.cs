namespace GruService.Api.Models;

internal static class StorageFailure
{
    /// <summary>
    /// ENOSPC on Unix (the errno becomes the HResult), ERROR_DISK_FULL / ERROR_HANDLE_DISK_FULL on Windows, or a
    /// database that is out of disk.
    /// </summary>
    public static bool IsDiskFull(IOException e) => e is StorageUnavailableException { Full: true } || (e.HResult & 0xFFFF) is 28 or 0x70 or 0x27;
}

/// <summary>
/// Shared storage (the database) cannot be reached or cannot take the change right now: the request may succeed
/// when retried. An <see cref="IOException"/>, so every handler that answers a storage failure with 503 (507 when
/// <see cref="Full"/>) answers this the same way; anywhere else it becomes a 503 problem too.
/// </summary>
public sealed class StorageUnavailableException(string message, bool full, Exception inner) : IOException(message, inner)
{
    public bool Full { get; } = full;
}
