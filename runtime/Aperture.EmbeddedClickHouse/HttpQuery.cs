using System.Globalization;

namespace Aperture.EmbeddedClickHouse;

/// <summary>
/// What a request to ClickHouse's HTTP interface says in its URL: the query, the database, the
/// output format, server-side parameters (<c>param_name</c>) and settings (everything else that
/// is not a parameter of the interface itself).
/// </summary>
public sealed record HttpQuery
{
    /// <summary>URL parameters that belong to the HTTP interface rather than to the query's settings.</summary>
    private static readonly HashSet<string> InterfaceParameters = new(StringComparer.Ordinal)
    {
        "query", "database", "default_format", "user", "password", "quota_key", "query_id",
        "session_id", "session_timeout", "session_check", "compress", "decompress", "buffer_size",
        "wait_end_of_query", "stacktrace", "role", "client_protocol_version", "enable_http_compression",
        "http_zlib_compression_level", "default_database",
    };

    public string? UrlQuery { get; init; }

    public string? Database { get; init; }

    public string DefaultFormat { get; init; } = "TabSeparated";

    public string? QueryId { get; init; }

    public string? SessionId { get; init; }

    public bool CompressResponse { get; init; }

    public IReadOnlyList<KeyValuePair<string, string>> Parameters { get; init; } = [];

    /// <summary>Settings as the engine's connection arguments, <c>--name=value</c>.</summary>
    public IReadOnlyList<string> Settings { get; init; } = [];

    public static HttpQuery From(IQueryCollection url)
    {
        var parameters = new List<KeyValuePair<string, string>>();
        var settings = new List<string>();
        foreach (var (key, values) in url)
        {
            var value = values.ToString();
            if (key.StartsWith("param_", StringComparison.Ordinal))
            {
                parameters.Add(new(key["param_".Length..], value));
            }
            else if (!InterfaceParameters.Contains(key))
            {
                settings.Add(ToSettingArgument(key, value));
            }
        }

        return new HttpQuery
        {
            UrlQuery = NullIfEmpty(url["query"]),
            Database = NullIfEmpty(url["database"]) ?? NullIfEmpty(url["default_database"]),
            DefaultFormat = NullIfEmpty(url["default_format"]) ?? "TabSeparated",
            QueryId = NullIfEmpty(url["query_id"]),
            SessionId = NullIfEmpty(url["session_id"]),
            CompressResponse = IsTrue(url["enable_http_compression"]),
            Parameters = parameters,
            Settings = settings,
        };
    }

    /// <summary>
    /// A setting name may only hold identifier characters, so that a URL cannot smuggle another
    /// engine argument (such as <c>--path</c>) through a crafted name.
    /// </summary>
    private static string ToSettingArgument(string name, string value)
    {
        if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
        {
            throw new EndpointException(ExceptionCodes.UnknownSetting, $"Unknown setting '{name}'");
        }

        return string.Create(CultureInfo.InvariantCulture, $"--{name}={value}");
    }

    private static string? NullIfEmpty(Microsoft.Extensions.Primitives.StringValues value) =>
        value.Count == 0 || string.IsNullOrEmpty(value[0]) ? null : value[0];

    private static bool IsTrue(Microsoft.Extensions.Primitives.StringValues value) =>
        value.Count > 0 && value[0] is "1" or "true" or "True";
}
