using System.Text.Json;
using System.Text.Json.Serialization;

namespace GruService.Api.Json;

public static class JsonExtensions
{
    /// <summary>snake_case everywhere, through the source-generated context first.</summary>
    public static IServiceCollection AddGruJson(this IServiceCollection services) =>
        services
            // A parameter that does not bind throws, so the problem body can say why. (No endpoint binds a JSON body:
            // each reads its own, to word its errors; POST /v1/training-jobs with JsonBodyErrors.)
            .Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(options => options.ThrowOnBadRequest = true)
            .ConfigureHttpJsonOptions(options =>
        {
            options.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            options.SerializerOptions.DictionaryKeyPolicy = null;
            // Numbers are numbers: the web default also accepts them as strings, which muddies the OpenAPI schemas.
            options.SerializerOptions.NumberHandling = JsonNumberHandling.Strict;
            options.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
            options.SerializerOptions.TypeInfoResolverChain.Insert(0, GruJsonContext.Default);
        });
}
