namespace Aperture.Agent.Profiling;

/// <summary>
/// A process's threads as /proc lists them. perf_event_open on a pid follows that one thread (and,
/// with inherit, the children it makes later), so a process's running threads are opened one by one.
/// </summary>
internal static class ProcessThreads
{
    public static IEnumerable<int> Of(int pid)
    {
        try
        {
            var tids = Directory.EnumerateDirectories($"/proc/{pid}/task")
                .Select(d => int.TryParse(Path.GetFileName(d), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var tid) ? tid : 0)
                .Where(tid => tid > 0)
                .ToList();
            return tids.Count > 0 ? tids : [pid];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [pid];
        }
    }
}
