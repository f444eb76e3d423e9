namespace Aperture.Runtime.Platform;

/// <summary>A request its principal may not make (a push into a tenant it holds no right to); 403 or PERMISSION_DENIED.</summary>
public sealed class ForbiddenException : Exception
{
    public ForbiddenException(string message)
        : base(message)
    {
    }

    public ForbiddenException()
    {
    }

    public ForbiddenException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
