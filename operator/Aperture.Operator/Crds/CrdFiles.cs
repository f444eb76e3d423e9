using k8s;

namespace Aperture.Operator.Crds;

/// <summary>The CRD files of crds/: one YAML document per kind, named after the CRD.</summary>
public static class CrdFiles
{
    public const string Header = "# Generated from contracts/Aperture.Contracts/Resources by 'make crds'. Do not edit.\n";

    /// <summary>File name to content, for every kind.</summary>
    public static IReadOnlyDictionary<string, string> Render() =>
        CrdGenerator.Kinds
            .Select(CrdGenerator.Generate)
            .ToDictionary(crd => $"{crd.Metadata.Name}.yaml", crd => Header + KubernetesYaml.Serialize(crd).ReplaceLineEndings("\n"));

    /// <summary>Writes the files into <paramref name="directory"/>, removing CRD files no kind produces.</summary>
    public static IReadOnlyList<string> Write(string directory)
    {
        Directory.CreateDirectory(directory);
        var files = Render();
        foreach (var stale in Directory.GetFiles(directory, "*.yaml").Where(f => !files.ContainsKey(Path.GetFileName(f))))
        {
            File.Delete(stale);
        }

        foreach (var (name, content) in files)
        {
            File.WriteAllText(Path.Combine(directory, name), content);
        }

        return [.. files.Keys.Order(StringComparer.Ordinal)];
    }
}
