using System.Globalization;

namespace Aperture.Runtime.Watchdog.Rca;

/// <summary>
/// Root-cause correlation over per-minute series (pure: the caller fetches series and graph).
/// Lag convention everywhere: a positive lag means the other series moves that many minutes after the origin's
/// (or the symptom's), a negative one before it. Direction: with a caller → callee graph, faults travel from callee
/// to caller, so the origin's transitive callees are <c>upstream</c> (the cause side) and its transitive callers
/// <c>downstream</c>; only where the graph does not relate the two one way does the lag's sign decide
/// (moving first = upstream).
/// </summary>
public static class ServiceCorrelator
{
    /// <summary>
    /// Services whose metrics move with <paramref name="originService"/>'s, best first. Every metric of the origin is
    /// compared with every metric of each candidate by the peak |Pearson| over lags in ±MaxLagMinutes of their
    /// edge transforms (see <see cref="CorrelationOptions.TrailingWindowMinutes"/>); each service keeps its best pair.
    /// Where the graph knows the origin, the services within <paramref name="depth"/> hops of it (either direction)
    /// are always answered, services the graph does not know are answered when they reach MinCorrelation, and
    /// services the graph places further away are not answered. Where it does not know the origin, every service
    /// with series that reaches MinCorrelation is.
    /// </summary>
    public static IReadOnlyList<ServiceCorrelation> Correlate(string originService, IReadOnlyList<MinuteSeries> series, ServiceGraph graph, int depth, CorrelationOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(originService);
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(depth);

        var byService = GroupByService(series);
        if (!byService.TryGetValue(originService, out var originSeries))
        {
            return [];
        }

        var from = originSeries.Min(s => s.StartMinute) - options.MaxLagMinutes;
        var to = originSeries.Max(s => s.EndMinute) + options.MaxLagMinutes;
        var origin = originSeries.Select(s => Prepare(s, from, to, options)).ToArray();

        var graphKnowsOrigin = graph.Contains(originService);
        var near = graphKnowsOrigin ? graph.Neighbourhood(originService, depth) : new Dictionary<string, int>();
        var upstream = graphKnowsOrigin ? graph.Upstream(originService, depth) : new Dictionary<string, int>();
        var downstream = graphKnowsOrigin ? graph.Downstream(originService, depth) : new Dictionary<string, int>();

        var result = new List<ServiceCorrelation>();
        foreach (var (service, related) in byService)
        {
            if (string.Equals(service, originService, StringComparison.Ordinal))
            {
                continue;
            }

            var always = near.ContainsKey(service);
            if (graphKnowsOrigin && !always && graph.Contains(service))
            {
                continue;
            }

            double best = 0;
            var bestLag = 0;
            (Prepared Origin, Prepared Related)? bestPair = null;
            foreach (var r in related)
            {
                var prepared = Prepare(r, from, to, options);
                foreach (var o in origin)
                {
                    var (c, lag) = SeriesMath.BestLag(o.Edges, prepared.Edges, options.MaxLagMinutes, options.MinOverlapPoints);
                    if (Math.Abs(c) > best + 1e-12 || (Math.Abs(Math.Abs(c) - best) <= 1e-12 && Math.Abs(lag) < Math.Abs(bestLag)))
                    {
                        best = Math.Abs(c);
                        bestLag = lag;
                        bestPair = (o, prepared);
                    }
                }
            }

            if (bestPair is { } pair)
            {
                bestLag = SeriesMath.StepLag(pair.Origin.Steps, pair.Related.Steps, options.MaxLagMinutes, options.StepSigma)
                    ?? SeriesMath.RefineLag(pair.Origin.Edges, pair.Related.Edges, pair.Origin.Differences, pair.Related.Differences, bestLag, 2, options.MaxLagMinutes, options.MinOverlapPoints);
            }

            if (!always && best < options.MinCorrelation)
            {
                continue;
            }

            var direction = (upstream.ContainsKey(service), downstream.ContainsKey(service)) switch
            {
                (true, false) => CorrelationDirection.Upstream,
                (false, true) => CorrelationDirection.Downstream,
                _ => bestLag < 0 ? CorrelationDirection.Upstream : CorrelationDirection.Downstream,
            };
            result.Add(new ServiceCorrelation(service, Math.Round(best, 4), bestLag, direction));
        }

        result.Sort((a, b) => b.CorrelationScore != a.CorrelationScore
            ? b.CorrelationScore.CompareTo(a.CorrelationScore)
            : string.CompareOrdinal(a.RelatedService, b.RelatedService));
        return result;
    }

    /// <summary>
    /// Root-cause candidates for a symptom (<paramref name="symptomMetric"/> of <paramref name="symptomService"/>
    /// around unix minute <paramref name="atMinute"/>), best first, one per service (its best metric).
    /// Candidates are the symptom's service and, where the graph knows it, its transitive callees (every service
    /// with series where it does not). Each metric is scored on four things: how far it left its own baseline
    /// (robust z against a line fitted to the BaselineMinutes before the window, so a diurnal slope is
    /// extrapolated, sustained for two minutes so single noisy samples do not count) within the
    /// <paramref name="windowMinutes"/> up to the symptom; how many minutes its deviation started before the
    /// symptom's; its correlation with the symptom; and graph position — an anomalous service none of whose callees
    /// went anomalous before it is the deepest anomaly on its path, the root, while one whose callee did is
    /// explained by that callee. The symptom's own service ranks high only when nothing it calls explains it.
    /// </summary>
    public static IReadOnlyList<RootCause> Analyze(string symptomService, string symptomMetric, long atMinute, int windowMinutes, IReadOnlyList<MinuteSeries> series, ServiceGraph graph, CorrelationOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(symptomService);
        ArgumentException.ThrowIfNullOrWhiteSpace(symptomMetric);
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(windowMinutes);

        var byService = GroupByService(series);
        var windowStart = atMinute - windowMinutes;
        var from = windowStart - options.BaselineMinutes - options.TrailingWindowMinutes;
        var to = atMinute + 1;

        var symptomSeries = byService.TryGetValue(symptomService, out var own)
            ? own.FirstOrDefault(s => string.Equals(s.MetricName, symptomMetric, StringComparison.Ordinal))
            : null;
        Prepared? symptomPrepared = null;
        var symptomOnset = atMinute;
        if (symptomSeries is not null)
        {
            var slice = SeriesMath.Slice(symptomSeries, from, to);
            symptomPrepared = Prepare(symptomSeries, from, to, options);
            var deviation = Deviate(slice, from, windowStart, atMinute, options);
            if (deviation.Anomalous(options))
            {
                symptomOnset = deviation.Onset!.Value;
            }
        }

        var useGraph = graph.Contains(symptomService);
        var hops = useGraph
            ? new Dictionary<string, int>(graph.Upstream(symptomService, options.MaxUpstreamDepth), StringComparer.Ordinal) { [symptomService] = 0 }
            : byService.Keys.ToDictionary(s => s, _ => 0, StringComparer.Ordinal);

        var scored = new Dictionary<string, List<MetricFinding>>(StringComparer.Ordinal);
        foreach (var service in hops.Keys)
        {
            if (!byService.TryGetValue(service, out var metrics))
            {
                continue;
            }

            var findings = new List<MetricFinding>(metrics.Count);
            foreach (var metric in metrics)
            {
                var slice = SeriesMath.Slice(metric, from, to);
                var deviation = Deviate(slice, from, windowStart, atMinute, options);
                double correlation = 0;
                var lag = 0;
                // The symptom's correlation with itself says nothing about causes.
                if (symptomPrepared is not null && !ReferenceEquals(metric, symptomSeries))
                {
                    var prepared = Prepare(metric, from, to, options);
                    var overlap = Math.Min(options.MinOverlapPoints, Math.Max(3, (int)(to - from) / 2));
                    (correlation, lag) = SeriesMath.BestLag(symptomPrepared.Edges, prepared.Edges, options.MaxLagMinutes, overlap);
                    lag = SeriesMath.StepLag(symptomPrepared.Steps, prepared.Steps, options.MaxLagMinutes, options.StepSigma)
                        ?? SeriesMath.RefineLag(symptomPrepared.Edges, prepared.Edges, symptomPrepared.Differences, prepared.Differences, lag, 2, options.MaxLagMinutes, overlap);
                }

                findings.Add(new MetricFinding(metric.MetricName, deviation, Math.Abs(correlation), lag));
            }

            scored[service] = findings;
        }

        // A deviation only explains the symptom when it also moves with it: noise crosses a few sigma now and then
        // in one of many metrics, and must not make a healthy callee look like the root or hide the real one. A strong
        // held deviation (twice the onset bar) counts without the correlation: an RCA run as the anomaly opens has only
        // the few minutes since the onset, too few for the correlation to show what the deviation already does.
        long? ServiceOnset(string service) => scored.TryGetValue(service, out var f)
            ? f.Where(x => Linked(x, service)).Select(x => x.Deviation.Onset).Min()
            : null;

        bool Linked(MetricFinding finding, string service) => finding.Deviation.Anomalous(options)
            && (finding.Correlation >= options.MinCorrelation || finding.Deviation.Peak >= 2 * options.OnsetSigma
                || string.Equals(service, symptomService, StringComparison.Ordinal));

        var causes = new List<RootCause>();
        foreach (var (service, findings) in scored)
        {
            var onset = ServiceOnset(service);
            var isSymptom = string.Equals(service, symptomService, StringComparison.Ordinal);
            string? explainedBy = null;
            if (useGraph && onset is { } o)
            {
                explainedBy = graph.CalleesOf(service)
                    .Where(c => hops.ContainsKey(c) && ServiceOnset(c) is { } co && co <= o + 1)
                    .OrderBy(c => ServiceOnset(c))
                    .ThenBy(c => c, StringComparer.Ordinal)
                    .FirstOrDefault();
            }

            MetricFinding? best = null;
            double bestScore = -1;
            foreach (var finding in findings)
            {
                var score = Score(finding, isSymptom, useGraph, explainedBy is not null, Linked(finding, service), symptomOnset, options);
                if (score > bestScore)
                {
                    bestScore = score;
                    best = finding;
                }
            }

            if (best is null)
            {
                continue;
            }

            var anomalous = best.Deviation.Anomalous(options);
            var lagMinutes = anomalous ? (int)(best.Deviation.Onset!.Value - symptomOnset) : best.Lag;
            var evidence = Evidence(service, best, findings, isSymptom, useGraph, explainedBy, symptomService, symptomMetric, symptomOnset, graph, options);
            causes.Add(new RootCause(service, best.Metric, Math.Round(Math.Clamp(bestScore, 0, 1), 4), lagMinutes, evidence));
        }

        causes.Sort((a, b) => b.Score != a.Score ? b.Score.CompareTo(a.Score) : string.CompareOrdinal(a.ServiceId, b.ServiceId));
        return causes.Count > options.MaxCauses ? causes[..options.MaxCauses] : causes;
    }

    private static double Score(MetricFinding finding, bool isSymptom, bool useGraph, bool explained, bool linked, long symptomOnset, CorrelationOptions options)
    {
        var anomalous = finding.Deviation.Anomalous(options);
        var magnitude = 1 - Math.Exp(-finding.Deviation.Peak / 4);
        var timing = anomalous ? 1 / (1 + Math.Exp(-(symptomOnset - finding.Deviation.Onset!.Value) / 2.0)) : 0;
        double score;
        if (useGraph)
        {
            var position = !anomalous ? 0 : isSymptom ? (explained ? 0.1 : 0.8) : !linked ? 0.2 : explained ? 0.35 : 1;
            score = (0.3 * magnitude) + (0.2 * timing) + (0.2 * finding.Correlation) + (0.3 * position);
        }
        else
        {
            // Without a graph, only timing and co-movement tell a cause from a bystander with its own trouble.
            score = (0.3 * magnitude) + (0.25 * timing) + (0.45 * finding.Correlation);
        }

        return anomalous ? score : score * 0.3;
    }

    private static List<string> Evidence(string service, MetricFinding best, List<MetricFinding> findings, bool isSymptom, bool useGraph, string? explainedBy, string symptomService, string symptomMetric, long symptomOnset, ServiceGraph graph, CorrelationOptions options)
    {
        var evidence = new List<string>();
        var d = best.Deviation;
        if (d.Anomalous(options))
        {
            var lead = symptomOnset - d.Onset!.Value;
            var when = lead switch
            {
                > 0 => string.Create(CultureInfo.InvariantCulture, $"{lead} min before the symptom"),
                < 0 => string.Create(CultureInfo.InvariantCulture, $"{-lead} min after the symptom"),
                _ => "at the symptom's onset",
            };
            evidence.Add(string.Create(CultureInfo.InvariantCulture, $"{best.Metric} {(d.Sign >= 0 ? "rose" : "fell")} {d.Peak:F1}σ {when}"));
        }
        else
        {
            evidence.Add(string.Create(CultureInfo.InvariantCulture, $"{best.Metric} stayed within its normal range (peak {d.Peak:F1}σ)"));
        }

        if (!(isSymptom && string.Equals(best.Metric, symptomMetric, StringComparison.Ordinal)) && best.Correlation > 0)
        {
            evidence.Add(string.Create(CultureInfo.InvariantCulture, $"correlates {best.Correlation:F2} with {symptomService}/{symptomMetric} at lag {best.Lag} min"));
        }

        foreach (var other in findings)
        {
            if (!ReferenceEquals(other, best) && other.Deviation.Anomalous(options))
            {
                evidence.Add(string.Create(CultureInfo.InvariantCulture, $"also {other.Metric} {(other.Deviation.Sign >= 0 ? "rose" : "fell")} {other.Deviation.Peak:F1}σ"));
            }
        }

        if (!useGraph)
        {
            evidence.Add("no call graph known for the symptom's service: ranked by timing and correlation alone");
            return evidence;
        }

        if (isSymptom)
        {
            evidence.Add("the symptom's own service");
        }
        else if (graph.CallPath(symptomService, service) is { } path)
        {
            evidence.Add("called via " + string.Join(" → ", path));
        }

        var callees = graph.CalleesOf(service);
        if (explainedBy is not null)
        {
            evidence.Add($"calls {explainedBy}, which went anomalous first or at the same time");
        }
        else if (d.Anomalous(options))
        {
            evidence.Add(callees.Count == 0
                ? "calls no other known service: the deepest anomaly on its path"
                : $"calls {string.Join(", ", callees.Order(StringComparer.Ordinal))}, none anomalous before it: the deepest anomaly on its path");
        }

        return evidence;
    }

    private static Prepared Prepare(MinuteSeries series, long from, long to, CorrelationOptions options)
    {
        var slice = SeriesMath.Slice(series, from, to);
        return new Prepared(
            SeriesMath.EdgeTransform(slice, options.TrailingWindowMinutes, options.ClipSigma, options.DetrendMinutes),
            SeriesMath.EdgeTransform(slice, 1, options.ClipSigma),
            SeriesMath.StepScores(slice, options.StepWindowMinutes));
    }

    private sealed record Prepared(double[] Edges, double[] Differences, double[] Steps);

    private static Dictionary<string, List<MinuteSeries>> GroupByService(IReadOnlyList<MinuteSeries> series)
    {
        var byService = new Dictionary<string, List<MinuteSeries>>(StringComparer.Ordinal);
        foreach (var s in series)
        {
            if (!byService.TryGetValue(s.ServiceId, out var list))
            {
                list = [];
                byService[s.ServiceId] = list;
            }

            list.Add(s);
        }

        return byService;
    }

    /// <summary>
    /// How far a metric left its baseline within the onset window: the greatest robust z held for two consecutive
    /// minutes (one minute at the window's end), its sign, and the minute the deviation began.
    /// </summary>
    private static Deviation Deviate(double[] slice, long from, long windowStart, long at, CorrelationOptions options)
    {
        var baseFrom = (int)Math.Max(0, windowStart - options.BaselineMinutes - from);
        var baseTo = (int)(windowStart - from);
        var (intercept, slope) = SeriesMath.LinearFit(slice, baseFrom, baseTo);
        if (double.IsNaN(intercept))
        {
            return Deviation.None;
        }

        var residuals = new double[baseTo - baseFrom];
        for (var t = baseFrom; t < baseTo; t++)
        {
            residuals[t - baseFrom] = slice[t] - (intercept + (slope * t));
        }

        var (centre, scale) = SeriesMath.RobustLocationScale(residuals);
        if (scale <= 0)
        {
            // A flat baseline: any move at all is a deviation, measured against a tiny fraction of its level.
            scale = Math.Max(1e-9, Math.Abs(intercept) * 1e-3);
        }

        var last = (int)(at - from);
        var z = new double[last + 1];
        for (var t = baseTo; t <= last; t++)
        {
            z[t] = double.IsNaN(slice[t]) ? double.NaN : (slice[t] - (intercept + (slope * t)) - centre) / scale;
        }

        double peak = 0;
        var sign = 0;
        int? onset = null;
        for (var t = baseTo; t <= last; t++)
        {
            if (double.IsNaN(z[t]))
            {
                continue;
            }

            double held;
            if (t == last)
            {
                held = Math.Abs(z[t]);
            }
            else
            {
                var next = z[t + 1];
                held = double.IsNaN(next) || Math.Sign(next) != Math.Sign(z[t]) ? 0 : Math.Min(Math.Abs(z[t]), Math.Abs(next));
            }

            if (held > peak)
            {
                peak = held;
                sign = Math.Sign(z[t]);
            }

            if (onset is null && held >= options.OnsetSigma)
            {
                // A ramp crosses the threshold after it began: step back over the minutes already clearly moving.
                var start = t;
                while (start - 1 >= baseTo && start > t - 2 && !double.IsNaN(z[start - 1]) && Math.Sign(z[start - 1]) == Math.Sign(z[t]) && Math.Abs(z[start - 1]) >= options.OnsetSigma * 0.6)
                {
                    start--;
                }

                onset = start;
            }
        }

        return new Deviation(Math.Min(peak, 1000), sign, onset is { } s ? from + s : null);
    }

    private sealed record Deviation(double Peak, int Sign, long? Onset)
    {
        public static readonly Deviation None = new(0, 0, null);

        public bool Anomalous(CorrelationOptions options) => Onset is not null && Peak >= options.OnsetSigma;
    }

    private sealed record MetricFinding(string Metric, Deviation Deviation, double Correlation, int Lag);
}
