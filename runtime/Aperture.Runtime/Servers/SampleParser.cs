using System.Globalization;
using System.Text.Json;
using Aperture.Runtime.Platform;

namespace Aperture.Runtime.Servers;

/// <summary>
/// Reads an ingest body in either form of servers-api.md (<c>{"sample":…,"agent":…}</c> or the
/// bare sample), answering anything malformed as 400 with the field at fault.
/// </summary>
public static class SampleParser
{
    public const int MaxDisks = 128;
    public const int MaxGpus = 64;
    public const int MaxLabels = 64;
    public const int MaxText = 256;

    /// <summary>How far ahead of the receiver's clock a sample may claim to be (clock skew).</summary>
    public static readonly TimeSpan MaxFutureSkew = TimeSpan.FromMinutes(10);

    public static (ServerSample Sample, AgentInfo? Agent) Parse(ReadOnlyMemory<byte> body, DateTimeOffset now)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new InvalidRequestException("body", $"the body is not valid JSON: {e.Message}");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidRequestException("body", "the body must be a JSON object: a sample, or {\"sample\":…,\"agent\":…}");
            }

            var wrapped = root.TryGetProperty("sample", out var sampleElement);
            if (wrapped && sampleElement.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidRequestException("sample", "sample must be an object");
            }

            AgentInfo? agent = null;
            if (root.TryGetProperty("agent", out var agentElement) && agentElement.ValueKind != JsonValueKind.Null)
            {
                agent = ParseAgent(agentElement);
            }

            return (ParseSample(wrapped ? sampleElement : root, wrapped ? "sample." : string.Empty, now), agent);
        }
    }

    private static ServerSample ParseSample(JsonElement s, string prefix, DateTimeOffset now)
    {
        var collectedAt = DateTimeOffset.FromUnixTimeMilliseconds(now.ToUnixTimeMilliseconds());
        if (Text(s, "collected_at", prefix) is { } text)
        {
            if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out collectedAt))
            {
                throw new InvalidRequestException(prefix + "collected_at", $"collected_at must be an ISO 8601 time, not '{text}'");
            }

            // Storage keeps milliseconds; the answer and the stored row must agree.
            collectedAt = DateTimeOffset.FromUnixTimeMilliseconds(collectedAt.ToUnixTimeMilliseconds());
            if (collectedAt > now + MaxFutureSkew)
            {
                throw new InvalidRequestException(prefix + "collected_at", "collected_at is in the future; check the agent host's clock");
            }
        }

        var disks = new List<DiskSample>();
        foreach (var (disk, path) in Items(s, "disks", prefix, MaxDisks))
        {
            var device = Text(disk, "device", path) ?? throw new InvalidRequestException(path + "device", "each disk needs a device name");
            disks.Add(new DiskSample(
                device,
                Counter(disk, "read_bytes_total", path),
                Counter(disk, "write_bytes_total", path),
                Counter(disk, "read_count_total", path),
                Counter(disk, "write_count_total", path),
                Counter(disk, "busy_time_ms_total", path)));
        }

        if (disks.Select(d => d.Device).Distinct(StringComparer.Ordinal).Count() != disks.Count)
        {
            throw new InvalidRequestException(prefix + "disks", "disk device names must be unique");
        }

        var gpus = new List<GpuSample>();
        foreach (var (gpu, path) in Items(s, "gpus", prefix, MaxGpus))
        {
            var index = Number(gpu, "gpu_index", path, 0, ushort.MaxValue) ?? throw new InvalidRequestException(path + "gpu_index", "each GPU needs a gpu_index");
            if (index != Math.Floor(index))
            {
                throw new InvalidRequestException(path + "gpu_index", "gpu_index must be an integer");
            }

            gpus.Add(new GpuSample(
                (ushort)index,
                Text(gpu, "name", path) ?? string.Empty,
                Text(gpu, "uuid", path) ?? string.Empty,
                Percent(gpu, "utilization_gpu_percent", path),
                Percent(gpu, "utilization_memory_percent", path),
                Counter(gpu, "memory_total_bytes", path),
                Counter(gpu, "memory_used_bytes", path),
                Percent(gpu, "memory_percent", path),
                Number(gpu, "temperature_c", path, -100, 1000),
                Number(gpu, "power_w", path, 0, 1e6),
                Number(gpu, "power_limit_w", path, 0, 1e6)));
        }

        return new ServerSample
        {
            CollectedAt = collectedAt,
            CpuUsagePercent = Percent(s, "cpu_usage_percent", prefix),
            CpuUserPercent = Percent(s, "cpu_user_percent", prefix),
            CpuSystemPercent = Percent(s, "cpu_system_percent", prefix),
            CpuIowaitPercent = Percent(s, "cpu_iowait_percent", prefix),
            CpuLoad1 = Number(s, "cpu_load_1", prefix, 0, 1e7),
            CpuLoad5 = Number(s, "cpu_load_5", prefix, 0, 1e7),
            CpuLoad15 = Number(s, "cpu_load_15", prefix, 0, 1e7),
            CpuFrequencyMhz = Number(s, "cpu_frequency_mhz", prefix, 0, 1e6),
            CpuCountLogical = Count(s, "cpu_count_logical", prefix),
            CpuCountPhysical = Count(s, "cpu_count_physical", prefix),
            MemoryTotalBytes = Counter(s, "memory_total_bytes", prefix),
            MemoryUsedBytes = Counter(s, "memory_used_bytes", prefix),
            MemoryAvailableBytes = Counter(s, "memory_available_bytes", prefix),
            MemoryPercent = Percent(s, "memory_percent", prefix),
            SwapTotalBytes = Counter(s, "swap_total_bytes", prefix),
            SwapUsedBytes = Counter(s, "swap_used_bytes", prefix),
            SwapPercent = Percent(s, "swap_percent", prefix),
            NetworkRxBytesTotal = Counter(s, "network_rx_bytes_total", prefix),
            NetworkTxBytesTotal = Counter(s, "network_tx_bytes_total", prefix),
            ProcessCount = Count(s, "process_count", prefix),
            Disks = disks,
            Gpus = gpus,
        };
    }

    private static AgentInfo ParseAgent(JsonElement a)
    {
        if (a.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidRequestException("agent", "agent must be an object");
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (a.TryGetProperty("labels", out var l) && l.ValueKind != JsonValueKind.Null)
        {
            labels = ParseLabels(l, "agent.labels");
        }

        return new AgentInfo(Text(a, "version", "agent."), Text(a, "hostname", "agent."), Text(a, "platform", "agent."), labels);
    }

    /// <summary>A flat string-to-string map with bounded size (agent and registry labels).</summary>
    public static Dictionary<string, string> ParseLabels(JsonElement labels, string field)
    {
        if (labels.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidRequestException(field, $"{field} must be an object of strings");
        }

        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var label in labels.EnumerateObject())
        {
            if (label.Value.ValueKind != JsonValueKind.String || label.Name.Length is 0 or > MaxText || label.Value.GetString()!.Length > MaxText)
            {
                throw new InvalidRequestException($"{field}.{label.Name}", $"labels are non-empty names with string values of at most {MaxText} characters");
            }

            result[label.Name] = label.Value.GetString()!;
            if (result.Count > MaxLabels)
            {
                throw new InvalidRequestException(field, $"at most {MaxLabels} labels");
            }
        }

        return result;
    }

    private static IEnumerable<(JsonElement Item, string Path)> Items(JsonElement parent, string name, string prefix, int max)
    {
        if (!parent.TryGetProperty(name, out var array) || array.ValueKind == JsonValueKind.Null)
        {
            yield break;
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidRequestException(prefix + name, $"{name} must be an array");
        }

        if (array.GetArrayLength() > max)
        {
            throw new InvalidRequestException(prefix + name, $"at most {max} {name} per sample");
        }

        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            var path = $"{prefix}{name}[{i++}].";
            if (item.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidRequestException(path.TrimEnd('.'), $"each of {name} must be an object");
            }

            yield return (item, path);
        }
    }

    private static string? Text(JsonElement parent, string name, string prefix)
    {
        if (!parent.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            throw new InvalidRequestException(prefix + name, $"{name} must be a string");
        }

        var text = value.GetString()!;
        return text.Length <= MaxText ? text : throw new InvalidRequestException(prefix + name, $"{name} is longer than {MaxText} characters");
    }

    private static double? Number(JsonElement parent, string name, string prefix, double min, double max)
    {
        if (!parent.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var number) || !double.IsFinite(number))
        {
            throw new InvalidRequestException(prefix + name, $"{name} must be a number");
        }

        return number >= min && number <= max
            ? number
            : throw new InvalidRequestException(prefix + name, $"{name} must be from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}, not {number.ToString(CultureInfo.InvariantCulture)}");
    }

    private static double? Percent(JsonElement parent, string name, string prefix) => Number(parent, name, prefix, 0, 100);

    private static ulong? Counter(JsonElement parent, string name, string prefix)
    {
        if (!parent.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.Number && value.TryGetUInt64(out var counter))
        {
            return counter;
        }

        // Some collectors print whole counters as floats (123.0).
        if (value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var number) && number >= 0 && number < 1.8e19 && number == Math.Floor(number))
        {
            return (ulong)number;
        }

        throw new InvalidRequestException(prefix + name, $"{name} must be a non-negative integer");
    }

    private static uint? Count(JsonElement parent, string name, string prefix) =>
        Counter(parent, name, prefix) is { } value
            ? value <= uint.MaxValue ? (uint)value : throw new InvalidRequestException(prefix + name, $"{name} is out of range")
            : null;
}
