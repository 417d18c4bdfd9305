using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace GruService.Api.OpenApi;

/// <summary>
/// Takes out of <c>required</c> every property the serializer may leave out of a body. The generator requires each
/// constructor parameter without a default, but the JSON options write no nulls (WhenWritingNull, JsonExtensions and
/// GruJsonContext), so such a property is absent whenever it is null, and a client generated strictly from the
/// document would reject the answer.
/// </summary>
internal sealed class OmittedPropertiesTransformer : IOpenApiSchemaTransformer
{
    public Task TransformAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        if (context.JsonTypeInfo.Kind != JsonTypeInfoKind.Object || schema.Required is not { Count: > 0 } required)
            return Task.CompletedTask;
        foreach (JsonPropertyInfo property in context.JsonTypeInfo.Properties)
            if (CanBeOmitted(property))
                required.Remove(property.Name);
        return Task.CompletedTask;
    }

    /// <summary>
    /// The serializer's rule for leaving a property out: a [JsonIgnore] condition on the property wins over the
    /// options' DefaultIgnoreCondition.
    /// </summary>
    internal static bool CanBeOmitted(JsonPropertyInfo property)
    {
        JsonIgnoreAttribute? ignore = property.AttributeProvider?
            .GetCustomAttributes(typeof(JsonIgnoreAttribute), inherit: true).OfType<JsonIgnoreAttribute>().FirstOrDefault();
        // Without the attribute, a predicate can only come from a contract modifier, which may drop any value.
        if (ignore is null && property.ShouldSerialize is not null)
            return true;
        return (ignore?.Condition ?? property.Options.DefaultIgnoreCondition) switch
        {
            JsonIgnoreCondition.WhenWritingNull => MayBeNull(property),
            JsonIgnoreCondition.WhenWritingDefault => property.PropertyType.IsValueType || MayBeNull(property),
            JsonIgnoreCondition.Always or JsonIgnoreCondition.WhenWriting => true,
            _ => false,
        };
    }

    /// <summary>
    /// Whether the declared type admits null. A reference declared non-nullable (ModelCard.Name) is never null by the
    /// type's contract, and the document says so: its schema type lacks "null".
    /// </summary>
    private static bool MayBeNull(JsonPropertyInfo property) => property.PropertyType.IsValueType
        ? Nullable.GetUnderlyingType(property.PropertyType) is not null
        : property.IsGetNullable;
}
