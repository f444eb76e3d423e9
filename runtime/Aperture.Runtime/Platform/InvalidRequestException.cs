namespace Aperture.Runtime.Platform;

/// <summary>A request that cannot be served as sent; answered 400 (HTTP) or INVALID_ARGUMENT (gRPC).</summary>
public sealed class InvalidRequestException : Exception
{
    public InvalidRequestException(string field, string message)
        : base(message)
    {
        Field = field;
    }

    public InvalidRequestException()
    {
        Field = string.Empty;
    }

    public InvalidRequestException(string message)
        : base(message)
    {
        Field = string.Empty;
    }

    public InvalidRequestException(string message, Exception innerException)
        : base(message, innerException)
    {
        Field = string.Empty;
    }

    /// <summary>The request field at fault, for the error's details.</summary>
    public string Field { get; }
}
