using System.ComponentModel.DataAnnotations;

namespace Aperture.Storage;

/// <summary>Where the runtime keeps what grows with time (configuration section <c>Aperture:ClickHouse</c>).</summary>
public sealed class ClickHouseOptions
{
    public const string Section = "Aperture:ClickHouse";

    /// <summary>A ClickHouse.Driver connection string, e.g. <c>Host=127.0.0.1;Port=8123;Protocol=http</c>.</summary>
    [Required(AllowEmptyStrings = false)]
    public string ConnectionString { get; set; } = "Host=127.0.0.1;Port=8123;Protocol=http;Username=default;Password=";

    /// <summary>The database Aperture's tables live in; created by the first migration.</summary>
    [Required]
    [RegularExpression("^[a-z_][a-z0-9_]{0,62}$", ErrorMessage = "Database must be a lower-case identifier (letters, digits, underscore)")]
    public string Database { get; set; } = "aperture";

    /// <summary>How long a readiness probe waits for ClickHouse.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:00:30")]
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>Hot state: keys, rate limits, idempotency, streams (configuration section <c>Aperture:Redis</c>).</summary>
public sealed class RedisOptions
{
    public const string Section = "Aperture:Redis";

    /// <summary>A StackExchange.Redis configuration string, e.g. <c>127.0.0.1:6379</c>.</summary>
    [Required(AllowEmptyStrings = false)]
    public string ConnectionString { get; set; } = "127.0.0.1:6379";

    [Range(typeof(TimeSpan), "00:00:00.100", "00:00:30")]
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(1);
}
