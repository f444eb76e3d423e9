using Aperture.Runtime.Hosting;
using Aperture.Storage;
using StackExchange.Redis;

namespace Aperture.Runtime.Servers;

/// <summary>
/// <c>aperture-runtime register-server SLUG --name "…" [--hostname H] [--description D] [--rotate-token] [--tenant T]</c>
/// and <c>aperture-runtime create-api-key NAME [--tenant T]</c>, with the server's configuration and switches
/// (<c>--redis</c> etc.). The server or key is the tenant's given (default <c>default</c>). A plaintext token or
/// key is printed once, to standard output only.
/// </summary>
public static class ServerCommandLine
{
    public const string RegisterServer = "register-server";
    public const string CreateApiKey = "create-api-key";

    public static bool Handles(string[] args) => args.Length > 0 && args[0] is RegisterServer or CreateApiKey;

    /// <returns>The exit code: 0 done, 1 Redis not reachable, 2 bad usage (a slug another tenant holds among it).</returns>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        if (args.Length < 2 || args[1].StartsWith("--", StringComparison.Ordinal))
        {
            await error.WriteLineAsync(Usage);
            return 2;
        }

        var command = args[0];
        var subject = args[1];
        string? name = null, hostname = null, description = null;
        var tenant = Platform.Tenants.Default;
        var rotate = false;
        var rest = new List<string>();
        for (var i = 2; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--name" or "--hostname" or "--description" when command == RegisterServer:
                    if (i + 1 >= args.Length)
                    {
                        await error.WriteLineAsync($"{args[i]} needs a value\n{Usage}");
                        return 2;
                    }

                    var value = args[++i];
                    _ = args[i - 1] switch
                    {
                        "--name" => name = value,
                        "--hostname" => hostname = value,
                        _ => description = value,
                    };
                    break;
                case "--rotate-token" when command == RegisterServer:
                    rotate = true;
                    break;
                case "--tenant":
                    if (i + 1 >= args.Length || !Access.TenantIds.IsValid(args[i + 1]))
                    {
                        await error.WriteLineAsync($"--tenant needs a tenant id (lower-case letters, digits and '-', at most 63)\n{Usage}");
                        return 2;
                    }

                    tenant = args[++i];
                    break;
                default:
                    rest.Add(args[i]);
                    break;
            }
        }

        var configuration = new ConfigurationBuilder()
            .AddEnvironmentVariables()
            .AddCommandLine([.. rest], RuntimeApplication.Switches)
            .Build();
        var redisOptions = configuration.GetSection(RedisOptions.Section).Get<RedisOptions>() ?? new RedisOptions();
        ConnectionMultiplexer redis;
        try
        {
            var options = ConfigurationOptions.Parse(redisOptions.ConnectionString);
            options.ConnectTimeout = 5000;
            options.AbortOnConnectFail = true;
            redis = await ConnectionMultiplexer.ConnectAsync(options);
        }
        catch (RedisConnectionException e)
        {
            await error.WriteLineAsync($"aperture-runtime {command}: cannot reach Redis at {redisOptions.ConnectionString}: {e.Message}");
            return 1;
        }

        await using (redis)
        {
            try
            {
                return command == RegisterServer
                    ? await RegisterAsync(new ServerRegistry(redis, TimeProvider.System), tenant, subject, new ServerChanges(name, hostname, description), rotate, output, error)
                    : await CreateKeyAsync(new DashboardApiKeys(redis, TimeProvider.System), tenant, subject, output);
            }
            catch (Platform.InvalidRequestException e)
            {
                await error.WriteLineAsync($"aperture-runtime {command}: {e.Message}");
                return 2;
            }
        }
    }

    private const string Usage =
        "usage: aperture-runtime register-server SLUG [--name NAME] [--hostname HOST] [--description TEXT] [--rotate-token] [--tenant TENANT] [--redis HOST:PORT]\n" +
        "       aperture-runtime create-api-key NAME [--tenant TENANT] [--redis HOST:PORT]";

    private static async Task<int> RegisterAsync(
        ServerRegistry registry, string tenant, string slug, ServerChanges changes, bool rotate, TextWriter output, TextWriter error)
    {
        if (await registry.UpsertAsync(tenant, slug, changes, token: null, generateTokenOnCreate: true) is not var (server, created, generated))
        {
            await error.WriteLineAsync($"aperture-runtime {RegisterServer}: the slug '{slug}' is registered to another tenant; a slug is unique across tenants");
            return 2;
        }

        if (created)
        {
            await output.WriteLineAsync($"registered server {server.Slug} (id {server.Id}) in tenant {tenant}");
            await PrintSecretAsync(output, "token", generated!);
            return 0;
        }

        if (rotate)
        {
            var token = await registry.RotateTokenAsync(tenant, slug);
            await output.WriteLineAsync($"rotated the token of server {server.Slug} (id {server.Id}); the old token no longer works");
            await PrintSecretAsync(output, "token", token!);
            return 0;
        }

        await output.WriteLineAsync($"updated server {server.Slug} (id {server.Id}); its token is unchanged (--rotate-token makes a new one)");
        return 0;
    }

    private static async Task<int> CreateKeyAsync(DashboardApiKeys keys, string tenant, string name, TextWriter output)
    {
        var (key, plaintext) = await keys.CreateAsync(tenant, name);
        await output.WriteLineAsync($"created API key {key.Id} ({key.Name}) of tenant {tenant}");
        await PrintSecretAsync(output, "key", plaintext);
        return 0;
    }

    private static async Task PrintSecretAsync(TextWriter output, string what, string secret)
    {
        await output.WriteLineAsync($"{what}: {secret}");
        await output.WriteLineAsync($"(shown only now: Aperture keeps only its hash)");
    }
}
