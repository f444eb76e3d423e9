using System.Net;
using System.Reflection;
using Aperture.Runtime.Access;
using Aperture.Runtime.Platform;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Prometheus;

namespace Aperture.Runtime.Hosting;

/// <summary>Composes the runtime: configuration, its listeners, and the features of its role (<see cref="RuntimeRoles"/>).</summary>
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
        ["--webhook-port"] = "Aperture:WebhookPort",
        ["--clickhouse"] = "Aperture:ClickHouse:ConnectionString",
        ["--clickhouse-database"] = "Aperture:ClickHouse:Database",
        ["--redis"] = "Aperture:Redis:ConnectionString",
        ["--config"] = "Aperture:ConfigFile",
    };

    public static string Version { get; } =
        typeof(RuntimeApplication).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    /// <summary>The default limit on request bodies; a feature that takes larger ones (profiling pushes) sets its own.</summary>
    private const int DefaultMaxRequestBytes = 16 * 1024 * 1024;

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

        var runtime = builder.AddValidatedOptions(RuntimeOptions.Section, new RuntimeOptionsValidator());
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = DefaultMaxRequestBytes;
            var address = IPAddress.Parse(runtime.ListenAddress);
            kestrel.Listen(address, runtime.EffectiveHttpPort, listen => listen.Protocols = HttpProtocols.Http1);
            kestrel.Listen(address, runtime.EffectiveJobsPort, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                Listeners.MarkConnections(listen, ListenerMetadata.Jobs);
            });
            if (!runtime.IsAggregator)
            {
                kestrel.Listen(address, runtime.EffectiveWebhookPort, listen =>
                {
                    listen.Protocols = HttpProtocols.Http1;
                    Listeners.MarkConnections(listen, ListenerMetadata.Webhook);
                });
            }
        });

        var features = RuntimeRoles.Of(runtime);
        var context = new FeatureContext(runtime);
        foreach (var feature in features)
        {
            feature.Add(builder, context);
        }

        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseApertureErrors();
        // A route asked for on another listener's port is not there (404), before anyone asks for a credential.
        app.UseListenerRoutes();
        foreach (var feature in features)
        {
            feature.Map(app);
        }

        // Middleware, so it runs before every feature's endpoints whatever order they were mapped in.
        app.UseHttpMetrics();
        app.MapNotFoundFallback().Public("the answer for unknown routes");

        Metrics.CreateGauge("aperture_runtime_info", "The running runtime's role and version (always 1)", "role", "version")
            .WithLabels(runtime.Role, Version).Set(1);
        return app;
    }
}
