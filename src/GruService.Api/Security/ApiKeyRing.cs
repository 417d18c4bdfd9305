using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace GruService.Api.Security;

/// <summary>A configured key as it is kept in memory: its name, scopes and the SHA-256 of its value.</summary>
internal sealed record ConfiguredApiKey(string Name, byte[] Hash, IReadOnlyList<string> Scopes);

/// <summary>
/// The configured keys, hashed once at start. A presented key is hashed and compared with every configured hash in
/// constant time, so neither the keys' lengths nor how many leading bytes matched, nor which key matched, shows in
/// the time an answer takes.
/// </summary>
internal sealed class ApiKeyRing(IOptions<SecurityOptions> options)
{
    private readonly ConfiguredApiKey[] _keys = [.. options.Value.ApiKeys.Select(entry =>
        new ConfiguredApiKey(entry.Key, Hash(entry.Value.Key ?? ""), [.. entry.Value.Scopes.Distinct()]))];

    public bool IsEmpty => _keys.Length == 0;

    /// <summary>The configured key with this value, or null.</summary>
    public ConfiguredApiKey? Find(string presented)
    {
        byte[] hash = Hash(presented);
        ConfiguredApiKey? found = null;
        // No early exit: every key is compared whichever matches.
        foreach (ConfiguredApiKey key in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, key.Hash))
                found = key;
        }
        return found;
    }

    private static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}
