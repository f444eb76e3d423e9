using System.Net;
using System.Threading.Channels;
using Aperture.Runtime.Health;
using Aperture.Runtime.Platform;
using Aperture.Runtime.Profiling.Grpc;
using Aperture.Runtime.Storage;
using Aperture.Storage;
using ClickHouse.Driver;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Profiling;

/// <summary>
/// Continuous profiling (aggregator-api.md): gRPC ingest on its own HTTP/2 port, the bounded buffer, the
/// ClickHouse batch writer, aggregate/diff/batches queries and the exports.
/// </summary>
public static class ProfilingFeature
{
    public static void AddProfiling(this WebApplicationBuilder builder, FeatureContext context)
    {
        var profiling = builder.AddValidatedOptions<ProfilingOptions>(ProfilingOptions.Section);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // Pushes are the largest bodies the runtime takes; this limit is the one every route of the role gets.
            kestrel.Limits.MaxRequestBodySize = profiling.MaxRequestBytes;
            var address = IPAddress.Parse(context.Runtime.ListenAddress);
            kestrel.Listen(address, context.Runtime.GrpcPort, listen => listen.Protocols = HttpProtocols.Http2);
        });

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
        services.AddSingleton<ISchemaFollowUp, ProfileRetention>();
        services.AddSingleton<AggregatorStats>();
        services.AddSingleton(new StackInterner());
        services.AddSingleton<PushClaims>();
        services.AddHostedService<AggregatorHeartbeat>();
        services.AddSingleton<PushIngestor>();
        services.AddSingleton<ProfileQueries>();
        services.AddSingleton<IReadinessCheck, BufferReadinessCheck>();
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

    public static void MapProfiling(this WebApplication app)
    {
        app.MapGrpcService<AggregatorGrpcService>();
        app.MapAggregatorApi();
    }
}
