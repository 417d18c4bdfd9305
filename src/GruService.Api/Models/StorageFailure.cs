namespace GruService.Api.Models;

internal static class StorageFailure
{
    /// <summary>ENOSPC on Unix (the errno becomes the HResult), ERROR_DISK_FULL / ERROR_HANDLE_DISK_FULL on Windows.</summary>
    public static bool IsDiskFull(IOException e) => (e.HResult & 0xFFFF) is 28 or 0x70 or 0x27;
}
