// The node agent (collectors, profiler, job sidecar, spool) is the subject of issue #6 and is not
// built yet. Until then the executable says so rather than pretending to collect anything.
await Console.Error.WriteLineAsync("aperture-agent: not implemented yet (the agent is planned work; see README.md)");
return 69; // EX_UNAVAILABLE
