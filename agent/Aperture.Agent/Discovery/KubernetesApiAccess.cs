using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Aperture.Agent.Configuration;

namespace Aperture.Agent.Discovery;

/// <summary>
/// The agent's way to the Kubernetes API: the address (in-cluster from KUBERNETES_SERVICE_HOST/PORT, or
/// <c>discovery.kubernetes.api_server</c>), the service-account token (re-read periodically, as the kubelet
/// rotates it; never logged) and the cluster CA. A plain HttpClient: the agent keeps its memory small, and
/// list and watch of pods is all it needs.
/// </summary>
public sealed class KubernetesApiAccess : IDisposable
{
    private const int MaxTokenBytes = 64 * 1024;
    private readonly HttpClient _http;
    private readonly string? _tokenFile;
    private readonly TimeSpan _tokenRefresh;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private string? _token;
    private DateTimeOffset _tokenReadAt = DateTimeOffset.MinValue;

    private KubernetesApiAccess(Uri server, HttpClient http, string? tokenFile, TimeSpan tokenRefresh, TimeProvider time)
    {
        Server = server;
        _http = http;
        _tokenFile = tokenFile;
        _tokenRefresh = tokenRefresh;
        _time = time;
    }

    public Uri Server { get; }

    /// <summary>The API server's address, or null where the agent does not run in Kubernetes and none is configured.</summary>
    public static Uri? ServerAddress(KubernetesDiscoveryConfig config, Func<string, string?> environment)
    {
        if (config.ApiServer.Length > 0)
        {
            return new Uri(config.ApiServer.TrimEnd('/') + "/");
        }

        if (environment("KUBERNETES_SERVICE_HOST") is not { Length: > 0 } host)
        {
            return null;
        }

        var port = environment("KUBERNETES_SERVICE_PORT") is { Length: > 0 } p ? p : "443";
        return new Uri($"https://{(host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host)}:{port}/");
    }

    /// <exception cref="InvalidOperationException">The CA file exists but holds no certificate.</exception>
    public static KubernetesApiAccess? Create(KubernetesDiscoveryConfig config, Func<string, string?> environment, TimeProvider time)
    {
        if (ServerAddress(config, environment) is not { } server)
        {
            return null;
        }

        var tokenFile = config.TokenFile.Length > 0 ? config.TokenFile : Path.Combine(KubernetesDiscoveryConfig.ServiceAccountDirectory, "token");
        var caFile = config.CaFile.Length > 0 ? config.CaFile : Path.Combine(KubernetesDiscoveryConfig.ServiceAccountDirectory, "ca.crt");
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(config.RequestTimeoutSeconds),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            MaxResponseHeadersLength = 64,
        };
        if (server.Scheme == Uri.UriSchemeHttps && File.Exists(caFile))
        {
            var authorities = new X509Certificate2Collection();
            authorities.ImportFromPemFile(caFile);
            if (authorities.Count == 0)
            {
                throw new InvalidOperationException($"{caFile} holds no PEM certificate");
            }

            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                certificate is not null && TrustedBy(authorities, certificate, errors);
        }

        var http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan, MaxResponseContentBufferSize = 64 * 1024 * 1024 };
        return new KubernetesApiAccess(server, http, tokenFile, TimeSpan.FromSeconds(config.TokenRefreshSeconds), time);
    }

    // The cluster's own CA is the only trust anchor; the host's store is not consulted.
    private static bool TrustedBy(X509Certificate2Collection authorities, X509Certificate certificate, SslPolicyErrors errors)
    {
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0 || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0
            || certificate is not X509Certificate2 presented)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(presented);
    }

    /// <summary>A GET with the current token; the caller owns the response (and its timeout, through the token).</summary>
    public async Task<HttpResponseMessage> GetAsync(string pathAndQuery, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(Server, pathAndQuery.TrimStart('/')));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (Token() is { } token)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
    }

    private string? Token()
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (_tokenFile is null || now - _tokenReadAt < _tokenRefresh)
            {
                return _token;
            }

            _tokenReadAt = now;
            try
            {
                var info = new FileInfo(_tokenFile);
                if (info.Exists && info.Length <= MaxTokenBytes)
                {
                    _token = File.ReadAllText(_tokenFile).Trim();
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // As for a missing file: the last token read stays in use until the file can be read again.
            }

            return _token is { Length: > 0 } ? _token : null;
        }
    }

    public void Dispose() => _http.Dispose();
}
