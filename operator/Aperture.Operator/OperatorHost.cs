using System.Globalization;
using Aperture.Operator.Controller;
using Aperture.Operator.Desired;
using Aperture.Operator.Reconcilers;
using Aperture.Resources;
using k8s;
using k8s.LeaderElection;
using k8s.LeaderElection.ResourceLock;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Aperture.Operator;

public sealed record OperatorOptions
{
    public string ListenAddress { get; init; } = "0.0.0.0";

    public int MetricsPort { get; init; } = 8080;

    public bool LeaderElection { get; init; } = true;

    /// <summary>The API server's URL; in a pod the in-cluster configuration, else the kubeconfig, when unset.</summary>
    public string? KubernetesApi { get; init; }

    public string LeaseNamespace { get; init; } = Environment.GetEnvironmentVariable("POD_NAMESPACE") is { Length: > 0 } ns ? ns : "default";

    public string Identity { get; init; } = Environment.GetEnvironmentVariable("POD_NAME") is { Length: > 0 } pod ? pod : $"{Environment.MachineName}-{Environment.ProcessId}";

    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);

    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The namespaces whose resources are listed, watched and reconciled (<c>--watch-namespace</c>, repeatable); every namespace when empty.</summary>
    public IReadOnlyList<string> WatchNamespaces { get; init; } = [];

    /// <summary>The central runtime (<c>--central-url</c>, e.g. http://aperture-central.aperture.svc:8080); Tenants and ApiKeys wait for one.</summary>
    public Uri? CentralUrl { get; init; }

    /// <summary>The central runtime's admin token, from <c>APERTURE_CENTRAL_TOKEN</c>; never logged.</summary>
    public string? CentralToken { get; init; } = Environment.GetEnvironmentVariable(CentralTokenVariable) is { Length: > 0 } token ? token : null;

    public const string CentralTokenVariable = "APERTURE_CENTRAL_TOKEN";

    /// <summary>How soon a Tenant or ApiKey that cannot be Ready yet (its Tenant not Ready, a Secret in the way) is looked at again.</summary>
    public TimeSpan CentralNotReadyPoll { get; init; } = TimeSpan.FromSeconds(10);

    public ControllerOptions Controllers { get; init; } = new();

    public SiteReconcilerOptions Sites { get; init; } = new();

    public ProfilingTargetReconcilerOptions ProfilingTargets { get; init; } = new();

    /// <summary>Parses the arguments the chart passes; throws <see cref="ArgumentException"/> naming a bad one.</summary>
    public static OperatorOptions Parse(IReadOnlyList<string> args)
    {
        var options = new OperatorOptions();
        foreach (var arg in args)
        {
            var (name, value) = arg.Split('=', 2) is [var n, var v] ? (n, v) : (arg, string.Empty);
            options = name switch
            {
                "--metrics-port" => options with { MetricsPort = int.TryParse(value, CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65536 ? port : throw new ArgumentException($"--metrics-port must be a port number, not '{value}'") },
                "--leader-election" => options with { LeaderElection = bool.TryParse(value, out var on) ? on : throw new ArgumentException($"--leader-election must be true or false, not '{value}'") },
                "--listen" => options with { ListenAddress = value },
                "--kubernetes-api" => options with { KubernetesApi = value },
                "--watch-namespace" => options with
                {
                    WatchNamespaces = System.Text.RegularExpressions.Regex.IsMatch(value, "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
                        ? [.. options.WatchNamespaces.Append(value).Distinct(StringComparer.Ordinal)]
                        : throw new ArgumentException($"--watch-namespace must be a namespace name, not '{value}'"),
                },
                "--central-url" => options with
                {
                    CentralUrl = Uri.TryCreate(value, UriKind.Absolute, out var central) && central.Scheme is "http" or "https" && central.Query.Length == 0
                        ? central
                        : throw new ArgumentException($"--central-url must be an http(s) URL such as http://aperture-central.aperture.svc:8080, not '{value}'"),
                },
                "--runtime-image" => options with { Sites = options.Sites with { RuntimeImage = Image(name, value) } },
                "--agent-image" => options with { ProfilingTargets = options.ProfilingTargets with { AgentImage = Image(name, value) } },
                _ => throw new ArgumentException($"unknown argument '{arg}'"),
            };
        }

        return options;
    }

    private static string Image(string name, string value) =>
        value.Length > 0 && !value.Any(char.IsWhiteSpace) ? value : throw new ArgumentException($"{name} must be an image reference, not '{value}'");
}

/// <summary>
/// The operator process: /healthz, /readyz and /metrics; leader election on a Lease, so that of
/// several replicas only the leader runs the controllers (and writes); the controllers themselves.
/// </summary>
public sealed partial class OperatorHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly IKubernetes _client;
    private readonly OperatorOptions _options;
    private readonly ILogger<OperatorHost> _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _running;
    private volatile bool _leading;
    private volatile bool _synced;

    private ISiteEndpoints _endpoints = new ClusterSiteEndpoints();

    /// <summary>Where Sites' runtimes are reached; tests replace the in-cluster Service names.</summary>
    public ISiteEndpoints SiteEndpoints
    {
        init => _endpoints = value;
    }

    private OperatorHost(WebApplication app, IKubernetes client, OperatorOptions options)
    {
        _app = app;
        _client = client;
        _options = options;
        _logger = app.Services.GetRequiredService<ILogger<OperatorHost>>();
    }

    public bool IsLeader => _leading;

    public Uri Url { get; private set; } = null!;

    public static OperatorHost Create(OperatorOptions options, ISiteEndpoints? endpoints = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Parse(options.ListenAddress), options.MetricsPort));
        var app = builder.Build();
        var config = options.KubernetesApi is { } url ? new KubernetesClientConfiguration { Host = url }
            : KubernetesClientConfiguration.IsInCluster() ? KubernetesClientConfiguration.InClusterConfig()
            : KubernetesClientConfiguration.BuildConfigFromConfigFile();
        var host = new OperatorHost(app, new Kubernetes(config), options) { SiteEndpoints = endpoints ?? new ClusterSiteEndpoints() };
        app.MapGet("/healthz", () => Results.Text("ok"));
        // A standby replica is ready: it is healthy and waiting to lead.
        app.MapGet("/readyz", () => host._leading && !host._synced ? Results.Text("syncing", statusCode: 503) : Results.Text("ok"));
        app.MapMetrics("/metrics");
        return host;
    }

    public async Task StartAsync()
    {
        await _app.StartAsync();
        Url = new Uri(_app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.First());
        _running = _options.LeaderElection ? ElectAsync(_stopping.Token) : LeadAsync(_stopping.Token);
    }

    public Task RunAsync() => _running ?? Task.CompletedTask;

    private async Task ElectAsync(CancellationToken cancellationToken)
    {
        var lease = new LeaseLock(_client, _options.LeaseNamespace, "aperture-operator", _options.Identity);
        using var elector = new LeaderElector(new LeaderElectionConfig(lease)
        {
            LeaseDuration = _options.LeaseDuration,
            RenewDeadline = _options.RenewDeadline,
            RetryPeriod = _options.RetryPeriod,
        });
        var gate = new Lock();
        CancellationTokenSource? term = null;
        Task controllers = Task.CompletedTask;
        elector.OnStartedLeading += () =>
        {
            LogLeading(_options.Identity);
            lock (gate)
            {
                term = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var previous = controllers;
                var token = term.Token;
                // The controllers of an earlier term have stopped before this term's start.
                controllers = previous.ContinueWith(_ => LeadAsync(token), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
            }
        };
        elector.OnStoppedLeading += () =>
        {
            // Stop writing at once; the replica stands by for the next election.
            LogLostLease(_options.Identity);
            lock (gate)
            {
                term?.Cancel();
            }
        };
        try
        {
            await elector.RunAndTryToHoldLeadershipForeverAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        lock (gate)
        {
            term?.Cancel();
        }

        try
        {
            await controllers;
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task LeadAsync(CancellationToken cancellationToken)
    {
        _leading = true;
        try
        {
            var time = TimeProvider.System;
            var loggers = _app.Services.GetRequiredService<ILoggerFactory>();
            var siteCache = new ResourceCache<Site>();
            var targetCache = new ResourceCache<ProfilingTarget>();
            var alertCache = new ResourceCache<AlertRule>();
            var serverCache = new ResourceCache<MonitoredServer>();
            var tenantCache = new ResourceCache<Tenant>();
            var apiKeyCache = new ResourceCache<ApiKey>();
            var watched = _options.WatchNamespaces;
            using var siteQueue = new WorkQueue<string>(time, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5));
            using var targetQueue = new WorkQueue<string>(time, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5));
            using var alertQueue = new WorkQueue<string>(time, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5));
            using var serverQueue = new WorkQueue<string>(time, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5));
            using var tenantQueue = new WorkQueue<string>(time, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5));
            using var apiKeyQueue = new WorkQueue<string>(time, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5));
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

            var siteWatcher = new ResourceWatcher<Site>(CustomResourceSources.For<Site>(_client, "sites", watched), siteCache, siteQueue.Add, time, loggers.CreateLogger("Aperture.Operator.Sites"));
            var targetWatcher = new ResourceWatcher<ProfilingTarget>(CustomResourceSources.For<ProfilingTarget>(_client, "profilingtargets", watched), targetCache, targetQueue.Add, time,
                loggers.CreateLogger("Aperture.Operator.ProfilingTargets"));
            // An AlertRule's change also re-renders its Site's alert ConfigMap.
            var alertWatcher = new ResourceWatcher<AlertRule>(CustomResourceSources.For<AlertRule>(_client, "alertrules", watched), alertCache, key =>
            {
                alertQueue.Add(key);
                if (alertCache.TryGet(key, out var rule) && rule is not null)
                {
                    siteQueue.Add($"{rule.Metadata.NamespaceProperty}/{rule.Spec.SiteRef.Name}");
                }
            }, time, loggers.CreateLogger("Aperture.Operator.AlertRules"));

            // A Site's StatefulSet changing (pods becoming ready) wakes the Site, rather than the Site polling.
            var statefulSetCache = new ResourceCache<V1StatefulSet>();
            var statefulSetWatcher = new ResourceWatcher<V1StatefulSet>(
                OwnedWorkloads.StatefulSets(_client, $"app.kubernetes.io/managed-by={ObjectMetadata.ManagedBy},app.kubernetes.io/component={SiteResources.Component}", watched),
                statefulSetCache,
                key =>
                {
                    if (statefulSetCache.TryGet(key, out var set) && set is not null && OwnedWorkloads.OwnerKey(set, "Site") is { } site)
                    {
                        siteQueue.Add(site);
                    }
                },
                time, loggers.CreateLogger("Aperture.Operator.StatefulSets"),
                matters: (before, after) => before.Status?.ReadyReplicas != after.Status?.ReadyReplicas || before.Metadata.Generation != after.Metadata.Generation);
            var serverWatcher = new ResourceWatcher<MonitoredServer>(CustomResourceSources.For<MonitoredServer>(_client, "monitoredservers", watched), serverCache, serverQueue.Add, time,
                loggers.CreateLogger("Aperture.Operator.MonitoredServers"));

            // A Tenant's change (becoming Ready) also wakes the ApiKeys that wait for it.
            var tenantWatcher = new ResourceWatcher<Tenant>(CustomResourceSources.For<Tenant>(_client, TenantReconciler.Plural, watched), tenantCache, key =>
            {
                tenantQueue.Add(key);
                var (ns, name) = ResourceKeys.Split(key);
                foreach (var apiKey in apiKeyCache.All().Where(k => k.Metadata.NamespaceProperty == ns && k.Spec.TenantRef.Name == name))
                {
                    apiKeyQueue.Add(ResourceKeys.Of(apiKey));
                }
            }, time, loggers.CreateLogger("Aperture.Operator.Tenants"),
                // Its status matters too: ApiKeys wait for Ready.
                matters: (before, after) => before.Metadata.ResourceVersion != after.Metadata.ResourceVersion);
            var apiKeyWatcher = new ResourceWatcher<ApiKey>(CustomResourceSources.For<ApiKey>(_client, "apikeys", watched), apiKeyCache, apiKeyQueue.Add, time,
                loggers.CreateLogger("Aperture.Operator.ApiKeys"));

            IReadOnlyList<AlertRule> RulesOf(Site site) =>
                [.. alertCache.All().Where(r => r.Metadata.NamespaceProperty == site.Metadata.NamespaceProperty && r.Spec.SiteRef.Name == site.Metadata.Name && r.Metadata.DeletionTimestamp is null)];

            var centralApi = _options.CentralUrl is { } centralUrl ? new CentralApi(http, centralUrl, _options.CentralToken) : null;
            using var central = new CentralSitesPublisher(_client, _options.LeaseNamespace, () => [.. siteCache.All()], time);
            var sites = new Controller<Site>("Site", siteWatcher, siteCache, siteQueue, new SiteReconciler(_client, _options.Sites with { CentralUrl = _options.CentralUrl }, time, RulesOf, central),
                _options.Controllers, time, loggers.CreateLogger("Aperture.Operator.Sites"));
            var targets = new Controller<ProfilingTarget>("ProfilingTarget", targetWatcher, targetCache, targetQueue,
                new ProfilingTargetReconciler(_client, targetCache, _options.ProfilingTargets, time,
                    centralApi is null ? null : new SiteAgentKeys(_client, centralApi, loggers.CreateLogger("Aperture.Operator.AgentKeys"))),
                // Every target of a Site writes the same DaemonSet: one worker keeps those writes in order.
                _options.Controllers with { Workers = 1 }, time, loggers.CreateLogger("Aperture.Operator.ProfilingTargets"));
            var objects = new ApertureObjects(_client);
            var siteRuntime = new SiteRuntimeClient(http, _client, _endpoints);
            var alerts = new Controller<AlertRule>("AlertRule", alertWatcher, alertCache, alertQueue,
                new AlertRuleReconciler(objects, new SiteAlertApi(siteRuntime), time, _options.Sites.NotReadyPoll),
                _options.Controllers, time, loggers.CreateLogger("Aperture.Operator.AlertRules"));
            var servers = new Controller<MonitoredServer>("MonitoredServer", serverWatcher, serverCache, serverQueue,
                new MonitoredServerReconciler(_client, objects, new SiteServerApi(siteRuntime), time, _options.Sites.NotReadyPoll, _options.Sites.ServerStatusPoll),
                _options.Controllers, time, loggers.CreateLogger("Aperture.Operator.MonitoredServers"));
            var tenants = new Controller<Tenant>("Tenant", tenantWatcher, tenantCache, tenantQueue,
                new TenantReconciler(objects, centralApi, time),
                _options.Controllers, time, loggers.CreateLogger("Aperture.Operator.Tenants"));
            var apiKeys = new Controller<ApiKey>("ApiKey", apiKeyWatcher, apiKeyCache, apiKeyQueue,
                new ApiKeyReconciler(_client, objects, centralApi, time, _options.CentralNotReadyPoll, loggers.CreateLogger("Aperture.Operator.ApiKeys")),
                _options.Controllers, time, loggers.CreateLogger("Aperture.Operator.ApiKeys"));
            // The central runtime mounts the site list and cannot start without it: publish it once the Sites
            // are known, even when there are none.
            _ = siteWatcher.Synced.ContinueWith(_ => central.Request(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            _ = Task.WhenAll(siteWatcher.Synced, targetWatcher.Synced, alertWatcher.Synced, serverWatcher.Synced, statefulSetWatcher.Synced, tenantWatcher.Synced, apiKeyWatcher.Synced)
                .ContinueWith(_ => _synced = true, TaskScheduler.Default);
            await Task.WhenAll(
                statefulSetWatcher.RunAsync(cancellationToken), central.RunAsync(cancellationToken), sites.RunAsync(cancellationToken), targets.RunAsync(cancellationToken),
                alerts.RunAsync(cancellationToken), servers.RunAsync(cancellationToken), tenants.RunAsync(cancellationToken), apiKeys.RunAsync(cancellationToken));
        }
        finally
        {
            _leading = false;
            _synced = false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        if (_running is not null)
        {
            try
            {
                await _running;
            }
            catch (OperationCanceledException)
            {
            }
        }

        await _app.StopAsync();
        await _app.DisposeAsync();
        _client.Dispose();
        _stopping.Dispose();
    }

    [LoggerMessage(EventId = 720, Level = LogLevel.Information, Message = "{Identity} leads; starting the controllers")]
    private partial void LogLeading(string identity);

    [LoggerMessage(EventId = 721, Level = LogLevel.Warning, Message = "{Identity} lost the lease; stopping the controllers")]
    private partial void LogLostLease(string identity);
}
