using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Platform;

/// <summary>
/// Data-annotation validation whose messages name the full configuration key
/// (<c>Aperture:ClickHouse:Database</c>), so a bad setting is found from the message alone.
/// </summary>
public sealed class SectionAnnotationsValidator<TOptions>(string section) : IValidateOptions<TOptions>
    where TOptions : class
{
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        var results = new List<ValidationResult>();
        if (Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true))
        {
            return ValidateOptionsResult.Success;
        }

        return ValidateOptionsResult.Fail(results.Select(r =>
            $"{section}:{string.Join(',', r.MemberNames)}: {r.ErrorMessage}"));
    }
}
