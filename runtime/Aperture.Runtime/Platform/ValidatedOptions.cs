using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Platform;

/// <summary>Options bound from configuration and checked before anything is built from them.</summary>
public static class ValidatedOptions
{
    /// <summary>
    /// Binds <paramref name="section"/>, validates it at once and registers it for injection. A value that
    /// does not convert or does not validate throws <see cref="OptionsValidationException"/> naming the key,
    /// which the host answers with exit code 2: a capacity of 0 must be refused here, not found later by the
    /// channel or buffer that would be built from it.
    /// </summary>
    /// <returns>The validated options, for composing the feature (channel capacities, ports).</returns>
    public static TOptions AddValidatedOptions<TOptions>(this WebApplicationBuilder builder, string section, IValidateOptions<TOptions> validator)
        where TOptions : class, new()
    {
        TOptions options;
        try
        {
            options = builder.Configuration.GetSection(section).Get<TOptions>() ?? new TOptions();
        }
        catch (InvalidOperationException e)
        {
            // The binder's message names the key and the value that does not convert.
            throw new OptionsValidationException(section, typeof(TOptions), [e.InnerException is null ? e.Message : $"{e.Message} {e.InnerException.Message}"]);
        }

        var result = validator.Validate(Options.DefaultName, options);
        if (result.Failed)
        {
            throw new OptionsValidationException(section, typeof(TOptions), result.Failures);
        }

        // Still validated on start and on every reload of a --config file.
        builder.Services.AddOptions<TOptions>().Bind(builder.Configuration.GetSection(section)).ValidateOnStart();
        builder.Services.AddSingleton(validator);
        return options;
    }

    /// <summary>As above, with the options' data annotations as the rules.</summary>
    public static TOptions AddValidatedOptions<TOptions>(this WebApplicationBuilder builder, string section)
        where TOptions : class, new() =>
        builder.AddValidatedOptions(section, new SectionAnnotationsValidator<TOptions>(section));
}
