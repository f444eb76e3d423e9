using Aperture.Operator;
using Aperture.Operator.Crds;

// 'generate-crds DIR...' writes the CRDs from the resource types (make crds); anything else runs
// the operator: every kind's controller (README.md, "The operator").
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

OperatorOptions options;
try
{
    options = OperatorOptions.Parse(args);
}
catch (ArgumentException e)
{
    await Console.Error.WriteLineAsync($"aperture-operator: {e.Message}");
    return 2;
}

await using var host = OperatorHost.Create(options);
await host.StartAsync();
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.Cancel();
await Task.WhenAny(host.RunAsync(), Task.Delay(Timeout.Infinite, stop.Token).ContinueWith(_ => { }, TaskScheduler.Default));
return 0;
