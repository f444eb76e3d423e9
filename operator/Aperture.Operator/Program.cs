using Aperture.Operator.Crds;

// 'generate-crds DIR' writes the CRDs from the resource types (make crds). The operator itself
// (watch/cache/queue machinery and reconcilers) is planned work and not built yet: without a
// command the executable says so rather than pretending to reconcile anything.
if (args is ["generate-crds", .. var directories] && directories.Length > 0)
{
    foreach (var directory in directories)
    {
        foreach (var file in CrdFiles.Write(directory))
        {
            Console.WriteLine($"wrote {Path.Combine(directory, file)}");
        }
    }

    return 0;
}

await Console.Error.WriteLineAsync("aperture-operator: not implemented yet (the controller is planned work; see README.md). Usage: aperture-operator generate-crds DIR...");
return 69; // EX_UNAVAILABLE
