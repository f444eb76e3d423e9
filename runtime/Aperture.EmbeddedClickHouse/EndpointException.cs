using System.Globalization;

namespace Aperture.EmbeddedClickHouse;

/// <summary>An error the endpoint raises itself, worded and coded the way ClickHouse words its own.</summary>
public sealed class EndpointException : Exception
{
    public EndpointException(int code, string message)
        : base(string.Create(CultureInfo.InvariantCulture, $"Code: {code}. DB::Exception: {message}."))
    {
        Code = code;
    }

    public EndpointException()
        : this(ExceptionCodes.UnknownException, "unknown error")
    {
    }

    public EndpointException(string message)
        : this(ExceptionCodes.UnknownException, message)
    {
    }

    public EndpointException(string message, Exception innerException)
        : base(message, innerException)
    {
        Code = ExceptionCodes.UnknownException;
    }

    public int Code { get; }
}
