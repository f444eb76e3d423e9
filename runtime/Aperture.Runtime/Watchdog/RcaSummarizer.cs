using System.ClientModel;
using System.ComponentModel.DataAnnotations;
using System.Text;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using OpenAI;

namespace Aperture.Runtime.Watchdog;

/// <summary>The OpenAI-compatible endpoint that summarises RCAs (configuration section <c>Aperture:Watchdog:Llm</c>); unset: none.</summary>
public sealed class LlmOptions
{
    public const string Section = "Aperture:Watchdog:Llm";

    /// <summary>The endpoint's base address (https://api.openai.com/v1, a vLLM or Ollama server's /v1).</summary>
    [Url]
    public string? Endpoint { get; set; }

    public string Model { get; set; } = "gpt-4o-mini";

    /// <summary>A file holding the endpoint's API key (a mounted Secret), so the key is never in configuration or logs.</summary>
    public string? ApiKeyFile { get; set; }

    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Summarises an anomaly's RCA in a few sentences through the configured chat endpoint. Its state is what
/// <c>GET /api/v1/status</c> shows as <c>llm</c>: <c>not_configured</c>, <c>configured</c> (no call yet),
/// <c>connected</c> (the last call answered) or <c>error</c>.
/// </summary>
public sealed partial class RcaSummarizer : IDisposable
{
    private readonly IChatClient? _client;
    private readonly LlmOptions _options;
    private readonly ILogger<RcaSummarizer> _logger;
    private volatile string _state;

    public RcaSummarizer(IOptions<LlmOptions> options, ILogger<RcaSummarizer> logger)
    {
        _options = options.Value;
        _logger = logger;
        if (_options.Endpoint is not { } endpoint)
        {
            _state = "not_configured";
            return;
        }

        var key = _options.ApiKeyFile is { } file ? File.ReadAllText(file).Trim() : "unused";
        var client = new OpenAIClient(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(endpoint), NetworkTimeout = _options.Timeout });
        _client = client.GetChatClient(_options.Model).AsIChatClient();
        _state = "configured";
    }

    public string State => _state;

    public bool IsConfigured => _client is not null;

    /// <returns>The summary, or null when no endpoint is configured or it failed (the RCA stands without one).</returns>
    public async Task<string?> SummarizeAsync(AnomalyRecord anomaly, IReadOnlyList<CauseJson> causes, IReadOnlyList<SimilarIncidentJson> similar, CancellationToken cancellationToken)
    {
        if (_client is null)
        {
            return null;
        }

        var prompt = new StringBuilder()
            .AppendLine("You are an SRE assistant. Summarise this incident for the on-call engineer in at most four sentences: what moved, the likely root cause, and what to check first.")
            .AppendLine($"Anomaly: service {anomaly.ServiceId}, metric {anomaly.MetricName}, value {anomaly.Value:G4} against an expected {anomaly.Expected:G4} (z = {anomaly.ZScore:F1}), at {DateTimeOffset.FromUnixTimeMilliseconds(anomaly.DetectedAtMs):O}.");
        foreach (var cause in causes.Take(5))
        {
            prompt.AppendLine($"Candidate cause: {cause.ServiceId} {cause.MetricName}, score {cause.Score:F2}, lag {cause.LagMinutes} min; {string.Join("; ", cause.Evidence)}");
        }

        foreach (var incident in similar.Take(3))
        {
            prompt.AppendLine($"A similar past incident ({incident.Score:F2}) on {incident.ServiceId} was resolved by: {incident.Resolution}");
        }

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.Timeout);
            var response = await _client.GetResponseAsync(prompt.ToString(), cancellationToken: timeout.Token);
            _state = "connected";
            return response.Text.Trim() is { Length: > 0 } text ? text : null;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _state = "error";
            LogSummaryFailed(e.GetType().Name, e.Message);
            return null;
        }
    }

    public void Dispose() => _client?.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "The RCA summary failed: {Kind}: {Reason}")]
    private partial void LogSummaryFailed(string kind, string reason);
}
