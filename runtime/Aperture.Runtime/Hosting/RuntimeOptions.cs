using System.Net;

namespace Aperture.Runtime.Hosting;

/// <summary>The runtime's own settings (configuration section <c>Aperture</c>).</summary>
public sealed class RuntimeOptions
{
    public const string Section = "Aperture";

    public const string AggregatorRole = "aggregator";
    public const string CentralRole = "central";

    /// <summary><c>aggregator</c> (a site: ingest, queries, alerts) or <c>central</c> (tenants, federation).</summary>
    public string Role { get; set; } = AggregatorRole;

    /// <summary>The address the servers bind; 127.0.0.1 unless told otherwise (the operator sets 0.0.0.0 in pods).</summary>
    public string ListenAddress { get; set; } = "127.0.0.1";

    /// <summary>HTTP API port; when unset, the role's default (aggregator 9090, central 8080). 0 picks a free port.</summary>
    public int? HttpPort { get; set; }

    /// <summary>gRPC port of the aggregator role (HTTP/2 only). 0 picks a free port.</summary>
    public int GrpcPort { get; set; } = 50051;

    /// <summary>
    /// Port of the jobs APIs (jobs-api.md); when unset, the role's default (aggregator 18000: the
    /// site-local API, central 19000: the central API). 0 picks a free port.
    /// </summary>
    public int? JobsPort { get; set; }

    /// <summary>The central role's Alertmanager webhook port (aiops-api.md: 9093), a listener of its own. 0 picks a free port.</summary>
    public int? WebhookPort { get; set; }

    public int EffectiveWebhookPort => WebhookPort ?? 9093;

    public int EffectiveHttpPort => HttpPort ?? (Role == CentralRole ? 8080 : 9090);

    public int EffectiveJobsPort => JobsPort ?? (Role == CentralRole ? 19000 : 18000);

    public bool IsAggregator => Role == AggregatorRole;
}

/// <summary>Checks <see cref="RuntimeOptions"/> on start, naming the setting that is wrong.</summary>
public sealed class RuntimeOptionsValidator : Microsoft.Extensions.Options.IValidateOptions<RuntimeOptions>
{
    public Microsoft.Extensions.Options.ValidateOptionsResult Validate(string? name, RuntimeOptions options)
    {
        var errors = new List<string>();
        if (options.Role is not (RuntimeOptions.AggregatorRole or RuntimeOptions.CentralRole))
        {
            errors.Add($"{RuntimeOptions.Section}:Role must be '{RuntimeOptions.AggregatorRole}' or '{RuntimeOptions.CentralRole}', not '{options.Role}'");
        }

        if (!IPAddress.TryParse(options.ListenAddress, out _))
        {
            errors.Add($"{RuntimeOptions.Section}:ListenAddress must be an IP address, not '{options.ListenAddress}'");
        }

        if (options.HttpPort is < 0 or > 65535)
        {
            errors.Add($"{RuntimeOptions.Section}:HttpPort must be from 0 to 65535, not {options.HttpPort}");
        }

        if (options.JobsPort is < 0 or > 65535)
        {
            errors.Add($"{RuntimeOptions.Section}:JobsPort must be from 0 to 65535, not {options.JobsPort}");
        }

        if (options.WebhookPort is < 0 or > 65535)
        {
            errors.Add($"{RuntimeOptions.Section}:WebhookPort must be from 0 to 65535, not {options.WebhookPort}");
        }

        if (options.GrpcPort is < 0 or > 65535)
        {
            errors.Add($"{RuntimeOptions.Section}:GrpcPort must be from 0 to 65535, not {options.GrpcPort}");
        }

        return errors.Count == 0
            ? Microsoft.Extensions.Options.ValidateOptionsResult.Success
            : Microsoft.Extensions.Options.ValidateOptionsResult.Fail(errors);
    }
}
