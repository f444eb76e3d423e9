using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using k8s.Models;

namespace Aperture.Operator.Crds;

/// <summary>
/// Checks an object against a CRD's structural schema the way the API server does (types,
/// required fields, enums, patterns, bounds, formats), and, like <c>kubectl --validate=strict</c>,
/// reports fields the schema does not declare instead of pruning them silently.
/// </summary>
public static class CrdSchemaValidator
{
    /// <returns>One message per violation, each starting with the field's path; empty when valid.</returns>
    public static IReadOnlyList<string> Validate(V1JSONSchemaProps schema, JsonNode? value)
    {
        var errors = new List<string>();
        Check(schema, value, string.Empty, errors, isRoot: true);
        return errors;
    }

    private static void Check(V1JSONSchemaProps schema, JsonNode? value, string path, List<string> errors, bool isRoot = false)
    {
        var at = path.Length == 0 ? "<root>" : path;
        if (value is null)
        {
            if (schema.Nullable != true)
            {
                errors.Add($"{at}: must not be null");
            }

            return;
        }

        if (schema.XKubernetesIntOrString == true)
        {
            if (value is not JsonValue scalar || !(IsInteger(scalar) || scalar.TryGetValue<string>(out _)))
            {
                errors.Add($"{at}: must be an integer or a string");
                return;
            }
        }
        else if (!HasType(schema.Type, value))
        {
            errors.Add($"{at}: must be of type {schema.Type}");
            return;
        }

        if (schema.EnumProperty is { Count: > 0 } allowed && value is JsonValue enumValue
            && !allowed.Any(a => string.Equals(Convert.ToString(a, CultureInfo.InvariantCulture), ScalarText(enumValue), StringComparison.Ordinal)))
        {
            errors.Add($"{at}: must be one of {string.Join(", ", allowed.Select(a => $"\"{a}\""))}, not \"{ScalarText(enumValue)}\"");
        }

        switch (value)
        {
            case JsonObject obj:
                CheckObject(schema, obj, path, errors, isRoot);
                break;
            case JsonArray array:
                if (schema.MinItems is { } minItems && array.Count < minItems)
                {
                    errors.Add($"{at}: must have at least {minItems} items");
                }

                if (schema.MaxItems is { } maxItems && array.Count > maxItems)
                {
                    errors.Add($"{at}: must have at most {maxItems} items");
                }

                for (var i = 0; i < array.Count; i++)
                {
                    if (schema.Items is V1JSONSchemaProps itemSchema)
                    {
                        Check(itemSchema, array[i], $"{path}[{i}]", errors);
                    }
                }

                break;
            case JsonValue scalar:
                CheckScalar(schema, scalar, at, errors);
                break;
        }
    }

    private static void CheckObject(V1JSONSchemaProps schema, JsonObject obj, string path, List<string> errors, bool isRoot)
    {
        foreach (var required in schema.Required ?? [])
        {
            if (!obj.ContainsKey(required))
            {
                errors.Add($"{Join(path, required)}: is required");
            }
        }

        foreach (var (name, child) in obj)
        {
            if (schema.Properties?.TryGetValue(name, out var propertySchema) == true)
            {
                // metadata is the API server's own; the schema only says it is an object.
                if (!(isRoot && name == "metadata"))
                {
                    Check(propertySchema, child, Join(path, name), errors);
                }
            }
            else if (schema.AdditionalProperties is V1JSONSchemaProps valueSchema)
            {
                Check(valueSchema, child, Join(path, name), errors);
            }
            else if (schema.XKubernetesPreserveUnknownFields != true)
            {
                errors.Add($"{Join(path, name)}: is not a field of this kind");
            }
        }
    }

    private static void CheckScalar(V1JSONSchemaProps schema, JsonValue scalar, string at, List<string> errors)
    {
        if (scalar.TryGetValue<string>(out var text))
        {
            if (schema.MinLength is { } min && text.Length < min)
            {
                errors.Add($"{at}: must be at least {min} characters");
            }

            if (schema.MaxLength is { } max && text.Length > max)
            {
                errors.Add($"{at}: must be at most {max} characters");
            }

            if (schema.Pattern is { } pattern && !Regex.IsMatch(text, pattern, RegexOptions.ECMAScript, TimeSpan.FromSeconds(1)))
            {
                errors.Add($"{at}: \"{text}\" does not match {pattern}");
            }

            if (schema.Format == "date-time" && !DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out _))
            {
                errors.Add($"{at}: \"{text}\" is not an RFC 3339 date-time");
            }

            return;
        }

        if (scalar.TryGetValue<double>(out var number) || (IsInteger(scalar) && double.TryParse(scalar.ToJsonString(), CultureInfo.InvariantCulture, out number)))
        {
            if (schema.Minimum is { } minimum && number < minimum)
            {
                errors.Add($"{at}: must be >= {minimum.ToString(CultureInfo.InvariantCulture)}");
            }

            if (schema.Maximum is { } maximum && number > maximum)
            {
                errors.Add($"{at}: must be <= {maximum.ToString(CultureInfo.InvariantCulture)}");
            }
        }
    }

    private static bool HasType(string? type, JsonNode value) => type switch
    {
        null => true,
        "object" => value is JsonObject,
        "array" => value is JsonArray,
        "string" => value is JsonValue v && v.TryGetValue<string>(out _),
        "boolean" => value is JsonValue v && v.TryGetValue<bool>(out _),
        "integer" => value is JsonValue v && IsInteger(v),
        "number" => value is JsonValue v && (IsInteger(v) || v.TryGetValue<double>(out _) || v.TryGetValue<decimal>(out _)),
        _ => false,
    };

    private static bool IsInteger(JsonValue value) =>
        value.TryGetValue<long>(out _) || value.TryGetValue<int>(out _) || value.TryGetValue<ulong>(out _)
        || (value.GetValueKind() == System.Text.Json.JsonValueKind.Number && long.TryParse(value.ToJsonString(), CultureInfo.InvariantCulture, out _));

    private static string ScalarText(JsonValue value) => value.TryGetValue<string>(out var text) ? text : value.ToJsonString();

    private static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";
}
