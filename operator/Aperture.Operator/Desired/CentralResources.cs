using System.Text.Json;
using System.Text.Json.Nodes;
using Aperture.Resources;
using k8s.Models;

namespace Aperture.Operator.Desired;

/// <summary>
/// What the central runtime (role central) reads to find the sites: a ConfigMap in the operator's
/// namespace whose <c>sites.json</c> is runtime configuration (<c>Aperture:Central:Sites:&lt;id&gt;</c>
/// = the site's jobs API URL, <c>Aperture:Central:SiteApis:&lt;id&gt;</c> = its main API URL), mounted by the central
/// runtime and read with <c>--config</c>.
/// </summary>
public static class CentralResources
{
    public const string ConfigMapName = "aperture-central-sites";
    public const string SitesKey = "sites.json";

    /// <summary>
    /// A Site's id is its name; Sites that share a name across namespaces are told apart as
    /// <c>namespace.name</c>, so that every id names one Site whatever the order they are listed in.
    /// </summary>
    public static SortedDictionary<string, string> SiteUrls(IEnumerable<Site> sites) => SiteAddresses(sites, SiteResources.JobsUrl);

    /// <summary>Each Site's main HTTP API (profiling, servers), which the central watchdog asks for a root cause's evidence.</summary>
    public static SortedDictionary<string, string> SiteApiUrls(IEnumerable<Site> sites) => SiteAddresses(sites, site => $"http://{SiteResources.Endpoint(site)}");

    private static SortedDictionary<string, string> SiteAddresses(IEnumerable<Site> sites, Func<Site, string> address)
    {
        var live = sites.Where(s => s.Metadata.DeletionTimestamp is null).ToList();
        var shared = live.GroupBy(s => s.Metadata.Name).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet(StringComparer.Ordinal);
        var urls = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var site in live)
        {
            var id = shared.Contains(site.Metadata.Name) ? $"{site.Metadata.NamespaceProperty}.{site.Metadata.Name}" : site.Metadata.Name;
            urls[id] = address(site);
        }

        return urls;
    }

    public static V1ConfigMap SitesConfigMap(IEnumerable<Site> sites, string ns)
    {
        var configuration = new JsonObject
        {
            ["Aperture"] = new JsonObject
            {
                ["Central"] = new JsonObject
                {
                    ["Sites"] = new JsonObject(SiteUrls(sites).Select(s => KeyValuePair.Create(s.Key, (JsonNode?)JsonValue.Create(s.Value)))),
                    ["SiteApis"] = new JsonObject(SiteApiUrls(sites).Select(s => KeyValuePair.Create(s.Key, (JsonNode?)JsonValue.Create(s.Value)))),
                },
            },
        };
        return new V1ConfigMap
        {
            ApiVersion = "v1",
            Kind = "ConfigMap",
            Metadata = new V1ObjectMeta
            {
                Name = ConfigMapName,
                NamespaceProperty = ns,
                Labels = ObjectMetadata.Labels("central", "aperture"),
            },
            Data = new Dictionary<string, string> { [SitesKey] = configuration.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) },
        };
    }
}
