using System.ComponentModel;
using System.Reflection;
using System.Text.Json.Serialization;
using Aperture.Resources;
using k8s.Models;

namespace Aperture.Operator.Crds;

/// <summary>
/// Writes a CustomResourceDefinition from a resource's C# type: a structural OpenAPI v3 schema
/// with the validation its attributes declare, the status subresource, printer columns and names.
/// </summary>
public static class CrdGenerator
{
    /// <summary>Every kind of Aperture, in the order their CRD files are listed.</summary>
    public static readonly Type[] Kinds =
        [typeof(Site), typeof(ProfilingTarget), typeof(MonitoredServer), typeof(AlertRule), typeof(Tenant), typeof(ApiKey)];

    public static V1CustomResourceDefinition Generate(Type kind)
    {
        var entity = kind.GetCustomAttribute<KubernetesEntityAttribute>()
            ?? throw new ArgumentException($"{kind.Name} has no [KubernetesEntity]", nameof(kind));
        var names = kind.GetCustomAttribute<ResourceNamesAttribute>()
            ?? throw new ArgumentException($"{kind.Name} has no [ResourceNames]", nameof(kind));
        var spec = kind.GetProperty("Spec")!.PropertyType;
        var status = kind.GetProperty("Status")!.PropertyType;

        var schema = new V1JSONSchemaProps
        {
            Type = "object",
            Description = kind.GetCustomAttribute<DescriptionAttribute>()?.Description,
            Properties = new Dictionary<string, V1JSONSchemaProps>
            {
                ["apiVersion"] = new() { Type = "string" },
                ["kind"] = new() { Type = "string" },
                ["metadata"] = new() { Type = "object" },
                ["spec"] = ObjectSchema(spec),
                ["status"] = ObjectSchema(status),
            },
            Required = ["spec"],
        };

        return new V1CustomResourceDefinition
        {
            ApiVersion = "apiextensions.k8s.io/v1",
            Kind = "CustomResourceDefinition",
            Metadata = new V1ObjectMeta
            {
                Name = $"{names.Plural}.{entity.Group}",
                Labels = new Dictionary<string, string> { ["app.kubernetes.io/part-of"] = "aperture" },
            },
            Spec = new V1CustomResourceDefinitionSpec
            {
                Group = entity.Group,
                Scope = "Namespaced",
                Names = new V1CustomResourceDefinitionNames
                {
                    Kind = entity.Kind,
                    ListKind = entity.Kind + "List",
                    Plural = names.Plural,
                    Singular = entity.Kind.ToLowerInvariant(),
                    ShortNames = [.. names.ShortNames],
                    Categories = [.. names.Categories],
                },
                Versions =
                [
                    new V1CustomResourceDefinitionVersion
                    {
                        Name = entity.ApiVersion,
                        Served = true,
                        Storage = true,
                        Schema = new V1CustomResourceValidation { OpenAPIV3Schema = schema },
                        Subresources = new V1CustomResourceSubresources { Status = new object() },
                        AdditionalPrinterColumns = [.. kind.GetCustomAttributes<PrinterColumnAttribute>().Select(c => new V1CustomResourceColumnDefinition
                        {
                            Name = c.Name,
                            Type = c.Type,
                            JsonPath = c.JsonPath,
                            Description = c.Description,
                            Priority = c.Priority == 0 ? null : c.Priority,
                        })],
                    },
                ],
            },
        };
    }

    private static V1JSONSchemaProps ObjectSchema(Type type)
    {
        var properties = new Dictionary<string, V1JSONSchemaProps>();
        var required = new List<string>();
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(p => p.MetadataToken))
        {
            var name = property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name
                ?? throw new InvalidOperationException($"{type.Name}.{property.Name} has no [JsonPropertyName]");
            properties[name] = PropertySchema(property);
            if (property.GetCustomAttribute<RequiredFieldAttribute>() is not null)
            {
                required.Add(name);
            }
        }

        return new V1JSONSchemaProps
        {
            Type = "object",
            Properties = properties,
            Required = required.Count > 0 ? required : null,
        };
    }

    private static V1JSONSchemaProps PropertySchema(PropertyInfo property)
    {
        var schema = TypeSchema(property.PropertyType);
        schema.Description = property.GetCustomAttribute<DescriptionAttribute>()?.Description;
        if (property.GetCustomAttribute<PatternAttribute>() is { } pattern)
        {
            schema.Pattern = pattern.Pattern;
        }

        if (property.GetCustomAttribute<LengthAttribute>() is { } length)
        {
            schema.MinLength = length.MinLength == 0 ? null : length.MinLength;
            schema.MaxLength = length.MaxLength;
        }

        if (property.GetCustomAttribute<RangeFieldAttribute>() is { } range)
        {
            schema.Minimum = range.Minimum;
            schema.Maximum = range.Maximum;
        }

        if (property.GetCustomAttribute<ItemsAttribute>() is { } items)
        {
            schema.MinItems = items.MinItems == 0 ? null : items.MinItems;
            schema.MaxItems = items.MaxItems;
        }

        if (property.GetCustomAttribute<FormatAttribute>() is { } format)
        {
            schema.Format = format.Format;
        }

        if (property.GetCustomAttribute<DefaultAttribute>() is { } value)
        {
            schema.DefaultProperty = value.Value;
        }

        if (property.GetCustomAttribute<QuantityAttribute>() is not null)
        {
            schema.Type = null;
            schema.XKubernetesIntOrString = true;
            schema.Pattern = "^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$";
        }

        return schema;
    }

    private static V1JSONSchemaProps TypeSchema(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(string))
        {
            return new V1JSONSchemaProps { Type = "string" };
        }

        if (type == typeof(bool))
        {
            return new V1JSONSchemaProps { Type = "boolean" };
        }

        if (type == typeof(int))
        {
            return new V1JSONSchemaProps { Type = "integer", Format = "int32" };
        }

        if (type == typeof(long))
        {
            return new V1JSONSchemaProps { Type = "integer", Format = "int64" };
        }

        if (type == typeof(double))
        {
            return new V1JSONSchemaProps { Type = "number" };
        }

        if (type.IsEnum)
        {
            return new V1JSONSchemaProps
            {
                Type = "string",
                EnumProperty = [.. type.GetFields(BindingFlags.Public | BindingFlags.Static).Select(f =>
                    (object)(f.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name ?? f.Name))],
            };
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
        {
            return new V1JSONSchemaProps { Type = "object", AdditionalProperties = TypeSchema(type.GetGenericArguments()[1]) };
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
        {
            return new V1JSONSchemaProps { Type = "array", Items = TypeSchema(type.GetGenericArguments()[0]) };
        }

        if (type.IsClass)
        {
            return ObjectSchema(type);
        }

        throw new NotSupportedException($"no schema for {type}");
    }
}
