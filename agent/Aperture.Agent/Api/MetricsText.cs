using Aperture.Agent.Diagnostics;
using Aperture.Agent.Services;
using Aperture.Contracts;

namespace Aperture.Agent.Api;

/// <summary>The agent's /metrics (both ports serve the same families).</summary>
public static class MetricsText
{
    public static string Render(AgentRuntime agent)
    {
        var m = agent.Metrics;
        var text = new PrometheusText()
            .Metric("aperture_agent_info", "gauge", "The agent's version", 1, ("version", AgentRuntime.Version), ("agent_id", agent.AgentId))
            .Metric("aperture_agent_uptime_seconds", "gauge", "Seconds since the agent started", (agent.Time.GetUtcNow() - agent.StartedAt).TotalSeconds)
            .Metric("aperture_agent_host_samples_total", "counter", "Host samples collected", m.HostSamples)
            .Metric("aperture_agent_host_sample_errors_total", "counter", "Host samples that failed to read /proc or /sys", m.HostSampleErrors)
            .Metric("aperture_agent_profile_batches_total", "counter", "Profile batches made for the aggregator", m.ProfileBatches)
            .Metric("aperture_agent_profile_samples_total", "counter", "CPU samples in those batches", m.ProfileSamples)
            .Metric("aperture_agent_sidecar_events_total", "counter", "Job events received by the sidecar", m.SidecarEvents)
            .Metric("aperture_agent_sidecar_rejected_requests_total", "counter", "Sidecar requests refused as malformed", m.SidecarRejected)
            .Metric("aperture_agent_api_rate_limited_total", "counter", "API requests answered 429", m.RateLimited)
            .Metric("aperture_agent_api_unauthorized_total", "counter", "API requests answered 401", m.Unauthorized)
            .Metric("aperture_agent_config_reloads_total", "counter", "Configuration reloads that took effect", m.Reloads)
            .Metric("aperture_agent_config_reload_errors_total", "counter", "Configuration reloads refused (the old configuration stayed)", m.ReloadErrors);
        ChannelFamily(text, agent, "aperture_agent_delivery_forwarded_total", "counter", "Payloads sent upstream at once", c => c.Forwarded);
        ChannelFamily(text, agent, "aperture_agent_delivery_spooled_total", "counter", "Payloads that went to the spool because upstream was down or behind", c => c.SpooledTotal);
        ChannelFamily(text, agent, "aperture_agent_delivery_replayed_total", "counter", "Payloads sent upstream from the spool", c => c.Replayed);
        ChannelFamily(text, agent, "aperture_agent_delivery_rejected_total", "counter", "Payloads upstream refused as malformed", c => c.Rejected);
        ChannelFamily(text, agent, "aperture_agent_spool_dropped_total", "counter", "Payloads dropped from the full spool, oldest first", c => c.Dropped);
        ChannelFamily(text, agent, "aperture_agent_spool_entries", "gauge", "Payloads waiting in the spool", c => c.Waiting);
        ChannelFamily(text, agent, "aperture_agent_export_up", "gauge", "1 when the last attempt reached upstream, 0 when it failed", c => c.Connected == false ? 0 : 1);
        text.Metric("aperture_agent_spool_bytes", "gauge", "Bytes in the spool", agent.Spool.Bytes)
            .Metric("aperture_agent_spool_max_bytes", "gauge", "The spool's size limit", agent.Spool.MaxBytes);
        var readiness = agent.Readiness();
        text.Family("aperture_agent_readiness_check_up", "gauge", "1 when a readiness check passes");
        foreach (var (name, value) in readiness.Checks)
        {
            text.Sample("aperture_agent_readiness_check_up", value == ReadinessReport.Ok ? 1 : 0, ("check", name));
        }

        text.Metric("aperture_agent_process_cpu_seconds_total", "counter", "CPU time the agent used", AgentMetrics.ProcessCpuSeconds())
            .Metric("aperture_agent_process_resident_memory_bytes", "gauge", "The agent's resident memory", AgentMetrics.ProcessResidentBytes())
            .Metric("aperture_agent_gc_heap_bytes", "gauge", "Bytes in the managed heap", GC.GetTotalMemory(forceFullCollection: false))
            .Metric("aperture_agent_gc_allocated_bytes_total", "counter", "Bytes allocated on the managed heap", GC.GetTotalAllocatedBytes());
        return text.ToString();
    }

    private static void ChannelFamily(PrometheusText text, AgentRuntime agent, string name, string type, string help, Func<Delivery.DeliveryChannel, double> value)
    {
        text.Family(name, type, help);
        foreach (var channel in agent.Channels)
        {
            text.Sample(name, value(channel), ("channel", channel.Name));
        }
    }
}
