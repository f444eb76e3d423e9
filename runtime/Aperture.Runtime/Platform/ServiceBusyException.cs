namespace Aperture.Runtime.Platform;

/// <summary>A request refused because a queue stayed full: 503 with Retry-After, so the sender backs off and sends again.</summary>
public sealed class ServiceBusyException : Exception
{
    public ServiceBusyException(string message)
        : base(message)
    {
    }

    public ServiceBusyException()
    {
    }

    public ServiceBusyException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
