using Aperture.Resources;
using k8s.Models;

namespace Aperture.Operator.Tests;

/// <summary>The Site the operator tests create: ClickHouse from Secret ch/cs, Redis from Secret redis/config.</summary>
internal static class SampleSites
{
    public static Site New(string name = "eu-west", int replicas = 1, SecretKeyReference? authToken = null) => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Spec = new SiteSpec
        {
            Replicas = replicas,
            ClickHouse = new SiteClickHouse { ConnectionSecretRef = new SecretKeyReference { Name = "ch", Key = "cs" } },
            Redis = new SiteRedis { ConnectionSecretRef = new SecretKeyReference { Name = "redis", Key = "config" } },
            AuthTokenSecretRef = authToken,
        },
    };
}
