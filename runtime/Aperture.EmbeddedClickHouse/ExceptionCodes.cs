namespace Aperture.EmbeddedClickHouse;

/// <summary>ClickHouse's exception codes that the endpoint raises itself or maps to an HTTP status.</summary>
internal static class ExceptionCodes
{
    public const int SyntaxError = 62;
    public const int NotImplemented = 48;
    public const int UnknownTable = 60;
    public const int UnknownDatabase = 81;
    public const int UnknownFunction = 46;
    public const int UnknownIdentifier = 47;
    public const int UnknownSetting = 115;
    public const int UnknownFormat = 73;
    public const int CannotParseText = 6;
    public const int CannotParseInputAssertionFailed = 27;
    public const int TooManySimultaneousQueries = 202;
    public const int CannotDecompress = 271;
    public const int UnknownType = 50;
    public const int TypeMismatch = 53;
    public const int BadArguments = 36;
    public const int UnknownException = 1002;

    /// <summary>The HTTP status ClickHouse's HTTP handler answers for an exception code; 500 for the rest.</summary>
    public static int ToHttpStatus(int code) => code switch
    {
        SyntaxError or CannotParseText or CannotParseInputAssertionFailed or UnknownSetting or UnknownFormat
            or CannotDecompress or UnknownType or TypeMismatch or BadArguments => StatusCodes.Status400BadRequest,
        UnknownTable or UnknownDatabase or UnknownFunction or UnknownIdentifier => StatusCodes.Status404NotFound,
        NotImplemented => StatusCodes.Status501NotImplemented,
        TooManySimultaneousQueries => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };
}
