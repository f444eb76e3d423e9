using System.Globalization;
using Aperture.Runtime.Hosting;
using Aperture.Runtime.Platform;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Access.Tokens;

/// <summary>
/// <c>aperture-runtime token issue --tenant T --subject S --role R [--ttl 1h]</c> prints a runtime JWT on standard
/// output, signed by the active key of <see cref="TokenOptions.KeyDirectory"/>; <c>--ttl</c> is <c>45s</c>,
/// <c>30m</c>, <c>1h</c>, <c>7d</c> or a TimeSpan (<c>01:30:00</c>), one hour when left out, at most
/// <see cref="TokenOptions.MaxTtl"/>.
/// <c>aperture-runtime token init-keys [--rotate]</c> makes the first signing key in an empty key folder, or
/// with <c>--rotate</c> a new key that becomes the active one (the older ones still validate; a running
/// runtime takes it up within <see cref="RuntimeSigningKeys.RescanInterval"/>). <c>issue</c> never makes a
/// key: with an empty folder it tells to run <c>init-keys</c> (or to start the central runtime once, which
/// makes the first key too), so that a mistyped folder does not yield a token nobody accepts.
/// Both read the server's configuration: environment, <c>--config</c> file and switches
/// (<c>--Aperture:Tokens:KeyDirectory=/keys</c>). Without a key folder both refuse, since a key made in
/// memory dies with the command. Exit codes: 0 done, 1 the key folder cannot be read or written, 2 bad usage.
/// </summary>
public static class TokenCommand
{
    public const string Name = "token";

    private const string Usage =
        "usage: aperture-runtime token issue --tenant TENANT --subject SUBJECT --role viewer|editor|admin|super-admin [--ttl 1h] [--Aperture:Tokens:KeyDirectory=DIR]\n" +
        "       aperture-runtime token init-keys [--rotate] [--Aperture:Tokens:KeyDirectory=DIR]";

    public static bool Handles(string[] args) => args.Length > 0 && args[0] == Name;

    /// <returns>The exit code: 0 done, 1 the key folder cannot be read or written, 2 bad usage.</returns>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        if (args.Length < 2 || args[1] is not ("issue" or "init-keys"))
        {
            await error.WriteLineAsync(Usage);
            return 2;
        }

        var command = $"aperture-runtime token {args[1]}";
        var issue = args[1] == "issue";
        var named = new Dictionary<string, string>(StringComparer.Ordinal);
        var rotate = false;
        var rest = new List<string>();
        for (var i = 2; i < args.Length; i++)
        {
            var (name, inline) = args[i].IndexOf('=', StringComparison.Ordinal) is var eq and > 0 ? (args[i][..eq], args[i][(eq + 1)..]) : (args[i], null);
            if (issue && name is "--tenant" or "--subject" or "--role" or "--ttl")
            {
                if (inline is null && (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal)))
                {
                    await error.WriteLineAsync($"{command}: {name} needs a value");
                    return 2;
                }

                named[name] = inline ?? args[++i];
            }
            else if (!issue && name == "--rotate" && inline is null)
            {
                rotate = true;
            }
            else
            {
                rest.Add(args[i]);
            }
        }

        if (ReadOptions([.. rest], out var options) is { } invalid)
        {
            await error.WriteLineAsync($"{command}: {invalid}");
            return 2;
        }

        if (string.IsNullOrWhiteSpace(options.KeyDirectory))
        {
            await error.WriteLineAsync(
                $"{command}: set {TokenOptions.Section}:KeyDirectory (--{TokenOptions.Section}:KeyDirectory=DIR, or Aperture__Tokens__KeyDirectory) "
                + "to the central runtime's key folder; a token signed by a key made for this command alone validates nowhere");
            return 2;
        }

        try
        {
            return issue
                ? await IssueAsync(command, named, options, output, error)
                : await InitKeysAsync(options.KeyDirectory, rotate, output);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or InvalidOperationException)
        {
            await error.WriteLineAsync($"{command}: {e.Message}");
            return 1;
        }
    }

    /// <summary>Parses a lifetime: <c>90s</c>, <c>30m</c>, <c>1h</c>, <c>7d</c>, or a TimeSpan in the invariant format (<c>1.12:00:00</c>).</summary>
    public static bool TryParseTtl(string? text, out TimeSpan ttl)
    {
        ttl = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        text = text.Trim();
        var unit = text[^1] switch
        {
            's' => TimeSpan.FromSeconds(1),
            'm' => TimeSpan.FromMinutes(1),
            'h' => TimeSpan.FromHours(1),
            'd' => TimeSpan.FromDays(1),
            _ => TimeSpan.Zero,
        };
        if (unit != TimeSpan.Zero)
        {
            if (!int.TryParse(text[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count > 100_000)
            {
                return false;
            }

            ttl = unit * count;
            return true;
        }

        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out ttl);
    }

    private static async Task<int> IssueAsync(string command, Dictionary<string, string> named, TokenOptions options, TextWriter output, TextWriter error)
    {
        foreach (var required in (string[])["--tenant", "--subject", "--role"])
        {
            if (!named.ContainsKey(required))
            {
                await error.WriteLineAsync($"{command}: {required} is required\n{Usage}");
                return 2;
            }
        }

        var tenant = named["--tenant"];
        if (!RuntimeTokenClaims.IsValidTenant(tenant))
        {
            await error.WriteLineAsync(
                $"{command}: --tenant must be 1-{RuntimeTokenClaims.MaxTenantLength} letters, digits, '.', '_' or '-', starting with a letter or digit");
            return 2;
        }

        var subject = named["--subject"];
        if (!RuntimeTokenClaims.IsValidSubject(subject))
        {
            await error.WriteLineAsync($"{command}: --subject must be 1-256 characters without control characters");
            return 2;
        }

        if (!Roles.TryParse(named["--role"], out var role))
        {
            await error.WriteLineAsync($"{command}: --role must be viewer, editor, admin or super-admin, not '{named["--role"]}'");
            return 2;
        }

        var ttl = TimeSpan.FromHours(1);
        if (named.TryGetValue("--ttl", out var ttlText) && !TryParseTtl(ttlText, out ttl))
        {
            await error.WriteLineAsync($"{command}: --ttl must be like 30m, 1h, 7d or 1.00:00:00, not '{ttlText}'");
            return 2;
        }

        if (ttl <= TimeSpan.Zero || ttl > options.MaxTtl)
        {
            await error.WriteLineAsync($"{command}: --ttl must be more than zero and at most {options.MaxTtl} ({TokenOptions.Section}:MaxTtl)");
            return 2;
        }

        if (RuntimeSigningKeys.KeyFiles(options.KeyDirectory!).Count == 0)
        {
            await error.WriteLineAsync(
                $"{command}: no signing key in {options.KeyDirectory}: run 'aperture-runtime token init-keys' with the same {TokenOptions.Section}:KeyDirectory first");
            return 2;
        }

        var keys = new RuntimeSigningKeys(Options.Create(options), TimeProvider.System, NullLogger<RuntimeSigningKeys>.Instance);
        var token = new RuntimeTokenIssuer(keys, Options.Create(options), TimeProvider.System).Issue(tenant, subject, role, ttl);
        await output.WriteLineAsync(token);
        return 0;
    }

    private static async Task<int> InitKeysAsync(string directory, bool rotate, TextWriter output)
    {
        var existing = RuntimeSigningKeys.KeyFiles(directory);
        if (existing.Count > 0 && !rotate)
        {
            await output.WriteLineAsync($"{directory} already holds {existing.Count} signing key(s), the active one {Path.GetFileName(existing[^1])}; --rotate adds a new active key");
            return 0;
        }

        var (path, keyId) = RuntimeSigningKeys.CreateKeyFile(directory, TimeProvider.System);
        await output.WriteLineAsync($"created signing key {keyId} as {path}; it is the active key"
            + (existing.Count > 0 ? $" (the {existing.Count} older key(s) still validate; a running runtime takes it up within {RuntimeSigningKeys.RescanInterval.TotalSeconds} s)" : string.Empty));
        return 0;
    }

    /// <summary>The server's configuration sources (environment, --config file, switches), bound and checked as on start.</summary>
    /// <returns>Null when fine, else the message naming the setting.</returns>
    private static string? ReadOptions(string[] args, out TokenOptions options)
    {
        options = new TokenOptions();
        IConfiguration configuration;
        try
        {
            var builder = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args, RuntimeApplication.Switches);
            if (builder.Build()["Aperture:ConfigFile"] is { Length: > 0 } file)
            {
                builder.AddJsonFile(Path.GetFullPath(file), optional: false, reloadOnChange: false)
                    .AddEnvironmentVariables()
                    .AddCommandLine(args, RuntimeApplication.Switches);
            }

            configuration = builder.Build();
        }
        catch (Exception e) when (e is FormatException or FileNotFoundException or InvalidDataException)
        {
            return e.Message;
        }

        try
        {
            options = configuration.GetSection(TokenOptions.Section).Get<TokenOptions>() ?? new TokenOptions();
        }
        catch (InvalidOperationException e)
        {
            return e.InnerException is null ? e.Message : $"{e.Message} {e.InnerException.Message}";
        }

        var result = new SectionAnnotationsValidator<TokenOptions>(TokenOptions.Section).Validate(Microsoft.Extensions.Options.Options.DefaultName, options);
        return result.Failed ? string.Join("; ", result.Failures) : null;
    }
}
