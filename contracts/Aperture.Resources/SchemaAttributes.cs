namespace Aperture.Resources;

// Attributes the CRD generator reads to write each kind's OpenAPI v3 schema. The C# types are the
// single source of the CRDs; the YAML in crds/ is generated from them (make crds) and never edited.

/// <summary>The field must be present.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class RequiredFieldAttribute : Attribute;

/// <summary>A string field must match the regular expression (Kubernetes uses ECMA-262 syntax).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class PatternAttribute(string pattern) : Attribute
{
    public string Pattern { get; } = pattern;
}

/// <summary>A number field's inclusive bounds.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class RangeFieldAttribute(double minimum, double maximum) : Attribute
{
    public double Minimum { get; } = minimum;

    public double Maximum { get; } = maximum;
}

/// <summary>A string field's length bounds.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class LengthAttribute(int minLength, int maxLength) : Attribute
{
    public int MinLength { get; } = minLength;

    public int MaxLength { get; } = maxLength;
}

/// <summary>An array field's size bounds.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ItemsAttribute(int minItems, int maxItems) : Attribute
{
    public int MinItems { get; } = minItems;

    public int MaxItems { get; } = maxItems;
}

/// <summary>The value the API server fills in when the field is absent.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class DefaultAttribute(object value) : Attribute
{
    public object Value { get; } = value;
}

/// <summary>An OpenAPI string format (date-time, email).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class FormatAttribute(string format) : Attribute
{
    public string Format { get; } = format;
}

/// <summary>A Kubernetes quantity: an integer or a string such as "500m" or "2Gi".</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class QuantityAttribute : Attribute;

/// <summary>A column of <c>kubectl get</c>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
public sealed class PrinterColumnAttribute(string name, string type, string jsonPath) : Attribute
{
    public string Name { get; } = name;

    public string Type { get; } = type;

    public string JsonPath { get; } = jsonPath;

    public string? Description { get; init; }

    /// <summary>0 shows in the default view, 1 only with -o wide.</summary>
    public int Priority { get; init; }
}

/// <summary>The kind's short names and categories for kubectl.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class ResourceNamesAttribute(string plural, params string[] shortNames) : Attribute
{
    public string Plural { get; } = plural;

    public IReadOnlyList<string> ShortNames { get; } = shortNames;

    public IReadOnlyList<string> Categories { get; init; } = ["aperture"];
}
