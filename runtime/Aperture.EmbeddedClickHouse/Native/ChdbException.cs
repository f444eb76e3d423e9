using System.Globalization;
using System.Text.RegularExpressions;

namespace Aperture.EmbeddedClickHouse.Native;

/// <summary>An error reported by the engine, with ClickHouse's numeric code when the message carries one.</summary>
public sealed partial class ChdbException : Exception
{
    public ChdbException(string message)
        : base(message)
    {
        var match = CodePattern().Match(message);
        Code = match.Success ? int.Parse(match.Groups[1].ValueSpan, CultureInfo.InvariantCulture) : UnknownExceptionCode;
    }

    public ChdbException(string message, int code)
        : base(message)
    {
        Code = code;
    }

    public ChdbException()
        : this("chdb error")
    {
    }

    public ChdbException(string message, Exception innerException)
        : base(message, innerException)
    {
        Code = UnknownExceptionCode;
    }

    /// <summary>ClickHouse's UNKNOWN_EXCEPTION, used when the engine's message names no code.</summary>
    public const int UnknownExceptionCode = 1002;

    public int Code { get; }

    [GeneratedRegex(@"Code:\s*(\d+)\.", RegexOptions.CultureInvariant)]
    private static partial Regex CodePattern();
}
