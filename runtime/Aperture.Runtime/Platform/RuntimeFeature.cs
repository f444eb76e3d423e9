namespace Aperture.Runtime.Platform;

/// <summary>
/// One feature of the runtime (profiling, alerts, server monitoring, jobs, access…): what it registers and
/// what it serves, each its feature's one <c>Add…</c>/<c>Map…</c> pair. A role is a list of features
/// (<c>RuntimeRoles</c>), composed in that one place.
/// </summary>
public sealed record RuntimeFeature(string Name, Action<WebApplicationBuilder, FeatureContext> Add, Action<WebApplication> Map);

/// <summary>What every feature may need of the host while it registers: the validated runtime options.</summary>
public sealed record FeatureContext(Hosting.RuntimeOptions Runtime);
