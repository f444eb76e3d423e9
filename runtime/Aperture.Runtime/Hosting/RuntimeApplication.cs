using System.Net;
using System.Reflection;
using System.Threading.Channels;
using Aperture.Profiling;
using Aperture.Runtime.Alerts;
using Aperture.Runtime.Api;
using Aperture.Runtime.Grpc;
using Aperture.Runtime.Health;
using Aperture.Runtime.Jobs;
using Aperture.Runtime.Profiling;
using Aperture.Runtime.Security;
using Aperture.Runtime.Servers;
using Aperture.Runtime.Storage;
using Aperture.Storage;
using ClickHouse.Driver;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Prometheus;
using StackExchange.Redis;

namespace Aperture.Runtime.Hosting;

/// <summary>Composes the runtime: configuration, storage, the role's APIs, health and metrics.</summary>
public static class RuntimeApplication
{
    /// <summary>Short command-line switches for the settings people set most.</summary>
    internal static readonly Dictionary<string, string> Switches = new(StringComparer.Ordinal)
    {
        ["--role"] = "Aperture:Role",
        ["--listen"] = "Aperture:ListenAddress",
        ["--http-port"] = "Aperture:HttpPort",
        ["--grpc-port"] = "Aperture:GrpcPort",
        ["--jobs-port"] = "Aperture:JobsPort",
        ["--clickhouse"] = "Aperture:ClickHouse:ConnectionString",
        ["--clickhouse-database"] = "Aperture:ClickHouse:Database",
        ["--redis"] = "Aperture:Redis:ConnectionString",
        ["--config"] = "Aperture:ConfigFile",
    };

    public static string Version { get; } =
        typeof(RuntimeApplication).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Configuration.AddEnvironmentVariables();
        builder.Configuration.AddCommandLine(args, Switches);
        if (builder.Configuration["Aperture:ConfigFile"] is { Length: > 0 } file)
        {
            // A JSON file of settings (the central runtime's site list, from the operator's ConfigMap),
            // read again when it changes; the environment and the command line still win over it.
            builder.Configuration.AddJsonFile(Path.GetFullPath(file), optional: false, reloadOnChange: true);
            builder.Configuration.AddEnvironmentVariables();
            builder.Configuration.AddCommandLine(args, Switches);
        }
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);

        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.ConfigureHttpJsonOptions(json =>
            json.SerializerOptions.DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull);
        AddValidatedOptions<RuntimeOptions>(builder, RuntimeOptions.Section, new RuntimeOptionsValidator());
        AddValidatedOptions<ClickHouseOptions>(builder, ClickHouseOptions.Section, new SectionAnnotationsValidator<ClickHouseOptions>(ClickHouseOptions.Section));
        AddValidatedOptions<RedisOptions>(builder, RedisOptions.Section, new SectionAnnotationsValidator<RedisOptions>(RedisOptions.Section));
        AddValidatedOptions<ProfilingOptions>(builder, ProfilingOptions.Section, new SectionAnnotationsValidator<ProfilingOptions>(ProfilingOptions.Section));
        builder.Services.AddSingleton(new AuthTokenOptions
        {
            Token = builder.Configuration["Aperture:AuthToken"] is { Length: > 0 } configured ? configured : builder.Configuration["APERTURE_AUTH_TOKEN"],
        });
        var profiling = builder.Configuration.GetSection(ProfilingOptions.Section).Get<ProfilingOptions>() ?? new ProfilingOptions();

        var runtime = builder.Configuration.GetSection(RuntimeOptions.Section).Get<RuntimeOptions>() ?? new RuntimeOptions();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = profiling.MaxRequestBytes;
            // An unparsable address is reported by the options validator on start, not here.
            var address = IPAddress.TryParse(runtime.ListenAddress, out var parsed) ? parsed : IPAddress.Loopback;
            kestrel.Listen(address, runtime.EffectiveHttpPort, listen => listen.Protocols = HttpProtocols.Http1);
            kestrel.Listen(address, runtime.EffectiveJobsPort, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                JobsListener.MarkConnections(listen);
            });
            if (runtime.IsAggregator)
            {
                kestrel.Listen(address, runtime.GrpcPort, listen => listen.Protocols = HttpProtocols.Http2);
            }
        });

        builder.Services.AddSingleton(services => new ClickHouseClient(services.GetRequiredService<IOptions<ClickHouseOptions>>().Value.ConnectionString));
        builder.Services.AddSingleton<IConnectionMultiplexer>(services => ConnectRedis(services.GetRequiredService<IOptions<RedisOptions>>().Value));
        builder.Services.AddSingleton<SchemaState>();
        builder.Services.AddHostedService<SchemaMigrationService>();
        builder.Services.AddSingleton<ReadinessProbe>();
        builder.Services.AddSingleton<IReadinessCheck, ClickHouseReadinessCheck>();
        builder.Services.AddSingleton<IReadinessCheck, RedisReadinessCheck>();
        builder.Services.AddSingleton<IReadinessCheck, SchemaReadinessCheck>();

        if (runtime.IsAggregator)
        {
            AddAggregator(builder, profiling);
            JobsServices.AddLocalJobs(builder, builder.Configuration.GetSection(JobsOptions.Section).Get<JobsOptions>() ?? new JobsOptions());
        }
        else
        {
            JobsServices.AddCentralJobs(builder);
        }

        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseApertureErrors();
        app.UseBearerTokenAuthentication();
        if (runtime.IsAggregator)
        {
            app.UseServerMonitoring();
        }

        app.UseJobsListenerRoutes();
        app.UseHttpMetrics();
        app.MapHealthApi();
        app.MapMetrics("/metrics");
        if (runtime.IsAggregator)
        {
            app.MapGrpcService<AggregatorGrpcService>();
            app.MapAggregatorApi();
            app.MapAlertsApi();
            app.MapServersApi();
            app.MapLocalJobsApi();
        }
        else
        {
            app.MapCentralJobsApi();
        }

        app.MapNotFoundFallback();

        Metrics.CreateGauge("aperture_runtime_info", "The running runtime's role and version (always 1)", "role", "version")
            .WithLabels(runtime.Role, Version).Set(1);
        return app;
    }

    /// <summary>The aggregator role: profiling ingest, buffer, ClickHouse writer, queries and alerts.</summary>
    private static void AddAggregator(WebApplicationBuilder builder, ProfilingOptions profiling)
    {
        var services = builder.Services;
        services.AddSingleton(provider => new ProfileBuffer(
            profiling.BufferCapacity, profiling.BufferRetention, provider.GetRequiredService<TimeProvider>(), profiling.StorageEnabled));
        // The buffer bounds what waits for storage; the queue only hands batches to the writer.
        services.AddSingleton(Channel.CreateBounded<ProfileBatch>(new BoundedChannelOptions(profiling.BufferCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        }));
        services.AddSingleton(provider => new ProfileStore(
            provider.GetRequiredService<ClickHouseClient>(), provider.GetRequiredService<IOptions<ClickHouseOptions>>().Value.Database));
        services.AddSingleton<AggregatorStats>();
        services.AddSingleton(new StackInterner());
        services.AddSingleton<PushClaims>();
        services.AddHostedService<AggregatorHeartbeat>();
        services.AddSingleton<PushIngestor>();
        services.AddSingleton<ProfileQueries>();
        services.AddSingleton<AlertRuleStore>();
        services.AddSingleton<AlertEvaluator>();
        services.AddHostedService<AlertEvaluationService>();
        services.AddSingleton<IReadinessCheck, BufferReadinessCheck>();
        builder.AddServerMonitoring();
        if (profiling.StorageEnabled)
        {
            services.AddHostedService<ClickHouseBatchWriter>();
        }

        services.AddSingleton<global::Grpc.AspNetCore.Server.Model.IServiceMethodProvider<AggregatorGrpcService>, AggregatorGrpcMethods>();
        services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = profiling.MaxRequestBytes;
            grpc.EnableDetailedErrors = false;
            grpc.Interceptors.Add<GrpcErrorInterceptor>();
        });
    }

    private static void AddValidatedOptions<TOptions>(WebApplicationBuilder builder, string section, IValidateOptions<TOptions> validator)
        where TOptions : class
    {
        builder.Services.AddOptions<TOptions>().Bind(builder.Configuration.GetSection(section)).ValidateOnStart();
        builder.Services.AddSingleton(validator);
    }

    /// <summary>
    /// Connects without failing when Redis is down: the multiplexer keeps reconnecting in the
    /// background and readiness reports Redis until it answers.
    /// </summary>
    private static ConnectionMultiplexer ConnectRedis(RedisOptions options)
    {
        var configuration = ConfigurationOptions.Parse(options.ConnectionString);
        configuration.AbortOnConnectFail = false;
        configuration.ConnectTimeout = (int)options.ProbeTimeout.TotalMilliseconds * 2;
        configuration.AsyncTimeout = (int)options.ProbeTimeout.TotalMilliseconds;
        configuration.SyncTimeout = (int)options.ProbeTimeout.TotalMilliseconds;
        configuration.ReconnectRetryPolicy = new ExponentialRetry(250, 5000);
        return ConnectionMultiplexer.Connect(configuration);
    }
}
