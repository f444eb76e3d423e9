using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Aperture.Storage;

namespace Aperture.Runtime.Jobs;

/// <summary>The jobs API's JSON: timestamps as ISO 8601 UTC, and query items with exactly the spec's fields (nulls included).</summary>
public static class JobsJson
{
    public static string Timestamp(long unixMs) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMs).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFF'Z'", CultureInfo.InvariantCulture);

    /// <summary>
    /// <c>{"items":[...],"count":N,"duration_s":x}</c>. Job items have the fields of jobs-api.md;
    /// subjob items name their id <c>subjob_id</c> and add <c>parent_job_id</c> and <c>sub_key</c>.
    /// </summary>
    public static byte[] QueryResponse(string entityType, IReadOnlyList<JobStateRow> rows, double durationS)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + rows.Count * 512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("items");
            foreach (var row in rows)
            {
                json.WriteStartObject();
                if (entityType == JobEvent.Subjob)
                {
                    json.WriteString("subjob_id", row.JobId);
                    json.WriteString("parent_job_id", row.ParentId);
                }
                else
                {
                    json.WriteString("job_id", row.JobId);
                }

                json.WriteString("app_id", row.AppId);
                json.WriteString("app_name", row.AppName);
                json.WriteString("app_version", row.AppVersion);
                json.WriteString("site_id", row.SiteId);
                OptionalString(json, "job_key", row.JobKey);
                if (entityType == JobEvent.Subjob)
                {
                    OptionalString(json, "sub_key", row.SubKey);
                }

                json.WriteString("status", row.Status);
                OptionalTime(json, "started_at", row.StartedAtMs);
                OptionalTime(json, "ended_at", row.EndedAtMs);
                OptionalNumber(json, "duration_s", row.DurationS);
                OptionalNumber(json, "cpu_user_s", row.CpuUserS);
                OptionalNumber(json, "cpu_system_s", row.CpuSystemS);
                OptionalNumber(json, "mem_max_mb", row.MemMaxMb);
                json.WritePropertyName("metadata");
                json.WriteRawValue(row.Metadata.Length > 0 ? row.Metadata : "{}", skipInputValidation: true);
                json.WriteString("inserted_at", Timestamp(row.InsertedAtMs));
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteNumber("count", rows.Count);
            json.WriteNumber("duration_s", Math.Round(durationS, 6));
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void OptionalString(Utf8JsonWriter json, string name, string value)
    {
        if (value.Length == 0)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }

    private static void OptionalTime(Utf8JsonWriter json, string name, long? unixMs)
    {
        if (unixMs is { } ms)
        {
            json.WriteString(name, Timestamp(ms));
        }
        else
        {
            json.WriteNull(name);
        }
    }

    private static void OptionalNumber(Utf8JsonWriter json, string name, double? value)
    {
        if (value is { } v)
        {
            json.WriteNumber(name, v);
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
