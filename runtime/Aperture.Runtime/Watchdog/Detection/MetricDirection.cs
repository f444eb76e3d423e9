namespace Aperture.Runtime.Watchdog.Detection;

/// <summary>Which deviation of a metric matters.</summary>
public enum MetricDirection
{
    /// <summary>Either way (a metric whose name says nothing, or one whose rise and fall both hurt).</summary>
    Both,

    /// <summary>Only a rise: utilisation, latency, errors, temperature. A drop of CPU is good news.</summary>
    Up,

    /// <summary>Only a fall: free or available resources, good throughput, success rates.</summary>
    Down,
}

/// <summary>The direction of a metric from its name.</summary>
public static class MetricDirections
{
    // A bad outcome wins over everything else: "errors_per_second" is an error metric before it is a rate.
    private static readonly string[] BadOutcome = ["error", "fail", "fault", "reject", "timeout", "timed_out", "retry", "retries", "drop", "discard", "5xx", "panic", "oom_kill", "oomkill", "throttl", "restart", "crash", "evict"];

    // Headroom and good work: the fall is what hurts.
    private static readonly string[] Headroom = ["available", "avail", "free", "idle", "success", "succeeded", "unused", "hit_ratio", "hit_rate", "hitrate", "apdex", "uptime", "throughput", "goodput", "requests_per_second", "rps", "qps", "processed", "completed", "healthy"];

    // Consumption, waiting and heat: the rise is what hurts.
    private static readonly string[] Consumption = ["percent", "pct", "util", "usage", "used", "cpu", "memory", "mem_", "load_avg", "loadavg", "load1", "load5", "load15", "latency", "duration", "seconds", "_ms", "millis", "delay", "lag", "wait", "lock", "syscall", "temperature", "temp", "power", "watt", "queue", "backlog", "pending", "saturation", "swap", "iowait", "steal", "pressure", "inflight", "in_flight", "open_fds"];

    /// <summary>
    /// The direction of <paramref name="metricName"/> by the words in it (case-insensitive), first match in this order:
    /// a bad outcome (error, failure, timeout, retry, drop, restart, throttling …) is <see cref="MetricDirection.Up"/>;
    /// headroom or good work (available, free, idle, success, hit ratio, throughput, requests per second, processed …) is
    /// <see cref="MetricDirection.Down"/>; consumption, waiting or heat (*_percent, utilisation, usage, used, cpu, memory,
    /// load, latency, duration, seconds, lock wait, syscall, temperature, power, queue, swap, pressure …) is
    /// <see cref="MetricDirection.Up"/>. Anything else, generic byte or packet rates among them, is
    /// <see cref="MetricDirection.Both"/>: a surge and a collapse of traffic both deserve a look.
    /// So <c>cpu_idle_percent</c> is Down (idle is headroom) and <c>memory_available_bytes</c> is Down, while
    /// <c>http_request_errors_per_second</c> is Up.
    /// </summary>
    public static MetricDirection Of(string metricName)
    {
        ArgumentNullException.ThrowIfNull(metricName);
        var name = metricName.ToLowerInvariant();
        if (ContainsAny(name, BadOutcome))
        {
            return MetricDirection.Up;
        }

        if (ContainsAny(name, Headroom))
        {
            return MetricDirection.Down;
        }

        return ContainsAny(name, Consumption) ? MetricDirection.Up : MetricDirection.Both;
    }

    private static bool ContainsAny(string name, string[] words)
    {
        foreach (var word in words)
        {
            if (name.Contains(word, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
