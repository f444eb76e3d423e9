using System.Globalization;
using System.IO.Compression;
using Google.Protobuf;

namespace Aperture.Contracts.Pprof;

/// <summary>
/// Writes a pprof profile.proto, readable by `go tool pprof` and speedscope: strings, mappings (one per
/// module), functions and locations are interned as they are first used, samples are appended, and
/// <see cref="ToGzip"/> gives the gzipped encoding. The runtime's pprof export and the agent's own CPU
/// profile are both written with it.
/// </summary>
public sealed class PprofProfileBuilder
{
    private readonly Profile _profile;
    private readonly List<string> _strings = [string.Empty];
    private readonly Dictionary<string, long> _stringIds = new(StringComparer.Ordinal) { [string.Empty] = 0 };
    private readonly Dictionary<string, ulong> _mappings = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Name, string Module), ulong> _functions = [];
    private readonly Dictionary<(ulong Address, string Function, string Module), ulong> _locations = [];

    /// <param name="timeNanos">When the profile starts, in nanoseconds since the Unix epoch.</param>
    /// <param name="durationNanos">How long it covers.</param>
    /// <param name="period">The sampling period, in the unit of <see cref="SetPeriodType"/>.</param>
    public PprofProfileBuilder(long timeNanos, long durationNanos, long period) =>
        _profile = new Profile { TimeNanos = timeNanos, DurationNanos = durationNanos, Period = period };

    /// <summary>Adds the next of the values every sample carries (pprof's sample_type).</summary>
    public void AddSampleType(string type, string unit) =>
        _profile.SampleType.Add(new ValueType { Type = StringIndex(type), Unit = StringIndex(unit) });

    /// <summary>What <c>period</c> counts (pprof's period_type).</summary>
    public void SetPeriodType(string type, string unit) =>
        _profile.PeriodType = new ValueType { Type = StringIndex(type), Unit = StringIndex(unit) };

    /// <summary>The index of <paramref name="text"/> in the string table, adding it the first time.</summary>
    public long StringIndex(string text)
    {
        if (!_stringIds.TryGetValue(text, out var id))
        {
            id = _strings.Count;
            _strings.Add(text);
            _stringIds[text] = id;
        }

        return id;
    }

    /// <summary>
    /// The id of the location of one frame, adding it (and its module's mapping and its function) the first
    /// time. A frame without a function name is named by its address.
    /// </summary>
    public ulong Location(ulong address, string function, string module)
    {
        if (_locations.TryGetValue((address, function, module), out var locationId))
        {
            return locationId;
        }

        if (!_mappings.TryGetValue(module, out var mappingId))
        {
            mappingId = (ulong)_mappings.Count + 1;
            _mappings[module] = mappingId;
            _profile.Mapping.Add(new Mapping { Id = mappingId, Filename = StringIndex(module), HasFunctions = true });
        }

        var name = function.Length > 0 ? function : string.Create(CultureInfo.InvariantCulture, $"0x{address:x}");
        if (!_functions.TryGetValue((name, module), out var functionId))
        {
            functionId = (ulong)_functions.Count + 1;
            _functions[(name, module)] = functionId;
            _profile.Function.Add(new Function { Id = functionId, Name = StringIndex(name), SystemName = StringIndex(name), Filename = StringIndex(module) });
        }

        locationId = (ulong)_locations.Count + 1;
        _locations[(address, function, module)] = locationId;
        var location = new Location { Id = locationId, MappingId = mappingId, Address = address };
        location.Line.Add(new Line { FunctionId = functionId });
        _profile.Location.Add(location);
        return locationId;
    }

    /// <summary>Appends a sample: its locations leaf first, and one value per sample type, in their order.</summary>
    public void AddSample(ReadOnlySpan<ulong> locationIdsLeafFirst, params ReadOnlySpan<long> values)
    {
        var sample = new Sample();
        foreach (var id in locationIdsLeafFirst)
        {
            sample.LocationId.Add(id);
        }

        foreach (var value in values)
        {
            sample.Value.Add(value);
        }

        _profile.Sample.Add(sample);
    }

    /// <summary>The profile so far, encoded and gzipped.</summary>
    public byte[] ToGzip()
    {
        _profile.StringTable.Clear();
        _profile.StringTable.AddRange(_strings);
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            _profile.WriteTo(gzip);
        }

        return output.ToArray();
    }
}
