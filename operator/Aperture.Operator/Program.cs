// The operator (CRDs, watch/cache/queue machinery, reconcilers) is the subject of issue #4 and is
// not built yet. Until then the executable says so rather than pretending to reconcile anything.
await Console.Error.WriteLineAsync("aperture-operator: not implemented yet (the operator is planned work; see README.md)");
return 69; // EX_UNAVAILABLE
