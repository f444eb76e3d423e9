using Aperture.Operator.Crds;
using Aperture.Testing;
using k8s;
using k8s.Models;

namespace Aperture.Operator.Tests;

public sealed class CrdTests
{
    private static string CrdDirectory => Path.Combine(RepositoryLayout.Root, "crds");

    private static V1JSONSchemaProps SchemaOf(string kind) =>
        CrdGenerator.Kinds.Select(CrdGenerator.Generate).Single(c => c.Spec.Names.Kind == kind).Spec.Versions[0].Schema.OpenAPIV3Schema;

    [Theory]
    [InlineData("crds")]
    [InlineData("charts/aperture/crds")]
    public void The_crd_files_are_what_the_resource_types_generate(string directory)
    {
        var expected = CrdFiles.Render();
        var actual = Directory.GetFiles(Path.Combine(RepositoryLayout.Root, directory), "*.yaml").ToDictionary(f => Path.GetFileName(f), File.ReadAllText);

        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, content) in expected)
        {
            Assert.True(content == actual[name], $"{directory}/{name} is stale: run 'make crds' and commit the result");
        }
    }

    [Fact]
    public void Every_kind_has_the_status_subresource_printer_columns_and_short_names()
    {
        foreach (var crd in CrdGenerator.Kinds.Select(CrdGenerator.Generate))
        {
            var version = Assert.Single(crd.Spec.Versions);
            Assert.Equal("aperture.dev", crd.Spec.Group);
            Assert.Equal("v1alpha1", version.Name);
            Assert.NotNull(version.Subresources?.Status);
            Assert.Contains(version.AdditionalPrinterColumns, c => c.Name == "Ready");
            Assert.NotEmpty(crd.Spec.Names.ShortNames);
            Assert.Equal("Namespaced", crd.Spec.Scope);
        }
    }

    [Fact]
    public void The_generated_files_read_back_as_CustomResourceDefinitions()
    {
        foreach (var file in Directory.GetFiles(CrdDirectory, "*.yaml"))
        {
            var crd = KubernetesYaml.Deserialize<V1CustomResourceDefinition>(File.ReadAllText(file));
            Assert.Equal("CustomResourceDefinition", crd.Kind);
            Assert.Equal(Path.GetFileNameWithoutExtension(file), crd.Metadata.Name);
        }
    }

    public static TheoryData<string> Examples =>
        [.. Directory.GetFiles(Path.Combine(RepositoryLayout.Root, "examples"), "*.yaml").Select(f => Path.GetFileName(f))];

    [Theory]
    [MemberData(nameof(Examples))]
    public void Every_example_is_valid_against_its_crd_schema(string file)
    {
        var document = Assert.Single(YamlDocuments.Load(File.ReadAllText(Path.Combine(RepositoryLayout.Root, "examples", file))));
        var kind = document!["kind"]!.GetValue<string>();

        Assert.Equal("aperture.dev/v1alpha1", document["apiVersion"]!.GetValue<string>());
        Assert.Empty(CrdSchemaValidator.Validate(SchemaOf(kind), document));
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void Every_example_reads_into_its_csharp_type_and_writes_back_valid(string file)
    {
        var yaml = File.ReadAllText(Path.Combine(RepositoryLayout.Root, "examples", file));
        var kind = YamlDocuments.Load(yaml).Single()!["kind"]!.GetValue<string>();
        var type = CrdGenerator.Kinds.Single(k => k.Name == kind);

        var options = new System.Text.Json.JsonSerializerOptions { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };
        var typed = System.Text.Json.JsonSerializer.Deserialize(YamlDocuments.Load(yaml).Single(), type, options) ?? throw new InvalidOperationException("no object");
        var written = System.Text.Json.JsonSerializer.SerializeToNode(typed, type, options)!.AsObject();
        written.Remove("status");

        Assert.Empty(CrdSchemaValidator.Validate(SchemaOf(kind), written));
        Assert.Equal(
            YamlDocuments.Load(yaml).Single()!["spec"]!.AsObject().Select(p => p.Key).Order(),
            written["spec"]!.AsObject().Where(p => p.Value is not null).Select(p => p.Key).Intersect(YamlDocuments.Load(yaml).Single()!["spec"]!.AsObject().Select(p => p.Key)).Order());
    }

    [Fact]
    public void There_is_an_example_of_every_kind()
    {
        var kinds = Directory.GetFiles(Path.Combine(RepositoryLayout.Root, "examples"), "*.yaml")
            .Select(f => YamlDocuments.Load(File.ReadAllText(f)).Single()!["kind"]!.GetValue<string>());

        Assert.Equal(CrdGenerator.Kinds.Select(k => k.Name).Order(), kinds.Order());
    }

    [Theory]
    [InlineData("spec:\n  replicas: 11\n  clickHouse: {connectionSecretRef: {name: a, key: b}}\n  redis: {connectionSecretRef: {name: a, key: b}}", "spec.replicas: must be <= 10")]
    [InlineData("spec:\n  replicas: two\n  clickHouse: {connectionSecretRef: {name: a, key: b}}\n  redis: {connectionSecretRef: {name: a, key: b}}", "spec.replicas: must be of type integer")]
    [InlineData("spec:\n  clickHouse: {connectionSecretRef: {name: a}}\n  redis: {connectionSecretRef: {name: a, key: b}}", "spec.clickHouse.connectionSecretRef.key: is required")]
    [InlineData("spec:\n  clickHouse: {connectionSecretRef: {name: Bad_Name, key: b}}\n  redis: {connectionSecretRef: {name: a, key: b}}", "spec.clickHouse.connectionSecretRef.name: \"Bad_Name\" does not match")]
    [InlineData("spec:\n  replica: 1\n  clickHouse: {connectionSecretRef: {name: a, key: b}}\n  redis: {connectionSecretRef: {name: a, key: b}}", "spec.replica: is not a field of this kind")]
    [InlineData("spec:\n  resources: {requests: {cpu: lots}}\n  clickHouse: {connectionSecretRef: {name: a, key: b}}\n  redis: {connectionSecretRef: {name: a, key: b}}", "spec.resources.requests.cpu: \"lots\" does not match")]
    [InlineData("metadata: {name: x}", "spec: is required")]
    public void A_bad_site_is_refused_naming_the_field(string yaml, string error)
    {
        var document = YamlDocuments.Load(yaml).Single();

        var errors = CrdSchemaValidator.Validate(SchemaOf("Site"), document);

        Assert.Contains(errors, e => e.StartsWith(error, StringComparison.Ordinal));
    }

    [Fact]
    public void Enums_quantities_and_dates_are_checked()
    {
        var rule = YamlDocuments.Load("spec: {siteRef: {name: s}, metric: cpu_load, operator: gt, threshold: 1, severity: fatal, for: soon}").Single();
        var errors = CrdSchemaValidator.Validate(SchemaOf("AlertRule"), rule);
        Assert.Contains(errors, e => e.StartsWith("spec.metric: must be one of", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("spec.severity: must be one of", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("spec.for: \"soon\" does not match", StringComparison.Ordinal));

        var key = YamlDocuments.Load("spec: {tenantRef: {name: t}, scope: read, expiresAt: tomorrow}").Single();
        Assert.Contains(CrdSchemaValidator.Validate(SchemaOf("ApiKey"), key), e => e.StartsWith("spec.expiresAt: \"tomorrow\" is not an RFC 3339", StringComparison.Ordinal));

        var memory = YamlDocuments.Load("spec: {resources: {limits: {memory: 2Gi, cpu: 2}}, clickHouse: {connectionSecretRef: {name: a, key: b}}, redis: {connectionSecretRef: {name: a, key: b}}}").Single();
        Assert.Empty(CrdSchemaValidator.Validate(SchemaOf("Site"), memory));
    }
}
