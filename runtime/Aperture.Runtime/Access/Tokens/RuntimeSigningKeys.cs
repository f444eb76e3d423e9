using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace Aperture.Runtime.Access.Tokens;

/// <summary>One of the runtime's ECDSA P-256 signing keys and its <c>kid</c> (the key's RFC 7638 thumbprint).</summary>
public sealed record RuntimeSigningKey(string KeyId, ECDsaSecurityKey SecurityKey, string? FileName);

/// <summary>
/// The central runtime's own signing keys (ES256): the active one signs, every one validates, and
/// <see cref="Jwks"/> publishes their public halves for <c>GET /.well-known/jwks.json</c>.
/// </summary>
/// <remarks>
/// With <see cref="TokenOptions.KeyDirectory"/> set, the keys are the <c>*.pem</c> files there (an ECDSA
/// P-256 private key each, PKCS#8 or SEC1); the file whose name sorts last is active. An empty folder gets
/// its first key when the keys are first used. The folder is scanned again at most every
/// <see cref="RescanInterval"/>, so a key added by <c>aperture-runtime token init-keys --rotate</c> becomes
/// active in a running runtime without a restart; a folder that no longer reads keeps the keys it had.
/// Without a folder, one key is generated in memory: the tokens it signs stop validating with the process.
/// Key material is never logged, only kids and file names. Loading is lazy, so a Site's runtime that
/// validates by the central JWKS never makes a key; call <see cref="Reload"/> on start to fail early.
/// </remarks>
public sealed partial class RuntimeSigningKeys
{
    /// <summary>How often the key folder is looked at again for added or removed keys.</summary>
    public static readonly TimeSpan RescanInterval = TimeSpan.FromSeconds(30);

    /// <summary>The curve of every key (P-256, as ES256 requires).</summary>
    private const string P256Oid = "1.2.840.10045.3.1.7";

    private readonly TokenOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<RuntimeSigningKeys> _logger;
    private readonly Lock _gate = new();
    private volatile KeySet? _current;
    private long _nextScanTicks;

    private sealed record KeySet(IReadOnlyList<RuntimeSigningKey> Newest, IReadOnlyList<SecurityKey> SecurityKeys, string Listing, string Jwks);

    public RuntimeSigningKeys(IOptions<TokenOptions> options, TimeProvider time, ILogger<RuntimeSigningKeys> logger)
    {
        _options = options.Value;
        _time = time;
        _logger = logger;
    }

    /// <summary>False when the keys live in memory only (no <see cref="TokenOptions.KeyDirectory"/>).</summary>
    public bool Persistent => !string.IsNullOrWhiteSpace(_options.KeyDirectory);

    /// <summary>The key that signs new tokens.</summary>
    public RuntimeSigningKey Active => Current().Newest[0];

    /// <summary>Every key that validates, the active one first.</summary>
    public IReadOnlyList<RuntimeSigningKey> Keys => Current().Newest;

    /// <summary>The keys as <see cref="TokenValidationParameters.IssuerSigningKeys"/> takes them.</summary>
    public IReadOnlyList<SecurityKey> ValidationKeys => Current().SecurityKeys;

    /// <summary>
    /// The public keys as a JSON Web Key Set (<c>{"keys":[{"kty":"EC","crv":"P-256","x","y","kid","use":"sig","alg":"ES256"}]}</c>),
    /// the body of <c>GET /.well-known/jwks.json</c>.
    /// </summary>
    public string Jwks() => Current().Jwks;

    /// <summary>Reads the key folder now (on start, so that a bad key file stops it; or after a rotation).</summary>
    /// <exception cref="InvalidDataException">A key file is not an ECDSA P-256 private key (the message names the file, never its content).</exception>
    public void Reload()
    {
        lock (_gate)
        {
            _current = Load(_current);
            ScheduleNextScan();
        }
    }

    private KeySet Current()
    {
        var current = _current;
        if (current is not null && (!Persistent || _time.GetUtcNow().UtcTicks < Volatile.Read(ref _nextScanTicks)))
        {
            return current;
        }

        lock (_gate)
        {
            current = _current;
            if (current is not null && (!Persistent || _time.GetUtcNow().UtcTicks < Volatile.Read(ref _nextScanTicks)))
            {
                return current;
            }

            if (current is null)
            {
                current = Load(null);
            }
            else
            {
                try
                {
                    current = Load(current);
                }
                catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
                {
                    LogRescanFailed(_logger, _options.KeyDirectory!, current.Newest.Count, e.Message);
                }
            }

            _current = current;
            ScheduleNextScan();
            return current;
        }
    }

    private void ScheduleNextScan() => Volatile.Write(ref _nextScanTicks, (_time.GetUtcNow() + RescanInterval).UtcTicks);

    private KeySet Load(KeySet? previous)
    {
        if (!Persistent)
        {
            if (previous is not null)
            {
                return previous;
            }

            var generated = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var key = ToSigningKey(generated, fileName: null);
            LogEphemeralKey(_logger, key.KeyId);
            return Build([key], listing: string.Empty);
        }

        var directory = _options.KeyDirectory!;
        var listing = Listing(directory);
        if (previous is not null && previous.Listing == listing)
        {
            return previous;
        }

        if (KeyFiles(directory).Count == 0)
        {
            var (path, keyId) = CreateKeyFile(directory, _time);
            var file = Path.GetFileName(path);
            LogCreatedKey(_logger, keyId, file, directory);
            listing = Listing(directory);
        }

        var keys = new List<RuntimeSigningKey>();
        foreach (var file in KeyFiles(directory).Reverse())
        {
            var key = ReadKeyFile(file);
            if (keys.All(k => k.KeyId != key.KeyId))
            {
                keys.Add(key);
            }
        }

        if (keys.Count == 0)
        {
            throw new InvalidDataException($"{directory} holds no signing key (*.pem)");
        }

        var set = Build(keys, listing);
        if (previous is null || previous.Newest[0].KeyId != keys[0].KeyId || previous.Newest.Count != keys.Count)
        {
            LogLoadedKeys(_logger, keys.Count, directory, keys[0].KeyId, keys[0].FileName ?? string.Empty);
        }

        return set;
    }

    /// <summary>The key files of <paramref name="directory"/> in name order, the active one last; none when it does not exist.</summary>
    public static IReadOnlyList<string> KeyFiles(string directory) =>
        !Directory.Exists(directory)
            ? []
            : [.. Directory.EnumerateFiles(directory, "*.pem", SearchOption.TopDirectoryOnly)
                .Where(path => !Path.GetFileName(path).StartsWith('.'))
                .Order(StringComparer.Ordinal)];

    /// <summary>
    /// Writes a new P-256 key into <paramref name="directory"/> (made, owner-only, when missing) under a name
    /// from the UTC time that sorts after every key there, so it becomes the active key. The file is written
    /// owner-only and appears whole (written aside, then renamed).
    /// </summary>
    /// <returns>The new file and its key's kid.</returns>
    public static (string Path, string KeyId) CreateKeyFile(string directory, TimeProvider time)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var existing = KeyFiles(directory).Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
        var last = existing.Order(StringComparer.Ordinal).LastOrDefault();
        var stamp = time.GetUtcNow().UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'", CultureInfo.InvariantCulture);
        var name = Enumerable.Range(0, 100).Select(n => $"{stamp}-{n.ToString("D2", CultureInfo.InvariantCulture)}.pem")
            .FirstOrDefault(candidate => !existing.Contains(candidate) && (last is null || string.CompareOrdinal(candidate, last) > 0))
            ?? throw new InvalidOperationException($"A new key file in {directory} would not sort after {last}; rename the key files so that the newest sorts last.");

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var path = Path.Combine(directory, name);
        var temporary = Path.Combine(directory, $".{name}.{Guid.NewGuid():N}.tmp");
        var fileOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var writer = new StreamWriter(temporary, Encoding.ASCII, fileOptions))
        {
            writer.Write(key.ExportPkcs8PrivateKeyPem());
        }

        File.Move(temporary, path, overwrite: false);
        return (path, KeyIdOf(key));
    }

    /// <summary>The RFC 7638 thumbprint of a P-256 public key, base64url: the <c>kid</c> it is published under.</summary>
    public static string KeyIdOf(ECDsa key)
    {
        var parameters = key.ExportParameters(includePrivateParameters: false);
        var canonical = $$"""{"crv":"P-256","kty":"EC","x":"{{Base64UrlEncoder.Encode(parameters.Q.X)}}","y":"{{Base64UrlEncoder.Encode(parameters.Q.Y)}}"}""";
        return Base64UrlEncoder.Encode(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }

    private static RuntimeSigningKey ReadKeyFile(string path)
    {
        var name = Path.GetFileName(path);
        var pem = File.ReadAllText(path);
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
            var curve = key.ExportParameters(includePrivateParameters: false).Curve;
            if (!curve.IsNamed || (curve.Oid.Value != P256Oid && curve.Oid.FriendlyName != ECCurve.NamedCurves.nistP256.Oid.FriendlyName))
            {
                throw new InvalidDataException($"{path}: the key is not on curve P-256 (ES256 needs P-256)");
            }

            // A public key alone cannot sign.
            _ = key.ExportParameters(includePrivateParameters: true);
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new InvalidDataException($"{path}: not an ECDSA P-256 private key in PEM (PKCS#8 'PRIVATE KEY' or 'EC PRIVATE KEY')");
        }
        catch (InvalidDataException)
        {
            key.Dispose();
            throw;
        }

        return ToSigningKey(key, name);
    }

    private static RuntimeSigningKey ToSigningKey(ECDsa key, string? fileName)
    {
        var keyId = KeyIdOf(key);
        return new RuntimeSigningKey(keyId, new ECDsaSecurityKey(key) { KeyId = keyId }, fileName);
    }

    private static KeySet Build(IReadOnlyList<RuntimeSigningKey> newest, string listing)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("keys");
            foreach (var key in newest)
            {
                var parameters = key.SecurityKey.ECDsa.ExportParameters(includePrivateParameters: false);
                json.WriteStartObject();
                json.WriteString("kty", "EC");
                json.WriteString("crv", "P-256");
                json.WriteString("x", Base64UrlEncoder.Encode(parameters.Q.X));
                json.WriteString("y", Base64UrlEncoder.Encode(parameters.Q.Y));
                json.WriteString("kid", key.KeyId);
                json.WriteString("use", "sig");
                json.WriteString("alg", SecurityAlgorithms.EcdsaSha256);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return new KeySet(newest, [.. newest.Select(k => k.SecurityKey)], listing, Encoding.UTF8.GetString(buffer.ToArray()));
    }

    /// <summary>What the key folder holds (names, sizes, write times): a rescan reads the keys only when it changed.</summary>
    private static string Listing(string directory) =>
        string.Join('\n', KeyFiles(directory).Select(path =>
        {
            var info = new FileInfo(path);
            return string.Create(CultureInfo.InvariantCulture, $"{info.Name}\t{info.Length}\t{info.LastWriteTimeUtc.Ticks}");
        }));

    [LoggerMessage(EventId = 700, Level = LogLevel.Information, Message = "Token signing keys: {Count} in {Directory}, the active one {KeyId} ({File})")]
    private static partial void LogLoadedKeys(ILogger logger, int count, string directory, string keyId, string file);

    [LoggerMessage(EventId = 701, Level = LogLevel.Information, Message = "Created token signing key {KeyId} as {File} in {Directory}")]
    private static partial void LogCreatedKey(ILogger logger, string keyId, string file, string directory);

    [LoggerMessage(EventId = 702, Level = LogLevel.Warning,
        Message = "No Aperture:Tokens:KeyDirectory: tokens are signed with key {KeyId}, made in memory, and stop validating when this process ends")]
    private static partial void LogEphemeralKey(ILogger logger, string keyId);

    [LoggerMessage(EventId = 703, Level = LogLevel.Warning, Message = "Token signing keys in {Directory} not reloaded, the {Count} loaded before stay: {Reason}")]
    private static partial void LogRescanFailed(ILogger logger, string directory, int count, string reason);
}
