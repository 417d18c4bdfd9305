using GruService.Api.Inference;
using GruService.Api.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace GruService.Api.Tests.Inference;

public class InferenceJsonTests
{
    [Theory]
    [InlineData(typeof(InferenceRequest))]
    [InlineData(typeof(ForecastResponse))]
    [InlineData(typeof(ClassifyResponse))]
    [InlineData(typeof(ClassPrediction))]
    [InlineData(typeof(float[][][]))]
    [InlineData(typeof(float[]))]
    public void InferencePathTypes_AreSerializedBySourceGeneratedCode_NotReflection(Type type)
    {
        using var factory = new GruServiceFactory();
        var options = factory.Services.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;

        Assert.IsType<GruJsonContext>(options.GetTypeInfo(type).OriginatingResolver);
    }
}
