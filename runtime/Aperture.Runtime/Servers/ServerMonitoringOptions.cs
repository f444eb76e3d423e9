using System.ComponentModel.DataAnnotations;

namespace Aperture.Runtime.Servers;

/// <summary>Server monitoring (configuration section <c>Aperture:Servers</c>).</summary>
public sealed class ServerMonitoringOptions
{
    public const string Section = "Aperture:Servers";

    /// <summary>The longest history window <c>/api/metrics/history/?minutes=</c> serves (7 days).</summary>
    [Range(1, 525_600)]
    public int MaxHistoryMinutes { get; set; } = 10_080;

    /// <summary>History is downsampled by stride to at most this many points.</summary>
    [Range(2, 100_000)]
    public int MaxHistoryPoints { get; set; } = 500;

    /// <summary>The window when <c>minutes</c> is not given.</summary>
    [Range(1, 525_600)]
    public int DefaultHistoryMinutes { get; set; } = 60;

    /// <summary>The largest ingest body accepted.</summary>
    [Range(1024, 64 * 1024 * 1024)]
    public int MaxIngestBytes { get; set; } = 1024 * 1024;

    /// <summary>Rates are derived only between samples at most this far apart.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan MaxRateInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Snapshots waiting for ClickHouse; past it, ingest answers 503 and the agent retries.</summary>
    [Range(1, 10_000_000)]
    public int QueueCapacity { get; set; } = 100_000;

    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    [Range(1, 1_000_000)]
    public int FlushRows { get; set; } = 10_000;
}

/// <summary>Who may read the dashboard APIs (configuration section <c>Aperture:Dashboard</c>).</summary>
public sealed class DashboardOptions
{
    public const string Section = "Aperture:Dashboard";

    /// <summary>Emails (case-insensitive) allowed in after an OpenID Connect login.</summary>
    public List<string> AllowedEmails { get; set; } = [];

    /// <summary>Email domains (<c>example.com</c>) whose users are allowed in.</summary>
    public List<string> AllowedDomains { get; set; } = [];

    /// <summary>The OpenID Connect provider; login is off while <see cref="OidcOptions.Authority"/> is empty.</summary>
    public OidcOptions Oidc { get; set; } = new();

    /// <summary>How long a dashboard login lasts.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")]
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromHours(12);

    public bool OidcEnabled => !string.IsNullOrWhiteSpace(Oidc.Authority);

    public bool Allows(string? email)
    {
        if (string.IsNullOrWhiteSpace(email) || email.IndexOf('@', StringComparison.Ordinal) is var at && at <= 0)
        {
            return false;
        }

        var domain = email[(at + 1)..];
        return AllowedEmails.Any(e => string.Equals(e.Trim(), email, StringComparison.OrdinalIgnoreCase))
            || AllowedDomains.Any(d => string.Equals(d.Trim().TrimStart('@'), domain, StringComparison.OrdinalIgnoreCase));
    }
}

public sealed class OidcOptions
{
    /// <summary>The issuer, e.g. <c>https://accounts.google.com</c>; its discovery document is read from there.</summary>
    public string? Authority { get; set; }

    public string? ClientId { get; set; }

    /// <summary>The client secret; set it from a Secret (environment), never on the command line.</summary>
    public string? ClientSecret { get; set; }

    /// <summary>False only for a provider on plain HTTP (tests, local development).</summary>
    public bool RequireHttpsMetadata { get; set; } = true;

    public List<string> Scopes { get; set; } = ["openid", "email", "profile"];
}

/// <summary>Checks <see cref="DashboardOptions"/> on start.</summary>
public sealed class DashboardOptionsValidator : Microsoft.Extensions.Options.IValidateOptions<DashboardOptions>
{
    public Microsoft.Extensions.Options.ValidateOptionsResult Validate(string? name, DashboardOptions options)
    {
        var errors = new List<string>();
        if (options.OidcEnabled)
        {
            if (!Uri.TryCreate(options.Oidc.Authority, UriKind.Absolute, out _))
            {
                errors.Add($"{DashboardOptions.Section}:Oidc:Authority must be an absolute URL");
            }

            if (string.IsNullOrWhiteSpace(options.Oidc.ClientId))
            {
                errors.Add($"{DashboardOptions.Section}:Oidc:ClientId is required when Oidc:Authority is set");
            }
        }

        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true))
        {
            errors.AddRange(results.Select(r => $"{DashboardOptions.Section}: {r.ErrorMessage}"));
        }

        return errors.Count == 0
            ? Microsoft.Extensions.Options.ValidateOptionsResult.Success
            : Microsoft.Extensions.Options.ValidateOptionsResult.Fail(errors);
    }
}
