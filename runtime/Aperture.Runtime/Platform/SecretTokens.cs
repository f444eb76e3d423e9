using System.Security.Cryptography;
using System.Text;

namespace Aperture.Runtime.Platform;

/// <summary>
/// Secrets handed out once (server ingest tokens, API keys): 32 random bytes, kept only as the
/// SHA-256 of the text, compared in constant time.
/// </summary>
public static class SecretTokens
{
    public static string Generate(string prefix = "") =>
        prefix + Base64Url(RandomNumberGenerator.GetBytes(32));

    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    public static bool Matches(string? token, string? storedHash)
    {
        if (string.IsNullOrEmpty(token) || string.IsNullOrEmpty(storedHash) || storedHash.Length != 64)
        {
            return false;
        }

        Span<byte> expected = stackalloc byte[32];
        if (Convert.FromHexString(storedHash, expected, out _, out var written) != System.Buffers.OperationStatus.Done || written != 32)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(token)), expected);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
