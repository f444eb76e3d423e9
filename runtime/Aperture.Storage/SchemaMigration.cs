using System.Security.Cryptography;
using System.Text;

namespace Aperture.Storage;

/// <summary>
/// One versioned step of the ClickHouse schema. Its statements must be idempotent (IF NOT
/// EXISTS), since ClickHouse has no transaction to roll a half-applied step back. A published
/// migration is never edited: its checksum is recorded, and a changed one stops the start.
/// <c>{database}</c> in a statement is replaced by the quoted database name.
/// </summary>
public sealed record SchemaMigration(int Version, string Name, IReadOnlyList<string> Statements)
{
    // Computed on each read: a stored value would be copied unchanged by a 'with' expression.
    public string Checksum => Convert.ToHexStringLower(
        SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n;\n", Statements))))[..16];
}

public sealed class SchemaMigrationException : Exception
{
    public SchemaMigrationException(string message)
        : base(message)
    {
    }

    public SchemaMigrationException()
    {
    }

    public SchemaMigrationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
